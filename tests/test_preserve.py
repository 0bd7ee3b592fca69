"""Format-preserving upgrades: only the upgraded text changes, fork fields survive.

The corpus tests prove the issue's "done when" over every real file: a file that
needs no change comes out byte for byte; a legacy BatchNorm file loses exactly its
param-block lines (or, in one-line layers, the blocks' text); no unknown field is
lost anywhere.
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS

from upgrade_tool import InputError, upgrade_text
from upgrade_tool.binder import bind
from upgrade_tool.document import Kind
from upgrade_tool.errors import SelfCheckError
from upgrade_tool.pipeline import parse_document
from upgrade_tool.settings import Settings
from upgrade_tool.source import Source

REPO = Path(__file__).resolve().parents[1]


def manifest() -> dict[str, str]:
    rows = (CORPUS / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return {row.split("\t")[0]: row.split("\t")[5] for row in rows}


def corpus_files() -> list[object]:
    if not CORPUS.is_dir():
        return []
    return [pytest.param(name, categories, id=name) for name, categories in sorted(manifest().items())]


needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the shared corpus is not at {CORPUS} (../shared next to the repository)"
)


def unknown_texts(text: str) -> list[str]:
    doc, _ = parse_document(text, Settings())
    return doc.unknown_texts()


def only_deletions(before: str, after: str) -> bool:
    """Every difference is a deleted line, or text cut from inside one line."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("equal", "delete"):
            continue
        if tag != "replace" or i2 - i1 != j2 - j1:
            return False
        for line_before, line_after in zip(old[i1:i2], new[j1:j2], strict=True):
            if not _is_subsequence(line_after, line_before):
                return False
    return True


def _is_subsequence(small: str, big: str) -> bool:
    letters = iter(big)
    return all(ch in letters for ch in small)


@needs_corpus
@pytest.mark.parametrize(("name", "categories"), corpus_files())
def test_corpus_file_is_kept_or_only_loses_param_blocks(name: str, categories: str) -> None:
    data = (CORPUS / name).read_bytes()
    try:
        source = Source.from_bytes(data)
        result = upgrade_text(source.text)
    except InputError:
        pytest.skip("not a valid net or solver (covered by the error tests)")
    if not result.changed:
        assert result.text == source.text, "a file that needs no change must come out byte for byte"
        assert source.encode(result.text) == data
        return
    assert unknown_texts(result.text) == unknown_texts(source.text), "an unknown field was lost"
    only_bn = [name for name, _ in result.summaries] == ["BatchNorm"]
    if only_bn:
        assert only_deletions(source.text, result.text), "the diff must consist of deleted param blocks"


@pytest.mark.slow
@needs_corpus
def test_every_rule_one_or_two_corpus_file_is_upgraded_for_a_runtime_that_masks_its_statistics() -> None:
    # For its own dialect's runtime: upgraded, or kept because that runtime needs the blocks (BN006);
    # for current Caffe (--target bvlc): upgraded, fork or not.
    for_own, kept_for_own, for_bvlc, left = 0, 0, 0, []
    for name, categories in manifest().items():
        if "a:3x-lr0" not in categories.split(","):
            continue
        text = Source.from_bytes((CORPUS / name).read_bytes()).text
        try:
            result = upgrade_text(text, select=["ALL"])
        except InputError:
            assert "template" in name, f"{name} does not parse"  # placeholders instead of numbers
            continue
        codes = {finding.code for finding in result.findings}
        if result.changed:
            for_own += 1
        else:
            assert "BN006" in codes or "BN004" in codes, f"{name} was not upgraded and nothing says why"
            kept_for_own += "BN006" in codes
        moved = upgrade_text(text, target="bvlc")
        if moved.changed:
            for_bvlc += 1
        else:
            moved_codes = {finding.code for finding in moved.findings}  # DL003: Intel's fields bvlc lacks
            assert "BN004" in moved_codes and moved_codes <= {"BN004", "DL003"}, name
            left.append(name)
    assert for_own + kept_for_own >= 86, (for_own, kept_for_own)
    assert for_bvlc >= 88, f"only {for_bvlc} files upgraded for bvlc"
    assert len(left) <= 2, left  # Intel nets with `filler` inside batch_norm_param


