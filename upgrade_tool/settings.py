"""The options of one run, as one immutable value."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from upgrade_tool.selection import DEFAULT, CodeSelection

# The spellings the Python API takes (mypy catches `bn_style="zeroo"`).
BnStyleName = Literal["strip", "zero"]
OutputFormatName = Literal["preserve", "canonical"]
KindName = Literal["net", "solver"]


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
    dialect: str | None = None  # a shipped dialect to read with; None: told from each file
    target: str | None = None  # the runtime the output is for; None: the file's own dialect
    fix: bool = False  # apply the safe fixes of findings (`--fix`); unsafe ones need `unsafe_fixes`
    codes: CodeSelection = DEFAULT  # which codes are on (--select / --ignore)
    written_for: str | None = None  # the file's own dialect, where it is read with another target's schema
