"""A checkout request, validated: customer, cart, destination, instant.

:class:`RequestValidator` turns the caller's arguments into a
:class:`CheckoutRequest` or raises ``InputError`` naming the field; the
request carries the per-line weights and workloads the planner sums.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tierflow.data.delivery_calendar import require_aware
from tierflow.data.errors import InputError
from tierflow.data.limits import (
    INSTANT_YEARS,
    MAX_ID_LENGTH,
    MAX_LINE_QUANTITY,
    within_instant_years,
)
from tierflow.data.network import Network
from tierflow.data.rates import DIM_DIVISOR_CM3_PER_KG
from tierflow.data.table_reader import unicode_twin
from tierflow.data.zip_codes import is_zip_code, zip_code_error
from tierflow.formulations.online_pricing import epoch_seconds
from tierflow.formulations.satisfaction import check_preferences

#: The characters of a customer id a checkout call takes (the HTTP API's
#: ``customer_id`` and ``tierflow options --customer``, one rule for both).
CUSTOMER_ID_CHARS = string.ascii_letters + string.digits + "_.:-"
#: :data:`CUSTOMER_ID_CHARS` as a regular expression (the served schema's).
CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
#: The longest customer id a checkout call takes.
MAX_CUSTOMER_ID_LENGTH = 64
#: Why an id is refused, in the checkout page's words.
CUSTOMER_ID_RULE = f"must be letters A-Z a-z, digits 0-9 and _.:- only, up to {MAX_CUSTOMER_ID_LENGTH} characters"
_CUSTOMER_ID = re.compile(CUSTOMER_ID_PATTERN)


def check_customer_id(customer_id: str) -> str:
    """``customer_id`` as a checkout call takes it, else ``InputError``.

    A log's ids may hold more (a space, a slash, any letter): they are
    scored and simulated as they are, but a checkout call, over HTTP or
    from the CLI, takes these only: the CLI quoted ids the API refused 422.
    """
    if not (
        0 < len(customer_id) <= MAX_CUSTOMER_ID_LENGTH
        and _CUSTOMER_ID.fullmatch(customer_id)
    ):
        raise InputError(CUSTOMER_ID_RULE, field="customer_id", value=customer_id)
    return customer_id


@dataclass(frozen=True, slots=True, eq=False)
class CheckoutRequest:
    """A validated request: merged cart lines, destination index, instant."""

    customer_id: str
    skus: tuple[str, ...]
    sku_idx: NDArray[np.int64]
    qty: NDArray[np.int64]
    dest: int
    zip3: str
    now: dt.datetime
    ts: int
    preferences: Mapping[str, float]
    line_kg: tuple[float, ...]
    line_volume: tuple[float, ...]
    line_work: tuple[float, ...]

    @property
    def all_lines(self) -> tuple[int, ...]:
        """Every line index, in cart order."""
        return tuple(range(len(self.skus)))

    def totals(self, lines: Sequence[int]) -> tuple[float, float, float]:
        """(billed kg, units, workload) of a subset of lines, summed in line
        order like :func:`tierflow.formulations.fulfillment.order_totals`."""
        kg = vol = work = units = 0.0
        for i in lines:
            kg += self.line_kg[i]
            vol += self.line_volume[i]
            work += self.line_work[i]
            units += float(self.qty[i])
        return max(kg, vol / DIM_DIVISOR_CM3_PER_KG), units, work

    def at(self, now: dt.datetime | None) -> CheckoutRequest:
        """The same cart and customer quoted at another instant (None: now)."""
        when = checkout_instant(now)
        return dataclasses.replace(self, now=when, ts=epoch_seconds(when))


class RequestValidator:
    """Checks a checkout's arguments against the network."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self._sku_kg = network.sku_weight_kg.tolist()
        self._sku_vol = network.sku_volume_cm3.tolist()
        self._sku_work = network.sku_complexity.tolist()

    def parse(
        self,
        customer_id: str,
        items: Iterable[tuple[str, int]],
        dest: str,
        preferences: Mapping[str, float] | None,
        now: dt.datetime | None,
    ) -> CheckoutRequest:
        """The validated request (``InputError`` names the first bad field)."""
        if customer_id is not None and not isinstance(customer_id, str):
            # a number (an id read from JSON or a DataFrame) is not empty
            raise InputError(
                "not text (a customer id is a string)",
                field="customer_id",
                value=customer_id,
            )
        if not customer_id or not customer_id.strip():
            raise InputError(
                "empty customer id", field="customer_id", value=customer_id
            )
        # as a purchase log's ids are read (``check_ids``): ' C9 ' is the
        # customer scored C9, not a new one given the prior
        customer_id = customer_id.strip()
        if len(customer_id) > MAX_ID_LENGTH or not customer_id.isprintable():
            # it is stored with the order and written to logs and CSVs
            raise InputError(
                f"must be at most {MAX_ID_LENGTH} printable characters",
                field="customer_id",
                value=customer_id,
            )
        cart = self._cart(items)
        zip_text = self._zip(dest)
        dest_idx = self.network.dest_idx(zip_text)
        when = checkout_instant(now)
        skus = tuple(cart)
        pos = [self.network.sku_index[s] for s in skus]
        qty = [cart[s] for s in skus]
        return CheckoutRequest(
            customer_id=customer_id,
            skus=skus,
            sku_idx=np.array(pos, dtype=np.int64),
            qty=np.array(qty, dtype=np.int64),
            dest=dest_idx,
            zip3=zip_text[:3],
            now=when,
            ts=epoch_seconds(when),
            preferences=check_preferences(preferences),
            line_kg=_per_line(self._sku_kg, pos, qty),
            line_volume=_per_line(self._sku_vol, pos, qty),
            line_work=_per_line(self._sku_work, pos, qty),
        )

    def _known_sku(self, sku: object, i: int) -> str:
        """Line ``i``'s SKU, stripped as an orders file's and a customer's
        ids are; an unknown one is an error (``tee`` for ``TEE`` named, as an
        orders file's line does)."""
        index = self.network.sku_index
        if isinstance(sku, str) and sku.strip() in index:
            return sku.strip()
        hint = unicode_twin(sku, index, "the network") if isinstance(sku, str) else ""
        raise InputError("unknown SKU" + hint, field="sku", index=i, value=sku)

    def _cart(self, items: Iterable[tuple[str, int]]) -> dict[str, int]:
        """SKU → quantity (SKUs stripped), repeated SKUs added up, in first-seen
        order."""
        if isinstance(items, str | bytes) or not isinstance(items, Iterable):
            raise InputError(
                "expected a list of (sku, quantity)", field="items", value=items
            )
        merged: dict[str, int] = {}
        # SKU -> (index, quantity) of the line its lines passed the cap at
        over: dict[str, tuple[int, int]] = {}
        for i, item in enumerate(items):
            try:
                sku, qty = item
            except (TypeError, ValueError):
                raise InputError(
                    "expected (sku, quantity)", field="items", index=i, value=item
                ) from None
            sku = self._known_sku(sku, i)
            if (
                isinstance(qty, bool)
                or not isinstance(qty, int | np.integer)
                or qty < 1
            ):
                raise InputError(
                    "must be an integer >= 1", field="quantity", index=i, value=qty
                )
            if qty > MAX_LINE_QUANTITY:  # per line, as orders.csv
                raise InputError(
                    f"more than {MAX_LINE_QUANTITY:,} units on one line",
                    field="quantity",
                    index=i,
                    value=qty,
                )
            merged[sku] = merged.get(sku, 0) + int(qty)
            if merged[sku] > MAX_LINE_QUANTITY and sku not in over:
                over[sku] = (i, int(qty))
        if not merged:
            raise InputError("no items", field="items")
        if over:
            _refuse_merged_line(merged, over)
        return merged

    @staticmethod
    def _zip(dest: str) -> str:
        text = dest.strip() if isinstance(dest, str) else dest
        if not isinstance(text, str) or not is_zip_code(text):
            raise InputError(
                zip_code_error(text if isinstance(text, str) else ""),
                field="dest",
                value=dest,
            )
        return text


