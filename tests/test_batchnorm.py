"""The BatchNorm rules one by one: `classify`, and what a run reports about each layer."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import check_noop, check_transformed

from upgrade_tool import caffe_pb2, upgrade_text
from upgrade_tool.passes.batchnorm import Verdict, classify


def param(**fields: Any) -> caffe_pb2.ParamSpec:
    return caffe_pb2.ParamSpec(**fields)


ZERO = {"lr_mult": 0.0}


@pytest.mark.parametrize(
    ("params", "verdict"),
    [
        pytest.param([], Verdict.MODERN, id="no blocks is already modern"),
        pytest.param([param(**ZERO)], Verdict.STRIP, id="one zero rate block is stripped"),
        pytest.param([param(**ZERO)] * 2, Verdict.STRIP, id="two zero rate blocks are stripped"),
        pytest.param([param(**ZERO)] * 3, Verdict.STRIP, id="three zero rate blocks are stripped"),
        pytest.param([param(lr_mult=-0.0)] * 3, Verdict.STRIP, id="negative zero is zero"),
        pytest.param([param(lr_mult=0, decay_mult=1)] * 3, Verdict.STRIP, id="a nonzero decay mult does not matter"),
        pytest.param([param(name="", **ZERO)] * 3, Verdict.STRIP, id="an empty name shares nothing"),
        pytest.param([param(name="m", **ZERO), param(**ZERO)], Verdict.SHARED, id="one named block keeps them all"),
        pytest.param([param(share_mode=1, **ZERO)], Verdict.SHARED, id="a share mode keeps them"),
        pytest.param([param(share_mode=0, **ZERO)], Verdict.SHARED, id="an explicit STRICT share mode keeps them"),
        pytest.param([param(**ZERO)] * 4, Verdict.NEEDS_HUMAN, id="four blocks need a human"),
        pytest.param([param(**ZERO)] * 5, Verdict.NEEDS_HUMAN, id="five blocks need a human"),
        pytest.param([param(**ZERO), param(lr_mult=1)], Verdict.NEEDS_HUMAN, id="a nonzero lr mult needs a human"),
        pytest.param([param(lr_mult=1e-30)], Verdict.NEEDS_HUMAN, id="a tiny nonzero lr mult needs a human"),
        pytest.param([param(decay_mult=0)], Verdict.NEEDS_HUMAN, id="an absent lr mult means 1 and needs a human"),
        pytest.param([param()], Verdict.NEEDS_HUMAN, id="an empty block needs a human"),
        pytest.param([param(lr_mult=float("nan"))], Verdict.NEEDS_HUMAN, id="a nan lr mult needs a human"),
        pytest.param(
            [param(name="m", lr_mult=1), param(name="v", **ZERO)],
            Verdict.NEEDS_HUMAN,
            id="a nonzero rate outranks a shared name",
        ),
        pytest.param(
            [param(name="m", **ZERO)] * 4,
            Verdict.NEEDS_HUMAN,
            id="four named blocks need a human",
        ),
    ],
)
def test_classify(params: list[caffe_pb2.ParamSpec], verdict: Verdict) -> None:
    assert classify(params) is verdict


def bn_layer(*params: str, name: str = "bn1", indent: str = "") -> str:
    blocks = "".join(f"{indent}  param {{ {p} }}\n" for p in params)
    return f'{indent}layer {{\n{indent}  name: "{name}"\n{indent}  type: "BatchNorm"\n{blocks}{indent}}}\n'


@pytest.mark.parametrize(
    "zero",
    ["0", "0.0", "0.", ".0", "0e0", "-0", "0f", "0.0e-3", "0F", "-0.0", "0E-10", "0.0f", "- 0", "0e+7"],
)
def test_every_float_spelling_of_zero_is_stripped(zero: str) -> None:
    before = bn_layer(*[f"lr_mult: {zero}"] * 3)
    check_transformed(before, 'layer {\n  name: "bn1"\n  type: "BatchNorm"\n}\n')


@pytest.mark.parametrize("nonzero", ["1", "0.0001", "1e-30", "-1", "nan", "inf", "-inf", "1e-45"])
def test_every_nonzero_rate_is_left_for_a_human(nonzero: str) -> None:
    result = check_noop(bn_layer("lr_mult: 0", f"lr_mult: {nonzero}", "lr_mult: 0"))
    assert [finding.code for finding in result.findings] == ["BN001"]


def test_summary_counts_blocks_and_layers() -> None:
    three = ["lr_mult: 0"] * 3
    text = bn_layer(*three, name="a") + bn_layer(*three, name="b") + bn_layer(*three, name="c")
    result = upgrade_text(text, output_format="canonical")
    assert result.summaries == (("BatchNorm", "removed 9 param blocks in 3 layers"),)
    assert dict(result.counts)["BatchNorm"] == {"param blocks removed": 9, "param blocks zeroed": 0, "layers": 3}


def test_summary_uses_the_singular_for_one() -> None:
    result = upgrade_text(bn_layer("lr_mult: 0"), output_format="canonical")
    assert result.summaries == (("BatchNorm", "removed 1 param block in 1 layer"),)


def test_summary_of_zero_style_says_zeroed() -> None:
    result = upgrade_text(bn_layer(*["lr_mult: 0"] * 3), bn_style="zero", output_format="canonical")
    assert result.summaries == (("BatchNorm", "zeroed 3 param blocks in 1 layer"),)


def test_summary_names_both_when_some_layers_are_shared() -> None:
    text = bn_layer(*["lr_mult: 0"] * 3, name="plain") + bn_layer('name: "m" lr_mult: 0', "lr_mult: 0", name="shared")
    result = upgrade_text(text, output_format="canonical")
    assert result.summaries == (("BatchNorm", "removed 3 param blocks and zeroed 2 param blocks in 2 layers"),)


def test_needs_human_is_reported_at_the_layer() -> None:
    text = (
        'name: "net"\n'
        + bn_layer("lr_mult: 0", name="fine")  # lines 2-6
        + "\n"
        + bn_layer("lr_mult: 1", name="learnable", indent="    ")  # starts on line 8, column 5
    )
    result = upgrade_text(text, output_format="canonical")
    [finding] = result.findings
    assert (finding.code, finding.line, finding.column) == ("BN001", 8, 5)
    assert finding.needs_human
    assert result.needs_human
    assert "'learnable'" in finding.message
    assert "nonzero or missing lr_mult" in finding.message
    assert finding.message.endswith("left unchanged")  # the API names no command-line flag
    assert result.changed, "the other BatchNorm layer is still upgraded"


def test_too_many_blocks_says_how_many() -> None:
    result = check_noop(bn_layer(*["lr_mult: 0"] * 4, name="four"))
    [finding] = result.findings
    assert finding.code == "BN001"
    assert "has 4 param blocks" in finding.message
    assert "'four'" in finding.message


def test_findings_come_in_layer_order() -> None:
    text = (
        bn_layer("lr_mult: 1", name="first")
        + bn_layer('name: "m" lr_mult: 0', name="second")
        + bn_layer("decay_mult: 0", name="third")
    )
    result = upgrade_text(text, output_format="canonical")
    assert [(f.code, f.line) for f in result.findings] == [("BN001", 1), ("BN003", 6), ("BN001", 11)]
    assert [f.needs_human for f in result.findings] == [True, False, True]


def test_shared_layer_warning_does_not_need_a_human() -> None:
    result = upgrade_text(bn_layer('name: "m" lr_mult: 0', name="siamese"), output_format="canonical")
    [finding] = result.findings
    assert finding.code == "BN003"
    assert not finding.needs_human
    assert not result.needs_human
    assert "'siamese'" in finding.message
    assert "shares its statistics" in finding.message


def test_unsafe_fixes_turn_the_finding_into_a_note() -> None:
    result = upgrade_text(bn_layer("lr_mult: 1", name="learnable"), unsafe_fixes=True, output_format="canonical")
    [finding] = result.findings
    assert finding.code == "BN002"
    assert not finding.needs_human
    assert "upgraded anyway" in finding.message
    assert (finding.line, finding.column) == (1, 1)
    assert result.changed


def test_unsafe_fixes_keep_shared_names() -> None:
    text = bn_layer('name: "m" lr_mult: 1', name="learnable")
    result = upgrade_text(text, unsafe_fixes=True, output_format="canonical")
    assert [f.code for f in result.findings] == ["BN002", "BN003"]
    assert 'name: "m"' in result.text
    assert "lr_mult: 0" in result.text


def test_layer_written_with_colon_and_angle_brackets_is_located() -> None:
    text = 'name: "n"\n\n  layer: < name: "x" type: "BatchNorm" param < lr_mult: 2 > >\n'
    [finding] = upgrade_text(text, output_format="canonical").findings
    assert (finding.line, finding.column) == (3, 3)


def test_modern_and_other_layers_report_nothing() -> None:
    text = 'layer { name: "bn" type: "BatchNorm" }\nlayer { name: "s" type: "Scale" param { lr_mult: 7 } }\n'
    result = check_noop(text)
    assert result.findings == ()


def test_v1_layers_are_not_batchnorm_layers() -> None:
    # V1 `layers` have no BatchNorm type; their zero rates (blobs_lr) are not the pass's business.
    text = 'layers {\n  name: "bn1"\n  type: CONVOLUTION\n  blobs_lr: 0\n  blobs_lr: 0\n  blobs_lr: 0\n}\n'
    result = upgrade_text(text, output_format="canonical")
    assert "BatchNorm" not in dict(result.summaries)
    assert result.findings == ()


def test_zero_style_writes_negative_zero_rates_as_zero_like_caffe_master() -> None:
    before = bn_layer("lr_mult: -0", "lr_mult: 0", "lr_mult: 0")
    result = upgrade_text(before, bn_style="zero", output_format="canonical")
    assert result.changed
    assert "-0" not in result.text


def test_solver_files_are_read_but_not_upgraded() -> None:
    result = check_noop('base_lr: 0.01\nnet: "train.prototxt"\nsolver_mode: GPU\n')
    assert result.kind.value == "solver"
    assert result.text == 'base_lr: 0.01\nsolver_mode: GPU\nnet: "train.prototxt"\n'


NVCAFFE_BN = """name: "net"
layer {
  name: "bn"
  type: "BatchNorm"
  bottom: "x"
  top: "x"
  batch_norm_param { scale_filler { type: "constant" value: 1 } }
  param { lr_mult: 0 }
  param { lr_mult: 0 }
  param { lr_mult: 0 %s}
}
"""


@pytest.mark.parametrize("bn_style", ["strip", "zero"])
@pytest.mark.parametrize("unsafe_fixes", [False, True], ids=["safe", "unsafe"])
def test_blocks_holding_unknown_text_are_kept_where_the_runtime_forces_its_rates(
    bn_style: Any, unsafe_fixes: bool
) -> None:
    """Found by the fuzzer: NVIDIA's Caffe (read from `scale_filler`) sets the rates itself, so its blocks
    go; one holding a field no schema knows cannot go without losing it (it was exit 123)."""
    text = NVCAFFE_BN % 'type: "BatchNorm" '
    result = upgrade_text(text, bn_style=bn_style, unsafe_fixes=unsafe_fixes)
    assert result.text == text
    codes = {finding.code: finding for finding in result.findings}
    assert codes["BN004"].needs_human and codes["BN004"].line == 2
    assert codes["BN004"].message.endswith("in its param blocks; left unchanged, even with unsafe fixes")
    assert not result.changed
    plain = upgrade_text(NVCAFFE_BN % "", bn_style=bn_style)  # without it, the blocks go
    assert plain.changed and "  param {" not in plain.text
