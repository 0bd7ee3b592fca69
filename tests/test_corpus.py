"""The real nets in ../shared/corpus, against what Caffe's own C++ tools wrote (../shared/golden).

- Every corpus net with legacy BatchNorm params that BVLC's schema accepts is
  upgraded, removing exactly the BatchNorm param blocks, and a second run is a no-op.
- Where Caffe's only upgrade was BatchNorm, the output is Caffe's, byte for byte:
  golden/seed (Caffe at PR #4704, `--bn-style strip`) and golden/master (`zero`).
- Where Caffe had nothing to upgrade, the canonical rendering is Caffe's re-print.
- Fork files (fields BVLC does not know) are refused with an error naming the field.
- `--check` exits 1 on legacy files and 0 once they are upgraded.

Which files fall in which group is taken from the corpus MANIFEST and the golden
INDEX, never from what the tool itself does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, GOLDEN, INDEX, MANIFEST, check_noop, corpus_text, golden, tags
from google.protobuf import text_format
from google.protobuf.message import Message

from upgrade_tool import InputError, Kind, Result, caffe_pb2, check_idempotent, upgrade_text
from upgrade_tool.pipeline import parse_document, upgrade_source
from upgrade_tool.settings import OutputFormat, Settings
from upgrade_tool.source import Source

if not (CORPUS / "MANIFEST.tsv").is_file() or not (GOLDEN / "INDEX.tsv").is_file():
    pytest.skip(
        f"the shared corpus and golden outputs are not at {CORPUS.parent} (a checkout of ../shared); CI has them",
        allow_module_level=True,
    )


def caffe_rejected_only_the_bom(name: str) -> bool:
    # protobuf's C++ parser refuses a UTF-8 BOM ("non ascii codepoint 239" at 1:1); bn-upgrade accepts it.
    return "h:bom" in tags(name) and "non ascii codepoint 239" in INDEX[name]["seed_error"]


def schema_accepts(name: str) -> bool:
    return INDEX[name]["seed_rc"] in ("0", "1") or caffe_rejected_only_the_bom(name)


LEGACY_BATCHNORM = sorted(name for name in MANIFEST if "a" in tags(name) and schema_accepts(name))
NOTHING_TO_UPGRADE = sorted(name for name, row in INDEX.items() if row["seed_passes"] == "latest")
# Documented deviations from Caffe (README): bn-upgrade also strips 1 or 2 blocks (Caffe only
# exactly 3), and upgrades the nets inside solvers (Caffe's solver tool never does).
ACCEPTED = sorted(n for n, row in INDEX.items() if row["seed_rc"] == row["master_rc"] == "0")
FEWER_THAN_THREE_BLOCKS = sorted(n for n in ACCEPTED if tags(n) & {"a:1-param", "a:2-param"})
NOT_UTF8 = sorted(n for n in ACCEPTED if "h:non-utf8" in tags(n))
INLINE_BATCHNORM_NETS = sorted(
    n for n in ACCEPTED if "f:inline-net" in tags(n) and b'"BatchNorm"' in (CORPUS / n).read_bytes()
)
DEVIATIONS = set(FEWER_THAN_THREE_BLOCKS) | set(INLINE_BATCHNORM_NETS)
ACCEPTED_AT_SEED = sorted(n for n, row in INDEX.items() if row["seed_rc"] == "0" and n not in DEVIATIONS)
ACCEPTED_AT_MASTER = sorted(n for n, row in INDEX.items() if row["master_rc"] == "0" and n not in DEVIATIONS)
FORK_FILES = sorted(
    name for name, row in INDEX.items() if row["seed_rc"] == "2" and "has no field named" in row["seed_error"]
)


def by_path(names: list[str]) -> list[Any]:
    return [pytest.param(name, id=name) for name in names]


def upgrade(text: str, **opts: Any) -> Result:
    return upgrade_text(text, output_format="canonical", **opts)


def protobuf_parse(text: str, kind: Kind = Kind.NET) -> Message:
    """protobuf's own text parser: an oracle independent of bn-upgrade's reader."""
    message = caffe_pb2.NetParameter() if kind is Kind.NET else caffe_pb2.SolverParameter()
    return text_format.Parse(text, message)


def wire(message: Message) -> bytes:
    data: bytes = message.SerializeToString(deterministic=True)
    return data


def test_the_groups_are_what_the_corpus_readme_describes() -> None:
    # Guards the selections above: an empty or shrunken group would make the tests below vacuous.
    assert len(MANIFEST) == len(INDEX) == 476
    assert len(LEGACY_BATCHNORM) == 16
    assert len(ACCEPTED) == 179
    assert len(ACCEPTED_AT_SEED) == len(ACCEPTED_AT_MASTER) == 179 - 6
    assert len(INLINE_BATCHNORM_NETS) == 1
    assert len(NOTHING_TO_UPGRADE) == 58
    assert len(FEWER_THAN_THREE_BLOCKS) == 5
    assert len(NOT_UTF8) == 1
    assert len(FORK_FILES) >= 250


def batchnorm_layers(message: Message) -> list[caffe_pb2.LayerParameter]:
    """The BatchNorm layers of a net, as its own (mutable) layers."""
    assert isinstance(message, caffe_pb2.NetParameter)
    return [layer for layer in message.layer if layer.type == "BatchNorm"]


def only_batchnorm_for_caffe(name: str) -> bool:
    """Caffe's own tool found nothing but BatchNorm params to upgrade here."""
    return INDEX[name]["seed_passes"] in ("batchnorm", "latest")


