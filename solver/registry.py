"""Engines by name; the CLI's ``--engine`` choices come from here."""

from __future__ import annotations

from tierflow.data.errors import UnknownEngineError
from tierflow.solver.cbc import CbcEngine
from tierflow.solver.cpsat import CpSatEngine
from tierflow.solver.engine import Engine
from tierflow.solver.greedy import GreedyEngine
from tierflow.solver.highs import HighsEngine
from tierflow.solver.lp import LpEngine

_ENGINES: dict[str, Engine] = {
    engine.name: engine
    for engine in (
        CpSatEngine(),
        HighsEngine(),
        CbcEngine(),
        GreedyEngine(),
        LpEngine(),
        CpSatEngine("cpsat-plain", plain=True),
    )
}


def engine_names(only_available: bool = False) -> list[str]:
    """Registered engine names, in preference order."""
    return [n for n, e in _ENGINES.items() if not only_available or e.available()]


def get_engine(name: str) -> Engine:
    """The engine called ``name``; the error lists the valid names."""
    try:
        return _ENGINES[name]
    except KeyError:
        raise UnknownEngineError(
            f"unknown engine {name!r}; choose one of {', '.join(_ENGINES)}"
        ) from None


def register(engine: Engine) -> None:
    """Add (or replace) an engine, e.g. a plug-in from outside tierflow."""
    if not isinstance(engine, Engine):
        raise TypeError(f"{engine!r} does not implement the Engine protocol")
    _ENGINES[engine.name] = engine
