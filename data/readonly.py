"""Frozen dataclasses of numpy arrays whose arrays stay read-only, pickled too."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, cast

import numpy as np

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def freeze_arrays(value: object) -> None:
    """Make every numpy array field of the dataclass instance ``value`` read-only."""
    for f in dataclasses.fields(cast("DataclassInstance", value)):
        array = getattr(value, f.name)
        if isinstance(array, np.ndarray):
            array.setflags(write=False)


class ReadOnlyArrays:
    """Mixin for frozen dataclasses holding numpy arrays.

    The arrays are set read-only at construction, and unpickling rebuilds the
    object through ``__init__`` so a copy sent to a joblib worker is read-only
    again.
    """

    __slots__ = ()

    def __post_init__(self) -> None:
        freeze_arrays(self)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        fields = dataclasses.fields(cast("DataclassInstance", self))
        return (type(self), tuple(getattr(self, f.name) for f in fields))
