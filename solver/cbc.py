"""``cbc``: the MIP solved by COIN-OR CBC through PuLP (the ``cbc`` extra).

PuLP reports a time-limited incumbent as ``LpStatusOptimal``; only its
``sol_status`` tells a capped incumbent (``LpSolutionIntegerFeasible``) from a
proven optimum (``LpSolutionOptimal``), so that is what we map. CBC's best
bound is read from its log, since PuLP does not expose it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tierflow.data.errors import SolverError
from tierflow.data.extras import MissingExtraError, has_module, require
from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.engine import EXACT_ENGINE, Availability, BundledEngine, Hint
from tierflow.solver.matrix import MatrixModel, build_matrix
from tierflow.solver.params import SolveParams, mip_threads
from tierflow.solver.result import (
    Limit,
    SolveResult,
    Status,
    no_solution,
    solution_result,
)
from tierflow.solver.verify import refuse_broken

if TYPE_CHECKING:
    import pulp

#: The pip extra that installs PuLP (``pip install 'tierflow[cbc]'``).
EXTRA = "cbc"

#: PuLP ``sol_status`` -> (our status, limit). The keys are PuLP's
#: ``LpSolution*`` constants (a test checks them against PuLP), spelled out so
#: that importing this module does not need PuLP.
STATUS_MAP: dict[int, tuple[Status, Limit]] = {
    1: (Status.OPTIMAL, Limit.NONE),  # LpSolutionOptimal
    2: (Status.FEASIBLE, Limit.TIME),  # LpSolutionIntegerFeasible
    0: (Status.NO_SOLUTION, Limit.TIME),  # LpSolutionNoSolutionFound
    -1: (Status.INFEASIBLE, Limit.NONE),  # LpSolutionInfeasible
    -2: (Status.ERROR, Limit.NONE),  # LpSolutionUnbounded
}
#: PuLP's ``LpStatusInfeasible``: CBC proved that no solution exists. PuLP
#: gives it for "Infeasible" and for "Integer infeasible" (the LP is feasible,
#: branch and bound found no integer point), but only the first has a
#: ``sol_status`` of its own: the second comes with
#: ``LpSolutionNoSolutionFound``, the status of a run stopped on time.
PULP_STATUS_INFEASIBLE = -1


def cbc_status(status: int, sol_status: int) -> tuple[Status, Limit]:
    """Our status of a CBC run from PuLP's ``status`` and ``sol_status``."""
    if status == PULP_STATUS_INFEASIBLE:
        return Status.INFEASIBLE, Limit.NONE
    return STATUS_MAP.get(sol_status, (Status.ERROR, Limit.NONE))


def _pulp() -> Any:
    """PuLP, or :class:`~tierflow.data.extras.MissingExtraError` naming the extra."""
    return require("pulp", feature="cbc engine", extra=EXTRA)


def cbc_binary() -> str | None:
    """Path of a CBC executable: the one bundled in PuLP's wheel, else ``cbc`` on PATH.

    Nothing is written inside site-packages: when the wheel's binary lost its
    execute bit (some installers drop it; a read-only image cannot get it
    back), a private executable copy in tierflow's cache folder is used.
    PuLP 3.3 deprecates ``PULP_CBC_CMD``; ``COIN_CMD`` pointed at the same
    bundled binary is its forward-compatible spelling.
    """
    if not has_module("pulp"):
        return None
    bundled = str(_pulp().PULP_CBC_CMD.pulp_cbc_path)
    if not os.path.isfile(bundled):
        return shutil.which("cbc")
    if os.access(bundled, os.X_OK):
        return bundled
    return _executable_copy(Path(bundled))


def _executable_copy(binary: Path) -> str | None:
    """An executable copy of ``binary`` in the cache (made once, atomically)."""
    from tierflow.data.sample_network import cache_root

    size = binary.stat().st_size
    target = cache_root() / "cbc" / f"pulp-{_pulp().__version__}" / binary.name
    if target.is_file() and target.stat().st_size == size:
        return str(target) if os.access(target, os.X_OK) else None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".cbc-")
        os.close(fd)
        shutil.copyfile(binary, tmp)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    except OSError:
        return None
    return str(target)


def cbc_command(**options: Any) -> pulp.COIN_CMD:
    """A PuLP ``COIN_CMD`` running :func:`cbc_binary` with ``options``."""
    pulp = _pulp()
    path = cbc_binary()
    if path is None:
        raise SolverError(
            "no CBC executable: PuLP's bundled cbc is missing and none is on PATH"
        )
    return pulp.COIN_CMD(path=path, **options)


