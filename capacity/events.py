"""Capacity events: the JSON-lines contract (``event_id, ts, node_id, type,
value[, service]``) and its validated parser. Types, values and the staleness
rules: ``docs/data.md``."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, get_args

from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.rates import SERVICES

#: The event types of the JSON-lines contract (the HTTP schema uses the same).
EventType = Literal[
    "nominal_capacity",
    "staffing",
    "backlog",
    "backlog_delta",
    "congestion",
    "outage",
    "forecast",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
_BOUNDS: dict[str, tuple[float, float]] = {
    "nominal_capacity": (0.0, math.inf),
    "staffing": (0.0, 300.0),
    "backlog": (0.0, math.inf),
    "backlog_delta": (-math.inf, math.inf),
    "congestion": (1.0, math.inf),
    "forecast": (0.0, math.inf),
}


@dataclass(frozen=True, slots=True)
class CapacityEvent:
    """One validated event; ``node`` and ``service`` are network indices.

    ``value`` is a float (``outage``: 1.0 closed, 0.0 open); ``service`` is
    -1 except for ``congestion``; ``ts`` is seconds since the epoch.
    """

    event_id: str
    ts: float
    node: int
    type: str
    value: float
    service: int = -1

    def record(self, network: Network) -> dict[str, Any]:
        """The event as a JSON-able dict (the JSON-lines format)."""
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "ts": dt.datetime.fromtimestamp(self.ts, dt.UTC).isoformat(),
            "node_id": network.node_ids[self.node],
            "type": self.type,
            "value": bool(self.value) if self.type == "outage" else self.value,
        }
        if self.service >= 0:
            out["service"] = SERVICES[self.service]
        return out


def _timestamp(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp()


def parse_event(
    obj: Any, network: Network, *, file: str | None = None, row: int | None = None
) -> CapacityEvent:
    """Validate one decoded event object (see ``docs/data.md``).

    Raises
    ------
    InputError
        Naming ``file``, ``row``, the field and its value.
    """
    fail = partial(InputError, file=file, row=row)
    if not isinstance(obj, dict):
        raise fail("not a JSON object")
    event_id = obj.get("event_id")
    if (
        not isinstance(event_id, str | int)
        or isinstance(event_id, bool)
        or event_id == ""
    ):
        raise fail("missing or empty event id", field="event_id", value=event_id)
    ts = _timestamp(obj.get("ts"))
    if ts is None:
        raise fail(
            "not an ISO 8601 instant with offset", field="ts", value=obj.get("ts")
        )
    node_id = obj.get("node_id")
    node = network.node_index.get(node_id) if isinstance(node_id, str) else None
    if node is None:
        raise fail("unknown node", field="node_id", value=node_id)
    kind = obj.get("type")
    if kind not in EVENT_TYPES:
        message = f"unknown event type (one of {list(EVENT_TYPES)})"
        raise fail(message, field="type", value=kind)
    value = _event_value(str(kind), obj.get("value"), fail)
    service = -1
    if kind == "congestion":
        name = obj.get("service")
        if name not in SERVICES:
            message = f"unknown service (one of {list(SERVICES)})"
            raise fail(message, field="service", value=name)
        service = SERVICES.index(str(name))
    return CapacityEvent(str(event_id), ts, int(node), str(kind), value, service)


def _event_value(kind: str, raw: Any, fail: Callable[..., InputError]) -> float:
    """The event's value as a float (``outage``: 1.0 closed, 0.0 open), in range."""
    if kind == "outage":
        if not isinstance(raw, bool):
            raise fail("must be true or false", field="value", value=raw)
        return 1.0 if raw else 0.0
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise fail("not a number", field="value", value=raw)
    value = float(raw)
    lo, hi = _BOUNDS[kind]
    if not (math.isfinite(value) and lo <= value <= hi):
        raise fail(f"must be in [{lo:g}, {hi:g}]", field="value", value=raw)
    return value


def parse_event_lines(
    lines: Iterable[str], network: Network, *, file: str = "<stdin>"
) -> list[CapacityEvent]:
    """Parse and validate every line first (blank lines skipped); rows are
    1-based line numbers. Nothing is applied when any line is bad."""
    events: list[CapacityEvent] = []
    for row, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON ({exc.msg})", file=file, row=row) from None
        events.append(parse_event(obj, network, file=file, row=row))
    return events
