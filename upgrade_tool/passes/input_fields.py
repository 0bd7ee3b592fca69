"""Top-level `input` + `input_dim`/`input_shape` fields, retired by the Input layer (Caffe, early 2016).

Old nets declared their data blobs outside any layer: `input: "data"` followed
by four `input_dim` values (num, channels, height, width) per input, or one
`input_shape { dim ... }` block per input. Caffe now does this with a layer of
type "Input"; its loader turns the old fields into one layer named "input", with
a `top` and an `input_param { shape }` per input, placed first. An `input` with
no dims or shapes at all (old binary models) is simply dropped.

Where Caffe's loader reads past the end of a list (fewer `input_dim` values or
`input_shape` blocks than inputs) or silently drops values (more of them, or
both kinds given), bn-upgrade stops with an error at the node concerned.

Findings:

| code  | meaning                                                                       |
|-------|-------------------------------------------------------------------------------|
| IN001 | the net still has V1 `layers`: the input fields are left as they are          |
| IN002 | an `input_shape` holds fields the schema does not know: left as it is         |
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

from upgrade_tool.caffe_pb2 import LayerParameter, NetParameter
from upgrade_tool.canonical import quote
from upgrade_tool.codes import Code, Fix, Level
from upgrade_tool.document import Document, children_named
from upgrade_tool.edits import Edit, delete_nodes, line_indent, newline_of
from upgrade_tool.errors import InputError
from upgrade_tool.passes import Finding, PassResult, UpgradePass
from upgrade_tool.reader import Field, Scalar
from upgrade_tool.settings import Settings

LAYER_NAME = "input"
LAYER_TYPE = "Input"
DIMS_PER_INPUT = 4
INPUT_FIELDS = ("input", "input_dim", "input_shape")
DEFAULT_INDENT = "  "

T = TypeVar("T")
_COMMENT_OR_STRING = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|#[^\r\n]*")


def upgrade(doc: Document, settings: Settings) -> PassResult:
    net = cast(NetParameter, doc.message)  # BVLC's class, or a fork's with the same fields
    if not any(len(getattr(net, name)) for name in INPUT_FIELDS if name in net.DESCRIPTOR.fields_by_name):
        return PassResult(net)
    if not _has_input_layers(net):  # a fork from before the Input layer: the fields are current there
        dialect = settings.dialect or "the schema in use"
        what = f"{dialect}'s Caffe has no Input layer: the input fields are current for it (target bvlc converts them)"
        return PassResult(net, findings=(Finding("IN003", what, (("input", 0),)),))
    places = _Places.of(doc.tree)
    _check_counts(net, places)
    blocked = _blocked(net, doc)
    if blocked is not None:
        return PassResult(net, findings=(blocked,))
    result = type(net)()
    result.CopyFrom(net)
    for name in INPUT_FIELDS:
        result.ClearField(name)
    inputs = len(net.input)
    if not net.input_dim and not net.input_shape:
        edits = delete_nodes(doc.text, places.nodes)
        summary = f"dropped {inputs} input{'s' * (inputs != 1)} without a shape"
        return PassResult(result, True, tuple(edits), summary, {"inputs dropped": inputs})
    layer = _input_layer_first(result, net)
    edits = _edits(doc, places, layer) if doc.tree is not None else []
    summary = f"moved {inputs} input{'s' * (inputs != 1)} into an Input layer"
    return PassResult(result, True, tuple(edits), summary, {"inputs": inputs, "input layers": 1})


def _has_input_layers(net: NetParameter) -> bool:
    """Whether the schema has `layer` entries with an `input_param` and all three input fields."""
    fields = net.DESCRIPTOR.fields_by_name
    layer = fields.get("layer")
    if layer is None or layer.message_type is None:
        return False
    return "input_param" in layer.message_type.fields_by_name and set(INPUT_FIELDS) <= set(fields)


@dataclass
class _Places:
    """Where each input name, `input_dim` value and `input_shape` block is in the text.

    `inputs_at`/`dims_at` are what an error points at: the field, or the value
    itself when one field lists several (`input: ["a", "b"]`).
    """

    nodes: list[Field] = field(default_factory=list)  # every input field node, in text order
    inputs: list[Scalar] = field(default_factory=list)
    dims: list[Scalar] = field(default_factory=list)
    shapes: list[Field] = field(default_factory=list)
    inputs_at: list[int] = field(default_factory=list)
    dims_at: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, tree: list[Field] | None) -> _Places:
        places = cls()
        for node in tree or ():
            if node.name not in INPUT_FIELDS:
                continue
            places.nodes.append(node)
            if node.name == "input_shape":
                places.shapes.append(node)
            else:
                values = node.values or ()
                at = [node.start] if len(values) == 1 else [value.start for value in values]
                is_input = node.name == "input"
                (places.inputs if is_input else places.dims).extend(values)
                (places.inputs_at if is_input else places.dims_at).extend(at)
        return places


def _check_counts(net: NetParameter, places: _Places) -> None:
    """Caffe's loader needs one shape per input; it crashes or drops values otherwise."""
    inputs, inputs_at, dims_at = len(net.input), places.inputs_at, places.dims_at
    if net.input_dim and net.input_shape:
        raise InputError("both input_dim and input_shape are given; keep one of them", _nth(dims_at, 0) or 0, "E005")
    if net.input_shape:
        shapes_at = [node.start for node in places.shapes]
        _require_count("input_shape block", len(net.input_shape), 1, inputs, shapes_at, inputs_at)
    elif net.input_dim:
        _require_count("input_dim value", len(net.input_dim), DIMS_PER_INPUT, inputs, dims_at, inputs_at)


