"""The team view: what the service knows about a project, put together for people (the page) and scripts (its JSON).

Everything comes from what the service already keeps: the job state (progress, outcome), the model store's versions
and their validation metrics, the status monitor's last look, the annotation mirror with what was served for each
task, and /select_samples' last answer. Nothing is probed or predicted here. Each part that cannot be read (Redis
down, MLflow down) is replaced by what is still known and a sentence in `problems`.

The version history is kept in MODEL_DIR/<project>/team_history.json (compact rows, one per version ever seen, and
the deployed pointer's moves), because the store prunes old versions; every read merges the store's versions in.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np

from infra.served_predictions import expand
from store.local import Store, VersionInfo, project_key, version_number, write_atomically
from text.acceptance import AcceptanceRecord, summarise
from uncertainty.stopping import StopRule

if TYPE_CHECKING:
    from infra.annotation_mirror import Mirror
    from infra.dispatch import JobDispatcher
    from infra.served_predictions import ServedPredictions
    from services.select import ScoreCache
    from services.status import StatusMonitor
    from settings import Settings

log = logging.getLogger(__name__)

CURVE_POINTS = 200  # the most points a chart draws (thousands of versions are thinned evenly, the last one kept)
PER_PAGE = 50  # history rows per page
CACHE_S = 10.0  # acceptance and the history file are recomputed at most this often per project
HISTOGRAM_BINS = 10
_EPOCH = re.compile(r"epoch (\d+)/(\d+)")  # the trainer's messages: "epoch 2/3, step 40/90", "epoch 2/3: loss ..."
_STEP = re.compile(r"step (\d+)/(\d+)")


class UnknownProject(LookupError):
    """A project this backend has never seen (no version, no job, no annotation, no label config)."""


# -- pure parts ---------------------------------------------------------------------------------------------------


def job_progress(state: Mapping, now: float) -> dict:
    """The job's state with progress in numbers: step of total and epoch (read from the trainer's message), elapsed
    seconds and an ETA (elapsed scaled by what is left of the progress fraction, once there is some)."""
    message = str(state.get("message") or "")
    epoch, step = _EPOCH.search(message), _STEP.search(message)
    progress = state.get("progress")
    progress = float(progress) if isinstance(progress, (int, float)) and not isinstance(progress, bool) else None
    running = state.get("state") == "running"
    started = state.get("started_at")
    started = float(started) if isinstance(started, (int, float)) and not isinstance(started, bool) else None
    elapsed = max(0.0, now - started) if running and started is not None else None
    eta = None
    if running and elapsed is not None and progress is not None and 0.02 < progress < 1.0:
        eta = elapsed * (1.0 - progress) / progress
    return {
        "state": state.get("state", "idle"),
        "reason": state.get("reason"),
        "message": message or None,
        "progress": progress,
        "epoch": int(epoch[1]) if epoch else None,
        "epochs": int(epoch[2]) if epoch else None,
        "step": int(step[1]) if step else None,
        "total_steps": int(step[2]) if step else None,
        "elapsed_s": None if elapsed is None else round(elapsed, 1),
        "eta_s": None if eta is None else round(eta, 1),
        "followup_queued": bool(state.get("followup")),
        "annotations_since_last_job": int(state.get("annotations_since_last_job") or 0),
        "runs": state.get("runs"),
    }


def last_outcome(state: Mapping) -> dict | None:
    """The last finished or failed job: its version, decision, F1, error in words, refresh, when and how long."""
    if state.get("state") not in ("finished", "failed") and state.get("finished_at") is None:
        return None
    error = state.get("error")
    return {
        "ok": state.get("state") == "finished" if state.get("state") in ("finished", "failed") else error is None,
        "finished_at": state.get("finished_at"),
        "duration_s": state.get("duration_s"),
        "version": state.get("version"),
        "deployed": state.get("deployed"),
        "reason": state.get("reason") if state.get("version") else None,
        "f1": state.get("f1"),
        "current_f1": state.get("current_f1"),
        "predictions_imported": state.get("predictions_imported"),
        "error": error if isinstance(error, str) and error else None,
    }


def next_training(every: int, since: int, has_version: bool) -> str:
    """What happens next, in words: when the next (or the first) training starts."""
    which = "next" if has_version else "first"
    if every <= 0:
        return f"The {which} training starts when someone presses Start Training in Label Studio."
    more = max(1, every - since)
    return (
        f"The {which} training starts after {more} more annotation{'s' if more != 1 else ''} "
        f"(every {every}), or when someone presses Start Training."
    )


def run_link(tracking_uri: str, run_id: str | None) -> str | None:
    """The MLflow UI's page of a run, when the tracking server is a web address."""
    if not run_id or not tracking_uri.startswith(("http://", "https://")):
        return None
    return f"{tracking_uri.rstrip('/')}/#/runs/{quote(run_id)}"


