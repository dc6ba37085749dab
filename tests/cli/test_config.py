"""``tierflow.toml``, ``TIERFLOW_*`` and ``--config``: precedence, errors, ``[tiers]``."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from tests.cli.test_help import _commands
from tests.conftest import ROOT, TINY_NETWORK
from tierflow.cli.config import read_settings, setting_name
from tierflow.cli.main import cli
from tierflow.formulations.tiers import TierPolicy

GAP = ["generate", "gap", "--type", "D", "--agents", "2", "--jobs", "4"]


def _run(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, args, env=env)


def _seed(result: Result) -> str:
    """The seed ``tierflow generate gap`` reports ("..., seed N)")."""
    assert result.exit_code == 0, result.output
    return result.stdout.rsplit("seed ", 1)[1].rstrip(")\n")


def test_precedence_cli_over_env_over_file_over_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = ["--out", "g.txt"]
    assert _seed(_run([*GAP, *out])) == "0"  # the default
    Path("tierflow.toml").write_text("[generate.gap]\nseed = 1\n")
    assert _seed(_run([*GAP, *out])) == "1"  # ./tierflow.toml
    env = {"TIERFLOW_GENERATE_GAP_SEED": "2"}
    assert _seed(_run([*GAP, *out], env)) == "2"  # environment over file
    assert _seed(_run([*GAP, *out, "--seed", "3"], env)) == "3"  # command line


def test_help_shows_the_files_value_as_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also for an option with no default of its own (``--batch-size`` and
    ``--history`` set in the file showed nothing; those with a default
    showed the file's)."""
    monkeypatch.chdir(tmp_path)
    bare = " ".join(_run(["allocate", "--help"]).output.split())
    assert "windows. [1<=x<=1000000]" in bare
    Path("tierflow.toml").write_text(
        '[allocate]\nbatch_size = 500\nhistory = "past.csv"\n'
    )
    shown = " ".join(_run(["allocate", "--help"]).output.split())
    assert "windows. [default: 500; 1<=x<=1000000]" in shown
    assert "arrive). [default: past.csv]" in shown
    # the root's own options too: `tierflow --help` was printed before the
    # file was read (click takes the given --help before the absent --config)
    Path("tierflow.toml").write_text('log_level = "debug"\n')
    root = " ".join(_run(["--help"]).output.split())
    assert "written (stderr). [default: debug]" in root
    # a variable overrides the file, in the help as in a run (it showed the
    # file's value)
    env = {"TIERFLOW_LOG_LEVEL": "error", "TIERFLOW_ALLOCATE_BATCH_SIZE": "77"}
    root = " ".join(_run(["--help"], env).output.split())
    assert "written (stderr). [default: error]" in root
    shown = " ".join(_run(["allocate", "--help"], env).output.split())
    assert "windows. [default: 77; 1<=x<=1000000]" in shown
    # a file that cannot be read keeps neither the help (which says how to
    # give another) nor the version from showing; a command says what is wrong
    Path("tierflow.toml").write_text("log_level = \n")
    for args in (["--help"], ["--version"]):
        answer = _run(args)
        assert answer.exit_code == 0, answer.output
        assert "Error" not in answer.output
    assert "written (stderr). [default: info]" in " ".join(
        _run(["--help"]).output.split()
    )
    failed = _run(["generate", "gap", "--agents", "2", "--jobs", "4"])
    assert failed.exit_code == 1
    assert failed.output.startswith("Error: tierflow.toml: not valid TOML")


def test_config_option_and_variable_name_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("tierflow.toml").write_text("[generate.gap]\nseed = 1\n")
    other = tmp_path / "other.toml"
    other.write_text('[generate.gap]\nseed = 5\nout = "from-file.txt"\n')
    result = _run(["--config", str(other), *GAP])
    assert _seed(result) == "5" and Path("from-file.txt").is_file()
    assert _seed(_run(GAP, {"TIERFLOW_CONFIG": str(other)})) == "5"


