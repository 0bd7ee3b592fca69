"""Turning file reports into what the user reads: lines, a summary, JSON, annotations."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from upgrade_tool import __version__
from upgrade_tool.outcome import Outcome, Step
from upgrade_tool.runner import FileReport, Job, Status, where

SCHEMA_VERSION = 2  # of the JSON report (upgrade_tool/report-schema.json); bumped on any incompatible change
_SHOWN_UNKNOWN = 8
# A file name that is not UTF-8 arrives with each bad byte as a lone surrogate (Python's surrogateescape).
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# What to do about a code, in command-line terms (the messages themselves do not name options).
CLI_HINTS = {
    "BN001": "--unsafe-fixes upgrades it anyway",
    "BN004": "--unsafe-fixes upgrades it anyway",
    "BN005": "--fix adds the blocks",
    "VL001": "name it with --v1-type ENUM=TypeName",
    "E007": "name the fork with --dialect, or give its schema with --proto",
    "DL002": "a fork's schema with --proto makes it known",
}


def printable(text: str) -> str:
    """`text` with each byte of a name that is not UTF-8 shown as `\\xNN` (lone surrogates as `\\uXXXX`)."""
    return _SURROGATE.sub(_escape_surrogate, text)


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def text_lines(report: FileReport, job: Job, quiet: bool, verbose: bool) -> Iterator[tuple[str, str | None]]:
    """The stderr lines for one file, each with its level for colour (errors and needs-human even when quiet)."""
    for line, level in _lines(report, job, quiet, verbose):
        yield printable(line), level


def _lines(report: FileReport, job: Job, quiet: bool, verbose: bool) -> Iterator[tuple[str, str | None]]:
    if report.status is Status.IGNORED:
        return
    if not quiet:
        for temp, removed in report.stale:
            done = "removed" if removed else "--clean removes it"
            yield f"{temp}: IO005 a temp file left by a bn-upgrade run that was killed; {done}", "warning"
    if report.problem is not None:
        yield report.error, "error"
        if report.written and not quiet:
            yield f"{report.name}: copied unchanged to {report.written[0]}", None
        return
    if report.status is Status.COPIED:
        if verbose:
            yield f"{report.name}: copied unchanged to {report.written[0]}", None
        return
    outcome = report.outcome
    assert outcome is not None
    if verbose:
        yield from ((line, None) for line in _reading_lines(report.name, outcome))
    for finding in outcome.findings:
        if finding.needs_human or not quiet:
            hint = CLI_HINTS.get(finding.code)
            if finding.code == "DL002" and job.settings.proto is not None:
                hint = None  # read with the schema given: it does not know the name either
            if finding.message.endswith(", even with unsafe fixes"):
                hint = None  # --unsafe-fixes would change nothing here (BatchNorm blocks holding unknown text)
            text = f"{where(report.name, finding.line, finding.column)}: {finding.code} {finding.message}"
            yield text + (f" ({hint})" if hint and finding.needs_human else ""), finding.level
    if quiet:
        return
    for notice in outcome.notices:
        yield f"{report.name}: {notice}", None
    if outcome.unknown_fields and verbose:
        names = ", ".join(outcome.unknown_fields[:_SHOWN_UNKNOWN])
        more = ", ..." if len(outcome.unknown_fields) > _SHOWN_UNKNOWN else ""
        kept = _count(len(outcome.unknown_fields), "field")
        yield f"{report.name}: kept {kept} the schema does not know, as written: {names}{more}", None
    if outcome.changed:
        verb = "would upgrade" if job.finds_changes else "upgraded"
        done = "; ".join(f"{step.name}: {step.summary}" for step in outcome.changes)
        yield f"{report.name}: {verb} ({_solver_tag(outcome)}{done})", None
    elif verbose:
        yield f"{report.name}: up to date" + (" (solver)" if outcome.kind == "solver" else ""), None


def _reading_lines(name: str, outcome: Outcome) -> Iterator[str]:
    """-v: how the file was read (dialect and why), the runtime it is upgraded for, and what the net is for."""
    reason = f" ({outcome.dialect_reason})" if outcome.dialect_reason else ""
    yield f"{name}: read as {outcome.dialect}{reason}; upgraded for {outcome.target}"
    for role, why in outcome.roles:
        yield f"{name}: role {role} ({why})"


def _solver_tag(outcome: Outcome) -> str:
    """Solvers are told apart from nets by content; say so where it was a solver."""
    return "solver; " if outcome.kind == "solver" else ""


def status_name(report: FileReport, job: Job) -> str:
    """The report's status as the JSON report spells it (`would_upgrade` where nothing is written)."""
    if report.status is Status.UPGRADED and job.finds_changes:
        return "would_upgrade"
    return report.status.value


def summary(reports: Sequence[FileReport], job: Job, seconds: float) -> list[str]:
    """The closing lines: counts by outcome (each file in one), then per pass, then the time taken."""
    counts = bucket_counts(reports)
    upgraded = "would be upgraded" if job.finds_changes else "upgraded"
    human = counts[Status.NEEDS_HUMAN]
    parts = [
        f"{counts[Status.UPGRADED]} {upgraded}",
        f"{counts[Status.UP_TO_DATE]} already up to date",
        f"{human} need{'s' * (human == 1)} a human",
        f"{counts[Status.FAILED] + counts[Status.INTERNAL]} failed",
    ]
    if counts[Status.IGNORED]:
        parts.append(f"{counts[Status.IGNORED]} with an ignored error")
    if job.copy_unchanged:
        copied = counts[Status.COPIED]
        parts.append(f"{copied} other file{'s' * (copied != 1)} copied unchanged")
    lines = [f"{_count(len(reports), 'file')} scanned: {', '.join(parts)} ({seconds:.1f} s)."]
    for _, name, files, totals in pass_totals(reports):
        detail = ", ".join(f"{key}: {value}" for key, value in totals.items() if value)
        lines.append(f"  {name}: {_count(files, 'file')}" + (f" ({detail})" if detail else ""))
    return lines