def version_row(info: VersionInfo, tracking_uri: str = "") -> dict:
    """A version as the history keeps it (compact: scalars and per-label F1, never the model's files).

    `f1` is the figure the version's deploy decision compared (`metric`): entity F1 for NER, macro-F1 for
    classification, the mean over controls for a combined version; per label, NER's entity types and the classes
    of its choices."""
    meta = info.meta or {}
    metrics = meta.get("metrics") or {}
    metric = meta.get("deploy_metric") or "entity_f1"
    per_type = {
        **(metrics.get("per_type") or {}),
        **(((meta.get("choices") or {}).get("metrics") or {}).get("per_type") or {}),
    }
    parity = meta.get("parity") or {}
    return {
        "version": info.name,
        "n": version_number(info.name),
        "created_at": meta.get("created_at"),
        "annotations": meta.get("annotations"),
        "f1": _number(metrics.get(metric)),
        "current_f1": _number((meta.get("current_metrics") or {}).get(metric)),
        "metric": metric,
        "per_label": {str(k): _number(v.get("f1")) for k, v in per_type.items() if isinstance(v, Mapping)},
        "deployed": meta.get("deployed"),
        "reason": meta.get("reason"),
        "policy": meta.get("policy"),
        # a reduced precision is served only once the version passed its parity gate (modeling.cache)
        "precision": parity.get("precision") if parity.get("passed") else "fp32",
        "validation_size": meta.get("validation_size"),
        "run_id": info.run_id,
        "run_url": run_link(tracking_uri, info.run_id),
    }


def rollbacks(deploys: list[list]) -> list[dict]:
    """Moves of the deployed pointer to a version older than the one it left ([at, version] moves, in order)."""
    found = []
    for (_, before), (at, after) in zip(deploys, deploys[1:]):
        old, new = version_number(before), version_number(after)
        if old is not None and new is not None and new < old:
            found.append({"at": at, "from": before, "to": after})
    return found


def thinned(points: list, limit: int = CURVE_POINTS) -> list:
    """At most `limit` points evenly spread over the list, the first and the last kept."""
    if len(points) <= limit:
        return list(points)
    picks = np.unique(np.linspace(0, len(points) - 1, limit).round().astype(int))
    return [points[i] for i in picks]


