"""Upgrades as before/after files under `tests/cases/` (the BatchNorm pass first of all).

Each directory is one set of options (`OPTIONS` below); each `.prototxt` in it is
one case, named in plain English. A file holds the input, then a line exactly
`# output`, then the exact canonical output. With no `# output` line the input is
already up to date: it must not change, and since it is written canonically, its
canonical rendering is the input itself. An optional first line
`# findings: BN001 BN003` lists the finding codes the case must report, in order
(no such line: no findings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pytest
from conftest import check_noop, check_transformed

CASES = Path(__file__).resolve().parent / "cases"
OUTPUT_MARKER = "# output\n"
FINDINGS_PREFIX = "# findings:"

OPTIONS: dict[str, dict[str, Any]] = {
    "canonical-strip": {"output_format": "canonical"},
    "canonical-zero": {"output_format": "canonical", "bn_style": "zero"},
    "canonical-unsafe": {"output_format": "canonical", "unsafe_fixes": True},
    "canonical-zero-unsafe": {"output_format": "canonical", "bn_style": "zero", "unsafe_fixes": True},
}


class Case(NamedTuple):
    before: str
    after: str | None  # None: must not change
    findings: tuple[str, ...]


def read_case(path: Path) -> Case:
    text = path.read_text(encoding="utf-8")
    findings: tuple[str, ...] = ()
    if text.startswith(FINDINGS_PREFIX):
        header, _, text = text.partition("\n")
        findings = tuple(header[len(FINDINGS_PREFIX) :].split())
    before, marker, after = text.partition(OUTPUT_MARKER)
    return Case(before, after if marker else None, findings)


def case_files() -> list[Any]:
    return [
        pytest.param(path, id=f"{path.parent.name}/{path.stem.replace('_', ' ')}")
        for path in sorted(CASES.glob("*/*.prototxt"))
    ]


def test_every_case_directory_has_its_options() -> None:
    directories = {path.name for path in CASES.iterdir() if path.is_dir()}
    assert directories == set(OPTIONS)


@pytest.mark.parametrize("path", case_files())
def test_case(path: Path) -> None:
    case = read_case(path)
    opts = OPTIONS[path.parent.name]
    if case.after is None:
        result = check_noop(case.before, **opts)
        assert result.text == case.before, "an up-to-date case must be written canonically"
    else:
        result = check_transformed(case.before, case.after, **opts)
    assert tuple(finding.code for finding in result.findings) == case.findings
    assert result.needs_human == ("BN001" in case.findings)
