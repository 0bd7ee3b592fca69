"""The upgrade passes, in the order Caffe applies them.

A pass is a module with a `PASS` value: a name, the legacy form it removes, its
code (`UP...`, reported when it would change a file), the codes of the findings
it can report, and an `upgrade(document, settings)` function. It decides on the parsed message and
returns a `PassResult`: the upgraded message (a copy), the span edits that make
the same change to the original text, counts and findings. Passes never print,
exit or do I/O; the pipeline proves that the edits and the message agree.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from google.protobuf.message import Message

from upgrade_tool.binder import Path
from upgrade_tool.codes import Code
from upgrade_tool.document import Document, Kind
from upgrade_tool.edits import Edit
from upgrade_tool.reader import Field
from upgrade_tool.schema import Schema
from upgrade_tool.settings import Settings


@dataclass(frozen=True)
class Finding:
    """Something a pass wants the user to know, about one place in the net."""

    code: str
    message: str
    path: Path
    needs_human: bool = False  # True: the pass left it alone and the run exits 1


@dataclass(frozen=True)
class PassResult:
    net: Message
    changed: bool = False
    edits: tuple[Edit, ...] | None = ()  # None: this change cannot be made as text edits
    summary: str = ""  # what was done, e.g. "removed 9 param blocks in 3 layers"
    counts: dict[str, int] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    # Unknown nodes the pass turned into known ones (a user-given mapping, say):
    # the only unknown text an upgrade may change.
    resolved: tuple[Field, ...] = ()
    # The schema the upgraded net is in, where it is not the input's (a pre-V2 fork's net moved to
    # a current one): the text is read back with it, and later passes see that schema.
    schema: Schema | None = None


@dataclass(frozen=True)
class UpgradePass:
    name: str
    legacy_form: str
    upgrade: Callable[[Document, Settings], PassResult]
    code: Code  # reported where the pass would change a file
    findings: tuple[Code, ...] = ()  # the codes of the findings it can report
    kind: Kind = Kind.NET  # nets (also those inside solvers), or solvers


# Caffe's order (upgrade_proto.cpp): each later pass expects the earlier ones done.
PASS_ORDER = ("v0_to_v1", "data_transform", "v1_to_v2", "input_fields", "batchnorm", "solver_type")


@functools.cache
def all_passes() -> tuple[UpgradePass, ...]:
    """Every pass, in `PASS_ORDER`: each module of that name holds its `PASS`."""
    return tuple(importlib.import_module(f"upgrade_tool.passes.{name}").PASS for name in PASS_ORDER)
