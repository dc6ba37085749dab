"""Output folders written whole or not at all: fresh runs, failures, resume, locks."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tierflow.data import output_folder
from tierflow.data.errors import InputError
from tierflow.data.output_folder import FolderBusyError, StagedOutput

OWNED = ("summary.json", "plot.png", "models", "state.db", "state.db-wal")


class Boom(Exception):
    """A failure in the middle of a run."""


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_first_run_writes_the_folder_and_leaves_no_staging(tmp_path: Path) -> None:
    target = StagedOutput(tmp_path / "a" / "out", OWNED)
    with target.open() as work:
        assert work.path == tmp_path / "a" / ".out.partial"
        assert not work.resumed and not work.discarded
        (work.path / "summary.json").write_text("{}")
        (work.path / "models").mkdir()
        (work.path / "models" / "m1").write_text("one")
        assert not (tmp_path / "a" / "out").exists()
    assert _tree(tmp_path / "a") == {
        "out/summary.json": b"{}",
        "out/models/m1": b"one",
    }


def test_a_failed_first_run_leaves_nothing_not_even_parents(tmp_path: Path) -> None:
    target = StagedOutput(tmp_path / "new" / "deeper" / "out", OWNED)
    with pytest.raises(Boom), target.open():
        raise Boom
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rerun_leaves_the_folder_byte_identical(tmp_path: Path) -> None:
    out = tmp_path / "out"
    target = StagedOutput(out, OWNED)
    with target.open() as work:
        (work.path / "summary.json").write_text("first")
        (work.path / "state.db").write_bytes(b"db1")
    before = _tree(out)
    with pytest.raises(Boom), target.open() as work:
        (work.path / "summary.json").write_text("second, half")
        raise Boom
    assert _tree(out) == before
    # what the failed run wrote is kept beside OUT for --resume
    assert (tmp_path / ".out.partial" / "summary.json").read_text() == "second, half"


def test_a_rerun_replaces_owned_names_and_leaves_other_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    target = StagedOutput(out, OWNED)
    with target.open() as work:
        (work.path / "summary.json").write_text("first")
        (work.path / "plot.png").write_text("plot of the first run")
        (work.path / "models").mkdir()
        (work.path / "models" / "m1").write_text("one")
    (out / "state.db-wal").write_text("a log of another store")
    (out / "notes.txt").write_text("the user's")
    with target.open() as work:
        (work.path / "summary.json").write_text("second")
        (work.path / "models").mkdir()
        (work.path / "models" / "m2").write_text("two")
    assert _tree(out) == {
        "summary.json": b"second",
        "models/m2": b"two",
        "notes.txt": b"the user's",
    }
    assert not (tmp_path / ".out.partial").exists()


def test_ctrl_c_as_the_files_move_in_leaves_the_whole_new_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C between two of the commit's moves stopped it there: OUT held
    the new run's first file beside the old run's others (a report of one
    day, tables of another), the rest left in the staging folder. The moves
    now finish first; the interrupt comes after them."""
    out = tmp_path / "out"
    target = StagedOutput(out, OWNED)
    with target.open() as work:
        (work.path / "summary.json").write_text("first")
        (work.path / "state.db").write_bytes(b"db1")
    move = output_folder._replace
    moved: list[str] = []

    def ctrl_c_after_the_first(src: Path, dst: Path, scratch: Path) -> None:
        move(src, dst, scratch)
        moved.append(dst.name)
        if len(moved) == 1:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(output_folder, "_replace", ctrl_c_after_the_first)
    with pytest.raises(KeyboardInterrupt), target.open() as work:
        (work.path / "summary.json").write_text("second")
        (work.path / "state.db").write_bytes(b"db2")
    assert moved == ["state.db", "summary.json"]
    assert _tree(out) == {"summary.json": b"second", "state.db": b"db2"}
    assert not (tmp_path / ".out.partial").exists()


def test_resume_keeps_an_unfinished_run_and_a_fresh_run_clears_it(
    tmp_path: Path,
) -> None:
    target = StagedOutput(tmp_path / "out", OWNED)
    with pytest.raises(Boom), target.open() as work:
        (work.path / "state.db").write_text("half a day")
        raise Boom
    with pytest.raises(Boom), target.open(resume=True) as work:
        assert work.resumed and not work.discarded
        assert (work.path / "state.db").read_text() == "half a day"
        raise Boom
    with target.open() as work:
        assert work.discarded and not work.resumed
        assert [p.name for p in work.path.iterdir()] == [".lock"]
    with target.open(resume=True) as work:
        assert not work.resumed and not work.discarded


def test_two_runs_never_share_a_folder(tmp_path: Path) -> None:
    target = StagedOutput(tmp_path / "out", OWNED)
    with target.open() as work:
        (work.path / "summary.json").write_text("mine")
        second = StagedOutput(tmp_path / "out", OWNED)
        with pytest.raises(FolderBusyError, match="another tierflow run"):
            second.open().__enter__()
        assert (work.path / "summary.json").read_text() == "mine"
    assert (tmp_path / "out" / "summary.json").read_text() == "mine"


def test_the_root_is_no_output_folder() -> None:
    with pytest.raises(InputError, match="field '--out'"):
        StagedOutput(Path("/"), OWNED)
