"""Every number a command takes is bounded: floats finite, integers capped."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from tierflow.cli.main import cli
from tierflow.cli.param_types import FiniteFloatRange


def _options() -> Iterator[tuple[tuple[str, ...], click.Option]]:
    def walk(
        command: click.Command, path: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str, ...], click.Option]]:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, (*path, name))
        for param in command.params:
            if isinstance(param, click.Option):
                yield path, param

    yield from walk(cli, ())


FLOATS = [
    (path, param.opts[0])
    for path, param in _options()
    if isinstance(param.type, click.types.FloatParamType)
]


def test_every_float_option_refuses_nan_and_inf() -> None:
    """A float option is a :class:`FiniteFloatRange`: NaN passes every range
    check and inf an open top, and either once reached a solver."""
    assert FLOATS, "no float options found"
    plain = [
        f"{' '.join(path)} {param.opts[0]}"
        for path, param in _options()
        if isinstance(param.type, click.types.FloatParamType)
        and not isinstance(param.type, FiniteFloatRange)
    ]
    assert plain == []


@pytest.mark.parametrize("value", ["nan", "inf"])
@pytest.mark.parametrize(("path", "flag"), FLOATS, ids=lambda v: str(v))
def test_a_non_finite_float_is_a_usage_error(
    path: tuple[str, ...], flag: str, value: str
) -> None:
    result = CliRunner().invoke(cli, [*path, flag, value])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{flag}'" in result.output
    assert "Traceback" not in result.output


def test_every_integer_option_has_a_ceiling() -> None:
    """Counts, sizes and horizons are capped (a huge one used to reach numpy
    as a 700 GiB allocation or a C long overflow); seeds fit an int32."""
    open_top = [
        f"{' '.join(path)} {param.opts[0]}"
        for path, param in _options()
        if isinstance(param.type, click.types.IntParamType)
        and not (isinstance(param.type, click.IntRange) and param.type.max is not None)
    ]
    assert open_top == []
