"""Errors raised by the pure core, each pinned to a place in the input text."""

from __future__ import annotations


class InputError(Exception):
    """The input cannot be read as a Caffe net or solver.

    `offset` is a character offset into the decoded text; the CLI turns it into
    `PATH:LINE:COL` with `Source.position`.
    """

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.line = 0  # filled in by whoever knows the text (1-based)
        self.column = 0


class SelfCheckError(Exception):
    """The tool's own output failed its proof (a bug in bn-upgrade, not in the input)."""
