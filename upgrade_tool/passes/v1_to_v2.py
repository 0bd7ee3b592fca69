"""V1 layers (`layers { type: CONVOLUTION blobs_lr: 1 }`), retired by Caffe PR #1748 (February 2015).

Since then a net lists `layer { type: "Convolution" }`: the type is a string
naming a registered layer, and the per-blob V1 fields became one `param` block
per blob. Caffe's upgrade (NetNeedsV1ToV2Upgrade / UpgradeV1Net), done here the
same way:

- `layers` -> `layer`; the type enum -> its string (`V1_TYPES`, then the
  user's `--v1-type NAME=Type`, which wins where both name a type);
- blob i's `param: "name"`, `blob_share_mode`, `blobs_lr`, `weight_decay` ->
  `param { name share_mode lr_mult decay_mult }` number i (`PER_BLOB`);
- every other field is copied as it is (the same field exists in both).

In the text, the `param` block for blob i takes the place of the first field
that mentions blob i, laid out like it; the other per-blob fields go, leaving
a comment that ended their line where it was. Values keep their spelling.

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

from dataclasses import dataclass
from typing import cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from upgrade_tool.binder import Path, Unknown
from upgrade_tool.caffe_pb2 import LayerParameter, NetParameter, V1LayerParameter
from upgrade_tool.canonical import quote
from upgrade_tool.codes import Code, Fix, Level
from upgrade_tool.document import Document, children_named
from upgrade_tool.edits import Edit, delete_nodes, line_indent, newline_of, replace
from upgrade_tool.errors import InputError
from upgrade_tool.passes import Finding, PassResult, UpgradePass
from upgrade_tool.reader import Field, Scalar
from upgrade_tool.settings import Settings

# Caffe's UpgradeV1LayerType: V1 enum name -> registered layer type.
V1_TYPES = {
    "NONE": "",
    "ABSVAL": "AbsVal",
    "ACCURACY": "Accuracy",
    "ARGMAX": "ArgMax",
    "BNLL": "BNLL",
    "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss",
    "CONVOLUTION": "Convolution",
    "DATA": "Data",
    "DECONVOLUTION": "Deconvolution",
    "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss",
    "ELTWISE": "Eltwise",
    "EXP": "Exp",
    "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data",
    "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss",
    "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss",
    "INNER_PRODUCT": "InnerProduct",
    "LRN": "LRN",
    "MEMORY_DATA": "MemoryData",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN",
    "POOLING": "Pooling",
    "POWER": "Power",
    "RELU": "ReLU",
    "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
    "SILENCE": "Silence",
    "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss",
    "SPLIT": "Split",
    "SLICE": "Slice",
    "TANH": "TanH",
    "WINDOW_DATA": "WindowData",
    "THRESHOLD": "Threshold",
}

# V1 per-blob field -> the ParamSpec field it becomes, in ParamSpec's field order.
PER_BLOB = {"param": "name", "blob_share_mode": "share_mode", "blobs_lr": "lr_mult", "weight_decay": "decay_mult"}
NOT_COPIED = frozenset({"type", "layer", *PER_BLOB})


@dataclass(frozen=True)
class LayerPlan:
    """How one V1 layer converts: its new type (None: it has none)."""

    type: str | None
    unknown_type: Field | None = None  # its `type` node, if the schema does not know the value


def upgrade(doc: Document, settings: Settings) -> PassResult:
    net = cast(NetParameter, doc.message)  # BVLC's class, or a fork's (--proto) with the same fields
    v1_layers = list(net.layers)
    if not v1_layers:
        return PassResult(net)
    if net.layer:
        first = doc.node((("layers", 0),))
        message = "the net has both 'layer' and V1 'layers' entries; write every layer in one of the two forms"
        raise InputError(message, first.start if first is not None else 0)
    target = cast(Descriptor, net.DESCRIPTOR.fields_by_name["layer"].message_type)
    findings: list[Finding] = []
    plans = [_plan_layer(doc, index, layer, target, settings, findings) for index, layer in enumerate(v1_layers)]
    if findings:
        return PassResult(net, findings=tuple(findings))
    result = type(net)()
    result.CopyFrom(net)
    result.ClearField("layers")
    for layer, plan in zip(v1_layers, plans, strict=True):
        convert_layer(layer, result.layer.add(), plan.type)
    edits = () if doc.tree is None else tuple(_text_edits(doc, plans))
    resolved = tuple(plan.unknown_type for plan in plans if plan.unknown_type is not None)
    counts = {
        "layers": len(plans),
        "param blocks": sum(len(layer.param) for layer in result.layer),
        "types mapped by --v1-type": len(resolved),
    }
    summary = f"converted {len(plans)} V1 layer{'s' * (len(plans) != 1)} to the current format"
    return PassResult(result, True, edits, summary, counts, (), resolved)


def convert_layer(v1: V1LayerParameter, layer: LayerParameter, new_type: str | None) -> None:
    """Fill an empty current-format `layer` from a V1 layer, as Caffe's UpgradeV1LayerParameter does."""
    for field, value in v1.ListFields():
        if field.name not in NOT_COPIED:
            _copy_field(field, value, layer)
    if new_type is not None:
        layer.type = new_type
    params = layer.param
    for v1_name, spec_name in PER_BLOB.items():
        for blob, value in enumerate(getattr(v1, v1_name)):
            while len(params) <= blob:
                params.add()
            if v1_name == "blob_share_mode":
                value = _share_mode(v1, params[blob], value)
            setattr(params[blob], spec_name, value)


