"""What a shopper reads of the checkout answers when the operator data needs
the API key (``serve --operator-reads key``, ``docs/service.md`` "Security").

A checkout answer carries, beside what the checkout page shows (labels,
dates, prices, option ids, the ``unavailable`` words), the operator's view
of it: node ids, distances, our costs, bid prices and capacity charges,
scores, the CLTV figures and the operator's reasons. :func:`shopper_view`
is the answer without those: the same keys, each withheld value replaced by
what :data:`WITHHELD` says (null, or an empty list where the field is a
list), so a client reads one shape in either view. :func:`describe_withholding`
makes the served OpenAPI document say so (those fields nullable, each
described). Every table here is keyed by the result types of
:mod:`tierflow.orchestration.checkout.results`, whose fields are the wire
format: a field added there is public until it is listed here, and
``tests/service/test_shopper_view.py`` fails until it is classified.

A refusal is worded for its reader alike (:func:`refusal_reason`): a
:class:`~tierflow.orchestration.checkout.shopper_words.Refusal` (a select
whose node passed its cutoff or closed) carries the shopper's words beside
the operator's message; every other refusal of a checkout call names no
operator data (``docs/service.md`` "Security" lists them).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from tierflow.data.errors import InputError
from tierflow.orchestration.checkout.results import (
    CheckoutResult,
    CustomerValue,
    FulfillmentOption,
    OptionSet,
    Shipment,
    Shortfall,
)
from tierflow.orchestration.checkout.shopper_words import Refusal
from tierflow.orchestration.checkout.wire import WireRecord, to_wire, wire_fields

__all__ = [
    "WITHHELD",
    "answer_body",
    "describe_withholding",
    "refusal_reason",
    "shopper_changes",
    "shopper_view",
]


def _null(_: Any) -> None:
    return None


def _empty(_: Any) -> list[Any]:
    return []


def _keys_only(reasons: Mapping[str, Any]) -> dict[str, None]:
    """A tier → reason mapping with its tiers kept and its reasons withheld."""
    return dict.fromkeys(reasons)


#: Record type → field → what stands in for a withheld value (given the
#: value). Nested records (an option's shipments, an answer's customer) are
#: withheld by their own entries.
WITHHELD: dict[type[Any], dict[str, Callable[[Any], Any]]] = {
    OptionSet: {
        "missing": _keys_only,  # the operator's reasons: thresholds, nodes, scores
        "bid_prices": _null,  # which bid prices the decisions used
        "capacity_as_of": _null,  # the capacity log's last write
        "notes": _empty,  # a degraded answer's operator notes
    },
    CustomerValue: {
        "predicted_spend": _null,
        "segment": _null,
        "source": _null,
        "platinum_threshold": _null,
        "upgrade_allowance": _null,
    },
    FulfillmentOption: {
        "nodes": _empty,
        "cost": _null,  # our shipping cost
        "capacity_cost": _null,  # the bid-price charge
        "satisfaction_score": _null,
        "emissions_kg_mi": _null,  # weight x distance: where it ships from
        "explanation": _null,  # names the node, its cutoff, distance, bid prices
        "upgrade_cost": _null,  # what an upgrade costs us
    },
    Shipment: {"node_id": _null, "cost": _null, "distance_mi": _null},
    CheckoutResult: {"nodes": _empty},
    Shortfall: {"node_id": _null, "available": _null},  # a node's stock
}


def shopper_view(answer: WireRecord) -> dict[str, Any]:
    """``answer.to_dict()`` with the operator's values withheld
    (:data:`WITHHELD`): an option set or a checkout call's outcome as a
    caller without the API key reads it when the server asks for the key on
    the operator reads."""
    out = _withhold(type(answer), to_wire(answer))
    if isinstance(answer, CheckoutResult) and answer.shopper_message is not None:
        out["message"] = answer.shopper_message  # the operator's names a node
    return out


def shopper_wire(cls: type[WireRecord], wire: dict[str, Any]) -> dict[str, Any]:
    """:func:`shopper_view` of a ``cls`` already on the wire (``to_dict()``;
    an answer another process stored)."""
    return _withhold(cls, wire)


def answer_body(answer: WireRecord, full: bool) -> dict[str, Any]:
    """What a checkout call answers: ``answer.to_dict()`` to a caller who
    may read the operator data (``full``), else :func:`shopper_view`."""
    return answer.to_dict() if full else shopper_view(answer)


def refusal_reason(error: InputError, full: bool) -> str:
    """Why a call was refused, as its caller reads it: the operator's reason
    to a caller who may read the operator data (``full``), else the
    shopper's words of a :class:`~tierflow.orchestration.checkout.shopper_words.Refusal`
    (no node id), and any other refusal's reason as it is."""
    return error.shopper if isinstance(error, Refusal) and not full else error.reason


def shopper_changes(
    changes: list[dict[str, Any]], after: OptionSet
) -> list[dict[str, Any]]:
    """A live update's ``changes`` (:func:`~tierflow.orchestration.checkout.results.option_changes`)
    as a shopper reads them: an added option withheld as in
    :func:`shopper_view`, a removed one's reason in the shopper's words (its
    tier's ``unavailable`` in ``after``, never the operator's, which names
    nodes; null when ``after`` has none for it), and a change of ``nodes``
    said with both sides empty."""
    options = {o.option_id: o for o in after.options}
    words = {str(tier): text for tier, text in after.unavailable.items()}
    out: list[dict[str, Any]] = []
    for change in changes:
        kind = change["change"]
        if kind == "added":
            option = options[change["option_id"]]
            out.append({**change, "option": shopper_view(option)})
        elif kind == "removed":
            out.append({**change, "reason": words.get(change["option_id"])})
        else:
            fields = change["fields"]
            if "nodes" in fields:  # that they moved, not where from or to
                fields = {**fields, "nodes": [[], []]}
            out.append({**change, "fields": fields})
    return out


