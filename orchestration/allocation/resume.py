"""Resume: rebuild a run's state from the batches it already committed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tierflow.data.network import Network
from tierflow.data.rates import SERVICES
from tierflow.data.vocabulary import AllocationStatus
from tierflow.orchestration.allocation.batch_plan import BatchPlan
from tierflow.orchestration.allocation.ledger import CapacityLedger, HeldLine


def restore(
    committed: pd.DataFrame, plan: BatchPlan, ledger: CapacityLedger, network: Network
) -> int:
    """Take the capacity and stock of ``committed`` rows again; how many
    batches they hold (the next batch to run).

    Events up to the last committed batch are applied first; orders shipped
    whole from one node are placed again on their lane (a later event at
    their node, or a rise of their lane's congestion, may still pull them
    back), lines of split orders are taken and held as the run held them
    (an event at a line's node or on its lane pulls their order back). A
    whole order's rows are those of its lines some node held this morning
    (any other line is unfillable). Each takes the capacity its batch weighed it at: its
    workload times its lane's congestion then. An order is split when the
    run solved it as lines: its rows carry a ``split`` mark (``stock`` or
    ``room``), even when every line went to one node, as the run takes
    such lines one by one and never places the order.
    """
    if committed.empty:
        return 0
    last = int(committed["batch"].max())
    ledger.apply_events(plan.seconds(last))
    order_pos = {oid: i for i, oid in enumerate(ledger.orders.order_ids)}
    allocated = committed[committed["status"] == AllocationStatus.ALLOCATED]
    lane = _lane_factor(allocated, plan, ledger, network)
    for oid, grp in allocated.groupby("order_id", sort=False):
        i = order_pos[str(oid)]
        nodes = grp["node_id"].unique()
        # every line that ships (an unfillable line has a row of its own)
        whole = len(nodes) == 1 and len(grp) == ledger.n_shipping(i)
        if whole and not _split_marked(grp):
            b = int(grp["batch"].iloc[0])
            node = network.node_index[str(nodes[0])]
            work = float(ledger.workload[i] * lane.loc[grp.index[0]])
            service = SERVICES.index(str(grp["service"].iloc[0]))  # its lane
            cost = math.fsum(grp["cost"].astype(float).tolist())  # as the run's
            ledger.place(i, node, cost, b, plan.times[b], work, service)
            continue
        factors = lane.loc[grp.index]
        o = ledger.orders
        lines = np.arange(int(o.line_start[i]), int(o.line_start[i + 1]))
        for r, factor in zip(grp.itertuples(index=False), factors, strict=True):
            node = network.node_index[str(r.node_id)]
            k = network.sku_index[str(r.sku)]
            qty = int(r.quantity)
            line = int(lines[o.line_sku[lines] == k][0])  # an order's SKU once
            work = network.sku_complexity[k] * qty * factor
            held = HeldLine(
                line, node, SERVICES.index(str(r.service)), float(r.cost), work
            )
            b = int(r.batch)
            ledger.hold_line(i, held, b, plan.times[b])
    return last + 1


def _lane_factor(
    allocated: pd.DataFrame, plan: BatchPlan, ledger: CapacityLedger, network: Network
) -> pd.Series:
    """Per allocated row, its lane's congestion when its batch was decided
    (the events up to the batch's close, replayed): the factor the batch
    weighed its workload by, so the capacity taken again is the run's."""
    if plan.hindsight or allocated.empty:  # a hindsight run applies no event
        return pd.Series(1.0, index=allocated.index)
    batch = allocated["batch"].astype(int).to_numpy()
    batches = np.unique(batch)
    lanes = np.stack(ledger.congestion_at([plan.seconds(int(b)) for b in batches]))
    node = allocated["node_id"].astype(str).map(network.node_index).to_numpy(int)
    service = allocated["service"].astype(str).map(SERVICES.index).to_numpy(int)
    at = np.searchsorted(batches, batch)
    return pd.Series(lanes[at, node, service], index=allocated.index)


def _split_marked(rows: pd.DataFrame) -> bool:
    """Whether the run solved the order of ``rows`` as split lines: a row
    carries a ``split`` mark (``stock``, ``room``; a whole order's rows
    carry none).

    Rows of a store from before the ``split`` column (schema 5) read ``''``
    (or have none): unmarked, so the order is judged by the rule resume
    used before, whole when its rows sit at one node and cover all its
    lines (a split order whose lines all went to one node is then placed
    whole, where the run took its lines one by one).
    """
    if "split" not in rows.columns:
        return False
    return bool((rows["split"].fillna("").astype(str) != "").any())
