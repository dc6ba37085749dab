"""The simulation's report: ``report.html`` (plots embedded) and ``summary.json``.

The page is written for an operations manager: it opens with the four
answers they ask for first (dollars saved against the nearest node and
against the hindsight bound, promises kept per tier, what the overflow
incentive moved and what it cost), then the plots (New York local time,
labelled axes, legends outside the data), then the details: the policies
side by side, the checkouts, the upgrades and the CLTV job as tables. The
HTML skeleton is ``report_template.html`` beside this module.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import pandas as pd

from tierflow.data.delivery_calendar import zone_info
from tierflow.data.vocabulary import TIERS
from tierflow.orchestration.simulation.day import LOCAL_TZ, SimulationResult

#: The plots of the report (``NAME.png``), each written when it has data.
PLOTS = ("cost", "service", "capacity", "overflow")
#: The files :func:`write_report` may write.
REPORT_FILES = ("report.html", "summary.json", *(f"{name}.png" for name in PLOTS))

_BLUE, _GREY, _RED, _GREEN = "#2f5f98", "#9aa3ad", "#c0392b", "#1f7a45"
_FIGSIZE = (8.0, 3.7)
_TEMPLATE = "report_template.html"
#: The metrics of a CLTV backtest the report shows, with their headings.
_CLTV_METRICS = (
    ("mae", "MAE ($)", "{:,.2f}"),
    ("rmse", "RMSE ($)", "{:,.2f}"),
    ("spearman", "Spearman", "{:.3f}"),
    ("top10_capture", "top 10 % capture", "share"),
    ("top20_capture", "top 20 % capture", "share"),
    ("bias_pct", "bias", "{:+.1f} %"),
    ("n_customers", "customers", "{:,.0f}"),
)
_CLTV_MODELS = {
    "cltv": "CLTV model",
    "challenger": "challenger (today's model)",
    "champion": "champion (before)",
    "cltv_raw": "CLTV model, uncalibrated",
    "bgnbd_gg": "BG/NBD + Gamma-Gamma baseline",
    "bgnbd_gg_calibrated": "BG/NBD + Gamma-Gamma, calibrated",
    "naive_run_rate": "last-year run rate baseline",
    "naive_run_rate_calibrated": "last-year run rate, calibrated",
}


# ----------------------------------------------------------------- numbers
def _money(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "–"
    sign = "−" if v < 0 else ""
    return f"{sign}${abs(v):,.{digits}f}"


def _f(v: Any, digits: int = 2, suffix: str = "") -> str:
    if v is None:
        return "–"
    return f"{v:,.{digits}f}{suffix}"


def _pct(v: float | None, digits: int = 1) -> str:
    return _f(v, digits, " %")


def _e(text: Any) -> str:
    return html.escape(str(text))


def _policy_name(name: str) -> str:
    """How the page names an allocation policy."""
    if name == "nearest":
        return "nearest node with stock"
    if name == "hindsight":
        return "hindsight (sees the whole day)"
    return f"tierflow: {name}"


def _table(
    head: list[str], rows: Iterable[list[str]], caption: str = "", text_cols: int = 1
) -> str:
    """An HTML table; the first ``text_cols`` columns are left-aligned text."""
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)

    def row(r: list[str]) -> str:
        return "<tr>" + "".join(
            f'<td class="text">{_e(v)}</td>' if i < text_cols else f"<td>{_e(v)}</td>"
            for i, v in enumerate(r)
        )

    body = "".join(row(r) + "</tr>" for r in rows)
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    return (
        f'<div class="table-wrap"><table>{cap}<thead><tr>{cells}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


# ------------------------------------------------------------------- plots
def _local(at: pd.Series) -> pd.Series:
    """ISO instants (UTC) as New York local times."""
    return pd.to_datetime(at, utc=True, format="ISO8601").dt.tz_convert(LOCAL_TZ)


def _hours(at: pd.Series, day: dt.date) -> pd.Series:
    """Hours since New York midnight starting ``day`` (24 and up: the next
    day, where the day's last checkouts in the west fall)."""
    midnight = pd.Timestamp(dt.datetime.combine(day, dt.time(0)), tz=LOCAL_TZ)
    return (_local(at) - midnight).dt.total_seconds() / 3600.0


def _hour_axis(ax: Any, hours: pd.Series, day: dt.date, step: int) -> None:
    """Ticks every ``step`` hours as clock times (``+1 day`` on the next day)
    and the axis label with the zone's name."""
    first = int(np.floor(hours.min() / step) * step) if len(hours) else 0
    last = int(np.ceil(hours.max() / step) * step) if len(hours) else 24
    ticks = list(range(first, last + 1, step))
    labels = [f"{t % 24:02d}:00" + ("\n+1 day" if t >= 24 else "") for t in ticks]
    ax.set_xticks(ticks, labels, fontsize=8.5)
    ax.set_xlim(first - step * 0.1, last + step * 0.1)
    ax.set_xlabel(f"time of day, New York ({_tz_name(day)})")


def _tz_name(day: dt.date) -> str:
    """``EST`` or ``EDT``: New York's zone on ``day``."""
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=zone_info(LOCAL_TZ))
    return noon.tzname() or LOCAL_TZ


