"""JSON objects read with every key once.

``json.loads`` keeps the last of a repeated key: ``"value": 80, "value":
290`` applied 290 without a word. Where a caller's intent matters (capacity
events, operator writes), a key given twice is refused instead.
"""

from __future__ import annotations

import json
from typing import Any


class RepeatedKey(ValueError):
    """A JSON object with a key twice (``key``)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} given twice in one object")
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's dict, refusing a repeated key (``object_pairs_hook``)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RepeatedKey(key)
            seen.add(key)
    return out


def loads_unique(text: str) -> Any:
    """``json.loads`` of ``text`` with :func:`unique_keys`."""
    return json.loads(text, object_pairs_hook=unique_keys)
