"""``tierflow state``: upkeep of the state store (``prune``: bound the tables
that grow every day; the rules: ``docs/store.md``, "Pruning old state")."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from tierflow.cli.options import examples, json_option, option, state_option
from tierflow.cli.param_types import Instant
from tierflow.cli.state_location import check_existing_state, open_existing_state
from tierflow.data.errors import InputError
from tierflow.data.limits import now as clock_now


@click.group(
    "state",
    epilog=examples(
        "tierflow state prune --state state.db --keep-days 30 --dry-run",
        "tierflow state prune --state postgresql://tf@/tf?host=/run/pg --keep-days 30",
    ),
)
def state() -> None:
    """The state store's upkeep: prune old rows nothing live needs."""


@state.command(
    "prune",
    epilog=examples(
        "tierflow state prune --state state.db --keep-days 30 --dry-run",
        "tierflow state prune --state state.db --keep-days 30 --json",
    ),
)
@state_option
@option(
    "--keep-days",
    "keep_days",
    required=True,
    metavar="N",
    help="Days kept: older rows go once nothing live needs them (a whole number >= 1).",
)
@option(
    "--now",
    "at",
    type=Instant(),
    default=None,
    help="The instant the days are counted back from (default: the clock).",
)
@option("--dry-run", is_flag=True, help="Print what would be deleted; delete nothing.")
@json_option("Print the rows deleted and kept per table as JSON.")
def prune_command(
    state_path: Path | str | None,
    keep_days: str,
    at: dt.datetime | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete, in one transaction, the rows older than N days that nothing
    live needs: CLTV score days but the newest, capacity events a snapshot
    covers, allocated orders, finished allocation runs but the latest.
    """
    days = _keep_days(keep_days)
    check_existing_state(state_path)  # a typo: no fresh, empty store made
    store = open_existing_state(state_path)
    if store is None:  # the default store, not made yet: nothing to prune
        raise InputError("no state store yet: nothing to prune", field="--state")
    with store:
        when = (at or clock_now()).timestamp()
        report = store.prune_state(days, now=when, dry_run=dry_run)
        where = store.location
    if as_json:
        click.echo(json.dumps({"state": where, "keep_days": days, **report.as_dict()}))
        return
    cutoff = report.as_dict()["cutoff"]
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{where}: rows older than {cutoff} ({days} days) nothing live needs")
    width = max(len(t.table) for t in report.tables)
    click.echo(f"{'table':<{width}}  {verb:>12}  {'kept':>10}")
    for t in report.tables:
        click.echo(f"{t.table:<{width}}  {t.deleted:>12}  {t.kept:>10}")
    if dry_run:
        click.echo("dry run: nothing deleted")


def _keep_days(text: str) -> int:
    """``--keep-days`` as a whole number of days, >= 1."""
    try:
        days = int(text.strip())
    except ValueError:
        raise InputError(
            "not a whole number of days", field="--keep-days", value=text
        ) from None
    if days < 1:
        raise InputError(
            "must be >= 1 (the day's orders, scores and capacity events are live)",
            field="--keep-days",
            value=days,
        )
    return days
