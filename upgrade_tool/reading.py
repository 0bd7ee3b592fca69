"""Read a text with the right schema: BVLC's, a fork's (told from the file, or named), or a `--proto`.

The file is parsed once. Its tree is bound with BVLC's schema, leaving aside what
that schema does not know; if nothing is left aside the file is BVLC's and that
was the only bind. Otherwise the names left aside are looked up in the index of
every shipped dialect (`upgrade_tool.dialects`), and the file is bound again with
the dialects that know all of them, best first, strictly: the first that reads
it with nothing unknown is the file's dialect. Where none does, the file is read
leniently with the closest one (or BVLC's, if no dialect knows any of the names)
and each name left aside is reported: DL001 where some fork knows it (kept as
written), DL002 where no shipped dialect does (a typo, or a fork bn-upgrade does
not ship: needs a human), with the closest known name.

For a fork's file, BVLC's reading is walked rather than bound: the names it
would leave aside, and those it knows, come from the tree and BVLC's
descriptors alone (`dialects.tree_keys`), and BVLC's message, which only served
detection, is built only where it is the reading (no dialect knows any of the
names) or where its outcome is not known otherwise. For where BVLC's reading
fails, its error is still the file's: the dialect's reading vouches for it only
if that dialect reads every field BVLC knows in the file as BVLC does
(`dialects.alike`); otherwise it is bound, to raise its error.

A dialect named with `--dialect` is read strictly: an unknown field is an error
(E002) with the closest name that dialect knows. `--strict` makes every unknown
field an error, and so does `--format canonical` (Caffe's printer cannot keep
text it does not know).

`--target NAME`, for another runtime than the file's own, reads the file with
the target's schema instead (after telling its dialect), keeping what the
target does not know as written and reporting it (DL003, which needs a human:
the target's Caffe would refuse it): the net is upgraded for the target, and
what has no place there is listed. A file of a fork from
before V2 layers is the exception: its V1 layers are the fork's own message, so
it is read with its dialect and the V1 upgrade moves it to the target's schema.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from upgrade_tool.binder import bind
from upgrade_tool.codes import Code, Level
from upgrade_tool.document import Document, Kind, message_at
from upgrade_tool.errors import InputError
from upgrade_tool.reader import Field, clip, parse_tree
from upgrade_tool.schema import BVLC, Schema, load_schema
from upgrade_tool.settings import OutputFormat, Settings

if TYPE_CHECKING:
    from upgrade_tool.dialects import Key

BVLC_NAME = "bvlc"
PROTO_NAME = "proto"  # the name of a schema given with --proto

CODES = (
    Code(
        "DL001",
        "fork-field-kept",
        "a field or value of a Caffe fork, kept as written",
        "No single shipped dialect reads the whole file (it mixes forks, or comes from a fork bn-upgrade does "
        "not ship), but some fork knows this name, so it is kept exactly as written and the rest of the file "
        "is still checked and upgraded. Name the dialect with `--dialect` (or give the fork's `caffe.proto` "
        "with `--proto`) to have it checked too.",
        level=Level.NOTE,
        default=False,
    ),
    Code(
        "DL002",
        "unknown-field",
        "a field or value no known Caffe dialect has: a typo, or an unshipped fork's",
        "bn-upgrade knows BVLC's schema and those of 22 forks. A name none of them has in that place is most "
        "likely misspelt (the message names the closest known one): Caffe would refuse the file. If it is a "
        "field of a fork bn-upgrade does not ship, give that fork's `caffe.proto` with `--proto`.",
        'layer {\n  name: "conv1"\n  type: "Convolution"\n  convolution_param { num_ouput: 16 }\n}\n',
        level=Level.ERROR,
        needs_human=True,
    ),
    Code(
        "DL003",
        "unknown-to-target",
        "a field or value the target runtime does not know, kept as written: its Caffe would refuse the net",
        "With `--target`, the net is upgraded for another runtime than the one it was written for, and read "
        "with that runtime's schema. A fork's field the target has no place for (R-FCN's `psroi_pooling_param` "
        "for current Caffe, say) is kept exactly as written, but the target's Caffe would refuse the file: "
        "port the layer to the target (its `caffe.proto` and code), or replace it, before running the net "
        "there.",
        level=Level.ERROR,
        needs_human=True,
    ),
)


@dataclass(frozen=True)
class Reading:
    """How one text was read."""

    doc: Document
    kind: Kind
    schema: Schema
    dialect: str  # the schema's name: a shipped dialect's, or PROTO_NAME
    reason: str  # why this dialect, in a line
    strict: bool  # re-reading the output must find nothing unknown either
    findings: tuple[tuple[str, str, int], ...] = ()  # (code, message, offset in the text): DL001 / DL002
    written_for: str = ""  # the file's own dialect, where the schema read with is the target's

    @property
    def file_dialect(self) -> str:
        return self.written_for or self.dialect


def detect_kind(tree: list[Field], schema: Schema) -> Kind:
    """Net or solver, by which message's own field names the top level uses."""
    net_fields = set(schema.net.DESCRIPTOR.fields_by_name)
    solver_fields = set(schema.solver.DESCRIPTOR.fields_by_name)
    names = {node.name for node in tree}
    solver_votes = len(names & (solver_fields - net_fields))
    return Kind.SOLVER if solver_votes > len(names & (net_fields - solver_fields)) else Kind.NET


