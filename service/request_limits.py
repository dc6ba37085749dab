"""What uvicorn's httptools protocol does not bound: the size of a request's
head (its request line and headers), which its parser keeps in memory whole
however long it grows, and the time a request may take to arrive, which is
for ever (``docs/service.md``, "Running for weeks"). h11, uvicorn's other
parser, has no timeout and a ceiling (16 KiB, a 400) only on a head still
incomplete after a read: one whole in a read, 70 KiB say, is served, as it
was here until 2026-12-07. The refusals, and the parser's own 400, are in
the API's JSON error shape."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Protocol
from urllib.parse import unquote

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tierflow.data.log_repeats import RepeatedLines
from tierflow.service.security_headers import with_security_headers

#: The largest request head accepted (bytes): 64 KiB, twice nginx's
#: ``large_client_header_buffers`` (4 × 8 KiB) and four times Node's 16 KiB.
MAX_HEAD_BYTES = 64 * 1024
#: Seconds a request may go without a byte before it has come whole (its head
#: from the connection's opening or the request's first byte, its body):
#: nginx's ``client_header_timeout`` and ``client_body_timeout`` are 60 s.
READ_IDLE_S = 30.0
#: Seconds an answer may wait on a client that takes none of its bytes (the
#: connection's send buffers full, uvicorn's writes paused) before the
#: connection is dropped: nginx's ``send_timeout`` is 60 s. An event stream
#: whose client does not read, and a long answer to one that went without a
#: word, held their connection, and an event stream its task, for good.
WRITE_IDLE_S = 30.0
#: The warning of a connection dropped by :data:`WRITE_IDLE_S` is said at
#: most once in this many seconds, the next with how many more came: one
#: client opening connections it never read wrote a line for each.
DROPPED_LOG_EVERY_S = 30.0
#: The warning of a 400, 408 or 431 written here is said at most once in
#: this many seconds per status, the next with how many more came, and
#: carries the request id of its access line: a scanner's malformed requests
#: wrote one warning each (two with uvicorn's own), none with an id.
REFUSED_LOG_EVERY_S = 30.0
#: The key of a request's id in its ASGI scope (set by the access log's
#: layer), for the warning of a request cut by :data:`READ_IDLE_S` in the app.
REQUEST_ID_KEY = "tierflow.request_id"
#: The key a request cut by :data:`READ_IDLE_S` gets in its ASGI scope, so
#: that its access line and metrics say 408, not "client closed" (499).
TIMED_OUT = "tierflow.read_timed_out"

_log = logging.getLogger("tierflow.service")
#: The dropped connections' warnings, one kind whatever the client
#: (:data:`DROPPED_LOG_EVERY_S`): the first keeps its client's address.
_dropped_said = RepeatedLines(DROPPED_LOG_EVERY_S)
#: The refusals' warnings, one kind per status (:data:`REFUSED_LOG_EVERY_S`).
_refused_said = RepeatedLines(REFUSED_LOG_EVERY_S)
#: What uvicorn's httptools protocol logs of each request its parser refuses,
#: before it calls ``send_400_response`` (whose warning says it instead).
_UVICORN_MALFORMED = "Invalid HTTP request received."
_HEAD_TOO_LARGE = (
    f"request head over {MAX_HEAD_BYTES} bytes (the request line and headers)"
)
_MALFORMED = "malformed HTTP request: the request line or headers do not parse"
#: The ``error`` of each refusal (``service/errors.py``'s codes).
_CODES = {400: "bad_request", 408: "request_timeout", 431: "head_too_large"}
#: The attribute of the app's ``state`` that is told of each refusal written
#: here before the app saw the request (:class:`RefusalWitness`).
WITNESS = "refusal_witness"
#: What a refusal's access line says of a method, path or HTTP version that
#: had not come whole.
UNKNOWN = "-"
#: The bytes of a request line besides its method and target: the two
#: spaces, ``HTTP/1.1`` and the line's end.
_LINE_FRAME = len(b"  HTTP/1.1\r\n")


class _Refused(Exception):
    """Raised in a parser callback once its request is refused, to stop the
    parser where it is (httptools has no other way): uvicorn takes it for a
    parser error and calls ``send_400_response``, which sees the connection
    closing and writes nothing more."""


class _ParserLog(logging.LoggerAdapter[logging.Logger]):
    """uvicorn's logger for the protocol, without its warning of each request
    its parser refuses: the refusal's own (:meth:`BoundedRequestProtocol._say`)
    says it once a while, with the request id; uvicorn's had none, one a
    request."""

    @property
    def level(self) -> int:
        """The logger's own level (uvicorn compares it with its TRACE)."""
        return self.logger.level

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        if msg != _UVICORN_MALFORMED:
            self.logger.warning(msg, *args, **kwargs)