def _require_count(what: str, given: int, per_input: int, inputs: int, at: list[int], inputs_at: list[int]) -> None:
    wanted = per_input * inputs
    if given == wanted:
        return
    plural = "s" * (inputs != 1)
    message = f"{given} {what}{'s' * (given != 1)} given for {inputs} input{plural}; expected {per_input} per input"
    offset = _nth(at, wanted) if given > wanted else _nth(inputs_at, given // per_input)
    raise InputError(message, offset or 0, "E005")


def _blocked(net: NetParameter, doc: Document) -> Finding | None:
    """Why the fields must stay as they are, if they must."""
    if net.layers:
        return Finding(
            "IN001",
            "the net still has V1 'layers'; an Input layer would mix 'layer' and 'layers', so the input "
            "fields are left as they are (upgrade the V1 layers first)",
            (("layers", 0),),
            needs_human=True,
        )
    for index in range(len(net.input_shape)):
        where = (("input_shape", index),)
        unknown = doc.unknown_within(where)
        if unknown:
            names = ", ".join(sorted({item.node.name for item in unknown}))
            what = f"input_shape has fields the schema does not know ({names})"
            return Finding("IN002", f"{what}; the input fields are left as they are", where, needs_human=True)
    return None


def _input_layer_first(result: NetParameter, net: NetParameter) -> LayerParameter:
    """Add the Input layer Caffe makes from `net`'s input fields, ahead of all layers."""
    result.ClearField("layer")
    layer = result.layer.add(name=LAYER_NAME, type=LAYER_TYPE, top=net.input)
    for shape in net.input_shape:
        layer.input_param.shape.add().CopyFrom(shape)
    for first in range(0, len(net.input_dim), DIMS_PER_INPUT):
        layer.input_param.shape.add(dim=net.input_dim[first : first + DIMS_PER_INPUT])
    result.layer.extend(net.layer)
    return layer


# -- the same change as text edits --------------------------------------------------------------


@dataclass
class _Line:
    """One line of the new layer's text, and the comments that move with it."""

    depth: int
    text: str
    place: int | None = None  # offset of the input field it comes from
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)


def _edits(doc: Document, places: _Places, layer: LayerParameter) -> list[Edit]:
    text = doc.text
    deletions = delete_nodes(text, places.nodes)
    lines = _layer_lines(text, layer, places)
    _carry_comments(text, deletions, lines)
    tree = doc.tree or []
    return [*deletions, _insertion(text, tree, places, deletions, lines)]


