"""Whose BatchNorm keeps the solver off its statistics: answers from `batchnorm.tsv`, pure.

Three kinds of runtime (the facts' README and issue 10):
- it masks them itself (BVLC since PR #4704, SSD, YOLO, Intel's MKL engines, ...):
  `param { lr_mult: 0 }` blocks for the statistics are redundant;
- it does not (Faster R-CNN's, R-FCN's, DeepLab's, ... and Intel's default CAFFE
  engine): those blocks are what keeps the statistics from being trained;
- it forces its own rates (NVIDIA's Caffe), overwriting whatever the file says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from upgrade_tool.dialects.tables import BatchNormRow, Masks

DEFAULT_ENGINE = "DEFAULT"


@dataclass(frozen=True)
class MaskAnswer:
    """The answer for one dialect, layer type and engine, with where in the fork it is decided."""

    masks: Masks
    forces_rates: bool  # the layer overwrites the file's rates (for the blobs `row.how` names)
    source: str  # "path:line" in the fork; "" when there is no such layer
    reason: str  # one line, naming the dialect and the engine
    row: BatchNormRow | None = None


def masks_statistics(
    dialect: str, rows: Sequence[BatchNormRow], engine: str | None = None, layer_type: str = "BatchNorm"
) -> MaskAnswer:
    """Does `dialect`'s `layer_type` mask its statistics itself with `engine`?

    `engine` is the engine's name as the fork spells it (`CAFFE`, `MKL2017`, ...;
    Intel's `MKLDNN:CPU` style strings count by the name before the colon); None or
    `DEFAULT` mean the engine the layer gets when it names none (see
    `batchnorm_engine` for how Intel picks it). Rows that only note a semantic (no
    masking answer) are not used.
    """
    rows = [row for row in rows if row.type_name == layer_type and row.masks is not None]
    if not rows:
        return MaskAnswer(Masks.NOT_APPLICABLE, False, "", f"{dialect} has no {layer_type} layer")
    name = _engine_name(engine)
    if name == DEFAULT_ENGINE:
        matching = [row for row in rows if row.is_default_engine] or rows
    else:
        matching = [row for row in rows if name in row.engines]
    if not matching:
        known = ", ".join(dict.fromkeys(engine for row in rows for engine in row.engines))
        reason = f"{dialect}'s {layer_type} has no engine {engine!r} (it has {known})"
        return MaskAnswer(Masks.NOT_APPLICABLE, False, "", reason)
    row = matching[0]
    answer = row.masks
    assert answer is not None
    forces = answer is Masks.YES and row.overwrites_rates
    where = _mask_source(row)
    return MaskAnswer(
        answer, forces, where, f"{_subject(dialect, row, name)} {_verdict(answer, forces)} ({where})", row
    )


def _engine_name(engine: str | None) -> str:
    if engine is None or not engine.strip():
        return DEFAULT_ENGINE
    return engine.split(":", 1)[0].strip().upper()


def _mask_source(row: BatchNormRow) -> str:
    refs = row.sources
    return str(next((ref for ref in refs if ref.what == "mask"), refs[0]))


def _subject(dialect: str, row: BatchNormRow, engine: str) -> str:
    engines = " or ".join(row.engines) or row.engine
    if engine == DEFAULT_ENGINE and len(row.engines) == 1 and "(only)" not in row.engine:
        return f"{dialect}'s {row.type_name} (engine {engines}, the default)"
    if "(only)" in row.engine:
        return f"{dialect}'s {row.type_name}"
    return f"{dialect}'s {row.type_name} (engine {engines})"


def _verdict(answer: Masks, forces: bool) -> str:
    if answer is Masks.NOT_APPLICABLE:
        return "has no statistics to mask"
    if forces:
        return "forces its own rates whatever the file says"
    if answer is Masks.YES:
        return "masks its statistics itself"
    return "does not mask its statistics: the net's zero-rate param blocks must"


def batchnorm_engine(param_engine: str | None, layer_engine: str | None = None, net_engine: str | None = None) -> str:
    """The engine Intel's Caffe builds a BatchNorm layer with (`src/caffe/layer_factory.cpp:400-433`).

    `batch_norm_param.engine` when it is not DEFAULT; else the layer's `engine`
    string, else the net's (Intel's net hands its engine to layers that name none);
    else CAFFE, as `batchnorm.tsv`'s CAFFE row states.
    """
    for engine in (param_engine, layer_engine, net_engine):
        name = _engine_name(engine)
        if name != DEFAULT_ENGINE:
            return name
    return "CAFFE"


# How a behaviour reads in a listing or the README table.
PHRASES = {
    (Masks.YES, False): "masks statistics",
    (Masks.YES, True): "forces its own rates",
    (Masks.NO, False): "needs zero-rate blocks",
    (Masks.NOT_APPLICABLE, False): "no statistics",
}


def describe_batchnorm(dialect: str, rows: Sequence[BatchNormRow]) -> str:
    """One phrase per layer type: "needs zero-rate blocks; MKL2017, MKLDNN: masks statistics"."""
    answered = [row for row in rows if row.masks is not None]
    layer_types = list(dict.fromkeys(row.type_name for row in answered))
    parts = [] if "BatchNorm" in layer_types else ["no BatchNorm"]
    for layer_type in layer_types:
        default = masks_statistics(dialect, answered, None, layer_type)
        phrase = _phrase(default)
        others: dict[str, list[str]] = {}
        for row in answered:
            for engine in row.engines if row.type_name == layer_type else ():
                answer = masks_statistics(dialect, answered, engine, layer_type)
                if _phrase(answer) != phrase:
                    others.setdefault(_phrase(answer), []).append(engine)
        if others:
            engine = ", ".join(default.row.engines) if default.row is not None else ""
            phrase += f" (engine {engine}, the default); " + "; ".join(
                f"{', '.join(dict.fromkeys(engines))}: {other}" for other, engines in others.items()
            )
        parts.append(phrase if layer_type == "BatchNorm" else f"{layer_type}: {phrase}")
    return "; ".join(parts)


def _phrase(answer: MaskAnswer) -> str:
    row = answer.row
    if (
        answer.masks is Masks.YES
        and answer.forces_rates
        and row is not None
        and not row.learnable_blobs.startswith("none")
    ):
        return "forces zero rates on its statistics"  # its learnable blobs keep the file's rates
    return PHRASES[answer.masks, answer.forces_rates]
