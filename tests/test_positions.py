"""A path in the message names the syntax node that holds its value, however the text lists values.

`layer: []` holds no layer, `bottom: ["a", "b"]` holds two bottoms, and a node
kept as unknown holds nothing the message has: findings land on the right
line, and the upgrade passes edit the right block (issue 9, items 8 and 11:
an empty list used to shift both, and the proof failed with exit 123).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import check_transformed

from upgrade_tool import upgrade_text
from upgrade_tool.binder import bind, locate
from upgrade_tool.caffe_pb2 import NetParameter
from upgrade_tool.document import Document
from upgrade_tool.reader import parse_tree

LEGACY_BN = 'layer { name: "bn" type: "BatchNorm" param { lr_mult: 0 } }'
KEPT_BN = 'layer { name: "kept" type: "BatchNorm" param { lr_mult: 1 } }'


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param(f"layer: []\n\n{KEPT_BN}\n", 3, id="after an empty list with a colon"),
        pytest.param(f"layer []\nlayer: [ ]\n{KEPT_BN}\n", 3, id="after two empty lists"),
        pytest.param(f"layer: [{{ name: 'a' }}]\n{KEPT_BN}\n", 2, id="after a list of one message"),
        pytest.param(f"layer [{{ name: 'a' }},\n {{ name: 'b' }}]\n{KEPT_BN}\n", 3, id="after a list of two messages"),
    ],
)
def test_a_finding_is_on_the_line_of_its_layer(text: str, line: int) -> None:
    (finding,) = upgrade_text(text).findings
    assert finding.code == "BN001"
    assert (finding.line, finding.column) == (line, 1)


LEGACY_AFTER_EMPTY_LISTS = [
    # (what, input, canonical output): each was exit 123 before (issue 9, item 11)
    (
        "legacy BatchNorm after layer: []",
        f"layer: []\n{LEGACY_BN}\n",
        'layer {\n  name: "bn"\n  type: "BatchNorm"\n}\n',
    ),
    (
        "V1 layers after layers: []",
        'layers: []\nlayers { name: "c" type: CONVOLUTION blobs_lr: 1 }\n',
        'layer {\n  name: "c"\n  type: "Convolution"\n  param {\n    lr_mult: 1\n  }\n}\n',
    ),
    (
        "V1 data layer after layers []",
        'layers [] layers { name: "d" type: DATA data_param { source: "x" scale: 0.5 } }\n',
        'layer {\n  name: "d"\n  type: "Data"\n  transform_param {\n    scale: 0.5\n  }\n'
        '  data_param {\n    source: "x"\n  }\n}\n',
    ),
    (
        "V0 layer after layers: []",
        'layers: []\nlayers { layer { name: "r" type: "relu" } }\n',
        'layer {\n  name: "r"\n  type: "ReLU"\n}\n',
    ),
]


@pytest.mark.parametrize(
    ("before", "after"), [case[1:] for case in LEGACY_AFTER_EMPTY_LISTS], ids=[c[0] for c in LEGACY_AFTER_EMPTY_LISTS]
)
def test_an_empty_list_before_legacy_layers_upgrades_them(before: str, after: str) -> None:
    check_transformed(before, after)
    preserved = upgrade_text(before)  # the text edits, proven by the pipeline
    assert preserved.changed
    assert preserved.text.count("[") == before.count("[")


def test_the_command_upgrades_it_and_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "net.prototxt"
    path.write_text(f"layer: []\n{LEGACY_BN}\n")
    run = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", path.name], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (run.returncode, run.stderr) == (0, "net.prototxt: upgraded (BatchNorm: removed 1 param block in 1 layer)\n")
    assert path.read_text() == 'layer: []\nlayer { name: "bn" type: "BatchNorm" }\n'


def document(text: str, strict: bool = True) -> Document:
    tree = parse_tree(text)
    bound = bind(tree, NetParameter(), text, strict=strict)
    return Document(text, tree, bound.message, bound.unknown)


@pytest.mark.parametrize(
    ("text", "path", "found"),
    [
        pytest.param('layer []\nlayer { name: "a" }', (("layer", 0),), 'layer { name: "a" }', id="past an empty list"),
        pytest.param('input: ["a", "b"] input: "c"', (("input", 1),), 'input: ["a", "b"]', id="second value of a list"),
        pytest.param('input: ["a", "b"] input: "c"', (("input", 2),), 'input: "c"', id="the value after a list"),
        pytest.param('input: ["a", "b"]', (("input", 2),), None, id="past the last value"),
        pytest.param("input: []", (("input", 0),), None, id="an empty list holds no value"),
        pytest.param(
            'layer [{ name: "a" }, { bottom: "x" bottom: ["y", "z"] }]',
            (("layer", 1), ("bottom", 2)),
            'bottom: ["y", "z"]',
            id="inside the second message of a list",
        ),
    ],
)
def test_a_path_names_the_node_that_holds_its_value(text: str, path: tuple[tuple[str, int], ...], found: str) -> None:
    doc = document(text)
    node = doc.node(path)
    assert (text[node.start : node.stop] if node is not None else None) == found
    assert locate(doc.tree or [], path) is node or found is not None  # the plain function agrees


def test_a_node_kept_as_unknown_holds_no_value_of_the_message() -> None:
    # `type: FOO` is not a V1 type: the message has no type, and the second layer's type is its own.
    text = "layers { type: FOO } layers { type: RELU }"
    doc = document(text, strict=False)
    assert doc.node((("layers", 0), ("type", 0))) is None
    second = doc.node((("layers", 1), ("type", 0)))
    assert second is not None and text[second.start : second.stop] == "type: RELU"
    assert [text[u.node.start : u.node.stop] for u in doc.unknown_within((("layers", 0),))] == ["type: FOO"]
    assert doc.unknown_within((("layers", 1),)) == []