def read(text: str, settings: Settings, kind: Kind | None = None) -> Reading:
    """Parse and bind `text` with the schema its dialect (or the settings) calls for; `InputError` if invalid."""
    reading = _read_as_written(text, settings, kind)
    target = settings.target
    if target is None or target == reading.dialect or reading.dialect == PROTO_NAME:
        return reading
    from upgrade_tool.dialects import get_dialect

    if get_dialect(reading.dialect).pre_v2 and reading.doc.message.ListFields():
        return reading  # its V1 layers are its own message: the V1 upgrade moves the net to the target
    return _read_for(text, reading, get_dialect(target).schema(), target, settings)


def _read_for(text: str, written: Reading, schema: Schema, target: str, settings: Settings) -> Reading:
    """Read again with the target's schema, keeping (and reporting) what the target does not know."""
    strict = settings.strict or settings.output_format is OutputFormat.CANONICAL
    tree = written.doc.tree or []
    doc = _bind(text, tree, written.kind, schema, strict=strict)
    reason = f"{written.reason}; read for target {target}"
    findings = _kept(doc, text, target, for_target=True) if doc.unknown else ()
    return Reading(doc, written.kind, schema, target, reason, not doc.unknown, findings, written.dialect)


def _read_as_written(text: str, settings: Settings, kind: Kind | None) -> Reading:
    tree = parse_tree(text)
    kind = kind or detect_kind(tree, BVLC)
    canonical = settings.output_format is OutputFormat.CANONICAL
    if settings.proto is not None:
        schema = load_schema(settings.proto)
        return _read_strictly_or_keep(text, tree, kind, schema, PROTO_NAME, "the schema given as proto", settings)
    if settings.dialect is not None:
        from upgrade_tool.dialects import get_dialect

        dialect = get_dialect(settings.dialect)
        doc = _bind(text, tree, kind, dialect.schema(), strict=True)
        return Reading(doc, kind, dialect.schema(), dialect.name, "the dialect named in the settings", True)
    strict = settings.strict or canonical
    found = _fork_keys(text, tree, kind)
    if found is not None:
        return _detect(text, tree, kind, _BvlcReading(text, tree, kind), *found, strict=strict)
    doc = _bind(text, tree, kind, BVLC, strict=False)
    if not doc.unknown:
        return Reading(doc, kind, BVLC, BVLC_NAME, "no names beyond BVLC's schema", True)
    from upgrade_tool.dialects import keys_of, used_keys

    keys, used = keys_of(doc.message, doc.unknown, text), used_keys(doc.message, tree, text)
    return _detect(text, tree, kind, _BvlcReading(text, tree, kind, doc), keys, used, strict=strict)


