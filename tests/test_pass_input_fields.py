"""Top-level input fields become an Input layer: Caffe's bytes in canonical format, the user's text otherwise.

- Every corpus net with input fields is upgraded in the default preserving format,
  or left alone with a finding when V1 `layers` remain.
- Before/after texts: what is kept (comments, newline style, indentation), where
  the layer goes, and the one-line errors where Caffe would crash or drop values.

Canonical parity with Caffe's output for the corpus lives in tests/test_corpus.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import MANIFEST, assert_parses_independently, check_transformed, corpus_text, needs_corpus, tags
from google.protobuf import text_format

from upgrade_tool import InputError, caffe_pb2, upgrade_text
from upgrade_tool.document import Document
from upgrade_tool.passes import PassResult, input_fields
from upgrade_tool.pipeline import parse_document
from upgrade_tool.reader import parse_tree
from upgrade_tool.settings import Settings


def by_name(names: list[str]) -> list[Any]:
    return [pytest.param(name, id=name) for name in sorted(names)]


WITH_INPUT_FIELDS = [name for name in MANIFEST if "e" in tags(name)]


@needs_corpus
def test_the_corpus_groups_are_not_empty() -> None:
    # Guards the selection: an empty group would make the corpus test below vacuous.
    assert len(WITH_INPUT_FIELDS) >= 117


def top_level(text: str, name: str) -> list[str]:
    return [node.name for node in parse_tree(text) if node.name == name]


@pytest.mark.parametrize("name", by_name(WITH_INPUT_FIELDS))
def test_corpus_net_with_input_fields_is_upgraded_in_place(name: str) -> None:
    text = corpus_text(name)
    try:
        result = upgrade_text(text)
    except InputError as error:  # fork files the reader refuses for other reasons
        assert not any(word in error.message for word in input_fields.INPUT_FIELDS), error.message
        return
    codes = [finding.code for finding in upgrade_text(text, select=["ALL"]).findings]
    if "IN003" in codes or "VL005" in codes:  # for a fork without Input layers the fields are current
        assert not dict(result.summaries).get("input fields")
        moved = upgrade_text(text, target="bvlc")  # converted, or what keeps the net from moving is said
        why = {f.code for f in moved.findings} & {"IN001", "VL001", "VL003"}
        assert dict(moved.summaries).get("input fields") or why, moved.findings
        return
    if "IN001" in codes:  # V1 layers are left (a fork type, say): the input fields are left too
        assert [top_level(result.text, f) for f in input_fields.INPUT_FIELDS] == [
            top_level(text, f) for f in input_fields.INPUT_FIELDS
        ]
        return
    assert dict(result.summaries).get("input fields"), result.summaries
    assert not any(top_level(result.text, field) for field in input_fields.INPUT_FIELDS)
    if top_level(text, "input_dim") or top_level(text, "input_shape"):
        first = next(node for node in parse_tree(result.text) if node.name == "layer")
        assert '"Input"' in result.text[first.start : first.end]
    else:  # inputs without a shape are dropped, and no layer is added
        assert result.text.count('"Input"') == text.count('"Input"')


# -- preserving format: the texts before and after ---------------------------------------------

LAYER = 'layer {\n  name: "relu"\n  type: "ReLU"\n  bottom: "data"\n  top: "data"\n}\n'
INPUT_LAYER = """\
layer {
  name: "input"
  type: "Input"
  top: "data"
  input_param {
    shape {
      dim: 1
      dim: 3
      dim: 8
      dim: 8
    }
  }
}
"""
DIMS = 'input: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 8\ninput_dim: 8\n'

PRESERVED = [
    pytest.param(
        f'name: "tiny"\n{DIMS}{LAYER}',
        f'name: "tiny"\n{INPUT_LAYER}{LAYER}',
        id="input_dim values become an Input layer where the fields were",
    ),
    pytest.param(
        'name: "tiny"\ninput: "data"\ninput_shape {\n  dim: 1\n  dim: 3\n  dim: 8\n  dim: 8\n}\n' + LAYER,
        f'name: "tiny"\n{INPUT_LAYER}{LAYER}',
        id="an input_shape block becomes the same layer",
    ),
    pytest.param(
        f'name: "tiny"\n{LAYER}{DIMS}',
        f'name: "tiny"\n{INPUT_LAYER}{LAYER}',
        id="fields written after the layers give a layer before the first one",
    ),
    pytest.param(
        f'name: "tiny"\ninput: "data"\n{LAYER}',
        f'name: "tiny"\n{LAYER}',
        id="an input without dims or shape is dropped",
    ),
    pytest.param(
        """\
name: "tiny"
# the image batch
input: "data"  # BGR, mean subtracted
input_dim: 1 # change at will
input_dim: 3
# spatial size
input_dim: 8
input_dim: 8
# the layers
"""
        + LAYER,
        """\
