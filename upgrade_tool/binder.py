"""Give the syntax tree its meaning: build a protobuf message from `Field` nodes.

Values are read the way protobuf's C++ text parser (Caffe's) reads them: integers
in decimal, octal or hex; floats with `inf`/`nan` and an `f` suffix; enums by name
or number; adjacent strings concatenated with C escapes undone. Every error names
the offset of the node it is about. bench/fuzz_reader.py --against-cpp checks
all of it against protobuf's C++ TextFormat 3.21 itself.

A field the schema does not know is an error when `strict`, and is otherwise
skipped and returned in `Bound.unknown`, so fork dialects can still be read.

Where the reader's C fast path is built (`reader.FASTREAD`), it binds a tree
whose values are all plain, with the same calls on the message; at anything
else it gives up, and the message is cleared and bound here, for the error or
the result this module gives.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from upgrade_tool.errors import InputError
from upgrade_tool.reader import FASTREAD, Field, Scalar, Span, clip
from upgrade_tool.source import out_of_memory

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_FLOAT_TYPES = (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE)
FLOAT_MAX = 3.4028234663852886e38
# Halfway from float max to 2**128: C++ rounds this double down to float max; Python's float cast rounds it to inf.
_FLOAT_HALFWAY = 2.0**128 - 2.0**103
_INTEGER_DIGITS = 22  # the most any 64-bit value needs (in octal), leading zeros aside
TOO_BIG = 1 << 64  # out of every integer range
_FLOAT_WORDS = {"inf": float("inf"), "infinity": float("inf"), "nan": float("nan")}
_BOOL_WORDS = {"true": True, "True": True, "t": True, "false": False, "False": False, "f": False}
_SIMPLE_ESCAPES = {
    "a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11,
    "\\": 92, "?": 63, "'": 39, '"': 34,
}  # fmt: skip
# `\U` takes eight hex digits up to 001fffff, as C++'s tokenizer checks them; `\u` a UTF-16 unit.
_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{4})|U(00[01][0-9A-Fa-f]{5})|(.))", re.S)
_TRAIL_SURROGATE = re.compile(r"\\u([dD][c-fC-F][0-9A-Fa-f]{2})")
_ESCAPE_RULES = {
    "x": "'\\x' must be followed by one or two hex digits",
    "u": "'\\u' must be followed by four hex digits",
    "U": "'\\U' must be followed by eight hex digits, at most 001fffff",
}


# A place in a message: (field name, index among that field's values) steps,
# e.g. (("layer", 3), ("param", 0)) is the first param of the fourth layer.
Path = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Unknown:
    """A node the schema does not know, and the path of the message it sits in."""

    owner: Path
    node: Field


# Field descriptors by name, per message descriptor: a plain dict is faster than upb's map.
_FIELDS: dict[Any, dict[str, FieldDescriptor]] = {}


@dataclass(frozen=True)
class Bound:
    """A message built from a tree, and the nodes it had to leave out."""

    message: Message
    unknown: tuple[Unknown, ...] = ()


def bind(tree: list[Field], message: Message, text: str, *, strict: bool = True) -> Bound:
    """Fill `message` (empty) from `tree`; raise `InputError` on anything invalid (running out of memory too).

    Its errors are E002 (a field the schema does not know) or E003 (a value).
    """
    try:
        return _bind(tree, message, text, strict)
    except InputError as exc:
        if exc.code == "E001":  # the reader's default: here every error is about a value
            exc.code = "E003"
        raise
    except MemoryError:
        pass  # raised below, once the half-filled message is let go
    raise out_of_memory(len(text))


def _bind(tree: list[Field], message: Message, text: str, strict: bool) -> Bound:
    if FASTREAD is not None:
        found = FASTREAD.bind(tree, message, text, strict, _FAST_TABLES, _fast_table)
        if found is not None:
            _check_required(message, tree)
            return Bound(message, tuple(Unknown(path, node) for path, node in found))
        message.Clear()  # half filled: bound again from the start, here
    unknown: list[Unknown] = []
    unknown_values: set[tuple[Path, str]] = set()  # singular fields given a value the schema does not know
    # Depth first, in document order, so the first error in the text is the one raised.
    stack: list[tuple[Message, Iterator[Field], Path]] = [(message, iter(tree), ())]
    while stack:
        target, fields, path = stack[-1]
        node = next(fields, None)
        if node is None:
            stack.pop()
            continue
        nested = _bind_field(target, node, text, strict)
        if unknown_values or isinstance(nested, Field):
            _refuse_second_unknown(target, node, path, nested, unknown_values)
        if isinstance(nested, Field):
            unknown.append(Unknown(path, nested))
        elif nested is not None:
            child, step = nested
            stack.append((child, iter(node.children or ()), (*path, step)))
    _check_required(message, tree)
    return Bound(message, tuple(unknown))


# How the fast path reads each field type (`_fastread.c`, `V_*`); a type not here is left to `_bind`.
_FAST_HOW = {
    FieldDescriptor.TYPE_MESSAGE: 0,
    FieldDescriptor.TYPE_STRING: 1,
    **dict.fromkeys((FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32), 2),
    **dict.fromkeys((FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64), 3),
    **dict.fromkeys((FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32), 4),
    **dict.fromkeys((FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64), 5),
    FieldDescriptor.TYPE_FLOAT: 6,
    FieldDescriptor.TYPE_DOUBLE: 7,
    FieldDescriptor.TYPE_BOOL: 8,
    FieldDescriptor.TYPE_ENUM: 9,
}
_FAST_OTHER = 10
_FastTable = dict[str, tuple[int, bool, dict[str, int] | None, frozenset[int] | None]]
_FAST_TABLES: dict[type, _FastTable] = {}


def _fast_table(message_type: type[Message]) -> _FastTable:
    """For the fast path: each field of a message type, as (how to read it, repeated, its enum's numbers by name,
    and its enum's numbers)."""
    table: _FastTable = {}
    for name, field in message_type.DESCRIPTOR.fields_by_name.items():
        how = _FAST_HOW.get(field.type, _FAST_OTHER)
        if not field.is_repeated and not field.has_presence or field.containing_oneof is not None:
            how = _FAST_OTHER  # `_refuse_second_value` asks HasField, which means more here
        enum = field.enum_type
        names = {value.name: value.number for value in enum.values} if enum is not None else None
        numbers = frozenset(value.number for value in enum.values) if enum is not None else None
        table[name] = (how, field.is_repeated, names, numbers)
    return table


def _bind_field(
    target: Message, node: Field, text: str, strict: bool
) -> tuple[Message, tuple[str, int]] | Field | None:
    """Set one field; return the nested message to fill next, or `node` if unknown."""
    descriptor = target.DESCRIPTOR
    fields = _FIELDS.get(descriptor)
    if fields is None:
        fields = _FIELDS[descriptor] = cast("dict[str, FieldDescriptor]", dict(descriptor.fields_by_name))
    field = fields.get(node.name)
    if field is None:
        if strict:
            raise InputError(f"unknown field {clip(node.name)!r} in {descriptor.full_name}", node.start, "E002")
        return node
    repeated = field.is_repeated
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if repeated and node.values == ():  # `name: []`, an empty list of messages
            return None
        if node.children is None:
            raise InputError(f"{node.name!r} is a message: expected '{{' after it", node.name_end)
        if node.in_list and not repeated:
            raise InputError(f"{node.name!r} is not repeated: a list is not allowed", node.name_end)
        if repeated:
            values = getattr(target, node.name)
            child = values.add()
            return child, (node.name, len(values) - 1)
        _refuse_second_value(target, node)
        child = getattr(target, node.name)
        child.SetInParent()
        return child, (node.name, 0)
    if node.values is None:
        raise InputError(f"{node.name!r} is not a message: expected ':' and a value", node.open)
    if not node.colon:
        raise InputError(f"expected ':' after {node.name!r} (only a message may go without one)", node.name_end)
    if not repeated:
        if text[node.end - 1] == "]":
            raise InputError(f"{node.name!r} is not repeated: a list is not allowed", node.name_end)
        _refuse_second_value(target, node)
    if len(node.values) == 1:  # the common case, without building a list
        value = scalar_value(field, node.values[0], text)
        if value is not None:
            if repeated:
                getattr(target, node.name).append(value)
            else:
                setattr(target, node.name, value)
            return None
    values = [scalar_value(field, scalar, text) for scalar in node.values]
    if None in values:
        scalar = node.values[values.index(None)]
        if strict:
            raise InputError(_unknown_enum_message(field, scalar, text), scalar.start)
        return node
    if repeated:
        getattr(target, node.name).extend(values)
    else:
        setattr(target, node.name, values[0])
    return None


def _refuse_second_unknown(
    target: Message, node: Field, path: Path, nested: object, unknown_values: set[tuple[Path, str]]
) -> None:
    """A singular field kept with a value the schema does not know is given all the same: not twice."""
    field = target.DESCRIPTOR.fields_by_name.get(node.name)
    if field is None or field.is_repeated:
        return
    key = (path, node.name)
    if key in unknown_values:
        raise InputError(f"{node.name!r} is given more than once (it is not repeated)", node.start)
    if isinstance(nested, Field):
        unknown_values.add(key)


def _refuse_second_value(target: Message, node: Field) -> None:
    if target.HasField(node.name):
        raise InputError(f"{node.name!r} is given more than once (it is not repeated)", node.start)


def _unknown_enum_message(field: FieldDescriptor, scalar: Scalar, text: str) -> str:
    enum = _enum_of(field)
    return f"unknown value {clip(text[scalar.start : scalar.end])!r} for {field.name!r} (enum {enum.full_name})"


def _enum_of(field: FieldDescriptor) -> EnumDescriptor:
    enum = field.enum_type
    assert enum is not None, field.full_name
    return enum


def scalar_value(field: FieldDescriptor, scalar: Scalar, text: str) -> Any:
    """The Python value of one scalar for `field`; None for an unknown enum value."""
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING or kind == FieldDescriptor.TYPE_BYTES:
        return _string_value(field, scalar, text)
    if scalar.kind == "string":
        raise InputError(f"{field.name!r} takes a {_type_name(field)}, not a string", scalar.start)
    word = text[scalar.token : scalar.end]
    if kind in _INT_RANGES:
        return _integer_value(field, scalar, word)
    if kind in _FLOAT_TYPES:
        return _float_value(field, scalar, word)
    if kind == FieldDescriptor.TYPE_BOOL:
        return _bool_value(field, scalar, word)
    return _enum_value(field, scalar, word)


def _type_name(field: FieldDescriptor) -> str:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return f"value of enum {_enum_of(field).full_name}"
    names = {FieldDescriptor.TYPE_BOOL: "boolean", FieldDescriptor.TYPE_MESSAGE: "message"}
    return names.get(field.type, "float" if field.type in _FLOAT_TYPES else "integer")


def _parse_integer(word: str) -> int | None:
    """The integer a number token spells, or None; `TOO_BIG` past any 64-bit range."""
    if not word or word[0] not in "0123456789":
        return None
    if word[:2] in ("0x", "0X"):
        base, digits = 16, word[2:]
    elif len(word) > 1 and word[0] == "0":
        if not all(c in "01234567" for c in word):
            return None
        base, digits = 8, word
    elif word.isdigit():
        base, digits = 10, word
    else:
        return None
    if len(digits.lstrip("0")) > _INTEGER_DIGITS:  # and Python refuses to convert thousands of digits
        return TOO_BIG
    return int(digits, base)


def _integer_value(field: FieldDescriptor, scalar: Scalar, word: str) -> int:
    number = _parse_integer(word) if scalar.kind == "number" else None
    if number is None:
        raise InputError(f"{field.name!r} takes an integer, found {clip(word)!r}", scalar.start)
    value = -number if scalar.negative else number
    low, high = _INT_RANGES[field.type]
    if scalar.negative and low == 0:  # C++ wants no sign at all here, not even `-0`
        raise InputError(f"{field.name!r} is unsigned: a '-' is not allowed", scalar.start)
    if not low <= value <= high:
        shown = clip(word) if number == TOO_BIG else str(value)
        raise InputError(f"{shown} is out of range for {field.name!r}", scalar.start)
    return value


def _float_value(field: FieldDescriptor, scalar: Scalar, word: str) -> float:
    if scalar.kind == "ident":
        value = _FLOAT_WORDS.get(word.lower())
        if value is None:
            raise InputError(f"{field.name!r} takes a number, found {clip(word)!r}", scalar.start)
    elif len(word) > 1 and word[0] == "0" and word[1] not in ".eEfF":
        raise InputError(f"{field.name!r} takes a decimal number, found {clip(word)!r}", scalar.start)
    else:
        value = float(word.rstrip("fF"))
    if math.isnan(value):
        return value  # NaN has no sign worth keeping: Caffe prints every NaN as `nan`
    if value == _FLOAT_HALFWAY and field.type == FieldDescriptor.TYPE_FLOAT:
        value = FLOAT_MAX
    return -value if scalar.negative else value


def _bool_value(field: FieldDescriptor, scalar: Scalar, word: str) -> bool:
    if not scalar.negative:
        if scalar.kind == "ident" and word in _BOOL_WORDS:
            return _BOOL_WORDS[word]
        if scalar.kind == "number" and _parse_integer(word) in (0, 1):
            return _parse_integer(word) == 1
    raise InputError(f"{field.name!r} takes true or false, found {clip(word)!r}", scalar.start)


def _enum_value(field: FieldDescriptor, scalar: Scalar, word: str) -> int | None:
    enum = _enum_of(field)
    if scalar.kind == "ident" and not scalar.negative:
        value = enum.values_by_name.get(word)
        return None if value is None else value.number
    number = _parse_integer(word) if scalar.kind == "number" else None
    if number is None:
        raise InputError(f"{field.name!r} takes a value of enum {enum.full_name}", scalar.start)
    number = -number if scalar.negative else number
    if not -(2**31) <= number < 2**31:  # an enum is an int32 (and upb's lookup would wrap a larger number)
        raise InputError(
            f"{clip(word) if number == TOO_BIG else number} is out of range for {field.name!r}", scalar.start
        )
    return number if number in enum.values_by_number else None


def _string_value(field: FieldDescriptor, scalar: Scalar, text: str) -> str | bytes:
    if scalar.kind != "string":
        raise InputError(f"{field.name!r} takes a quoted string", scalar.start)
    if len(scalar.pieces) == 1 and field.type == FieldDescriptor.TYPE_STRING:
        body = text[scalar.start + 1 : scalar.end - 1]
        if "\\" not in body:  # the common case: nothing to unescape, already text
            return body
    data = b"".join(unescape(text[start + 1 : end - 1], start + 1) for start, end in scalar.pieces)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{field.name!r}: string is not valid UTF-8 after unescaping", scalar.start, "E004") from None


def unescape(body: str, offset: int) -> bytes:
    """Undo C escapes in the body of one quoted literal (quotes removed)."""
    if "\\" not in body:
        return body.encode("utf-8")
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(body):
        if match.start() < position:  # the trail surrogate of a pair, already taken
            continue
        out += body[position : match.start()].encode("utf-8")
        position = match.end()
        octal, hex_, short, long_, other = match.groups()
        if octal is not None:
            out.append(int(octal, 8) & 0xFF)
        elif hex_ is not None:
            out.append(int(hex_, 16))
        elif short is not None or long_ is not None:
            code = int(short or long_, 16)
            trail = _TRAIL_SURROGATE.match(body, position) if 0xD800 <= code <= 0xDBFF else None
            if trail is not None:  # a UTF-16 pair, as C++ joins it
                code = 0x10000 + ((code - 0xD800) << 10) + int(trail[1], 16) - 0xDC00
                position = trail.end()
            out += _utf8(code)
        elif other in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[other])
        else:
            rule = _ESCAPE_RULES.get(other, f"invalid escape sequence '\\{other}' in string")
            raise InputError(rule, offset + match.start())
    out += body[position:].encode("utf-8")
    return bytes(out)


