"""Which files a run covers: explicit files as given, directories walked recursively."""

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


@dataclass(frozen=True)
class Selection:
    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = ()


def collect(paths: Sequence[str], selection: Selection) -> list[Target]:
    """Targets for the given PATHs, each directory's files in sorted order, no duplicates."""
    targets: list[Target] = []
    seen: set[str] = set()
    for path in paths:
        found = _walk(path, selection) if os.path.isdir(path) else [Target(path, os.path.basename(path), True)]
        for target in found:
            key = target.path if target.path == "-" else os.path.realpath(target.path)
            if key not in seen:
                seen.add(key)
                targets.append(target)
    return targets


def _walk(root: str, selection: Selection) -> list[Target]:
    found = []
    for relative in sorted(_files_below(root)):
        full = os.path.join(root, relative)
        if _excluded(relative, selection.exclude) or not _included(relative, selection.include):
            continue
        if os.path.islink(full):
            # Out of the tree: not ours to change. Inside: the walk meets the file under its
            # real path, where --exclude applies (a link must not bring back an excluded file).
            continue
        if _not_text(full):
            continue
        found.append(Target(full, relative, False))
    return found


def other_files(root: str, selection: Selection) -> Iterator[str]:
    """Files below `root` that a run does not process (for --copy-unchanged)."""
    for relative in sorted(_files_below(root)):
        if (
            not _included(relative, selection.include)
            or _excluded(relative, selection.exclude)
            or _not_text(os.path.join(root, relative))
        ):
            yield relative


def _files_below(root: str) -> Iterator[str]:
    """Relative paths of files below `root`, skipping hidden entries; links to dirs not followed.

    FIFOs, sockets and devices are skipped: reading one could wait or run for ever.
    """
    for directory, subdirs, files in os.walk(root, followlinks=False):
        subdirs[:] = [name for name in subdirs if not name.startswith(".")]
        base = os.path.relpath(directory, root)
        for name in files:
            full = os.path.join(directory, name)
            if not name.startswith(".") and (os.path.islink(full) or os.path.isfile(full)):
                yield name if base == "." else os.path.join(base, name)


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
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return True  # let the run report the read error
    return b"\x00" not in head and not head.startswith(b"PK")
