"""The model store on MLflow's Model Registry (MODEL_STORE=mlflow): versions shared by every host.

One registered model per project (`ner-project-<id>`). A version's files are the artifacts (`model/`) of a run in
the project's experiment, and become a model version only once all of them are uploaded (tags: the run's metrics,
the annotation count, the label set); the deployed version is the alias `deployed`. Each host keeps the versions it
uses in a cache laid out as the local store (MODEL_DIR/<project>/versions/<version>/), filled by downloading into a
temporary folder that is then renamed, so a partly uploaded or downloaded version is never served.

Serving processes (`poll_interval` set) resolve the alias and download what it names in a thread of their own, on a
timer, and answer `deployed()` from memory with a version already in the cache: a slow or stopped tracking server
never delays a request, and serving goes on from the cache while `health()` says the registry is unreachable.
The training worker (`poll_interval` None) asks the registry every time. MLflow is imported when the store is built
(the import is slow, and MODEL_STORE=local never needs it).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from store.local import (
    LocalStore,
    StoreUnavailable,
    UnknownVersionError,
    VersionInfo,
    project_key,
    version_name,
    version_number,
)

log = logging.getLogger(__name__)

ALIAS = "deployed"
ARTIFACT_DIR = "model"
LABEL_CONFIG_TAG = "label_config"
META_TAG = "meta."  # prefix of the tags that amend a version's meta.json after its upload (deploy refused)


def experiment_name(project: str) -> str:
    """The project's MLflow experiment: its training runs and its versions' files."""
    return f"ner-project-{project}"


def registered_model_name(project: str) -> str:
    return f"ner-project-{project}"


def artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """Artifacts next to a local SQLite database (not in the worker's working directory); else MLflow's default."""
    if tracking_uri.startswith("sqlite:///"):
        root = Path(tracking_uri[len("sqlite:///") :]).resolve().parent
        return (root / "mlflow-artifacts" / experiment).as_uri()
    return None  # file stores keep artifacts inside themselves; servers have their own (proxied) artifact root


def ensure_experiment(client, tracking_uri: str, project: str) -> str:
    """The project's experiment id, created on first use (by whichever process gets there first)."""
    name = experiment_name(project)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location(tracking_uri, name))
    except Exception:  # another process created it first
        return client.get_experiment_by_name(name).experiment_id


