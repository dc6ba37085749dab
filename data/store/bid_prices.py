"""Bid prices as the allocator publishes them for the checkout ($ per
capacity unit, per node), newest first; the last 100 sets are kept."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tierflow.data.errors import InputError
from tierflow.data.store.database import StorePart, clock

_KEEP_BID_PRICES = 100


@dataclass(frozen=True, slots=True)
class BidPriceRun:
    """One stored set of bid prices (``$`` per capacity unit, per node)."""

    as_of: dt.datetime
    source: str
    prices: dict[str, float]


class BidPriceLog(StorePart):
    """The ``bid_prices`` table: sets of bid prices in publishing order."""

    def put_bid_prices(
        self, prices: Mapping[str, float], *, as_of: dt.datetime, source: str
    ) -> None:
        """Store the latest bid prices ($ per capacity unit, per node id).

        Raises
        ------
        InputError
            An empty node id, a price that is not a finite number >= 0, or a
            naive ``as_of``; nothing is written.
        """
        if as_of.tzinfo is None or as_of.utcoffset() is None:
            raise InputError("no timezone offset", field="as_of", value=str(as_of))
        clean = _clean_prices(prices)
        with self._db.tx() as conn:
            conn.execute(
                "INSERT INTO bid_prices (as_of, source, prices, created_at) "
                "VALUES (?, ?, ?, ?)",
                (
                    as_of.astimezone(dt.UTC).isoformat(),
                    source,
                    json.dumps(clean),
                    clock(),
                ),
            )
            conn.execute(
                "DELETE FROM bid_prices WHERE seq NOT IN (SELECT seq FROM bid_prices "
                "ORDER BY seq DESC LIMIT ?)",
                (_KEEP_BID_PRICES,),
            )

    def latest_bid_price_run(self) -> BidPriceRun | None:
        """The newest stored bid prices with their ``as_of`` and source, or None."""
        row = self._db.execute(
            "SELECT as_of, source, prices FROM bid_prices ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return BidPriceRun(
            dt.datetime.fromisoformat(str(row[0])), str(row[1]), json.loads(row[2])
        )

    def latest_bid_prices(self) -> dict[str, float] | None:
        """The newest stored bid prices per node id, or None."""
        run = self.latest_bid_price_run()
        return None if run is None else run.prices


def _clean_prices(prices: Mapping[str, float]) -> dict[str, float]:
    """Prices as floats, each node id non-empty and each price finite and >= 0."""
    clean: dict[str, float] = {}
    for node, value in prices.items():
        if not isinstance(node, str) or not node:
            raise InputError("empty node id", field="prices", value=node)
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise InputError("not a number", field="prices", index=node, value=value)
        if not (math.isfinite(float(value)) and float(value) >= 0):
            raise InputError(
                "must be a finite number >= 0",
                field="prices",
                index=node,
                value=value,
            )
        clean[node] = float(value)
    return clean
