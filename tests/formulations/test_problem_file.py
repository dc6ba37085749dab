"""``AssignmentProblem.load_npz`` at the edge: every member's kind and size
is checked from its header before it is read, values before they are cast."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tierflow.data.errors import InputError
from tierflow.formulations.problem import AssignmentProblem


def _arrays(**change: Any) -> dict[str, Any]:
    base = {
        "cost": np.array([[1.0, 2.0], [3.0, 1.0]]),
        "weight": np.ones((2, 2)),
        "capacity": np.array([2.0, 2.0]),
    }
    return base | change


BAD = [
    ({"cost": np.array([[1 + 2j, 1], [1, 1]])},
     r"/p\.npz: field 'cost': must hold real numbers or booleans, not complex128$"),
    ({"cost": np.array([["a", "b"], ["c", "d"]])},
     r"/p\.npz: field 'cost': must hold real numbers or booleans, not <U1$"),
    ({"capacity": np.array(["2026-01-01"] * 2, dtype="datetime64[D]")},
     r"field 'capacity': must hold real numbers or booleans, not datetime64\[D\]$"),
    ({"weight": np.array([[1.0, 1e13], [1.0, 1.0]])},
     r"/p\.npz: field 'weight': index \(0, 1\): value 10000000000000\.0: beyond \+-1e\+12$"),
    ({"capacity": np.array([1, np.iinfo(np.int64).min])},
     r"field 'capacity': index 1: value -9223372036854775808: beyond \+-1e\+12$"),
    ({"capacity": np.array([np.iinfo(np.uint64).max] * 2, dtype=np.uint64)},
     r"field 'capacity': index 0: value 18446744073709551615: beyond \+-1e\+12$"),
    ({"name": np.array([1, 2])}, r"/p\.npz: field 'name': must hold text, not int64$"),
    ({"name": np.array(["a", "b"])}, r"/p\.npz: field 'name': must be one text value$"),
    ({"extra": np.ones(2)}, r"/p\.npz: unknown arrays \['extra'\]$"),
    ({"defer_cost": np.array([1.0, np.nan])},
     r"/p\.npz: field 'defer_cost': index 1: value nan: not finite$"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_arrays_are_refused(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = tmp_path / "p.npz"
    np.savez(path, **_arrays(**change))
    with pytest.raises(InputError, match=message):
        AssignmentProblem.load_npz(path)


def test_a_huge_shape_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A header promising 10^10 entries (an 80 GB array) is refused unread."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (100_000, 100_000)}
    )
    path = tmp_path / "p.npz"
    np.savez(path, **_arrays())
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("use.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:])
    with pytest.raises(
        InputError,
        match=r"/p\.npz: field 'use': value \(100000, 100000\): "
        r"10000000000 entries, more than 50000000$",
    ):
        AssignmentProblem.load_npz(path)


def test_not_an_npz(tmp_path: Path) -> None:
    path = tmp_path / "p.npz"
    np.save(path.with_suffix(".npy"), np.ones(3))
    path.with_suffix(".npy").rename(path)
    with pytest.raises(InputError, match=r"/p\.npz: not an \.npz archive of arrays$"):
        AssignmentProblem.load_npz(path)
    # a text file (an OR-Library instance read with --format npz): not
    # numpy's advice to unpickle it
    path.write_text("1\n2 3\n1 2 3\n")
    with pytest.raises(InputError, match=r"/p\.npz: not an \.npz archive of arrays$"):
        AssignmentProblem.load_npz(path)
    np.savez(path, **_arrays())
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(InputError, match=r"/p\.npz: cannot read npz"):
        AssignmentProblem.load_npz(path)
