"""Properties of the upgrade over generated nets (hypothesis).

The strategies build random but valid NetParameter texts: V2 nets with
BatchNorm layers carrying 0-5 param blocks (lr_mult zero in any spelling,
nonzero, or absent; named or not; share_mode), other layer types with their
params, V1 nets with blobs_lr and old data-layer fields, legacy input fields;
and they write each one in a random style: comments and blank lines anywhere,
odd spacing, `{}` or `<>`, `name: {`, `,`/`;` separators, lists, single or
double quotes, CRLF line ends. For each net:

- the upgrade is idempotent: a second run changes nothing, byte for byte;
- the preserving and canonical outputs are the same net;
- stripping BatchNorm params changes nothing else;
- a binary model of the same net upgrades to the same net;
- our reader reads exactly what protobuf's own text parser reads;
- bytes in comments, UTF-8 or not, are opaque: they come out as they went in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import text_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upgrade_tool import caffe_pb2, upgrade_text
from upgrade_tool.binary import upgrade_binary
from upgrade_tool.pipeline import parse_document, upgrade_source
from upgrade_tool.settings import BnStyle, Settings
from upgrade_tool.source import Source

NetParameter = caffe_pb2.NetParameter
# As many examples as the profile says (tests/conftest.py: 35 by default, 150 with --hypothesis-profile=thorough).
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- the nets, as trees of fields --------------------------------------------------------------


@dataclass
class Node:
    """A field: `name: value` (value already spelled) or `name { children }`; a list when `values` has several."""

    name: str
    value: str | None = None
    children: list[Node] = field(default_factory=list)
    values: tuple[str, ...] = ()


def scalar(name: str, value: str) -> Node:
    return Node(name, value)


def block(name: str, *children: Node | None) -> Node:
    return Node(name, children=[child for child in children if child is not None])


names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
ZERO = ["0", "0.0", "0.", ".0", "0e0", "0E+0", "0f", "0.0f", "-0"]
NONZERO = ["1", "2", "0.5", "1e-1", ".5f", "10"]


def quoted(draw: st.DrawFn, text: str) -> str:
    quote = draw(st.sampled_from(['"', '"', "'"]))
    return f"{quote}{text}{quote}"


@st.composite
def param_block(draw: st.DrawFn, zero_rates: bool) -> Node:
    """One `param { }` of a BatchNorm layer: mostly zero rates, sometimes not, sometimes named."""
    children: list[Node | None] = []
    if draw(st.booleans()) and draw(st.booleans()):
        children.append(scalar("name", quoted(draw, draw(names))))
    rate = draw(st.sampled_from(["zero"] * 6 + ["nonzero", "absent"])) if not zero_rates else "zero"
    if rate != "absent":
        children.append(scalar("lr_mult", draw(st.sampled_from(ZERO if rate == "zero" else NONZERO))))
    if draw(st.booleans()):
        children.append(scalar("decay_mult", draw(st.sampled_from(["0", "1", "0.0"]))))
    if draw(st.integers(0, 9)) == 0:
        children.append(scalar("share_mode", draw(st.sampled_from(["STRICT", "PERMISSIVE"]))))
    draw(st.randoms()).shuffle(children)
    return block("param", *children)


def wiring(draw: st.DrawFn, kind: str) -> list[Node]:
    bottom, top = draw(names), draw(names)
    return [scalar("name", quoted(draw, draw(names))), scalar("type", quoted(draw, kind)),
            scalar("bottom", quoted(draw, bottom)), scalar("top", quoted(draw, top))]  # fmt: skip


@st.composite
def batchnorm_layer(draw: st.DrawFn) -> Node:
    nodes = wiring(draw, "BatchNorm")
    zero_rates = draw(st.booleans())
    nodes += [draw(param_block(zero_rates)) for _ in range(draw(st.integers(0, 5)))]
    if draw(st.booleans()):
        nodes.append(
            block(
                "batch_norm_param",
                scalar("use_global_stats", draw(st.sampled_from(["true", "false", "1", "t"]))),
                scalar("moving_average_fraction", "0.999") if draw(st.booleans()) else None,
            )
        )
    if draw(st.integers(0, 4)) == 0:
        nodes.append(block("include", scalar("phase", draw(st.sampled_from(["TRAIN", "TEST"])))))
    return block("layer", *nodes)


@st.composite
def other_layer(draw: st.DrawFn) -> Node:
    kind = draw(st.sampled_from(["Convolution", "ReLU", "Pooling", "InnerProduct", "Scale", "Input", "Data"]))
    nodes = wiring(draw, kind)
    if kind in ("Convolution", "InnerProduct", "Scale"):
        for _ in range(draw(st.integers(0, 2))):
            nodes.append(block("param", scalar("lr_mult", draw(st.sampled_from(NONZERO))), scalar("decay_mult", "1")))
    number = str(draw(st.integers(1, 64)))
    settings_by_kind: dict[str, Node] = {
        "Convolution": block(
            "convolution_param",
            scalar("num_output", number),
            scalar("kernel_size", str(draw(st.integers(1, 7)))),
            block("weight_filler", scalar("type", quoted(draw, "xavier"))) if draw(st.booleans()) else None,
        ),
        "ReLU": block("relu_param", scalar("negative_slope", "0.1")),
        "Pooling": block("pooling_param", scalar("pool", draw(st.sampled_from(["MAX", "AVE"]))), scalar("stride", "2")),
        "InnerProduct": block("inner_product_param", scalar("num_output", number)),
        "Scale": block("scale_param", scalar("bias_term", "true")),
        "Input": block("input_param", block("shape", *(scalar("dim", str(d)) for d in (1, 3, 8, 8)))),
        "Data": block("transform_param", scalar("mirror", "true"), scalar("crop_size", number)),
    }
    if draw(st.booleans()):
        nodes.append(settings_by_kind[kind])
    return block("layer", *nodes)


@st.composite
def v1_layer(draw: st.DrawFn) -> Node:
    kind = draw(st.sampled_from(["CONVOLUTION", "RELU", "POOLING", "INNER_PRODUCT", "DATA", "DROPOUT"]))
    nodes = [scalar("name", quoted(draw, draw(names))), scalar("type", kind)]
    nodes += [scalar("bottom", quoted(draw, draw(names))), scalar("top", quoted(draw, draw(names)))]
    if kind in ("CONVOLUTION", "INNER_PRODUCT"):
        for rate, decay in (("1", "1"), ("2", "0"))[: draw(st.integers(0, 2))]:
            nodes += [scalar("blobs_lr", rate), scalar("weight_decay", decay)]
        param = "convolution_param" if kind == "CONVOLUTION" else "inner_product_param"
        nodes.append(block(param, scalar("num_output", str(draw(st.integers(1, 9))))))
    if kind == "DATA":
        nodes.append(
            block(
                "data_param",
                scalar("source", quoted(draw, "train_lmdb")),
                scalar("batch_size", "4"),
                scalar("scale", "0.00390625") if draw(st.booleans()) else None,
                scalar("mirror", "true") if draw(st.booleans()) else None,
            )
        )
    return block("layers", *nodes)


@st.composite
def nets(draw: st.DrawFn, v1: bool | None = None) -> Node:
    """A whole net: V2 layers (BatchNorm among them) or, sometimes, V1 layers."""
    top: list[Node | None] = [scalar("name", quoted(draw, draw(names))) if draw(st.booleans()) else None]
    if draw(st.integers(0, 3)) == 0:
        top.append(scalar("input", quoted(draw, "data")))
        if draw(st.booleans()):
            top += [scalar("input_dim", str(d)) for d in (1, 3, 8, 8)]
        else:
            top.append(block("input_shape", *(scalar("dim", str(d)) for d in (1, 3, 8, 8))))
    if draw(st.integers(0, 5)) == 0:
        top.append(scalar("force_backward", "true"))
    use_v1 = draw(st.integers(0, 4)) == 0 if v1 is None else v1
    layer = v1_layer() if use_v1 else st.one_of(batchnorm_layer(), batchnorm_layer(), other_layer())
    top += draw(st.lists(layer, min_size=1, max_size=6))
    return block("", *top)


# -- writing a tree as text, in a random style ---------------------------------------------------


class Writer:
    """Spells a tree as text; every choice of layout is drawn, so hypothesis can vary and shrink it."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.comments = 0
        self.crlf = draw(st.integers(0, 3)) == 0
        self.indent = draw(st.sampled_from(["  ", "\t", "    ", " "]))

    def maybe(self, chance: int) -> bool:
        return self.draw(st.integers(0, chance - 1)) == 0

    def comment(self) -> str:
        self.comments += 1
        return f"# note {self.comments} {{ not a field: lr_mult: 0 }}"

    def between(self, depth: int) -> str:
        """What separates two fields: a newline (with comments and blank lines), or spaces."""
        if self.maybe(4):
            return self.draw(st.sampled_from([" ", "  ", "\t"]))
        out = " " + self.comment() if self.maybe(5) else ""
        out += "\n" * (1 + self.maybe(6))
        if self.maybe(8):
            out += self.indent * depth + self.comment() + "\n"
        return out + self.indent * depth

    def fields(self, nodes: list[Node], depth: int, compact: bool = False) -> str:
        out = ""
        for index, node in enumerate(self.lists(nodes)):
            if index:
                out += self.draw(st.sampled_from(["", "", "", ";", ","]))
                out += " " if compact else self.between(depth)
            out += self.node(node, depth, compact)
        return out

    def lists(self, nodes: list[Node]) -> list[Node]:
        """Sometimes write repeated scalars side by side as one list: `bottom: ["a", "b"]`."""
        out: list[Node] = []
        for node in nodes:
            last = out[-1] if out else None
            if last and node.value and last.name == node.name and node.name in LISTS and self.maybe(2):
                out[-1] = Node(node.name, values=(*(last.values or (last.value or "",)), node.value))
            else:
                out.append(node)
        return out

    def node(self, node: Node, depth: int, compact: bool) -> str:
        if node.values:
            return f"{node.name}: [{', '.join(node.values)}]"
        if node.value is not None:
            return node.name + self.draw(st.sampled_from([": ", ": ", ":", " : ", ":\t"])) + node.value
        opener, closer = self.draw(st.sampled_from([("{", "}")] * 4 + [("<", ">")]))
        start = node.name + self.draw(st.sampled_from([" ", " ", "", ": ", ":"])) + opener
        if not node.children:
            return start + closer
        if compact or self.maybe(3):  # all on one line
            return f"{start} {self.fields(node.children, depth + 1, compact=True)} {closer}"
        inner = self.fields(node.children, depth + 1)
        return f"{start}\n{self.indent * (depth + 1)}{inner}\n{self.indent * depth}{closer}"

    def document(self, net: Node) -> str:
        text = self.comment() + "\n" if self.maybe(2) else ""
        text += self.fields(net.children, 0) + ("" if self.maybe(6) else "\n")
        if self.maybe(4):
            text += "\n" + self.comment() + "\n"
        return text.replace("\n", "\r\n") if self.crlf else text


