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
import re
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
        self._line_starts: list[int] | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> Source:
        """Decode UTF-8, a byte that is not UTF-8 as a lone surrogate; a leading BOM is accepted and remembered."""
        bom = data.startswith(UTF8_BOM)
        body = data[len(UTF8_BOM) :] if bom else data
        try:
            text: str | None = _decode(body)
        except MemoryError:
            text = None  # raised below, once the handler has let go of what ran out of memory
        if text is None:
            raise out_of_memory(len(data))
        return cls(text, bom)

    def encode(self, text: str) -> bytes:
        """Encode text for writing back, keeping the BOM the input had and the bytes of its comments."""
        data = text.encode("utf-8", "surrogateescape")
        return UTF8_BOM + data if self.bom else data

    def position(self, offset: int) -> Position:
        if offset == 0:
            return Position(1, 1)
        if self._line_starts is None:  # built on first use: most files never need it
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        line = bisect.bisect_right(self._line_starts, offset)
        return Position(line, offset - self._line_starts[line - 1] + 1)


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:  # the reader says where such a byte is, unless it is in a comment
        return body.decode("utf-8", "surrogateescape")


def out_of_memory(size: int) -> InputError:
    """The one-line error for an input too big for the memory there is (offset 0: it is about the whole file)."""
    return InputError(
        f"not enough memory to read this input ({size / 1e6:.1f} MB; bn-upgrade needs up to about 10 times that)"
    )