def _legend_above(ax: Any, ncol: int) -> None:
    """The legend in a row above the axes: it never covers data."""
    ax.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.01),
        ncol=ncol,
        frameon=False,
        fontsize=9,
        borderaxespad=0.0,
    )


def _cost_plot(ax: Any, result: SimulationResult, summary: dict[str, Any]) -> None:
    """The day's cost per policy, against the hindsight LP bound."""
    pol = summary["policies"]
    names = list(pol)
    costs = [pol[n]["total_cost"] for n in names]
    colors = [_GREY if n == "nearest" else _BLUE for n in names]
    bars = ax.bar(range(len(names)), costs, color=colors, width=0.6)
    for bar, n in zip(bars, names, strict=True):
        if n == "hindsight":
            bar.set_hatch("//")
            bar.set_alpha(0.55)
    top = max(costs, default=1.0)
    for i, n in enumerate(names):
        gap = pol[n]["gap_to_bound_pct"]
        text = _money(costs[i]) + ("" if gap is None else f"\n+{gap:.1f} % over bound")
        ax.text(i, costs[i] + top * 0.02, text, ha="center", va="bottom", fontsize=9)
    if result.lp_bound:
        ax.axhline(
            result.lp_bound,
            color=_RED,
            ls="--",
            lw=1.2,
            label=f"hindsight LP bound {_money(result.lp_bound)}: "
            "no allocation of these orders costs less",
        )
        _legend_above(ax, 1)
    labels = [_policy_name(n).replace(": ", ":\n").replace(" (", "\n(") for n in names]
    ax.set_xticks(range(len(names)), labels, fontsize=9)
    ax.set_ylim(0, top * 1.28)
    ax.set_xlabel("allocation policy")
    ax.set_ylabel("cost of the day's orders ($)")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"${v:,.0f}")


def _service_plot(ax: Any, result: SimulationResult, summary: dict[str, Any]) -> None:
    """Share of each tier's orders delivered by the promise, per policy."""
    pol = summary["policies"]
    width = 0.8 / max(len(pol), 1)
    colors = {"nearest": _GREY, "hindsight": "#b8c7dd"}
    for k, (name, p) in enumerate(pol.items()):
        levels = [p["service_level_by_tier"].get(t) for t in TIERS]
        ax.bar(
            np.arange(len(TIERS)) + k * width,
            [0.0 if v is None else 100 * v for v in levels],
            width,
            label=_policy_name(name),
            color=colors.get(name, _BLUE),
        )
    ax.set_xticks(
        np.arange(len(TIERS)) + width * (len(pol) - 1) / 2, [t.title() for t in TIERS]
    )
    ax.set_xlabel("tier chosen at checkout")
    ax.set_ylabel("delivered by the promise (%)")
    ax.set_ylim(0, 105)
    _legend_above(ax, min(len(pol), 3))


