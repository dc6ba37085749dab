"""``tierflow stock``: write counts and receipts to a live store's stock, show it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tierflow.cli.network_cmd import open_network
from tierflow.cli.options import (
    command_line_only,
    examples,
    json_option,
    network_option,
    option,
    state_option,
)
from tierflow.cli.state_location import check_existing_state, open_state
from tierflow.data.errors import InputError
from tierflow.data.stop_signals import held_write_stop
from tierflow.data.wording import counted
from tierflow.orchestration.stock_load import (
    MODES,
    load_stock,
    load_summary,
    stock_records,
)

if TYPE_CHECKING:
    import pandas as pd

    from tierflow.data.network import Network
    from tierflow.data.store import StockReceipt


@click.group(
    "stock",
    epilog=examples(
        "tierflow stock load --inventory count.csv --state state.db",
        "tierflow stock show --node WH-MEM --state state.db",
    ),
)
def stock() -> None:
    """Live stock in a state store: load counts and receipts, show it."""


@stock.command(
    "load",
    epilog=examples(
        "tierflow stock load --inventory cycle_count.csv --state state.db",
        "tierflow stock load --inventory receipts.csv --mode add --json",
    ),
)
@network_option
@state_option
@option(
    "--inventory",
    "inventory_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Stock file with inventory.csv's columns: node_id, sku, on_hand "
    "(CSV or Parquet).",
)
@option(
    "--mode",
    type=click.Choice(MODES),
    default="set",
    show_default=True,
    help="set: on_hand becomes the file's on_hand (a cycle count, a WMS snapshot); "
    "add: on_hand changes by it (a receipt; negative: an adjustment down).",
)
@option(
    "--change-id",
    default=None,
    help="The change's own id (a receipt's number), an idempotency key: "
    "loaded again under it, the file writes nothing and its first load's "
    "figures are printed; another file under it is refused.",
)
@option(
    "--cut-holds",
    is_flag=True,
    default=False,
    help="A position counted (or, with --mode add, adjusted down) below the "
    "units open checkouts hold is written and the newest holds there are "
    "released (whole checkouts) until the rest fit; they are listed. Without "
    "it such a change is refused.",
)
@json_option("Print the positions changed and the units up and down as JSON.")
def load_command(
    network_dir: Path | None,
    state_path: Path | None,
    inventory_path: Path,
    mode: str,
    change_id: str | None,
    cut_holds: bool,
    as_json: bool,
) -> None:
    """Write the stock of a file's positions to the store, all or nothing.

    Every row is checked first: a node or SKU the network lacks, a quantity
    that is not an integer, a position listed twice, on_hand that would go
    below 0 or below the units open checkouts hold (unless --cut-holds). A
    position the store holds no row of starts from the network's
    inventory.csv.
    """
    from tierflow.data.network import INVENTORY_COLUMNS
    from tierflow.data.store.stock import quantity_problem
    from tierflow.data.table_reader import cell_error, check_reference, read_table

    command_line_only("cut_holds", "--cut-holds", "load", "nothing written")
    add = mode == "add"
    net = open_network(network_dir)
    *keys, quantity = INVENTORY_COLUMNS
    # the store refuses on_hand past MAX_UNITS in its own words (as it does
    # for POST /v1/stock): the file's column was "must be <= 1e+09"; past
    # what the column carries to it (+-1e12), in the same words
    quantity = dataclasses.replace(
        quantity,
        max=None,
        beyond=lambda qty, text: quantity_problem(qty, add=add, as_given=text),
    )
    if add:  # a receipt's quantity may be negative: an adjustment down
        quantity = dataclasses.replace(quantity, min=None)
    rows, path = read_table(
        inventory_path, "inventory", (*keys, quantity), unique=[("node_id", "sku")]
    )
    if len(rows) == 0:  # a failed export: no load, and no id recorded with it
        raise InputError(
            "no positions (a header and no rows): nothing written", file=path.name
        )
    check_reference(rows, path, "node_id", net.node_ids, "nodes.csv")
    check_reference(rows, path, "sku", net.sku_ids, "skus.csv")
    changes = [
        (str(n), str(s), int(q))
        for n, s, q in zip(rows["node_id"], rows["sku"], rows["on_hand"], strict=True)
    ]
    # a stop signal after the commit: the summary, then the stop (the load
    # was stored, but said "interrupted" alone: re-run, a receipt added twice)
    with held_write_stop():
        with open_state(state_path) as store:
            try:
                done = load_stock(
                    store,
                    net,
                    changes,
                    mode=mode,
                    change_id=change_id,
                    cut_holds=cut_holds,
                )
            except InputError as exc:
                if exc.field == "change_id":  # named by its option
                    raise InputError(
                        exc.reason, field="--change-id", value=exc.value
                    ) from None
                if exc.index is None:
                    raise
                raise _at_row(
                    cell_error(path, rows, exc.index, "on_hand", ""), exc
                ) from None
        _print_load(path.name, mode, done, change_id, as_json=as_json, cut=cut_holds)


def _at_row(located: InputError, exc: InputError) -> InputError:
    """``exc`` (a position refused by the store) at the file row of its
    position (``located``, the cell as written: ``'1e9'``, not the store's
    1000000000)."""
    return InputError(
        exc.reason,
        file=located.file,
        row=located.row,
        field=located.field,
        value=located.value,
    )


def _print_load(
    name: str,
    mode: str,
    done: StockReceipt,
    change_id: str | None,
    *,
    as_json: bool,
    cut: bool = False,
) -> None:
    summary = load_summary(done, mode, change_id, cut_holds=cut)
    if as_json:
        click.echo(json.dumps({"file": name, **summary}))
        return
    figures = (
        f"{summary['changed']:,} of {counted(summary['positions'], 'position')} "
        f"changed ({mode}): {counted(summary['units_up'], 'unit')} up, "
        f"{counted(summary['units_down'], 'unit')} down"
    )
    if done.duplicate:
        click.echo(
            f"{name}: change {summary['change_id']!r} was loaded already "
            f"(at {summary['applied_at']}); nothing written (its first load: "
            f"{figures})"
        )
    else:
        click.echo(f"{name}: {figures}")
    if done.cuts:
        cuts = ", ".join(
            f"{c.request_id} {c.node_id}/{c.sku} {counted(c.units, 'unit')}"
            for c in done.cuts
        )
        if done.duplicate:  # the first load's cuts: this one cut nothing
            click.echo(f"{name}: holds its first load cut (none cut now): {cuts}")
        else:
            click.echo(f"{name}: holds cut (the count is below what they held): {cuts}")


@stock.command(
    "show",
    epilog=examples(
        "tierflow stock show --state state.db",
        "tierflow stock show --sku ELE-0042 --json",
    ),
)
@network_option
@state_option
@option("--node", "node_id", default=None, help="Only this node's positions.")
@option("--sku", default=None, help="Only this SKU's positions.")
@json_option("Print the positions as a JSON list.")
def show_command(
    network_dir: Path | None,
    state_path: Path | None,
    node_id: str | None,
    sku: str | None,
    as_json: bool,
) -> None:
    """On hand, reserved and available per stock position.

    Every position (node, SKU) the store holds, and the network's stocked
    positions it holds no row of yet at inventory.csv's on_hand (what a
    router seeds them with); reserved is what open checkouts hold, available
    what is left (holds past their TTL free).
    """
    exists = check_existing_state(state_path)
    net = open_network(network_dir)
    levels = None
    if exists:
        with open_state(state_path, migrate=False, make=False) as store:  # a reader
            levels = store.stock_levels()
    shown = _filtered(levels, net, node_id, sku)
    if as_json:
        click.echo(json.dumps(shown))
        return
    if not shown:
        click.echo("no stock positions")
        return
    click.echo(_table(shown))


def _filtered(
    levels: pd.DataFrame | None, net: Network, node_id: str | None, sku: str | None
) -> list[dict[str, Any]]:
    """:func:`stock_records`, an unknown node or SKU named by its option."""
    try:
        return stock_records(levels, net, node_id, sku)
    except InputError as exc:
        raise InputError(
            exc.reason,
            field="--node" if exc.field == "node_id" else "--sku",
            value=exc.value,
        ) from None


def _table(records: list[dict[str, Any]]) -> str:
    """The records as aligned columns, numbers to the right."""
    heads = list(records[0])
    cells = [[str(r[h]) for h in heads] for r in records]
    widths = [max(len(h), *(len(row[j]) for row in cells)) for j, h in enumerate(heads)]
    numeric = [isinstance(records[0][h], int) for h in heads]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(heads), *(line(row) for row in cells)])
