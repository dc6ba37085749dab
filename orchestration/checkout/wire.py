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
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

__all__ = [
    "LOCAL",
    "Digits",
    "WireRecord",
    "from_wire",
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


_Record = TypeVar("_Record")


def from_wire(cls: type[_Record], data: Mapping[str, Any]) -> _Record:
    """A dataclass or NamedTuple back from its wire form (:func:`to_wire`,
    read as JSON): an answer another process stored, adopted whole. Floats
    keep their wire rounding (encoding the result again gives ``data``);
    fields the constructor does not take (``init=False``) are derived again,
    fields off the wire (:data:`LOCAL`) take their defaults."""
    taken = (
        {f.name for f in dataclasses.fields(cls) if f.init}
        if dataclasses.is_dataclass(cls)
        else None
    )
    return cls(
        **{
            name: _decoded(hint, data[name])
            for name, hint in wire_fields(cls)
            if taken is None or name in taken
        }
    )


def _decoded(hint: Any, value: Any) -> Any:
    """``value`` read from JSON as a field of type ``hint``."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return float(value)
    if origin in (Union, types.UnionType):
        return None if value is None else _decoded(_optional(hint), value)
    if origin is tuple:
        return tuple(_decoded(_item(hint), v) for v in value)
    if origin in (Mapping, dict):
        return {str(k): _decoded(args[1], v) for k, v in value.items()}
    if hint is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if hint is dt.date:
        return dt.date.fromisoformat(value)
    if _is_str_enum(hint):
        return hint(value)
    if hint in (str, int, bool):
        return hint(value)
    if dataclasses.is_dataclass(hint) or _is_named_tuple(hint):
        return from_wire(hint, value)
    raise TypeError(f"no wire decoding for {hint!r}")


#: A dataclass field's metadata that keeps it off the wire (``field(metadata=LOCAL)``):
#: what the process needs to know about a result but the caller does not.
LOCAL: Mapping[str, bool] = types.MappingProxyType({"wire": False})


#: :func:`wire_fields` of each record type read so far.
_WIRE_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}


def wire_fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """``(name, hint)`` of a dataclass's or NamedTuple's fields, in order
    (without the :data:`LOCAL` ones); kept per type, as a record type's
    fields do not change (``typing.get_type_hints`` costs tens of µs a
    record, and a shopper's answer and an adopted one read them per call)."""
    found = _WIRE_FIELDS.get(cls)
    if found is None:
        found = _WIRE_FIELDS[cls] = _read_wire_fields(cls)
    return found


def _read_wire_fields(cls: type) -> tuple[tuple[str, Any], ...]:
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
    """One generated function per record type: a dict display of its fields,
    each written by an inline expression (:func:`_expression`), since a
    call per field through per-hint closures cost more than the encoding."""
    env: dict[str, Any] = {"_UTC": dt.UTC}
    items = ", ".join(
        f"{name!r}: {_expression(hint, f'r.{name}', 0, env)}"
        for name, hint in wire_fields(cls)
    )
    source = f"def encode(r):\n    return {{{items}}}\n"
    exec(compile(source, f"<to_wire {cls.__qualname__}>", "exec"), env)
    encode: Encoder = env["encode"]
    return encode


def _expression(hint: Any, value: str, depth: int, env: dict[str, Any]) -> str:
    """Python source that writes ``value`` (an expression) for a field of
    type ``hint``: dates and datetimes (in UTC) as ISO strings, tuples as
    lists, StrEnums as their values, floats rounded to their ``Digits``,
    nested records by their own encoders (kept in ``env``)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return f"round({value}, {_digits(args[0], args[1:])})"
    if origin in (Union, types.UnionType):
        inner = _expression(_optional(hint), value, depth, env)
        return value if inner == value else f"(None if {value} is None else {inner})"
    if origin is tuple:
        v = f"v{depth}"
        item = _expression(_item(hint), v, depth + 1, env)
        return f"list({value})" if item == v else f"[{item} for {v} in {value}]"
    if origin in (Mapping, dict):
        k, v = f"k{depth}", f"v{depth}"
        entry = _expression(args[1], v, depth + 1, env)
        return f"{{str({k}): {entry} for {k}, {v} in {value}.items()}}"
    if hint is dt.datetime:
        return f"{value}.astimezone(_UTC).isoformat()"
    if hint is dt.date:
        return f"{value}.isoformat()"
    if _is_str_enum(hint):
        return f"str({value})"
    if hint in (str, int, bool):
        return value
    if dataclasses.is_dataclass(hint) or _is_named_tuple(hint):
        name = f"_record{len(env)}"
        env[name] = _record_encoder(hint)
        return f"{name}({value})"
    raise TypeError(f"no wire encoding for {hint!r} (floats need Digits)")


def _digits(base: Any, extras: tuple[Any, ...]) -> int:
    """The places of an ``Annotated[float, Digits(places)]`` field."""
    digits = [e for e in extras if isinstance(e, Digits)]
    if base is not float or len(digits) != 1:
        raise TypeError(f"Annotated[{base!r}, ...] needs exactly one Digits")
    return int(digits[0].places)


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
