"""The simulation's report: ``report.html`` (plots embedded) and ``summary.json``.

The page is written for an operations manager: it opens with the four
answers they ask for first (dollars saved against the nearest node and
against the hindsight bound, promises kept per tier, what the overflow
incentive moved and what it cost), then the plots (the local time of the
network's main zone, labelled axes, legends outside the data), then the
details: the policies side by side, the checkouts, the upgrades and the CLTV job as tables. The
HTML skeleton is ``report_template.html`` beside this module.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from tierflow.cltv.history import error_format
from tierflow.data.vocabulary import TIERS
from tierflow.data.wording import counted
from tierflow.orchestration.simulation.day import SimulationResult
from tierflow.orchestration.simulation.report_plots import (
    _PLOTS,
    _money,
    _plots,
    _policy_name,
    _tz_name,
    place_name,
)

#: The plots of the report (``NAME.png``), each written when it has data.
PLOTS = tuple(name for name, *_ in _PLOTS)
#: The files :func:`write_report` may write.
REPORT_FILES = ("report.html", "summary.json", *(f"{name}.png" for name in PLOTS))

_TEMPLATE = "report_template.html"
#: The metrics of a CLTV backtest the report shows, with their headings.
_CLTV_METRICS = (
    ("mae", "MAE ($)", "error"),
    ("rmse", "RMSE ($)", "error"),
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
def _f(v: Any, digits: int = 2, suffix: str = "") -> str:
    if v is None:
        return "–"
    return f"{v:,.{digits}f}{suffix}"


def _pct(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{percent_text(v, digits)} %"


def percent_text(v: float, digits: int = 1) -> str:
    """``v`` (a percentage) to ``digits`` decimals, or more where those would
    read as all or none when it is neither: 2,801 promises kept of 2,802
    read "100.0 %" (99.96 %)."""
    while digits < 4 and (
        (v != 0 and round(v, digits) == 0)
        or (abs(v) < 100 and abs(round(v, digits)) == 100)
    ):
        digits += 1
    return f"{v:,.{digits}f}"


def _e(text: Any) -> str:
    return html.escape(str(text))


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
def _figures(plots: dict[str, bytes]) -> str:
    parts = []
    for name, title, caption, _draw in _PLOTS:
        if name not in plots:
            continue
        data = base64.b64encode(plots[name]).decode()
        parts.append(
            f'<figure id="plot-{name}"><div class="plot"><img alt="{_e(title)}" '
            f'src="data:image/png;base64,{data}"></div><figcaption><strong>'
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


def _saved_card(s: dict[str, Any]) -> str:
    """Saved against the nearest node; on a day that cost more than it,
    how much more, as the screen says it (it read "−$106 … (−1.8 % saved)")."""
    # the costs to the cent, as the policies' table: each rounded to the
    # dollar, $4,671 and $4,285 read $386 apart beside a headline of $387
    shipped = (
        f"tierflow ({s['policy']}) shipped the day for {_money(s['cost'], 2)}; "
        f"sending every order to the nearest node with stock costs "
        f"{_money(s['nearest_cost'], 2)}"
    )
    if s["vs_nearest"] < 0:
        pct = s["vs_nearest_pct"]
        share = "" if pct is None else f" ({_pct(abs(pct))})"
        more = _money(-s["vs_nearest"])
        return _card(
            "Cost more than the nearest node",
            more,
            f"{shipped}: tierflow cost {more}{share} more than the nearest node.",
            ident="card-saved",
        )
    return _card(
        "Saved against the nearest node",
        _money(s["vs_nearest"]),
        f"{shipped} ({_pct(s['vs_nearest_pct'])} saved).",
        good=s["vs_nearest"] > 0,
        ident="card-saved",
    )


#: What stopped a hindsight bound's LP before its optimum
#: (``summary.json``'s ``lp_bound_stop["lp"]``), in the reader's words.
_LP_CUT_SHORT = {
    "time_limit": "its LP stopped at the hindsight time limit",
    "wall_clock": "its LP stopped on the clock, past its deterministic budget",
    "lp_iterations": "its LP stopped at its deterministic budget of iterations",
    "error": "its LP stopped on a solver error",
}


def bound_caveat(summary: dict[str, Any]) -> str | None:
    """Why the day's hindsight bound is weak, ``None`` when its LP finished.

    An LP the hindsight time limit cuts short proves only what its last
    duals prove (valid, often far below the optimum: 28,053 or 0 against
    53,383 for the demo day on a loaded machine); the screen and the report
    gave such a bound, and every policy's gap to it, as the day's, with
    nothing but ``summary.json``'s ``lp_bound_stop`` to tell."""
    stops = summary.get("lp_bound_stop") or {}
    stop = stops.get("lp")
    if summary.get("lp_bound") is None or stop in (None, "finished"):
        return None
    why = _LP_CUT_SHORT.get(stop, f"its LP stopped ({stop})")
    return (
        f"{why}, so it is what the LP's last duals prove, below the day's "
        "optimum by an unknown amount (a longer --hindsight-time-limit gives "
        "a tighter one)"
    )


