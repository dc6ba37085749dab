"""The checkout's ledgers under any sequence of calls (a hypothesis state
machine): options, selects of any option, requotes, confirms and cancels of
a few customers' checkouts, in any order, on one store.

After every step: the upgrade allowance charged to each customer is exactly
the upgrade cost of the confirmed checkouts whose last hold was an upgrade
(never one whose last selection was priced, rejected, or another option),
every confirmed checkout is in ``online_orders`` exactly once, and the
store's own consistency check (reserved = live holds, and so on) passes.
The draws are random and short (30 runs of 25 steps): a confirm that does
not charge its upgrade fails here at once, while the five-step sequence of
the re-selected priced Platinum is its own test in ``test_upgrades.py``.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
)

from tests.orchestration.checkout.helpers import upgrade_charge
from tests.service_fixtures import MONDAY_10, tiny_router
from tierflow.data.errors import InputError
from tierflow.data.vocabulary import HoldStatus
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.results import OptionSet

#: C10 ($100 predicted) has a $20 allowance: one $12.50 upgrade of a TEE to
#: Chicago, not two; C9 has less. Repeats weight the draws toward the
#: sequences that spend an allowance between a select and a requote.
_CUSTOMERS = ("C10", "C10", "C10", "C9")
_CARTS = ([("TEE", 1)],) * 4 + ([("MUG", 1)], [("TEE", 1), ("MUG", 2)], [("SOFA", 1)])
_OPTIONS = ("platinum", "platinum", "platinum", "gold", "silver", "overflow")


class CheckoutLedgers(RuleBasedStateMachine):
    """One router on a fresh store; the model keeps what each checkout holds."""

    requests = Bundle("requests")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="ledger-"))
        policy = TierPolicy().with_changes(upgrade_allowance_share=0.2)
        self.router = tiny_router(self.folder, policy=policy)
        #: The latest answer of each request, and whose it is.
        self.answers: dict[str, OptionSet] = {}
        #: What each checkout holds: (option id, its upgrade cost or 0).
        self.held: dict[str, tuple[str, float]] = {}
        self.charged: defaultdict[str, float] = defaultdict(float)
        self.confirmed: set[str] = set()

    def teardown(self) -> None:
        self.router.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @rule(
        target=requests,
        customer=st.sampled_from(_CUSTOMERS),
        cart=st.sampled_from(_CARTS),
    )
    def options(self, customer: str, cart: list[tuple[str, int]]) -> str:
        answer = self.router.generate_fulfillment_options(
            customer, cart, "606", now=MONDAY_10
        )
        self.answers[answer.request_id] = answer
        return answer.request_id

    @rule(customer=st.sampled_from(_CUSTOMERS))
    def spend_elsewhere(self, customer: str) -> None:
        """Another checkout of the customer, Platinum selected and confirmed
        in one step (it spends the allowance when Platinum is an upgrade)."""
        request = self.options(customer, [("TEE", 1)])
        self.select(request, "platinum")
        self.confirm(request)

    @rule(request=requests)
    def requote(self, request: str) -> None:
        with contextlib.suppress(InputError):  # finished: nothing changes
            self.answers[request] = self.router.requote(request, now=MONDAY_10)

    @rule(request=requests, option=st.sampled_from(_OPTIONS))
    def select(self, request: str, option: str) -> None:
        try:
            result = self.router.select(request, option, now=MONDAY_10)
        except InputError:
            return  # not offered, or the checkout is over
        if result.status == HoldStatus.HELD:
            self.held[request] = (option, upgrade_charge(self.answers[request], option))

    @rule(request=requests)
    def confirm(self, request: str) -> None:
        try:
            result = self.router.confirm(request, now=MONDAY_10)
        except InputError:
            return  # nothing held, cancelled, or expired
        assert result.status == HoldStatus.CONFIRMED
        if not result.replayed:
            assert request not in self.confirmed
            self.confirmed.add(request)
            customer = self.answers[request].customer.customer_id
            self.charged[customer] += self.held[request][1]

    @rule(request=requests)
    def cancel(self, request: str) -> None:
        try:
            self.router.cancel(request, now=MONDAY_10)
        except InputError:
            return  # confirmed: nothing changes
        self.held.pop(request, None)

    @invariant()
    def ledgers_agree(self) -> None:
        store = self.router.store
        assert store is not None
        for customer in set(_CUSTOMERS):
            spent = store.upgrade_spent(customer, since=0)
            assert abs(spent - self.charged[customer]) < 1e-9, (customer, spent)
        orders = store.online_orders()
        assert set(orders["order_id"]) == self.confirmed
        lines = orders.groupby("order_id")["sku"].count()
        for request in self.confirmed:
            cart = self.answers[request].items
            assert lines[request] == len(cart)  # each line once
        assert store.check_consistency() == []


TestCheckoutLedgers = CheckoutLedgers.TestCase
TestCheckoutLedgers.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
