"""Holds on the chosen option's stock: select, confirm, cancel.

:class:`Holds` turns an open option into a hold in the store (atomic, no
oversell, TTL ``reservation_ttl_s``), confirms it into an order line set
for the next allocation batch, or releases it. The store keeps holds and
orders — and a selected Platinum upgrade, charged to the customer's
allowance on confirm —, and the quotes too, so every call works from any
process. A caller that names its customer must name the checkout's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import time
from typing import Any

import numpy as np

from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.rates import SERVICES
from tierflow.data.store import (
    CheckoutState,
    CheckoutStore,
    HeldAtClosedNode,
    HeldAtUnknownNode,
    HoldRecounted,
    QuoteChanged,
    SchemaMovedOn,
    StoredEvent,
    UnknownCheckout,
    check_customer,
)
from tierflow.data.vocabulary import HoldStatus, Tier
from tierflow.formulations.online_pricing import day_to_date
from tierflow.orchestration.checkout.fallback import STORE_ERRORS, public_reason
from tierflow.orchestration.checkout.plan_calendar import (
    SHIP,
    CalendarView,
    calendar_difference,
)
from tierflow.orchestration.checkout.planner import Plan, PlannedShipment
from tierflow.orchestration.checkout.quotes import (
    KEEP_S,
    PRUNE_EVERY_S,
    NodeClock,
    OfferedOption,
    Quote,
    QuoteBook,
    clock_text,
    node_clock,
    other_network,
)
from tierflow.orchestration.checkout.request import CheckoutRequest, checkout_instant
from tierflow.orchestration.checkout.results import CheckoutResult, Shortfall
from tierflow.orchestration.checkout.shopper_words import (
    Refusal,
    calendar_differs,
    cutoff_differs,
    cutoff_passed,
    hold_recounted,
    node_closed,
    service_not_here,
)
from tierflow.orchestration.checkout.upgrades import UpgradeAllowances

_NO_STORE = "no state store"
#: Reads of an option set a select holds from while other servers requote or
#: close it in between (each read after a change the store refused).
_READ_AGAIN = 5
#: Checkouts a prune deletes at most (one transaction); a full batch is
#: followed by another at the next select, so a backlog (a store that ran
#: before checkouts were pruned) goes a batch per select, not in one stall.
PRUNE_BATCH = 500


class Holds:
    """Selects, confirms and cancels the holds of open option sets."""

    def __init__(
        self,
        network: Network,
        store: CheckoutStore | None,
        quotes: QuoteBook,
        ttl_s: float,
        upgrades: UpgradeAllowances | None = None,
        monitor: CapacityMonitor | None = None,
    ) -> None:
        self.network = network
        self.store = store
        self.quotes = quotes
        self.ttl_s = float(ttl_s)
        self.upgrades = upgrades
        #: The live capacity map: a node closed since an option was offered
        #: (an outage) refuses its select.
        self.monitor = monitor
        #: This network's nodes: a confirm of a hold at another (held on a
        #: server of another network) is refused, its node not judged here.
        self._node_set = frozenset(network.node_ids)
        self._next_prune = 0.0

    def select(
        self,
        request_id: str,
        option_id: str,
        now: dt.datetime | None,
        customer_id: str | None = None,
    ) -> CheckoutResult:
        """Hold the option's stock (see :meth:`OnlineRouter.select`).

        An option set this process keeps is held from without reading it
        back: the store checks its revision in the hold's transaction (on
        PostgreSQL a round trip less). One another replica requoted or
        closed since, or one that refuses the call here, is read again and
        judged as the store has it.

        After the hold, a due prune of ended checkouts (:meth:`_prune`); not
        after a store that just failed, which would make the caller wait
        for it twice.
        """
        result = self._select(request_id, option_id, now, customer_id)
        if result.status is not HoldStatus.UNAVAILABLE:
            self._prune()
        return result

    def _select(
        self,
        request_id: str,
        option_id: str,
        now: dt.datetime | None,
        customer_id: str | None,
    ) -> CheckoutResult:
        kept = self.quotes.kept(request_id)
        # (a requote dropped here: judged on the stored answer, read below)
        dropped = self.quotes.dropped_revision(request_id) is not None
        if kept is not None and self.store is not None and not dropped:
            try:
                option = _chosen(request_id, kept, option_id, customer_id)
                self._check_plan(request_id, kept, option, now)
            except InputError:
                pass  # judged again on the stored option set (requoted since?)
            else:
                with contextlib.suppress(QuoteChanged):
                    return self._hold(request_id, kept, option, now, kept.revision)
        # held from the revision read, which the store checks again under the
        # checkout's lock: held from no revision, a cancel or requote on
        # another replica between the read and the hold went unseen (a
        # cancelled checkout was then held and confirmed)
        for _ in range(_READ_AGAIN):
            try:
                quote = self.quotes.get(request_id, customer_id)
            except STORE_ERRORS as exc:  # another replica's, perhaps: not unknown
                return _unavailable(request_id, option_id, exc)
            except InputError:
                standing = self._standing(request_id, option_id, now, customer_id)
                if standing is None:
                    raise
                return standing
            option = _chosen(request_id, quote, option_id, customer_id)
            if self.store is not None:
                try:  # a requote dropped here: what its shopper was shown?
                    self.quotes.refuse_unshown(request_id, quote, option_id)
                except STORE_ERRORS as exc:
                    return _unavailable(request_id, option_id, exc)
                self._check_plan(request_id, quote, option, now)
            with contextlib.suppress(QuoteChanged):
                return self._hold(request_id, quote, option, now, quote.revision)
        raise InputError(
            "the option set kept changing (requoted on another server): select again",
            field="request_id",
            value=request_id,
        )

    def _standing(
        self,
        request_id: str,
        option_id: str,
        now: dt.datetime | None,
        customer_id: str | None,
    ) -> CheckoutResult | None:
        """The select repeated of a hold that still stands, its option set
        expired since: answered as the first (replayed, nothing written),
        since "a repeat answers as the first" while the hold stands, and
        the hold is confirmed all the same. Else None: the refusal stands
        (another option, a lapsed hold, another customer, a closed or
        unknown checkout, a store that cannot be read).

        A client whose select answer was lost, retrying past the expiry,
        was told "options expired: generate them again" while its hold
        stood: it held the checkout's stock twice once sent to new options,
        and of the last unit its new select was refused by its own hold.
        """
        if self.store is None:
            return None
        try:
            quote = self.quotes.lookup(request_id)
            if (
                quote is None
                or quote.closed is not None
                or time.time() <= quote.expires_at  # refused for another reason
                or customer_id not in (None, quote.request.customer_id)
            ):
                return None
            state = self.store.checkout_state(request_id, now=_timestamp(now))
        except STORE_ERRORS:
            return None
        if (
            state is None
            or HoldStatus(state.status) is not HoldStatus.HELD
            or state.option_id != option_id
        ):
            return None
        return _result(dataclasses.replace(state, replayed=True), state.nodes)

    def _prune(self) -> None:
        """At most every :data:`~.quotes.PRUNE_EVERY_S`, delete what checkouts
        that ended more than :data:`~.quotes.KEEP_S` ago left in the store
        (their rows and holds; ``prune_checkouts``), as the quotes are: the
        tables hold about a day of checkouts however long the servers run.
        Wall-clock time, as the quotes' (a checkout goes only once its quote
        has gone)."""
        now = time.time()
        if self.store is None or now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY_S
        try:
            pruned = self.store.prune_checkouts(
                now=now, grace_s=KEEP_S, limit=PRUNE_BATCH
            )
        except STORE_ERRORS:
            return  # the next one will
        if pruned >= PRUNE_BATCH:  # more to go: at the next select
            self._next_prune = now

    def _hold(
        self,
        request_id: str,
        quote: Quote,
        option: OfferedOption,
        now: dt.datetime | None,
        revision: int | None,
    ) -> CheckoutResult:
        """Hold ``option`` of ``quote`` (made from ``revision``, when given)."""
        if self.store is None:
            return _unavailable(request_id, option.option_id, _NO_STORE)
        ships = quote.plans[option.tier]
        holds = [
            (
                self.network.node_ids[s.node],
                [(quote.request.skus[i], int(quote.request.qty[i])) for i in s.lines],
            )
            for s in ships
        ]
        lines = self._order_lines(request_id, quote.request, option.tier, ships)
        upgrade = (  # noted with the hold: charged on confirm
            None
            if self.upgrades is None
            else self.upgrades.note_for(option, quote.customer)
        )
        try:
            state = self.store.hold_checkout(
                request_id,
                option.option_id,
                holds,
                self.ttl_s,
                order_lines=lines,
                now=_timestamp(now),
                quote_revision=revision,
                upgrade=upgrade,
            )
        except STORE_ERRORS as exc:
            return _unavailable(request_id, option.option_id, exc)
        self.quotes.note_held(request_id, option.option_id)
        return _result(state, option.nodes)

    def _check_plan(
        self,
        request_id: str,
        quote: Quote,
        option: OfferedOption,
        now: dt.datetime | None,
    ) -> None:
        """Refuse an option whose plan no longer holds at ``now``: a node it
        ships from closed (an outage on the live map) or passed its cutoff
        since it was offered, so its shipment cannot leave as planned and
        its delivery date was a promise the node can no longer keep. The
        option set is still open: a requote gives the new dates (an open
        checkout page gets them within a minute, by the live hub).
        Judged at the checkout's own instant: ``now`` when the caller gives
        it (on the clock it gave the options: a simulated day's, a batch
        job's), else the quote's moved on by the wall-clock time since its
        answer (a service's select takes no instant; its options may have
        been asked on a pinned clock). A select given a simulated instant
        was judged as if that instant were wall-clock time: on a day after
        today every option read as days late. A quote stored before its
        answer time was recorded is not judged without ``now``; a closed
        node is, always."""
        self._check_open(request_id, quote, option)
        self._check_services(request_id, quote, option)
        at = quote.instant(time.time()) if now is None else checkout_instant(now)
        if at is None:
            return
        net = self.network
        for ship in quote.plans[option.tier]:
            planned = day_to_date(ship.ship)
            node = net.node_ids[ship.node]
            ours = node_clock(net, ship.node)
            if quote.calendar is not None:
                self._check_calendar(request_id, quote.calendar, option, at, ours, ship)
            day = net.calendar.ship_date(at, ours[1], ours[0])
            theirs = None if quote.clocks is None else quote.clocks.get(node)
            if theirs is not None and theirs != ours:
                # (another replica's nodes.csv): judged by both, and said
                there = net.calendar.ship_date(at, theirs[1], theirs[0])
                if max(day, there) > planned:
                    raise Refusal(
                        cutoff_differs(
                            option.option_id,
                            node,
                            clock_text(theirs),
                            clock_text(ours),
                            planned,
                        ),
                        field="request_id",
                        value=request_id,
                    )
            if day > planned:
                raise Refusal(
                    cutoff_passed(option.option_id, node, planned, day),
                    field="request_id",
                    value=request_id,
                )

    def _check_calendar(
        self,
        request_id: str,
        theirs: CalendarView,
        option: OfferedOption,
        at: dt.datetime,
        clock: NodeClock,
        ship: PlannedShipment,
    ) -> None:
        """Refuse a shipment this server's carrier calendar makes leave or
        arrive later than the answering server's planned it (another
        replica's ``holidays.csv`` or ``services.csv``), naming the day and
        how each has it: a holiday on the ship day here read "cutoff has
        passed" at the instant of the offer, one on the delivery day was
        held and confirmed. Judged by the node's cutoff here; by the
        answering server's, :meth:`_check_plan`."""
        differs = calendar_difference(theirs, self.network.calendar, at, clock, ship)
        if differs is None:
            return
        what = "shipping" if differs.key == SHIP else differs.key
        raise Refusal(
            calendar_differs(
                option.option_id,
                self.network.node_ids[ship.node],
                day_to_date(ship.ship),
                day_to_date(ship.delivery),
                differs.day,
                what,
                differs.theirs_open,
                differs.ours_open,
            ),
            field="request_id",
            value=request_id,
        )

    def _check_services(
        self, request_id: str, quote: Quote, option: OfferedOption
    ) -> None:
        """Refuse an option that ships from a node by a service this
        server's network does not offer there (another replica's
        ``nodes.csv`` answered it): held, its order named a service the
        node does not ship by here."""
        net = self.network
        for ship in quote.plans[option.tier]:
            if not (int(net.services_mask[ship.node]) >> ship.service) & 1:
                raise Refusal(
                    service_not_here(
                        option.option_id,
                        net.node_ids[ship.node],
                        SERVICES[ship.service],
                    ),
                    field="request_id",
                    value=request_id,
                )

    def _check_open(self, request_id: str, quote: Quote, option: OfferedOption) -> None:
        """Refuse an option that ships from a node that ships nothing now
        (closed by an outage, without staff, of no capacity): held, its order went to a node that cannot ship it on the date
        promised (a checkout answered before the outage and selected after
        it was held and confirmed there). The overflow option too: it is
        never offered from a closed node (an outage has no end time, so its
        date days ahead is a promise nobody knows the node keeps); it was
        exempt while offered from one when every holder was closed."""
        stopped = self._stopped_nodes()
        for ship in quote.plans[option.tier]:
            node = self.network.node_ids[ship.node]
            if node in stopped:
                raise Refusal(
                    node_closed(option.option_id, node, stopped[node]),
                    field="request_id",
                    value=request_id,
                )

    def confirm(
        self,
        request_id: str,
        now: dt.datetime | None,
        customer_id: str | None = None,
        events_after: int | None = None,
    ) -> tuple[CheckoutResult, tuple[StoredEvent, ...] | None]:
        """Turn the hold into an order (see :meth:`OnlineRouter.confirm`);
        with ``events_after``, also the capacity log after that ``seq`` as
        the confirm committed (None when not read).

        A hold that ships from a node that ships nothing now on the live map
        (closed, without staff, of no capacity: :meth:`_stopped_nodes`) is
        refused as its select would be (:func:`node_closed`, HTTP 409):
        confirmed, its order went to a node that cannot ship it on the date
        the shopper was promised, its work onto the closed node's backlog,
        and nothing moved it after. The hold stands (the select of a
        requoted option swaps it; else it lapses). So is one from a node
        this network lacks (:func:`other_network`, 409, as its select here
        would be): this map cannot say whether it ships. A passed cutoff is
        not judged again: a hold keeps its plan's dates."""
        if self.store is None:
            return _unavailable(request_id, None, _NO_STORE), None
        t = _timestamp(now)
        stopped = self._stopped_nodes()
        try:
            try:  # the store checks the customer before anything changes
                state = self.store.confirm_checkout(
                    request_id,
                    now=t,
                    customer_id=customer_id,
                    events_after=events_after,
                    closed_nodes=frozenset(stopped),
                    known_nodes=self._node_set,
                )
            except UnknownCheckout:
                self._no_checkout(request_id, customer_id)
                raise
            except HeldAtClosedNode as closed:
                raise Refusal(
                    node_closed(
                        closed.option_id, closed.node_id, stopped[closed.node_id]
                    ),
                    field="request_id",
                    value=request_id,
                ) from None
            except HeldAtUnknownNode as unknown:
                raise other_network(request_id, f"node {unknown.node_id!r}") from None
            except HoldRecounted as recounted:  # the node to the operator only
                raise Refusal(
                    hold_recounted(recounted.cut, "; select an option again"),
                    field="request_id",
                    value=request_id,
                ) from None
        except STORE_ERRORS as exc:  # named by the option held here, if any
            return _unavailable(request_id, self.quotes.held(request_id), exc), None
        self.quotes.close(request_id, HoldStatus.CONFIRMED, stored=True)
        return _result(state, state.nodes), state.capacity_events

    def _stopped_nodes(self) -> dict[str, str]:
        """The nodes that ship nothing now on the live map, each with why (a
        key of :data:`NODE_STOPPED`); none without a map. Not an outage
        alone: a node whose staff is gone or whose capacity is set to 0
        ships nothing either, and the offers call it closed (a hold there
        was confirmed, its order at a node that cannot ship it). A node of
        no capacity is named so whatever else; a closed one, closed."""
        if self.monitor is None or self.monitor.shipping_nodes().all():
            return {}
        causes = self.monitor.stop_causes()
        ids = self.network.node_ids
        return {ids[i]: str(causes[i]) for i in np.flatnonzero(causes != "").tolist()}

    def cancel(
        self, request_id: str, now: dt.datetime | None, customer_id: str | None = None
    ) -> CheckoutResult:
        """Release the hold (see :meth:`OnlineRouter.cancel`)."""
        t = _timestamp(now)
        state = None
        if self.store is not None:
            try:  # the store checks the customer before anything changes
                state = self.store.cancel_checkout(
                    request_id, now=t, customer_id=customer_id
                )
            except UnknownCheckout as unselected:
                if unselected.quote_cancelled:  # closed under the checkout's lock
                    self.quotes.close(request_id, HoldStatus.CANCELLED, stored=True)
                    return CheckoutResult(request_id, None, HoldStatus.CANCELLED)
                state = None
            except STORE_ERRORS as exc:
                return _unavailable(request_id, self.quotes.held(request_id), exc)
        if state is None:  # never selected: only the option set is closed
            try:
                quote = self.quotes.lookup(request_id)
                if quote is None:  # (another replica's, not written yet?)
                    raise self.quotes.unknown(request_id, "unknown request id")
            except STORE_ERRORS as exc:
                return _unavailable(request_id, None, exc)
            check_customer(customer_id, quote.request.customer_id)
            if quote.closed is HoldStatus.CONFIRMED:  # (a store that lost the row)
                raise InputError(
                    "checkout already confirmed, cannot cancel",
                    field="request_id",
                    value=request_id,
                )
            again = quote.closed is HoldStatus.CANCELLED
            self.quotes.close(request_id, HoldStatus.CANCELLED)
            return CheckoutResult(
                request_id, None, HoldStatus.CANCELLED, replayed=again
            )
        self.quotes.close(request_id, HoldStatus.CANCELLED, stored=True)
        return _result(state, state.nodes)

    def _no_checkout(self, request_id: str, customer_id: str | None) -> None:
        """Confirming a request that holds nothing: why (always raises;
        ``StoreUnavailable`` for an id not found just after an outage)."""
        quote = self.quotes.lookup(request_id)
        if quote is None:  # (another replica's, not written yet?)
            raise self.quotes.unknown(request_id, "unknown request id")
        check_customer(customer_id, quote.request.customer_id)
        if quote.closed is HoldStatus.CANCELLED:
            raise InputError(
                "checkout was cancelled", field="request_id", value=request_id
            )
        raise InputError(
            "no option selected for this request yet",
            field="request_id",
            value=request_id,
        )

    def _order_lines(
        self, request_id: str, req: CheckoutRequest, tier: Tier, ships: Plan
    ) -> list[dict[str, Any]]:
        """The order's rows for ``online_orders`` (``orders.csv``'s columns
        plus the promised node, service and dates), each with its workload
        (what confirming it adds to the node's backlog): its line's work
        times its lane's congestion now, the node capacity it takes, as the
        batches weigh it and the live room per lane reads the backlog."""
        created = req.now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lanes = None if self.monitor is None else self.monitor.congestion
        return [
            {
                "order_id": request_id,
                "created_at": created,
                "customer_id": req.customer_id,
                "dest": req.zip3,
                "tier": tier.value,
                "sku": req.skus[i],
                "quantity": int(req.qty[i]),
                "node_id": self.network.node_ids[s.node],
                "service": SERVICES[s.service],
                "ship_date": day_to_date(s.ship).isoformat(),
                "delivery_date": day_to_date(s.delivery).isoformat(),
                "workload": req.line_work[i]
                * (1.0 if lanes is None else s.lane_factor(lanes)),
            }
            for s in ships
            for i in s.lines
        ]


#: Every option id some revision of an option set can offer (a tier's).
_OPTION_IDS = frozenset(t.value for t in Tier)


def _chosen(
    request_id: str, quote: Quote, option_id: str, customer_id: str | None
) -> OfferedOption:
    """The option chosen, for the caller's customer.

    An option a requoted set no longer offers is a conflict (409, as an
    option whose node closed since: the caller's options are out of date),
    not a bad value: the live hub requotes an open checkout page's options
    when the map moves, and a shopper's click on the option shown a moment
    before answered 422 "not an option of this request"."""
    check_customer(customer_id, quote.request.customer_id)
    dropped = option_id in _OPTION_IDS and option_id not in quote.options
    if dropped and quote.revision > 1:
        raise InputError(
            f"options expired: option {option_id!r} is no longer offered "
            f"(the options were requoted since: now {list(quote.options)}): "
            "select one of the new options",
            field="request_id",
            value=request_id,
        )
    return quote.option(option_id)


def _timestamp(now: dt.datetime | None) -> float | None:
    """``now`` as the store's seconds, held to what a quote's ``now`` is held
    to (aware, in the years 1900-2200) before anything is stored."""
    return None if now is None else checkout_instant(now).timestamp()


def _unavailable(
    request_id: str, option_id: str | None, cause: str | BaseException
) -> CheckoutResult:
    """``unavailable``: the store failed (``cause``, said by its public reason)
    or there is none (``cause`` says so); ``lasting`` where a retry cannot
    fit (a store migrated past this code's schema)."""
    if isinstance(cause, str):
        return CheckoutResult(
            request_id, option_id, HoldStatus.UNAVAILABLE, message=cause
        )
    return CheckoutResult(
        request_id,
        option_id,
        HoldStatus.UNAVAILABLE,
        message=public_reason(cause),
        lasting=isinstance(cause, SchemaMovedOn),
    )


def _result(state: CheckoutState, nodes: tuple[str, ...]) -> CheckoutResult:
    status = HoldStatus(state.status)
    message, shopper_message = "", None
    if status is HoldStatus.REJECTED and state.cut is not None:
        # its hold cut by a count, as its confirm says: not another's take
        why = hold_recounted(state.cut, ": ask for options again")
        message, shopper_message = why.operator, why.shopper
    elif status is HoldStatus.REJECTED:
        message = "stock was taken since the options were made: ask for options again"
    expires = state.expires_at
    return CheckoutResult(
        state.request_id,
        state.option_id,
        status,
        None if expires is None else dt.datetime.fromtimestamp(expires, dt.UTC),
        nodes,
        message,
        tuple(Shortfall(*line) for line in state.shortfall),
        replayed=state.replayed,
        shopper_message=shopper_message,
    )
