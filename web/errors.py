"""Errors a client can cause, and the one place that maps exceptions to HTTP answers."""

from __future__ import annotations

from infra.dispatch import JobStateUnavailable, WebhookError
from infra.label_studio import LabelStudioError, LabelStudioNotConfigured, LabelStudioProjectNotFound
from modeling.base_model import BaseModelUnavailable
from modeling.batching import BatchTimeout
from services.forget import ForgetIncomplete, ProjectNotKept
from services.select import SelectionInputError
from services.team_view import UnknownProject
from store.local import InvalidProjectError, StoreUnavailable, UnknownVersionError
from text.label_config import LabelConfigError
from uncertainty import InvalidLimitError, InvalidParameterError, UnknownStrategyError


class ApiError(Exception):
    """An error answered with `status` and a JSON body naming the problem (and the field, when there is one)."""

    status = 400

    def __init__(self, message: str, field: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status

    def body(self) -> dict:
        body = {"error": self.message}
        if self.field:
            body["field"] = self.field
        return body


class BadRequest(ApiError):
    status = 400


class Unprocessable(ApiError):
    """Well-formed JSON whose content cannot be used (e.g. a label config without Labels and Text)."""

    status = 422


class NotFound(ApiError):
    status = 404


class UpstreamError(ApiError):
    """Label Studio (or another service we call) failed or refused us."""

    status = 502


class ServiceUnavailable(ApiError):
    status = 503


# What a client can cause below the protocol layer, and the status each gets. A class not listed (nor a base of it)
# is a server fault: a 500 with the traceback in the log. `uncertainty.errors.InvalidProbabilitiesError` and
# `InvalidTagsError` are left out on purpose: they come from our model's output, not from the request.
StatusTable = tuple[tuple[type[BaseException], int], ...]


def client_error_statuses() -> StatusTable:
    """The one exception-to-status table; `web.app.create_app` builds it and hands it to its error handler."""
    return (
        (InvalidProjectError, 400),
        (UnknownVersionError, 404),
        (StoreUnavailable, 503),
        (UnknownStrategyError, 400),
        (InvalidParameterError, 400),
        (InvalidLimitError, 400),
        (LabelStudioError, 502),
        (LabelStudioProjectNotFound, 404),
        (LabelStudioNotConfigured, 400),
        (WebhookError, 400),
        (JobStateUnavailable, 503),
        (BatchTimeout, 503),
        (SelectionInputError, 400),
        (LabelConfigError, 422),
        (BaseModelUnavailable, 422),
        (ProjectNotKept, 404),
        (ForgetIncomplete, 503),
        (UnknownProject, 404),
    )


def as_api_error(exc: BaseException, statuses: StatusTable) -> ApiError | None:
    """The ApiError for `exc`, or None when it is not a known client-caused error.

    The most specific class of `statuses` wins, whatever the table's order: `type(exc).__mro__` is walked from the
    exception's own class up (LabelStudioProjectNotFound is a 404 although its base LabelStudioError is a 502).
    """
    if isinstance(exc, ApiError):
        return exc
    by_type = dict(statuses)
    for cls in type(exc).__mro__:
        if cls in by_type:
            return ApiError(str(exc), field=getattr(exc, "field", None), status=by_type[cls])
    return None