def _capacity_plot(ax: Any, result: SimulationResult, summary: dict[str, Any]) -> None:
    """The nodes' capacity scores over the day, New York time."""
    day = result.settings.day
    scores = result.scores
    at = _hours(scores["at"], day)
    values = scores.drop(columns=["at"])
    ax.fill_between(
        at,
        values.quantile(0.1, axis=1),
        values.quantile(0.9, axis=1),
        alpha=0.2,
        color=_BLUE,
        label="middle 80 % of nodes",
    )
    ax.plot(at, values.median(axis=1), label="median node", color=_BLUE)
    ax.plot(at, values.min(axis=1), label="lowest node", color=_RED)
    if result.outage_node and result.outage_node in values:
        ax.plot(
            at,
            values[result.outage_node],
            ls=":",
            color="black",
            label=f"{result.outage_node} (goes down)",
        )
    threshold = summary.get("overflow_threshold")
    if threshold is not None:
        ax.axhline(threshold, color=_GREEN, lw=0.8, ls="--")
    _hour_axis(ax, at, day, 3)
    ax.set_ylabel("capacity score (free / nominal)")
    ax.set_ylim(-0.02, 1.02)
    _legend_above(ax, 4)


def _overflow_plot(ax: Any, result: SimulationResult, summary: dict[str, Any]) -> None:
    """Overflow options offered and taken, per New York hour."""
    c = result.checkouts
    day = result.settings.day
    hour = np.floor(_hours(c["at"], day)).astype(int)
    span = np.arange(int(hour.min()), int(hour.max()) + 1)
    offered = c.groupby(hour)["overflow_offered"].sum().reindex(span, fill_value=0)
    taken = c.groupby(hour)["overflow_taken"].sum().reindex(span, fill_value=0)
    ax.bar(span + 0.3, offered.to_numpy(), 0.4, label="offered", color=_GREY)
    ax.bar(span + 0.7, taken.to_numpy(), 0.4, label="taken", color=_GREEN)
    _hour_axis(ax, pd.Series(np.append(span, span[-1] + 1)), day, 2)
    ax.set_ylabel("checkouts in the hour")
    _legend_above(ax, 2)


_Plot = Callable[[Any, SimulationResult, dict[str, Any]], None]

#: name, title, caption, drawing.
_PLOTS: tuple[tuple[str, str, str, _Plot], ...] = (
    (
        "cost",
        "What the day's orders cost to ship",
        "Shipping, handling and lateness cost of the confirmed orders under "
        "each allocation policy; the dashed line is the hindsight LP bound.",
        _cost_plot,
    ),
    (
        "service",
        "Promises kept per tier",
        "Share of each tier's orders delivered in full by the promised date.",
        _service_plot,
    ),
    (
        "capacity",
        "Capacity over the day",
        "Capacity scores of the nodes every half hour (1: all of today's "
        "capacity free); the dashed green line is the overflow threshold: "
        "below it everywhere, checkouts are offered the discount to wait.",
        _capacity_plot,
    ),
    (
        "overflow",
        "The overflow incentive, hour by hour",
        "Checkouts offered the discount to ship later, and those that took it.",
        _overflow_plot,
    ),
)


