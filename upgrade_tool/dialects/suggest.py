"""Did-you-mean for names: dialects now, unknown fields later."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# How alike two names must be (difflib's ratio, 0..1): `num_ouput` -> `num_output` is 0.95,
# `nvcafe` -> `nvcaffe` 0.92; unrelated short names stay below.
CUTOFF = 0.75


def suggest(name: str, known_names: Iterable[str]) -> str | None:
    """The known name `name` most likely misspells, or None if none is close (or `name` is known).

    A name differing only in case wins outright; otherwise the closest by
    difflib's ratio, compared case-insensitively, at least `CUTOFF`; on a tie
    the one given first.
    """
    known = list(dict.fromkeys(known_names))
    if name in known:
        return None
    wanted = name.lower()
    best: str | None = None
    best_score = CUTOFF
    for candidate in known:
        folded = candidate.lower()
        if folded == wanted:
            return candidate
        matcher = difflib.SequenceMatcher(None, wanted, folded)
        if matcher.real_quick_ratio() < best_score or matcher.quick_ratio() < best_score:
            continue
        score = matcher.ratio()
        if score > best_score or (best is None and score == best_score):
            best, best_score = candidate, score
    return best