CASES: dict[str, tuple[str, str]] = {
    "keeps comments, blank lines and odd spacing around removed blocks": (
        '# my net\n\nlayer {\n  name: "bn"   # the first\n  type: "BatchNorm"\n\n'
        "  param { lr_mult: 0 }  # mean\n  param { lr_mult: 0 }\n  param { lr_mult: 0 }\n"
        "  batch_norm_param {   use_global_stats: true }\n}\n",
        '# my net\n\nlayer {\n  name: "bn"   # the first\n  type: "BatchNorm"\n\n'
        "  batch_norm_param {   use_global_stats: true }\n}\n",
    ),
    "keeps a comment line between the blocks": (
        'layer {\n  type: "BatchNorm"\n  param { lr_mult: 0 }\n  # variance\n  param { lr_mult: 0 }\n}\n',
        'layer {\n  type: "BatchNorm"\n  # variance\n}\n',
    ),
    "keeps CRLF line ends": (
        'layer {\r\n\ttype: "BatchNorm"\r\n\tparam {\r\n\t\tlr_mult: 0\r\n\t}\r\n}\r\n',
        'layer {\r\n\ttype: "BatchNorm"\r\n}\r\n',
    ),
    "cuts blocks out of a one-line layer": (
        'layer { name: "bn" type: "BatchNorm" param { lr_mult: 0 } param <lr_mult: 0.0> param{lr_mult:0} }\n',
        'layer { name: "bn" type: "BatchNorm" }\n',
    ),
    "removes blocks written with colon braces and separators": (
        'layer {\n  type: "BatchNorm";\n  param: { lr_mult: 0 },\n  param: { lr_mult: 0 };\n}\n',
        'layer {\n  type: "BatchNorm";\n}\n',
    ),
    "keeps a missing final newline": (
        'layer {\n  type: "BatchNorm"\n  param { lr_mult: 0 }\n}',
        'layer {\n  type: "BatchNorm"\n}',
    ),
    "keeps non-ASCII text": (
        'layer {\n  name: "归一化"  # 批归一化\n  type: "BatchNorm"\n  param { lr_mult: 0 }\n}\n',
        'layer {\n  name: "归一化"  # 批归一化\n  type: "BatchNorm"\n}\n',
    ),
    "keeps fork fields byte for byte": (
        'layer {\n  type: "Permute"\n  permute_param {  order: 0   order: 2 }\n}\n'
        'layer {\n  type: "BatchNorm"\n  param { lr_mult: 0 }\n}\nlayer { engine_x: MKL2017 }\n',
        'layer {\n  type: "Permute"\n  permute_param {  order: 0   order: 2 }\n}\n'
        'layer {\n  type: "BatchNorm"\n}\nlayer { engine_x: MKL2017 }\n',
    ),
}


@pytest.mark.parametrize(("before", "after"), CASES.values(), ids=CASES.keys())
def test_preserving_upgrade(before: str, after: str) -> None:
    result = upgrade_text(before)
    assert result.text == after
    again = upgrade_text(after)
    assert not again.changed and again.text == after


ZERO_CASES: dict[str, tuple[str, str]] = {
    "edits values in place and adds decay_mult beside lr_mult": (
        'layer {\n  type: "BatchNorm"\n  param {\n    lr_mult: 0  # frozen\n  }\n'
        "  param { lr_mult: 0.0 decay_mult: 1 }\n}\n",
        'layer {\n  type: "BatchNorm"\n  param {\n    lr_mult: 0  # frozen\n    decay_mult: 0\n  }\n'
        "  param { lr_mult: 0.0 decay_mult: 0 }\n}\n",
    ),
    "adds decay_mult in a one-line block": (
        'layer { type: "BatchNorm" param { lr_mult: 0 } }\n',
        'layer { type: "BatchNorm" param { lr_mult: 0 decay_mult: 0 } }\n',
    ),
}


@pytest.mark.parametrize(("before", "after"), ZERO_CASES.values(), ids=ZERO_CASES.keys())
def test_zero_style_edits_in_place(before: str, after: str) -> None:
    result = upgrade_text(before, bn_style="zero")
    assert result.text == after
    assert not upgrade_text(after, bn_style="zero").changed


