"""What the BatchNorm rules know about a layer and about the runtime it is for: pure look-ups, no rule of its own.

The runtime's behaviour comes from `batchnorm.tsv` (the target dialect's rows,
`Dialect.batchnorm()`), each answer with the place in the fork that decides it:

- NVIDIA's Caffe uses the stored statistics whenever the phase is TEST, whatever
  `use_global_stats` says, and clamps `eps` to at least 1e-5 (cuDNN's minimum);
- DeepLab's and PSPNet's `update_global_stats` keeps the moving averages
  updating in TRAIN while `use_global_stats: true` normalises with them;
- NVIDIA's BatchNorm learns a scale and bias of its own with `scale_bias: true`
  (or a scale or bias filler), Intel's MKL2017 and MKLDNN engines do by default.

Every other dialect's BatchNorm is BVLC's in these respects: `use_global_stats`
defaults to `phase == TEST` and, when written, holds in both phases; `eps` is
used as written; there is no affine part (a `Scale` layer holds it).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from google.protobuf.message import Message

from upgrade_tool.binder import Path
from upgrade_tool.caffe_pb2 import LayerParameter, NetParameter
from upgrade_tool.dialects import Dialect
from upgrade_tool.dialects.tables import batchnorm_rows
from upgrade_tool.document import Document, children_named
from upgrade_tool.passes.batchnorm import engine_of
from upgrade_tool.reader import Field

BATCHNORM = "BatchNorm"
PARAM = "batch_norm_param"

_STORED_IN_TEST = re.compile(r"stored statistics whenever phase is TEST")
_EPS_FLOOR = re.compile(r"eps clamped to >= ?([0-9.]+(?:e-?[0-9]+)?)")


@dataclass(frozen=True)
class OwnAffine:
    """Where a dialect's BatchNorm learns a scale and bias itself (its rows with learnable blobs 3 and 4)."""

    engines: tuple[str, ...]  # the engines that have them; () for every engine
    switches: tuple[str, ...]  # batch_norm_param fields any of which, set (true, or present), turns them on; ()
    # for always
    off: str = ""  # a bool field whose `false` turns them off


# The rows of batchnorm.tsv with learnable scale and bias, as conditions on the layer's fields.
OWN_AFFINE = {
    "nvcaffe": OwnAffine((), ("scale_bias", "scale_filler", "bias_filler")),  # "scale_bias: true, or ... filler set"
    "intel": OwnAffine(("MKL2017", "MKLDNN"), (), off="use_weight_bias"),  # use_weight_bias defaults to true
}


def batchnorm_layers(net: NetParameter) -> Iterator[tuple[Path, LayerParameter]]:
    """Each `BatchNorm` layer of a current net with its path; none for a pre-V2 fork's net (no `layer` field)."""
    if "layer" not in net.DESCRIPTOR.fields_by_name:
        return
    for index, layer in enumerate(net.layer):
        if layer.type == BATCHNORM:
            yield (("layer", index),), layer


def param_of(layer: LayerParameter) -> Message | None:
    """The layer's `batch_norm_param`, if its schema has one."""
    return layer.batch_norm_param if PARAM in layer.DESCRIPTOR.fields_by_name else None


def written(layer: LayerParameter, name: str) -> object | None:
    """The value of `batch_norm_param.<name>` where the file writes it, else None."""
    param = param_of(layer)
    if param is None or name not in param.DESCRIPTOR.fields_by_name or not param.HasField(name):
        return None
    value: object = getattr(param, name)
    return value


def param_node(doc: Document, where: Path) -> Field | None:
    """The layer's `batch_norm_param` block in the text (None without a text; TextFormat allows one at most)."""
    return doc.node((*where, (PARAM, 0)))


def field_node(doc: Document, where: Path, name: str) -> Field | None:
    """The `name` node in the layer's `batch_norm_param` block, if the text writes it."""
    block = param_node(doc, where)
    nodes = children_named(block.children if block is not None else None, name)
    return nodes[0] if nodes else None


def field_path(doc: Document, where: Path, name: str) -> Path:
    """The path of the `name` node in the layer's `batch_norm_param`, or of the layer where the text has none."""
    return (*where, (PARAM, 0), (name, 0)) if field_node(doc, where, name) is not None else where


def stored_statistics_in_test(target: Dialect) -> str:
    """Where the target's BatchNorm uses its stored statistics in TEST whatever `use_global_stats` says; "" if not."""
    return _clause_source(target, _STORED_IN_TEST)[1]


def eps_floor(target: Dialect) -> tuple[float, str] | None:
    """The least `eps` the target's BatchNorm uses (a float32, as Caffe holds it) and where it says so."""
    match, source = _clause_source(target, _EPS_FLOOR)
    if match is None:
        return None
    return float32(float(match[1])), source


def float32(value: float) -> float:
    """`value` as the nearest float32, as a `float` field holds it (1e-5 is 9.99999974738e-06)."""
    rounded: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return rounded


def own_scale_bias(target: Dialect, net: NetParameter, layer: LayerParameter) -> bool:
    """Whether the target's BatchNorm learns a scale and bias of its own for this layer (`OWN_AFFINE`)."""
    affine = OWN_AFFINE.get(target.name)
    param = param_of(layer)
    if affine is None or param is None:
        return False
    if affine.engines and engine_of(target, net, layer) not in affine.engines:
        return False
    if affine.off and affine.off in param.DESCRIPTOR.fields_by_name and getattr(param, affine.off) is False:
        return False
    return not affine.switches or any(_is_on(param, name) for name in affine.switches)


def keeps_updating(target: Dialect, layer: LayerParameter) -> bool:
    """Whether the target updates the statistics in TRAIN although `use_global_stats` is true (DeepLab's field)."""
    return written(layer, "update_global_stats") is True and any(
        "update_global_stats" in row.condition for row in target.batchnorm()
    )


def forks_knowing(name: str) -> tuple[str, ...]:
    """The dialects whose BatchNorm rows speak of `name` (`update_global_stats`: deeplab, pspnet)."""
    return tuple(dict.fromkeys(row.dialect for row in batchnorm_rows() if name in row.condition))


def _is_on(param: Message, name: str) -> bool:
    field = param.DESCRIPTOR.fields_by_name.get(name)
    if field is None:
        return False
    if field.message_type is not None:
        return param.HasField(name)
    return getattr(param, name) is True


def _clause_source(target: Dialect, pattern: re.Pattern[str]) -> tuple[re.Match[str] | None, str]:
    """The first clause of a BatchNorm row's condition that matches, and the source the row gives for it.

    A row's condition lists its clauses separated by "; " and its source the
    places in the same order (`:18, :177, :24`); where the counts differ, the
    row's first place stands for all.
    """
    for row in target.batchnorm():
        if row.type_name != BATCHNORM:
            continue
        clauses = row.condition.split("; ")
        for position, clause in enumerate(clauses):
            match = pattern.search(clause)
            if match is None:
                continue
            refs = row.sources
            ref = refs[position] if len(refs) == len(clauses) else refs[0]
            return match, str(ref)
    return None, ""
