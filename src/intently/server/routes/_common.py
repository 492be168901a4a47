"""Pieces the routers share: error responses for the OpenAPI schema, fast JSON responses."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from intently.server.schemas import ErrorBody

# Every error status the service answers with, and why; routes list the ones they can return
# (:func:`errors`), so the OpenAPI document names every status a client may see.
ERROR_STATUSES: dict[int, str] = {
    400: "Malformed request body (E707): not JSON, not UTF-8, or nested too deeply.",
    401: "Missing, unknown or revoked API key (E701).",
    403: "The key's role may not call this route (E702).",
    404: "No such version, training run (E704) or recorded interaction (E720).",
    409: "Refused in the current state (E705, or E711 for a run already under way); the "
    "active version keeps serving.",
    413: "The request body is larger than `max_body_bytes` (E703).",
    422: "Unusable input (E600): empty or too long text, too many texts, unknown task, "
    "a missing, mistyped or unknown field; a review label the task does not know (E721).",
    431: "The request line and headers are larger than `max_header_bytes` (E708); the "
    "connection is closed.",
    503: "Unavailable: the task has no deployed model, or the database is unreachable or its "
    "file was replaced while serving (E400, E710).",
    507: "The model folder cannot be written (E900): disk full, permission denied or a "
    "read-only filesystem; the previous state is unchanged.",
}

# What any route can answer before it runs: the limits applied to every request.
REQUEST_LIMITS = (413, 431)
# A key check (401, 403) may consult the database (503 when it cannot).
AUTH = (401, 403, 503)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that can answer each of ``statuses`` with an ErrorBody."""
    return {
        status: {"model": ErrorBody, "description": ERROR_STATUSES[status]}
        for status in sorted(statuses)
    }


def json_response(content: Any, status: int = 200) -> Response:
    """Serialise plain data directly, without a validation pass over the response model.

    orjson: ~13x faster than the standard library here (40 µs instead of 580 µs for a batch of
    100 results), and it writes non-finite floats as null instead of invalid JSON.
    """
    return Response(orjson.dumps(content), status, media_type="application/json")
