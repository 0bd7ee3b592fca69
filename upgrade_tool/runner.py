"""Running a job over many files: one `FileReport` per file, in a process pool.

`process` reads one file, upgrades it, writes the result as the job says and
returns a report; it never raises, so one bad file cannot stop a batch. `run`
does that for every target, in worker processes when there are several, and
returns the reports in the targets' order: the same reports whatever `jobs` is.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import difflib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from types import FrameType
from typing import Any

from upgrade_tool.binary import is_binary_path, upgrade_binary
from upgrade_tool.document import Kind
from upgrade_tool.errors import InputError, SelfCheckError
from upgrade_tool.files import (
    INTERRUPT_SIGNALS,
    FileError,
    Snapshot,
    read_file,
    remove_stale,
    replace_file,
    stale_temps,
    write_below,
    write_stdout,
)
from upgrade_tool.pipeline import Result, upgrade_source
from upgrade_tool.settings import OutputFormat, Settings
from upgrade_tool.source import Source, out_of_memory
from upgrade_tool.walk import Target

STDIN = "-"


class Exit(IntEnum):
    OK = 0  # everything up to date, or upgraded
    CHANGES = 1  # --check/--diff found files to upgrade, or a finding needs a human
    BAD_INPUT = 2  # usage error, an input that cannot be read or parsed, or an output that cannot be written
    INTERRUPTED = 130  # stopped by SIGINT, SIGTERM, SIGHUP or SIGQUIT; every file is whole
    INTERNAL = 123  # bn-upgrade's proof of its own output failed: a bug


class WriteBack(Enum):
    YES = "in place"
    CHECK = "check"
    DIFF = "diff"
    OUTPUT = "output"  # -o FILE, or --out-dir


class Status(Enum):
    UP_TO_DATE = "up to date"
    UPGRADED = "upgraded"
    COPIED = "copied unchanged"  # --copy-unchanged: a file of the tree that is not a net, copied as it is
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
    clean: bool = False  # --clean: remove stale temp files of killed runs even where nothing is written

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
    stale: tuple[tuple[str, bool], ...] = ()  # temp files killed runs left beside it: (path, removed)

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


_INTERRUPTS = INTERRUPT_SIGNALS
_stop: Any = None  # in a worker: the flag the parent raises to end the batch
_parent = 0  # in a worker: the parent's pid (if it dies, the batch is over too)
_stopping = False  # this process is already unwinding after an interrupting signal


def _worker_setup(stop: Any) -> None:
    # A worker is never interrupted: stopping one mid-operation could leave a
    # pool lock held or a message half-sent, and the parent waiting for ever.
    # Ctrl-C, SIGTERM, SIGHUP and SIGQUIT are the parent's; it raises `stop` instead.
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
    """SIGINT, SIGTERM, SIGHUP, SIGQUIT: unwind, let writes clean up, exit 130 (a repeated signal waits for that)."""
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
    report = _process(target, job)
    if not target.stale:
        return report
    return dataclasses.replace(report, stale=_clear_stale(target, report.written, job.clean))


def _process(target: Target, job: Job) -> FileReport:
    path = target.path
    if target.error:
        return FileReport(path, Status.FAILED, error=f"{path}: {target.error}")
    snapshot: Snapshot | None = None
    try:
        if target.copy_only:
            return _copy_as_it_is(target, job)
        snapshot = _read(target)
        if is_binary_path(path) and path != STDIN:
            return _process_binary(target, snapshot, job)
        source = Source.from_bytes(snapshot.data)
        try:
            result = upgrade_source(source, job.settings, job.kind)
        except InputError as exc:
            exc.line, exc.column = source.position(exc.offset)
            raise
        return _write_text(target, snapshot, source, result, job)
    except FileError as exc:
        return FileReport(path, Status.FAILED, error=f"{exc.path or path}: {exc}", bytes_before=_size(snapshot))
    except InputError as exc:
        error = f"{where(path, exc.line, exc.column)}: {exc.message}"
        failed = FileReport(path, Status.FAILED, error=error, bytes_before=_size(snapshot))
    except SelfCheckError as exc:
        failed = FileReport(path, Status.INTERNAL, error=_bug_message(path, f"self-check failed: {exc}"))
    except MemoryError:  # in a pass or the proof: the input is too big for this machine, not a bug
        message = out_of_memory(_size(snapshot)).message
        failed = FileReport(path, Status.FAILED, error=f"{path}: {message}", bytes_before=_size(snapshot))
    except Exception as exc:  # noqa: BLE001 - a bug must not become a traceback or a half-done batch
        failed = FileReport(path, Status.INTERNAL, error=_bug_message(path, f"{type(exc).__name__}: {exc}"))
    return _copy_failed(failed, target, snapshot, job)


def where(name: str, line: int, column: int) -> str:
    """`name:line:column`, or just `name` where there are no lines (a binary model)."""
    return f"{name}:{line}:{column}" if line else name


def destination(target: Target, job: Job) -> str | None:
    """The file the job writes for `target` other than the target itself (-o FILE, --out-dir), if any."""
    if job.write_back is not WriteBack.OUTPUT:
        return None
    if job.output is not None:
        return None if job.output == STDIN else job.output
    return os.path.join(job.out_dir, target.relative) if job.out_dir is not None else None


def clashing_outputs(targets: Sequence[Target], job: Job) -> str | None:
    """Why the job cannot run as asked: two inputs written to one output, or an output over an input.

    Checked before anything is written; None when every input has an output of its own.
    """
    inputs = {os.path.realpath(t.path): t.path for t in targets if t.path != STDIN and not t.error}
    claimed: dict[str, str] = {}
    for target in targets:
        output = destination(target, job) if job.out_dir is not None and not target.error else None
        if output is None:
            continue
        key = os.path.normpath(output)
        if key in claimed:
            return f"{claimed[key]} and {target.path} would both be written to {output}; nothing was written"
        claimed[key] = target.path
        overwritten = inputs.get(os.path.realpath(output))
        if overwritten is not None:
            return f"the output for {target.path} would overwrite the input {overwritten}; nothing was written"
    return None


def with_stale_temps(targets: Sequence[Target], job: Job) -> list[Target]:
    """Each target with the temp files killed runs left beside it and beside its output."""

    def places(target: Target) -> list[str]:
        if target.path == STDIN or target.error:
            return []
        output = destination(target, job)
        return [target.path] + ([output] if output is not None else [])

    found = stale_temps(path for target in targets for path in places(target))

    def stale(target: Target) -> tuple[tuple[str, str], ...]:
        return tuple((temp, place) for place in places(target) for temp in found.get(place, ()))

    return [dataclasses.replace(target, stale=stale(target)) if found else target for target in targets]


def _clear_stale(target: Target, written: Sequence[str], clean: bool) -> tuple[tuple[str, bool], ...]:
    """Remove the stale temp files of a file this run wrote (or all of them, with --clean)."""
    return tuple((temp, (clean or place in written) and remove_stale(temp)) for temp, place in target.stale)


def _size(snapshot: Snapshot | None) -> int:
    return snapshot.size if snapshot is not None else 0


def _bug_message(path: str, what: str) -> str:
    return (
        f"{path}: internal error: {what}; nothing was written. "
        "This is a bug in bn-upgrade: please report it with this input attached."
    )


def _read(target: Target) -> Snapshot:
    if target.path == STDIN:
        data = sys.stdin.buffer.read()
        return Snapshot(data, 0, len(data))
    if target.copy_only:
        return read_file(target.path, within=target.root)
    return read_file(target.path, follow_links=target.explicit)


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
        raise InputError("a binary model is a net: --kind solver does not apply to it", code="E005")
    binary = upgrade_binary(snapshot.data, job.settings)
    pieces = list(binary.output) if binary.output is not None else [snapshot.data]
    size = sum(len(piece) for piece in pieces)
    written = _deliver(target, snapshot, pieces, binary.changed, job)  # --diff: no text diff for a binary
    status = Status.UPGRADED if binary.changed else Status.UP_TO_DATE
    return FileReport(target.path, status, binary.report(), "", snapshot.size, size, "", written)


def _copy_as_it_is(target: Target, job: Job) -> FileReport:
    """--copy-unchanged: a file of the tree that is not processed goes to the output tree as it is."""
    snapshot = _read(target)
    written = _deliver(target, snapshot, [snapshot.data], False, job)
    return FileReport(target.path, Status.COPIED, None, "", snapshot.size, snapshot.size, "", written)


def _copy_failed(report: FileReport, target: Target, snapshot: Snapshot | None, job: Job) -> FileReport:
    """--copy-unchanged: a file that could not be upgraded is copied as it was read (its error stands)."""
    if snapshot is None or not job.copy_unchanged or job.out_dir is None or target.path == STDIN:
        return report
    try:
        written = _deliver(target, snapshot, [snapshot.data], False, job)
    except FileError as exc:
        return dataclasses.replace(report, error=f"{report.error}; copying it unchanged failed too: {exc}")
    return dataclasses.replace(report, written=written)


def _deliver(
    target: Target, snapshot: Snapshot, pieces: Sequence[bytes | memoryview], changed: bool, job: Job
) -> tuple[str, ...]:
    """Write the output where the job says; return the paths written."""
    if job.write_back is WriteBack.OUTPUT and job.output is not None:
        if job.output == STDIN:
            write_stdout(pieces)
            return ()
        replace_file(job.output, pieces)
        return (job.output,)
    if job.write_back is WriteBack.OUTPUT and job.out_dir is not None:
        if changed or job.copy_unchanged:
            write_below(job.out_dir, target.relative, pieces if changed else [snapshot.data], snapshot.mode)
            return (os.path.join(job.out_dir, target.relative),)
        return ()
    if job.write_back is WriteBack.YES:
        if target.path == STDIN:
            write_stdout(pieces if changed else [snapshot.data])
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
    backup = path + suffix if suffix else None
    created = backup is not None and not os.path.lexists(backup)
    if backup is not None:
        replace_file(backup, [snapshot.data], like=path)  # as private as the original
    try:
        replace_file(path, pieces, snapshot)
    except BaseException:
        if backup is not None and created:
            with contextlib.suppress(OSError):
                os.unlink(backup)
        raise


def unified_diff(path: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{path}\t(original)",
        tofile=f"{path}\t(upgraded)",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
