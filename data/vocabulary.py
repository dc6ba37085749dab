"""The domain's words, defined once: tiers, hold and allocation statuses.

They are ``StrEnum``s, so each member *is* its wire/CSV/SQL string
(``Tier.GOLD == "gold"``): files, JSON and database rows keep their values,
while code names the member instead of repeating the literal.
"""

from __future__ import annotations

import enum


@enum.unique
class Tier(enum.StrEnum):
    """A fulfillment tier offered at checkout (and carried by an order)."""

    PLATINUM = "platinum"
    GOLD = "gold"
    SILVER = "silver"
    OVERFLOW = "overflow"


#: Tiers in code order: ``Orders.tier`` and per-tier arrays index this tuple.
TIERS: tuple[str, ...] = tuple(t.value for t in Tier)


@enum.unique
class HoldStatus(enum.StrEnum):
    """Where a checkout stands (a hold on the chosen option's stock)."""

    HELD = "held"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"

    @property
    def holds_stock(self) -> bool:
        """Whether stock is reserved or consumed for the checkout."""
        return self in (HoldStatus.HELD, HoldStatus.CONFIRMED)


@enum.unique
class ReservationStatus(enum.StrEnum):
    """Where a single-node stock reservation stands."""

    ACTIVE = "active"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"
    REJECTED = "rejected"


@enum.unique
class AllocationStatus(enum.StrEnum):
    """The outcome of one order line in a batch allocation."""

    ALLOCATED = "allocated"
    DEFERRED = "deferred"
    UNFILLABLE = "unfillable"
    #: Replaced by a later batch's decision (a reroute): kept in the state
    #: store for the record, never counted as shipped.
    REROUTED = "rerouted"
