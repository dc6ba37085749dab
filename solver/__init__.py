"""The OR library: engines behind one ``solve()``, the registry, results, ``verify``."""

from tierflow.solver.registry import engine_names, get_engine, register
from tierflow.solver.result import Limit, SolveResult, Status
from tierflow.solver.solve import solve
from tierflow.solver.verify import check_assignment, verify

__all__ = [
    "Limit",
    "SolveResult",
    "Status",
    "check_assignment",
    "engine_names",
    "get_engine",
    "register",
    "solve",
    "verify",
]
