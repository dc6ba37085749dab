"""Tier policy: what each fulfillment tier promises and what breaking it costs.

One policy object is shared by the batch allocator and the online router so
that what checkout promises is what allocation keeps:

========  ==========================  =======  ==========  ===========  =========
tier      services (preference)       promise  guaranteed  late $/day   defer $
========  ==========================  =======  ==========  ===========  =========
platinum  next_day                    1 day    yes         40           10 000
gold      two_day, ground, next_day   3 days   no          12           60
silver    ground, economy, two_day    6 days   no          4            20
overflow  economy, ground             8 days   no          2            5
========  ==========================  =======  ==========  ===========  =========

* **Promise.** The promised delivery date is the order's local calendar date
  at the destination plus ``promise_days`` carrier delivery days (Mon–Sat,
  :mod:`data.delivery_calendar`). Platinum is *guaranteed*: a node that
  cannot deliver by it is ineligible (unless no node at all can, in which case
  the fastest node ships it and the lateness is charged and reported).
* **Lateness.** Other tiers may arrive late at ``late_per_day`` per delivery
  day (goodwill credits, contact-centre cost).
* **Deferral.** When capacity is short an order may wait for the next day at
  ``defer`` plus ``cltv_defer_weight`` × the customer's predicted spend
  (capped), so that low-value, least-promised orders wait first and
  Platinum never waits while any node can serve it.
* **Split.** An order no single node can fill ships from several nodes at
  ``split_shipment_cost`` per extra shipment.

Every number is configuration (:meth:`TierPolicy.with_changes`), documented
here so operations can reason about the trade-offs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from data.errors import InputError
from data.orders import TIERS
from data.rates import SERVICES, service_index


@dataclass(frozen=True, slots=True)
class TierRule:
    """What one tier promises.

    Attributes
    ----------
    services
        Acceptable carrier services, in order of preference.
    promise_days
        Delivery days after the order's local date by which it must arrive.
    guaranteed
        Whether missing the promise makes a node ineligible.
    late_per_day
        Penalty per delivery day late.
    defer
        Base penalty for making the order wait until the next day.
    label
        Benefit shown to the customer.
    """

    services: tuple[str, ...]
    promise_days: int
    guaranteed: bool
    late_per_day: float
    defer: float
    label: str

    def __post_init__(self) -> None:
        for name in self.services:
            service_index(name)
        if not self.services:
            raise InputError("needs at least one service", field="services")
        if self.promise_days < 0:
            raise InputError(
                "must be >= 0", field="promise_days", value=self.promise_days
            )
        for name in ("late_per_day", "defer"):
            if getattr(self, name) < 0:
                raise InputError("must be >= 0", field=name, value=getattr(self, name))

    @property
    def service_ids(self) -> tuple[int, ...]:
        """Indices into :data:`data.rates.SERVICES`."""
        return tuple(service_index(s) for s in self.services)


def _default_rules() -> Mapping[str, TierRule]:
    return MappingProxyType(
        {
            "platinum": TierRule(
                ("next_day",), 1, True, 40.0, 10_000.0, "Guaranteed next-day"
            ),
            "gold": TierRule(
                ("two_day", "ground", "next_day"),
                3,
                False,
                12.0,
                60.0,
                "Standard shipping",
            ),
            "silver": TierRule(
                ("ground", "economy", "two_day"),
                6,
                False,
                4.0,
                20.0,
                "Economy shipping",
            ),
            "overflow": TierRule(
                ("economy", "ground"), 8, False, 2.0, 5.0, "Ship later, save"
            ),
        }
    )


@dataclass(frozen=True, slots=True)
class TierPolicy:
    """The shared tier configuration (see the module docstring for defaults).

    Attributes
    ----------
    rules
        One :class:`TierRule` per tier name of :data:`data.orders.TIERS`.
    default_tier
        Tier of an order that names none.
    cltv_defer_weight, cltv_cap
        Deferral penalty grows by ``weight × min(predicted_spend, cap)``.
    split_shipment_cost
        Cost of each extra shipment when an order is split across nodes.
    platinum_percentile
        Customers at or above this CLTV percentile may be offered Platinum.
    """

    rules: Mapping[str, TierRule] = field(default_factory=_default_rules)
    default_tier: str = "gold"
    cltv_defer_weight: float = 0.05
    cltv_cap: float = 2_000.0
    split_shipment_cost: float = 4.0
    platinum_percentile: float = 0.90

    def __post_init__(self) -> None:
        missing = set(TIERS) - set(self.rules)
        if missing:
            raise InputError(f"no rule for tiers {sorted(missing)}", field="rules")
        if self.default_tier not in TIERS:
            raise InputError(
                "unknown tier", field="default_tier", value=self.default_tier
            )
        if not 0.0 < self.platinum_percentile < 1.0:
            raise InputError(
                "must be in (0, 1)",
                field="platinum_percentile",
                value=self.platinum_percentile,
            )

    def with_changes(self, **changes: Any) -> TierPolicy:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def rule(self, tier: int | str) -> TierRule:
        """Rule of a tier, by name or by index into TIERS (-1: default tier)."""
        if isinstance(tier, str):
            return self.rules[tier]
        return self.rules[TIERS[tier] if tier >= 0 else self.default_tier]

    def tier_index(self, tier: NDArray[np.int8]) -> NDArray[np.intp]:
        """Tier codes with the default filled in for orders that named none."""
        default = TIERS.index(self.default_tier)
        return np.where(tier < 0, default, tier).astype(np.intp)

    def table(self, attribute: str) -> NDArray[np.float64]:
        """A per-tier numeric attribute as an array in TIERS order."""
        return np.array([float(getattr(self.rules[t], attribute)) for t in TIERS])

    def service_table(self) -> NDArray[np.bool_]:
        """``(n_tiers, n_services)``: which services each tier accepts."""
        out = np.zeros((len(TIERS), len(SERVICES)), dtype=bool)
        for k, t in enumerate(TIERS):
            out[k, list(self.rules[t].service_ids)] = True
        return out

    def defer_cost(
        self, tier: NDArray[np.int8], predicted_spend: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Penalty for deferring each order (tier base + CLTV term)."""
        base = self.table("defer")[self.tier_index(tier)]
        spend = np.clip(np.nan_to_num(predicted_spend, nan=0.0), 0.0, self.cltv_cap)
        return np.asarray(base + self.cltv_defer_weight * spend, dtype=np.float64)
