"""Span edits on the original text, and the layout rules for making them.

Every edit carries the text it expects to replace; `apply_edits` checks it and
works from the end of the text backwards, so offsets stay valid and everything
no edit touches comes out byte for byte as it went in.

Lines end in LF, CRLF or a lone CR (old Mac files), and the layout rules know
all three. A `#` comment, though, runs to the next LF as Caffe's parser reads
it: under lone-CR line ends it runs to the end of the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from upgrade_tool.errors import SelfCheckError
from upgrade_tool.reader import Field

_BLANK = re.compile(r"[ \t]*")
_REST_OF_LINE = re.compile(r"[ \t]*(?:#[^\n]*(?:\n|\Z)|\r\n|\r|\n|\Z)")  # blanks, a comment, the line end
_SPACE_BETWEEN = re.compile(r"[ \t\r\n]*")


class Edit(NamedTuple):
    start: int
    end: int
    old: str
    new: str


def replace(text: str, start: int, end: int, new: str) -> Edit:
    return Edit(start, end, text[start:end], new)


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """Apply non-overlapping edits; a stale or overlapping edit is a bug."""
    pieces: list[str] = []
    position = len(text)
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        if edit.end > position or text[edit.start : edit.end] != edit.old:
            raise SelfCheckError(f"edit at offset {edit.start} does not match the text it was made for")
        pieces.append(text[edit.end : position])
        pieces.append(edit.new)
        position = edit.start
    pieces.append(text[:position])
    return "".join(reversed(pieces))


def newline_of(text: str) -> str:
    """The file's own line ending: CRLF if its first LF follows a CR, else LF; a lone CR if it has no LF at all.

    (A file that mixes lone CRs with LFs gets LF or CRLF: a comment ends only at an LF.)
    """
    first = text.find("\n")
    if first < 0:
        return "\r" if "\r" in text else "\n"
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def start_of_line(text: str, offset: int) -> int:
    """Offset of the start of the line holding `offset` (after an LF, CRLF or lone CR)."""
    start = text.rfind("\n", 0, offset) + 1
    cr = text.rfind("\r", start, offset)  # only within this LF line: no scan of a whole LF file
    return cr + 1 if cr >= 0 else start


def delete_nodes(text: str, nodes: Sequence[Field], *, keep_comments: bool = False) -> list[Edit]:
    """Remove nodes' text; where a run of them fills whole lines, remove the lines.

    Nodes separated only by white space form one run. A run that stands alone
    on its lines (nothing before it but indentation, nothing after it but
    spaces and perhaps a comment) takes those lines with it, so no blank line is
    left behind; otherwise just the run and the spaces before it are cut.
    With `keep_comments`, a comment ending a run's line stays where it was.
    """
    edits = []
    for start, stop in _runs(text, nodes):
        comment = _comment_after(text, stop) if keep_comments else None
        edits.append(_delete_run(text, start, stop) if comment is None else _cut_before(text, start, comment))
    return edits


def trailing_comment(text: str, node: Field) -> str | None:
    """The `# ...` comment ending the line `node` ends on, if nothing else comes between."""
    at = _comment_after(text, node.stop)
    if at is None:
        return None
    end = text.find("\n", at)  # a comment runs to the LF (a lone CR does not end it)
    end = len(text) if end < 0 else end
    return text[at : end - 1 if text[end - 1] == "\r" else end]


def _comment_after(text: str, stop: int) -> int | None:
    rest = _REST_OF_LINE.match(text, stop)
    if rest is None:
        return None
    at = text.find("#", stop, rest.end())
    return at if at >= 0 else None


def _cut_before(text: str, start: int, comment: int) -> Edit:
    """Cut a run up to the comment that follows it on its line, keeping the comment."""
    line_start = start_of_line(text, start)
    if _BLANK.match(text, line_start, start).end() == start:  # type: ignore[union-attr]
        return replace(text, start, comment, "")
    while text[start - 1] in " \t":
        start -= 1
    return replace(text, start, comment, " ")


def _runs(text: str, nodes: Sequence[Field]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for node in sorted(nodes, key=lambda n: n.start):
        if runs and (node.start <= runs[-1][1] or _only_space(text, runs[-1][1], node.start)):
            runs[-1] = (runs[-1][0], max(runs[-1][1], node.stop))
        else:
            runs.append((node.start, node.stop))
    return runs


def _only_space(text: str, start: int, end: int) -> bool:
    match = _SPACE_BETWEEN.match(text, start, end)
    return match is not None and match.end() == end


def _delete_run(text: str, start: int, stop: int) -> Edit:
    line_start = start_of_line(text, start)
    starts_line = _BLANK.match(text, line_start, start).end() == start  # type: ignore[union-attr]
    rest = _REST_OF_LINE.match(text, stop)
    if starts_line and rest is not None:
        return replace(text, line_start, rest.end(), "")
    if not starts_line:
        while start > line_start and text[start - 1] in " \t":
            start -= 1
        return replace(text, start, stop, "")
    after = _BLANK.match(text, stop).end()  # type: ignore[union-attr]
    return replace(text, start, after, "")


def insert_after(text: str, node: Field, field_text: str) -> Edit:
    """Add `field_text` after `node`: on a line of its own, indented like the
    node, if the node has a line of its own; otherwise right after it (and before a
    comment that, under lone-CR line ends, runs to the end of the file)."""
    line_start = start_of_line(text, node.start)
    indent = text[line_start : node.start]
    rest = _REST_OF_LINE.match(text, node.stop)
    newline = newline_of(text)
    if indent.strip(" \t") or rest is None or (newline == "\r" and "#" in rest.group()):
        return Edit(node.stop, node.stop, "", " " + field_text)
    line_end = _before_line_end(text, rest.end())
    return Edit(line_end, line_end, "", newline + indent + field_text)


def _before_line_end(text: str, end: int) -> int:
    """Where the line ending at `end` (past its LF, CRLF or lone CR, or at the end of the text) stops."""
    if text.endswith("\r\n", 0, end):
        return end - 2
    return end - 1 if end > 0 and text[end - 1] in "\r\n" else end


def map_back(offset: int, edits: Iterable[Edit]) -> int:
    """Where an offset in the edited text was before `edits` were applied.

    Offsets inside inserted text map to the start of the edit that made it.
    """
    shift = 0
    for edit in sorted(edits, key=lambda e: e.start):
        new_start = edit.start + shift
        if offset < new_start:
            break
        if offset < new_start + len(edit.new):
            return edit.start
        shift += len(edit.new) - (edit.end - edit.start)
    return offset - shift


def line_indent(text: str, offset: int) -> str | None:
    """The indentation before `offset` if only blanks precede it on its line, else None."""
    line_start = start_of_line(text, offset)
    before = text[line_start:offset]
    return before if not before.strip(" \t") else None


def owns_line(text: str, node: Field) -> bool:
    """Whether `node` has its line to itself (a trailing comment aside), as `insert_after` decides."""
    return line_indent(text, node.start) is not None and _REST_OF_LINE.match(text, node.stop) is not None
