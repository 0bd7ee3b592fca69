"""The I/O edge: reading inputs as bytes and replacing files atomically."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class FileError(Exception):
    """A file could not be read or written; the message says why, in words.

    `path` names the file when it is not the input being processed (an -o FILE,
    a backup, a copy in --out-dir).
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Snapshot:
    """What a file looked like when it was read, to notice changes before writing."""

    data: bytes
    mtime_ns: int
    size: int


def read_file(path: Path) -> Snapshot:
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise FileError("is a directory")
            data = handle.read()
    except IsADirectoryError:
        raise FileError("is a directory") from None
    except FileNotFoundError:
        raise FileError("no such file") from None
    except OSError as exc:
        raise FileError(f"cannot read: {exc.strerror or exc}") from None
    return Snapshot(data, info.st_mtime_ns, info.st_size)


def replace_file(path: Path, data: bytes | Sequence[bytes | memoryview], original: Snapshot | None = None) -> None:
    """Write `data` (or its pieces, in order) to `path` atomically: a sibling temp file, fsync, rename.

    The file's mode is kept; a symlink is written through to its target. With
    `original`, refuse to write if the file changed on disk since it was read.
    Nothing is left behind on failure: the original stays as it was.
    """
    try:
        _replace(path, data, original)
    except FileError as exc:
        raise FileError(str(exc), str(path)) from None


def _replace(path: Path, data: bytes | Sequence[bytes | memoryview], original: Snapshot | None) -> None:
    target = Path(os.path.realpath(path))
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise FileError(f"cannot write: {exc.strerror or exc}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise FileError("cannot write: is a directory")
    if original is not None:
        _refuse_if_changed(target, original)
    fd, temp = _temp_beside(target)
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in (data,) if isinstance(data, bytes) else data:
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        _copy_owner_and_mode(temp, info)
        if original is not None:
            _refuse_if_changed(target, original)
        os.replace(temp, target)
    except BaseException as exc:
        _remove_quietly(temp)
        if isinstance(exc, OSError):
            raise FileError(f"cannot write: {exc.strerror or exc}") from None
        raise


def copy_file(source: Path, destination: Path) -> None:
    """Copy a file's bytes (atomically, keeping its mode) for --copy-unchanged."""
    replace_file(destination, read_file(source).data)
    with contextlib.suppress(OSError):
        os.chmod(destination, stat.S_IMODE(os.stat(source).st_mode))


def _copy_owner_and_mode(temp: str, info: os.stat_result | None) -> None:
    if info is None:
        os.chmod(temp, 0o666 & ~_umask())
        return
    if (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
        with contextlib.suppress(PermissionError):  # only root may give a file away
            os.chown(temp, info.st_uid, info.st_gid)
    os.chmod(temp, stat.S_IMODE(info.st_mode))


def _temp_beside(target: Path) -> tuple[int, str]:
    try:
        return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".bn-upgrade.tmp", dir=target.parent)
    except OSError as exc:
        raise FileError(f"cannot write: {exc.strerror or exc}") from None


def _refuse_if_changed(target: Path, original: Snapshot) -> None:
    try:
        info = os.stat(target)
    except OSError:
        raise FileError("changed on disk while it was being upgraded; left as it is") from None
    if (info.st_mtime_ns, info.st_size) != (original.mtime_ns, original.size):
        raise FileError("changed on disk while it was being upgraded; left as it is")


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
