"""The I/O edge: reading inputs as bytes, replacing files atomically, writing standard output in full.

Every write goes to a temp file in the target's own directory, is fsynced and
renamed over the target, all through a descriptor of that directory, so the
directory cannot be swapped for another between the checks and the rename. A
temp file is named `.NAME.PID-XXXXXX.bn-upgrade.tmp` (NAME shortened when the
whole would pass NAME_MAX); the pid tells a later run whether its writer is
still alive (`stale_temps`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import select
import signal
import stat
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from upgrade_tool.codes import Code, Level

PathLike = str | os.PathLike[str]
Data = bytes | Sequence[bytes | memoryview]

TEMP_SUFFIX = ".bn-upgrade.tmp"
# Signals that stop a run (the CLI turns each into KeyboardInterrupt); held while a temp file is made.
INTERRUPT_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name)
)
_NAME_MAX = 255  # bytes in one file name (Linux, macOS and the BSDs)
_PID_DIGITS = 7  # Linux pids go up to 4194304
_TAG = 6  # random hex digits that keep two temp files of one process apart
_STEM_BUDGET = _NAME_MAX - len(f"..{'9' * _PID_DIGITS}-{'f' * _TAG}{TEMP_SUFFIX}")
_TEMP_NAME = re.compile(rf"\.(?P<stem>.+)\.(?P<pid>[0-9]+)-[0-9a-f]{{{_TAG}}}{re.escape(TEMP_SUFFIX)}", re.DOTALL)
_DIRECTORY_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_LINK_IN_OUT_DIR = "is a symbolic link (--out-dir never writes through one)"


class FileError(Exception):
    """A file could not be read or written; the message says why, in words.

    `path` names the file when it is not the input being processed (an -o FILE,
    a backup, a copy in --out-dir). `code` is one of `CODES` below.
    """

    def __init__(self, message: str, path: str | None = None, code: str = "IO002") -> None:
        super().__init__(message)
        self.path = path
        self.code = code


def _io(code: str, name: str, summary: str, explanation: str, level: Level = Level.ERROR) -> Code:
    return Code(code, name, summary, explanation, level=level)


# File problems: the file is reported as failed (exit 2) and left as it is (IO005, IO006: reported only).
CODES = (
    _io(
        "IO001",
        "cannot-read",
        "an input file or directory cannot be read",
        "The file does not exist, is not readable, is a directory, a device, a FIFO in a tree, a dangling link, "
        "a link a walk does not follow, or its path is longer than the operating system allows. The message "
        "says which. Directories that cannot be listed are reported the same way, never skipped in silence.",
    ),
    _io(
        "IO002",
        "cannot-write",
        "an output cannot be written in full",
        "The file (in place, `-o FILE`, a backup, a copy under `--out-dir`) or standard output refused the "
        "write: permission, a read-only file or file system, a full disk, a closed pipe, a link below "
        "`--out-dir`. Nothing is half-written: the original stays as it was.",
    ),
    _io(
        "IO003",
        "changed-on-disk",
        "the file changed on disk while it was being upgraded",
        "bn-upgrade notes a file's size, times and inode when it reads it and looks again just before it "
        "replaces it. If another program changed it in between, the upgrade of the old content is not written; "
        "run bn-upgrade again.",
    ),
    _io(
        "IO004",
        "output-clash",
        "two inputs would be written to one output, or an output over an input",
        "With `--out-dir`, every input needs an output path of its own (two trees that both hold `m/net.prototxt` "
        "clash), and no output may land on an input. The run stops before anything is written.",
    ),
    _io(
        "IO005",
        "stale-temp-file",
        "a temp file left by a bn-upgrade run that was killed",
        "Only SIGKILL or a power cut leaves a temp file `.NAME.PID-XXXXXX.bn-upgrade.tmp` beside NAME. It is "
        "removed when NAME is written, or with `--clean`; it never holds anything the file itself lacks.",
        Level.WARNING,
    ),
    _io(
        "IO006",
        "interrupted",
        "the run was interrupted before this file",
        "Ctrl-C, SIGTERM, SIGHUP or SIGQUIT stopped the run: files in hand were finished, this one was left "
        "as it is. The run exits 130.",
        Level.WARNING,
    ),
)


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
    mode: int | None = None  # permission bits, for a copy in --out-dir


# -- reading ------------------------------------------------------------------------------------


def read_file(path: PathLike, *, follow_links: bool = True, within: str | None = None) -> Snapshot:
    """The file's bytes; a device or socket is refused rather than read for ever (FileError IO001).

    `follow_links=False` refuses a link (a walk met a file there, so a link is
    someone else's doing); `within` refuses a link that leads out of that
    directory (--copy-unchanged copies a tree's own files, nothing else).
    """
    try:
        return _read_file(path, follow_links, within)
    except FileError as exc:
        raise FileError(str(exc), exc.path, "IO001") from None


def _read_file(path: PathLike, follow_links: bool, within: str | None) -> Snapshot:
    shown = os.fspath(path)
    name, flags = shown, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    if within is not None:
        name, flags = _inside(shown, within), flags | _NOFOLLOW
    elif not follow_links:
        flags |= _NOFOLLOW
    try:
        # Non-blocking, so that opening a FIFO nobody writes to does not hang the run.
        with open(os.open(name, flags), "rb") as handle:
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
        raise FileError("a dangling link" if os.path.islink(shown) else "no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and flags & _NOFOLLOW:
            raise FileError("is a symbolic link; not followed") from None
        raise FileError(f"cannot read: {exc.strerror or exc}") from None
    return Snapshot(data, info.st_mtime_ns, info.st_size, info.st_ino, info.st_ctime_ns, stat.S_IMODE(info.st_mode))


def _inside(path: str, root: str) -> str:
    """`path`'s real path, if it lies inside `root` (links resolved); else an error."""
    real, top = os.path.realpath(path), os.path.realpath(root)
    if os.path.commonpath([real, top]) != top:
        raise FileError("a link out of the tree; not copied")
    return real


# -- writing files ------------------------------------------------------------------------------


def replace_file(path: PathLike, data: Data, original: Snapshot | None = None, like: PathLike | None = None) -> None:
    """Write `data` (or its pieces, in order) to `path` atomically: a sibling temp file, fsync, rename.

    The file's mode and owner are kept (with `like`, they are `like`'s: for a
    backup); a symlink is written through to its target. With `original`,
    refuse to write if the file changed on disk since it was read. Only a
    regular file is replaced (never a FIFO or a device such as /dev/null).
    Nothing is left behind on failure: the original stays as it was.
    """
    shown = os.fspath(path)
    try:
        target = os.path.realpath(shown)
        keep = _mode_and_owner(os.fspath(like)) if like is not None else None
        with _directory(os.path.dirname(target)) as directory:
            _write_at(directory, os.path.basename(target), data, original, keep, in_out_dir=False)
    except FileError as exc:
        raise FileError(str(exc), shown, exc.code) from None


def write_below(root: str, relative: str, data: Data, mode: int | None = None) -> None:
    """--out-dir: write `root/relative` atomically, never through a link below `root`.

    `root` itself may be a link (the user named it). Below it each directory is
    made or entered without following links, and a link met anywhere on the
    way, the file itself included, is an error: the output never leaves `root`
    and never lands on what a link points to. The file gets `mode` (its
    input's), else the default mode for new files.
    """
    shown = os.path.join(root, relative)
    parts = relative.split(os.sep)
    try:
        if any(part in ("", ".", "..") for part in parts):
            raise FileError("cannot write: not a path below the output directory")
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as exc:
            raise FileError(f"cannot create its directory: {exc.strerror or exc}") from None
        with _directory(root) as directory:
            for depth, part in enumerate(parts[:-1], 1):
                directory.enter(part, os.path.join(root, *parts[:depth]))
            keep = (mode, None) if mode is not None else None
            _write_at(directory, parts[-1], data, None, keep, in_out_dir=True)
    except FileError as exc:
        raise FileError(str(exc), shown, exc.code) from None


class _Directory:
    """An open directory that writes happen in (so it cannot be swapped for another on the way)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def enter(self, name: str, shown: str) -> None:
        """Step into (or make) the subdirectory `name`; a link there is an error, never followed."""
        try:
            os.mkdir(name, 0o777, dir_fd=self.fd)
        except FileExistsError:
            pass
        except OSError as exc:
            raise FileError(f"cannot create its directory: {exc.strerror or exc}") from None
        try:
            fd = os.open(name, _DIRECTORY_FLAGS | _NOFOLLOW, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                info = _lstat(name, self.fd)
                what = _LINK_IN_OUT_DIR if info is not None and stat.S_ISLNK(info.st_mode) else "is not a directory"
                raise FileError(f"cannot write: {shown} {what}") from None
            raise FileError(f"cannot write: {exc.strerror or exc}") from None
        if stat.S_ISLNK(os.fstat(fd).st_mode):  # O_PATH | O_NOFOLLOW opens a link itself
            os.close(fd)
            raise FileError(f"cannot write: {shown} {_LINK_IN_OUT_DIR}")
        os.close(self.fd)
        self.fd = fd


@contextlib.contextmanager
def _directory(path: str) -> Iterator[_Directory]:
    try:
        directory = _Directory(os.open(path or ".", _DIRECTORY_FLAGS))
    except OSError as exc:
        raise FileError(f"cannot write: {exc.strerror or exc}") from None
    try:
        yield directory
    finally:
        os.close(directory.fd)


def _write_at(
    directory: _Directory,
    name: str,
    data: Data,
    original: Snapshot | None,
    keep: tuple[int, tuple[int, int] | None] | None,
    *,
    in_out_dir: bool,
) -> None:
    """The atomic write itself: checks, temp file, fsync, a last check, rename; undone on any failure."""
    fd = directory.fd
    info = _lstat(name, fd)
    if info is not None:
        _refuse_to_replace(name, fd, info, in_out_dir)
        if keep is None:
            keep = (stat.S_IMODE(info.st_mode), (info.st_uid, info.st_gid))
    if original is not None:
        _refuse_if_changed(name, fd, original)
    held = hold_signals()  # an interrupt must not land between creating the temp file and the `try` that removes it
    try:
        handle_fd, temp = _create_temp(name, fd)
    except BaseException:
        release_signals(held)
        raise
    try:
        with os.fdopen(handle_fd, "wb") as handle:
            release_signals(held)
            for piece in (data,) if isinstance(data, bytes) else data:
                handle.write(piece)
            handle.flush()
            _give_mode_and_owner(handle.fileno(), keep)
            os.fsync(handle.fileno())
        if original is not None:
            _refuse_if_changed(name, fd, original)  # the last look: the rename is the very next call
        os.replace(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=fd)
        release_signals(held)  # in case fdopen failed before they were released
        if isinstance(exc, OSError):
            raise FileError(f"cannot write: {exc.strerror or exc}") from None
        raise


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileError(f"cannot write: {exc.strerror or exc}") from None


def _refuse_to_replace(name: str, dir_fd: int, info: os.stat_result, in_out_dir: bool) -> None:
    if stat.S_ISLNK(info.st_mode) and in_out_dir:
        raise FileError(f"cannot write: {_LINK_IN_OUT_DIR}")
    if stat.S_ISDIR(info.st_mode):
        raise FileError("cannot write: is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise FileError("cannot write: not a regular file")
    if not os.access(name, os.W_OK, dir_fd=dir_fd):
        if _read_only_file_system(dir_fd):
            raise FileError(f"cannot write: {os.strerror(errno.EROFS)}")
        raise FileError("cannot write: permission denied (the file is read-only)")


def _read_only_file_system(dir_fd: int) -> bool:
    try:
        return bool(os.statvfs(dir_fd).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _mode_and_owner(path: str) -> tuple[int, tuple[int, int]]:
    try:
        info = os.stat(path)
    except OSError as exc:
        raise FileError(f"cannot write: {exc.strerror or exc}") from None
    return stat.S_IMODE(info.st_mode), (info.st_uid, info.st_gid)


def _give_mode_and_owner(fd: int, keep: tuple[int, tuple[int, int] | None] | None) -> None:
    if keep is None:
        os.fchmod(fd, 0o666 & ~_umask())
        return
    mode, owner = keep
    if owner is not None and owner != (os.getuid(), os.getgid()):
        with contextlib.suppress(PermissionError):  # only root may give a file away
            os.fchown(fd, *owner)
    os.fchmod(fd, mode)


def _refuse_if_changed(name: str, dir_fd: int, original: Snapshot) -> None:
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        raise FileError("changed on disk while it was being upgraded; left as it is", code="IO003") from None
    now = (info.st_mtime_ns, info.st_size, info.st_ino, info.st_ctime_ns)
    if now != (original.mtime_ns, original.size, original.inode, original.ctime_ns):
        raise FileError("changed on disk while it was being upgraded; left as it is", code="IO003")


# -- temp files ---------------------------------------------------------------------------------


def temp_stem(name: str) -> str:
    """What a temp file for `name` is called before its pid: `name`, or a shortened, hashed form of it.

    A file name may take all 255 bytes NAME_MAX allows; the temp name must fit
    too, so a long name is cut (at a character boundary) and a hash of the
    whole name added, which keeps temp files of long names that start alike apart.
    """
    encoded = os.fsencode(name)
    if len(encoded) <= _STEM_BUDGET:
        return name
    cut = encoded[: _STEM_BUDGET - 9]
    while cut and cut[-1] & 0xC0 == 0x80:  # drop a character cut in half
        cut = cut[:-1]
    if cut and cut[-1] >= 0xC0:
        cut = cut[:-1]
    return os.fsdecode(cut) + "~" + hashlib.sha256(encoded).hexdigest()[:8]


def _create_temp(name: str, dir_fd: int) -> tuple[int, str]:
    stem = temp_stem(name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temp = f".{stem}.{os.getpid()}-{secrets.token_hex(_TAG // 2)}{TEMP_SUFFIX}"
        try:
            return os.open(temp, flags, 0o600, dir_fd=dir_fd), temp
        except FileExistsError:
            continue
        except OSError as exc:
            raise FileError(f"cannot write: {exc.strerror or exc}") from None
    raise FileError("cannot write: no unused temp file name")


def stale_temps(paths: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Temp files beside each of `paths` that a bn-upgrade run which is no longer running left.

    A run killed mid-write (SIGKILL, a power cut) leaves one. Its pid is in its
    name; a temp file whose process still exists, on this machine, is someone's
    write in progress and is not stale. Each directory is listed once.
    """
    wanted: dict[str, dict[str, str]] = {}  # directory -> {temp stem: path}
    for path in paths:
        directory, name = os.path.split(path)
        wanted.setdefault(directory, {})[temp_stem(name)] = path
    found: dict[str, list[str]] = {}
    for directory, stems in wanted.items():
        try:
            names = os.listdir(directory or ".")
        except OSError:
            continue  # the run reports what it cannot read
        for name in names:
            match = _TEMP_NAME.fullmatch(name) if name.endswith(TEMP_SUFFIX) else None
            if match and match["stem"] in stems and not _running(int(match["pid"])):
                found.setdefault(stems[match["stem"]], []).append(os.path.join(directory, name))
    return {path: tuple(sorted(temps)) for path, temps in found.items()}


def remove_stale(temp: str) -> bool:
    """Remove a stale temp file (after looking once more that its writer is gone); False if it stays."""
    match = _TEMP_NAME.fullmatch(os.path.basename(temp))
    if match is None or _running(int(match["pid"])):
        return False
    try:
        os.unlink(temp)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except (OverflowError, ValueError, OSError):
        return False
    return True


# -- standard output ----------------------------------------------------------------------------


_failed_stdout: object = object()  # the stdout that failed: later writes to it are dropped (the failure was said)


def write_stdout(pieces: Iterable[bytes | memoryview]) -> None:
    """Write all of `pieces` to standard output and flush it; any failure is a FileError.

    A raw stream (PYTHONUNBUFFERED=1) may take part of a write: the rest is
    written again until all is out or the OS refuses. After a failure standard
    output is pointed at the null device, so that Python's own flush at exit
    does not fail again (and print "Exception ignored"), and later writes are
    dropped: the one failure has been raised already.
    """
    global _failed_stdout
    stream = sys.stdout
    if stream is _failed_stdout:
        return
    try:
        if stream is None:  # started with stdout closed (`>&-`)
            raise OSError(errno.EBADF, "standard output is closed")
        stream.flush()  # text click or print wrote before goes first
        binary = stream.buffer
        for piece in pieces:
            _write_all(binary, memoryview(piece).cast("B"))
        _flush(binary)
    except (OSError, ValueError) as exc:
        _failed_stdout = stream
        silence_stdout()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "it is closed"
        raise FileError(f"cannot write to standard output: {reason}") from None


def flush_stdout() -> None:
    """Flush what is left in standard output (at the end of a run); a failure is a FileError.

    A closed stdout is no failure here: a run that prints nothing needs none.
    """
    if sys.stdout is not None:
        write_stdout(())


def silence_stdout() -> None:
    """Point the stdout file descriptor at the null device (after it failed: nothing more can reach it)."""
    try:
        fd = sys.stdout.fileno() if sys.stdout is not None else -1
    except (AttributeError, OSError, ValueError):
        fd = -1
    if fd != 1:
        return
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)


def _write_all(binary: BinaryIO, view: memoryview) -> None:
    while view:
        try:
            written = binary.write(view)
        except BlockingIOError as exc:  # a non-blocking stdout that is full: wait, then go on
            written = exc.characters_written
            _wait_writable(binary)
        if written is None:  # the same, from a raw stream
            _wait_writable(binary)
            continue
        if written == 0:
            raise OSError(errno.EIO, "the write made no progress")
        view = view[written:]


def _flush(binary: BinaryIO) -> None:
    while True:
        try:
            binary.flush()
            return
        except BlockingIOError:
            _wait_writable(binary)


def _wait_writable(binary: BinaryIO) -> None:
    with contextlib.suppress(OSError, ValueError):
        select.select([], [binary.fileno()], [], 1.0)


# -- signals ------------------------------------------------------------------------------------


def hold_signals() -> set[int] | None:
    """Block the interrupting signals in this thread (the main one); they arrive when released."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        return None  # only the main thread runs Python signal handlers
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPT_SIGNALS))


def release_signals(held: set[int] | None) -> None:
    if held is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
