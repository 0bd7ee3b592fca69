"""A unified diff of two line lists, as `difflib.unified_diff` gives it, in about linear time.

difflib matches by recursion: the longest block common to the range, then the same on each side.
Its search for that block visits every pair of equal lines in the range, so a whole big net
(hundreds of thousands of lines, a line like `  }` thousands of times) costs minutes. An upgrade
keeps nearly every line in order, so here a big range takes its block from the runs of equal
lines that one walk down both texts finds, chosen by difflib's own rule (the longest core of
lines difflib does not find popular, then the earliest) and grown as difflib grows it; a range of
at most `SMALL` lines is searched as difflib searches it. Up to `SMALL` lines nothing differs from
difflib at all; above it, the output equals difflib's unless some block off the walk is longer
than every block on it in the same range. Either way the diff turns the first text into the second.
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterator, Sequence

# A range with at most this many lines of the first text is searched exactly as difflib does.
SMALL = 1000
# Where the texts differ, the walk looks this far for CONFIRM lines that agree again.
REACH = 400
CONFIRM = 3
CONTEXT = 3

Block = tuple[int, int, int]  # i, j, size: a[i:i+size] == b[j:j+size]


def unified_diff(a: Sequence[str], b: Sequence[str], fromfile: str, tofile: str) -> Iterator[str]:
    """The lines of `difflib.unified_diff(a, b, fromfile, tofile)` (no dates, `\\n` terminators)."""
    matcher = difflib.SequenceMatcher(None, a, b)
    if len(a) > SMALL:
        blocks = _Matcher(a, b, matcher).matching_blocks()
        matcher.matching_blocks = [difflib.Match(*block) for block in blocks]  # type: ignore[attr-defined]  # difflib keeps its blocks here
    started = False
    for group in matcher.get_grouped_opcodes(CONTEXT):
        if not started:
            started = True
            yield f"--- {fromfile}\n"
            yield f"+++ {tofile}\n"
        first, last = group[0], group[-1]
        yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                yield from (" " + line for line in a[i1:i2])
                continue
            if tag in {"replace", "delete"}:
                yield from ("-" + line for line in a[i1:i2])
            if tag in {"replace", "insert"}:
                yield from ("+" + line for line in b[j1:j2])


def _range(start: int, stop: int) -> str:
    """difflib's `_format_range_unified`: `start,length`, 1-based; an empty range names the line before."""
    beginning = start + 1
    length = stop - start
    if length == 1:
        return f"{beginning}"
    if not length:
        beginning -= 1
    return f"{beginning},{length}"


