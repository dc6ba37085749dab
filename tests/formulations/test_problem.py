"""AssignmentProblem: one validation gate, immutability, replace, save/load."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tierflow.data.errors import InputError
from tierflow.formulations.problem import AssignmentProblem


def _base(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "cost": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
        "weight": [[1.0, 1.0], [2.0, 2.0], [1.0, 3.0]],
        "capacity": [4.0, 4.0],
    }
    data.update(changes)
    return data


BAD = [
    (
        "cost",
        [[1.0, np.nan], [3.0, 4.0], [5.0, 6.0]],
        None,
        r"field 'cost': index \(0, 1\): value nan: not finite on an eligible pair",
    ),
    (
        "weight",
        [[1.0, 1.0], [2.0, -2.0], [1.0, 3.0]],
        None,
        r"field 'weight': index \(1, 1\): value -2.0: must be >= 0",
    ),
    (
        "capacity",
        [4.0, -1.0],
        None,
        r"field 'capacity': index 1: value -1.0: must be >= 0",
    ),
    (
        "capacity",
        [4.0, np.inf],
        None,
        r"field 'capacity': index 1: value inf: not finite",
    ),
    (
        "capacity",
        [4.0],
        None,
        r"field 'capacity': shape \(1,\) does not match 2 agents",
    ),
    (
        "weight",
        [[1.0, 1.0]],
        None,
        r"field 'weight': shape \(1, 2\) does not match cost shape \(3, 2\)",
    ),
    ("cost", [1.0, 2.0], None, r"field 'cost': expected a 2-D array, got shape \(2,\)"),
    ("cost", [["a", "b"], ["c", "d"], ["e", "f"]], None, r"field 'cost': not numeric"),
    (
        "eligible",
        [[1, 1], [1, 1], [1, 1]],
        None,
        r"field 'eligible': dtype must be bool, got int64",
    ),
    (
        "defer_cost",
        [1.0, 2.0],
        None,
        r"field 'defer_cost': shape \(2,\) does not match 3 items",
    ),
    (
        "defer_cost",
        [1.0, np.nan, 1.0],
        None,
        r"field 'defer_cost': index 1: value nan: not finite",
    ),
    (
        "use",
        [[1.0], [0.0], [1.0]],
        None,
        r"field 'stock': 'use' and 'stock' must be given together",
    ),
    (
        "use",
        [[1.0], [0.0], [1.0]],
        [[1.0, 2.0], [1.0, 2.0]],
        r"field 'stock': shape \(2, 2\) does not match \(2 agents, 1 resources\)",
    ),
    (
        "use",
        [[1.0], [-1.0], [1.0]],
        [[1.0], [1.0]],
        r"field 'use': index \(1, 0\): value -1.0: must be >= 0",
    ),
    (
        "preference",
        [[1.0, 2.0], [3.0, 4.0]],
        None,
        r"field 'preference': shape \(2, 2\) does not match cost shape \(3, 2\)",
    ),
    (
        "preference",
        [[1.0, 2.0], [3.0, np.inf], [5.0, 6.0]],
        None,
        r"field 'preference': index \(1, 1\): value inf: not finite on an eligible",
    ),
    # beyond what CP-SAT scales and float sums keep (the reader's bound, .npz)
    (
        "cost",
        [[1.0, 2.0], [1e20, 4.0], [5.0, 6.0]],
        None,
        r"^field 'cost': index \(1, 0\): value 1e\+20: beyond \+-1e\+12$",
    ),
    (
        "capacity",
        [4.0, 1e308],
        None,
        r"^field 'capacity': index 1: value 1e\+308: beyond \+-1e\+12$",
    ),
    (
        "cost",
        [[1 + 2j, 2.0], [3.0, 4.0], [5.0, 6.0]],
        None,
        r"^field 'cost': not real numbers \(complex\)$",
    ),
    # past float64 altogether: a Python int was numpy's bare OverflowError
    # ("int too large to convert to float"), a long double a silent inf
    # (a forbidden pair when it was a cost)
    (
        "cost",
        [[1.0, 2.0], [3.0, 10**400], [5.0, 6.0]],
        None,
        r"^field 'cost': index \(1, 1\): value '1\.00000e\+400': beyond \+-1e\+12$",
    ),
    (
        "capacity",
        [10**309, 4],
        None,
        r"^field 'capacity': index 0: value '1\.00000e\+309': beyond \+-1e\+12$",
    ),
    (
        "cost",
        np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.longdouble)
        * np.array([[1, 1], [1, 1], [1, np.longdouble("1e400")]]),
        None,
        r"^field 'cost': index \(2, 1\): value '.*e\+400': beyond \+-1e\+12$",
    ),
    (
        "use",
        [[1.0], [0.0], [-(10**400)]],
        [[1.0], [1.0]],
        r"^field 'use': index \(2, 0\): value '-1\.00000e\+400': beyond",
    ),
    # numpy's cast drops a mask and keeps the values beneath it
    (
        "cost",
        np.ma.masked_array(
            [[1.0, 2.0], [3.0, -100.0], [5.0, 6.0]],
            mask=[[False, False], [False, True], [False, False]],
        ),
        None,
        r"^field 'cost': a masked array \(its mask would be ignored\)",
    ),
    (
        "eligible",
        np.ma.masked_array(
            np.ones((3, 2), dtype=bool),
            mask=[[False, True], [False, False], [False, False]],
        ),
        None,
        r"^field 'eligible': a masked array \(its mask would be ignored\)",
    ),
    # ragged rows: numpy's "inhomogeneous shape" ValueError named no field
    (
        "cost",
        [[1.0, 2.0], [3.0], [5.0, 6.0]],
        None,
        r"^field 'cost': not an array \(its rows differ in length\)$",
    ),
    (
        "capacity",
        [4.0, [4.0]],
        None,
        r"^field 'capacity': not an array \(its rows differ in length\)$",
    ),
    (
        "eligible",
        [[True, True], [True], [True, False]],
        None,
        r"^field 'eligible': not an array \(its rows differ in length\)$",
    ),
    (
        "use",
        [[1.0], [0.0, 1.0], [1.0]],
        [[1.0], [1.0]],
        r"^field 'use': not an array \(its rows differ in length\)$",
    ),
]


@pytest.mark.parametrize(("field", "value", "stock", "message"), BAD)
def test_bad_input_names_field_and_index(
    field: str, value: Any, stock: Any, message: str
) -> None:
    changes: dict[str, Any] = {field: value}
    if stock is not None:
        changes["stock"] = stock
    with pytest.raises(InputError, match=message):
        AssignmentProblem(**_base(**changes))


@pytest.mark.parametrize("name", [3, None, b"gap1"])
def test_a_name_that_is_not_text_is_refused(name: Any) -> None:
    """``save`` wrote it, and ``load_npz`` refused the file it had written."""
    with pytest.raises(InputError, match=r"^field 'name': (value .*: )?must be text$"):
        AssignmentProblem(**_base(), name=name)


def test_a_masked_array_with_nothing_masked_is_its_values() -> None:
    cost = np.ma.masked_array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    problem = AssignmentProblem(**_base(cost=cost))
    assert problem.cost.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]


def test_ineligible_costs_may_be_infinite_and_are_ignored() -> None:
    problem = AssignmentProblem(**_base(cost=[[1.0, np.inf], [3.0, 4.0], [5.0, 6.0]]))
    assert not problem.eligible[0, 1]
    assert problem.objective(np.array([0, 1, 1])) == 1.0 + 4.0 + 6.0


def test_arrays_are_read_only_and_copied() -> None:
    cost = np.array(_base()["cost"])
    problem = AssignmentProblem(**_base(cost=cost))
    cost[0, 0] = 99.0
    assert problem.cost[0, 0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        problem.capacity[0] = 0.0
    with pytest.raises(AttributeError):
        problem.capacity = np.zeros(2)  # type: ignore[misc]


def test_no_array_can_be_made_writeable_again() -> None:
    """The arrays owned their memory, so ``problem.capacity.flags.writeable =
    True`` was allowed and a validated problem took a negative capacity
    after the fact: each is now a view of a read-only buffer, which numpy
    refuses to make writeable."""
    problem = AssignmentProblem(
        **_base(
            use=[[1.0], [1.0], [1.0]],
            stock=[[2.0], [2.0]],
            defer_cost=[1.0, 2.0, 3.0],
            priority=[1.0, 2.0, 3.0],
            preference=np.eye(3, 2),
        )
    )
    copies = [problem, pickle.loads(pickle.dumps(problem))]
    copies += [problem.replace(capacity=[1.0, 1.0]), problem.subset(np.array([0]))]
    for each in copies:
        for name in [f.name for f in dataclasses.fields(each) if f.name != "name"]:
            with pytest.raises(ValueError, match="WRITEABLE"):
                getattr(each, name).flags.writeable = True
    assert problem.capacity.tolist() == [4.0, 4.0]


def test_replace_revalidates() -> None:
    problem = AssignmentProblem(**_base())
    smaller = problem.replace(capacity=[1.0, 1.0])
    assert smaller.capacity.tolist() == [1.0, 1.0]
    assert problem.capacity.tolist() == [4.0, 4.0]
    with pytest.raises(InputError, match=r"field 'capacity': index 0: value -3.0"):
        problem.replace(capacity=[-3.0, 1.0])
    with pytest.raises(TypeError, match="unknown fields"):
        problem.replace(capacities=[1.0, 1.0])


def test_load_and_objective_with_deferral() -> None:
    problem = AssignmentProblem(**_base(defer_cost=[10.0, 20.0, 30.0]))
    a = np.array([0, -1, 1])
    assert problem.objective(a) == 1.0 + 20.0 + 6.0
    np.testing.assert_allclose(problem.load(a), [1.0, 3.0])


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    problem = AssignmentProblem(
        **_base(
            use=[[1.0], [0.0], [2.0]],
            stock=[[3.0], [1.0]],
            defer_cost=[1.0, 2.0, 3.0],
            priority=[0.5, 1.0, 2.0],
            preference=[[3.0, 1.0], [2.0, 2.0], [0.0, 5.0]],
        ),
        name="round-trip",
    )
    path = tmp_path / "p.npz"
    problem.save(path)
    again = AssignmentProblem.load_npz(path)
    assert again == problem
    assert again.name == "round-trip"
    assert again.preference is not None
    assert again.preference.tolist() == [[3.0, 1.0], [2.0, 2.0], [0.0, 5.0]]
    assert again != problem.replace(preference=None)


def test_pickle_round_trip_keeps_every_field() -> None:
    problem = AssignmentProblem(
        **_base(defer_cost=[1.0, 2.0, 3.0], preference=np.eye(3, 2)), name="p"
    )
    again = pickle.loads(pickle.dumps(problem))
    assert again == problem
    assert again.preference is not None and not again.preference.flags.writeable


def test_preference_is_ignored_off_the_eligible_pairs() -> None:
    problem = AssignmentProblem(
        **_base(
            cost=[[1.0, np.inf], [3.0, 4.0], [5.0, 6.0]],
            preference=[[1.0, np.nan], [2.0, 1.0], [0.0, 0.0]],
        )
    )
    assert problem.preference is not None
    assert problem.preference.tolist() == [[1.0, 0.0], [2.0, 1.0], [0.0, 0.0]]
    assert problem.objective(np.array([0, 1, 1])) == 1.0 + 4.0 + 6.0


def test_load_npz_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(
        InputError, match=r"broken\.npz: not an \.npz archive of arrays$"
    ):
        AssignmentProblem.load_npz(path)
    np.savez(tmp_path / "partial.npz", cost=np.ones((2, 2)))
    with pytest.raises(
        InputError, match=r"partial\.npz: missing arrays \['capacity', 'weight'\]"
    ):
        AssignmentProblem.load_npz(tmp_path / "partial.npz")
    np.savez(
        tmp_path / "neg.npz",
        cost=np.ones((2, 2)),
        weight=np.ones((2, 2)),
        capacity=np.array([1.0, -1.0]),
    )
    with pytest.raises(
        InputError, match=r"neg\.npz: field 'capacity': index 1: value -1.0"
    ):
        AssignmentProblem.load_npz(tmp_path / "neg.npz")


def test_subset_keeps_agents() -> None:
    problem = AssignmentProblem(**_base(defer_cost=[1.0, 2.0, 3.0]))
    sub = problem.subset(np.array([2, 0]))
    assert sub.n_items == 2
    assert sub.cost[0].tolist() == [5.0, 6.0]
    assert sub.defer_cost is not None
    assert sub.defer_cost.tolist() == [3.0, 1.0]
    with_pref = problem.replace(preference=[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    sub_pref = with_pref.subset(np.array([2, 0])).preference
    assert sub_pref is not None and sub_pref.tolist() == [[5.0, 6.0], [1.0, 2.0]]


def test_items_need_an_agent() -> None:
    """Three items and no node broke CP-SAT's hint with an IndexError."""
    with pytest.raises(InputError, match=r"^field 'cost': needs at least one agent"):
        AssignmentProblem(np.ones((3, 0)), np.ones((3, 0)), np.ones(0))
    assert AssignmentProblem(np.ones((0, 0)), np.ones((0, 0)), np.ones(0)).n_items == 0
