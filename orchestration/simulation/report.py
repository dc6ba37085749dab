"""The simulation's report: ``report.html`` (plots embedded) and ``summary.json``."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tierflow.data.vocabulary import TIERS
from tierflow.orchestration.simulation.day import SimulationResult

#: The plots of the report (``NAME.png``), each written when it has data.
PLOTS = ("cost", "service", "capacity", "overflow")
#: The files :func:`write_report` may write.
REPORT_FILES = ("report.html", "summary.json", *(f"{name}.png" for name in PLOTS))

_BLUE, _GREY, _RED, _GREEN = "#3b7dd8", "#b5b5b5", "#d62728", "#2ca02c"
_FIGSIZE = (7, 3.6)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _cost_plot(ax: Any, result: SimulationResult, summary: dict[str, Any]) -> None:
    """Total cost per policy against the hindsight LP bound."""
    pol = summary["policies"]
    names = [n for n in pol if n != "hindsight"]
    costs = [pol[n]["total_cost"] for n in names]
    ax.bar(names, costs, color=[_BLUE if "bid" in n else _GREY for n in names])
    if result.lp_bound:
        ax.axhline(
            result.lp_bound,
            color=_RED,
            ls="--",
            label=f"hindsight LP bound {result.lp_bound:,.0f}",
        )
        ax.legend(loc="lower right")
    for i, n in enumerate(names):
        gap = pol[n]["gap_to_bound_pct"]
        if gap is not None:
            ax.text(i, costs[i], f"+{gap:.1f} %", ha="center", va="bottom")
    ax.set_ylabel("total cost of the day ($)")
    ax.set_title("Allocation cost vs the hindsight bound and the nearest-node policy")


def _service_plot(ax: Any, result: SimulationResult, summary: dict[str, Any]) -> None:
    """Share of each tier's orders delivered by the promise, per policy."""
    pol = summary["policies"]
    width = 0.8 / max(len(pol), 1)
    for k, (name, p) in enumerate(pol.items()):
        levels = [p["service_level_by_tier"].get(t) or 0.0 for t in TIERS]
        ax.bar(
            np.arange(len(TIERS)) + k * width,
            [100 * v for v in levels],
            width,
            label=name,
        )
    ax.set_xticks(np.arange(len(TIERS)) + width * (len(pol) - 1) / 2, TIERS)
    ax.set_ylabel("orders delivered by the promise (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Service level per tier")
    ax.legend(fontsize=8, loc="lower left")


def _capacity_plot(ax: Any, result: SimulationResult, summary: dict[str, Any]) -> None:
    """The nodes' capacity scores over the day (the outage node dotted)."""
    scores = result.scores
    at = pd.to_datetime(scores["at"], format="ISO8601")
    hours = (at - at.iloc[0]).dt.total_seconds() / 3600
    values = scores.drop(columns=["at"])
    ax.plot(hours, values.median(axis=1), label="median node", color=_BLUE)
    ax.fill_between(
        hours,
        values.quantile(0.1, axis=1),
        values.quantile(0.9, axis=1),
        alpha=0.2,
        color=_BLUE,
        label="10–90 % of nodes",
    )
    ax.plot(hours, values.min(axis=1), label="lowest node", color=_RED)
    if result.outage_node and result.outage_node in values:
        ax.plot(
            hours,
            values[result.outage_node],
            ls=":",
            color="black",
            label=f"{result.outage_node} (outage)",
        )
    ax.set_xlabel("hours since the first checkout")
    ax.set_ylabel("capacity score")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Capacity scores over the day")
    ax.legend(fontsize=8)


def _overflow_plot(ax: Any, result: SimulationResult, summary: dict[str, Any]) -> None:
    """Tier-4 overflow options offered and taken, per hour."""
    c = result.checkouts
    hour = pd.to_datetime(c["at"], format="ISO8601").dt.floor("h")
    for column, label, color in (
        ("overflow_offered", "overflow offered", _GREY),
        ("overflow_taken", "overflow taken", _GREEN),
    ):
        counts = c.groupby(hour)[column].sum()
        ax.bar(counts.index, counts.to_numpy(), width=0.035, label=label, color=color)
    ax.set_ylabel("checkouts per hour")
    ax.set_title("Tier-4 overflow: offered and taken")
    ax.legend(fontsize=8)
    ax.figure.autofmt_xdate()


_Plot = Callable[[Any, SimulationResult, dict[str, Any]], None]


