"""One upgrade, end to end and pure: parse -> passes -> render -> verify.

Text comes in, a `Result` goes out; nothing here reads files, prints or exits.

Each pass decides on the parsed message and hands back both the upgraded message
and span edits that make the same change to the text. The pipeline applies the
edits, parses the new text and requires it to equal the pass's message, with
every span the schema did not know carried over byte for byte. After the last
pass it runs all passes once more on the output: they must find nothing to do.
In canonical format the final message is printed as Caffe prints it, and that
text is proven the same way. Any failed proof raises `SelfCheckError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from upgrade_tool.binder import bind
from upgrade_tool.canonical import render
from upgrade_tool.document import Document
from upgrade_tool.edits import Edit, apply_edits, map_back
from upgrade_tool.errors import InputError, SelfCheckError
from upgrade_tool.passes import Finding, all_passes
from upgrade_tool.reader import Field, parse_tree
from upgrade_tool.schema import Schema, load_schema
from upgrade_tool.settings import OutputFormat, Settings
from upgrade_tool.source import Source


class Kind(str, Enum):
    NET = "net"
    SOLVER = "solver"


@dataclass(frozen=True)
class Located:
    """A finding, placed at the line and column (in the input) of what it is about."""

    code: str
    message: str
    line: int
    column: int
    needs_human: bool = False


@dataclass(frozen=True)
class Result:
    """The outcome of upgrading one text."""

    text: str  # the output text
    changed: bool  # some pass changed the net
    kind: Kind
    summaries: tuple[tuple[str, str], ...] = ()  # (pass name, what it did), passes that acted
    counts: tuple[tuple[str, dict[str, int]], ...] = ()
    findings: tuple[Located, ...] = ()
    unknown_fields: tuple[str, ...] = ()  # kept as they were written, not validated

    @property
    def needs_human(self) -> bool:
        return any(f.needs_human for f in self.findings)


@dataclass(frozen=True)
class _Run:
    doc: Document
    changed: bool
    summaries: tuple[tuple[str, str], ...]
    counts: tuple[tuple[str, dict[str, int]], ...]
    findings: tuple[Located, ...]


def detect_kind(tree: list[Field], schema: Schema) -> Kind:
    """Net or solver, by which message's own field names the top level uses."""
    net_fields = set(schema.net.DESCRIPTOR.fields_by_name)
    solver_fields = set(schema.solver.DESCRIPTOR.fields_by_name)
    names = {node.name for node in tree}
    solver_votes = len(names & (solver_fields - net_fields))
    return Kind.SOLVER if solver_votes > len(names & (net_fields - solver_fields)) else Kind.NET


def parse_document(text: str, settings: Settings, kind: Kind | None = None) -> tuple[Document, Kind]:
    """Text to a `Document`; `InputError` if it is not valid."""
    schema = load_schema(settings.proto)
    tree = parse_tree(text)
    kind = kind or detect_kind(tree, schema)
    message = schema.net() if kind is Kind.NET else schema.solver()
    canonical = settings.output_format is OutputFormat.CANONICAL
    try:
        bound = bind(tree, message, text, strict=settings.strict or canonical)
    except InputError as exc:
        if canonical and not settings.strict and exc.message.startswith("unknown "):
            exc.message += " (--format canonical cannot keep it; the default --format preserve can)"
        raise
    return Document(text, tree, bound.message, bound.unknown), kind


def upgrade_source(source: Source, settings: Settings, kind: Kind | None = None) -> Result:
    """Upgrade one decoded input; raises `InputError` or `SelfCheckError`."""
    doc, kind = parse_document(source.text, settings, kind)
    run = run_passes(doc, kind, settings, source)
    if run.changed:
        _require_stable(run.doc, kind, settings)
    text = run.doc.text
    if settings.output_format is OutputFormat.CANONICAL:
        text = render(run.doc.message)
        if text != run.doc.text:
            _prove_canonical(text, run.doc, kind, settings)
    unknown = tuple(dict.fromkeys(_describe_unknown(doc, item.node) for item in doc.unknown))
    return Result(text, run.changed, kind, run.summaries, run.counts, run.findings, unknown)


def run_passes(doc: Document, kind: Kind, settings: Settings, source: Source | None = None) -> _Run:
    """Run every pass in order; each change is applied to the text and proven."""
    changed = False
    summaries: list[tuple[str, str]] = []
    counts: list[tuple[str, dict[str, int]]] = []
    findings: list[Located] = []
    history: list[list[Edit]] = []
    if kind is not Kind.NET:
        return _Run(doc, False, (), (), ())
    for upgrade_pass in all_passes():
        outcome = upgrade_pass.upgrade(doc, settings)
        findings.extend(_locate(finding, doc, history, source) for finding in outcome.findings)
        if not outcome.changed:
            continue
        if outcome.edits is None:
            raise SelfCheckError(f"the {upgrade_pass.name} pass cannot express its change as text edits")
        edits = list(outcome.edits)
        new_doc, _ = parse_document(apply_edits(doc.text, edits), settings, kind)
        _require_same(new_doc, outcome.net, doc, upgrade_pass.name)
        history.append(edits)
        doc = new_doc
        changed = True
        summaries.append((upgrade_pass.name, outcome.summary))
        counts.append((upgrade_pass.name, outcome.counts))
    return _Run(doc, changed, tuple(summaries), tuple(counts), tuple(findings))


def _require_same(new_doc: Document, expected: object, old_doc: Document, name: str) -> None:
    if new_doc.message.SerializeToString(deterministic=True) != expected.SerializeToString(deterministic=True):  # type: ignore[attr-defined]
        raise SelfCheckError(f"after the {name} pass, the text does not read back as the upgraded net")
    if new_doc.unknown_texts() != old_doc.unknown_texts():
        raise SelfCheckError(f"the {name} pass changed text the schema does not know")


def _require_stable(doc: Document, kind: Kind, settings: Settings) -> None:
    again = run_passes(doc, kind, settings)
    if again.changed:
        raise SelfCheckError("a second run would upgrade the output again")


def _prove_canonical(text: str, doc: Document, kind: Kind, settings: Settings) -> None:
    try:
        reread, _ = parse_document(text, settings, kind)
    except InputError as exc:
        raise SelfCheckError(f"the canonical output does not parse: {exc.message}") from None
    _require_same(reread, doc.message, doc, "canonical printer")
    _require_stable(reread, kind, settings)


def _locate(finding: Finding, doc: Document, history: list[list[Edit]], source: Source | None) -> Located:
    node = doc.node(finding.path)
    offset = node.start if node is not None else 0
    for edits in reversed(history):
        offset = map_back(offset, edits)
    line, column = source.position(offset) if source is not None else (0, 0)
    return Located(finding.code, finding.message, line, column, finding.needs_human)


def _describe_unknown(doc: Document, node: Field) -> str:
    if node.values and len(node.values) == 1 and node.values[0].kind == "ident":
        return f"{node.name}: {doc.text[node.values[0].start : node.values[0].end]}"
    return node.name
