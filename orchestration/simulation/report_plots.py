"""The simulation report's plots (the day's local time, labelled axes,
legends above the data), drawn with matplotlib's Agg backend; the page that
embeds them is :mod:`.report`."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from tierflow.data.delivery_calendar import zone_info
from tierflow.data.vocabulary import TIERS
from tierflow.orchestration.simulation.day import SimulationResult

_BLUE, _GREY, _RED, _GREEN = "#2f5f98", "#9aa3ad", "#c0392b", "#1f7a45"
_FIGSIZE = (8.0, 3.7)


def _money(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "–"
    sign = "−" if v < 0 else ""
    return f"{sign}${abs(v):,.{digits}f}"


def _policy_name(name: str) -> str:
    """How the page names an allocation policy."""
    if name == "nearest":
        return "nearest node with stock"
    if name == "hindsight":
        return "hindsight (sees the whole day)"
    return f"tierflow: {name}"


def _local(at: pd.Series, zone: str) -> pd.Series:
    """ISO instants (UTC) as ``zone``'s local times."""
    return pd.to_datetime(at, utc=True, format="ISO8601").dt.tz_convert(zone)


def _midnight(day: dt.date, zone: str) -> pd.Timestamp:
    """``zone``'s midnight starting ``day`` (an instant)."""
    return pd.Timestamp(dt.datetime.combine(day, dt.time(0)), tz=zone)


def place_name(zone: str) -> str:
    """``New York`` for ``America/New_York``: how the page names a zone."""
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def _hours(at: pd.Series, day: dt.date, zone: str) -> pd.Series:
    """Where instants sit on an hour axis: hours elapsed since ``zone``'s
    midnight starting ``day`` (24 and up: the next day, where the day's last
    checkouts in the west fall). Elapsed, not clock hours: a day with a
    clock change has 23 or 25 of them, each once (the repeated 01:00 hour is
    1 and 2); :func:`_hour_axis` labels them with the clock's time."""
    return (_local(at, zone) - _midnight(day, zone)).dt.total_seconds() / 3600.0


def _hour_ticks(
    first: float, last: float, day: dt.date, step: int, zone: str
) -> tuple[list[int], list[str]]:
    """Ticks at ``zone``'s clock hours divisible by ``step`` (00:00, 03:00,
    ...) from the one at or before elapsed hour ``first`` to the one at or
    after ``last``: each at its elapsed hour, labelled with its clock time
    (``+1 day`` on the next day; a clock time the day has twice also gets
    its zone: ``01:00 EDT``, ``01:00 EST``)."""
    midnight = _midnight(day, zone).tz_convert("UTC")
    info = zone_info(zone)

    def clock(e: int) -> dt.datetime | None:
        local = (midnight + pd.Timedelta(hours=e)).to_pydatetime().astimezone(info)
        return local if local.minute == 0 and local.hour % step == 0 else None

    lo, hi = int(np.floor(first)), int(np.ceil(last))
    while clock(lo) is None and lo > first - 2 * step:
        lo -= 1
    while clock(hi) is None and hi < last + 2 * step:
        hi += 1
    times = {e: t for e in range(lo, hi + 1) if (t := clock(e)) is not None}
    seen: dict[tuple[dt.date, int], int] = {}
    for t in times.values():
        seen[t.date(), t.hour] = seen.get((t.date(), t.hour), 0) + 1
    labels = []
    for t in times.values():
        text = f"{t:%H:%M}"
        if seen[t.date(), t.hour] > 1:
            text += f" {t.tzname()}"
        if t.date() > day:
            text += "\n+1 day"
        labels.append(text)
    return list(times), labels


def _hour_axis(ax: Any, hours: pd.Series, day: dt.date, step: int, zone: str) -> None:
    """Ticks every ``step`` hours of ``zone``'s clock as clock times, at
    the elapsed hours ``hours`` are placed by (:func:`_hours`), and the axis
    label with the zone's name."""
    first, last = (hours.min(), hours.max()) if len(hours) else (0.0, 24.0)
    ticks, labels = _hour_ticks(first, last, day, step, zone)
    ax.set_xticks(ticks, labels, fontsize=8.5)
    ax.set_xlim(ticks[0] - step * 0.1, ticks[-1] + step * 0.1)
    ax.set_xlabel(f"time of day, {place_name(zone)} ({_tz_name(day, zone)})")