def _fork_keys(text: str, tree: list[Field], kind: Kind) -> tuple[tuple[Key, ...], tuple[Key, ...]] | None:
    """For a file with names beyond BVLC's, the keys BVLC's reading would find, without building its message.

    None for a file of BVLC's names only, or where a value stops the walk: BVLC's reading is bound then.
    """
    from upgrade_tool.dialects import leaves_aside, tree_keys

    root = cast(Descriptor, (BVLC.net if kind is Kind.NET else BVLC.solver).DESCRIPTOR)
    try:
        return tree_keys(root, tree, text) if leaves_aside(root, tree, text) else None
    except InputError:
        return None


class _BvlcReading:
    """BVLC's lenient reading of a fork's file, bound only when its outcome is not known otherwise.

    Where it fails, its error is the file's, whatever a dialect makes of the file;
    where it succeeds, it only told the file's keys. So each way out of `_detect`
    first makes sure it succeeds: by binding it, or because the dialect that read
    the file reads every field BVLC knows there as BVLC does (`reads_alike`).
    """

    def __init__(self, text: str, tree: list[Field], kind: Kind, doc: Document | None = None) -> None:
        self._text, self._tree, self._kind = text, tree, kind
        self._doc = doc

    def document(self) -> Document:
        """The reading itself; raises its `InputError`."""
        if self._doc is None:
            self._doc = _bind(self._text, self._tree, self._kind, BVLC, strict=False)
        return self._doc

    def succeeds(self, read_by: Schema, used: tuple[Key, ...]) -> None:
        """Raise BVLC's error, if it has one, now that `read_by` has read the file without one."""
        from upgrade_tool.dialects.alike import reads_alike

        if self._doc is None and not reads_alike(read_by, used):
            self.document()


def reread(text: str, reading: Reading, settings: Settings) -> Document:
    """Read an upgraded text the way its input was read: the same schema, the same strictness."""
    strict = reading.strict or settings.output_format is OutputFormat.CANONICAL
    return _bind(text, parse_tree(text), reading.kind, reading.schema, strict=strict)


def _bind(text: str, tree: list[Field], kind: Kind, schema: Schema, *, strict: bool) -> Document:
    message = schema.net() if kind is Kind.NET else schema.solver()
    try:
        bound = bind(tree, message, text, strict=strict)
    except InputError as exc:
        if strict and exc.message.startswith("unknown field"):
            raise _unknown_field_error(text, tree, kind, schema, exc) from None
        if exc.message.startswith("unknown value"):
            exc.message += _value_meant(tree, cast(Descriptor, message.DESCRIPTOR), exc.offset, text)
        raise
    return Document(text, tree, bound.message, bound.unknown)


def _read_strictly_or_keep(
    text: str, tree: list[Field], kind: Kind, schema: Schema, name: str, reason: str, settings: Settings
) -> Reading:
    strict = settings.strict or settings.output_format is OutputFormat.CANONICAL
    doc = _bind(text, tree, kind, schema, strict=strict)
    findings = _kept(doc, text, name) if doc.unknown else ()
    return Reading(doc, kind, schema, name, reason, not doc.unknown, findings)