def _plots(result: SimulationResult) -> dict[str, bytes]:
    """Each plot that has data, as PNG bytes by name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = result.summary()
    plots: list[tuple[str, _Plot, bool]] = [
        ("cost", _cost_plot, True),
        ("service", _service_plot, True),
        ("capacity", _capacity_plot, not result.scores.empty),
        ("overflow", _overflow_plot, not result.checkouts.empty),
    ]
    out: dict[str, bytes] = {}
    for name, draw, has_data in plots:
        if not has_data:
            continue
        fig, ax = plt.subplots(figsize=_FIGSIZE)
        draw(ax, result, summary)
        fig.tight_layout()
        out[name] = _png(fig)
        plt.close(fig)
    return out


def _table(rows: list[list[str]], head: list[str]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


def _f(v: Any, digits: int = 2, suffix: str = "") -> str:
    if v is None:
        return "–"
    return f"{v:,.{digits}f}{suffix}"


_POLICY_HEAD = [
    "policy",
    "total cost",
    "gap to bound",
    "allocated",
    "deferred",
    "rerouted",
    "Platinum on time",
    "p95 batch s",
]

_STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem;
       color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
td, th { border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }
th { background: #f2f4f7; } td:first-child { text-align: left; }
figure { margin: 1rem 0; } img { max-width: 100%; }
</style>"""


def _policy_table(summary: dict[str, Any]) -> str:
    """One row per allocation policy."""
    rows = []
    for name, p in summary["policies"].items():
        on_time = p["platinum_on_time_rate"]
        rows.append(
            [
                name,
                _f(p["total_cost"]),
                _f(p["gap_to_bound_pct"], 2, " %"),
                str(p["n_allocated"]),
                str(p["n_deferred"]),
                str(p["rerouted"]),
                _f(None if on_time is None else 100 * on_time, 1, " %"),
                _f(p["batch_solve_p95_s"], 3),
            ]
        )
    return _table(rows, _POLICY_HEAD)


def _checkout_prose(s: dict[str, Any]) -> str:
    """The day's checkouts in one paragraph."""
    return f"""<p>{s["checkouts"]:,} checkouts, {s["confirmed"]:,} confirmed
({s["abandoned"]} abandoned, {s["cancelled"]} cancelled);
the recommended option was taken in {_f(s["recommended_taken_pct"], 1, " %")}
of confirmed checkouts; Platinum was offered {s["platinum_offered"]} times;
the overflow incentive was offered {s["overflow_offered"]} times and taken
{s["overflow_taken"]} times. Outage: {html.escape(str(s["outage_node"]))}.</p>"""


def _upgrade_prose(s: dict[str, Any]) -> str:
    """The day's Platinum upgrades in one paragraph."""
    u = s["upgrades"]
    return f"""<p>Platinum was offered {u["offered_as_upgrade"]} times as an upgrade
at the Gold price (+ premium) and {u["offered_priced"]} times priced (the
customer's upgrade allowance spent, or no Gold offer to upgrade from). {u["confirmed"]} upgrades were confirmed,
for {u["customers"]} customers with a predicted spend of
${_f(u["customers_predicted_spend"])} (mean
${_f(u["customers_predicted_spend_mean"])}); their extra cost over Gold, the
day's upgrade spend, is ${_f(u["spend"])} =
{_f(u["share_of_fulfilment_cost_pct"], 2, " %")} of the day's fulfilment cost
(${_f(u["fulfilment_cost"])}, the allocation with bid prices).</p>"""


def _page(summary: dict[str, Any], plots: dict[str, bytes]) -> str:
    """``report.html``: the summary's figures, tables and the plots inline."""
    day = html.escape(summary["day"])
    mix = [[t, str(summary["tier_mix"].get(t, 0))] for t in TIERS]
    images = "".join(
        f'<figure><img alt="{k}" src="data:image/png;base64,'
        f'{base64.b64encode(v).decode()}"></figure>'
        for k, v in plots.items()
    )
    cltv = html.escape(json.dumps(summary["cltv"], indent=2, default=str))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>tierflow simulation {day}</title>
{_STYLE}</head><body>
<h1>tierflow — one simulated day ({day})</h1>
{_checkout_prose(summary)}
<h2>Platinum upgrades</h2>
{_upgrade_prose(summary)}
<h2>Allocation</h2>
{_policy_table(summary)}
<p>Hindsight LP bound: {_f(summary["lp_bound"])}.</p>
<h2>Tiers chosen</h2>
{_table(mix, ["tier", "orders"])}
<h2>CLTV model</h2>
<pre>{cltv}</pre>
{images}
</body></html>
"""


def write_report(result: SimulationResult, out: Path) -> dict[str, Any]:
    """Write ``report.html``, the plot PNGs and ``summary.json``; return the summary."""
    summary = result.summary()
    plots = _plots(result)
    for name, data in plots.items():
        (out / f"{name}.png").write_bytes(data)
    (out / "report.html").write_text(_page(summary, plots), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
