"""Shared helpers: where the shared corpus lives, and the two checks every upgrade test uses.

`check_noop(src)` and `check_transformed(before, after)` follow django-upgrade: the
first says an input is already up to date, the second says exactly what it becomes
and proves the expected output is itself a valid, up-to-date net. Both default to
`output_format="canonical"`, so they keep testing Caffe's bytes whatever the
tool's default output format is.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import text_format
from hypothesis import settings

from upgrade_tool import Kind, Result, caffe_pb2, upgrade_text

# Property tests: 35 examples each in the default run, 150 with --hypothesis-profile=thorough (.ci/run).
settings.register_profile("quick", max_examples=35)
settings.register_profile("thorough", max_examples=150)
settings.load_profile("quick")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"  # ../shared next to the repo (read-only data; CI has it)
CORPUS = SHARED / "corpus"
GOLDEN = SHARED / "golden"


HAVE_CORPUS = (CORPUS / "MANIFEST.tsv").is_file() and (GOLDEN / "INDEX.tsv").is_file()
needs_corpus = pytest.mark.skipif(not HAVE_CORPUS, reason=f"the shared corpus and goldens are not at {SHARED}")


def read_tsv(path: Path) -> dict[str, dict[str, str]]:
    """Rows of a corpus table by their `file` column; empty when the table is absent."""
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle, delimiter="\t")}


MANIFEST = read_tsv(CORPUS / "MANIFEST.tsv")  # origin and categories of each corpus file
INDEX = read_tsv(GOLDEN / "INDEX.tsv")  # what Caffe's own tools did with each file


def tags(name: str) -> set[str]:
    return set(MANIFEST[name]["categories"].split(","))


def corpus_text(name: str) -> str:
    from upgrade_tool.source import Source

    return Source.from_bytes((CORPUS / name).read_bytes()).text


def golden(version: str, name: str) -> str:
    """What Caffe wrote for a corpus file: version "seed" (PR #4704) or "master"."""
    return (GOLDEN / version / name).read_bytes().decode("utf-8")


def _with_defaults(opts: dict[str, Any]) -> dict[str, Any]:
    return {"output_format": "canonical", **opts}


def check_noop(src: str, **opts: Any) -> Result:
    """`src` needs no upgrade: nothing changes, and the output is stable."""
    opts = _with_defaults(opts)
    result = upgrade_text(src, **opts)
    assert not result.changed, f"expected no upgrade, got {result.summaries}"
    assert result.summaries == ()
    again = upgrade_text(result.text, **opts)
    assert not again.changed
    assert again.text == result.text
    return result


def check_transformed(before: str, after: str, **opts: Any) -> Result:
    """`before` upgrades to exactly `after`, and `after` is a valid, up-to-date net."""
    opts = _with_defaults(opts)
    result = upgrade_text(before, **opts)
    assert result.text == after
    assert result.changed
    assert result.summaries, "a change must say what it did"
    assert_parses_independently(after, result.kind)
    again = upgrade_text(after, **opts)
    assert not again.changed, f"the expected output is not up to date: {again.summaries}"
    assert again.text == after
    return result


def assert_parses_independently(text: str, kind: Kind = Kind.NET) -> None:
    """Parse with protobuf's own text parser (not ours) to prove `text` is valid for the schema."""
    message = caffe_pb2.NetParameter() if kind is Kind.NET else caffe_pb2.SolverParameter()
    text_format.Parse(text, message)


def pytest_configure(config: pytest.Config) -> None:
    """Every run of the command in the tests caches outcomes in a directory of its own, never the user's."""
    import os
    import tempfile

    os.environ["BN_UPGRADE_CACHE_DIR"] = tempfile.mkdtemp(prefix="bn-upgrade-test-cache-")


REPORT_SCHEMA = REPO / "upgrade_tool" / "report-schema.json"


def validate_report(report: Any) -> None:
    """A JSON report (parsed) is valid against the schema the repository ships (upgrade_tool/report-schema.json)."""
    import json

    import jsonschema

    jsonschema.validate(report, json.loads(REPORT_SCHEMA.read_text(encoding="utf-8")))
