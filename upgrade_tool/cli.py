"""`bn-upgrade`: the command line. The only place that prints or picks an exit code.

Standard output carries one thing at most: the diffs, the upgraded text
(`-o -`, standard input), or the report (`--output-format json|sarif|github`,
`--report -`); asking for two is a usage error. Everything else goes to stderr,
each file's lines as soon as it and the files before it are done.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import click
from click.core import ParameterSource

from upgrade_tool import __version__
from upgrade_tool.config import Config, ConfigError
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
from upgrade_tool.selection import CodeSelection, normalise
from upgrade_tool.settings import BnStyle, OutputFormat, Settings
from upgrade_tool.terminal import Progress, paint_diff, paint_line, wants_color
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
Every message has a code (BN001, E001, IO002, UP005, ...):
  bn-upgrade --explain CODE   what it means, why, and a before/after example
Options can also be set in pyproject.toml, under [tool.bn-upgrade].

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
MESSAGE_FORMATS = ("text", "json", "github", "sarif")


class _Command(click.Command):
    """The command: usage errors in one line, and standard output checked to the very end.

    Whatever is still buffered is flushed before exit, so a failure there is a
    one-line error and exit 2 rather than Python's "Exception ignored" at
    shutdown; click's own output (--help, --version) failing is one line too.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            returned = super().main(*args, **kwargs)
            code: Any = returned if isinstance(returned, int) else 0
        except SystemExit as exc:
            code = exc.code
        except click.BadParameter as exc:
            _say(f"bn-upgrade: error: {exc.format_message()}")
            code = Exit.BAD_INPUT
        except click.UsageError as exc:
            _say(f"bn-upgrade: error: {exc.format_message()} (bn-upgrade --help lists the options)")
            code = Exit.BAD_INPUT
        except click.ClickException as exc:
            _say(f"bn-upgrade: error: {exc.format_message()}")
            code = exc.exit_code
        except click.Abort:
            _say(INTERRUPTED)
            code = Exit.INTERRUPTED
        except OSError as exc:  # click writing --help or --version to a stdout that fails
            silence_stdout()
            _say(f"bn-upgrade: IO002 cannot write to standard output: {exc.strerror or exc}")
            code = Exit.BAD_INPUT
        try:
            flush_stdout()
        except FileError as exc:
            _say(f"bn-upgrade: {exc.code} {exc}")
            code = code if isinstance(code, int) and code > Exit.BAD_INPUT else Exit.BAD_INPUT
        sys.exit(code)


def entry_point() -> None:
    """The `bn-upgrade` program: `main`, then an exit that skips tearing the interpreter down.

    By the time `main` exits every file is written, fsynced and renamed, and
    standard output is flushed and checked; what is left is freeing every object
    one by one (13 ms for one small file, 50 ms after a batch over both corpora).
    """
    try:
        main()
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    if not isinstance(code, int):  # as the interpreter treats `sys.exit(value)`
        if code is not None:
            _say(str(code))
        code = 0 if code is None else 1
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


