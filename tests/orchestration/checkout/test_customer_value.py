"""The customer's value: stored scores, the Platinum threshold, the prior."""

from __future__ import annotations

from pathlib import Path

from tests.service_fixtures import put_scores
from tierflow.data.store import open_store
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.customer_value import CustomerValues
from tierflow.orchestration.checkout.fallback import Notes


def test_scores_threshold_and_prior(state_location: Path | str) -> None:
    with open_store(state_location) as store:
        put_scores(store)
        values = CustomerValues(store, TierPolicy(), refresh_s=0.0)
        notes = Notes()
        c9 = values.lookup("C9", notes)
        assert (c9.predicted_spend, c9.segment, c9.platinum_eligible) == (
            90.0,
            "platinum",
            True,
        )
        assert c9.source == "CLTV scores of 2026-01-04"
        assert c9.platinum_threshold == 90.0
        new = values.lookup("stranger", notes)
        assert (new.predicted_spend, new.segment, new.platinum_eligible) == (
            50.0,
            "new",
            False,
        )
        assert new.source == "new-customer prior (50% percentile of the latest scores)"
        assert not notes.degraded


def test_without_a_store_everyone_is_new() -> None:
    values = CustomerValues(None, TierPolicy(), refresh_s=60.0)
    c = values.lookup("C10", Notes())
    assert (c.predicted_spend, c.platinum_threshold, c.platinum_eligible) == (
        0.0,
        None,
        False,
    )
    assert c.source == "new-customer prior (no CLTV scores stored)"


def test_last_known_score_when_the_store_fails(state_location: Path | str) -> None:
    store = open_store(state_location)
    put_scores(store)
    values = CustomerValues(store, TierPolicy(), refresh_s=0.0)
    values.lookup("C10", Notes())
    store.close()
    notes = Notes()
    c = values.lookup("C10", notes)
    assert c.source == "CLTV scores of 2026-01-04 (last known)"
    assert c.platinum_eligible and notes.degraded
    assert any(n.startswith("CLTV score could not be read") for n in notes.notes)
