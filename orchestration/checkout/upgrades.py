"""The customer's Platinum upgrade allowance at checkout: what is left of it
when options are made, the upgrade noted when selected and charged when
confirmed (``docs/checkout.md``, "Pricing")."""

from __future__ import annotations

import dataclasses
from typing import Protocol

from tierflow.data.store import UpgradeNote, UpgradeStore
from tierflow.formulations.tiers import Pricing, TierPolicy
from tierflow.orchestration.checkout.customer_value import NEW_SEGMENT
from tierflow.orchestration.checkout.fallback import STORE_ERRORS, Notes, public_reason
from tierflow.orchestration.checkout.results import CustomerValue

_DAY_S = 86_400.0


class Offer(Protocol):
    """What noting an upgrade reads of the selected option."""

    @property
    def option_id(self) -> str:
        """The option's id."""
        ...

    @property
    def pricing(self) -> Pricing:
        """How its price was set."""
        ...

    @property
    def upgrade_cost(self) -> float:
        """What the upgrade costs us."""
        ...


class UpgradeAllowances:
    """Reads and writes the upgrade allowance ledger of the store."""

    def __init__(self, store: UpgradeStore | None, policy: TierPolicy) -> None:
        self.store = store
        self.policy = policy

    def with_allowance(
        self, customer: CustomerValue, ts: float, notes: Notes
    ) -> CustomerValue:
        """The customer with what is left of their allowance in the period
        ending at ``ts`` (None: not Platinum-eligible, no CLTV score, or the
        ledger cannot be read — then Platinum is priced, said in the notes)."""
        if not customer.platinum_eligible or customer.segment == NEW_SEGMENT:
            return customer
        allowance = self.policy.upgrade_allowance(customer.predicted_spend)
        spent = 0.0
        if self.store is not None:
            since = ts - self.policy.upgrade_period_days * _DAY_S
            try:
                spent = self.store.upgrade_spent(customer.customer_id, since=since)
            except STORE_ERRORS as exc:
                notes.add(
                    f"upgrade allowance could not be read ({public_reason(exc)}): no upgrades"
                )
                return customer
        left = max(0.0, allowance - spent)
        return dataclasses.replace(customer, upgrade_allowance=left)

    def note_for(self, option: Offer, customer: CustomerValue) -> UpgradeNote | None:
        """What selecting ``option`` charges the allowance on confirm: a note
        for an upgrade, None for any other option (the hold then drops an
        earlier selection's note: Platinum requoted at its price after the
        allowance was spent is paid by the customer, not charged as well)."""
        if option.pricing is not Pricing.UPGRADE:
            return None
        return UpgradeNote(
            option.option_id,
            customer.customer_id,
            round(option.upgrade_cost, 2),
            customer.predicted_spend,
        )
