"""The OR library: engines behind one ``solve()``, the registry, results, ``verify``.

The registry's names load on first use (PEP 562): the registry imports
every engine (CP-SAT, HiGHS, CBC, the portfolio and its LNS), and the
checkout, which imports this package for the greedy node choice and the
bid-price LP, runs none of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tierflow.solver.engine import Availability, Capabilities, Engine
from tierflow.solver.params import SolveParams
from tierflow.solver.result import Limit, SolveResult, Status
from tierflow.solver.solve import solve
from tierflow.solver.verify import check_assignment, verify

if TYPE_CHECKING:
    from tierflow.solver.registry import (
        engine_names,
        engines_with,
        fallback_engine,
        get_engine,
        register,
    )

#: Names imported from ``tierflow.solver.registry`` when first asked for.
_REGISTRY = frozenset(
    {"engine_names", "engines_with", "fallback_engine", "get_engine", "register"}
)

__all__ = [
    "Availability",
    "Capabilities",
    "Engine",
    "Limit",
    "SolveParams",
    "SolveResult",
    "Status",
    "check_assignment",
    "engine_names",
    "engines_with",
    "fallback_engine",
    "get_engine",
    "register",
    "solve",
    "verify",
]


def __getattr__(name: str) -> Any:
    """Import a registry name on first access (PEP 562)."""
    if name not in _REGISTRY:
        raise AttributeError(f"module 'tierflow.solver' has no attribute {name!r}")
    value = getattr(importlib.import_module("tierflow.solver.registry"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