def test_zeroing_named_blocks_keeps_their_names_in_place() -> None:
    before = 'layer {\n  type: "BatchNorm"\n  param { name: "m" lr_mult: 0 }\n}\n'
    result = upgrade_text(before)
    assert result.text == 'layer {\n  type: "BatchNorm"\n  param { name: "m" lr_mult: 0 decay_mult: 0 }\n}\n'
    assert [finding.code for finding in result.findings] == ["BN003"]


def test_unknown_fields_are_listed_once_per_file() -> None:
    text = "layer {\n  fancy_param { order: 1 }\n}\nlayer {\n  fancy_param { order: 2 }\n  style: FANCY\n}\n"
    result = upgrade_text(text)
    assert result.unknown_fields == ("fancy_param", "style: FANCY")
    assert not result.changed and result.text == text
    assert [(f.code, f.line) for f in result.findings] == [("DL002", 2), ("DL002", 6)]
    assert "(2 times)" in result.findings[0].message


def test_a_fork_field_makes_the_file_read_with_the_fork_schema() -> None:
    text = 'layer {\n  type: "Convolution"\n  convolution_param { engine: MKL2017 num_output: 3 }\n}\n'
    result = upgrade_text(text)
    assert (result.dialect, result.unknown_fields, result.findings) == ("intel", (), ())
    assert "intel: explains ConvolutionParameter.engine: MKL2017" in result.dialect_reason


def test_unknown_enum_value_in_a_known_field_is_kept() -> None:
    text = 'layer {\n  type: "Convolution"\n  convolution_param { engine: TURBO num_output: 3 }\n}\n'
    result = upgrade_text(text)
    assert result.unknown_fields == ("engine: TURBO",)
    assert [f.code for f in result.findings] == ["DL002"]


def test_known_part_is_still_validated_next_to_unknown_fields() -> None:
    with pytest.raises(InputError) as caught:
        upgrade_text("layer {\n  permute_param { order: 1 }\n  top: 3\n}\n")
    assert (caught.value.line, caught.value.column) == (3, 8)


@pytest.mark.parametrize(
    "block",
    ["batch_norm_param { scale_bias: true }", "batch_norm_param { scale_filler { type: 'constant' } }"],
    ids=["NVIDIA scale_bias", "a scale_filler"],
)
def test_batchnorm_with_nvidias_fields_follows_nvidias_rules(block: str) -> None:
    text = f'layer {{\n  name: "bn"\n  type: "BatchNorm"\n  param {{ lr_mult: 0 }}\n  {block}\n}}\n'
    result = upgrade_text(text)
    assert (result.dialect, result.target) == ("nvcaffe", "nvcaffe")
    assert result.text == text.replace("  param { lr_mult: 0 }\n", "")
    assert [(f.code, f.line, f.needs_human) for f in result.findings] == [("BN007", 1, False)]


def test_batchnorm_with_fields_no_dialect_knows_is_left_for_a_human() -> None:
    text = 'layer {\n  name: "bn"\n  type: "BatchNorm"\n  param { lr_mult: 0 }\n  batch_norm_param { fancy: 1 }\n}\n'
    result = upgrade_text(text)
    assert not result.changed and result.text == text
    assert [(f.code, f.line, f.needs_human) for f in result.findings] == [("DL002", 5, True), ("BN004", 1, True)]
    forced = upgrade_text(text, unsafe_fixes=True)
    assert forced.changed and "param" not in forced.text.replace("batch_norm_param", "")


def test_strict_makes_unknown_fields_errors() -> None:
    with pytest.raises(InputError) as caught:
        upgrade_text('layer {\n  type: "X"\n  fancy_param { }\n}\n', strict=True)
    assert "fancy_param" in caught.value.message
    assert (caught.value.line, caught.value.column) == (3, 3)


def test_canonical_format_refuses_to_drop_unknown_fields() -> None:
    with pytest.raises(InputError) as caught:
        upgrade_text("layer { fancy_param { } }\n", output_format="canonical")
    assert "preserving output, can" in caught.value.message


FORK_PROTO_EXTRA = """
message PermuteParameter {
  repeated uint32 order = 1;
}
"""


