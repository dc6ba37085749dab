"""Orders: the ``orders.csv`` contract (one row per line: ``order_id,
created_at, customer_id, dest, tier, sku, quantity``, optionally
``promised_date`` and ``node_id``), its validated reader and writer. :class:`Orders` holds the lines grouped by order (CSR); the rules are
in ``docs/data.md``."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.errors import InputError
from tierflow.data.limits import DATA_WINDOW, MAX_LINE_QUANTITY
from tierflow.data.network import UNKNOWN_DEST, Network
from tierflow.data.readonly import ReadOnlyArrays
from tierflow.data.table_reader import (
    Column,
    cell_error,
    file_line,
    first_error,
    read_table,
    unicode_twin,
)
from tierflow.data.vocabulary import TIERS
from tierflow.data.wording import counted
from tierflow.data.zip_codes import ZIP_PATTERN, zip_code_error

ORDER_COLUMNS = (
    "order_id",
    "created_at",
    "customer_id",
    "dest",
    "tier",
    "sku",
    "quantity",
)

_READ_COLUMNS = (
    Column("order_id", identifier=True),
    Column("created_at", "datetime", window=DATA_WINDOW),
    Column("customer_id", identifier=True),
    Column("dest", pattern=ZIP_PATTERN, unmatched=zip_code_error),
    Column("tier", required=False, default="", allow_empty=True, choices=TIERS),
    Column("sku", identifier=True),
    Column("quantity", "int", min=1, max=MAX_LINE_QUANTITY),
    Column(
        "promised_date",
        "date",
        required=False,
        allow_empty=True,
        default=None,
        window=DATA_WINDOW,
    ),
    # the node the checkout reserved the line at (its stock was taken
    # there): the store's export writes it (``online_orders``)
    Column("node_id", required=False, allow_empty=True, identifier=True),
)


@dataclass(frozen=True, slots=True, eq=False)
class Orders(ReadOnlyArrays):
    """Validated orders as arrays; lines are grouped by order (CSR).

    Attributes
    ----------
    order_ids, customer_ids, dest_zip3
        Per order, in first-appearance order of the file.
    created_at
        Per order, ``datetime64[ns]`` in UTC.
    tier
        Per order, index into :data:`TIERS` (-1: no tier given).
    dest
        Per order, destination index in the network (-1 without a network).
    line_start
        ``(n_orders + 1,)`` offsets: order ``o`` owns lines
        ``line_start[o]:line_start[o + 1]``.
    line_order, line_sku_id, line_qty
        Per line: order index, SKU id, quantity.
    line_sku
        Per line, SKU index in the network (-1 without a network).
    """

    order_ids: tuple[str, ...]
    customer_ids: tuple[str, ...]
    dest_zip3: tuple[str, ...]
    created_at: NDArray[np.datetime64]
    tier: NDArray[np.int8]
    dest: NDArray[np.intp]
    line_start: NDArray[np.intp]
    line_order: NDArray[np.intp]
    line_sku_id: tuple[str, ...]
    line_sku: NDArray[np.intp]
    line_qty: NDArray[np.int64]
    #: Per order, the delivery date promised at checkout (``NaT``: none, the
    #: tier's promise applies); ``None`` when the file has no such column.
    promised_date: NDArray[np.datetime64] | None = None
    #: Per line, the node its checkout reserved it at (``node_id``; "" where
    #: blank); ``None`` when the file has no such column.
    line_reserved_id: tuple[str, ...] | None = None
    #: Per line, that node's index in the network (-1: blank, or no network);
    #: ``None`` when the file has no such column.
    line_reserved: NDArray[np.intp] | None = None

    @property
    def n_orders(self) -> int:
        """Number of orders."""
        return len(self.order_ids)

    def more_than_a_day(self, network: Network | None = None) -> str:
        """Why these orders are not one day's ("" when they are): the
        allocation plans one day's capacity, so orders spread over more than
        24 hours would share it. Given the network the orders were read
        with, the 24 hours are the shoppers': each order's local time at its
        destination (:func:`local_times`), since one day's orders from New
        York to Hawaii span some 29 hours of UTC; without it, UTC. Names the
        first and last times and the first order placed over 24 hours after
        the first."""
        if self.n_orders < 2:
            return ""
        times = self.created_at.astype("datetime64[s]")
        clock, mark = "UTC", "Z"
        if network is not None and bool(np.all(self.dest >= 0)):
            times = local_times(times, self.dest, network)
            clock, mark = "local time at each destination", ""
        first, last = times.min(), times.max()
        if last - first <= np.timedelta64(86_400, "s"):
            return ""
        late = int(np.flatnonzero(times > first + np.timedelta64(86_400, "s"))[0])
        return (
            f"the orders span more than a day ({first}{mark} .. {last}{mark}, "
            f"{clock}; order {self.order_ids[late]!r} is over 24 h after the "
            "first): the allocation plans one day's capacity for all of them; "
            "allocate each day's orders on their own"
        )

    @property
    def n_lines(self) -> int:
        """Number of order lines."""
        return int(self.line_qty.size)

    def line_workload(self, network: Network) -> NDArray[np.float64]:
        """Complexity-weighted capacity units per order line (its SKU's
        complexity times its quantity): what every count of work sums."""
        return np.asarray(
            network.sku_complexity[self.line_sku] * self.line_qty, dtype=np.float64
        )

    def workload(self, network: Network) -> NDArray[np.float64]:
        """Complexity-weighted capacity units per order."""
        units = self.line_workload(network)
        out = np.bincount(self.line_order, weights=units, minlength=self.n_orders)
        return out.astype(np.float64)

    def take(self, keep: NDArray[np.bool_]) -> Orders:
        """The orders where ``keep`` (one flag per order) holds, with their
        lines, in the same order."""
        kept = np.flatnonzero(keep)
        new_index = np.cumsum(keep, dtype=np.intp) - 1
        on_line = keep[self.line_order]
        counts = np.diff(self.line_start)[kept]
        line_sku_id = np.asarray(self.line_sku_id, dtype=object)[on_line]
        promised = self.promised_date
        reserved_id = self.line_reserved_id
        reserved = self.line_reserved
        return Orders(
            order_ids=tuple(np.asarray(self.order_ids, dtype=object)[kept]),
            customer_ids=tuple(np.asarray(self.customer_ids, dtype=object)[kept]),
            dest_zip3=tuple(np.asarray(self.dest_zip3, dtype=object)[kept]),
            created_at=self.created_at[kept],
            tier=self.tier[kept],
            dest=self.dest[kept],
            line_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.intp),
            line_order=new_index[self.line_order[on_line]],
            line_sku_id=tuple(line_sku_id),
            line_sku=self.line_sku[on_line],
            line_qty=self.line_qty[on_line],
            promised_date=None if promised is None else promised[kept],
            line_reserved_id=None
            if reserved_id is None
            else tuple(np.asarray(reserved_id, dtype=object)[on_line]),
            line_reserved=None if reserved is None else reserved[on_line],
        )

    def to_frame(self) -> pd.DataFrame:
        """The ``orders.csv`` table (UTC timestamps)."""
        o = self.line_order
        stamps = pd.DatetimeIndex(self.created_at, tz="UTC")
        return pd.DataFrame(
            {
                "order_id": np.asarray(self.order_ids, dtype=object)[o],
                "created_at": stamps.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy()[o],
                "customer_id": np.asarray(self.customer_ids, dtype=object)[o],
                "dest": np.asarray(self.dest_zip3, dtype=object)[o],
                "tier": np.array(("", *TIERS), dtype=object)[self.tier + 1][o],
                "sku": np.asarray(self.line_sku_id, dtype=object),
                "quantity": self.line_qty,
                **self._promised_column(),
                **(
                    {}
                    if self.line_reserved_id is None
                    else {"node_id": np.asarray(self.line_reserved_id, dtype=object)}
                ),
            }
        )

    def _promised_column(self) -> dict[str, NDArray[np.object_]]:
        """``promised_date`` per line, when the orders carry promises."""
        if self.promised_date is None:
            return {}
        text = np.datetime_as_string(self.promised_date, unit="D").astype(object)
        text[np.isnat(self.promised_date)] = ""
        return {"promised_date": text[self.line_order]}


def local_times(
    created_at: NDArray[np.datetime64], dest: NDArray[np.intp], network: Network
) -> NDArray[np.datetime64]:
    """The wall-clock time at destination ``dest`` (network indices) of each
    UTC instant ``created_at``, as naive ``datetime64[s]`` (one conversion
    per time zone, not per order)."""
    out = np.empty(created_at.size, dtype="datetime64[s]")
    created = pd.DatetimeIndex(created_at).tz_localize("UTC")
    zone = network.dest_tz[dest]
    for z in np.unique(zone):
        members = np.flatnonzero(zone == z)
        local = created[members].tz_convert(network.dest_timezones[int(z)])
        out[members] = local.tz_localize(None).to_numpy("datetime64[s]")
    return out


def read_orders(path: Path | str, network: Network | None = None) -> Orders:
    """Read and validate an orders file (CSV or Parquet).

    Parameters
    ----------
    path
        The file.
    network
        When given, every SKU and destination prefix must exist in it, and
        the ``line_sku``/``dest`` indices are filled.

    Raises
    ------
    InputError
        The first problem, naming file, row, column and value.
    """
    return _read_orders(Path(path), network)


def _read_orders(
    path: Path, network: Network | None, before: dt.date | None = None
) -> Orders:
    """:func:`read_orders`, and with ``before`` :func:`read_history`'s check."""
    frame, path = read_table(path, "orders", _READ_COLUMNS)
    frame["dest"] = frame["dest"].str[:3]
    _check_lines(frame, path)
    line_sku, line_dest = _network_positions(frame, path, network)
    line_reserved = _reserved_nodes(frame, path, network)
    if before is not None and network is not None:
        _check_days_before(frame, path, line_dest, network, before)
    return _grouped_by_order(frame, line_sku, line_dest, line_reserved)


