"""The upgrade passes, in the order Caffe applies them.

A pass is a module with a `PASS` value: a name, a one-line description, and an
`upgrade(net, settings)` function that returns a `PassResult` (a new net, counts,
findings) without touching its input. Passes never print, exit or do I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from upgrade_tool.caffe_pb2 import NetParameter
from upgrade_tool.settings import Settings

# A place in the net: (field name, index among that field's values) steps,
# e.g. (("layer", 3),) is the fourth `layer`.
Path = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Finding:
    """Something a pass wants the user to know, about one place in the net."""

    code: str
    message: str
    path: Path
    needs_human: bool = False  # True: the pass left it alone and the run exits 1


@dataclass(frozen=True)
class PassResult:
    net: NetParameter
    changed: bool = False
    summary: str = ""  # what was done, e.g. "removed 9 param blocks in 3 layers"
    counts: dict[str, int] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class UpgradePass:
    name: str
    legacy_form: str
    upgrade: Callable[[NetParameter, Settings], PassResult]


def all_passes() -> tuple[UpgradePass, ...]:
    from upgrade_tool.passes import batchnorm

    return (batchnorm.PASS,)
