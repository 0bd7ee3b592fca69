"""`bn-upgrade`: the command line. The only place that prints or picks an exit code."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from upgrade_tool import __version__
from upgrade_tool.document import Kind
from upgrade_tool.files import FileError, flush_stdout, replace_file, silence_stdout, write_stdout
from upgrade_tool.report import github_annotations, json_report, printable, summary, text_lines
from upgrade_tool.runner import (
    STDIN,
    Exit,
    FileReport,
    Job,
    WriteBack,
    clashing_outputs,
    exit_code,
    install_signal_handlers,
    run,
    with_stale_temps,
)
from upgrade_tool.schema import SchemaError, load_schema
from upgrade_tool.settings import BnStyle, OutputFormat, Settings
from upgrade_tool.walk import DEFAULT_INCLUDE, Selection, Target, collect

EPILOG = f"""\b
Exit codes:
  0    all files up to date, or upgraded
  1    --check or --diff found files to upgrade, or a finding needs a human
  2    usage error, an input that cannot be read or does not parse, or an
       output (a file, standard output) that cannot be written in full
  123  internal error: bn-upgrade's check of its own output failed
  130  interrupted (Ctrl-C, SIGTERM, SIGHUP or SIGQUIT); every file is either
       old or new, never half-written

\b
Directories are walked recursively for {", ".join(DEFAULT_INCLUDE)} (a .pt
only if it is text), skipping hidden directories and never following links; a
directory that cannot be read is an error, counted as failed.

\b
Examples:
  bn-upgrade net.prototxt                 upgrade in place
  bn-upgrade models/                      upgrade a whole tree, in parallel
  bn-upgrade --check models/              CI: exit 1 if anything needs upgrading
  bn-upgrade --diff net.prototxt          show what would change
  bn-upgrade -o new.prototxt old.prototxt write the result elsewhere
  bn-upgrade --out-dir upgraded/ zoo/     upgraded copies, mirroring the tree
  cat net.prototxt | bn-upgrade - > new.prototxt
"""


INTERRUPTED = "bn-upgrade: interrupted; files already upgraded are complete, the rest untouched."


class _Command(click.Command):
    """The command, with standard output checked to the very end.

    Whatever is still buffered is flushed before exit, so a failure there is a
    one-line error and exit 2 rather than Python's "Exception ignored" at
    shutdown; click's own output (--help, --version) failing is one line too.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)  # returns only outside standalone mode
        except SystemExit as exc:
            code = exc.code
        except OSError as exc:  # click writing --help or --version to a stdout that fails
            silence_stdout()
            _say(f"bn-upgrade: cannot write to standard output: {exc.strerror or exc}")
            code = Exit.BAD_INPUT
        try:
            flush_stdout()
        except FileError as exc:
            _say(f"bn-upgrade: {exc}")
            code = code if isinstance(code, int) and code > Exit.BAD_INPUT else Exit.BAD_INPUT
        sys.exit(code)


