"""Prometheus metrics of the service (``GET /metrics``; the list and their
meaning: ``docs/service.md``, "Metrics").

Counters and histograms are process-wide (:func:`instruments`), made once
per process, so that ``tierflow serve --workers N`` can add up its workers:
with ``$PROMETHEUS_MULTIPROC_DIR`` set (the command sets it to a fresh
folder when it forks workers) prometheus-client keeps each process's values
in a file there, and the scrape, answered by any worker, sums every file.
Gauges are read when scraped instead: the capacity score of each node from
the answering worker's capacity map, the holds from the store (both the same
on every worker).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from tierflow.data.store import (
    StoreConflict,
    StoreUnavailable,
    is_postgres_url,
    on_store_error,
)
from tierflow.data.vocabulary import HoldStatus, Tier
from tierflow.orchestration.checkout.fallback import STORE_ERRORS

if TYPE_CHECKING:
    from tierflow.data.store import StateStore
    from tierflow.orchestration.checkout.router import (
        CheckoutResult,
        OnlineRouter,
        OptionSet,
    )

#: prometheus-client's folder for the values of several processes.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The files of that folder dead workers' values are added into, per type
#: (prometheus-client reads every ``<type>_*.db``; what follows the type
#: names a process only for gauges, which tierflow keeps none of there).
RESTARTED_FILE = "{}_restarted.db"
#: Taken shared by a scrape, exclusive while a dead worker's files are
#: added up (never half of them read, nor a value read twice).
_LOCK_FILE = ".tierflow-metrics.lock"

log = logging.getLogger("tierflow.service")
#: Request latency buckets (seconds): a checkout answers in a few ms.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
)  # fmt: skip
#: The ``route`` label of a request no route matched (never the raw path:
#: a scanner's paths would each make a series).
UNMATCHED = "unmatched"
#: The ``method`` label's values: the methods of HTTP's own specifications
#: (RFC 9110 and PATCH); any other token a client sends (an HTTP parser such
#: as h11 passes every one through) is :data:`OTHER_METHOD`, so a scanner's
#: made-up methods cannot make a series each.
METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
)
OTHER_METHOD = "other"
#: ``tierflow_holds``'s ``state`` values.
HOLD_STATES = ("active", "expired")
#: Steps of the overflow incentive (``tierflow_overflow_total``).
OVERFLOW_STAGES = ("offered", "selected", "confirmed")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Instruments:
    """The process's counters and histogram (one set, whatever the apps)."""

    latency: Histogram
    requests: Counter
    option_sets: Counter
    offered: Counter
    overflow: Counter
    checkouts: Counter
    degraded: Counter
    store_errors: Counter
    worker_restarts: Counter

    def collectors(self) -> tuple[Collector, ...]:
        return (
            self.latency, self.requests, self.option_sets, self.offered,
            self.overflow, self.checkouts, self.degraded, self.store_errors,
            self.worker_restarts,
        )  # fmt: skip


_made: Instruments | None = None
_making = threading.Lock()


def instruments() -> Instruments:
    """The process's instruments, made on first use (in the mode
    ``$PROMETHEUS_MULTIPROC_DIR`` says at that moment)."""
    global _made
    with _making:
        if _made is None:
            if multiprocess_dir() is not None and not values.ValueClass._multiprocess:
                # prometheus-client chose in-memory values when it was
                # imported; the folder was set after that (before any metric)
                values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
            # no ``*_created`` gauge beside each counter and histogram series:
            # multiprocess mode has none, and the docs list none
            disable_created_metrics()  # type: ignore[no-untyped-call]
            _made = _make()
            on_store_error(_count_store_error)
        return _made


def multiprocess_dir() -> str | None:
    """Where every worker's values live, or None (one process)."""
    return os.environ.get(MULTIPROC_ENV) or None


