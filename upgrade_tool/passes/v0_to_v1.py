"""V0 layers, `layers { layer { type: "conv" kernelsize: 11 } }`, retired by Caffe in early 2014.

The first Caffe nets described each layer with one flat `V0LayerParameter`
(lower-case string types, every setting of every layer type side by side),
nested in the `layer` field of a connection that held `bottom` and `top`. V1
(`V1LayerParameter`) gave layers an enum type and one settings message per
type; Caffe still reads V0 through `UpgradeV0Net`, which this pass follows:

1. `padding` layers are folded away: the convolution or pooling layer that reads
   a padding layer's output takes its `pad` and reads the padding layer's input
   instead. Anything else reading a padding layer, or a padding layer with other
   than one input and one output, is an error (Caffe aborts).
2. Each V0 layer becomes a V1 layer: the type through `V0_TYPES`, each setting
   to its V1 home for that type through `HOMES`. The data transformation settings
   (scale, meanfile, cropsize, mirror) go straight to `transform_param`.

A type missing from `V0_TYPES` is an error at its position (Caffe aborts with
"Unknown layer name"), as is a layer reading a blob that nothing before it
produced (Caffe aborts with "Unknown blob input"). Deliberate deviations: fields
Caffe would drop without a word are kept — top-level net fields other than name,
input, input_dim and force_backward; connection fields beside `layer`, `bottom`
and `top`; whole V1 layers in a net that mixes both forms. A setting given both
inside a V0 `layer` block and beside it is an error rather than a silent choice.

In the default format the change is made as text edits: each `layer { ... }`
block is replaced by the V1 fields, with value spellings, comments and fork
fields kept; padding layers are deleted.

Findings:

| code  | needs human | meaning |
|-------|-------------|---------|
| V0001 | yes | a setting with no V1 home for its layer type was dropped (as Caffe does) |
| V0002 | no  | `new_num`/`new_channels`, which no layer ever read, were dropped |
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from upgrade_tool.binder import Path
from upgrade_tool.caffe_pb2 import NetParameter, V0LayerParameter, V1LayerParameter
from upgrade_tool.codes import Code, Fix, Level
from upgrade_tool.document import Document, children_named
from upgrade_tool.edits import Edit, delete_nodes, newline_of, replace, start_of_line
from upgrade_tool.errors import InputError
from upgrade_tool.passes import Finding, PassResult, UpgradePass
from upgrade_tool.reader import Field, Scalar, tokenize
from upgrade_tool.settings import Settings

# V0 type string -> V1 LayerType enum name (a V0 net has nothing else).
V0_TYPES: dict[str, str] = {
    "accuracy": "ACCURACY",
    "bnll": "BNLL",
    "concat": "CONCAT",
    "conv": "CONVOLUTION",
    "data": "DATA",
    "dropout": "DROPOUT",
    "euclidean_loss": "EUCLIDEAN_LOSS",
    "flatten": "FLATTEN",
    "hdf5_data": "HDF5_DATA",
    "hdf5_output": "HDF5_OUTPUT",
    "im2col": "IM2COL",
    "images": "IMAGE_DATA",
    "infogain_loss": "INFOGAIN_LOSS",
    "innerproduct": "INNER_PRODUCT",
    "lrn": "LRN",
    "multinomial_logistic_loss": "MULTINOMIAL_LOGISTIC_LOSS",
    "pool": "POOLING",
    "relu": "RELU",
    "sigmoid": "SIGMOID",
    "softmax": "SOFTMAX",
    "softmax_loss": "SOFTMAX_LOSS",
    "split": "SPLIT",
    "tanh": "TANH",
    "window_data": "WINDOW_DATA",
}

PADDING = "padding"
FOLDS_INTO = ("conv", "pool")  # the only types a padding layer may feed


class Home(NamedTuple):
    """Where a V0 setting lives in a V1 layer: `param` "" is the layer itself;
    `name` "" means the setting is a whole message that becomes `param`."""

    param: str
    name: str


ANY = "*"  # the home for every layer type
_LAYER = {ANY: Home("", "")}  # same name, on the V1 layer itself
_CONV, _IP, _POOL, _LRN = "convolution_param", "inner_product_param", "pooling_param", "lrn_param"
_DATA, _HDF5, _IMAGES, _WINDOW = "data_param", "hdf5_data_param", "image_data_param", "window_data_param"
_TRANSFORM = "transform_param"


def _for(types: dict[str, str], name: str) -> dict[str, Home]:
    return {v0_type: Home(param, name) for v0_type, param in types.items()}


_BATCH_TYPES = {"data": _DATA, "hdf5_data": _HDF5, "images": _IMAGES, "window_data": _WINDOW}

# V0 setting -> {V0 layer type (or ANY) -> its V1 home}. Settings used on a type
# not listed here have no home (Caffe: "Unknown parameter ... for layer type").
HOMES: dict[str, dict[str, Home]] = {
    "name": _LAYER,
    "blobs": _LAYER,
    "blobs_lr": _LAYER,
    "weight_decay": _LAYER,
    "num_output": _for({"conv": _CONV, "innerproduct": _IP}, "num_output"),
    "biasterm": _for({"conv": _CONV, "innerproduct": _IP}, "bias_term"),
    "weight_filler": _for({"conv": _CONV, "innerproduct": _IP}, "weight_filler"),
    "bias_filler": _for({"conv": _CONV, "innerproduct": _IP}, "bias_filler"),
    "pad": _for({"conv": _CONV, "pool": _POOL}, "pad"),
    "kernelsize": _for({"conv": _CONV, "pool": _POOL}, "kernel_size"),
    "group": _for({"conv": _CONV}, "group"),
    "stride": _for({"conv": _CONV, "pool": _POOL}, "stride"),
    "pool": _for({"pool": _POOL}, "pool"),
    "dropout_ratio": _for({"dropout": "dropout_param"}, "dropout_ratio"),
    "local_size": _for({"lrn": _LRN}, "local_size"),
    "alpha": _for({"lrn": _LRN}, "alpha"),
    "beta": _for({"lrn": _LRN}, "beta"),
    "k": _for({"lrn": _LRN}, "k"),
    "source": _for({**_BATCH_TYPES, "infogain_loss": "infogain_loss_param"}, "source"),
    "scale": {ANY: Home(_TRANSFORM, "scale")},
    "meanfile": {ANY: Home(_TRANSFORM, "mean_file")},
    "batchsize": _for(_BATCH_TYPES, "batch_size"),
    "cropsize": {ANY: Home(_TRANSFORM, "crop_size")},
    "mirror": {ANY: Home(_TRANSFORM, "mirror")},
    "rand_skip": _for({"data": _DATA, "images": _IMAGES}, "rand_skip"),
    "shuffle_images": _for({"images": _IMAGES}, "shuffle"),
    "new_height": _for({"images": _IMAGES}, "new_height"),
    "new_width": _for({"images": _IMAGES}, "new_width"),
    "concat_dim": _for({"concat": "concat_param"}, "concat_dim"),
    "det_fg_threshold": _for({"window_data": _WINDOW}, "fg_threshold"),
    "det_bg_threshold": _for({"window_data": _WINDOW}, "bg_threshold"),
    "det_fg_fraction": _for({"window_data": _WINDOW}, "fg_fraction"),
    "det_context_pad": _for({"window_data": _WINDOW}, "context_pad"),
    "det_crop_mode": _for({"window_data": _WINDOW}, "crop_mode"),
    "hdf5_output_param": _for({"hdf5_output": "hdf5_output_param"}, ""),
}
IGNORED = ("new_num", "new_channels")  # in V0's schema, read by no layer; Caffe drops them
UNSIGNED_IN_V1 = ("new_height", "new_width")  # int32 in V0, uint32 in V1
CONNECTION = ("bottom", "top", "layer")  # the V1 fields a V0 connection is made of


def home(setting: str, v0_type: str) -> Home | None:
    """The V1 home of a V0 setting on a layer of this V0 type, if it has one."""
    homes = HOMES.get(setting, {})
    found = homes.get(v0_type) or homes.get(ANY)
    if found is not None and found.param == "" and found.name == "":
        return Home("", setting)
    return found


def needs_upgrade(net: NetParameter) -> bool:
    """Caffe's test: some connection holds a V0 `layer` (a schema without V0 layers has none)."""
    layers = net.DESCRIPTOR.fields_by_name.get("layers")
    if layers is None or layers.message_type is None or "layer" not in layers.message_type.fields_by_name:
        return False
    return any(connection.HasField("layer") for connection in net.layers)


