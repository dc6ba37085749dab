"""The solver-agnostic core model every engine consumes.

An :class:`AssignmentProblem` is a generalized assignment problem with
optional extra knapsack resources and an optional per-item "defer" option,
immutable and validated exactly once (as PyVRP's ``ProblemData``). The
model in full: ``docs/solver.md``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tierflow.data.errors import InputError
from tierflow.data.limits import MAX_PROBLEM_VALUE
from tierflow.formulations.problem_file import read_problem_arrays

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_ARRAY_FIELDS = (
    "cost",
    "weight",
    "capacity",
    "eligible",
    "use",
    "stock",
    "defer_cost",
    "priority",
    "preference",
)


def _first_bad(mask: NDArray[np.bool_]) -> tuple[int, ...] | int:
    """Index of the first True entry of ``mask`` (int for 1-D, tuple otherwise)."""
    flat = int(np.flatnonzero(mask.ravel())[0])
    idx = np.unravel_index(flat, mask.shape)
    return int(idx[0]) if mask.ndim == 1 else tuple(int(v) for v in idx)


def _as_array(name: str, value: Any, *, copy: bool) -> NDArray[Any]:
    """``value`` as an array; ragged rows are an ``InputError`` naming
    ``name`` (numpy's "inhomogeneous shape" error named no field), and so is
    a masked array: numpy's cast keeps the hidden values and drops the mask,
    so a cost masked where a node cannot serve was charged at whatever lay
    beneath it (one with nothing masked is its values)."""
    if isinstance(value, np.ma.MaskedArray) and np.ma.getmaskarray(value).any():
        raise InputError(
            "a masked array (its mask would be ignored): mark the pairs a node "
            "cannot serve False in 'eligible', or give them a cost of +inf",
            field=name,
        )
    try:
        return np.array(value, copy=True) if copy else np.asarray(value)
    except ValueError as exc:
        if "inhomogeneous" not in str(exc):
            raise
        raise InputError(
            "not an array (its rows differ in length)", field=name
        ) from None


def _as_float(name: str, value: Any, ndim: int) -> FloatArray:
    given = _as_array(name, value, copy=False)
    # the cast would drop the imaginary part
    if np.iscomplexobj(given):
        raise InputError("not real numbers (complex)", field=name)
    try:
        with np.errstate(over="raise"):
            arr = np.array(value, dtype=np.float64, copy=True)
    except (OverflowError, FloatingPointError):
        # a Python int or long double past float64: numpy's bare "int too
        # large to convert to float", or a silent inf (a forbidden pair)
        raise _beyond_float(name, given) from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"not numeric ({exc})", field=name) from None
    if arr.ndim != ndim:
        raise InputError(
            f"expected a {ndim}-D array, got shape {arr.shape}", field=name
        )
    return arr


def _beyond_float(name: str, given: NDArray[Any]) -> InputError:
    """The error for ``given``, whose cast to float64 overflowed, naming its
    first entry beyond +-``MAX_PROBLEM_VALUE`` (compared, not cast)."""
    flat = given.ravel()
    for k, entry in enumerate(flat.tolist()):
        try:
            too_big = bool(abs(entry) > MAX_PROBLEM_VALUE)
        except TypeError:
            continue
        if too_big:
            idx = np.unravel_index(k, given.shape)
            index = int(idx[0]) if given.ndim == 1 else tuple(int(v) for v in idx)
            # format(int, "g") casts to float, which is what overflowed
            shown = str(entry)  # a long double's own digits (float() is inf)
            if isinstance(entry, int | float):
                shown = format(Decimal(entry), ".6g")
            return InputError(
                f"beyond +-{MAX_PROBLEM_VALUE:g}",
                field=name,
                index=index if given.ndim else None,
                value=shown,
            )
    return InputError(f"beyond +-{MAX_PROBLEM_VALUE:g}", field=name)


def _check_magnitude(name: str, arr: NDArray[Any]) -> None:
    """Finite entries within +-``MAX_PROBLEM_VALUE``: beyond, CP-SAT refuses
    the scaled model (the answer became greedy's) and sums overflow to inf."""
    bad = np.isfinite(arr) & (np.abs(arr) > MAX_PROBLEM_VALUE)
    if bad.any():
        idx = _first_bad(bad)
        raise InputError(
            f"beyond +-{MAX_PROBLEM_VALUE:g}",
            field=name,
            index=idx,
            value=float(arr[idx]),
        )


def _pair_matrix(name: str, value: Any, shape: tuple[int, int]) -> FloatArray:
    arr = _as_float(name, value, 2)
    if arr.shape != shape:
        raise InputError(
            f"shape {arr.shape} does not match cost shape {shape}", field=name
        )
    return arr


def _on_eligible(name: str, arr: FloatArray, eligible: BoolArray) -> FloatArray:
    """``arr`` checked finite on eligible pairs, 0 elsewhere."""
    bad = eligible & ~np.isfinite(arr)
    if bad.any():
        idx = _first_bad(bad)
        raise InputError(
            "not finite on an eligible pair",
            field=name,
            index=idx,
            value=float(arr[idx]),
        )
    out: FloatArray = np.where(eligible, arr, 0.0)
    return out


@dataclass(frozen=True, slots=True, eq=False, init=False)
class AssignmentProblem:
    """An immutable, validated assignment instance.

    Parameters
    ----------
    cost
        ``(n_items, n_agents)`` cost of giving item ``i`` to agent ``j``. Must be
        finite where eligible; ignored (and may be ``inf``/``nan``) elsewhere.
    weight
        ``(n_items, n_agents)`` capacity units item ``i`` uses at agent ``j``, >= 0.
    capacity
        ``(n_agents,)`` capacity of each agent, >= 0.
    eligible
        ``(n_items, n_agents)`` bool mask; ``None`` means every pair whose cost
        is not ``+inf``.
    use, stock
        Optional extra knapsack resources: ``use[i, k]`` units of resource ``k``
        item ``i`` needs, ``stock[j, k]`` units agent ``j`` holds. Both or neither.
    defer_cost
        Optional ``(n_items,)`` penalty for leaving item ``i`` unassigned; absent
        means every item must be assigned.
    priority
        Optional ``(n_items,)`` priority (e.g. CLTV) used by heuristics to decide
        who goes first when capacity is short; it does not enter the objective.
    name
        Instance name, for reports.
    preference
        Optional ``(n_items, n_agents)`` rank of each pair for preference-driven
        policies (lower is preferred; e.g. distance for the nearest-node
        baseline). Finite where eligible; it does not enter the objective.
    """

    cost: FloatArray
    weight: FloatArray
    capacity: FloatArray
    eligible: BoolArray
    use: FloatArray | None
    stock: FloatArray | None
    defer_cost: FloatArray | None
    priority: FloatArray | None
    preference: FloatArray | None
    name: str

    def __init__(
        self,
        cost: ArrayLike,
        weight: ArrayLike,
        capacity: ArrayLike,
        eligible: ArrayLike | None = None,
        use: ArrayLike | None = None,
        stock: ArrayLike | None = None,
        defer_cost: ArrayLike | None = None,
        priority: ArrayLike | None = None,
        name: str = "",
        preference: ArrayLike | None = None,
    ) -> None:
        given = (cost, weight, capacity, eligible, use, stock, defer_cost, priority)
        for key, value in zip(_ARRAY_FIELDS, (*given, preference), strict=True):
            object.__setattr__(self, key, value)
        if not isinstance(name, str):
            # save() wrote any name, and load_npz refused its own file
            # ("field 'name': must hold text, not int64")
            raise InputError("must be text", field="name", value=name)
        object.__setattr__(self, "name", name)
        self._validate()

    def _validate(self) -> None:
        cost, weight, capacity = self._core_arrays()
        n, m = cost.shape
        eligible = self._eligible_mask((n, m), cost)
        # Ineligible costs carry no meaning; store 0 so sums never see inf/nan.
        cost = _on_eligible("cost", cost, eligible)
        self._check_nonneg("weight", weight)
        self._check_nonneg("capacity", capacity)
        use, stock = self._resources(n, m)
        defer_cost = self._item_vector("defer_cost", n)
        priority = self._item_vector("priority", n)
        preference = None
        if self.preference is not None:
            preference = _pair_matrix("preference", self.preference, (n, m))
            preference = _on_eligible("preference", preference, eligible)
        if n and not m:
            raise InputError("needs at least one agent for its items", field="cost")
        arrays = (cost, weight, capacity, eligible, use, stock, defer_cost, priority)
        for name, arr in zip(_ARRAY_FIELDS, (*arrays, preference), strict=True):
            if arr is not None and arr.dtype != np.bool_:
                _check_magnitude(name, arr)
        for name, arr in zip(_ARRAY_FIELDS, (*arrays, preference), strict=True):
            if arr is not None:
                # a view of a read-only buffer: numpy lets an array that owns
                # its memory be made writeable again, and a validated problem
                # then took a negative capacity after the fact
                arr.flags.writeable = False
                arr = arr.view()
            object.__setattr__(self, name, arr)

    def _core_arrays(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``cost``, ``weight`` and ``capacity`` as float arrays of matching shapes."""
        cost = _as_float("cost", self.cost, 2)
        n, m = cost.shape
        weight = _as_float("weight", self.weight, 2)
        capacity = _as_float("capacity", self.capacity, 1)
        if weight.shape != (n, m):
            raise InputError(
                f"shape {weight.shape} does not match cost shape {(n, m)}",
                field="weight",
            )
        if capacity.shape != (m,):
            raise InputError(
                f"shape {capacity.shape} does not match {m} agents", field="capacity"
            )
        return cost, weight, capacity

    def _eligible_mask(self, shape: tuple[int, int], cost: FloatArray) -> BoolArray:
        """The given mask, checked; else every pair whose cost is not ``+inf``."""
        if self.eligible is None:
            # +inf marks a forbidden pair; NaN is never meaningful and is caught later
            mask: BoolArray = ~np.isposinf(cost)
            return mask
        eligible = _as_array("eligible", self.eligible, copy=True)
        if eligible.dtype != np.bool_:
            raise InputError(
                f"dtype must be bool, got {eligible.dtype}", field="eligible"
            )
        if eligible.shape != shape:
            raise InputError(
                f"shape {eligible.shape} does not match cost shape {shape}",
                field="eligible",
            )
        return eligible

    def _resources(self, n: int, m: int) -> tuple[FloatArray | None, FloatArray | None]:
        """``use`` and ``stock``, both or neither, of matching shapes and >= 0."""
        if (self.use is None) != (self.stock is None):
            raise InputError(
                "'use' and 'stock' must be given together",
                field="use" if self.use is None else "stock",
            )
        if self.use is None or self.stock is None:
            return None, None
        use = _as_float("use", self.use, 2)
        stock = _as_float("stock", self.stock, 2)
        if use.shape[0] != n:
            raise InputError(f"shape {use.shape} does not match {n} items", field="use")
        if stock.shape != (m, use.shape[1]):
            raise InputError(
                f"shape {stock.shape} does not match "
                f"({m} agents, {use.shape[1]} resources)",
                field="stock",
            )
        self._check_nonneg("use", use)
        self._check_nonneg("stock", stock)
        return use, stock

    def _item_vector(self, name: str, n: int) -> FloatArray | None:
        """The optional per-item field ``name``: ``(n,)`` and finite."""
        value = getattr(self, name)
        if value is None:
            return None
        arr = _as_float(name, value, 1)
        if arr.shape != (n,):
            raise InputError(f"shape {arr.shape} does not match {n} items", field=name)
        self._check_finite(name, arr)
        return arr

    @staticmethod
    def _check_finite(name: str, arr: FloatArray) -> None:
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = _first_bad(bad)
            raise InputError("not finite", field=name, index=idx, value=float(arr[idx]))

    @classmethod
    def _check_nonneg(cls, name: str, arr: FloatArray) -> None:
        cls._check_finite(name, arr)
        bad = arr < 0
        if bad.any():
            idx = _first_bad(bad)
            raise InputError(
                "must be >= 0", field=name, index=idx, value=float(arr[idx])
            )

    # ------------------------------------------------------------------ shape
    @property
    def n_items(self) -> int:
        """Number of items (orders or order lines)."""
        return int(self.cost.shape[0])

    @property
    def n_agents(self) -> int:
        """Number of agents (fulfillment nodes)."""
        return int(self.cost.shape[1])

    @property
    def n_resources(self) -> int:
        """Number of extra knapsack resources (0 when there are none)."""
        return 0 if self.use is None else int(self.use.shape[1])

    @property
    def can_defer(self) -> bool:
        """Whether items may stay unassigned (at ``defer_cost``)."""
        return self.defer_cost is not None

    # ------------------------------------------------------------- evaluation
    def objective(self, assignment: NDArray[np.integer[Any]]) -> float:
        """Objective of ``assignment`` (agent per item, ``-1`` = unassigned)."""
        a = np.asarray(assignment)
        assigned = a >= 0
        rows = np.flatnonzero(assigned)
        total = float(self.cost[rows, a[rows]].sum())
        if self.defer_cost is not None:
            total += float(self.defer_cost[~assigned].sum())
        return total

    def load(self, assignment: NDArray[np.integer[Any]]) -> FloatArray:
        """Capacity used at each agent by ``assignment``."""
        a = np.asarray(assignment)
        rows = np.flatnonzero(a >= 0)
        return np.bincount(
            a[rows], weights=self.weight[rows, a[rows]], minlength=self.n_agents
        ).astype(np.float64)

    def resource_load(self, assignment: NDArray[np.integer[Any]]) -> FloatArray:
        """``(n_agents, n_resources)`` extra-resource use of ``assignment``."""
        out = np.zeros((self.n_agents, self.n_resources))
        if self.use is None:
            return out
        a = np.asarray(assignment)
        rows = np.flatnonzero(a >= 0)
        np.add.at(out, a[rows], self.use[rows])
        return out

    # ------------------------------------------------------------- derivation
    def replace(self, **changes: Any) -> AssignmentProblem:
        """A new, re-validated problem with some fields replaced.

        Used for micro-batch carry-over, e.g. ``problem.replace(capacity=rest)``.
        """
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"unknown fields: {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def subset(self, items: NDArray[np.integer[Any]]) -> AssignmentProblem:
        """The sub-problem over ``items`` (same agents and capacities)."""
        idx = np.asarray(items, dtype=np.int64)
        return AssignmentProblem(
            cost=self.cost[idx],
            weight=self.weight[idx],
            capacity=self.capacity,
            eligible=self.eligible[idx],
            use=None if self.use is None else self.use[idx],
            stock=self.stock,
            defer_cost=None if self.defer_cost is None else self.defer_cost[idx],
            priority=None if self.priority is None else self.priority[idx],
            name=self.name,
            preference=None if self.preference is None else self.preference[idx],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AssignmentProblem):
            return NotImplemented
        if self.name != other.name:
            return False
        for name in _ARRAY_FIELDS:
            a, b = getattr(self, name), getattr(other, name)
            if (a is None) != (b is None):
                return False
            if a is not None and not np.array_equal(a, b):
                return False
        return True

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle through the constructor (joblib/Dask workers get a validated,
        read-only copy)."""
        fields = {name: getattr(self, name) for name in _ARRAY_FIELDS}
        return (_rebuild_problem, (fields, self.name))

    # -------------------------------------------------------------------- I/O
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the arrays to a compressed ``.npz`` (read back with :meth:`load_npz`)."""
        arrays = {
            name: getattr(self, name)
            for name in _ARRAY_FIELDS
            if getattr(self, name) is not None
        }
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, name=np.array(self.name), **arrays)
        os.replace(tmp, target)

    @classmethod
    def load_npz(cls, path: str | os.PathLike[str]) -> AssignmentProblem:
        """Read a problem written by :meth:`save`; every array is checked
        (kind, size, magnitude) before it is cast, and errors name the file."""
        name, data = read_problem_arrays(path, _ARRAY_FIELDS)
        try:
            return cls(name=Path(path).stem if name is None else name, **data)
        except InputError as exc:
            raise InputError(
                exc.reason,
                file=str(path),
                field=exc.field,
                index=exc.index,
                value=exc.value,
            ) from None


def _rebuild_problem(arrays: dict[str, Any], name: str) -> AssignmentProblem:
    return AssignmentProblem(name=name, **arrays)
