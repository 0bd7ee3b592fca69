"""A lossless, position-aware reader for protobuf text format as Caffe writes it.

`parse_tree(text)` returns the fields of the top-level message as `Field` nodes that
point into `text` by offset; nothing is copied or normalised, so any span of the
input can be reproduced, or replaced, exactly. The tree knows syntax only; which
fields exist and what their values mean is the binder's job (`upgrade_tool.binder`).

Tokens follow protobuf's C++ tokenizer, which is what Caffe reads with: `#` comments,
identifiers, decimal/octal/hex integers, floats with an optional `f` suffix, single-
or double-quoted strings (adjacent strings concatenate), and the symbols `{}<>[]:;,-`.
The parser keeps its own stack, so nesting depth is bounded by memory, not recursion.

A byte that is not UTF-8 reaches the reader as a lone surrogate (`Source` decodes
with `surrogateescape`): it is kept inside a comment, as Caffe keeps it, and is an
error anywhere else, strings included (a protobuf string field must be UTF-8 in Python).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from upgrade_tool.errors import InputError
from upgrade_tool.source import out_of_memory

_TOKEN = re.compile(
    r"""
    (?:[ \t\r\n\v\f]+|\#[^\n\x00]*)*+        # spaces and comments, never given back
    (?:
      ([A-Za-z_][A-Za-z0-9_]*)                # 1: identifier
    | ((?:(?:0|[1-9][0-9]*+)(?:\.[0-9]*+)?+|\.[0-9]++)(?:[eE][+-]?[0-9]++)?+[fF]?+
       |0[xX][0-9A-Fa-f]++|0[0-7]++)
      (?![0-9A-Za-z_.])                       # 2: number (possessive: a long bad one fails at once)
    | ("[^"\\\n\x00]*+(?:\\[^\n\x00][^"\\\n\x00]*+)*+"
      |'[^'\\\n\x00]*+(?:\\[^\n\x00][^'\\\n\x00]*+)*+')  # 3: string (runs, not a state per character)
    | ([{}<>\[\]:;,\-])                       # 4: symbol
    | ((?:[0-9]|\.[0-9])(?:[0-9A-Za-z_.]++|(?<=[eE])[+-])*+)  # 5: malformed number
    | ([\s\S])                                # 6: anything else
    | (\Z)                                    # 7: the end, after trailing spaces and comments
    )
    """,
    re.VERBOSE,
)
_NOT_UTF8 = re.compile("[\ud800-\udfff]")  # a byte that is not UTF-8, as `surrogateescape` decodes it
_KIND = ("", "i", "n", "s")  # token kinds by group: identifier, number, string
_KIND_NAMES = {"i": "ident", "n": "number", "s": "string"}
_CLOSER = {"{": "}", "<": ">"}


class Scalar(NamedTuple):
    """One scalar value: `kind` is "number", "ident" or "string".

    `start`/`end` cover the whole value including a leading `-`, `token` is where
    the number or word itself starts; for strings, `pieces` holds the span of
    each adjacent quoted literal.
    """

    kind: str
    start: int
    end: int
    token: int
    pieces: tuple[tuple[int, int], ...] = ()

    @property
    def negative(self) -> bool:
        return self.token != self.start


class Field:
    """One `name: value` or `name { ... }` occurrence in the text.

    `start` is the offset of the name, `end` the offset just past the value
    (past the closing delimiter for messages); `stop` also covers a trailing `,`
    or `;`. For a message, `children` holds its fields and `open`/`close` the
    offsets of its delimiters; for a scalar, `values` holds one `Scalar`, or
    several (or none) when written as a list `[a, b]`. `colon` says whether a `:`
    followed the name (a scalar needs one, a message does not).
    """

    __slots__ = ("name", "start", "name_end", "end", "stop", "children", "values", "open", "close", "in_list", "colon")

    def __init__(self, name: str, start: int, name_end: int) -> None:
        self.name = name
        self.start = start
        self.name_end = name_end
        self.end = name_end
        self.stop = name_end
        self.children: list[Field] | None = None
        self.values: list[Scalar] | None = None
        self.open = -1
        self.close = -1
        self.in_list = False
        self.colon = False

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.start}..{self.end})"


def tokenize(text: str) -> tuple[list[str], list[int], list[int]]:
    """Tokens as parallel lists: kind ("i", "n", "s" or the symbol itself), start, end.

    A last token of kind "" marks the end of the text. (Lists, not arrays: the
    parser's fields share these int objects, and an array would make new ones.)
    """
    kinds: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    add_kind, add_start, add_end = kinds.append, starts.append, ends.append
    not_utf8 = _NOT_UTF8.search(text) is not None
    for match in _TOKEN.finditer(text):
        group = match.lastindex or 0
        start, end = match.span(group)
        if group == 4:
            add_kind(text[start])
        elif group is not None and group < 4:
            if not_utf8 and group == 3:
                _refuse_bytes_in_string(text, start, end)
            add_kind(_KIND[group])
        elif group == 5:
            raise InputError(f"invalid number {clip(text[start:end])!r}", start)
        elif group == 7:
            break
        else:
            raise _bad_character(text, start)
        add_start(start)
        add_end(end)
    kinds.append("")
    starts.append(len(text))
    ends.append(len(text))
    return kinds, starts, ends


def clip(word: str, limit: int = 40) -> str:
    """A word from the input as a message may quote it: a huge one is cut short."""
    return word if len(word) <= limit else f"{word[:limit]}... ({len(word)} characters)"


def _refuse_bytes_in_string(text: str, start: int, end: int) -> None:
    bad = _NOT_UTF8.search(text, start, end)
    if bad is not None:
        raise InputError(_not_utf8_message(text[bad.start()]), bad.start(), "E004")


def _not_utf8_message(char: str) -> str:
    code = ord(char)
    what = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"character U+{code:04X}"
    return f"not valid UTF-8 ({what}); is this a binary file?"


def _bad_character(text: str, start: int) -> InputError:
    if text[start] in "\"'":  # a string that does not end: at a NUL byte, or at the end of its line
        line_end = text.find("\n", start)
        nul = text.find("\x00", start, len(text) if line_end < 0 else line_end)
        if nul >= 0:
            return InputError(_bad_character_message("\x00"), nul)
    return InputError(_bad_character_message(text[start]), start, "E004" if _NOT_UTF8.match(text[start]) else "E001")


def _bad_character_message(ch: str) -> str:
    if _NOT_UTF8.match(ch):
        return _not_utf8_message(ch)
    if ch in "\"'":
        return "unterminated string (strings cannot span lines)"
    if ch == "\x00":
        return "NUL byte in text; is this a binary file?"
    if ch.isprintable():
        return f"unexpected character {ch!r}"
    return f"unexpected control character {ch!r}"


def _describe(text: str, kind: str, start: int, end: int) -> str:
    """A token as an error message names it."""
    if kind == "":
        return "end of file"
    if kind in _KIND_NAMES:
        return f"{_KIND_NAMES[kind]} {text[start:end][:40]!r}"
    return repr(kind)


def parse_tree(text: str) -> list[Field]:
    """Parse text into the top-level list of `Field` nodes (syntax only).

    One loop over the tokens with its own stack of open messages: fast, and
    nesting depth is bounded by memory, not by Python's recursion limit.
    Running out of memory is an `InputError` about the whole input.
    """
    try:
        return _parse_tree(text)
    except MemoryError:
        pass  # raised below, once the half-built tree is let go
    raise out_of_memory(len(text))


def _parse_tree(text: str) -> list[Field]:
    kinds, starts, ends = tokenize(text)
    names: dict[str, str] = {}  # one string per field name, however many fields it names
    root: list[Field] = []
    # Each open message: its Field (None for the top level), its closing symbol, its fields.
    stack: list[tuple[Field | None, str, list[Field]]] = []
    owner: Field | None = None
    closer = ""
    children = root
    i = 0
    while True:
        kind = kinds[i]
        if kind == "i":
            start, name_end = starts[i], ends[i]
            name = text[start:name_end]
            field = Field(names.setdefault(name, name), start, name_end)
            children.append(field)
            i += 1
            colon = kinds[i] == ":"
            if colon:
                field.colon = True
                i += 1
            kind = kinds[i]
            if kind == "{" or kind == "<" or (kind == "[" and kinds[i + 1] in _CLOSER):
                if kind == "[":
                    field.in_list = True
                    i += 1
                    kind = kinds[i]
                stack.append((owner, closer, children))
                field.open = starts[i]
                field.children = children = []
                owner, closer = field, _CLOSER[kind]
                i += 1
            elif kind == "[":
                i = _parse_scalar_list(text, kinds, starts, ends, i, field)
            elif not colon:
                raise InputError(f"expected ':' or '{{' after field name {clip(field.name)!r}", starts[i])
            else:
                scalar, i = _parse_scalar(text, kinds, starts, ends, i)
                field.values = [scalar]
                field.end = field.stop = scalar.end
                if kinds[i] == "," or kinds[i] == ";":
                    field.stop = ends[i]
                    i += 1
        elif kind == closer and owner is not None:
            end = ends[i]
            i += 1
            owner.close = end - 1
            owner.end = owner.stop = end
            done = owner
            owner, closer, children = stack.pop()
            if done.in_list:
                if kinds[i] == ",":  # the next message of `name [{...}, {...}]`
                    i += 1
                    kind = kinds[i]
                    if kind not in _CLOSER:
                        raise InputError("expected '{' in a list of messages", starts[i])
                    element = Field(done.name, done.start, done.name_end)
                    element.in_list = True
                    children.append(element)
                    stack.append((owner, closer, children))
                    element.open = starts[i]
                    element.children = children = []
                    owner, closer = element, _CLOSER[kind]
                    i += 1
                    continue
                if kinds[i] != "]":
                    found = _describe(text, kinds[i], starts[i], ends[i])
                    raise InputError(f"expected ',' or ']', found {found}", starts[i])
                done.end = done.stop = ends[i]
                i += 1
            if kinds[i] == "," or kinds[i] == ";":
                done.stop = ends[i]
                i += 1
        elif kind == "" and owner is None:
            return root
        else:
            expected = f"a field name or {closer!r}" if owner is not None else "a field name"
            found = _describe(text, kind, starts[i], ends[i])
            raise InputError(f"expected {expected}, found {found}", starts[i])


def _parse_scalar(text: str, kinds: list[str], starts: list[int], ends: list[int], i: int) -> tuple[Scalar, int]:
    """One value (a `-` and a number or word, or adjacent strings); returns it and the next index."""
    start = starts[i]
    negative = kinds[i] == "-"
    if negative:
        i += 1
    kind = kinds[i]
    if kind == "s" and not negative:
        pieces = []
        while kinds[i] == "s":
            pieces.append((starts[i], ends[i]))
            i += 1
        return Scalar("string", start, pieces[-1][1], start, tuple(pieces)), i
    if kind != "n" and kind != "i":
        raise InputError(f"expected a value, found {_describe(text, kind, starts[i], ends[i])}", starts[i])
    return Scalar("number" if kind == "n" else "ident", start, ends[i], starts[i]), i + 1


def _parse_scalar_list(text: str, kinds: list[str], starts: list[int], ends: list[int], i: int, field: Field) -> int:
    """`name: [a, b, c]`: several scalar values for one repeated field."""
    i += 1  # "["
    values: list[Scalar] = []
    field.values = values
    if kinds[i] != "]":
        scalar, i = _parse_scalar(text, kinds, starts, ends, i)
        values.append(scalar)
        while kinds[i] == ",":
            scalar, i = _parse_scalar(text, kinds, starts, ends, i + 1)
            values.append(scalar)
    if kinds[i] != "]":
        raise InputError(f"expected ',' or ']', found {_describe(text, kinds[i], starts[i], ends[i])}", starts[i])
    field.end = field.stop = ends[i]
    i += 1
    if kinds[i] == "," or kinds[i] == ";":
        field.stop = ends[i]
        i += 1
    return i
