"""Which tier checkout could have offered a generated order, when it was
placed: the synthetic orders ``tierflow generate orders`` writes for
``tierflow allocate``.

The generator draws each order's tier from fixed shares. A shopper only
chooses among the tiers checkout offers, and checkout offers Platinum
("guaranteed next-day") only when some node holding the items can deliver
by the promised date, its cutoff, timezone and the carrier calendar
respected (``docs/checkout.md``, "Tiers"): not once every such node has
passed its cutoff, nor on a Sunday or a carrier holiday, whose promise is
the next promise day. Drawn Platinum regardless (on the sample, seed 7:
every Platinum order of a Sunday or a holiday, and 19 % of another day's,
nearly all placed after the evening's cutoffs), no policy could keep their
promises. :func:`checkout_tiers` puts the question to the checkout's own
request parser, pricer and planner rule for every generated Platinum order,
and makes Gold of those it could not have been offered (``docs/data.md``,
"Generators").
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.network import Network
from tierflow.data.vocabulary import Tier
from tierflow.formulations.online_pricing import OrderPricer
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.planner import serving_nodes
from tierflow.orchestration.checkout.request import RequestValidator

#: The tier a generated Platinum order takes where checkout could not have
#: offered Platinum: the standard tier, whose services include next-day.
INSTEAD_OF_PLATINUM = Tier.GOLD


class PromiseCheck:
    """Whether checkout could offer Platinum to an order at its instant,
    by the promise rule alone: room and the customer's value (the Platinum
    threshold) aside, which a generated order knows nothing of.

    Parameters
    ----------
    network
        The network: stock (``inventory``), nodes, rates, calendar.
    policy
        The tier policy (Platinum's services and promise days).
    """

    def __init__(self, network: Network, policy: TierPolicy) -> None:
        self.network = network
        self._requests = RequestValidator(network)
        self._pricer = OrderPricer(network, policy)

    def platinum_offered(
        self,
        customer_id: str,
        items: list[tuple[str, int]],
        dest: str,
        now: dt.datetime,
    ) -> bool:
        """Whether every line of the cart has a node holding it (on hand, in
        full) that can deliver it by Platinum's promised date, as checkout
        plans it (one node for all, or a split)."""
        req = self._requests.parse(customer_id, items, dest, None, now)
        kg, units, _ = req.totals(req.all_lines)
        quote = self._pricer.quote(req.ts, req.dest, kg, units)
        have = self.network.inventory[:, req.sku_idx] >= req.qty[None, :]
        serving = serving_nodes(quote, Tier.PLATINUM, have)
        return bool(serving.any(axis=0).all())


def checkout_tiers(
    frame: pd.DataFrame, network: Network, policy: TierPolicy
) -> tuple[pd.DataFrame, int]:
    """``frame`` (generated ``orders.csv`` lines) with Gold for every
    Platinum order checkout could not have offered Platinum when it was
    placed (:class:`PromiseCheck`), and how many orders that was."""
    platinum = frame["tier"].to_numpy() == str(Tier.PLATINUM)
    if not platinum.any():
        return frame, 0
    check = PromiseCheck(network, policy)
    refused: list[str] = []
    lines = frame.loc[platinum]
    for order_id, order in lines.groupby("order_id", sort=False):
        first = order.iloc[0]
        items = list(
            zip(order["sku"].tolist(), order["quantity"].tolist(), strict=True)
        )
        now = dt.datetime.fromisoformat(str(first["created_at"]))
        if not check.platinum_offered(
            str(first["customer_id"]), items, str(first["dest"]), now
        ):
            refused.append(str(order_id))
    if not refused:
        return frame, 0
    demote: NDArray[np.bool_] = platinum & frame["order_id"].isin(refused).to_numpy()
    out = frame.copy()
    out.loc[demote, "tier"] = str(INSTEAD_OF_PLATINUM)
    return out, len(refused)