@dataclass(frozen=True)
class Fold:
    """Layer `consumer` reads, as its bottom number `bottom`, the output of padding layer `padding`."""

    consumer: int
    bottom: int
    padding: int


def upgrade(doc: Document, settings: Settings) -> PassResult:
    net = _net(doc)
    if not needs_upgrade(net):
        return PassResult(net)
    homeless = _without_home_here(net)
    if homeless:  # an older fork's V1 layer lacks where these settings go: converting would lose them
        return PassResult(net, findings=tuple(homeless))
    folds = find_folds(doc)
    result = type(net)()
    result.CopyFrom(net)
    del result.layers[:]
    findings: list[Finding] = []
    count = 0
    for index, connection in enumerate(net.layers):
        if _is_padding(connection):
            continue
        mine = [fold for fold in folds if fold.consumer == index]
        result.layers.add().CopyFrom(convert_layer(doc, index, mine, findings))
        count += connection.HasField("layer")
    padding = sum(_is_padding(connection) for connection in net.layers)
    edits = text_edits(doc, folds) if doc.tree is not None else ()
    counts = {"layers converted": count, "padding layers folded": padding}
    return PassResult(result, True, edits, _summary(count, padding), counts, tuple(findings))


def _net(doc: Document) -> NetParameter:
    return cast(NetParameter, doc.message)  # BVLC's class, or a fork's (--proto) with the same fields