def bucket_counts(reports: Sequence[FileReport]) -> dict[Status, int]:
    counts = dict.fromkeys(Status, 0)
    for report in reports:
        counts[report.status] += 1
    return counts


def _step_order(step: Step) -> tuple[int, str]:
    """Passes in Caffe's order (their UP codes count up in it), then the lint rules' fixes by code."""
    return (0 if step.code.startswith("UP") else 1, step.code)


def pass_totals(reports: Sequence[FileReport]) -> list[tuple[str, str, int, dict[str, int]]]:
    """(code, pass, files it changed, summed counts), passes in a fixed order."""
    totals: dict[str, tuple[Step, int, dict[str, int]]] = {}
    for report in reports:
        if report.outcome is None or report.problem is not None:
            continue
        for step in report.outcome.changes:
            _, files, summed = totals.get(step.code, (step, 0, {}))
            for key, value in step.counts:
                summed[key] = summed.get(key, 0) + value
            totals[step.code] = (step, files + 1, summed)
    ordered = sorted(totals.values(), key=lambda item: _step_order(item[0]))
    return [(step.code, step.name, files, summed) for step, files, summed in ordered]


def json_record(report: FileReport, job: Job) -> dict[str, Any]:
    outcome = report.outcome
    problem = report.problem
    return {
        "path": report.name,
        "status": status_name(report, job),
        "kind": outcome.kind if outcome is not None else None,
        "dialect": outcome.dialect if outcome is not None else None,
        "dialect_reason": outcome.dialect_reason if outcome is not None else None,
        "target": outcome.target if outcome is not None else None,
        "roles": [{"role": role, "reason": why} for role, why in outcome.roles] if outcome is not None else [],
        "changed": report.changed,
        "changes": [
            {
                "code": s.code,
                "name": s.name,
                "summary": s.summary,
                "counts": dict(s.counts),
                "line": s.line,
                "column": s.column,
            }
            for s in (outcome.changes if outcome is not None else ())
        ],
        "findings": [
            {
                "code": f.code,
                "message": f.message,
                "line": f.line,
                "column": f.column,
                "needs_human": f.needs_human,
                "level": f.level,
            }
            for f in (outcome.findings if outcome is not None else ())
        ],
        "unknown_fields": list(outcome.unknown_fields) if outcome is not None else [],
        "notices": list(outcome.notices) if outcome is not None else [],
        "error": {
            "code": problem.code,
            "message": problem.message,
            "line": problem.line,
            "column": problem.column,
            "path": problem.path,
        }
        if problem is not None
        else None,
        "bytes_before": report.bytes_before,
        "bytes_after": report.bytes_after,
        "written": list(report.written),
        "stale_temp_files": [{"path": temp, "removed": removed} for temp, removed in report.stale],
    }


def json_report(reports: Sequence[FileReport], job: Job, seconds: float, code: int) -> str:
    counts = bucket_counts(reports)
    statuses = {status.value: counts[status] for status in Status}
    if job.finds_changes:
        statuses = {("would_upgrade" if key == "upgraded" else key): value for key, value in statuses.items()}
    document = {
        "schema_version": SCHEMA_VERSION,
        "tool": "bn-upgrade",
        "version": __version__,
        "mode": job.write_back.value,
        "exit_code": code,
        "seconds": round(seconds, 3),
        "summary": {
            "files": len(reports),
            **statuses,
            "passes": [
                {"code": code_, "name": name, "files": files, "counts": totals}
                for code_, name, files, totals in pass_totals(reports)
            ],
        },
        "files": [json_record(report, job) for report in reports],
    }
    return json_text(document)


def json_text(document: object) -> str:
    """JSON in UTF-8 that keeps every name: a byte that is not UTF-8 becomes a `\\udcXX` escape.

    That is how Python spells such a byte in a name (surrogateescape), so
    `os.fsencode(json.loads(text)["path"])` gives the name's bytes back; the
    text itself stays valid UTF-8, which a raw surrogate would not be.
    """
    text = json.dumps(document, indent=2, ensure_ascii=False)
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text) + "\n"


def github_annotations(report: FileReport, job: Job) -> Iterator[str]:
    """GitHub Actions workflow commands: errors, findings, and (checking) each upgrade a file needs."""
    if report.status is Status.IGNORED:
        return
    problem = report.problem
    if problem is not None:
        yield _command(
            "error", problem.path or report.name, problem.line, problem.column, problem.code, problem.message
        )
        return
    outcome = report.outcome
    if outcome is None:
        return
    for finding in outcome.findings:
        level = "error" if finding.needs_human else "notice" if finding.level == "note" else "warning"
        yield _command(level, report.name, finding.line, finding.column, finding.code, finding.message)
    if outcome.changed and job.finds_changes:
        for step in outcome.changes:
            message = f"needs upgrading: {step.name}: {step.summary} (run bn-upgrade on this file)"
            yield _command("error", report.name, step.line, step.column, step.code, message)


def _command(level: str, path: str, line: int, column: int, title: str, message: str) -> str:
    where_ = f"file={_escape_property(printable(path))}"
    if line:
        where_ += f",line={line},col={column}"
    return f"::{level} {where_},title={_escape_property(title)}::{_escape_data(printable(message))}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"
