"""The tier policy from a settings table (``[tiers]`` of ``tierflow.toml``):
named settings over :class:`TierPolicy`'s defaults, checked by its own rules.

Field names in errors are relative to the table (``rules.gold.services``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from tierflow.data.errors import InputError
from tierflow.data.vocabulary import TIERS
from tierflow.formulations.tiers import SATISFACTION_KEYS, TierPolicy, TierRule

#: Settings that are tables of their own (per tier, per satisfaction key).
_TABLES: dict[str, tuple[str, ...]] = {
    "price_markup": tuple(TIERS),
    "satisfaction_weights": SATISFACTION_KEYS,
}
#: TierRule fields that may be left empty (a tier without that label).
_OPTIONAL_LABELS = ("eco_label", "saving_label")


def _scalar(value: Any, like: Any, field: str) -> Any:
    """``value`` as the type of the default ``like`` (int, float, bool, str)."""
    if isinstance(like, bool):
        ok = isinstance(value, bool)
    elif isinstance(like, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(like, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        kinds = {bool: "true or false", int: "an integer", float: "a number"}
        kind = kinds.get(type(like), "a string")
        raise InputError(f"must be {kind}", field=field, value=value)
    return value


def _table(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError("must be a table", field=field, value=value)
    return value


def _unknown(field: str, known: tuple[str, ...]) -> InputError:
    return InputError(f"unknown setting; choose from {', '.join(known)}", field=field)


def _numbers(
    base: Mapping[str, float], value: Any, field: str, keys: tuple[str, ...]
) -> Mapping[str, float]:
    out = dict(base)
    for key, number in _table(value, field).items():
        if key not in keys:
            raise _unknown(f"{field}.{key}", keys)
        out[key] = _scalar(number, 0.0, f"{field}.{key}")
    return MappingProxyType(out)


def _rule(base: TierRule, value: Any, field: str) -> TierRule:
    names = tuple(f.name for f in dataclasses.fields(TierRule))
    changes: dict[str, Any] = {}
    for key, setting in _table(value, field).items():
        where = f"{field}.{key}"
        if key not in names:
            raise _unknown(where, names)
        if key == "services":
            if not isinstance(setting, list) or not all(
                isinstance(s, str) for s in setting
            ):
                raise InputError("must be a list of services", field=where)
            changes[key] = tuple(setting)
        elif key in _OPTIONAL_LABELS:
            changes[key] = _scalar(setting, "", where) or None
        else:
            changes[key] = _scalar(setting, getattr(base, key), where)
    try:
        return dataclasses.replace(base, **changes)
    except InputError as exc:
        raise _within(exc, field) from None


def _rules(base: Mapping[str, TierRule], value: Any) -> Mapping[str, TierRule]:
    out = dict(base)
    for tier, table in _table(value, "rules").items():
        if tier not in TIERS:
            raise _unknown(f"rules.{tier}", tuple(TIERS))
        out[tier] = _rule(base[tier], table, f"rules.{tier}")
    return MappingProxyType(out)


def _within(exc: InputError, prefix: str) -> InputError:
    """``exc`` with its field placed under ``prefix``."""
    field = prefix if exc.field is None else f"{prefix}.{exc.field}"
    return InputError(exc.reason, field=field, index=exc.index, value=exc.value)


def policy_from_settings(settings: Mapping[str, Any]) -> TierPolicy:
    """:class:`TierPolicy` with ``settings`` over its defaults.

    Keys are the policy's attribute names; ``rules`` holds one table per tier
    (a :class:`TierRule`'s fields), ``price_markup`` and
    ``satisfaction_weights`` one number per tier / key. Raises
    :class:`InputError` naming the setting for an unknown key, a wrong type
    or a value the policy's own checks reject.
    """
    base = TierPolicy()
    known = tuple(f.name for f in dataclasses.fields(TierPolicy))
    changes: dict[str, Any] = {}
    for key, value in settings.items():
        if key not in known:
            raise _unknown(key, known)
        if key == "rules":
            changes[key] = _rules(base.rules, value)
        elif key in _TABLES:
            changes[key] = _numbers(getattr(base, key), value, key, _TABLES[key])
        else:
            changes[key] = _scalar(value, getattr(base, key), key)
    return base.with_changes(**changes)