def _is_padding(connection: V1LayerParameter) -> bool:
    return bool(connection.HasField("layer") and connection.layer.type == PADDING)


def _offset(doc: Document, path: Path) -> int:
    node = doc.node(path)
    return node.start if node is not None else 0


def _layer_name(connection: V1LayerParameter, index: int) -> str:
    name = connection.layer.name if connection.HasField("layer") else connection.name
    return repr(name) if name else f"number {index + 1}"


def find_folds(doc: Document) -> list[Fold]:
    """Which layers read a padding layer's output; raise `InputError` where Caffe aborts."""
    layers = _net(doc).layers
    last_top = {blob: -1 for blob in _net(doc).input}
    folds: list[Fold] = []
    for index, connection in enumerate(layers):
        for position, blob in enumerate(connection.bottom):
            if blob not in last_top:
                where = _offset(doc, (("layers", index),))
                what = f"layer {_layer_name(connection, index)} reads blob {blob!r}"
                raise InputError(f"{what}, which no input or earlier layer produces", where, "E005")
            source = last_top[blob]
            if source >= 0 and _is_padding(layers[source]):
                _check_fold(doc, index, source)
                folds.append(Fold(index, position, source))
        for blob in connection.top:
            last_top[blob] = index
    return folds


def _check_fold(doc: Document, consumer: int, padding: int) -> None:
    layers = _net(doc).layers
    reader, pad = layers[consumer], layers[padding]
    name, pad_name = _layer_name(reader, consumer), _layer_name(pad, padding)
    v0_type = reader.layer.type if reader.HasField("layer") else ""
    problem = ""
    if v0_type not in FOLDS_INTO:
        problem = f"padding layer {pad_name} feeds layer {name} of type {v0_type!r}; only conv and pool take a pad"
    elif len(reader.bottom) != 1:
        problem = f"layer {name} reads padding layer {pad_name} but has {len(reader.bottom)} inputs (it must have one)"
    elif len(pad.bottom) != 1 or len(pad.top) != 1:
        where = _offset(doc, (("layers", padding),))
        counts = f"{len(pad.bottom)} inputs and {len(pad.top)} outputs"
        raise InputError(f"padding layer {pad_name} has {counts} (it must have one of each)", where, "E005")
    if problem:
        raise InputError(problem, _offset(doc, (("layers", consumer),)), "E005")


