"""The customer's value: stored scores, the Platinum threshold, the prior."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.service_fixtures import put_scores
from tierflow.cltv.segments import assign_segments
from tierflow.data.errors import InputError
from tierflow.data.store import open_store
from tierflow.formulations.tier_settings import policy_from_settings
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


def test_an_unknown_customer_gets_the_models_prior(state_location: Path | str) -> None:
    """Scores that carry the model's prior: an unscored customer gets it (not
    the median of the scores, 50), said in the source; a prior at the
    Platinum threshold makes the new customer eligible as anyone there."""
    with open_store(state_location) as store:
        put_scores(store, 64.5)
        values = CustomerValues(store, TierPolicy(), refresh_s=0.0)
        new = values.lookup("stranger", Notes())
        assert (new.predicted_spend, new.segment, new.platinum_eligible) == (
            64.5,
            "new",
            False,
        )
        assert new.source == (
            "new-customer prior (the CLTV model's forecast of a customer "
            "acquired on 2026-01-04)"
        )
        assert values.lookup("C3", Notes()).predicted_spend == 30.0  # scored: its own
        put_scores(store, 90.0)  # the day again: the new prior is read
        again = values.lookup("stranger", Notes())
        assert (again.predicted_spend, again.platinum_eligible) == (90.0, True)


def test_the_percentile_prior_by_choice_or_on_scores_without_one(
    state_location: Path | str,
) -> None:
    """``new_customer_prior = "percentile"`` keeps the percentile though the
    scores carry a prior; scores written without one (before it was stored)
    get the percentile under the default ``"model"``."""
    with open_store(state_location) as store:
        put_scores(store, 64.5)
        policy = TierPolicy(
            new_customer_prior="percentile", new_customer_percentile=0.3
        )
        new = CustomerValues(store, policy, refresh_s=0.0).lookup("stranger", Notes())
        assert (new.predicted_spend, new.source) == (
            30.0,
            "new-customer prior (30% percentile of the latest scores)",
        )
        put_scores(store)  # the same day written again without a prior
        new = CustomerValues(store, TierPolicy(), refresh_s=0.0).lookup("x", Notes())
        assert (new.predicted_spend, new.source) == (
            50.0,
            "new-customer prior (50% percentile of the latest scores)",
        )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"new_customer_prior": "median"},
            "field 'new_customer_prior': value 'median': must be one of model, "
            "percentile",
        ),
        (
            {"new_customer_prior": 1},
            "field 'new_customer_prior': value 1: must be a string",
        ),
    ],
)
def test_the_new_customer_prior_setting_is_checked(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        policy_from_settings(settings)


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


def test_scores_are_read_again_once_the_store_changed_them(
    state_location: Path | str,
) -> None:
    """Scores read are kept until the scores' version moves: a day's scores
    replaced in place reach the score, the threshold and customers who had
    none, at the next refresh (``refresh_s``: here every lookup)."""
    with open_store(state_location) as store:
        put_scores(store)
        values = CustomerValues(store, TierPolicy(), refresh_s=0.0)
        before = [values.lookup(c, Notes()) for c in ("C3", "C9", "C42")]
        assert [(c.predicted_spend, c.platinum_eligible) for c in before] == [
            (30.0, False), (90.0, True), (50.0, False),
        ]  # fmt: skip
        assert before[2].segment == "new"
        store.put_cltv_scores(  # the same day again: C3 rises, C42 is scored
            pd.DataFrame(
                {
                    "customer_id": ["C3", "C9", "C42"],
                    "predicted_spend": [500.0, 10.0, 70.0],
                    "p_active": 0.5,
                    "segment": ["platinum", "silver", "silver"],
                }
            ),
            as_of=dt.date(2026, 1, 4),
            model_version="again",
        )
        after = [values.lookup(c, Notes()) for c in ("C3", "C9", "C42")]
        # threshold: the top 10 % of [10, 70, 500] is its best (ceil 0.3)
        assert [c.platinum_threshold for c in after] == [500.0] * 3
        assert [(c.predicted_spend, c.segment, c.platinum_eligible) for c in after] == [
            (500.0, "platinum", True),
            (10.0, "silver", False),
            (70.0, "silver", False),
        ]


def test_kept_scores_until_the_next_refresh(state_location: Path | str) -> None:
    """Between refreshes a customer seen before costs no store read: the
    score stands until ``refresh_s`` has passed, then the new one shows."""
    with open_store(state_location) as store:
        put_scores(store)
        values = CustomerValues(store, TierPolicy(), refresh_s=3600.0)
        assert values.lookup("C3", Notes()).predicted_spend == 30.0
        store.put_cltv_scores(
            pd.DataFrame(
                {"customer_id": ["C3"], "predicted_spend": [45.0],
                 "p_active": 0.5, "segment": "silver"}
            ),
            as_of=dt.date(2026, 1, 4),
            model_version="again",
        )  # fmt: skip
        assert values.lookup("C3", Notes()).predicted_spend == 30.0
        values.refresh_s = 0.0
        assert values.lookup("C3", Notes()).predicted_spend == 45.0


def test_a_prior_another_process_publishes_reaches_a_running_reader(
    state_location: Path | str,
) -> None:
    """The upgrade's order (docs/store.md): a server reading scores written
    before the prior was stored gives the percentile; once another process
    (the daily `cltv retrain --state`) publishes the day's scores with the
    prior, the server's next refresh gives the prior."""
    with open_store(state_location) as writer, open_store(state_location) as reader:
        put_scores(writer)
        values = CustomerValues(reader, TierPolicy(), refresh_s=0.0)
        assert values.lookup("stranger", Notes()).predicted_spend == 50.0
        put_scores(writer, 12.5)
        new = values.lookup("stranger", Notes())
        assert (new.predicted_spend, new.source) == (
            12.5,
            "new-customer prior (the CLTV model's forecast of a customer "
            "acquired on 2026-01-04)",
        )


