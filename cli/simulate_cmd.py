"""``tierflow simulate``: the whole day end to end (the main job of ``make demo``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from tierflow.cli.config import tier_policy
from tierflow.cli.network_cmd import open_network, purchase_history_files
from tierflow.cli.options import (
    cltv_scores_option,
    engine_option,
    examples,
    hindsight_time_limit_option,
    json_option,
    network_option,
    option,
    out_folder_option,
    seed_option,
    time_limit_option,
)
from tierflow.cli.param_types import Day, FiniteFloatRange, WholeRange
from tierflow.cli.progress import progress_bar
from tierflow.data.limits import TIME_OF_DAY
from tierflow.data.output_folder import StagedOutput, Staging

if TYPE_CHECKING:
    from tierflow.data.network import Network
    from tierflow.formulations.tiers import TierPolicy
    from tierflow.orchestration.simulation.checkpoints import Checkpoints
    from tierflow.orchestration.simulation.day import CltvStep, SimulationSettings

_log = logging.getLogger("tierflow.cli.simulate")


def _outage(value: str) -> dt.time | None:
    """``HH:MM`` or ``H:MM`` (the network's main zone), or none: an offset
    (``13:00+09:00``) was taken and ignored, and ``1300`` passed too."""
    if value.lower() == "none":
        return None
    match = re.fullmatch(TIME_OF_DAY, value)
    if match is None:
        raise click.BadParameter(
            f"{value!r}: expected HH:MM (the network's main time zone) or 'none'",
            param_hint="'--outage'",
        )
    return dt.time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True, slots=True)
class SimulateRequest:
    """The options of ``tierflow simulate``, parsed (names as click gives them)."""

    network_dir: Path | None
    checkouts: int
    day: dt.datetime
    seed: int
    utilization: float
    keep_capacity: bool
    outage: str
    engine: str
    time_limit: float
    no_stock_bid_prices: bool
    cltv_scores: Path | None
    cltv_backtest: bool
    hindsight_time_limit: float
    out: Path
    deterministic: bool = False
    history_checkouts: int | None = None

    def settings(self) -> SimulationSettings:
        """What the simulation runs (``--outage`` is checked here)."""
        from tierflow.orchestration.simulation.day import SimulationSettings

        return SimulationSettings(
            day=self.day.date(),
            checkouts=self.checkouts,
            history_checkouts=self.history_checkouts,
            seed=self.seed,
            utilization=self.utilization,
            keep_capacity=self.keep_capacity,
            outage_at=_outage(self.outage),
            engine=self.engine,
            time_limit_s=self.time_limit,
            hindsight_time_limit_s=self.hindsight_time_limit,
            stock_bid_prices=not self.no_stock_bid_prices,
            deterministic=self.deterministic,
        )


@click.command(
    "simulate",
    epilog=examples(
        "tierflow simulate --out out/simulate",
        "tierflow simulate --checkouts 500 --day 2026-12-24 --outage none --json",
        "tierflow simulate --cltv-backtest --out out/simulate",
        "tierflow --log-format json simulate --engine highs 2> progress.jsonl",
    ),
)
@network_option
@option(
    "--checkouts",
    type=WholeRange(1, 1_000_000),
    default=3000,
    show_default=True,
    help="Checkouts simulated over the day.",
)
@option(
    "--history-checkouts",
    type=WholeRange(1, 1_000_000),
    default=None,
    help="Mean checkouts per day of the 14-day history the forecast and the "
    "staffing read: below --checkouts, the day is a surprise peak  "
    "[default: --checkouts]",
)
@option(
    "--day",
    type=Day(),
    default="2026-01-19",
    show_default=True,
    help="The simulated (local) day.",
)
@seed_option(11)
@option(
    "--utilization",
    type=FiniteFloatRange(min=0.05, max=2.0),
    default=0.92,
    show_default=True,
    help="Expected workload / network capacity.",
)
@option(
    "--keep-capacity",
    is_flag=True,
    help="Keep the network's own node capacities (nodes.csv) instead of "
    "staffing them to --utilization.",
)
@option(
    "--outage",
    default="13:00",
    show_default=True,
    help="When the busiest node goes down, on the clock of the network's main "
    "time zone (its destinations' zone of most demand: New York for the "
    "sample), or 'none'.",
)
@engine_option()
@time_limit_option(2.0, "Seconds per allocation batch.")
@option(
    "--no-stock-bid-prices",
    is_flag=True,
    help="The batch policy's bid prices on node capacity only, none on stock "
    "(docs/allocation.md).",
)
@cltv_scores_option(
    "cltv_scores",
    "Publish these scores (tierflow cltv score output) instead of "
    "training the CLTV model on the network's purchase history.",
)
@option(
    "--cltv-backtest",
    is_flag=True,
    help="Backtest the CLTV model for the report when the daily job has no "
    "champion to compare it with (the first model): one more training, about "
    "doubling the run time.",
)
@hindsight_time_limit_option(20.0)
@option(
    "--deterministic",
    is_flag=True,
    help="Reproducible allocations, as allocate --deterministic: the batches' "
    "and the hindsight plan's CP-SAT on deterministic time, the hindsight "
    "bound on a budget of work, so the same command gives the same day "
    "anywhere (cpsat, cpsat-plain, greedy).",
)
@out_folder_option(Path("out/simulate"), help="Folder for the report and its tables.")
@option(
    "--resume",
    is_flag=True,
    help="Continue the unfinished run of OUT (stopped by a crash or Ctrl-C) "
    "after its last finished step, instead of starting fresh.",
)
@json_option("Print summary.json (and the report's path) as JSON.")
def simulate_command(as_json: bool, resume: bool, **options: Any) -> None:
    """One day on the network: CLTV, checkouts, choices, allocation, report.

    Every run starts fresh: it works in a folder beside OUT and replaces
    OUT's files when it has finished (a failed run leaves OUT as it was).
    """
    from tierflow.data.order_generator import read_shoppers
    from tierflow.orchestration.simulation.checkpoints import Checkpoints
    from tierflow.orchestration.simulation.day import simulate
    from tierflow.orchestration.simulation.forecast import check_scalable
    from tierflow.orchestration.simulation.report import write_report

    request = SimulateRequest(**options)
    if request.cltv_backtest and request.cltv_scores is not None:
        # the flag was dropped without a word: no model, no backtest (QA)
        raise click.UsageError(
            "--cltv-backtest backtests the CLTV model the day trains; "
            "--cltv-scores publishes given scores, with no model: give one "
            "or the other"
        )
    source = click.get_current_context().get_parameter_source
    if request.keep_capacity and source("utilization") is ParameterSource.COMMANDLINE:
        raise click.UsageError(
            "--keep-capacity keeps the network's capacities, --utilization "
            "staffs them to a share of the expected work: give one"
        )
    net = open_network(request.network_dir)
    if not request.keep_capacity:
        # --keep-capacity scales nothing: a network closed everywhere is a
        # day with nothing to offer, as one without stock (it was refused
        # for a scaling that flag does not do)
        check_scalable(net)
    # the carts' shoppers, checked before the CLTV step trains and read once
    shoppers = read_shoppers(net)
    policy = tier_policy()
    settings = request.settings()
    target = StagedOutput(request.out, _output_names())
    # the CLTV inputs are read (and checked) before anything is written
    publish_cltv = _cltv_step(
        net,
        request.cltv_scores,
        target.staging / MODEL_DIR,
        policy,
        backtest=request.cltv_backtest,
        as_of=settings.day - dt.timedelta(days=1),
    )
    identity = _identity(net, request, policy)
    with target.open(resume=resume) as work:
        steps = Checkpoints.open(work.path, identity, resume=work.resumed)
        _say_how_it_starts(work, steps, resume, request.out)
        # steps: cltv, carts, the checkouts one by one, three allocations
        with progress_bar("simulate", 5 + request.checkouts, show_pos=False) as bar:
            result = simulate(
                net,
                work.path / STATE_FILE,
                work.path,
                settings,
                publish_cltv=publish_cltv,
                on_step=_StepReporter(bar, request.checkouts),
                policy=policy,
                checkpoints=steps,
                shoppers=shoppers,
            )
        summary = write_report(result, work.path)
    if as_json:
        report = str(request.out / "report.html")
        click.echo(json.dumps({**summary, "report": report}, default=str))
        return
    click.echo(_screen(summary, request.out))


#: The state store and the CLTV model registry of a run, inside its folder.
STATE_FILE = "state.db"
MODEL_DIR = "cltv-models"


def _output_names() -> tuple[str, ...]:
    """Every name ``simulate`` writes in OUT (a run replaces them all)."""
    from tierflow.data.store.sqlite_database import FILE_SUFFIXES
    from tierflow.orchestration.simulation.day import DAY_FILES
    from tierflow.orchestration.simulation.report import REPORT_FILES

    return (
        *DAY_FILES,
        *REPORT_FILES,
        MODEL_DIR,
        *(STATE_FILE + suffix for suffix in FILE_SUFFIXES),
    )


def _identity(
    net: Network, request: SimulateRequest, policy: TierPolicy
) -> dict[str, Any]:
    """What makes two runs the same job (``--resume`` continues only that)."""
    from tierflow.orchestration.simulation.checkpoints import file_digest, folder_digest

    assert net.source is not None
    settings = dataclasses.asdict(request.settings())
    # the default (stock prices on) is left out: a run started before
    # --no-stock-bid-prices existed is still the same job
    if settings["stock_bid_prices"]:
        del settings["stock_bid_prices"]
    # likewise the default clocked run: a run started before --deterministic
    # existed is still the same job; with it, another job (never resumed across)
    if not settings["deterministic"]:
        del settings["deterministic"]
    # and the history at the day's checkouts (before --history-checkouts)
    if settings["history_checkouts"] is None:
        del settings["history_checkouts"]
    return {
        "settings": settings,
        "policy": repr(policy),
        "network": folder_digest(net.source),
        "cltv_scores": file_digest(request.cltv_scores),
        "cltv_backtest": request.cltv_backtest,
    }


def _say_how_it_starts(
    work: Staging, steps: Checkpoints, resume: bool, out: Path
) -> None:
    """One line on stderr when the run does not simply start fresh."""
    done = steps.done()
    if work.resumed and done:
        _log.info("resuming %s: done before: %s", out, ", ".join(done))
    elif resume:
        _log.info("nothing to resume in %s: starting fresh", out)
    elif work.discarded:
        _log.info(
            "starting fresh: the unfinished run of %s is discarded "
            "(--resume continues it)",
            out,
        )


def _cltv_step(
    net: Network,
    cltv_scores: Path | None,
    model_dir: Path,
    policy: TierPolicy,
    *,
    backtest: bool = False,
    as_of: dt.date | None = None,
) -> CltvStep:
    """Publish the given scores, or train on the network's purchase history
    (either is read and checked now, before anything is written)."""
    from tierflow.orchestration.simulation.day import published_scores

    history, profiles = purchase_history_files(net)
    percentile = policy.platinum_percentile
    if cltv_scores is not None:
        return published_scores(cltv_scores, platinum_percentile=percentile)
    if history is None:
        raise click.ClickException(
            f"{net.source}: no transactions.csv (or transactions.parquet) to "
            "train the CLTV model on (or give --cltv-scores)"
        )
    # imported here: the model's stack loads only when a day trains it
    from tierflow.orchestration.simulation.cltv_job import daily_cltv_job

    return daily_cltv_job(
        history,
        profiles,
        model_dir,
        platinum_percentile=percentile,
        backtest_first_model=backtest,
        as_of=as_of,
    )


class _StepReporter:
    """Moves the bar one step per stage and along the checkouts."""

    def __init__(self, bar: Any, checkouts: int) -> None:
        self._bar = bar
        self._checkouts = checkouts
        self._done = 0

    def __call__(self, name: str, n: int | None) -> None:
        if name == "checkouts" and n is not None:
            done = min(n, self._checkouts)
            if done >= self._done:
                self._bar.update(done - self._done, f"checkouts {done}")
                self._done = done
            return
        self._bar.update(1, name)


def _savings_line(v: dict[str, Any]) -> str:
    """``saved $10,930 (48.2 %) against the nearest node; $262 above the bound``."""
    from tierflow.orchestration.simulation.report import percent_text

    parts = []
    if v["vs_nearest"] is not None:
        pct = v["vs_nearest_pct"]
        # the page's decimals: a 0.004 % saving read "(0.0 %)", as none
        share = "" if pct is None else f" ({percent_text(abs(pct))} %)"
        if v["vs_nearest"] < 0:  # the day cost more than the nearest node
            parts.append(
                f"cost ${-v['vs_nearest']:,.0f}{share} more than the nearest node"
            )
        else:
            parts.append(
                f"saved ${v['vs_nearest']:,.0f}{share} against the nearest node"
            )
    if v["above_bound"] is not None:
        parts.append(f"${v['above_bound']:,.0f} above the hindsight bound")
    return f"  {v['policy']}: " + "; ".join(parts) if parts else ""


def _pct(value: float | None) -> str:
    """A percentage, or "n/a" where there was nothing to count (no
    Platinum order, no checkout that chose)."""
    from tierflow.orchestration.simulation.report import percent_text

    return "n/a" if value is None else f"{percent_text(value)} %"


def _offered_nothing(s: dict[str, Any]) -> str:
    """`` (23 offered nothing)``: the checkouts counted as left that had no
    option to choose from."""
    n = s.get("no_options") or 0
    return f" ({n} offered nothing)" if n else ""


def _bound_line(s: dict[str, Any]) -> str:
    """``hindsight bound 53,382.87``, and why it is weak when its LP was cut
    short (a bound of 0 was left off the screen without a word)."""
    from tierflow.orchestration.simulation.report import missing_bound, weak_bound_note

    if s["lp_bound"] is None:
        why = missing_bound(s)
        return "" if why is None else f"  hindsight bound: none ({why})"
    return f"  hindsight bound {s['lp_bound']:,.2f}{weak_bound_note(s)}"


def _screen(s: dict[str, Any], out: Path) -> str:
    lines = [
        f"tierflow simulate — {s['day']}",
        f"  checkouts {s['checkouts']:,}: {s['confirmed']:,} confirmed, "
        f"{s['abandoned']} left{_offered_nothing(s)}, {s['cancelled']} cancelled; "
        "recommended taken "
        f"{_pct(s['recommended_taken_pct'])}",
        "  tiers     " + ", ".join(f"{k} {v}" for k, v in s["tier_mix"].items()),
        f"  Platinum offered {s['platinum_offered']}; overflow offered "
        f"{s['overflow_offered']}, taken {s['overflow_taken']}; outage at "
        f"{s['outage_node'] or 'none'}",
        _bound_line(s),
        _savings_line(s["savings"]),
    ]
    from tierflow.orchestration.simulation.report import percent_text

    for name, p in s["policies"].items():
        gap = p["gap_to_bound_pct"]
        # the page's decimals: a gap of 0.003 % read "+0.00 %", as none
        shown = "" if gap is None else f"+{percent_text(gap, 2)} %"
        lines.append(
            f"  {name:<22} cost {p['total_cost']:>12,.2f}  "
            f"{shown:>9}  deferred {p['n_deferred']:>4}"
            f"  rerouted {p['rerouted']:>3}  Platinum on time "
            f"{_pct(None if (r := p['platinum_on_time_rate']) is None else 100 * r)}"
        )
    lines.append(f"  report: {out / 'report.html'}")
    return "\n".join(line for line in lines if line)