def test_a_file_with_a_byte_order_mark_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows Notepad starts a UTF-8 file with a BOM (and ends lines with
    CRLF): it was "not valid TOML: Invalid statement (at line 1, column 1)"."""
    monkeypatch.chdir(tmp_path)
    Path("h.toml").write_bytes(b"\xef\xbb\xbf[generate.gap]\r\nseed = 7\r\n")
    assert _seed(_run(["--config", "h.toml", *GAP, "--out", "g.txt"])) == "7"
    # the same as ./tierflow.toml, and a BOM anywhere else is still an error
    Path("tierflow.toml").write_bytes(b"\xef\xbb\xbf[generate.gap]\nseed = 8\n")
    assert _seed(_run([*GAP, "--out", "g.txt"])) == "8"
    Path("tierflow.toml").write_bytes(b"[generate.gap]\n\xef\xbb\xbfseed = 8\n")
    failed = _run([*GAP, "--out", "g.txt"])
    assert failed.exit_code == 1
    assert failed.output == (
        "Error: tierflow.toml: not valid TOML: "
        "Invalid statement (at line 2, column 1)\n"
    )


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (
            b'[generate.gap]\nout = "caf\xe9.txt"\n',
            "invalid continuation byte (byte b'\\xe9' at line 2, column 11)",
        ),
        (
            b"\xef\xbb\xbf# \xff\n",
            "invalid start byte (byte b'\\xff' at line 1, column 3)",
        ),
        (
            "[generate.gap]\nseed = 7\n".encode("utf-16"),
            "UTF-16 (it starts with UTF-16's byte-order mark): save it as UTF-8",
        ),
    ],
)
def test_a_file_that_is_not_utf8_is_named_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: bytes, said: str
) -> None:
    """A Latin-1 byte (or a Notepad "Unicode" file, UTF-16) is located as
    TOML's own errors are: it was "not valid TOML: 'utf-8' codec can't
    decode byte 0xe9 in position 25", a byte offset, not a line."""
    monkeypatch.chdir(tmp_path)
    Path("tierflow.toml").write_bytes(raw)
    failed = _run([*GAP, "--out", "g.txt"])
    assert failed.exit_code == 1
    assert failed.stderr == f"Error: tierflow.toml: not UTF-8 text: {said}\n"
    assert not Path("g.txt").exists()


