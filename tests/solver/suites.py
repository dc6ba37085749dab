"""Which engine suite checks which engine: lists read from the capability flags.

Like Pyomo's ``test_solvers.py`` lists (``mip_solvers``, ...), but built from
what each engine declares in the registry, so no test names an engine. Each
registered engine must land in exactly one suite (see ``unlisted``).
"""

from __future__ import annotations

from tierflow.solver import engine_names, engines_with


def suites(only_available: bool = True) -> dict[str, list[str]]:
    """Suite name -> engines it checks.

    * ``exact``: proves optimality and its bound; must hit every known optimum;
    * ``heuristic``: an optimizer without that proof; feasible, never below
      the optimum, its bound (if any) valid;
    * ``baseline``: a reference policy; feasible, never below the optimum.
    """
    return {
        "exact": engines_with(only_available, exact=True, proves_bound=True),
        "heuristic": engines_with(only_available, exact=False, baseline=False),
        "baseline": engines_with(only_available, exact=False, baseline=True),
    }


def unlisted() -> list[str]:
    """Registered engines in no suite, or in more than one."""
    lists = suites(only_available=False).values()
    return [
        name
        for name in engine_names(baselines=True)
        if sum(name in names for names in lists) != 1
    ]


#: Every available engine, baselines included.
ENGINES = engine_names(only_available=True, baselines=True)
EXACT = suites()["exact"]
#: Engines that build an assignment item by item and explain what they leave out.
CONSTRUCTIVE = engines_with(True, exact=False, proves_bound=False)
#: The engines that answer for a failed one.
FALLBACK = engines_with(True, fallback=True)
