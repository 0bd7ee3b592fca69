"""Reading as protobuf's C++ TextFormat 3.21 (the parser Caffe links) reads, case by case.

tests/cpp_parity.json holds inputs and what C++ made of each, recorded from
bench/oracle (the real C++ parser and printer; bench/record_cpp_cases.py): the
text C++ prints when it accepts, or the line of its first error and its
message when it refuses. So these run without the oracle. bn-upgrade's strict
reading (BVLC's schema) must agree: the same canonical text, or a refusal on
the same line (C++ gives no line for a missing required field). The
differential fuzzer (bench/fuzz_reader.py --against-cpp) found or checks each
one; a new difference it finds becomes a case here.

A case marked "deliberate" is a documented difference (README, "Deliberate
differences from Caffe's own tools"): C++ keeps a string's bytes that are not
UTF-8, which Python protobuf cannot hold in a string field; bn-upgrade refuses
such a string with a one-line error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from upgrade_tool.canonical import render
from upgrade_tool.document import Kind
from upgrade_tool.errors import InputError
from upgrade_tool.pipeline import parse_document
from upgrade_tool.settings import Settings
from upgrade_tool.source import Source

CASES: list[dict[str, Any]] = json.loads((Path(__file__).parent / "cpp_parity.json").read_text(encoding="utf-8"))
SAME = [pytest.param(case, id=case["what"]) for case in CASES if "deliberate" not in case]
DELIBERATE = [pytest.param(case, id=case["what"]) for case in CASES if "deliberate" in case]


def read_strictly(case: dict[str, Any]) -> str:
    """Our canonical text of the case's bytes; `InputError` (with its line) if refused."""
    source = Source.from_bytes(case["input"].encode("latin-1"))
    try:
        doc, _ = parse_document(source.text, Settings(strict=True, dialect="bvlc"), Kind(case["kind"]))
    except InputError as exc:
        exc.line, exc.column = source.position(exc.offset)
        raise
    return render(doc.message)


@pytest.mark.parametrize("case", SAME)
def test_reads_as_cpp_reads(case: dict[str, Any]) -> None:
    cpp = case["cpp"]
    if "printed" in cpp:
        assert read_strictly(case) == cpp["printed"]
        return
    with pytest.raises(InputError) as caught:
        read_strictly(case)
    if cpp["refused"]["line"]:
        assert caught.value.line == cpp["refused"]["line"], (caught.value.message, cpp["refused"]["message"])


@pytest.mark.parametrize("case", DELIBERATE)
def test_a_string_that_is_not_utf8_is_refused_where_cpp_keeps_its_bytes(case: dict[str, Any]) -> None:
    assert "\\3" in case["cpp"]["printed"]  # C++ accepted it, printing the bytes in octal
    with pytest.raises(InputError, match="not valid UTF-8"):
        read_strictly(case)


def test_there_are_cases_of_both_kinds() -> None:
    assert len(SAME) > 60 and DELIBERATE
    assert any("refused" in case["cpp"] for case in CASES) and any("printed" in case["cpp"] for case in CASES)
