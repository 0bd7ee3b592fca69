"""`[tool.bn-upgrade]` in `pyproject.toml`: found as ruff finds its own, checked key by key.

The file used is `--config FILE`, or else the nearest `pyproject.toml` with a
`[tool.bn-upgrade]` table in the common directory of the paths given or above
it. Its directory is the project root: exclude patterns with a `/`,
per-file-ignores and relative paths in the file (`proto`, `cache-dir`) count
from there. An unknown key or a bad value is a `ConfigError` naming the file
and the key. Values come back under the command-line option's Python name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

TABLE = "bn-upgrade"
FILE_NAME = "pyproject.toml"


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Config:
    path: str | None = None  # the file read; None: no configuration
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> str:
        """The project root: the configuration file's directory, else the current directory."""
        return os.path.dirname(os.path.abspath(self.path)) if self.path is not None else os.getcwd()


Check = Callable[[Any], Any]  # returns the value to use, or raises ValueError saying what is wanted


def _choice(*allowed: str) -> Check:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(repr(a) for a in allowed)}")
        return value

    return check


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty string")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError("must be a list of strings")
    return tuple(value)


def _codes(value: Any) -> tuple[str, ...]:
    from upgrade_tool.selection import normalise, unknown_selectors

    codes = normalise(_strings(value))
    unknown = unknown_selectors(codes)
    if unknown:
        raise ValueError(f"{unknown[0]!r} is no code or prefix of one (bn-upgrade --explain CODE lists what is)")
    return codes


def _jobs(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be a whole number, at least 1")
    return value


def _v1_types(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, dict):
        pairs = list(value.items())
    else:
        pairs = [(item.partition("=")[0], item.partition("=")[2]) for item in _strings(value)]
    if not all(isinstance(e, str) and isinstance(t, str) and e.strip() and t.strip() for e, t in pairs):
        raise ValueError('must be a table like {ROI_POOLING = "ROIPooling"} (or a list of "ENUM=Type")')
    return tuple((e.strip(), t.strip()) for e, t in pairs)


def _per_file_ignores(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict):
        raise ValueError('must be a table of pattern = [codes], like {"templates/*" = ["E001"]}')
    return tuple((pattern, _codes(codes)) for pattern, codes in value.items())


def _dialect(value: Any) -> str:
    from upgrade_tool.dialects import UnknownDialectError, get_dialect

    try:
        return get_dialect(_string(value)).name
    except UnknownDialectError as exc:
        raise ValueError(str(exc)) from None


# key -> (option name in Python, check); paths are made relative to the configuration's directory.
KEYS: dict[str, tuple[str, Check]] = {
    "bn-style": ("bn_style", _choice("strip", "zero")),
    "format": ("output_format", _choice("preserve", "canonical")),
    "strict": ("strict", _bool),
    "unsafe-fixes": ("unsafe_fixes", _bool),
    "fix": ("fix", _bool),
    "proto": ("proto", _string),
    "v1-type": ("v1_types", _v1_types),
    "dialect": ("dialect", _dialect),
    "target": ("target", _dialect),
    "kind": ("kind", _choice("auto", "net", "solver")),
    "include": ("include", _strings),
    "exclude": ("exclude", _strings),
    "extend-exclude": ("extend_exclude", _strings),
    "force-exclude": ("force_exclude", _bool),
    "select": ("select", _codes),
    "extend-select": ("extend_select", _codes),
    "ignore": ("ignore", _codes),
    "per-file-ignores": ("per_file_ignores", _per_file_ignores),
    "jobs": ("jobs", _jobs),
    "output-format": ("message_format", _choice("text", "json", "github", "sarif")),
    "cache": ("cache", _bool),
    "cache-dir": ("cache_dir", _string),
}
_PATHS = ("proto", "cache_dir")


def find(paths: Sequence[str], explicit: str | None = None) -> Config:
    """The configuration for a run over `paths`: `explicit` if given, else the nearest one found."""
    if explicit is not None:
        return load(explicit, required=True)
    for directory in _upwards(_common_directory(paths)):
        candidate = os.path.join(directory, FILE_NAME)
        if os.path.isfile(candidate):
            config = load(candidate, required=False)
            if config.path is not None:
                return config
    return Config()


def _common_directory(paths: Sequence[str]) -> str:
    real = [os.path.abspath(p) for p in paths if p != "-"] or [os.getcwd()]
    try:
        common = os.path.commonpath(real)
    except ValueError:  # paths on different drives
        return os.getcwd()
    return common if os.path.isdir(common) else os.path.dirname(common)


def _upwards(directory: str) -> list[str]:
    found = [directory]
    while os.path.dirname(found[-1]) != found[-1]:
        found.append(os.path.dirname(found[-1]))
    return found


def load(path: str, *, required: bool) -> Config:
    """Read one file; without a `[tool.bn-upgrade]` table it is no configuration (unless `required`)."""
    document = _parse(path)
    tool = document.get("tool")
    table = tool.get(TABLE) if isinstance(tool, dict) else None
    if table is None:
        if not required:
            return Config()
        table = document if os.path.basename(path) != FILE_NAME else {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.{TABLE}] must be a table")
    return Config(path, _values(path, table))


def _parse(path: str) -> dict[str, Any]:
    import tomllib

    try:
        with open(path, "rb") as handle:
            parsed: dict[str, Any] = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r" \(at line (\d+), column (\d+)\)$", str(exc))
        where, message = (f":{at[1]}:{at[2]}", str(exc)[: at.start()]) if at else ("", str(exc))
        raise ConfigError(f"{path}{where}: not valid TOML: {message}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8") from None
    return parsed


def _key_position(path: str, key: str) -> str:
    """`:LINE:COLUMN` of `key` in the bn-upgrade table (or at the top of a file that has none), else ""."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    wanted = {f"[tool.{TABLE}]", f'[tool."{TABLE}"]'}
    has_table = any(line.strip().replace(" ", "") in wanted for line in lines)
    inside = not has_table
    pattern = re.compile(rf"""\s*(["']?){re.escape(key)}\1\s*=""")
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("["):
            inside = line.strip().replace(" ", "") in wanted
        elif inside and pattern.match(line):
            return f":{number}:{len(line) - len(line.lstrip()) + 1}"
    return ""


def _values(path: str, table: dict[str, Any]) -> dict[str, Any]:
    base = os.path.dirname(os.path.abspath(path))
    values: dict[str, Any] = {}
    for key, value in table.items():
        known = KEYS.get(key)
        if known is None:
            from upgrade_tool.dialects.suggest import suggest  # the dialects package, only for a typo

            close = suggest(key, KEYS) or suggest(key.replace("_", "-"), KEYS)
            hint = f"; did you mean {close!r}?" if close else ""
            raise ConfigError(f"{path}{_key_position(path, key)}: [tool.{TABLE}] unknown key {key!r}{hint}")
        name, check = known
        try:
            checked = check(value)
        except ValueError as exc:
            raise ConfigError(f"{path}{_key_position(path, key)}: [tool.{TABLE}] {key}: {exc}") from None
        if name in _PATHS:
            checked = os.path.join(base, os.path.expanduser(checked))
        values[name] = checked
    return values