def _detect(
    text: str,
    tree: list[Field],
    kind: Kind,
    bvlc: _BvlcReading,
    keys: tuple[Key, ...],
    used: tuple[Key, ...],
    *,
    strict: bool,
) -> Reading:
    from upgrade_tool.dialects import detect, get_dialect

    detection = detect(keys, used)
    for candidate in detection.fits:
        schema = get_dialect(candidate.dialect).schema()
        try:
            doc = _bind(text, tree, kind, schema, strict=True)
        except InputError:
            continue  # the names fit, the values or nesting do not: the next one
        bvlc.succeeds(schema, used)
        return Reading(doc, kind, schema, candidate.dialect, detection.reason, True)
    name, schema = BVLC_NAME, BVLC
    if detection.best is None:
        doc = bvlc.document()
    else:
        closest = get_dialect(detection.best.dialect)
        # A value its schema refuses (a sign, a word for a bool, a field given twice, a required field
        # missing) is an error, as it is in BVLC's fields: reading on with BVLC's schema would hide it.
        try:
            doc = _bind(text, tree, kind, closest.schema(), strict=False)
        except InputError as refused:
            bvlc.document()
            root = closest.schema().net if kind is Kind.NET else closest.schema().solver
            raise _misspelt_required(tree, cast(Descriptor, root.DESCRIPTOR), refused) from None
        bvlc.succeeds(closest.schema(), used)
        name, schema = closest.name, closest.schema()
    if strict:
        _bind(text, tree, kind, schema, strict=True)  # raises the error of the first name it does not know
    reason = f"no dialect reads it all ({detection.reason}); read with {name}, keeping what it does not know"
    return Reading(doc, kind, schema, name, reason, False, _kept(doc, text, name))


def _kept(doc: Document, text: str, dialect: str, *, for_target: bool = False) -> tuple[tuple[str, str, int], ...]:
    """DL001 / DL002 for each distinct name the reading left aside, at its first place.

    Inside a kept field some fork knows, the names no dialect knows there are
    DL002 too: a typo inside a fork's message is found even when no dialect
    reads the whole file. `for_target`: `dialect` is the runtime named with
    `--target`, which would refuse what it does not know (DL003, not DL001).
    """
    from upgrade_tool.dialects import describe, dialects_knowing, names_known_in, node_keys, role_name, values_known_in

    found: dict[tuple[str, ...], tuple[str, str, int]] = {}
    times: dict[tuple[str, ...], int] = {}

    def note(key: tuple[str, ...], code: str, message: str, offset: int) -> None:
        times[key] = times.get(key, 0) + 1
        found.setdefault(key, (code, message, offset))

    for item in doc.unknown:
        owner = cast(Descriptor, message_at(doc.message, item.owner).DESCRIPTOR)
        key = next(iter(node_keys(owner, item.node, text)), None)
        if key is None or key[:2] == ("caffe.V1LayerParameter", "type"):
            continue  # a V1 type no dialect maps is the V1 pass's finding (VL001)
        knowing = dialects_knowing(key)
        what = describe(key)
        if not knowing:
            names = [*owner.fields_by_name, *names_known_in(role_name(owner))]
            hint = _did_you_mean(item.node.name, names) if len(key) == 2 else ""
            if len(key) == 3 and key[2] != "[]":  # an enum value: the closest one some dialect has there
                hint = _did_you_mean(key[2], values_known_in(key[0], key[1]))
            said = key[1] if len(key) == 2 else f"{key[1]}: {key[2]}"
            message = f"no known Caffe dialect has {said!r} in {owner.name}{hint}; kept as written"
            note(key, "DL002", message, item.node.start)
            continue
        they = f"{_forks(knowing)} {'does' if len(knowing) == 1 else 'do'}"
        if for_target:
            said = f"kept {what!r} as written: target {dialect} does not know it ({they})"
            note(key, "DL003", f"{said}; its Caffe would refuse the net", item.node.start)
        else:
            said = f"kept {what!r} as written: {dialect} does not know it ({they})"
            note(key, "DL001", said, item.node.start)
        for inner, node in _unknown_inside(role_name(owner), item.node):
            hint = _did_you_mean(node.name, names_known_in(inner))
            message = f"no known Caffe dialect has {node.name!r} in {inner.rpartition('.')[2]}{hint}; kept as written"
            note((inner, node.name), "DL002", message, node.start)
    return tuple(
        (code, message + (f" ({times[key]} times)" if times[key] > 1 else ""), offset)
        for key, (code, message, offset) in found.items()
    )


