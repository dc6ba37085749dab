"""The OR library: engines behind one ``solve()``, the registry, results, ``verify``.

The registry's names load on first use (PEP 562): the registry imports
every engine (CP-SAT, HiGHS, CBC, the portfolio and its LNS), and the
checkout, which imports this package for the greedy node choice and the
bid-price LP, runs none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierflow.data.errors import VerificationError
from tierflow.data.lazy_names import lazy_names
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


__all__ = [
    "Availability",
    "Capabilities",
    "Engine",
    "Limit",
    "SolveParams",
    "SolveResult",
    "Status",
    "VerificationError",
    "check_assignment",
    "engine_names",
    "engines_with",
    "fallback_engine",
    "get_engine",
    "register",
    "solve",
    "verify",
]

#: Names imported from ``tierflow.solver.registry`` when first asked for.
__getattr__, __dir__ = lazy_names(
    __name__,
    {
        name: "tierflow.solver.registry"
        for name in (
            "engine_names",
            "engines_with",
            "fallback_engine",
            "get_engine",
            "register",
        )
    },
)
