"""BatchNorm `param { lr_mult: 0 }` blocks, retired by Caffe PR #4704 (Sept 2016).

A BatchNorm layer's three blobs (mean, variance, moving-average factor) are
statistics, not weights. Old nets kept the solver off them with one zero-rate
`param` block per blob; since PR #4704 the layer does that itself, and a net that
still lists the blocks no longer loads as written. The rules, per layer of type
exactly "BatchNorm" that has param blocks:

1. At most three blocks, every one with an explicit `lr_mult: 0`, none named:
   remove them all (`--bn-style zero`: keep them, with lr_mult and decay_mult 0).
2. As 1, but some block is named (statistics shared with another layer):
   removing them would break the sharing, so keep them, with rates set to 0.
3. Some block has a nonzero or absent lr_mult, or there are more than three
   blocks: someone meant something else (a fork's learnable BatchNorm, say);
   leave the layer alone and report it, unless `--unsafe-fixes`.
A layer holding anything the schema does not know (NVIDIA's `scale_bias`, say)
is never guessed about: it is left alone and reported, unless `--unsafe-fixes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import Enum
from typing import cast

from upgrade_tool.binder import Path, Unknown
from upgrade_tool.caffe_pb2 import LayerParameter, NetParameter, ParamSpec
from upgrade_tool.codes import Code, Fix, Level
from upgrade_tool.document import Document, children_named
from upgrade_tool.edits import Edit, delete_nodes, insert_after, replace
from upgrade_tool.passes import Finding, PassResult, UpgradePass
from upgrade_tool.reader import Field
from upgrade_tool.settings import BnStyle, Settings

MAX_STATISTICS = 3


class Verdict(Enum):
    MODERN = "modern"  # no param blocks: nothing to do
    STRIP = "strip"  # rule 1
    SHARED = "shared"  # rule 2
    NEEDS_HUMAN = "needs human"  # rule 3


def classify(params: Sequence[ParamSpec]) -> Verdict:
    """Which rule applies to a BatchNorm layer with these param blocks."""
    if not params:
        return Verdict.MODERN
    if len(params) > MAX_STATISTICS or not all(_zero_rate(p) for p in params):
        return Verdict.NEEDS_HUMAN
    if any(p.name or p.HasField("share_mode") for p in params):
        return Verdict.SHARED
    return Verdict.STRIP


def _zero_rate(param: ParamSpec) -> bool:
    return bool(param.HasField("lr_mult") and param.lr_mult == 0)


def _settled(param: ParamSpec) -> bool:
    """Already as rule 2 (or `--bn-style zero`) leaves it: both rates explicitly 0."""
    return _zero_rate(param) and param.HasField("decay_mult") and param.decay_mult == 0


def _unsafe_verdict(params: Sequence[ParamSpec]) -> Verdict:
    """What `--unsafe-fixes` does with a rule-3 layer: rule 2 if named, else rule 1."""
    named = any(p.name or p.HasField("share_mode") for p in params)
    return Verdict.SHARED if named else Verdict.STRIP


def _human_reason(params: Sequence[ParamSpec]) -> str:
    if len(params) > MAX_STATISTICS:
        return f"has {len(params)} param blocks (BatchNorm has {MAX_STATISTICS} statistics)"
    return "has a param block with a nonzero or missing lr_mult (missing means 1)"


def upgrade(doc: Document, settings: Settings) -> PassResult:
    net = cast(NetParameter, doc.message)  # BVLC's class, or a fork's (--proto) with the same fields
    result = type(net)()
    result.CopyFrom(net)
    edits: list[Edit] = []
    findings: list[Finding] = []
    removed = zeroed = layers = 0
    for index, layer in enumerate(result.layer):
        if layer.type != "BatchNorm" or not layer.param:
            continue
        where = (("layer", index),)
        verdict = _decide(layer, doc, where, settings, findings)
        layer_node = doc.node(where)
        param_nodes = children_named(layer_node.children if layer_node else None, "param")
        if verdict is Verdict.STRIP and settings.bn_style is BnStyle.STRIP:
            removed += len(layer.param)
            del layer.param[:]
            edits.extend(delete_nodes(doc.text, param_nodes))
        elif verdict in (Verdict.STRIP, Verdict.SHARED) and not all(_settled(p) for p in layer.param):
            if verdict is Verdict.SHARED:
                shared = f"BatchNorm {layer.name!r} shares its statistics by name"
                findings.append(Finding("BN003", f"{shared}; kept the blocks and set their rates to 0", where))
            zeroed += len(layer.param)
            for position, param in enumerate(layer.param):
                node = param_nodes[position] if position < len(param_nodes) else None
                edits.extend(_zero_rates(doc.text, param, node))
        else:
            continue
        layers += 1
    if not layers:
        return PassResult(net, findings=tuple(findings))
    counts = {"param blocks removed": removed, "param blocks zeroed": zeroed, "layers": layers}
    return PassResult(result, True, tuple(edits), _summary(removed, zeroed, layers), counts, tuple(findings))


def _decide(layer: LayerParameter, doc: Document, where: Path, settings: Settings, findings: list[Finding]) -> Verdict:
    """The rule for one BatchNorm layer, with a finding where a human should look."""
    unknown = doc.unknown_within(where)
    verdict = classify(layer.param)
    if unknown:
        what = f"BatchNorm {layer.name!r} has fields the schema does not know ({_names(unknown)})"
    elif verdict is Verdict.NEEDS_HUMAN:
        what = f"BatchNorm {layer.name!r} {_human_reason(layer.param)}"
    else:
        return verdict
    code = "BN004" if unknown else "BN001"
    in_params = any(len(u.owner) > len(where) and u.owner[len(where)][0] == "param" for u in unknown)
    if in_params:  # removing or rewriting those blocks would lose what we cannot read
        findings.append(Finding(code, f"{what} in its param blocks; left unchanged", where, needs_human=True))
        return Verdict.NEEDS_HUMAN
    if not settings.unsafe_fixes:
        hint = "left unchanged (--unsafe-fixes to upgrade anyway)"
        findings.append(Finding(code, f"{what}; {hint}", where, needs_human=True))
        return Verdict.NEEDS_HUMAN
    findings.append(Finding("BN002", f"{what}; upgraded anyway (--unsafe-fixes)", where))
    return verdict if verdict is not Verdict.NEEDS_HUMAN else _unsafe_verdict(layer.param)


def _names(unknown: Sequence[Unknown]) -> str:
    return ", ".join(sorted({item.node.name for item in unknown}))


def _zero_rates(text: str, param: ParamSpec, node: Field | None) -> list[Edit]:
    """Set lr_mult and decay_mult to 0 in the message and, alike, in the text."""
    edits: list[Edit] = []
    anchor = None
    for name in ("lr_mult", "decay_mult"):
        if node is None:  # a binary input: the message is all there is
            setattr(param, name, 0)
            continue
        field_nodes = children_named(node.children, name)
        if field_nodes and _positive_zero(getattr(param, name)):
            anchor = field_nodes[-1]
            continue
        setattr(param, name, 0)
        if field_nodes:
            anchor = field_nodes[-1]
            value = anchor.values[0] if anchor.values else None
            assert value is not None
            edits.append(replace(text, value.start, value.end, "0"))
        elif anchor is not None:
            edits.append(insert_after(text, anchor, f"{name}: 0"))
        else:
            edits.append(_insert_first(text, node, f"{name}: 0"))
    return edits


def _positive_zero(value: float) -> bool:
    """0, but not -0: Caffe master writes every rate it zeroes as 0."""
    return value == 0 and math.copysign(1.0, value) > 0


def _insert_first(text: str, node: Field, field_text: str) -> Edit:
    """Add a field right after a block's opening delimiter."""
    at = node.open + 1
    return Edit(at, at, "", f" {field_text}")


