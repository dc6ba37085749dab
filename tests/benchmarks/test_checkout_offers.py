"""``python -m tierflow.benchmarks.checkout_offers`` (docs/checkout.md): its
help and a bad option end as ``tierflow simulate``'s do, without running a
day or a traceback (``--help`` printed simulate's help, then failed on the
``offers.json`` of a day it had not run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow.benchmarks.checkout_offers import main


def test_help_prints_the_options_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ended:
        main(["--help", "--out", str(tmp_path / "day")])
    assert ended.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("python -m tierflow.benchmarks.checkout_offers")
    assert "Usage: checkout_offers [OPTIONS]" in out and "--checkouts" in out
    assert not (tmp_path / "day").exists()


def test_a_bad_option_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ended:
        main(["--checkouts", "abc", "--out", str(tmp_path / "day")])
    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert "Error: Invalid value for '--checkouts': 'abc'" in err
    assert "Traceback" not in err and not (tmp_path / "day").exists()
