"""BN101: a BatchNorm that runs at inference with `use_global_stats: false` normalises with each batch's statistics."""

from __future__ import annotations

from typing import cast

from upgrade_tool.caffe_pb2 import LayerParameter, NetParameter
from upgrade_tool.codes import Code, Fix, Level
from upgrade_tool.document import Document, message_at
from upgrade_tool.edits import Edit, replace
from upgrade_tool.netrole import TEST, TRAIN, NetRole, Role, layer_phase
from upgrade_tool.passes import Finding, PassResult
from upgrade_tool.rules import Context, Rule, RuleResult
from upgrade_tool.rules.batchnorm_facts import (
    batchnorm_layers,
    field_node,
    field_path,
    param_of,
    stored_statistics_in_test,
    written,
)

FALSE_SPELLINGS = frozenset({"false", "False", "f", "0"})  # how TextFormat may write a false bool
INFERENCE_ROLES = (Role.DEPLOY, Role.TEST)

_NET = (
    'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 224 dim: 224 } } }\n'
    'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"\n'
    "  convolution_param { num_output: 64 kernel_size: 3 } }\n"
    'layer {\n  name: "bn1"\n  type: "BatchNorm"\n  bottom: "conv1"\n  top: "conv1"\n'
    "  batch_norm_param { use_global_stats: %s }\n}\n"
    'layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }\n'
)

CODE = Code(
    "BN101",
    "batchnorm-batch-statistics-at-inference",
    "a BatchNorm that runs at inference has `use_global_stats: false`: it normalises with each batch's statistics",
    "Caffe's BatchNorm normalises with the statistics it learnt (`use_global_stats: true`) or with those of the "
    "batch in hand (`false`). Left out, the phase decides: the learnt ones in TEST. Written as `false`, it holds "
    "in every phase, so a deploy net, a test net or a TEST-only layer normalises each batch by itself: a batch of "
    "one image gives garbage, and every output depends on what else is in the batch. `--fix` sets it to `true`. "
    "NVIDIA's Caffe uses the learnt statistics whenever the phase is TEST, whatever the field says, so a net for "
    "it is not reported. Deploy and test nets are told from the net itself (inputs, data layers, losses, phase "
    "rules; `-v` shows the decision); layers kept to the TRAIN phase never run at inference.",
    _NET % "false",
    _NET % "true",
    level=Level.WARNING,
    fix=Fix.SAFE,
)


def runs_at_inference(role: NetRole, layer: LayerParameter) -> bool:
    """Whether the layer runs in a net used for inference: a deploy or test net, or a TEST-only layer."""
    phase = layer_phase(layer)
    return phase == TEST or (phase != TRAIN and role.role in INFERENCE_ROLES)


def check(doc: Document, context: Context) -> RuleResult:
    net = cast(NetParameter, doc.message)
    if stored_statistics_in_test(context.target):
        return RuleResult()
    flagged = [
        (where, layer)
        for where, layer in batchnorm_layers(net)
        if written(layer, "use_global_stats") is False and runs_at_inference(context.role, layer)
    ]
    if not flagged:
        return RuleResult()
    fixed = type(net)()
    fixed.CopyFrom(net)
    findings: list[Finding] = []
    edits: list[Edit] = []
    for where, layer in flagged:
        findings.append(Finding(CODE.code, _message(layer, context), field_path(doc, where, "use_global_stats")))
        param = param_of(cast(LayerParameter, message_at(fixed, where)))
        assert param is not None
        param.use_global_stats = True  # type: ignore[attr-defined]
        node = field_node(doc, where, "use_global_stats")
        value = node.values[0] if node is not None and node.values else None
        if value is not None and doc.text[value.start : value.end] in FALSE_SPELLINGS:
            edits.append(replace(doc.text, value.start, value.end, "true"))
    layers = len(findings)
    summary = f"set use_global_stats: true in {layers} BatchNorm layer{'s' * (layers != 1)} used at inference"
    return RuleResult(tuple(findings), PassResult(fixed, True, tuple(edits), summary, {"layers": layers}))


def _message(layer: LayerParameter, context: Context) -> str:
    why = "it is kept to the TEST phase" if layer_phase(layer) == TEST else context.role.reason
    return (
        f"BatchNorm {layer.name!r} has use_global_stats: false, so at inference it normalises with each batch's "
        f"own statistics ({why}; target {context.target.name})"
    )


RULE = Rule(CODE, check)
