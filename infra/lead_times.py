"""How long annotators took per task (Label Studio's `lead_time`), kept where every process can read it.

Label Studio sends `lead_time` (seconds) with annotations made in its labelling view, and null for those
created through the SDK or converted from predictions; only real times are kept. Each observation is
(words in the task's text, seconds). With REDIS_URL they go to a capped Redis list per project (shared by every
web process and host); without it, to a capped JSON file under MODEL_DIR/<project>/ (shared by the processes of
one host). Reading and writing are best effort: a failure is logged and selection falls back to token counts.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from typing import TYPE_CHECKING

from store.local import Store, write_atomically

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

KEEP = 2000  # the newest observations per project: enough for a two-parameter fit, bounded in size
REDIS_KEY = "nerb:lead_times:{project}"


def observation(text_words: int, annotation: object) -> tuple[int, float] | None:
    """(words, seconds) from a webhook's annotation, or None when it carries no usable lead time."""
    if not isinstance(annotation, dict) or annotation.get("was_cancelled"):
        return None
    seconds = annotation.get("lead_time")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return None
    if seconds <= 0 or text_words <= 0:
        return None
    return int(text_words), float(seconds)


class AnnotationTimes:
    """Per-project (words, seconds) observations in Redis (`redis_client`) or in the model store's directory."""

    def __init__(self, store: Store, redis_client: redis.Redis | None = None):
        self.store = store
        self.redis = redis_client
        self._lock = threading.Lock()

    def record(self, project: str, words: int, seconds: float) -> None:
        try:
            if self.redis is not None:
                key = REDIS_KEY.format(project=project)
                pipe = self.redis.pipeline()
                pipe.lpush(key, f"{words} {seconds:.3f}")
                pipe.ltrim(key, 0, KEEP - 1)
                pipe.execute()
                return
            with self._lock:
                path = self.store.project_dir(project) / "lead_times.json"
                kept = (self._read_file(project) + [[words, round(seconds, 3)]])[-KEEP:]
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(path, json.dumps(kept))
        except Exception as exc:  # a lost timing only delays the cost fit; the webhook must still count
            log.warning("project %s: could not keep an annotation's lead time: %s", project, type(exc).__name__)

    def observations(self, project: str) -> tuple[list[int], list[float]]:
        """(words, seconds) lists, oldest first; empty when nothing is stored or the store cannot be read."""
        try:
            if self.redis is not None:
                raw = self.redis.lrange(REDIS_KEY.format(project=project), 0, KEEP - 1)
                pairs = [tuple(float(v) for v in item.split()) for item in reversed(raw)]  # str or bytes
            else:
                pairs = [tuple(p) for p in self._read_file(project)]
        except Exception as exc:
            log.warning("project %s: could not read lead times: %s", project, type(exc).__name__)
            return [], []
        pairs = [p for p in pairs if len(p) == 2]
        return [int(w) for w, _ in pairs], [float(s) for _, s in pairs]

    def forget(self, project: str) -> int:
        """Delete the project's observations (a forgotten project); how many there were. Errors are raised: the
        caller reports what it could not delete."""
        if self.redis is not None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.llen(REDIS_KEY.format(project=project))
            pipe.delete(REDIS_KEY.format(project=project))
            held, _ = pipe.execute()
            return int(held)
        with self._lock:
            held = len(self._read_file(project))
            (self.store.project_dir(project) / "lead_times.json").unlink(missing_ok=True)
            return held

    def _read_file(self, project: str) -> list:
        path = self.store.project_dir(project) / "lead_times.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return []
        return data if isinstance(data, list) else []