def convert_layer(doc: Document, index: int, folds: Sequence[Fold], findings: list[Finding]) -> V1LayerParameter:
    """The V1 layer for connection `index`: its own fields, plus its V0 layer's settings moved home."""
    layers = _net(doc).layers
    connection = layers[index]
    layer = type(connection)()
    layer.CopyFrom(connection)
    layer.ClearField("layer")
    for fold in folds:
        layer.bottom[fold.bottom] = layers[fold.padding].bottom[0]
    if not connection.HasField("layer"):
        return layer
    v0 = type(connection.layer)()
    v0.CopyFrom(connection.layer)
    for fold in folds:
        v0.pad = layers[fold.padding].layer.pad  # absent is 0, and Caffe sets it all the same
    where: Path = (("layers", index), ("layer", 0))
    _refuse_conflicts(doc, index, layer, v0)
    _refuse_negative_sizes(doc, v0, where)
    if v0.HasField("type"):
        layer.type = _v1_type(doc, v0.type, where, layer)
    for setting, value in v0.ListFields():
        if setting.name != "type":
            _move(layer, v0.type, setting, value, findings, (*where, (setting.name, 0)))
    return layer


def _v1_type(doc: Document, v0_type: str, where: Path, layer: V1LayerParameter) -> V1LayerParameter.LayerType:
    name = V0_TYPES.get(v0_type)
    if name is None:
        close = difflib.get_close_matches(v0_type, V0_TYPES, n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]!r}?" if close else ": there is no V1 type for it (Caffe aborts on it too)"
        raise InputError(f"unknown V0 layer type {v0_type!r}{hint}", _offset(doc, (*where, ("type", 0))), "E005")
    enum = layer.DESCRIPTOR.fields_by_name["type"].enum_type
    assert enum is not None
    return cast(V1LayerParameter.LayerType, enum.values_by_name[name].number)


def _v1_fields(v0: V0LayerParameter) -> set[str]:
    """The V1 layer fields this V0 layer's settings go to."""
    targets = set()
    for setting, _ in v0.ListFields():
        found = home(setting.name, v0.type) if setting.name != "type" else Home("", "type")
        if found is not None:
            targets.add(found.param or found.name)
    return targets


def _refuse_conflicts(doc: Document, index: int, layer: V1LayerParameter, v0: V0LayerParameter) -> None:
    own = {setting.name for setting, _ in layer.ListFields()} - set(CONNECTION)
    both = sorted(own & _v1_fields(v0))
    if both:
        name = repr(v0.name) if v0.name else f"number {index + 1}"
        what = f"layer {name} sets {both[0]!r} both inside its V0 'layer' block and beside it"
        raise InputError(f"{what}; keep one of them", _offset(doc, (("layers", index),)), "E005")


def _refuse_negative_sizes(doc: Document, v0: V0LayerParameter, where: Path) -> None:
    """V0's new_height/new_width are signed (negative: no resize); V1's are not, and C++ would wrap them."""
    for setting in UNSIGNED_IN_V1:
        if v0.HasField(setting) and getattr(v0, setting) < 0:
            message = f"{setting} is {getattr(v0, setting)}: a V1 layer takes 0 or more (0: no resize)"
            raise InputError(message, _offset(doc, (*where, (setting, 0))), "E005")