def _flag(name: str, help_: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A boolean option with a --no- form, so the command line can undo what the configuration turns on."""
    return click.option(f"--{name}/--no-{name}", name.replace("-", "_"), default=False, help=help_)


@click.command(cls=_Command, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, type=click.Path(path_type=str, readable=False))
@click.option("--check", is_flag=True, help="Write nothing; list files that would be upgraded; exit 1 if any.")
@click.option(
    "--diff", is_flag=True, help="Write nothing; print a unified diff of each upgrade to stdout; exit 1 if any."
)
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
    default="strip",
    show_default=True,
    help="strip: remove legacy BatchNorm param blocks (Caffe PR #4704). "
    "zero: keep them with lr_mult and decay_mult 0 (Caffe master).",
)
@_flag("fix", "Also apply the safe fixes of findings (BN005, BN101, BN102, ...: --explain CODE says which has one).")
@_flag(
    "unsafe-fixes",
    "Also apply unsafe fixes, and the safe ones: e.g. upgrade BatchNorm layers whose params have nonzero rates "
    "or more than 3 blocks (BN001).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice([f.value for f in OutputFormat]),
    default="preserve",
    show_default=True,
    help="preserve: edit only what an upgrade changes, keeping comments, layout and fork fields. "
    "canonical: exactly the text Caffe's own tools print (comments dropped, unknown fields are errors).",
)
@_flag("strict", "Treat fields the schema does not know (fork dialects) as errors instead of keeping them.")
@click.option(
    "--dialect",
    metavar="NAME",
    help="Read with a shipped fork's schema (see --list-dialects); default: told from each file.",
)
@click.option(
    "--target",
    metavar="NAME",
    help="The runtime the output is for (a dialect name, e.g. bvlc to move a fork's net to current Caffe); "
    "default: the file's own dialect.",
)
@click.option("--list-dialects", is_flag=True, help="List the shipped dialects and exit.")
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
@click.option(
    "--select",
    metavar="CODES",
    multiple=True,
    help="Only these codes or prefixes (BN, BN00, ALL), comma-separated; replaces the configuration's choice.",
)
@click.option(
    "--extend-select",
    metavar="CODES",
    multiple=True,
    help="These codes too, on top of the selected (or configured) ones.",
)
@click.option(
    "--ignore", metavar="CODES", multiple=True, help="Not these codes or prefixes (an ignored error: file skipped)."
)
@click.option("--explain", metavar="CODE", help="Explain a code (what, why, a before/after example) and exit.")
@click.option("--include", metavar="GLOB", multiple=True, help="Files to take from directories (replaces the default).")
@click.option(
    "--exclude", metavar="PATTERN", multiple=True, help="Files or directories to skip (replaces the configured ones)."
)
@click.option("--extend-exclude", metavar="PATTERN", multiple=True, help="More files or directories to skip.")
@_flag("force-exclude", "Apply the excludes to files named on the command line too (as pre-commit names them).")
@click.option(
    "-j", "--jobs", type=click.IntRange(min=1), default=None, help="Parallel workers [default: number of CPUs]."
)
@click.option("--report", "report_path", metavar="FILE", help="Write the JSON report to FILE ('-' for stdout).")
@click.option(
    "--output-format",
    "message_format",
    type=click.Choice(MESSAGE_FORMATS),
    default="text",
    show_default=True,
    help="text: lines on stderr. json: the report on stdout. github: GitHub Actions annotations on stdout. "
    "sarif: a SARIF 2.1.0 log on stdout (GitHub code scanning).",
)
@click.option(
    "--stdin-filename",
    metavar="NAME",
    help="The name standard input stands for, in messages and to choose text or binary.",
)
@click.option(
    "--config", "config_path", metavar="FILE", help="Read options from FILE instead of the nearest pyproject.toml."
)
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option(
    "--cache-dir",
    metavar="DIR",
    help="Where outcomes are cached [default: $BN_UPGRADE_CACHE_DIR, else the user cache].",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the outcome cache.")
@click.option(
    "--color/--no-color",
    "color",
    default=None,
    help="Colour codes and diffs [default: on a terminal; NO_COLOR, FORCE_COLOR].",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and findings that need a human; no progress.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Also say how each file was read, the config used, and what is up to date."
)
@click.version_option(__version__, prog_name="bn-upgrade")
def main(**options: Any) -> None:
    """Upgrade legacy Caffe model definitions in place: V0 and V1 nets, old data
    transformation fields, top-level inputs, solver types, and BatchNorm param blocks.

    Each PATH is a .prototxt file, a directory, or '-' for standard input (the
    result goes to standard output). A .caffemodel is upgraded in binary, its
    weights copied byte for byte. Files are changed only when an upgrade
    applies, atomically, and only after bn-upgrade has re-read its own output
    and checked that a second run would change nothing. Comments, layout and
    fields of fork dialects (SSD, R-FCN, NVIDIA, Intel, ...) are kept as written.
    """
    if options["list_dialects"]:
        from upgrade_tool.dialects import list_dialects_lines

        _print_lines(list_dialects_lines())
        sys.exit(Exit.OK)
    if options["explain"] is not None:
        _explain(options["explain"])
    paths: tuple[str, ...] = options["paths"]
    if not paths:
        raise click.UsageError("Missing argument 'PATHS...': give files, directories or '-'")
    config = _config(paths, options)
    opts = _merged(options, config)
    _refuse_bad_combinations(paths, opts)
    settings = _settings(opts)
    write_back = _write_back(opts)
    job = Job(
        settings,
        write_back,
        opts["output"],
        opts["out_dir"],
        opts["copy_unchanged"],
        opts["backup"],
        None if opts["kind"] == "auto" else opts["kind"],
        opts["clean"],
        opts["per_file_ignores"],
        config.root,
        opts["stdin_filename"],
    )
    job = _with_cache(job, opts)
    quiet, verbose, message_format = opts["quiet"], opts["verbose"], opts["message_format"]
    if verbose:
        _say(f"bn-upgrade: configuration: {config.path}" if config.path else "bn-upgrade: no configuration file")
    selection = Selection(opts["include"] or DEFAULT_INCLUDE, opts["exclude"], opts["force_exclude"], config.root)
    stdin_name = opts["stdin_filename"]
    targets = collect(paths, selection, copy_others=opts["copy_unchanged"], skip=opts["out_dir"], stdin_name=stdin_name)
    if STDIN in paths and not any(target.path == STDIN for target in targets):
        _pass_stdin_through(write_back, opts["output"])  # --force-exclude excludes what it stands for
    for path in paths:
        if os.path.isdir(path) and not any(_found_under(target, path) for target in targets):
            looked = ", ".join(selection.include)
            _say(printable(f"{path}: no files to upgrade (looked for {looked})"))
    if opts["output"] is not None and (len(targets) != 1 or os.path.isdir(paths[0])):
        raise click.UsageError("-o/--output takes exactly one input file (use --out-dir for a tree)")
    clash = clashing_outputs(targets, job)
    if clash is not None:
        _say(printable(f"bn-upgrade: IO004 --out-dir: {clash}"))
        sys.exit(Exit.BAD_INPUT)
    targets = with_stale_temps(targets, job)
    install_signal_handlers()
    stdout = _Stdout(wants_color(opts["color"], sys.stdout))
    printer = _Printer(targets, job, opts, stdout)
    started = time.monotonic()
    try:
        reports = run(targets, job, opts["jobs"] or os.cpu_count() or 1, printer.done)
    except KeyboardInterrupt:
        printer.interrupted()
        sys.exit(Exit.INTERRUPTED)
    finally:
        printer.close()
    seconds = time.monotonic() - started
    code = exit_code(reports, job)
    if message_format == "json":
        stdout.write(json_report(reports, job, seconds, code))
    elif message_format == "sarif":
        from upgrade_tool.sarif import sarif_log

        stdout.write(sarif_log(reports, job, code))
    if len(targets) > 1 and not quiet and message_format == "text":
        for line in summary(reports, job, seconds):
            _say(line)
    if not stdout.ok:
        code = max(code, Exit.BAD_INPUT)
    report_path = opts["report_path"]
    if report_path is not None:
        text = json_report(reports, job, seconds, code)
        if report_path == STDIN:
            stdout.write(text)
            code = code if stdout.ok else max(code, Exit.BAD_INPUT)
        else:
            _write_report(report_path, text)
    sys.exit(code)


# -- options, the configuration, and what they make ------------------------------------------

# Options whose configured value adds to the command line's instead of giving way to it.
_ADDING = ("extend_exclude",)
# The code selectors: the command line's are a layer over the file's (selection.py), as ruff's are.
_SELECTORS = ("select", "extend_select", "ignore")


def _config(paths: Sequence[str], options: dict[str, Any]) -> Config:
    from upgrade_tool import config

    if options["isolated"]:
        if options["config_path"] is not None:
            raise click.UsageError("--isolated reads no configuration file; it cannot be combined with --config")
        return Config()
    try:
        return config.find(paths, options["config_path"])
    except ConfigError as exc:
        _say(printable(f"bn-upgrade: {exc}"))
        sys.exit(Exit.BAD_INPUT)


def _merged(options: dict[str, Any], config: Config) -> dict[str, Any]:
    """The options as given, the configuration's where none was given, and everything normalised."""
    context = click.get_current_context()
    opts = dict(options)
    opts["v1_types"] = _v1_type_map(options["v1_types"])
    for name in ("select", "extend_select", "ignore"):
        opts[name] = _selectors(options[name], name)
    for name in ("include", "exclude", "extend_exclude"):
        if any(not pattern.strip() for pattern in options[name]):
            raise click.BadParameter("an empty pattern matches nothing", param_hint=_flag_name(name))
    opts["per_file_ignores"] = ()
    opts["cache"] = not options["no_cache"]
    opts["codes"] = _codes(opts, config)
    for name, value in config.values.items():
        given = name in options and context.get_parameter_source(name) is not ParameterSource.DEFAULT
        if name == "cache":
            given = options["no_cache"]
        if name in _SELECTORS:
            continue
        if name in _ADDING:
            opts[name] = tuple(value) + tuple(opts[name])
        elif name == "v1_types":
            opts[name] = tuple(dict([*value, *opts[name]]).items())
        elif not given:
            opts[name] = value
    opts["exclude"] = tuple(opts["exclude"]) + tuple(opts["extend_exclude"])
    # The file's output-format gives way to what the command line writes to stdout (--diff, -o -, ...).
    configured = context.get_parameter_source("message_format") is ParameterSource.DEFAULT
    if (
        configured
        and "message_format" in config.values
        and _stdout_writers(opts["paths"], {**opts, "message_format": "text"})
    ):
        opts["message_format"] = "text"
    for name in ("dialect", "target"):
        if opts[name] is not None:
            opts[name] = _dialect_name(opts[name], name)
    return opts


def _codes(opts: dict[str, Any], config: Config) -> CodeSelection:
    """The command line's selectors as a layer over the configuration file's."""
    values = config.values
    below = None
    if any(name in values for name in _SELECTORS):
        below = CodeSelection(values.get("select"), values.get("extend_select", ()), values.get("ignore", ()))
    if not any(opts[name] for name in _SELECTORS):
        return below or CodeSelection()
    return CodeSelection(opts["select"] or None, opts["extend_select"], opts["ignore"], base=below)


def _selectors(given: tuple[str, ...], name: str) -> tuple[str, ...]:
    from upgrade_tool.selection import unknown_selectors

    codes = normalise(given)
    if codes:
        unknown = unknown_selectors(codes)
        if unknown:
            hint = "bn-upgrade --explain CODE says what a code is"
            raise click.BadParameter(
                f"{unknown[0]!r} is no code or prefix of one ({hint})", param_hint=_flag_name(name)
            )
    return codes


def _flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _dialect_name(name: str, option: str) -> str:
    from upgrade_tool.dialects import UnknownDialectError, get_dialect

    try:
        return get_dialect(name).name
    except UnknownDialectError as exc:
        raise click.BadParameter(
            f"{exc} (bn-upgrade --list-dialects lists them)", param_hint=_flag_name(option)
        ) from None


def _settings(opts: dict[str, Any]) -> Settings:
    codes = opts["codes"]
    settings = Settings(
        BnStyle(opts["bn_style"]),
        opts["unsafe_fixes"],
        OutputFormat(opts["output_format"]),
        opts["strict"],
        opts["proto"],
        opts["v1_types"],
        opts["dialect"],
        opts["target"],
        opts["fix"],
        codes,
    )
    if settings.proto is not None:
        from upgrade_tool.schema import SchemaError, load_schema

        try:
            load_schema(settings.proto)
        except SchemaError as exc:
            raise click.BadParameter(str(exc), param_hint="--proto") from None
    return settings


def _write_back(opts: dict[str, Any]) -> WriteBack:
    if opts["output"] is not None or opts["out_dir"] is not None:
        return WriteBack.OUTPUT
    if opts["diff"]:
        return WriteBack.DIFF  # with --check too, as black: the diffs, and exit 1 if there are any
    return WriteBack.CHECK if opts["check"] else WriteBack.YES


def _with_cache(job: Job, opts: dict[str, Any]) -> Job:
    """The job with its cache directory and key, unless the cache is off."""
    if not opts["cache"]:
        return job
    from upgrade_tool.cache import ENVIRONMENT, default_directory, digest, fingerprint

    settings = dataclasses.asdict(job.settings)
    if job.settings.proto is not None:
        with contextlib.suppress(OSError), open(job.settings.proto, "rb") as handle:
            settings["proto"] = [job.settings.proto, digest(handle.read())]
    key = fingerprint(__version__, {"settings": settings, "kind": job.kind, "package": _package_stamp()})
    # --cache-dir, else BN_UPGRADE_CACHE_DIR, else the configuration's cache-dir, else the user cache
    context = click.get_current_context()
    given = context.get_parameter_source("cache_dir") is not ParameterSource.DEFAULT
    environment = os.environ.get(ENVIRONMENT)
    directory = opts["cache_dir"] if given else environment or opts["cache_dir"] or str(default_directory())
    return dataclasses.replace(job, cache_dir=directory, cache_key=key)


def _package_stamp() -> list[tuple[str, int, int]]:
    """The package's own files by size and time: a changed install (not only a new version) misses."""
    root = os.path.dirname(os.path.abspath(__file__))
    stamp = []
    for directory, _, names in os.walk(root):
        for name in sorted(names):
            if name.endswith((".py", ".pb", ".tsv", ".json", ".so", ".pyd")):  # the C fast path too
                with contextlib.suppress(OSError):
                    info = os.stat(os.path.join(directory, name))
                    stamp.append((os.path.relpath(os.path.join(directory, name), root), info.st_size, info.st_mtime_ns))
    return sorted(stamp)


def _explain(text: str) -> None:
    from upgrade_tool.codes import all_codes, lookup
    from upgrade_tool.dialects.suggest import suggest
    from upgrade_tool.explain import explain_lines

    code = lookup(text)
    if code is None:
        close = suggest(text.upper(), [c.code for c in all_codes()]) or suggest(text, [c.name for c in all_codes()])
        hint = f"did you mean {close}?" if close else "the README lists every code"
        raise click.BadParameter(f"no code {text!r} ({hint})", param_hint="--explain")
    _print_lines(explain_lines(code))
    sys.exit(Exit.OK)


def _pass_stdin_through(write_back: WriteBack, output: str | None) -> None:
    """Standard input that is not processed goes to standard output as it is, where the result would."""
    if write_back is WriteBack.YES or output == STDIN:
        try:
            write_stdout([sys.stdin.buffer.read()])
        except FileError as exc:
            _say(f"bn-upgrade: {exc.code} {exc}")
            sys.exit(Exit.BAD_INPUT)


def _print_lines(lines: Sequence[str]) -> None:
    try:
        write_stdout([("\n".join(lines) + "\n").encode("utf-8")])
    except FileError as exc:
        _say(f"bn-upgrade: {exc.code} {exc}")
        sys.exit(Exit.BAD_INPUT)


def _found_under(target: Target, root: str) -> bool:
    """Whether the walk of `root` found `target` to process (or could not look somewhere below it)."""
    found = target.path == root or target.path.startswith(os.path.join(root, ""))
    return found and not target.copy_only


def _say(line: str, color: bool | None = None) -> None:
    """One line on stderr (if stderr itself cannot be written to, there is nowhere left to say so)."""
    with contextlib.suppress(OSError, ValueError):
        click.echo(line, err=True, color=color)


def _refuse_bad_combinations(paths: Sequence[str], opts: dict[str, Any]) -> None:
    output, out_dir, backup = opts["output"], opts["out_dir"], opts["backup"]
    if (output is not None or out_dir is not None) and (opts["check"] or opts["diff"]):
        raise click.UsageError("-o/--output and --out-dir write files; they cannot be combined with --check or --diff")
    if output is not None and out_dir is not None:
        raise click.UsageError("-o/--output and --out-dir cannot be combined")
    if opts["copy_unchanged"] and out_dir is None:
        raise click.UsageError("--copy-unchanged goes with --out-dir")
    if backup is not None and (not backup or "/" in backup or output is not None or out_dir is not None):
        raise click.UsageError("--backup takes a suffix like .orig, and applies to in-place upgrades only")
    if list(paths).count(STDIN) > 1:
        raise click.UsageError("'-' (standard input) can be given only once")
    if out_dir is not None and STDIN in paths:
        raise click.UsageError("--out-dir cannot take '-' (standard input)")
    if opts["stdin_filename"] is not None and STDIN not in paths:
        raise click.UsageError("--stdin-filename names standard input: give '-' as a path too")
    if opts["dialect"] is not None and opts["proto"] is not None:
        raise click.UsageError("--dialect and --proto both name the schema to read with; give one")
    writers = _stdout_writers(paths, opts)
    if len(writers) > 1:
        raise click.UsageError(f"{writers[0]} and {writers[1]} would both write to standard output; choose one")


def _stdout_writers(paths: Sequence[str], opts: dict[str, Any]) -> list[str]:
    """What would write to standard output: at most one may."""
    writers = []
    if opts["diff"]:
        writers.append("--diff")
    if opts["output"] == STDIN:
        writers.append("-o -")
    in_place = opts["output"] is None and opts["out_dir"] is None and not opts["check"] and not opts["diff"]
    if STDIN in paths and in_place:
        writers.append("'-' (the upgraded standard input)")
    if opts["message_format"] != "text":
        writers.append(f"--output-format {opts['message_format']}")
    if opts["report_path"] == STDIN:
        writers.append("--report -")
    return writers


def _v1_type_map(pairs: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    mapping = []
    for pair in pairs:
        enum_name, _, type_name = pair.partition("=")
        if not enum_name.strip() or not type_name.strip():
            raise click.BadParameter(f"{pair!r} is not ENUM=Type (e.g. ROI_POOLING=ROIPooling)", param_hint="--v1-type")
        mapping.append((enum_name.strip(), type_name.strip()))
    return tuple(mapping)


# -- printing as files finish -----------------------------------------------------------------


class _Printer:
    """Prints each file's lines (and diff, and annotations) in the targets' order, as soon as it can.

    Reports arrive in any order (workers); one is printed once every report
    before it has been. A progress line on a terminal is cleared before a line
    is printed and drawn again after it.
    """

    def __init__(self, targets: Sequence[Target], job: Job, opts: dict[str, Any], stdout: _Stdout) -> None:
        self.job = job
        self.quiet: bool = opts["quiet"]
        self.verbose: bool = opts["verbose"]
        self.format: str = opts["message_format"]
        self.stdout = stdout
        self.color = wants_color(opts["color"], sys.stderr)
        self.waiting: dict[int, FileReport] = {}
        self.received: list[FileReport] = []
        self.next = 0
        show = self.format == "text" and not self.quiet and len(targets) > 1 and _is_terminal(sys.stderr)
        width = shutil.get_terminal_size((80, 20)).columns
        self.progress = Progress(len(targets), sys.stderr, width) if show else None

    def done(self, index: int, report: FileReport) -> None:
        self.received.append(report)
        self.waiting[index] = report
        while self.next in self.waiting:
            self._print(self.waiting.pop(self.next))
            self.next += 1
        if self.progress is not None:
            self.progress.update(len(self.received), report.name)

    def _print(self, report: FileReport) -> None:
        if report.diff:
            self.stdout.write(paint_diff(report.diff, self.stdout.color))
        if self.format == "github":
            for line in github_annotations(report, self.job):
                self.stdout.write(line + "\n")
        if self.format != "text":
            return
        lines = list(text_lines(report, self.job, self.quiet, self.verbose))
        if lines and self.progress is not None:
            self.progress.clear()
        for line, level in lines:
            _say(paint_line(line, level, self.color), self.color)

    def interrupted(self) -> None:
        self.close()
        _say(INTERRUPTED)
        written = [path for report in self.received for path in report.written]
        for path in written:
            _say(printable(f"  written before the interrupt: {path}"))

    def close(self) -> None:
        if self.progress is not None:
            self.progress.clear()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


class _Stdout:
    """Text for standard output, each piece written in full and flushed; the first failure is said once."""

    def __init__(self, color: bool) -> None:
        self.ok = True
        self.color = color

    def write(self, text: str) -> None:
        if not self.ok:
            return
        try:
            # A diff names files as the file system spells them: undecodable bytes go out as they came in.
            write_stdout([text.encode("utf-8", "surrogateescape")])
        except FileError as exc:
            self.ok = False
            _say(f"bn-upgrade: {exc.code} {exc}")


def _write_report(path: str, text: str) -> None:
    try:
        replace_file(path, text.encode("utf-8"))
    except FileError as exc:
        _say(printable(f"{exc.path or path}: {exc.code} {exc}"))
        sys.exit(Exit.BAD_INPUT)
