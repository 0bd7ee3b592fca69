"""Turning file reports into what the user reads: lines, a summary, JSON, annotations."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from upgrade_tool.document import Kind
from upgrade_tool.pipeline import Result
from upgrade_tool.runner import FileReport, Job, Status, where

_SHOWN_UNKNOWN = 8
# A file name that is not UTF-8 arrives with each bad byte as a lone surrogate (Python's surrogateescape).
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with each byte of a name that is not UTF-8 shown as `\\xNN` (lone surrogates as `\\uXXXX`)."""
    return _SURROGATE.sub(_escape_surrogate, text)


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def text_lines(report: FileReport, job: Job, quiet: bool, verbose: bool) -> Iterator[str]:
    """The stderr lines for one file (errors and findings that need a human even when quiet)."""
    for line in _lines(report, job, quiet, verbose):
        yield printable(line)


def _lines(report: FileReport, job: Job, quiet: bool, verbose: bool) -> Iterator[str]:
    if not quiet:
        for temp, removed in report.stale:
            done = "removed" if removed else "--clean removes it"
            yield f"{temp}: a temp file left by a bn-upgrade run that was killed; {done}"
    if report.error:
        yield report.error
        if report.written and not quiet:
            yield f"{report.name}: copied unchanged to {report.written[0]}"
        return
    if report.status is Status.COPIED:
        if verbose:
            yield f"{report.name}: copied unchanged to {report.written[0]}"
        return
    result = report.result
    assert result is not None
    for finding in result.findings:
        if finding.needs_human or not quiet:
            yield f"{where(report.name, finding.line, finding.column)}: {finding.code} {finding.message}"
    if quiet:
        return
    for notice in result.notices:
        yield f"{report.name}: {notice}"
    if result.unknown_fields:
        names = ", ".join(result.unknown_fields[:_SHOWN_UNKNOWN])
        more = ", ..." if len(result.unknown_fields) > _SHOWN_UNKNOWN else ""
        kept = _count(len(result.unknown_fields), "field")
        yield f"{report.name}: kept {kept} the schema does not know, as written: {names}{more}"
    if report.status is Status.UPGRADED:
        verb = "would upgrade" if job.finds_changes else "upgraded"
        done = "; ".join(f"{name}: {summary}" for name, summary in result.summaries)
        yield f"{report.name}: {verb} ({_solver_tag(result)}{done})"
    elif verbose:
        yield f"{report.name}: up to date" + (" (solver)" if result.kind is Kind.SOLVER else "")


def _solver_tag(result: Result) -> str:
    """Solvers are told apart from nets by content; say so where it was a solver."""
    return "solver; " if result.kind is Kind.SOLVER else ""


def summary(reports: Sequence[FileReport], job: Job, seconds: float) -> list[str]:
    """The closing lines: counts by outcome, then per pass, then the time taken."""

    def count(*statuses: Status) -> int:
        return sum(1 for report in reports if report.status in statuses)

    upgraded = "would be upgraded" if job.finds_changes else "upgraded"
    parts = [
        f"{count(Status.UPGRADED)} {upgraded}",
        f"{count(Status.UP_TO_DATE)} already up to date",
    ]
    human = sum(1 for report in reports if report.result is not None and report.result.needs_human)
    parts.append(f"{human} need{'s' * (human == 1)} a human")
    parts.append(f"{count(Status.FAILED, Status.INTERNAL)} failed")
    if job.copy_unchanged:
        copied = count(Status.COPIED)
        parts.append(f"{copied} other file{'s' * (copied != 1)} copied unchanged")
    lines = [f"{_count(len(reports), 'file')} scanned: {', '.join(parts)} ({seconds:.1f} s)."]
    for name, files, totals in pass_totals(reports):
        detail = ", ".join(f"{key}: {value}" for key, value in totals.items() if value)
        lines.append(f"  {name}: {_count(files, 'file')}" + (f" ({detail})" if detail else ""))
    return lines


def pass_totals(reports: Sequence[FileReport]) -> list[tuple[str, int, dict[str, int]]]:
    """(pass, files it changed, summed counts), in the order passes first appear."""
    totals: dict[str, tuple[int, dict[str, int]]] = {}
    for report in reports:
        if report.result is None:
            continue
        for name, counts in report.result.counts:
            files, summed = totals.get(name, (0, {}))
            for key, value in counts.items():
                summed[key] = summed.get(key, 0) + value
            totals[name] = (files + 1, summed)
    return [(name, files, summed) for name, (files, summed) in totals.items()]


def json_record(report: FileReport) -> dict[str, Any]:
    result = report.result
    return {
        "path": report.name,
        "status": report.status.value,
        "kind": result.kind.value if result is not None else None,
        "passes": [
            {"name": name, "summary": text, "counts": dict(counts)}
            for (name, text), (_, counts) in zip(result.summaries, result.counts, strict=True)
        ]
        if result is not None
        else [],
        "findings": [
            {
                "code": f.code,
                "message": f.message,
                "line": f.line,
                "column": f.column,
                "needs_human": f.needs_human,
            }
            for f in (result.findings if result is not None else ())
        ],
        "unknown_fields": list(result.unknown_fields) if result is not None else [],
        "notices": list(result.notices) if result is not None else [],
        "error": report.error or None,
        "bytes_before": report.bytes_before,
        "bytes_after": report.bytes_after,
        "written": list(report.written),
        "stale_temp_files": [{"path": temp, "removed": removed} for temp, removed in report.stale],
    }


def json_report(reports: Sequence[FileReport], job: Job, seconds: float, code: int) -> str:
    document = {
        "tool": "bn-upgrade",
        "mode": job.write_back.value,
        "exit_code": code,
        "seconds": round(seconds, 3),
        "summary": {
            "files": len(reports),
            **{status.value: sum(1 for r in reports if r.status is status) for status in Status},
            "needs_human": sum(1 for r in reports if r.result is not None and r.result.needs_human),
            "passes": {name: {"files": files, **totals} for name, files, totals in pass_totals(reports)},
        },
        "files": [json_record(report) for report in reports],
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
    """GitHub Actions workflow commands: findings, errors, and files that need upgrading."""
    if report.error:
        line, column, message = _split_error(report)
        yield _command("error", report.name, line, column, "bn-upgrade", message)
        return
    result = report.result
    assert result is not None
    for finding in result.findings:
        level = "error" if finding.needs_human else "warning"
        yield _command(level, report.name, finding.line, finding.column, finding.code, finding.message)
    if report.status is Status.UPGRADED and job.finds_changes:
        done = "; ".join(f"{name}: {text}" for name, text in result.summaries)
        yield _command("error", report.name, 1, 1, "needs upgrade", f"run bn-upgrade on this file ({done})")


def _split_error(report: FileReport) -> tuple[int, int, str]:
    """Line, column and message of a one-line error `PATH:LINE:COL: message`."""
    rest = report.error[len(report.name) :]
    parts = rest.split(":", 3)
    if len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit():
        return int(parts[1]), int(parts[2]), parts[3].strip()
    return 0, 0, rest.lstrip(": ")


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