def _move(
    layer: V1LayerParameter, v0_type: str, setting: FieldDescriptor, value: Any, findings: list[Finding], path: Path
) -> None:
    """Put one V0 setting in its V1 home, or report that it has none."""
    found = home(setting.name, v0_type)
    if found is None:
        findings.append(_homeless(setting.name, v0_type, layer.name, path))
        return
    if found.name == "":  # a whole message, e.g. hdf5_output_param
        getattr(layer, found.param).CopyFrom(value)
        return
    target: Message = getattr(layer, found.param) if found.param else layer
    target_field = cast(FieldDescriptor, target.DESCRIPTOR.fields_by_name[found.name])
    values = list(value) if setting.is_repeated else [value]
    if target_field.enum_type is not None and setting.enum_type is not None:
        values = [_same_enum_name(setting, target_field, number) for number in values]
    _store(target, target_field, values)


def _without_home_here(net: NetParameter) -> list[Finding]:
    """V0 settings whose V1 home this schema's V1 layer lacks (a fork from before TransformationParameter)."""
    layer_type = net.DESCRIPTOR.fields_by_name["layers"].message_type
    assert layer_type is not None
    findings = []
    for index, connection in enumerate(net.layers):
        for setting, _ in connection.layer.ListFields() if connection.HasField("layer") else ():
            found = home(setting.name, connection.layer.type)
            if found is not None and not _has_home(layer_type, found.param, found.name):
                where = (("layers", index), ("layer", 0), (setting.name, 0))
                what = f"V0 setting {setting.name!r} has no home in this schema's V1 layer; left the net unchanged"
                findings.append(Finding("V0001", what, where, needs_human=True))
    return findings


def _has_home(layer: Any, param: str, name: str) -> bool:
    """Whether the schema's V1 layer has the field (a fork's older schema may lack transform_param, say)."""
    fields = layer.fields_by_name
    if not param:
        return name in fields
    holder = fields.get(param)
    kind = holder.message_type if holder is not None else None
    return kind is not None and (name == "" or name in kind.fields_by_name)


def _same_enum_name(source: FieldDescriptor, target: FieldDescriptor, number: int) -> int:
    """V0's pool method as the V1 enum value of the same name."""
    assert source.enum_type is not None and target.enum_type is not None
    return target.enum_type.values_by_name[source.enum_type.values_by_number[number].name].number


def _store(target: Message, field: FieldDescriptor, values: list[Any]) -> None:
    if field.is_repeated:
        getattr(target, field.name).extend(values)
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        getattr(target, field.name).CopyFrom(values[0])
    else:
        setattr(target, field.name, values[0])


def _homeless(setting: str, v0_type: str, layer: str, path: Path) -> Finding:
    if setting in IGNORED:
        return Finding("V0002", f"layer {layer!r}: dropped {setting!r}, which no Caffe layer ever read", path)
    message = f"layer {layer!r}: {setting!r} has no place in a V1 layer of V0 type {v0_type!r}; dropped, as Caffe does"
    return Finding("V0001", message, path, needs_human=True)


def _summary(count: int, padding: int) -> str:
    done = f"converted {count} V0 layer{'s' * (count != 1)}"
    if padding:
        done += f" and folded {padding} padding layer{'s' * (padding != 1)}"
    return done


# --- The same change as text edits -------------------------------------------------

_COMMENT = re.compile(r"#[^\r\n]*")


@dataclass
class _Item:
    """One field of the V1 layer being written, with the comments that travel with it."""

    text: str
    before: list[str] = field(default_factory=list)  # full-line comments above it
    after: str = ""  # a comment at the end of its line


