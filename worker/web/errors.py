"""Every error the API answers is JSON `{"error": <code>, "detail": <message or object>}`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from worker.errors import QueryError


class ErrorBody(BaseModel):
    error: str
    detail: Any = None


class ApiError(Exception):
    def __init__(
        self, status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}


def query_problem(exc: QueryError) -> ApiError:
    """A query that does not parse: the CLI's message, position and caret line."""
    detail = {
        "message": exc.message,
        "position": exc.position,
        "query": exc.query,
        "caret": " " * exc.position + "^",
        "text": str(exc),
    }
    return ApiError(422, "invalid_query", detail)


def error_response(
    status: int, error: str, detail: Any, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": error, "detail": jsonable_encoder(detail)}
    return JSONResponse(body, status_code=status, headers=headers)


def _code(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "too_large",
        422: "invalid_request",
        429: "too_many_requests",
    }.get(status, "error" if status < 500 else "internal")


def install_error_handlers(app: FastAPI, log: Any) -> None:
    async def api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.error, exc.detail, exc.headers)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, _code(exc.status_code), exc.detail, headers)

    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return error_response(422, "invalid_request", problems)

    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.error("web_request_failed", path=request.url.path, error=f"{type(exc).__name__}: {exc}")
        return error_response(500, "internal", "internal error; the web role's log has it")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, crashed)
