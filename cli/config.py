"""Settings for every command option from ``TIERFLOW_*`` variables and a
``tierflow.toml`` file, through click's own ``auto_envvar_prefix`` and
``default_map``: precedence command line > environment > file > default.

The file's tables are the commands (``[simulate]``, ``[capacity.show]``),
its keys the options' long flags (``time-limit`` or ``time_limit``); the
``[tiers]`` table sets the tier policy. ``docs/cli.md``, "Configuration".
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from tierflow.data.errors import InputError

if TYPE_CHECKING:
    from tierflow.formulations.tiers import TierPolicy

#: Prefix of every option's environment variable (``TIERFLOW_SIMULATE_CHECKOUTS``).
ENV_PREFIX = "TIERFLOW"
#: The settings file read from the working directory when ``--config`` is not given.
CONFIG_FILE = "tierflow.toml"
#: Environment variable naming the settings file.
CONFIG_ENV = "TIERFLOW_CONFIG"
#: The example settings file, every setting with its default: package data
#: of ``tierflow.cli`` (``docs/`` links to it), printed by
#: ``tierflow --example-config``.
EXAMPLE_FILE = "tierflow.example.toml"
#: The file's table of tier policy settings (not a command).
TIERS_TABLE = "tiers"
_META_KEY = "tierflow.settings"
#: ``ctx.meta`` key set when the root's ``--help`` is asked for: the settings
#: file is then read for the defaults it shows, and one that cannot be read
#: does not keep the help from showing.
HELP_ASKED = "tierflow.help_asked"
#: ``ctx.meta`` key: the context whose variables were checked.
_CHECKED_KEY = "tierflow.variables_checked"
#: Attribute marking a parser whose parse already refuses repeated options.
_ONCE_KEY = "_tierflow_given_once"


@dataclass(frozen=True, slots=True)
class Settings:
    """What the settings file gave: where it is, and the tier policy."""

    path: Path | None = None
    #: None: the default policy (the tier modules imported only when asked)
    given_policy: TierPolicy | None = None

    @property
    def policy(self) -> TierPolicy:
        """The file's tier policy, else the default."""
        if self.given_policy is not None:
            return self.given_policy
        from tierflow.formulations.tiers import TierPolicy

        return TierPolicy()


def setting_name(param: click.Parameter) -> str:
    """An option's key in the file and its environment variable's tail: the
    long flag without dashes (``--time-limit`` -> ``time_limit``)."""
    flags = [o for o in param.opts if o.startswith("--")] or list(param.opts)
    return flags[0].lstrip("-").replace("-", "_")


def _key_path(ctx: click.Context, key: str) -> str:
    """``capacity.show.workload``: the command path below the root, and the key."""
    return ".".join([*ctx.command_path.split()[1:], key])


