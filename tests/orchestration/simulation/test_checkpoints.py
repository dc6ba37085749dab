"""Checkpoints of the simulated day: a run resumed after any step ends as a
fresh run ends, and resumes only the same job."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.orchestration.simulation.checkpoints import Checkpoints
from tierflow.orchestration.simulation.day import (
    SimulationSettings,
    published_scores,
    simulate,
)

#: Limits far above what 24 orders need, so no solve is cut short by a busy
#: machine: a resumed run must then equal a fresh one exactly. 24 checkouts
#: (not 60) make a whole day all the same (every tier, overflow taken, the
#: outage: ``fresh`` checks) in two thirds of the CPU time (3.2 s a run, 4.7 s).
SETTINGS = SimulationSettings(
    checkouts=24, engine="greedy", time_limit_s=30.0, hindsight_time_limit_s=60.0
)
IDENTITY = {"settings": dataclasses.asdict(SETTINGS)}
POLICIES = ("hindsight", "greedy + bid prices", "nearest")


@pytest.fixture(scope="module")
def scores(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    history = pd.read_csv(sample_dir / "transactions.csv")
    spend = history.groupby("customer_id")["amount"].sum().clip(lower=0)
    rank = spend.rank(pct=True).to_numpy()
    path = tmp_path_factory.mktemp("scores") / "scores.csv"
    pd.DataFrame(
        {
            "customer_id": spend.index,
            "predicted_spend": spend.to_numpy(),
            "p_active": 0.5,
            "segment": np.where(rank >= 0.9, "platinum", "silver"),
        }
    ).to_csv(path, index=False)
    return path


def _run(
    network: Network, scores: Path, work: Path, *, resume: bool
) -> tuple[dict[str, Any], list[str]]:
    """One run in ``work``: its summary (without solve times) and the steps
    it found finished."""
    steps = Checkpoints.open(work, IDENTITY, resume=resume)
    done = steps.done()
    result = simulate(
        network,
        work / "state.db",
        work,
        SETTINGS,
        publish_cltv=published_scores(scores),
        checkpoints=steps,
    )
    summary = result.summary()
    for p in summary["policies"].values():
        del p["batch_solve_p95_s"], p["runtime_s"]  # solve times vary
    return summary, done


@pytest.fixture(scope="module")
def fresh(
    sample_network: Network, scores: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    work = tmp_path_factory.mktemp("fresh")
    summary, done = _run(sample_network, scores, work, resume=False)
    assert done == []
    # the resumed runs are compared on a day with all its parts
    assert set(summary["tier_mix"]) == {"platinum", "gold", "silver", "overflow"}
    assert summary["overflow_taken"] > 0 and summary["outage_node"] is not None
    return work, summary


@pytest.mark.parametrize(
    "unfinished",
    [
        # stopped in the last allocation
        ("allocate nearest",),
        # stopped in the checkouts: the store holds a whole day's checkouts,
        # so resuming must put back the store the CLTV step left
        ("checkouts", *(f"allocate {p}" for p in POLICIES)),
    ],
    ids=["allocation", "checkouts"],
)
def test_a_resumed_run_ends_as_a_fresh_run(
    sample_network: Network,
    scores: Path,
    fresh: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    unfinished: tuple[str, ...],
) -> None:
    work, summary = fresh
    copy = tmp_path / "work"
    shutil.copytree(work, copy)
    for step in unfinished:
        (copy / ".checkpoints" / f"{step.replace(' ', '%20')}.pkl").unlink()
    resumed, done = _run(sample_network, scores, copy, resume=True)
    assert set(done) == {
        "cltv",
        "checkouts",
        *(f"allocate {p}" for p in POLICIES),
    } - set(unfinished)
    assert resumed == summary


def test_only_the_same_job_resumes(
    fresh: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    copy = tmp_path / "work"
    shutil.copytree(fresh[0], copy)
    with pytest.raises(InputError, match="started with other settings"):
        Checkpoints.open(copy, {"settings": "another day"}, resume=True)
    assert Checkpoints.open(copy, IDENTITY, resume=True).has("cltv")
    # without resume the folder is cleared
    assert Checkpoints.open(copy, IDENTITY, resume=False).done() == []
    assert sorted(p.name for p in copy.iterdir()) == [".checkpoints"]
