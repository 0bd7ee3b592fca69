"""What a run keeps of one file's upgrade: the facts reports are made of, without the output text.

A worker turns the pipeline's `Result` into an `Outcome` (small, picklable, no
text), and the outcome cache stores it as JSON and gives it back. Nothing here
imports protobuf or the pipeline, so a run served from the cache never loads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from upgrade_tool.pipeline import Result


@dataclass(frozen=True, slots=True)
class Step:
    """What one pass (or a rule's fix) did, and the first place in the input it changed."""

    code: str
    name: str
    summary: str
    counts: tuple[tuple[str, int], ...]
    line: int = 0
    column: int = 0


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A finding at a place in the input."""

    code: str
    message: str
    line: int
    column: int
    needs_human: bool
    level: str  # "error", "warning" or "note" (SARIF's levels)


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # "net" or "solver"
    changed: bool
    changes: tuple[Step, ...] = ()
    findings: tuple[Diagnostic, ...] = ()
    unknown_fields: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()
    dialect: str = "bvlc"
    dialect_reason: str = ""
    target: str = "bvlc"
    roles: tuple[tuple[str, str], ...] = ()

    @property
    def needs_human(self) -> bool:
        return any(finding.needs_human for finding in self.findings)


def from_result(result: Result) -> Outcome:
    from upgrade_tool.codes import by_code

    codes = by_code()

    def level(code: str, needs_human: bool) -> str:
        known = codes.get(code)
        return "error" if needs_human else known.level.value if known is not None else "warning"

    return Outcome(
        result.kind.value,
        result.changed,
        tuple(Step(c.code, c.name, c.summary, tuple(c.counts.items()), c.line, c.column) for c in result.changes),
        tuple(
            Diagnostic(f.code, f.message, f.line, f.column, f.needs_human, level(f.code, f.needs_human))
            for f in result.findings
        ),
        result.unknown_fields,
        result.notices,
        result.dialect,
        result.dialect_reason,
        result.target,
        result.roles,
    )


def to_json(outcome: Outcome) -> dict[str, Any]:
    """The outcome as plain JSON values (the cache's form; `from_json` reads it back exactly)."""
    return {
        "kind": outcome.kind,
        "changed": outcome.changed,
        "changes": [
            [s.code, s.name, s.summary, [list(c) for c in s.counts], s.line, s.column] for s in outcome.changes
        ],
        "findings": [[f.code, f.message, f.line, f.column, f.needs_human, f.level] for f in outcome.findings],
        "unknown_fields": list(outcome.unknown_fields),
        "notices": list(outcome.notices),
        "dialect": outcome.dialect,
        "dialect_reason": outcome.dialect_reason,
        "target": outcome.target,
        "roles": [list(role) for role in outcome.roles],
    }


def from_json(data: dict[str, Any]) -> Outcome:
    """`to_json` read back; raises KeyError, TypeError or ValueError on anything else (a corrupt entry)."""
    return Outcome(
        str(data["kind"]),
        bool(data["changed"]),
        tuple(
            Step(str(c), str(n), str(s), tuple((str(k), int(v)) for k, v in counts), int(line), int(col))
            for c, n, s, counts, line, col in data["changes"]
        ),
        tuple(
            Diagnostic(str(c), str(m), int(line), int(col), bool(h), str(lv))
            for c, m, line, col, h, lv in data["findings"]
        ),
        tuple(str(name) for name in data["unknown_fields"]),
        tuple(str(notice) for notice in data["notices"]),
        str(data["dialect"]),
        str(data["dialect_reason"]),
        str(data["target"]),
        tuple((str(role), str(why)) for role, why in data["roles"]),
    )
