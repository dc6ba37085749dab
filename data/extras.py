"""Optional dependencies (pip extras): whether one is installed, and the
one-line error that names the extra to install when it is not."""

from __future__ import annotations

from importlib import import_module, util
from types import ModuleType

from tierflow.data.errors import TierflowError


class MissingExtraError(TierflowError, ImportError):
    """A feature needs an optional dependency that is not installed."""

    def __init__(self, feature: str, extra: str) -> None:
        self.feature = feature
        self.extra = extra
        super().__init__(
            f"the {feature} needs the optional dependency: "
            f"pip install 'tierflow[{extra}]'"
        )


def has_module(name: str) -> bool:
    """Whether ``name`` can be imported (without importing it)."""
    try:
        return util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, *, feature: str, extra: str) -> ModuleType:
    """Import ``module``; :class:`MissingExtraError` names ``extra`` when absent."""
    try:
        return import_module(module)
    except ImportError:
        raise MissingExtraError(feature, extra) from None
