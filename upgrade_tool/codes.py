"""Every code bn-upgrade reports, in one registry: the source of `--explain`, SARIF rules and the README table.

A code is defined beside what reports it (a pass, a rule, the reader, the file
layer) as a `Code` value; `all_codes()` gathers them in a fixed order. Families:

- `E`: the input cannot be read (syntax, schema, values, encoding); the file fails, exit 2.
- `IO`: a file cannot be read or written; the file fails, exit 2.
- `BUG`: bn-upgrade's proof of its own output failed (exit 123); never silenced.
- `UP`: an upgrade pass would change (or changed) the file; in `--check`, exit 1.
- `BN`, `VL`, `V0`, `IN`, `ST`, `BIN`, `DL`: findings of the passes, the dialect
  reading and the lint rules; those that need a human make the run exit 1.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum


class Level(str, Enum):
    """How serious a report is (SARIF's levels)."""

    ERROR = "error"  # the file could not be processed, or a human must act
    WARNING = "warning"  # done, but worth a look
    NOTE = "note"  # for the record


class Fix(str, Enum):
    """Whether and when bn-upgrade changes the file for this code."""

    NONE = "none"  # only reported
    UPGRADE = "upgrade"  # an upgrade pass: applied on every run (not with --check/--diff)
    SAFE = "safe"  # applied with --fix
    UNSAFE = "unsafe"  # applied with --unsafe-fixes only


@dataclass(frozen=True)
class Code:
    code: str  # "BN001": stable, never reused
    name: str  # "batchnorm-learnable-params": a readable slug
    summary: str  # one line
    explanation: str  # what it means, why, and what to do (paragraphs)
    before: str = ""  # an example input that reports it ("" = no example)
    after: str = ""  # what bn-upgrade makes of `before` ("" = left as it is)
    level: Level = Level.WARNING
    needs_human: bool = False  # reporting it makes the run exit 1
    fix: Fix = Fix.NONE
    default: bool = True  # reported without --select

    @property
    def family(self) -> str:
        return self.code.rstrip("0123456789")


def _sources() -> tuple[tuple[Code, ...], ...]:
    from upgrade_tool import binary, errors, files, passes, reading, rules, runner

    tables: list[tuple[Code, ...]] = [errors.CODES, files.CODES, runner.CODES, reading.CODES]
    for upgrade_pass in passes.all_passes():
        tables.append((upgrade_pass.code, *upgrade_pass.findings))
    tables.append(tuple(rule.code for rule in rules.all_rules()))
    tables.append(binary.CODES)
    return tuple(tables)


# Every code as a string, in registry order, known without loading the registry (which imports
# every pass and protobuf): selectors are checked against it, so a run served from the cache
# stays light. tests/test_codes.py keeps it equal to the registry.
KNOWN = (
    *("E001", "E002", "E003", "E004", "E005", "E006", "E007", "E008"),
    *("IO001", "IO002", "IO003", "IO004", "IO005", "IO006", "BUG001", "DL001", "DL002", "DL003"),
    *("UP001", "V0001", "V0002", "UP002", "UP003", "VL001", "VL002", "VL003", "VL004", "VL005"),
    *("UP004", "IN001", "IN002", "IN003", "UP005", "BN001", "BN002", "BN003", "BN004", "BN006", "BN007"),
    *("UP006", "ST001", "BN005", "BN101", "BN102", "BN103", "BN104", "BN105", "BN106", "BIN001"),
)


@functools.cache
def all_codes() -> tuple[Code, ...]:
    """Every code, in registry order: errors, dialect findings, each pass with its findings, rules, the rest."""
    found: dict[str, Code] = {}
    for table in _sources():
        for code in table:
            if code.code in found:
                raise AssertionError(f"code {code.code} is defined twice")
            found[code.code] = code
    return tuple(found.values())


@functools.cache
def by_code() -> dict[str, Code]:
    return {code.code: code for code in all_codes()}


def lookup(text: str) -> Code | None:
    """A code by its code (`bn001` too) or by its name."""
    wanted = text.strip()
    codes = by_code()
    if wanted.upper() in codes:
        return codes[wanted.upper()]
    return next((code for code in all_codes() if code.name == wanted.lower()), None)
