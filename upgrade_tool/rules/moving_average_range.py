"""BN106: a BatchNorm `moving_average_fraction` outside (0, 1]: the moving averages are not averages."""

from __future__ import annotations

import math
from typing import cast

from upgrade_tool.caffe_pb2 import NetParameter
from upgrade_tool.codes import Code, Level
from upgrade_tool.document import Document
from upgrade_tool.passes import Finding
from upgrade_tool.rules import Context, Rule, RuleResult
from upgrade_tool.rules.batchnorm_facts import batchnorm_layers, field_path, written

_NET = (
    'layer { name: "data" type: "Data" top: "data" top: "label"\n'
    '  data_param { source: "train_lmdb" batch_size: 64 backend: LMDB } }\n'
    'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"\n'
    "  convolution_param { num_output: 10 kernel_size: 3 } }\n"
    'layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1"\n'
    "  batch_norm_param { moving_average_fraction: 1.5 } }\n"
    'layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }\n'
    'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "conv1" bottom: "label" top: "loss" }\n'
)

CODE = Code(
    "BN106",
    "batchnorm-moving-average-fraction-range",
    "a BatchNorm `moving_average_fraction` outside (0, 1]",
    "In TRAIN, Caffe's BatchNorm multiplies its running sums of mean and variance, and their weight, by "
    "`moving_average_fraction` before adding each batch's (default 0.999). Above 1 the old batches count ever "
    "more and the sums grow without bound; 0 keeps only the last batch; a negative value flips the sign of the "
    "history at every step. None of these is a moving average. No fix: the intended value cannot be told (0.9, "
    "0.99 and 0.999 are all common). Note that PyTorch's `momentum` is the opposite weight: its 0.1 is Caffe's "
    "0.9.",
    _NET,
    level=Level.WARNING,
)


def in_range(fraction: float) -> bool:
    return 0 < fraction <= 1  # NaN too is out of range


def check(doc: Document, context: Context) -> RuleResult:
    findings = []
    for where, layer in batchnorm_layers(cast(NetParameter, doc.message)):
        fraction = written(layer, "moving_average_fraction")
        if not isinstance(fraction, float) or in_range(fraction):
            continue
        shown = "nan" if math.isnan(fraction) else f"{fraction:.6g}"
        message = f"BatchNorm {layer.name!r} has moving_average_fraction {shown}, outside (0, 1]"
        findings.append(Finding(CODE.code, message, field_path(doc, where, "moving_average_fraction")))
    return RuleResult(tuple(findings))


RULE = Rule(CODE, check)
