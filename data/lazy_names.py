"""A package's names imported from their modules on first access (PEP 562).

``import tierflow``, the solver package (which the checkout imports for the
greedy node choice and the bid-price LP) and the state store package (whose
SQLite path never needs psycopg) each name things whose modules are costly
to import and often unused: each name is imported when first asked for,
then kept in the package like any other.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(
    package: str, sources: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name of ``sources``
    (name -> the module that defines it) imported on first access and set
    on the package, so the next access is a plain attribute."""

    def getattr_(name: str) -> Any:
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        setattr(sys.modules[package], name, value)
        return value

    def dir_() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(sources))

    return getattr_, dir_