def text_edits(doc: Document, folds: Sequence[Fold]) -> tuple[Edit, ...] | None:
    """Edits on `doc.text` making `upgrade`'s change; None where the layout defeats them."""
    text = doc.text
    layers = _net(doc).layers
    edits: list[Edit] = []
    padding_nodes: list[Field] = []
    for index, connection in enumerate(layers):
        node = doc.node((("layers", index),))
        if node is None:
            return None
        if _is_padding(connection):
            if node.in_list or doc.unknown_within((("layers", index),)):
                return None
            padding_nodes.append(node)
            continue
        mine = [fold for fold in folds if fold.consumer == index]
        edits.extend(_bottom_edits(doc, node, mine))
        block = doc.node((("layers", index), ("layer", 0)))
        if block is None:
            continue
        block_edits = _block_edits(doc, index, block, connection.layer.type, mine)
        if block_edits is None:
            return None
        edits.extend(block_edits)
    edits.extend(delete_nodes(text, padding_nodes))
    return tuple(edits)


def _scalars(nodes: list[Field]) -> list[Scalar]:
    return [scalar for node in nodes for scalar in node.values or ()]


def _bottom_edits(doc: Document, node: Field, folds: Sequence[Fold]) -> list[Edit]:
    """Point each layer that read a padding layer at the padding layer's own input."""
    edits = []
    for fold in folds:
        padding = doc.node((("layers", fold.padding),))
        assert padding is not None and padding.children is not None
        source = _scalars(children_named(padding.children, "bottom"))[0]
        target = _scalars(children_named(node.children, "bottom"))[fold.bottom]
        edits.append(replace(doc.text, target.start, target.end, doc.text[source.start : source.end]))
    return edits


def _block_edits(doc: Document, index: int, block: Field, v0_type: str, folds: Sequence[Fold]) -> list[Edit] | None:
    """Replace one `layer { ... }` block with the V1 fields it becomes (None: it cannot be)."""
    text = doc.text
    owner: Path = (("layers", index), ("layer", 0))
    unknown = {item.node.key for item in doc.unknown if item.owner == owner}
    dropped = [child for child in block.children or () if child.key not in unknown and _dropped(child, v0_type)]
    if any(_unknown_inside(doc, child) for child in dropped):
        return None  # fork text inside a setting that is dropped: nowhere to keep it
    indent, inner = _indents(text, block)
    groups: dict[str, list[_Item]] = {"": []}
    for child, item in _items(text, block):
        if child.key in unknown:
            _refuse_v1_name(doc, child)
            group, item.text = "", text[child.start : child.stop]  # its separator too: fork text byte for byte
        else:
            group, item.text = _rewrite(doc, child, v0_type, folds, (inner, indent))
        groups.setdefault(group, []).append(item)
    if folds and not any(child.name == "pad" for child in block.children or ()):
        pad_home = home("pad", v0_type)
        assert pad_home is not None
        groups.setdefault(pad_home.param, []).insert(0, _Item("pad" + _pad_text(doc, folds[0])))
    tail = _tail_comments(text, block)
    if not tail and not any(item.text or item.before or item.after for items in groups.values() for item in items):
        return delete_nodes(text, [block])  # nothing of it is written: dropped settings at most
    # A `;` or `,` after the block goes with it: it would end the last field moved out instead.
    if not any(end in text[block.start : block.end] for end in "\r\n"):
        return [replace(text, block.start, block.stop, _inline(groups))]
    lines = _lines(groups, indent, inner) + [indent + comment for comment in tail]
    newline = newline_of(text)
    body = newline.join(lines)
    end = block.stop
    line_end = text.find("\n", end)
    if _ends_in_comment(lines[-1]) and text[end : len(text) if line_end < 0 else line_end].strip(" \t\r"):
        # What followed the block on its closing line must not end up inside that comment.
        body += newline + indent
        while end < len(text) and text[end] in " \t":
            end += 1
    return [replace(text, block.start, end, body[len(indent) :])]


def _ends_in_comment(line: str) -> bool:
    """Whether a line written from the input's own fields and comments ends in a `#` comment."""
    ends = tokenize(line)[2]
    return "#" in line[ends[-2] if len(ends) > 1 else 0 :]


