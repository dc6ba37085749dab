"""Helpers of the HTTP API tests: an operator event, option calls and a
server-sent-event listener."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx

OUTAGE = {
    "event_id": "ops-1",
    "ts": "2026-01-05T15:00:00Z",
    "node_id": "ST-CHI",
    "type": "outage",
    "value": True,
}


def post_options(client: httpx.Client, customer: str, **body: Any) -> dict[str, Any]:
    """``POST /v1/options`` for ``customer``; the answer (must be 200)."""
    r = client.post("/v1/options", json={"customer_id": customer, **body})
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def by_id(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An option set's options by id."""
    return {o["option_id"]: o for o in answer["options"]}


class Listener:
    """Reads a server-sent-event stream in a thread; tests wait on its events."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self.ended = False
        self._cond = threading.Condition()
        self._open = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(url, headers or {}), daemon=True
        )
        self._thread.start()

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10, read=30)) as client,
                client.stream("GET", url, headers=headers) as resp,
            ):
                self._open.set()
                event: dict[str, Any] = {"status": resp.status_code}
                for line in resp.iter_lines():
                    if line.startswith("event:"):
                        event["event"] = line[6:].strip()
                    elif line.startswith("data:"):
                        # ``raw``: the data as the server wrote it
                        event["raw"] = line[5:].strip()
                        event["data"] = json.loads(line[5:])
                    elif line == "" and "event" in event:
                        with self._cond:
                            self.events.append(event)
                            self._cond.notify_all()
                        event = {"status": resp.status_code}
        except BaseException as exc:  # reported by the test
            self.error = exc
        self._open.set()
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    def wait_open(self, timeout: float = 10.0) -> None:
        """Until the server answered the stream's request (a stream without
        the capacity map sends nothing until its checkout changes)."""
        assert self._open.wait(timeout)
        assert self.error is None, self.error

    def wait_for(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """The first event that matches (fails after ``timeout`` seconds)."""
        with self._cond:
            found = self._cond.wait_for(
                lambda: next((e for e in self.events if match(e)), None) or self.ended,
                timeout,
            )
            hit = next((e for e in self.events if match(e)), None)
        assert found and hit is not None, (self.events, self.error)
        return hit

    def wait_events(
        self, n: int, kind: str | None = None, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """The first ``n`` events (of ``kind`` only, if given; fails after
        ``timeout`` seconds)."""

        def first() -> list[dict[str, Any]]:
            return [e for e in self.events if kind in (None, e["event"])][:n]

        with self._cond:
            assert self._cond.wait_for(lambda: len(first()) >= n, timeout), (
                self.events,
                self.error,
            )
            return first()

    def wait_ended(self, timeout: float = 10.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.ended, timeout)
        self._thread.join(timeout)


def confirm_tee(client: httpx.Client, customer: str) -> None:
    """One TEE to New York, its Gold option held and confirmed."""
    answer = post_options(
        client, customer, items=[{"sku": "TEE", "quantity": 1}], dest="10001"
    )
    rid = answer["request_id"]
    held = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
    assert held.json()["status"] == "held", held.text
    done = client.post(f"/v1/checkouts/{rid}/confirm")
    assert done.json()["status"] == "confirmed", done.text
