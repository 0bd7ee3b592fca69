"""`bn-upgrade`: the command line. The only place that prints or picks an exit code."""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass
from enum import Enum, IntEnum
from pathlib import Path

import click

from upgrade_tool import __version__
from upgrade_tool.binary import is_binary_path, upgrade_binary
from upgrade_tool.document import Kind
from upgrade_tool.errors import InputError, SelfCheckError
from upgrade_tool.files import FileError, Snapshot, read_file, replace_file
from upgrade_tool.pipeline import Result, upgrade_source
from upgrade_tool.schema import SchemaError, load_schema
from upgrade_tool.settings import BnStyle, OutputFormat, Settings
from upgrade_tool.source import Source

STDIN = "-"


class Exit(IntEnum):
    OK = 0  # everything up to date, or upgraded
    CHANGES = 1  # --check/--diff found files to upgrade, or a finding needs a human
    BAD_INPUT = 2  # usage error, or an input that cannot be read or parsed
    INTERNAL = 123  # bn-upgrade's proof of its own output failed: a bug


class WriteBack(Enum):
    YES = "in place"
    CHECK = "check"
    DIFF = "diff"
    OUTPUT = "output"


class Status(Enum):
    UP_TO_DATE = "up to date"
    UPGRADED = "upgraded"
    FAILED = "failed"
    INTERNAL = "internal error"


@dataclass(frozen=True)
class FileReport:
    name: str
    status: Status
    result: Result | None = None
    error: str = ""  # the whole one-line message for FAILED / INTERNAL

    @property
    def exit_code(self) -> Exit:
        if self.status is Status.INTERNAL:
            return Exit.INTERNAL
        if self.status is Status.FAILED:
            return Exit.BAD_INPUT
        if self.result is not None and self.result.needs_human:
            return Exit.CHANGES
        return Exit.OK


@dataclass(frozen=True)
class Job:
    """Everything about one invocation that is the same for every file."""

    settings: Settings
    write_back: WriteBack
    output: str | None
    kind: Kind | None


EPILOG = """\b
Exit codes:
  0    all files up to date, or upgraded
  1    --check or --diff found files to upgrade, or a finding needs a human
  2    usage error, or an input that cannot be read or does not parse
  123  internal error: bn-upgrade's check of its own output failed

\b
Examples:
  bn-upgrade net.prototxt                 upgrade in place
  bn-upgrade --check models/*.prototxt    CI: exit 1 if anything needs upgrading
  bn-upgrade --diff net.prototxt          show what would change
  bn-upgrade -o new.prototxt old.prototxt write the result elsewhere
  cat net.prototxt | bn-upgrade - > new.prototxt
"""


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--check", is_flag=True, help="Write nothing; list files that would be upgraded; exit 1 if any.")
@click.option("--diff", is_flag=True, help="Write nothing; print a unified diff of each upgrade to stdout.")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write the result to FILE ('-' for stdout) instead of in place; one input only.",
)
@click.option(
    "--bn-style",
    type=click.Choice([s.value for s in BnStyle]),
    default=BnStyle.STRIP.value,
    show_default=True,
    help="strip: remove legacy BatchNorm param blocks (Caffe PR #4704). "
    "zero: keep them with lr_mult and decay_mult 0 (Caffe master).",
)
@click.option(
    "--unsafe-fixes",
    is_flag=True,
    help="Also upgrade BatchNorm layers whose params have nonzero rates or more than 3 blocks.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice([f.value for f in OutputFormat]),
    default=OutputFormat.PRESERVE.value,
    show_default=True,
    help="preserve: edit only what an upgrade changes, keeping comments, layout and fork fields. "
    "canonical: exactly the text Caffe's own tools print (comments dropped, unknown fields are errors).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Treat fields the schema does not know (fork dialects) as errors instead of keeping them.",
)
@click.option(
    "--proto",
    metavar="PATH",
    help="Read with a fork's caffe.proto (or a protoc descriptor set) instead of BVLC's, "
    "so its fields are validated too. Compiling a .proto needs the 'proto' extra.",
)
@click.option(
    "--v1-type",
    "v1_types",
    metavar="ENUM=Type",
    multiple=True,
    help="Map a fork's V1 layer type Caffe does not know, e.g. --v1-type ROI_POOLING=ROIPooling. Repeatable.",
)
@click.option(
    "--kind",
    type=click.Choice(["auto", "net", "solver"]),
    default="auto",
    show_default=True,
    help="Read inputs as nets or solvers; auto decides by content.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and findings that need a human.")
