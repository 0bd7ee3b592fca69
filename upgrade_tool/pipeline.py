"""One upgrade, end to end and pure: parse -> passes -> render -> verify.

Text comes in, a `Result` goes out; nothing here reads files, prints or exits.
Every result that differs from its input has been proven before it is returned:
the output parses back to exactly the upgraded message, and running the passes
on it once more changes nothing and renders the same text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from google.protobuf.message import Message

from upgrade_tool import caffe_pb2
from upgrade_tool.binder import bind, locate
from upgrade_tool.canonical import render
from upgrade_tool.errors import InputError, SelfCheckError
from upgrade_tool.passes import Finding, all_passes
from upgrade_tool.reader import Field, parse_tree
from upgrade_tool.settings import Settings
from upgrade_tool.source import Source


class Kind(str, Enum):
    NET = "net"
    SOLVER = "solver"


_NET_ONLY = frozenset(caffe_pb2.NetParameter.DESCRIPTOR.fields_by_name) - frozenset(
    caffe_pb2.SolverParameter.DESCRIPTOR.fields_by_name
)
_SOLVER_ONLY = frozenset(caffe_pb2.SolverParameter.DESCRIPTOR.fields_by_name) - _NET_ONLY


@dataclass(frozen=True)
class Located:
    """A finding with the line and column of the layer it is about."""

    finding: Finding
    line: int
    column: int

    @property
    def code(self) -> str:
        return self.finding.code

    @property
    def message(self) -> str:
        return self.finding.message

    @property
    def needs_human(self) -> bool:
        return self.finding.needs_human


@dataclass(frozen=True)
class Result:
    """The outcome of upgrading one text."""

    text: str  # the output (canonical rendering of the upgraded net)
    changed: bool  # some pass changed the net
    kind: Kind
    summaries: tuple[tuple[str, str], ...] = ()  # (pass name, what it did), passes that acted
    counts: tuple[tuple[str, dict[str, int]], ...] = ()
    findings: tuple[Located, ...] = ()

    @property
    def needs_human(self) -> bool:
        return any(f.needs_human for f in self.findings)


@dataclass(frozen=True)
class _Run:
    net: Message
    changed: bool
    summaries: tuple[tuple[str, str], ...]
    counts: tuple[tuple[str, dict[str, int]], ...]
    findings: tuple[Finding, ...]


def detect_kind(tree: list[Field]) -> Kind:
    """Net or solver, by which message's own field names the top level uses."""
    names = {node.name for node in tree}
    return Kind.SOLVER if len(names & _SOLVER_ONLY) > len(names & _NET_ONLY) else Kind.NET


def parse(source: Source, kind: Kind | None = None) -> tuple[Message, list[Field], Kind]:
    """Text to (message, syntax tree, kind); `InputError` if it is not valid."""
    tree = parse_tree(source.text)
    kind = kind or detect_kind(tree)
    message = caffe_pb2.NetParameter() if kind is Kind.NET else caffe_pb2.SolverParameter()
    return bind(tree, message, source.text).message, tree, kind


def run_passes(net: Message, settings: Settings) -> _Run:
    changed = False
    summaries: list[tuple[str, str]] = []
    counts: list[tuple[str, dict[str, int]]] = []
    findings: list[Finding] = []
    if isinstance(net, caffe_pb2.NetParameter):
        for upgrade_pass in all_passes():
            outcome = upgrade_pass.upgrade(net, settings)
            net = outcome.net
            findings.extend(outcome.findings)
            if outcome.changed:
                changed = True
                summaries.append((upgrade_pass.name, outcome.summary))
                counts.append((upgrade_pass.name, outcome.counts))
    return _Run(net, changed, tuple(summaries), tuple(counts), tuple(findings))


def upgrade_source(source: Source, settings: Settings, kind: Kind | None = None) -> Result:
    """Upgrade one decoded input; raises `InputError` or `SelfCheckError`."""
    net, tree, kind = parse(source, kind)
    run = run_passes(net, settings)
    text = render(run.net)
    if text != source.text:
        verify(text, run.net, kind, settings)
    findings = tuple(_locate(finding, tree, source) for finding in run.findings)
    return Result(text, run.changed, kind, run.summaries, run.counts, findings)


def _locate(finding: Finding, tree: list[Field], source: Source) -> Located:
    node = locate(tree, finding.path)
    line, column = source.position(node.start if node is not None else 0)
    return Located(finding, line, column)


def verify(text: str, expected: Message, kind: Kind, settings: Settings) -> None:
    """Prove an output: it reads back as `expected`, and a second run is a no-op."""
    try:
        reread, _, _ = parse(Source(text), kind)
    except InputError as exc:
        raise SelfCheckError(f"the output does not parse: {exc.message}") from None
    if _wire(reread) != _wire(expected):
        raise SelfCheckError("the output does not read back as the upgraded net")
    again = run_passes(reread, settings)
    if again.changed:
        raise SelfCheckError("a second run would upgrade the output again")
    if render(again.net) != text:
        raise SelfCheckError("a second run renders different text")


def _wire(message: Message) -> bytes:
    data: bytes = message.SerializeToString(deterministic=True)
    return data
