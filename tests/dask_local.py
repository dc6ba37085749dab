"""A local Dask cluster for the tests of the allocation's Dask backend."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def local_cluster(
    n_workers: int, threads_per_worker: int | None = None
) -> Iterator[tuple[Any, Any]]:
    """``(cluster, client)``: a scheduler with ``n_workers`` worker processes
    (0: a test starts its own) of ``threads_per_worker`` threads (None:
    Dask's choice), no dashboard, and a client of it; both closed on exit."""
    from dask.distributed import Client, LocalCluster

    threads = (
        {} if threads_per_worker is None else {"threads_per_worker": threads_per_worker}
    )
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=n_workers, processes=True, dashboard_address=":0", **threads
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield cluster, client