def _refuse_merged_line(
    merged: Mapping[str, int], over: Mapping[str, tuple[int, int]]
) -> None:
    """The ``InputError`` of the first line at which a SKU's lines added up
    past :data:`MAX_LINE_QUANTITY`: the order keeps one line per SKU, and
    ``orders.csv`` (the confirmed order's export, which ``tierflow allocate``
    reads) takes at most that many units on a line and no SKU twice in an
    order, so such a cart could be confirmed but never allocated. The value
    is that line's quantity as sent (the sum is in the words): ``value
    11000`` at a line of 5,000 named a quantity the request never held."""
    sku, (i, qty) = min(over.items(), key=lambda item: item[1][0])
    raise InputError(
        f"lines of SKU {sku!r} add up to {merged[sku]:,} units, more than "
        f"{MAX_LINE_QUANTITY:,} on one order line",
        field="quantity",
        index=i,
        value=qty,
    )


def checkout_instant(now: dt.datetime | None) -> dt.datetime:
    """The instant being quoted: ``now`` (aware, in :data:`INSTANT_YEARS`),
    else the clock."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if not within_instant_years(require_aware(now)):
        first, last = INSTANT_YEARS
        raise InputError(
            f"outside the years {first}-{last}", field="now", value=now.isoformat()
        )
    return now


def _per_line(
    per_sku: list[float], pos: list[int], qty: list[int]
) -> tuple[float, ...]:
    return tuple(per_sku[p] * q for p, q in zip(pos, qty, strict=True))