def _make() -> Instruments:
    made = Instruments(
        latency=Histogram(
            "tierflow_http_request_duration_seconds",
            "Time from the request to the end of its answer, per endpoint "
            "(route template); event streams are left out.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        ),
        requests=Counter(
            "tierflow_http_requests",
            "HTTP requests answered, per endpoint (route template) and status.",
            ["method", "route", "status"],
            registry=None,
        ),
        option_sets=Counter(
            "tierflow_option_sets",
            "Checkouts answered with options (POST /v1/options).",
            registry=None,
        ),
        offered=Counter(
            "tierflow_options_offered",
            "Options offered in those answers, per tier.",
            ["tier"],
            registry=None,
        ),
        overflow=Counter(
            "tierflow_overflow",
            "The overflow incentive: answers offering it, holds taken on it "
            "(select), orders placed on it (confirm); repeated calls count once.",
            ["stage"],
            registry=None,
        ),
        checkouts=Counter(
            "tierflow_checkouts",
            "Outcomes of select, confirm and cancel, per tier chosen; repeated "
            "calls count once.",
            ["call", "tier", "status"],
            registry=None,
        ),
        degraded=Counter(
            "tierflow_degraded_answers",
            "Options answers that fell back on something (degraded: true).",
            registry=None,
        ),
        store_errors=Counter(
            "tierflow_store_errors",
            "State store operations that failed (unavailable) or lost a lock "
            "conflict (conflict; retried).",
            ["backend", "kind"],
            registry=None,
        ),
        worker_restarts=Counter(
            "tierflow_worker_restarts",
            "Workers the supervisor started again after they died (serve "
            "--workers N; a signal, a crash, the OOM killer).",
            registry=None,
        ),
    )
    for tier in Tier:  # every series from the start, at 0
        made.offered.labels(tier.value)
    for stage in OVERFLOW_STAGES:
        made.overflow.labels(stage)
    return made


#: ``tierflow_checkouts_total``'s ``tier`` of a cancel before any select.
NO_SELECT = "none"
#: ... of a confirm or cancel the store could not answer, for a checkout
#: whose hold this process did not take (another replica's select, or one
#: before a restart): which tier it holds is in the store.
TIER_UNKNOWN = "unknown"
#: The ``tier`` values an outcome's option id may be (a tier's id each).
_TIER_IDS = frozenset(t.value for t in Tier)


def tier_label(result: CheckoutResult) -> str:
    """The ``tier`` of an outcome: the tier its option id names, else
    :data:`NO_SELECT` or :data:`TIER_UNKNOWN`. A select the store could
    not answer echoes the option id as the client sent it, unchecked (any
    32 characters): taken as the label, each made-up id made a series."""
    if result.option_id in _TIER_IDS:
        return result.option_id
    if result.option_id is not None or result.status is HoldStatus.UNAVAILABLE:
        return TIER_UNKNOWN
    return NO_SELECT


def method_label(method: str) -> str:
    """The ``method`` label of a request's method: itself when it is one of
    :data:`METHODS` (methods are case-sensitive: ``get`` is not ``GET``),
    else :data:`OTHER_METHOD`."""
    return method if method in METHODS else OTHER_METHOD


def count_worker_restart() -> None:
    """A worker started again (the supervisor's count): kept only where every
    worker's scrape adds it up, prometheus-client's multiprocess folder."""
    if multiprocess_dir() is not None:
        instruments().worker_restarts.inc()


def fold_dead_worker(pid: int) -> None:
    """Add the counters and histograms of worker ``pid``, dead, into the
    folder's :data:`RESTARTED_FILE` and delete its own files (the
    supervisor's, after ``waitpid``). Each worker started again made files
    of its own, kept for good: a worker dying at start (every second, the
    supervisor's pace) grew the folder by 128 KiB a second and every scrape
    by a third of a millisecond per dead worker, until scrapes timed out."""
    folder = multiprocess_dir()
    if folder is None:
        return
    with _folder_lock(folder, exclusive=True):
        for kind in ("counter", "histogram"):
            dead = os.path.join(folder, f"{kind}_{pid}.db")
            if not os.path.exists(dead):
                continue
            try:
                values_of_dead = MmapedDict.read_all_values_from_file(dead)  # type: ignore[no-untyped-call]
            except (OSError, ValueError, UnicodeDecodeError) as exc:  # a torn write
                log.warning("%s: kept, not added up: %s", dead, exc)
                continue
            into = MmapedDict(os.path.join(folder, RESTARTED_FILE.format(kind)))  # type: ignore[no-untyped-call]
            try:
                for key, value, timestamp, _ in values_of_dead:
                    before, _ = into.read_value(key)  # type: ignore[no-untyped-call]
                    into.write_value(key, before + value, timestamp)  # type: ignore[no-untyped-call]
            finally:
                into.close()  # type: ignore[no-untyped-call]
            os.unlink(dead)


@contextlib.contextmanager
def _folder_lock(folder: str, *, exclusive: bool) -> Iterator[None]:
    with open(os.path.join(folder, _LOCK_FILE), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield  # closing the file lets it go


def _count_store_error(backend: str, error: StoreUnavailable) -> None:
    kind = "conflict" if isinstance(error, StoreConflict) else "unavailable"
    instruments().store_errors.labels(backend, kind).inc()


#: The ``kind`` of store error each backend can raise (``tierflow_store_errors_total``).
STORE_ERROR_KINDS = {
    "postgres": ("conflict", "unavailable"),
    "sqlite": ("unavailable",),
}


def store_backend(location: str | None) -> str | None:
    """The ``backend`` label of a store at ``location`` (None: no store)."""
    if location is None:
        return None
    return "postgres" if is_postgres_url(location) else "sqlite"


class Metrics:
    """What the routes and the request middleware report; this base records
    nothing (``tierflow serve --no-metrics``)."""

    enabled = False

    def request(
        self, method: str, route: str, status: int, seconds: float | None
    ) -> None:
        """One answered request (``seconds``: None for an event stream)."""

    def answered(self, answer: OptionSet) -> None:
        """An options answer sent."""

    def checkout(self, call: str, result: CheckoutResult) -> None:
        """A select, confirm or cancel answered."""

    def exposition(self) -> bytes:
        """The Prometheus text of every metric."""
        raise NotImplementedError("metrics are off")

    def worker_restarts(self) -> int | None:
        """``tierflow_worker_restarts_total`` of this server (None: not
        counted, metrics off)."""
        return None

    def close(self) -> None:
        """Release what the scrapes read from."""


class ServiceMetrics(Metrics):
    """One app's metrics: the process's instruments and the app's gauges.

    Parameters
    ----------
    router
        The app's router: its capacity map (a gauge per node) and store (the
        holds, read on a connection of the metrics' own).
    """

    enabled = True

    def __init__(self, router: OnlineRouter) -> None:
        self._m = instruments()
        self._latency: dict[tuple[str, str], Histogram] = {}
        self._requests: dict[tuple[str, str, int], Counter] = {}
        self._checkouts: dict[tuple[str, str, str], Counter] = {}
        self._offered = {t: self._m.offered.labels(t.value) for t in Tier}
        self._overflow = {s: self._m.overflow.labels(s) for s in OVERFLOW_STAGES}
        self._gauges = LiveGauges(router)
        backend = store_backend(router.location)
        for kind in STORE_ERROR_KINDS.get(backend or "", ()):
            # at 0 from the start: a series born at 1 hides its first errors
            # from increase(), and an alert on a short outage never fired
            self._m.store_errors.labels(backend, kind)
        self.registry = CollectorRegistry()
        self._folder = folder = multiprocess_dir()
        if folder is not None:
            MultiProcessCollector(self.registry, path=folder)  # type: ignore[no-untyped-call]
        else:
            for collector in self._m.collectors():
                self.registry.register(collector)
        self.registry.register(self._gauges)

    def request(
        self, method: str, route: str, status: int, seconds: float | None
    ) -> None:
        key = (method, route, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self._m.requests.labels(
                method, route, str(status)
            )
        counter.inc()
        if seconds is None:
            return
        histogram = self._latency.get((method, route))
        if histogram is None:
            histogram = self._m.latency.labels(method, route)
            self._latency[(method, route)] = histogram
        histogram.observe(seconds)

    def answered(self, answer: OptionSet) -> None:
        self._m.option_sets.inc()
        for option in answer.options:
            self._offered[option.tier].inc()
            if option.tier is Tier.OVERFLOW:
                self._overflow["offered"].inc()
        if answer.degraded:
            self._m.degraded.inc()

    def checkout(self, call: str, result: CheckoutResult) -> None:
        if result.replayed:
            return
        tier = tier_label(result)
        key = (call, tier, result.status.value)
        counter = self._checkouts.get(key)
        if counter is None:  # labels() validates and locks on every call
            counter = self._checkouts[key] = self._m.checkouts.labels(*key)
        counter.inc()
        if tier != Tier.OVERFLOW:
            return
        if call == "select" and result.status is HoldStatus.HELD:
            self._overflow["selected"].inc()
        elif call == "confirm" and result.status is HoldStatus.CONFIRMED:
            self._overflow["confirmed"].inc()

    def exposition(self) -> bytes:
        if self._folder is None:
            return generate_latest(self.registry)
        with _folder_lock(self._folder, exclusive=False):
            return generate_latest(self.registry)

    def worker_restarts(self) -> int:
        """The workers this server's supervisor started again, as the scrape
        says (0 for a single process: no supervisor starts it again)."""
        if self._folder is None:
            return 0
        with _folder_lock(self._folder, exclusive=False):  # no file half-folded
            files = glob.glob(os.path.join(self._folder, "counter_*.db"))
            merged = MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
        return sum(
            int(sample.value)
            for metric in merged
            for sample in metric.samples
            if sample.name == "tierflow_worker_restarts_total"
        )

    def close(self) -> None:
        self._gauges.close()


class LiveGauges(Collector):
    """Gauges read at scrape time: ``tierflow_capacity_score`` per node (this
    process's capacity map, which follows the store's event log) and
    ``tierflow_holds`` per tier and state (from the store: the same figure
    on every worker and replica)."""

    def __init__(self, router: OnlineRouter) -> None:
        self._router = router
        self._store: StateStore | None = None
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        yield self._scores()
        holds = self._holds()
        if holds is not None:
            yield holds

    def _scores(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "tierflow_capacity_score",
            "Capacity score of each node (free / nominal capacity, in [0, 1]).",
            labels=["node"],
        )
        scores = self._router.monitor.score_map()
        for node, score in zip(self._router.network.node_ids, scores, strict=True):
            family.add_metric([node], float(score))
        return family

    def _holds(self) -> GaugeMetricFamily | None:
        """Holds on stock now (``active``) and lapsed unconfirmed (``expired``),
        per tier; nothing when the store cannot be read."""
        with self._lock:
            try:
                if self._store is None:
                    if self._router.store is None:
                        return None
                    self._store = self._router.store.reopen()
                counts = self._store.hold_counts(now=time.time())
            except STORE_ERRORS:
                return None
        family = GaugeMetricFamily(
            "tierflow_holds",
            "Checkout holds in the store: active (stock held now) and expired "
            "(lapsed unconfirmed), per tier.",
            labels=["tier", "state"],
        )
        for tier in Tier:
            for state in HOLD_STATES:
                family.add_metric([tier.value, state], counts.get((tier, state), 0))
        return family

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
