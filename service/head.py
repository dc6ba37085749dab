"""``HEAD`` wherever ``GET`` exists: the ``GET`` answer's status and headers,
without its body (RFC 9110), for every path, the event stream included."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Marks the scope of a ``GET`` run for a ``HEAD``: a handler that would
#: hold something for the body's sake (a stream's subscription) need not.
HEAD_KEY = "tierflow.head"


def is_head(scope: Scope) -> bool:
    """Whether this ``GET`` answers a ``HEAD`` (its body is dropped)."""
    return bool(scope.get(HEAD_KEY))


class HeadAsGet:
    """Answers ``HEAD`` by running ``GET`` and sending only its head.

    A streaming answer (``/v1/stream``) is cut after its head: the app then
    sees the client go away, which ends the stream.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        head = _HeadOnly(receive, send)
        inner = {**scope, "method": "GET", HEAD_KEY: True}
        try:
            await self.app(inner, head.receive, head.send)
        finally:  # the route GET matched, for the request's log line and metrics
            if "route" in inner:
                scope["route"] = inner["route"]


class _HeadOnly:
    """One request's ``receive``/``send`` pair that drops the body."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.done = False

    async def receive(self) -> Message:
        if self.done:
            return {"type": "http.disconnect"}
        return await self._receive()

    async def send(self, message: Message) -> None:
        if self.done:
            if message["type"] == "http.response.body":
                raise OSError("HEAD: the client has the head")  # ends a stream
            return
        if message["type"] == "http.response.start":
            await self._send(message)
            return
        if message["type"] == "http.response.body":
            self.done = True
            await self._send({"type": "http.response.body", "body": b""})
