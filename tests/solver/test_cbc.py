"""CBC's executable without writing into site-packages."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tierflow.solver.cbc import _executable_copy, cbc_binary


def test_a_binary_without_its_execute_bit_is_copied_to_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERFLOW_CACHE_DIR", str(tmp_path / "cache"))
    installed = tmp_path / "site-packages" / "cbc"
    installed.parent.mkdir()
    installed.write_bytes(b"#!/bin/sh\necho cbc\n")
    installed.chmod(0o444)
    installed.parent.chmod(0o555)  # a read-only install
    try:
        copy = _executable_copy(installed)
        assert (
            copy is not None and Path(copy).parent.parent.parent == tmp_path / "cache"
        )
        assert os.access(copy, os.X_OK)
        assert Path(copy).read_bytes() == installed.read_bytes()
        assert stat.S_IMODE(installed.stat().st_mode) == 0o444  # left as it was
        assert _executable_copy(installed) == copy  # made once
    finally:
        installed.parent.chmod(0o755)


def test_the_bundled_binary_runs() -> None:
    path = cbc_binary()
    assert path is not None and os.access(path, os.X_OK)