def _withhold(cls: type[Any], wire: dict[str, Any]) -> dict[str, Any]:
    out = dict(wire)
    for name, gone, record, many in _withholding(cls):
        value = wire[name]
        if gone is not None:
            out[name] = gone(value)
        elif value is not None:
            out[name] = (
                [_withhold(record, v) for v in value]
                if many
                else _withhold(record, value)
            )
    return out


#: ``(field, what stands in for it, nested record, a tuple of them)``
_Step = tuple[str, Callable[[Any], Any] | None, type[Any], bool]


#: :func:`_withholding` of each record type so far.
_STEPS: dict[type[Any], tuple[_Step, ...]] = {}


def _withholding(cls: type[Any]) -> tuple[_Step, ...]:
    """What :func:`_withhold` does to each field of ``cls`` that it changes,
    in field order: withheld (:data:`WITHHELD`), or a nested record's own
    fields withheld. Kept per type (the fields and the table are fixed):
    reading the fields' hints per answer cost a shopper's option set more
    than the router's decision."""
    found = _STEPS.get(cls)
    if found is None:
        found = _STEPS[cls] = _steps(cls)
    return found


def _steps(cls: type[Any]) -> tuple[_Step, ...]:
    gone = WITHHELD.get(cls, {})
    steps: list[_Step] = []
    for name, hint in wire_fields(cls):
        if name in gone:
            steps.append((name, gone[name], cls, False))
            continue
        record, many = _nested(hint)
        if record is not None:
            steps.append((name, None, record, many))
    return tuple(steps)


def _nested(hint: Any) -> tuple[type[Any] | None, bool]:
    """The record type a field holds (one, or a tuple of them) when
    :data:`WITHHELD` has withheld fields of it (every record that nests one
    has some of its own)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return _nested(args[0])
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _nested(inner[0]) if len(inner) == 1 else (None, False)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        record, _ = _nested(args[0])
        return record, True
    if isinstance(hint, type) and hint in WITHHELD:
        return hint, False
    return None, False


# --------------------------------------------------------------- the document
#: What the document says of a withheld field.
NOTE_NULL = (
    "Withheld (null) from a caller without the API key when the server runs "
    "with `--operator-reads key`: operator data."
)
NOTE_EMPTY = (
    "Withheld (empty) from a caller without the API key when the server runs "
    "with `--operator-reads key`: operator data."
)
NOTE_KEYS = (
    "Withheld from a caller without the API key when the server runs with "
    "`--operator-reads key`: the tiers stay, each reason is null (operator "
    "data; `unavailable` says why in the shopper's words)."
)
#: The document's description of the whole mode (``info.description``).
NOTE_MODE = (
    "This server runs with `--operator-reads key`: the operator reads need "
    "the API key (`X-API-Key` or `Authorization: Bearer`), and a checkout "
    "answer (`/v1/options`, select, confirm, cancel, requote, and the "
    "`options` events of a checkout's stream) given to a caller without it "
    "has the operator data withheld: the same keys, node ids, distances, "
    "costs, scores, bid prices, CLTV figures and the operator's reasons "
    "null (lists empty; a live update's change of `nodes` is `[[], []]`, "
    "and its removed option's `reason` the tier's `unavailable` words). The "
    "fields so withheld say so. A select refused 409 because a node of its "
    "option passed its cutoff or closed says so without naming the node. "
    "With the key the answers are whole."
)


def describe_withholding(
    document: dict[str, Any], models: Mapping[type[Any], type[Any]]
) -> dict[str, Any]:
    """``document`` (an OpenAPI document, changed in place and returned) with
    each withheld field of the response models (``models``: record type →
    its response model) nullable and described, and the mode described."""
    schemas = document.get("components", {}).get("schemas", {})
    for record, gone in WITHHELD.items():
        schema = schemas.get(models[record].__name__)
        if schema is None:
            continue
        for name, stand_in in gone.items():
            prop = schema["properties"][name]
            if stand_in is _empty:
                prop["description"] = NOTE_EMPTY
            elif stand_in is _keys_only:
                values = prop.get("additionalProperties", {})
                prop["additionalProperties"] = _nullable(values)
                prop["description"] = NOTE_KEYS
            else:
                schema["properties"][name] = {
                    **_nullable(prop),
                    "description": NOTE_NULL,
                }
    info = document.setdefault("info", {})
    before = info.get("description")
    info["description"] = NOTE_MODE if not before else f"{before}\n\n{NOTE_MODE}"
    return document


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    """A property's schema that also takes null (as is, if it did)."""
    title = {"title": prop["title"]} if "title" in prop else {}
    inner = {k: v for k, v in prop.items() if k not in ("title", "description")}
    options = inner.get("anyOf")
    if options is not None:
        if {"type": "null"} in options:
            return {**inner, **title}
        return {**inner, "anyOf": [*options, {"type": "null"}], **title}
    return {"anyOf": [inner, {"type": "null"}], **title}