class ConfigOption(click.Option):
    """A click option whose ``TIERFLOW_*`` variable is named after its flag
    (click names it after the Python parameter) and whose bad value from the
    settings file is reported with the file and key."""

    def resolve_envvar_value(self, ctx: click.Context) -> str | None:
        value = click.Parameter.resolve_envvar_value(self, ctx)
        if value is not None or not self.allow_from_autoenv:
            return value
        if ctx.auto_envvar_prefix is None:
            return None
        return os.environ.get(self._auto_envvar(ctx)) or None

    def _auto_envvar(self, ctx: click.Context) -> str:
        """``TIERFLOW_SIMULATE_CHECKOUTS``: the context's prefix and the flag."""
        return f"{ctx.auto_envvar_prefix}_{setting_name(self).upper()}"

    def get_error_hint(self, ctx: click.Context | None) -> str:
        """click's (``'--checkouts'``), with the variable that gave the bad
        value: one from the environment read ``Invalid value for
        '--checkouts'``, a flag the operator never typed."""
        hint = super().get_error_hint(ctx)
        variable = None if ctx is None else self.variable_given(ctx)
        return hint if variable is None else f"{hint} (${variable})"

    def variable_given(self, ctx: click.Context) -> str | None:
        """The environment variable this option's value came from (None:
        it came from elsewhere)."""
        if self.name is None:
            return None
        if ctx.get_parameter_source(self.name) is not ParameterSource.ENVIRONMENT:
            return None
        named = [self.envvar] if isinstance(self.envvar, str) else self.envvar or []
        given = [n for n in named if os.environ.get(n)]
        if not given and ctx.auto_envvar_prefix is not None:
            given = [self._auto_envvar(ctx)]
        return given[0] if given else None

    def get_help_extra(self, ctx: click.Context) -> Any:
        """click's, with the effective default shown (command line >
        environment > file > default), also for an option that shows none
        of its own: ``--batch-size`` and ``--history`` set in the file
        showed nothing, and a ``TIERFLOW_*`` variable that overrides the
        file's value showed the file's. A type with a ``describe`` (the
        state location's, which masks a URL's password) words the default."""
        shown, saved = self.show_default, ctx.default_map
        env = self.resolve_envvar_value(ctx) if self.name is not None else None
        if env is not None and self.name is not None:
            ctx.default_map = {**(saved or {}), self.name: env}
        given = None if self.name is None else ctx.lookup_default(self.name, call=False)
        if not shown and given is not None:
            self.show_default = True
        try:
            extra = super().get_help_extra(ctx)
        finally:
            self.show_default, ctx.default_map = shown, saved
        # a type that hides secrets (a state URL's password) shows its own text
        describe = getattr(self.type, "describe", None)
        if callable(describe) and extra.get("default"):
            extra["default"] = describe(extra["default"])
        return extra

    def handle_parse_result(
        self, ctx: click.Context, opts: Mapping[str, Any], args: list[str]
    ) -> tuple[Any, list[str]]:
        # the first option read checks the command's variables, once (its
        # --help, which is eager, answers before)
        if ctx.meta.get(_CHECKED_KEY) is not ctx and not ctx.resilient_parsing:
            ctx.meta[_CHECKED_KEY] = ctx
            check_variables(ctx)
        return super().handle_parse_result(ctx, opts, args)

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        try:
            return super().process_value(ctx, value)
        except click.BadParameter as exc:
            source = ctx.get_parameter_source(self.name) if self.name else None
            settings = current_settings(ctx)
            if source is not ParameterSource.DEFAULT_MAP or settings.path is None:
                raise
            key = _key_path(ctx, setting_name(self))
            describe = getattr(self.type, "describe", None)
            shown = describe(value) if callable(describe) else value
            raise _error(settings.path, exc.message, key, shown) from None


def refuse_repeats(ctx: click.Context, order: list[click.Parameter]) -> None:
    """Refuse a list-valued option (:class:`ListOption`) given more than once
    on the command line (``order`` holds a parameter once per time it was
    given): click kept the last without a word, so ``options --items
    ELE-0042:1 --items APP-0008:2`` quoted a cart of APP-0008 alone, exit 0.
    Other options keep click's last-one-wins (a wrapper's defaults followed
    by the caller's own), and a line asking for ``--help`` is answered."""
    if ctx.resilient_parsing or ctx.command.get_help_option(ctx) in order:
        return
    seen: set[str] = set()
    for param in order:
        if not isinstance(param, ListOption) or param.name is None:
            continue
        if param.name in seen:
            flag = max(param.opts, key=len)
            raise click.UsageError(
                f"Option '{flag}' given more than once: its value is one list, "
                f"and the last would replace the others without a word; give "
                f"every entry in one {flag}, separated by commas",
                ctx,
            )
        seen.add(param.name)


class ListOption(ConfigOption):
    """A :class:`ConfigOption` whose value is a comma-separated list
    (``--items SKU:QTY,SKU:QTY``): given twice on the command line it is
    refused (:func:`refuse_repeats`), as a repeat reads as adding to it."""

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        """click's, and once per parser the check of :func:`refuse_repeats`
        on what the command line gave."""
        super().add_to_parser(parser, ctx)
        if getattr(parser, _ONCE_KEY, False):
            return
        setattr(parser, _ONCE_KEY, True)
        parse = parser.parse_args

        def given_once(args: list[str]) -> Any:
            opts, rest, order = parse(args)
            refuse_repeats(ctx, order)
            return opts, rest, order

        parser.parse_args = given_once


def where_given(exc: InputError, name: str, value: Any) -> Exception:
    """``exc``, the command's own refusal of option ``name``'s ``value``
    (not its type's), naming where the value was given as a type's refusal
    does: the settings file and key (``FILE: key 'state.prune.keep_days':
    value '0': ...``), or the variable (``field '$TIERFLOW_..._KEEP_DAYS'``);
    from the command line, ``exc`` as it is. ``keep_days = 0`` in the file
    was refused as ``field '--keep-days'``, a flag nobody typed."""
    ctx = click.get_current_context()
    param = next((p for p in ctx.command.params if p.name == name), None)
    if param is None:
        return exc
    source = ctx.get_parameter_source(name)
    settings = current_settings(ctx)
    if source is ParameterSource.DEFAULT_MAP and settings.path is not None:
        key = _key_path(ctx, setting_name(param))
        return _error(settings.path, exc.reason, key, value)
    variable = param.variable_given(ctx) if isinstance(param, ConfigOption) else None
    if variable is not None:
        return InputError(exc.reason, field=f"${variable}", value=value)
    return exc