#: CBC 2.10.3 (the binary PuLP bundles) preprocessing can fix binaries wrongly
#: and report a suboptimal solution as optimal (a 9-item instance: 126.153
#: "Optimal" against a true optimum of 103.586, in tests/solver/test_cbc.py),
#: so its integer preprocessing is off; presolve and cuts stay on.
#: CBC prunes every node that cannot beat the incumbent by its cutoff
#: increment, 1e-5 (absolute) unless it finds a larger one from the costs (about
#: 1 on integer costs): on costs in small units that proof is loose (c05100
#: with costs x 1e-6: "Optimal solution found" at 0.001933 against an optimum
#: of 0.001931, reported as its own bound). 1e-9 lies far below the least gap
#: tierflow calls optimal (``relative_gap * max(|objective|, 1)``, at least
#: 1e-6 by default: :data:`~tierflow.solver.params.DEFAULT_RELATIVE_GAP`); CBC
#: still deduces its larger increment from integer costs (c05100 as published
#: solves in 0.2 s either way; x 1e-6 now in 4.6 s, to the true optimum).
SAFE_OPTIONS: tuple[str, ...] = ("preprocess off", "increment 1e-9")

#: CBC's log line of a proof that no solution exists ("Problem is infeasible
#: - tightenPrimalBounds!", "Problem is infeasible - 0.00 seconds").
_INFEASIBLE_RE = re.compile(r"^Problem is infeasible\b", re.MULTILINE)

#: CBC's summary of its best bound (printed with three decimals).
_BOUND_RE = re.compile(r"^Lower bound:\s+(-?[\d.eE+-]+)", re.MULTILINE)


def _printed_lower(text: str) -> float | None:
    """A printed number less half a unit of its last digit: a bound the
    number itself was rounded from (0.002 stands for 0.0015 and up)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    return float(value - Decimal(5).scaleb(exponent - 1))


def cbc_lower_bound(log: str) -> float | None:
    """CBC's best bound from its ``log``, never above the bound it proved.

    CBC prints the bound rounded to three decimals: read as printed,
    ``Lower bound: 0.002`` exceeded the optimum 0.001931 (c05100's costs
    x 1e-6) and was reported as proven. The printed figure is taken less
    half a unit of its last digit (``solve()`` adds the LP bound when that
    is better, so little is lost on small costs).
    """
    found = _BOUND_RE.findall(log)
    value = _printed_lower(found[-1]) if found else None
    return value if value is not None and abs(value) < 1e30 else None


def _pulp_model(model: MatrixModel) -> tuple[pulp.LpProblem, list[pulp.LpVariable]]:
    """The MIP as a PuLP problem, one binary per column, one constraint per row."""
    pulp = _pulp()
    lp = pulp.LpProblem("tierflow", pulp.LpMinimize)
    xs = [
        lp.add_variable(f"x{c}", 0, 1, cat=pulp.LpBinary) for c in range(model.n_cols)
    ]
    lp += pulp.LpAffineExpression(zip(xs, model.c.tolist(), strict=True))
    csr = model.matrix.tocsr()
    for r in range(csr.shape[0]):
        lo, hi = csr.indptr[r], csr.indptr[r + 1]
        expr = pulp.LpAffineExpression(
            (xs[c], v)
            for c, v in zip(
                csr.indices[lo:hi].tolist(), csr.data[lo:hi].tolist(), strict=True
            )
        )
        upper = float(model.row_upper[r])
        if model.row_lower[r] == upper:
            lp += expr == upper, f"r{r}"
        else:
            lp += expr <= upper, f"r{r}"
    return lp, xs


class CbcCrashed(SolverError):
    """CBC ended without writing its solution; ``log`` is a rerun's log."""

    def __init__(self, message: str, log: str) -> None:
        super().__init__(message)
        self.log = log


