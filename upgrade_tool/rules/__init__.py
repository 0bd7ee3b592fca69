"""Lint rules: mistakes that load fine and give wrong numbers, beside the upgrades that retire old syntax.

A rule is a module with a `RULE` value: its `Code` (summary, explanation, a
before/after example, whether it needs a human, whether and how it can be
fixed, whether it is on by default) and a `check(document, context)` function.
It decides on the parsed, already upgraded net and returns a `RuleResult`: its
findings, each with the path of what it is about, and, where the fix is safe
or at least useful, the fixed net and the span edits that make the same change
to the text. Rules never print, exit or touch files. The pipeline runs every
selected rule in `RULE_ORDER` in the same reading of the file as the passes,
applies a fix only when asked (`--fix` for safe fixes, `--unsafe-fixes` for
unsafe ones) and proves it exactly as it proves an upgrade.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from upgrade_tool.codes import Code
from upgrade_tool.document import Document
from upgrade_tool.netrole import NetRole
from upgrade_tool.passes import Finding, PassResult
from upgrade_tool.settings import Settings

if TYPE_CHECKING:
    from upgrade_tool.dialects import Dialect


@dataclass(frozen=True)
class Context:
    """What a rule may know beyond the net: the run's settings, whose Caffe reads it, and what it is for."""

    settings: Settings
    dialect: Dialect  # the schema the file was read with
    target: Dialect  # the runtime the output is for
    role: NetRole


@dataclass(frozen=True)
class RuleResult:
    findings: tuple[Finding, ...] = ()
    fix: PassResult | None = None  # the fixed net and edits, if the rule can fix what it found


@dataclass(frozen=True)
class Rule:
    code: Code
    check: Callable[[Document, Context], RuleResult]


# The order rules run in; a fix of an earlier one is proven before the next one looks.
RULE_ORDER = (
    "statistics_trained",
    "inference_batch_statistics",
    "validation_batch_statistics",
    "statistics_frozen",
    "scale_missing",
    "eps_clamped",
    "moving_average_range",
)


@functools.cache
def all_rules() -> tuple[Rule, ...]:
    """Every rule, in `RULE_ORDER`: each module of that name holds its `RULE`."""
    return tuple(importlib.import_module(f"upgrade_tool.rules.{name}").RULE for name in RULE_ORDER)
