"""One upgrade, end to end and pure: read -> passes -> rules -> render -> verify.

Text comes in, a `Result` goes out; nothing here reads files, prints or exits.

The text is read once with the schema of its dialect (`upgrade_tool.reading`).
Each pass decides on the parsed message and hands back both the upgraded message
and span edits that make the same change to the text. The pipeline applies the
edits, reads the new text the same way and requires it to equal the pass's
message, with every span the schema did not know carried over byte for byte.
The lint rules then look at the upgraded net in the same reading; a fix they
offer is applied only when asked, and proven the same way. Last, all passes and
rules run once more on the output: they must find nothing to do. In canonical
format the final message is printed as Caffe prints it, and that text is proven
the same way. Any failed proof raises `SelfCheckError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from google.protobuf.message import Message

from upgrade_tool.binder import Path
from upgrade_tool.canonical import render
from upgrade_tool.codes import Code, Fix
from upgrade_tool.document import Document, Kind, embedded_nets, graft
from upgrade_tool.edits import Edit, apply_edits, map_back
from upgrade_tool.errors import InputError, SelfCheckError
from upgrade_tool.passes import Finding, PassResult, all_passes
from upgrade_tool.reader import Field
from upgrade_tool.reading import PROTO_NAME, Reading, detect_kind, read, reread
from upgrade_tool.settings import OutputFormat, Settings
from upgrade_tool.source import Source

if TYPE_CHECKING:
    from upgrade_tool.rules import Context

__all__ = ["Change", "Located", "Result", "detect_kind", "parse_document", "upgrade_source"]


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
    """What one pass (or one rule's fix) did to the net, and the first place in the input it changed."""

    code: str  # the pass's code, e.g. "UP005", or the rule's
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
    dialect: str = "bvlc"  # the schema the input was read with
    dialect_reason: str = ""
    target: str = "bvlc"  # the runtime the output is for
    roles: tuple[tuple[str, str], ...] = ()  # (role, why) of the net, or of each net in a solver

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
class _Step:
    """One thing that may change the net: a pass, or the fix of a rule."""

    code: Code
    name: str
    kind: Kind  # what it applies to: nets (also those in solvers), or solvers
    run: object  # a pass's `upgrade(doc, settings)`, or a rule (see `_outcome`)


@dataclass(frozen=True)
class _Run:
    doc: Document
    changes: tuple[Change, ...]
    findings: tuple[Located, ...]
    notices: tuple[str, ...]
    reading: Reading  # how the output reads: the input's reading, or the target's after a change of schema
    settings: Settings
    contexts: dict[Path, Context]  # the rules' context of each net, made from `doc` where nothing changed

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def parse_document(text: str, settings: Settings, kind: Kind | None = None) -> tuple[Document, Kind]:
    """Text to a `Document`, read as `upgrade_source` reads it; `InputError` if it is not valid."""
    reading = read(text, settings, kind)
    return reading.doc, reading.kind


def for_file(settings: Settings, reading: Reading) -> Settings:
    """The settings one file is upgraded with: its dialect and its target resolved."""
    dialect = None if reading.dialect == PROTO_NAME else reading.dialect
    target = settings.target or dialect or "bvlc"
    return dataclasses.replace(settings, dialect=dialect, target=target, written_for=reading.written_for or None)


def upgrade_source(source: Source, settings: Settings, kind: Kind | None = None) -> Result:
    """Upgrade one decoded input; raises `InputError` or `SelfCheckError`."""
    reading = _read(source.text, settings, kind)
    settings = for_file(settings, reading)
    read_findings = tuple(_reading_findings(reading, settings, source))
    doc = reading.doc
    unknown = tuple(dict.fromkeys(_describe_unknown(doc, item.node) for item in doc.unknown))
    # From here the run alone holds the input's document, so its syntax tree goes as
    # soon as the first change is read back: two trees are never held at once.
    handed = [doc]
    del doc
    reading = dataclasses.replace(reading, doc=_without_tree(handed[0]))
    run = run_steps(reading, handed, settings, source)
    contexts = run.contexts
    if run.changed:
        contexts = require_stable(run.reading, run.doc, run.settings).contexts  # made from the output
    text = run.doc.text
    if settings.output_format is OutputFormat.CANONICAL:
        text = render(run.doc.message)
        if text != run.doc.text:
            kept = _kept_unknown(run.doc)
            run = dataclasses.replace(run, doc=_without_tree(run.doc))  # its tree goes before the new one is built
            _prove_canonical(text, run.reading, run.doc, kept, run.settings)
    return Result(
        text,
        run.changed,
        reading.kind,
        run.changes,
        read_findings + run.findings,
        unknown,
        run.notices,
        reading.file_dialect,
        reading.reason,
        settings.target or "bvlc",
        tuple(_roles(run.doc, reading.kind, contexts)),
    )


def _without_tree(doc: Document) -> Document:
    """The document as a reading keeps it once a run owns the tree: its message, no nodes."""
    return Document(doc.text, None, doc.message)


def _read(text: str, settings: Settings, kind: Kind | None) -> Reading:
    try:
        return read(text, settings, kind)
    except InputError as exc:
        canonical = settings.output_format is OutputFormat.CANONICAL
        if canonical and not settings.strict and settings.dialect is None and exc.code == "E002":
            exc.message += " (canonical output cannot keep it; the default, preserving output, can)"
        raise


def _roles(doc: Document, kind: Kind, contexts: dict[Path, Context]) -> Iterator[tuple[str, str]]:
    """What the net is for (each net, in a solver), as `-v` and the report show it.

    The rules' contexts, where they were made from this document, already know.
    """
    from upgrade_tool.netrole import classify

    for path in _targets(doc, kind, Kind.NET):
        known = contexts.get(path)
        decided = known.role if known is not None else classify(doc.view(path).message, path[0][0] if path else None)
        yield decided.role.value, decided.reason


def _reading_findings(reading: Reading, settings: Settings, source: Source) -> Iterator[Located]:
    from upgrade_tool.codes import by_code

    for code, message, offset in reading.findings:
        if settings.codes.enabled_code(code):
            line, column = source.position(offset)
            yield Located(code, message, line, column, by_code()[code].needs_human)


def _targets(doc: Document, kind: Kind, step_kind: Kind) -> list[Path]:
    """Where in the document a step for `step_kind` applies (the root, or nets in a solver)."""
    if step_kind is kind:
        return [()]
    if step_kind is Kind.NET and kind is Kind.SOLVER:
        return embedded_nets(doc.message)
    return []


def _steps(settings: Settings) -> list[_Step]:
    """The passes with a code on (their own, or a finding's) in order, then the selected rules in order."""
    from upgrade_tool.rules import all_rules

    enabled = settings.codes.enabled
    passes = [p for p in all_passes() if any(enabled(code) for code in (p.code, *p.findings))]
    steps = [_Step(p.code, p.name, p.kind, p.upgrade) for p in passes]
    steps += [_Step(r.code, r.code.code, Kind.NET, r) for r in all_rules() if enabled(r.code)]
    return steps


# How a change reaches a document that has no text to edit (a binary model): (doc, expected, outcome, name) -> doc
Take = Callable[[Document, Message, PassResult, str], Document]


def run_steps(
    reading: Reading, handed: list[Document], settings: Settings, source: Source | None = None, take: Take | None = None
) -> _Run:
    """Run every selected pass, then every selected rule; each change is applied and proven.

    Text changes are applied to the text, which is read back and must equal the
    step's message; a binary model (`take`) takes the message, and `take` proves
    nothing it does not know was lost. Both routes run this one loop.

    The document to start from comes in `handed`, which this empties: where the
    caller keeps no other reference, each document (and its syntax tree) is let
    go before the text that replaces it is read, not after.
    """
    doc = handed.pop()
    changes: list[Change] = []
    findings: list[Located] = []
    notices: list[str] = []
    contexts: dict[Path, Context] = {}  # per net, for the rules: made once
    history: list[list[Edit] | None] = []  # None: the text was replaced whole
    kind = reading.kind
    for step in _steps(settings):
        for path in _targets(doc, kind, step.kind):
            outcome, applies = _outcome(step, doc, path, settings, contexts)
            for finding in outcome.findings:
                if applies and _fixed_by(finding, step) or not (applies or _about_the_input(finding)):
                    continue
                if settings.codes.enabled_code(finding.code):
                    findings.append(_locate(finding, path, doc, history, source))
            if not (outcome.changed and applies):
                continue
            expected = graft(doc.message, path, outcome.net)
            line, column = _first_change(outcome.edits, doc, path, history, source)
            change = Change(step.code.code, step.name, outcome.summary, outcome.counts, line, column)
            if take is not None:
                new_doc = take(doc, expected, outcome, step.name)
            elif outcome.edits is None:
                new_doc = _rewrite_canonically(reading, doc, expected, settings, step.name)
                notices.append(f"comments and layout could not be kept ({step.name} rewrites the whole net)")
                history.append(None)
            else:
                if outcome.schema is not None:  # the net moved to the target's schema: read it so from now on
                    reading = dataclasses.replace(reading, schema=outcome.schema, dialect=settings.target or "bvlc")
                    settings = dataclasses.replace(settings, dialect=settings.target)
                kept = _kept_unknown(doc, outcome.resolved)
                text, edits = doc.text, outcome.edits
                del doc, outcome  # the old tree goes before the new text is made, and read
                history.append(list(edits))
                new_doc = reread(apply_edits(text, edits), reading, settings)
                del text
                _require_same(new_doc, expected, kept, step.name)
            doc = new_doc
            changes.append(change)
    return _Run(doc, tuple(changes), tuple(findings), tuple(dict.fromkeys(notices)), reading, settings, contexts)


def _outcome(
    step: _Step, doc: Document, path: Path, settings: Settings, contexts: dict[Path, Context]
) -> tuple[PassResult, bool]:
    """What a step finds and would change at `path`, and whether its change is to be applied."""
    from upgrade_tool.rules import Rule

    view = doc.view(path)
    if not isinstance(step.run, Rule):
        # a pass whose upgrade is off runs for its findings only
        return step.run(view, settings), settings.codes.enabled(step.code)  # type: ignore[operator]
    context = contexts.get(path)
    if context is None:
        context = contexts[path] = _rule_context(view, settings, path)
    checked = step.run.check(view, context)
    fix = checked.fix
    wanted = (step.code.fix is Fix.SAFE and (settings.fix or settings.unsafe_fixes)) or (
        step.code.fix is Fix.UNSAFE and settings.unsafe_fixes
    )
    if fix is None:
        return PassResult(view.message, findings=checked.findings), False
    return dataclasses.replace(fix, findings=checked.findings), wanted


def _about_the_input(finding: Finding) -> bool:
    """Whether a finding holds without its pass's upgrade (not one telling what the upgrade did)."""
    from upgrade_tool.codes import by_code

    known = by_code().get(finding.code)
    return known is None or known.fix is not Fix.UPGRADE


def _fixed_by(finding: Finding, step: _Step) -> bool:
    """A rule's own finding is gone once its fix is applied."""
    return finding.code == step.code.code and step.code.fix in (Fix.SAFE, Fix.UNSAFE)


def _rule_context(view: Document, settings: Settings, path: Path) -> Context:
    from upgrade_tool.dialects import get_dialect
    from upgrade_tool.netrole import classify
    from upgrade_tool.rules import Context

    dialect = get_dialect(settings.dialect or "bvlc")
    target = get_dialect(settings.target or dialect.name)
    return Context(settings, dialect, target, classify(view.message, path[0][0] if path else None))


def _first_change(
    edits: tuple[Edit, ...] | None,
    doc: Document,
    path: Path,
    history: list[list[Edit] | None],
    source: Source | None,
) -> tuple[int, int]:
    """Line and column in the input of the first text a step changes (its target's start if it rewrites all)."""
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
    line, column = source.position(offset)
    return line, column


def _rewrite_canonically(reading: Reading, doc: Document, expected: Message, settings: Settings, name: str) -> Document:
    """Replace the whole text with the canonical print of `expected` (no unknown fields to lose)."""
    if doc.unknown:
        raise InputError(
            f"the {name} upgrade rewrites the whole net and would lose fields the schema does not know "
            f"({doc.unknown[0].node.name!r} here); name their dialect, or give the fork's schema",
            doc.unknown[0].node.start,
            "E007",
        )
    new_doc = reread(render(expected), reading, settings)
    _require_same(new_doc, expected, _kept_unknown(doc), name)
    return new_doc


def _kept_unknown(doc: Document, resolved: tuple[Field, ...] = ()) -> Counter[bytes]:
    """The unknown fields a step must keep (all but those it resolved), each as a digest of its text.

    Digests, not the texts: in a fork's net the unknown text can be most of the file.
    """
    gone = {node.key for node in resolved}
    return Counter(_digest(doc.text, u.node) for u in doc.unknown if u.node.key not in gone)


def _digest(text: str, node: Field) -> bytes:
    span = text[node.start : node.stop].encode("utf-8", "surrogatepass")  # one string, one byte string
    return hashlib.blake2b(span).digest()


def _require_same(new_doc: Document, expected: Message, kept: Counter[bytes], name: str) -> None:
    # Digests of the serialized messages: one of them is held at a time, not both.
    if hashlib.blake2b(_wire(new_doc.message)).digest() != hashlib.blake2b(_wire(expected)).digest():
        raise SelfCheckError(f"after the {name} pass, the text does not read back as the upgraded net")
    # Each text exactly once more, wherever the pass put it: moving known fields
    # around can change which of two unknown fields comes first (as in the binary route).
    if _kept_unknown(new_doc) != kept:
        raise SelfCheckError(f"the {name} pass changed text the schema does not know")


def _wire(message: Message) -> bytes:
    data: bytes = message.SerializeToString(deterministic=True)
    return data


def require_stable(reading: Reading, doc: Document, settings: Settings, take: Take | None = None) -> _Run:
    """A second run over the output must change nothing; the run, which made its contexts from `doc`."""
    again = run_steps(reading, [doc], settings, None, take)
    if again.changed:
        raise SelfCheckError("a second run would upgrade the output again")
    return again


def _prove_canonical(text: str, reading: Reading, doc: Document, kept: Counter[bytes], settings: Settings) -> None:
    try:
        again = reread(text, reading, settings)
    except InputError as exc:
        raise SelfCheckError(f"the canonical output does not parse: {exc.message}") from None
    _require_same(again, doc.message, kept, "canonical printer")
    require_stable(reading, again, settings)


def _locate(
    finding: Finding, root: Path, doc: Document, history: list[list[Edit] | None], source: Source | None
) -> Located:
    """Place a finding at its node, mapped back through the edits to the input's own text.

    Without a text (a binary model) the message says where instead: `(at layer[2])`.
    """
    if doc.tree is None:
        where = describe_path(root + finding.path)
        message = f"{finding.message} (at {where})" if where else finding.message
        return Located(finding.code, message, 0, 0, finding.needs_human)
    node = doc.node(root + finding.path)
    line, column = _input_position(node.start if node is not None else None, history, source)
    return Located(finding.code, finding.message, line, column, finding.needs_human)


def describe_path(path: Path) -> str:
    """`layer[2].param[0]`: a place in a message, for where there are no lines."""
    return ".".join(f"{name}[{index}]" for name, index in path)


def _describe_unknown(doc: Document, node: Field) -> str:
    if node.values and len(node.values) == 1 and node.values[0].kind == "ident":
        return f"{node.name}: {doc.text[node.values[0].start : node.values[0].end]}"
    return node.name