def _summary(removed: int, zeroed: int, layers: int) -> str:
    done = []
    if removed:
        done.append(f"removed {removed} param block{'s' * (removed != 1)}")
    if zeroed:
        done.append(f"zeroed {zeroed} param block{'s' * (zeroed != 1)}")
    return f"{' and '.join(done)} in {layers} layer{'s' * (layers != 1)}"


_NET = 'layer {\n  name: "bn1"\n  type: "BatchNorm"\n  bottom: "conv1"\n  top: "conv1"\n'
_ZERO = "  param { lr_mult: 0 }\n"

PASS = UpgradePass(
    name="BatchNorm",
    legacy_form="param { lr_mult: 0 } blocks on BatchNorm layers (before Caffe PR #4704)",
    upgrade=upgrade,
    code=Code(
        "UP005",
        "batchnorm-params",
        "BatchNorm layers carry `param { lr_mult: 0 }` blocks the runtime no longer needs",
        "Before Caffe PR #4704 (September 2016) a BatchNorm layer's three statistics blobs (mean, variance, "
        "moving-average factor) had to be kept from the solver by one zero-rate `param` block each. Since "
        "then the layer masks them itself and the blocks are dead weight. bn-upgrade removes them "
        "(`--bn-style zero` keeps them with both rates 0, as Caffe master's tool does), but only where the "
        "runtime the net is for masks its statistics itself; for a fork from before #4704 they are required "
        "and kept.",
        _NET + _ZERO * 3 + "}\n",
        _NET + "}\n",
        fix=Fix.UPGRADE,
    ),
    findings=(
        Code(
            "BN001",
            "batchnorm-params-look-deliberate",
            "BatchNorm param blocks with a nonzero or missing `lr_mult`, or more than three: left unchanged",
            "A missing `lr_mult` means 1, so such a block lets the solver change the statistics; more than three "
            "blocks means a BatchNorm with learnable scale and bias (a fork's). Either way someone meant "
            "something the upgrade cannot know, so the layer is left for a human. `--unsafe-fixes` upgrades it "
            "anyway (BN002).",
            _NET + "  param { lr_mult: 1 }\n" + _ZERO * 2 + "}\n",
            level=Level.ERROR,
            needs_human=True,
            fix=Fix.UNSAFE,
        ),
        Code(
            "BN002",
            "batchnorm-upgraded-unsafely",
            "a BatchNorm layer that looked deliberate was upgraded because of `--unsafe-fixes`",
            "Reported for every layer `--unsafe-fixes` upgraded although BN001 or BN004 would have left it: "
            "check that the rates it dropped were not meant.",
        ),
        Code(
            "BN003",
            "batchnorm-shared-statistics",
            "BatchNorm statistics shared by param name: blocks kept, rates set to 0",
            "A named param block shares its blob with other layers (siamese nets). Removing the blocks would "
            "end the sharing, so they are kept, with `lr_mult` and `decay_mult` set to 0.",
            _NET + '  param { name: "bn1_mean" lr_mult: 0 }\n}\n',
            _NET + '  param { name: "bn1_mean" lr_mult: 0 decay_mult: 0 }\n}\n',
            fix=Fix.UPGRADE,
        ),
        Code(
            "BN004",
            "batchnorm-unknown-fields",
            "a BatchNorm layer holding fields the schema in use does not know: left unchanged",
            "Fields like NVIDIA's `scale_bias` or Intel's `engine` change what the layer's blobs are, so "
            "bn-upgrade does not guess what its param blocks mean. Name the dialect (`--dialect nvcaffe`) so "
            "the fields are known and the dialect's own BatchNorm rules apply, or use `--unsafe-fixes`.",
            level=Level.ERROR,
            needs_human=True,
            fix=Fix.UNSAFE,
        ),
    ),
)
