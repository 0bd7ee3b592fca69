"""Which files a run covers: explicit files as given, directories walked recursively.

A walk never follows a link (a link inside the tree leads to a file the walk
meets under its own path; one out of the tree is not ours), skips hidden
entries, and reports what it cannot look at (an unreadable directory, a path
too long for the OS) as a target that carries its error, so the run counts it
as failed instead of skipping it in silence.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_INCLUDE = ("*.prototxt", "*.pt", "*.caffemodel")
# `.pt` is also PyTorch's extension; those files are zip or pickle, never text.
_SNIFFED = (".pt",)
_SNIFF_BYTES = 4096


@dataclass(frozen=True)
class Target:
    """One file to process, and where it sits relative to the PATH it was found under."""

    path: str
    relative: str  # for --out-dir: the path below the given root (the name, for a file)
    explicit: bool  # named on the command line (always processed) or found by walking
    copy_only: bool = False  # --copy-unchanged: a file of the tree the run does not process, copied as it is
    root: str = ""  # the tree it was found in (a copied file's links must stay inside it)
    error: str = ""  # the walk could not look at it: why, in words
    stale: tuple[tuple[str, str], ...] = ()  # (temp file, the file it was for) left by a killed run


@dataclass(frozen=True)
class Selection:
    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Entry:
    relative: str
    link: bool = False
    error: str = ""


def collect(
    paths: Sequence[str], selection: Selection, *, copy_others: bool = False, skip: str | None = None
) -> list[Target]:
    """Targets for the given PATHs, each directory's files in sorted order, no duplicates.

    `copy_others` adds the files a walk does not process, as copy-only targets
    (--copy-unchanged); `skip` is a directory never walked into (--out-dir).
    """
    skipped = _identity(skip) if skip is not None else None
    targets: list[Target] = []
    seen: set[str] = set()
    for path in paths:
        found = (
            _walk(path, selection, copy_others, skipped)
            if os.path.isdir(path)
            else [Target(path, os.path.basename(path), True)]
        )
        for target in found:
            # A file reached twice (a link, overlapping PATHs) is processed once; a copy goes wherever asked.
            plain = target.path == "-" or target.error or target.copy_only
            key = target.path if plain else os.path.realpath(target.path)
            if key not in seen:
                seen.add(key)
                targets.append(target)
    return targets


def _walk(root: str, selection: Selection, copy_others: bool, skip: tuple[int, int] | None) -> list[Target]:
    found = []
    for entry in sorted(_entries_below(root, skip), key=lambda entry: entry.relative):
        full = os.path.join(root, entry.relative) if entry.relative else root
        if entry.error:
            found.append(Target(full, entry.relative, False, error=entry.error))
            continue
        wanted = _included(entry.relative, selection.include) and not _excluded(entry.relative, selection.exclude)
        if wanted and entry.link:
            # Out of the tree: not ours to change. Inside: the walk meets the file under its
            # real path, where --exclude applies (a link must not bring back an excluded file).
            continue
        if wanted and not _not_text(full):
            found.append(Target(full, entry.relative, False))
        elif copy_others and not (entry.link and _leaves(full, root)):
            found.append(Target(full, entry.relative, False, copy_only=True, root=root))
    return found


def _entries_below(root: str, skip: tuple[int, int] | None) -> Iterator[_Entry]:
    """Files and links to files below `root`, skipping hidden entries; links to dirs not followed.

    FIFOs, sockets and devices are skipped: reading one could wait or run for ever.
    A directory that cannot be listed is an entry carrying the reason.
    """
    pending = [""]
    while pending:
        base = pending.pop()
        try:
            with os.scandir(os.path.join(root, base) if base else root) as listing:
                entries = list(listing)
        except OSError as exc:
            yield _Entry(base, error=f"cannot read directory: {exc.strerror or exc}")
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relative = os.path.join(base, entry.name) if base else entry.name
            try:
                if entry.is_symlink():
                    if not os.path.isdir(entry.path):
                        yield _Entry(relative, link=True)
                elif entry.is_dir(follow_symlinks=False):
                    if skip is None or _identity(entry.path) != skip:
                        pending.append(relative)
                elif entry.is_file(follow_symlinks=False):
                    yield _Entry(relative)
            except OSError as exc:
                yield _Entry(relative, error=f"cannot read: {exc.strerror or exc}")


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _leaves(link: str, root: str) -> bool:
    """Whether a link leads out of the tree at `root` (a dangling link into the tree does not)."""
    real, top = os.path.realpath(link), os.path.realpath(root)
    return os.path.commonpath([real, top]) != top


def _matches(relative: str, patterns: Sequence[str]) -> bool:
    name = os.path.basename(relative)
    parts = Path(relative).parts
    return any(
        fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(name, pattern) or pattern in parts for pattern in patterns
    )


def _included(relative: str, include: Sequence[str]) -> bool:
    return _matches(relative, include)


def _excluded(relative: str, exclude: Sequence[str]) -> bool:
    if not exclude:
        return False
    parents = Path(relative).parents
    directories = [pattern.rstrip("/") for pattern in exclude]  # `build/` names a directory
    return _matches(relative, [p for p in exclude if not p.endswith("/")]) or any(
        _matches(str(parent), directories) for parent in parents if str(parent) != "."
    )


def _not_text(path: str) -> bool:
    """A `.pt` that is not a prototxt (a PyTorch zip or pickle): not processed, but copied."""
    return os.path.splitext(path)[1] in _SNIFFED and not _looks_like_text(path)


def _looks_like_text(path: str) -> bool:
    try:
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return True  # let the run report the read error
    return b"\x00" not in head and not head.startswith(b"PK")
