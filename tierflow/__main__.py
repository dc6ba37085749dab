"""``python -m tierflow``: the ``tierflow`` command, as the console script
runs it (:func:`tierflow.cli.entry.main`: Ctrl-C and SIGTERM one line, an
error one line and exit 1). It said only "'tierflow' is a package and
cannot be directly executed"."""

from __future__ import annotations

from tierflow.cli.entry import main

if __name__ == "__main__":  # pragma: no cover
    main()
