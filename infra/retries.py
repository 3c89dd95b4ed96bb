"""Retrying calls that fail for a while (Label Studio restarting, Redis blinking) with exponential backoff."""

from __future__ import annotations

import logging
import time
from typing import Callable

from infra.label_studio import LabelStudioAuthError, LabelStudioError, LabelStudioNotConfigured
from settings import Settings

log = logging.getLogger(__name__)


def retry(
    what: Callable,
    attempts: int,
    delay: float,
    retry_on: tuple[type, ...],
    give_up_on: tuple[type, ...] = (),
    on_retry: Callable[[Exception, int, float], None] | None = None,
):
    """Call `what()` up to `attempts` times, waiting `delay`, then twice as long, ... after a `retry_on` error
    (a `give_up_on` error is raised at once)."""
    for attempt in range(1, attempts + 1):
        try:
            return what()
        except give_up_on:
            raise
        except retry_on as exc:
            if attempt == attempts:
                raise
            wait = delay * 2 ** (attempt - 1)
            if on_retry is not None:
                on_retry(exc, attempt, wait)
            time.sleep(wait)


def with_retries(what: Callable, settings: Settings, progress: Callable[[float, str], None]):
    """Call `what()`, retrying Label Studio failures (LABEL_STUDIO_RETRIES, LABEL_STUDIO_RETRY_DELAY), but not a
    missing or refused key: waiting cannot fix those."""
    attempts = settings.label_studio_retries + 1

    def report(exc: Exception, attempt: int, wait: float) -> None:
        progress(0.0, f"{exc}; retry {attempt}/{attempts - 1} in {wait:.1f}s")
        log.warning("%s; retrying in %.1fs", exc, wait)

    return retry(
        what,
        attempts,
        settings.label_studio_retry_delay,
        (LabelStudioError,),
        (LabelStudioNotConfigured, LabelStudioAuthError),
        report,
    )
