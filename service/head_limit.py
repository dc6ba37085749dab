"""A ceiling on a request's head (its request line and headers), which
uvicorn's httptools parser keeps in memory whole however long it grows: a
header that never ends grew a server by 240 MB in 20 s from one client
(133 MB sent; ``docs/service.md``, "Running for weeks"). h11, uvicorn's
other parser, has its own ceiling (16 KiB)."""

from __future__ import annotations

import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: The largest request head accepted (bytes): 64 KiB, twice nginx's
#: ``large_client_header_buffers`` (4 × 8 KiB) and four times Node's 16 KiB.
MAX_HEAD_BYTES = 64 * 1024

_log = logging.getLogger("tierflow.service")
_WHY = f"request head over {MAX_HEAD_BYTES} bytes (the request line and headers)"


class HeadLimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that answers 431 and closes the
    connection once a request's head passes :data:`MAX_HEAD_BYTES`.

    The bytes counted are those received while a head is awaited or under
    way (between two requests, or from a request's start to its last header),
    one read at a time: a read that ends a request and starts the next one's
    head counts whole towards the new head, so pipelined requests may come
    closer to the ceiling by a read's worth, never past a head of its size.
    """

    _awaiting_head = True
    _head_bytes = 0

    def data_received(self, data: bytes) -> None:
        counting = self._awaiting_head
        super().data_received(data)
        if not (counting and self._awaiting_head) or self.transport.is_closing():
            return
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEAD_BYTES:
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
            _log.warning("%s: %s: refused (431)", client, _WHY)
            self._send_431()

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._awaiting_head = True
        super().on_message_complete()

    def _send_431(self) -> None:
        body = _WHY.encode("ascii")
        head = [b"HTTP/1.1 431 Request Header Fields Too Large\r\n"]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(head))
        self.transport.close()
