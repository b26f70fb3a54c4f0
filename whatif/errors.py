"""The client's errors: each one is a sentence a user can act on.

``str(error)`` is that sentence; the app shows it as it is. Real bugs stay ordinary exceptions.

    APIError
      APIStatusError(status_code, body, code)   the server answered an error status
        BadRequestError 400, AuthenticationError 401, PermissionDeniedError 403,
        NotFoundError 404, PayloadTooLargeError 413, UnprocessableEntityError 422,
        RateLimitError 429, InternalServerError 5xx
      APIConnectionError                        no answer at all
        APITimeoutError
      APIResponseError                          an answer that is not what the API sends
      ExtensionUnavailable                      the server lacks an optional route
      TaskFailed(task_id, state, detail)
      TaskTimeout(task_id, waited_s)
"""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """Anything that went wrong talking to the prediction API."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIStatusError(APIError):
    """The server answered with an error status."""

    def __init__(self, message: str, *, status_code: int, body: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.code = code


class BadRequestError(APIStatusError):
    """400: the request itself is malformed."""


class AuthenticationError(APIStatusError):
    """401: the token was refused (wrong secret, expired, missing claims)."""


class PermissionDeniedError(APIStatusError):
    """403: the model or task belongs to another user."""


class NotFoundError(APIStatusError):
    """404: no such model, task or route."""


class PayloadTooLargeError(APIStatusError):
    """413: too many rows or too large a body."""


class UnprocessableEntityError(APIStatusError):
    """422: the rows do not fit the model's features."""


class RateLimitError(APIStatusError):
    """429: too many requests, even after waiting as told."""


class InternalServerError(APIStatusError):
    """5xx: the server or a proxy in front of it failed, even after retries."""


class APIConnectionError(APIError):
    """No answer: the server could not be reached or the connection broke."""


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


class APIResponseError(APIError):
    """The server answered, but not with what the API sends (HTML, empty, no task id)."""


class ExtensionUnavailable(APIError):
    """The server does not offer an optional route (saved-models list, schema, long poll)."""


class TaskFailed(APIError):
    """The prediction task ended in FAILURE, REVOKED or REJECTED."""

    def __init__(self, message: str, *, task_id: str, state: str, detail: str = "") -> None:
        super().__init__(message)
        self.task_id = task_id
        self.state = state
        self.detail = detail


class TaskTimeout(APIError):
    """The task did not finish before the deadline."""

    def __init__(self, message: str, *, task_id: str, waited_s: float) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.waited_s = waited_s


STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The error class for an HTTP status."""
    if status_code >= 500:
        return InternalServerError
    return STATUS_ERRORS.get(status_code, APIStatusError)