def draw_plots(result: SimulationResult, summary: dict[str, Any]) -> dict[str, Any]:
    """Each plot that has data, as a matplotlib figure by name (Agg; the
    caller closes them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_data = {
        "capacity": not result.scores.empty,
        "overflow": not result.checkouts.empty,
    }
    out: dict[str, Any] = {}
    for name, _title, _caption, draw in _PLOTS:
        if not has_data.get(name, bool(summary["policies"])):
            continue
        fig, ax = plt.subplots(figsize=_FIGSIZE, layout="constrained")
        draw(ax, result, summary)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        out[name] = fig
    return out


def _plots(result: SimulationResult, summary: dict[str, Any]) -> dict[str, bytes]:
    """Each plot that has data, as PNG bytes by name."""
    figures = draw_plots(result, summary)  # selects the Agg backend
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}
    for name, fig in figures.items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
        plt.close(fig)
        out[name] = buf.getvalue()
    return out


def _figures(plots: dict[str, bytes]) -> str:
    parts = []
    for name, title, caption, _draw in _PLOTS:
        if name not in plots:
            continue
        data = base64.b64encode(plots[name]).decode()
        parts.append(
            f'<figure id="plot-{name}"><img alt="{_e(title)}" '
            f'src="data:image/png;base64,{data}"><figcaption><strong>'
            f"{_e(title)}.</strong> {_e(caption)}</figcaption></figure>"
        )
    return "\n".join(parts)


# -------------------------------------------------------------- the opening
def _card(key: str, value: str, text: str, *, good: bool = False, ident: str) -> str:
    cls = "v good" if good else "v"
    return (
        f'<div class="card" id="{ident}"><div class="k">{_e(key)}</div>'
        f'<div class="{cls}">{_e(value)}</div><p>{_e(text)}</p></div>'
    )


def _main_policy(summary: dict[str, Any]) -> dict[str, Any] | None:
    policy: dict[str, Any] | None = summary["policies"].get(
        summary["savings"]["policy"]
    )
    return policy


def _cards(summary: dict[str, Any]) -> str:
    """Saved vs nearest node, above the bound, promises kept, overflow."""
    s, o = summary["savings"], summary["overflow"]
    cards = []
    if s["vs_nearest"] is not None:
        cards.append(
            _card(
                "Saved against the nearest node",
                _money(s["vs_nearest"]),
                f"tierflow ({s['policy']}) shipped the day for "
                f"{_money(s['cost'])}; sending every order to the nearest node "
                f"with stock costs {_money(s['nearest_cost'])} "
                f"({_pct(s['vs_nearest_pct'])} saved).",
                good=s["vs_nearest"] > 0,
                ident="card-saved",
            )
        )
    if s["above_bound"] is not None:
        cards.append(
            _card(
                "Left on the table, at most",
                _money(s["above_bound"]),
                f"above the hindsight LP bound {_money(s['lp_bound'])}, which no "
                f"allocation of these orders can beat, even knowing the whole day "
                f"in advance ({_pct(s['above_bound_pct'])}).",
                ident="card-bound",
            )
        )
    main = _main_policy(summary)
    if main is not None:
        kept = [
            f"{t.title()} {p['kept']:,}/{p['orders']:,}"
            for t, p in main["promises_by_tier"].items()
            if p["orders"]
        ]
        total = sum(p["orders"] for p in main["promises_by_tier"].values())
        done = sum(p["kept"] for p in main["promises_by_tier"].values())
        cards.append(
            _card(
                "Promises kept",
                _pct(None if not total else 100.0 * done / total),
                f"orders delivered in full by the promised date: {', '.join(kept)}.",
                ident="card-promises",
            )
        )
    cards.append(
        _card(
            "Overflow incentive",
            f"{o['orders_moved']:,} orders moved",
            f"{_f(o['work_moved'], 0)} units of today's work moved to later days "
            f"({_pct(o['work_moved_pct'])} of the day's), for "
            f"{_money(o['discounts'], 2)} in discounts.",
            ident="card-overflow",
        )
    )
    return "\n".join(cards)


def _main_first(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The policies, tierflow's first (then the nearest node, hindsight)."""
    pol: dict[str, dict[str, Any]] = summary["policies"]
    main = summary["savings"]["policy"]
    order = sorted(pol, key=lambda n: (n != main, n != "nearest"))
    return {n: pol[n] for n in order}


def _promises(summary: dict[str, Any]) -> str:
    """Per tier: orders and promises kept under each policy."""
    pol = _main_first(summary)
    head = ["tier", *(_policy_name(n) for n in pol)]
    rows = []
    for tier in TIERS:
        counts = [p["promises_by_tier"].get(tier) for p in pol.values()]
        if not any(c and c["orders"] for c in counts):
            continue
        cells = [
            "–"
            if not c or not c["orders"]
            else f"{c['kept']:,} of {c['orders']:,} ({100 * c['kept'] / c['orders']:.1f} %)"
            for c in counts
        ]
        rows.append([tier.title(), *cells])
    return _table(head, rows)


