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


def test_keys_repeat_only_where_allowed(tmp_path: Path) -> None:
    prof, brow = tmp_path / "p.csv", tmp_path / "b.csv"
    prof.write_text("customer_id,region\na,x\nb,y\na,y\n")
    with pytest.raises(
        InputError,
        match=r"p\.csv: row 4: field 'customer_id': value 'a': "
        r"duplicate customer id \(first at row 2\)$",
    ):
        read_profiles(prof)
    header = "customer_id,date,sessions,product_views,cart_adds\n"
    brow.write_text(
        header + "a,2024-01-01,1,2,0\na,2024-01-02,1,0,0\na,2024-01-01,3,0,0\n"
    )
    with pytest.raises(
        InputError,
        match=r"b\.csv: row 4: field 'date': value '2024-01-01': "
        r"duplicate customer_id/date \(first at row 2\)$",
    ):
        read_browsing(brow)
    log, report = read_browsing(brow, skip_bad_rows=True)
    assert (len(log.day), report.n_bad) == (2, 1)
    brow.write_text(header + "a,2024-01-01,1,2e6,0\n")
    with pytest.raises(
        InputError,
        match=r"row 2: field 'product_views': value '2e6': must be <= 1e\+06$",
    ):
        read_browsing(brow)