name: "tiny"
# the image batch
layer {
  name: "input"
  type: "Input"
  top: "data" # BGR, mean subtracted
  input_param {
    shape {
      dim: 1 # change at will
      dim: 3
      dim: 8
      dim: 8
    }
  }
}
# spatial size
# the layers
"""
        + LAYER,
        id="comments around the fields stay and comments on their lines move with the values",
    ),
    pytest.param(
        """\
input: "data"
input_shape {
  # batch first
  dim: 1  # one image
  dim: 3
}
input: "im_info"
input_shape { dim: 1 dim: 3 }
"""
        + LAYER,
        """\
layer {
  name: "input"
  type: "Input"
  top: "data"
  top: "im_info"
  input_param {
    shape {
      # batch first
      dim: 1 # one image
      dim: 3
    }
    shape {
      dim: 1
      dim: 3
    }
  }
}
"""
        + LAYER,
        id="two inputs with shapes, comments inside a shape kept",
    ),
    pytest.param(
        (f'name: "tiny"\n{DIMS}{LAYER}').replace("\n", "\r\n"),
        (f'name: "tiny"\n{INPUT_LAYER}{LAYER}').replace("\n", "\r\n"),
        id="CRLF line endings are kept",
    ),
    pytest.param(
        f'name: "tiny"\n{DIMS}{LAYER.replace("  ", chr(9))}',
        f'name: "tiny"\n{INPUT_LAYER.replace("  ", chr(9))}{LAYER.replace("  ", chr(9))}',
        id="a file indented with tabs gets a tab-indented layer",
    ),
    pytest.param(
        f'name: "tiny"\n{DIMS}{LAYER.replace("  ", "    ")}',
        f'name: "tiny"\n{INPUT_LAYER.replace("  ", "    ")}{LAYER.replace("  ", "    ")}',
        id="a file indented with four spaces gets a four-space layer",
    ),
    pytest.param(
        f'name: "tiny"\n{LAYER}{DIMS.rstrip()}',
        f'name: "tiny"\n{INPUT_LAYER}{LAYER}',
        id="fields at the end of a file without a final newline",
    ),
    pytest.param(
        'name: "tiny" input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8 layer { name: "relu" }\n',
        'name: "tiny" layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8'
        ' dim: 8 } } } layer { name: "relu" }\n',
        id="a net written on one line gets the layer on that line",
    ),
    pytest.param(
        "input: 'data'\ninput_dim: 0x1\ninput_dim: 3\ninput_dim: 8\ninput_dim: 8\n" + LAYER,
        INPUT_LAYER.replace('top: "data"', "top: 'data'").replace("dim: 1", "dim: 0x1") + LAYER,
        id="values keep their spelling",
    ),
    pytest.param(
        f"{DIMS}unknown_fork_field: 1\n{LAYER}",
        f"{INPUT_LAYER}unknown_fork_field: 1\n{LAYER}",
        id="a field the schema does not know stays where it was",
    ),
]


@pytest.mark.parametrize(("before", "after"), PRESERVED)
def test_preserving_upgrade(before: str, after: str) -> None:
    result = upgrade_text(before)
    assert result.text == after
    assert dict(result.summaries).get("input fields")
    assert upgrade_text(after).text == after  # nothing left to do


def test_canonical_output_puts_the_input_layer_first_as_caffe_does() -> None:
    before = f'name: "tiny"\n{LAYER}input: "data"\ninput: "label"\ninput_shape {{ dim: 2 }}\ninput_shape {{ }}\n'
    after = (
        'name: "tiny"\nlayer {\n  name: "input"\n  type: "Input"\n  top: "data"\n  top: "label"\n'
        "  input_param {\n    shape {\n      dim: 2\n    }\n    shape {\n    }\n  }\n}\n" + LAYER
    )
    result = check_transformed(before, after)
    assert dict(result.counts)["input fields"] == {"inputs": 2, "input layers": 1}


def test_the_upgraded_net_is_caffes() -> None:
    # The message, judged by protobuf's own parser: layer named "input", type "Input", a top and a
    # shape per input, first; no input fields left.
    result = upgrade_text(f'{LAYER}input: "a"\ninput: "b"\n' + "input_dim: 1\n" * 4 + "input_dim: 2\n" * 4)
    assert_parses_independently(result.text)
    net = text_format.Parse(result.text, caffe_pb2.NetParameter())
    assert not net.input and not net.input_dim and not net.input_shape
    assert [(layer.name, layer.type) for layer in net.layer] == [("input", "Input"), ("relu", "ReLU")]
    assert list(net.layer[0].top) == ["a", "b"]
    assert [list(shape.dim) for shape in net.layer[0].input_param.shape] == [[1] * 4, [2] * 4]


ERRORS = [
    pytest.param(
        'input: "data"\ninput: "label"\n' + "input_dim: 1\n" * 5,
        "5 input_dim values given for 2 inputs; expected 4 per input",
        (2, 1),
        id="too few input_dim values point at the input left short",
    ),
    pytest.param(
        'input: "data"\n' + "input_dim: 1\n" * 5,
        "5 input_dim values given for 1 input; expected 4 per input",
        (6, 1),
        id="too many input_dim values point at the first extra one",
    ),
    pytest.param(
        "input_dim: 1\n" * 4,
        "4 input_dim values given for 0 inputs; expected 4 per input",
        (1, 1),
        id="input_dim without an input",
    ),
    pytest.param(
        'input: "data"\ninput: "label"\ninput_shape { dim: 1 }\n',
        "1 input_shape block given for 2 inputs; expected 1 per input",
        (2, 1),
        id="too few input_shape blocks point at the input without one",
    ),
    pytest.param(
        'input: "data"\ninput_shape { dim: 1 }\ninput_shape { dim: 2 }\n',
        "2 input_shape blocks given for 1 input; expected 1 per input",
        (3, 1),
        id="too many input_shape blocks point at the first extra one",
    ),
    pytest.param(
        'input: "data"\ninput_shape { dim: 1 }\n' + "input_dim: 1\n" * 4,
        "both input_dim and input_shape are given; keep one of them",
        (3, 1),
        id="both input_dim and input_shape",
    ),
    pytest.param(
        'input: ["data", "label"]\n' + "input_dim: 1\n" * 4,
        "4 input_dim values given for 2 inputs; expected 4 per input",
        (1, 17),
        id="inputs listed in one field point at the value",
    ),
]


@pytest.mark.parametrize(("text", "message", "position"), ERRORS)
@pytest.mark.parametrize("output_format", ["preserve", "canonical"])
def test_where_caffe_would_crash_or_drop_values_is_a_one_line_error(
    text: str, message: str, position: tuple[int, int], output_format: str
) -> None:
    with pytest.raises(InputError) as caught:
        upgrade_text(text + LAYER, output_format=output_format)
    assert caught.value.message == message
    assert "\n" not in caught.value.message
    assert (caught.value.line, caught.value.column) == position


def run_pass(text: str) -> PassResult:
    settings = Settings()
    doc, _ = parse_document(text, settings)
    return input_fields.upgrade(doc, settings)


def test_a_net_that_still_has_v1_layers_is_not_mixed() -> None:
    # The V1 pass runs first; if it leaves V1 `layers` (a fork type, say), adding a `layer` would
    # make a net Caffe refuses to load.
    outcome = run_pass(f'{DIMS}layers {{\n  name: "relu"\n  type: RELU\n}}\n')
    assert not outcome.changed
    assert [(f.code, f.path, f.needs_human) for f in outcome.findings] == [("IN001", (("layers", 0),), True)]


def test_an_input_shape_with_fields_the_schema_does_not_know_is_left_alone() -> None:
    outcome = run_pass('input: "data"\ninput_shape {\n  dim: 1\n  fork_axis: 2\n}\n' + LAYER)
    assert not outcome.changed
    assert [(f.code, f.needs_human) for f in outcome.findings] == [("IN002", True)]


def test_a_net_without_input_fields_is_untouched() -> None:
    outcome = run_pass(LAYER)
    assert not outcome.changed and not outcome.findings


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        pytest.param(LAYER, "  ", id="two spaces"),
        pytest.param(LAYER.replace("  ", "\t"), "\t", id="tab"),
        pytest.param('  layer {\n      name: "a"\n  }\n', "    ", id="relative to the layer's own indentation"),
        pytest.param('layer { name: "a" }\n', "  ", id="one-line layers give the default"),
    ],
)
def test_indent_unit(text: str, unit: str) -> None:
    assert input_fields.indent_unit(text, parse_tree(text)) == unit


def test_a_binary_net_gets_the_message_change_and_no_edits() -> None:
    net = caffe_pb2.NetParameter(name="n", input=["data"], input_dim=[1, 3, 8, 8])
    net.layer.add(name="relu", type="ReLU")
    outcome = input_fields.upgrade(Document("", None, net), Settings())
    assert (outcome.changed, outcome.edits) == (True, ())
    expected = caffe_pb2.NetParameter(name="n")
    expected.layer.add(name="input", type="Input", top=["data"]).input_param.shape.add(dim=[1, 3, 8, 8])
    expected.layer.add(name="relu", type="ReLU")
    assert outcome.net == expected
    assert list(net.input) == ["data"], "the input message must not be changed"
