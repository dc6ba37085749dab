"""What the checkout page offers to pick from: customers, carts, destinations.

The median customer of each CLTV segment plus a never-scored one, the most
widely stocked SKUs, the most populous ZIP prefixes (``docs/service.md``).
Only customer ids a request takes are offered (``schemas.ID_PATTERN``).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from tierflow.data.network import Network
from tierflow.data.store import ScoreStore
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.customer_value import (
    NO_SCORES_SOURCE,
    new_customer_prior,
)
from tierflow.service.schemas import ID_CHARS, MAX_REQUEST_ID_LENGTH, takes_customer_id

#: The id of the sample customer no score exists for (gets the prior).
NEW_CUSTOMER_ID = "NEW-CUSTOMER"


def _network_customer_ids(network: Network, n: int) -> list[str]:
    """The first ``n`` ids of the network folder's ``customers.csv`` (if any)
    that a request's ``customer_id`` takes (the table may hold others: a
    sample whose id the API refuses was a picker entry that could not be
    posted)."""
    if network.source is None:
        return []
    path = Path(network.source) / "customers.csv"
    if not path.is_file():
        return []
    out: list[str] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            cid = (row.get("customer_id") or "").strip()
            if cid and takes_customer_id(cid):
                out.append(cid)
            if len(out) >= n:
                break
    return out


def sample_customers(
    store: ScoreStore | None, policy: TierPolicy, network: Network
) -> tuple[list[dict[str, Any]], str]:
    """Sample customers (``SampleCustomerOut``) and a note on where they come from."""
    examples = (
        []
        if store is None
        else store.cltv_segment_examples(  # ids a request takes, as for the CSV
            id_chars=ID_CHARS, max_id_length=MAX_REQUEST_ID_LENGTH
        )
    )
    if examples:
        assert store is not None
        prior, source = new_customer_prior(store, policy, examples[0].as_of)
        customers = [
            {
                "customer_id": s.customer_id,
                "segment": s.segment,
                "predicted_spend": round(s.predicted_spend, 2),
                "source": f"CLTV scores of {s.as_of.isoformat()} (median of its "
                "segment)",
            }
            for s in examples
        ]
        customers.append(
            {
                "customer_id": NEW_CUSTOMER_ID,
                "segment": "new",
                "predicted_spend": round(prior, 2),
                "source": source,
            }
        )
        return customers, (
            "one customer per CLTV segment (its median by predicted spend) and a "
            "customer without a score"
        )
    ids = _network_customer_ids(network, 3) or [NEW_CUSTOMER_ID]
    customers = [
        {
            "customer_id": cid,
            "segment": "new",
            "predicted_spend": 0.0,
            "source": NO_SCORES_SOURCE,
        }
        for cid in ids
    ]
    return customers, (
        "no CLTV scores in the state store: every customer gets the new-customer "
        "prior and nobody is offered Platinum (store scores to see the tiers differ)"
    )


def sample_carts(network: Network, n: int = 4) -> list[dict[str, Any]]:
    """Carts of the most widely stocked SKUs (``SampleCartOut``)."""
    inv = np.asarray(network.inventory)
    holders = (inv > 0).sum(axis=0)
    total = inv.sum(axis=0)
    order = np.lexsort((np.arange(network.n_skus), -total, -holders))
    top = [int(k) for k in order if holders[k] > 0][: max(n, 3)]
    if not top:
        return []
    sku = [network.sku_ids[k] for k in top]
    kg = [float(network.sku_weight_kg[k]) for k in top]
    carts = [{"label": f"1 × {sku[0]} ({kg[0]:g} kg)", "items": [(sku[0], 1)]}]
    if len(top) >= 2:
        carts.append(
            {
                "label": f"2 × {sku[1]} + 1 × {sku[0]}",
                "items": [(sku[1], 2), (sku[0], 1)],
            }
        )
    if len(top) >= 3:
        carts.append(
            {
                "label": f"1 × {sku[2]} + 1 × {sku[1]} + 1 × {sku[0]}",
                "items": [(sku[2], 1), (sku[1], 1), (sku[0], 1)],
            }
        )
    heavy = [
        int(k)
        for k in order
        if holders[k] > 0 and (network.sku_heavy[k] or network.sku_oversize[k])
    ]
    if heavy and network.sku_ids[heavy[0]] not in sku[:3]:
        k = heavy[0]
        carts.append(
            {
                "label": f"1 × {network.sku_ids[k]} "
                f"({float(network.sku_weight_kg[k]):g} kg, bulky)",
                "items": [(network.sku_ids[k], 1)],
            }
        )
    return [
        {
            "label": c["label"],
            "items": [{"sku": s, "quantity": q} for s, q in c["items"]],
        }
        for c in carts[:n]
    ]


def sample_destinations(network: Network, n: int = 10) -> list[dict[str, str]]:
    """The ``n`` most populous ZIP prefixes (``SampleDestOut``)."""
    pop = np.asarray(network.dest_population)
    order = np.lexsort((np.arange(network.n_dests), -pop))[:n]
    return [
        {
            "zip": network.dest_zip3[int(d)],
            "label": f"{network.dest_zip3[int(d)]}xx ({network.dest_state[int(d)]})",
        }
        for d in order
    ]
