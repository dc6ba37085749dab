"""Engines by name; the CLI's ``--engine`` choices and the test suites come from here."""

from __future__ import annotations

from tierflow.data.errors import SolverError, UnknownEngineError
from tierflow.solver.cbc import CbcEngine
from tierflow.solver.cpsat import CpSatEngine
from tierflow.solver.engine import Capabilities, Engine
from tierflow.solver.greedy import GreedyEngine
from tierflow.solver.highs import HighsEngine
from tierflow.solver.lp import LpEngine
from tierflow.solver.nearest import NearestEngine
from tierflow.solver.portfolio import PortfolioEngine

_ENGINES: dict[str, Engine] = {
    engine.name: engine
    for engine in (
        PortfolioEngine(),  # "cpsat": the name scripts know
        HighsEngine(),
        CbcEngine(),
        GreedyEngine(),
        LpEngine(),
        CpSatEngine(),
        NearestEngine(),
    )
}


def engine_names(only_available: bool = False, *, baselines: bool = False) -> list[str]:
    """Registered engine names, in preference order.

    Reference policies (``capabilities.baseline``, e.g. ``nearest``) are
    listed only with ``baselines=True``; :func:`get_engine` knows them all.
    """
    return [
        name
        for name, engine in _ENGINES.items()
        if (baselines or not engine.capabilities.baseline)
        and (not only_available or engine.available())
    ]


def engines_with(only_available: bool = False, **flags: bool) -> list[str]:
    """Names of the engines whose capabilities match every flag given.

    ``engines_with(exact=True)`` are the exact engines (Pyomo's capability
    lists, read from what each engine declares); no flag: every engine,
    baselines included.
    """
    unknown = set(flags) - set(Capabilities.flags())
    if unknown:
        raise TypeError(f"unknown capability flags: {sorted(unknown)}")
    return [
        name
        for name in engine_names(only_available, baselines=True)
        if all(getattr(_ENGINES[name].capabilities, f) is v for f, v in flags.items())
    ]


def get_engine(name: str) -> Engine:
    """The engine called ``name``; the error lists the valid names."""
    try:
        return _ENGINES[name]
    except KeyError:
        raise UnknownEngineError(
            f"unknown engine {name!r}; choose one of {', '.join(_ENGINES)}"
        ) from None


def fallback_engine() -> Engine:
    """The first available engine declaring ``capabilities.fallback`` (``greedy``)."""
    for name in engines_with(only_available=True, fallback=True):
        return _ENGINES[name]
    raise SolverError("no available engine can serve as the fallback")


def register(engine: Engine) -> None:
    """Add (or replace) an engine, e.g. a plug-in from outside tierflow.

    Its ``name`` is how ``solve()`` and the CLI's ``--engine`` ask for it, so
    it must be text one can type: an int landed in :func:`engine_names` and
    ``""`` became an engine no one could ask for.
    """
    if not isinstance(engine, Engine):
        raise TypeError(f"{engine!r} does not implement the Engine protocol")
    name = engine.name
    if not isinstance(name, str) or not name or name != name.strip():
        raise TypeError(
            f"{engine!r}: name must be a non-empty string without surrounding "
            f"spaces, not {name!r}"
        )
    if not isinstance(engine.capabilities, Capabilities):
        raise TypeError(f"{engine.name!r}: capabilities must be a Capabilities")
    _ENGINES[engine.name] = engine
