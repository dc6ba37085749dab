"""What the online checkout call returns, and its small input helpers.

:class:`OptionSet` (the answer to one checkout) with its
:class:`FulfillmentOption` s and their :class:`Shipment` s, the
:class:`CustomerValue` it used, :class:`CheckoutResult` (select, confirm,
cancel), :func:`option_changes` (what a requote moved — a live update's
payload) and :func:`parse_items` (the ``SKU:QTY,…`` cart syntax). Their
fields define the wire format (:mod:`tierflow.orchestration.checkout.wire`):
``to_dict()`` is the JSON the CLI prints and the HTTP API returns.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, NamedTuple

from tierflow.data.errors import InputError
from tierflow.data.vocabulary import HoldStatus, Tier
from tierflow.data.written_numbers import decimal_number, whole_number
from tierflow.formulations.tiers import Pricing
from tierflow.orchestration.checkout.wire import LOCAL, Digits, WireRecord

#: Dollars, to the cent on the wire.
Money = Annotated[float, Digits(2)]
#: Miles, and kg × miles, to a tenth on the wire.
Tenths = Annotated[float, Digits(1)]
#: The satisfaction score, to 4 places on the wire.
Score = Annotated[float, Digits(4)]


class CartLine(NamedTuple):
    """One line of a cart or a shipment: a SKU and its quantity."""

    sku: str
    quantity: int


class Shortfall(NamedTuple):
    """A line a rejected hold could not take."""

    node_id: str
    sku: str
    requested: int
    available: int


@dataclass(frozen=True, slots=True)
class Shipment(WireRecord):
    """One parcel of an option: which node ships which lines, how and when."""

    node_id: str
    lines: tuple[CartLine, ...]
    service: str
    ship_date: dt.date
    delivery_date: dt.date
    cost: Money
    distance_mi: Tenths


@dataclass(frozen=True, slots=True)
class FulfillmentOption(WireRecord):
    """One tier's offer (``docs/checkout.md`` gives every field's meaning).

    ``delivery_date`` is guaranteed when ``guaranteed`` (Platinum), else
    estimated; ``ship_date``/``delivery_date``/``service`` are those of the
    last shipment to arrive. ``pricing`` says how ``price`` was set
    (Platinum: an ``upgrade`` within the customer's allowance, or
    ``priced``); ``upgrade_cost`` is the extra cost over Gold we absorb (0
    unless an upgrade) and ``standard_price`` the Gold price an upgrade is
    measured against (None for other tiers).
    """

    option_id: str
    tier: Tier
    label: str
    nodes: tuple[str, ...]
    service: str
    ship_date: dt.date
    delivery_date: dt.date
    guaranteed: bool
    price: Money
    cost: Money
    discount: Money
    capacity_cost: Money
    satisfaction_score: Score
    eco: bool
    emissions_kg_mi: Tenths
    explanation: str
    shipments: tuple[Shipment, ...]
    pricing: Pricing = Pricing.STANDARD
    upgrade_cost: Money = 0.0
    standard_price: Money | None = None


@dataclass(frozen=True, slots=True)
class CustomerValue(WireRecord):
    """The CLTV facts an answer used.

    Attributes
    ----------
    predicted_spend
        From the latest daily scores, or the new-customer prior.
    segment
        The score's segment, or ``new``.
    source
        Where ``predicted_spend`` came from.
    platinum_threshold
        Spend at the Platinum percentile (None: no scores stored).
    platinum_eligible
        ``predicted_spend >= platinum_threshold`` and above 0 (a threshold
        of 0, when the top share predicts no spend, makes no one eligible
        for predicting none).
    upgrade_allowance
        What is left of the customer's Platinum upgrade allowance this
        period (None: no CLTV score, so no upgrades).
    """

    customer_id: str
    predicted_spend: Money
    segment: str
    source: str
    platinum_threshold: Money | None
    platinum_eligible: bool
    upgrade_allowance: Money | None = None


@dataclass(frozen=True, slots=True)
class OptionSet(WireRecord):
    """The answer to one checkout request.

    Attributes
    ----------
    request_id
        Pass it to :meth:`OnlineRouter.select`, ``confirm``, ``cancel``.
    recommended
        The best option's id (None when nothing can be offered); derived
        from ``options``.
    options
        Ordered by ``satisfaction_score``, best first (the recommendation).
    missing
        Tier → why it is not offered (for operators: thresholds, nodes,
        scores).
    unavailable
        The same tiers → why not, in words for the shopper (no node ids,
        scores or CLTV figures; :mod:`~tierflow.orchestration.checkout.shopper_words`).
    bid_prices
        Which bid prices the decisions used.
    degraded, notes
        Whether something was unavailable and the answer fell back (and what).
    revision
        1 for :meth:`OnlineRouter.generate_fulfillment_options`, +1 per
        :meth:`OnlineRouter.requote`.
    expires_at
        When the option ids stop working (UTC, the server's wall clock: the
        first answer's instant plus ``quote_ttl_s``, kept by every
        requote): a select after it is refused ("options expired"). None
        for an answer not made by a router.
    replayed
        The answer made before for the same ``Idempotency-Key`` (a retry:
        nothing was made); not on the wire, for the service's counts.
    """

    request_id: str
    revision: int
    customer: CustomerValue
    dest: str
    items: tuple[CartLine, ...]
    created_at: dt.datetime
    recommended: str | None = field(init=False)
    options: tuple[FulfillmentOption, ...]
    missing: Mapping[str, str]
    bid_prices: str
    capacity_as_of: dt.datetime | None
    degraded: bool
    notes: tuple[str, ...]
    unavailable: Mapping[str, str] = field(default_factory=dict)
    expires_at: dt.datetime | None = None
    replayed: bool = field(default=False, metadata=LOCAL)

    def __post_init__(self) -> None:
        best = self.options[0].option_id if self.options else None
        object.__setattr__(self, "recommended", best)

    def option(self, option_id: str) -> FulfillmentOption:
        """The option with this id (``InputError`` when there is none)."""
        for opt in self.options:
            if opt.option_id == option_id:
                return opt
        raise InputError(
            f"not an option of this request (one of "
            f"{[o.option_id for o in self.options]})",
            field="option_id",
            value=option_id,
        )


@dataclass(frozen=True, slots=True)
class CheckoutResult(WireRecord):
    """Outcome of :meth:`OnlineRouter.select`, ``confirm`` or ``cancel``.

    Attributes
    ----------
    status
        ``held`` (stock reserved until ``expires_at``), ``confirmed``,
        ``cancelled``, ``expired`` (the hold had lapsed before the cancel),
        ``rejected`` (the stock is gone: ask for options again) or
        ``unavailable`` (the store cannot be written now; retry).
    shortfall
        For ``rejected``: the lines short, ``(node_id, sku, requested,
        available)``.
    replayed
        The same call had been answered before (a repeat: nothing changed);
        not on the wire, for the service's counts.
    lasting
        For ``unavailable``: a retry cannot fit (the store was migrated past
        this code's schema); not on the wire, for the service's
        ``Retry-After``.
    shopper_message
        :attr:`message` as a shopper reads it, where the operator's names a
        node (a hold a stock count cut); None: the message as it is. Not on
        the wire: the shopper's view puts it in ``message``.
    """

    request_id: str
    option_id: str | None
    status: HoldStatus
    expires_at: dt.datetime | None = None
    nodes: tuple[str, ...] = ()
    message: str = ""
    shortfall: tuple[Shortfall, ...] = ()
    replayed: bool = field(default=False, metadata=LOCAL)
    lasting: bool = field(default=False, metadata=LOCAL)
    shopper_message: str | None = field(default=None, metadata=LOCAL)

    @property
    def ok(self) -> bool:
        """Whether the hold stands or the order is confirmed or cancelled."""
        return self.status not in (HoldStatus.REJECTED, HoldStatus.UNAVAILABLE)


def parse_items(text: str) -> list[tuple[str, int]]:
    """``"SKU:QTY[,SKU:QTY…]"`` → ``[(sku, qty), …]`` (the CLI's ``--items``).

    Raises
    ------
    InputError
        A token that is not ``SKU:QTY`` (field ``items``) or a quantity that
        is not an integer (field ``quantity``), with the token's index.
    """
    out: list[tuple[str, int]] = []
    tokens = [t.strip() for t in str(text).split(",")]
    if not any(tokens):
        raise InputError("no items (expected SKU:QTY[,SKU:QTY...])", field="items")
    for i, token in enumerate(tokens):
        if not token:
            raise InputError(
                "an empty item (a comma too many?): expected SKU:QTY",
                field="items",
                index=i,
                value=token,
            )
        sku, sep, qty = token.rpartition(":")
        if not sep or not sku.strip():
            raise InputError("expected SKU:QTY", field="items", index=i, value=token)
        out.append((sku.strip(), _whole(qty.strip(), i)))
    return out


def _whole(text: str, index: int) -> int:
    """A quantity written as any number whose value is whole (``3``,
    ``3.0``, ``1e3``), as ``orders.csv`` and ``POST /v1/options`` take it
    (``1.0`` was refused here alone). Python's ``1_0`` (10) and other
    scripts' digits are not numbers there, nor here."""
    whole = whole_number(text)
    if whole is not None:
        return whole
    number = decimal_number(text)
    if number is None or not math.isfinite(number) or not number.is_integer():
        raise InputError("not an integer", field="quantity", index=index, value=text)
    return int(number)


#: Option fields whose change a checkout page shows live.
WATCHED_FIELDS = ("nodes", "service", "delivery_date", "price", "discount", "label")


def option_changes(before: OptionSet, after: OptionSet) -> list[dict[str, Any]]:
    """What changed between two answers to the same request (e.g. a requote).

    One entry per option that appeared (``{"option_id", "change": "added"}``),
    disappeared (``"removed"``, with the ``reason`` from ``missing``) or
    changed a :data:`WATCHED_FIELDS` field (``"changed"``, with ``fields``:
    name → ``[old, new]`` as JSON values) — the payload of a live update.
    """
    old = {o.option_id: o.to_dict() for o in before.options}
    new = {o.option_id: o.to_dict() for o in after.options}
    out: list[dict[str, Any]] = []
    for tier in Tier:
        was, now = old.get(tier), new.get(tier)
        if was is not None and now is None:
            reason = after.missing.get(tier, "")
            out.append({"option_id": tier.value, "change": "removed", "reason": reason})
        elif was is None and now is not None:
            out.append({"option_id": tier.value, "change": "added", "option": now})
        elif was is not None and now is not None:
            fields = {f: [was[f], now[f]] for f in WATCHED_FIELDS if was[f] != now[f]}
            if fields:
                out.append(
                    {"option_id": tier.value, "change": "changed", "fields": fields}
                )
    return out