@pytest.mark.parametrize("name", by_path(LEGACY_BATCHNORM))
def test_legacy_batchnorm_file_is_upgraded(name: str) -> None:
    text = corpus_text(name)
    result = upgrade(text)
    assert result.changed
    assert not result.needs_human, [f.message for f in result.findings]
    check_idempotent(text, output_format="canonical")
    # Judged by protobuf's own parser: the BatchNorm layers lose their param blocks and nothing else.
    before, after = protobuf_parse(text), protobuf_parse(result.text)
    expected = batchnorm_layers(before)
    assert any(layer.param for layer in expected)
    for layer in expected:
        del layer.param[:]
    assert [wire(layer) for layer in batchnorm_layers(after)] == [wire(layer) for layer in expected]
    if only_batchnorm_for_caffe(name):  # nothing else may change: `before` now holds the expected net
        assert wire(after) == wire(before)


@pytest.mark.parametrize("name", by_path(LEGACY_BATCHNORM))
def test_legacy_batchnorm_file_is_zeroed_in_zero_style(name: str) -> None:
    text = corpus_text(name)
    result = upgrade(text, bn_style="zero")
    check_idempotent(text, bn_style="zero", output_format="canonical")
    before, after = protobuf_parse(text), protobuf_parse(result.text)
    expected = batchnorm_layers(before)
    blocks = [block for layer in expected for block in layer.param]
    if only_batchnorm_for_caffe(name):
        # Blocks already in Caffe master's form (both rates explicitly 0) leave nothing to do.
        assert result.changed == any(not (b.HasField("decay_mult") and b.decay_mult == 0) for b in blocks)
    for block in blocks:
        block.lr_mult = 0
        block.decay_mult = 0
    assert [wire(layer) for layer in batchnorm_layers(after)] == [wire(layer) for layer in expected]
    if only_batchnorm_for_caffe(name):
        assert wire(after) == wire(before)


@pytest.mark.parametrize("name", by_path(ACCEPTED_AT_SEED))
def test_matches_caffe_at_pr_4704(name: str) -> None:
    assert upgrade(corpus_text(name)).text == golden("seed", name)


@pytest.mark.parametrize("name", by_path(ACCEPTED_AT_MASTER))
def test_zero_style_matches_caffe_master(name: str) -> None:
    assert upgrade(corpus_text(name), bn_style="zero").text == golden("master", name)


@pytest.mark.parametrize("name", by_path(sorted(set(NOTHING_TO_UPGRADE) - DEVIATIONS)))
def test_up_to_date_file_is_not_an_upgrade(name: str) -> None:
    check_noop(corpus_text(name))


@pytest.mark.parametrize("name", by_path(INLINE_BATCHNORM_NETS))
def test_nets_inside_solvers_differ_from_caffe_only_by_the_upgrade(name: str) -> None:
    # Caffe's solver tool leaves inline nets as they are; bn-upgrade upgrades them too.
    text = corpus_text(name)
    for style, version in (("strip", "seed"), ("zero", "master")):
        result = upgrade(text, bn_style=style)
        assert upgrade(golden(version, name), bn_style=style).text == result.text


