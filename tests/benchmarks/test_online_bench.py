"""``bench online``'s latency figures can be recomputed from ``latency.csv``."""

from __future__ import annotations

import statistics

import numpy as np
import pandas as pd

from tierflow.benchmarks.online_bench import bench_latency, checkouts, stand_in_scores
from tierflow.data.network import Network


def test_every_figure_recomputes_from_every_runs_rows(
    sample_network: Network,
) -> None:
    """With ``--repeat 2`` the summary gave medians over both runs while
    ``latency.csv`` held the first run alone, and the ratio was the median
    router p50 over the median baseline p50 (of possibly another run). Now
    every run's calls are rows, and the ratio is the median of each run's
    own ratio."""
    requests = checkouts(sample_network, 40, seed=7)
    rows: list[dict[str, object]] = []
    med = bench_latency(
        sample_network, requests, stand_in_scores(sample_network), 2, rows
    )
    frame = pd.DataFrame(rows)
    assert sorted(frame["run"].unique()) == [0, 1]
    per_run = frame.groupby("run").agg(
        p50=("router_us", lambda v: float(np.percentile(v, 50))),
        p99=("router_us", lambda v: float(np.percentile(v, 99))),
        base=("baseline_us", lambda v: float(np.percentile(v, 50))),
        n=("router_us", "size"),
    )
    assert (per_run["n"] == med["timed_requests"]).all()
    assert med["p50_us"] == statistics.median(per_run["p50"])
    assert med["p99_us"] == statistics.median(per_run["p99"])
    assert med["baseline_p50_us"] == statistics.median(per_run["base"])
    ratios = per_run["p50"] / per_run["base"]
    assert med["ratio_p50_to_baseline"] == statistics.median(ratios)
