"""Tier policy: what each fulfillment tier promises, what breaking it costs,
what the customer pays for it, and how checkout words it.

One :class:`TierPolicy` is shared by the batch allocator and the online
router, so what checkout promises is what allocation keeps. Every number and
label is configuration (:meth:`TierPolicy.with_changes`); the defaults and
the trade-offs behind them are in ``docs/checkout.md`` ("Tier policy",
"Pricing").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tierflow.data.errors import InputError
from tierflow.data.limits import MAX_AMOUNT, MAX_COST, require_number
from tierflow.data.rates import SERVICES, service_index
from tierflow.data.vocabulary import TIERS, Tier

#: The longest delivery promise a tier may make (delivery days): a quarter
#: of a year is far beyond any retail promise and well inside the delivery
#: calendar the pricing tables are built over.
MAX_PROMISE_DAYS = 90


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
        Whether missing the promise makes a node ineligible: late only by a
        fallback service, and only where no node can keep it.
    late_per_day
        Penalty per delivery day late.
    defer
        Base penalty for making the order wait until the next day.
    label
        Benefit shown to the customer.
    eco_label
        Shown instead when the offer moves clearly less kg·mi than the
        faster offers (:meth:`TierPolicy.is_eco`); None: the tier is not
        compared.
    saving_label
        Shown instead when the offer carries a discount: a format string
        with ``{discount}`` (dollars); None: the tier has no discount.
    keeps_date
        Whether the allocator keeps the tier's date like a constraint where
        it can: late only where no node with the stock and the room can
        deliver on time, never because lateness is cheaper than the room
        (the date shown at checkout is a commitment, not a price).
    """

    services: tuple[str, ...]
    promise_days: int
    guaranteed: bool
    late_per_day: float
    defer: float
    label: str
    eco_label: str | None = None
    saving_label: str | None = None
    keeps_date: bool = False

    def __post_init__(self) -> None:
        for i, name in enumerate(self.services):
            try:
                service_index(name)
            except InputError as exc:  # named as the rule's field, by position
                raise InputError(
                    exc.reason, field="services", index=i, value=name
                ) from None
        if not self.services:
            raise InputError("needs at least one service", field="services")
        if isinstance(self.promise_days, bool) or not isinstance(
            self.promise_days, int
        ):
            raise InputError(
                "must be an integer", field="promise_days", value=self.promise_days
            )
        if not 0 <= self.promise_days <= MAX_PROMISE_DAYS:
            raise InputError(
                f"must be in [0, {MAX_PROMISE_DAYS}]",
                field="promise_days",
                value=self.promise_days,
            )
        for name in ("late_per_day", "defer"):
            value = getattr(self, name)
            if not 0.0 <= value < float("inf"):
                raise InputError(
                    "must be a finite number >= 0", field=name, value=value
                )
        if self.saving_label is not None:  # formatted only when capacity is short
            try:
                self.saving_label.format(discount=1.25)
            except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
                raise InputError(
                    "must be a format string whose only field is {discount} "
                    f"(dollars, e.g. 'save ${{discount:.2f}}'); formatting it "
                    f"fails: {type(exc).__name__}: {exc}",
                    field="saving_label",
                    value=self.saving_label,
                ) from None

    @property
    def service_ids(self) -> tuple[int, ...]:
        """Indices into :data:`data.rates.SERVICES`."""
        return tuple(service_index(s) for s in self.services)

    @property
    def compares_eco(self) -> bool:
        """Whether an offer of this tier is checked for being eco-friendly."""
        return self.eco_label is not None

    def benefit(self, *, eco: bool = False, discount: float = 0.0) -> str:
        """The label of one offer of this tier (eco, discounted or plain)."""
        if eco and self.eco_label is not None:
            return self.eco_label
        if discount > 0 and self.saving_label is not None:
            return self.saving_label.format(discount=discount)
        return self.label


def _default_rules() -> Mapping[str, TierRule]:
    return MappingProxyType(
        {
            Tier.PLATINUM: TierRule(
                ("next_day",), 1, True, 40.0, 10_000.0, "Guaranteed next-day"
            ),
            Tier.GOLD: TierRule(
                ("two_day", "ground", "next_day"),
                3,
                False,
                12.0,
                60.0,
                "Standard shipping",
            ),
            Tier.SILVER: TierRule(
                ("ground", "economy", "two_day"),
                6,
                False,
                4.0,
                20.0,
                "Lowest price",
                eco_label="Eco-friendly",
            ),
            Tier.OVERFLOW: TierRule(
                ("economy", "ground"),
                8,
                False,
                2.0,
                5.0,
                "Ship later",
                saving_label="Ship later, save ${discount:.2f}",
            ),
        }
    )