def _check_days_before(
    frame: pd.DataFrame,
    path: Path,
    line_dest: NDArray[np.intp],
    network: Network,
    day: dt.date,
) -> None:
    """Every line is of a day before ``day`` at its destination (see
    :func:`read_history`); the first line that is not is named."""
    created = _created_utc(frame).to_numpy(dtype="datetime64[s]")
    dates = local_times(created, line_dest, network).astype("datetime64[D]")
    late = dates >= np.datetime64(day, "D")
    if late.any():
        n_orders = frame.loc[late, "order_id"].nunique()
        first = frame["order_id"].iloc[int(np.flatnonzero(late)[0])]
        raise first_error(
            path,
            frame.attrs["raw"],
            late,
            "created_at",
            f"{counted(n_orders, 'order')} of the day to allocate ({day}, the date at "
            "each destination) or later: a history holds earlier days' orders "
            "(a forecast that sees the day it decides knows its future), this "
            f"one is {first!r}",
        )


def read_history(
    path: Path | str, network: Network | None = None, *, day: dt.date | None = None
) -> Orders:
    """:func:`read_orders` of past days' orders (``--history``, ``capacity
    forecast --orders``): a forecast learns from them, so a file with no
    order (a header alone) is an error naming it; a day to allocate may be
    empty.

    ``day`` (with ``network``): the business day being decided; an order
    of it or of a later day (its date at its destination) is an error
    naming its row and ``created_at`` as written (the day's own orders in
    its forecast would be foresight; the file was taken as given)."""
    orders = _read_orders(Path(path), network, day)
    if orders.n_orders == 0:
        raise InputError(
            "no orders to learn from (only a header)", file=Path(path).name
        )
    return orders


