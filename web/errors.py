"""Errors a client can cause, and the one place that maps exceptions to HTTP answers."""

from __future__ import annotations


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


# Named exceptions raised below the protocol layer, and the status each one gets.
_STATUS_BY_EXCEPTION: dict[type, int] = {}


def register(exception_type: type, status: int) -> None:
    """Declare that `exception_type`, raised anywhere under a route, is the client's problem with `status`."""
    _STATUS_BY_EXCEPTION[exception_type] = status


def as_api_error(exc: BaseException) -> ApiError | None:
    """The ApiError for `exc`, or None when it is not a known client-caused error."""
    if isinstance(exc, ApiError):
        return exc
    for exception_type, status in _STATUS_BY_EXCEPTION.items():
        if isinstance(exc, exception_type):
            return ApiError(str(exc), field=getattr(exc, "field", None), status=status)
    return None