def check_variables(ctx: click.Context) -> None:
    """Refuse a ``TIERFLOW_<COMMAND>_*`` variable that none of the running
    command's options reads, as the file refuses an unknown key: one
    misspelt (``TIERFLOW_GENERATE_GAP_SEEDS``) was silently ignored. Only
    the names under the command's path are judged, below the root:
    ``TIERFLOW_STATE`` and the other variables of the environment (another
    command's, a test's) are not this command's. An empty one is unset,
    as for an option."""
    level: click.Context | None = ctx
    while level is not None and level.parent is not None:
        if level.auto_envvar_prefix is None:
            return
        prefix = f"{level.auto_envvar_prefix}_"
        command = level.command
        subs = command.list_commands(level) if isinstance(command, click.Group) else []
        known = [f"{prefix}{key.upper()}" for key in _options(command)]
        under = [f"{prefix}{sub.upper().replace('-', '_')}_" for sub in subs]
        for name, value in sorted(os.environ.items()):
            if not value or not name.startswith(prefix) or name in known:
                continue
            if not name.startswith(tuple(under)):
                choices = ", ".join(sorted([*known, *(f"{u}*" for u in under)]))
                message = f"${name}: unknown variable; choose from {choices}"
                raise click.ClickException(message)
        level = level.parent


def current_settings(ctx: click.Context | None = None) -> Settings:
    """The settings of the running command (defaults outside one)."""
    ctx = ctx or click.get_current_context(silent=True)
    found = None if ctx is None else ctx.meta.get(_META_KEY)
    return found if isinstance(found, Settings) else Settings()


def tier_policy() -> TierPolicy:
    """The tier policy of the running command (``[tiers]``, else the default)."""
    return current_settings().policy


def _error(
    path: Path | None, message: str, key: str | None = None, value: Any = None
) -> click.ClickException:
    """``FILE: key 'K': value V: message`` as a click error (exit 1)."""
    parts = [str(path)]
    if key is not None:
        parts.append(f"key '{key}'")
    if value is not None:
        parts.append(f"value {value!r}")
    return click.ClickException(": ".join([*parts, message]))


def _given(param: click.Parameter, value: Any, path: Path, key: str) -> Any:
    """A TOML value as the command line would give it: text (a list of texts
    for a repeatable option), so the option's own type checks it exactly as
    it checks the flag. A number was passed as is, and ``orders = 5.9`` wrote
    5 orders, ``json = [1]`` ended in a traceback."""
    if isinstance(value, list):
        if not (param.multiple or param.nargs != 1):
            raise _error(path, "must be one value, not a list", key, value)
        return [_text(v, path, key) for v in value]
    return _text(value, path, key)