def _copy_field(field: FieldDescriptor, value: object, layer: Message) -> None:
    if not field.is_repeated:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(layer, field.name).CopyFrom(value)
        else:
            setattr(layer, field.name, value)
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        for item in value:  # type: ignore[attr-defined]
            getattr(layer, field.name).add().CopyFrom(item)
    else:
        getattr(layer, field.name).extend(value)


def _share_mode(v1: V1LayerParameter, spec: Message, value: int) -> int:
    """V1 DimCheckMode -> ParamSpec DimCheckMode, by name (STRICT, PERMISSIVE)."""
    v1_enum = v1.DESCRIPTOR.fields_by_name["blob_share_mode"].enum_type
    spec_enum = spec.DESCRIPTOR.fields_by_name["share_mode"].enum_type
    assert v1_enum is not None and spec_enum is not None
    number: int = spec_enum.values_by_name[v1_enum.values_by_number[value].name].number
    return number


def _plan_layer(
    doc: Document, index: int, layer: V1LayerParameter, target: Descriptor, settings: Settings, findings: list[Finding]
) -> LayerPlan:
    """The new type of one V1 layer; a finding for anything that keeps it from converting."""
    where: Path = (("layers", index),)
    name = repr(layer.name)
    unknown_type = _unknown_type(doc, where)
    plan = LayerPlan(None)
    if layer.HasField("type") or unknown_type is not None:
        v1_type = _v1_type_name(doc.text, layer, unknown_type)
        new_type = dict(settings.v1_types).get(v1_type, V1_TYPES.get(v1_type))
        if new_type is None:
            hint = f"left the net unchanged; say what it is with --v1-type {v1_type}=TypeName"
            what = f"layer {name} has V1 type {v1_type}, which Caffe cannot map; {hint}"
            findings.append(Finding("VL001", what, where, needs_human=True))
        plan = LayerPlan(new_type, unknown_type)
    if layer.HasField("layer"):
        what = f"layer {name} holds a V0 'layer {{ }}' block, which Caffe would drop; left the net unchanged"
        findings.append(Finding("VL002", what, where, needs_human=True))
    for field in _no_place_for(layer, doc.unknown_within(where), where, target, binary=doc.tree is None):
        what = f"layer {name} has {field!r}, which has no same place in the current format; left the net unchanged"
        findings.append(Finding("VL003", what, where, needs_human=True))
    return plan


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


def _no_place_for(
    layer: V1LayerParameter, unknown: list[Unknown], where: Path, target: Descriptor, *, binary: bool
) -> list[str]:
    """Fields of a V1 layer that would not carry over as they are.

    Known fields without a same-named, same-typed current field (only in a
    fork's schema); unknown ones the current layer knows by name (renaming the
    block would suddenly give them a meaning); and, in a binary model, every
    unknown one: it is known there only by its number, which means nothing in
    the current layer message.
    """
    known = [f.name for f, _ in layer.ListFields() if f.name not in NOT_COPIED and not _same_field(f, target)]
    unknown_names = [u.node.name for u in unknown if u.owner == where and u.node.name != "type"]
    return known + [name for name in unknown_names if binary or name in target.fields_by_name]


def _same_field(field: FieldDescriptor, target: Descriptor) -> bool:
    other = target.fields_by_name.get(field.name)
    if other is None or other.type != field.type or other.is_repeated != field.is_repeated:
        return False
    if field.message_type is not None:
        return other.message_type is not None and other.message_type.full_name == field.message_type.full_name
    if field.enum_type is not None:
        return other.enum_type is not None and other.enum_type.full_name == field.enum_type.full_name
    return True


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
    ),
)
