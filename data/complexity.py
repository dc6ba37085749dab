"""How much node capacity one unit of a SKU uses: the complexity weight (a base
plus extras for fragile, hazmat, heavy and oversize units; a network folder may
override the defaults). Formula and defaults: ``docs/data.md``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tierflow.data.errors import InputError
from tierflow.data.limits import MAX_COMPLEXITY
from tierflow.data.table_reader import Column, cell_error, read_table, table_path


@dataclass(frozen=True, slots=True)
class ComplexityWeights:
    """Configurable capacity weights per unit (see ``docs/data.md``).

    Parameters
    ----------
    base
        Weight of a plain unit.
    fragile, hazmat, heavy, oversize
        Extra weight for each property.
    heavy_kg
        A unit heavier than this is heavy.
    oversize_longest_cm, oversize_girth_cm
        Longest side, or length + 2*(width + height), beyond which a unit is
        oversize.
    """

    base: float = 1.0
    fragile: float = 0.5
    hazmat: float = 1.0
    heavy: float = 1.0
    oversize: float = 1.5
    heavy_kg: float = 15.0
    oversize_longest_cm: float = 120.0
    oversize_girth_cm: float = 260.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not np.isfinite(value) or value < 0:
                raise InputError(
                    "must be a finite number >= 0", field=f.name, value=value
                )
        if self.base <= 0:
            raise InputError("must be > 0", field="base", value=self.base)

    def unit_weights(
        self,
        weight_kg: NDArray[np.float64],
        dims_cm: NDArray[np.float64],
        fragile: NDArray[np.bool_],
        hazmat: NDArray[np.bool_],
    ) -> NDArray[np.float64]:
        """Complexity weight per unit for arrays of SKUs (``dims_cm`` is (n, 3))."""
        oversize = self.is_oversize(dims_cm)
        heavy = weight_kg > self.heavy_kg
        return np.asarray(
            self.base
            + self.fragile * fragile
            + self.hazmat * hazmat
            + self.heavy * heavy
            + self.oversize * oversize,
            dtype=np.float64,
        )

    def is_oversize(self, dims_cm: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Oversize flag per SKU (``dims_cm`` is (n, 3))."""
        sides = np.sort(dims_cm, axis=1)[:, ::-1]
        girth = sides[:, 0] + 2.0 * (sides[:, 1] + sides[:, 2])
        return np.asarray(
            (sides[:, 0] > self.oversize_longest_cm) | (girth > self.oversize_girth_cm)
        )

    @classmethod
    def from_folder(cls, folder: Path) -> ComplexityWeights:
        """Defaults overridden by ``folder/complexity.csv`` when it exists."""
        if table_path(folder, "complexity") is None:
            return cls()
        keys = tuple(f.name for f in dataclasses.fields(cls))
        frame, path = read_table(
            folder,
            "complexity",
            [
                Column("key", choices=keys),
                Column("value", "float", min=0.0, max=MAX_COMPLEXITY),
            ],
            unique=[("key",)],
        )
        overrides = {
            str(k): float(v) for k, v in zip(frame["key"], frame["value"], strict=True)
        }
        try:
            return cls(**overrides)
        except InputError as exc:  # the row that set it, in the file's words
            pos = list(frame["key"]).index(exc.field)
            raise cell_error(
                path, frame.attrs["raw"], pos, "value", exc.reason
            ) from None