@pytest.mark.parametrize("name", by_path(FEWER_THAN_THREE_BLOCKS))
def test_one_or_two_blocks_differ_from_caffe_only_by_the_upgrade(name: str) -> None:
    # Caffe leaves these alone (it only handles exactly 3 blocks); bn-upgrade strips them.
    # Upgrading Caffe's own output must give the same bytes as upgrading the original.
    text = corpus_text(name)
    for style, version in (("strip", "seed"), ("zero", "master")):
        result = upgrade(text, bn_style=style)
        assert result.changed
        assert result.text != golden(version, name)
        assert upgrade(golden(version, name), bn_style=style).text == result.text


@pytest.mark.parametrize("name", by_path(NOT_UTF8))
def test_a_comment_that_is_not_utf8_is_read_and_kept_byte_for_byte(name: str) -> None:
    # Caffe reads a comment as bytes (a Latin-1 character here), and so does bn-upgrade:
    # its canonical output is Caffe's (test_matches_caffe_at_pr_4704), and the file is kept as it is.
    data = (CORPUS / name).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    source = Source.from_bytes(data)
    result = upgrade_source(source, Settings())
    assert not result.changed
    assert source.encode(result.text) == data
    assert name in ACCEPTED_AT_SEED and name in ACCEPTED_AT_MASTER


CAFFE_UNKNOWN_FIELD = re.compile(
    r'(?P<line>\d+):\d+: Message type "(?P<message>[\w.]+)" has no field named "(?P<field>\w+)"'
)


@pytest.mark.parametrize("name", by_path(FORK_FILES))
def test_fork_file_error_names_the_field_caffe_names(name: str) -> None:
    # The first unknown field in the file, in the same message and on the same line as Caffe
    # reports it; the column points at the field's name (Caffe's points just past it).
    caffe = CAFFE_UNKNOWN_FIELD.search(INDEX[name]["seed_error"])
    assert caffe, INDEX[name]["seed_error"]
    text = corpus_text(name)
    with pytest.raises(InputError) as caught:
        upgrade(text, dialect="bvlc")  # read as BVLC's Caffe reads it
    error = caught.value
    assert error.code == "E002"
    assert f"unknown field '{caffe['field']}' in {caffe['message']}" in error.message
    assert error.line == int(caffe["line"])
    line = text.splitlines()[error.line - 1]
    assert line[error.column - 1 :].startswith(caffe["field"]), f"column {error.column} is not at the field"


@pytest.mark.parametrize("name", by_path(FORK_FILES))
def test_a_fork_file_prints_canonically_in_its_dialect_or_names_what_no_dialect_knows(name: str) -> None:
    text = corpus_text(name)
    try:
        result = upgrade(text)
    except InputError as error:  # no shipped dialect reads it all: the error names what the closest does not know
        assert error.code in ("E002", "E003"), error.message
        return
    assert result.dialect != "bvlc"
    again = upgrade(result.text, dialect=result.dialect)
    assert again.text == result.text and not again.changed


def readable_files() -> list[Any]:
    return by_path(sorted(n for n in INDEX if schema_accepts(n) and "h:non-utf8" not in tags(n)))


@pytest.mark.parametrize("name", readable_files())
def test_file_reads_as_protobuf_reads_it(name: str) -> None:
    # Every file Caffe could parse: bn-upgrade's reader and binder build exactly the
    # message protobuf's own text parser builds from it.
    text = corpus_text(name)
    doc, kind = parse_document(text, Settings(output_format=OutputFormat.CANONICAL))
    assert wire(doc.message) == wire(protobuf_parse(text, kind))


def test_check_exits_1_before_and_0_after_upgrading(tmp_path: Path) -> None:
    picks = [LEGACY_BATCHNORM[0], *[n for n in LEGACY_BATCHNORM if "h:bom" in tags(n)][:1], ACCEPTED_AT_SEED[0]]
    names = []
    for index, name in enumerate(picks):
        copy = tmp_path / f"{index}_{Path(name).name}"
        shutil.copyfile(CORPUS / name, copy)
        names.append(copy.name)

    def bn_upgrade(*args: str) -> int:
        command = [sys.executable, "-m", "upgrade_tool", "--format", "canonical", "-q", *args, *names]
        completed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert "Traceback" not in completed.stderr
        return completed.returncode

    assert bn_upgrade("--check") == 1
    assert [(tmp_path / n).read_bytes() for n in names] == [(CORPUS / p).read_bytes() for p in picks]
    assert bn_upgrade() == 0
    assert bn_upgrade("--check") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
