"""Binary models (.caffemodel, .binaryproto): the same passes, the weights byte for byte.

A .caffemodel is a NetParameter in protobuf's wire format whose layers carry
their weights as BlobProto messages: hundreds of megabytes of packed floats that
no upgrade reads. So a model is never decoded whole. A scan of the wire format
builds a *skeleton*: the net with every blob replaced by a placeholder (the blob
without its values, plus the blob's number in an extra field). The passes run on
the skeleton as on a parsed text. The output is a list of pieces: each message
serialized without its blobs, with each blob's original bytes spliced back in
where protobuf itself would write it. Weights are never copied or decoded, and
the pieces are written one by one: peak memory stays near the file's size.

Blobs live in LayerParameter.blobs (7), V1LayerParameter.blobs (6) and
V0LayerParameter.blobs (50), the last inside V1LayerParameter.layer (1).

The output is proven like text output: scanned back, its skeleton must equal the
upgraded one, each blob must hold exactly the bytes of the input blob it came
from, and the passes run on it once more must change nothing. Fields the schema
does not know are kept (protobuf carries them through); a pass that would drop
one is refused.

Finding codes:

| code   | meaning                                                                 |
|--------|-------------------------------------------------------------------------|
| BIN001 | the file holds a BlobProto (a mean file) or a BlobProtoVector, not a net |
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from google.protobuf import unknown_fields
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from upgrade_tool import caffe_pb2
from upgrade_tool.binder import Path, Unknown
from upgrade_tool.codes import Code, Level
from upgrade_tool.document import Document, Kind
from upgrade_tool.errors import InputError, SelfCheckError
from upgrade_tool.passes import PassResult
from upgrade_tool.pipeline import Change, Located, Result, describe_path, require_stable, run_steps
from upgrade_tool.reader import Field, Scalar
from upgrade_tool.reading import PROTO_NAME, Reading
from upgrade_tool.schema import Schema, load_schema
from upgrade_tool.settings import Settings
from upgrade_tool.wire import (
    FIXED_WIDTH,
    I32,
    I64,
    LEN,
    MAX_FIELD_NUMBER,
    VARINT,
    Buffer,
    Joined,
    WireError,
    encode_tag,
    encode_varint,
    fields,
    length_prefix,
    read_varint,
    same_bytes,
)

if TYPE_CHECKING:
    from google._upb._message import Descriptor as _UpbDescriptor
    from google._upb._message import FieldDescriptor as _UpbFieldDescriptor

    Desc: TypeAlias = Descriptor | _UpbDescriptor
    FieldDesc: TypeAlias = FieldDescriptor | _UpbFieldDescriptor

CODES = (
    Code(
        "BIN001",
        "binary-not-a-net",
        "a binary file holds a BlobProto (a mean file) or a BlobProtoVector, not a net",
        "`.binaryproto` files are usually mean images. They have nothing to upgrade and are left as they are.",
        level=Level.NOTE,
    ),
)

# Where the weights are: message name -> its `repeated BlobProto` field number.
BLOB_FIELD = {"LayerParameter": 7, "V1LayerParameter": 6, "V0LayerParameter": 50}
# Messages holding layers: message name -> the layer fields the scan walks into.
LAYER_FIELDS = {"NetParameter": (2, 100), "V1LayerParameter": (1,)}
# BlobProto's value arrays (data, diff, double_data, double_diff) -> wire type of one value.
BLOB_VALUES = {5: I32, 6: I32, 8: I64, 9: I64}
PLACEHOLDER_ID = MAX_FIELD_NUMBER  # the field of a placeholder that says which blob it stands for
TEXT_PROBE = 1 << 16  # how much of a file to look at to tell text from binary
NOT_TEXT = bytes([*range(0, 9), *range(14, 32), 127])  # control bytes no prototxt contains
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
NOT_A_MODEL = "not a binary Caffe model (or a truncated one)"

Piece = bytes | memoryview
Span = tuple[int, int]  # [start, end) of a blob's bytes


@dataclass(frozen=True, eq=False)
class BinaryResult:
    """The outcome of upgrading one binary model.

    `output` is the upgraded model as pieces to write one after another (the
    memoryviews share the input's buffer: the weights are never copied), or
    None when nothing changed and the file must stay as it is.
    """

    output: tuple[Piece, ...] | None
    changed: bool
    changes: tuple[Change, ...] = ()
    findings: tuple[Located, ...] = ()
    unknown_fields: tuple[str, ...] = ()  # kept as they were, not validated
    blobs: int = 0  # blobs in the model, all carried over byte for byte

    @property
    def summaries(self) -> tuple[tuple[str, str], ...]:
        return tuple((change.name, change.summary) for change in self.changes)

    def to_bytes(self) -> bytes | None:
        return None if self.output is None else b"".join(self.output)

    def report(self) -> Result:
        """The same outcome as a text `Result` (with no text), for reporting."""
        return Result("", self.changed, Kind.NET, self.changes, self.findings, self.unknown_fields)


# An unknown field: where it is, and what it is on the wire (to prove it kept).
_Kept = tuple[Unknown, tuple[object, ...]]


def upgrade_binary(data: bytes | bytearray | memoryview, settings: Settings) -> BinaryResult:
    """Upgrade one binary model; raises `InputError` or `SelfCheckError`."""
    view = memoryview(data).cast("B")
    _reject_foreign(view)
    net_class = _schema(settings).net
    settings = dataclasses.replace(settings, target=settings.target or settings.dialect or "bvlc")
    not_a_net = _not_a_net(view, net_class.DESCRIPTOR)
    if not_a_net is not None:
        return BinaryResult(None, False, findings=(not_a_net,))
    net, blobs = _scan(view, net_class)
    values, unknown = _unknown(net)
    names = tuple(dict.fromkeys(_name(item, values) for item, _ in unknown))
    if settings.strict and names:
        raise InputError(f"{names[0]} is not in the schema (strict: every field must be known)", code="E002")
    reading = _reading(net, settings)
    run = run_steps(reading, [reading.doc], settings, None, _take)
    if not run.changed:
        return BinaryResult(None, False, (), run.findings, names, len(blobs))
    views = [view[start:end] for start, end in blobs]
    pieces = _render(run.doc.message, views)
    _prove(pieces, run.doc.message, views, net_class, reading, settings)
    return BinaryResult(tuple(pieces), True, run.changes, run.findings, names, len(blobs))


def _reading(net: Message, settings: Settings) -> Reading:
    """A binary model as the pipeline sees a reading: its skeleton net, with no text of its own."""
    name = PROTO_NAME if settings.proto is not None else settings.dialect or "bvlc"
    return Reading(_document(net), Kind.NET, _schema(settings), name, "named" if name != "bvlc" else "", False)


def _document(net: Message) -> Document:
    values, unknown = _unknown(net)
    return Document(values, None, net, tuple(item for item, _ in unknown))


def _take(doc: Document, expected: Message, outcome: PassResult, name: str) -> Document:
    """A step's message is the model's new skeleton: nothing the schema does not know may be lost on the way."""
    keys = [key for _, key in _unknown(doc.message)[1]]  # in the order the document's own nodes were made
    before = [(item, key) for item, key in zip(doc.unknown, keys, strict=True)]
    _require_kept(before, _unknown(expected)[1], outcome.resolved, name)
    return _document(expected)


def _schema(settings: Settings) -> Schema:
    """The schema a model is read with: --proto's, else the named dialect's (default BVLC's)."""
    if settings.proto is not None:
        return load_schema(settings.proto)
    from upgrade_tool.dialects import get_dialect

    return get_dialect(settings.dialect or "bvlc").schema()


def _reject_foreign(view: memoryview) -> None:
    """One clear line for files that are plainly not a binary Caffe model."""
    if not len(view):
        raise InputError("an empty file is not a Caffe model", code="E006")
    head = bytes(view[:TEXT_PROBE])
    if head.startswith(HDF5_SIGNATURE):
        raise InputError(
            "an HDF5 file (Caffe's .caffemodel.h5): bn-upgrade reads protobuf .caffemodel files only", code="E006"
        )
    if head.translate(None, NOT_TEXT) == head and _utf8(head, cut=len(view) > TEXT_PROBE):
        raise InputError("a text file, not a binary model (name it .prototxt to upgrade it as text)", code="E006")


def _utf8(head: bytes, cut: bool) -> bool:
    """Whether `head` is UTF-8 (if `cut`, a character may be split at its end)."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return cut and exc.reason == "unexpected end of data"
    return True


# -- reading: the skeleton -----------------------------------------------------


def _scan(buf: Buffer, net_class: type[Message]) -> tuple[Message, list[Span]]:
    """The skeleton net of a binary model, and where each of its blobs is."""
    blobs: list[Span] = []
    try:
        skeleton = _skeleton(buf, 0, len(buf), net_class.DESCRIPTOR, blobs)
    except WireError as exc:
        raise InputError(f"{NOT_A_MODEL}: {exc}", code="E006") from None
    net = net_class()
    try:
        net.ParseFromString(bytes(skeleton))
    except DecodeError as exc:
        raise InputError(f"{NOT_A_MODEL}: {exc}", code="E006") from None
    _require_utf8(net)
    return net, blobs


def _require_utf8(message: Message, path: Path = ()) -> None:
    """Protobuf hands back a string that is not UTF-8 as bytes, which no pass can copy."""
    for fd, value in message.ListFields():
        values = list(value) if fd.is_repeated else [value]
        if fd.type == FieldDescriptor.TYPE_STRING and any(isinstance(item, bytes) for item in values):
            where = ".".join(filter(None, (_describe(path), fd.name)))
            raise InputError(f"{where} is not valid UTF-8 text (Caffe would read it; bn-upgrade cannot)", code="E006")
        if fd.message_type is not None:
            for index, child in enumerate(values):
                _require_utf8(child, (*path, (fd.name, index)))


def _skeleton(buf: Buffer, start: int, end: int, desc: Desc, blobs: list[Span]) -> bytearray:
    """The message in `buf[start:end]` with each blob replaced by a placeholder."""
    walked = {fd.number: fd for fd in _heavy_fields(desc)}
    out = bytearray()
    copied = start
    for field in fields(buf, start, end):
        fd = walked.get(field.number)
        if fd is None or field.wire_type != LEN:  # a mismatched wire type is an unknown field to protobuf
            continue
        out += buf[copied : field.start]
        if field.number == BLOB_FIELD.get(desc.name):
            inner = _placeholder(buf, field.value, field.end, len(blobs))
            blobs.append((field.value, field.end))
        else:
            assert fd.message_type is not None  # _heavy_fields keeps message fields only
            inner = _skeleton(buf, field.value, field.end, fd.message_type, blobs)
        out += length_prefix(field.number, len(inner))
        out += inner
        copied = field.end
    out += buf[copied:end]
    return out


def _placeholder(buf: Buffer, start: int, end: int, blob_id: int) -> bytearray:
    """A blob without its value arrays, marked with its number."""
    out = bytearray()
    copied = start
    for field in fields(buf, start, end):
        element = BLOB_VALUES.get(field.number)
        if element is None or field.wire_type not in (LEN, element):
            continue
        if field.wire_type == LEN and (field.end - field.value) % FIXED_WIDTH[element]:
            raise WireError("a blob's packed values are not a whole number of values", field.start)
        out += buf[copied : field.start]
        copied = field.end
    out += buf[copied:end]
    out += encode_tag(PLACEHOLDER_ID, VARINT) + encode_varint(blob_id)
    return out


def _heavy_fields(desc: Desc) -> list[FieldDesc]:
    """The fields of `desc` that hold blobs or layers, by field number."""
    numbers = (*LAYER_FIELDS.get(desc.name, ()), BLOB_FIELD.get(desc.name))
    found = (desc.fields_by_number.get(number) for number in numbers if number is not None)
    return sorted((fd for fd in found if fd is not None and fd.message_type is not None), key=lambda fd: fd.number)


def _not_a_net(buf: Buffer, net: Desc) -> Located | None:
    """For a file without layers: BIN001 if it holds blobs, an error if it is not a net either."""
    try:
        layers = any(f.number in LAYER_FIELDS["NetParameter"] and f.wire_type == LEN for f in fields(buf, 0, len(buf)))
        return None if layers else _blobs_or_error(buf, net)
    except WireError as exc:
        raise InputError(f"{NOT_A_MODEL}: {exc}", code="E006") from None


def _blobs_or_error(buf: Buffer, net: Desc) -> Located | None:
    blob = caffe_pb2.BlobProto.DESCRIPTOR
    if _fits(buf, 0, len(buf), blob):
        return Located("BIN001", "a BlobProto (a mean file?), not a net: nothing to upgrade", 0, 0)
    top = list(fields(buf, 0, len(buf)))
    if all(f.number == 1 and f.wire_type == LEN and _fits(buf, f.value, f.end, blob) for f in top):
        return Located("BIN001", "a BlobProtoVector, not a net: nothing to upgrade", 0, 0)
    if not _fits(buf, 0, len(buf), net):
        strangers = sorted({f.number for f in top if not _fits(buf, f.start, f.end, net)})
        raise InputError(
            f"not a Caffe net: no layers, and fields Caffe does not know ({_numbers(strangers)})", code="E006"
        )
    return None


def _fits(buf: Buffer, start: int, end: int, desc: Desc) -> bool:
    """Every field is one `desc` has, written with its wire type."""
    try:
        return all(
            (fd := desc.fields_by_number.get(f.number)) is not None and f.wire_type in _wire_types(fd)
            for f in fields(buf, start, end)
        )
    except WireError:
        return False


def _wire_types(fd: FieldDesc) -> tuple[int, ...]:
    wire = {
        FieldDescriptor.TYPE_DOUBLE: I64, FieldDescriptor.TYPE_FIXED64: I64, FieldDescriptor.TYPE_SFIXED64: I64,
        FieldDescriptor.TYPE_FLOAT: I32, FieldDescriptor.TYPE_FIXED32: I32, FieldDescriptor.TYPE_SFIXED32: I32,
        FieldDescriptor.TYPE_STRING: LEN, FieldDescriptor.TYPE_BYTES: LEN, FieldDescriptor.TYPE_MESSAGE: LEN,
        FieldDescriptor.TYPE_GROUP: 3,
    }.get(fd.type, VARINT)  # fmt: skip
    packable = fd.is_repeated and wire in (VARINT, I64, I32)
    return (wire, LEN) if packable else (wire,)


def _numbers(numbers: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    return f"field{'s' * (len(numbers) != 1)} {shown}{', ...' if len(numbers) > 5 else ''}"


# -- the passes ----------------------------------------------------------------


def _unknown(net: Message) -> tuple[str, list[_Kept]]:
    """What the schema does not know in `net`, as nodes like the ones the text binder makes.

    A field is named by its number ("field 950"). An enum value the schema has no
    name for (a fork's V1 layer type, say) is named by its field, like in text,
    and its number is its value, written in a small text of such numbers (the
    document's text: a binary model has none of its own), so a pass reads it as
    it reads a value written in a prototxt.
    """
    values = ""
    kept: list[_Kept] = []
    for path, desc, item in _unknown_items(net):
        known = desc.fields_by_number.get(item.field_number)
        if known is not None and known.enum_type is not None and item.wire_type == VARINT:
            number = item.data - (1 << 64) if item.data >= 1 << 63 else item.data
            node = Field(known.name, len(values))
            start = len(values)
            values += f"{number} "
            node.values = (Scalar("number", start, len(values) - 1, start + (number < 0)),)
            node.end = node.stop = len(values) - 1
        else:
            node = Field(f"field {item.field_number}", 0)
        kept.append((Unknown(path, node), (item.field_number, item.wire_type, _frozen(item.data))))
    return values, kept


def _name(item: Unknown, values: str) -> str:
    """How an unknown field is listed: `field 950 in layer[1]`, `type: 99 in layers[3]`."""
    value = f": {values[item.node.values[0].start : item.node.values[0].end]}" if item.node.values else ""
    return f"{item.node.name}{value} in {_describe(item.owner) or 'the net'}"


def _unknown_items(message: Message, path: Path = ()) -> Iterator[tuple[Path, Desc, Any]]:
    """(owner path, owner descriptor, unknown field) for everything protobuf kept unparsed."""
    desc = message.DESCRIPTOR
    found = unknown_fields.UnknownFieldSet(message)
    for index in range(len(found)):
        item = found[index]
        if not (desc.name == "BlobProto" and item.field_number == PLACEHOLDER_ID):
            yield path, desc, item
    for fd, value in message.ListFields():
        if fd.message_type is None:
            continue
        values = value if fd.is_repeated else [value]
        for index, child in enumerate(values):
            yield from _unknown_items(child, (*path, (fd.name, index)))


def _frozen(data: object) -> object:
    """An unknown field's value as something comparable (groups hold field sets)."""
    if isinstance(data, (int, bytes)):
        return data
    group = [data[i] for i in range(len(data))]  # type: ignore[index, arg-type]
    return tuple((item.field_number, item.wire_type, _frozen(item.data)) for item in group)


def _require_kept(before: list[_Kept], after: list[_Kept], resolved: tuple[Field, ...], name: str) -> None:
    gone = {id(node) for node in resolved}
    expected = Counter(key for item, key in before if id(item.node) not in gone)
    kept = Counter(key for _, key in after)
    if kept != expected:
        lost = [item.node.name for item, key in before if key in expected - kept] or ["?"]
        raise InputError(
            f"the {name} upgrade would lose fields the schema does not know ({lost[0]} here); "
            "name their dialect, or give the fork's schema",
            code="E007",
        )


def _describe(path: Path) -> str:
    return describe_path(path)


# -- writing: the pieces ---------------------------------------------------------


def _render(net: Message, blobs: Sequence[memoryview]) -> list[Piece]:
    order = [_blob_id(blob) for blob in _walk_blobs(net)]
    if sorted(order) != list(range(len(blobs))):
        raise SelfCheckError("the upgraded net does not hold each of the model's blobs exactly once")
    return _encode(net, blobs)


def _encode(message: Message, blobs: Sequence[memoryview]) -> list[Piece]:
    """`message` on the wire, as protobuf writes it, with each placeholder's blob in its place."""
    desc = message.DESCRIPTOR
    heavy = _heavy_fields(desc)
    if not heavy:
        return [message.SerializeToString()]
    light = type(message)()
    light.CopyFrom(message)
    for fd in heavy:
        light.ClearField(fd.name)
    groups = [(fd.number, _encode_field(message, fd, blobs)) for fd in heavy]
    return _merge(light.SerializeToString(), groups, desc)


def _encode_field(message: Message, fd: FieldDesc, blobs: Sequence[memoryview]) -> list[Piece]:
    pieces: list[Piece] = []
    for value in _values(message, fd):
        body: list[Piece]
        if fd.number == BLOB_FIELD.get(message.DESCRIPTOR.name):
            body = [blobs[_blob_id(value)]]
        else:
            body = _encode(value, blobs)
        pieces.append(length_prefix(fd.number, sum(len(piece) for piece in body)))
        pieces.extend(body)
    return pieces


def _merge(head: bytes, groups: list[tuple[int, list[Piece]]], desc: Desc) -> list[Piece]:
    """Put each group where protobuf writes it: among known fields by number, before unknown ones."""
    out: list[Piece] = []
    copied = 0
    for field in fields(head, 0, len(head)):
        while groups and (field.number > groups[0][0] or field.number not in desc.fields_by_number):
            out.append(head[copied : field.start])
            copied = field.start
            out.extend(groups.pop(0)[1])
    out.append(head[copied:])
    for _, group in groups:
        out.extend(group)
    return [piece for piece in out if len(piece)]


def _values(message: Message, fd: FieldDesc) -> list[Message]:
    value = getattr(message, fd.name)
    if fd.is_repeated:
        return list(value)
    return [value] if message.HasField(fd.name) else []


def _walk_blobs(message: Message) -> Iterator[Message]:
    """Every blob in `message`, in the order `_encode` writes them."""
    desc = message.DESCRIPTOR
    for fd in _heavy_fields(desc):
        for value in _values(message, fd):
            if fd.number == BLOB_FIELD.get(desc.name):
                yield value
            else:
                yield from _walk_blobs(value)


def _blob_id(blob: Message) -> int:
    ids = [f for f in _wire_fields(blob.SerializeToString()) if f[0] == PLACEHOLDER_ID]
    if not ids:
        raise SelfCheckError("an upgrade pass made a blob of its own, or rebuilt one field by field")
    return ids[-1][1]


def _wire_fields(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(number, varint value or 0, the field's bytes) for each field of a small message."""
    for field in fields(data, 0, len(data)):
        value = read_varint(data, field.value, field.end)[0] if field.wire_type == VARINT else 0
        yield field.number, value, data[field.start : field.end]


# -- the proof -------------------------------------------------------------------


def _prove(
    pieces: list[Piece],
    upgraded: Message,
    blobs: Sequence[memoryview],
    net_class: type[Message],
    reading: Reading,
    settings: Settings,
) -> None:
    """Read the output back: same skeleton, same blob bytes, and nothing left to upgrade."""
    output = Joined(pieces)
    try:
        reread, spans = _scan(output, net_class)
    except InputError as exc:
        raise SelfCheckError(f"the binary output does not read back: {exc}") from None
    expected, order = _without_ids(upgraded)
    actual, written = _without_ids(reread)
    if _wire(actual) != _wire(expected) or written != list(range(len(spans))):
        raise SelfCheckError("the binary output does not read back as the upgraded net")
    for (start, end), blob_id in zip(spans, order, strict=True):
        blob = blobs[blob_id]
        if end - start != len(blob) or not same_bytes(output, start, blob, 0, len(blob)):
            raise SelfCheckError("a blob's bytes changed on the way through")
    require_stable(reading, _document(reread), settings, _take)


def _without_ids(net: Message) -> tuple[Message, list[int]]:
    """A copy of `net` with the placeholders' ids taken out, and the ids in order."""
    copy = type(net)()
    copy.CopyFrom(net)
    ids = []
    for blob in _walk_blobs(copy):
        ids.append(_blob_id(blob))
        data = blob.SerializeToString()
        blob.ParseFromString(b"".join(raw for number, _, raw in _wire_fields(data) if number != PLACEHOLDER_ID))
    return copy, ids


def _wire(message: Message) -> bytes:
    data: bytes = message.SerializeToString(deterministic=True)
    return data
