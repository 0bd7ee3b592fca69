"""Which dialect is a file written for? Ranked from the keys of its nodes, with a reason. Pure.

`keys` are those of the nodes the reading schema did not know (`keys_of`);
`used`, optional, those it did (`used_keys`). A dialect *explains* the keys it
knows and *lacks* the used keys it does not know (an older fork without
`batch_norm_param`, say); read with it, the file would have `missing + lacking`
unknown names. Ranking: the fewest such names first (with no `used`: the most
keys explained); then the most keys explained; then the smallest vocabulary (the
most specific fork: R-FCN's MATLAB Caffe before Microsoft's R-FCN Caffe and
Intel's, which also know `psroi_pooling_param`); then the registry's order.
Candidates are the dialects that explain at least one key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from upgrade_tool.dialects.index import Index, Key, load_index
from upgrade_tool.dialects.keys import describe

_SHOWN = 4  # names listed in a reason before "and N more"


@functools.lru_cache(maxsize=16384)  # asked for each field of a fork's message: the same keys over and over
def dialects_knowing(key: Key) -> tuple[str, ...]:
    """The dialects whose schema knows `key`, in registry order."""
    return load_index().knowing(key)


def names_known_in(owner: str, index: Index | None = None) -> tuple[str, ...]:
    """Every field name some dialect gives the message with role name `owner` (for a did-you-mean)."""
    return _names_in(owner, index) if index is not None else _names_in_shipped(owner)


@functools.lru_cache(maxsize=1024)  # the same few messages, file after file
def _names_in_shipped(owner: str) -> tuple[str, ...]:
    return _names_in(owner, load_index())


def _names_in(owner: str, index: Index) -> tuple[str, ...]:
    prefix = owner + "\t"
    return tuple(
        flat[len(prefix) :] for flat in index.masks if flat.startswith(prefix) and "\t" not in flat[len(prefix) :]
    )


def values_known_in(owner: str, field: str, index: Index | None = None) -> tuple[str, ...]:
    """Every enum value name some dialect gives field `field` of the message with role name `owner`."""
    prefix = f"{owner}\t{field}\t"
    return tuple(
        flat[len(prefix) :]
        for flat in (index or load_index()).masks
        if flat.startswith(prefix) and not flat[len(prefix) :].lstrip("-").isdigit() and flat[-2:] != "[]"
    )


@dataclass(frozen=True)
class Candidate:
    dialect: str
    explains: tuple[Key, ...]  # the file's unknown keys it knows
    lacks: tuple[Key, ...]  # the file's used keys it does not know
    vocabulary: int


@dataclass(frozen=True)
class Detection:
    keys: tuple[Key, ...]  # the distinct keys, in the order given
    candidates: tuple[Candidate, ...]  # every dialect that explains at least one key, best first
    known_by: Mapping[Key, tuple[str, ...]]  # each key -> the dialects knowing it, in registry order
    unknown: tuple[Key, ...]  # keys no dialect knows
    reason: str  # one line for people: "ssd: explains multibox_loss_param, ... (also nvcaffe, ...)"

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def fits(self) -> tuple[Candidate, ...]:
        """The candidates that know every name of the file (best first): each reads it with nothing unknown."""
        return tuple(c for c in self.candidates if len(c.explains) == len(self.keys) and not c.lacks)


def detect(keys: Iterable[Key], used: Iterable[Key] = (), index: Index | None = None) -> Detection:
    """Rank the dialects for a file with these `keys` (and `used` keys); default index: the shipped one."""
    index = index or load_index()
    distinct = tuple(dict.fromkeys(keys))
    known_by = {key: index.knowing(key) for key in distinct}
    explains: dict[str, list[Key]] = {}
    for key in distinct:
        for name in known_by[key]:
            explains.setdefault(name, []).append(key)
    seen = set(distinct)
    used_masks = [(key, index.mask(key)) for key in dict.fromkeys(used) if key not in seen]
    bits = {name: 1 << bit for bit, name in enumerate(index.dialects)}
    order = {name: position for position, name in enumerate(index.dialects)}
    vocabulary = dict(zip(index.dialects, index.vocabulary, strict=True))
    candidates = [
        Candidate(name, tuple(found), tuple(key for key, mask in used_masks if not mask & bits[name]), vocabulary[name])
        for name, found in explains.items()
    ]
    candidates.sort(key=lambda c: (_left(c, distinct), -len(c.explains), c.vocabulary, order[c.dialect]))
    unknown = tuple(key for key in distinct if not known_by[key])
    ranked = tuple(candidates)
    return Detection(distinct, ranked, known_by, unknown, _reason(distinct, ranked, known_by, _shown(distinct, index)))


def _left(candidate: Candidate, keys: tuple[Key, ...]) -> int:
    """How many names would stay unknown if the file were read with this candidate."""
    return len(keys) - len(candidate.explains) + len(candidate.lacks)


@dataclass(frozen=True)
class _Shown:
    """Which keys a reason names: not those inside another unknown field (counted), nor a field whose value is named."""

    named: frozenset[Key]
    nested: frozenset[Key]


def _shown(keys: tuple[Key, ...], index: Index) -> _Shown:
    inside = {index.field_type(key[0], key[1]) for key in keys if len(key) == 2}
    valued = {key[:2] for key in keys if len(key) == 3}
    nested = frozenset(key for key in keys if key[0] in inside)
    return _Shown(frozenset(key for key in keys if key not in nested and key not in valued), nested)


def _reason(
    keys: tuple[Key, ...], candidates: tuple[Candidate, ...], known_by: Mapping[Key, tuple[str, ...]], shown: _Shown
) -> str:
    if not keys:
        return "no names beyond the schema's: nothing to detect"
    if not candidates:
        return f"no shipped dialect knows {_names(keys, shown)}"
    best = candidates[0]
    rank = (_left(best, keys), len(best.explains))
    tied = [c.dialect for c in candidates[1:] if (_left(c, keys), len(c.explains)) == rank]
    text = f"{best.dialect}: explains {_names(best.explains, shown)}"
    if tied:
        text += f" (also {', '.join(tied)}; {best.dialect} has the fewest fork-specific names, {best.vocabulary})"
    explained = set(best.explains)
    missing = [key for key in keys if key not in explained]
    if missing:
        text += "; not " + _names(missing, shown, lambda key: _known_to(known_by[key]))
    if best.lacks:
        text += f"; lacks {_names(best.lacks, _Shown(frozenset(best.lacks), frozenset()))}"
    return text


def _known_to(names: tuple[str, ...]) -> str:
    if not names:
        return "known to no dialect"
    shown = ", ".join(names[:_SHOWN])
    return f"known to {shown}" + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _names(keys: Iterable[Key], shown: _Shown, note: Callable[[Key], str] | None = None) -> str:
    """`a, b, c, d and 2 more (+5 inside)`: the first few keys a reason names, then how many more."""
    items = list(keys)
    named = [key for key in items if key in shown.named] or items
    text = ", ".join(describe(key) + (f" ({note(key)})" if note is not None else "") for key in named[:_SHOWN])
    if len(named) > _SHOWN:
        text += f" and {len(named) - _SHOWN} more"
    nested = sum(1 for key in items if key in shown.nested and key not in named)
    return text + (f" (+{nested} inside)" if nested else "")
