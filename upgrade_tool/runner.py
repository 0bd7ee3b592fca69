"""Running a job over many files: one `FileReport` per file, in a process pool.

`process` reads one file, upgrades it, writes the result as the job says and
returns a report; it never raises, so one bad file cannot stop a batch. `run`
does that for every target, in worker processes when there are several, and
returns the reports in the targets' order: the same reports whatever `jobs` is.
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from pathlib import Path
from types import FrameType
from typing import Any

from upgrade_tool.binary import is_binary_path, upgrade_binary
from upgrade_tool.document import Kind
from upgrade_tool.errors import InputError, SelfCheckError
from upgrade_tool.files import FileError, Snapshot, copy_file, read_file, replace_file
from upgrade_tool.pipeline import Result, upgrade_source
from upgrade_tool.settings import OutputFormat, Settings
from upgrade_tool.source import Source
from upgrade_tool.walk import Target

STDIN = "-"


class Exit(IntEnum):
    OK = 0  # everything up to date, or upgraded
    CHANGES = 1  # --check/--diff found files to upgrade, or a finding needs a human
    BAD_INPUT = 2  # usage error, or an input that cannot be read or parsed
    INTERRUPTED = 130  # stopped by SIGINT or SIGTERM; every file is whole
    INTERNAL = 123  # bn-upgrade's proof of its own output failed: a bug


class WriteBack(Enum):
    YES = "in place"
    CHECK = "check"
    DIFF = "diff"
    OUTPUT = "output"  # -o FILE, or --out-dir


class Status(Enum):
    UP_TO_DATE = "up to date"
    UPGRADED = "upgraded"
    FAILED = "failed"
    INTERNAL = "internal error"


@dataclass(frozen=True)
class Job:
    """Everything about one invocation that is the same for every file."""

    settings: Settings
    write_back: WriteBack = WriteBack.YES
    output: str | None = None  # -o FILE ('-' = stdout)
    out_dir: str | None = None  # --out-dir: upgraded copies mirror the tree here
    copy_unchanged: bool = False
    backup: str | None = None  # --backup SUFFIX
    kind: Kind | None = None

    @property
    def finds_changes(self) -> bool:
        return self.write_back in (WriteBack.CHECK, WriteBack.DIFF)


@dataclass(frozen=True)
class FileReport:
    name: str
    status: Status
    result: Result | None = None
    error: str = ""  # the whole one-line message for FAILED / INTERNAL
    bytes_before: int = 0
    bytes_after: int = 0
    diff: str = ""  # --diff: printed by the parent, in order
    written: tuple[str, ...] = field(default_factory=tuple)  # files this run wrote

    @property
    def exit_code(self) -> Exit:
        if self.status is Status.INTERNAL:
            return Exit.INTERNAL
        if self.status is Status.FAILED:
            return Exit.BAD_INPUT
        if self.result is not None and self.result.needs_human:
            return Exit.CHANGES
        return Exit.OK


def exit_code(reports: Sequence[FileReport], job: Job) -> int:
    """The worst code seen; with --check/--diff, a file to upgrade counts as 1."""
    code = max((report.exit_code for report in reports), default=Exit.OK)
    if code == Exit.OK and job.finds_changes and any(r.status is Status.UPGRADED for r in reports):
        code = Exit.CHANGES
    return int(code)


def run(
    targets: Sequence[Target], job: Job, jobs: int, on_done: Callable[[int, FileReport], None] | None = None
) -> list[FileReport]:
    """Process every target; `on_done(count, report)` after each (for progress).

    Interrupted (KeyboardInterrupt, which SIGTERM raises too), workers finish
    the file in hand and skip the rest before it propagates; in this process,
    a write in progress is undone. Either way no file is left half-done.
    """
    reports: list[FileReport | None] = [None] * len(targets)
    pooled = [i for i, t in enumerate(targets) if t.path != STDIN]
    in_parent = [i for i, t in enumerate(targets) if t.path == STDIN]
    done = 0
    if jobs > 1 and len(pooled) > 1:
        context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        stop = context.RawValue(ctypes.c_bool, False)
        held = _hold_interrupts()  # a pool half-built when Ctrl-C lands could not be shut down
        try:
            pool = context.Pool(min(jobs, len(pooled)), initializer=_worker_setup, initargs=(stop,))
        except BaseException:
            _release_interrupts(held)
            raise
        try:
            _release_interrupts(held)
            work = [(i, targets[i], job) for i in pooled]
            for index, report in pool.imap_unordered(_process_indexed, work, chunksize=2):
                reports[index] = report
                done += 1
                if on_done is not None:
                    on_done(done, report)
        except BaseException:
            stop.value = True  # workers finish the file in hand, skip the rest and exit
            raise
        finally:
            pool.close()
            pool.join()
    else:
        in_parent = list(range(len(targets)))
    for index in in_parent:
        reports[index] = process(targets[index], job)
        done += 1
        if on_done is not None:
            on_done(done, reports[index])  # type: ignore[arg-type]
    return [report for report in reports if report is not None]


_INTERRUPTS = (signal.SIGINT, signal.SIGTERM)
_stop: Any = None  # in a worker: the flag the parent raises to end the batch
_parent = 0  # in a worker: the parent's pid (if it dies, the batch is over too)
_stopping = False  # this process is already unwinding after SIGINT or SIGTERM


def _worker_setup(stop: Any) -> None:
    # A worker is never interrupted: stopping one mid-operation could leave a
    # pool lock held or a message half-sent, and the parent waiting for ever.
    # Ctrl-C and SIGTERM are the parent's; it raises `stop` instead.
    global _stop, _parent
    _stop, _parent = stop, os.getppid()
    for signum in _INTERRUPTS:
        signal.signal(signum, signal.SIG_IGN)


def _process_indexed(item: tuple[int, Target, Job]) -> tuple[int, FileReport]:
    index, target, job = item
    if _stop.value or os.getppid() != _parent:  # the batch was stopped: leave this file untouched
        return index, FileReport(target.path, Status.FAILED, error=f"{target.path}: interrupted")
    return index, process(target, job)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    global _stopping
    if _stopping:  # already unwinding: a second signal must not cut the cleanup short
        return
    _stopping = True
    raise KeyboardInterrupt


def install_signal_handlers() -> None:
    """SIGINT and SIGTERM: unwind, let writes clean up, exit 130 (a repeated signal waits for that)."""
    global _stopping
    _stopping = False
    for signum in _INTERRUPTS:
        signal.signal(signum, _raise_interrupt)


def _hold_interrupts() -> set[int] | None:
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS))


def _release_interrupts(held: set[int] | None) -> None:
    if held is not None and hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def process(target: Target, job: Job) -> FileReport:
    """Upgrade one input and write the result as `job` says; never raises (but for Ctrl-C)."""
    path = target.path
    snapshot: Snapshot | None = None
    try:
        snapshot = _read(path)
        if is_binary_path(path) and path != STDIN:
            return _process_binary(target, snapshot, job)
        source = Source.from_bytes(snapshot.data)
        try:
            result = upgrade_source(source, job.settings, job.kind)
        except InputError as exc:
            exc.line, exc.column = source.position(exc.offset)
            raise
        return _write_text(target, snapshot, source, result, job)
    except InputError as exc:
        error = f"{where(path, exc.line, exc.column)}: {exc.message}"
        return FileReport(path, Status.FAILED, error=error, bytes_before=_size(snapshot))
    except FileError as exc:
        return FileReport(path, Status.FAILED, error=f"{exc.path or path}: {exc}", bytes_before=_size(snapshot))
    except SelfCheckError as exc:
        return FileReport(path, Status.INTERNAL, error=_bug_message(path, f"self-check failed: {exc}"))
    except Exception as exc:  # noqa: BLE001 - a bug must not become a traceback or a half-done batch
        return FileReport(path, Status.INTERNAL, error=_bug_message(path, f"{type(exc).__name__}: {exc}"))


def where(name: str, line: int, column: int) -> str:
    """`name:line:column`, or just `name` where there are no lines (a binary model)."""
    return f"{name}:{line}:{column}" if line else name


def _size(snapshot: Snapshot | None) -> int:
    return snapshot.size if snapshot is not None else 0


def _bug_message(path: str, what: str) -> str:
    return (
        f"{path}: internal error: {what}; nothing was written. "
        "This is a bug in bn-upgrade: please report it with this input attached."
    )


def _read(path: str) -> Snapshot:
    if path == STDIN:
        data = sys.stdin.buffer.read()
        return Snapshot(data, 0, len(data))
    return read_file(Path(path))


def _write_text(target: Target, snapshot: Snapshot, source: Source, result: Result, job: Job) -> FileReport:
    preserving = job.settings.output_format is OutputFormat.PRESERVE
    data = source.encode(result.text) if preserving else result.text.encode("utf-8")
    diff = ""
    if job.write_back is WriteBack.DIFF and result.changed:
        diff = unified_diff(target.path, source.text, result.text)
    written = _deliver(target, snapshot, [data], result.changed, job)
    status = Status.UPGRADED if result.changed else Status.UP_TO_DATE
    return FileReport(target.path, status, result, "", snapshot.size, len(data), diff, written)


def _process_binary(target: Target, snapshot: Snapshot, job: Job) -> FileReport:
    """A .caffemodel or .binaryproto: the same passes; written back in binary, weights byte for byte."""
    if job.kind is Kind.SOLVER:
        raise InputError("a binary model is a net: --kind solver does not apply to it")
    binary = upgrade_binary(snapshot.data, job.settings)
    pieces = list(binary.output) if binary.output is not None else [snapshot.data]
    size = sum(len(piece) for piece in pieces)
    written = _deliver(target, snapshot, pieces, binary.changed, job)  # --diff: no text diff for a binary
    status = Status.UPGRADED if binary.changed else Status.UP_TO_DATE
    return FileReport(target.path, status, binary.report(), "", snapshot.size, size, "", written)


def _deliver(
    target: Target, snapshot: Snapshot, pieces: Sequence[bytes | memoryview], changed: bool, job: Job
) -> tuple[str, ...]:
    """Write the output where the job says; return the paths written."""
    if job.write_back is WriteBack.OUTPUT and job.output is not None:
        if job.output == STDIN:
            _to_stdout(pieces)
            return ()
        replace_file(Path(job.output), pieces)
        return (job.output,)
    if job.write_back is WriteBack.OUTPUT and job.out_dir is not None:
        destination = os.path.join(job.out_dir, target.relative)
        if changed:
            _make_parent(destination)
            replace_file(Path(destination), pieces)
            return (destination,)
        if job.copy_unchanged:
            _make_parent(destination)
            copy_file(Path(target.path), Path(destination))
            return (destination,)
        return ()
    if job.write_back is WriteBack.YES:
        if target.path == STDIN:
            _to_stdout(pieces if changed else [snapshot.data])
            return ()
        if changed:
            _replace_with_backup(target.path, pieces, snapshot, job.backup)
            return (target.path,)
    return ()


def _replace_with_backup(
    path: str, pieces: Sequence[bytes | memoryview], snapshot: Snapshot, suffix: str | None
) -> None:
    """Write in place; with --backup, the original's bytes go to PATH+SUFFIX first.

    If the file itself cannot be written (or the run is interrupted), a backup
    this run created is removed again: the original is still where it was.
    """
    backup = Path(path + suffix) if suffix else None
    created = backup is not None and not os.path.lexists(backup)
    if backup is not None:
        replace_file(backup, [snapshot.data], like=Path(path))  # as private as the original
    try:
        replace_file(Path(path), pieces, snapshot)
    except BaseException:
        if backup is not None and created:
            with contextlib.suppress(OSError):
                os.unlink(backup)
        raise


def _make_parent(destination: str) -> None:
    try:
        os.makedirs(os.path.dirname(destination) or ".", exist_ok=True)
    except OSError as exc:
        raise FileError(f"cannot create its directory: {exc.strerror or exc}", destination) from None


def _to_stdout(pieces: Sequence[bytes | memoryview]) -> None:
    for piece in pieces:
        sys.stdout.buffer.write(piece)
    sys.stdout.flush()


def unified_diff(path: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{path}\t(original)",
        tofile=f"{path}\t(upgraded)",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