_CUSTOMERS = ("C0", "C3", "C9", "C10", "stranger", "C42")


def _values(values: CustomerValues) -> list[tuple[object, ...]]:
    return [
        dataclasses.astuple(values.lookup(c, Notes()))
        for c in _CUSTOMERS + _CUSTOMERS  # the second time: as kept
    ]


def test_a_day_read_whole_answers_as_scores_read_one_by_one(
    state_location: Path | str,
) -> None:
    """A latest day of at most ``preload`` scores read whole (``load_day``,
    off the request path): no checkout reads a score then (``wants_score``
    is False for a scored customer and an unscored one alike), and every
    value is the one a read per customer gives; a day over the limit is
    not read whole."""
    with open_store(state_location) as store:
        put_scores(store)
        whole = CustomerValues(store, TierPolicy(), refresh_s=60.0)
        one_by_one = CustomerValues(store, TierPolicy(), refresh_s=60.0)
        assert whole.load_day()
        assert not whole.load_day()  # at most every refresh_s
        whole.refresh(Notes())
        assert not whole.wants_score("C3") and not whole.wants_score("stranger")
        assert one_by_one.wants_score("C3")
        assert _values(whole) == _values(one_by_one)
        assert _values(whole)[1] == (
            "C3", 30.0, "silver", "CLTV scores of 2026-01-04", 90.0, False, None
        )  # fmt: skip
        few = CustomerValues(store, TierPolicy(), refresh_s=60.0, preload=10)
        assert not few.load_day()
        few.refresh(Notes())
        assert few.wants_score("C3")
        assert _values(few) == _values(one_by_one)


def test_a_day_read_whole_is_never_served_stale(state_location: Path | str) -> None:
    """Scores another process publishes (``cltv retrain --state``) move the
    version: from the next check (``refresh_s``, here every lookup) the day
    read whole is set aside and scores are read per customer (a score that
    moved, a customer newly scored, one no longer scored: the prior) until
    the new day is read whole (by a follower's own connection here)."""
    with open_store(state_location) as writer, open_store(state_location) as reader:
        put_scores(writer)
        values = CustomerValues(reader, TierPolicy(), refresh_s=0.0)
        assert values.load_day()
        assert values.lookup("C3", Notes()).predicted_spend == 30.0
        writer.put_cltv_scores(
            pd.DataFrame(
                {"customer_id": ["C3", "C42"], "predicted_spend": [45.0, 70.0],
                 "p_active": 0.5, "segment": "silver"}
            ),
            as_of=dt.date(2026, 1, 5),
            model_version="next",
        )  # fmt: skip
        expected = [
            (45.0, "silver", "CLTV scores of 2026-01-05"),
            (70.0, "silver", "CLTV scores of 2026-01-05"),
            (45.0, "new", "new-customer prior (50% percentile of the latest scores)"),
        ]

        def looked_up() -> list[tuple[float, str, str]]:
            found = [values.lookup(c, Notes()) for c in ("C3", "C42", "C9")]
            return [(c.predicted_spend, c.segment, c.source) for c in found]

        assert looked_up() == expected
        assert values.wants_score("C10")  # per customer until the day is read
        with open_store(state_location) as follower:
            assert values.load_day(follower)
        assert not values.wants_score("C10")
        assert looked_up() == expected


