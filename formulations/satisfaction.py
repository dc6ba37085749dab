"""The satisfaction score that orders the checkout options, best first.

Each option gets three parts in [0, 1], each a fixed transform of the
option's own numbers (so a score does not move when another option appears
or disappears, which keeps live updates steady):

* **speed** ``= 1 / days``: carrier delivery days from the order's local
  date at the destination (next-day → 1.0, two days → 0.5, five → 0.2);
* **cost** ``= 1 / (1 + price / price_scale)``: the customer's price
  (free → 1.0, ``price_scale`` dollars → 0.5);
* **eco** ``= 1 / (1 + kg·mi / eco_scale_kg_mi)``: the shipments' billed
  kg × great-circle miles, an emissions proxy by distance.

``score = w_speed·speed + w_cost·cost + w_eco·eco`` with weights summing to 1:

1. start from :attr:`TierPolicy.satisfaction_weights` (0.45 / 0.45 / 0.10);
2. the customer's stated preferences (``{"speed": .., "cost": .., "eco": ..}``,
   any subset, numbers >= 0) replace the matching defaults;
3. the customer's value ``v = min(1, predicted spend / Platinum threshold)``
   (0 when there is no threshold) tilts weight from cost to speed:
   ``w_speed × (1 + tilt·v)`` and ``w_cost / (1 + tilt·v)`` with
   ``tilt = TierPolicy.cltv_speed_tilt`` — valuable customers see the fast
   options first, price-sensitive new ones the cheap ones;
4. normalize to sum 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tierflow.data.errors import InputError
from tierflow.formulations.tiers import SATISFACTION_KEYS, TierPolicy


@dataclass(frozen=True, slots=True)
class SatisfactionWeights:
    """Normalized weights of the three parts (they sum to 1)."""

    speed: float
    cost: float
    eco: float

    def score(self, days: int, price: float, kg_mi: float, policy: TierPolicy) -> float:
        """The composite score of one option (see the module docstring)."""
        speed = 1.0 / max(int(days), 1)
        cost = 1.0 / (1.0 + max(price, 0.0) / policy.price_scale)
        eco = 1.0 / (1.0 + max(kg_mi, 0.0) / policy.eco_scale_kg_mi)
        return self.speed * speed + self.cost * cost + self.eco * eco


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
        if not (math.isfinite(value) and value >= 0):
            raise InputError(
                "must be a finite number >= 0", field=f"preferences.{key}", value=value
            )
        out[key] = float(value)
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
        ``v`` in [0, 1] (module docstring).
    """
    w = {**policy.satisfaction_weights, **preferences}
    lift = 1.0 + policy.cltv_speed_tilt * min(max(customer_value, 0.0), 1.0)
    speed, cost, eco = w["speed"] * lift, w["cost"] / lift, w["eco"]
    total = speed + cost + eco
    if total <= 0:
        raise InputError(
            "weights must not all be 0", field="preferences", value=dict(preferences)
        )
    return SatisfactionWeights(speed / total, cost / total, eco / total)
