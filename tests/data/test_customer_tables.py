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


def test_a_profile_twice_in_other_unicode_code_points_is_a_duplicate(
    tmp_path: Path,
) -> None:
    """``CAFÉ`` as one code point and as ``E`` and an accent look the same,
    and were two customers' profiles (customers.csv refuses them alike)."""
    prof = tmp_path / "p.csv"
    prof.write_text("customer_id,region\nCAF\u00c9,x\nb,y\nCAFE\u0301,y\n")
    with pytest.raises(InputError) as caught:
        read_profiles(prof)
    assert str(caught.value) == (
        f"{prof}: row 4: field 'customer_id': value 'CAFE\u0301': duplicate "
        "customer id, in other Unicode code points (first at row 2)"
    )


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


def test_browsing_of_one_customer_in_two_unicode_forms_is_an_error(
    tmp_path: Path,
) -> None:
    """A browsing log's ``José`` in NFC and in NFD were two customers (and
    the same day twice passed the customer/date key), as in a transaction
    log."""
    brow = tmp_path / "b.csv"
    brow.write_text(
        "customer_id,date,sessions,product_views,cart_adds\n"
        "Jos\u00e9,2024-01-01,1,2,0\nJose\u0301,2024-01-01,1,2,0\n"
    )
    with pytest.raises(InputError) as caught:
        read_browsing(brow)
    assert str(caught.value) == (
        f"{brow}: row 3: field 'customer_id': value 'Jose\u0301': customer id "
        "'Jos\u00e9' of row 2 in other Unicode code points (NFD here, NFC "
        "there): the same id written two ways"
    )
