"""Data transformation fields on V1 data layers' own params, retired when Caffe
introduced `TransformationParameter` (the data transformer, 2014).

`layers { type: DATA data_param { scale: 0.0039 mean_file: "m.binaryproto" } }`:
scale, mean_file, crop_size and mirror moved from data_param, image_data_param
and window_data_param (of DATA, IMAGE_DATA and WINDOW_DATA layers) into the
layer's `transform_param`. Caffe's upgrade (NetNeedsDataUpgrade /
UpgradeNetDataTransformation) runs when some such layer has one of the fields;
it then gives every layer of those types a data param and a transform_param,
empty if nothing moved. Canonical output does exactly that; preserving output
touches only the layers that had something to move.

In the text, moved fields leave the data param (a comment ending a field's line
goes with it where the field lands on a line of its own) and are added to the
layer's transform_param, or to a new one written right after the data param in
its layout. The pass has no findings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from google.protobuf.message import Message

from upgrade_tool.caffe_pb2 import NetParameter, V1LayerParameter
from upgrade_tool.codes import Code, Fix
from upgrade_tool.document import Document, children_named
from upgrade_tool.edits import (
    Edit,
    delete_nodes,
    insert_after,
    line_indent,
    newline_of,
    owns_line,
    replace,
    trailing_comment,
)
from upgrade_tool.passes import PassResult, UpgradePass
from upgrade_tool.reader import Field
from upgrade_tool.settings import OutputFormat, Settings

# V1 data layer type -> the param holding its old transformation fields.
DATA_PARAMS = {"DATA": "data_param", "IMAGE_DATA": "image_data_param", "WINDOW_DATA": "window_data_param"}
MOVED_FIELDS = ("scale", "mean_file", "crop_size", "mirror")
TRANSFORM = "transform_param"


def data_param_name(layer: V1LayerParameter) -> str | None:
    """The param of a V1 data layer that may hold transformation fields (None for other layers)."""
    if not layer.HasField("type"):
        return None
    enum = layer.DESCRIPTOR.fields_by_name["type"].enum_type
    value = enum.values_by_number.get(layer.type) if enum is not None else None
    return DATA_PARAMS.get(value.name) if value is not None else None


def fields_to_move(layer: V1LayerParameter) -> list[str]:
    name = data_param_name(layer)
    if name is None or name not in layer.DESCRIPTOR.fields_by_name or not layer.HasField(name):
        return []
    if "transform_param" not in layer.DESCRIPTOR.fields_by_name:
        return []  # a schema from before TransformationParameter: the fields are current there
    params: Message = getattr(layer, name)
    known = params.DESCRIPTOR.fields_by_name
    return [field for field in MOVED_FIELDS if field in known and params.HasField(field)]


def upgrade(doc: Document, settings: Settings) -> PassResult:
    net = cast(NetParameter, doc.message)
    if not any(fields_to_move(layer) for layer in net.layers):
        return PassResult(net)
    caffe_quirk = settings.output_format is OutputFormat.CANONICAL
    result = type(net)()
    result.CopyFrom(net)
    edits: list[Edit] = []
    moved = layers = 0
    for index, layer in enumerate(result.layers):
        names = fields_to_move(layer)
        if not names and not (caffe_quirk and data_param_name(layer)):
            continue
        node = doc.node((("layers", index),))
        if node is not None:
            edits.extend(_layer_edits(doc.text, node, cast(str, data_param_name(layer)), names))
        move_fields(layer, names)
        moved += len(names)
        layers += bool(names)
    summary = f"moved {moved} field{'s' * (moved != 1)} into transform_param in {layers} layer{'s' * (layers != 1)}"
    counts = {"fields moved": moved, "layers": layers}
    return PassResult(result, True, () if doc.tree is None else tuple(edits), summary, counts)


def move_fields(layer: V1LayerParameter, names: list[str]) -> None:
    """Move `names` from the data param to transform_param; both exist afterwards, as in Caffe."""
    params: Message = getattr(layer, cast(str, data_param_name(layer)))
    params.SetInParent()
    layer.transform_param.SetInParent()
    for name in names:
        setattr(layer.transform_param, name, getattr(params, name))
        params.ClearField(name)


@dataclass(frozen=True)
class Moved:
    """One field leaving the data param, and the comment ending its line if that goes along."""

    node: Field
    text: str
    comment: str | None  # with the spaces before it


def _layer_edits(text: str, layer: Field, param_name: str, names: list[str]) -> list[Edit]:
    params = _only(children_named(layer.children, param_name))
    transform = _only(children_named(layer.children, TRANSFORM))
    if not names:  # Caffe's empty messages (canonical output only)
        missing = [f"{name} {{}}" for name, node in ((param_name, params), (TRANSFORM, transform)) if node is None]
        return [_append(text, layer, missing)] if missing else []
    assert params is not None
    multiline = _multiline(text, params, transform)
    moved = [_moved(text, node, multiline) for node in params.children or () if node.name in names]
    edits = delete_nodes(text, [m.node for m in moved if m.comment is not None])
    edits += delete_nodes(text, [m.node for m in moved if m.comment is None], keep_comments=True)
    if transform is None:
        return [*edits, _new_block(text, params, moved, multiline)]
    return edits + _into_block(text, transform, moved, multiline)


def _only(nodes: list[Field]) -> Field | None:
    return nodes[-1] if nodes else None


def _multiline(text: str, params: Field, transform: Field | None) -> bool:
    """Whether the moved fields land one per line: where the block they go to is laid out so."""
    if transform is not None:
        last = transform.children[-1] if transform.children else None
        return last is not None and owns_line(text, last)
    first = params.children[0] if params.children else None
    return owns_line(text, params) and first is not None and line_indent(text, first.start) is not None


def _moved(text: str, node: Field, multiline: bool) -> Moved:
    """A field to move; the comment ending its line goes along where it can (it has the line to itself)."""
    comment = trailing_comment(text, node) if multiline and line_indent(text, node.start) is not None else None
    if comment is not None:  # keep the spacing before it too
        comment = text[node.end : text.index("#", node.end)] + comment
    return Moved(node, text[node.start : node.end], comment)


def _line(moved: Moved) -> str:
    return moved.text + (moved.comment or "")


def _new_block(text: str, params: Field, moved: list[Moved], multiline: bool) -> Edit:
    """A transform_param holding the moved fields, right after the data param, in its layout."""
    if not multiline:
        return insert_after(text, params, f"{TRANSFORM} {{ {' '.join(m.text for m in moved)} }}")
    assert params.children
    newline = newline_of(text)
    indent, inner = line_indent(text, params.start), line_indent(text, params.children[0].start)
    body = "".join(f"{newline}{inner}{_line(m)}" for m in moved)
    return insert_after(text, params, f"{TRANSFORM} {{{body}{newline}{indent}}}")


def _into_block(text: str, transform: Field, moved: list[Moved], multiline: bool) -> list[Edit]:
    """Add the moved fields to an existing transform_param (a moved value wins, as in Caffe)."""
    edits: list[Edit] = []
    added: list[Moved] = []
    for item in moved:
        existing = _only(children_named(transform.children, item.node.name))
        if existing is None:
            added.append(item)
        else:
            edits.append(replace(text, existing.start, existing.end, item.text))
    if not added:
        return edits
    if not transform.children:
        return [*edits, _append(text, transform, [m.text for m in added])]
    last = transform.children[-1]
    if not multiline:
        return [*edits, insert_after(text, last, " ".join(m.text for m in added))]
    indent = line_indent(text, last.start)
    rest = "".join(f"{newline_of(text)}{indent}{_line(m)}" for m in added[1:])
    return [*edits, insert_after(text, last, _line(added[0]) + rest)]


def _append(text: str, block: Field, fields: list[str]) -> Edit:
    """Add fields at the end of a block, after its last field (or its opening brace)."""
    children = block.children or []
    if not children:
        end = " " if block.close == block.open + 1 else ""
        return Edit(block.open + 1, block.open + 1, "", " " + " ".join(fields) + end)
    indent = line_indent(text, children[-1].start)
    separator = " " if indent is None else newline_of(text) + indent
    return insert_after(text, children[-1], separator.join(fields))


PASS = UpgradePass(
    name="data transform",
    legacy_form="scale/mean_file/crop_size/mirror in V1 data layers' data params (before TransformationParameter)",
    upgrade=upgrade,
    code=Code(
        "UP002",
        "data-transform-fields",
        "a V1 data layer sets `scale`, `mean_file`, `crop_size` or `mirror` in its data parameters",
        "Those settings moved to the layer's `transform_param { }` (TransformationParameter, 2014). Caffe "
        "moves them on load; bn-upgrade moves them in the text.",
        'layers {\n  name: "data"\n  type: DATA\n  top: "data"\n  data_param { source: "db" mirror: true }\n}\n',
        'layer {\n  name: "data"\n  type: "Data"\n  top: "data"\n  data_param { source: "db" }\n'
        "  transform_param { mirror: true }\n}\n",
        fix=Fix.UPGRADE,
    ),
)
