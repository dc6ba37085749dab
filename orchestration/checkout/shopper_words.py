"""Why a tier is not offered, or a select refused, twice: for the operator
and for the shopper.

An answer's ``missing`` names what an operator needs (thresholds, node ids,
capacity scores); its ``unavailable`` says the same thing the way a checkout
page can show it to the person buying (no node ids, no scores, no CLTV
figures). Both are written at the one place that decides, so they never
disagree. Sentences begin with the tier's benefit label, the name the
shopper sees on the page.

A select refused because its option's plan no longer holds (a node's cutoff
passed, a node closed) is a :class:`Refusal`: its message is the
operator's, naming the node; its ``shopper`` reason says the same without
it (what ``serve --operator-reads key`` answers a caller without the key,
``service/shopper_view.py``). Both begin ``options expired: option …``,
which a checkout page reads as "requote", and end with what to do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tierflow.data.errors import InputError
from tierflow.data.store.checkouts import recount_words


@dataclass(frozen=True, slots=True)
class WhyNot:
    """Why one tier is not offered: the operator's reason, the shopper's."""

    operator: str
    shopper: str


def short_date(day: dt.date) -> str:
    """``Tue, Jan 6``: how the checkout page writes a date."""
    return f"{day:%a, %b} {day.day}"


def out_of_stock(label: str, skus: list[str], operator: str) -> WhyNot:
    """No node holds the quantity of the lines of ``skus`` (the cart's own
    ids, as the shopper sent them). They are named: "some items are out of
    stock" left a shopper with several items unable to tell which to take
    out."""
    if len(skus) == 1:
        return WhyNot(
            operator,
            f"{label} isn't available: {skus[0]} is out of stock in the "
            "quantity you want.",
        )
    names = ", ".join(skus[:-1]) + f" and {skus[-1]}"
    return WhyNot(
        operator,
        f"{label} isn't available: {names} are out of stock in the "
        "quantities you want.",
    )


def not_a_member(label: str, operator: str) -> WhyNot:
    """The customer's value is below the Platinum threshold (or unknown)."""
    return WhyNot(operator, f"{label} is a perk for our most loyal customers.")


def no_guarantee(label: str, promised: dt.date, operator: str) -> WhyNot:
    """No node holding the items can deliver by the promised date."""
    return WhyNot(
        operator,
        f"{label} isn't possible to this address today: your items can't "
        f"reach you by {short_date(promised)} (or today's order cutoff has "
        "passed).",
    )


def fully_booked(label: str, operator: str) -> WhyNot:
    """The nodes that could ship it have no room left today."""
    return WhyNot(operator, f"{label} is fully booked today.")


def closed_now(label: str, operator: str) -> WhyNot:
    """A node that could ship it would have room, but is closed (an outage)
    or has no staff today: the shopper may try again later, where "fully
    booked" sent operators looking for a capacity problem."""
    return WhyNot(
        operator,
        f"{label} isn't available right now: a location that ships your "
        "items is temporarily closed.",
    )


def no_service(label: str, operator: str) -> WhyNot:
    """No node holding the items offers the tier's carrier services, or
    every one that could has a nominal capacity of 0 (configuration: it
    ships nothing on any day, so neither full today nor temporarily
    closed)."""
    return WhyNot(operator, f"{label} isn't available for these items to this address.")


def not_busy(label: str, operator: str) -> WhyNot:
    """Overflow: capacity is not short, nothing to gain by waiting."""
    return WhyNot(
        operator,
        f"{label} (with a discount for waiting) is offered on our busiest "
        "days only; today your order can ship right away.",
    )


def ships_no_later(label: str, operator: str) -> WhyNot:
    """Overflow: no node holding the order would ship it after the options
    shown ship."""
    return WhyNot(
        operator,
        f"{label} isn't offered for this order: it would ship no later than "
        "the options shown.",
    )


def same_as(label: str, other: str, operator: str) -> WhyNot:
    """The tier's plan is the very plan of a tier already offered."""
    return WhyNot(operator, f"{label} would ship exactly like {other}, shown above.")


def beaten_by(
    label: str,
    other: str,
    *,
    earlier: bool,
    cheaper: bool,
    operator: str,
    greener: bool = False,
) -> WhyNot:
    """Another offered option arrives no later for no more (``greener``:
    and travels no more, beating an eco label)."""
    when = "arrives sooner" if earlier else "arrives the same day"
    cost = "for less" if cheaper else "for the same price"
    if greener:
        cost += ", with no more emissions"
    # the other's label quoted: "Ship later, save $1.00" read as a clause
    return WhyNot(operator, f"{label} isn't shown: “{other}” {when} {cost}.")


# ------------------------------------------------------- a select refused
class Refusal(InputError):
    """A refusal whose reason names operator data (a node id): the message
    is the operator's (:attr:`reason`, as any ``InputError``), and
    :attr:`shopper` is the reason in the shopper's words."""

    def __init__(
        self, why: WhyNot, *, field: str | None = None, value: Any = None
    ) -> None:
        super().__init__(why.operator, field=field, value=value)
        self.shopper = why.shopper


