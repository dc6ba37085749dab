"""Inputs and outputs of an allocation run: CLTV scores, run identity, the
state-store sink (crash-safe, resumable) and the result files."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.cltv.scores_file import read_cltv_scores
from tierflow.data.allocation_rows import ALLOCATION_FIELDS
from tierflow.data.errors import InputError, RunConflictError
from tierflow.data.file_digest import file_digest
from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.data.stop_signals import held_stop_signals
from tierflow.data.store import ScoreStore, StateStore, run_position
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.allocation.batch_plan import epoch_seconds
from tierflow.orchestration.allocation.day_allocator import (
    AllocationOutcome,
    AllocationSettings,
    BatchStat,
)
from tierflow.orchestration.checkout.customer_value import new_customer_prior


def load_predicted_spend(
    orders: Orders,
    cltv_path: Path | None,
    store: ScoreStore | None,
    policy: TierPolicy | None = None,
) -> tuple[NDArray[np.float64], str]:
    """CLTV (predicted spend) per order, and a note when some are missing.

    Scores come from ``cltv_path`` (``tierflow cltv score`` output), else from
    the store's latest daily scores. A customer without a score counts as
    checkout counts a new shopper: the store's new-customer prior by
    ``policy`` (:func:`~tierflow.orchestration.checkout.customer_value.new_customer_prior`:
    the model's forecast of a customer acquired that day, or a percentile
    of the scores); 0 beside a scores file, which carries no prior.
    """
    customers = pd.Series(orders.customer_ids)
    prior, source = 0.0, ""
    if cltv_path is not None:
        frame = read_cltv_scores(cltv_path, complete=False)
        scores = frame.set_index("customer_id")["predicted_spend"]
    elif store is not None:
        stored = store.cltv_scores(sorted(set(orders.customer_ids)))
        day = store.latest_cltv_as_of()
        if stored.empty and day is None:
            return np.zeros(orders.n_orders), (
                "no CLTV scores (no --cltv-scores, none in the store): every "
                "customer is treated equally"
            )
        scores = stored.set_index("customer_id")["predicted_spend"]
        prior, source = new_customer_prior(store, policy or TierPolicy(), day)
    else:
        return np.zeros(orders.n_orders), "no CLTV scores: every customer equal"
    spend = customers.map(scores)
    missing = int(spend.isna().sum())
    note = ""
    if missing:
        counted = f"counted as the {source}: {prior:g}" if source else "counted 0"
        note = f"{missing} of {orders.n_orders} orders have no CLTV score ({counted})"
    return spend.fillna(prior).to_numpy(dtype=np.float64), note


def run_identity(
    orders_path: Path,
    network: Network,
    settings: AllocationSettings,
    *,
    events_path: Path | None = None,
    cltv_path: Path | None = None,
    capacity_scale: float = 1.0,
    history_path: Path | None = None,
    stock: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """A run id that is the same exactly when the inputs and the settings
    that decide the allocations are (:meth:`AllocationSettings.identity`).

    Re-running the same command therefore resumes the same run, and so does
    the same command with another ``--jobs``, parallel backend or
    ``--scheduler``, which only spread the work. ``stock`` is the digest
    of a starting stock other than the network's
    (:meth:`~tierflow.orchestration.allocation.starting_stock.StartingStock.identity`):
    a count or a receipt in the store since starts another run.
    """
    net_files = sorted(p for p in Path(network.source or ".").glob("*") if p.is_file())
    params: dict[str, Any] = {
        "orders": file_digest(orders_path),
        "events": file_digest(events_path),
        "cltv": file_digest(cltv_path),
        "network": hashlib.sha256(
            "".join(file_digest(p) for p in net_files).encode()
        ).hexdigest(),
        "capacity_scale": capacity_scale,
        "settings": settings.identity(),
    }
    if history_path is not None:  # absent keeps earlier runs' ids
        params["history"] = file_digest(history_path)
    if stock is not None:  # absent keeps the ids of runs from the network's
        params["stock"] = stock
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32], params


def line_work(orders: Orders, network: Network) -> dict[tuple[str, str], float]:
    """Each line's complexity-weighted work (as :meth:`Orders.workload`
    sums it per order), by ``(order_id, sku)``."""
    units = orders.line_workload(network)
    out: dict[tuple[str, str], float] = {}
    for order, sku, work in zip(
        orders.line_order.tolist(), orders.line_sku_id, units.tolist(), strict=True
    ):
        key = (orders.order_ids[order], sku)
        out[key] = out.get(key, 0.0) + float(work)
    return out


class StoreSink:
    """Commits each batch to the state store in one transaction and journals it.

    ``resumed_batches`` tells how many batches a previous attempt committed.
    Each batch's figures are committed with it, so that a resumed run counts
    the batches an earlier process committed from the store alone, in
    whatever folder it runs (they were only journalled to the folder: a run
    resumed in another one counted none of their reroutes).
    ``journal`` gets each batch's rows after its commit (``allocations.partial.csv``);
    ``stats`` (``batches.partial.jsonl``) each batch's figures before it;
    ``final_stats`` (``batches.jsonl``, the last finished run's, which
    :func:`write_outputs` replaces at the end) is read when ``stats`` has none
    of this run's lines (a finished run run again). Those files give the
    figures of batches the store has none of (committed before it kept
    them). The partial files are the run in progress: an interrupted run
    leaves the folder's finished outputs (``allocations.csv``,
    ``summary.json``, ``batches.jsonl``) as they were, all of one run.
    ``line_work`` (:func:`line_work`) shares a confirmed order's logged work
    among its lines when a batch moves some of them (the store's
    ``write_allocation_batch``). A store restored under the run (``held``)
    refuses its next batch, publish or finish (``StoreRestored``).
    """

    def __init__(
        self,
        store: StateStore,
        run_id: str,
        params: dict[str, Any],
        *,
        journal: Path | None = None,
        stats: Path | None = None,
        final_stats: Path | None = None,
        line_work: Mapping[tuple[str, str], float] | None = None,
    ) -> None:
        self.store = store
        self.line_work = line_work
        self.run_id = run_id
        # the making first: a store restored after it is seen at the first
        # write, never taken for the one the run started in
        made = store.allocation_run_position(run_id).made
        last = store.start_allocation_run(run_id, params)
        self.resumed_batches = 0 if last is None else last + 1
        #: Where the run stands in the store as this process committed it:
        #: a store restored under it refuses the next write (it lacked the
        #: batches committed since the backup: QA, 2026-12-07).
        self.held = run_position(last, made)
        self.journal = journal
        self.stats = stats
        self.final_stats = final_stats
        # a folder another run was killed in holds its journals: resumed
        # there, this run appended its rows to that run's (two runs' orders
        # in one allocations.partial.csv); they go, as for a run from 0
        if not self.resumed_batches or _journalled_by_another_run(stats, run_id):
            for path in (journal, stats):
                if path is not None and path.exists():
                    path.unlink()

    def committed_rows(self) -> pd.DataFrame:
        return self.store.allocations(self.run_id)

    def committed_stats(self) -> list[BatchStat]:
        """This run's batch figures: those committed with each batch, and
        for a batch without, its line in ``stats``, else in ``final_stats``
        (a torn last line is skipped)."""
        stored = {
            batch: stat
            for batch, text in self.store.allocation_batch_stats(self.run_id).items()
            if (stat := _stat_of(text, self.run_id)) is not None
        }
        return [*self._journalled_stats(), *stored.values()]

    def _journalled_stats(self) -> list[BatchStat]:
        """This run's lines of ``stats``, else of ``final_stats``."""
        for path in (self.stats, self.final_stats):
            if path is None or not path.exists():
                continue
            out = []
            for line in path.read_text(encoding="utf-8").splitlines():
                stat = _stat_of(line, self.run_id)
                if stat is not None:
                    out.append(stat)
            if out:
                return out
        return []

    def write_batch(
        self,
        batch: int,
        rows: pd.DataFrame,
        supersede: Sequence[str],
        stat: BatchStat | None = None,
        decided_at: np.datetime64 | None = None,
    ) -> None:
        line = None if stat is None else _stat_line(stat, self.run_id)
        if line is not None and self.stats is not None:
            _append_line(self.stats, line)
        written = self.store.write_allocation_batch(
            self.run_id,
            batch,
            rows,
            supersede=supersede,
            stats=None if line is None else line.rstrip("\n"),
            line_work=self.line_work,
            now=None if decided_at is None else epoch_seconds(decided_at),
            held=self.held,
        )
        if not written:
            # this process decided the batch on its own ledger; going on
            # would decide the next ones against capacity and stock the
            # store's rows do not have (QA: two runs at once went on)
            raise RunConflictError(
                f"another process committed this batch of run {self.run_id[:12]} "
                "first (the same command running twice at once on one state "
                "store); this run stops, the batches committed are kept: run "
                "the command again once the other has ended to read its outputs"
            )
        self.held = run_position(batch, self.held.made)
        if self.journal is not None:
            header = not self.journal.exists()
            with open(self.journal, "a", encoding="utf-8", newline="") as fh:
                printable(rows.reindex(columns=ALLOCATION_FIELDS)).to_csv(
                    fh, header=header, index=False
                )
                fh.flush()
                os.fsync(fh.fileno())

    def finish(self) -> None:
        self.store.finish_allocation_run(self.run_id, self.held)

    def publisher(
        self, node_ids: Sequence[str]
    ) -> Callable[[NDArray[np.float64], np.datetime64], None]:
        """A ``publish_bid_prices`` callback storing prices for the checkout."""

        def publish(prices: NDArray[np.float64], at: np.datetime64) -> None:
            # prices of batches a store restored under the run lacks are
            # not the checkout's (the batch's write would be refused next)
            self.store.refuse_restored_run(self.run_id, self.held)
            when = dt.datetime.fromtimestamp(
                float(at.astype("datetime64[s]").astype(np.int64)), dt.UTC
            )
            self.store.put_bid_prices(
                dict(zip(node_ids, map(float, prices), strict=True)),
                as_of=when,
                source=f"allocation run {self.run_id[:12]}",
            )

        return publish


