"""The checkout's wire format, defined once: by the result types' fields.

A result type's field hints say how each value goes to JSON (:func:`to_wire`,
behind every ``to_dict()``) and which JSON type it has
(:func:`wire_annotation`, from which :mod:`tierflow.service.schemas` builds
the OpenAPI response models). Floats carry their rounding as ``Digits``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

__all__ = [
    "LOCAL",
    "Digits",
    "WireRecord",
    "to_wire",
    "wire_annotation",
    "wire_fields",
]

Encoder = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Digits:
    """A float field's wire form: ``round(value, places)``."""

    places: int


class WireRecord:
    """Gives a result dataclass its ``to_dict()`` (the wire format)."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: the fields in order, encoded by their hints."""
        return to_wire(self)


def to_wire(record: Any) -> dict[str, Any]:
    """A dataclass or NamedTuple instance as a JSON-able dict."""
    encoded: dict[str, Any] = _record_encoder(type(record))(record)
    return encoded


#: A dataclass field's metadata that keeps it off the wire (``field(metadata=LOCAL)``):
#: what the process needs to know about a result but the caller does not.
LOCAL: Mapping[str, bool] = types.MappingProxyType({"wire": False})


def wire_fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """``(name, hint)`` of a dataclass's or NamedTuple's fields, in order
    (without the :data:`LOCAL` ones)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    if dataclasses.is_dataclass(cls):
        names = [
            f.name for f in dataclasses.fields(cls) if f.metadata.get("wire", True)
        ]
    elif _is_named_tuple(cls):
        names = list(cls._fields)  # type: ignore[attr-defined]
    else:
        raise TypeError(f"{cls.__name__} is not a dataclass or NamedTuple")
    return tuple((name, hints[name]) for name in names)


def wire_annotation(hint: Any, records: Mapping[type, Any]) -> Any:
    """The JSON-side type of a field hint: dates and datetimes are strings,
    tuples lists, StrEnums literals, nested records ``records[cls]``."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return wire_annotation(args[0], records)
    if origin in (Union, types.UnionType):
        inner = _optional(hint)
        return typing.Optional[wire_annotation(inner, records)]  # noqa: UP045
    if origin is tuple:
        return list[wire_annotation(_item(hint), records)]  # type: ignore[misc]
    if origin in (Mapping, dict):
        return dict[str, wire_annotation(args[1], records)]  # type: ignore[misc]
    if hint in (dt.datetime, dt.date):
        return str
    if _is_str_enum(hint):
        return Literal[tuple(member.value for member in hint)]
    if hint in (str, int, bool, float):
        return hint
    if hint in records:
        return records[hint]
    raise TypeError(f"no wire type for {hint!r}")


# ---------------------------------------------------------------- encoders
#: The compiled encoder of each record type.
_RECORD_ENCODERS: dict[type[Any], Encoder] = {}


def _record_encoder(cls: type[Any]) -> Encoder:
    encoder = _RECORD_ENCODERS.get(cls)
    if encoder is None:
        encoder = _RECORD_ENCODERS[cls] = _compile_record(cls)
    return encoder


def _compile_record(cls: type[Any]) -> Encoder:
    pairs = tuple((name, _encoder(hint)) for name, hint in wire_fields(cls))

    def encode(record: Any) -> dict[str, Any]:
        return {name: enc(getattr(record, name)) for name, enc in pairs}

    return encode


def _encoder(hint: Any) -> Encoder:
    """How one field's value is written (see :func:`wire_annotation`)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return _annotated(args[0], args[1:])
    if origin in (Union, types.UnionType):
        inner = _encoder(_optional(hint))
        return lambda value: None if value is None else inner(value)
    if origin is tuple:
        item = _encoder(_item(hint))
        return lambda values: [item(v) for v in values]
    if origin in (Mapping, dict):
        entry = _encoder(args[1])
        return lambda mapping: {str(k): entry(v) for k, v in mapping.items()}
    if hint is dt.datetime:
        return lambda when: when.astimezone(dt.UTC).isoformat()
    if hint is dt.date:
        return lambda day: day.isoformat()
    if _is_str_enum(hint):
        return str
    if hint in (str, int, bool):
        return _same
    if dataclasses.is_dataclass(hint) or _is_named_tuple(hint):
        return _record_encoder(hint)
    raise TypeError(f"no wire encoding for {hint!r} (floats need Digits)")


def _annotated(base: Any, extras: tuple[Any, ...]) -> Encoder:
    digits = [e for e in extras if isinstance(e, Digits)]
    if base is not float or len(digits) != 1:
        raise TypeError(f"Annotated[{base!r}, ...] needs exactly one Digits")
    return functools.partial(round, ndigits=digits[0].places)


def _same(value: Any) -> Any:
    return value


def _optional(hint: Any) -> Any:
    inner = [a for a in get_args(hint) if a is not type(None)]
    if len(inner) != 1:
        raise TypeError(f"only X | None unions have a wire form, not {hint!r}")
    return inner[0]


def _item(hint: Any) -> Any:
    args = get_args(hint)
    if len(args) != 2 or args[1] is not Ellipsis:
        raise TypeError(f"only tuple[X, ...] has a wire form, not {hint!r}")
    return args[0]


def _is_named_tuple(hint: Any) -> bool:
    return (
        isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields")
    )


def _is_str_enum(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, enum.StrEnum)
