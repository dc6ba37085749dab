"""The satisfaction score that orders the checkout options, best first.

A weighted sum of speed, cost and eco parts in [0, 1], each a fixed transform
of the option's own numbers (so scores stay steady across live updates);
the weights come from the tier policy, the customer's stated preferences and
their value. The formulas are in ``docs/checkout.md`` ("The satisfaction
score").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tierflow.data.errors import InputError
from tierflow.data.limits import require_number
from tierflow.formulations.tiers import SATISFACTION_KEYS, TierPolicy


@dataclass(frozen=True, slots=True)
class SatisfactionWeights:
    """Normalized weights of the three parts (they sum to 1)."""

    speed: float
    cost: float
    eco: float

    def score(self, days: int, price: float, kg_mi: float, policy: TierPolicy) -> float:
        """The composite score of one option (``docs/checkout.md``)."""
        speed = 1.0 / max(int(days), 1)
        cost = 1.0 / (1.0 + max(price, 0.0) / policy.price_scale)
        eco = 1.0 / (1.0 + max(kg_mi, 0.0) / policy.eco_scale_kg_mi)
        return self.speed * speed + self.cost * cost + self.eco * eco


#: The largest stated weight: weights are relative, and two of 1e308 made
#: every satisfaction score 0 (the HTTP schema holds weights to it too).
MAX_PREFERENCE = 1000.0


def check_preferences(preferences: Mapping[str, Any] | None) -> dict[str, float]:
    """Validated stated preferences (``InputError`` naming the bad key)."""
    if preferences is None:
        return {}
    if not isinstance(preferences, Mapping):
        raise InputError(
            f"expected a mapping of {list(SATISFACTION_KEYS)} to weights",
            field="preferences",
            value=preferences,
        )
    out: dict[str, float] = {}
    for key, value in preferences.items():
        if key not in SATISFACTION_KEYS:
            raise InputError(
                f"unknown preference (one of {list(SATISFACTION_KEYS)})",
                field="preferences",
                value=key,
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError("not a number", field=f"preferences.{key}", value=value)
        out[key] = require_number(value, f"preferences.{key}", 0, MAX_PREFERENCE)
    if out and sum(out.values()) <= 0 and len(out) == len(SATISFACTION_KEYS):
        raise InputError(
            "weights must not all be 0", field="preferences", value=preferences
        )
    return out


def satisfaction_weights(
    policy: TierPolicy, preferences: Mapping[str, float], customer_value: float
) -> SatisfactionWeights:
    """Weights for one customer: defaults, preferences, CLTV tilt, normalized.

    Parameters
    ----------
    preferences
        Output of :func:`check_preferences`.
    customer_value
        ``v`` in [0, 1] (``docs/checkout.md``).
    """
    w = {**policy.satisfaction_weights, **preferences}
    lift = 1.0 + policy.cltv_speed_tilt * min(max(customer_value, 0.0), 1.0)
    speed, cost, eco = w["speed"] * lift, w["cost"] / lift, w["eco"]
    total = speed + cost + eco
    if total <= 0:
        # the stated ones alone are not all 0 (check_preferences refuses
        # that): the policy's weighs nothing else, so say its weights too
        used = ", ".join(f"{k} {w[k]:g}" for k in SATISFACTION_KEYS)
        raise InputError(
            "weights must not all be 0 (with the tier policy's for the "
            f"others: {used})",
            field="preferences",
            value=dict(preferences),
        )
    return SatisfactionWeights(speed / total, cost / total, eco / total)
