"""The choices, bounds and defaults the commands' options show in ``--help``.

Each is a copy of a value its own layer owns (the solver registry's engine
names, the allocator's limits, the CLTV levels ...). Those layers import
pandas, OR-Tools or scikit-learn, and an option is declared when its command's
module is imported, so reading the value from its owner made every
``tierflow X --help`` (and every usage error) pay for them: ``simulate --help``
took about a second. The copies cost nothing; ``tests/cli/test_lazy.py``
checks that each equals its owner's, so a change there fails CI here.
"""

from __future__ import annotations

import datetime as dt

#: :func:`tierflow.solver.registry.engine_names` (``--engine``'s choices).
ENGINE_NAMES = ("cpsat", "highs", "cbc", "greedy", "lp", "cpsat-plain")
#: :data:`tierflow.orchestration.allocation.day_allocator.NEAREST`.
NEAREST = "nearest"
#: :data:`tierflow.solver.partition.BACKENDS` (``allocate --backend``).
BACKENDS = ("none", "loky", "threading", "dask")
#: :data:`tierflow.orchestration.allocation.settings.MAX_BATCH_MINUTES`.
MAX_BATCH_MINUTES = 1440.0
#: :data:`tierflow.orchestration.allocation.settings.MAX_RELEASE_MINUTES`.
MAX_RELEASE_MINUTES = 7 * 1440.0
#: :data:`tierflow.cltv.level.LEVELS` (``cltv ... --level``).
CLTV_LEVELS = ("seasonal", "baseline", "learned")
#: :data:`tierflow.cltv.history.DEFAULT_MAX_HISTORY_LOSS`.
DEFAULT_MAX_HISTORY_LOSS = 0.01
#: :data:`tierflow.data.rates.SERVICES` (``capacity show --service``).
SERVICES = ("next_day", "two_day", "ground", "economy")
#: :data:`tierflow.data.order_generator.DEFAULT_START`.
DEFAULT_START = dt.date(2026, 1, 5)
#: :data:`tierflow.orchestration.checkout.router.MAX_TTL_S`.
MAX_TTL_S = 30 * 86_400.0
#: :data:`tierflow.orchestration.checkout.router.MAX_INTERVAL_S`.
MAX_INTERVAL_S = 366 * 86_400.0
