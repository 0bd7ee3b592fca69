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
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from upgrade_tool.caffe_pb2 import NetParameter, ParamSpec
from upgrade_tool.passes import Finding, PassResult, UpgradePass
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


def upgrade(net: NetParameter, settings: Settings) -> PassResult:
    result = NetParameter()
    result.CopyFrom(net)
    removed = zeroed = layers = 0
    findings: list[Finding] = []
    for index, layer in enumerate(result.layer):
        if layer.type != "BatchNorm":
            continue
        params = layer.param
        verdict = classify(params)
        where = (("layer", index),)
        if verdict is Verdict.NEEDS_HUMAN:
            what = f"BatchNorm {layer.name!r} {_human_reason(params)}"
            if not settings.unsafe_fixes:
                hint = "left unchanged (--unsafe-fixes to upgrade anyway)"
                findings.append(Finding("BN001", f"{what}; {hint}", where, needs_human=True))
                continue
            findings.append(Finding("BN002", f"{what}; upgraded anyway (--unsafe-fixes)", where))
            verdict = _unsafe_verdict(params)
        if verdict is Verdict.MODERN:
            continue
        if verdict is Verdict.STRIP and settings.bn_style is BnStyle.STRIP:
            removed += len(params)
            layers += 1
            del params[:]
            continue
        if all(_settled(p) for p in params):
            continue
        if verdict is Verdict.SHARED:
            kept = "kept the blocks and set their rates to 0"
            findings.append(Finding("BN003", f"BatchNorm {layer.name!r} shares its statistics by name; {kept}", where))
        for param in params:
            param.lr_mult = 0
            param.decay_mult = 0
        zeroed += len(params)
        layers += 1
    if not layers:
        return PassResult(net, findings=tuple(findings))
    counts = {"param blocks removed": removed, "param blocks zeroed": zeroed, "layers": layers}
    return PassResult(result, True, _summary(removed, zeroed, layers), counts, tuple(findings))


def _summary(removed: int, zeroed: int, layers: int) -> str:
    done = []
    if removed:
        done.append(f"removed {removed} param block{'s' * (removed != 1)}")
    if zeroed:
        done.append(f"zeroed {zeroed} param block{'s' * (zeroed != 1)}")
    return f"{' and '.join(done)} in {layers} layer{'s' * (layers != 1)}"


PASS = UpgradePass(
    name="BatchNorm",
    legacy_form="param { lr_mult: 0 } blocks on BatchNorm layers (before Caffe PR #4704)",
    upgrade=upgrade,
)
