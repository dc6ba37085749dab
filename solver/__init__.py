"""Engines behind one ``solve()``, the registry, verification and orchestration."""

from solver.registry import engine_names, get_engine, register
from solver.result import Limit, SolveResult, Status
from solver.solve import solve
from solver.verify import check_assignment, verify

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
