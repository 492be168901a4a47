"""uvicorn's httptools protocol with a limit on the request line plus headers.

llhttp, the parser under httptools, has no header size limit, and httptools grows a header
value by concatenating each received piece to the bytes so far: four requests with one 100 MB
header each held a worker for 72 s and took its RSS from 105 to 503 MB before the app could
refuse them (401). :class:`HeaderLimitedProtocol` counts the bytes fed to the parser until a
request's headers are complete; past ``max_header_bytes`` (``INTENTLY_MAX_HEADER_BYTES``,
64 KiB by default) it answers 431 with the usual error body and closes the connection, so a
request holds at most the limit plus one socket read (256 KiB) of memory.

``intently serve`` passes this class to uvicorn (``http=``); uvicorn's worker processes import
it by name and read the limit from the settings in their environment.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from intently.server.errors import error_json
from intently.server.settings import get_settings

PROTOCOL = "intently.server.protocol:HeaderLimitedProtocol"
HEADERS_TOO_LARGE = "E708"


def too_large_response(limit: int) -> bytes:
    """The whole HTTP response to a request whose line and headers exceed ``limit`` bytes."""
    body = error_json(
        HEADERS_TOO_LARGE,
        f"the request line and headers are larger than the limit of {limit:,} bytes.",
        "send fewer or shorter headers (INTENTLY_MAX_HEADER_BYTES sets the limit).",
    )
    head = (
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n"
    )
    return STATUS_LINE[431] + head + body


class HeaderLimitedProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that refuses requests with too large a head (431)."""

    max_header_bytes: int | None = None  # None: the settings' ``max_header_bytes``

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._limit = self.max_header_bytes or get_settings().max_header_bytes
        self._head_bytes = 0  # bytes of the current request's line and headers so far
        self._in_head = True  # between the end of a request and the end of the next's headers
        self._completed = False  # a request completed during the current feed

    def data_received(self, data: bytes) -> None:
        self._completed = False
        super().data_received(data)
        # A feed in which a request completed may also hold the previous request's body: it is
        # not counted (at most one read), so a pipelined body is never mistaken for headers.
        if not self._in_head or self._completed or self.transport.is_closing():
            return
        self._head_bytes += len(data)
        if self._head_bytes > self._limit:
            self.logger.warning("Request headers over %d bytes refused (431).", self._limit)
            self.transport.write(too_large_response(self._limit))
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        self._completed = True
        super().on_message_complete()
