"""``tierflow state``: upkeep of the state store (``prune``: bound the tables
that grow every day; the rules: ``docs/store.md``, "Pruning old state";
``migrate``: bring it to this tierflow's schema, which no command that only
reads it does: ``docs/store.md``, "Schema and migrations")."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from tierflow.cli.config import tier_policy, where_given
from tierflow.cli.options import (
    command_line_only,
    examples,
    json_option,
    option,
    state_option,
)
from tierflow.cli.param_types import Instant
from tierflow.cli.state_location import (
    check_existing_state,
    open_existing_state,
    open_state,
)
from tierflow.data.errors import InputError
from tierflow.data.limits import now as clock_now
from tierflow.data.wording import counted
from tierflow.data.written_numbers import (
    PLAIN_DIGITS,
    python_would_read,
    whole_number,
)


@click.group(
    "state",
    epilog=examples(
        "tierflow state prune --state state.db --keep-days 30 --dry-run",
        "tierflow state prune --state postgresql://tf@/tf?host=/run/pg --keep-days 30",
        "tierflow state migrate --state state.db --dry-run",
    ),
)
def state() -> None:
    """The state store's upkeep: prune old rows nothing live needs, migrate
    its schema."""


@state.command(
    "prune",
    # (the docstring's first words, cut to a line, read "Delete, 10,000 rows
    # a transaction (writers go on between...")
    short_help="Delete the rows older than N days that nothing live needs.",
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
@option(
    "--give-back-upgrades",
    is_flag=True,
    help="Prune although N is shorter than the tier policy's upgrade_period_days "
    "(refused otherwise): the customers of the orders pruned get the upgrade "
    "allowance their charged upgrades used back.",
)
@json_option("Print the rows deleted and kept per table as JSON.")
def prune_command(
    state_path: Path | str | None,
    keep_days: str,
    at: dt.datetime | None,
    dry_run: bool,
    give_back_upgrades: bool,
    as_json: bool,
) -> None:
    """Delete, 10,000 rows a transaction (writers go on between them), the
    rows older than N days that nothing live needs: CLTV score days but the newest, capacity events a snapshot
    covers, orders allocated or no longer carried (unfillable, or deferred
    by no run since) with their charged upgrades, finished and abandoned
    allocation runs but the latest; stock change ids are kept without their
    answers (a replay is refused).
    """
    try:
        days = _keep_days(keep_days)
    except InputError as exc:  # a settings file's value: its file and key
        raise where_given(exc, "keep_days", keep_days) from None
    command_line_only(
        "give_back_upgrades", "--give-back-upgrades", "prune", "nothing deleted"
    )
    from tierflow.data.store.retention import check_keep_days

    period = tier_policy().upgrade_period_days
    try:
        # the store's rule (prune_state checks it), asked before the store
        # is opened: a refused prune migrates nothing
        check_keep_days(
            days, upgrade_period_days=period, give_back_upgrades=give_back_upgrades
        )
    except InputError as exc:
        raise where_given(exc, "keep_days", keep_days) from None
    check_existing_state(state_path)  # a typo: no fresh, empty store made
    # a dry run only reads: an older store is refused, never migrated
    store = open_existing_state(state_path, migrate=not dry_run)
    if store is None:  # the default store, not made yet: nothing to prune
        raise InputError("no state store yet: nothing to prune", field="--state")
    with store:
        when = (at or clock_now()).timestamp()
        report = store.prune_state(
            days,
            upgrade_period_days=period,
            give_back_upgrades=give_back_upgrades,
            now=when,
            dry_run=dry_run,
        )
        where = store.location
    if as_json:
        click.echo(json.dumps({"state": where, "keep_days": days, **report.as_dict()}))
        return
    cutoff = report.as_dict()["cutoff"]
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{where}: rows older than {cutoff} ({counted(days, 'day')}) nothing live needs"
    )
    width = max(len(t.table) for t in report.tables)
    click.echo(f"{'table':<{width}}  {verb:>12}  {'kept':>10}")
    for t in report.tables:
        click.echo(f"{t.table:<{width}}  {t.deleted:>12}  {t.kept:>10}")
    compacted = sum(t.compacted for t in report.tables)
    if compacted:
        done = "would be compacted" if dry_run else "compacted"
        click.echo(
            f"stock_changes: {counted(compacted, 'change id')} {done} (the ids kept "
            "without their answers: a replay of one is refused)"
        )
    if dry_run:
        click.echo("dry run: nothing deleted")


@state.command(
    "migrate",
    epilog=examples(
        "tierflow state migrate --state state.db --dry-run",
        "tierflow state migrate --state postgresql://tf@/tf?host=/run/pg",
    ),
)
@state_option
@option("--dry-run", is_flag=True, help="List the pending migrations; apply none.")
@json_option("Print the schema versions and the pending migrations as JSON.")
def migrate_command(
    state_path: Path | str | None, dry_run: bool, as_json: bool
) -> None:
    """Migrate the store to this tierflow's schema, listing each migration.

    A command that only reads a store (capacity show, stock show, state
    prune --dry-run) refuses one at an older schema; writing commands and
    serve migrate it as they open it. Migrate once, with the old version's
    processes stopped, then start the new ones.
    """
    from tierflow.data.store import MIGRATION_SUMMARIES, SchemaTooOld

    if not check_existing_state(state_path):  # the default store, not made yet
        raise InputError("no state store yet: nothing to migrate", field="--state")
    try:
        with open_state(state_path, migrate=False, make=False) as store:
            where, found = store.location, store.schema_version()
        newest = found
    except SchemaTooOld as exc:
        where, found, newest = exc.location, exc.found, exc.newest
    pending = list(range(found + 1, newest + 1))
    migrated_from = None
    if pending and not dry_run:
        with open_state(state_path) as store:  # migrates, as a writer's open
            newest = store.schema_version()
            # None: another process migrated it while this one waited for
            # its lock (both said "migrated")
            migrated_from = store.migrated_from
    migrated = migrated_from is not None
    if as_json:
        listed = [
            {"version": v, "summary": MIGRATION_SUMMARIES[v - 1]} for v in pending
        ]
        record = {"state": where, "from": found, "to": newest, "pending": listed}
        click.echo(json.dumps(record | {"dry_run": dry_run, "migrated": migrated}))
        return
    if not pending:
        click.echo(f"{where}: schema {found}, current: nothing to migrate")
        return
    click.echo(
        f"{where}: schema {found}, this tierflow's is {pending[-1]}: "
        f"{counted(len(pending), 'migration')} to apply"
    )
    for v in pending:
        click.echo(f"  {v:>3}  {MIGRATION_SUMMARIES[v - 1]}")
    if migrated:
        click.echo(f"{where}: migrated from schema {migrated_from} to {newest}")
    elif dry_run:
        click.echo("dry run: nothing changed")
    else:
        click.echo(
            f"{where}: already migrated to schema {newest} by another process "
            "meanwhile: nothing changed"
        )


def _keep_days(text: str) -> int:
    """``--keep-days`` as a whole number of days, >= 1, in ASCII digits
    (``int()`` took ``3_0`` for 30 and other scripts' digits)."""
    days = whole_number(text)
    if days is None:
        why = f": {PLAIN_DIGITS}" if python_would_read(text, whole=True) else ""
        raise InputError(
            f"not a whole number of days{why}", field="--keep-days", value=text
        )
    if days < 1:
        raise InputError(
            "must be >= 1 (the day's orders, scores and capacity events are live)",
            field="--keep-days",
            value=days,
        )
    return days
