"""ASGI middleware that refuses request bodies over a size limit with 413."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tierflow.service.errors import error_response


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413.

    Checks ``Content-Length`` first, then counts the bytes actually received
    (a chunked body cannot slip past).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_over(scope, self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        body = _MeteredBody(receive, send, self.max_bytes)
        try:
            await self.app(scope, body.receive, body.send)
        except Exception:
            if not body.over:
                raise
        if body.over and not body.started:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The 413 answer (made only when sent: its JSON costs every request
        a few microseconds otherwise)."""
        answer = error_response(
            413, f"request body over {self.max_bytes} bytes", "body"
        )
        await answer(scope, receive, send)


def _declared_over(scope: Scope, max_bytes: int) -> bool:
    """A ``Content-Length`` over the limit (or not a length at all)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = -1
            if declared > max_bytes or declared < 0:
                return True
    return False


class _MeteredBody:
    """One request's ``receive``/``send`` pair, counting the body's bytes."""

    def __init__(self, receive: Receive, send: Send, max_bytes: int) -> None:
        self._receive = receive
        self._send = send
        self._max_bytes = max_bytes
        self.received = 0
        self.over = False
        self.started = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self._max_bytes:
                self.over = True
                raise _TooLarge
        return message

    async def send(self, message: Message) -> None:
        if self.over:  # the app's answer to a cut-off body is replaced by 413
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class _TooLarge(Exception):
    """Raised inside the app when the received body passes the limit."""