LISTS = {"bottom", "top", "dim", "input_dim"}


@st.composite
def net_texts(draw: st.DrawFn, v1: bool | None = None) -> str:
    return Writer(draw).document(draw(nets(v1)))


# -- helpers ------------------------------------------------------------------------------------------


def protobuf_parse(text: str) -> Any:
    """The net as protobuf's own text parser reads it (not ours)."""
    return text_format.Parse(text, NetParameter())


def ours(text: str) -> Any:
    doc, _ = parse_document(text, Settings())
    return doc.message


def without_batchnorm_params(net: Any) -> Any:
    copy = NetParameter()
    copy.CopyFrom(net)
    for layer in copy.layer:
        if layer.type == "BatchNorm":
            del layer.param[:]
    return copy


# -- the properties -------------------------------------------------------------------------------------


@PROPERTY
@given(net_texts(), st.sampled_from(["strip", "zero"]), st.sampled_from(["preserve", "canonical"]))
def test_the_upgrade_is_idempotent(text: str, bn_style: str, output_format: str) -> None:
    first = upgrade_text(text, bn_style=bn_style, output_format=output_format)
    second = upgrade_text(first.text, bn_style=bn_style, output_format=output_format)
    assert not second.changed, second.summaries
    assert second.text == first.text
    if not first.changed and output_format == "preserve":
        assert first.text == text, "a net that needs nothing is left exactly as it was"


