"""Fork dialects, case by case: `tests/dialect_cases/<dialect>/<what it shows>.prototxt`.

A case file starts with header lines, then the input, then (if the input is to
change) a line exactly `# output` and the exact output, in the default
preserving format. Without `# output` the input must come out unchanged.

    # dialect: ssd               the dialect the file must be read as
    # options: target=bvlc fix   upgrade_text options (`name=value`, or a flag)
    # findings: DL002 BN006      the codes reported, in order (every code selected)
    # says: did you mean ...     a text some finding's message or change's summary holds (repeatable)
    # error: E003                the input is refused with this code (`says`: its message holds it)

Every output must then read back with protobuf's own text parser in the schema
of the runtime it is for (an oracle independent of bn-upgrade's reader) where
nothing unknown was kept, and a second run must change nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pytest
from google.protobuf import text_format

from upgrade_tool import InputError, check_idempotent, upgrade_text
from upgrade_tool.dialects import get_dialect

CASES = Path(__file__).resolve().parent / "dialect_cases"
OUTPUT_MARKER = "# output\n"


class Case(NamedTuple):
    dialect: str
    options: dict[str, Any]
    findings: tuple[str, ...]
    says: tuple[str, ...]
    error: str | None
    before: str
    after: str | None


def read_case(path: Path) -> Case:
    header: dict[str, list[str]] = {}
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    while lines and lines[0].startswith("# ") and ":" in lines[0] and lines[0] != OUTPUT_MARKER:
        key, _, value = lines.pop(0)[2:].partition(":")
        header.setdefault(key.strip(), []).append(value.strip())
    before, marker, after = "".join(lines).partition(OUTPUT_MARKER)
    options: dict[str, Any] = {}
    for word in " ".join(header.get("options", [])).split():
        name, equals, value = word.partition("=")
        options[name] = value if equals else True
    return Case(
        header["dialect"][0],
        options,
        tuple(" ".join(header.get("findings", [])).split()),
        tuple(header.get("says", [])),
        header.get("error", [None])[0],
        before,
        after if marker else None,
    )


def case_files() -> list[Any]:
    return [
        pytest.param(path, id=f"{path.parent.name}: {path.stem.replace('_', ' ')}")
        for path in sorted(CASES.glob("*/*.prototxt"))
    ]


def test_the_dialects_the_issue_names_have_cases() -> None:
    covered = {path.parent.name for path in CASES.glob("*/*.prototxt")}
    assert {"ssd", "nvcaffe", "intel", "rfcn", "deeplab-context", "segnet", "c3d"} <= covered


@pytest.mark.parametrize("path", case_files())
def test_dialect_case(path: Path) -> None:
    case = read_case(path)
    if case.error is not None:
        with pytest.raises(InputError) as refused:
            upgrade_text(case.before, select=["ALL"], **case.options)
        assert refused.value.code == case.error, refused.value.message
        assert all(text in refused.value.message for text in case.says), refused.value.message
        return
    result = upgrade_text(case.before, select=["ALL"], **case.options)
    assert result.dialect == case.dialect, result.dialect_reason
    assert tuple(f.code for f in result.findings) == case.findings, [f.message for f in result.findings]
    said = [f.message for f in result.findings] + [c.summary for c in result.changes]
    for text in case.says:
        assert any(text in message for message in said), (text, said)
    assert result.text == (case.after if case.after is not None else case.before)
    assert result.changed == (case.after is not None)
    by_default = upgrade_text(case.before, **case.options)  # what needs a human is on by default
    assert [f.code for f in by_default.findings if f.needs_human] == [f.code for f in result.findings if f.needs_human]
    again = upgrade_text(result.text, select=["ALL"], **case.options)
    assert not again.changed and again.text == result.text
    if not result.unknown_fields:
        schema = get_dialect(result.target if case.after is not None else result.dialect).schema()
        text_format.Parse(result.text, schema.net())


@pytest.mark.parametrize("path", case_files())
def test_check_idempotent_takes_the_cases_dialect_and_target(path: Path) -> None:
    case = read_case(path)
    options = {name: case.options[name] for name in ("dialect", "target") if name in case.options}
    if case.error is None:
        check_idempotent(case.before, **options)
