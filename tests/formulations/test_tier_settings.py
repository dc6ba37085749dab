"""The ``[tiers]`` settings table over :class:`TierPolicy`'s defaults."""

from __future__ import annotations

from typing import Any

import pytest

from tierflow.data.errors import InputError
from tierflow.formulations.tier_settings import policy_from_settings
from tierflow.formulations.tiers import TierPolicy


def test_settings_change_only_what_they_name() -> None:
    policy = policy_from_settings(
        {
            "platinum_percentile": 0.8,
            "overflow_delay_days": 2,
            "cltv_cap": 1500,
            "price_markup": {"gold": 1.1},
            "satisfaction_weights": {"eco": 0.3},
            "rules": {"silver": {"services": ["economy"], "eco_label": ""}},
        }
    )
    default = TierPolicy()
    assert policy.platinum_percentile == 0.8 and policy.overflow_delay_days == 2
    assert policy.cltv_cap == 1500.0 and isinstance(policy.cltv_cap, float)
    assert dict(policy.price_markup) == {**default.price_markup, "gold": 1.1}
    assert policy.satisfaction_weights["eco"] == 0.3
    silver = policy.rules["silver"]
    assert silver.services == ("economy",) and silver.eco_label is None
    assert silver.label == default.rules["silver"].label
    assert policy.rules["gold"] == default.rules["gold"]
    assert policy_from_settings({}) == default


BAD: list[tuple[dict[str, Any], str]] = [
    ({"platinum_percentile": 1.5}, "^field 'platinum_percentile': value 1.5: must be in"),
    ({"platinum_percentile": "high"}, "field 'platinum_percentile': value 'high': must be a number"),
    ({"overflow_delay_days": 1.5}, "field 'overflow_delay_days': value 1.5: must be an integer"),
    ({"bronze_share": 1}, "^field 'bronze_share': unknown setting; choose from rules, "),
    ({"price_markup": {"bronze": 1}}, "field 'price_markup.bronze': unknown setting"),
    ({"price_markup": 2}, "field 'price_markup': value 2: must be a table"),
    ({"rules": {"gold": {"promise_days": -1}}}, r"field 'rules.gold.promise_days': value -1: must be in \[0, 90\]$"),
    ({"rules": {"gold": {"promise_days": 100000}}}, r"field 'rules.gold.promise_days': value 100000: must be in \[0, 90\]$"),
    ({"rules": {"gold": {"late_per_day": float("nan")}}}, "field 'rules.gold.late_per_day': value nan: must be a finite number >= 0$"),
    ({"rules": {"silver": {"defer": float("inf")}}}, "field 'rules.silver.defer': value inf: must be a finite number >= 0$"),
    ({"rules": {"gold": {"services": "ground"}}}, "field 'rules.gold.services': must be a list"),
    ({"rules": {"bronze": {}}}, "field 'rules.bronze': unknown setting"),
    ({"default_tier": "bronze"}, "field 'default_tier': value 'bronze': unknown tier"),
    # formatted only when capacity is short: checked when read (it passed,
    # then every checkout offering overflow failed with a KeyError)
    ({"rules": {"overflow": {"saving_label": "Save {amount}"}}}, r"^field 'rules.overflow.saving_label': value 'Save \{amount\}': must be a format string whose only field is \{discount\} .*KeyError: 'amount'$"),
    ({"rules": {"overflow": {"saving_label": "Save {discount"}}}, "saving_label': value 'Save {discount': must be a format string"),
    ({"rules": {"overflow": {"saving_label": "Save {0}"}}}, "IndexError"),
    ({"rules": {"overflow": {"saving_label": "Save {discount:q}"}}}, "Unknown format code 'q'"),
    ({"rules": {"overflow": {"saving_label": "Save {discount[0]}"}}}, "TypeError"),
]  # fmt: skip


@pytest.mark.parametrize(("settings", "message"), BAD)
def test_bad_settings_name_the_setting(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        policy_from_settings(settings)