def _layer_lines(text: str, layer: LayerParameter, places: _Places) -> list[_Line]:
    """The Input layer in canonical layout; values keep the spelling they had."""
    lines = [_Line(0, "layer {"), _Line(1, f"name: {_quoted(LAYER_NAME)}"), _Line(1, f"type: {_quoted(LAYER_TYPE)}")]
    lines += [_value_line(text, 1, "top", _quoted(top), _nth(places.inputs, i)) for i, top in enumerate(layer.top)]
    lines.append(_Line(1, "input_param {"))
    dims = iter(places.dims)
    for index, shape in enumerate(layer.input_param.shape):
        node = _nth(places.shapes, index)
        if node is not None:
            dims = iter([value for dim in children_named(node.children, "dim") for value in dim.values or ()])
        lines.append(_Line(2, "shape {", node.start if node else None))
        lines += [_value_line(text, 3, "dim", str(dim), next(dims, None)) for dim in shape.dim]
        lines.append(_Line(2, "}", node.close if node else None))
    return [*lines, _Line(1, "}"), _Line(0, "}")]


def _value_line(text: str, depth: int, name: str, value: str, written: Scalar | None) -> _Line:
    if written is None or len(written.pieces) > 1:  # adjacent strings may hold comments between them
        return _Line(depth, f"{name}: {value}", written.start if written else None)
    return _Line(depth, f"{name}: {text[written.start : written.end]}", written.start)


def _nth(items: Sequence[T], index: int) -> T | None:
    return items[index] if index < len(items) else None


def _quoted(value: str) -> str:
    return quote(value.encode("utf-8"))


def _carry_comments(text: str, deletions: list[Edit], lines: list[_Line]) -> None:
    """Comments inside the deleted text go with the line made from what they annotated."""
    placed = sorted(((line.place, line) for line in lines if line.place is not None), key=lambda pair: pair[0])
    for deletion in deletions:
        for match in _COMMENT_OR_STRING.finditer(text, deletion.start, deletion.end):
            comment = match.group().rstrip()
            if not comment.startswith("#"):
                continue
            own_line = not text[text.rfind("\n", 0, match.start()) + 1 : match.start()].strip()
            if own_line:
                following = [line for place, line in placed if place > match.start()]
                (following[0].before if following else lines[-1].before).append(comment)
            else:
                preceding = [line for place, line in placed if place < match.start()]
                (preceding[-1].after if preceding else lines[0].after).append(comment)


def _insertion(text: str, tree: list[Field], places: _Places, deletions: list[Edit], lines: list[_Line]) -> Edit:
    """The new layer, before the first `layer` if the input fields follow it, else where they began."""
    unit = indent_unit(text, tree)
    first_input = places.nodes[0]
    layers = children_named(tree, "layer")
    if layers and layers[0].start < first_input.start:
        anchor = layers[0].start
        indent = line_indent(text, anchor)
        if indent is None:
            return Edit(anchor, anchor, "", _one_line(lines, text, _leading_blanks(text, anchor)) + " ")
        at = anchor - len(indent)
        return Edit(at, at, "", _block(lines, text, indent, unit))
    deletion = next(d for d in deletions if d.start <= first_input.start < d.end)
    indent = line_indent(text, first_input.start)
    line_start = text.rfind("\n", 0, first_input.start) + 1
    whole_lines = deletion.start == line_start and (deletion.old.endswith("\n") or deletion.end == len(text))
    if indent is not None and whole_lines:
        block = _block(lines, text, indent, unit)
        if not deletion.old.endswith("\n"):
            block = block.rstrip("\r\n")
        return Edit(deletion.start, deletion.start, "", block)
    base = _leading_blanks(text, first_input.start)
    if deletion.start == first_input.start:
        return Edit(deletion.start, deletion.start, "", _one_line(lines, text, base) + " ")
    return Edit(deletion.start, deletion.start, "", " " + _one_line(lines, text, base))


