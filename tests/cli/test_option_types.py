"""Every number a command takes is bounded: floats finite, integers capped."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tierflow.cli.main import cli, subcommands
from tierflow.cli.param_types import FiniteFloatRange, OutputPath, WholeRange


def _options() -> Iterator[tuple[tuple[str, ...], click.Option]]:
    def walk(
        command: click.Command, path: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str, ...], click.Option]]:
        if isinstance(command, click.Group):
            for name, sub in subcommands(command):
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


INTEGERS = [
    (path, param.opts[0])
    for path, param in _options()
    if isinstance(param.type, click.types.IntParamType)
]


def test_every_integer_option_takes_ascii_digits_only() -> None:
    """An integer option is a :class:`WholeRange`: click's own ``int()``
    read ``3_0`` as 30 and other scripts' digits as numbers."""
    assert INTEGERS, "no integer options found"
    plain = [
        f"{' '.join(path)} {param.opts[0]}"
        for path, param in _options()
        if isinstance(param.type, click.types.IntParamType)
        and not isinstance(param.type, WholeRange)
    ]
    assert plain == []


@pytest.mark.parametrize("value", ["3_0", " 5", "٣", "３"])
@pytest.mark.parametrize(("path", "flag"), INTEGERS, ids=lambda v: str(v))
def test_an_integer_option_written_otherwise_is_a_usage_error(
    path: tuple[str, ...], flag: str, value: str
) -> None:
    result = CliRunner().invoke(cli, [*path, flag, value])
    assert result.exit_code == 2, result.output
    assert (
        f"Invalid value for '{flag}': {value!r} is not a valid integer: "
        "write it in digits 0-9 (a sign may lead), without '_', spaces or "
        "other scripts' digits."
    ) in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("value", ["1_0", " 5", "٣"])
