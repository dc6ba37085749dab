"""The many-day allocation benchmark's reports: per-day rows, distributions,
the issue's targets checked, and the forecast-error sweep.

Writes ``results.csv`` (one row per day, utilization and policy),
``summary.md`` and ``summary.json`` (the same figures) and ``gap_by_day.png``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tierflow.benchmarks.allocation_days import (
    POLICIES,
    STAFFING,
    DayRow,
    DaySpec,
    RunConfig,
    run_days,
    run_sweep,
)
from tierflow.data.network import Network
from tierflow.data.wording import counted

#: The issue's targets for the default policy, per utilization:
#: (median gap %, worst gap %).
GAP_TARGETS = {"loose": (2.0, 5.0), "tight": (4.0, 8.0)}
#: The sweep's ceiling on the gap at every forecast scale (%).
SWEEP_TARGET = 10.0
CENT = 0.005
TIER_COLUMNS = {
    "gold": "on_time_gold",
    "silver": "on_time_silver",
    "overflow": "on_time_overflow",
}


def write_day_reports(
    days: Sequence[DayRow],
    sweep: Sequence[DayRow],
    out: Path,
    setup: dict[str, Any],
) -> str:
    """Write the reports into ``out``; return the Markdown summary."""
    out.mkdir(parents=True, exist_ok=True)
    frame = _frame(days)
    sweep_frame = _frame(sweep)
    rows = pd.concat([frame.assign(run="days"), sweep_frame.assign(run="sweep")])
    # bound_stop came after run (2026-12-06): tools read the columns before it
    last = [c for c in rows.columns if c != "bound_stop"] + ["bound_stop"]
    rows[last].to_csv(out / "results.csv", index=False)
    summary = {
        "setup": setup,
        "distribution": _distribution(frame),
        "targets": _targets(frame, sweep_frame),
        "sweep": _records(sweep_frame),
        "bounds": _bounds(frame),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_plain))
    text = _markdown(summary, frame, sweep_frame)
    (out / "summary.md").write_text(text)
    _plot(frame, out / "gap_by_day.png")
    return text


def _frame(rows: Sequence[DayRow]) -> pd.DataFrame:
    columns = [f.name for f in dataclasses.fields(DayRow)]
    frame = pd.DataFrame([dataclasses.asdict(r) for r in rows], columns=columns)
    frame["repriced_agrees"] = (
        (frame["repriced_total_cost"] - frame["total_cost"]).abs() < CENT
    ) & (frame["repricing_problems"] == 0)
    return frame


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame``'s rows for JSON, a missing value ``None``: the sweep's
    hindsight plan and nearest node have no forecast scale, and pandas holds
    it as NaN, which ``json.dumps`` wrote as ``NaN`` (not JSON)."""
    plain = frame.astype(object).where(frame.notna(), None)
    return [{str(k): v for k, v in row.items()} for row in plain.to_dict("records")]


def _bounds(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per day and utilization, its bound and what cut it short
    (``bound_stop``: ``finished``, ``lp:<stop>`` or ``branch_and_bound:<stop>``)."""
    keys = ["day", "date", "utilization", "bound", "bound_stop"]
    return _records(frame[keys].drop_duplicates(["day", "utilization"]))


def _bound_line(frame: pd.DataFrame) -> str:
    """How many days' bounds a limit cut short: each such gap is overstated
    (the days' summary gave them as the days' gaps without a word)."""
    days = frame.drop_duplicates("day")["bound_stop"]
    lp = int(days.str.startswith("lp:").sum())
    search = int(days.str.startswith("branch_and_bound:").sum())
    head = f"Days whose bound was cut short: {lp + search} of {len(days)}"
    if not lp + search:
        return (
            f"{head} (results.csv `bound_stop`): every gap is to a bound whose "
            "LP and branch and bound finished."
        )
    return (
        f"{head} (results.csv `bound_stop`): the LP on {lp} (a weak bound, "
        f"what its last duals prove), branch and bound on {search} (the LP "
        "value, raised only so far); those days' gaps are overstated by an "
        "unknown amount (a longer --hindsight-time-limit gives a tighter bound)."
    )


def _plain(value: object) -> object:
    """numpy scalars as Python numbers for ``json``."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {value!r}")