class RefusalWitness(Protocol):
    """Who writes a refusal's access line and counts it
    (:class:`~tierflow.service.observe.RequestObserver`): the app never saw
    the request, so the layer that does so for every other answer did not."""

    def refused(self, scope: dict[str, Any], status: int, seconds: float) -> str:
        """Note ``status`` answered to what came of a request (``scope``:
        ``client``, ``method``, ``path``, ``raw_path``, ``http_version``,
        ``headers``, :data:`UNKNOWN` where not known) after ``seconds``;
        the request id the answer carries."""
        ...


class BoundedRequestProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with two bounds on what a client sends
    and one on what it will not take.

    - A head over :data:`MAX_HEAD_BYTES` is answered 431 and its connection
      closed, however it was split into reads. One still incomplete is
      counted one read at a time, the bytes received while it is awaited or
      under way (a read in which a request ended is not counted: a request
      whole in one read, its body included, was counted towards the next
      head, and a 70 KB body was 431). One that comes whole is measured when
      the parser has read it (:meth:`on_headers_complete`: its request line
      and header lines as parsed, without the spaces around a value) if the
      reads since the last head, the bytes it can have come in, are over the
      limit: a head whole in one read, or whose last read completed it, was
      never counted (70 KiB of headers in one ``sendall`` were served).
    - A request that has not come whole goes :data:`READ_IDLE_S` without a
      byte: it is answered 408 (unless its answer has started, a 413 say,
      or nothing of it came: a connection that never sent a byte is closed
      without a word) and its connection closed. This covers a connection that never sends
      anything, a head or a body that stops coming (a client gone without a
      word: a phone out of coverage, a NAT's table flushed): each kept a
      connection and a waiting task for good. Between requests uvicorn's
      keep-alive timeout (5 s) closes an idle connection; a request that
      came whole has no time limit here (a slow answer, an event stream).
    - An answer whose writes stay paused (the send buffers full: the client
      takes none of its bytes) with no byte taken for :data:`WRITE_IDLE_S`
      is dropped, the connection aborted (a close would wait to send what
      nobody reads). An event stream whose client stopped reading was
      dropped by the live hub (its queue full) but kept its connection and
      its task for good, uncounted among the open streams: one client
      passed the server's ceiling of streams that way. A slow client that
      takes some bytes in each :data:`WRITE_IDLE_S` is not cut.
    """

    _awaiting_head = True
    _ended = False  # a request ended in the read being parsed
    _head_bytes = 0
    _head_began = 0.0  # perf_counter at the head's first byte
    _read_len = 0  # the bytes of the read being parsed
    _since_head = 0  # bytes read since the read that ended the last head (it too)
    _line_seen = False  # a line end came since the last head was whole
    _incomplete = True
    _idle: asyncio.TimerHandle | None = None
    _stall: asyncio.TimerHandle | None = None
    _unsent = 0  # the write buffer's size at the last look while paused
    #: A refusal of a request pipelined behind answers still under way
    #: (status, phrase, why): written once they are (:meth:`_refuse`).
    _refusal: tuple[int, str, str] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if not isinstance(self.logger, _ParserLog):
            self.logger = _ParserLog(self.logger)  # type: ignore[assignment]  # (a Logger to uvicorn)
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._unstall()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._unsent = self.transport.get_write_buffer_size()
        self._unstall()
        self._stall = self.loop.call_later(WRITE_IDLE_S, self._write_stalled)

    def resume_writing(self) -> None:
        self._unstall()
        super().resume_writing()

    def _unstall(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _write_stalled(self) -> None:
        """Still paused :data:`WRITE_IDLE_S` after the last look: dropped if
        the client took no byte meanwhile (the buffer did not shrink)."""
        self._stall = None
        if self.transport.is_closing():
            return
        unsent = self.transport.get_write_buffer_size()
        if unsent < self._unsent:  # slow, not stopped: look again later
            self._unsent = unsent
            self._stall = self.loop.call_later(WRITE_IDLE_S, self._write_stalled)
            return
        _dropped_said.say(
            _log,
            logging.WARNING,
            f"{self._who()}: the client took no byte of its answer for "
            f"{WRITE_IDLE_S:g} s ({unsent} bytes waiting): connection dropped",
            key="write stalled",
        )
        self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:  # refused: nothing more is read
            # (a request's receive() ahead, an event stream's wait for the
            # client's disconnect, turned reading on again: all it sent was
            # read and dropped, without bound, while a request uvicorn
            # queues behind one waits unread, as this one now does)
            self.flow.pause_reading()
            return
        self._read_len = len(data)
        self._since_head += self._read_len
        counting = self._awaiting_head
        self._ended = False
        if counting:
            if self._head_bytes == 0:
                self._head_began = time.perf_counter()
            if not self._line_seen:  # the request line is whole (its access line)
                self._line_seen = b"\n" in data
        super().data_received(data)
        if self.transport.is_closing():
            self._disarm()
            return
        if self._incomplete:
            self._arm()
        if not (counting and self._awaiting_head) or self._ended:
            return
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(431, "Request Header Fields Too Large", _HEAD_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._incomplete = True

    def on_headers_complete(self) -> None:
        # a head of a few hundred bytes is not measured: the reads it can
        # have come in hold no more than the limit
        if self._since_head > MAX_HEAD_BYTES and self._head_size() > MAX_HEAD_BYTES:
            # its request line came (the access line's method and path), also
            # when it began in the read that ended the request ahead of it
            self._line_seen = True
            self._refuse(431, "Request Header Fields Too Large", _HEAD_TOO_LARGE)
            raise _Refused  # the app must not see it (nor the parser read on)
        self._since_head = self._read_len  # the next head may begin in this read
        self._awaiting_head = False
        self._head_bytes = 0
        self._line_seen = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._awaiting_head = True
        self._ended = True
        self._incomplete = False
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        refusal = self._refusal
        if refusal is None or self.transport.is_closing():
            return
        if self.cycle.response_complete:  # the last answer ahead of it
            self._write_refusal(*refusal)
        else:  # the next pipelined one runs (uvicorn resumed reading)
            self.flow.pause_reading()

    def _arm(self) -> None:
        self._disarm()
        self._idle = self.loop.call_later(READ_IDLE_S, self._read_timed_out)

    def _disarm(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _read_timed_out(self) -> None:
        self._idle = None
        if not self._incomplete or self.transport.is_closing():
            return
        if self._awaiting_head and self._head_bytes == 0:
            # nothing of a request yet (a connection opened ahead, a port
            # scan): closed without a word, as after a keep-alive's idle time
            # (a 408 would answer the request a client sends meanwhile)
            self.transport.close()
            return
        why = f"no byte of the request for {READ_IDLE_S:g} s before it came whole"
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.scope[TIMED_OUT] = True  # type: ignore[literal-required]
            if cycle.response_started:  # the app answered already: let it be
                rid = cycle.scope.get(REQUEST_ID_KEY)
                self._say(408, why, rid if isinstance(rid, str) else None)
                self.transport.close()
                return
        self._refuse(408, "Request Timeout", why)

    def _head_size(self) -> int:
        """The bytes of the head the parser has just read whole: its request
        line and header lines, and the empty line that ends them."""
        size = len(self.parser.get_method()) + len(self.url) + _LINE_FRAME + 2
        for name, value in self.headers:
            size += len(name) + len(value) + 4  # ": " and the line's end
        return size

    def send_400_response(self, msg: str) -> None:
        """The parser's refusal of a request (uvicorn wrote its own plain
        text, ``Invalid HTTP request received.``, which it logs); nothing
        once a callback has refused it (:class:`_Refused`)."""
        if not self.transport.is_closing():
            self._refuse(400, "Bad Request", _MALFORMED)

    def _refuse(self, status: int, phrase: str, why: str) -> None:
        """Answer ``status`` with ``why`` and close, after the answers to the
        requests ahead of this one (a pipelining client's, in the read that
        brought it): HTTP/1.1 answers in order, and the refusal written at
        once cut the answer under way and never gave those queued."""
        if self._refusal is not None:
            return
        ahead = self.cycle
        if self._awaiting_head and ahead is not None and not ahead.response_complete:
            self._refusal = (status, phrase, why)
            self._disarm()  # no 408 meanwhile: the request has its answer
            self.flow.pause_reading()
            return
        self._write_refusal(status, phrase, why)

    def _write_refusal(self, status: int, phrase: str, why: str) -> None:
        """Answer ``status`` with ``why`` in the API's error shape and the
        headers of every answer (``security_headers``), and close (they were
        plain text, unlike every other refusal)."""
        self._refusal = (status, phrase, why)
        code = _CODES[status]
        item = {"field": None, "message": why, "type": code}
        body = json.dumps(
            {"error": code, "message": why, "field": None, "errors": [item]}
        ).encode("ascii")
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        rid = self._witness(status)
        if rid is None and self.cycle is not None:  # in the app: its access line's
            in_app = self.cycle.scope.get(REQUEST_ID_KEY)
            rid = in_app if isinstance(in_app, str) else None
        self._say(status, why, rid)
        if rid is not None:
            headers.append((b"x-request-id", rid.encode("latin-1")))
        head = [f"HTTP/1.1 {status} {phrase}\r\n".encode("ascii")]
        # the app's own answers' security headers: these came without them
        for name, value in with_security_headers(headers):
            head.extend([name, b": ", value, b"\r\n"])
        self.transport.write(b"".join([*head, b"\r\n", body]))
        self.transport.close()

    def _say(self, status: int, why: str, rid: str | None) -> None:
        """The refusal's warning, once a while per status
        (:data:`REFUSED_LOG_EVERY_S`), with the id of its access line."""
        done = "closed" if status == 408 else "refused"
        line = _refused_said.admit(
            f"{self._who()}: {why}: {done} ({status})", key=f"refused {status}"
        )
        if line is not None:  # (the record names it: logged outside the request)
            _log.warning("%s", line, extra={"request_id": rid})

    def _witness(self, status: int) -> str | None:
        """Tell the app's :class:`RefusalWitness` (if any) of a refusal to a
        request the app never saw, with what came of it; its request id.
        A request in the app (a body that stopped coming) has its access
        line from there."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            return None
        state = getattr(self.config.app, "state", None)
        witness: RefusalWitness | None = getattr(state, WITNESS, None)
        if witness is None:
            return None
        url: bytes = getattr(self, "url", b"")  # (uvicorn's: the message's so far)
        version = self.parser.get_http_version() if self.parser else "0.0"
        method, path, raw = UNKNOWN, UNKNOWN, UNKNOWN.encode()
        if self._line_seen and url and version != "0.0":
            method = self.parser.get_method().decode("latin-1")
            raw = url
            path = unquote(url.partition(b"?")[0].decode("latin-1"))
        else:
            version = UNKNOWN
        scope = {
            "type": "http",
            "client": self.client,
            "method": method,
            "path": path,
            "raw_path": raw,
            "root_path": self.root_path,
            "http_version": version,
            "headers": list(self.headers or ()) if self._line_seen else [],
        }
        return witness.refused(scope, status, time.perf_counter() - self._head_began)

    def _who(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "-"
