"""`--output-format sarif`: a SARIF 2.1.0 log, as GitHub code scanning reads it.

One run; its rules are the codes the results use (from the code registry);
one result per error, finding and, where nothing is written (`--check`,
`--diff`), per upgrade a file needs, at the first line it would change.
Paths are relative URIs where the input was given relative (code scanning
resolves them from the repository root), `file:` URIs where it was absolute.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from upgrade_tool import __version__
from upgrade_tool.report import json_text, printable
from upgrade_tool.runner import FileReport, Job, Status

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION = "https://github.com/BVLC/caffe/pull/4704"  # what the tool is about: no URL of its own to name


def sarif_log(reports: Sequence[FileReport], job: Job, code: int) -> str:
    results = [result for report in reports for result in _results(report, job)]
    used = sorted({result["ruleId"] for result in results}, key=_registry_order)
    index = {rule: position for position, rule in enumerate(used)}
    for result in results:
        result["ruleIndex"] = index[result["ruleId"]]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "bn-upgrade",
                "version": __version__,
                "informationUri": INFORMATION,
                "rules": [_rule(rule) for rule in used],
            }
        },
        "invocations": [{"executionSuccessful": code in (0, 1), "exitCode": code}],
        "results": results,
    }
    return json_text({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]})


def _registry_order(code: str) -> int:
    from upgrade_tool.codes import all_codes

    order = {known.code: position for position, known in enumerate(all_codes())}
    return order.get(code, len(order))


def _rule(code: str) -> dict[str, Any]:
    from upgrade_tool.codes import by_code

    known = by_code().get(code)
    if known is None:
        return {"id": code}
    rule: dict[str, Any] = {
        "id": known.code,
        "name": known.name,
        "shortDescription": {"text": known.summary},
        "fullDescription": {"text": known.explanation},
        "help": {"text": f"{known.explanation}\n\nbn-upgrade --explain {known.code} shows an example."},
        "defaultConfiguration": {"level": known.level.value, "enabled": known.default},
        "properties": {"needs_human": known.needs_human, "fix": known.fix.value},
    }
    return rule


def _results(report: FileReport, job: Job) -> Iterator[dict[str, Any]]:
    if report.status is Status.IGNORED:
        return
    problem = report.problem
    if problem is not None:
        yield _result(problem.code, "error", problem.message, problem.path or report.name, problem.line, problem.column)
        return
    outcome = report.outcome
    if outcome is None:
        return
    for finding in outcome.findings:
        level = "error" if finding.needs_human else finding.level
        yield _result(finding.code, level, finding.message, report.name, finding.line, finding.column)
    if outcome.changed and job.finds_changes:
        for step in outcome.changes:
            message = f"needs upgrading: {step.name}: {step.summary} (run bn-upgrade on this file)"
            yield _result(step.code, "error", message, report.name, step.line, step.column)


def _result(code: str, level: str, message: str, path: str, line: int, column: int) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(path)}}
    if line > 0:
        physical["region"] = {"startLine": line, "startColumn": max(column, 1)}
    return {
        "ruleId": code,
        "level": level,
        "message": {"text": printable(message)},
        "locations": [{"physicalLocation": physical}],
    }


def _uri(path: str) -> str:
    """A URI reference for `path`: relative stays relative (no `./`), absolute becomes `file://`."""
    raw = os.fsencode(path)
    if os.path.isabs(path):
        return "file://" + quote(raw.replace(os.sep.encode(), b"/"))
    normal = os.path.normpath(raw).replace(os.sep.encode(), b"/")
    return quote(normal)
