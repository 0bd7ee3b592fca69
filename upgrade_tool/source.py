"""Bytes in, text out: decoding a file and mapping offsets back to lines and columns."""

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
        """Decode UTF-8 strictly; a leading BOM is accepted and remembered."""
        bom = data.startswith(UTF8_BOM)
        body = data[len(UTF8_BOM) :] if bom else data
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            good = cls(body[: exc.start].decode("utf-8"))
            error = InputError(f"not valid UTF-8 (byte 0x{body[exc.start]:02x}); is this a binary file?")
            error.line, error.column = good.position(len(good.text))
            raise error from None
        return cls(text, bom)

    def encode(self, text: str) -> bytes:
        """Encode text for writing back, keeping the BOM the input had."""
        data = text.encode("utf-8")
        return UTF8_BOM + data if self.bom else data

    def position(self, offset: int) -> Position:
        if self._line_starts is None:  # built on first use: most files never need it
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        line = bisect.bisect_right(self._line_starts, offset)
        return Position(line, offset - self._line_starts[line - 1] + 1)