def test_the_day_read_whole_is_the_last_known_in_an_outage(
    state_location: Path | str,
) -> None:
    """A store that fails after a day was read whole: its scores are the
    last known (said in the notes), as a score read per customer is."""
    store = open_store(state_location)
    put_scores(store)
    values = CustomerValues(store, TierPolicy(), refresh_s=0.0)
    assert values.load_day()
    store.close()
    notes = Notes()
    c = values.lookup("C7", notes)
    assert (c.predicted_spend, c.source) == (
        70.0,
        "CLTV scores of 2026-01-04 (last known)",
    )
    assert any(n.startswith("CLTV score could not be read") for n in notes.notes)


def test_a_score_is_judged_by_the_threshold_of_its_own_version(
    state_location: Path | str,
) -> None:
    """Between refreshes (``refresh_s`` an hour), a score read of a newer
    version than the threshold held has the threshold and prior read again
    first; one read before a newer threshold was (another thread's) is read
    again: never a score of one day against another day's threshold."""
    with open_store(state_location) as store:
        put_scores(store)
        values = CustomerValues(store, TierPolicy(), refresh_s=3600.0)
        old = values.lookup("C3", Notes())
        assert (old.predicted_spend, old.platinum_threshold) == (30.0, 90.0)
        stale = store.cltv_versioned_score("C8")  # $80, read before the next day
        store.put_cltv_scores(
            pd.DataFrame(
                {"customer_id": ["C8", "C9"], "predicted_spend": [85.0, 60.0],
                 "p_active": 0.5, "segment": "silver"}
            ),
            as_of=dt.date(2026, 1, 5),
            model_version="next",
        )  # fmt: skip
        newer = store.cltv_versioned_score("C9")
        c9 = values.lookup("C9", Notes(), read=lambda: newer)
        # threshold: the top 10 % of [60, 85] is its best (ceil 0.2)
        assert (c9.predicted_spend, c9.platinum_threshold, c9.platinum_eligible) == (
            60.0,
            85.0,
            False,
        )
        notes = Notes()
        c8 = values.lookup("C8", notes, read=lambda: stale)
        assert (c8.predicted_spend, c8.source, c8.platinum_threshold) == (
            85.0,
            "CLTV scores of 2026-01-05",
            85.0,
        )
        assert not notes.degraded
        assert values.lookup("C3", Notes()).source.startswith("new-customer prior")


def test_a_score_whose_version_never_settles_is_the_last_known(
    state_location: Path | str,
) -> None:
    """A score of a version the store never shows (as scores published at
    every read would): after a few reads of the threshold the score is
    given up as unreadable, the last known one used and the notes say why."""
    with open_store(state_location) as store:
        put_scores(store)
        values = CustomerValues(store, TierPolicy(), refresh_s=3600.0)
        assert values.lookup("C9", Notes()).predicted_spend == 90.0
        ahead = store.cltv_versioned_score("C9")._replace(version=10**6)
        notes = Notes()
        c9 = values.lookup("C9", notes, read=lambda: ahead)  # kept: not read
        assert c9.source == "CLTV scores of 2026-01-04" and not notes.degraded
        c8 = values.lookup("C8", notes, read=lambda: ahead)
        assert (c8.predicted_spend, c8.source) == (
            50.0,
            "new-customer prior (50% percentile of the latest scores)",
        )
        assert notes.notes == [
            "CLTV score could not be read (the scores changed while they were read)"
        ]


@pytest.mark.parametrize("n", [1, 2, 3, 10, 11, 25])
def test_platinum_goes_to_the_top_tenth_of_a_few_scores(
    state_location: Path | str, n: int
) -> None:
    """At 90 % (the top 10 %) the customers eligible for Platinum are those
    the scores' own platinum segment holds: the top ceil(n / 10), at least
    the best one. The 90th percentile taken at floor(0.9 (n - 1)) made both
    of two customers eligible, and two of ten, beside one platinum."""
    spend = [float(10 * (i + 1)) for i in range(n)]
    segment = assign_segments(np.array(spend))
    with open_store(state_location) as store:
        store.put_cltv_scores(
            pd.DataFrame(
                {
                    "customer_id": [f"C{i}" for i in range(n)],
                    "predicted_spend": spend,
                    "p_active": 0.5,
                    "segment": segment,
                }
            ),
            as_of=dt.date(2026, 1, 4),
            model_version="few",
        )
        values = CustomerValues(store, TierPolicy(), refresh_s=0.0)
        eligible = [values.lookup(f"C{i}", Notes()).platinum_eligible for i in range(n)]
    assert eligible == [s == "platinum" for s in segment]
    assert sum(eligible) == -(-n // 10)
