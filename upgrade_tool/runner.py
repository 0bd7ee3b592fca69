"""Running a job over many files: one `FileReport` per file, in a process pool.

`process` reads one file, upgrades it, writes the result as the job says and
returns a report; it never raises, so one bad file cannot stop a batch. `run`
does that for every target, in worker processes when there are several, and
returns the reports in the targets' order: the same reports whatever `jobs` is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from types import FrameType
from typing import TYPE_CHECKING, Any

from upgrade_tool.codes import Code, Level
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
from upgrade_tool.outcome import Outcome, from_json, to_json
from upgrade_tool.settings import OutputFormat, Settings
from upgrade_tool.walk import Target, is_binary_path, matches_any

if TYPE_CHECKING:
    from upgrade_tool.cache import Cache

STDIN = "-"
INTERNAL_CODE = "BUG001"

# Internal errors: never silenced by --ignore, never cached.
CODES = (
    Code(
        INTERNAL_CODE,
        "internal-error",
        "bn-upgrade's proof of its own output failed, it hit a bug, or the worker process upgrading the file died",
        "Every output is read back and compared with the upgraded net, and upgraded once more, which must "
        "change nothing. If that fails, or bn-upgrade itself breaks, nothing is written and the run exits 123. "
        "This is a bug in bn-upgrade: please report it with the input attached. With -j N, a worker process "
        "that dies (the out-of-memory killer, a crash) gives this code to the file it had in hand, which is "
        "whole: as it was, or upgraded if its write had ended; the other files go on in a new worker. "
        "It cannot be ignored.",
        level=Level.ERROR,
    ),
)


class Exit(IntEnum):
    OK = 0  # everything up to date, or upgraded
    CHANGES = 1  # --check/--diff found files to upgrade, or a finding needs a human
    BAD_INPUT = 2  # usage error, an input that cannot be read or parsed, or an output that cannot be written
    INTERRUPTED = 130  # stopped by SIGINT, SIGTERM, SIGHUP or SIGQUIT; every file is whole
    INTERNAL = 123  # bn-upgrade's proof of its own output failed: a bug


class WriteBack(Enum):
    YES = "in_place"
    CHECK = "check"
    DIFF = "diff"
    OUTPUT = "output"  # -o FILE, or --out-dir


class Status(Enum):
    """Where a file ends up: exactly one of these per file (the summary's buckets)."""

    UP_TO_DATE = "up_to_date"
    UPGRADED = "upgraded"  # "would_upgrade" in reports of --check / --diff
    NEEDS_HUMAN = "needs_human"  # a finding that needs a human (the file may be upgraded too)
    COPIED = "copied_unchanged"  # --copy-unchanged: a file of the tree that is not a net, copied as it is
    FAILED = "failed"
    INTERNAL = "internal_error"
    IGNORED = "ignored"  # it failed, but its error's code is ignored: not reported, not failing, not written


@dataclass(frozen=True, slots=True)
class Job:
    """Everything about one invocation that is the same for every file."""

    settings: Settings
    write_back: WriteBack = WriteBack.YES
    output: str | None = None  # -o FILE ('-' = stdout)
    out_dir: str | None = None  # --out-dir: upgraded copies mirror the tree here
    copy_unchanged: bool = False
    backup: str | None = None  # --backup SUFFIX
    kind: str | None = None  # "net" or "solver"; None: told by content
    clean: bool = False  # --clean: remove stale temp files of killed runs even where nothing is written
    # per-file-ignores: (pattern, codes), patterns matched as --exclude's against the path from `root`
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    root: str = "."  # the project root paths are matched from (the config file's directory)
    stdin_name: str | None = None  # --stdin-filename: what standard input is called
    cache_dir: str | None = None  # the outcome cache's directory; None: no cache
    cache_key: str = ""  # the fingerprint of everything but the file that decides an outcome

    @property
    def finds_changes(self) -> bool:
        return self.write_back in (WriteBack.CHECK, WriteBack.DIFF)


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a file failed: a code, a message, and where (line 0: about the whole file)."""

    code: str
    message: str
    line: int = 0
    column: int = 0
    path: str | None = None  # the file it is about, where that is not the input (-o FILE, a copy)


@dataclass(frozen=True, slots=True)
class FileReport:
    name: str
    status: Status
    outcome: Outcome | None = None
    problem: Problem | None = None  # for FAILED / INTERNAL / IGNORED
    bytes_before: int = 0
    bytes_after: int = 0
    diff: str = ""  # --diff: printed by the parent, in order
    written: tuple[str, ...] = field(default_factory=tuple)  # files this run wrote
    stale: tuple[tuple[str, bool], ...] = ()  # temp files killed runs left beside it: (path, removed)
    digest: str = ""  # of the bytes read, where the cache is on

    @property
    def error(self) -> str:
        """The one-line message for a failed file (`PATH:LINE:COL: CODE message`), else ""."""
        problem = self.problem
        if problem is None:
            return ""
        return f"{where(problem.path or self.name, problem.line, problem.column)}: {problem.code} {problem.message}"

    @property
    def exit_code(self) -> Exit:
        if self.status is Status.INTERNAL:
            return Exit.INTERNAL
        if self.status is Status.FAILED:
            return Exit.BAD_INPUT
        if self.status is Status.NEEDS_HUMAN:
            return Exit.CHANGES
        return Exit.OK

    @property
    def changed(self) -> bool:
        return self.outcome is not None and self.outcome.changed


def exit_code(reports: Sequence[FileReport], job: Job) -> int:
    """The worst code seen; with --check/--diff, a file to upgrade counts as 1."""
    code = max((report.exit_code for report in reports), default=Exit.OK)
    if code == Exit.OK and job.finds_changes and any(r.changed and r.problem is None for r in reports):
        code = Exit.CHANGES
    return int(code)


OnDone = Callable[[int, FileReport], None]


def run(targets: Sequence[Target], job: Job, jobs: int, on_done: OnDone | None = None) -> list[FileReport]:
    """Process every target; `on_done(index, report)` as each finishes (in any order).

    Outcomes the cache holds for a file's exact bytes are served from it where
    nothing needs writing. The rest run here, or in `jobs` worker processes
    started once and fed chunks of targets. Interrupted (KeyboardInterrupt,
    which SIGTERM raises too), workers finish the file in hand and skip the
    rest before it propagates; in this process, a write in progress is undone.
    Either way no file is left half-done.
    """
    with collecting_between_files():
        return _run(targets, job, jobs, on_done)


def _run(targets: Sequence[Target], job: Job, jobs: int, on_done: OnDone | None) -> list[FileReport]:
    reports: list[FileReport | None] = [None] * len(targets)
    cache = _open_cache(job)

    def done(index: int, report: FileReport) -> None:
        collect_if_due()
        reports[index] = report
        if cache is not None:
            _remember(cache, targets[index], report, job)
        if on_done is not None:
            on_done(index, report)

    try:
        pending = []
        for index, target in enumerate(targets):
            served = _from_cache(cache, target, job) if cache is not None else None
            if served is not None:
                reports[index] = served
                if on_done is not None:
                    on_done(index, served)
            else:
                pending.append(index)
        pooled = [i for i in pending if targets[i].path != STDIN]
        if jobs > 1 and len(pooled) > 1:
            _run_pooled(targets, pooled, job, min(jobs, len(pooled)), done)
            pending = [i for i in pending if targets[i].path == STDIN]
        for index in pending:
            done(index, process(targets[index], job))
    finally:
        if cache is not None:
            cache.save()
    return [report for report in reports if report is not None]


_LEFT_BEFORE_COLLECTING = 200_000  # objects the files have left behind (in cycles) before a collection


@contextlib.contextmanager
def collecting_between_files() -> Iterator[None]:
    """The garbage collector's automatic passes off while a batch runs; `collect_if_due` between files.

    A file's tree and messages are freed by their reference counts as soon as
    the file is done: they hold almost no cycles. The collector's automatic
    passes over each new tree cost 12-20% of a `--check` over the corpora
    (README, "Measured"). What lives from before the batch (modules, schemas)
    is frozen meanwhile, so a collection scans only what the files left.
    """
    from upgrade_tool.reader import collector_paused

    with collector_paused():
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()


def collect_if_due() -> None:
    """Collect once the files done have left `_LEFT_BEFORE_COLLECTING` objects alive (the collector's own count).

    That count rises with every container object made and falls with every one
    freed, so it is what cycles (a lazy tree's levels, say) keep, whatever the
    number or size of the files.
    """
    if not gc.isenabled() and gc.get_count()[0] > _LEFT_BEFORE_COLLECTING:
        gc.collect()


def _run_pooled(targets: Sequence[Target], indices: list[int], job: Job, workers: int, done: OnDone) -> None:
    from upgrade_tool import workers as crew

    if crew.forking():
        _load_for_workers(job.settings)
    work = [[(i, targets[i]) for i in chunk] for chunk in crew.chunks(indices, workers)]
    crew.run(work, workers, _worker_setup, (job,), _process_in_worker, done, functools.partial(_lost, targets, job))


def _load_for_workers(settings: Settings) -> None:
    """Load once, before forking, what each worker would otherwise load for itself.

    That is the pipeline's modules, passes and rules, and every schema the run
    may read with (all the dialects' where files are told apart by content,
    8 MB; a --proto schema is loaded already). The workers share these pages;
    a worker's memory then does not depend on which forks' files it happened
    to meet, and no worker spends its time loading them.
    """
    from upgrade_tool import binary, netrole, pipeline  # noqa: F401
    from upgrade_tool.dialects import alike  # noqa: F401
    from upgrade_tool.dialects.registry import dialect_names, get_dialect
    from upgrade_tool.passes import all_passes
    from upgrade_tool.rules import all_rules

    all_passes(), all_rules()  # their modules
    if settings.proto is None and settings.dialect is None:
        names: Sequence[str] = dialect_names()
    else:
        names = [name for name in (settings.dialect, settings.target) if name is not None]
    for name in names:
        get_dialect(name).schema()


_INTERRUPTS = INTERRUPT_SIGNALS
_job: Job | None = None  # in a worker: the run's job, sent once
_stopping = False  # this process is already unwinding after an interrupting signal


def _worker_setup(job: Job) -> None:
    # A worker is never interrupted: stopping one mid-write could leave a half-sent
    # message and the parent waiting. Ctrl-C, SIGTERM, SIGHUP and SIGQUIT are the
    # parent's; it tells the workers to skip what they hold instead (workers.run).
    global _job
    _job = job
    gc.disable()  # as in the parent (collecting_between_files), for the worker's whole life
    gc.freeze()
    for signum in _INTERRUPTS:
        signal.signal(signum, signal.SIG_IGN)


def _process_in_worker(target: Target) -> FileReport:
    assert _job is not None
    report = process(target, _job)
    collect_if_due()
    return report


def _lost(targets: Sequence[Target], job: Job, index: int, how: str) -> FileReport:
    """The report for the file a worker had in hand when it died (the out-of-memory killer, a crash)."""
    message = (
        f"internal error: the worker process upgrading this file died ({how}); the file is whole, as it was "
        "or, if its write had ended, upgraded. If the machine ran out of memory, try the file alone with -j 1"
    )
    return FileReport(display_name(targets[index], job), Status.INTERNAL, problem=Problem(INTERNAL_CODE, message))


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


# -- one file ---------------------------------------------------------------------------------


def display_name(target: Target, job: Job) -> str:
    """How messages name the input: its path as given; standard input as --stdin-filename says, else '-'."""
    return (job.stdin_name or STDIN) if target.path == STDIN else target.path


def file_settings(name: str, job: Job) -> Settings:
    """The job's settings with this file's per-file ignores added."""
    extra = ignored_for(name, job)
    if not extra:
        return job.settings
    return dataclasses.replace(job.settings, codes=job.settings.codes.ignoring(extra))


def ignored_for(name: str, job: Job) -> tuple[str, ...]:
    """The codes per-file-ignores adds for the file `name` (matched from the project root)."""
    if not job.per_file_ignores or name == STDIN:
        return ()
    found: list[str] = []
    for pattern, codes in job.per_file_ignores:
        if matches_any(name, (pattern,), job.root):
            found.extend(code for code in codes if code not in found)
    return tuple(found)


def process(target: Target, job: Job) -> FileReport:
    """Upgrade one input and write the result as `job` says; never raises (but for Ctrl-C)."""
    report = _process(target, job)
    return _settle(report, target, job)


def _settle(report: FileReport, target: Target, job: Job) -> FileReport:
    """An error whose code is ignored (per file too) is not reported; stale temp files are dealt with."""
    problem = report.problem
    if problem is not None and report.status is Status.FAILED and not _error_enabled(problem.code, target, job):
        report = dataclasses.replace(report, status=Status.IGNORED)
    if not target.stale:
        return report
    return dataclasses.replace(report, stale=_clear_stale(target, report.written, job.clean))


def _error_enabled(code: str, target: Target, job: Job) -> bool:
    # E and IO codes are on unless ignored: a stand-in Code decides that without loading the registry.
    return file_settings(display_name(target, job), job).codes.enabled(Code(code, "", "", ""))


def _process(target: Target, job: Job) -> FileReport:
    from upgrade_tool.errors import InputError, SelfCheckError
    from upgrade_tool.source import out_of_memory

    name = display_name(target, job)
    if target.error:
        return FileReport(name, Status.FAILED, problem=Problem("IO001", target.error))
    snapshot: Snapshot | None = None
    try:
        if target.copy_only:
            return _copy_as_it_is(target, job)
        snapshot = _read(target)
        settings = file_settings(name, job)
        if _is_binary_name(name):
            return _process_binary(target, name, snapshot, settings, job)
        return _process_text(target, name, snapshot, settings, job)
    except FileError as exc:
        return _failed(name, Problem(exc.code, str(exc), path=exc.path), snapshot, job)
    except InputError as exc:
        failed = _failed(name, Problem(exc.code, exc.message, exc.line, exc.column), snapshot, job)
    except SelfCheckError as exc:
        failed = FileReport(name, Status.INTERNAL, problem=_bug(f"self-check failed: {exc}"))
    except MemoryError:  # in a pass or the proof: the input is too big for this machine, not a bug
        error = out_of_memory(_size(snapshot))
        failed = _failed(name, Problem(error.code, error.message), snapshot, job)
    except Exception as exc:  # noqa: BLE001 - a bug must not become a traceback or a half-done batch
        failed = FileReport(name, Status.INTERNAL, problem=_bug(f"{type(exc).__name__}: {exc}"))
    return _copy_failed(_echo_ignored(failed, target, snapshot, job), target, snapshot, job)


def _echo_ignored(report: FileReport, target: Target, snapshot: Snapshot | None, job: Job) -> FileReport:
    """An ignored error where the output is standard output: the input goes through as it is.

    `bn-upgrade - < in > out` exits 0 then, and `out` must not be left empty.
    """
    if report.status is not Status.FAILED or report.problem is None or snapshot is None:
        return report
    if _writes_to_stdout(target, job) and not _error_enabled(report.problem.code, target, job):
        try:
            write_stdout([snapshot.data])
        except FileError as exc:
            return _failed(report.name, Problem(exc.code, str(exc), path=exc.path), snapshot, job)
    return report


def _writes_to_stdout(target: Target, job: Job) -> bool:
    """Whether the job's output for `target` is standard output (`-` in place, or `-o -`)."""
    if job.write_back is WriteBack.OUTPUT:
        return job.output == STDIN
    return job.write_back is WriteBack.YES and target.path == STDIN


def _is_binary_name(name: str) -> bool:
    return is_binary_path(name) and name != STDIN


def _failed(name: str, problem: Problem, snapshot: Snapshot | None, job: Job) -> FileReport:
    if snapshot is None:
        return FileReport(name, Status.FAILED, problem=problem)
    return FileReport(
        name, Status.FAILED, problem=problem, bytes_before=snapshot.size, digest=_digest_of(snapshot, job)
    )


def _digest_of(snapshot: Snapshot, job: Job) -> str:
    return _digest(snapshot.data) if job.cache_dir is not None else ""


def _digest(data: bytes) -> str:
    from upgrade_tool.cache import digest

    return digest(data)


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
    Only --out-dir gives each input an output of its own (-o takes one input).
    """
    if job.write_back is not WriteBack.OUTPUT or job.out_dir is None:
        return None
    inputs = {os.path.realpath(t.path): t.path for t in targets if t.path != STDIN and not t.error}
    claimed: dict[str, str] = {}
    for target in targets:
        output = destination(target, job) if not target.error else None
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


def _bug(what: str) -> Problem:
    message = (
        f"internal error: {what}; nothing was written. "
        "This is a bug in bn-upgrade: please report it with this input attached."
    )
    return Problem(INTERNAL_CODE, message)


def _read(target: Target) -> Snapshot:
    if target.path == STDIN:
        data = sys.stdin.buffer.read()
        return Snapshot(data, 0, len(data))
    if target.copy_only:
        return read_file(target.path, within=target.root)
    return read_file(target.path, follow_links=target.explicit)


def _status(outcome: Outcome) -> Status:
    if outcome.needs_human:
        return Status.NEEDS_HUMAN
    return Status.UPGRADED if outcome.changed else Status.UP_TO_DATE


def _process_text(target: Target, name: str, snapshot: Snapshot, settings: Settings, job: Job) -> FileReport:
    from upgrade_tool import pipeline
    from upgrade_tool.document import Kind
    from upgrade_tool.errors import InputError
    from upgrade_tool.outcome import from_result
    from upgrade_tool.source import Source

    source = Source.from_bytes(snapshot.data)
    try:
        result = pipeline.upgrade_source(source, settings, Kind(job.kind) if job.kind else None)
    except InputError as exc:
        exc.line, exc.column = source.position(exc.offset)
        raise
    preserving = settings.output_format is OutputFormat.PRESERVE
    data = source.encode(result.text) if preserving else result.text.encode("utf-8")
    diff = ""
    if job.write_back is WriteBack.DIFF and result.changed:
        diff = unified_diff(name, source.text, result.text)
    written = _deliver(target, snapshot, [data], result.changed, job)
    outcome = from_result(result)
    digest = _digest_of(snapshot, job)
    return FileReport(name, _status(outcome), outcome, None, snapshot.size, len(data), diff, written, (), digest)


def _process_binary(target: Target, name: str, snapshot: Snapshot, settings: Settings, job: Job) -> FileReport:
    """A .caffemodel or .binaryproto: the same passes; written back in binary, weights byte for byte."""
    from upgrade_tool import binary
    from upgrade_tool.errors import InputError
    from upgrade_tool.outcome import from_result

    if job.kind == "solver":
        raise InputError("a binary model is a net: --kind solver does not apply to it", code="E005")
    upgraded = binary.upgrade_binary(snapshot.data, settings)
    pieces = list(upgraded.output) if upgraded.output is not None else [snapshot.data]
    size = sum(len(piece) for piece in pieces)
    written = _deliver(target, snapshot, pieces, upgraded.changed, job)  # --diff: no text diff for a binary
    outcome = from_result(upgraded.report())
    digest = _digest_of(snapshot, job)
    return FileReport(name, _status(outcome), outcome, None, snapshot.size, size, "", written, (), digest)


def _copy_as_it_is(target: Target, job: Job) -> FileReport:
    """--copy-unchanged: a file of the tree that is not processed goes to the output tree as it is."""
    snapshot = _read(target)
    written = _deliver(target, snapshot, [snapshot.data], False, job)
    return FileReport(target.path, Status.COPIED, None, None, snapshot.size, snapshot.size, "", written)


def _copy_failed(report: FileReport, target: Target, snapshot: Snapshot | None, job: Job) -> FileReport:
    """--copy-unchanged: a file that could not be upgraded is copied as it was read (its error stands)."""
    if snapshot is None or not job.copy_unchanged or job.out_dir is None or target.path == STDIN:
        return report
    assert report.problem is not None
    try:
        written = _deliver(target, snapshot, [snapshot.data], False, job)
    except FileError as exc:
        message = f"{report.problem.message}; copying it unchanged failed too: {exc}"
        return dataclasses.replace(report, problem=dataclasses.replace(report.problem, message=message))
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


def diff_name(path: str) -> str:
    """A path as diff headers give it: no `./` prefix, so `git apply -p0` and `patch -p0` agree."""
    if os.path.isabs(path):
        return path
    name = os.path.normpath(path)
    return name.replace(os.sep, "/")


def unified_diff(path: str, before: str, after: str) -> str:
    from upgrade_tool import textdiff

    name = diff_name(path)
    lines = textdiff.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{name}\t(original)",
        tofile=f"{name}\t(upgraded)",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


# -- the outcome cache ------------------------------------------------------------------------


def _open_cache(job: Job) -> Cache | None:
    if job.cache_dir is None or job.write_back is WriteBack.OUTPUT:
        return None  # -o and --out-dir write every output, so every file is computed
    from pathlib import Path

    from upgrade_tool.cache import Cache

    return Cache(Path(job.cache_dir), job.cache_key)


def _entry_key(digest: str, name: str, job: Job) -> str:
    """The file's bytes, how its name routes it (binary or text), and its own per-file ignores."""
    extension = os.path.splitext(name)[1].lower()
    return ":".join((digest, extension, ",".join(ignored_for(name, job))))


def _cacheable(report: FileReport) -> bool:
    if report.status in (Status.UP_TO_DATE, Status.UPGRADED, Status.NEEDS_HUMAN):
        return report.problem is None and report.outcome is not None
    problem = report.problem
    # An input error is a fact about the bytes; running out of memory (E008) is not, nor is any IO error.
    return problem is not None and problem.path is None and problem.code.startswith("E") and problem.code != "E008"


def _remember(cache: Cache, target: Target, report: FileReport, job: Job) -> None:
    if not report.digest or target.path == STDIN or not _cacheable(report):
        return
    problem = report.problem
    entry = {
        "outcome": to_json(report.outcome) if report.outcome is not None else None,
        "problem": [problem.code, problem.message, problem.line, problem.column] if problem is not None else None,
        "bytes_after": report.bytes_after,
    }
    cache.put(_entry_key(report.digest, report.name, job), entry)


def _from_cache(cache: Cache, target: Target, job: Job) -> FileReport | None:
    """The report a cached outcome gives for `target`, where nothing needs writing; None: compute it."""
    if target.path == STDIN or target.error or target.copy_only:
        return None
    try:
        snapshot = _read(target)
    except FileError:
        return None  # the run reports it
    from upgrade_tool.cache import digest

    file_digest = digest(snapshot.data)
    entry = cache.get(_entry_key(file_digest, target.path, job))
    if entry is None:
        return None
    try:
        report = _cached_report(entry, target.path, snapshot, file_digest)
    except (KeyError, TypeError, ValueError):
        return None  # an entry of another shape: computed again
    if report.changed and job.write_back is not WriteBack.CHECK:
        return None  # it must be written (or its diff made): computed again
    return _settle(report, target, job)


def _cached_report(entry: dict[str, Any], name: str, snapshot: Snapshot, file_digest: str) -> FileReport:
    raw = entry["problem"]
    if raw is not None:
        code, message, line, column = raw
        problem = Problem(str(code), str(message), int(line), int(column))
        return FileReport(name, Status.FAILED, problem=problem, bytes_before=snapshot.size, digest=file_digest)
    outcome = from_json(entry["outcome"])
    size = int(entry["bytes_after"])
    return FileReport(name, _status(outcome), outcome, None, snapshot.size, size, digest=file_digest)
