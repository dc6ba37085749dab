"""Stock changes (counts, receipts, WMS snapshots) written to a live store,
and what the store holds, the one way ``tierflow stock`` and the HTTP
``/v1/stock`` routes do it: they parse, call these and print."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tierflow.data.errors import InputError
from tierflow.data.limits import MAX_MAGNITUDE

if TYPE_CHECKING:
    import pandas as pd

    from tierflow.data.network import Network
    from tierflow.data.store import StockReceipt, StockStore

#: What a change's quantity (``on_hand``) is: ``set``, the position's new
#: on_hand (a cycle count, a WMS snapshot); ``add``, units added to it (a
#: receipt; negative: an adjustment down).
MODES = ("set", "add")


def load_stock(
    store: StockStore,
    net: Network,
    changes: Sequence[tuple[str, str, int]],
    *,
    mode: str,
    change_id: str | None = None,
    now: float | None = None,
    cut_holds: bool = False,
) -> StockReceipt:
    """Write ``(node_id, sku, quantity)`` changes of ``mode`` (:data:`MODES`)
    to ``store``, all in one transaction or none; with ``change_id`` (the
    caller's idempotency key, checked by an event id's rules), once:
    a repeat answers the first's positions as a ``duplicate``
    (:meth:`~tierflow.data.store.stock.Inventory.change_stock_once`).
    ``cut_holds``: a position counted below what open checkouts hold is
    written, the newest holds there released (``cuts``); without it, it
    is refused.

    Raises
    ------
    ChangeIdConflict
        ``change_id`` was used by another change; nothing is written.
    InputError
        A ``change_id`` that is no id (``field`` ``change_id``), or the
        first change (``index``: its place in ``changes``; ``field``:
        ``node_id``, ``sku`` or ``on_hand``, none for a position given
        twice) whose node or SKU ``net`` lacks, or that the store refuses
        (below what is held, only without ``cut_holds``)
        (:meth:`~tierflow.data.store.stock.Inventory.change_stock`);
        nothing is written then.
    """
    if mode not in MODES:
        raise InputError(
            f"unknown mode (one of {list(MODES)})", field="mode", value=mode
        )
    # here, not at the top: ``tierflow stock --help`` imports no store
    from tierflow.capacity.events import change_id_text
    from tierflow.data.store import StockReceipt
    from tierflow.data.store.stock import quantity_problem
    from tierflow.data.table_reader import unicode_twin

    key = None if change_id is None else change_id_text(change_id)
    # each position's network on_hand: where one the store holds no row of
    # starts (what a router would seed), for the positions changed only (the
    # whole network's, 14,117 positions of the sample, took 6 ms a load)
    unheld: dict[tuple[str, str], int] = {}
    add = mode == "add"
    for i, (node, sku, qty) in enumerate(changes):
        n = net.node_index.get(node)
        if n is None:  # ``wh-east`` for ``WH-EAST`` names it, as an orders file does
            hint = unicode_twin(node, net.node_index, "the network")
            raise InputError(
                "unknown node" + hint, index=i, field="node_id", value=node
            )
        k = net.sku_index.get(sku)
        if k is None:
            hint = unicode_twin(sku, net.sku_index, "the network")
            raise InputError("unknown SKU" + hint, index=i, field="sku", value=sku)
        if abs(qty) > MAX_MAGNITUDE:  # a request's integer has no bound of its own
            # past what a file's column carries: the store's words, before an
            # integer of thousands of digits is summed and printed
            problem = quantity_problem(qty, add=add)
            raise InputError(problem, index=i, field="on_hand", value=qty)
        unheld[node, sku] = int(net.inventory[n, k])
    if key is None and not cut_holds:
        return StockReceipt(
            store.change_stock(changes, add=add, unheld=unheld, now=now), False
        )
    return store.change_stock_once(
        changes, change_id=key, add=add, unheld=unheld, now=now, cut_holds=cut_holds
    )


def applied_at_text(ts: float | None) -> str | None:
    """When a change with an id was applied, ISO 8601 UTC (None: not known)."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def load_summary(
    done: StockReceipt,
    mode: str,
    change_id: str | None = None,
    *,
    cut_holds: bool = False,
) -> dict[str, Any]:
    """What a load did: ``mode``, the ``positions`` given, how many
    ``changed`` and by how many units up and down, and the ``changes``
    (before, after, reserved) of those that changed; with a ``change_id``,
    it, whether the load was a ``duplicate`` (a repeat: these are the
    first's figures, and nothing was written) and when the id's change was
    applied (``applied_at``: a duplicate's, the first's); with ``cut_holds``, the
    ``holds_cut`` (request id, node, SKU and units of each line released,
    in the order cut; a duplicate's: the first's)."""
    from tierflow.capacity.events import change_id_text

    changed = [c for c in done.changes if c.after != c.before]
    extra = (
        {}
        if change_id is None
        else {
            "change_id": change_id_text(change_id),
            "duplicate": done.duplicate,
            "applied_at": applied_at_text(done.applied_at),
        }
    )
    return {
        "mode": mode,
        "positions": len(done.changes),
        "changed": len(changed),
        "units_up": sum(c.after - c.before for c in changed if c.after > c.before),
        "units_down": sum(c.before - c.after for c in changed if c.after < c.before),
        "changes": [c._asdict() for c in changed],
        **extra,
        **({"holds_cut": [c._asdict() for c in done.cuts]} if cut_holds else {}),
    }