@click.option("-v", "--verbose", is_flag=True, help="Also report files that are already up to date.")
@click.version_option(__version__, prog_name="bn-upgrade")
def main(
    paths: tuple[str, ...],
    check: bool,
    diff: bool,
    output: str | None,
    bn_style: str,
    unsafe_fixes: bool,
    output_format: str,
    strict: bool,
    proto: str | None,
    v1_types: tuple[str, ...],
    kind: str,
    quiet: bool,
    verbose: bool,
) -> None:
    """Upgrade legacy Caffe prototxt files in place: BatchNorm param blocks.

    Each PATH is a .prototxt file, or '-' for standard input (the result goes to
    standard output). A .caffemodel or .binaryproto is upgraded in binary, its
    weights copied byte for byte. Files are changed only when an upgrade
    applies, atomically, and only after bn-upgrade has re-read its own output
    and checked that a second run would change nothing. Comments, layout and fields of fork
    dialects (SSD, R-FCN, NVIDIA, Intel, ...) are kept as they were written.
    """
    if check and diff:
        raise click.UsageError("--check and --diff cannot be combined")
    if output is not None and (check or diff):
        raise click.UsageError("-o/--output cannot be combined with --check or --diff")
    if output is not None and len(paths) != 1:
        raise click.UsageError("-o/--output takes exactly one input PATH")
    if paths.count(STDIN) > 1:
        raise click.UsageError("'-' (standard input) can be given only once")
    write_back = WriteBack.CHECK if check else WriteBack.DIFF if diff else WriteBack.YES
    if output is not None:
        write_back = WriteBack.OUTPUT
    settings = Settings(
        BnStyle(bn_style), unsafe_fixes, OutputFormat(output_format), strict, proto, _v1_type_map(v1_types)
    )
    try:
        load_schema(proto)
    except SchemaError as exc:
        raise click.BadParameter(str(exc), param_hint="--proto") from None
    job = Job(settings, write_back, output, None if kind == "auto" else Kind(kind))
    reports = [process(path, job) for path in paths]
    for report in reports:
        _print_report(report, job, quiet, verbose)
    if not quiet:
        click.echo(_summary(reports, job), err=True)
    sys.exit(_exit_code(reports, job))


