"""A lossless, position-aware reader for protobuf text format as Caffe writes it.

`parse_tree(text)` returns the fields of the top-level message as `Field` nodes that
point into `text` by offset; nothing is copied or normalised, so any span of the
input can be reproduced, or replaced, exactly. The tree knows syntax only; which
fields exist and what their values mean is the binder's job (`upgrade_tool.binder`).

Tokens follow protobuf's C++ tokenizer, which is what Caffe reads with: `#` comments,
identifiers, decimal/octal/hex integers, floats with an optional `f` suffix, single-
or double-quoted strings (adjacent strings concatenate), and the symbols `{}<>[]:;,-`.
The parser keeps its own stack, so nesting depth is bounded by memory, not recursion,
and builds the tree as the tokens come: no list of tokens is kept. The commonest field,
`name: value` on one line, comes as one match of one regex (`_FIELD_OR_TOKEN`), not as
three tokens; where the parser wants a value instead, the same match gives its tokens.

A big text (`LAZY_FROM` characters and more) is read lazily: the whole text is
parsed (so every syntax error is found, as for any text), but a message node keeps
no children; they are parsed again from its span, one level, when asked for
(`Span`), and a few such levels are kept at a time. A net of millions of fields
then holds a node per top-level field, not per field (README, "Memory").

A well-formed text that is not read lazily is read by the C fast path
(`_fastread.c`) where it is built: the same tree, made without a Python object
per token. It knows no errors: on any, or on a byte that is not UTF-8, it gives
up and this reader reads the text again, so every error is this reader's own.
`BN_UPGRADE_PURE_PYTHON=1` turns it off.

A byte that is not UTF-8 reaches the reader as a lone surrogate (`Source` decodes
with `surrogateescape`): it is kept inside a comment, as Caffe keeps it, and is an
error anywhere else, strings included (a protobuf string field must be UTF-8 in Python).
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import os
import re
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import NamedTuple

from upgrade_tool.errors import InputError
from upgrade_tool.source import LAZY_FROM, out_of_memory

_SPACES = r"(?:[ \t\r\n\v\f]+|\#[^\n\x00]*)*+"  # spaces and comments, never given back
_NUMBER = r"""(?:(?:0|[1-9][0-9]*+)(?:\.[0-9]*+)?+|\.[0-9]++)(?:[eE][+-]?[0-9]++)?+[fF]?+
       |0[xX][0-9A-Fa-f]++|0[0-7]++"""
_STRING = r"""(?:"[^"\\\n\x00]*+(?:\\[^\n\x00][^"\\\n\x00]*+)*+"
      |'[^'\\\n\x00]*+(?:\\[^\n\x00][^'\\\n\x00]*+)*+')"""
_ONE_TOKEN = rf"""
      ([A-Za-z_][A-Za-z0-9_]*)                # 1: identifier
    | ({_NUMBER})
      (?![0-9A-Za-z_.])                       # 2: number (possessive: a long bad one fails at once)
    | ({_STRING})                             # 3: string (runs, not a state per character)
    | ([{{}}<>\[\]:;,\-])                     # 4: symbol
    | ((?:[0-9]|\.[0-9])(?:[0-9A-Za-z_.]++|(?<=[eE])[+-])*+)  # 5: malformed number
    | ([\s\S])                                # 6: anything else
    | (\Z)                                    # 7: the end, after trailing spaces and comments
"""
# The commonest field, `name: value` on one line with one plain value, as one match: the tokens
# its groups are 1: the name, 2: the colon, 3: a sign, and 4: a number, 5: a
# word or 6: a string that no other string follows (adjacent strings are one value).
_FIELD_GROUPS = 6
_FIELD_OR_TOKEN = re.compile(
    rf"""{_SPACES}(?:
      ([A-Za-z_][A-Za-z0-9_]*+)[ \t]*+(:)[ \t]*+
      (?:(-?)({_NUMBER})(?![0-9A-Za-z_.])
      |([A-Za-z_][A-Za-z0-9_]*+)
      |({_STRING})(?!{_SPACES}["']))
    |{_ONE_TOKEN})""",
    re.VERBOSE,
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_UTF8 = re.compile("[\ud800-\udfff]")  # a byte that is not UTF-8, as `surrogateescape` decodes it
_LEVELS_KEPT = 64  # levels of a lazy tree kept parsed at a time
_KIND = ("", "i", "n", "s")  # token kinds by group: identifier, number, string
_FIELD_KINDS = ("", "", "", "", "n", "i", "s")  # a field's value's token kind, by its group
_SCALAR_KINDS = ("", "", "", "", "number", "ident", "string")  # and its `Scalar.kind`
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

    `start` is the offset of the name, `name_end` the offset just past it, `end`
    the offset just past the value (past the closing delimiter for messages);
    `stop` also covers a trailing `,` or `;`. For a message, `children` holds its
    fields and `open`/`close` the offsets of its delimiters; for a scalar,
    `values` holds one `Scalar`, or several (or none) when written as a list
    `[a, b]`. `colon` says whether a `:` followed the name (a scalar needs one, a
    message does not).

    A big net has a node for each of its fields, so a node keeps no more than it
    must: `name_end` is worked out from the name, and values are a tuple.
    """

    __slots__ = ("name", "start", "end", "stop", "children", "values", "open", "close", "in_list", "colon")

    def __init__(self, name: str, start: int) -> None:
        self.name = name
        self.start = start
        self.end = start  # until the value is read
        self.stop = start
        self.children: list[Field] | None = None
        self.values: tuple[Scalar, ...] | None = None
        self.open = -1
        self.close = -1
        self.in_list = False
        self.colon = False

    @property
    def name_end(self) -> int:
        return self.start + len(self.name)

    @property
    def key(self) -> tuple[int, int]:
        """Which node of the text this is, however many times it is read: its name's and its `{`'s offsets.

        (The messages of one `name [{...}, {...}]` share a name, not a `{`.)
        """
        return self.start, self.open

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.start}..{self.end})"


class Span(Field):
    """A message node of a lazy tree: its children are read from its span when asked for.

    Each read gives new nodes; the last few levels read are kept, so asking again
    soon gives the same ones. Compare nodes by `key`, not by identity.
    """

    __slots__ = ("_lazy",)

    def __init__(self, field: Field, lazy: _Lazy) -> None:
        """The node `field` as read up to its `{`, from now on lazy."""
        self.name = field.name
        self.start = field.start
        self.end = self.stop = field.start
        self.values = None
        self.open = self.close = -1
        self.in_list = field.in_list
        self.colon = field.colon
        self._lazy = lazy

    @property
    def children(self) -> list[Field]:  # type: ignore[override]
        return self._lazy.children(self)


class _Lazy:
    """What a lazy tree needs to read a node's children again: the text, and where each message ends."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.opens = array("q")  # the offset of each message's `{` or `<`, in order
        self.closes = array("q")  # and of its closing delimiter
        self._kept: OrderedDict[int, list[Field]] = OrderedDict()

    def close_of(self, open_: int) -> int:
        return self.closes[bisect.bisect_left(self.opens, open_)]

    def children(self, node: Span) -> list[Field]:
        kept = self._kept.get(node.open)
        if kept is not None:
            self._kept.move_to_end(node.open)
            return kept
        with collector_paused():
            want = _Want()
            tokens = _fields_and_tokens(self.text, node.open + 1, node.close, False, want, self)
            children = _build(self.text, tokens.__next__, want, self, False)
        self._kept[node.open] = children
        if len(self._kept) > _LEVELS_KEPT:
            self._kept.popitem(last=False)
        return children


def _fast_path() -> ModuleType | None:
    """The C reader and binder of well-formed texts, if they were built and are not turned off."""
    if os.environ.get("BN_UPGRADE_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from upgrade_tool import _fastread
    except ImportError:  # installed without a compiler
        return None
    _fastread.setup(Field, Scalar)
    return _fastread


FASTREAD = _fast_path()
_FAST: Callable[[str], list[Field] | None] | None = FASTREAD.parse if FASTREAD is not None else None


def tokenize(text: str) -> tuple[list[str], list[int], list[int]]:
    """Tokens as parallel lists: kind ("i", "n", "s" or the symbol itself), start, end.

    A last token of kind "" marks the end of the text.
    """
    kinds: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    every_token = _Want()
    every_token.value = True  # never a field as one token
    for kind, start, end in _fields_and_tokens(text, 0, len(text), _NOT_UTF8.search(text) is not None, every_token):
        kinds.append(kind)
        starts.append(start)
        ends.append(end)
        if kind == "":
            break
    return kinds, starts, ends


class _Want:
    """What the builder tells the tokens it reads, and what they hand it besides (`_fields_and_tokens`)."""

    __slots__ = ("value", "field")

    def __init__(self) -> None:
        self.value = False  # a value comes next: a `name: value` there is tokens, not a field
        self.field: re.Match[str] | None = None  # the match of the last "f" token


def _fields_and_tokens(
    text: str, start: int, end: int, not_utf8: bool, want: _Want, lazy: _Lazy | None = None
) -> Iterator[tuple[str, int, int]]:
    """Each token of `text[start:end]` as (kind, start, end), then its end (kind "") for ever.

    Each `name: value` field is one token, ("f", its start, its end), its match in
    `want.field`; where the builder wants a value (`want.value`), its tokens come one
    by one instead. With `lazy`, the span was read before, and each message in it
    comes as its `{` (or `<`) and its closer: what lies between is not read. A token
    the tokenizer refuses raises `InputError` when it is reached.
    """
    position = start
    while position >= 0:
        for match in _FIELD_OR_TOKEN.finditer(text, position, end):
            group = match.lastindex or 0
            token_start, token_end = match.span(group)
            if group <= _FIELD_GROUPS:
                if not_utf8 and group == 6:
                    _refuse_bytes_in_string(text, token_start, token_end)
                if not want.value:
                    want.field = match
                    yield "f", match.start(1), token_end
                    continue
                yield "i", match.start(1), match.end(1)
                yield ":", match.start(2), match.end(2)
                if group == 4 and match.start(3) != token_start:
                    yield "-", match.start(3), token_start
                yield _FIELD_KINDS[group], token_start, token_end
                continue
            group -= _FIELD_GROUPS
            if group == 4:
                symbol = text[token_start]
                yield symbol, token_start, token_end
                if lazy is not None and (symbol == "{" or symbol == "<"):
                    close = lazy.close_of(token_start)
                    yield text[close], close, close + 1
                    position = close + 1
                    break
            elif group < 4:
                if not_utf8 and group == 3:
                    _refuse_bytes_in_string(text, token_start, token_end)
                yield _KIND[group], token_start, token_end
            elif group == 5:
                raise InputError(f"invalid number {clip(text[token_start:token_end])!r}", token_start)
            elif group == 7:
                position = -1
                break
            else:
                raise _bad_character(text, token_start)
    while True:
        yield "", end, end


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
    if kind == "f":  # a field's name, where the builder wanted no field
        return _describe(text, "i", start, _name_end(text, start))
    if kind in _KIND_NAMES:
        return f"{_KIND_NAMES[kind]} {text[start:end][:40]!r}"
    return repr(kind)


def _name_end(text: str, start: int) -> int:
    word = _WORD.match(text, start)
    assert word is not None
    return word.end()


def parse_tree(text: str, *, lazy: bool | None = None) -> list[Field]:
    """Parse text into the top-level list of `Field` nodes (syntax only).

    One loop over the tokens with its own stack of open messages: fast, and
    nesting depth is bounded by memory, not by Python's recursion limit.
    Running out of memory is an `InputError` about the whole input.
    `lazy` (by default: for a text of `LAZY_FROM` characters or more) makes
    each message node a `Span`.

    The garbage collector is paused meanwhile: a tree has no reference cycles
    for it to find, and its passes over the growing tree took a third of the time.
    """
    try:
        with collector_paused():
            return _parse_tree(text, len(text) >= LAZY_FROM if lazy is None else lazy)
    except MemoryError:
        pass  # raised below, once the half-built tree is let go
    raise out_of_memory(len(text))


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The garbage collector off while nodes are made (it finds no cycles in a tree), then as it was."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _parse_tree(text: str, lazy: bool) -> list[Field]:
    if _FAST is not None and not lazy:
        tree = _FAST(text)
        if tree is not None:
            return tree
    want = _Want()
    tokens = _fields_and_tokens(text, 0, len(text), _NOT_UTF8.search(text) is not None, want)
    try:
        return _build(text, tokens.__next__, want, _Lazy(text) if lazy else None, True)
    except _SyntaxError as exc:
        # A token the tokenizer refuses, anywhere in the text, is the error to report:
        # the tree is built as the tokens come, so the rest of them are read first.
        for kind, _, _ in tokens:
            if kind == "":
                break
        raise InputError(exc.message, exc.offset) from None


class _SyntaxError(Exception):
    """The parser's own error, raised once the rest of the text is known to tokenize.

    It holds no InputError: the one raised in its place has it as its context, and
    a reference back would make a cycle that keeps the failed file's frames (its
    text, its tree so far) alive until the next collection.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message, self.offset = message, offset


_Token = tuple[str, int, int]  # kind, start, end


def _build(
    text: str, advance: Callable[[], _Token], want: _Want, lazy: _Lazy | None = None, first: bool = True
) -> list[Field]:
    """The tree, from the tokens as they come: no list of them is kept (memory: README, 'Memory').

    Where a value is to come next, `want.value` is set while the token is read: a
    `name: value` there is read as its tokens, not as a field.

    With `lazy`, each message node is a `Span` and its children are not kept; on
    the `first` read of the text, where each message ends is noted in `lazy`.
    """
    names: dict[str, str] = {}  # one string per field name, however many fields it names
    root: list[Field] = []
    # Each open message: its Field (None for the top level), its closing symbol, its fields.
    stack: list[tuple[Field | None, str, list[Field]]] = []
    spans: list[int] = []  # for a lazy first read: where each open message's end is to be noted
    owner: Field | None = None
    closer = ""
    children = root
    kind, start, end = advance()
    while True:
        if kind == "f":  # `name: value`, the commonest field, in one token
            match = want.field
            assert match is not None
            name = match[1]
            field = Field(names.setdefault(name, name), start)
            children.append(field)
            field.colon = True
            group = match.lastindex or 0
            value_start = match.start(group)
            first_start = match.start(3) if group == 4 else value_start  # a sign, if any, is part of it
            if group == 6:
                scalar = Scalar("string", value_start, end, value_start, ((value_start, end),))
            else:
                scalar = Scalar(_SCALAR_KINDS[group], first_start, end, value_start)
            field.values = (scalar,)
            field.end = field.stop = end
            kind, start, end = advance()
            if kind == "," or kind == ";":
                field.stop = end
                kind, start, end = advance()
        elif kind == "i":
            name = text[start:end]
            field = Field(names.setdefault(name, name), start)
            children.append(field)
            kind, start, end = advance()
            colon = kind == ":"
            if colon:
                field.colon = True
                kind, start, end = _value_token(advance, want)
            if kind == "[":
                kind, start, end = _value_token(advance, want)
                if kind not in _CLOSER:
                    kind, start, end = _parse_scalar_list(text, advance, want, kind, start, end, field)
                    continue
                field.in_list = True
            elif kind != "{" and kind != "<":
                if not colon:
                    raise _SyntaxError(f"expected ':' or '{{' after field name {clip(field.name)!r}", start)
                scalar, (kind, start, end) = _parse_scalar(text, advance, want, kind, start, end)
                field.values = (scalar,)
                field.end = field.stop = scalar.end
                if kind == "," or kind == ";":
                    field.stop = end
                    kind, start, end = advance()
                continue
            stack.append((owner, closer, children))
            opened, inner = _open(field, start, lazy, first, spans)
            children[-1] = opened  # the same node, or in a lazy tree its Span
            owner, closer, children = opened, _CLOSER[kind], inner
            kind, start, end = advance()
        elif kind == closer and owner is not None:
            owner.close = end - 1
            owner.end = owner.stop = end
            if first and lazy is not None:
                lazy.closes[spans.pop()] = end - 1
            done = owner
            owner, closer, children = stack.pop()
            kind, start, end = advance()
            if done.in_list:
                if kind == ",":  # the next message of `name [{...}, {...}]`
                    kind, start, end = advance()
                    if kind not in _CLOSER:
                        raise _SyntaxError("expected '{' in a list of messages", start)
                    element = Field(done.name, done.start)
                    element.in_list = True
                    children.append(element)
                    stack.append((owner, closer, children))
                    opened, inner = _open(element, start, lazy, first, spans)
                    children[-1] = opened
                    owner, closer, children = opened, _CLOSER[kind], inner
                    kind, start, end = advance()
                    continue
                if kind != "]":
                    raise _SyntaxError(f"expected ',' or ']', found {_describe(text, kind, start, end)}", start)
                done.end = done.stop = end
                kind, start, end = advance()
            if kind == "," or kind == ";":
                done.stop = end
                kind, start, end = advance()
        elif kind == "" and owner is None:
            return root
        else:
            expected = f"a field name or {closer!r}" if owner is not None else "a field name"
            raise _SyntaxError(f"expected {expected}, found {_describe(text, kind, start, end)}", start)


def _value_token(advance: Callable[[], _Token], want: _Want) -> _Token:
    """The next token, where a value is wanted: a `name: value` there comes as its tokens."""
    want.value = True
    token = advance()
    want.value = False
    return token


def _open(field: Field, open_: int, lazy: _Lazy | None, first: bool, spans: list[int]) -> tuple[Field, list[Field]]:
    """A message node whose `{` (or `<`) is at `open_`, and the list its fields are read into.

    In a lazy tree the node becomes a `Span`, and the list is let go when it closes.
    """
    if lazy is None:
        children: list[Field] = []
        field.open = open_
        field.children = children
        return field, children
    return _open_span(field, open_, lazy, first, spans), []


def _open_span(field: Field, open_: int, lazy: _Lazy, first: bool, spans: list[int]) -> Span:
    """The `Span` for a message node whose `{` (or `<`) is at `open_`."""
    span = Span(field, lazy)
    span.open = open_
    if first:  # where it ends is noted when it closes
        spans.append(len(lazy.opens))
        lazy.opens.append(open_)
        lazy.closes.append(-1)
    return span


def _parse_scalar(
    text: str, advance: Callable[[], _Token], want: _Want, kind: str, start: int, end: int
) -> tuple[Scalar, _Token]:
    """One value (a `-` and a number or word, or adjacent strings) from the token `kind, start, end` on.

    Returns it and the token after it.
    """
    if kind == "s":
        pieces = []
        while kind == "s":
            pieces.append((start, end))
            kind, start, end = advance()
        return Scalar("string", pieces[0][0], pieces[-1][1], pieces[0][0], tuple(pieces)), (kind, start, end)
    first = start
    if kind == "-":
        kind, start, end = _value_token(advance, want)
    if kind != "n" and kind != "i":
        raise _SyntaxError(f"expected a value, found {_describe(text, kind, start, end)}", start)
    return Scalar("number" if kind == "n" else "ident", first, end, start), advance()


def _parse_scalar_list(
    text: str, advance: Callable[[], _Token], want: _Want, kind: str, start: int, end: int, field: Field
) -> _Token:
    """`name: [a, b, c]` from the token after `[` on: several scalar values for one repeated field."""
    values: list[Scalar] = []
    if kind != "]":
        scalar, (kind, start, end) = _parse_scalar(text, advance, want, kind, start, end)
        values.append(scalar)
        while kind == ",":
            scalar, (kind, start, end) = _parse_scalar(text, advance, want, *_value_token(advance, want))
            values.append(scalar)
    if kind != "]":
        raise _SyntaxError(f"expected ',' or ']', found {_describe(text, kind, start, end)}", start)
    field.values = tuple(values)
    field.end = field.stop = end
    kind, start, end = advance()
    if kind == "," or kind == ";":
        field.stop = end
        kind, start, end = advance()
    return kind, start, end