@PROPERTY
@given(net_texts(), st.sampled_from(["strip", "zero"]))
def test_the_preserving_and_canonical_outputs_are_the_same_net(text: str, bn_style: str) -> None:
    preserved = upgrade_text(text, bn_style=bn_style)
    canonical = upgrade_text(text, bn_style=bn_style, output_format="canonical")
    assert without_caffes_empty_data_params(protobuf_parse(preserved.text)) == without_caffes_empty_data_params(
        protobuf_parse(canonical.text)
    )
    rendered = upgrade_text(preserved.text, bn_style=bn_style, output_format="canonical")
    assert not rendered.changed
    if protobuf_parse(canonical.text) == protobuf_parse(preserved.text):
        assert rendered.text == canonical.text
    assert sorted(f.code for f in preserved.findings) == sorted(f.code for f in canonical.findings)


# The one documented difference between the formats (README): in canonical output, Caffe's
# data-transformation upgrade gives every V1 data layer a data param and a transform_param,
# empty where nothing moved; preserving output only touches layers that had fields to move.
_CAFFES_EMPTY = ("transform_param", "data_param", "image_data_param", "window_data_param")


def without_caffes_empty_data_params(net: Any) -> Any:
    for layer in net.layer:
        for name in _CAFFES_EMPTY:
            if layer.HasField(name) and getattr(layer, name).ByteSize() == 0:
                layer.ClearField(name)
    return net