def version_tags(meta: dict) -> dict[str, str]:
    """A model version's tags: the annotation count, the label set and the run's scalar validation metrics."""
    tags = {"annotations": str(int(meta.get("annotations", 0))), "labels": json.dumps(list(meta.get("labels", [])))}
    for key, value in (meta.get("metrics") or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            tags[f"metric.{key}"] = repr(float(value))
    return tags


def meta_from_tags(tags: dict[str, str]) -> dict:
    """What a listing knows of a version without downloading it (the inverse of `version_tags`, plus amendments)."""
    meta: dict = {
        "annotations": int(tags.get("annotations", 0)),
        "labels": json.loads(tags.get("labels", "[]")),
        "metrics": {k[len("metric.") :]: float(v) for k, v in tags.items() if k.startswith("metric.")},
    }
    meta.update({k[len(META_TAG) :]: json.loads(v) for k, v in tags.items() if k.startswith(META_TAG)})
    return meta


@dataclass
class _Known:
    """A serving process's view of one project, refreshed on the timer."""

    pointer: str | None
    listing: list[VersionInfo] = field(default_factory=list)


class MlflowStore:
    """The `store.local.Store` contract on an MLflow tracking server's registry, with this host's cache in
    `cache_dir`."""

    def __init__(
        self, tracking_uri: str, cache_dir: str | os.PathLike, keep: int = 5, poll_interval: float | None = None
    ):
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.cache = LocalStore(cache_dir, keep=keep)
        self.root = self.cache.root
        self.keep = keep
        self.poll_interval = poll_interval
        self._known: dict[str, _Known] = {}
        self._published: dict[str, str | None] = {}  # the label config the registry holds, as last read or written
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._thread_pid: int | None = None
        self._contact: dict = {"reachable": None, "error": None, "at": None}
        self._watchers: list[Callable[[str], None]] = []

    # -- the Store contract ----------------------------------------------------------------------------------------

    def project_dir(self, project: object) -> Path:
        return self.cache.project_dir(project)

    def versions(self, project: object) -> list[VersionInfo]:
        if self.poll_interval is not None:
            return list(self._view(project_key(project)).listing)
        return self._list(project_key(project))

    def get(self, project: object, version: str) -> VersionInfo:
        project = project_key(project)
        n = version_number(version)
        if n is None:
            raise UnknownVersionError(f"unknown model version {str(version)[:60]!r}")
        try:
            return self.cache.get(project, version)
        except UnknownVersionError:
            pass
        return self._download(project, self._model_version(project, version))

    def save(self, project: object, annotations: int, write, meta: dict) -> VersionInfo:
        """Upload the files as a run's artifacts, then register them: a worker killed mid-upload leaves a run
        without a model version, which nothing lists, aliases or serves."""
        project = project_key(project)
        base = self.cache.project_dir(project) / "versions"
        base.mkdir(parents=True, exist_ok=True)
        full_meta = {**meta, "annotations": annotations, "created_at": time.time()}

        def fill(directory: Path) -> None:
            write(directory)
            (directory / "meta.json").write_text(json.dumps(full_meta, indent=2, sort_keys=True))

        with _TempDir(base) as tmp:
            fill(tmp)
            registered = self._call(lambda: self._upload_and_register(project, tmp, full_meta))
            name = version_name(project, int(registered.version), annotations)
            full_meta["version"] = name
            (tmp / "meta.json").write_text(json.dumps(full_meta, indent=2, sort_keys=True))
            info = self.cache.install(project, name, lambda d: _move_into(tmp, d))
        return VersionInfo(info.name, info.path, info.meta, registered.run_id)

    def amend_meta(self, project: object, version: str, **fields) -> None:
        project = project_key(project)
        registered = self._model_version(project, version)
        for key, value in fields.items():
            self._call(
                lambda: self.client.set_model_version_tag(
                    registered_model_name(project), registered.version, META_TAG + key, json.dumps(value)
                )
            )
        try:
            self.cache.amend_meta(project, version, **fields)
        except UnknownVersionError:
            pass

    def deployed(self, project: object) -> str | None:
        project = project_key(project)
        if self.poll_interval is not None:
            return self._view(project).pointer
        model = self._registered_model(project)
        alias = (model.aliases or {}).get(ALIAS) if model is not None else None
        return self._name_of(project, alias) if alias else None

    def deploy(self, project: object, version: str) -> None:
        """Move the alias to a registered (so fully uploaded) version; a serving process switches to it at once."""
        project = project_key(project)
        registered = self._model_version(project, version)
        self._call(
            lambda: self.client.set_registered_model_alias(registered_model_name(project), ALIAS, registered.version)
        )
        if self.poll_interval is not None:
            self._view(project)
            self._refresh(project)
        self.prune(project)

    def prune(self, project: object) -> None:
        """Keep the last `keep` registered versions and the deployed one (their runs keep the files), and as many in
        this host's cache (plus the one this host serves)."""
        project = project_key(project)
        self.cache.prune(project)
        try:
            versions = self._list(project)
            deployed = self._alias(project)
            for v in versions[: max(0, len(versions) - self.keep)]:
                if version_number(v.name) != deployed:
                    self._call(
                        lambda: self.client.delete_model_version(
                            registered_model_name(project), str(version_number(v.name))
                        )
                    )
        except StoreUnavailable as exc:
            log.warning("project %s: could not prune registry versions: %s", project, exc)

    def save_label_config(self, project: object, xml: str) -> None:
        """Kept in this host's cache and as a tag of the project's registered model, so any host's worker reads it."""
        project = project_key(project)
        self.cache.save_label_config(project, xml)
        if self._published.get(project) == xml:
            return
        self._ensure_registered_model(project)
        self._call(lambda: self.client.set_registered_model_tag(registered_model_name(project), LABEL_CONFIG_TAG, xml))
        self._published[project] = xml

    def label_config(self, project: object) -> str | None:
        project = project_key(project)
        if self.poll_interval is not None:
            self._view(project)  # the timer keeps the cached copy current
            return self.cache.label_config(project)
        try:
            model = self._registered_model(project)
        except StoreUnavailable:
            return self.cache.label_config(project)
        xml = (model.tags or {}).get(LABEL_CONFIG_TAG) if model is not None else None
        return xml if xml is not None else self.cache.label_config(project)

    def projects(self) -> list[str]:
        prefix = registered_model_name("")
        models = self._call(lambda: self.client.search_registered_models(f"name LIKE '{prefix}%'"))
        keys = [m.name[len(prefix) :] for m in models]
        return sorted((k for k in keys if k.isdigit()), key=int)

    def delete_project(self, project: object) -> dict:
        """Delete the project's registered model (its versions, the `deployed` alias, the label config tag) and this
        host's cache of it. The runs of its experiment stay (their metrics, and the files of the versions they
        uploaded): MLflow deletes an experiment softly and `mlflow gc` removes it for good (docs/operations.md).
        Holds the refresh lock, so this process's timer does not download a version back meanwhile."""
        project = project_key(project)
        with self._refreshing:
            model = self._registered_model(project)
            deleted: dict = {}
            if model is not None:
                alias = (model.aliases or {}).get(ALIAS)
                deleted = {
                    "registered_model": model.name,
                    "versions": [v.name for v in self._list(project)],
                    "deployed": self._name_of(project, alias) if alias else None,
                    "runs_kept": experiment_name(project),
                }
                self._missing(lambda: self.client.delete_registered_model(model.name))
            cached = self.cache.delete_project(project)
            with self._lock:
                self._known.pop(project, None)
                self._published.pop(project, None)
        if cached:
            deleted["cache"] = cached
        return deleted

    def health(self) -> dict:
        contact = dict(self._contact)
        if contact["reachable"] is None and self.poll_interval is not None:
            self._ensure_timer()
        state = {None: "not contacted yet", True: "reachable", False: "unreachable"}[contact["reachable"]]
        answer = {"kind": "mlflow", "registry": state}
        if contact["at"] is not None:
            answer["checked_s_ago"] = round(time.time() - contact["at"], 1)
        if contact["error"]:
            answer["error"] = contact["error"]
            answer["serving"] = "the versions cached on this host"
        return answer

    def watch(self, on_change: Callable[[str], None]) -> None:
        """`on_change(project)` runs on the timer's thread each time it finds that the alias moved, so a serving
        process's models follow a deploy made elsewhere without waiting for a request to notice."""
        self._watchers.append(on_change)

    # -- the serving view: refreshed on a timer, never by a request once a project is known ------------------------

    def _view(self, project: str) -> _Known:
        """The project's known state; the first request for a project reads the registry once, bounded by
        MLFLOW_HTTP_REQUEST_TIMEOUT, starting from what this host's cache held before a restart."""
        self._ensure_timer()
        with self._lock:
            known = self._known.get(project)
            if known is not None:
                return known
            self._known[project] = _Known(self.cache.deployed(project), self.cache.versions(project))
        self._refresh(project)
        with self._lock:
            return self._known[project]

    def _ensure_timer(self) -> None:
        with self._lock:
            if self._thread_pid == os.getpid():  # threads do not survive gunicorn's fork: one per process
                return
            self._thread_pid = os.getpid()
        threading.Thread(target=self._poll, name="registry-poll", daemon=True).start()

    def _poll(self) -> None:
        while True:
            time.sleep(self.poll_interval)
            with self._lock:
                projects = list(self._known)
            if not projects:
                try:
                    self._call(lambda: self.client.search_registered_models(max_results=1))
                except StoreUnavailable:
                    pass
            for project in projects:
                self._refresh(project)

    def _refresh(self, project: str) -> None:
        """Read the alias, the listing and the label config; download the aliased version before pointing at it."""
        with self._refreshing:
            try:
                model = self._registered_model(project)
                listing = self._list(project) if model is not None else []
                alias = (model.aliases or {}).get(ALIAS) if model is not None else None
                pointer = None
                if alias:
                    info = next(v for v in listing if str(version_number(v.name)) == str(alias))
                    pointer = self.get(project, info.name).name
                    if self.cache.deployed(project) != pointer:
                        self.cache.deploy(project, pointer)  # this host's pointer, and its cache pruned
                elif self.cache.deployed(project) is not None:
                    self.cache.forget_deployed(project)
                xml = (model.tags or {}).get(LABEL_CONFIG_TAG) if model is not None else None
                if xml is not None:
                    self.cache.save_label_config(project, xml)
            except StoreUnavailable:
                return
            except (StopIteration, UnknownVersionError, OSError) as exc:
                log.warning("project %s: registry refresh incomplete: %s", project, exc)
                return
            with self._lock:
                before = self._known.get(project)
                self._known[project] = _Known(pointer, listing)
                self._published[project] = xml
            if before is not None and before.pointer != pointer:
                log.info("project %s: the registry's deployed version is now %s", project, pointer)
                for on_change in list(self._watchers):
                    try:
                        on_change(project)
                    except Exception:  # a watcher's fault must not stop the timer
                        log.exception("project %s: following the new deployed version failed", project)

    # -- registry calls ----------------------------------------------------------------------------------------------

    def _call(self, action):
        """Run one registry call; a server that cannot be reached becomes StoreUnavailable and is noted for /health."""
        from mlflow.exceptions import MlflowException

        try:
            result = action()
        except MlflowException as exc:
            if getattr(exc, "error_code", "") in (
                "RESOURCE_DOES_NOT_EXIST",
                "RESOURCE_ALREADY_EXISTS",
                "INVALID_PARAMETER_VALUE",
            ):
                self._noted(True, None)
                raise
            self._noted(False, exc)
            raise StoreUnavailable(f"MLflow registry {self.tracking_uri} unavailable: {str(exc)[:200]}") from exc
        except (OSError, ConnectionError) as exc:
            self._noted(False, exc)
            raise StoreUnavailable(f"MLflow registry {self.tracking_uri} unavailable: {str(exc)[:200]}") from exc
        self._noted(True, None)
        return result

    def _noted(self, reachable: bool, exc: Exception | None) -> None:
        if not reachable and self._contact["reachable"] is not False:
            log.warning("MLflow registry %s unreachable; serving the cached versions: %s", self.tracking_uri, exc)
        self._contact = {
            "reachable": reachable,
            "error": None if exc is None else f"{type(exc).__name__}: {str(exc)[:200]}",
            "at": time.time(),
        }

    def _missing(self, action):
        """The call's result, or None when the registry says the thing does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            return self._call(action)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def _registered_model(self, project: str):
        return self._missing(lambda: self.client.get_registered_model(registered_model_name(project)))

    def _ensure_registered_model(self, project: str) -> None:
        from mlflow.exceptions import MlflowException

        if self._registered_model(project) is not None:
            return
        try:
            self._call(
                lambda: self.client.create_registered_model(
                    registered_model_name(project),
                    tags={"project": project},
                    description=f"NER model versions of Label Studio project {project}",
                )
            )
        except MlflowException as exc:
            if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise

    def _alias(self, project: str) -> int | None:
        model = self._registered_model(project)
        alias = (model.aliases or {}).get(ALIAS) if model is not None else None
        return int(alias) if alias else None

    def _list(self, project: str) -> list[VersionInfo]:
        found = self._call(lambda: self.client.search_model_versions(f"name='{registered_model_name(project)}'"))
        versions = []
        for mv in found:
            if getattr(mv, "status", "READY") != "READY":
                continue
            meta = meta_from_tags(mv.tags or {})
            name = version_name(project, int(mv.version), meta["annotations"])
            meta["version"] = name
            versions.append(
                (int(mv.version), VersionInfo(name, self.project_dir(project) / "versions" / name, meta, mv.run_id))
            )
        return [v for _, v in sorted(versions, key=lambda x: x[0])]

    def _name_of(self, project: str, number) -> str | None:
        registered = self._missing(lambda: self.client.get_model_version(registered_model_name(project), str(number)))
        return None if registered is None else self._name_of_version(project, registered)

    def _model_version(self, project: str, version: str):
        """The registry's model version named `version`; UnknownVersionError when it has none by that name."""
        n = version_number(version)
        registered = (
            None
            if n is None
            else self._missing(lambda: self.client.get_model_version(registered_model_name(project), str(n)))
        )
        if registered is None or self._name_of_version(project, registered) != version:
            raise UnknownVersionError(f"project {project} has no model version {str(version)[:60]!r}")
        return registered

    @staticmethod
    def _name_of_version(project: str, registered) -> str:
        return version_name(project, int(registered.version), meta_from_tags(registered.tags or {})["annotations"])

    def _upload_and_register(self, project: str, directory: Path, meta: dict):
        experiment_id = ensure_experiment(self.client, self.tracking_uri, project)
        run = self.client.create_run(experiment_id, tags={"project": project, "kind": "model version"})
        run_id = run.info.run_id
        self.client.log_artifacts(run_id, str(directory), ARTIFACT_DIR)
        self._ensure_registered_model(project)
        registered = self.client.create_model_version(
            registered_model_name(project),
            f"{run.info.artifact_uri}/{ARTIFACT_DIR}",
            run_id=run_id,
            tags=version_tags(meta),
            await_creation_for=0,
        )
        name = version_name(project, int(registered.version), int(meta["annotations"]))
        self.client.set_tag(run_id, "model_version", name)
        self.client.set_tag(run_id, "mlflow.runName", name)
        self.client.set_terminated(run_id, "FINISHED")
        return registered

    def _download(self, project: str, registered) -> VersionInfo:
        """Download into a temporary folder of this host's cache, then rename it into place (LocalStore.install)."""
        name = self._name_of_version(project, registered)
        amendments = {
            k[len(META_TAG) :]: json.loads(v) for k, v in (registered.tags or {}).items() if k.startswith(META_TAG)
        }

        def fill(directory: Path) -> None:
            downloaded = directory / f".{ARTIFACT_DIR}"
            downloaded.mkdir()
            self._call(lambda: self.client.download_artifacts(registered.run_id, ARTIFACT_DIR, str(downloaded)))
            _move_into(downloaded / ARTIFACT_DIR, directory)
            shutil.rmtree(downloaded)
            meta = json.loads((directory / "meta.json").read_text())
            meta.update(amendments, version=name)
            (directory / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))

        log.info("project %s: downloading %s from the registry", project, name)
        return self.cache.install(project, name, fill)


class _TempDir:
    """A hidden temporary folder in `parent`, removed on exit whatever happened."""

    def __init__(self, parent: Path):
        self.parent = parent

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.parent))
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _move_into(source: Path, target: Path) -> None:
    """Move the files of `source` into `target` (same file system: renames)."""
    for entry in list(source.iterdir()):
        os.rename(entry, target / entry.name)