@pytest.fixture
def fork_proto(tmp_path: Path) -> Path:
    """BVLC's caffe.proto plus SSD's permute_param, as a fork would have it."""
    text = (REPO / "proto" / "caffe.proto").read_text(encoding="utf-8")
    anchor = "message LayerParameter {\n"
    assert anchor in text
    text = text.replace(anchor, anchor + "  optional PermuteParameter permute_param = 202;\n") + FORK_PROTO_EXTRA
    path = tmp_path / "fork_caffe.proto"
    path.write_text(text, encoding="utf-8")
    return path


def test_proto_option_validates_fork_fields(fork_proto: Path) -> None:
    pytest.importorskip("grpc_tools", reason="compiling a .proto needs the proto extra (grpcio-tools)")
    good = 'layer {\n  type: "Permute"\n  permute_param { order: 0 order: 2 }\n}\n'
    result = upgrade_text(good, proto=str(fork_proto))
    assert result.unknown_fields == ()
    with pytest.raises(InputError) as caught:
        upgrade_text('layer {\n  permute_param { order: "x" }\n}\n', proto=str(fork_proto))
    assert (caught.value.line, caught.value.column) == (2, 26)


def test_proto_option_on_the_command_line(fork_proto: Path, tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="compiling a .proto needs the proto extra (grpcio-tools)")
    net = tmp_path / "net.prototxt"
    net.write_text('layer {\n  type: "BatchNorm"\n  param { lr_mult: 0 }\n  permute_param { order: 1 }\n}\n')
    done = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", "--proto", str(fork_proto), str(net)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert net.read_text() == 'layer {\n  type: "BatchNorm"\n  permute_param { order: 1 }\n}\n'
    assert "unknown" not in done.stderr


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param('syntax = "proto2";\nmessage NetParameter {\n  optional int32 = 1;\n}\n', "3:", id="proto2"),
        pytest.param("junk\n", "1:1:", id="no syntax line, which protoc warns about first"),
    ],
)
def test_a_broken_proto_is_a_usage_error(tmp_path: Path, text: str, where: str) -> None:
    pytest.importorskip("grpc_tools", reason="compiling a .proto needs the proto extra (grpcio-tools)")
    broken = tmp_path / "broken.proto"
    broken.write_text(text)
    net = tmp_path / "net.prototxt"
    net.write_text('name: "x"\n')
    done = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", "--proto", str(broken), str(net)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert f"--proto: {broken}:{where}" in line, line  # protoc's own error, at its place: not its log lines


def test_a_stale_edit_is_caught_before_anything_is_written() -> None:
    from upgrade_tool.edits import Edit, apply_edits

    with pytest.raises(SelfCheckError):
        apply_edits("layer { }", [Edit(0, 5, "lay3r", "")])


def test_unknown_nodes_keep_their_owner_paths() -> None:
    text = "layer { name: 'a' }\nlayer { batch_norm_param { scale_bias: true } }\n"
    from upgrade_tool import caffe_pb2
    from upgrade_tool.reader import parse_tree

    bound = bind(parse_tree(text), caffe_pb2.NetParameter(), text, strict=False)
    assert [(u.owner, u.node.name) for u in bound.unknown] == [((("layer", 1), ("batch_norm_param", 0)), "scale_bias")]


def test_solver_kind_is_told_by_content() -> None:
    assert upgrade_text('base_lr: 0.01\nlr_policy: "step"\nnet: "x.prototxt"\n').kind is Kind.SOLVER
    assert upgrade_text('name: "n"\nlayer { name: "a" }\n').kind is Kind.NET


def test_bom_is_kept_on_the_command_line(tmp_path: Path) -> None:
    net = tmp_path / "net.prototxt"
    net.write_bytes(b'\xef\xbb\xbflayer {\r\n  type: "BatchNorm"\r\n  param { lr_mult: 0 }\r\n}')
    done = subprocess.run([sys.executable, "-m", "upgrade_tool", str(net)], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert net.read_bytes() == b'\xef\xbb\xbflayer {\r\n  type: "BatchNorm"\r\n}'


def test_examples_upgrade_with_only_deletions(tmp_path: Path) -> None:
    for example in sorted((REPO / "examples").glob("*.prototxt")):
        copy = tmp_path / example.name
        shutil.copy(example, copy)
        text = copy.read_text(encoding="utf-8")
        result = upgrade_text(text)
        assert result.changed and only_deletions(text, result.text), example.name
