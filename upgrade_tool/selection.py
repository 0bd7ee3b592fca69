"""Which codes are on: `--select`, `--extend-select` and `--ignore`, as ruff resolves them.

A selector is a code (`BN001`), a prefix of codes (`BN`, `BN00`) or `ALL`. For
each code, the most specific selector that matches it decides (the longest; on
a tie, ignore wins). A code no selector matches is on when it is on by default
and `select` was not given; giving `select` replaces the default set. Errors
(the `E` and `IO` families) stay on unless they are ignored: `--select BN` must
not hide that a file does not parse.

Selections are layered as ruff layers its command line over its configuration:
a layer (the command line's) sits on a `base` (the file's). A layer with a
`select` replaces everything below it, the base's ignores too; one without only
changes the codes its extend-select and ignore match, and leaves the rest to the
base. Per-file ignores are one more layer on top.

An ignored upgrade (`UP005`) is not applied; an ignored finding is not reported
and does not count towards the exit code; an ignored error still leaves its
file untouched, but is not reported and does not fail the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from upgrade_tool.codes import KNOWN, Code

ALL = "ALL"
ALWAYS_ON = frozenset({"E", "IO"})  # families reported whatever is selected, unless ignored


@dataclass(frozen=True)
class CodeSelection:
    select: tuple[str, ...] | None = None  # None: the codes that are on by default
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    base: CodeSelection | None = None  # the layer below (the configuration file's), for what this one leaves

    def enabled(self, code: Code) -> bool:
        chosen = self.select if self.select is not None else ()
        best: tuple[int, bool] | None = None  # (specificity, on)
        for selectors, on in ((chosen, True), (self.extend_select, True), (self.ignore, False)):
            for selector in selectors:
                if _matches(selector, code.code):
                    candidate = (_specificity(selector), on)
                    if best is None or candidate[0] > best[0] or (candidate[0] == best[0] and not on):
                        best = candidate
        if best is not None:
            return best[1]
        if self.select is None and self.base is not None:
            return self.base.enabled(code)
        return code.family in ALWAYS_ON or (self.select is None and code.default)

    def enabled_code(self, code: str) -> bool:
        """By code string; a code the registry does not know is always on (it cannot be chosen)."""
        from upgrade_tool.codes import by_code

        known = by_code().get(code)
        return True if known is None else self.enabled(known)

    def ignoring(self, more: Iterable[str]) -> CodeSelection:
        """This selection with more codes ignored (per-file ignores), whatever it selects."""
        extra = tuple(more)
        return self if not extra else CodeSelection(None, (), extra, base=self)


DEFAULT = CodeSelection()


def _matches(selector: str, code: str) -> bool:
    return selector == ALL or code.startswith(selector)


def _specificity(selector: str) -> int:
    return 0 if selector == ALL else len(selector)


def unknown_selectors(selectors: Iterable[str]) -> list[str]:
    """Selectors that match no code at all: a typo the user should hear about."""
    return [s for s in selectors if s != ALL and not any(code.startswith(s) for code in KNOWN)]


def normalise(selectors: Iterable[str]) -> tuple[str, ...]:
    """`bn001, BN002` -> ("BN001", "BN002"): upper case, comma lists split, blanks dropped."""
    out: list[str] = []
    for item in selectors:
        out.extend(part.strip().upper() for part in item.split(",") if part.strip())
    return tuple(out)
