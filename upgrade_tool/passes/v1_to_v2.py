"""V1 layers (`layers { type: CONVOLUTION blobs_lr: 1 }`), retired by Caffe PR #1748 (February 2015).

Since then a net lists `layer { type: "Convolution" }`: the type is a string
naming a registered layer, and the per-blob V1 fields became one `param` block
per blob. Caffe's upgrade (NetNeedsV1ToV2Upgrade / UpgradeV1Net), done here the
same way:

- `layers` -> `layer`; the type enum -> its string, from the V1 table of the
  dialect the file is read as (BVLC's is Caffe's UpgradeV1LayerType), where the
  user's `--v1-type NAME=Type` wins; a string the table derives from the fork's
  layer class rather than its own upgrade is used with a note (VL004);
- blob i's `param: "name"`, `blob_share_mode`, `blobs_lr`, `weight_decay` ->
  `param { name share_mode lr_mult decay_mult }` number i (`PER_BLOB`);
- every other field is copied as it is (the same field exists in both).

In the text, the `param` block for blob i takes the place of the first field
that mentions blob i, laid out like it; the other per-blob fields go, leaving
a comment that ended their line where it was. Values keep their spelling.

A fork from before V2 (DeepLab-Context, DeconvNet, C3D 1.0, SPP-net) reads only
V1 layers: for it as the target the net is current, and stays V1 (VL005). With
another `--target` the net becomes one in the target's schema: every field is
carried over by name, and one the target's layer has no place for is VL003.

Findings (the net is then left unchanged: V1 and current layers cannot be mixed):

| code  | needs a human | what |
|-------|---------------|------|
| VL001 | yes | a V1 type Caffe cannot map (a fork's `ROI_POOLING`): give `--v1-type NAME=Type` |
| VL002 | yes | a V1 layer still holding a V0 `layer { }`, which Caffe would drop |
| VL003 | yes | a field with no same-named, same-typed place in the current layer (in a |
|       |     | binary model: any unknown field, known there only by its number) |

A net with both `layer` and `layers` is an `InputError`, as Caffe refuses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from upgrade_tool.binder import Path, Unknown
from upgrade_tool.caffe_pb2 import NetParameter, V1LayerParameter
from upgrade_tool.canonical import quote
from upgrade_tool.codes import Code, Fix, Level
from upgrade_tool.dialects import Dialect, V1Type, get_dialect
from upgrade_tool.document import Document, children_named
from upgrade_tool.edits import Edit, delete_nodes, line_indent, newline_of, replace
from upgrade_tool.errors import InputError
from upgrade_tool.messages import copy_by_name
from upgrade_tool.passes import Finding, PassResult, UpgradePass
from upgrade_tool.reader import Field, Scalar
from upgrade_tool.schema import Schema
from upgrade_tool.settings import Settings

# V1 per-blob field -> the ParamSpec field it becomes, in ParamSpec's field order.
PER_BLOB = {"param": "name", "blob_share_mode": "share_mode", "blobs_lr": "lr_mult", "weight_decay": "decay_mult"}
NOT_COPIED = frozenset({"type", "layer", *PER_BLOB})


@dataclass(frozen=True)
class LayerPlan:
    """How one V1 layer converts: its new type (None: it has none)."""

    type: str | None
    unknown_type: Field | None = None  # its `type` node, if the schema does not know the value


def upgrade(doc: Document, settings: Settings) -> PassResult:
    net = cast(NetParameter, doc.message)  # BVLC's class, or a fork's with the same fields
    if not net.layers:
        return PassResult(net)
    source = get_dialect(settings.dialect or "bvlc")
    out = _output_schema(net, source, settings)
    if isinstance(out, Finding):
        return PassResult(net, findings=(out,))
    if "layer" in net.DESCRIPTOR.fields_by_name and net.layer:
        first = doc.node((("layers", 0),))
        message = "the net has both 'layer' and V1 'layers' entries; write every layer in one of the two forms"
        raise InputError(message, first.start if first is not None else 0, "E005")
    result = cast(NetParameter, out.net() if out is not None else type(net)())
    findings: list[Finding] = []
    table = source.v1_types()
    into = _target_name(settings, out)
    # The converted layers, in one message: a message of its own for each took 3.5 KB a layer.
    converted = type(result)()
    plans = [
        _plan_layer(doc, i, layer, converted, table, settings, into, findings) for i, layer in enumerate(net.layers)
    ]
    if out is None:  # the same schema: a copy keeps even what it does not know (a binary model's fork fields)
        result.CopyFrom(net)
        result.ClearField("layers")
    for misfit in copy_by_name(net, result, skip=frozenset({"layers"})) if out is not None else ():
        what = f"the net's {misfit!r} has no place in {_target_name(settings, out)}'s schema; left the net unchanged"
        findings.append(Finding("VL003", what, (), needs_human=True))
    if any(f.needs_human for f in findings):
        return PassResult(net, findings=tuple(findings))
    result.layer.extend(converted.layer)
    edits = () if doc.tree is None else tuple(_text_edits(doc, plans))
    resolved = tuple(plan.unknown_type for plan in plans if plan.unknown_type is not None)
    counts = {
        "layers": len(plans),
        "param blocks": sum(len(layer.param) for layer in result.layer),
        "types mapped by the user": len(resolved),
    }
    summary = f"converted {len(plans)} V1 layer{'s' * (len(plans) != 1)} to the current format"
    if out is not None:
        summary += f" of {_target_name(settings, out)}"
    return PassResult(result, True, edits, summary, counts, tuple(findings), resolved, out)


def _target_name(settings: Settings, out: Schema | None) -> str:
    return settings.target or "bvlc" if out is not None else settings.dialect or "bvlc"


def _output_schema(net: NetParameter, source: Dialect, settings: Settings) -> Schema | Finding | None:
    """The schema the converted net is in: None for the net's own; a note where the target reads only V1."""
    if "layer" in net.DESCRIPTOR.fields_by_name:
        return None
    target = get_dialect(settings.target or source.name)
    if target.pre_v2:
        what = (
            f"{target.name}'s Caffe reads V1 layers only: the net is current for it and stays V1 "
            "(another target, e.g. bvlc, converts it for that runtime)"
        )
        return Finding("VL005", what, (("layers", 0),))
    return target.schema()


