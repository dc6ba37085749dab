"""Files replaced whole or not at all: a hidden temporary file of their own
in the same folder, then :func:`os.replace`, the temporary removed if
anything fails. A fixed ``PATH.tmp`` overwrote a file of that name and was
left half-written by a full disk."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically,
    readable by all (0644, as a plain ``open`` would make it)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
