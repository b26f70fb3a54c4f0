"""Error answers of the API: ``{"detail": "<one sentence>", "code": "<machine code>"}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from whatif.protocol import ErrorBody

logger = logging.getLogger(__name__)


class Problem(Exception):
    """An expected failure, answered at once with its status, code and sentence."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


def problem_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON answer of every error."""
    return JSONResponse(ErrorBody(detail=detail, code=code).model_dump(), status_code=status, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error, FastAPI's own included, answer in the one JSON shape."""

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
        if first.get("type") == "missing":
            return problem_response(
                400, "missing_parameter", f"The request lacks the '{where}' parameter; add it to the URL."
            )
        return problem_response(400, "invalid_parameter", f"Parameter '{where}': {first.get('msg', 'invalid')}.")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else "HTTP error"
        if exc.status_code == 404:
            detail = "There is no such route on this server; check the URL."
        return problem_response(exc.status_code, code, detail, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error")
        return problem_response(500, "internal_error", "The server failed unexpectedly; its log has the details.")