def _default_markup() -> Mapping[str, float]:
    return MappingProxyType(
        {Tier.PLATINUM: 1.25, Tier.GOLD: 1.0, Tier.SILVER: 1.0, Tier.OVERFLOW: 1.0}
    )


#: Keys of :attr:`TierPolicy.satisfaction_weights` (and of checkout preferences).
SATISFACTION_KEYS: tuple[str, ...] = ("speed", "cost", "eco")
#: Where an unscored customer's predicted spend comes from
#: (:attr:`TierPolicy.new_customer_prior`).
NEW_CUSTOMER_PRIORS: tuple[str, ...] = ("model", "percentile")


def _default_weights() -> Mapping[str, float]:
    return MappingProxyType({"speed": 0.45, "cost": 0.45, "eco": 0.10})


class Pricing(StrEnum):
    """How an option's price was set (each member is its wire string)."""

    #: ``price_markup`` × carrier cost (minus an overflow discount).
    STANDARD = "standard"
    #: Platinum as a perk: at most the Gold price + ``platinum_premium``; the
    #: extra cost is charged to the customer's upgrade allowance on confirm.
    UPGRADE = "upgrade"
    #: Platinum outside the allowance: ``price_markup`` × carrier cost.
    PRICED = "priced"


class PricedBecause(StrEnum):
    """Why Platinum is priced instead of upgraded."""

    NO_SCORE = "no CLTV score"
    NO_GOLD = "no Gold offer to upgrade from"
    ALLOWANCE = "upgrade allowance spent"


@dataclass(frozen=True, slots=True)
class UpgradeQuote:
    """Platinum's price under the pricing policy (:meth:`TierPolicy.price_platinum`).

    Attributes
    ----------
    price
        What the customer pays.
    pricing
        :attr:`Pricing.UPGRADE` or :attr:`Pricing.PRICED`.
    upgrade_cost
        The part of Platinum's extra cost over Gold the customer does not
        pay (charged to the allowance on confirm); 0 when priced.
    standard_price
        Gold's price, the upgrade's reference (None without a Gold offer).
    needed
        What the upgrade would have charged to the allowance (for the words
        of a priced offer).
    because
        Why it is priced (None for an upgrade).
    """

    price: float
    pricing: Pricing
    upgrade_cost: float
    standard_price: float | None
    needed: float = 0.0
    because: PricedBecause | None = None


