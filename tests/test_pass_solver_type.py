"""The `solver_type` enum becomes the `type` string, in place; nets inside solvers get the net passes.

- Corpus solvers holding a legacy net inline: Caffe's `upgrade_solver_proto_text`
  leaves those nets alone, bn-upgrade upgrades them (a deliberate deviation).
- Every corpus solver with `solver_type` is upgraded in the preserving format by
  replacing exactly that field's text.

Canonical parity with Caffe's output for the corpus lives in tests/test_corpus.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import INDEX, MANIFEST, check_transformed, corpus_text, golden, needs_corpus, tags
from google.protobuf import text_format

from upgrade_tool import InputError, Kind, caffe_pb2, upgrade_text
from upgrade_tool.document import Document
from upgrade_tool.passes import solver_type
from upgrade_tool.passes.solver_type import TYPE_NAMES
from upgrade_tool.reader import parse_tree
from upgrade_tool.settings import Settings


def inline_nets(solver: caffe_pb2.SolverParameter) -> list[caffe_pb2.NetParameter]:
    named = [solver.net_param, solver.train_net_param] if solver.HasField("net_param") else [solver.train_net_param]
    return [net for net in named if net.ByteSize()] + list(solver.test_net_param)


def holds_a_legacy_net(name: str) -> bool:
    """Judged by protobuf's own parser: an inline net Caffe's net upgrade would change."""
    solver = text_format.Parse(corpus_text(name), caffe_pb2.SolverParameter())
    return any(
        net.layers or net.input or any(layer.type == "BatchNorm" and layer.param for layer in net.layer)
        for net in inline_nets(solver)
    )


# bn-upgrade refuses text that is not UTF-8 (a deviation tested with the other corpus tests).
ACCEPTED = sorted(
    name
    for name, row in INDEX.items()
    if row["kind"] == "solver" and row["seed_rc"] == "0" and "h:non-utf8" not in tags(name)
)
LEGACY_INLINE = [name for name in ACCEPTED if holds_a_legacy_net(name)]
WITH_SOLVER_TYPE = {
    name: tag.split("=")[1] for name in MANIFEST for tag in tags(name) if tag.startswith("f:solver_type=")
}


def by_name(names: list[str]) -> list[Any]:
    return [pytest.param(name, id=name) for name in sorted(names)]


@needs_corpus
def test_the_corpus_groups_are_what_the_index_says() -> None:
    assert len(ACCEPTED) == 55
    assert LEGACY_INLINE == [
        "ducha-aiki__caffenet-benchmark/prototxt/caffenet_lsuv_no_lrn_BatchNormAfter_tanh.prototxt"
    ]
    assert len(WITH_SOLVER_TYPE) == 45


@pytest.mark.parametrize("name", by_name(LEGACY_INLINE))
@pytest.mark.parametrize(("bn_style", "version"), [("strip", "seed"), ("zero", "master")])
def test_an_inline_legacy_net_is_upgraded_where_caffe_leaves_it(name: str, bn_style: str, version: str) -> None:
    # Caffe's solver tool never upgrades nets inside a solver; bn-upgrade does. Upgrading
    # Caffe's own output must give the same bytes as upgrading the original.
    result = upgrade_text(corpus_text(name), output_format="canonical", bn_style=bn_style)
    again = upgrade_text(golden(version, name), output_format="canonical", bn_style=bn_style)
    assert result.text == again.text
    solver = text_format.Parse(result.text, caffe_pb2.SolverParameter())
    statistics = [layer.param for net in inline_nets(solver) for layer in net.layer if layer.type == "BatchNorm"]
    assert all(not params for params in statistics) if bn_style == "strip" else statistics


@pytest.mark.parametrize("name", by_name(list(WITH_SOLVER_TYPE)))
def test_corpus_solver_type_is_replaced_in_place(name: str) -> None:
    text = corpus_text(name)
    result = upgrade_text(text)
    assert result.kind is Kind.SOLVER
    tree = parse_tree(result.text)
    assert not [node for node in tree if node.name == "solver_type"]
    old = next(node for node in parse_tree(text) if node.name == "solver_type")
    new_text = f'type: "{TYPE_NAMES[WITH_SOLVER_TYPE[name]]}"'
    if [name for name, _ in result.summaries] == ["solver type"]:
        assert result.text == text[: old.start] + new_text + text[old.end :]
    else:  # an inline net was upgraded too
        assert new_text in result.text


# -- before and after --------------------------------------------------------------------------


def test_the_table_covers_every_solver_type() -> None:
    assert set(TYPE_NAMES) == set(caffe_pb2.SolverParameter.SolverType.keys())


@pytest.mark.parametrize(("enum_name", "type_name"), list(TYPE_NAMES.items()))
def test_each_solver_type_becomes_its_type_name(enum_name: str, type_name: str) -> None:
    before = f'net: "train.prototxt"\nbase_lr: 0.01\nsolver_type: {enum_name}\nmax_iter: 100\n'
    result = upgrade_text(before)
    assert result.text == f'net: "train.prototxt"\nbase_lr: 0.01\ntype: "{type_name}"\nmax_iter: 100\n'
    assert result.kind is Kind.SOLVER
    after = f'base_lr: 0.01\nmax_iter: 100\nnet: "train.prototxt"\ntype: "{type_name}"\n'  # field-number order
    check_transformed(before, after)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(
            "# Adam, as in the paper\r\nbase_lr: 0.001\r\nsolver_type: ADAM  # fast\r\nmomentum2: 0.999\r\n",
            '# Adam, as in the paper\r\nbase_lr: 0.001\r\ntype: "Adam"  # fast\r\nmomentum2: 0.999\r\n',
            id="comments and CRLF line endings are kept",
        ),
        pytest.param(
            "base_lr: 0.01 solver_type: NESTEROV; max_iter: 10",
            'base_lr: 0.01 type: "Nesterov"; max_iter: 10',
            id="on one line, the separator and the missing final newline are kept",
        ),
        pytest.param(
            "base_lr: 0.01\nsolver_type: 2\n", 'base_lr: 0.01\ntype: "AdaGrad"\n', id="an enum given by number"
        ),
        pytest.param(
            "base_lr: 0.01\nsolver_type: SGD\nfork_warmup: 5\n",
            'base_lr: 0.01\ntype: "SGD"\nfork_warmup: 5\n',
            id="a field the schema does not know is kept",
        ),
    ],
)
def test_preserving_upgrade(before: str, after: str) -> None:
    result = upgrade_text(before)
    assert result.text == after
    assert dict(result.summaries).get("solver type")
    assert not upgrade_text(after).changed


@pytest.mark.parametrize(
    ("text", "position"),
    [
        pytest.param('base_lr: 0.01\nsolver_type: ADAM\ntype: "Adam"\n', (2, 1), id="type after solver_type"),
        pytest.param('type: "SGD"\nbase_lr: 0.01\n  solver_type: SGD\n', (3, 3), id="type before solver_type"),
    ],
)
@pytest.mark.parametrize("output_format", ["preserve", "canonical"])
def test_both_solver_type_and_type_is_a_one_line_error(
    text: str, position: tuple[int, int], output_format: str
) -> None:
    with pytest.raises(InputError) as caught:
        upgrade_text(text, output_format=output_format)
    assert caught.value.message == "both solver_type and type are given; keep one of them (Caffe aborts on this)"
    assert (caught.value.line, caught.value.column) == position


def test_a_solver_without_solver_type_is_untouched() -> None:
    text = 'base_lr: 0.01\ntype: "Adam"\n'
    result = upgrade_text(text)
    assert (result.kind, result.changed, result.text) == (Kind.SOLVER, False, text)


INLINE_BEFORE = """\
base_lr: 0.01
solver_type: ADAM # as in the paper
net_param {
  name: "tiny"
  # one image
  input: "data"
  input_dim: 1
  input_dim: 3
  input_dim: 8
  input_dim: 8
  layer {
    name: "bn"
    type: "BatchNorm"
    bottom: "data"
    top: "data"
    param { lr_mult: 0 }
    param { lr_mult: 0 }
    param { lr_mult: 0 }
  }
}
max_iter: 10
"""
INLINE_AFTER = """\
base_lr: 0.01
type: "Adam" # as in the paper
net_param {
  name: "tiny"
  # one image
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
  layer {
    name: "bn"
    type: "BatchNorm"
    bottom: "data"
    top: "data"
  }
}
max_iter: 10
"""


def test_a_net_inside_a_solver_gets_the_net_passes() -> None:
    result = upgrade_text(INLINE_BEFORE)
    assert result.kind is Kind.SOLVER
    assert result.text == INLINE_AFTER
    assert [name for name, _ in result.summaries] == ["input fields", "BatchNorm", "solver type"]
    assert not upgrade_text(INLINE_AFTER).changed


def test_an_inline_v1_net_is_upgraded_before_its_input_fields() -> None:
    text = (
        "solver_type: NESTEROV\ntrain_net_param {\n  input: 'data'\n  input_shape { dim: 1 dim: 2 }\n"
        '  layers { name: "relu" type: RELU bottom: "data" top: "data" }\n}\n'
    )
    result = upgrade_text(text)
    solver = text_format.Parse(result.text, caffe_pb2.SolverParameter())
    assert solver.type == "Nesterov" and not solver.HasField("solver_type")
    net = solver.train_net_param
    assert not net.layers and not net.input and not net.input_shape
    assert [(layer.name, layer.type) for layer in net.layer] == [("input", "Input"), ("relu", "ReLU")]


def test_a_binary_solver_gets_the_message_change_and_no_edits() -> None:
    solver = caffe_pb2.SolverParameter(base_lr=0.1, solver_type=caffe_pb2.SolverParameter.RMSPROP)
    outcome = solver_type.upgrade(Document("", None, solver), Settings())
    assert (outcome.changed, outcome.edits) == (True, ())
    assert outcome.net == caffe_pb2.SolverParameter(base_lr=0.1, type="RMSProp")
    assert solver.HasField("solver_type"), "the input message must not be changed"
