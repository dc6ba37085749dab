"""What the online checkout call returns, and its small input helpers.

:class:`OptionSet` (the answer to one checkout) with its
:class:`FulfillmentOption` s and their :class:`Shipment` s, the
:class:`CustomerValue` it used, :class:`CheckoutResult` (select, confirm,
cancel), :func:`option_changes` (what a requote moved — a live update's
payload) and :func:`parse_items` (the ``SKU:QTY,…`` cart syntax). Every
result has ``to_dict()``: the JSON the CLI prints and an HTTP layer returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tierflow.data.errors import InputError
from tierflow.data.vocabulary import TIERS


@dataclass(frozen=True, slots=True)
class Shipment:
    """One parcel of an option: which node ships which lines, how and when."""

    node_id: str
    lines: tuple[tuple[str, int], ...]
    service: str
    ship_date: dt.date
    delivery_date: dt.date
    cost: float
    distance_mi: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "node_id": self.node_id,
            "lines": [{"sku": s, "quantity": q} for s, q in self.lines],
            "service": self.service,
            "ship_date": self.ship_date.isoformat(),
            "delivery_date": self.delivery_date.isoformat(),
            "cost": round(self.cost, 2),
            "distance_mi": round(self.distance_mi, 1),
        }


@dataclass(frozen=True, slots=True)
class FulfillmentOption:
    """One tier's offer (see the module docstring for every field's meaning).

    ``delivery_date`` is guaranteed when ``guaranteed`` (Platinum), else
    estimated; ``ship_date``/``delivery_date``/``service`` are those of the
    last shipment to arrive.
    """

    option_id: str
    tier: str
    label: str
    nodes: tuple[str, ...]
    service: str
    ship_date: dt.date
    delivery_date: dt.date
    guaranteed: bool
    price: float
    cost: float
    discount: float
    capacity_cost: float
    satisfaction_score: float
    eco: bool
    emissions_kg_mi: float
    explanation: str
    shipments: tuple[Shipment, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the ``tierflow options --json`` option fields)."""
        return {
            "option_id": self.option_id,
            "tier": self.tier,
            "label": self.label,
            "nodes": list(self.nodes),
            "service": self.service,
            "ship_date": self.ship_date.isoformat(),
            "delivery_date": self.delivery_date.isoformat(),
            "guaranteed": self.guaranteed,
            "price": round(self.price, 2),
            "cost": round(self.cost, 2),
            "discount": round(self.discount, 2),
            "capacity_cost": round(self.capacity_cost, 2),
            "satisfaction_score": round(self.satisfaction_score, 4),
            "eco": self.eco,
            "emissions_kg_mi": round(self.emissions_kg_mi, 1),
            "explanation": self.explanation,
            "shipments": [s.to_dict() for s in self.shipments],
        }


@dataclass(frozen=True, slots=True)
class CustomerValue:
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
        ``predicted_spend >= platinum_threshold``.
    """

    customer_id: str
    predicted_spend: float
    segment: str
    source: str
    platinum_threshold: float | None
    platinum_eligible: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        thr = self.platinum_threshold
        return {
            "customer_id": self.customer_id,
            "predicted_spend": round(self.predicted_spend, 2),
            "segment": self.segment,
            "source": self.source,
            "platinum_threshold": None if thr is None else round(thr, 2),
            "platinum_eligible": self.platinum_eligible,
        }


@dataclass(frozen=True, slots=True)
class OptionSet:
    """The answer to one checkout request.

    Attributes
    ----------
    request_id
        Pass it to :meth:`OnlineRouter.select`, ``confirm``, ``cancel``.
    options
        Ordered by ``satisfaction_score``, best first (the recommendation).
    missing
        Tier → why it is not offered.
    bid_prices
        Which bid prices the decisions used.
    degraded, notes
        Whether something was unavailable and the answer fell back (and what).
    revision
        1 for :meth:`OnlineRouter.generate_fulfillment_options`, +1 per
        :meth:`OnlineRouter.requote`.
    """

    request_id: str
    revision: int
    customer: CustomerValue
    dest: str
    items: tuple[tuple[str, int], ...]
    created_at: dt.datetime
    options: tuple[FulfillmentOption, ...]
    missing: Mapping[str, str]
    bid_prices: str
    capacity_as_of: dt.datetime | None
    degraded: bool
    notes: tuple[str, ...]

    @property
    def recommended(self) -> str | None:
        """The best option's id (None when nothing can be offered)."""
        return self.options[0].option_id if self.options else None

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what ``tierflow options --json`` prints)."""
        cap = self.capacity_as_of
        return {
            "request_id": self.request_id,
            "revision": self.revision,
            "customer": self.customer.to_dict(),
            "dest": self.dest,
            "items": [{"sku": s, "quantity": q} for s, q in self.items],
            "created_at": self.created_at.astimezone(dt.UTC).isoformat(),
            "recommended": self.recommended,
            "options": [o.to_dict() for o in self.options],
            "missing": dict(self.missing),
            "bid_prices": self.bid_prices,
            "capacity_as_of": None if cap is None else cap.isoformat(),
            "degraded": self.degraded,
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    """Outcome of :meth:`OnlineRouter.select`, ``confirm`` or ``cancel``.

    Attributes
    ----------
    status
        ``held`` (stock reserved until ``expires_at``), ``confirmed``,
        ``cancelled``, ``expired`` (the hold had lapsed before the cancel),
        ``rejected`` (the stock is gone: ask for options again) or
        ``unavailable`` (the store cannot be written now; retry).
    shortfall
        For ``rejected``: ``(node_id, sku, requested, available)``.
    """

    request_id: str
    option_id: str | None
    status: str
    expires_at: dt.datetime | None = None
    nodes: tuple[str, ...] = ()
    message: str = ""
    shortfall: tuple[tuple[str, str, int, int], ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the hold stands or the order is confirmed or cancelled."""
        return self.status in ("held", "confirmed", "cancelled", "expired")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        exp = self.expires_at
        return {
            "request_id": self.request_id,
            "option_id": self.option_id,
            "status": self.status,
            "expires_at": None if exp is None else exp.isoformat(),
            "nodes": list(self.nodes),
            "message": self.message,
            "shortfall": [
                {"node_id": n, "sku": s, "requested": r, "available": a}
                for n, s, r, a in self.shortfall
            ],
        }


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
        sku, sep, qty = token.rpartition(":")
        if not sep or not sku.strip():
            raise InputError(
                "expected SKU:QTY", field="items", index=i, value=token or text
            )
        try:
            quantity = int(qty.strip())
        except ValueError:
            raise InputError(
                "not an integer", field="quantity", index=i, value=qty.strip()
            ) from None
        out.append((sku.strip(), quantity))
    return out


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
    for option_id in TIERS:
        if option_id in old and option_id not in new:
            out.append(
                {
                    "option_id": option_id,
                    "change": "removed",
                    "reason": after.missing.get(option_id, ""),
                }
            )
        elif option_id in new and option_id not in old:
            out.append(
                {"option_id": option_id, "change": "added", "option": new[option_id]}
            )
        elif option_id in new:
            fields = {
                f: [old[option_id][f], new[option_id][f]]
                for f in WATCHED_FIELDS
                if old[option_id][f] != new[option_id][f]
            }
            if fields:
                out.append(
                    {"option_id": option_id, "change": "changed", "fields": fields}
                )
    return out
