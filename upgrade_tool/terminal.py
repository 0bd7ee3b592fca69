"""What a terminal gets beyond plain lines: colour where it is wanted, and a progress line on stderr."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Mapping
from typing import TextIO

_RESET = "\033[0m"
STYLES = {
    "error": "\033[1;31m",  # bold red: errors, findings that need a human
    "warning": "\033[33m",
    "note": "\033[36m",
    "path": "\033[1m",
    "added": "\033[32m",
    "removed": "\033[31m",
    "hunk": "\033[36m",
    "header": "\033[1m",
}


def wants_color(choice: bool | None, stream: TextIO | None, environ: Mapping[str, str] = os.environ) -> bool:
    """`--color`/`--no-color` if given; else FORCE_COLOR (set, not "0") forces it and NO_COLOR (set) turns it off;
    else colour only on a terminal (and never on TERM=dumb)."""
    if choice is not None:
        return choice
    if environ.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    if environ.get("NO_COLOR", ""):
        return False
    if environ.get("TERM") == "dumb":
        return False
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


def paint(text: str, style: str, on: bool) -> str:
    return f"{STYLES[style]}{text}{_RESET}" if on and text else text


def paint_diff(diff: str, on: bool) -> str:
    """A unified diff with added, removed, hunk and header lines coloured."""
    if not on:
        return diff
    out = []
    for line in diff.splitlines(keepends=True):
        body, end = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        if line.startswith(("+++", "---")):
            out.append(paint(body, "header", True) + end)
        elif line.startswith("@@"):
            out.append(paint(body, "hunk", True) + end)
        elif line.startswith("+"):
            out.append(paint(body, "added", True) + end)
        elif line.startswith("-"):
            out.append(paint(body, "removed", True) + end)
        else:
            out.append(line)
    return "".join(out)


_LOCATED = re.compile(r"^(?P<where>.+?:\d+:\d+: |[^:]+: )(?P<code>[A-Z]+[0-9]{3}) ")


def paint_line(line: str, level: str | None, on: bool) -> str:
    """A message line with its place in bold and its code in its level's colour."""
    if not on:
        return line
    match = _LOCATED.match(line)
    if match is None or level is None:
        return line
    where = match["where"][:-2]
    rest = line[match.end() :]
    return f"{paint(where, 'path', True)}: {paint(match['code'], level, True)} {rest}"


def elide_middle(text: str, width: int) -> str:
    """`text` cut to `width` characters by taking out its middle (a path keeps its start and its file name)."""
    if len(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    keep = width - 1
    head = keep // 3
    return text[:head] + "\u2026" + text[len(text) - (keep - head) :]


class Progress:
    """One line on stderr, redrawn as files finish: percent, done/total, rate, ETA, the last file."""

    def __init__(self, total: int, stream: TextIO, width: int, clock: object = time.monotonic) -> None:
        self.total = total
        self.stream = stream
        self.width = max(width - 1, 20)
        self._clock = clock
        self.started = self._now()
        self.shown = False

    def _now(self) -> float:
        now = self._clock()  # type: ignore[operator]
        return float(now)

    def line(self, done: int, name: str) -> str:
        elapsed = max(self._now() - self.started, 1e-6)
        rate = done / elapsed
        left = (self.total - done) / rate if rate > 0 else 0.0
        percent = 100 * done // max(self.total, 1)
        head = f"[{percent:3d}%] {done}/{self.total} files, {rate:.0f}/s, ETA {_duration(left)}  "
        return head + elide_middle(name, max(self.width - len(head), 10))

    def update(self, done: int, name: str) -> None:
        self._write("\r" + self.line(done, name).ljust(self.width)[: self.width])
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self._write("\r" + " " * self.width + "\r")
            self.shown = False

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # the terminal went away (SIGHUP follows)
            self.stream.write(text)
            self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
