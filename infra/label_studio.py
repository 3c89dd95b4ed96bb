"""Our calls to Label Studio's API (label-studio-sdk 2.x), with its failures turned into named errors.

`LabelStudio(base_url, api_key)` takes a legacy token or a personal access token (a JWT refresh token, which the
SDK exchanges for short-lived access tokens by itself), so both kinds of key work.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable, Iterator

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


# Data Manager filters (server side): a task with no annotation at all, not even a skipped one, is unlabelled.
UNLABELLED = (
    {"filter": "filter:tasks:total_annotations", "operator": "equal", "type": "Number", "value": 0},
    {"filter": "filter:tasks:cancelled_annotations", "operator": "equal", "type": "Number", "value": 0},
)
ANNOTATED = ({"filter": "filter:tasks:total_annotations", "operator": "greater", "type": "Number", "value": 0},)
IDS_PER_QUERY = 200  # task ids per selectedItems query (they travel in the URL)
# Label Studio deletes a version's predictions row by row (signals per row): ~10 ms each on a loaded machine, so a
# first cleanup of a project that piled up 100,000 predictions needs minutes; later ones delete one refresh's worth.
DELETE_TIMEOUT_S = 1800.0


def _after(task_id: int) -> dict:
    return {"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": task_id}


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
                "LABEL_STUDIO_HOST and LABEL_STUDIO_API_KEY must be set to read projects from Label Studio"
            )
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
                    f"Label Studio at {self.host} refused the API key ({status}) while trying to {what}"
                ) from None
            if status == 404 and project is not None:
                raise LabelStudioProjectNotFound(f"Label Studio has no project {project}") from None
            raise LabelStudioError(f"Label Studio answered {status} while trying to {what}") from None
        except LabelStudioError:
            raise
        except Exception as exc:  # connection refused, timeouts, DNS, invalid JSON...
            raise LabelStudioError(
                f"Label Studio at {self.host} is unreachable while trying to {what}: {type(exc).__name__}"
            ) from None

    def whoami(self) -> dict:
        """The key's user: a LabelStudioError subclass unless Label Studio answers and accepts the key."""
        return _as_dict(self._call("check the API key", self.client.users.whoami))

    def project(self, project: int) -> dict:
        return _as_dict(self._call(f"read project {project}", self.client.projects.get, id=project, project=project))

    def tasks(
        self,
        project: int,
        *,
        annotated: bool | None = None,
        after: int = 0,
        ids: Iterable[int] | None = None,
        page_size: int = 500,
    ) -> Iterator[dict]:
        """The project's tasks in id order, streamed a page at a time and filtered by Label Studio, not here.

        annotated=True: tasks with an annotation, with their annotations (what training reads). annotated=False:
        unlabelled tasks, data only (no annotations or predictions). `after` skips ids up to it; `ids` restricts
        to those tasks. Pages are keyset pages (id > last id seen), so each costs the same at any depth and a
        task annotated meanwhile never shifts a page.
        """
        self.project(project)  # a clear 404 for an unknown project instead of an empty list
        filters = ANNOTATED if annotated else UNLABELLED if annotated is False else ()
        fields = "all" if annotated else None  # annotations only when they are what we read
        if ids is None:
            yield from self._task_pages(project, filters, fields, after, None, page_size)
            return
        ids = sorted({int(i) for i in ids})
        for start in range(0, len(ids), IDS_PER_QUERY):
            yield from self._task_pages(project, filters, fields, after, ids[start : start + IDS_PER_QUERY], page_size)

    def _task_pages(
        self, project: int, filters, fields, after: int, ids: list[int] | None, page_size: int
    ) -> Iterator[dict]:
        last = after
        while True:
            query = {"filters": {"conjunction": "and", "items": [*filters, _after(last)]}, "ordering": ["tasks:id"]}
            if ids is not None:
                query["selectedItems"] = {"all": False, "included": ids}
            page = self._call(
                f"list the tasks of project {project}",
                lambda: self.client.tasks.list(
                    project=project, fields=fields, query=json.dumps(query), page=1, page_size=page_size
                ),
                project=project,
            )
            items = [_as_dict(task) for task in page.items or []]
            yield from items
            if len(items) < page_size:
                return
            last = items[-1]["id"]

    def predictions(self, project: int) -> list[dict]:
        """Every prediction of the project as {"task", "score", "model_version"} (results left out)."""
        rows = self._call(
            f"list the predictions of project {project}",
            lambda: self.client.predictions.list(project=project),
            project=project,
        )
        return [{"task": p.task, "score": p.score, "model_version": p.model_version} for p in rows]

    def model_versions(self, project: int) -> dict[str, int]:
        """The model versions the project holds predictions of, with how many each."""
        return self._call(
            f"list the model versions of project {project}",
            self._request,
            f"api/projects/{int(project)}/model-versions/",
            "GET",
            project=project,
        )

    def delete_predictions(self, project: int, version: str) -> int:
        """Delete every prediction of `version` in the project: one request, the rows are deleted by Label Studio."""
        answer = self._call(
            f"delete the predictions of {version!r} in project {project}",
            self._request,
            f"api/projects/{int(project)}/model-versions/",
            "DELETE",
            {"model_version": version},
            DELETE_TIMEOUT_S,
            project=project,
        )
        return int((answer or {}).get("deleted_predictions", 0))

    def _request(self, path: str, method: str, body: dict | None = None, timeout: float | None = None):
        """An API route the SDK has no method for (model versions: GET lists them, DELETE drops one's predictions)."""
        options = {"timeout": timeout} if timeout else None
        response = self.client._client_wrapper.httpx_client.request(
            path, method=method, json=body, request_options=options
        )
        if not 200 <= response.status_code < 300:
            raise ApiError(status_code=response.status_code, headers=dict(response.headers), body=response.text)
        return response.json() if response.content else None

    def import_predictions(self, project: int, predictions: list[dict], chunk: int = 500) -> int:
        """Bulk-create predictions ({"task", "result", "score", "model_version"}); returns how many were sent."""
        for start in range(0, len(predictions), chunk):
            part = predictions[start : start + chunk]
            self._call(
                f"import predictions into project {project}",
                self.client.projects.import_predictions,
                id=project,
                request=part,
                project=project,
            )
        return len(predictions)

    def set_model_version(self, project: int, version: str) -> None:
        """Point the project at `version`, so Uncertainty sampling uses predictions of that version."""
        self._call(
            f"set the model version of project {project}",
            self.client.projects.update,
            id=project,
            model_version=version,
            project=project,
        )
