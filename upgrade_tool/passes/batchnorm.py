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

Those rules are for a runtime that masks the statistics itself, as BVLC's does
since #4704. The output is for a runtime, the *target* (`--target`, by default
the dialect the file is written for), and `batchnorm.tsv` says what each does:

- masks them itself (BVLC, SSD, YOLO, ..., Intel's MKL engines): the rules above;
  a layer whose engine has learnable scale and bias (Intel's MKL2017/MKLDNN,
  4-5 blobs) keeps blocks 4-5, and so all of them, once blocks 1-3 are zero-rate;
- does not (the forks from before #4704, Intel's default CAFFE engine): the
  blocks are what keeps the solver off the statistics; they are kept (BN006),
  and a layer lacking them is the rule BN005's business;
- forces its own rates (NVIDIA's Caffe): the blocks are inert, so all of them go
  (4- and 5-blob layers too), with a note (BN007); named blocks stay.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import Enum
from typing import cast

from upgrade_tool.binder import Path, Unknown
from upgrade_tool.caffe_pb2 import LayerParameter, NetParameter, ParamSpec
from upgrade_tool.codes import Code, Fix, Level
from upgrade_tool.dialects import Dialect, MaskAnswer, Masks, batchnorm_engine, get_dialect
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
    if len(params) > MAX_STATISTICS or not all(zero_rate(p) for p in params):
        return Verdict.NEEDS_HUMAN
    if any(p.name or p.HasField("share_mode") for p in params):
        return Verdict.SHARED
    return Verdict.STRIP


def zero_rate(param: ParamSpec) -> bool:
    return bool(param.HasField("lr_mult") and param.lr_mult == 0)


def _settled(param: ParamSpec) -> bool:
    """Already as rule 2 (or `--bn-style zero`) leaves it: both rates explicitly 0."""
    return zero_rate(param) and param.HasField("decay_mult") and param.decay_mult == 0


def _unsafe_verdict(params: Sequence[ParamSpec]) -> Verdict:
    """What `--unsafe-fixes` does with a rule-3 layer: rule 2 if named, else rule 1."""
    named = any(p.name or p.HasField("share_mode") for p in params)
    return Verdict.SHARED if named else Verdict.STRIP


def _human_reason(params: Sequence[ParamSpec]) -> str:
    if len(params) > MAX_STATISTICS:
        return f"has {len(params)} param blocks (BatchNorm has {MAX_STATISTICS} statistics)"
    return "has a param block with a nonzero or missing lr_mult (missing means 1)"


def upgrade(doc: Document, settings: Settings) -> PassResult:
    net = cast(NetParameter, doc.message)  # BVLC's class, or a fork's with the same fields
    if "layer" not in net.DESCRIPTOR.fields_by_name:
        return PassResult(net)  # a pre-V2 fork's net: its BatchNorm, if any, is a V1 layer of its own
    target = get_dialect(settings.target or "bvlc")
    result = type(net)()
    result.CopyFrom(net)
    edits: list[Edit] = []
    findings: list[Finding] = []
    removed = zeroed = layers = 0
    reasons: dict[str, None] = {}  # why the target wants the changes made, in order
    kept: list[Path] = []  # layers whose blocks the target needs
    forced: list[Path] = []  # layers whose blocks the target ignores
    for index, layer in enumerate(result.layer):
        if layer.type != "BatchNorm" or not layer.param:
            continue
        where = (("layer", index),)
        answer = target.masks_statistics(engine_of(target, net, layer))
        if answer.masks is not Masks.YES:
            if answer.masks is Masks.NO and classify(layer.param) in (Verdict.STRIP, Verdict.SHARED):
                kept.append(where)
            continue
        if answer.forces_rates:
            verdict = _forced_verdict(layer, doc, target, where, findings)
            if verdict is Verdict.STRIP:
                forced.append(where)
        else:
            verdict = _decide(layer, doc, where, settings, findings, _learnable_extras(answer))
        layer_node = doc.node(where)
        param_nodes = children_named(layer_node.children if layer_node else None, "param")
        inert = answer.forces_rates  # the runtime ignores the rates: there is nothing for `zero` to keep
        if verdict is Verdict.STRIP and (settings.bn_style is BnStyle.STRIP or inert):
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
                edits.extend(zero_rates(doc.text, param, node))
        else:
            continue
        layers += 1
        reasons.setdefault("sets these rates itself" if answer.forces_rates else "masks the statistics itself")
    findings.extend(_notes(target, kept, forced))
    if not layers:
        return PassResult(net, findings=tuple(findings))
    counts = {"param blocks removed": removed, "param blocks zeroed": zeroed, "layers": layers}
    summary = _summary(removed, zeroed, layers)
    forked = target.name != "bvlc" or settings.dialect not in (None, "bvlc") or settings.written_for
    if forked:  # say why, where a fork's net or a fork's rule is involved
        summary += f"; target {target.name}'s BatchNorm {' or '.join(reasons)}"
    return PassResult(result, True, tuple(edits), summary, counts, tuple(findings))


def engine_of(target: Dialect, net: NetParameter, layer: LayerParameter) -> str | None:
    """The engine the target builds the layer with, where the target has several (Intel's Caffe)."""
    if target.name != "intel":
        return None
    return batchnorm_engine(_enum_name(layer.batch_norm_param, "engine"), _text(layer, "engine"), _text(net, "engine"))


def _enum_name(message: object, name: str) -> str | None:
    fields = message.DESCRIPTOR.fields_by_name  # type: ignore[attr-defined]
    field = fields.get(name)
    if field is None or field.enum_type is None or not message.HasField(name):  # type: ignore[attr-defined]
        return None
    value = field.enum_type.values_by_number.get(getattr(message, name))
    return value.name if value is not None else None


def _text(message: object, name: str) -> str | None:
    fields = message.DESCRIPTOR.fields_by_name  # type: ignore[attr-defined]
    if name not in fields or not message.HasField(name):  # type: ignore[attr-defined]
        return None
    value = getattr(message, name)
    return value if isinstance(value, str) else None


def _learnable_extras(answer: MaskAnswer) -> int:
    """Blobs after the three statistics the target's layer may learn (Intel's MKL scale and bias: 2)."""
    row = answer.row
    if row is None or row.learnable_blobs.startswith("none"):
        return 0
    return max((count for count in row.blob_counts if count > MAX_STATISTICS), default=MAX_STATISTICS) - MAX_STATISTICS


def _forced_verdict(
    layer: LayerParameter, doc: Document, target: Dialect, where: Path, findings: list[Finding]
) -> Verdict:
    """NVIDIA's Caffe overwrites every rate: blocks go, unless they share blobs by name (or hold unknown text)."""
    if _unknown_in_params(layer, doc.unknown_within(where), where, findings):
        return Verdict.NEEDS_HUMAN
    blobs = [count for row in target.batchnorm() if row.type_name == "BatchNorm" for count in row.blob_counts]
    limit = max(blobs, default=MAX_STATISTICS)  # a layer with learnable scale and bias has 5
    if len(layer.param) > limit:
        what = f"BatchNorm {layer.name!r} has {len(layer.param)} param blocks, more than its {limit} blobs"
        findings.append(Finding("BN001", f"{what}; left unchanged", where, needs_human=True))
        return Verdict.NEEDS_HUMAN
    if any(p.name or p.HasField("share_mode") for p in layer.param):
        return Verdict.MODERN  # the names share blobs; the rates are the runtime's anyway
    return Verdict.STRIP


def _notes(target: Dialect, kept: list[Path], forced: list[Path]) -> list[Finding]:
    """One note per net for the layers whose blocks the target needs, and for those it ignores."""
    notes = []
    if kept:
        reason = target.masks_statistics().reason
        keeps = "keeps its" if len(kept) == 1 else "keep their"
        what = f"{_count(len(kept), 'BatchNorm layer')} {keeps} zero-rate param blocks: target {reason}"
        notes.append(Finding("BN006", what, kept[0]))
    if forced:
        reason = target.masks_statistics().reason
        layers = _count(len(forced), "BatchNorm layer")
        what = f"removed the param blocks of {layers}, which do nothing: target {reason}"
        notes.append(Finding("BN007", what, forced[0]))
    return notes


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _decide(
    layer: LayerParameter, doc: Document, where: Path, settings: Settings, findings: list[Finding], extras: int = 0
) -> Verdict:
    """The rule for one BatchNorm layer, with a finding where a human should look.

    `extras`: learnable blobs the target's layer has after the statistics; their
    blocks set real rates, so a layer with them keeps every block.
    """
    unknown = doc.unknown_within(where)
    if _unknown_in_params(layer, unknown, where, findings):
        return Verdict.NEEDS_HUMAN
    learnable_blocks = extras and MAX_STATISTICS < len(layer.param) <= MAX_STATISTICS + extras and not unknown
    if learnable_blocks and all(zero_rate(p) for p in layer.param[:MAX_STATISTICS]):
        return Verdict.MODERN  # blocks 4-5 are the scale's and bias's: removing 1-3 would shift them
    verdict = classify(layer.param)
    if unknown:
        what = f"BatchNorm {layer.name!r} has fields the schema does not know ({_names(unknown)})"
    elif verdict is Verdict.NEEDS_HUMAN:
        what = f"BatchNorm {layer.name!r} {_human_reason(layer.param)}"
    else:
        return verdict
    code = "BN004" if unknown else "BN001"
    if not settings.unsafe_fixes:
        hint = "left unchanged"
        findings.append(Finding(code, f"{what}; {hint}", where, needs_human=True))
        return Verdict.NEEDS_HUMAN
    findings.append(Finding("BN002", f"{what}; upgraded anyway (unsafe fixes are on)", where))
    return verdict if verdict is not Verdict.NEEDS_HUMAN else _unsafe_verdict(layer.param)


def _unknown_in_params(layer: LayerParameter, unknown: Sequence[Unknown], where: Path, findings: list[Finding]) -> bool:
    """Whether some of the unknown fields within the layer at `where` lie in its param blocks (BN004 if so).

    Removing or rewriting those blocks would lose what cannot be read, whatever the rules or the settings say.
    """
    if not any(len(u.owner) > len(where) and u.owner[len(where)][0] == "param" for u in unknown):
        return False
    what = f"BatchNorm {layer.name!r} has fields the schema does not know ({_names(unknown)}) in its param blocks"
    findings.append(Finding("BN004", f"{what}; left unchanged, even with unsafe fixes", where, needs_human=True))
    return True


def _names(unknown: Sequence[Unknown]) -> str:
    return ", ".join(sorted({item.node.name for item in unknown}))


def zero_rates(text: str, param: ParamSpec, node: Field | None) -> list[Edit]:
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
_ROI_POOLING = (  # Faster R-CNN's layer: the net is read as that fork's, whose BatchNorm is from before #4704
    'layer {\n  name: "roi_pool5"\n  type: "ROIPooling"\n  bottom: "conv1"\n  bottom: "rois"\n  top: "pool5"\n'
    "  roi_pooling_param { pooled_w: 7 pooled_h: 7 spatial_scale: 0.0625 }\n}\n"
)

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
            fix=Fix.UPGRADE,
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
            _NET + _ZERO * 3 + "  batch_norm_param { moving_average_fractoin: 0.9 }\n}\n",
            level=Level.ERROR,
            needs_human=True,
            fix=Fix.UNSAFE,
        ),
        Code(
            "BN006",
            "batchnorm-blocks-required",
            "the target runtime needs the BatchNorm zero-rate param blocks: kept",
            "Caffe from before PR #4704 (and forks of it: Faster R-CNN, R-FCN, DeepLab, PSPNet, OpenPose, "
            "lim0606's, Intel's default CAFFE engine) does not keep the solver off the BatchNorm statistics by "
            "itself; the `param { lr_mult: 0 }` blocks do. bn-upgrade keeps them for such a target. To move the "
            "net to current Caffe, give `--target bvlc`.",
            _ROI_POOLING + _NET + _ZERO * 3 + "}\n",
            level=Level.NOTE,
            default=False,
        ),
        Code(
            "BN007",
            "batchnorm-rates-ignored",
            "NVIDIA's Caffe sets BatchNorm rates itself: the param blocks, which it ignores, were removed",
            "NVIDIA's BatchNorm overwrites the rates of all its blobs (statistics 0, scale and bias 1) whatever "
            "the file says, so param blocks on it are inert, including 4- and 5-block ones for layers with "
            "learnable scale and bias. They are removed; blocks that share blobs by name are kept.",
            _NET + _ZERO * 3 + "  batch_norm_param { scale_bias: true }\n}\n",
            _NET + "  batch_norm_param { scale_bias: true }\n}\n",
            level=Level.NOTE,
            fix=Fix.UPGRADE,
        ),
    ),
)
