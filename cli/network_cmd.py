"""``tierflow network``: validate a network folder, write the embedded sample.

Also where every command finds its network: ``--network`` or the embedded
sample (materialized once in the cache folder), and says what is suspicious
about it (:attr:`Network.warnings <tierflow.data.network.Network.warnings>`)
on stderr.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tierflow.cli.options import examples, json_option, option, out_folder_option
from tierflow.cli.options import network_option as network_option
from tierflow.data.wording import counted

if TYPE_CHECKING:
    from tierflow.data.network import Network


def resolve_network_dir(network_dir: Path | None) -> Path:
    """The given folder, or the cached embedded sample."""
    from tierflow.data.sample_network import sample_network_dir

    return network_dir if network_dir is not None else sample_network_dir()


_log = logging.getLogger("tierflow.network")


def open_network(network_dir: Path | None, *, warn: bool = True) -> Network:
    """Load and validate the given folder or the embedded sample; with
    ``warn``, log its warnings (:func:`log_network_warnings`)."""
    from tierflow.data.network import load_network

    net = load_network(resolve_network_dir(network_dir))
    if warn:
        log_network_warnings(net)
    return net


def purchase_history_files(net: Network) -> tuple[Path | None, Path | None]:
    """The folder's ``transactions`` and ``customers`` tables, CSV or
    Parquet as every network table (None without one): what ``simulate``
    trains the CLTV model on, and so what ``network validate`` reads as it
    does. Only the ``.csv`` names were looked for: a folder of Parquet
    tables validated "OK" with its transactions unread, ``simulate`` said it
    had none, and the model trained without the profiles ``generate
    orders`` drew its shoppers from."""
    from tierflow.data.table_reader import table_path

    assert net.source is not None
    return table_path(net.source, "transactions"), table_path(net.source, "customers")


def check_purchase_history(net: Network) -> int | None:
    """Read the purchase history as ``simulate`` trains on it (the
    transactions with the profiles' columns; the profiles alone without a
    log, as ``cltv train --profiles`` reads them): a date written 03/01/2024
    in either was refused by ``simulate`` while ``validate`` said "OK". The
    log's rows, None without one."""
    history, profiles = purchase_history_files(net)
    if history is None:
        if profiles is not None:
            from tierflow.data.customer_tables import read_profiles

            read_profiles(profiles)
        return None
    from tierflow.cltv.features import load_customer_data  # the model's stack

    data, _ = load_customer_data(history, profiles=profiles)
    return len(data.transactions.day)


def log_network_warnings(net: Network) -> None:
    """One warning line on stderr per :attr:`Network.warnings` entry,
    ``network FOLDER: WARNING``: said once, where a command loads its
    network (a Berlin node by the Arabian Sea was told by ``network
    validate`` alone; ``allocate`` and ``serve`` ran on it without a word)."""
    for warning in net.warnings:
        _log.warning(
            "network %s: %s",
            net.source,
            warning,
            extra={"network": str(net.source), "network_warning": warning},
        )


@click.group(
    "network",
    epilog=examples(
        "tierflow network sample --out sample/",
        "tierflow network validate sample/",
    ),
)
def network() -> None:
    """Fulfillment network data: validate a folder, write the sample."""


@network.command(
    "validate",
    epilog=examples(
        "tierflow network validate my-network/",
        "tierflow network validate --json",
    ),
)
@click.argument(
    "directory",
    required=False,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@json_option("Print the summary as JSON.")
def validate_command(directory: Path | None, as_json: bool) -> None:
    """Validate a network folder (default: the sample) and print a summary."""
    net = open_network(directory, warn=False)  # printed below, on stdout
    # the shoppers `simulate` and `generate orders` draw (customers.csv,
    # optional) are the folder's too: a header-only one passed as "OK"
    from tierflow.data.order_generator import check_customers  # this command's

    customers = check_customers(net)
    transactions = check_purchase_history(net)
    history, profiles = purchase_history_files(net)
    summary = net.summary() | {
        "warnings": list(net.warnings),
        "customers": customers,
        "transactions": transactions,
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    kinds = ", ".join(f"{v} {k}" for k, v in summary["nodes_by_kind"].items())
    n_warn = len(summary["warnings"])
    verdict = f"OK with {n_warn} warning{'s' * (n_warn > 1)}" if n_warn else "OK"
    click.echo(f"network {summary['source']}: {verdict}")
    for warning in summary["warnings"]:
        click.echo(f"  warning: {warning}")
    click.echo(f"  nodes         {summary['nodes']} ({kinds})")
    click.echo(f"  capacity      {summary['capacity_units_per_day']:,.0f} units/day")
    click.echo(
        f"  skus          {summary['skus']} (fragile {summary['skus_fragile']}, "
        f"hazmat {summary['skus_hazmat']}, oversize {summary['skus_oversize']}, "
        f"heavy {summary['skus_heavy']})"
    )
    click.echo(
        f"  inventory     {counted(summary['inventory_units'], 'unit')} in "
        f"{counted(summary['inventory_positions'], 'position')}; "
        f"{counted(summary['skus_out_of_stock_everywhere'], 'SKU')} out of stock "
        "everywhere"
    )
    prefixes = counted(summary["destinations"], "ZIP prefix", "ZIP prefixes")
    click.echo(f"  destinations  {prefixes}, population {summary['population']:,.0f}")
    if customers is not None and profiles is not None:
        click.echo(f"  customers     {customers:,} ({profiles.name})")
    if transactions is not None and history is not None:
        rows = counted(transactions, "row")
        click.echo(f"  transactions  {rows} ({history.name})")
    click.echo(f"  services      {', '.join(summary['services'])}")
    click.echo(
        "  mean zone to nearest node (population-weighted) "
        f"{summary['mean_zone_to_nearest_node']:.2f}"
    )
    cal, chart = summary["calendar"], summary["zone_chart"]
    days = ", ".join(f"{s} {d}" for s, d in cal["delivery_days"].items())
    click.echo(f"  calendar      ships {cal['ship_days']}; delivers {days}")
    closed = [
        f"{c['date']} {c['name']}"
        + (
            ""
            if c["services"] == list(cal["delivery_days"])
            else f" ({'/'.join(c['services'])})"
        )
        for c in cal["closed_days"]
    ]
    click.echo(f"  closed days   from {cal['closed_days_from']}: {'; '.join(closed)}")
    bands = "by mileage band"
    pairs = counted(chart["pairs"], "pair") if chart else ""
    zones = f"{chart['file']}, {pairs}; others {bands}" if chart else ""
    click.echo(f"  zone chart    {zones or 'none; zones ' + bands}")


@network.command("sample", epilog=examples("tierflow network sample --out sample/"))
@out_folder_option(help="Folder to write the sample network into.")
@option(
    "--force",
    is_flag=True,
    help="Replace the network tables a folder already holds (refused without "
    "it; tables the sample lacks, such as holidays.csv, are removed too).",
)
@json_option("Print the folder and its files as JSON.")
def sample_command(out: Path, force: bool, as_json: bool) -> None:
    """Write the embedded US sample network (CSV files) to a folder."""
    from tierflow.data.sample_network import SAMPLE_FILES, write_sample

    folder = write_sample(out, replace=force)
    if as_json:
        click.echo(json.dumps({"out": str(folder), "files": list(SAMPLE_FILES)}))
        return
    click.echo(f"sample network written to {folder}")