def _check_lines(frame: pd.DataFrame, path: Path) -> None:
    """No SKU twice in an order; every line agrees with its order's first.
    Both errors name the earlier row too."""
    raw = frame.attrs["raw"]
    dup = frame.duplicated(subset=["order_id", "sku"]).to_numpy()
    if dup.any():
        earlier = _first_of_group(frame, ["order_id", "sku"])
        _raise_at(path, raw, dup, earlier, "sku", "SKU listed twice in the same order")
    earlier = _first_of_group(frame, ["order_id"])
    columns = ["created_at", "customer_id", "dest", "tier"]
    if "promised_date" in frame.columns:
        columns.append("promised_date")
    for column in columns:
        # the first line's cell, empty or not (groupby's "first" skips empty
        # cells: an order whose first promise was blank was compared with its
        # second line's, and the error named the first line against itself)
        first = frame[column].iloc[earlier].set_axis(frame.index)
        differs = ~_same(frame[column], first)
        if differs.any():
            message = "differs from the order's first line"
            _raise_at(path, raw, differs, earlier, column, message)
    if "promised_date" in frame.columns:
        _check_promises(frame, path)


def _check_promises(frame: pd.DataFrame, path: Path) -> None:
    """A delivery promised before the order was placed is a typo, and the
    allocation would bill it as days of lateness. The promise is a date where
    the customer is, ``created_at`` an instant: a date more than a day before
    the instant's UTC date is before it wherever the customer is."""
    promised = _promised_days(frame)
    placed = _created_utc(frame).to_numpy(dtype="datetime64[D]")
    early = ~np.isnat(promised) & (promised < placed - np.timedelta64(1, "D"))
    if early.any():
        raise first_error(
            path,
            frame.attrs["raw"],
            early,
            "promised_date",
            "before the order was placed (its created_at)",
        )


