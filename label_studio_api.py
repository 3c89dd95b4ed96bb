"""Our calls to Label Studio's API (label-studio-sdk 2.x), with its failures turned into named errors.

`LabelStudio(base_url, api_key)` takes a legacy token or a personal access token (a JWT refresh token, which the
SDK exchanges for short-lived access tokens by itself), so both kinds of key work.
"""
from __future__ import annotations

import logging
from typing import Any, Iterator

from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

log = logging.getLogger(__name__)


class LabelStudioError(RuntimeError):
    """Label Studio could not be used: unreachable, refused our key, or answered with an error."""


class LabelStudioNotConfigured(LabelStudioError):
    """LABEL_STUDIO_HOST / LABEL_STUDIO_API_KEY are not set."""


class LabelStudioAuthError(LabelStudioError):
    """Label Studio answered 401/403 to our API key."""


class LabelStudioProjectNotFound(LabelStudioError):
    """Label Studio has no project with the requested id (or the key's user cannot see it)."""


def _as_dict(obj: Any) -> dict:
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    return dict(obj)


class LabelStudioAPI:
    """The few API calls the backend makes, each translating SDK/HTTP failures into LabelStudioError subclasses."""

    def __init__(self, host: str, api_key: str, timeout: float = 60.0):
        if not host or not api_key:
            raise LabelStudioNotConfigured(
                "LABEL_STUDIO_HOST and LABEL_STUDIO_API_KEY must be set to read projects from Label Studio")
        self.host = host
        self.client = LabelStudio(base_url=host, api_key=api_key, timeout=timeout)
        http = getattr(getattr(self.client, "_client_wrapper", None), "httpx_client", None)
        if hasattr(http, "base_max_retries"):
            http.base_max_retries = 0  # retries are the job's business (with backoff and progress), not per call

    def _call(self, what: str, fn, *args, project: int | None = None, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            status = exc.status_code
            if status in (401, 403):
                raise LabelStudioAuthError(
                    f"Label Studio at {self.host} refused the API key ({status}) while trying to {what}") from None
            if status == 404 and project is not None:
                raise LabelStudioProjectNotFound(f"Label Studio has no project {project}") from None
            raise LabelStudioError(f"Label Studio answered {status} while trying to {what}") from None
        except LabelStudioError:
            raise
        except Exception as exc:  # connection refused, timeouts, DNS, invalid JSON...
            raise LabelStudioError(
                f"Label Studio at {self.host} is unreachable while trying to {what}: {type(exc).__name__}") from None

    def project(self, project: int) -> dict:
        return _as_dict(self._call(f"read project {project}", self.client.projects.get, id=project, project=project))

    def tasks(self, project: int, *, annotated: bool | None = None, page_size: int = 500) -> Iterator[dict]:
        """All tasks of the project with their annotations; `annotated` filters on having any annotation."""
        self.project(project)  # a clear 404 for an unknown project instead of an empty list

        def pages():
            return list(self.client.tasks.list(project=project, fields="all", page_size=page_size))

        for task in self._call(f"list the tasks of project {project}", pages, project=project):
            task = _as_dict(task)
            has_annotations = bool(task.get("annotations")) or bool(task.get("total_annotations"))
            if annotated is None or has_annotations == annotated:
                yield task

    def import_predictions(self, project: int, predictions: list[dict], chunk: int = 500) -> int:
        """Bulk-create predictions ({"task", "result", "score", "model_version"}); returns how many were sent."""
        for start in range(0, len(predictions), chunk):
            part = predictions[start : start + chunk]
            self._call(f"import predictions into project {project}", self.client.projects.import_predictions,
                       id=project, request=part, project=project)
        return len(predictions)

    def set_model_version(self, project: int, version: str) -> None:
        """Point the project at `version`, so Uncertainty sampling uses predictions of that version."""
        self._call(f"set the model version of project {project}", self.client.projects.update, id=project,
                   model_version=version, project=project)