def test_keys_are_the_long_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--time-limit`` is ``time-limit`` or ``time_limit`` in the file and
    ``..._TIME_LIMIT`` in the environment (not click's ``..._AS_JSON`` names)."""
    monkeypatch.chdir(tmp_path)
    Path("tierflow.toml").write_text("[network.sample]\njson = true\n")
    result = _run(["network", "sample", "--out", "s"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["out"] == "s"
    env = {"TIERFLOW_NETWORK_VALIDATE_JSON": "1"}
    result = _run(["network", "validate", str(TINY_NETWORK)], env)
    assert json.loads(result.stdout)["nodes"] == 3


BAD_FILES = [
    ("[generate.gap]\nseed = 'x'\n", "key 'generate.gap.seed': value 'x': "),
    ("[generate.gapp]\nseed = 1\n", "key 'generate.gapp': unknown key; choose from"),
    ("[simulate]\nchekouts = 5\n", "key 'simulate.chekouts': unknown key"),
    ("simulate = 3\n", "key 'simulate': must be a table of `simulate` options"),
    (
        "[tiers]\nplatinum_percentile = 2\n",
        "key 'tiers.platinum_percentile': value 2.0",
    ),
    ("[tiers.price_markup]\ngold = -1\n", "key 'tiers.price_markup.gold': value -1.0"),
    (
        "[tiers.rules.gold]\nservices = ['ground', 'warp']\n",
        "key 'tiers.rules.gold.services.1': value 'warp': ",
    ),
    ("[tiers\n", "not valid TOML: "),
    # a value is checked as the flag checks it: a list, a table, a fraction
    # or a boolean for a count ended in a traceback or was cut to an integer
    (
        "[generate.gap]\nseed = [5]\n",
        "key 'generate.gap.seed': value [5]: must be one value, not a list",
    ),
    (
        "[generate.gap]\nout = {a = 1}\n",
        "key 'generate.gap.out': value {'a': 1}: must be one value, not a table",
    ),
    ("[generate.gap]\nseed = 2.5\n", "key 'generate.gap.seed': value '2.5': "),
    ("[generate.gap]\nseed = true\n", "key 'generate.gap.seed': value 'true': "),
    # one setting under both spellings the page allows: the last was taken
    # without a word (`time-limit = 3` above, the example's `time_limit = 2`)
    (
        "[generate.gap]\nlog-level = 'debug'\nlog_level = 'error'\n",
        "key 'generate.gap.log_level': given twice, as 'log-level' and 'log_level' "
        "(one setting, written two ways): which one was meant?\n",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_a_bad_file_names_file_key_and_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("tierflow.toml").write_text(text)
    result = _run([*GAP, "--out", "g.txt"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: tierflow.toml: {message}"), result.stderr
    assert "Traceback" not in result.output
    assert not Path("g.txt").exists()


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("TIERFLOW_GENERATE_GAP_SEED", "x", "'--seed' ($TIERFLOW_GENERATE_GAP_SEED)"),
        ("TIERFLOW_LOG_LEVEL", "loud", "'--log-level' ($TIERFLOW_LOG_LEVEL)"),
        (
            "TIERFLOW_GENERATE_GAP_LOG_FORMAT",
            "xml",
            "'--log-format' ($TIERFLOW_GENERATE_GAP_LOG_FORMAT)",
        ),
    ],
)
def test_a_bad_variable_is_named(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    said: str,
) -> None:
    """A bad ``TIERFLOW_*`` value is a usage error naming the variable as
    well as the option: it read ``Invalid value for '--seed'``, a flag the
    operator never typed. The flag itself is named as before."""
    monkeypatch.chdir(tmp_path)
    result = _run([*GAP, "--out", "g.txt"], {variable: value})
    assert result.exit_code == 2
    assert f"Error: Invalid value for {said}: " in result.stderr, result.stderr
    typed = _run([*GAP, "--out", "g.txt", "--seed", "x"])
    assert "Error: Invalid value for '--seed': 'x' " in typed.stderr, typed.stderr
    assert not Path("g.txt").exists()


@pytest.mark.parametrize(
    ("variable", "said"),
    [
        # a leaf command's option misspelt: it was ignored, the seed stayed 0
        (
            "TIERFLOW_GENERATE_GAP_SEEDS",
            "$TIERFLOW_GENERATE_GAP_SEEDS: unknown variable; choose from "
            "TIERFLOW_GENERATE_GAP_AGENTS, ",
        ),
        # a group's subcommand misspelt
        (
            "TIERFLOW_GENERATE_GAPP_SEED",
            "$TIERFLOW_GENERATE_GAPP_SEED: unknown variable; choose from "
            "TIERFLOW_GENERATE_GAP_*, TIERFLOW_GENERATE_ORDERS_*",
        ),
    ],
)
def test_an_unknown_variable_of_the_command_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, said: str
) -> None:
    """A ``TIERFLOW_<COMMAND>_*`` variable that is none of the running
    command's options is one line naming it, exit 1, as an unknown key in
    the file is: a misspelt one was silently ignored, its value never used."""
    monkeypatch.chdir(tmp_path)
    result = _run([*GAP, "--out", "g.txt"], {variable: "5"})
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: {said}"), result.stderr
    assert result.stderr.count("\n") == 1 and not Path("g.txt").exists()
    # the help still answers; an empty variable is an unset one, as for an
    # option's; another command's variables (and tierflow's others) are
    # none of this command's business
    assert _run([*GAP, "--help"], {variable: "5"}).exit_code == 0
    for env in (
        {variable: ""},
        {"TIERFLOW_SIMULATE_CHECKOUTS": "5", "TIERFLOW_STATE": "s.db"},
        {"TIERFLOW_GENERATE_ORDERS_SEED": "5", "TIERFLOW_CHROMIUM": "x"},
    ):
        assert _seed(_run([*GAP, "--out", "g.txt"], env)) == "0"


@contextlib.contextmanager
def _as_nobody() -> Iterator[None]:
    """The block run as an unprivileged user (root reads any file whatever
    its mode): the effective uid only, given back after."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.mark.parametrize("given", ["--config", "$TIERFLOW_CONFIG"])
@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("missing", "No such file or directory"),
        ("folder", "a folder, not a settings file"),
        ("unreadable", "not readable by this user (permission denied)"),
    ],
)
def test_a_config_file_that_cannot_be_read_is_one_line_naming_who_gave_it(
    given: str, kind: str, said: str
) -> None:
    """``--config`` or ``$TIERFLOW_CONFIG`` naming a missing file, a folder
    or a file this user may not read: one line naming the option or the
    variable, the path and the problem, exit 1. A folder was click's usage
    error (exit 2, three lines, ``--config`` named for a variable, and
    ``tierflow --help`` refused too); the others named the path alone."""
    # (pytest's tmp_path is in a folder only root may enter)
    with tempfile.TemporaryDirectory(prefix="tierflow-config-") as folder:
        os.chmod(folder, 0o755)
        _unreadable_config(Path(folder), given, kind, said)


def _unreadable_config(tmp_path: Path, given: str, kind: str, said: str) -> None:
    path = tmp_path / "settings.toml"
    if kind == "folder":
        path.mkdir()
    elif kind == "unreadable":
        path.write_text("[generate.gap]\nseed = 5\n")
        path.chmod(0o000)
    args, env = [*GAP, "--out", str(tmp_path / "g")], {"TIERFLOW_CONFIG": ""}
    if given == "--config":
        args = ["--config", str(path), *args]
    else:
        env["TIERFLOW_CONFIG"] = str(path)
    with _as_nobody():
        result = _run(args, env)
        helped = _run(["--help"], env)
    assert (result.exit_code, result.stderr) == (1, f"Error: {given}: {path}: {said}\n")
    assert not (tmp_path / "g").exists()
    # the help still answers (with the built-in defaults)
    assert helped.exit_code == 0 and "--config FILE" in helped.stdout, helped.output


def test_a_tierflow_toml_that_is_no_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``./tierflow.toml`` that is a folder (or a link to nothing) was
    skipped as if absent: the settings meant for the run silently unused."""
    monkeypatch.chdir(tmp_path)
    Path("tierflow.toml").mkdir()
    result = _run([*GAP, "--out", "g.txt"])
    assert result.exit_code == 1, result.output
    assert result.stderr == "Error: tierflow.toml: a folder, not a settings file\n"
    assert _run(["--help"]).exit_code == 0
    Path("tierflow.toml").rmdir()
    Path("tierflow.toml").symlink_to(tmp_path / "gone.toml")
    result = _run([*GAP, "--out", "g.txt"])
    assert result.exit_code == 1, result.output
    assert result.stderr == "Error: tierflow.toml: No such file or directory\n"
    assert not Path("g.txt").exists()


def _gold(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output
    options = json.loads(result.stdout)["options"]
    return dict(next(o for o in options if o["tier"] == "gold"))


def test_the_tiers_table_sets_the_checkout_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["options", "--network", str(TINY_NETWORK), "--state", "s.db"]
    args += ["--customer", "C1", "--items", "TEE:1", "--dest", "60601"]
    args += ["--now", "2026-01-05T15:00:00Z", "--json"]
    before = _gold(_run(args))
    Path("tierflow.toml").write_text(
        '[tiers.price_markup]\ngold = 2.0\n\n[tiers.rules.gold]\nlabel = "Regular"\n'
    )
    after = _gold(_run(args))
    assert after["label"] == "Regular" and before["label"] == "Standard shipping"
    assert after["price"] == pytest.approx(2.0 * float(str(before["price"])), abs=0.02)


def test_the_example_file_is_complete_and_loads() -> None:
    """``cli/tierflow.example.toml`` (linked from ``docs/``) names every
    option of every command and loads as it is, to the default tier policy."""
    example = ROOT / "cli" / "tierflow.example.toml"
    assert (ROOT / "docs" / "tierflow.example.toml").resolve() == example.resolve()
    defaults, settings = read_settings(example, click.Context(cli))
    assert settings.policy == TierPolicy()
    # given as the command line gives them, for the options' own checks
    assert defaults["simulate"]["checkouts"] == "3000"
    assert defaults["capacity"]["show"]["as_json"] == "false"
    assert defaults["bench"]["allocation"]["forecasts"] == ["history", "perfect"]
    text = example.read_text()
    checked = 0  # keys found: a walk that met no option would pass vacuously
    for path, command in _commands(cli):
        header = f"\n[{'.'.join(path)}]\n" if path else "\n"
        if header not in text:
            assert isinstance(command, click.Group), path
            continue
        # each key in its own command's table: one anywhere in the file
        # passed (`deterministic` was in [allocate] only, not in [simulate])
        start = text.index(header) + len(header) - 1
        table = text[start : text.find("\n[", start)]
        for param in command.params:
            # every command's own log_level/log_format: said once, at the top
            own_log = path and param.name in ("log_level", "log_format")
            if isinstance(param, click.Option) and not param.is_eager and not own_log:
                key = setting_name(param)
                assert f"\n{key} = " in table or f"\n# {key} = " in table, (path, key)
                checked += 1
    assert checked > 200  # 245 keys of 26 commands and the root (2026-12-07)
    # and every setting of the tier policy
    tiers = text[text.index("\n[tiers]\n") : text.index("\n[tiers.")]
    for field in dataclasses.fields(TierPolicy):
        if field.name not in ("rules", "price_markup", "satisfaction_weights"):
            assert f"\n{field.name} = " in tiers, field.name


def test_every_value_of_the_example_file_is_its_flags_default() -> None:
    """The example is a list of defaults: each value it sets, read by the
    option's own type, is the option's default (one that drifted would
    change a run when the file is copied as ``tierflow.toml``)."""
    example = ROOT / "cli" / "tierflow.example.toml"
    defaults, _ = read_settings(example, click.Context(cli))
    checked = 0
    for path, command in _commands(cli):
        given: object = defaults
        for name in path:
            given = given.get(name, {}) if isinstance(given, dict) else {}
        assert isinstance(given, dict)
        ctx = click.Context(command)
        for param in command.params:
            if param.name in given and not isinstance(given[param.name], dict):
                value = param.type_cast_value(ctx, given[param.name])
                assert value == param.type_cast_value(ctx, param.get_default(ctx)), (
                    path,
                    param.name,
                )
                checked += 1
    assert checked > 100


def test_example_config_prints_the_example_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``docs/`` is not in the wheel, so a pip user had no example settings
    file; ``tierflow --example-config`` prints the one the package holds,
    byte for byte, whatever settings file is about (a broken one included,
    as ``--version`` answers), and what it writes loads."""
    monkeypatch.chdir(tmp_path)
    Path("tierflow.toml").write_text("[simulate\n")
    result = _run(["--example-config"])
    assert result.exit_code == 0, result.output
    expected = (ROOT / "cli" / "tierflow.example.toml").read_bytes()
    assert result.stdout_bytes == expected
    Path("tierflow.toml").write_bytes(result.stdout_bytes)
    _, settings = read_settings(Path("tierflow.toml"), click.Context(cli))
    assert settings.policy == TierPolicy()
    assert "--example-config" in _run(["--help"]).stdout
    # a flag of the command line only: no variable nor file key turns it on
    env = {"TIERFLOW_EXAMPLE_CONFIG": "1"}
    assert _run(["--version"], env=env).stdout.endswith(", version 0.1.0\n")
    Path("tierflow.toml").write_text("example_config = true\n")
    result = _run([*GAP, "--out", "g.txt"])
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: tierflow.toml: key 'example_config': unknown key; choose from "
    )


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://tf:s3cret@db/x", "tierflow.toml: key 'capacity.show.state'"),
        ("postgres://tf:s3cret@db/x?bogus=1", "postgres://tf@db/x?bogus=1"),
    ],
)
def test_a_bad_state_url_in_the_file_is_named_without_its_password(
    tmp_path: Path, url: str, said: str
) -> None:
    """A ``state`` the file gives that cannot be a store is refused naming
    the file and key (or, for a URL libpq refuses, the URL), the password
    masked as in the message's own words: the file's value was shown whole
    (``value 'mysql://tf:s3cret@db/x'``)."""
    config = tmp_path / "tierflow.toml"
    config.write_text(f'[capacity.show]\nstate = "{url}"\n')
    result = CliRunner().invoke(
        cli,
        ["capacity", "show"],
        env={"TIERFLOW_CONFIG": str(config), "TIERFLOW_STATE": None},
    )
    assert result.exit_code == 1, result.output
    assert "s3cret" not in result.output
    assert said in result.output


#: What a refused integer says when Python's ``int()`` would have read it.
_DIGITS = (
    "is not a valid integer: write it in digits 0-9 (a sign may lead), "
    "without '_', spaces or other scripts' digits."
)


@pytest.mark.parametrize("written", ["3_0", " 5 ", "٣", "３"])
def test_an_integer_setting_or_variable_takes_ascii_digits_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    """``seed = "3_0"`` in the file and ``TIERFLOW_GENERATE_GAP_SEED=3_0``
    were read as 30 (click's ``int()``), other scripts' digits as numbers:
    each is refused, naming the key or the variable and the value."""
    monkeypatch.chdir(tmp_path)
    Path("tierflow.toml").write_text(f'[generate.gap]\nseed = "{written}"\n')
    from_file = _run([*GAP, "--out", "g.txt"])
    assert (from_file.exit_code, from_file.stdout) == (1, "")
    assert from_file.stderr == (
        f"Error: tierflow.toml: key 'generate.gap.seed': value {written!r}: "
        f"{written!r} {_DIGITS}\n"
    )
    Path("tierflow.toml").unlink()
    from_variable = _run(
        [*GAP, "--out", "g.txt"], {"TIERFLOW_GENERATE_GAP_SEED": written}
    )
    assert from_variable.exit_code == 2
    assert (
        "Error: Invalid value for '--seed' ($TIERFLOW_GENERATE_GAP_SEED): "
        f"{written!r} {_DIGITS}\n"
    ) in from_variable.stderr
    assert not Path("g.txt").exists()
    plain = _run([*GAP, "--out", "g.txt"], {"TIERFLOW_GENERATE_GAP_SEED": "+30"})
    assert _seed(plain) == "30"


def test_a_list_option_given_twice_on_the_command_line_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """click kept the last of an option given twice without a word: ``options
    --items TEE:1 --items MUG:2`` quoted a cart of Mugs alone, exit 0 (QA
    docs walk, 2026-12-08). A list-valued option (``--items``, ``--prefer``,
    ``--engines``, ``--seeds``) given twice is now a usage error, exit 2,
    naming the flag, before anything runs; other options keep click's last
    one wins (a wrapper's defaults, then the caller's), and a flag twice and
    a ``--help`` among repeats are as before."""
    monkeypatch.chdir(tmp_path)
    cart = ["options", "--network", str(TINY_NETWORK), "--state", "s.db"]
    cart += ["--customer", "C1", "--dest", "100"]
    refused = _run([*cart, "--items", "TEE:1", "--items", "MUG:2"])
    assert refused.exit_code == 2, refused.output
    assert "Error: Option '--items' given more than once" in refused.output
    assert "give every entry in one --items" in refused.output
    assert list(tmp_path.iterdir()) == []  # no store made
    prefer = _run(
        [*cart, "--items", "TEE:1", "--prefer", "speed=1", "--prefer", "eco=1"]
    )
    assert prefer.exit_code == 2 and "'--prefer' given more than once" in prefer.output
    engines = ["bench", "gap", "--engines", "greedy", "--engines", "lp", "--out", "b"]
    refused_engines = _run(engines)
    assert refused_engines.exit_code == 2, refused_engines.output
    assert "'--engines' given more than once" in refused_engines.output
    assert list(tmp_path.iterdir()) == []
    # a flag twice, a --help among repeats, a scalar option's last one wins
    quoted = _run([*cart, "--items", "TEE:1", "--json", "--json"])
    assert quoted.exit_code == 0, quoted.output
    assert json.loads(quoted.stdout)["items"] == [{"sku": "TEE", "quantity": 1}]
    helped = _run([*cart, "--items", "TEE:1", "--items", "MUG:2", "--help"])
    assert helped.exit_code == 0 and "--items" in helped.output
    assert _seed(_run([*GAP, "--out", "g.txt", "--seed", "1", "--seed", "2"])) == "2"
