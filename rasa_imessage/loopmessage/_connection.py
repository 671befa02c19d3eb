"""One kept-alive HTTP/1.1 connection to LoopMessage and the answer under way on it.

An asyncio protocol: the request goes out in one write, and httptools (the C parser of
Sanic and uvicorn) reads the answer, whatever its framing: a length, chunks, or the end of
the connection; a `100 Continue` first; gzip or deflate. One request at a time. Whatever
cannot be trusted (bytes nobody asked for, an answer cut short or too large, a parser
error) ends the connection, so its next request cannot take a stale answer. The pool and
the timeouts are _transport.py's.
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional

import httptools

__all__ = [
    "MAX_ANSWER_BYTES",
    "PARSER_ERRORS",
    "Answer",
    "AnswerTooLarge",
    "Connection",
    "UndecodableBody",
]

# LoopMessage answers with a few hundred bytes; a far larger answer is not one of its.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
PARSER_ERRORS = (httptools.HttpParserError, httptools.HttpParserUpgrade)


@dataclass(frozen=True)
class Answer:
    """What one HTTP exchange brought back: nothing of the transport outlives it."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class AnswerTooLarge(Exception):
    """The answer's body passed MAX_ANSWER_BYTES."""


class UndecodableBody(Exception):
    """The body does not decode with the Content-Encoding the answer names."""


class Connection(asyncio.Protocol):
    """One connection and the answer to the request under way on it."""

    def __init__(self) -> None:
        self.transport: Optional[asyncio.Transport] = None
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._answer: Optional[asyncio.Future[Answer]] = None
        self._headers: Dict[str, str] = {}
        self._body: List[bytes] = []
        self._size = 0
        self._until_close = False  # no length given: the body ends with the connection
        self._refused: Optional[Exception] = None  # why a callback stopped the parser

    def exchange(self, request: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None
        self._answer = answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return answer

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once: what is still on its way cannot be trusted."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport

    def data_received(self, data: bytes) -> None:
        if self._answer is None:  # bytes nobody asked for
            self.abort()
            return
        try:
            self._parser.feed_data(data)
        except PARSER_ERRORS as exc:  # a callback's own error is the better cause
            self._fail(self._refused or exc)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.closed = True
        if self._answer is None or self._answer.done():
            return
        if self._until_close:
            self._finish()
        else:
            self._fail(exc or ConnectionResetError("closed before the whole answer"))

    # httptools.HttpResponseParser
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        self._until_close = (
            status >= 200
            and status not in (204, 304)
            and "content-length" not in self._headers
            and "chunked" not in self._headers.get("transfer-encoding", "").lower()
        )

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > MAX_ANSWER_BYTES:
            self._refused = AnswerTooLarge(f"more than {MAX_ANSWER_BYTES} bytes")
            raise self._refused
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._parser.get_status_code() < 200:  # 100 Continue and the like: not the answer
            self._headers, self._body, self._size = {}, [], 0
            return
        self.reusable = self._parser.should_keep_alive()
        self._finish()

    def _finish(self) -> None:
        answer, headers, body = self._answer, self._headers, b"".join(self._body)
        self._answer, self._headers, self._body, self._size = None, {}, [], 0
        self._until_close = False
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding in _DECODERS and body:
            try:
                body = zlib.decompress(body, _DECODERS[encoding])
            except zlib.error as exc:
                self.reusable = False
                if answer is not None and not answer.done():
                    answer.set_exception(UndecodableBody(str(exc)))
                return
        if answer is not None and not answer.done():
            answer.set_result(Answer(self._parser.get_status_code(), headers, body))

    def _fail(self, exc: BaseException) -> None:
        answer, self._answer = self._answer, None
        self.abort()
        if answer is not None and not answer.done():
            answer.set_exception(exc)
