"""Resume: rebuild a run's state from the batches it already committed."""

from __future__ import annotations

import pandas as pd

from tierflow.data.network import Network
from tierflow.data.vocabulary import AllocationStatus
from tierflow.orchestration.allocation.batch_plan import BatchPlan
from tierflow.orchestration.allocation.ledger import CapacityLedger


def restore(
    committed: pd.DataFrame, plan: BatchPlan, ledger: CapacityLedger, network: Network
) -> int:
    """Take the capacity and stock of ``committed`` rows again; how many
    batches they hold (the next batch to run).

    Events up to the last committed batch are applied first; orders shipped
    whole from one node are placed again (a later event may still pull them
    back), lines of split orders are only taken.
    """
    if committed.empty:
        return 0
    last = int(committed["batch"].max())
    ledger.apply_events(plan.seconds(last))
    order_pos = {oid: i for i, oid in enumerate(ledger.orders.order_ids)}
    line_start = ledger.orders.line_start
    allocated = committed[committed["status"] == AllocationStatus.ALLOCATED]
    for oid, grp in allocated.groupby("order_id", sort=False):
        i = order_pos[str(oid)]
        nodes = grp["node_id"].unique()
        if len(nodes) == 1 and len(grp) == line_start[i + 1] - line_start[i]:
            b = int(grp["batch"].iloc[0])
            node = network.node_index[str(nodes[0])]
            ledger.place(i, node, float(grp["cost"].sum()), b, plan.times[b])
            continue
        for r in grp.itertuples(index=False):
            node = network.node_index[str(r.node_id)]
            k = network.sku_index[str(r.sku)]
            qty = int(r.quantity)
            ledger.take_line(node, k, qty, network.sku_complexity[k] * qty)
    return last + 1