def _run_cbc(lp: pulp.LpProblem, params: SolveParams, warm_start: bool) -> str:
    """Solve ``lp`` with CBC; its log (where the best bound is).

    PuLP's files (the model, the MIP start, the solution) go in a folder of
    this run's, removed whatever happens. A Ctrl-C (``KeyboardInterrupt``)
    or any other exception while CBC runs stops CBC: PuLP waits for its
    child without a handler, so a Ctrl-C sent to tierflow alone left CBC
    running to its time limit, and every interrupted run left its files.
    A CBC that crashed raises :class:`CbcCrashed` with the log of a rerun.
    """
    start = time.perf_counter()
    work = tempfile.mkdtemp(prefix="tierflow-cbc-")
    log_path = os.path.join(work, "cbc.log")
    try:
        cmd = cbc_command(
            msg=False,
            timeLimit=max(params.time_limit_s, 0.01),
            threads=mip_threads(params.threads),
            warmStart=warm_start,
            logPath=log_path,
            gapRel=float(params.relative_gap),
            options=[f"randomSeed {int(params.seed) + 1}", *SAFE_OPTIONS],
        )
        cmd.tmpDir = work
        try:
            lp.solve(cmd)
        except _pulp().PulpSolverError as exc:
            left = params.time_limit_s - (time.perf_counter() - start)
            log = _rerun_without_solution(cmd, work, left)
            if log is None:
                raise
            raise CbcCrashed(str(exc), log) from None
        except BaseException:
            _stop_cbc_of(work)
            raise
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _rerun_without_solution(
    cmd: pulp.COIN_CMD, work: str, time_limit_s: float
) -> str | None:
    """The log of CBC run again on the model PuLP left in ``work``, with the
    same options but no solution file; None when there is no model (CBC
    never ran). CBC 2.10.3 with preprocessing off crashes (SIGSEGV) writing
    the solution of a problem its bound tightening proved infeasible, its
    log lost in its buffer: ``cbc`` answered a 2 x 2 infeasible GAP with an
    ERROR, and greedy's ``no_solution``, where HiGHS and CP-SAT said
    ``infeasible``."""
    models = sorted(Path(work).glob("*-pulp.mps"))
    if not models or cmd.path is None:
        return None
    options = " ".join(f"-{o}" for o in [*cmd.options, *cmd.getOptions()])
    args = [cmd.path, str(models[0]), "-sec", f"{max(time_limit_s, 0.01):g}"]
    run = subprocess.run(
        [*args, *options.split(), "-solve"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
        text=True,
        errors="replace",
    )
    return run.stdout


def _stop_cbc_of(work: str) -> None:
    """Kill this process's children whose command line names ``work`` (the
    CBC that PuLP started on the files there; Linux's ``/proc``, nothing
    elsewhere)."""
    me = str(os.getpid())
    marker = os.fsencode(work)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = stat.read_bytes().rsplit(b")", 1)[1].split()[1]
            if parent.decode() != me:
                continue
            if marker in (stat.parent / "cmdline").read_bytes():
                os.kill(int(stat.parent.name), signal.SIGKILL)
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not ours to stop


class CbcEngine(BundledEngine):
    """CBC via PuLP, built from the shared sparse matrix."""

    name = "cbc"
    capabilities = EXACT_ENGINE
    #: The pip extra that installs the backend (``tierflow[cbc]``).
    extra = EXTRA

    def available(self) -> Availability:
        try:
            path = cbc_binary()
        except MissingExtraError:
            # PuLP is on disk but does not import (a broken install): the
            # engine is not installed as far as a run goes; asking which
            # engines exist must not raise
            return Availability.NOT_INSTALLED
        if path is None:
            return Availability.NOT_INSTALLED
        return (
            Availability.AVAILABLE if os.access(path, os.X_OK) else Availability.BROKEN
        )

    def solve(
        self, problem: AssignmentProblem, params: SolveParams, warm_start: Hint = None
    ) -> SolveResult:
        start = time.perf_counter()
        model = build_matrix(problem)
        lp, xs = _pulp_model(model)
        if warm_start is not None:
            x0 = model.columns_from(np.asarray(warm_start, dtype=np.int64))
            for var, val in zip(xs, x0.tolist(), strict=True):
                var.setInitialValue(round(val))
        try:
            log = _run_cbc(lp, params, warm_start is not None)
        except CbcCrashed as crash:
            infeasible = _INFEASIBLE_RE.search(crash.log) is not None
            return no_solution(
                self.name,
                problem.n_items,
                Status.INFEASIBLE if infeasible else Status.ERROR,
                time.perf_counter() - start,
                limit=Limit.NONE if infeasible else Limit.OTHER,
                message="CBC proved the problem infeasible (it crashed writing "
                "its solution; the proof is from a run without one)"
                if infeasible
                else f"CBC crashed: {crash}",
            )
        runtime = time.perf_counter() - start
        status, limit = cbc_status(lp.status, lp.sol_status)
        bound = cbc_lower_bound(log)
        pulp = _pulp()
        message = (
            f"PuLP status {pulp.LpStatus[lp.status]}, "
            f"solution {pulp.LpSolution[lp.sol_status]}"
        )
        if not status.has_solution:
            return no_solution(
                self.name,
                problem.n_items,
                status,
                runtime,
                bound=bound if status is not Status.INFEASIBLE else None,
                limit=limit,
                message=message,
            )
        x = np.array([v.varValue or 0.0 for v in xs], dtype=np.float64)
        assignment = model.assignment_from(x, problem.n_items)
        refused = refuse_broken(
            self.name, problem, assignment, runtime, bound=bound, message=message
        )
        if refused is not None:
            return refused
        if status is Status.OPTIMAL:
            objective = problem.objective(assignment)
            bound = objective if bound is None else min(bound, objective)
        return solution_result(
            self.name,
            problem,
            assignment,
            status,
            runtime,
            bound=bound,
            limit=limit if status is Status.FEASIBLE else Limit.NONE,
            message=message,
        )