class _Matcher:
    """difflib's `get_matching_blocks`, its longest-block search replaced for big ranges."""

    def __init__(self, a: Sequence[str], b: Sequence[str], matcher: difflib.SequenceMatcher[str]) -> None:
        self.a, self.b = a, b
        self.b2j: dict[str, list[int]] = matcher.b2j  # type: ignore[attr-defined]
        self.popular: set[str] = matcher.bpopular  # type: ignore[attr-defined]
        self.runs = _walk_runs(a, b)
        self.cores = [self._core(run, 0, run[2]) for run in self.runs]

    def matching_blocks(self) -> list[Block]:
        la, lb = len(self.a), len(self.b)
        queue = [(0, la, 0, lb, 0, len(self.runs))]
        found: list[Block] = []
        while queue:
            alo, ahi, blo, bhi, rlo, rhi = queue.pop()
            i, j, k, r = self._longest(alo, ahi, blo, bhi, rlo, rhi)
            if k:
                found.append((i, j, k))
                if alo < i and blo < j:
                    queue.append((alo, i, blo, j, rlo, min(r + 1, rhi)))
                if i + k < ahi and j + k < bhi:
                    queue.append((i + k, ahi, j + k, bhi, max(r, rlo), rhi))
        found.sort()
        return _merged(found) + [(la, lb, 0)]

    def _longest(self, alo: int, ahi: int, blo: int, bhi: int, rlo: int, rhi: int) -> tuple[int, int, int, int]:
        """The block difflib's `find_longest_match` gives, and the index of the run it lies on."""
        best = (0, 0, 0)
        where = rlo
        if ahi - alo > SMALL:
            for r in range(rlo, rhi):
                core = self._clipped_core(r, alo, ahi, blo, bhi)
                if core[2] > best[2]:
                    best, where = core, r
        if not best[2]:
            return (*self._exact(alo, ahi, blo, bhi), rlo)
        return (*self._extended(best, alo, ahi, blo, bhi), where)

    def _clipped_core(self, r: int, alo: int, ahi: int, blo: int, bhi: int) -> Block:
        i, j, k = self.runs[r]
        start = max(0, alo - i, blo - j)
        stop = min(k, ahi - i, bhi - j)
        if start >= stop:
            return (0, 0, 0)
        if start == 0 and stop == k:
            return self.cores[r]
        return self._core(self.runs[r], start, stop)

    def _core(self, run: Block, start: int, stop: int) -> Block:
        """The first longest stretch of non-popular lines in run[start:stop]."""
        i, j, _ = run
        best = (0, 0, 0)
        length = 0
        for offset in range(start, stop):
            if self.b[j + offset] in self.popular:
                length = 0
                continue
            length += 1
            if length > best[2]:
                best = (i + offset - length + 1, j + offset - length + 1, length)
        return best

    def _extended(self, core: Block, alo: int, ahi: int, blo: int, bhi: int) -> Block:
        """A core grown over equal lines either way, as difflib grows it (no junk function here)."""
        a, b = self.a, self.b
        i, j, k = core
        while i > alo and j > blo and a[i - 1] == b[j - 1]:
            i, j, k = i - 1, j - 1, k + 1
        while i + k < ahi and j + k < bhi and a[i + k] == b[j + k]:
            k += 1
        return i, j, k

    def _exact(self, alo: int, ahi: int, blo: int, bhi: int) -> Block:
        """difflib's `find_longest_match`, each line's places in b looked up from `blo` on."""
        besti, bestj, bestsize = alo, blo, 0
        j2len: dict[int, int] = {}
        for i in range(alo, ahi):
            places = self.b2j.get(self.a[i], ())
            newj2len: dict[int, int] = {}
            for n in range(bisect.bisect_left(places, blo), len(places)):
                j = places[n]
                if j >= bhi:
                    break
                k = newj2len[j] = j2len.get(j - 1, 0) + 1
                if k > bestsize:
                    besti, bestj, bestsize = i - k + 1, j - k + 1, k
            j2len = newj2len
        return self._extended((besti, bestj, bestsize), alo, ahi, blo, bhi)


def _walk_runs(a: Sequence[str], b: Sequence[str]) -> list[Block]:
    """The runs of equal lines of a walk down both texts that, where they differ, takes the
    nearest place where `CONFIRM` lines agree again; after a change wider than `REACH` lines,
    the rest is left to the exact search."""
    runs: list[Block] = []
    i = j = 0
    while i < len(a) and j < len(b):
        k = 0
        while i + k < len(a) and j + k < len(b) and a[i + k] == b[j + k]:
            k += 1
        if k:
            runs.append((i, j, k))
            i, j = i + k, j + k
            continue
        place = _resync(a, b, i, j)
        if place is None:
            break
        i, j = place
    return runs


def _resync(a: Sequence[str], b: Sequence[str], i: int, j: int) -> tuple[int, int] | None:
    for distance in range(1, REACH):
        for x in range(distance + 1):
            ii, jj = i + x, j + distance - x
            if ii < len(a) and jj < len(b) and a[ii : ii + CONFIRM] == b[jj : jj + CONFIRM]:
                return ii, jj
    return None


def _merged(blocks: list[Block]) -> list[Block]:
    """Adjacent blocks joined into one, as difflib joins them."""
    merged: list[Block] = []
    for i, j, k in blocks:
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            last = merged.pop()
            merged.append((last[0], last[1], last[2] + k))
        else:
            merged.append((i, j, k))
    return merged
