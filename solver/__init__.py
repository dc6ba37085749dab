"""The OR library: engines behind one ``solve()``, the registry, results, ``verify``."""

from tierflow.solver.engine import Availability, Capabilities, Engine
from tierflow.solver.params import SolveParams
from tierflow.solver.registry import (
    engine_names,
    engines_with,
    fallback_engine,
    get_engine,
    register,
)
from tierflow.solver.result import Limit, SolveResult, Status
from tierflow.solver.solve import solve
from tierflow.solver.verify import check_assignment, verify

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
