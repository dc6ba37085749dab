"""tierflow: fulfillment orchestration with CLTV-aware tiers and OR allocation.

The installed package is ``tierflow``; its subpackages are the repository's
top-level folders (``tierflow.data``, ``tierflow.solver``, ...). The names
below are loaded on first use, so ``import tierflow`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierflow.data.lazy_names import lazy_names

if TYPE_CHECKING:
    from tierflow.data.errors import InputError, TierflowError, VerificationError
    from tierflow.formulations.problem import AssignmentProblem
    from tierflow.orchestration.checkout.router import OnlineRouter
    from tierflow.solver.registry import engine_names
    from tierflow.solver.result import SolveResult, Status
    from tierflow.solver.solve import solve
    from tierflow.solver.verify import verify

_PUBLIC = {
    "AssignmentProblem": "tierflow.formulations.problem",
    "InputError": "tierflow.data.errors",
    "OnlineRouter": "tierflow.orchestration.checkout.router",
    "SolveResult": "tierflow.solver.result",
    "Status": "tierflow.solver.result",
    "TierflowError": "tierflow.data.errors",
    "VerificationError": "tierflow.data.errors",
    "engine_names": "tierflow.solver.registry",
    "solve": "tierflow.solver.solve",
    "verify": "tierflow.solver.verify",
}

__all__ = [
    "AssignmentProblem",
    "InputError",
    "OnlineRouter",
    "SolveResult",
    "Status",
    "TierflowError",
    "VerificationError",
    "engine_names",
    "solve",
    "verify",
]

__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)