def convert_layer(v1: Message, layer: Message, new_type: str | None) -> list[str]:
    """Fill an empty current-format `layer` from a V1 layer, as Caffe's UpgradeV1LayerParameter does.

    `layer` may be of another schema than `v1` (a pre-V2 fork's net moved to a
    current one); what does not fit there is returned, by name, and not copied.
    """
    misfits = copy_by_name(v1, layer, skip=NOT_COPIED)
    if new_type is not None:
        layer.type = new_type  # type: ignore[attr-defined]
    params = layer.param  # type: ignore[attr-defined]
    known = v1.DESCRIPTOR.fields_by_name
    for v1_name, spec_name in PER_BLOB.items():
        for blob, value in enumerate(getattr(v1, v1_name) if v1_name in known else ()):
            while len(params) <= blob:
                params.add()
            if v1_name == "blob_share_mode":
                value = _share_mode(v1, params[blob], value)
            setattr(params[blob], spec_name, value)
    return misfits


def _share_mode(v1: Message, spec: Message, value: int) -> int:
    """V1 DimCheckMode -> ParamSpec DimCheckMode, by name (STRICT, PERMISSIVE)."""
    v1_enum = v1.DESCRIPTOR.fields_by_name["blob_share_mode"].enum_type
    spec_enum = spec.DESCRIPTOR.fields_by_name["share_mode"].enum_type
    assert v1_enum is not None and spec_enum is not None
    number: int = spec_enum.values_by_name[v1_enum.values_by_number[value].name].number
    return number


def _plan_layer(
    doc: Document,
    index: int,
    layer: V1LayerParameter,
    converted: Message,
    table: Mapping[str, V1Type],
    settings: Settings,
    into: str,
    findings: list[Finding],
) -> LayerPlan:
    """The new type of one V1 layer, and the layer it becomes added to `converted`'s layers;
    a finding for anything that keeps it from converting."""
    where: Path = (("layers", index),)
    name = repr(layer.name)
    unknown_type = _unknown_type(doc, where)
    new_type = None
    if layer.HasField("type") or unknown_type is not None:
        v1_type = _v1_type_name(doc.text, layer, unknown_type)
        new_type = _new_type(v1_type, table, settings, name, where, findings)
    if layer.HasField("layer"):
        what = f"layer {name} holds a V0 'layer {{ }}' block, which Caffe would drop; left the net unchanged"
        findings.append(Finding("VL002", what, where, needs_human=True))
    target = cast(Descriptor, converted.DESCRIPTOR.fields_by_name["layer"].message_type)
    misfits = convert_layer(layer, converted.layer.add(), new_type)  # type: ignore[attr-defined]
    for field in misfits + _no_place_for(doc.unknown_within(where), where, target, binary=doc.tree is None):
        what = f"layer {name} has {field!r}, which has no same place in {into}'s current layer; left the net unchanged"
        findings.append(Finding("VL003", what, where, needs_human=True))
    return LayerPlan(new_type, unknown_type)


