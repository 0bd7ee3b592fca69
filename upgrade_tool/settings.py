"""The options of one run, as one immutable value."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class BnStyle(str, Enum):
    """How legacy BatchNorm param blocks are upgraded."""

    STRIP = "strip"  # remove them (Caffe at PR #4704)
    ZERO = "zero"  # keep them with lr_mult and decay_mult 0 (Caffe master)


class OutputFormat(str, Enum):
    PRESERVE = "preserve"  # the input's own text, edited only where an upgrade applies
    CANONICAL = "canonical"  # byte-identical to Caffe's own TextFormat printer


@dataclass(frozen=True)
class Settings:
    bn_style: BnStyle = BnStyle.STRIP
    unsafe_fixes: bool = False
    output_format: OutputFormat = OutputFormat.PRESERVE
    strict: bool = False  # fields the schema does not know are errors, not kept as text
    proto: str | None = None  # a fork's caffe.proto (or compiled descriptor set) to read with
    # V1 layer type enum names Caffe cannot map, as the user maps them: (("ROI_POOLING", "ROIPooling"),)
    v1_types: tuple[tuple[str, str], ...] = ()
