"""BN104: a BatchNorm with no scale and bias of its own whose output is used before any `Scale` layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from upgrade_tool.caffe_pb2 import LayerParameter, NetParameter
from upgrade_tool.codes import Code, Level
from upgrade_tool.document import Document
from upgrade_tool.netrole import layer_phase, type_name
from upgrade_tool.passes import Finding
from upgrade_tool.rules import Context, Rule, RuleResult
from upgrade_tool.rules.batchnorm_facts import batchnorm_layers, own_scale_bias

# Layers after which a missing scale and bias make no difference: those that learn an affine map of what they
# read (a per-channel scale and bias folds into their weights and bias), and a BatchNorm, which normalises again.
SETTLES = frozenset({"Scale", "Convolution", "Deconvolution", "InnerProduct", "BatchNorm"})
# Layers that only move, split, join or scale by a constant what they read: the walk goes on to their outputs.
PASSES_ON = frozenset({"Concat", "Split", "Slice", "Dropout", "Reshape", "Flatten", "Power"})

_LAYERS = (
    'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 32 dim: 32 } } }\n'
    'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"\n'
    "  convolution_param { num_output: 16 kernel_size: 3 } }\n"
    'layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }\n'
)
_RELU = 'layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }\n'

CODE = Code(
    "BN104",
    "batchnorm-without-scale",
    "a BatchNorm with no scale and bias of its own is used before any `Scale` layer: the affine part is missing",
    "BVLC's BatchNorm only normalises: the learnable per-channel scale and bias of batch normalisation are a "
    "separate `Scale` layer (`bias_term: true`) right after it. Without one, what reads the normalised output (a "
    "ReLU, say) gets zero mean and unit variance it cannot change, and a model ported from a framework whose "
    "batch normalisation has the affine part has nowhere to put its weights. Reported where the output reaches a "
    "layer other than a `Scale` before anything that learns an affine map of it (a Convolution, Deconvolution or "
    "InnerProduct folds a scale and bias into its own weights) or normalises it again; Concat, Split, Slice, "
    "Dropout, Reshape, Flatten and Power layers are looked through, and an output nothing reads (a last "
    "normalisation) is not reported. Not reported either where the target's BatchNorm has the affine part itself: "
    "NVIDIA's with `scale_bias: true` (or a scale or bias filler), Intel's MKL2017 and MKLDNN engines. No fix: "
    "adding a `Scale` layer changes the net's blobs. Off by default: nets trained without the affine part on "
    "purpose are correct as they are.",
    _LAYERS + _RELU,
    level=Level.WARNING,
    default=False,
)


def check(doc: Document, context: Context) -> RuleResult:
    net = cast(NetParameter, doc.message)
    layers = list(net.layer) if "layer" in net.DESCRIPTOR.fields_by_name else []
    findings = []
    for where, layer in batchnorm_layers(net):
        if own_scale_bias(context.target, net, layer):
            continue
        user = first_unscaled_use(layers, where[0][1])
        if user is None:
            continue
        message = (
            f"BatchNorm {layer.name!r} has no scale and bias, and {type_name(user)} {user.name!r} uses its output "
            f"before any Scale layer (target {context.target.name}'s BatchNorm has no affine part of its own)"
        )
        findings.append(Finding(CODE.code, message, where))
    return RuleResult(tuple(findings))


def first_unscaled_use(layers: Sequence[LayerParameter], index: int) -> LayerParameter | None:
    """The first later layer that uses the BatchNorm's output as it is, before a layer settles it; None if none.

    The walk follows the blob names from the BatchNorm's tops through the layers
    after it that run in a phase it runs in: a layer that writes a followed name
    without reading it ends that name; one in `PASSES_ON` adds its tops.
    """
    batchnorm = layers[index]
    phase = layer_phase(batchnorm)
    followed = set(batchnorm.top)
    for later in layers[index + 1 :]:
        if not followed:
            break
        other = layer_phase(later)
        if phase is not None and other is not None and other != phase:
            continue
        if not followed.intersection(later.bottom):
            followed.difference_update(later.top)
            continue
        kind = type_name(later)
        if kind in SETTLES:
            followed.difference_update(later.top)
        elif kind in PASSES_ON:
            followed.update(later.top)
        else:
            return later
    return None


RULE = Rule(CODE, check)