def histogram(values: Iterable[float], bins: int = HISTOGRAM_BINS) -> list[dict]:
    """Counts of values in `bins` equal bins over [0, 1] (confidences and uncertainties both live there)."""
    counts, edges = np.histogram(np.clip(np.asarray(list(values), dtype=float), 0, 1), bins=bins, range=(0.0, 1.0))
    return [
        {"low": round(float(lo), 3), "high": round(float(hi), 3), "tasks": int(c)}
        for lo, hi, c in zip(edges, edges[1:], counts)
    ]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _timestamp(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def seen_prediction(annotation: Mapping, served: list[tuple[float, str, list]]) -> tuple[Any, str | None, str]:
    """The prediction an annotation was made from, its version, and where it was read (`annotation`, `served`, or
    `none`): the one Label Studio's labelling view attached, else the newest the service served for the task before
    the annotation was made (else the newest at all)."""
    attached = annotation.get("prediction")
    if isinstance(attached, Mapping) and attached and ("result" in attached or "model_version" in attached):
        return attached, attached.get("model_version") or None, "annotation"
    if not served:
        return None, None, "none"
    made = _timestamp(annotation.get("created_at"))
    before = [s for s in served if made is None or s[0] <= made]
    at, version, rows = (before or served)[-1]
    return {"result": expand(rows), "model_version": version}, version, "served"


def acceptance_records(
    tasks: Iterable[Mapping], served: Mapping[int, list[tuple[float, str, list]]]
) -> tuple[list[AcceptanceRecord], dict[str, int]]:
    """One record per annotation of the mirrored tasks, and how many took their prediction from where."""
    records, sources = [], {"annotation": 0, "served": 0, "none": 0}
    for task in tasks:
        for annotation in task.get("annotations") or []:
            if not isinstance(annotation, Mapping):
                continue
            prediction, version, source = seen_prediction(annotation, served.get(task.get("id"), []))
            sources[source] += 1
            records.append(AcceptanceRecord(prediction, annotation, annotation.get("lead_time"), version))
    return records, sources


def quality_rows(records: list[AcceptanceRecord]) -> list[dict]:
    """Acceptance and time per task per version (oldest version first; tasks served no prediction last)."""
    rows = [v.as_dict() for v in summarise(records).values()]
    return sorted(rows, key=lambda r: (r["model_version"] is None, version_number(r["model_version"]) or 0))


def learning_curve(history: list[dict], acceptance: Mapping[str, float | None]) -> list[dict]:
    """One point per version with a validation F1: annotations, F1 and the acceptance rate of what it served."""
    return [
        {
            "version": r["version"],
            "annotations": r["annotations"],
            "f1": r["f1"],
            "acceptance": acceptance.get(r["version"]),
        }
        for r in history
        if r.get("f1") is not None and isinstance(r.get("annotations"), int)
    ]


# -- the view, with its I/O -------------------------------------------------------------------------------------


@dataclass
class _Cached:
    at: Any  # when it was computed, or what it was computed from
    value: Any


class TeamView:
    """Builds the team view of a project from the process's objects; the JSON API and the page share it."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        jobs: JobDispatcher | None,
        status: StatusMonitor | None,
        mirror: Mirror | None,
        served: ServedPredictions | None,
        scores: ScoreCache | None = None,
        rule: StopRule | None = None,
    ):
        self.settings = settings
        self.store = store
        self.jobs = jobs
        self.status = status
        self.mirror = mirror
        self.served = served
        self.scores = scores
        self.rule = rule or StopRule()
        self._lock = threading.Lock()
        self._cache: dict[tuple, _Cached] = {}
        self._selections: dict[str, dict] = {}
        self._computing: set[str] = set()  # projects whose acceptance figures a background thread recomputes

    def forget(self, project: str) -> bool:
        """Drop what this process holds for a forgotten project (its files go with the project's folder)."""
        with self._lock:
            keys = [k for k in self._cache if k[1] == project]
            for key in keys:
                del self._cache[key]
            held = self._selections.pop(project, None) is not None
        return bool(keys) or held

    # -- what /select_samples and the page share ---------------------------------------------------------------

    def note_selection(self, answer: Mapping) -> None:
        """Keep /select_samples' last answer per project (the pool view shows it; nothing is scored again)."""
        project = answer.get("project_id")
        if project is not None:
            with self._lock:
                self._selections[str(project)] = {**answer, "at": time.time()}

    # -- the index ---------------------------------------------------------------------------------------------

    def projects(self) -> dict:
        problems: list[str] = []
        known = set(self._store_projects(problems))
        jobs = self._jobs(None, problems)
        known |= set(jobs)
        rows = []
        for project in sorted(known, key=int):
            history = self._history(project, problems)
            deployed = self._deployed(project, problems)
            last = history[-1] if history else None
            rows.append(
                {
                    "project": project,
                    "deployed": deployed,
                    "versions": len(history),
                    "latest_f1": last["f1"] if last else None,
                    "job": jobs.get(project, {}).get("state", "idle"),
                    "summary_url": f"api/projects/{project}",
                }
            )
        return {"projects": rows, "problems": problems}

    # -- one project --------------------------------------------------------------------------------------------

    def summary(self, project: object, page: int = 1, per_page: int = PER_PAGE) -> dict:
        """Everything the page shows (the history's `page`, newest first); UnknownProject when nothing is known."""
        key = project_key(project)
        problems: list[str] = []
        history = self._history(key, problems)
        jobs = self._jobs(key, problems)
        state = jobs.get(key) or {}
        has_config = self._has_label_config(key, problems)
        if not history and not state.get("runs") and not state.get("annotations_since_last_job") and not has_config:
            if key not in self._store_projects([]):
                raise UnknownProject(f"project {key} is unknown to this backend (no version, job or annotation yet)")
        now = time.time()
        deployed = self._deployed(key, problems)
        by_name = {r["version"]: r for r in history}
        deployed_row = by_name.get(deployed) if deployed else None
        quality, sources, computing = self._quality(key, problems)
        acceptance = {r["model_version"]: r["kept_share"] for r in quality if r["model_version"]}
        curve = learning_curve(history, acceptance)
        selection = self._selections.get(key)
        pool_size = None
        if selection is not None and curve:
            pool_size = int(selection.get("total_unlabeled") or 0) + int(curve[-1]["annotations"])
        agreement = self._agreement(key, {r["version"]: r["annotations"] for r in history})
        verdict = self._verdict(key, curve, agreement, pool_size)
        progress = job_progress({**state, "state": state.get("state", "idle")}, now)
        return {
            "project": key,
            "generated_at": now,
            "problems": problems,
            "now": {
                "deployed": None
                if deployed is None
                else {
                    "version": deployed,
                    "precision": deployed_row["precision"] if deployed_row else None,
                    "f1": deployed_row["f1"] if deployed_row else None,
                    "annotations": deployed_row["annotations"] if deployed_row else None,
                },
                "next_training": next_training(
                    self.settings.start_training_each_n_updates,
                    progress["annotations_since_last_job"],
                    bool(history),
                ),
                "job": progress,
                "last_outcome": last_outcome(state),
                "refresh": self._refresh(state, selection),
                "report": self.status.report() if self.status is not None else None,
                "label_studio": self._label_studio_link(key),
            },
            "history": self._page(history, self._deploys(key), page, per_page),
            "quality": {"versions": quality, "sources": sources, "computing": computing},
            "curve": {
                "points": thinned(curve),
                "versions": len(curve),
                "metric": history[-1].get("metric") if history else None,  # what "validation F1" measures
                "stop": verdict,
                "agreement": agreement,
                "stability": f"{len(agreement)} pair(s) of successive versions compared on the pool they both scored"
                if agreement
                else "not measured yet: it needs /select_samples to have scored the pool under two successive "
                "versions in this process",
            },
            "pool": self._pool(key, selection),
            "labels": sorted({label for r in history for label in r["per_label"]}),
        }

    def history(self, project: object, page: int = 1, per_page: int = PER_PAGE) -> dict:
        key = project_key(project)
        problems: list[str] = []
        history = self._history(key, problems)
        if not history and key not in self._store_projects([]):
            raise UnknownProject(f"project {key} is unknown to this backend (no version yet)")
        return {**self._page(history, self._deploys(key), page, per_page), "problems": problems}

    # -- parts -------------------------------------------------------------------------------------------------

    @staticmethod
    def _page(history: list[dict], deploys: list[list], page: int, per_page: int) -> dict:
        per_page = max(1, min(int(per_page), 500))
        pages = max(1, -(-len(history) // per_page))
        page = max(1, min(int(page), pages))
        newest_first = history[::-1]
        return {
            "total": len(history),
            "page": page,
            "pages": pages,
            "per_page": per_page,
            "versions": newest_first[(page - 1) * per_page : page * per_page],
            "rollbacks": rollbacks(deploys),
        }

    def _store_projects(self, problems: list[str]) -> list[str]:
        try:
            return list(self.store.projects())
        except Exception as exc:
            problems.append(f"the model store cannot list projects ({type(exc).__name__}); showing what is kept here")
            return []

    def _jobs(self, project: str | None, problems: list[str]) -> dict:
        if self.jobs is None:
            return {}
        status = self.jobs.status(project)
        if status.get("error"):
            problems.append(f"{status['error']}: job state and progress are not known right now")
        return status.get("jobs") or {}

    def _has_label_config(self, project: str, problems: list[str]) -> bool:
        try:
            return self.store.label_config(project) is not None
        except Exception:
            return False

    def _deployed(self, project: str, problems: list[str]) -> str | None:
        try:
            deployed = self.store.deployed(project)
        except Exception as exc:
            problems.append(f"the model store cannot say which version is deployed ({type(exc).__name__})")
            deploys = self._kept(project)["deploys"]
            return deploys[-1][1] if deploys else None  # the last one this process saw
        if deployed:
            self._note_deploy(project, deployed)
        return deployed

    def _history_path(self, project: str):
        return self.store.project_dir(project) / "team_history.json"

    def _kept(self, project: str) -> dict:
        path = self._history_path(project)
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return {"versions": {}, "deploys": []}
        cached = self._cache.get(("kept", project))
        if cached is not None and cached.at == mtime:
            return cached.value
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        kept = {"versions": dict(data.get("versions") or {}), "deploys": list(data.get("deploys") or [])}
        self._cache[("kept", project)] = _Cached(mtime, kept)
        return kept

    def _save_kept(self, project: str, kept: dict) -> None:
        try:
            path = self._history_path(project)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, json.dumps(kept))
        except OSError as exc:  # the history shows the store's versions only
            log.warning("project %s: could not keep the team view's history: %s", project, exc)

    def _history(self, project: str, problems: list[str]) -> list[dict]:
        """Every version ever seen, oldest first: the kept rows merged with the store's versions."""
        with self._lock:
            kept = self._kept(project)
            try:
                infos = self.store.versions(project)
            except Exception as exc:
                problems.append(
                    f"the model store cannot be read ({type(exc).__name__}): the history shows the versions seen before"
                )
                infos = []
            rows = dict(kept["versions"])
            changed = False
            for info in infos:
                row = version_row(info, self.settings.mlflow_tracking_uri)
                if rows.get(info.name) != row:
                    rows[info.name] = row
                    changed = True
            if changed:
                kept = {"versions": rows, "deploys": kept["deploys"]}
                self._save_kept(project, kept)
        return sorted(rows.values(), key=lambda r: (r.get("n") or 0, r.get("created_at") or 0))

    def _note_deploy(self, project: str, version: str) -> None:
        with self._lock:
            kept = self._kept(project)
            if kept["deploys"] and kept["deploys"][-1][1] == version:
                return
            self._save_kept(
                project, {"versions": kept["versions"], "deploys": kept["deploys"] + [[time.time(), version]]}
            )

    def _deploys(self, project: str) -> list[list]:
        return self._kept(project)["deploys"]

    def _quality(self, project: str, problems: list[str]) -> tuple[list[dict], dict, bool]:
        """Acceptance per version, and whether it is being computed. Computed in a background thread, again only
        when annotations or servings changed (on disk: the mirror's folder and the served file; in Redis: every
        CACHE_S), while the page is answered from the last figures: thousands of annotations take about a second to
        compare, and the page must answer in less."""
        signature = self._quality_signature(project)
        with self._lock:
            cached = self._cache.get(("quality", project))
            failed = self._cache.get(("quality-problems", project))
        if failed is not None:
            problems.extend(failed.value)
        if cached is None:
            self._recompute_later(project, signature)
            return [], {}, True
        seen, computed_at = cached.at
        stale = seen != signature if signature is not None else time.monotonic() - computed_at > CACHE_S
        if stale:
            self._recompute_later(project, signature)
        return cached.value[0], cached.value[1], stale

    def _quality_signature(self, project: str) -> tuple | None:
        if self.served is not None and self.served.redis is not None or not hasattr(self.mirror, "store"):
            return None
        base = self.store.project_dir(project)
        stamps = []
        for path in (base / "annotations", base / "served.jsonl"):
            try:
                info = path.stat()
                stamps.append((info.st_mtime_ns, info.st_size))
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    def _recompute_later(self, project: str, signature: tuple | None) -> None:
        with self._lock:
            if project in self._computing:
                return
            self._computing.add(project)

        def run() -> None:
            try:
                self._compute_quality(project, signature)
            except Exception:
                log.exception("project %s: the team view's acceptance figures could not be computed", project)
            finally:
                with self._lock:
                    self._computing.discard(project)

        threading.Thread(target=run, name=f"team-quality-{project}", daemon=True).start()

    def _compute_quality(self, project: str, signature: tuple | None) -> tuple[list[dict], dict, list[str]]:
        problems: list[str] = []
        try:
            tasks = self.mirror.tasks(project) if self.mirror is not None else []
        except Exception as exc:
            problems.append(f"the annotations kept from webhooks cannot be read ({type(exc).__name__})")
            with self._lock:
                self._cache[("quality-problems", project)] = _Cached(time.monotonic(), problems)
            return [], {}, problems
        try:
            served = self.served.served(project) if self.served is not None else {}
        except Exception as exc:
            problems.append(
                f"what was served cannot be read ({type(exc).__name__}): API annotations count as without a prediction"
            )
            served = {}
        records, sources = acceptance_records(tasks, served)
        value = (quality_rows(records), sources, problems)
        with self._lock:
            self._cache[("quality", project)] = _Cached((None if problems else signature, time.monotonic()), value)
            self._cache[("quality-problems", project)] = _Cached(time.monotonic(), problems)
        return value

    def _refresh(self, state: Mapping, selection: Mapping | None) -> dict | None:
        """The last refresh: tasks re-predicted, and of how many (the unlabelled tasks, capped by REFRESH_MAX_TASKS,
        when /select_samples has counted them)."""
        imported = state.get("predictions_imported")
        if imported is None:
            return None
        unlabelled = selection.get("total_unlabeled") if selection else None
        limit = self.settings.refresh_max_tasks
        planned = None if unlabelled is None else (min(limit, unlabelled) if limit else unlabelled)
        return {
            "version": state.get("version"),
            "imported": imported,
            "of": planned,
            "unlabelled": unlabelled,
            "max_tasks": limit,
        }

    def _label_studio_link(self, project: str) -> str | None:
        host = self.settings.label_studio_host
        if not host.startswith(("http://", "https://")):
            return None
        return f"{host.rstrip('/')}/projects/{project}/data"

    def _verdict(self, project: str, curve: list[dict], agreement: list, pool_size: int | None) -> dict:
        """The stop rule on the curve (thinned to CURVE_POINTS: its fit costs O(points)), judged once per new point."""
        signature = (len(curve), curve[-1]["version"] if curve else None, pool_size, tuple(map(tuple, agreement)))
        cached = self._cache.get(("verdict", project))
        if cached is not None and cached.at == signature:
            return cached.value
        points = [(p["annotations"], p["f1"]) for p in thinned(curve)]
        verdict = self.rule.judge(points, [tuple(a) for a in agreement], pool_size).as_dict()
        self._cache[("verdict", project)] = _Cached(signature, verdict)
        return verdict

    def _agreement(self, project: str, annotations: Mapping[str, Any]) -> list[list]:
        """[annotations, agreement] per version whose predictions and its predecessor's are both in /select_samples'
        score cache: the share of tasks scored by both (same text) whose predicted tag per word is the same."""
        cache = self.scores
        if cache is None:
            return []
        with cache.lock:
            tables = {
                (v, tags): {k: e for k, e in t.items()}
                for (p, v, tags), t in cache.tables.items()
                if p == project and version_number(v) is not None
            }
        by_version = sorted(tables.items(), key=lambda item: version_number(item[0][0]))
        points = []
        for ((old, old_tags), before), ((new, new_tags), after) in zip(by_version, by_version[1:]):
            count = annotations.get(new)
            if old_tags != new_tags or not isinstance(count, int):
                continue
            shared = [k for k in after if k in before and before[k].text_hash == after[k].text_hash]
            if shared:
                same = sum(np.array_equal(before[k].probs.argmax(-1), after[k].probs.argmax(-1)) for k in shared)
                points.append([count, round(same / len(shared), 6)])
        return points

    def _cached_uncertainties(self, project: str, version: object) -> list[float]:
        """The uncertainty of every task /select_samples scored under `version` (read from its cache, not computed)."""
        cache = self.scores
        if cache is None or not isinstance(version, str):
            return []
        with cache.lock:
            tables = [t for (p, v, _), t in cache.tables.items() if p == project and v == version]
            return [next(iter(e.uncertainty.values())) for t in tables for e in list(t.values()) if e.uncertainty]

    def _pool(self, project: str, selection: Mapping | None) -> dict:
        if selection is None:
            return {
                "known": False,
                "note": "no /select_samples answer in this process yet: the pool is shown once selection has run "
                "(the page never scores tasks itself)",
            }
        link = self._label_studio_link(project)
        scores = list(selection.get("scores") or [])
        uncertainties = self._cached_uncertainties(project, selection.get("model_version"))
        return {
            "known": True,
            "at": selection.get("at"),
            "model_version": selection.get("model_version"),
            "mode": selection.get("mode"),
            "strategy": selection.get("strategy"),
            "unlabelled": selection.get("total_unlabeled"),
            "scored": len(uncertainties),
            "distribution": histogram(uncertainties) if uncertainties else [],
            "next": [
                {"task": t, "score": s, "url": None if link is None else f"{link}?task={t}"}
                for t, s in zip(selection.get("task_ids") or [], scores)
            ][:20],
        }
