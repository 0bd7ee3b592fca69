"""The data transformation pass: scale, mean_file, crop_size and mirror leave a V1
data layer's own param for its `transform_param`.

- Canonical output reproduces Caffe's empty messages; preserving output does not.
- Preserving output moves exactly the fields, in the layout around them.

Canonical parity with Caffe's output for the corpus lives in tests/test_corpus.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from upgrade_tool import caffe_pb2, upgrade_text
from upgrade_tool.document import Document
from upgrade_tool.edits import apply_edits
from upgrade_tool.passes import PassResult
from upgrade_tool.passes.data_transform import upgrade
from upgrade_tool.pipeline import parse_document
from upgrade_tool.settings import OutputFormat, Settings


def upgrade_alone(text: str, output_format: OutputFormat = OutputFormat.PRESERVE) -> tuple[PassResult, str]:
    """Run only this pass; its edits must read back as the message it returns."""
    settings = Settings(output_format=output_format, strict=output_format is OutputFormat.CANONICAL)
    doc, _ = parse_document(text, settings)
    result = upgrade(doc, settings)
    assert result.edits is not None
    new_text = apply_edits(text, result.edits)
    reread, _ = parse_document(new_text, settings)
    assert reread.message == result.net
    if result.changed:
        again = upgrade(reread, settings)
        assert not again.changed, "a second run must find nothing to move"
    return result, new_text


def data_layer(body: str, kind: str = "DATA", name: str = "data") -> str:
    return f'layers {{\n  name: "{name}"\n  type: {kind}\n  top: "data"\n{body}}}\n'


PRESERVED = [
    pytest.param(
        data_layer('  data_param {\n    source: "db"\n    scale: 0.00390625\n    batch_size: 64\n  }\n'),
        data_layer(
            '  data_param {\n    source: "db"\n    batch_size: 64\n  }\n'
            "  transform_param {\n    scale: 0.00390625\n  }\n"
        ),
        id="moves a field into a new transform_param after the data param",
    ),
    pytest.param(
        data_layer('  data_param {\n    source: "db"\n    crop_size: 514 #  = 32 * 16 + 2\n    mirror: true\n  }\n'),
        data_layer(
            '  data_param {\n    source: "db"\n  }\n'
            "  transform_param {\n    crop_size: 514 #  = 32 * 16 + 2\n    mirror: true\n  }\n"
        ),
        id="takes the comment ending a moved field's line along",
    ),
    pytest.param(
        data_layer('\tdata_param {\n\t\tsource: "db"\n\t\tmean_file: "m.binaryproto"\n\t}\n').replace("\n", "\r\n"),
        data_layer(
            '\tdata_param {\n\t\tsource: "db"\n\t}\n\ttransform_param {\n\t\tmean_file: "m.binaryproto"\n\t}\n'
        ).replace("\n", "\r\n"),
        id="keeps CRLF line ends and tab indentation",
    ),
    pytest.param(
        "layers { name: 'd' type: DATA data_param { source: 'db' scale: 0.5 mirror: true } }\n",
        "layers { name: 'd' type: DATA data_param { source: 'db' } transform_param { scale: 0.5 mirror: true } }\n",
        id="keeps a one line layer on one line",
    ),
    pytest.param(
        data_layer(
            "  image_data_param {\n    source: 'l'\n    mirror: true\n  }\n  transform_param {\n    scale: 2\n  }\n",
            "IMAGE_DATA",
        ),
        data_layer(
            "  image_data_param {\n    source: 'l'\n  }\n  transform_param {\n    scale: 2\n    mirror: true\n  }\n",
            "IMAGE_DATA",
        ),
        id="adds to an existing transform_param",
    ),
    pytest.param(
        data_layer(
            "  window_data_param { source: 'w' crop_size: 7 }\n  transform_param { crop_size: 3 }\n", "WINDOW_DATA"
        ),
        data_layer("  window_data_param { source: 'w' }\n  transform_param { crop_size: 7 }\n", "WINDOW_DATA"),
        id="lets the moved value win over the transform_param's own as Caffe does",
    ),
    pytest.param(
        data_layer("  data_param { source: 'db' scale: 0.5 }\n  transform_param {}\n"),
        data_layer("  data_param { source: 'db' }\n  transform_param { scale: 0.5 }\n"),
        id="fills an empty transform_param",
    ),
    pytest.param(
        data_layer(
            "  data_param {\n    source: 'db'\n    scale: 0.5  # 1/2\n  }\n  transform_param { mirror: true }\n"
        ),
        data_layer("  data_param {\n    source: 'db'\n    # 1/2\n  }\n  transform_param { mirror: true scale: 0.5 }\n"),
        id="leaves a comment in place when its field joins a one line block",
    ),
]


@pytest.mark.parametrize(("before", "after"), PRESERVED)
def test_preserving_edits(before: str, after: str) -> None:
    result, text = upgrade_alone(before)
    assert result.changed
    assert text == after


QUIRK = data_layer("  data_param { source: 'a' scale: 0.5 }\n") + data_layer("", "IMAGE_DATA", "b")


def test_canonical_output_gives_every_data_layer_both_params_as_caffe_does() -> None:
    result, _ = upgrade_alone(QUIRK, OutputFormat.CANONICAL)
    untouched = result.net.layers[1]  # type: ignore[attr-defined]
    assert untouched.HasField("transform_param") and untouched.HasField("image_data_param")
    assert result.counts == {"fields moved": 1, "layers": 1}


def test_preserving_output_touches_only_layers_with_something_to_move() -> None:
    result, text = upgrade_alone(QUIRK)
    assert text == data_layer("  data_param { source: 'a' }\n  transform_param { scale: 0.5 }\n") + data_layer(
        "", "IMAGE_DATA", "b"
    )
    assert not result.net.layers[1].HasField("transform_param")  # type: ignore[attr-defined]


NOTHING_TO_MOVE = [
    pytest.param(data_layer("  data_param { source: 'db' batch_size: 4 }\n"), id="a data layer without old fields"),
    pytest.param(data_layer("  image_data_param { scale: 0.5 }\n"), id="fields in the param of another layer type"),
    pytest.param('layer { name: "d" type: "Data" data_param { scale: 0.5 } }\n', id="a current layer"),
    pytest.param("layers { name: 'c' type: CONVOLUTION }\n", id="a net without data layers"),
]


@pytest.mark.parametrize("text", NOTHING_TO_MOVE)
def test_leaves_alone(text: str) -> None:
    result, new_text = upgrade_alone(text, OutputFormat.CANONICAL)
    assert not result.changed and new_text == text


def test_the_whole_upgrade_keeps_the_layout_of_the_moved_fields() -> None:
    before = data_layer('  data_param {\n    source: "db"\n    mirror: true  # flip\n  }\n')
    after = (
        'layer {\n  name: "data"\n  type: "Data"\n  top: "data"\n'
        '  data_param {\n    source: "db"\n  }\n  transform_param {\n    mirror: true  # flip\n  }\n}\n'
    )
    assert upgrade_text(before).text == after


def test_a_binary_net_is_upgraded_without_edits() -> None:
    net = caffe_pb2.NetParameter()
    net.layers.add(type=caffe_pb2.V1LayerParameter.DATA, data_param=caffe_pb2.DataParameter(source="s", crop_size=3))
    result = upgrade(Document("", None, net), Settings())
    assert result.changed and result.edits == ()
    layer: Any = result.net.layers[0]  # type: ignore[attr-defined]
    assert (layer.transform_param.crop_size, layer.data_param.HasField("crop_size")) == (3, False)