def _distribution(frame: pd.DataFrame) -> dict[str, dict[str, dict[str, Any]]]:
    """Per utilization and policy: the gap's median, p90 and worst day, the
    cost ratio to nearest node and the days at or below it."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (utilization, policy), g in frame.groupby(["utilization", "policy"]):
        out.setdefault(str(utilization), {})[str(policy)] = {
            "days": len(g),
            "gap_median_pct": float(g["gap_pct"].median()),
            "gap_p90_pct": float(g["gap_pct"].quantile(0.9)),
            "gap_worst_pct": float(g["gap_pct"].max()),
            "cost_vs_nearest_median": float(g["cost_vs_nearest"].median()),
            "cost_vs_nearest_worst": float(g["cost_vs_nearest"].max()),
            "days_cost_le_nearest": int((g["cost_vs_nearest"] <= 1.0 + 1e-12).sum()),
            "platinum_kept_min_pct": _min(g["platinum_kept_pct"]),
            **{
                f"on_time_{tier}_median": _median(g[col])
                for tier, col in TIER_COLUMNS.items()
            },
            "repriced_agrees_days": int(g["repriced_agrees"].sum()),
            "violations": int(g["violations"].sum()),
        }
    return out


def _min(s: pd.Series) -> float | None:
    s = s.dropna()
    return None if s.empty else float(s.min())


def _median(s: pd.Series) -> float | None:
    s = s.dropna()
    return None if s.empty else float(s.median())


def _targets(frame: pd.DataFrame, sweep: pd.DataFrame) -> dict[str, Any]:
    """The default policy's targets, each with its measured value and verdict."""
    checks: dict[str, Any] = {}
    for utilization, (median_cap, worst_cap) in GAP_TARGETS.items():
        d = frame[
            (frame["utilization"] == utilization) & (frame["policy"] == "default")
        ]
        if d.empty:
            continue
        checks[f"{utilization}_gap_median"] = _check(d["gap_pct"].median(), median_cap)
        checks[f"{utilization}_gap_worst"] = _check(d["gap_pct"].max(), worst_cap)
        checks[f"{utilization}_cost_le_nearest_every_day"] = _check(
            d["cost_vs_nearest"].max(), 1.0
        )
        checks[f"{utilization}_platinum_kept_every_day"] = _at_least(
            _min(d["platinum_kept_pct"]), 100.0
        )
        checks.update(_tier_checks(frame, utilization))
    checks["repriced_equals_reported_every_run"] = {
        "value": int((~frame["repriced_agrees"]).sum()),
        "limit": 0,
        "met": bool(frame["repriced_agrees"].all()),
    }
    checks["violations"] = _check(float(frame["violations"].sum()), 0.0)
    default_sweep = sweep[sweep["policy"] == "default"]
    if not default_sweep.empty:
        checks["sweep_gap_worst"] = _check(default_sweep["gap_pct"].max(), SWEEP_TARGET)
    return checks


def _tier_checks(frame: pd.DataFrame, utilization: str) -> dict[str, Any]:
    """Per tier, the worst day's shortfall of the default policy's on-time
    rate against the hindsight plan's (overflow: none allowed, and >= 98 %)."""
    d = frame[frame["utilization"] == utilization].pivot_table(
        index="day", columns="policy", values=list(TIER_COLUMNS.values())
    )
    checks: dict[str, Any] = {}
    for tier, col in TIER_COLUMNS.items():
        if (col, "default") not in d or (col, "hindsight plan") not in d:
            continue
        short = 100.0 * (d[(col, "hindsight plan")] - d[(col, "default")])
        limit = 0.0 if tier == "overflow" else 1.0
        checks[f"{utilization}_{tier}_points_below_plan_worst"] = _check(
            float(short.max()), limit
        )
    if ("on_time_overflow", "default") in d:
        checks[f"{utilization}_overflow_on_time_min_pct"] = _at_least(
            100.0 * float(d[("on_time_overflow", "default")].min()), 98.0
        )
    return checks


def _check(value: float, limit: float) -> dict[str, Any]:
    return {"value": float(value), "limit": limit, "met": bool(value <= limit + 1e-9)}


def _at_least(value: float | None, floor: float) -> dict[str, Any]:
    met = value is None or value >= floor - 1e-9
    return {"value": value, "floor": floor, "met": bool(met)}


