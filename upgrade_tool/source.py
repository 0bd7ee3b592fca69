"""Bytes in, text out: decoding a file and mapping offsets back to lines and columns.

Caffe's parser reads bytes: a comment may hold anything but NUL and a newline,
a Latin-1 `é` included. So the text is UTF-8 decoded with Python's
`surrogateescape` handler: each byte that is not part of valid UTF-8 becomes
one lone surrogate (U+DC80..U+DCFF), which the reader refuses anywhere but in
a comment, and which `encode` turns back into the same byte. Comments come out
byte for byte; everything else is valid UTF-8.
"""

from __future__ import annotations

import bisect
import contextlib
import re
from array import array
from typing import NamedTuple

from upgrade_tool.errors import InputError

UTF8_BOM = b"\xef\xbb\xbf"


class Position(NamedTuple):
    """1-based line and column (columns count characters, a tab is one)."""

    line: int
    column: int


class Source:
    """Decoded text of one input, with the BOM it came with and a line index."""

    def __init__(self, text: str, bom: bool = False) -> None:
        self.text = text
        self.bom = bom
        self._line_starts: array[int] | None = None
        self._counted = 0  # positions found by counting lines, before the index is built

    @classmethod
    def from_bytes(cls, data: bytes) -> Source:
        """Decode UTF-8, a byte that is not UTF-8 as a lone surrogate; a leading BOM is accepted and remembered.

        A big input that cannot be upgraded in the memory that is free is refused here,
        before it is read (`check_memory`).
        """
        bom = data.startswith(UTF8_BOM)
        body = data[len(UTF8_BOM) :] if bom else data
        try:
            text: str | None = _decode(body)
        except MemoryError:
            text = None  # raised below, once the handler has let go of what ran out of memory
        if text is None:
            raise out_of_memory(len(data))
        check_memory(text)
        return cls(text, bom)

    def encode(self, text: str) -> bytes:
        """Encode text for writing back, keeping the BOM the input had and the bytes of its comments."""
        data = text.encode("utf-8", "surrogateescape")
        return UTF8_BOM + data if self.bom else data

    def position(self, offset: int) -> Position:
        if offset == 0:
            return Position(1, 1)
        if self._line_starts is None and self._counted < _COUNTED:  # most files ask for a position or two
            self._counted += 1
            return Position(self.text.count("\n", 0, offset) + 1, offset - self.text.rfind("\n", 0, offset))
        if self._line_starts is None:  # built when many are asked for
            # an array: 8 bytes a line, where a list of ints takes 40
            self._line_starts = array("q", [0])
            self._line_starts.extend(m.end() for m in re.finditer("\n", self.text))
        line = bisect.bisect_right(self._line_starts, offset)
        return Position(line, offset - self._line_starts[line - 1] + 1)


_COUNTED = 8  # positions found by counting the lines before each; past that, by a line index


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:  # the reader says where such a byte is, unless it is in a comment
        return body.decode("utf-8", "surrogateescape")


# Peak memory of an upgrade in place (README, 'Memory'): the messages (a message costs far
# more than a value), copies of the text, and the syntax tree: about 340 bytes a field, or,
# read lazily (reader.LAZY_FROM), a node per top-level field only. 100 bytes for each `:`
# (350 when not lazy), 4,000 for each `{` or `<` and 4 a character is more than the peak
# measured for bench/scaling.py's net and for nets of tiny layers, V1 ones included. Past
# what is free, protobuf's C code crashes rather than raising MemoryError, so an input is
# checked against free memory before it is read.
BYTES_PER_VALUE = 100
BYTES_PER_VALUE_NOT_LAZY = 350
BYTES_PER_MESSAGE = 4000
BYTES_PER_CHARACTER = 4
CHECKED_FROM = 100_000  # characters; below this, no input needs much memory
LAZY_FROM = 2_000_000  # characters: a text this long or longer is read lazily (reader.Span)


def out_of_memory(size: int, needed: int = 0, free: int = 0) -> InputError:
    """The one-line error for an input too big for the memory there is (about the whole input: offset 0)."""
    what = f"not enough memory to read this input ({size / 1e6:.1f} MB of text)"
    if needed:
        what = f"not enough memory: this input ({size / 1e6:.1f} MB) needs about {needed / 1e6:.0f} MB, "
        what += f"{free / 1e6:.0f} MB is free"
    return InputError(what + "; see README, 'Memory'", 0, "E008")


def memory_needed(text: str) -> int:
    """About the most memory upgrading `text` in place takes (values counted by their `:`, messages by braces)."""
    messages = text.count("{") + text.count("<")
    per_value = BYTES_PER_VALUE if len(text) >= LAZY_FROM else BYTES_PER_VALUE_NOT_LAZY
    return per_value * text.count(":") + BYTES_PER_MESSAGE * messages + BYTES_PER_CHARACTER * len(text)


def check_memory(text: str) -> None:
    """Refuse a big text that cannot be upgraded in the memory that is free."""
    if len(text) < CHECKED_FROM:
        return
    needed = memory_needed(text)
    free = free_memory()
    if free is not None and needed > free:
        raise out_of_memory(len(text), needed, free)


def free_memory() -> int | None:
    """Bytes this process can still get: free RAM, within an address-space limit if one is set."""
    free: int | None = None
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    try:
        import resource  # not on Windows
    except ImportError:
        return free
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit != resource.RLIM_INFINITY:
        with contextlib.suppress(OSError, ValueError):
            with open("/proc/self/status", encoding="ascii") as status:
                used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
            free = limit - used if free is None else min(free, limit - used)
    return free