def _overflow(summary: dict[str, Any]) -> str:
    o = summary["overflow"]
    if not o["offered"]:
        return (
            "<p>Not offered today: capacity was never short enough (every "
            "node that could serve an order scored above the overflow "
            "threshold).</p>"
        )
    rows = [
        ["Offered at checkout", f"{o['offered']:,}"],
        ["Taken (orders moved to a later day)", f"{o['orders_moved']:,}"],
        ["Take rate", _pct(o["take_rate_pct"])],
        ["Today's work moved (capacity units)", _f(o["work_moved"], 0)],
        ["Share of the day's confirmed work", _pct(o["work_moved_pct"])],
        ["Discounts given", _money(o["discounts"], 2)],
        ["Mean discount per order moved", _money(o["discount_mean"], 2)],
        ["Discount per unit of capacity freed", _money(o["discount_per_work_unit"], 2)],
    ]
    return (
        "<p>When every node that could serve an order is short of capacity, "
        "checkout offers a discount to ship it a day later; the discount is "
        "bounded by the value of the capacity it frees.</p>"
        + _table(["", "today"], rows, text_cols=1)
    )


# ------------------------------------------------------------------ details
def _policies(summary: dict[str, Any]) -> str:
    """One row per allocation policy."""
    rows = []
    for name, p in _main_first(summary).items():
        if p.get("hindsight"):
            solve = f"one solve, {_f(p.get('runtime_s'), 1)} s"
        else:
            solve = (
                f"{p.get('n_batches', 0)} batches, "
                f"95 % within {_f(p['batch_solve_p95_s'], 3)} s"
            )
        rows.append(
            [
                _policy_name(name),
                _money(p["total_cost"], 2),
                _pct(p["gap_to_bound_pct"], 2),
                f"{p['n_allocated']:,}",
                f"{p['n_deferred']:,}",
                f"{p['rerouted']:,}",
                solve,
            ]
        )
    head = [
        "policy",
        "cost of the day",
        "over the bound",
        "allocated",
        "deferred",
        "rerouted",
        "solve time",
    ]
    return _table(head, rows)


def _checkouts(s: dict[str, Any]) -> str:
    """The day's checkouts in one paragraph."""
    return f"""<p>{s["checkouts"]:,} checkouts, {s["confirmed"]:,} confirmed
({s["abandoned"]} abandoned, {s["cancelled"]} cancelled); the recommended
option was taken in {_pct(s["recommended_taken_pct"])} of confirmed checkouts;
Platinum was offered {s["platinum_offered"]:,} times. Outage:
{_e(s["outage_node"] or "none")}.</p>"""


def _tier_mix(summary: dict[str, Any]) -> str:
    mix = summary["tier_mix"]
    total = max(sum(mix.values()), 1)
    rows = [
        [t.title(), f"{mix.get(t, 0):,}", _pct(100.0 * mix.get(t, 0) / total)]
        for t in TIERS
    ]
    return _table(["tier chosen", "orders", "share"], rows)


def _upgrades(s: dict[str, Any]) -> str:
    """The day's Platinum upgrades in one paragraph."""
    u = s["upgrades"]
    return f"""<p>Platinum was offered {u["offered_as_upgrade"]} times as an
upgrade at the Gold price (+ premium) and {u["offered_priced"]} times priced
(the customer's upgrade allowance spent, or no Gold offer to upgrade from).
{u["confirmed"]} upgrades were confirmed, for {u["customers"]} customers with a
predicted spend of {_money(u["customers_predicted_spend"], 2)} (mean
{_money(u["customers_predicted_spend_mean"], 2)}); their extra cost over Gold,
the day's upgrade spend, is {_money(u["spend"], 2)} =
{_pct(u["share_of_fulfilment_cost_pct"], 2)} of the day's fulfilment cost
({_money(u["fulfilment_cost"], 2)}, the allocation with bid prices).</p>"""


def _cltv_facts(c: dict[str, Any]) -> str:
    facts: list[tuple[str, str]] = [("Model version", c.get("model_version", "–"))]
    if "as_of" in c:
        facts.append(("Trained on data up to", c["as_of"]))
    if "horizon_days" in c:
        facts.append(("Predicts spend over", f"{c['horizon_days']} days"))
    if "promoted" in c:
        decision = "promoted" if c["promoted"] else "not promoted"
        facts.append(("Decision", f"{decision}: {c['reason']}"))
    if "scores" in c:
        facts.append(("Scores", f"published from {c['scores']} (no training)"))
    if c.get("published_rows") is not None:
        facts.append(("Customers scored", f"{c['published_rows']:,}"))
    if c.get("platinum_threshold") is not None:
        facts.append(
            ("Platinum threshold", f"{_money(c['platinum_threshold'], 2)} predicted")
        )
    return (
        '<dl class="facts">'
        + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
        + "</dl>"
    )