@click.command(cls=_Command, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str, readable=False))
@click.option("--check", is_flag=True, help="Write nothing; list files that would be upgraded; exit 1 if any.")
@click.option("--diff", is_flag=True, help="Write nothing; print a unified diff of each upgrade to stdout.")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write the result to FILE ('-' for stdout) instead of in place; one input file only.",
)
@click.option(
    "--out-dir",
    metavar="DIR",
    help="Write upgraded copies under DIR, mirroring the tree; change nothing. Never writes through a link in DIR.",
)
@click.option(
    "--copy-unchanged",
    is_flag=True,
    help="With --out-dir: also copy files that need no upgrade or fail to, and the tree's other files, as they are.",
)
@click.option("--backup", metavar="SUFFIX", help="Keep each original beside its upgraded file, as NAME+SUFFIX.")
@click.option(
    "--clean",
    is_flag=True,
    help="Remove the temp files killed bn-upgrade runs left beside the files this run processes "
    "(always reported; writing a file removes its own).",
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
@click.option("--include", metavar="GLOB", multiple=True, help="Files to take from directories (replaces the default).")
@click.option("--exclude", metavar="GLOB", multiple=True, help="Files or directories to skip. Repeatable.")
@click.option(
    "-j", "--jobs", type=click.IntRange(min=1), default=None, help="Parallel workers [default: number of CPUs]."
)
@click.option("--report", "report_path", metavar="FILE", help="Write a JSON report: one record per file.")
@click.option(
    "--output-format",
    "message_format",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text: lines on stderr. json: the report on stdout. github: GitHub Actions annotations on stdout.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and findings that need a human; no progress.")
@click.option("-v", "--verbose", is_flag=True, help="Also report files that are already up to date.")
@click.version_option(__version__, prog_name="bn-upgrade")
def main(
    paths: tuple[str, ...],
    check: bool,
    diff: bool,
    output: str | None,
    out_dir: str | None,
    copy_unchanged: bool,
    backup: str | None,
    clean: bool,
    bn_style: str,
    unsafe_fixes: bool,
    output_format: str,
    strict: bool,
    proto: str | None,
    v1_types: tuple[str, ...],
    kind: str,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    jobs: int | None,
    report_path: str | None,
    message_format: str,
    quiet: bool,
    verbose: bool,
) -> None:
    """Upgrade legacy Caffe model definitions in place: V0 and V1 nets, old data
    transformation fields, top-level inputs, solver types, and BatchNorm param blocks.

    Each PATH is a .prototxt file, a directory, or '-' for standard input (the
    result goes to standard output). A .caffemodel is upgraded in binary, its
    weights copied byte for byte. Files are changed only when an upgrade
    applies, atomically, and only after bn-upgrade has re-read its own output
    and checked that a second run would change nothing. Comments, layout and
    fields of fork dialects (SSD, R-FCN, NVIDIA, Intel, ...) are kept as written.
    """
    _refuse_bad_combinations(paths, check, diff, output, out_dir, copy_unchanged, backup)
    settings = Settings(
        BnStyle(bn_style), unsafe_fixes, OutputFormat(output_format), strict, proto, _v1_type_map(v1_types)
    )
    try:
        load_schema(proto)
    except SchemaError as exc:
        raise click.BadParameter(str(exc), param_hint="--proto") from None
    write_back = WriteBack.CHECK if check else WriteBack.DIFF if diff else WriteBack.YES
    if output is not None or out_dir is not None:
        write_back = WriteBack.OUTPUT
    job = Job(
        settings, write_back, output, out_dir, copy_unchanged, backup, None if kind == "auto" else Kind(kind), clean
    )
    selection = Selection(include or DEFAULT_INCLUDE, exclude)
    targets = collect(paths, selection, copy_others=copy_unchanged, skip=out_dir)
    for path in paths:
        if os.path.isdir(path) and not any(_found_under(target, path) for target in targets):
            looked = ", ".join(selection.include)
            _say(printable(f"{path}: no files to upgrade (looked for {looked})"))
    if output is not None and (len(targets) != 1 or os.path.isdir(paths[0])):
        raise click.UsageError("-o/--output takes exactly one input file (use --out-dir for a tree)")
    clash = clashing_outputs(targets, job)
    if clash is not None:
        _say(printable(f"bn-upgrade: --out-dir: {clash}"))
        sys.exit(Exit.BAD_INPUT)
    targets = with_stale_temps(targets, job)
    install_signal_handlers()
    started = time.monotonic()
    try:
        reports = _run_with_progress(targets, job, jobs or os.cpu_count() or 1, quiet or message_format != "text")
    except KeyboardInterrupt:
        _say(INTERRUPTED)
        sys.exit(Exit.INTERRUPTED)
    seconds = time.monotonic() - started
    code = exit_code(reports, job)
    if not _emit(reports, job, seconds, code, message_format, quiet, verbose, len(targets) > 1):
        code = max(code, Exit.BAD_INPUT)
    if report_path is not None:
        _write_report(report_path, json_report(reports, job, seconds, code))
    sys.exit(code)


def _found_under(target: Target, root: str) -> bool:
    """Whether the walk of `root` found `target` to process (or could not look somewhere below it)."""
    found = target.path == root or target.path.startswith(os.path.join(root, ""))
    return found and not target.copy_only


def _say(line: str) -> None:
    """One line on stderr (if stderr itself cannot be written to, there is nowhere left to say so)."""
    with contextlib.suppress(OSError, ValueError):
        click.echo(line, err=True)


def _refuse_bad_combinations(
    paths: Sequence[str],
    check: bool,
    diff: bool,
    output: str | None,
    out_dir: str | None,
    copy_unchanged: bool,
    backup: str | None,
) -> None:
    if check and diff:
        raise click.UsageError("--check and --diff cannot be combined")
    if (output is not None or out_dir is not None) and (check or diff):
        raise click.UsageError("-o/--output and --out-dir write files; they cannot be combined with --check or --diff")
    if output is not None and out_dir is not None:
        raise click.UsageError("-o/--output and --out-dir cannot be combined")
    if copy_unchanged and out_dir is None:
        raise click.UsageError("--copy-unchanged goes with --out-dir")
    if backup is not None and (not backup or "/" in backup or output is not None or out_dir is not None):
        raise click.UsageError("--backup takes a suffix like .orig, and applies to in-place upgrades only")
    if list(paths).count(STDIN) > 1:
        raise click.UsageError("'-' (standard input) can be given only once")
    if out_dir is not None and STDIN in paths:
        raise click.UsageError("--out-dir cannot take '-' (standard input)")


def _v1_type_map(pairs: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    mapping = []
    for pair in pairs:
        enum_name, _, type_name = pair.partition("=")
        if not enum_name.strip() or not type_name.strip():
            raise click.BadParameter(f"{pair!r} is not ENUM=Type (e.g. ROI_POOLING=ROIPooling)", param_hint="--v1-type")
        mapping.append((enum_name.strip(), type_name.strip()))
    return tuple(mapping)


def _run_with_progress(targets: Sequence[Target], job: Job, jobs: int, silent: bool) -> list[FileReport]:
    """Run the job; on a terminal, draw a progress line on stderr as files finish."""
    if silent or len(targets) < 2 or not sys.stderr.isatty():
        return run(targets, job, jobs)
    started = time.monotonic()
    width = shutil.get_terminal_size((80, 20)).columns

    def draw(done: int, report: FileReport) -> None:
        rate = done / max(time.monotonic() - started, 1e-6)
        line = printable(f"[{done}/{len(targets)}] {rate:.0f} files/s  {report.name}")
        _draw("\r" + line[: width - 1].ljust(width - 1))

    try:
        return run(targets, job, jobs, draw)
    finally:
        _draw("\r" + " " * (width - 1) + "\r")


def _draw(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # the terminal went away (SIGHUP follows)
        sys.stderr.write(text)
        sys.stderr.flush()


def _emit(
    reports: Sequence[FileReport],
    job: Job,
    seconds: float,
    code: int,
    message_format: str,
    quiet: bool,
    verbose: bool,
    batch: bool,
) -> bool:
    """Print the diffs, messages and summary; False if standard output failed (said in one line)."""
    stdout = _Stdout()
    for report in reports:
        if report.diff:
            stdout.write(report.diff)
    if message_format == "json":
        stdout.write(json_report(reports, job, seconds, code))
        return stdout.ok
    for report in reports:
        if message_format == "github":
            for line in github_annotations(report, job):
                stdout.write(line + "\n")
        else:
            for line in text_lines(report, job, quiet, verbose):
                _say(line)
    if batch and not quiet and message_format == "text":
        for line in summary(reports, job, seconds):
            _say(line)
    return stdout.ok


class _Stdout:
    """Text for standard output, each piece written in full and flushed; the first failure is said once."""

    def __init__(self) -> None:
        self.ok = True

    def write(self, text: str) -> None:
        if not self.ok:
            return
        try:
            # A diff names files as the file system spells them: undecodable bytes go out as they came in.
            write_stdout([text.encode("utf-8", "surrogateescape")])
        except FileError as exc:
            self.ok = False
            _say(f"bn-upgrade: {exc}")


def _write_report(path: str, text: str) -> None:
    try:
        replace_file(path, text.encode("utf-8"))
    except FileError as exc:
        _say(printable(f"{exc.path or path}: {exc}"))
        sys.exit(Exit.BAD_INPUT)
