"""The V1 -> V2 pass: `layers { type: CONVOLUTION blobs_lr: 1 }` -> `layer { type: "Convolution" param { } }`.

- Preserving output, case by case: only the V1 spellings change; comments, line
  endings, one-line layers and unknown fork fields stay as they were written.
- Fork V1 types are findings at the layer, never guesses; `--v1-type` maps them.
- Every V1 file of the corpus upgrades in preserving mode with the proof holding.

Canonical parity with Caffe's output for the corpus lives in tests/test_corpus.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import MANIFEST, assert_parses_independently, corpus_text, needs_corpus, tags

from upgrade_tool import InputError, Result, caffe_pb2, upgrade_text
from upgrade_tool.binary import upgrade_binary
from upgrade_tool.document import Document
from upgrade_tool.edits import apply_edits
from upgrade_tool.passes import PassResult
from upgrade_tool.passes.v1_to_v2 import upgrade
from upgrade_tool.pipeline import parse_document, upgrade_source
from upgrade_tool.selection import CodeSelection
from upgrade_tool.settings import OutputFormat, Settings
from upgrade_tool.source import Source


def v1_corpus_files() -> list[Any]:
    names = [name for name in MANIFEST if "c" in tags(name)]
    return [pytest.param(name, id=name) for name in sorted(names)]


@needs_corpus
@pytest.mark.parametrize("name", v1_corpus_files())
def test_every_v1_corpus_net_upgrades_once_its_fork_types_are_named(name: str) -> None:
    text = corpus_text(name)
    try:
        first = run(text)
    except InputError:
        pytest.skip("not readable as a BVLC net (covered by the error tests)")
    codes = {f.code for f in first.findings}
    if "VL005" in codes or (first.dialect != "bvlc" and "V1 to V2" not in dict(first.summaries)):
        # a fork that reads V1 only: current for itself; for BVLC it converts, or says what has no place there
        assert "V1 to V2" not in dict(first.summaries)
        moved = run(text, target="bvlc", select=("ALL",))
        assert "V1 to V2" in dict(moved.summaries) or {f.code for f in moved.findings} & {"VL001", "VL003"}
        return
    fork_types = tuple(sorted({finding_type(f.message) for f in first.findings if f.code == "VL001"}))
    assert ("V1 to V2" in dict(first.summaries)) == (not fork_types)
    if not fork_types:
        assert "layers" not in top_level_names(first.text)
        return
    assert first.text == text, "a net with an unmapped fork type must be left as it is"
    mapped = run(text, v1_types=tuple((name, f"Fork{index}") for index, name in enumerate(fork_types)))
    assert "V1 to V2" in dict(mapped.summaries)
    assert not [f for f in mapped.findings if f.code.startswith("VL") and f.needs_human]
    assert "layers" not in top_level_names(mapped.text)


def finding_type(message: str) -> str:
    return message.split(" has V1 type ")[1].split(",")[0]


def top_level_names(text: str) -> set[str]:
    doc, _ = parse_document(text, Settings())
    return {node.name for node in doc.tree or ()}


def run(text: str, *, select: tuple[str, ...] | None = None, **options: Any) -> Result:
    """The whole pipeline in preserving mode (it proves every pass's edits)."""
    codes = CodeSelection(select) if select is not None else CodeSelection()
    return upgrade_source(Source(text), Settings(codes=codes, **options))


def check_preserved(before: str, after: str, **options: Any) -> Result:
    result = run(before, **options)
    assert result.text == after
    assert result.changed
    assert not run(after, **options).changed
    return result


CONV = 'layers {\n  name: "conv1"\n  type: CONVOLUTION\n  bottom: "data"\n  top: "conv1"\n'
NEW_CONV = 'layer {\n  name: "conv1"\n  type: "Convolution"\n  bottom: "data"\n  top: "conv1"\n'

PRESERVED = [
    pytest.param(
        f"# a V1 net\n{CONV}  convolution_param {{ num_output: 8 }}  # eight\n}}\n",
        f"# a V1 net\n{NEW_CONV}  convolution_param {{ num_output: 8 }}  # eight\n}}\n",
        id="renames layers and types and keeps comments",
    ),
    pytest.param(
        f"{CONV}  blobs_lr: 1\n  blobs_lr: 2\n  weight_decay: 1\n  weight_decay: 0\n}}\n",
        f"{NEW_CONV}  param {{ lr_mult: 1 decay_mult: 1 }}\n  param {{ lr_mult: 2 decay_mult: 0 }}\n}}\n",
        id="merges blobs_lr and weight_decay per blob",
    ),
    pytest.param(
        f"{CONV}  blobs_lr: 1   # filters\n  blobs_lr: 2   # biases\n  weight_decay: 1  # decay of filters\n}}\n",
        f"{NEW_CONV}  param {{ lr_mult: 1 decay_mult: 1 }}   # filters\n  param {{ lr_mult: 2 }}   # biases\n"
        "  # decay of filters\n}\n",
        id="keeps the comments of the fields it folds in",
    ),
    pytest.param(
        f"{CONV}  param: 'w'\n  param: 'b'\n  blob_share_mode: PERMISSIVE\n  blobs_lr: 1.0\n}}\n",
        f"{NEW_CONV}  param {{ name: 'w' share_mode: PERMISSIVE lr_mult: 1.0 }}\n  param {{ name: 'b' }}\n}}\n",
        id="turns shared blob names into named param blocks",
    ),
    pytest.param(
        f"{CONV}  blobs_lr: [1, 2] weight_decay: [1, 0]\n}}\n",
        f"{NEW_CONV}  param {{ lr_mult: 1 decay_mult: 1 }}\n  param {{ lr_mult: 2 decay_mult: 0 }}\n}}\n",
        id="reads per blob values written as lists",
    ),
    pytest.param(
        "layers { name: 'ip' type: INNER_PRODUCT blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0 }\n"
        "layers { name: 'relu' type: RELU }\n",
        "layer { name: 'ip' type: \"InnerProduct\" "
        "param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 } }\n"
        "layer { name: 'relu' type: \"ReLU\" }\n",
        id="keeps one line layers on one line",
    ),
    pytest.param(
        'layers: {\r\n  name: "ip"\r\n  type: INNER_PRODUCT\r\n  blobs_lr: 1\r\n  blobs_lr: 2\r\n}\r\n',
        'layer: {\r\n  name: "ip"\r\n  type: "InnerProduct"\r\n'
        "  param { lr_mult: 1 }\r\n  param { lr_mult: 2 }\r\n}\r\n",
        id="keeps the colon before the brace and CRLF line ends",
    ),
    pytest.param(
        "layers [{ name: 'a' type: RELU }, { name: 'b' type: TANH }]\n",
        "layer [{ name: 'a' type: \"ReLU\" }, { name: 'b' type: \"TanH\" }]\n",
        id="renames a list of layers once",
    ),
    pytest.param(
        "layers <\n\tname: 'x'\n\ttype: NONE\n\tbottom: 'in' ; top: 'out'\n>\n",
        "layer <\n\tname: 'x'\n\ttype: \"\"\n\tbottom: 'in' ; top: 'out'\n>\n",
        id="gives type NONE the empty type string as Caffe does",
    ),
    pytest.param(
        'name: "n"\nlayers {\n  name: "x"\n  bottom: "data"\n  top: "y"\n}\n',
        'name: "n"\nlayer {\n  name: "x"\n  bottom: "data"\n  top: "y"\n}\n',
        id="leaves a layer without a type without one",
    ),
]


@pytest.mark.parametrize(("before", "after"), PRESERVED)
def test_preserving_output(before: str, after: str) -> None:
    check_preserved(before, after)
    assert_parses_independently(after)


ROI_NET = """\
layers { name: "conv" type: CONVOLUTION top: "c" }
layers {
  name: "roi_pool5"
  type: ROI_POOLING   # a py-faster-rcnn layer
  roi_pooling_param { pooled_w: 6 spatial_scale: 0.0625 }
}
"""


def test_a_fork_type_is_a_finding_at_its_layer_and_the_net_is_left_alone() -> None:
    result = run(ROI_NET)
    assert result.text == ROI_NET
    assert not result.changed
    (finding,) = result.findings
    assert (finding.code, finding.line, finding.column, finding.needs_human) == ("VL001", 2, 1, True)
    assert "ROI_POOLING" in finding.message
    assert "say which layer type ROI_POOLING stands for" in finding.message


def test_v1_type_maps_a_fork_type_and_keeps_its_unknown_fields() -> None:
    after = ROI_NET.replace("layers", "layer").replace("CONVOLUTION", '"Convolution"')
    result = check_preserved(
        ROI_NET, after.replace("ROI_POOLING", '"ROIPooling"'), v1_types=(("ROI_POOLING", "ROIPooling"),)
    )
    assert result.findings == ()
    # roi_pooling_param in a V1 layer is known to one fork, whose schema reads the rest too
    assert result.dialect == "faster-rcnn-matlab"
    assert result.unknown_fields == ("type: ROI_POOLING",)


def test_v1_type_can_name_a_type_given_by_an_unknown_number() -> None:
    result = run("layers { name: 'x' type: 77 }\n", v1_types=(("77", "Custom"),))
    assert result.text == "layer { name: 'x' type: \"Custom\" }\n"


def test_every_fork_type_is_reported_once_per_layer() -> None:
    text = "layers { name: 'a' type: WARP }\nlayers { name: 'b' type: RELU }\nlayers { name: 'c' type: WARP }\n"
    result = run(text)
    assert [(f.code, f.line) for f in result.findings] == [("VL001", 1), ("VL001", 3)]


def test_a_net_with_both_layer_and_layers_is_refused_at_the_first_layers() -> None:
    text = 'layer { name: "a" type: "ReLU" }\n\nlayers { name: "b" type: RELU }\n'
    with pytest.raises(InputError, match="both 'layer' and V1 'layers'") as caught:
        upgrade_text(text)
    assert (caught.value.line, caught.value.column) == (3, 1)
    assert "\n" not in caught.value.message


def test_canonical_output_orders_fields_as_caffe_prints_them() -> None:
    before = "layers { blobs_lr: 1 convolution_param { num_output: 1 } type: CONVOLUTION name: 'c' weight_decay: 0 }\n"
    after = (
        'layer {\n  name: "c"\n  type: "Convolution"\n  param {\n    lr_mult: 1\n    decay_mult: 0\n  }\n'
        "  convolution_param {\n    num_output: 1\n  }\n}\n"
    )
    assert upgrade_text(before, output_format="canonical").text == after


def test_a_solver_s_inline_net_is_upgraded() -> None:
    text = 'base_lr: 0.01\nnet_param {\n  layers { name: "r" type: RELU }\n}\n'
    result = run(text)
    assert result.text == 'base_lr: 0.01\nnet_param {\n  layer { name: "r" type: "ReLU" }\n}\n'


# The pass on its own: what it decides, and that its edits make exactly that change.


def upgrade_alone(text: str, **options: Any) -> tuple[PassResult, str]:
    settings = Settings(**options)
    doc, _ = parse_document(text, settings)
    result = upgrade(doc, settings)
    assert result.edits is not None
    new_text = apply_edits(text, result.edits)
    if result.changed:
        reread, _ = parse_document(new_text, settings)
        assert reread.message == result.net
    return result, new_text


def test_converts_every_field_of_a_v1_layer() -> None:
    text = """layers {
  name: "all" type: DATA bottom: "b" top: "t" loss_weight: 0.5
  include { phase: TRAIN } exclude { stage: "deploy" }
  blobs { num: 1 data: 2.5 }
  param: "w" blob_share_mode: STRICT blobs_lr: 3 weight_decay: 4 weight_decay: 5
  data_param { source: "db" } transform_param { mirror: true } loss_param { ignore_label: 1 }
  dropout_param { dropout_ratio: 0.3 } pooling_param { pool: AVE }
}
"""
    result, _ = upgrade_alone(text)
    expected = caffe_pb2.LayerParameter(
        name="all", type="Data", bottom=["b"], top=["t"], loss_weight=[0.5],
        include=[caffe_pb2.NetStateRule(phase=caffe_pb2.TRAIN)], exclude=[caffe_pb2.NetStateRule(stage=["deploy"])],
        blobs=[caffe_pb2.BlobProto(num=1, data=[2.5])],
        param=[caffe_pb2.ParamSpec(name="w", share_mode=caffe_pb2.ParamSpec.STRICT, lr_mult=3, decay_mult=4),
               caffe_pb2.ParamSpec(decay_mult=5)],
        data_param=caffe_pb2.DataParameter(source="db"), transform_param=caffe_pb2.TransformationParameter(mirror=True),
        loss_param=caffe_pb2.LossParameter(ignore_label=1), dropout_param=caffe_pb2.DropoutParameter(dropout_ratio=0.3),
        pooling_param=caffe_pb2.PoolingParameter(pool=caffe_pb2.PoolingParameter.AVE),
    )  # fmt: skip
    assert list(result.net.layer) == [expected]  # type: ignore[attr-defined]
    assert result.counts == {"layers": 1, "param blocks": 2, "types mapped by the user": 0}


def test_a_net_without_v1_layers_is_not_touched() -> None:
    result, text = upgrade_alone('layer { name: "a" type: "ReLU" }\n')
    assert not result.changed
    assert text == 'layer { name: "a" type: "ReLU" }\n'


def test_a_v0_layer_left_inside_a_v1_layer_is_a_finding() -> None:
    # The V0 pass upgrades these; if one reaches this pass, dropping it (as Caffe does) would lose it.
    text = 'layers { name: "old" layer { name: "old" type: "conv" } }\nlayers { name: "r" type: RELU }\n'
    result, new_text = upgrade_alone(text)
    assert not result.changed and new_text == text
    assert [(f.code, f.path, f.needs_human) for f in result.findings] == [("VL002", (("layers", 0),), True)]


def test_an_unknown_field_the_current_layer_knows_is_a_finding() -> None:
    # In V1 this is a fork's field; renaming the block would make it a BVLC field with a meaning.
    text = 'layers { name: "s" type: RELU scale_param { bias_term: true } }\n'
    result, new_text = upgrade_alone(text)
    assert not result.changed and new_text == text
    assert [f.code for f in result.findings] == ["VL003"]


def test_a_binary_net_is_converted_without_edits() -> None:
    net = caffe_pb2.NetParameter()
    net.layers.add(name="c", type=caffe_pb2.V1LayerParameter.CONVOLUTION, blobs_lr=[1, 2])
    result = upgrade(Document("", None, net), Settings(output_format=OutputFormat.CANONICAL))
    assert result.changed and result.edits == ()
    assert [(layer.type, len(layer.param)) for layer in result.net.layer] == [("Convolution", 2)]  # type: ignore[attr-defined]


def test_a_binary_layer_field_known_only_by_number_is_a_finding() -> None:
    # In a binary model an unknown field is just a number, which means nothing in the current layer message.
    layer = caffe_pb2.V1LayerParameter(name="fork", type=caffe_pb2.V1LayerParameter.RELU)
    net = caffe_pb2.NetParameter()
    net.ParseFromString(bytes([0x12, len(layer.SerializeToString()) + 3]) + layer.SerializeToString() + b"\xb0\x3b\x07")
    result = upgrade_binary(net.SerializeToString(), Settings())
    assert not result.changed
    assert [(f.code, f.needs_human) for f in result.findings] == [("VL003", True)]