def _new_type(
    v1_type: str, table: Mapping[str, V1Type], settings: Settings, name: str, where: Path, findings: list[Finding]
) -> str | None:
    """The type string: the user's mapping, else the dialect's table (a note where the table derives it)."""
    mapped = dict(settings.v1_types).get(v1_type)
    if mapped is not None:
        return mapped
    row = table.get(v1_type)
    if row is None or row.source == "none":
        dialect = settings.dialect or "bvlc"
        why = "has no row for it" if row is None else "builds no layer for it"
        hint = f"left the net unchanged; say which layer type {v1_type} stands for"
        what = f"layer {name} has V1 type {v1_type}, and {dialect}'s table of V1 types {why}; {hint}"
        findings.append(Finding("VL001", what, where, needs_human=True))
        return None
    bvlc = get_dialect("bvlc").v1_types().get(v1_type)
    noted = any(f.code == "VL004" and f" V1 type {v1_type} became " in f.message for f in findings)
    if row.derived and (bvlc is None or bvlc.type_string != row.type_string) and not noted:
        what = (
            f"layer {name}: V1 type {v1_type} became {row.type_string!r} (in every layer), the name of the class "
            f"{settings.dialect}'s Caffe registers for it ({row.evidence}); its own upgrade has no entry"
        )
        findings.append(Finding("VL004", what, where))
    return row.type_string


def _unknown_type(doc: Document, where: Path) -> Field | None:
    found = [item.node for item in doc.unknown if item.owner == where and item.node.name == "type"]
    return found[0] if found else None


def _v1_type_name(text: str, layer: V1LayerParameter, unknown_type: Field | None) -> str:
    """The enum name as written (its number where the schema has no name for it)."""
    if unknown_type is not None and unknown_type.values:
        return _value_text(text, unknown_type.values[0])
    number = int(layer.type)
    enum = layer.DESCRIPTOR.fields_by_name["type"].enum_type
    value = enum.values_by_number.get(number) if enum is not None else None
    return value.name if value is not None else str(number)


def _no_place_for(unknown: list[Unknown], where: Path, target: Descriptor, *, binary: bool) -> list[str]:
    """Unknown fields of a V1 layer that would not carry over as they are.

    Those the current layer knows by name (renaming the block would suddenly
    give them a meaning), per-blob fields (their value would have to move into a
    param block); and, in a binary model, every one: it is known there only by
    its number, which means nothing in the current layer message.
    """
    names = [u.node.name for u in unknown if u.owner == where and u.node.name != "type"]
    # a per-blob field with a value the schema does not know cannot become part of a param block
    return [name for name in names if binary or name in target.fields_by_name or name in PER_BLOB]


def _text_edits(doc: Document, plans: list[LayerPlan]) -> list[Edit]:
    text = doc.text
    edits: list[Edit] = []
    renamed: set[int] = set()  # `layers [{...}, {...}]` shares one name token
    for index, plan in enumerate(plans):
        node = doc.node((("layers", index),))
        assert node is not None
        if node.start not in renamed:
            renamed.add(node.start)
            edits.append(replace(text, node.start, node.name_end, "layer"))
        type_nodes = [plan.unknown_type] if plan.unknown_type else children_named(node.children, "type")
        if plan.type is not None and type_nodes and type_nodes[0].values:
            value = type_nodes[0].values[0]
            edits.append(replace(text, value.start, value.end, quote(plan.type.encode("utf-8"))))
        edits.extend(_param_edits(text, node))
    return edits


def _param_edits(text: str, layer_node: Field) -> list[Edit]:
    """Blob i's `param` block replaces the first per-blob field naming blob i; the rest go."""
    nodes = [child for child in layer_node.children or () if child.name in PER_BLOB]
    anchors: dict[int, Field] = {}
    specs: dict[int, dict[str, str]] = {}
    seen = dict.fromkeys(PER_BLOB, 0)
    for node in nodes:
        for scalar in node.values or ():
            blob = seen[node.name]
            seen[node.name] += 1
            anchors.setdefault(blob, node)
            specs.setdefault(blob, {})[PER_BLOB[node.name]] = _value_text(text, scalar)
    edits: list[Edit] = []
    unanchored: list[Field] = []
    for node in nodes:
        blocks = [_param_block(specs[blob]) for blob, anchor in sorted(anchors.items()) if anchor is node]
        if not blocks:
            unanchored.append(node)
            continue
        indent = line_indent(text, node.start)
        separator = " " if indent is None else newline_of(text) + indent
        edits.append(replace(text, node.start, node.stop, separator.join(blocks)))
    return edits + delete_nodes(text, unanchored, keep_comments=True)