def _utf8(code: int) -> bytes:
    """A code point in UTF-8 as C++ writes it: a lone surrogate too, and past U+10FFFF the escape itself."""
    if code > 0x10FFFF:
        return f"\\U{code:08x}".encode("ascii")
    return chr(code).encode("utf-8", "surrogatepass")


def _check_required(message: Message, tree: list[Field]) -> None:
    if message.IsInitialized():
        return
    missing = sorted(message.FindInitializationErrors())[0]  # type: ignore[attr-defined]
    owner_path, _, name = missing.rpartition(".")
    node = locate(tree, parse_path(owner_path)) if owner_path else None
    where = node.start if node is not None else 0
    raise InputError(f"required field {name!r} is missing ({missing})", where)


def parse_path(dotted: str) -> tuple[tuple[str, int], ...]:
    """`layer[3].clip_param` -> (("layer", 3), ("clip_param", 0))."""
    steps = []
    for part in dotted.split("."):
        name, _, index = part.partition("[")
        steps.append((name, int(index.rstrip("]")) if index else 0))
    return tuple(steps)


def locate(tree: list[Field], path: Path) -> Field | None:
    """The node at a path of (field name, index among that field's values) steps, if present."""
    return Locator(tree).find(path)


class Locator:
    """Finds the node holding the value at a path, as the message counts values.

    A step's index counts the values the message holds for that field: a message
    node holds one, a scalar node as many as it lists (`bottom: ["a", "b"]` two,
    `layer: []` none), and a node the message left out (in `skip`: kept as
    unknown) none. Each list of fields is indexed by name on first use, so a
    lookup costs the length of its path, not the size of the net.
    """

    def __init__(self, tree: list[Field], skip: frozenset[tuple[int, int]] = frozenset()) -> None:
        self._tree = tree
        self._skip = skip  # keys of nodes the message does not hold
        # By the list's id, with the list itself: a lazy tree's lists can be read again, and a list let go
        # could leave its id to another.
        self._indexes: dict[int, tuple[list[Field], dict[str, tuple[list[int], list[Field]]]]] = {}
        self._lazy: dict[tuple[int, int], list[Field]] = {}  # the children of each lazy node gone through

    def find(self, path: Path) -> Field | None:
        node: Field | None = None
        fields: list[Field] | None = self._tree
        for name, index in path:
            if fields is None:
                return None
            firsts, nodes = self._index(fields).get(name, _NONE)
            at = bisect.bisect_right(firsts, index) - 1
            if at < 0 or index >= firsts[at] + _held(nodes[at]):
                return None
            node = nodes[at]
            fields = self._children(node)
        return node

    def _index(self, fields: list[Field]) -> dict[str, tuple[list[int], list[Field]]]:
        """For each name: the index of the first value each node holds, and the nodes."""
        known = self._indexes.get(id(fields))
        if known is not None:
            return known[1]
        index: dict[str, tuple[list[int], list[Field]]] = {}
        self._indexes[id(fields)] = (fields, index)
        counts: dict[str, int] = {}
        for node in fields:
            held = 0 if (self._skip and node.key in self._skip) else _held(node)
            if held:
                firsts, nodes = index.setdefault(node.name, ([], []))
                firsts.append(counts.get(node.name, 0))
                nodes.append(node)
                counts[node.name] = firsts[-1] + held
        return index

    def _children(self, node: Field) -> list[Field] | None:
        """A node's children; a lazy node's as first read here, so that its list and index stay one."""
        if not isinstance(node, Span):
            return node.children
        children = self._lazy.get(node.key)
        if children is None:
            children = self._lazy[node.key] = node.children
        return children


_NONE: tuple[list[int], list[Field]] = ([], [])


def _held(node: Field) -> int:
    """How many values of its field a node gives the message (a message node has no `values`)."""
    return 1 if node.values is None else len(node.values)


def parse_integer(word: str) -> int | None:
    """The integer a number token spells, or None; `TOO_BIG` past any 64-bit range (for other readers)."""
    return _parse_integer(word)
