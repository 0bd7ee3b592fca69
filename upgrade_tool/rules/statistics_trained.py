"""BN005: a training net's BatchNorm whose statistics the solver would train (a runtime from before PR #4704)."""

from __future__ import annotations

from typing import cast

from upgrade_tool.binder import Path
from upgrade_tool.caffe_pb2 import LayerParameter, NetParameter
from upgrade_tool.codes import Code, Fix, Level
from upgrade_tool.dialects import MaskAnswer, Masks
from upgrade_tool.document import Document, children_named, message_at
from upgrade_tool.edits import Edit, insert_after
from upgrade_tool.netrole import TEST, layer_phase
from upgrade_tool.passes import Finding, PassResult
from upgrade_tool.passes.batchnorm import MAX_STATISTICS, engine_of, zero_rate, zero_rates
from upgrade_tool.reader import Field
from upgrade_tool.rules import Context, Rule, RuleResult
from upgrade_tool.rules.batchnorm_facts import batchnorm_layers

FROZEN = "param { lr_mult: 0 decay_mult: 0 }"
_NET = (
    'layer { name: "data" type: "Data" top: "data" top: "rois" top: "label" }\n'
    'layer {\n  name: "bn1"\n  type: "BatchNorm"\n  bottom: "data"\n  top: "bn1"\n%s}\n'
    'layer { name: "pool" type: "PSROIPooling" bottom: "bn1" bottom: "rois" top: "pool"\n'
    "  psroi_pooling_param { spatial_scale: 0.0625 output_dim: 21 group_size: 7 } }\n"
    'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "pool" bottom: "label" }\n'
)

CODE = Code(
    "BN005",
    "batchnorm-statistics-trained",
    "a training net for a runtime from before PR #4704 has a BatchNorm without zero-rate param blocks",
    "Before Caffe PR #4704 (September 2016) the BatchNorm layer did not keep the solver off its three "
    "statistics blobs (mean, variance, moving-average factor): each needed a `param { lr_mult: 0 }` block. "
    "Faster R-CNN's, R-FCN's, DeepLab's, PSPNet's, OpenPose's and lim0606's Caffe, and Intel's default "
    "CAFFE engine, are from before it. Without the blocks the solver's updates and weight decay change the "
    "statistics, and the net trains badly. `--fix` adds the missing blocks and sets a nonzero rate on a "
    "statistics blob to 0. Deploy and test nets are not trained, so they are not reported; neither are "
    "layers kept to the TEST phase.",
    _NET % "",
    _NET % f"  {FROZEN}\n  {FROZEN}\n  {FROZEN}\n",
    level=Level.ERROR,
    needs_human=True,
    fix=Fix.SAFE,
)


def check(doc: Document, context: Context) -> RuleResult:
    net = cast(NetParameter, doc.message)
    if not context.role.role.trains:
        return RuleResult()
    flagged = []  # (where, blocks missing, blocks trained, why)
    answers: dict[str | None, MaskAnswer] = {}  # the target's answer per engine
    for where, layer in batchnorm_layers(net):
        if layer_phase(layer) == TEST:
            continue
        engine = engine_of(context.target, net, layer)
        if engine not in answers:
            answers[engine] = context.target.masks_statistics(engine)
        if answers[engine].masks is not Masks.NO:
            continue
        missing = max(0, MAX_STATISTICS - len(layer.param))
        trained = [i for i, param in enumerate(layer.param[:MAX_STATISTICS]) if not zero_rate(param)]
        if missing or trained:
            flagged.append((where, missing, trained, answers[engine].reason))
    if not flagged:
        return RuleResult()
    fixed = type(net)()
    fixed.CopyFrom(net)
    findings: list[Finding] = []
    edits: list[Edit] = []
    for where, missing, trained, reason in flagged:
        layer = cast(LayerParameter, message_at(fixed, where))
        findings.append(Finding(CODE.code, _message(layer, reason, missing, trained), where, needs_human=True))
        edits.extend(_fix(doc, where, layer, missing, trained))
    layers = len(findings)
    summary = f"froze the statistics of {layers} BatchNorm layer{'s' * (layers != 1)}"
    return RuleResult(tuple(findings), PassResult(fixed, True, tuple(edits), summary, {"layers": layers}))


def _message(layer: LayerParameter, reason: str, missing: int, trained: list[int]) -> str:
    problems = []
    if trained:
        blocks = ", ".join(str(i + 1) for i in trained)
        problems.append(f"param block{'s' * (len(trained) != 1)} {blocks} with a nonzero or missing lr_mult")
    if missing:
        problems.append(f"{missing} statistics blob{'s' * (missing != 1)} without a param block")
    return f"BatchNorm {layer.name!r} has {' and '.join(problems)}: the solver would train them (target {reason})"


def _fix(doc: Document, where: Path, layer: LayerParameter, missing: int, trained: list[int]) -> list[Edit]:
    """Zero the rates of the trained blocks, and add the missing ones after the last param (or top)."""
    node = doc.node(where)
    param_nodes = children_named(node.children if node is not None else None, "param")
    edits: list[Edit] = []
    for position in trained:
        edits.extend(zero_rates(doc.text, layer.param[position], param_nodes[position] if param_nodes else None))
    for _ in range(missing):
        layer.param.add(lr_mult=0, decay_mult=0)
    if missing and node is not None and node.children:
        anchor = param_nodes[-1] if param_nodes else _anchor(node.children)
        one = insert_after(doc.text, anchor, FROZEN)
        edits.append(one._replace(new=one.new * missing))
    return edits


def _anchor(children: list[Field]) -> Field:
    """The last of name/type/bottom/top: where a layer's param blocks go."""
    placed = [child for child in children if child.name in ("name", "type", "bottom", "top")]
    return placed[-1] if placed else children[-1]


RULE = Rule(CODE, check)
