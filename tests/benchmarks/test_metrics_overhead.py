"""The metrics-overhead benchmark end to end, tiny: three real servers, the
interleaved blocks, the counts on /metrics, the in-process part, the summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TINY_NETWORK
from tierflow.benchmarks.metrics_overhead import VARIANTS, measure, summary


@pytest.mark.slow
def test_a_tiny_run(tmp_path: Path) -> None:
    r = measure(
        tmp_path, network_dir=TINY_NETWORK, blocks=3, block=4, warm=2, scrape_s=0.2
    )
    assert r["requests_per_server"] == 3 * 4 + 2
    assert r["options_miscounted"] == 0  # every option counted on /metrics
    assert set(r["p50_ms"]) == set(VARIANTS) and r["scrapes"] >= 1
    assert all(v > 0 for v in r["server_cpu_us_per_request"].values())
    assert set(r["in_process"]["cpu_us_per_request"]) == {"metrics", "no_metrics"}
    text = summary(r)
    assert "| metrics |" in text and "In one process" in text
