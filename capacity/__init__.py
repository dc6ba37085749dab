"""The capacity monitor: events in, capacity scores out."""