def _block(lines: list[_Line], text: str, indent: str, unit: str) -> str:
    newline = newline_of(text)
    out = []
    for line in lines:
        prefix = indent + unit * line.depth
        out += [prefix + comment + newline for comment in line.before]
        out.append(prefix + " ".join([line.text, *line.after]) + newline)
    return "".join(out)


def _one_line(lines: list[_Line], text: str, indent: str) -> str:
    """The layer on one line, as in a file written that way; a comment ends a line."""
    continued = newline_of(text) + indent
    parts = []
    for line in lines:
        parts += [comment + continued for comment in line.before]
        parts.append(" ".join([line.text, *line.after]) + (continued if line.after else " "))
    return "".join(parts).rstrip(" ")


def _leading_blanks(text: str, offset: int) -> str:
    """The spaces and tabs that begin the line holding `offset`."""
    start = text.rfind("\n", 0, offset) + 1
    stripped = text[start:offset].lstrip(" \t")
    return text[start : offset - len(stripped)]


def indent_unit(text: str, tree: list[Field]) -> str:
    """How deep this text indents a field inside its message, judged by its layers first."""
    messages = sorted((node for node in tree if node.children), key=lambda node: node.name not in ("layer", "layers"))
    for node in messages:
        outer = _leading_blanks(text, node.start)
        for child in node.children or ():
            inner = line_indent(text, child.start)
            if inner is not None and inner.startswith(outer) and len(inner) > len(outer):
                return inner[len(outer) :]
    return DEFAULT_INDENT


PASS = UpgradePass(
    name="input fields",
    legacy_form="top-level input with input_dim or input_shape (before the Input layer, early 2016)",
    upgrade=upgrade,
    code=Code(
        "UP004",
        "input-fields",
        "a net declares its inputs with top-level `input` and `input_dim` or `input_shape` fields",
        "Since early 2016 a net's inputs are an `Input` layer. Caffe converts the fields on load; bn-upgrade "
        'writes the layer, named "input", first in the net. A bare `input` with no shape is dropped, as '
        "Caffe drops it.",
        'input: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 224\ninput_dim: 224\n',
        'layer {\n  name: "input"\n  type: "Input"\n  top: "data"\n  input_param {\n    shape {\n'
        "      dim: 1\n      dim: 3\n      dim: 224\n      dim: 224\n    }\n  }\n}\n",
        fix=Fix.UPGRADE,
    ),
    findings=(
        Code(
            "IN001",
            "input-fields-in-v1-net",
            "the net still has V1 `layers`: its input fields are left as they are",
            "An `Input` layer is a current-format layer, and a net cannot mix `layer` and `layers`. The V1 "
            "layers could not be upgraded (see the other findings for why); once they are, the inputs follow.",
            'input: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 224\ninput_dim: 224\n'
            'layers {\n  name: "roi_pool5"\n  type: ROI_POOLING\n  bottom: "data"\n  top: "pool5"\n}\n',
            level=Level.ERROR,
            needs_human=True,
        ),
        Code(
            "IN002",
            "input-shape-unknown-fields",
            "an `input_shape` holds fields the schema does not know: the inputs are left as they are",
            "Moving the shape into an `Input` layer would have to rewrite fields bn-upgrade cannot read.",
            'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 224 dim: 224 dims: 1 }\n',
            level=Level.ERROR,
            needs_human=True,
        ),
        Code(
            "IN003",
            "input-fields-for-old-runtime",
            "the target has no Input layer: its input fields are current for it and stay",
            "Forks from before the Input layer (Faster R-CNN's, DeepLab's, PSPNet's, SegNet's, TSN's Caffe, ...) "
            "read a net's inputs only from the top-level `input` fields. For such a target they are left as "
            "they are; `--target bvlc` converts them for current Caffe.",
            'input: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 224\ninput_dim: 224\n'
            'layers {\n  name: "unpool1"\n  type: UNPOOLING\n  bottom: "data"\n  top: "unpool1"\n}\n',
            level=Level.NOTE,
            default=False,
        ),
    ),
)
