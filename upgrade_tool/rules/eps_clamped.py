"""BN105: a BatchNorm `eps` below the least the target's cuDNN-minded BatchNorm uses (NVIDIA's Caffe: 1e-5)."""

from __future__ import annotations

from typing import cast

from upgrade_tool.caffe_pb2 import NetParameter
from upgrade_tool.codes import Code, Level
from upgrade_tool.document import Document
from upgrade_tool.passes import Finding
from upgrade_tool.rules import Context, Rule, RuleResult
from upgrade_tool.rules.batchnorm_facts import batchnorm_layers, eps_floor, field_path, written

_NET = (
    'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 32 dim: 32 } } }\n'
    'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"\n'
    "  convolution_param { num_output: 16 kernel_size: 3 } }\n"
    'layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1"\n'
    "  batch_norm_param { scale_bias: true eps: 1e-9 engine: CUDNN } }\n"
)

CODE = Code(
    "BN105",
    "batchnorm-eps-clamped",
    "a BatchNorm `eps` below the least the target runtime uses (NVIDIA's Caffe clamps it to 1e-5)",
    "NVIDIA's Caffe raises a BatchNorm `eps` below cuDNN's minimum, 1e-5, to 1e-5, with the CUDNN engine and "
    "the CAFFE one alike (`batchnorm.tsv`). A net that comes from a framework that used the smaller value (a "
    "model converted with `eps: 1e-9`, say) then gives different numbers on it, most where a channel's "
    "variance is tiny. Nothing in the file can change that; the warning says the value written is not the "
    "value used. Values are compared as the float32 Caffe holds, so the default 1e-5 is not reported. Other "
    "runtimes use `eps` as written and are not reported.",
    _NET,
    level=Level.WARNING,
)


def check(doc: Document, context: Context) -> RuleResult:
    floor = eps_floor(context.target)
    if floor is None:
        return RuleResult()
    least, source = floor
    findings = []
    for where, layer in batchnorm_layers(cast(NetParameter, doc.message)):
        eps = written(layer, "eps")
        if not isinstance(eps, float) or not eps < least:
            continue
        message = (
            f"BatchNorm {layer.name!r} has eps {eps:.6g}, below the {least:.6g} target {context.target.name} "
            f"clamps it to ({source}): it computes with {least:.6g}"
        )
        findings.append(Finding(CODE.code, message, field_path(doc, where, "eps")))
    return RuleResult(tuple(findings))


RULE = Rule(CODE, check)