def _same(a: pd.Series, b: pd.Series) -> NDArray[np.bool_]:
    """Cells equal, two empty cells counting as equal."""
    return np.asarray((a == b) | (a.isna() & b.isna()), dtype=np.bool_)


def _first_of_group(frame: pd.DataFrame, keys: list[str]) -> NDArray[np.intp]:
    """Per line, the position of the first line with the same ``keys``."""
    codes = frame.groupby(keys, sort=False).ngroup().to_numpy()
    first: NDArray[np.intp] = np.unique(codes, return_index=True)[1][codes]
    return first


def _raise_at(
    path: Path,
    raw: pd.DataFrame,
    bad: NDArray[np.bool_],
    earlier: NDArray[np.intp],
    column: str,
    message: str,
) -> None:
    pos = int(np.flatnonzero(bad)[0])
    line = file_line(raw, int(earlier[pos]))
    raise cell_error(path, raw, pos, column, f"{message} (row {line})")


def _network_positions(
    frame: pd.DataFrame, path: Path, network: Network | None
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Per line, the SKU and destination index in ``network`` (-1 without one)."""
    if network is None:
        return (
            np.full(len(frame), -1, dtype=np.intp),
            np.full(len(frame), -1, dtype=np.intp),
        )
    lookups = (
        ("sku", network.sku_index, "unknown SKU (not in the network's skus file)"),
        ("dest", network.dest_index, UNKNOWN_DEST),
    )
    found = []
    for column, index, message in lookups:
        pos = frame[column].map(index)
        unknown = pos.isna().to_numpy()
        if unknown.any():
            value = str(frame[column].iloc[int(np.flatnonzero(unknown)[0])])
            hint = unicode_twin(value, index, "the network")
            raise first_error(path, frame.attrs["raw"], unknown, column, message + hint)
        found.append(pos.to_numpy(dtype=np.intp))
    return found[0], found[1]


def _reserved_nodes(
    frame: pd.DataFrame, path: Path, network: Network | None
) -> NDArray[np.intp] | None:
    """Per line, the network index of the node its checkout reserved it at
    (-1: blank, or no network); ``None`` without a ``node_id`` column. A
    node the network lacks is an error at its row: the line's units were
    taken from a node this run cannot ship from."""
    cells = frame["node_id"]
    blank = (cells.isna() | (cells == "")).to_numpy()
    if blank.all():
        return None
    if network is None:
        return np.full(len(frame), -1, dtype=np.intp)
    pos = cells.map(network.node_index)
    unknown = pos.isna().to_numpy() & ~blank
    if unknown.any():
        value = str(cells.iloc[int(np.flatnonzero(unknown)[0])])
        hint = unicode_twin(value, network.node_index, "the network")
        raise first_error(
            path,
            frame.attrs["raw"],
            unknown,
            "node_id",
            "unknown node (not in the network's nodes file): the node the "
            "checkout reserved the line at" + hint,
        )
    out: NDArray[np.intp] = pos.fillna(-1).to_numpy(dtype=np.intp)
    return out


def _grouped_by_order(
    frame: pd.DataFrame,
    line_sku: NDArray[np.intp],
    line_dest: NDArray[np.intp],
    line_reserved: NDArray[np.intp] | None = None,
) -> Orders:
    """The validated lines as :class:`Orders`, lines grouped by order (CSR)."""
    codes, uniques = pd.factorize(frame["order_id"], sort=False)
    order_of_line = codes.astype(np.intp)
    perm = np.argsort(order_of_line, kind="stable")
    head = np.unique(order_of_line, return_index=True)[1]
    tier_codes = frame["tier"].map({t: i for i, t in enumerate(TIERS)}).fillna(-1)
    created = _created_utc(frame)
    counts = np.bincount(order_of_line, minlength=len(uniques))
    return Orders(
        order_ids=tuple(str(v) for v in uniques),
        customer_ids=tuple(str(v) for v in frame["customer_id"].to_numpy()[head]),
        dest_zip3=tuple(str(v) for v in frame["dest"].to_numpy()[head]),
        created_at=created.to_numpy(dtype="datetime64[ns]")[head],
        tier=tier_codes.to_numpy(dtype=np.int8)[head],
        dest=line_dest[head],
        line_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.intp),
        line_order=order_of_line[perm],
        line_sku_id=tuple(str(v) for v in frame["sku"].to_numpy()[perm]),
        line_sku=line_sku[perm],
        line_qty=frame["quantity"].to_numpy(dtype=np.int64)[perm],
        promised_date=_promised(frame, head),
        line_reserved_id=None
        if line_reserved is None
        else tuple(
            "" if v is None else str(v) for v in frame["node_id"].to_numpy()[perm]
        ),
        line_reserved=None if line_reserved is None else line_reserved[perm],
    )


def _promised(
    frame: pd.DataFrame, head: NDArray[np.intp]
) -> NDArray[np.datetime64] | None:
    """Per order, the checkout's promised date (``None`` without the column)."""
    if "promised_date" not in frame.columns or frame["promised_date"].isna().all():
        return None
    return np.asarray(_promised_days(frame)[head], dtype="datetime64[D]")


def _promised_days(frame: pd.DataFrame) -> NDArray[np.datetime64]:
    """Per line, its promised date as a day (NaT where blank)."""
    days: NDArray[np.datetime64] = pd.to_datetime(frame["promised_date"]).to_numpy(
        dtype="datetime64[D]"
    )
    return days


def _created_utc(frame: pd.DataFrame) -> pd.Series:
    """Per line, ``created_at`` as a naive UTC instant."""
    return frame["created_at"].dt.tz_convert("UTC").dt.tz_localize(None)


def write_orders(frame: pd.DataFrame, path: Path | str) -> Path:
    """Write an orders table atomically (temp file, then rename)."""
    path = Path(path)
    missing = [c for c in ORDER_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"missing columns {missing}", file=path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, lineterminator="\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