def _items(text: str, block: Field) -> Iterator[tuple[Field, _Item]]:
    """The block's fields in order, each with the comments around it.

    A list of messages, `blobs [ {...}, {...} ]`, is one item: its last element's
    node, which spans the whole list from the name to the `]`.
    """
    children = block.children or []
    previous_end = block.open + 1
    pending: _Item | None = None
    for at, child in enumerate(children):
        if child.in_list and at + 1 < len(children) and children[at + 1].start == child.start:
            continue
        trailing, leading = _split_gap(text, previous_end, child.start, pending is not None)
        if pending is not None:
            pending.after = trailing
        pending = _Item("", leading)
        yield child, pending
        previous_end = child.stop
    if pending is not None:
        pending.after = _split_gap(text, previous_end, block.close, True)[0]


def _split_gap(text: str, start: int, end: int, has_previous: bool) -> tuple[str, list[str]]:
    """Comments between two fields: the one ending the previous field's line, and the rest."""
    trailing = ""
    leading = []
    for match in _COMMENT.finditer(text, start, end):
        if has_previous and not trailing and "\n" not in text[start : match.start()]:
            trailing = match.group()
        else:
            leading.append(match.group())
    return trailing, leading


def _tail_comments(text: str, block: Field) -> list[str]:
    """Full-line comments after the block's last field, before its closing brace."""
    children = block.children or []
    if not children:
        return _split_gap(text, block.open + 1, block.close, False)[1]
    return _split_gap(text, children[-1].stop, block.close, True)[1]


def _dropped(child: Field, v0_type: str) -> bool:
    return child.name != "type" and home(child.name, v0_type) is None


def _unknown_inside(doc: Document, node: Field) -> bool:
    return any(node.start <= item.node.start < node.end for item in doc.unknown)


def _refuse_v1_name(doc: Document, node: Field) -> None:
    """A fork field inside a V0 block that is also a V1 layer field would change meaning when moved."""
    layer_type = _net(doc).DESCRIPTOR.fields_by_name["layers"].message_type
    if layer_type is not None and node.name in layer_type.fields_by_name:
        what = f"{node.name!r} inside a V0 'layer' block is not a V0 setting (a fork's?)"
        hint = "move it out of the block by hand, or read it with the fork's schema"
        raise InputError(f"{what}; {hint}", node.start, "E005")


def _rewrite(
    doc: Document, child: Field, v0_type: str, folds: Sequence[Fold], indents: tuple[str, str]
) -> tuple[str, str]:
    """(V1 group, text) for one known field of a V0 block; group "" is the layer itself."""
    text = doc.text
    value = text[child.name_end : child.end]
    if child.name == "type":
        assert child.values is not None
        return "", "type" + text[child.name_end : child.values[0].start] + V0_TYPES[v0_type]
    found = home(child.name, v0_type)
    if found is None:
        return "", ""  # dropped; a finding says so
    if child.name == "pad" and folds:
        value = _pad_text(doc, folds[0])
    if found.param == "" or found.name == "":
        return "", _outdent(text, child, _unknown_inside(doc, child), *indents)
    return found.param, found.name + value


def _pad_text(doc: Document, fold: Fold) -> str:
    """`: N` as the padding layer wrote its pad (Caffe takes an absent pad as 0)."""
    node = doc.node((("layers", fold.padding), ("layer", 0), ("pad", 0)))
    return doc.text[node.name_end : node.end] if node is not None else ": 0"


def _outdent(text: str, child: Field, keep: bool, inner: str, outer: str) -> str:
    """A field moving out of the V0 block, its inner lines moved from `inner` to `outer` too
    (unless `keep`: fork text inside must stay byte for byte)."""
    own = text[child.start : child.end]
    if keep or "\n" not in own or not inner.startswith(outer):
        return own
    lines = own.split("\n")
    moved = [outer + line[len(inner) :] if line.startswith(inner) else line for line in lines[1:]]
    return "\n".join([lines[0], *moved])