def bound_stop(stops: dict[str, str | None] | None) -> str:
    """What cut a hindsight bound short, for a table: ``lp:<stop>`` when
    its LP stopped before finishing (a weak bound: :func:`bound_caveat`),
    else ``branch_and_bound:<stop>`` when the search that raises it did
    (the LP value, raised only so far), else ``finished``. Either cut leaves
    the bound below what the finished step proves, so every gap to it is
    overstated by an unknown amount: ``bench allocation --days`` gave such
    gaps without a word."""
    stops = stops or {}
    for phase in ("lp", "branch_and_bound"):
        stop = stops.get(phase)
        if stop not in (None, "finished"):
            return f"{phase}:{stop}"
    return "finished"


def missing_bound(summary: dict[str, Any]) -> str | None:
    """Why the day has no hindsight bound (its LP stopped before it proved
    any), ``None`` when it has one or no hindsight plan ran: the screen and
    the report left the bound out without a word."""
    stop = (summary.get("lp_bound_stop") or {}).get("lp")
    if summary.get("lp_bound") is not None or stop in (None, "finished"):
        return None
    why = _LP_CUT_SHORT.get(stop, f"its LP stopped ({stop})")
    return (
        f"{why} before it proved one, so no gap to it is measured (a longer "
        "--hindsight-time-limit gives one)"
    )


def _no_bound_note(summary: dict[str, Any]) -> str:
    """The report's bound note for a day without one (:func:`missing_bound`)."""
    why = missing_bound(summary)
    if why is None:
        return ""
    return f"<p class='note'>Hindsight bound: none. <strong>{_e(why)}.</strong></p>"


def weak_bound_note(summary: dict[str, Any]) -> str:
    """`` (weak: ...)`` after a bound whose LP was cut short
    (:func:`bound_caveat`), "" after any other: as ``simulate``'s screen and
    ``bench allocation``'s summary say it."""
    why = bound_caveat(summary)
    return "" if why is None else f" (weak: {why})"