def stock_records(
    levels: pd.DataFrame | None, net: Network, node_id: str | None, sku: str | None
) -> list[dict[str, Any]]:
    """The positions of :meth:`stock_levels` (None: a store not made yet)
    of ``node_id`` and ``sku`` (None: every one), each a record, with the
    network's positions the store holds no row of yet at ``inventory.csv``'s
    ``on_hand``: the stock every router (which seeds them on open), ``stock
    load`` and ``allocate`` start them from. Listing the store's rows alone,
    ``stock show --sku ELE-0042`` after the README's first ``stock load``
    on a fresh store showed WH-MEM alone, where the checkout offered the
    SKU from WH-ABE, and ``GET /v1/stock`` of a server of the store (seeded
    at its start) listed all 32 positions.

    Raises
    ------
    InputError
        ``node_id`` or ``sku`` (``field``) neither the network nor the store
        knows.
    """
    records: list[dict[str, Any]] = (
        []
        if levels is None
        else [
            {
                "node_id": str(r.node_id),
                "sku": str(r.sku),
                "on_hand": int(r.on_hand),
                "reserved": int(r.reserved),
                "available": int(r.available),
            }
            for r in levels.itertuples()
        ]
    )
    records = _with_unseeded_positions(records, net, node_id, sku)
    for column, value, known in (
        ("node_id", node_id, net.node_ids),
        ("sku", sku, net.sku_ids),
    ):
        if value is None:
            continue
        if value not in known and all(r[column] != value for r in records):
            # the hint stock load gives: an id known in other case or Unicode form
            from tierflow.data.table_reader import unicode_twin

            held = dict.fromkeys(str(r[column]) for r in records)
            hint = unicode_twin(value, known, "the network") or unicode_twin(
                value, held, "the store"
            )
            raise InputError(
                f"unknown {column} (not in the network nor the store){hint}",
                field=column,
                value=value,
            )
        records = [r for r in records if r[column] == value]
    return records


def _with_unseeded_positions(
    records: list[dict[str, Any]],
    net: Network,
    node_id: str | None = None,
    sku: str | None = None,
) -> list[dict[str, Any]]:
    """``records`` and the network's stocked positions (``on_hand`` > 0, the
    ones :meth:`seed_network_inventory` writes) of ``node_id`` and ``sku``
    (None: every one) none of them is, nothing reserved, by node and SKU;
    ``records`` as they are when none is missing (a seeded store)."""
    import numpy as np

    inventory = np.asarray(net.inventory)
    stocked = inventory > 0
    for ids, value, axis in ((net.node_ids, node_id, 0), (net.sku_ids, sku, 1)):
        if value is not None:
            keep = np.asarray([i == value for i in ids])
            stocked &= keep[:, None] if axis == 0 else keep[None, :]
    held = {(r["node_id"], r["sku"]) for r in records}
    missing = [
        {
            "node_id": str(net.node_ids[i]),
            "sku": str(net.sku_ids[k]),
            "on_hand": int(inventory[i, k]),
            "reserved": 0,
            "available": int(inventory[i, k]),
        }
        for i, k in zip(*np.nonzero(stocked), strict=True)
        if (str(net.node_ids[i]), str(net.sku_ids[k])) not in held
    ]
    if not missing:
        return records
    return sorted([*records, *missing], key=lambda r: (r["node_id"], r["sku"]))
