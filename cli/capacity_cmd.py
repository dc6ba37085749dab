"""``tierflow capacity``: ingest events, forecast volume, show the capacity map."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tierflow.cli.network_cmd import open_network
from tierflow.cli.option_values import SERVICES
from tierflow.cli.options import (
    examples,
    json_option,
    network_option,
    option,
    orders_file_option,
    state_option,
)
from tierflow.cli.param_types import FiniteFloatRange, Instant, OutputPath, WholeRange
from tierflow.cli.state_location import (
    check_existing_state,
    open_existing_state,
    open_state,
)
from tierflow.data.errors import InputError
from tierflow.data.limits import EVENT_WINDOW, LIVE_EVENT_LEAD, MAX_UNITS, now
from tierflow.data.stop_signals import held_stop_signals, held_write_stop
from tierflow.data.wording import counted

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from numpy.typing import NDArray

    from tierflow.capacity.events import CapacityEvent
    from tierflow.capacity.feed import FeedTotals
    from tierflow.capacity.forecast import NodeHourHistory
    from tierflow.capacity.monitor import CapacityMonitor, IngestResult
    from tierflow.data.network import Network
    from tierflow.data.orders import Orders
    from tierflow.data.store import StoreUnavailable

_log = logging.getLogger("tierflow.cli.capacity")


@click.group(
    "capacity",
    epilog=examples(
        "tierflow capacity ingest --events events.jsonl",
        "tierflow capacity forecast --orders history.csv",
        "tierflow capacity show --json --png capacity.png",
    ),
)
def capacity() -> None:
    """The capacity monitor: events in, capacity scores out."""


@capacity.command(
    "ingest",
    epilog=examples(
        "tierflow capacity ingest --events events.jsonl --state state.db",
        "tail -f events.jsonl | tierflow capacity ingest --events - --follow",
    ),
)
@network_option
@state_option
@option(
    "--events",
    "events_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
    help="JSON-lines file of events ('-' for stdin).",
)
@option(
    "--follow",
    is_flag=True,
    help="Apply the events as the lines arrive, until the stream ends (a bad "
    "line is reported on stderr and skipped; the exit code is then 1).",
)
@json_option(
    "Print applied, duplicates, last_seq and stale (with --follow also bad "
    "and batches) as JSON."
)
def ingest_command(
    network_dir: Path | None,
    state_path: Path | None,
    events_path: Path,
    follow: bool,
    as_json: bool,
) -> None:
    """Validate every event, then log and apply them (each id at most once).

    With --follow, a live feed: each small batch of lines is applied as it
    arrives, in its own transaction.
    """
    from tierflow.capacity.events import event_bytes_before_bad
    from tierflow.capacity.monitor import CapacityMonitor

    net = open_network(network_dir)
    if follow:
        _follow(net, state_path, events_path, as_json=as_json)
        return
    source = "<stdin>" if str(events_path) == "-" else events_path.name
    # live events: dated at most a few minutes past this clock
    data = (
        sys.stdin.buffer.read() if str(events_path) == "-" else events_path.read_bytes()
    )
    events, bad = event_bytes_before_bad(data, net, file=source, received=now())
    if bad is not None:
        _first_bad_row(net, state_path, events, bad, source)
    if not events and str(events_path) != "-":
        # as every reader's empty file: a wrong or truncated export
        raise InputError("file is empty", file=source)
    # a stop signal after the commit: the summary, then the stop (the events
    # were stored, but said "interrupted" alone)
    with held_write_stop():
        with open_state(state_path) as store:
            mon = CapacityMonitor.open(net, store)
            mon.check_event_ids(events, file=source)
            result = mon.ingest(events, file=source)
            if result.applied:  # nothing new: no snapshot (see _follow)
                mon.snapshot()
        if as_json:
            record = {"applied": result.applied, "duplicates": result.duplicates}
            record |= {"last_seq": result.last_seq, "stale": result.stale}
            click.echo(json.dumps(record))
            return
        click.echo(
            f"{counted(result.applied, 'event')} applied{_stale(result.stale)}, "
            f"{counted(result.duplicates, 'duplicate')} ignored "
            f"(log at seq {result.last_seq})"
        )


def _first_bad_row(
    net: Network,
    state_path: Path | None,
    events: Sequence[CapacityEvent],
    bad: InputError,
    source: str,
) -> None:
    """Raise the events file's first bad row: an event of the rows before
    ``bad`` (the file's own first bad row) reusing a logged event's id with
    other content, else ``bad``. The store is read, never made nor
    migrated, and only when there is one: a new or empty store has logged
    nothing to clash with (the clash was found only after a whole good
    file, so row 90,000 malformed hid row 5's)."""
    from tierflow.capacity.monitor import CapacityMonitor
    from tierflow.data.store import SchemaTooOld

    try:
        exists = check_existing_state(state_path)
    except click.ClickException:  # a store to be made: nothing logged
        exists = False
    if events and exists:
        try:
            store = open_state(state_path, migrate=False, make=False)
        except SchemaTooOld:  # empty, or to be migrated by a good file's ingest
            raise bad from None
        with store:
            # the ids in chunks, one query each (CapacityLog.logged_events)
            CapacityMonitor(net, store).check_event_ids(events, file=source)
    raise bad


def _stale(n: int) -> str:
    """What the summary says of the applied events that changed nothing."""
    if not n:
        return ""
    return f" ({n} older than what was known of their kind: changed nothing)"


#: How long ``ingest --follow`` waits without a byte of a PostgreSQL
#: server's answer before it probes the server (0.5 s more): a hung server
#: (SIGSTOP, a frozen host) ends the feed as a server gone does (one line
#: naming the store, exit 1, for its supervisor to restart it), where the
#: feed waited until it resumed, its lines piling up unapplied. A live
#: server is waited for on (a lock wait, a long write): as ``serve``'s
#: ``STORE_ANSWER_S``.
FEED_ANSWER_S = 2.0


#: A Ctrl-C or SIGTERM this long after one held while a batch is applied
#: stops the feed at once: a batch takes milliseconds unless it waits on
#: another session's lock (a PostgreSQL session idle in a transaction held
#: the feed, Ctrl-C after Ctrl-C, for as long as it kept the lock).
INSIST_S = 1.0


def _follow(
    net: Network, state_path: Path | None, events_path: Path, *, as_json: bool
) -> None:
    """``ingest --follow``: the feed's events, batch by batch, until it ends
    (or the store is lost: then what was applied so far, and the error)."""
    from tierflow.capacity.feed import (
        FeedTotals,
        LongLine,
        follow_events,
        pipe_lines,
    )
    from tierflow.capacity.monitor import CapacityMonitor
    from tierflow.data.store import (
        StoreUnavailable,
        default_state_location,
        describe_location,
    )

    def bad(exc: InputError) -> None:
        # a warning record, as every command's (raw stderr text until
        # 2026-12-06: --log-format json could not read it)
        _log.warning("skipped: %s", exc)

    totals = FeedTotals()
    lost: StoreUnavailable | None = None
    with contextlib.ExitStack() as stack:
        # bytes: a line that is not UTF-8 is skipped; one over
        # MAX_EVENT_LINE_BYTES too, only its length kept
        if str(events_path) == "-":
            lines: Iterable[bytes | LongLine] = pipe_lines(sys.stdin.buffer)
            name = "<stdin>"
        else:
            lines = pipe_lines(stack.enter_context(events_path.open("rb")))
            name = events_path.name
        store = stack.enter_context(open_state(state_path, answer_wait_s=FEED_ANSWER_S))
        mon = CapacityMonitor.open(net, store)
        where = describe_location(state_path or default_state_location())
        apply = _batch_applier(mon, name, where)

        shield = stack.enter_context(_held_stop())
        try:
            follow_events(
                lines, net, apply, file=name, on_bad=bad, totals=totals, shield=shield
            )
            # only after news: a feed run with the wrong --network (every line
            # an unknown node) saved the map of that network's nodes, and every
            # process of the store's own network warned of them at each open
            if totals.applied:
                _say_reloaded(where, mon.reload_if_remade())
                mon.snapshot()
        except StoreUnavailable as exc:
            lost = exc
        except KeyboardInterrupt:
            # Ctrl-C: what the feed applied, then "tierflow: interrupted"
            # (exit 130); it printed no summary, and the usual way to end a
            # `tail -f | ... --follow` is Ctrl-C
            _print_totals(totals, mon.last_seq, as_json=as_json)
            raise
    _print_totals(totals, mon.last_seq, as_json=as_json)
    if lost is not None:
        why = "; ".join(
            part.strip() for part in lost.reason.splitlines() if part.strip()
        )
        raise StoreUnavailable(f"state store {where} failed, feed stopped: {why}")
    if totals.bad:  # the feed went on, but a supervisor must see the bad lines
        raise click.exceptions.Exit(1)


def _batch_applier(
    mon: CapacityMonitor, file: str, where: str
) -> Callable[[Sequence[CapacityEvent]], IngestResult]:
    """How the feed logs and applies one batch of ``file``'s events into
    the store at ``where``: into the map of the store as it is, reloaded
    first if it was restored under the feed (as a server's follower
    reloads it), and said."""

    def apply(events: Sequence[CapacityEvent]) -> IngestResult:
        _say_reloaded(where, mon.reload_if_remade())
        held, rebuilds = mon.last_seq, mon.rebuilds
        mon.check_event_ids(events, file=file)
        result = mon.ingest(events)
        if mon.rebuilds != rebuilds:  # restored between the check and the log
            _say_reloaded(where, (result.last_seq, held))
        return result

    return apply


def _say_reloaded(where: str, reloaded: tuple[int, int] | None) -> None:
    """One line on stderr when the feed reloaded its map from a store
    restored under it (``(the log's seq now, the seq the map held)``;
    None: not restored), as a server says it."""
    if reloaded is not None:
        _log.warning(
            "state store %s restored under this feed (capacity log at seq %d, "
            "was %d): capacity map reloaded from it",
            where,
            *reloaded,
        )


@contextlib.contextmanager
def _held_stop() -> Iterator[Any]:
    """While the feed runs, a context manager (the feed's ``shield``) that
    holds a Ctrl-C or SIGTERM until the batch in it is applied and counted,
    then stops the feed with it (``KeyboardInterrupt``); outside a batch it
    stops the feed at once. Another one :data:`INSIST_S` or more after it
    stops a batch still waiting on the store (another session's lock: the
    batch, one transaction, is not stored); a second one cannot cut the
    summary short. A signal the parent ignores stays ignored."""
    with held_stop_signals() as held:
        if not held.handlers:  # another thread, ignored (nohup), OS default
            yield contextlib.nullcontext
            return
        held.holding = False
        held.then_ignore = True
        held.insist_s = INSIST_S

        @contextlib.contextmanager
        def shield() -> Iterator[None]:
            held.holding = True
            try:
                yield
            finally:
                held.holding = False
            held.deliver()

        yield shield


def _print_totals(totals: FeedTotals, last_seq: int, *, as_json: bool) -> None:
    """The feed's summary line (or JSON object) on stdout."""
    if as_json:
        click.echo(json.dumps({
            "applied": totals.applied, "duplicates": totals.duplicates,
            "last_seq": last_seq, "bad": totals.bad, "batches": totals.batches,
            "stale": totals.stale,
        }))  # fmt: skip
        return
    click.echo(
        f"{counted(totals.applied, 'event')} applied{_stale(totals.stale)}, "
        f"{counted(totals.duplicates, 'duplicate')} ignored, "
        f"{counted(totals.bad, 'bad line')} skipped, in "
        f"{counted(totals.batches, 'batch', 'batches')} "
        f"(log at seq {last_seq})"
    )


@capacity.command(
    "forecast",
    epilog=examples(
        "tierflow capacity forecast --orders history.csv --state state.db",
        "tierflow capacity forecast --orders history.csv --at 2026-01-19T17:00:00Z "
        "--no-ingest --json",
    ),
)
@network_option
@state_option
@orders_file_option("Order history (orders.csv).")
@option(
    "--at",
    "at",
    type=Instant(EVENT_WINDOW),  # stored as capacity events
    default=None,
    help="Instant to forecast the rest of the day from (ISO 8601 with an "
    "offset, at most a day before the end of the fitted history; default: the "
    "last order's time).",
)
@option(
    "--holdout-hours",
    type=WholeRange(1, 24 * 366),
    default=24,
    show_default=True,
    help="Last hours of the history held out to check the forecasts on.",
)
@option("--no-ingest", is_flag=True, help="Only report; do not store forecasts.")
@json_option("Print the holdout errors and the forecast as JSON.")
def forecast_command(
    network_dir: Path | None,
    state_path: Path | None,
    orders_path: Path,
    at: dt.datetime | None,
    holdout_hours: int,
    no_ingest: bool,
    as_json: bool,
) -> None:
    """Fit per node-hour forecasts, check them on a holdout, store rest-of-day volume."""
    from tierflow.capacity.events import CapacityEvent
    from tierflow.capacity.forecast import SmoothedProfileForecaster, rest_of_day
    from tierflow.capacity.monitor import CapacityMonitor

    net = open_network(network_dir)
    orders, history, report = _history(orders_path, net, holdout_hours)
    at = _forecast_at(orders, at, stored=not no_ingest)
    model = SmoothedProfileForecaster().fit(history)
    rest = rest_of_day(model, net, at)
    stamp = at.astimezone(dt.UTC).isoformat()
    report["at"] = stamp
    report["forecast_rest_of_day"] = {
        node: round(float(v), 3) for node, v in zip(net.node_ids, rest, strict=True)
    }
    if not no_ingest:
        events = [
            CapacityEvent(
                forecast_event_id(node, stamp, float(v)),
                at.timestamp(),
                i,
                "forecast",
                float(v),
            )
            for i, (node, v) in enumerate(zip(net.node_ids, rest, strict=True))
        ]
        with open_state(state_path) as store:
            mon = CapacityMonitor.open(net, store)
            stored = mon.ingest(events)
            if stored.applied:  # the same forecast again: nothing to snapshot
                mon.snapshot()
        # a node's forecast older than one it has changes nothing: said
        report["stale"] = stored.stale
        report["already_stored"] = stored.duplicates
    if as_json:
        click.echo(json.dumps(report))
        return
    n, e = report["seasonal_naive"], report["exp_smoothing"]
    click.echo(f"holdout: last {holdout_hours} h, {report['node_hours']} node-hours")
    click.echo(f"  seasonal naive   MAE {n['mae']:.3f}  WAPE {n['wape']:.3f}")
    click.echo(f"  exp. smoothing   MAE {e['mae']:.3f}  WAPE {e['wape']:.3f}")
    ratio = report["ratio_mae"]
    click.echo(
        "  MAE ratio (smoothing / naive) "
        + ("n/a (the naive MAE is 0)" if ratio is None else f"{ratio:.3f}")
    )
    click.echo(f"rest-of-day forecast at {stamp}: {rest.sum():,.0f} weighted units")
    if not no_ingest:
        stale = report["stale"]
        click.echo(
            (
                "already stored (the same forecast at the same instant): "
                "nothing written"
                if report["already_stored"] == net.n_nodes
                else "stored as forecast events"
            )
            + (
                f"; {stale} of the {counted(net.n_nodes, 'node')} "
                f"{'has' if stale == 1 else 'have'} a newer forecast, "
                f"which stays (the forecast is at {stamp}: see --at)"
                if stale
                else ""
            )
        )


@capacity.command(
    "forget",
    epilog=examples(
        "tierflow capacity forget WH-NYC --network net/ --state state.db",
    ),
)
@network_option
@state_option
@click.argument("node_ids", metavar="NODE...", nargs=-1, required=True)
@json_option("Print the nodes forgotten and the snapshot's last_seq as JSON.")
def forget_command(
    network_dir: Path | None,
    state_path: Path | None,
    node_ids: tuple[str, ...],
    as_json: bool,
) -> None:
    """Drop nodes the network does not have from the store's capacity map.

    Their state (a snapshot's entries and the events of theirs logged since)
    is otherwise kept for the network that has them, and every open warns
    of them. Only once no server of the store serves a network with them.
    """
    check_existing_state(state_path)  # a typo: no fresh, empty store made
    from tierflow.capacity.monitor import CapacityMonitor

    net = open_network(network_dir)
    store = open_existing_state(state_path)
    if store is None:  # the default store, not made yet: no map to forget in
        raise InputError("no state store yet: no capacity map", field="--state")
    with store:
        mon = CapacityMonitor.open(net, store)
        gone = mon.forget_nodes(node_ids)
        mon.snapshot()
    if as_json:
        click.echo(json.dumps({"forgotten": gone, "last_seq": mon.last_seq}))
        return
    click.echo(
        f"forgot {counted(len(gone), 'node')} of the capacity map: {', '.join(gone)} "
        f"(snapshot at seq {mon.last_seq})"
    )


@capacity.command(
    "show",
    epilog=examples(
        "tierflow capacity show --state state.db",
        "tierflow capacity show --workload 12 --service next_day --json",
        "tierflow capacity show --now 2026-01-19T14:00:00Z --state state.db",
    ),
)
@network_option
@state_option
@json_option("Scores and inputs as JSON.")
@option(
    "--png",
    "png_path",
    type=OutputPath(dir_okay=False, path_type=Path),
    default=None,
    callback=lambda _ctx, _param, value: _png_name(value),
    help="Also draw the nodes on a US map coloured by score (a .png file).",
)
@option(
    "--workload",
    type=FiniteFloatRange(0.0, MAX_UNITS),
    default=0.0,
    show_default=True,
    help="Score for an order of this many weighted units.",
)
@option(
    "--service",
    type=click.Choice(list(SERVICES)),
    default=None,
    help="Score for an order shipped by this service (lane congestion).",
)
@option(
    "--now",
    "at",
    type=Instant(),
    default=None,
    help="Show the map as it stood at this instant, ISO 8601 with offset: the "
    "events dated up to it, forecasts judged at it (default: now).",
)
def show_command(
    network_dir: Path | None,
    state_path: Path | None,
    as_json: bool,
    png_path: Path | None,
    workload: float,
    service: str | None,
    at: dt.datetime | None,
) -> None:
    """Capacity score per node, with the inputs behind it."""
    clock = now()
    if at is not None and at > clock:
        # the events of an instant to come are not logged yet: the map shown
        # would be today's under tomorrow's date
        raise InputError(
            f"after the clock ({clock.isoformat()}): the map of an instant to "
            "come is not known",
            field="--now",
            value=at.isoformat(),
        )
    check_existing_state(state_path)  # a typo's error before a second of imports
    from tierflow.capacity.monitor import CapacityMonitor, OrderProfile
    from tierflow.data.rates import service_index

    net = open_network(network_dir)
    store = open_existing_state(state_path, migrate=False)  # a reader
    if store is None:  # the default store, not made yet: nominal capacity
        mon = CapacityMonitor(net)
    else:
        with store:
            if at is None:
                mon = CapacityMonitor.open(net, store)
            else:
                try:
                    mon = CapacityMonitor.open_at(net, store, at)
                except InputError as exc:  # named as the flag
                    raise InputError(
                        exc.reason, field="--now", value=exc.value
                    ) from None
    profile = OrderProfile(
        workload,
        -1 if service is None else service_index(service),
    )
    table = mon.table(profile)
    judged = clock if at is None else at
    past = _past_day_forecasts(mon, judged)
    if png_path is not None:
        _plot_map(net, mon, table, png_path)
    if as_json:
        click.echo(json.dumps(_map_json(mon, table, workload, service, past, judged)))
        return
    click.echo(_map_text(mon, table, at))
    if past.any():
        click.echo(_past_day_note(mon, past, then=at is not None))
    if png_path is not None:
        click.echo(f"map written to {png_path}")


def _plot_map(
    net: Network, mon: CapacityMonitor, table: pd.DataFrame, png_path: Path
) -> None:
    from tierflow.capacity.plot import plot_capacity_map

    as_of = mon.as_of()
    title = (
        f"Capacity score by node (as of {as_of:%Y-%m-%d %H:%M} UTC)"
        if as_of
        else "Capacity score by node"
    )
    plot_capacity_map(net, table["score"].to_numpy(), png_path, title=title)


def _past_day_forecasts(mon: CapacityMonitor, now: dt.datetime) -> NDArray[np.bool_]:
    """Per node, whether its logged ``forecast`` event is of a day before the
    node's local day at ``now`` (the clock): the map lists it, as the log
    leaves it, but a server reading the store now lets it stand no more."""
    import numpy as np

    from tierflow.orchestration.checkout.day_forecast import forecast_of_today

    _, stamps = mon.forecast_events()
    past: NDArray[np.bool_] = np.isfinite(stamps) & ~forecast_of_today(
        mon.network, stamps, now
    )
    return past


def _past_day_note(
    mon: CapacityMonitor, past: NDArray[np.bool_], *, then: bool = False
) -> str:
    """The text's line under the map when some forecast is of a past day
    (``then``: judged at ``--now``, not the clock)."""
    _, stamps = mon.forecast_events()
    newest = dt.datetime.fromtimestamp(float(stamps[past].max()), dt.UTC)
    server = "at --now a server counted" if then else "a server now counts"
    return (
        f"forecast of {counted(int(past.sum()), 'node')} is of a past local day (the "
        f"newest at {newest.isoformat()}): listed as the log leaves it, but "
        f"{server} its own estimate there (GET /v1/capacity)"
    )


def _map_json(
    mon: CapacityMonitor,
    table: pd.DataFrame,
    workload: float,
    service: str | None,
    past: NDArray[np.bool_],
    judged: dt.datetime,
) -> dict[str, Any]:
    """``capacity show --json``: the scores and their inputs per node, and
    the instant the forecasts were judged at (``now``: ``--now`` or the
    clock)."""
    _, stamps = mon.forecast_events()
    changed = _changed_at(mon)
    changed_by = _changed_by(mon)
    lanes = mon.lane_rooms()
    nodes = [
        {
            "node_id": row.node_id,
            "kind": row.kind,
            "score": round(float(row.score), 6),
            "nominal_capacity": float(row.nominal_capacity),
            "staffing_pct": round(float(row.staffing_pct), 3),
            "backlog": float(row.backlog),
            "forecast_rest_of_day": float(row.forecast_rest_of_day),
            "forecast_at": _instant(float(stamps[i])),
            "forecast_past_day": bool(past[i]),
            "free_capacity": _rounded(row.free_capacity, 3),
            "outage": bool(row.outage),
            "congestion": mon.congestion_by_service(i),
            "lanes": lanes[i],
            "changed_at": changed[i],
            "changed_by": changed_by[i],
        }
        for i, row in enumerate(table.itertuples(index=False))
    ]
    as_of = mon.as_of()
    return {
        "as_of": as_of.isoformat() if as_of else None,
        "last_seq": mon.last_seq,
        "workload": workload,
        "service": service,
        "now": judged.astimezone(dt.UTC).isoformat(),
        "nodes": nodes,
    }


def _instant(stamp: float) -> str | None:
    """Epoch seconds as ISO 8601 UTC; None for no stamp (``-inf``)."""
    if not math.isfinite(stamp):
        return None
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat()


def _map_text(
    mon: CapacityMonitor, table: pd.DataFrame, at: dt.datetime | None = None
) -> str:
    """The capacity map as a table, one node a line (``at``: the map of the
    log up to that instant, ``--now``, which the header names)."""
    as_of = mon.as_of()
    upto = (
        ""
        if at is None
        else f" (the log up to --now {at.astimezone(dt.UTC).isoformat()})"
    )
    lines = [
        f"capacity as of {as_of.isoformat() if as_of else '(no events)'}{upto}",
        f"{'node':<9} {'kind':<9} {'score':>6} {'nominal':>8} {'staff%':>7} "
        f"{'backlog':>8} {'forecast':>9} {'free':>9} {'out':>4} {'cong':>5}  "
        "changed (UTC)",
    ]
    changed = _changed_at(mon)
    changed_by = _changed_by(mon)
    for i, row in enumerate(table.itertuples(index=False)):
        lines.append(
            f"{row.node_id:<9} {row.kind:<9} {row.score:>6.3f} {row.nominal_capacity:>8.0f} "
            f"{row.staffing_pct:>7.1f} {row.backlog:>8.0f} {row.forecast_rest_of_day:>9.0f} "
            f"{_rounded(row.free_capacity, 0):>9.0f} {'yes' if row.outage else '':>4} "
            f"{row.max_congestion:>5.2f}  {_last_change(changed[i], changed_by[i])}"
        )
    return "\n".join(lines)


def _changed_at(mon: CapacityMonitor) -> list[dict[str, str | None]]:
    """Per node, when its nominal capacity, staffing and outage were last
    set (``GET /v1/capacity``'s ``changed_at``): ISO 8601 UTC, None where
    no event set them."""
    from tierflow.capacity.monitor import CHANGED_KINDS, stamp_instant

    set_at = mon.set_at(CHANGED_KINDS)
    return [
        {k: stamp_instant(float(set_at[k][i])) for k in CHANGED_KINDS}
        for i in range(mon.network.n_nodes)
    ]


def _changed_by(mon: CapacityMonitor) -> list[dict[str, str | None]]:
    """Per node, the ``event_id`` of the event that last set its nominal
    capacity, staffing and outage (``GET /v1/capacity``'s ``changed_by``),
    None where no event did (or its id is unknown: a snapshot of before the
    ids were kept)."""
    from tierflow.capacity.monitor import CHANGED_KINDS

    set_by = mon.set_by(CHANGED_KINDS)
    return [
        {k: set_by[k][i] for k in CHANGED_KINDS} for i in range(mon.network.n_nodes)
    ]


def _last_change(
    changed: dict[str, str | None], changed_by: dict[str, str | None]
) -> str:
    """The text's ``changed`` column: the latest of ``changed`` with its
    kind(s) and the event(s) that set it (``2026-01-05 15:00:00 outage by
    o1``; ``by`` left out where no id is known), ``-`` when none was set."""
    stamps = [at for at in changed.values() if at is not None]
    latest = max(stamps, key=dt.datetime.fromisoformat, default=None)
    if latest is None:
        return "-"
    kinds = [k for k, at in changed.items() if at == latest]
    ids = [changed_by[k] for k in kinds]
    by = "" if None in ids else f" by {','.join(str(i) for i in ids)}"
    return (
        f"{dt.datetime.fromisoformat(latest):%Y-%m-%d %H:%M:%S} {','.join(kinds)}{by}"
    )


def _rounded(value: float, digits: int) -> float:
    """``value`` to ``digits`` decimals, a zero always 0: free room a hair
    below zero (capacity minus a load summed in floats, 0.3 - (0.1 + 0.2),
    or an overshoot under half a unit) was shown as "-0" and "-0.0"."""
    return round(float(value), digits) + 0.0


def _png_name(path: Path | None) -> Path | None:
    """The map's file must be a .png (another extension reached matplotlib,
    which refused it with a traceback after the work was done)."""
    if path is not None and path.suffix.lower() != ".png":
        raise click.BadParameter(
            f"{path}: the map is drawn as PNG: name a .png file", param_hint="--png"
        )
    return path


def _history(
    orders_path: Path, net: Network, holdout_hours: int
) -> tuple[Orders, NodeHourHistory, dict[str, Any]]:
    """The orders, their node-hour volume and its holdout errors (a
    ``ratio_mae`` of None when the naive MAE is 0: NaN is no JSON); what the
    orders cannot give (less than a day of them) is said of their file."""
    from tierflow.capacity.forecast import holdout_errors, node_hour_volume
    from tierflow.data.orders import read_history

    orders = read_history(orders_path, net)
    try:
        history = node_hour_volume(orders, net)
        report = holdout_errors(history, holdout_hours)
    except InputError as exc:
        if exc.file is not None or exc.field not in ("orders", "history"):
            raise
        raise InputError(exc.reason, file=orders_path.name) from None
    if not math.isfinite(report["ratio_mae"]):  # the naive forecast was exact
        report["ratio_mae"] = None
    return orders, history, report


def _forecast_at(
    orders: Orders, at: dt.datetime | None, *, stored: bool
) -> dt.datetime:
    """The instant to forecast from: ``at``, by default the last order's
    time. A forecast ``stored`` is capacity events: dated at most a few
    minutes past the clock, and the default in the event window a given
    ``--at`` is held to (a history of 2016 stored its forecast there)."""
    from tierflow.capacity.events import ahead_of_clock

    keep = "; --no-ingest shows it without storing it"
    # a refusal of the default says so: the command was given no --at
    default = "the last order's time (the default): " if at is None else ""
    if at is None:
        last = orders.created_at.max().astype("datetime64[s]").astype(dt.datetime)
        at = last.replace(tzinfo=dt.UTC)
        if stored and not EVENT_WINDOW.contains(at.timestamp()):
            why = f"{default}{EVENT_WINDOW.describe()}"
            raise InputError(
                why + " of a capacity event" + keep, field="--at", value=at.isoformat()
            )
    clock = now()
    if stored and at > clock + LIVE_EVENT_LEAD:
        # stored, it would stand over every forecast of its nodes until then
        why = default + ahead_of_clock(clock) + keep
        raise InputError(why, field="--at", value=at.isoformat())
    return at


def forecast_event_id(node: str, stamp: str, value: float) -> str:
    """A stored forecast's event id: the node, the instant and a digest of
    the value, so the same forecast stored again is a duplicate and one
    from a corrected history is a new event at the same instant (the later
    stands). Without the value, storing a corrected history's forecast was
    refused as an id reused with other content."""
    digest = hashlib.sha256(repr(value).encode()).hexdigest()[:12]
    return f"forecast:{node}:{stamp}:{digest}"