def _v1_type_map(pairs: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    mapping = []
    for pair in pairs:
        enum_name, _, type_name = pair.partition("=")
        if not enum_name.strip() or not type_name.strip():
            raise click.BadParameter(f"{pair!r} is not ENUM=Type (e.g. ROI_POOLING=ROIPooling)", param_hint="--v1-type")
        mapping.append((enum_name.strip(), type_name.strip()))
    return tuple(mapping)


def process(path: str, job: Job) -> FileReport:
    """Upgrade one input and write the result as `job` says; never raises."""
    try:
        snapshot = _read(path)
        if is_binary_path(path):
            return _process_binary(path, snapshot, job)
        source = Source.from_bytes(snapshot.data)
        try:
            result = upgrade_source(source, job.settings, job.kind)
        except InputError as exc:
            exc.line, exc.column = source.position(exc.offset)
            raise
        _write(path, snapshot, source, result, job)
    except InputError as exc:
        return FileReport(path, Status.FAILED, error=f"{_where(path, exc.line, exc.column)}: {exc.message}")
    except FileError as exc:
        return FileReport(path, Status.FAILED, error=f"{path}: {exc}")
    except SelfCheckError as exc:
        return FileReport(path, Status.INTERNAL, error=_bug_message(path, f"self-check failed: {exc}"))
    except Exception as exc:  # noqa: BLE001 - a bug must not become a traceback or a half-done batch
        return FileReport(path, Status.INTERNAL, error=_bug_message(path, f"{type(exc).__name__}: {exc}"))
    return FileReport(path, Status.UPGRADED if result.changed else Status.UP_TO_DATE, result)


def _process_binary(path: str, snapshot: Snapshot, job: Job) -> FileReport:
    """A .caffemodel or .binaryproto: the same passes; written back in binary, weights byte for byte."""
    if job.kind is Kind.SOLVER:
        raise InputError("a binary model is a net: --kind solver does not apply to it")
    binary = upgrade_binary(snapshot.data, job.settings)
    pieces = binary.output if binary.output is not None else (snapshot.data,)
    if job.write_back is WriteBack.OUTPUT and job.output == STDIN:
        for piece in pieces:
            sys.stdout.buffer.write(piece)
        sys.stdout.flush()
    elif job.write_back is WriteBack.OUTPUT:
        assert job.output is not None
        replace_file(Path(job.output), pieces)
    elif job.write_back is WriteBack.YES and binary.changed:
        replace_file(Path(path), pieces, snapshot)
    elif job.write_back is WriteBack.DIFF and binary.changed:
        click.echo(f"{path}: a binary model has no text diff; what would change is reported below", err=True)
    return FileReport(path, Status.UPGRADED if binary.changed else Status.UP_TO_DATE, binary.report())


def _where(name: str, line: int, column: int) -> str:
    """`name:line:column`, or just `name` where there are no lines (a binary model)."""
    return f"{name}:{line}:{column}" if line else name


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


def _write(path: str, snapshot: Snapshot, source: Source, result: Result, job: Job) -> None:
    preserving = job.settings.output_format is OutputFormat.PRESERVE
    data = source.encode(result.text) if preserving else result.text.encode("utf-8")
    if job.write_back is WriteBack.OUTPUT:
        assert job.output is not None
        if job.output == STDIN:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            replace_file(Path(job.output), data)
    elif job.write_back is WriteBack.DIFF:
        if result.changed:
            click.echo(_unified_diff(path, source.text, result.text), nl=False)
    elif job.write_back is WriteBack.YES:
        if path == STDIN:
            sys.stdout.buffer.write(data if result.changed else snapshot.data)
            sys.stdout.flush()
        elif result.changed:
            replace_file(Path(path), data, snapshot)


def _unified_diff(path: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{path}\t(original)",
        tofile=f"{path}\t(upgraded)",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _print_report(report: FileReport, job: Job, quiet: bool, verbose: bool) -> None:
    if report.error:
        click.echo(report.error, err=True)
        return
    result = report.result
    assert result is not None
    for finding in result.findings:
        if finding.needs_human or not quiet:
            where = _where(report.name, finding.line, finding.column)
            click.echo(f"{where}: {finding.code} {finding.message}", err=True)
    if quiet:
        return
    if result.unknown_fields:
        names = ", ".join(result.unknown_fields[:8]) + (", ..." if len(result.unknown_fields) > 8 else "")
        count = len(result.unknown_fields)
        click.echo(
            f"{report.name}: kept {count} field{'s' * (count != 1)} unknown to the schema as written: {names}", err=True
        )
    if report.status is Status.UPGRADED:
        verb = "would upgrade" if job.write_back in (WriteBack.CHECK, WriteBack.DIFF) else "upgraded"
        done = "; ".join(f"{name}: {summary}" for name, summary in result.summaries)
        click.echo(f"{report.name}: {verb} ({done})", err=True)
    elif verbose:
        click.echo(f"{report.name}: up to date", err=True)


def _summary(reports: list[FileReport], job: Job) -> str:
    def count(status: Status) -> int:
        return sum(1 for report in reports if report.status is status)

    upgraded = "would be upgraded" if job.write_back in (WriteBack.CHECK, WriteBack.DIFF) else "upgraded"
    parts = [
        f"{_files(count(Status.UPGRADED))} {upgraded}",
        f"{_files(count(Status.UP_TO_DATE))} already up to date",
    ]
    human = sum(1 for report in reports if report.result is not None and report.result.needs_human)
    if human:
        parts.append(f"{_files(human)} need a human")
    failed = count(Status.FAILED) + count(Status.INTERNAL)
    if failed:
        parts.append(f"{_files(failed)} failed")
    return ", ".join(parts) + "."


def _files(n: int) -> str:
    return f"{n} file{'s' * (n != 1)}"


def _exit_code(reports: list[FileReport], job: Job) -> int:
    code = max((report.exit_code for report in reports), default=Exit.OK)
    finds_changes = job.write_back in (WriteBack.CHECK, WriteBack.DIFF)
    if code == Exit.OK and finds_changes and any(r.status is Status.UPGRADED for r in reports):
        code = Exit.CHANGES
    return int(code)