def _markdown(summary: dict[str, Any], frame: pd.DataFrame, sweep: pd.DataFrame) -> str:
    setup = summary["setup"]
    lines = [
        "# Allocation over many days",
        "",
        f"{counted(setup['days'], 'generated day')} (seed {setup['seed']}, about "
        f"{counted(setup['orders_per_day'], 'order')} a day, each with its own 14-day "
        f"history), engine {setup['engine']}, {setup['time_limit_s']:g} s per "
        "batch. Gap = (cost - hindsight bound) / bound.",
        "",
        f"Capacities ({setup['staffing']}): {STAFFING[setup['staffing']]}; "
        "every policy, the hindsight plan and the bound of a day read the same "
        "(results.csv: `staffing`, and `load_pct`, the day's workload as a "
        "share of them).",
        "",
        *[f"- **{name}**: {what}" for name, what in POLICIES.items()],
        "",
    ]
    for utilization, policies in summary["distribution"].items():
        lines += [
            f"## {utilization}",
            "",
            _bound_line(frame[frame["utilization"] == utilization]),
            "",
            "| policy | gap median % | p90 % | worst % | cost/nearest median "
            "| worst | days <= nearest | Platinum kept min % | on time gold / "
            "silver / overflow (median) | re-priced = reported | violations |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
        ]
        for policy in [p for p in POLICIES if p in policies]:
            f = policies[policy]
            tiers = " / ".join(
                _pct(f[f"on_time_{t}_median"]) for t in ("gold", "silver", "overflow")
            )
            lines.append(
                f"| {policy} | {f['gap_median_pct']:.2f} | {f['gap_p90_pct']:.2f} | "
                f"{f['gap_worst_pct']:.2f} | {f['cost_vs_nearest_median']:.3f} | "
                f"{f['cost_vs_nearest_worst']:.3f} | "
                f"{f['days_cost_le_nearest']}/{f['days']} | "
                f"{_num(f['platinum_kept_min_pct'])} | {tiers} | "
                f"{f['repriced_agrees_days']}/{f['days']} | {f['violations']} |"
            )
        lines.append("")
    lines += _target_lines(summary["targets"])
    if not sweep.empty:
        lines += _sweep_lines(sweep)
    return "\n".join(lines) + "\n"


def _target_lines(targets: dict[str, Any]) -> list[str]:
    lines = ["## Targets (default policy)", "", "| target | value | limit | met |"]
    lines.append("|---|---:|---:|---|")
    for name, t in targets.items():
        limit = t.get("limit", t.get("floor"))
        bound = "<=" if "limit" in t else ">="
        lines.append(
            f"| {name} | {_num(t['value'])} | {bound} {_num(limit)} | "
            f"{'yes' if t['met'] else 'NO'} |"
        )
    return [*lines, ""]


def _sweep_lines(sweep: pd.DataFrame) -> list[str]:
    lines = [
        "## Forecast-error sweep (one tight day)",
        "",
        "History mean = scale x the day's true volume; the day's orders, bound "
        "and capacity are the same at every scale (the capacity as the days "
        "set it: with `history` staffing, from the day's own history, not "
        "the scaled ones, which only the bid prices read).",
        "",
        _bound_line(sweep),
        "",
        "| policy | forecast scale | gap % | cost/nearest | on time overflow |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in sweep.itertuples():
        scale = "" if pd.isna(r.forecast_scale) else f"{r.forecast_scale:g}x"
        lines.append(
            f"| {r.policy} | {scale} | {r.gap_pct:.2f} | {r.cost_vs_nearest:.3f} | "
            f"{_pct(r.on_time_overflow)} |"
        )
    return [*lines, ""]


def _num(v: object) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def _pct(v: object) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return f"{100.0 * float(str(v)):.1f} %"


def _plot(frame: pd.DataFrame, path: Path) -> None:
    """Gap to the bound per day, one panel per utilization."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    utilizations = sorted(frame["utilization"].unique())
    fig, axes = plt.subplots(
        1, max(len(utilizations), 1), figsize=(6 * len(utilizations), 4)
    )
    for ax, utilization in zip(np.atleast_1d(axes), utilizations, strict=False):
        d = frame[frame["utilization"] == utilization]
        for policy in [p for p in POLICIES if p in set(d["policy"])]:
            g = d[d["policy"] == policy].sort_values("day")
            ax.plot(g["day"], g["gap_pct"], marker="o", label=policy)
        ax.set_title(f"{utilization}: gap to the hindsight bound")
        ax.set_xlabel("day")
        ax.set_ylabel("gap %")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_and_report(
    network: Network,
    *,
    n_days: int,
    seed: int,
    per_day: int,
    config: RunConfig,
    utilizations: Sequence[str],
    sweep_scales: Sequence[float],
    out: Path,
    on_step: Callable[[str], None] | None = None,
) -> str:
    """The many-day benchmark and its sweep (on day 0) with reports in ``out``."""
    days = run_days(
        network,
        n_days,
        seed,
        per_day,
        config,
        out / "days",
        utilizations=utilizations,
        on_step=on_step,
    )
    sweep: list[DayRow] = []
    if sweep_scales:
        spec = DaySpec.draw(0, seed)
        sweep = run_sweep(
            network,
            spec,
            per_day,
            config,
            out / "sweep",
            sweep_scales,
            on_step=on_step,
        )
    setup = {
        "days": n_days,
        "seed": seed,
        "orders_per_day": per_day,
        "engine": config.engine,
        "time_limit_s": config.time_limit_s,
        "hindsight_time_limit_s": config.hindsight_time_limit_s,
        "forecast": list(config.forecast),
        "deterministic": config.deterministic,
        "staffing": config.staffing,
        "utilizations": list(utilizations),
        "sweep_scales": list(sweep_scales),
    }
    return write_day_reports(days, sweep, out, setup)