def _stat_line(stat: BatchStat, run_id: str) -> str:
    """One line of ``batches.jsonl``."""
    return json.dumps({"run_id": run_id, **dataclasses.asdict(stat)}) + "\n"


def _journalled_by_another_run(stats: Path | None, run_id: str) -> bool:
    """Whether the ``batches.partial.jsonl`` at ``stats`` was begun by
    another run than ``run_id`` (its first line names the run that wrote
    it; ``allocations.partial.csv``, beside it, has no run id)."""
    if stats is None or not stats.exists():
        return False
    with open(stats, encoding="utf-8") as fh:
        first = fh.readline()
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and record.get("run_id") != run_id


def _stat_of(line: str, run_id: str) -> BatchStat | None:
    """The figures on one line of ``batches.jsonl`` if they are ``run_id``'s."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict) or record.pop("run_id", None) != run_id:
        return None
    try:
        record["pulled_back"] = tuple(record.get("pulled_back", ()))
        record["bid_prices"] = tuple(map(float, record.get("bid_prices", ())))
        return BatchStat(**record)
    except TypeError:
        return None


def _append_line(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


#: The finished run's outputs, replaced together by :func:`write_outputs`.
OUTPUT_FILES = ("allocations.csv", "summary.json", "batches.jsonl")


def printable(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with each float to 9 decimals, so ``allocations.csv`` prints
    4.8 and not the product 3 * 1.6's repr 4.800000000000001, nor a cost
    part's 4.00000000000001 (a difference of costs); 0.0 stays 0.0, never
    -0.0. The cost column has 6; the parts keep 9, so that they add up to
    it as before."""
    out = rows.copy()
    for column in out.columns[[dtype.kind == "f" for dtype in out.dtypes]]:
        out[column] = [round(float(v), 9) + 0.0 for v in out[column]]
    return out


