"""The long capacity log of ``docs/cli.md``'s ``show --now`` figures: the
events asked, of every kind, and its map at an instant read in bulk is the
map of its events applied one at a time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.capacity.test_log_read import assert_same_map
from tierflow.benchmarks.capacity_log import main
from tierflow.capacity.events import EVENT_TYPES
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.network import Network
from tierflow.data.store import ORDER_WORK, open_store


def test_the_log_holds_the_events_asked_and_its_map_is_the_replay(
    tmp_path: Path, sample_network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    """3,000 events of every type, a checkout's work among them, out of
    order by up to minutes; the bulk map at an instant within them is the
    map one event at a time; a second run refuses the store it wrote."""
    state = tmp_path / "log.db"
    main(["--events", "3000", "--state", str(state), "--seed", "2"])
    assert capsys.readouterr().out == (
        f"3000 events logged into {state} (seq up to 3000)\n"
    )
    with open_store(state) as store:
        logged = store.events_after(0)
        assert len(logged) == 3000
        assert {ev.type for ev in logged} == set(EVENT_TYPES)
        assert any(ev.event_id.startswith(ORDER_WORK) for ev in logged)
        stamps = [dt.datetime.fromisoformat(ev.ts) for ev in logged]
        assert stamps != sorted(stamps)
        at = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
        bulk = CapacityMonitor.open_at(sample_network, store, at)
        assert_same_map(bulk, CapacityMonitor.replayed_at(sample_network, logged, at))
        assert 1000 < bulk.n_applied < 2000
    with pytest.raises(SystemExit, match="exists"):
        main(["--events", "10", "--state", str(state)])