def _unknown_inside(role: str, node: Field) -> Iterator[tuple[str, Field]]:
    """(message role, field) for each field inside `node` that no dialect has in that message."""
    from upgrade_tool.dialects import dialects_knowing, load_index

    index = load_index()
    pending = [(role, node)]
    while pending:
        owner, current = pending.pop()
        inner = index.field_type(owner, current.name) if current.children else None
        if inner is None:
            continue
        for child in reversed(current.children or []):
            if not dialects_knowing((inner, child.name)):
                yield inner, child
            else:
                pending.append((inner, child))


def _forks(names: Iterable[str]) -> str:
    listed = list(names)
    return ", ".join(listed[:4]) + (f" and {len(listed) - 4} more" if len(listed) > 4 else "")


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    return _hint(name, tuple(known))


@functools.lru_cache(maxsize=4096)  # a fork's names recur file after file, and difflib is slow
def _hint(name: str, known: tuple[str, ...]) -> str:
    from upgrade_tool.dialects import suggest

    close = suggest(name, known)
    return f"; did you mean {close!r}?" if close else ""


def _unknown_field_error(text: str, tree: list[Field], kind: Kind, schema: Schema, error: InputError) -> InputError:
    """The strict reader's unknown-field error, with the closest name the schema has there."""
    message = schema.net() if kind is Kind.NET else schema.solver()
    found = _unknown_at(tree, cast(Descriptor, message.DESCRIPTOR), error.offset)
    if found is None:
        return error
    owner, node = found
    from upgrade_tool.dialects import dialects_knowing, role_name

    knowing = dialects_knowing((role_name(owner), node.name))  # a field of other forks: not a typo
    hint = f" (known to {_forks(knowing)})" if knowing else _did_you_mean(node.name, owner.fields_by_name)
    return InputError(f"unknown field {clip(node.name)!r} in {owner.full_name}{hint}", node.start, "E002")


def _value_meant(tree: list[Field], root: Descriptor, offset: int, text: str) -> str:
    """`; did you mean 'MAX'?` for the enum value written at `offset`, if its enum has a close name."""
    for _, field, node in _nodes_towards(tree, root, offset):
        if not node.start <= offset < node.end:
            continue
        if field is None:
            return ""
        if field.enum_type is not None:
            for scalar in node.values or ():
                if scalar.start == offset:
                    return _did_you_mean(text[scalar.token : scalar.end], field.enum_type.values_by_name)
    return ""


def _misspelt_required(tree: list[Field], root: Descriptor, refused: InputError) -> InputError:
    """For a required field missing beside an unknown one of a close name, the error at that name."""
    if not refused.message.startswith("required field"):
        return refused
    for _, field, node in _nodes_towards(tree, root, refused.offset):
        if field is None or field.message_type is None or not node.children or node.start != refused.offset:
            continue
        inner: Descriptor = field.message_type
        given = {child.name for child in node.children}
        missing = [f.name for f in inner.fields if f.is_required and f.name not in given]
        for child in node.children:
            hint = _did_you_mean(child.name, missing) if child.name not in inner.fields_by_name else ""
            if hint:
                return InputError(f"unknown field {clip(child.name)!r} in {inner.full_name}{hint}", child.start, "E002")
    return refused


def _unknown_at(tree: list[Field], root: Descriptor, offset: int) -> tuple[Descriptor, Field] | None:
    """The field starting at `offset` that its message does not have, and that message."""
    for owner, field, node in _nodes_towards(tree, root, offset):
        if field is None and node.start == offset:
            return owner, node
    return None


def _nodes_towards(
    tree: list[Field], root: Descriptor, offset: int
) -> Iterator[tuple[Descriptor, FieldDescriptor | None, Field]]:
    """(message, its field or None, node) for each node on the way to `offset`, no recursion.

    Each message's nodes come in order, then those of its known message fields that span `offset`.
    """
    pending: list[tuple[Descriptor, list[Field]]] = [(root, tree)]
    while pending:
        owner, nodes = pending.pop()
        for node in nodes:
            field = owner.fields_by_name.get(node.name)
            yield owner, field, node
            if (
                field is not None
                and field.message_type is not None
                and node.children
                and node.start <= offset < node.end
            ):
                pending.append((field.message_type, node.children))