@PROPERTY
@given(net_texts(), st.sampled_from(["preserve", "canonical"]))
def test_the_batchnorm_upgrade_changes_nothing_but_batchnorm_params(text: str, output_format: str) -> None:
    stripped = protobuf_parse(upgrade_text(text, output_format=output_format).text)
    zeroed = protobuf_parse(upgrade_text(text, bn_style="zero", output_format=output_format).text)
    assert without_batchnorm_params(stripped) == without_batchnorm_params(zeroed)
    original = protobuf_parse(text)
    if not original.layers and not original.input:  # the BatchNorm upgrade is the only one that can apply
        assert without_batchnorm_params(stripped) == without_batchnorm_params(original)
    batchnorms = [
        (layer, stripped_layer)
        for layer, stripped_layer in zip(batchnorm_layers(original), batchnorm_layers(stripped), strict=True)
    ]
    for before, after in batchnorms:
        # Removed; or kept with zero rates (shared by name); or left for a human, as written.
        assert not after.param or after.param == before.param or kept_with_zero_rates(before, after)


def batchnorm_layers(net: Any) -> list[Any]:
    return [layer for layer in net.layer if layer.type == "BatchNorm"]


def kept_with_zero_rates(before: Any, after: Any) -> bool:
    same_names = [(p.name, p.share_mode) for p in after.param] == [(p.name, p.share_mode) for p in before.param]
    return same_names and all(p.lr_mult == 0 and p.decay_mult == 0 for p in after.param)


@PROPERTY
@given(net_texts(), st.sampled_from(list(BnStyle)), st.booleans())
def test_a_binary_model_upgrades_to_the_same_net_as_its_text(text: str, bn_style: BnStyle, unsafe: bool) -> None:
    options = Settings(bn_style=bn_style, unsafe_fixes=unsafe)
    by_text = upgrade_text(text, bn_style=bn_style.value, unsafe_fixes=unsafe)
    model = protobuf_parse(text).SerializeToString()
    binary = upgrade_binary(model, options)
    upgraded = NetParameter.FromString(binary.to_bytes() or model)
    assert upgraded == protobuf_parse(by_text.text)
    assert binary.changed == by_text.changed
    assert sorted(f.code for f in binary.findings) == sorted(f.code for f in by_text.findings)


@PROPERTY
@given(net_texts())
def test_our_reader_reads_what_protobufs_parser_reads(text: str) -> None:
    assert ours(text) == protobuf_parse(text)
    assert ours(text).SerializeToString(deterministic=True) == protobuf_parse(text).SerializeToString(
        deterministic=True
    )


@PROPERTY
@given(net_texts(v1=False))
def test_comments_outside_removed_blocks_survive(text: str) -> None:
    # A comment inside a param block the upgrade removes, or ending the block's
    # last line, goes with it; every other comment comes out once, as written
    # (the input-fields upgrade moves a field's comment along with the field).
    result = upgrade_text(text)
    kept = COMMENT.findall(result.text)
    written = COMMENT.findall(text)
    assert len(kept) == len(set(kept)) and set(kept) <= set(written)
    removed = set(written) - set(kept)
    if removed:
        assert any(summary[0] == "BatchNorm" for summary in result.summaries)
    for note in removed:
        before = text[: text.index(note)]
        starts = [match.start() for match in PARAM_BLOCK.finditer(before)]
        assert starts and starts[-1] > before.rfind("BatchNorm") > -1, note
        block = before[starts[-1] :]
        inside = block.count("{") + block.count("<") > block.count("}") + block.count(">")
        line = before[before.rfind("\n") + 1 :].rstrip(" \t;,")
        assert inside or line.endswith(("}", ">")), note


PARAM_BLOCK = re.compile(r"(?<![A-Za-z0-9_])param\s*:?\s*[{<]")  # not batch_norm_param
COMMENT = re.compile(r"# note \d+ \{ not a field: lr_mult: 0 \}")


NOTE = re.compile(rb"# note \d+")


@PROPERTY
@given(net_texts(), st.binary(min_size=1, max_size=6).filter(lambda junk: not set(junk) & set(b"\n\r\x00")))
def test_bytes_in_comments_are_opaque(text: str, junk: bytes) -> None:
    # Any bytes in a comment (UTF-8 or not) change nothing but themselves: the upgrade of
    # the spoilt text is the spoilt upgrade, byte for byte (issue 9, item 7).
    def spoil(data: bytes) -> bytes:
        return NOTE.sub(lambda match: match.group() + junk, data)

    source = Source.from_bytes(spoil(text.encode("utf-8")))
    result = upgrade_source(source, Settings())
    assert source.encode(result.text) == spoil(upgrade_text(text).text.encode("utf-8"))
