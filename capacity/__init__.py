"""The capacity monitor: events in, capacity scores out."""

from tierflow.capacity.events import CapacityEvent, parse_event, parse_event_lines
from tierflow.capacity.monitor import CapacityMonitor, IngestResult, OrderProfile
from tierflow.capacity.score import capacity_scores, free_capacity

__all__ = [
    "CapacityEvent",
    "CapacityMonitor",
    "IngestResult",
    "OrderProfile",
    "capacity_scores",
    "free_capacity",
    "parse_event",
    "parse_event_lines",
]