@dataclass(frozen=True, slots=True)
class TierPolicy:
    """The shared tier configuration (defaults: ``docs/checkout.md``).

    Attributes
    ----------
    rules
        One :class:`TierRule` per tier name of :data:`data.vocabulary.TIERS`.
    default_tier
        Tier of an order that names none.
    cltv_defer_weight, cltv_cap
        Deferral penalty grows by ``weight × min(predicted_spend, cap)``.
    split_shipment_cost
        Cost of each extra shipment when an order is split across nodes.
    platinum_percentile
        Customers at or above this CLTV percentile may be offered Platinum.
    overflow_score_threshold, overflow_discount_cap, overflow_min_discount,
    overflow_delay_days,
    price_markup, satisfaction_weights, price_scale, eco_scale_kg_mi,
    eco_min_saving, cltv_speed_tilt, new_customer_percentile
        Online tiering settings (``docs/checkout.md``, "Tier policy").
    new_customer_prior
        An unscored customer's predicted spend: ``"model"``, the prior the
        CLTV model stored with the latest scores (its forecast of a customer
        acquired that day; ``new_customer_percentile`` of the scores where
        they carry none), or ``"percentile"``, always that percentile.
    platinum_premium, upgrade_allowance_share, upgrade_period_days
        Platinum's pricing policy (``docs/checkout.md``, "Pricing"): within
        the customer's allowance (``upgrade_allowance_share`` × predicted
        spend per ``upgrade_period_days``) Platinum costs at most the Gold
        price + ``platinum_premium``.
    """

    rules: Mapping[str, TierRule] = field(default_factory=_default_rules)
    default_tier: str = Tier.GOLD
    cltv_defer_weight: float = 0.05
    cltv_cap: float = 2_000.0
    split_shipment_cost: float = 4.0
    platinum_percentile: float = 0.90
    overflow_score_threshold: float = 0.15
    overflow_discount_cap: float = 15.0
    overflow_min_discount: float = 1.0
    overflow_delay_days: int = 1
    price_markup: Mapping[str, float] = field(default_factory=_default_markup)
    satisfaction_weights: Mapping[str, float] = field(default_factory=_default_weights)
    price_scale: float = 10.0
    eco_scale_kg_mi: float = 1000.0
    eco_min_saving: float = 0.10
    cltv_speed_tilt: float = 1.0
    new_customer_percentile: float = 0.50
    new_customer_prior: str = "model"
    platinum_premium: float = 0.0
    upgrade_allowance_share: float = 0.05
    upgrade_period_days: int = 30

    def __post_init__(self) -> None:
        missing = set(TIERS) - set(self.rules)
        if missing:
            raise InputError(f"no rule for tiers {sorted(missing)}", field="rules")
        for tier, rule in self.rules.items():
            if not isinstance(rule, TierRule):
                raise InputError(
                    "must be a TierRule", field=f"rules.{tier}", value=rule
                )
        # what the allocator's costs are made of (NaN made every cost NaN)
        require_number(self.split_shipment_cost, "split_shipment_cost", 0, MAX_COST)
        require_number(self.cltv_defer_weight, "cltv_defer_weight", 0, 1000)
        require_number(self.cltv_cap, "cltv_cap", 0, MAX_AMOUNT)
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
            ("overflow_min_discount", 0.0, float("inf")),
            ("overflow_delay_days", 1, 30),
            ("price_scale", 1e-9, float("inf")),
            ("eco_scale_kg_mi", 1e-9, float("inf")),
            ("eco_min_saving", 0.0, 1.0),
            ("cltv_speed_tilt", 0.0, float("inf")),
            ("new_customer_percentile", 0.0, 1.0),
            ("platinum_premium", 0.0, 1e6),
            ("upgrade_allowance_share", 0.0, 10.0),
            ("upgrade_period_days", 1, 3660),
        )
        for name, lo, hi in ranges:
            value = getattr(self, name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not (number and lo <= value <= hi):
                raise InputError(
                    f"must be in [{lo:g}, {hi:g}]", field=name, value=value
                )
        if self.new_customer_prior not in NEW_CUSTOMER_PRIORS:
            raise InputError(
                f"must be one of {', '.join(NEW_CUSTOMER_PRIORS)}",
                field="new_customer_prior",
                value=self.new_customer_prior,
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

    def is_eco(self, kg_mi: float, reference_kg_mi: float | None) -> bool:
        """Whether an offer moves at least ``eco_min_saving`` less kg·mi than
        the reference offer (False without one)."""
        return (
            reference_kg_mi is not None
            and kg_mi <= (1.0 - self.eco_min_saving) * reference_kg_mi
        )

    def ship_delay(self, tier: str) -> int:
        """Ship days an order of ``tier`` waits after the ship day it would
        otherwise get at its node (the node's cutoff, timezone and the ship
        calendar's days off respected): ``overflow_delay_days`` for the
        overflow tier, 0 for the others. Counted in ship days, so "ship
        later" ships later on any day (``docs/checkout.md``)."""
        return self.overflow_delay_days if tier == Tier.OVERFLOW else 0

    def upgrade_allowance(self, predicted_spend: float) -> float:
        """A customer's upgrade allowance per ``upgrade_period_days`` ($)."""
        return self.upgrade_allowance_share * max(float(predicted_spend), 0.0)

    def price_platinum(
        self,
        *,
        priced: float,
        cost: float,
        gold: tuple[float, float] | None,
        allowance_left: float | None,
    ) -> UpgradeQuote:
        """Platinum's price: an upgrade within the allowance, else priced.

        Parameters
        ----------
        priced
            Platinum's price by ``price_markup`` (the priced offer).
        cost
            What Platinum costs us.
        gold
            ``(price, cost)`` of the cart's Gold offer (None: none).
        allowance_left
            What is left of the customer's allowance this period (None: no
            CLTV score, no upgrades).
        """
        if gold is None:
            return UpgradeQuote(
                priced, Pricing.PRICED, 0.0, None, because=PricedBecause.NO_GOLD
            )
        gold_price, gold_cost = gold
        price = min(priced, round(gold_price + self.platinum_premium, 2))
        upgrade_cost = max(0.0, (cost - gold_cost) - (price - gold_price))
        because = None
        if allowance_left is None:
            because = PricedBecause.NO_SCORE
        elif upgrade_cost > allowance_left + 1e-9:
            because = PricedBecause.ALLOWANCE
        if because is not None:
            return UpgradeQuote(
                priced, Pricing.PRICED, 0.0, gold_price, upgrade_cost, because
            )
        return UpgradeQuote(price, Pricing.UPGRADE, upgrade_cost, gold_price)

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

    def date_kept(self, tiers: NDArray[np.intp]) -> NDArray[np.bool_]:
        """Per tier index: whether its date is kept where it can (a
        guaranteed tier's always is)."""
        kept = [self.rules[t].guaranteed or self.rules[t].keeps_date for t in TIERS]
        return np.asarray(np.array(kept, dtype=bool)[tiers], dtype=np.bool_)

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
