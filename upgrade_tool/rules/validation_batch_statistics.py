"""BN102: a train_val net's BatchNorm with `use_global_stats: false` for both phases validates on batch statistics."""

from __future__ import annotations

from typing import cast

from upgrade_tool.binder import Path
from upgrade_tool.caffe_pb2 import LayerParameter, NetParameter
from upgrade_tool.codes import Code, Fix, Level
from upgrade_tool.document import Document, message_at
from upgrade_tool.edits import Edit, delete_nodes
from upgrade_tool.netrole import Role, layer_phase
from upgrade_tool.passes import Finding, PassResult
from upgrade_tool.rules import Context, Rule, RuleResult
from upgrade_tool.rules.batchnorm_facts import (
    PARAM,
    batchnorm_layers,
    field_node,
    field_path,
    param_node,
    param_of,
    stored_statistics_in_test,
    written,
)

_NET = (
    'layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }\n'
    '  data_param { source: "train_lmdb" batch_size: 64 backend: LMDB } }\n'
    'layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }\n'
    '  data_param { source: "val_lmdb" batch_size: 50 backend: LMDB } }\n'
    'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"\n'
    "  convolution_param { num_output: 10 kernel_size: 3 } }\n"
    'layer {\n  name: "bn1"\n  type: "BatchNorm"\n  bottom: "conv1"\n  top: "conv1"\n%s}\n'
    'layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }\n'
    'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "conv1" bottom: "label" top: "loss" }\n'
)

CODE = Code(
    "BN102",
    "batchnorm-batch-statistics-in-validation",
    "a train_val net's BatchNorm has `use_global_stats: false` for both phases: the TEST phase uses batch statistics",
    "Left out, `use_global_stats` follows the phase: batch statistics in TRAIN, the learnt ones in TEST. Written "
    "as `false` in a layer that serves both phases of a train_val net, it holds in TEST too, so validation "
    "normalises each batch by itself, and the accuracy it reports is not the deployed net's. `--fix` removes the "
    "field: TRAIN stays as it was and TEST uses the learnt statistics (a `batch_norm_param` left empty goes too, "
    "unless it holds a comment). NVIDIA's Caffe uses the learnt statistics whenever the phase is TEST, so a net "
    "for it is not reported.",
    _NET % "  batch_norm_param {\n    use_global_stats: false\n  }\n",
    _NET % "",
    level=Level.WARNING,
    fix=Fix.SAFE,
)


def check(doc: Document, context: Context) -> RuleResult:
    net = cast(NetParameter, doc.message)
    if context.role.role is not Role.TRAIN_VAL or stored_statistics_in_test(context.target):
        return RuleResult()
    flagged = [
        (where, layer)
        for where, layer in batchnorm_layers(net)
        if written(layer, "use_global_stats") is False and layer_phase(layer) is None
    ]
    if not flagged:
        return RuleResult()
    fixed = type(net)()
    fixed.CopyFrom(net)
    findings: list[Finding] = []
    edits: list[Edit] = []
    for where, layer in flagged:
        message = (
            f"BatchNorm {layer.name!r} has use_global_stats: false and serves both phases of a train_val net: "
            f"its TEST phase normalises with batch statistics ({context.role.reason}; target {context.target.name})"
        )
        findings.append(Finding(CODE.code, message, field_path(doc, where, "use_global_stats")))
        edits.extend(_remove(doc, where, cast(LayerParameter, message_at(fixed, where))))
    layers = len(findings)
    summary = f"removed use_global_stats: false from {layers} BatchNorm layer{'s' * (layers != 1)} of a train_val net"
    return RuleResult(tuple(findings), PassResult(fixed, True, tuple(edits), summary, {"layers": layers}))


def _remove(doc: Document, where: Path, layer: LayerParameter) -> list[Edit]:
    """Clear the field in the message and delete it from the text, with the block if that leaves it empty."""
    param = param_of(layer)
    assert param is not None
    param.ClearField("use_global_stats")
    block = param_node(doc, where)
    node = field_node(doc, where, "use_global_stats")
    if block is None or node is None:
        return []
    empty = not param.ListFields() and not doc.unknown_within((*where, (PARAM, 0)))
    if empty and "#" not in doc.text[block.open + 1 : block.close]:
        layer.ClearField(PARAM)
        return delete_nodes(doc.text, [block])
    return delete_nodes(doc.text, [node], keep_comments=True)


RULE = Rule(CODE, check)