def _cards(summary: dict[str, Any]) -> str:
    """Saved vs nearest node, above the bound, promises kept, overflow."""
    s, o = summary["savings"], summary["overflow"]
    cards = []
    if s["vs_nearest"] is not None:
        cards.append(_saved_card(s))
    if s["above_bound"] is not None:
        cards.append(
            _card(
                "Left on the table, at most",
                _money(s["above_bound"]),
                f"above the hindsight bound {_money(s['lp_bound'], 2)}, which no "
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
        waiting = sum(p.get("waiting", 0) for p in main["promises_by_tier"].values())
        expected = (
            f" {waiting:,} of them {'waits' if waiting == 1 else 'wait'} a day, "
            "counted as kept since the next day's shipment still arrives by then."
            if waiting
            else ""
        )
        cards.append(
            _card(
                "Promises kept",
                _pct(None if not total else 100.0 * done / total),
                f"orders delivered in full by the promised date: {', '.join(kept)}."
                + expected
                if kept
                else "no order was confirmed today.",
                ident="card-promises",
            )
        )
    cards.append(
        _card(
            "Overflow incentive",
            f"{counted(o['orders_moved'], 'order')} moved",
            f"{_f(o['work_moved'], 0)} units of today's work moved to later days "
            f"({_pct(o['work_moved_pct'])} of the day's), for "
            f"{_money(o['discounts'], 2)} in discounts; the allocation still "
            f"shipped {_f(o['work_shipped_on_the_day'], 0)} of them today, "
            "where capacity allowed.",
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
            else f"{c['kept']:,} of {c['orders']:,} ({_pct(100 * c['kept'] / c['orders'])})"
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
        [
            "Of it, shipped today all the same (capacity allowed)",
            f"{_f(o['work_shipped_on_the_day'], 0)} "
            f"({_pct(o['work_shipped_on_the_day_pct'])})",
        ],
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
                f"{counted(p.get('n_batches', 0), 'batch', 'batches')}, "
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
    return _table(head, rows, caption=_hindsight_caveat(summary))


def _hindsight_caveat(summary: dict[str, Any]) -> str:
    """What the hindsight plan's cost is not, on a day with an outage: it
    plans the day as known in the morning, the outage node up all day (the
    bound is told of the outage; the plan is not held to it)."""
    node = summary.get("outage_node")
    if not node or "hindsight" not in summary["policies"]:
        return ""
    return (
        f"The hindsight plan knows every order in advance but is not held to "
        f"the outage: it may still ship from {node} after it went down, so its "
        "cost is a reference, not an allocation this day allowed. The bound "
        "is computed with the outage in mind."
    )


def _checkouts(s: dict[str, Any]) -> str:
    """The day's checkouts in one paragraph."""
    nothing = s.get("no_options") or 0
    of_them = (
        f": {nothing:,} of them offered no option, the network having no stock "
        "or room for the cart"
        if nothing
        else ""
    )
    return f"""<p>{counted(s["checkouts"], "checkout")}, {s["confirmed"]:,} confirmed
({s["abandoned"]:,} abandoned{of_them}; {s["cancelled"]:,} cancelled); the recommended
option was taken in {_pct(s["recommended_taken_pct"])} of confirmed checkouts;
Platinum was offered {counted(s["platinum_offered"], "time")}. Outage:
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
    were = "was" if u["confirmed"] == 1 else "were"
    return f"""<p>Platinum was offered {counted(u["offered_as_upgrade"], "time")} as
an upgrade at the Gold price (+ premium) and {counted(u["offered_priced"], "time")}
priced (the customer's upgrade allowance spent, or no Gold offer to upgrade
from). {counted(u["confirmed"], "upgrade")} {were} confirmed, for
{counted(u["customers"], "customer")} with a predicted spend of
{_money(u["customers_predicted_spend"], 2)} (mean
{_money(u["customers_predicted_spend_mean"], 2)}); their extra cost over Gold,
the day's upgrade spend, is {_money(u["spend"], 2)} =
{_pct(u["share_of_fulfilment_cost_pct"], 2)} of the day's fulfilment cost
({_money(u["fulfilment_cost"], 2)}, the allocation with bid prices).</p>"""


def _cltv_facts(c: dict[str, Any]) -> str:
    facts: list[tuple[str, str]] = [("Model version", c.get("model_version", "–"))]
    if "as_of" in c:
        facts.append(("Trained on data up to", c["as_of"]))
    if "horizon_days" in c:
        facts.append(("Predicts spend over", counted(c["horizon_days"], "day")))
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
    if c.get("new_customer_spend") is not None:
        facts.append(
            (
                "New-customer prior",
                f"{_money(c['new_customer_spend'], 2)} predicted (a customer "
                "acquired that day)",
            )
        )
    return (
        '<dl class="facts">'
        + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
        + "</dl>"
    )


def _metric(value: Any, form: str, error: str = ",.2f") -> str:
    """``value`` as ``form`` says: a share, an error in the log's unit (in
    ``error``, the spec every model's errors share), or a format string."""
    if value is None:
        return "–"
    if form == "share":
        return _pct(100 * float(value))
    if form == "error":
        return f"{float(value):{error}}"
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
    # errors in the log's unit: a history in 0.0001 of a unit read 0.00
    errors = [
        float(m[k])
        for m in tested["models"].values()
        for k in ("mae", "rmse")
        if m.get(k) is not None
    ]
    error = "," + error_format(*errors)
    rows = [
        [
            _CLTV_MODELS.get(name, name),
            *(_metric(m.get(k), d, error) for k, _h, d in _CLTV_METRICS),
        ]
        for name, m in tested["models"].items()
    ]
    caption = (
        f"Backtest: trained {counted(tested['window_days'], 'day')} before the "
        "as-of date, scored on what those customers spent in the window. "
        "Capture: share of the window's spend by the customers ranked top "
        "10 % / 20 %. Bias: predicted total over actual, minus 1."
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
        f"{counted(summary['checkouts'], 'checkout')} on the network, answered live "
        f"as capacity changed"
        + (
            f" ({_e(summary['outage_node'])} went down)"
            if summary["outage_node"]
            else ""
        )
        + f"; the confirmed orders allocated by tierflow ({_e(s['policy'])}), by "
        "the nearest node with stock, and in hindsight."
    )
    weak = bound_caveat(summary)
    bound_note = (
        f"<p class='note'>Hindsight bound: {_money(summary['lp_bound'], 2)}, "
        "a proven lower bound: the linear relaxation of the whole day solved "
        "at once, raised by branch and bound on its guarantee choices within "
        "the hindsight time limit (the dual bound, never an incumbent)."
        + ("" if weak is None else f" <strong>A weak bound: {_e(weak)}.</strong>")
        + "</p>"
        if summary["lp_bound"] is not None
        else _no_bound_note(summary)
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
        main_policy=_e(s["policy"]),
        tz_note=_e(
            f"{place_name(result.timezone)} local time "
            f"({_tz_name(day, result.timezone)})"
        ),
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
