"""JSON objects read with every key once.

``json.loads`` keeps the last of a repeated key: ``"value": 80, "value":
290`` applied 290 without a word. Where a caller's intent matters (capacity
events, operator writes), a key given twice is refused instead.

A number too large for a float (``1e400``) reads as infinity, as
``json.loads`` reads it, but keeps how it was written for the messages that
name it (they said "value inf" of a ``1e400`` the caller never wrote).

An object tierflow wrote and reads back (a model's ``metadata.json``, the
last retrain's record) is checked against what its writer writes, field by
field (:func:`field_problem`), before a field is used.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Self


class WrittenNumber(float):
    """A JSON number a float cannot hold (infinite), shown as written."""

    written: str

    def __new__(cls, text: str) -> Self:
        number = super().__new__(cls, text)
        number.written = text
        return number

    def __repr__(self) -> str:
        return self.written

    __str__ = __repr__


def json_number(text: str) -> float:
    """A JSON number's float (``parse_float``): a :class:`WrittenNumber`
    where it overflows."""
    value = float(text)
    return value if math.isfinite(value) else WrittenNumber(text)


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


#: ``json.loads`` given hooks builds a decoder (and its scanner) per call.
_UNIQUE_DECODER = json.JSONDecoder(
    object_pairs_hook=unique_keys, parse_float=json_number
)


def loads_unique(text: str) -> Any:
    """``json.loads`` of ``text`` with :func:`unique_keys`."""
    if not isinstance(text, str):  # json.loads's own refusals, bytes decoded
        return json.loads(text, object_pairs_hook=unique_keys, parse_float=json_number)
    if text.startswith("\ufeff"):  # as json.loads refuses it
        raise json.JSONDecodeError(
            "Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0
        )
    return _UNIQUE_DECODER.decode(text)


#: What a writer writes in each field of a JSON object it reads back:
#: ``{key: (kind, test)}``, ``kind`` as a message names it ("a version name").
FieldKinds = Mapping[str, tuple[str, Callable[[object], bool]]]


def is_number(value: object) -> bool:
    """A JSON number (NaN too: a metric of nothing to rank), not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_count(value: object) -> bool:
    """An integer >= 0 (``True`` is an int, and no count)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


#: ``date.fromisoformat`` also reads ``2023-W26-5`` and ``20230630``.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def is_iso_date(value: object) -> bool:
    """A ``YYYY-MM-DD`` date of the calendar, as ``str(date)`` writes it
    (``pd.Timestamp`` read ``5`` as 1970-01-01)."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def field_problem(
    record: Mapping[str, Any], kinds: FieldKinds
) -> tuple[str, str, object] | None:
    """``(problem, key, value)`` of the first key of ``kinds`` missing from
    ``record`` or failing its test; ``None`` when every one passes. A file
    written by tierflow and read back (a hand edit, a disk) is checked
    against what its writer writes, before a field is used."""
    for key, (kind, test) in kinds.items():
        if key not in record:
            return "missing", key, None
        if not test(record[key]):
            return f"not {kind}", key, record[key]
    return None
