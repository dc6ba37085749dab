"""Profile and browsing readers: optional columns, duplicates, bad counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tierflow.data.customer_tables import read_browsing, read_profiles
from tierflow.data.errors import InputError


def test_profiles_and_browsing(tmp_path: Path) -> None:
    prof, dup, brow = (tmp_path / name for name in ("p.csv", "d.csv", "b.csv"))
    prof.write_text(
        "customer_id,signup_date,region,extra\na,2023-05-01,north,z\nb,,south,z\n"
    )
    profiles, _ = read_profiles(prof)
    assert profiles.columns == ("signup_date", "region")
    assert profiles.signup_day is not None
    assert np.isnan(profiles.signup_day[1])
    dup.write_text("customer_id,region\na,x\na,y\n")
    with pytest.raises(
        InputError, match=r"d\.csv: row 3: field 'customer_id': value 'a': duplicate"
    ):
        read_profiles(dup)
    brow.write_text(
        "customer_id,date,sessions,product_views,cart_adds\na,2024-01-01,1,2,0\n"
        "a,2024-01-02,-1,0,0\n"
    )
    with pytest.raises(
        InputError, match=r"b\.csv: row 3: field 'sessions': value '-1': must be >= 0"
    ):
        read_browsing(brow)