def _text(value: Any, path: Path, key: str) -> str:
    """One TOML scalar as command-line text (dates in ISO form)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, int | float | str):
        return str(value)
    kind = "a table" if isinstance(value, dict) else "a list"
    raise _error(path, f"must be one value, not {kind}", key, value)


def _options(command: click.Command) -> dict[str, click.Parameter]:
    """The options a file may set, by key (not --help, --version, --config)."""
    return {
        setting_name(p): p
        for p in command.params
        if isinstance(p, click.Option) and not p.is_eager
    }


def _defaults(
    ctx: click.Context,
    command: click.Command,
    table: Mapping[str, Any],
    path: Path,
    prefix: str,
) -> dict[str, Any]:
    """``table`` as click's ``default_map`` of ``command`` (keys: parameter
    names); the commands it sets are loaded (the others stay unimported)."""
    options = _options(command)
    group = command if isinstance(command, click.Group) else None
    subcommands = [] if group is None else group.list_commands(ctx)
    out: dict[str, Any] = {}
    keys: dict[str, str] = {}  # the key each option was set by
    for key, value in table.items():
        where = f"{prefix}{key}"
        if group is not None and key in subcommands:
            if not isinstance(value, dict):
                raise _error(path, f"must be a table of `{key}` options", where)
            sub = group.get_command(ctx, key)
            assert sub is not None
            out[key] = _defaults(ctx, sub, value, path, f"{where}.")
        elif key.replace("-", "_") in options:
            param = options[key.replace("-", "_")]
            assert param.name is not None
            if param.name in keys:  # `time-limit` and `time_limit`: the last won
                name = setting_name(param)
                raise _error(
                    path,
                    f"given twice, as '{keys[param.name]}' and '{key}' (one "
                    "setting, written two ways): which one was meant?",
                    f"{prefix}{name}",
                )
            keys[param.name] = key
            out[param.name] = _given(param, value, path, where)
        else:
            known = sorted([*options, *subcommands])
            raise _error(path, f"unknown key; choose from {', '.join(known)}", where)
    return out


def _policy(table: Any, path: Path) -> TierPolicy:
    if not isinstance(table, dict):
        raise _error(path, "must be a table of tier policy settings", TIERS_TABLE)
    from tierflow.formulations.tier_settings import policy_from_settings

    try:
        return policy_from_settings(table)
    except InputError as exc:
        key = f"{TIERS_TABLE}.{exc.field}"
        if exc.index is not None:
            key += f".{exc.index}"
        raise _error(path, exc.reason, key, exc.value) from None


def _utf8(raw: bytes, path: Path) -> str:
    """The file's text, a leading byte-order mark (Windows Notepad writes
    one; it is no TOML, "Invalid statement (at line 1, column 1)") dropped.
    A byte that is not UTF-8 is named at its line and column, as TOML's own
    errors are: it was "not valid TOML: 'utf-8' codec can't decode byte
    0xff in position 18" (the text readers of ``tierflow.data`` would
    import pandas at every start)."""
    start = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            why = "UTF-16 (it starts with UTF-16's byte-order mark): save it as UTF-8"
            raise click.ClickException(f"{path}: not UTF-8 text: {why}") from None
        at = start + exc.start
        begin = max(raw.rfind(b"\n", 0, at) + 1, start)
        line = raw.count(b"\n", 0, at) + 1
        column = len(raw[begin:at].decode("utf-8", "replace")) + 1
        where = f"byte {raw[at : start + exc.end]!r} at line {line}, column {column}"
        message = f"{path}: not UTF-8 text: {exc.reason} ({where})"
        raise click.ClickException(message) from None


def read_settings(
    path: Path, ctx: click.Context, named_by: str | None = None
) -> tuple[dict[str, Any], Settings]:
    """The file as the default map of ``ctx``'s command, and its settings; a bad file
    raises a :class:`click.ClickException` naming file, key and value. A
    leading UTF-8 byte-order mark is skipped, as the CSV and JSONL readers do.
    ``named_by``: who named the file (``--config``, ``$TIERFLOW_CONFIG``),
    said first when it cannot be read."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise click.ClickException(_unreadable(path, exc, named_by)) from None
    try:
        data = tomllib.loads(_utf8(raw, path))
    except tomllib.TOMLDecodeError as exc:
        raise click.ClickException(f"{path}: not valid TOML: {exc}") from None
    policy = _policy(data.pop(TIERS_TABLE), path) if TIERS_TABLE in data else None
    return _defaults(ctx, ctx.command, data, path, ""), Settings(path, policy)


def _unreadable(path: Path, exc: OSError, named_by: str | None) -> str:
    """``$TIERFLOW_CONFIG: /etc/tierflow: a folder, not a settings file``:
    who named the file, the path, and why it cannot be read (one line)."""
    if isinstance(exc, IsADirectoryError):
        why = "a folder, not a settings file"
    elif isinstance(exc, PermissionError):
        why = "not readable by this user (permission denied)"
    else:
        why = exc.strerror or str(exc)
    return ": ".join([*([named_by] if named_by else []), str(path), why])


def load_settings(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """``--config`` callback: read the file (else ``./tierflow.toml`` if there)
    into the root context's default map, before any other option is read."""
    path = Path(value) if value else Path(CONFIG_FILE)
    # a folder or a dangling link of that name is named, not skipped as absent
    if not value and not (path.exists() or path.is_symlink()):
        ctx.meta[_META_KEY] = Settings()
        return
    named_by = None
    if value and param.name is not None:
        from_env = ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT
        named_by = f"${CONFIG_ENV}" if from_env else "--config"
    try:
        defaults, settings = read_settings(path, ctx, named_by)
    except click.ClickException:
        if not ctx.meta.get(HELP_ASKED):
            raise
        # the help (which says how to give another file) shows the built-in
        # defaults; the command that runs says what is wrong with the file
        ctx.meta[_META_KEY] = Settings()
        return
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    ctx.meta[_META_KEY] = settings


def print_example(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``--example-config``: the example settings file on stdout, byte for
    byte (an installed tierflow has no ``docs/``), then exit 0 — before any
    settings file is read, as ``--version``."""
    if not value or ctx.resilient_parsing:
        return
    example = resources.files("tierflow.cli").joinpath(EXAMPLE_FILE).read_bytes()
    sys.stdout.flush()
    sys.stdout.buffer.write(example)
    sys.stdout.buffer.flush()
    ctx.exit()
