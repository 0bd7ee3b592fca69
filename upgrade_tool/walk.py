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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_INCLUDE = ("*.prototxt", "*.pt", "*.caffemodel")
BINARY_SUFFIXES = (".caffemodel", ".binaryproto")  # read as binary protobuf, not as text
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
    """Which files a run takes: `include` for files found in directories, `exclude` for anything.

    Exclude patterns (see `matches_any`) apply to what a walk finds; with
    `force_exclude`, to files named on the command line too (pre-commit names
    every file it passes). `root` is where patterns with a `/` are anchored.
    """

    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = ()
    force_exclude: bool = False
    root: str = "."


def matches_any(
    path: str, patterns: Sequence[str], root: str = ".", *, below: str | None = None, is_dir: bool = False
) -> bool:
    """Whether `path` (as given on the command line or found by a walk) matches an exclude-style pattern.

    - A pattern without `/` (`build`, `*_old.prototxt`) matches the name of the
      file or of any directory it is in: `build` excludes `build/x.prototxt`
      and `models/build/y.prototxt`.
    - A pattern with `/` (`ex/skip`, `models/*/old`, `/ex/skip`) matches the
      path from `root` (the project root: the directory of the configuration
      file, else the current directory), from its start: the file itself or a
      directory it is in; for a file a walk found, the path from the directory
      walked as well. A leading `./` or `/` changes nothing.
    - A trailing `/` (`build/`) matches directories only.
    - `*`, `?` and `[...]` are shell wildcards; `*` matches `/` too.

    `below`: for a file a walk found, the directory that was walked. Inside the
    project root a directory named on the command line that matches is skipped
    too (as black does); outside it, only the parts below the walked directory
    are looked at.
    """
    if not patterns:
        return False
    parts = _parts_from(path, root)
    walked = len(_parts_from(below, root)) if below is not None else 0
    # Inside the project root every part counts (black's way: a named directory that matches is skipped
    # too); outside it, only the parts below the directory walked.
    skip = 0 if _inside(path, root) else walked
    for pattern in patterns:
        directory_only = pattern.endswith("/")
        cleaned = pattern.strip("/")
        while cleaned.startswith("./"):
            cleaned = cleaned[2:]
        if not cleaned:
            continue
        anchored = "/" in cleaned or pattern.startswith("/")
        last = len(parts) - 1 if directory_only and not is_dir else len(parts)
        for depth in range(skip, last):
            if not anchored:
                candidates = [parts[depth]]
            else:  # from the project root, and from the directory walked
                candidates = ["/".join(parts[: depth + 1]), "/".join(parts[walked : depth + 1])]
            if any(fnmatch.fnmatchcase(candidate, cleaned) for candidate in candidates):
                return True
    return False


def _inside(path: str, root: str) -> bool:
    absolute, top = os.path.abspath(path), os.path.abspath(root)
    try:
        return os.path.commonpath([absolute, top]) == top
    except ValueError:  # another drive
        return False


def _parts_from(path: str, root: str) -> list[str]:
    """`path`'s components from `root` (as given, if it lies outside `root`)."""
    absolute, top = os.path.abspath(path), os.path.abspath(root)
    relative = os.path.relpath(absolute, top) if os.path.splitdrive(absolute)[0] == os.path.splitdrive(top)[0] else path
    if relative == os.curdir:
        return []
    if relative.startswith(os.pardir):
        relative = os.path.normpath(path)
    return [part for part in Path(relative).parts if part not in ("/", os.curdir)]


@dataclass(frozen=True)
class _Entry:
    relative: str
    link: bool = False
    error: str = ""


def collect(
    paths: Sequence[str],
    selection: Selection,
    *,
    copy_others: bool = False,
    skip: str | None = None,
    stdin_name: str | None = None,
) -> list[Target]:
    """Targets for the given PATHs, each directory's files in sorted order, no duplicates.

    `copy_others` adds the files a walk does not process, as copy-only targets
    (--copy-unchanged); `skip` is a directory never walked into (--out-dir);
    `stdin_name` is what `-` stands for (--stdin-filename), excluded as that file would be.
    """
    skipped = _identity(skip) if skip is not None else None
    targets: list[Target] = []
    seen: set[str] = set()
    for path in paths:
        if os.path.isdir(path):
            found = _walk(path, selection, copy_others, skipped)
            # Below `path` the walk follows no link, so a file's real path is the tree's, joined.
            real_root = os.path.realpath(path)
        elif selection.force_exclude and _named_excluded(path, stdin_name, selection):
            found = []
        else:
            found = [Target(path, os.path.basename(path), True)]
        for target in found:
            # A file reached twice (a link, overlapping PATHs) is processed once; a copy goes wherever asked.
            if target.path == "-" or target.error or target.copy_only:
                key = target.path
            elif target.explicit:
                key = os.path.realpath(target.path)
            else:
                key = os.path.join(real_root, target.relative)
            if key not in seen:
                seen.add(key)
                targets.append(target)
    return targets


def _named_excluded(path: str, stdin_name: str | None, selection: Selection) -> bool:
    name = stdin_name if path == "-" else path
    return name is not None and matches_any(name, selection.exclude, selection.root)


def _walk(root: str, selection: Selection, copy_others: bool, skip: tuple[int, int] | None) -> list[Target]:
    found = []

    def excluded(relative: str, is_dir: bool = False) -> bool:
        path = os.path.join(root, relative)
        return matches_any(path, selection.exclude, selection.root, below=root, is_dir=is_dir)

    for entry in sorted(_entries_below(root, skip, excluded), key=lambda entry: entry.relative):
        full = os.path.join(root, entry.relative) if entry.relative else root
        if entry.error:
            found.append(Target(full, entry.relative, False, error=entry.error))
            continue
        wanted = _included(entry.relative, selection.include) and not excluded(entry.relative)
        if wanted and entry.link:
            # Out of the tree: not ours to change. Inside: the walk meets the file under its
            # real path, where --exclude applies (a link must not bring back an excluded file).
            continue
        if wanted and not _not_text(full):
            found.append(Target(full, entry.relative, False))
        elif copy_others and not (entry.link and _leaves(full, root)):
            found.append(Target(full, entry.relative, False, copy_only=True, root=root))
    return found


def _entries_below(
    root: str, skip: tuple[int, int] | None, excluded: Callable[[str, bool], bool] = lambda relative, is_dir: False
) -> Iterator[_Entry]:
    """Files and links to files below `root`, skipping hidden entries; links to dirs not followed.

    FIFOs, sockets and devices are skipped: reading one could wait or run for ever.
    A directory that cannot be listed is an entry carrying the reason; an excluded
    directory is not entered at all.
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
                    if (skip is None or _identity(entry.path) != skip) and not excluded(relative, True):
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


def is_binary_path(path: str) -> bool:
    """Whether the file at `path` is read as a binary model (by its suffix, in any case)."""
    return path.lower().endswith(BINARY_SUFFIXES)
