"""Every error the HTTP service answers with, as one JSON shape and an HTTP status.

Body: ``{"error": {"code": "E600", "message": "...", "hint": "..."}}`` — never a traceback.

Intently errors keep their own codes (see :mod:`intently.errors`); the service adds:

    E701 unauthorized        401  missing or unknown API key
    E702 forbidden           403  the key's role may not call this route
    E703 body too large      413  the request body exceeds ``max_body_bytes``
    E704 not found           404  unknown route, task, version or training run
    E705 conflict            409  a deploy or rollback is impossible in the current state
                                  (a second training run of a task answers 409 with E711)
    E706 method not allowed  405
    E707 malformed body      400  the body is not JSON, not UTF-8, or nested too deeply
    E708 headers too large   431  the request line and headers exceed ``max_header_bytes``
                                  (answered by :mod:`intently.server.protocol`, which then
                                  closes the connection)
    E799 internal error      500  a bug; the message says where to look (the server log)

A :class:`~intently.errors.StorageError` (E900: disk full, permission denied, read-only
filesystem) while deploying or rolling back answers 507 Insufficient Storage; the previous
state is unchanged.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from intently.db import DatabaseError, RunConflict, RunNotFound
from intently.errors import (
    DataError,
    GateFailure,
    InputError,
    IntentlyError,
    InteractionNotFound,
    ModelError,
    SpecError,
    StorageError,
    TrainingError,
    UnknownLabel,
)

logger = logging.getLogger("intently.server")

JSON = "application/json"
BODY_LIMIT_HINT = (
    "send fewer or shorter texts per request (INTENTLY_MAX_BODY_BYTES sets the limit)."
)
HTTP_HINTS = {404: "the routes are listed at /docs.", 413: BODY_LIMIT_HINT}
MALFORMED_BODY = "E707"
MALFORMED_BODY_HINT = (
    "send a UTF-8 JSON object as the request schema at /docs describes it (nested at most "
    "a few levels)."
)


class ApiError(Exception):
    """An error with an HTTP status, raised by dependencies and routes."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.headers = headers

    @classmethod
    def from_error(cls, status: int, error: IntentlyError) -> ApiError:
        return cls(status, error.code, _message(error), hint=error.hint)


def unauthorized(message: str) -> ApiError:
    return ApiError(
        401,
        "E701",
        message,
        hint="send `Authorization: Bearer <key>` with a key from INTENTLY_API_KEYS or "
        "`intently keys create`.",
        headers={"WWW-Authenticate": "Bearer"},
    )


def forbidden(role: str, required: str) -> ApiError:
    return ApiError(
        403,
        "E702",
        f"this route needs the {required} role; the key has the {role} role.",
        hint=f"use a key created with the {required} role.",
    )


def not_found(message: str, hint: str | None = None) -> ApiError:
    return ApiError(404, "E704", message, hint=hint)


def conflict(message: str, hint: str | None = None) -> ApiError:
    return ApiError(409, "E705", message, hint=hint)


def error_json(code: str, message: str, hint: str | None = None) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "hint": hint}}).encode()


def error_response(
    status: int,
    code: str,
    message: str,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(error_json(code, message, hint), status, headers, media_type=JSON)


# Status of each Intently error raised through a route (the most specific class wins).
STATUS: tuple[tuple[type[IntentlyError], int], ...] = (
    (RunConflict, 409),
    (RunNotFound, 404),
    (InteractionNotFound, 404),
    (UnknownLabel, 422),
    (DatabaseError, 503),
    (InputError, 422),
    (SpecError, 400),
    (DataError, 400),
    (GateFailure, 422),
    (TrainingError, 500),
    (ModelError, 503),
    (StorageError, 507),
)


def status_of(error: IntentlyError) -> int:
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 500


def _message(error: IntentlyError) -> str:
    text = error.message
    if error.where is not None:
        text = f"{error.where}: {text}"
    return text


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for item in errors[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
        if item.get("type") == "extra_forbidden":
            parts.append(f"{where}: unknown field (the request schema at /docs lists them)")
            continue
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more + "."


def _unparsable_body(cause: BaseException | None) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return f"the request body is not valid UTF-8 (byte {cause.start})."
    if isinstance(cause, RecursionError):
        return "the request body is nested too deeply to parse."
    return "the request body cannot be parsed as JSON."


def install_error_handlers(app: FastAPI) -> None:
    """Map every error a request can raise to an ErrorBody response."""

    async def api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.hint, exc.headers)

    async def intently_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, IntentlyError)
        return error_response(status_of(exc), exc.code, _message(exc), exc.hint)

    async def validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        if any(item.get("type") == "json_invalid" for item in errors):
            detail = errors[0].get("ctx", {}).get("error", "JSON decode error")
            position = errors[0].get("loc", (None, None))[-1]
            return error_response(
                400,
                MALFORMED_BODY,
                f"the request body is not valid JSON ({detail} at character {position}).",
                MALFORMED_BODY_HINT,
            )
        return error_response(
            422,
            InputError.code,
            _validation_message(errors),
            "see the request schema at /docs.",
        )

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:  # FastAPI could not parse the body (json.loads raised)
            return error_response(
                400, MALFORMED_BODY, _unparsable_body(exc.__cause__), MALFORMED_BODY_HINT
            )
        code = {404: "E704", 405: "E706", 413: "E703"}.get(exc.status_code, "E799")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        hint = HTTP_HINTS.get(exc.status_code)
        if exc.status_code == 404:
            message = "no such route."
        return error_response(exc.status_code, code, message, hint, exc.headers)

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error in %s %s", request.method, request.url.path)
        return error_response(
            500,
            "E799",
            f"internal error ({type(exc).__name__}); the details are in the server log.",
            "please report it with the server log.",
        )

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(IntentlyError, intently_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
