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

from collections import Counter
from dataclasses import dataclass

from google.protobuf.message import Message

from upgrade_tool.binder import Path, bind
from upgrade_tool.canonical import render
from upgrade_tool.document import Document, Kind, embedded_nets, graft
from upgrade_tool.edits import Edit, apply_edits, map_back
from upgrade_tool.errors import InputError, SelfCheckError
from upgrade_tool.passes import Finding, all_passes
from upgrade_tool.reader import Field, parse_tree
from upgrade_tool.schema import Schema, load_schema
from upgrade_tool.settings import OutputFormat, Settings
from upgrade_tool.source import Source


@dataclass(frozen=True)
class Located:
    """A finding, placed at the line and column (in the input) of what it is about."""

    code: str
    message: str
    line: int
    column: int
    needs_human: bool = False


@dataclass(frozen=True)
class Change:
    """What one pass did to the net, and the first place in the input it changed."""

    code: str  # the pass's code, e.g. "UP005"
    name: str  # the pass's name, e.g. "BatchNorm"
    summary: str  # e.g. "removed 9 param blocks in 3 layers"
    counts: dict[str, int]
    line: int = 0  # 1-based; 0 where there is no text (a binary model) or it cannot be placed
    column: int = 0


@dataclass(frozen=True)
class Result:
    """The outcome of upgrading one text."""

    text: str  # the output text
    changed: bool  # some pass changed the net
    kind: Kind
    changes: tuple[Change, ...] = ()  # the passes that acted, in order
    findings: tuple[Located, ...] = ()
    unknown_fields: tuple[str, ...] = ()  # kept as they were written, not validated
    notices: tuple[str, ...] = ()  # e.g. that comments could not be kept

    @property
    def needs_human(self) -> bool:
        return any(f.needs_human for f in self.findings)

    @property
    def summaries(self) -> tuple[tuple[str, str], ...]:
        """(pass name, what it did) for each pass that acted."""
        return tuple((change.name, change.summary) for change in self.changes)

    @property
    def counts(self) -> tuple[tuple[str, dict[str, int]], ...]:
        return tuple((change.name, change.counts) for change in self.changes)


@dataclass(frozen=True)
class _Run:
    doc: Document
    changed: bool
    changes: tuple[Change, ...]
    findings: tuple[Located, ...]
    notices: tuple[str, ...]


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
    return Result(text, run.changed, kind, run.changes, run.findings, unknown, run.notices)


def _targets(doc: Document, kind: Kind, pass_kind: Kind) -> list[Path]:
    """Where in the document a pass for `pass_kind` applies (the root, or nets in a solver)."""
    if pass_kind is kind:
        return [()]
    if pass_kind is Kind.NET and kind is Kind.SOLVER:
        return embedded_nets(doc.message)
    return []


def run_passes(doc: Document, kind: Kind, settings: Settings, source: Source | None = None) -> _Run:
    """Run every selected pass in order; each change is applied to the text and proven."""
    changes: list[Change] = []
    findings: list[Located] = []
    notices: list[str] = []
    history: list[list[Edit] | None] = []  # None: the text was replaced whole
    enabled = settings.codes.enabled
    for upgrade_pass in all_passes():
        if not enabled(upgrade_pass.code):
            continue
        for path in _targets(doc, kind, upgrade_pass.kind):
            outcome = upgrade_pass.upgrade(doc.view(path), settings)
            for finding in outcome.findings:
                if settings.codes.enabled_code(finding.code):
                    findings.append(_locate(finding, path, doc, history, source))
            if not outcome.changed:
                continue
            expected = graft(doc.message, path, outcome.net)
            line, column = _first_change(outcome.edits, doc, path, history, source)
            if outcome.edits is None:
                new_doc = _rewrite_canonically(doc, expected, kind, settings, upgrade_pass.name)
                notices.append(f"comments and layout could not be kept ({upgrade_pass.name} rewrites the whole net)")
                history.append(None)
            else:
                new_doc, _ = parse_document(apply_edits(doc.text, outcome.edits), settings, kind)
                _require_same(new_doc, expected, doc, upgrade_pass.name, outcome.resolved)
                history.append(list(outcome.edits))
            doc = new_doc
            change = Change(upgrade_pass.code.code, upgrade_pass.name, outcome.summary, outcome.counts, line, column)
            changes.append(change)
    return _Run(doc, bool(changes), tuple(changes), tuple(findings), tuple(dict.fromkeys(notices)))


def _first_change(
    edits: tuple[Edit, ...] | None,
    doc: Document,
    path: Path,
    history: list[list[Edit] | None],
    source: Source | None,
) -> tuple[int, int]:
    """Line and column in the input of the first text a pass changes (its target's start if it rewrites all)."""
    if edits:
        offset: int | None = min(edit.start for edit in edits)
    else:
        node = doc.node(path) if path else None
        offset = node.start if node is not None else 0
    return _input_position(offset, history, source)


def _input_position(offset: int | None, history: list[list[Edit] | None], source: Source | None) -> tuple[int, int]:
    """An offset in the current text, mapped back through the edits to the input's line and column."""
    for edits in reversed(history):
        offset = None if edits is None or offset is None else map_back(offset, edits)
    if source is None or offset is None:
        return 0, 0
    return tuple(source.position(offset))  # type: ignore[return-value]


def _rewrite_canonically(doc: Document, expected: Message, kind: Kind, settings: Settings, name: str) -> Document:
    """Replace the whole text with the canonical print of `expected` (no unknown fields to lose)."""
    if doc.unknown:
        raise InputError(
            f"the {name} upgrade rewrites the whole net and would lose fields the schema does not know "
            f"({doc.unknown[0].node.name!r} here); give their definitions with --proto",
            doc.unknown[0].node.start,
        )
    text = render(expected)
    new_doc, _ = parse_document(text, settings, kind)
    _require_same(new_doc, expected, doc, name)
    return new_doc


def _require_same(
    new_doc: Document, expected: Message, old_doc: Document, name: str, resolved: tuple[Field, ...] = ()
) -> None:
    if _wire(new_doc.message) != _wire(expected):
        raise SelfCheckError(f"after the {name} pass, the text does not read back as the upgraded net")
    gone = {id(node) for node in resolved}
    kept = [old_doc.text[u.node.start : u.node.stop] for u in old_doc.unknown if id(u.node) not in gone]
    # Each text exactly once more, wherever the pass put it: moving known fields
    # around can change which of two unknown fields comes first (as in the binary route).
    if Counter(new_doc.unknown_texts()) != Counter(kept):
        raise SelfCheckError(f"the {name} pass changed text the schema does not know")


def _wire(message: Message) -> bytes:
    data: bytes = message.SerializeToString(deterministic=True)
    return data


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


def _locate(
    finding: Finding, root: Path, doc: Document, history: list[list[Edit] | None], source: Source | None
) -> Located:
    """Place a finding at its node, mapped back through the edits to the input's own text."""
    node = doc.node(root + finding.path)
    line, column = _input_position(node.start if node is not None else None, history, source)
    return Located(finding.code, finding.message, line, column, finding.needs_human)


def _describe_unknown(doc: Document, node: Field) -> str:
    if node.values and len(node.values) == 1 and node.values[0].kind == "ident":
        return f"{node.name}: {doc.text[node.values[0].start : node.values[0].end]}"
    return node.name