def check_output_folder(out: Path) -> None:
    """Refuse a folder where an output's name is taken by something that is
    not a file (a folder, say): found before the run, not after its work.

    Raises
    ------
    InputError
        Naming the path in the way.
    """
    for name in OUTPUT_FILES:
        path = out / name
        if path.exists() and not path.is_file():
            raise InputError(
                f"is in the way of the run's {name} (not a file): move it away",
                file=str(path),
            )


def write_outputs(
    outcome: AllocationOutcome, summary: dict[str, Any], out: Path
) -> None:
    """``allocations.csv`` (final decisions), ``summary.json`` and
    ``batches.jsonl`` (each batch's figures, once), all three or none: each
    is written whole beside its place first, then the three are moved in
    (a failure while writing left the folder with one run's allocations and
    another's batches); the run's partial journals go. A Ctrl-C or SIGTERM
    while they are moved in stops the run once all three are in."""
    check_output_folder(out)
    rows = outcome.rows.reindex(columns=ALLOCATION_FIELDS)
    rows = rows.sort_values(["batch", "order_id", "sku"], kind="stable")
    run_id = str(summary.get("run_id", ""))
    texts = (
        printable(rows).to_csv(index=False),
        json.dumps(summary, indent=2) + "\n",
        "".join(_stat_line(s, run_id) for s in outcome.stats),
    )
    staged = [out / f"{name}.tmp" for name in OUTPUT_FILES]
    try:
        for tmp, text in zip(staged, texts, strict=True):
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        for tmp in staged:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        raise
    # a stop signal (Ctrl-C, SIGTERM) between two moves left the new run's
    # allocations beside the last run's summary: it is held until all three
    # are in, and stops the run then
    with held_stop_signals() as held:
        for tmp, name in zip(staged, OUTPUT_FILES, strict=True):
            os.replace(tmp, out / name)
        for partial in ("allocations.partial.csv", "batches.partial.jsonl"):
            (out / partial).unlink(missing_ok=True)
    held.deliver()
