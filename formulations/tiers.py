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
  :mod:`tierflow.data.delivery_calendar`). Platinum is *guaranteed*: a node that
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

Online tiering at checkout (:mod:`tierflow.orchestration.checkout.router`) reads a few more settings,
which the batch allocator ignores:

=========================  =======  ==========================================
setting                    default  meaning
=========================  =======  ==========================================
overflow_score_threshold   0.15     offer Tier-4 overflow when every node that
                                    could serve the order scores below this
overflow_discount_cap      15.0     most $ an overflow discount may be
overflow_delay_days        1        how much later an overflow order ships
price_markup               1.25 /   customer price = markup × carrier cost
                           1.0 ...  (platinum 1.25, others 1.0)
satisfaction_weights       .45/.45  weights of speed / cost / eco in the
                           /.10     satisfaction score (preferences override)
price_scale                10.0     $ at which the price score is 0.5
eco_scale_kg_mi            1000     kg·mi at which the eco score is 0.5
eco_min_saving             0.10     Silver is "Eco-friendly" when it moves
                                    this much less kg·mi than Gold
cltv_speed_tilt            1.0      how much a customer's value shifts weight
                                    from cost to speed
new_customer_percentile    0.50     predicted spend of an unscored customer
                                    (a percentile of the latest scores)
=========================  =======  ==========================================

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

from tierflow.data.errors import InputError
from tierflow.data.rates import SERVICES, service_index
from tierflow.data.vocabulary import TIERS


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


def _default_markup() -> Mapping[str, float]:
    return MappingProxyType(
        {"platinum": 1.25, "gold": 1.0, "silver": 1.0, "overflow": 1.0}
    )


#: Keys of :attr:`TierPolicy.satisfaction_weights` (and of checkout preferences).
SATISFACTION_KEYS: tuple[str, ...] = ("speed", "cost", "eco")


def _default_weights() -> Mapping[str, float]:
    return MappingProxyType({"speed": 0.45, "cost": 0.45, "eco": 0.10})


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
    overflow_score_threshold, overflow_discount_cap, overflow_delay_days,
    price_markup, satisfaction_weights, price_scale, eco_scale_kg_mi,
    eco_min_saving, cltv_speed_tilt, new_customer_percentile
        Online tiering settings (see the module docstring).
    """

    rules: Mapping[str, TierRule] = field(default_factory=_default_rules)
    default_tier: str = "gold"
    cltv_defer_weight: float = 0.05
    cltv_cap: float = 2_000.0
    split_shipment_cost: float = 4.0
    platinum_percentile: float = 0.90
    overflow_score_threshold: float = 0.15
    overflow_discount_cap: float = 15.0
    overflow_delay_days: int = 1
    price_markup: Mapping[str, float] = field(default_factory=_default_markup)
    satisfaction_weights: Mapping[str, float] = field(default_factory=_default_weights)
    price_scale: float = 10.0
    eco_scale_kg_mi: float = 1000.0
    eco_min_saving: float = 0.10
    cltv_speed_tilt: float = 1.0
    new_customer_percentile: float = 0.50

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
        self._check_online()

    def _check_online(self) -> None:
        """Validate the online tiering settings."""
        ranges = (
            ("overflow_score_threshold", 0.0, 1.0),
            ("overflow_discount_cap", 0.0, float("inf")),
            ("overflow_delay_days", 1, 30),
            ("price_scale", 1e-9, float("inf")),
            ("eco_scale_kg_mi", 1e-9, float("inf")),
            ("eco_min_saving", 0.0, 1.0),
            ("cltv_speed_tilt", 0.0, float("inf")),
            ("new_customer_percentile", 0.0, 1.0),
        )
        for name, lo, hi in ranges:
            value = getattr(self, name)
            if isinstance(value, bool) or not lo <= value <= hi:
                raise InputError(
                    f"must be in [{lo:g}, {hi:g}]", field=name, value=value
                )
        for tier in TIERS:
            markup = self.price_markup.get(tier)
            if markup is None or not 0.0 <= markup < float("inf"):
                raise InputError(
                    "needs a finite markup >= 0 per tier",
                    field="price_markup",
                    index=tier,
                    value=markup,
                )
        weights = self.satisfaction_weights
        if set(weights) != set(SATISFACTION_KEYS) or not all(
            0.0 <= w < float("inf") for w in weights.values()
        ):
            raise InputError(
                f"needs a weight >= 0 for each of {list(SATISFACTION_KEYS)}",
                field="satisfaction_weights",
                value=dict(weights),
            )
        if sum(weights.values()) <= 0:
            raise InputError(
                "weights must not all be 0",
                field="satisfaction_weights",
                value=dict(weights),
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