def _metric(value: Any, form: str) -> str:
    if value is None:
        return "–"
    if form == "share":
        return _pct(100 * float(value))
    return form.format(float(value))


def _cltv_backtest(c: dict[str, Any]) -> str:
    tested = c.get("backtest")
    if not tested:
        why = (
            "the scores were published as given"
            if "scores" in c
            else "the first model has no champion to be compared with, so the "
            "daily job promoted it without one; "
            "<code>tierflow simulate --cltv-backtest</code> (one more training) "
            "or <code>tierflow cltv evaluate</code> measures it"
        )
        return f"<p class='note' id='cltv-no-backtest'>No backtest: {why}.</p>"
    head = ["model", *(h for _k, h, _d in _CLTV_METRICS)]
    rows = [
        [
            _CLTV_MODELS.get(name, name),
            *(_metric(m.get(k), d) for k, _h, d in _CLTV_METRICS),
        ]
        for name, m in tested["models"].items()
    ]
    caption = (
        f"Backtest: trained {tested['window_days']} days before the as-of date, "
        "scored on what those customers spent in the window. Capture: share "
        "of the window's spend by the customers ranked top 10 % / 20 %. Bias: "
        "predicted total over actual, minus 1."
    )
    return _table(head, rows, caption)


def _cltv(summary: dict[str, Any]) -> str:
    c = summary["cltv"]
    segments = c.get("segments") or {}
    parts = [_cltv_facts(c), "<h3>Backtest</h3>", _cltv_backtest(c)]
    if segments:
        rows = [
            [
                seg.title(),
                f"{int(v['customers']):,}",
                _pct(v["share_pct"]),
                _money(v["mean_predicted_spend"], 2),
            ]
            for seg, v in segments.items()
        ]
        parts += [
            "<h3>Segments</h3>",
            _table(["segment", "customers", "share", "mean predicted spend"], rows),
        ]
    return "\n".join(parts)


# -------------------------------------------------------------------- page
def _page(
    result: SimulationResult, summary: dict[str, Any], plots: dict[str, bytes]
) -> str:
    """``report.html``: the opening answers, the plots, then the details."""
    day = result.settings.day
    s = summary["savings"]
    lead = (
        f"{summary['checkouts']:,} checkouts on the network, answered live "
        f"as capacity changed"
        + (
            f" ({_e(summary['outage_node'])} went down)"
            if summary["outage_node"]
            else ""
        )
        + f"; the confirmed orders allocated by tierflow ({_e(s['policy'])}), by "
        "the nearest node with stock, and in hindsight."
    )
    bound_note = (
        f"<p class='note'>Hindsight LP bound: {_money(summary['lp_bound'], 2)}, "
        "the linear relaxation of the whole day solved at once.</p>"
        if summary["lp_bound"]
        else ""
    )
    template = Template(
        (resources.files(__package__) / _TEMPLATE).read_text(encoding="utf-8")
    )
    return template.substitute(
        day_iso=_e(day.isoformat()),
        day_long=_e(f"{day:%A, %B} {day.day}, {day.year}"),
        lead=lead,
        cards=_cards(summary),
        promises=_promises(summary),
        overflow=_overflow(summary),
        plots=_figures(plots),
        policies=_policies(summary),
        bound_note=bound_note,
        checkouts=_checkouts(summary),
        tier_mix=_tier_mix(summary),
        upgrades=_upgrades(summary),
        cltv=_cltv(summary),
        tz_note=_e(f"New York local time ({_tz_name(day)})"),
    )


def write_report(result: SimulationResult, out: Path) -> dict[str, Any]:
    """Write ``report.html``, the plot PNGs and ``summary.json``; return the summary."""
    summary = result.summary()
    plots = _plots(result, summary)
    for name, data in plots.items():
        (out / f"{name}.png").write_bytes(data)
    (out / "report.html").write_text(_page(result, summary, plots), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