def _indents(text: str, block: Field) -> tuple[str, str]:
    """The indentation for fields of the V1 layer, and for fields inside its param blocks."""
    before = text[start_of_line(text, block.start) : block.start]
    outer = before if not before.strip(" \t") else _leading_space(before) + "  "
    inner = outer + "  "
    for child in block.children or ():
        child_line = start_of_line(text, child.start)
        if not text[child_line : child.start].strip(" \t"):
            inner = text[child_line : child.start]
            break
    return outer, inner


def _leading_space(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _lines(groups: dict[str, list[_Item]], indent: str, inner: str) -> list[str]:
    lines: list[str] = []
    for name, items in groups.items():
        if name:
            lines.append(f"{indent}{name} {{")
        for item in items:
            at = inner if name else indent
            lines.extend(at + comment for comment in item.before)
            if item.text:
                lines.append(at + item.text + (" " + item.after if item.after else ""))
            elif item.after:
                lines.append(at + item.after)
        if name:
            lines.append(f"{indent}}}")
    return lines


def _inline(groups: dict[str, list[_Item]]) -> str:
    parts = []
    for name, items in groups.items():
        texts = [item.text for item in items if item.text]
        parts.append(f"{name} {{ {' '.join(texts)} }}" if name else " ".join(texts))
    return " ".join(part for part in parts if part)


PASS = UpgradePass(
    name="V0 to V1",
    legacy_form='V0 layers: layers { layer { type: "conv" ... } } (before Caffe\'s V1 layers, early 2014)',
    upgrade=upgrade,
    code=Code(
        "UP001",
        "v0-layers",
        'the net uses V0 layers: `layers { layer { type: "conv" ... } }`',
        "Caffe's first format nested each layer's settings in a `layer { }` block with lower-case type names "
        "and separate padding layers. bn-upgrade converts it as Caffe's V0 upgrade does (padding folded into "
        "the next convolution or pooling); the V1 net it gives is then upgraded further.",
        'input: "data"\nlayers {\n  layer {\n    name: "relu1"\n    type: "relu"\n  }\n  bottom: "data"\n'
        '  top: "data"\n}\n',
        'layer {\n  name: "relu1"\n  type: "ReLU"\n  bottom: "data"\n  top: "data"\n}\n',
        fix=Fix.UPGRADE,
    ),
    findings=(
        Code(
            "V0001",
            "v0-setting-dropped",
            "a V0 setting with no V1 home for its layer type was dropped, as Caffe drops it",
            "V0 layers could carry any setting; V1 keeps each only where the layer type reads it. Check the "
            "dropped setting was not meant for another layer.",
            'input: "data"\nlayers {\n  layer {\n    name: "relu1"\n    type: "relu"\n    num_output: 8\n  }\n'
            '  bottom: "data"\n  top: "data"\n}\n',
            'layer {\n  name: "relu1"\n  type: "ReLU"\n  bottom: "data"\n  top: "data"\n}\n',
            level=Level.ERROR,
            needs_human=True,
            fix=Fix.UPGRADE,
        ),
        Code(
            "V0002",
            "v0-unused-setting-dropped",
            "V0 `new_num`/`new_channels`, which no layer ever read, were dropped",
            "Nothing in any Caffe version read these two; they are dropped as Caffe's upgrade drops them.",
            'input: "data"\nlayers {\n  layer {\n    name: "conv1"\n    type: "conv"\n    num_output: 8\n'
            '    kernelsize: 3\n    new_num: 2\n  }\n  bottom: "data"\n  top: "conv1"\n}\n',
            'layer {\n  name: "conv1"\n  type: "Convolution"\n  convolution_param {\n    num_output: 8\n'
            '    kernel_size: 3\n  }\n  bottom: "data"\n  top: "conv1"\n}\n',
            level=Level.NOTE,
            fix=Fix.UPGRADE,
        ),
    ),
)