def _param_block(spec: dict[str, str]) -> str:
    fields = " ".join(f"{name}: {spec[name]}" for name in PER_BLOB.values() if name in spec)
    return f"param {{ {fields} }}"


def _value_text(text: str, scalar: Scalar) -> str:
    """A value as written, without anything (comments, line breaks) inside it."""
    if scalar.kind == "string":
        return " ".join(text[start:end] for start, end in scalar.pieces)
    return ("-" if scalar.negative else "") + text[scalar.token : scalar.end]


PASS = UpgradePass(
    name="V1 to V2",
    legacy_form="V1 'layers { type: CONVOLUTION blobs_lr: 1 }' (before Caffe PR #1748)",
    upgrade=upgrade,
    code=Code(
        "UP003",
        "v1-layers",
        "the net uses V1 `layers` with enum types and per-blob rates",
        "Caffe PR #1748 (February 2015) replaced `layers { type: CONVOLUTION blobs_lr: 1 weight_decay: 1 }` "
        'with `layer { type: "Convolution" param { lr_mult: 1 decay_mult: 1 } }`. bn-upgrade renames in '
        "the text, so comments and layout stay.",
        'layers {\n  name: "conv1"\n  type: CONVOLUTION\n  blobs_lr: 1\n  blobs_lr: 2\n}\n',
        'layer {\n  name: "conv1"\n  type: "Convolution"\n  param { lr_mult: 1 }\n  param { lr_mult: 2 }\n}\n',
        fix=Fix.UPGRADE,
    ),
    findings=(
        Code(
            "VL001",
            "v1-type-unmapped",
            "a V1 layer type with no known type name: the net is left as it is",
            "Caffe's table of V1 types knows BVLC's 40; a fork's (`ROI_POOLING`) has no entry there, and the "
            "dialect in use has none either. Say what it is: `--v1-type ROI_POOLING=ROIPooling`.",
            'layers {\n  name: "roi_pool5"\n  type: ROI_POOLING\n}\n',
            level=Level.ERROR,
            needs_human=True,
        ),
        Code(
            "VL002",
            "v1-layer-holds-v0-layer",
            "a V1 layer still holding a V0 `layer { }` block, which Caffe would drop",
            "Half-upgraded V0 nets sometimes keep the old block inside the new one. Caffe's V1-to-V2 upgrade "
            "silently drops it; bn-upgrade leaves the net for a human to merge the two.",
            level=Level.ERROR,
            needs_human=True,
        ),
        Code(
            "VL003",
            "v1-field-without-home",
            "a V1 layer field with no same place in the current layer format",
            "A fork's V1 layer can hold a field whose name means something else, or nothing, in the current "
            "`layer` message of the target runtime. Renaming `layers` to `layer` would silently change its "
            "meaning, so the net is left as it is.",
            level=Level.ERROR,
            needs_human=True,
        ),
        Code(
            "VL004",
            "v1-type-derived",
            "a fork's V1 layer type converted to the name of the layer class the fork registers for it",
            "A fork's own V1 upgrade (or the lack of one, before V2) has no type string for some of its V1 types. "
            "The dialect's table then gives the name of the layer class the fork registers for the enum value, "
            'which is the rule Caffe\'s V2 registry uses (`UNPOOLING` -> "Unpooling"); the note says so, so '
            "you can check the target runtime has a layer of that name.",
            level=Level.NOTE,
            fix=Fix.UPGRADE,
        ),
        Code(
            "VL005",
            "v1-for-v1-runtime",
            "the target reads V1 layers only: the net is current for it and stays V1",
            "DeepLab-Context's, DeconvNet's, C3D 1.0's and SPP-net's Caffe are from before V2 layers: a V2 net "
            "would not load there. For such a target bn-upgrade leaves the V1 layers as they are. To convert the "
            "net for another runtime, name it: `--target bvlc` (or a V2 fork such as `deeplab`, `segnet`, "
            "`c3d-v1.1`); fields the target's layer has no place for are then reported (VL003).",
            'layers {\n  name: "data"\n  type: IMAGE_SEG_DATA\n  top: "data"\n  top: "label"\n'
            '  image_data_param { source: "list.txt" }\n}\n',
            level=Level.NOTE,
            default=False,
        ),
    ),
)
