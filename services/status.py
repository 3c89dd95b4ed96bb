"""What works and what does not, in words with the fix: one report for `/health`, the start-up log and the team page.

The configuration is judged at once and without I/O (`configuration_findings`). Redis, the RQ workers and Label
Studio are probed by a background thread every STATUS_PROBE_INTERVAL seconds (`StatusMonitor`), so `/health`
answers from the last look within Label Studio's 1-second timeout whatever is down. Each finding says what is
affected and what to do; a finding whose state changes is logged once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable
from urllib.parse import urlsplit

from settings import Settings

log = logging.getLogger(__name__)

OK, DEGRADED = "ok", "degraded"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
TOKEN_HELP = (
    "Label Studio 1.2x expects a personal access token (Account & Settings > Personal Access Token) or, where the "
    "organisation allows them, a legacy token"
)


@dataclass(frozen=True)
class Finding:
    what: str  # the part concerned: "label_studio", "redis", "workers", "auth", "first_predictions"
    state: str  # OK or DEGRADED
    detail: str  # what it means for the team and, when degraded, what to do


def in_container() -> bool:
    """Whether this process runs in a container (Docker's or podman's marker file)."""
    return os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")


def configuration_findings(settings: Settings, containerised: bool = False) -> list[Finding]:
    """What the settings alone say (no network)."""
    found: list[Finding] = []
    host, key = settings.label_studio_host, settings.label_studio_api_key
    if not host or not key:
        missing = " and ".join(n for n, v in (("LABEL_STUDIO_HOST", host), ("LABEL_STUDIO_API_KEY", key)) if not v)
        found.append(
            Finding(
                "label_studio",
                DEGRADED,
                f"no {missing}: training uses only annotations received by webhook, predictions are not refreshed "
                "after a deploy, and Label Studio's uncertainty ordering stays random (the project's model version "
                f"is never set). Set LABEL_STUDIO_HOST to Label Studio's address and LABEL_STUDIO_API_KEY: "
                f"{TOKEN_HELP}.",
            )
        )
    if host:
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            found.append(
                Finding(
                    "label_studio",
                    DEGRADED,
                    f"LABEL_STUDIO_HOST={host!r} is not a URL with a scheme: write it as "
                    f"http://{host.split('://')[-1]} (or https://...)",
                )
            )
        elif containerised and parts.hostname in LOCAL_HOSTS:
            found.append(
                Finding(
                    "label_studio",
                    DEGRADED,
                    f"LABEL_STUDIO_HOST={host!r} inside a container names the container itself, not Label Studio: "
                    "use Label Studio's address as the containers see it (e.g. http://label-studio:8080 on the "
                    "compose network, or the host's address)",
                )
            )
    if not settings.basic_auth_user:
        found.append(
            Finding(
                "auth",
                DEGRADED,
                "basic auth is off (BASIC_AUTH_USER and BASIC_AUTH_PASS unset): every route is open to whoever "
                "reaches the port, including webhooks that train the model; set both (and WEBHOOK_SECRET for Label "
                "Studio's webhook)",
            )
        )
    every = settings.start_training_each_n_updates
    trigger = (
        f"after every {every} annotations, or when you press Start Training"
        if every
        else "when you press Start Training"
    )
    found.append(
        Finding(
            "first_predictions",
            OK,
            f"training starts {trigger}; until the first version, a project whose base model has no head for its "
            "labels (NER) or its choices (classification) predicts nothing",
        )
    )
    if not settings.redis_url:
        found.append(Finding("workers", OK, "no REDIS_URL: training jobs run in this process, one at a time"))
    return found


@dataclass(frozen=True)
class Probes:
    """The looks a monitor takes (infra.probes in the service; stand-ins only where a test cannot run the real one)."""

    redis: Callable[[str], str | None]
    workers: Callable[[str], int]
    label_studio: Callable[[str, str], tuple[str, str] | None]


def probe_findings(settings: Settings, probes: Probes) -> list[Finding]:
    """What the services say right now (network; seconds at worst)."""
    found: list[Finding] = []
    if settings.redis_url:
        problem = probes.redis(settings.redis_url)
        if problem:
            found.append(
                Finding(
                    "redis",
                    DEGRADED,
                    f"Redis at REDIS_URL is unreachable ({problem}): webhooks are refused with 503 and Label Studio "
                    "does not resend them, so those annotations go uncounted; start Redis or fix REDIS_URL",
                )
            )
        else:
            found.append(Finding("redis", OK, "Redis answers"))
            try:
                workers = probes.workers(settings.redis_url)
            except Exception as exc:  # Redis went away between the two looks
                workers = None
                log.debug("counting RQ workers failed: %s", exc)
            if workers == 0:
                found.append(
                    Finding(
                        "workers",
                        DEGRADED,
                        "no RQ worker listens on the ner-training queue: training jobs stay queued; start one with "
                        "`rq worker --url $REDIS_URL ner-training` (docker compose runs the `worker` service)",
                    )
                )
            elif workers:
                found.append(Finding("workers", OK, f"{workers} RQ worker(s) listen on ner-training"))
    host, key = settings.label_studio_host, settings.label_studio_api_key
    if host and key and urlsplit(host).scheme in ("http", "https"):
        problem = probes.label_studio(host, key)
        if problem is None:
            found.append(Finding("label_studio", OK, f"Label Studio at {host} accepts the API key"))
        elif problem[0] == "refused":
            found.append(Finding("label_studio", DEGRADED, f"{problem[1]}: {TOKEN_HELP}; set LABEL_STUDIO_API_KEY"))
        else:
            found.append(
                Finding(
                    "label_studio",
                    DEGRADED,
                    f"{problem[1]}: jobs cannot read annotations or refresh predictions; check LABEL_STUDIO_HOST "
                    "(the address as this process sees it)",
                )
            )
    return found


def report(findings: list[Finding], checked_at: float | None) -> dict:
    return {
        "degraded": [asdict(f) for f in findings if f.state == DEGRADED],
        "configured": [asdict(f) for f in findings if f.state == OK],
        "checked_at": checked_at,
    }


class StatusMonitor:
    """The configuration's findings plus the last background probe; `report()` never waits for a probe."""

    def __init__(self, settings: Settings, probes: Probes, containerised: bool | None = None):
        self.settings = settings
        self.probes = probes
        self.static = configuration_findings(settings, in_container() if containerised is None else containerised)
        self._probed: list[Finding] = []
        self._checked_at: float | None = None
        self._lock = threading.Lock()
        self._pid: int | None = None  # the process whose thread probes (gunicorn forks after building the app)
        self._logged: dict[str, str] = {}

    def log_configuration(self) -> None:
        """The start-up block: what is configured and what is degraded, before any probe."""
        lines = [f"  {f.state:8} {f.what}: {f.detail}" for f in self.static]
        log.info(
            "status at start-up (services are probed every %gs):\n%s",
            self.settings.status_probe_interval,
            "\n".join(lines),
        )

    def start(self) -> None:
        """Probe in the background from now on, in this process (a gunicorn worker calls it once it has the app:
        `gunicorn.conf.py`'s post_worker_init). Threads do not survive a fork, so a forked process starts its own; a
        process that never called it starts at its first `report()`."""
        self._ensure_probing()

    def report(self) -> dict:
        self._ensure_probing()
        with self._lock:
            return report(self.static + self._probed, self._checked_at)

    def probe_now(self) -> None:
        findings = probe_findings(self.settings, self.probes)
        with self._lock:
            self._probed, self._checked_at = findings, time.time()
        for f in findings:  # a change of state is logged once
            if self._logged.get(f.what) != f.state:
                (log.warning if f.state == DEGRADED else log.info)("status: %s %s: %s", f.what, f.state, f.detail)
                self._logged[f.what] = f.state

    def _ensure_probing(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
        threading.Thread(target=self._loop, name="status-probes", daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                self.probe_now()
            except Exception:  # a probe must never take the monitor down
                log.exception("status probe failed")
            time.sleep(self.settings.status_probe_interval)