def _tz_name(day: dt.date, zone: str) -> str:
    """``EST`` or ``EDT``: ``zone``'s abbreviation on ``day``; ``EDT → EST``
    (or ``EST → EDT``) on the day its clocks change."""
    info = zone_info(zone)
    start = dt.datetime.combine(day, dt.time(0), tzinfo=info).tzname() or zone
    end = dt.datetime.combine(day, dt.time(23), tzinfo=info).tzname() or zone
    return start if start == end else f"{start} → {end}"


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
    """The day's cost per policy, against the hindsight bound."""
    # the page's function (it imports this module): a gap of 0.03 % read
    # "+0.0 % over bound" here beside the policies' table's 0.03 %
    from tierflow.orchestration.simulation.report import percent_text

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
        over = "" if gap is None else f"\n+{percent_text(gap)} % over bound"
        text = _money(costs[i]) + over
        ax.text(i, costs[i] + top * 0.02, text, ha="center", va="bottom", fontsize=9)
    if result.lp_bound is not None and result.lp_bound > 0:  # $0 or less: no line
        ax.axhline(
            result.lp_bound,
            color=_RED,
            ls="--",
            lw=1.2,
            label=f"hindsight bound {_money(result.lp_bound)}: "
            "no allocation of these orders costs less",
        )
        _legend_above(ax, 1)
    labels = [_policy_name(n).replace(": ", ":\n").replace(" (", "\n(") for n in names]
    ax.set_xticks(range(len(names)), labels, fontsize=9)
    ax.set_ylim(0, (top if top > 0 else 1.0) * 1.28)  # a day without orders: $0
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
    centers = np.arange(len(TIERS)) + width * (len(pol) - 1) / 2
    ax.set_xticks(centers, [t.title() for t in TIERS])
    for center, tier in zip(centers, TIERS, strict=True):
        if all(p["service_level_by_tier"].get(tier) is None for p in pol.values()):
            # an empty group read as 0 % kept
            ax.text(center, 2, "no orders", ha="center", va="bottom", fontsize=9)
    ax.set_xlabel("tier chosen at checkout")
    ax.set_ylabel("delivered by the promise (%)")
    ax.set_ylim(0, 105)
    _legend_above(ax, min(len(pol), 3))


def _capacity_plot(ax: Any, result: SimulationResult, summary: dict[str, Any]) -> None:
    """The nodes' capacity scores over the day, the day's local time."""
    day = result.settings.day
    scores = result.scores
    at = _hours(scores["at"], day, result.timezone)
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
    _hour_axis(ax, at, day, 3, result.timezone)
    ax.set_ylabel("capacity score (free / nominal)")
    ax.set_ylim(-0.02, 1.02)
    _legend_above(ax, 4)


def _overflow_plot(ax: Any, result: SimulationResult, summary: dict[str, Any]) -> None:
    """Overflow options offered and taken, per hour of the day's clock."""
    from matplotlib.ticker import MaxNLocator

    c = result.checkouts
    day = result.settings.day
    hour = np.floor(_hours(c["at"], day, result.timezone)).astype(int)
    span = np.arange(int(hour.min()), int(hour.max()) + 1)
    offered = c.groupby(hour)["overflow_offered"].sum().reindex(span, fill_value=0)
    taken = c.groupby(hour)["overflow_taken"].sum().reindex(span, fill_value=0)
    ax.bar(span + 0.3, offered.to_numpy(), 0.4, label="offered", color=_GREY)
    ax.bar(span + 0.7, taken.to_numpy(), 0.4, label="taken", color=_GREEN)
    _hour_axis(ax, pd.Series(np.append(span, span[-1] + 1)), day, 2, result.timezone)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # no 0.2 checkouts
    ax.set_ylabel("checkouts in the hour")
    _legend_above(ax, 2)


_Plot = Callable[[Any, SimulationResult, dict[str, Any]], None]

#: name, title, caption, drawing.
_PLOTS: tuple[tuple[str, str, str, _Plot], ...] = (
    (
        "cost",
        "What the day's orders cost to ship",
        "What each allocation policy's plan of the confirmed orders costs: "
        "shipping, handling, lateness and extra shipments, and for the orders "
        "it leaves to wait a day their next day's shipment and the deferral "
        "penalty; the dashed line is the hindsight bound (none when the bound "
        "proves nothing above $0).",
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
