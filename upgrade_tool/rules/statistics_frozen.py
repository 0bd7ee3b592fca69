"""BN103: a training net's BatchNorm with `use_global_stats: true`: its statistics never update (frozen BatchNorm)."""

from __future__ import annotations

from typing import cast

from upgrade_tool.binder import Path
from upgrade_tool.caffe_pb2 import NetParameter
from upgrade_tool.codes import Code, Level
from upgrade_tool.document import Document
from upgrade_tool.netrole import TEST, layer_phase
from upgrade_tool.passes import Finding
from upgrade_tool.rules import Context, Rule, RuleResult
from upgrade_tool.rules.batchnorm_facts import batchnorm_layers, field_path, forks_knowing, keeps_updating, written

UPDATE = "update_global_stats"  # DeepLab's and PSPNet's: keep the averages updating while normalising with them

_NET = (
    'layer { name: "data" type: "Data" top: "data" top: "label"\n'
    '  data_param { source: "train_lmdb" batch_size: 64 backend: LMDB } }\n'
    'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"\n'
    "  convolution_param { num_output: 10 kernel_size: 3 } }\n"
    'layer {\n  name: "bn1"\n  type: "BatchNorm"\n  bottom: "conv1"\n  top: "conv1"\n'
    "  batch_norm_param { use_global_stats: true }\n}\n"
    'layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }\n'
    'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "conv1" bottom: "label" top: "loss" }\n'
)

CODE = Code(
    "BN103",
    "batchnorm-statistics-frozen",
    "a training net's BatchNorm has `use_global_stats: true` outside a TEST-only layer: its statistics never update",
    "With `use_global_stats: true` in the TRAIN phase the layer normalises with the stored mean and variance and "
    "never updates them: training does not learn them, and a net trained from scratch this way normalises with "
    "whatever the blobs were initialised to. That is deliberate when fine-tuning with frozen BatchNorm (Faster "
    "R-CNN, R-FCN and other detectors fine-tune a pretrained ResNet with small batches, where batch statistics "
    "would be noise), so this is a warning to read, not an error, and there is no fix: to train the statistics, "
    "remove the field (the phase then decides) or keep it `true` only in a layer included in the TEST phase. "
    "DeepLab's and PSPNet's Caffe have `update_global_stats: true`, which keeps the averages updating in TRAIN "
    "while the layer normalises with them; such a layer is not reported when the target has that field. Off by "
    "default: frozen BatchNorm is common and right in detector fine-tuning nets.",
    _NET,
    level=Level.WARNING,
    default=False,
)


def check(doc: Document, context: Context) -> RuleResult:
    net = cast(NetParameter, doc.message)
    if not context.role.role.trains:
        return RuleResult()
    findings = []
    for where, layer in batchnorm_layers(net):
        if written(layer, "use_global_stats") is not True or layer_phase(layer) == TEST:
            continue
        if keeps_updating(context.target, layer):
            continue
        message = (
            f"BatchNorm {layer.name!r} has use_global_stats: true in a training net: its statistics never update "
            f"(frozen BatchNorm, deliberate when fine-tuning; {context.role.reason}; target {context.target.name})"
            + _unknown_update(doc, where, context)
        )
        findings.append(Finding(CODE.code, message, field_path(doc, where, "use_global_stats")))
    return RuleResult(tuple(findings))


def _unknown_update(doc: Document, where: Path, context: Context) -> str:
    """A note where the file writes `update_global_stats` and the target does not know it."""
    if not any(item.node.name == UPDATE for item in doc.unknown_within(where)):
        return ""
    forks = " and ".join(forks_knowing(UPDATE))
    return f"; {UPDATE}, a field of {forks}, is not {context.target.name}'s"


RULE = Rule(CODE, check)
