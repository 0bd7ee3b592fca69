"""A lossless, position-aware reader for protobuf text format as Caffe writes it.

`parse_tree(text)` returns the fields of the top-level message as `Field` nodes that
point into `text` by offset; nothing is copied or normalised, so any span of the
input can be reproduced, or replaced, exactly. The tree knows syntax only; which
fields exist and what their values mean is the binder's job (`upgrade_tool.binder`).

Tokens follow protobuf's C++ tokenizer, which is what Caffe reads with: `#` comments,
identifiers, decimal/octal/hex integers, floats with an optional `f` suffix, single-
or double-quoted strings (adjacent strings concatenate), and the symbols `{}<>[]:;,-`.
The parser keeps its own stack, so nesting depth is bounded by memory, not recursion.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from upgrade_tool.errors import InputError

_TOKEN = re.compile(
    r"""
      (?P<space>[ \t\r\n\v\f]+)
    | (?P<comment>\#[^\n]*)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<number>(?:[0-9]|\.[0-9])(?:[0-9A-Za-z_.]|(?<=[eE])[+-])*)
    | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    | (?P<symbol>[{}<>\[\]:;,\-])
    | (?P<bad>["']|[\s\S])
    """,
    re.VERBOSE,
)

_NUMBER = re.compile(
    r"""
      0[xX][0-9A-Fa-f]+
    | 0[0-7]*
    | [1-9][0-9]*
    | (?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fF]?
    """,
    re.VERBOSE,
)

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
    several when written as a list `[a, b]`.
    """

    __slots__ = ("name", "start", "name_end", "end", "stop", "children", "values", "open", "close", "in_list")

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

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.start}..{self.end})"


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Split text into (kind, start, end) tokens, dropping spaces and comments."""
    tokens: list[tuple[str, int, int]] = []
    append = tokens.append
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "space" or kind == "comment":
            continue
        start, end = match.span()
        if kind == "symbol" or kind == "bad":
            if kind == "bad":
                raise InputError(_bad_character_message(text[start]), start)
            append((text[start], start, end))
            continue
        if kind == "number" and not _NUMBER.fullmatch(text, start, end):
            raise InputError(f"invalid number {text[start:end]!r}", start)
        append((kind, start, end))  # type: ignore[arg-type]
    return tokens


def _bad_character_message(ch: str) -> str:
    if ch in "\"'":
        return "unterminated string (strings cannot span lines)"
    if ch == "\x00":
        return "NUL byte in text; is this a binary file?"
    if ch.isprintable():
        return f"unexpected character {ch!r}"
    return f"unexpected control character {ch!r}"


class _Cursor:
    """Token stream with one-token lookahead and errors placed at the right offset."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.eof = len(text)

    def peek(self) -> str:
        return self.tokens[self.index][0] if self.index < len(self.tokens) else ""

    def offset(self) -> int:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else self.eof

    def take(self) -> tuple[str, int, int]:
        if self.index >= len(self.tokens):
            raise InputError("unexpected end of file", self.eof)
        token = self.tokens[self.index]
        self.index += 1
        return token

    def accept(self, kind: str) -> bool:
        if self.peek() == kind:
            self.index += 1
            return True
        return False

    def expect(self, kind: str, what: str) -> tuple[str, int, int]:
        if self.peek() != kind:
            raise InputError(f"expected {what}, found {self.describe()}", self.offset())
        return self.take()

    def describe(self) -> str:
        """The next token as an error message names it."""
        kind = self.peek()
        if kind == "":
            return "end of file"
        if kind in ("number", "string", "ident"):
            _, start, end = self.tokens[self.index]
            return f"{kind} {self.text[start:end][:40]!r}"
        return repr(kind)


def parse_tree(text: str) -> list[Field]:
    """Parse text into the top-level list of `Field` nodes (syntax only)."""
    cursor = _Cursor(text)
    root: list[Field] = []
    # One entry per open message: its Field (None for the top level), the symbol
    # that closes it, and the list its own fields go to.
    stack: list[tuple[Field | None, str, list[Field]]] = [(None, "", root)]
    while True:
        owner, closer, children = stack[-1]
        kind = cursor.peek()
        if owner is None and kind == "":
            return root
        if owner is not None and kind == closer:
            end = cursor.take()[2]
            owner.close = end - 1
            owner.end = owner.stop = end
            stack.pop()
            if owner.in_list:
                element = _next_list_element(cursor, owner, stack[-1][2])
                if element is not None:
                    stack.append(element)
                    continue
            owner.stop = _separator_end(cursor, owner.end)
            continue
        if kind != "ident":
            expected = f"a field name or {closer!r}" if owner is not None else "a field name"
            raise InputError(f"expected {expected}, found {cursor.describe()}", cursor.offset())
        _, start, name_end = cursor.take()
        field = Field(text[start:name_end], start, name_end)
        children.append(field)
        colon = cursor.accept(":")
        opener = cursor.peek()
        if opener in _CLOSER:
            stack.append(_open_message(cursor, field))
        elif opener == "[" and _list_of_messages(cursor):
            cursor.take()
            field.in_list = True
            stack.append(_open_message(cursor, field))
        elif opener == "[":
            _parse_scalar_list(cursor, text, field)
        elif not colon:
            raise InputError(f"expected ':' or '{{' after field name {field.name!r}", cursor.offset())
        else:
            field.values = [_parse_scalar(cursor, text)]
            field.end = field.values[0].end
            field.stop = _separator_end(cursor, field.end)


def _open_message(cursor: _Cursor, field: Field) -> tuple[Field, str, list[Field]]:
    opener, field.open, _ = cursor.take()
    field.children = []
    return field, _CLOSER[opener], field.children


def _list_of_messages(cursor: _Cursor) -> bool:
    after = cursor.tokens[cursor.index + 1][0] if cursor.index + 1 < len(cursor.tokens) else ""
    return after in _CLOSER


def _next_list_element(cursor: _Cursor, done: Field, siblings: list[Field]) -> tuple[Field, str, list[Field]] | None:
    """After one message of `name [{...}, {...}]`: open the next, or close the list."""
    if cursor.accept(","):
        element = Field(done.name, done.start, done.name_end)
        element.in_list = True
        siblings.append(element)
        if cursor.peek() not in _CLOSER:
            raise InputError("expected '{' in a list of messages", cursor.offset())
        return _open_message(cursor, element)
    done.end = cursor.expect("]", "',' or ']'")[2]
    return None


def _separator_end(cursor: _Cursor, end: int) -> int:
    if cursor.peek() in (",", ";"):
        return cursor.take()[2]
    return end


def _parse_scalar(cursor: _Cursor, text: str) -> Scalar:
    start = cursor.offset()
    negative = cursor.accept("-")
    kind = cursor.peek()
    if kind == "string" and not negative:
        pieces = []
        while cursor.peek() == "string":
            _, piece_start, piece_end = cursor.take()
            pieces.append((piece_start, piece_end))
        return Scalar("string", start, pieces[-1][1], start, tuple(pieces))
    if kind not in ("number", "ident"):
        raise InputError(f"expected a value, found {cursor.describe()}", cursor.offset())
    _, token, end = cursor.take()
    return Scalar(kind, start, end, token)


def _parse_scalar_list(cursor: _Cursor, text: str, field: Field) -> None:
    """`name: [a, b, c]`: several scalar values for one repeated field."""
    cursor.take()  # "["
    field.values = []
    if cursor.peek() != "]":
        field.values.append(_parse_scalar(cursor, text))
        while cursor.accept(","):
            field.values.append(_parse_scalar(cursor, text))
    field.end = cursor.expect("]", "',' or ']'")[2]
    field.stop = _separator_end(cursor, field.end)