def cutoff_passed(
    option_id: str, node_id: str, planned: dt.date, day: dt.date
) -> WhyNot:
    """A shipment's node passed its order cutoff since the option was
    offered: it would leave on ``day``, after the ``planned`` ship date."""
    return WhyNot(
        f"options expired: option {option_id!r} ships from {node_id} on "
        f"{planned}, whose cutoff has passed (it would ship on {day}): requote "
        "for the new dates",
        f"options expired: option {option_id!r} was to ship on {planned}, but "
        f"today's order cutoff has passed (it would ship on {day}): requote "
        "for the new dates",
    )


def cutoff_differs(
    option_id: str, node_id: str, theirs: str, ours: str, planned: dt.date
) -> WhyNot:
    """The server that answered the checkout and this one give a shipment's
    node another order cutoff (``theirs``, ``ours``: ``15:00
    America/Chicago``), and by one of them it would no longer ship on its
    ``planned`` day: which is the node's is configuration, not the
    shopper's clock."""
    return WhyNot(
        f"option {option_id!r} ships from {node_id} on {planned}, but the "
        f"server that answered this checkout gives {node_id} the order cutoff "
        f"{theirs} and this server {ours}, and by one of them it would ship "
        "later: the servers of this store serve different networks (every "
        "server of a store must serve the same network)",
        f"option {option_id!r} can't be held as offered right now (our "
        "servers disagree on when it ships): ask for options again later",
    )


def calendar_differs(
    option_id: str,
    node_id: str,
    planned: dt.date,
    delivery: dt.date,
    day: dt.date,
    what: str,
    theirs_open: bool,
    ours_open: bool,
) -> WhyNot:
    """The server that answered the checkout and this one have another
    carrier calendar (``holidays.csv``, ``services.csv``): ``day`` is open
    for ``what`` (``shipping``, a service) by one and closed by the other,
    and by this server's the shipment would leave or arrive later than it
    was offered. Configuration, not the shopper's clock: not "cutoff has
    passed", which a requote would have offered again."""

    def state(is_open: bool) -> str:
        return "open" if is_open else "closed"

    return WhyNot(
        f"option {option_id!r} ships from {node_id} on {planned} for delivery "
        f"on {delivery}, but the server that answered this checkout has {day} "
        f"{state(theirs_open)} for {what} and this server {state(ours_open)} "
        "(their carrier calendars differ: holidays.csv, services.csv), and by "
        "this server's it would ship or arrive later: the servers of this "
        "store serve different networks (every server of a store must serve "
        "the same network)",
        f"option {option_id!r} can't be held as offered right now (our "
        "servers disagree on when it ships): ask for options again later",
    )


def service_not_here(option_id: str, node_id: str, service: str) -> WhyNot:
    """A shipment's node ships by a service this server's network does not
    offer at it: another server's ``nodes.csv`` answered the checkout."""
    return WhyNot(
        f"option {option_id!r} ships from {node_id} by {service}, which this "
        f"server's network does not offer at {node_id}: a server of the store "
        "serving another network answered it (every server of a store must "
        "serve the same network)",
        f"option {option_id!r} can't be held as offered right now (our "
        "servers disagree on how it ships): ask for options again later",
    )


#: Why a node ships nothing now, as a refused select or confirm says it,
#: by the cause the offers name it by (``docs/checkout.md``, "Closed or
#: full"): closed, without staff, of no capacity.
NODE_STOPPED = {
    "outage": "closed since it was offered (outage)",
    "staffing": "without staff today since it was offered (staffing 0%)",
    "nominal": "of no capacity since it was offered (nominal 0)",
}


def hold_recounted(cut: tuple[str, str, float], then: str) -> WhyNot:
    """A checkout's hold was cut by a stock count (``cut``: the position
    recounted, ``(node_id, sku, cut_at)``), said with what to do ``then``:
    the node to the operator only (a shopper read the node's id in a
    confirm's 409 and a select's rejection)."""
    return WhyNot(
        f"{recount_words(cut)}{then}", f"{recount_words(cut, name_node=False)}{then}"
    )


def node_closed(option_id: str, node_id: str, cause: str = "outage") -> WhyNot:
    """A shipment's node stopped shipping since the option was offered:
    ``cause`` a key of :data:`NODE_STOPPED`. The shopper reads closed, as
    the offers say it, but for a capacity of 0 (configuration: it does not
    reopen)."""
    shopper = (
        ""
        if cause == "nominal"
        else " (a location that ships your items is temporarily closed)"
    )
    return WhyNot(
        f"options expired: option {option_id!r} ships from {node_id}, "
        f"{NODE_STOPPED[cause]}: requote for the new options",
        f"options expired: option {option_id!r} can't ship as offered{shopper}: "
        "requote for the new options",
    )
