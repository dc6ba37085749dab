"""``bench online``'s figures can be recomputed from ``latency.csv`` and
``contention.csv``, and its files land in OUT whole or not at all."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import TINY_NETWORK
from tierflow.benchmarks import online_bench
from tierflow.benchmarks.online_bench import (
    ONLINE_BENCH_NAMES,
    bench_contention,
    bench_latency,
    checkouts,
    stand_in_scores,
)
from tierflow.data.network import Network, load_network


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


def test_contention_is_reported_over_every_run() -> None:
    """The contention part ran once whatever ``--repeat`` while the latencies
    beside it were medians of ``--repeat`` runs. Now every run is a row of
    ``contention.csv``; the rates are their medians with the slowest run as
    ``worst_*``, the checks the worst run's."""
    network = load_network(TINY_NETWORK)
    rows: list[dict[str, object]] = []
    con = bench_contention(network, None, 1, 20, 2, rows)
    frame = pd.DataFrame(rows)
    assert frame["run"].tolist() == [0, 1]
    assert con["repeat"] == 2 and con["checkouts"] == 20
    for key in ("checkouts_per_s", "holds_per_s", "ratio_to_single_process"):
        assert con[key] == statistics.median(frame[key])
        assert con[f"worst_{key}"] == frame[key].min()
    assert con["worst_wall_s"] == frame["wall_s"].max()
    assert con["confirmed"] == statistics.median_low(frame["confirmed"])
    assert con["oversold_positions"] == frame["oversold_positions"].max() == 0
    assert con["reserved_after_expiry"] == frame["reserved_after_expiry"].max()
    assert (frame["consistency_problem_count"] == 0).all()
    assert con["consistency_problems"] == []


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError])
def test_a_run_stopped_while_writing_leaves_out_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: type[BaseException]
) -> None:
    """It wrote ``results.json`` and ``latency.csv`` straight into OUT, then
    ``summary.md``: a Ctrl-C (or a full disk) in between left the new
    results beside the last run's summary. It writes through a staging
    folder now, as ``bench gap`` and ``bench allocation``."""
    out = tmp_path / "bench"
    out.mkdir()
    before = {name: f"last run's {name}".encode() for name in ONLINE_BENCH_NAMES}
    before["notes.txt"] = b"not the bench's"
    for name, data in before.items():
        (out / name).write_bytes(data)

    def stopped(*_: object) -> str:
        raise stop("stopped while writing")

    monkeypatch.setattr(online_bench, "summary", stopped)
    with pytest.raises(stop):
        online_bench.run(
            out, requests=20, processes=1, repeat=1, network_dir=TINY_NETWORK
        )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
