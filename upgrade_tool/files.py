"""The I/O edge: reading inputs as bytes and replacing files atomically."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
import threading
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
    """What a file looked like when it was read, to notice changes before writing.

    The inode and ctime catch what mtime and size alone miss: a same-size edit
    whose writer put the old mtime back, or a file replaced by another.
    """

    data: bytes
    mtime_ns: int
    size: int
    inode: int = 0
    ctime_ns: int = 0


def read_file(path: Path) -> Snapshot:
    """The file's bytes; a device or socket is refused rather than read for ever."""
    try:
        # Non-blocking, so that opening a FIFO nobody writes to does not hang the run.
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise FileError("is a directory")
            if stat.S_ISFIFO(info.st_mode):
                os.set_blocking(handle.fileno(), True)  # read what a writer sends (none: end of file)
            elif not stat.S_ISREG(info.st_mode):
                raise FileError("not a regular file (a device or socket)")
            data = handle.read()
    except IsADirectoryError:
        raise FileError("is a directory") from None
    except FileNotFoundError:
        raise FileError("no such file") from None
    except OSError as exc:
        raise FileError(f"cannot read: {exc.strerror or exc}") from None
    return Snapshot(data, info.st_mtime_ns, info.st_size, info.st_ino, info.st_ctime_ns)


def replace_file(
    path: Path, data: bytes | Sequence[bytes | memoryview], original: Snapshot | None = None, like: Path | None = None
) -> None:
    """Write `data` (or its pieces, in order) to `path` atomically: a sibling temp file, fsync, rename.

    The file's mode and owner are kept (with `like`, they are `like`'s: for a
    backup); a symlink is written through to its target. With `original`,
    refuse to write if the file changed on disk since it was read. Only a
    regular file is replaced (never a FIFO or a device such as /dev/null).
    Nothing is left behind on failure: the original stays as it was.
    """
    try:
        _replace(path, data, original, like)
    except FileError as exc:
        raise FileError(str(exc), str(path)) from None


def _replace(
    path: Path, data: bytes | Sequence[bytes | memoryview], original: Snapshot | None, like: Path | None
) -> None:
    target = Path(os.path.realpath(path))
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise FileError(f"cannot write: {exc.strerror or exc}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise FileError("cannot write: is a directory")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise FileError("cannot write: not a regular file")
    if info is not None and not os.access(target, os.W_OK):
        raise FileError("cannot write: permission denied (the file is read-only)")
    if original is not None:
        _refuse_if_changed(target, original)
    held = _hold_signals()  # Ctrl-C must not land between creating the temp file and the `try` that removes it
    try:
        fd, temp = _temp_beside(target)
    except BaseException:
        _release_signals(held)
        raise
    try:
        with os.fdopen(fd, "wb") as handle:
            _release_signals(held)
            for piece in (data,) if isinstance(data, bytes) else data:
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        _copy_owner_and_mode(temp, os.stat(like) if like is not None else info)
        if original is not None:
            _refuse_if_changed(target, original)
        os.replace(temp, target)
    except BaseException as exc:
        _remove_quietly(temp)
        _release_signals(held)  # in case fdopen failed before they were released
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
    now = (info.st_mtime_ns, info.st_size, info.st_ino, info.st_ctime_ns)
    if now != (original.mtime_ns, original.size, original.inode, original.ctime_ns):
        raise FileError("changed on disk while it was being upgraded; left as it is")


_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _hold_signals() -> set[int] | None:
    """Block SIGINT and SIGTERM in this thread (the main one); they arrive when released."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        return None  # only the main thread runs Python signal handlers
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS))


def _release_signals(held: set[int] | None) -> None:
    if held is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