@pytest.mark.parametrize(("path", "flag"), FLOATS, ids=lambda v: str(v))
def test_a_float_option_written_otherwise_is_a_usage_error(
    path: tuple[str, ...], flag: str, value: str
) -> None:
    """``--time-limit 1_0`` was 10 seconds (click's ``float()``)."""
    result = CliRunner().invoke(cli, [*path, flag, value])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{flag}': {value!r} is not a valid number: " in (
        result.output
    )


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "orders", "--orders", "3", "--out"],
        ["generate", "gap", "--type", "c", "--agents", "2", "--jobs", "3", "--out"],
    ],
)
def test_an_output_file_that_is_no_regular_file_is_refused(
    tmp_path: Path, args: list[str]
) -> None:
    """Outputs are written to a new file and renamed over the path: ``--out``
    a pipe (or a device, ``/dev/stdout``) replaced it with a plain file, and
    the command said it had written there."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = CliRunner().invoke(cli, [*args, str(fifo)])
    assert result.exit_code == 2, result.output
    assert "is not a regular file" in result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    # a link (/dev/stdout is one) would be replaced, not written through
    target = tmp_path / "target.txt"
    target.write_text("kept\n")
    link = tmp_path / "link"
    link.symlink_to(target)
    result = CliRunner().invoke(cli, [*args, str(link)])
    assert result.exit_code == 2 and "is not a regular file" in result.output
    assert link.is_symlink() and target.read_text() == "kept\n"


OUT_PATHS = [
    (path, param.opts[0])
    for path, param in _options()
    if isinstance(param.type, OutputPath)
]


@pytest.mark.parametrize(("path", "flag"), OUT_PATHS)
def test_an_empty_output_path_is_a_usage_error(
    path: tuple[str, ...], flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``allocate --out ''`` wrote its outputs and a state store into the
    current folder (an empty path is "." to pathlib), exit 0; a file output
    said "'.' is not a regular file but a link, device or pipe"."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [*path, flag, ""])
    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        f"Error: Invalid value for '{flag}': an empty path names no file or folder.\n"
    ), result.output
    assert list(tmp_path.iterdir()) == []


FILE_OUTPUTS = [
    (path, param.opts[0])
    for path, param in _options()
    if isinstance(param.type, OutputPath) and not param.type.dir_okay
]


FOLDER_OUTPUTS = [
    (path, param.opts[0])
    for path, param in _options()
    if isinstance(param.type, OutputPath) and not param.type.file_okay
]


@pytest.mark.parametrize(("path", "flag"), FOLDER_OUTPUTS, ids=lambda v: str(v))
def test_an_output_folder_that_is_a_pipe_or_device_is_refused(
    path: tuple[str, ...], flag: str, tmp_path: Path
) -> None:
    """``simulate --out /dev/null`` (or a pipe) passed click's folder check,
    which refuses only a regular file, and ended in ``Error: /dev/null: File
    exists``, exit 1, after the command had started."""
    assert FOLDER_OUTPUTS, "no folder outputs found"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = CliRunner().invoke(cli, [*path, flag, str(fifo)])
    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        f"Error: Invalid value for '{flag}': {str(fifo)!r} is not a folder but a "
        "device or pipe.\n"
    ), result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.mark.parametrize(("path", "flag"), FILE_OUTPUTS)
@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("scores/", "'scores/' names a folder; give a file name."),
        ("-", "'-' (standard output) is not taken here; give a file name."),
    ],
)
def test_a_file_output_given_as_a_folder_or_a_dash_is_refused(
    path: tuple[str, ...],
    flag: str,
    given: str,
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--out scores/`` wrote a file named ``scores``, ``--out -`` one named
    ``-`` (pathlib drops the slash; no command writes to standard output)."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [*path, flag, given])
    assert result.exit_code == 2, result.output
    assert result.output.endswith(f"Error: Invalid value for '{flag}': {said}\n")
    assert list(tmp_path.iterdir()) == []


NETWORK_COMMANDS = [path for path, param in _options() if param.name == "network_dir"]


@pytest.mark.parametrize("path", NETWORK_COMMANDS, ids=" ".join)
def test_a_missing_network_folder_is_a_usage_error(
    path: tuple[str, ...], tmp_path: Path
) -> None:
    """Exit 2 naming the option, as every other missing input path (it was
    exit 1, "not a network folder", after the command had started)."""
    missing = tmp_path / "no-such-network"
    result = CliRunner().invoke(cli, [*path, "--network", str(missing)])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '--network': Directory '{missing}' does not exist" in (
        result.output
    )


def test_network_validate_refuses_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-network"
    result = CliRunner().invoke(cli, ["network", "validate", str(missing)])
    assert result.exit_code == 2, result.output
    assert f"Directory '{missing}' does not exist" in result.output


DAYS = [
    (path, param.opts[0])
    for path, param in _options()
    if isinstance(param.type, click.DateTime)
]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-02-29", "'2026-02-29': no such day: 2026 is not a leap year."),
        (
            "2026-04-31",
            "'2026-04-31': no such day: day 31 out of range for month 4 (1-30).",
        ),
        ("2026-13-01", "'2026-13-01': no such day: month 13 out of range (1-12)."),
        ("tomorrow", "'tomorrow' does not match the format '%Y-%m-%d'."),
    ],
)
@pytest.mark.parametrize(("path", "flag"), DAYS, ids=lambda v: str(v))
def test_a_day_option_says_why_a_day_is_refused(
    path: tuple[str, ...], flag: str, value: str, reason: str
) -> None:
    """``generate orders --start`` and ``simulate --day`` said "does not
    match the format '%Y-%m-%d'" of 2026-02-29, a format it has; every
    other date reader names the missing day since this session."""
    assert [(p, f) for p, f in DAYS] == [
        (("generate", "orders"), "--start"),
        (("simulate",), "--day"),
    ]
    result = CliRunner().invoke(cli, [*path, flag, value])
    assert result.exit_code == 2, result.output
    assert f"Error: Invalid value for '{flag}': {reason}" in result.output


@pytest.mark.parametrize("value", ["-0", "-0.0", "-0e5"])
def test_a_negative_zero_is_zero(value: str) -> None:
    """``capacity show --workload -0 --json`` echoed ``"workload": -0.0``."""
    number = FiniteFloatRange(0.0, 10.0).convert(value, None, None)
    assert number == 0.0 and str(number) == "0.0"
