"""Why a tier is not offered, twice: for the operator and for the shopper.

An answer's ``missing`` names what an operator needs (thresholds, node ids,
capacity scores); its ``unavailable`` says the same thing the way a checkout
page can show it to the person buying (no node ids, no scores, no CLTV
figures). Both are written at the one place that decides, so they never
disagree. Sentences begin with the tier's benefit label, the name the
shopper sees on the page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WhyNot:
    """Why one tier is not offered: the operator's reason, the shopper's."""

    operator: str
    shopper: str


def short_date(day: dt.date) -> str:
    """``Tue, Jan 6``: how the checkout page writes a date."""
    return f"{day:%a, %b} {day.day}"


def out_of_stock(label: str, operator: str) -> WhyNot:
    """No node holds the quantity of some line."""
    return WhyNot(
        operator,
        f"{label} isn't available: some items are out of stock in the "
        "quantity you want.",
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
    """No node holding the items offers the tier's carrier services."""
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
) -> WhyNot:
    """Another offered option arrives no later for no more."""
    when = "arrives sooner" if earlier else "arrives the same day"
    cost = "for less" if cheaper else "for the same price"
    # the other's label quoted: "Ship later, save $1.00" read as a clause
    return WhyNot(operator, f"{label} isn't shown: “{other}” {when} {cost}.")
