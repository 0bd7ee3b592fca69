"""Measure issue 12's five speed targets over both shared corpora in one run, as ratios of that run.

Every row is a whole child process, timed from start to exit (interpreter
start-up included): the best wall time of --repeat runs, the least CPU time
(user + system, the workers included), and peak resident
memory of its largest single process and of its whole process tree, sampled
from /proc as corpus_bench.py does (this reuses its helpers). The tool runs as
installed, `python -m upgrade_tool`, with PYTHONDONTWRITEBYTECODE removed from
its environment and after an untimed first run, so it uses its .pyc files;
BN_UPGRADE_CACHE_DIR points into the scratch directory, so no run touches the
user's cache. The rows' runs are interleaved round by round (every row once,
then every row again), so a change in the machine's load falls on all rows
alike; the load column is the 1-minute load average when a row's best run
started (this bench's own processes included).

Set up once, untimed, in a temporary directory (deleted afterwards):

  pristine/   a copy of every --corpus side by side (default ../shared/corpus
              and ../shared/corpus2);
  current/    the same copy upgraded in place once (`bn-upgrade --no-cache
              current`, which is also the warm-up run): the up-to-date tree;
  ten/        (not with --quick) ten copies of current/, and ten of pristine/
              for the in-place row, side by side.

Rows:

  floor       corpus_bench's parse loop over pristine/: every text file with
              `text_format.Parse(text, message, allow_unknown_field=True)` into
              a NetParameter or SolverParameter (by the MANIFEST's solver
              category), every binary `.caffemodel` with
              `NetParameter.ParseFromString`, protobuf's full decode of the
              model, weights included: the least a protobuf reader of a model
              does (bn-upgrade decodes the structure and copies the weights'
              bytes undecoded; in the shared corpora these are corpus2's 17
              models, 16.5 MB that protobuf's C decoder reads in about 0.01 s
              of the floor's seconds). Files that do not parse are counted and
              still timed. Ratios divide by this row.
  1           `--check --no-cache` of current/, default jobs: target >= 5x the floor.
  2           `--no-cache` in place on a fresh copy of pristine/ (a new copy
              before each run, untimed), default jobs: target >= 3.6x.
  3           warm `--check` of current/ with `--cache-dir CACHE`, primed by
              one untimed run: target >= 50x.
  4           rows 1 and 2 with `-j 1` and with `-j 2` (target: j1 / j2 >=
              1.7, on an idle 2-core machine: the load average is printed),
              and over the ten-fold tree (target: 10x / 1x time at most 10,
              5% allowed for noise; peak RSS of the largest process under
              200 MB and flat: at most 1.2x the 1x row's). Both time ratios
              pair runs of one round (each ten-fold run follows the 1x row's
              run directly) and take the median over the rounds: this
              machine's speed drifts over minutes, and a ratio of best times
              would compare a quiet moment with a busy one. The ratios of the
              best times are printed beside them.
  5           `--check` of one small up-to-date file (--small, default lenet's
              train/test net, as a pre-commit hook checks it), best of
              max(--repeat, 10), with `--no-cache` and cached: target < 150 ms
              wall; with the floor's loop over that one file and a bare
              `python -c pass` for reference.

Correctness guard (untimed runs with `--report`): the JSON reports of a cold
`--check` with `-j 1`, with `-j 2`, with the cache on (the run that primes it)
and served from the cache must be equal but for the `seconds` field, and say
nothing is left to upgrade; the trees the in-place rows leave (default jobs,
`-j 1`, `-j 2`, each of the ten copies) must be byte-identical. Anything else
is printed as a PROBLEM line and makes the exit status 1; the targets are
reported, never enforced.

    python bench/targets.py --quick          # while developing: one run per row, no ten-fold tree
    python bench/targets.py                  # the full run, best of 3 (some minutes)
    python bench/targets.py --repeat 5 --corpus A --corpus B
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus_bench import (
    MB,
    MIB,
    TOOL,
    Row,
    Run,
    child_environment,
    corpus_files,
    display,
    file_kinds,
    floor_command,
    floor_display,
    floor_note,
    fresh_copy,
    measure,
    module_version,
)
from google.protobuf.internal import api_implementation

from upgrade_tool.walk import Selection, collect

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = (REPO.parent / "shared" / "corpus", REPO.parent / "shared" / "corpus2")
DEFAULT_SMALL = "BVLC__caffe@6a909d98ba/examples/mnist/lenet_train_test.prototxt"  # lenet, 2 kB
TARGET_CHECK = 5.0  # 1: cold --check, times faster than the floor
TARGET_CONVERT = 3.6  # 2: cold in place
TARGET_WARM = 50.0  # 3: warm --check
TARGET_JOBS = 1.7  # 4: the -j 1 time over the -j 2 time
TENFOLD = 10
TENFOLD_SLACK = 1.05  # 4: the ten-fold tree may take 10.5 times as long (noise), not more
TARGET_RSS = 200 * MB  # 4: peak RSS of the largest process
FLAT_RSS = 1.2  # 4: the ten-fold tree's peak RSS at most this many times the 1x tree's
TARGET_SMALL = 0.150  # 5: seconds, start-up included
SMALL_RUNS = 10  # 5: best of at least this many
UP_TO_DATE_EXITS = (0, 2)  # 2: the corpora hold files nobody can read
IN_PLACE_EXITS = (0, 1, 2)  # 1: findings that need a human
CACHE = "cache"  # the explicit --cache-dir of rows 3 and 5, below the scratch directory


@dataclass(frozen=True)
class Setup:
    """Where the run works, what every child gets, and the problems found so far."""

    scratch: Path
    environment: dict[str, str]
    repeat: int
    problems: list[str]
    tenfold_runs: int = 3  # the ten-fold rows take minutes a run


@dataclass
class Job:
    """A row being measured: its command, what it reads, the exit codes it may give, and its runs so far."""

    label: str
    command: list[str]
    files: int
    size: int  # bytes read
    count: int  # runs wanted
    exits: tuple[int, ...]
    against: str | None = "floor"  # the job whose row "vs floor" divides by
    loop: bool = False  # a floor's parse loop (its note: failures and the loop's own time)
    prepare: Callable[[], None] | None = None  # before each run, untimed
    shown: str = ""  # the command as the table shows it; default: as typed
    runs: list[Run] = field(default_factory=list)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        action="append",
        help="a corpus directory; repeatable (default: ../shared/corpus and ../shared/corpus2)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the best wall time counts (default 3)")
    parser.add_argument("--quick", action="store_true", help="one run per row, no ten-fold tree (for development)")
    parser.add_argument(
        "--tenfold-runs", type=int, default=3, help="runs of each ten-fold row (default 3; each takes a minute or two)"
    )
    parser.add_argument(
        "--small", default=DEFAULT_SMALL, help="target 5's file, relative to the first corpus (default: %(default)s)"
    )
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.tenfold_runs < 1:
        parser.error("--tenfold-runs must be at least 1")
    corpora = [path.resolve() for path in (args.corpus or DEFAULT_CORPORA)]
    for corpus in corpora:
        if not corpus.is_dir():
            parser.error(f"no corpus at {corpus}")
    if not (corpora[0] / args.small).is_file():
        parser.error(f"no file {args.small} in {corpora[0]}")
    with tempfile.TemporaryDirectory(prefix="bn-upgrade-targets-") as directory:
        scratch = Path(directory)
        environment = child_environment(BN_UPGRADE_CACHE_DIR=str(scratch / "user-cache"))
        setup = Setup(scratch, environment, repeat, [], args.tenfold_runs)
        return bench(setup, corpora, args.small, tenfold=not args.quick)


def bench(setup: Setup, corpora: Sequence[Path], small: str, tenfold: bool) -> int:
    scratch = setup.scratch
    pristine, current = scratch / "pristine", scratch / "current"
    names = lay_out(corpora, pristine)
    shutil.copytree(pristine, current)
    small_file = f"current/{names[0]}/{small}"
    print_setup(corpora, names, pristine, setup, tenfold)

    prepared = untimed(setup, "upgrading current/ (the warm-up)", ["--no-cache", "current"], IN_PLACE_EXITS)
    guard_reports(setup)
    untimed(setup, "priming the cache for the small file", ["--check", "--cache-dir", CACHE, small_file], (0,))
    kinds = kinds_of(pristine, names)
    small_job = [small_file.removeprefix("current/")]
    warm_up = measure(floor_command(current, small_job, kinds, scratch, True), scratch, setup.environment)
    expect(warm_up, (0,), "the floor's warm-up", setup.problems)
    if tenfold:
        for copy in copies():
            shutil.copytree(current, scratch / "ten" / copy)
            shutil.copytree(pristine, scratch / "ten-pristine" / copy)

    jobs = plan(setup, kinds, small_file, tenfold)
    run_rounds(running_order(jobs), setup)
    compare_trees(scratch, ["fresh", "fresh-j1", "fresh-j2"], setup.problems)
    if tenfold:
        compare_trees(scratch, ["fresh", *(f"ten-fresh/{copy}" for copy in copies())], setup.problems)

    rows = rows_of(jobs, setup.problems)
    print_table(list(rows.values()))
    print()
    print(f"Floor: {rows['floor'].note}. Small file: `{small_file}`; its floor: {rows['small_floor'].note}.")
    summary = prepared["summary"]
    print(
        f"The corpora in place (the untimed first run): {summary['files']} files, {summary['upgraded']} upgraded, "
        f"{summary['up_to_date']} already up to date, {summary['needs_human']} need a human, "
        f"{summary['failed']} failed."
    )
    print()
    print_targets(rows)
    print(f"Load average at the end: {load_average()}")
    for problem in setup.problems:
        print(f"PROBLEM: {problem}")
    return 1 if setup.problems else 0


# -- the trees ----------------------------------------------------------------------------


def lay_out(corpora: Sequence[Path], tree: Path) -> list[str]:
    """Copy each corpus into `tree` under its own name (numbered if two share one); the names, in order."""
    names: list[str] = []
    for corpus in corpora:
        name, number = corpus.name, 1
        while name in names:
            number += 1
            name = f"{corpus.name}-{number}"
        shutil.copytree(corpus, tree / name)
        names.append(name)
    return names


def kinds_of(tree: Path, names: Sequence[str]) -> dict[str, str]:
    """net, solver or binary for every file a run takes from `tree`, by its path below `tree`."""
    kinds: dict[str, str] = {}
    for name in names:
        found = file_kinds(tree / name, corpus_files(tree / name))
        kinds.update({f"{name}/{path}": kind for path, kind in found.items()})
    return kinds


def tally(path: Path) -> tuple[int, int]:
    """How many files a run takes from `path` (a tree or one file), and their bytes."""
    targets = collect([str(path)], Selection())
    return len(targets), sum(os.path.getsize(target.path) for target in targets)


def copies() -> list[str]:
    return [f"copy-{number:02d}" for number in range(1, TENFOLD + 1)]


def digest(tree: Path) -> dict[str, str]:
    """Every file below `tree` by its relative path: the SHA-256 of its bytes."""
    return {
        path.relative_to(tree).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(tree.rglob("*"))
        if path.is_file()
    }


def compare_trees(scratch: Path, names: Sequence[str], problems: list[str]) -> None:
    """The trees `names` (below `scratch`) must hold the same files with the same bytes as the first."""
    first = digest(scratch / names[0])
    for name in names[1:]:
        other = digest(scratch / name)
        differing = sorted(path for path in first.keys() | other.keys() if first.get(path) != other.get(path))
        if differing:
            problems.append(f"in place: {name} differs from {names[0]} in {len(differing)} files, e.g. {differing[0]}")


# -- the rows -----------------------------------------------------------------------------


def plan(setup: Setup, kinds: dict[str, str], small_file: str, tenfold: bool) -> dict[str, Job]:
    """Every row to measure, by name, in the table's order."""
    scratch, repeat = setup.scratch, setup.repeat
    small_runs = max(repeat, SMALL_RUNS)
    floor_files, floor_size = tally(scratch / "pristine")
    small_files, small_size = tally(scratch / small_file)
    jobs = {
        "floor": Job(
            "floor: protobuf parse loop, every file",
            floor_command(scratch / "pristine", sorted(kinds), kinds, scratch, True),
            floor_files,
            floor_size,
            repeat,
            (0,),
            against=None,
            loop=True,
            shown=floor_display(True),
        ),
        "check": tool_job(setup, "1. cold `--check`, up-to-date tree", ["--check", "--no-cache"], "current"),
        "convert": in_place_job(setup, "2. cold in place, fresh copy", [], "pristine", "fresh"),
        "warm": tool_job(setup, "3. warm `--check`, cache primed", ["--check", "--cache-dir", CACHE], "current"),
        "check_j1": tool_job(setup, "4. cold `--check`, `-j 1`", ["--check", "--no-cache", "-j", "1"], "current"),
        "check_j2": tool_job(setup, "4. cold `--check`, `-j 2`", ["--check", "--no-cache", "-j", "2"], "current"),
        "convert_j1": in_place_job(setup, "4. cold in place, `-j 1`", ["-j", "1"], "pristine", "fresh-j1"),
        "convert_j2": in_place_job(setup, "4. cold in place, `-j 2`", ["-j", "2"], "pristine", "fresh-j2"),
    }
    if tenfold:
        jobs["ten_check"] = tool_job(setup, "4. cold `--check`, ten-fold tree", ["--check", "--no-cache"], "ten")
        jobs["ten_convert"] = in_place_job(setup, "4. cold in place, ten-fold tree", [], "ten-pristine", "ten-fresh")
        for name in ("ten_check", "ten_convert"):
            jobs[name].count = setup.tenfold_runs
    small_check = ["--check", small_file]
    jobs |= {
        "python": Job(
            "5. bare interpreter",
            [sys.executable, "-c", "pass"],
            0,
            0,
            small_runs,
            (0,),
            against=None,
            shown="`python -c pass`",
        ),
        "small_floor": Job(
            "5. floor: protobuf parse of the small file",
            floor_command(scratch / "current", [small_file.removeprefix("current/")], kinds, scratch, True),
            small_files,
            small_size,
            small_runs,
            (0,),
            against=None,
            loop=True,
            shown=floor_display(True),
        ),
        "small_cold": Job(
            "5. small file `--check`, no cache",
            [*TOOL, "--no-cache", *small_check],
            small_files,
            small_size,
            small_runs,
            (0,),
            against="small_floor",
        ),
        "small_warm": Job(
            "5. small file `--check`, cached",
            [*TOOL, "--cache-dir", CACHE, *small_check],
            small_files,
            small_size,
            small_runs,
            (0,),
            against="small_floor",
        ),
    }
    return jobs


def tool_job(setup: Setup, label: str, options: list[str], tree: str) -> Job:
    """The tool over `tree` (below the scratch directory), which it leaves up to date."""
    files, size = tally(setup.scratch / tree)
    return Job(label, [*TOOL, *options, tree], files, size, setup.repeat, UP_TO_DATE_EXITS)


def in_place_job(setup: Setup, label: str, options: list[str], source: str, tree: str) -> Job:
    """The tool in place on `tree`, a fresh copy of `source` before each run (both below the scratch directory)."""
    files, size = tally(setup.scratch / source)
    copy = setup.scratch / source, setup.scratch / tree
    return Job(
        label,
        [*TOOL, "--no-cache", *options, tree],
        files,
        size,
        setup.repeat,
        IN_PLACE_EXITS,
        prepare=lambda: fresh_copy(*copy),
    )


def running_order(jobs: Mapping[str, Job]) -> list[Job]:
    """The table's order, but each ten-fold row right after its 1x row: target 4 pairs their runs round by round."""
    order = [name for name in jobs if not name.startswith("ten_")]
    for tenfold, one in (("ten_check", "check"), ("ten_convert", "convert")):
        if tenfold in jobs:
            order.insert(order.index(one) + 1, tenfold)
    return [jobs[name] for name in order]


def run_rounds(jobs: Sequence[Job], setup: Setup) -> None:
    """Every job once per round, until each has its runs; progress on stderr."""
    rounds = max(job.count for job in jobs)
    for number in range(rounds):
        for job in jobs:
            if number >= job.count:
                continue
            if job.prepare is not None:
                job.prepare()
            run = measure(job.command, setup.scratch, setup.environment)
            expect(run, job.exits, job.shown or display(job.command), setup.problems)
            job.runs.append(run)
            print(f"round {number + 1}/{rounds}: {job.label}: {run.seconds:.3f} s", file=sys.stderr, flush=True)


def rows_of(jobs: Mapping[str, Job], problems: list[str]) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for name, job in jobs.items():
        floor = rows[job.against] if job.against is not None else None
        note = floor_note(job.label, job.runs, problems) if job.loop else ""
        rows[name] = Row(
            job.label, job.shown or display(job.command), job.files, job.size, tuple(job.runs), floor, note
        )
    return rows


def expect(run: Run, exits: Sequence[int], what: str, problems: list[str]) -> None:
    if run.code not in exits:
        problems.append(
            f"{what}: exit {run.code} (expected {' or '.join(map(str, exits))}): {run.stderr.strip()[-2000:]}"
        )


# -- the correctness guard ----------------------------------------------------------------


def untimed(setup: Setup, what: str, options: list[str], exits: Sequence[int]) -> dict[str, Any]:
    """Run the tool once with `--report`, untimed; its JSON report."""
    (setup.scratch / "reports").mkdir(exist_ok=True)
    handle, name = tempfile.mkstemp(suffix=".json", dir=setup.scratch / "reports")
    os.close(handle)
    report = Path(name)
    run = measure([*TOOL, "-q", "--report", str(report), *options], setup.scratch, setup.environment)
    expect(run, exits, what, setup.problems)
    if not report.stat().st_size:
        setup.problems.append(f"{what}: no report written")
        return {"summary": {}, "files": []}
    loaded: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return loaded


def guard_reports(setup: Setup) -> None:
    """A cold `--check` of current/ gives one report with -j 1 and -j 2, cache off, on and served from it."""
    runs = {
        "-j 1, no cache": ["--no-cache", "-j", "1"],
        "-j 2, no cache": ["--no-cache", "-j", "2"],
        "cache on, cold (priming it)": ["--cache-dir", CACHE],
        "cache on, warm": ["--cache-dir", CACHE],
    }
    reports = {
        name: untimed(setup, f"`--check` {name}", ["--check", *options, "current"], UP_TO_DATE_EXITS)
        for name, options in runs.items()
    }
    first_name, first = next(iter(reports.items()))
    left = first["summary"].get("would_upgrade")
    if left != 0:
        setup.problems.append(f"`--check` of the upgraded tree finds {left} files to upgrade")
    for name, report in reports.items():
        for difference in differences(first, report):
            setup.problems.append(f"the report of `--check` {name} differs from {first_name}'s: {difference}")


def differences(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """How two reports differ, apart from the timing field `seconds`."""
    found = [
        f"{key!r}"
        for key in sorted((first.keys() | second.keys()) - {"seconds", "files"})
        if first.get(key) != second.get(key)
    ]
    files = [{entry["path"]: entry for entry in report.get("files", [])} for report in (first, second)]
    differing = sorted(path for path in files[0].keys() | files[1].keys() if files[0].get(path) != files[1].get(path))
    if differing:
        found.append(f"{len(differing)} files' results, e.g. {differing[0]}")
    elif first.get("files") != second.get("files"):
        found.append("the order of the files")
    return found


# -- printing -----------------------------------------------------------------------------


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_setup(corpora: Sequence[Path], names: Sequence[str], tree: Path, setup: Setup, tenfold: bool) -> None:
    print(f"Command: `{shlex.join([os.path.basename(sys.executable), *sys.argv])}`")
    print(
        f"Machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, protobuf {module_version('google.protobuf')} "
        f"({api_implementation.Type()}); load average at start {load_average()}"
    )
    shown = []
    for corpus, name in zip(corpora, names, strict=True):
        files, size = tally(tree / name)
        shown.append(f"{os.path.relpath(corpus)} ({files} files, {size / MB:.2f} MB)")
    print(f"Corpora: {', '.join(shown)}; copies in a temporary directory")
    small_runs = max(setup.repeat, SMALL_RUNS)
    tenfold_note = (
        f"a ten-fold tree ({TENFOLD} copies, {setup.tenfold_runs} runs, each right after the 1x row's run)"
        if tenfold
        else "no ten-fold tree (--quick)"
    )
    print(f"Best of {setup.repeat} (target 5: of {small_runs}), rows interleaved round by round; {tenfold_note}")
    print()


def print_table(rows: Sequence[Row]) -> None:
    print("| run | command | files | MB | best s | vs floor | least CPU s | peak RSS MiB, largest / all | load |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        files = f"{row.files}" if row.files else "-"
        size = "-" if not row.size else f"{row.size / MB:.2f}" if row.size >= MB else f"{row.size / MB:.3f}"
        seconds = f"{row.best:.3f}" if row.best < 1 else f"{row.best:.2f}"
        against = f"{row.ratio():.1f}x" if row.floor is not None else "-"
        cpu = f"{row.cpu:.3f}" if row.cpu < 1 else f"{row.cpu:.2f}"
        rss = f"{row.max_rss / MIB:.0f} / {row.tree_rss / MIB:.0f}"
        cells = [row.label, row.command, files, size, seconds, against, cpu, rss, f"{row.load:.2f}"]
        print(f"| {' | '.join(cells)} |")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def print_targets(rows: Mapping[str, Row]) -> None:
    floor = rows["floor"]
    print("Targets (issue 12; ratios of this run's times: 1-3 and 5 of best times, 4 of runs paired by round;")
    print("reported, not enforced):")
    for number, name, what, target in (
        (1, "check", "cold `--check` of the up-to-date tree", TARGET_CHECK),
        (2, "convert", "cold in place, default jobs,", TARGET_CONVERT),
        (3, "warm", "warm `--check`", TARGET_WARM),
    ):
        row = rows[name]
        print(
            f"- {number}. {what} at least {target:g}x faster than the floor: {row.best:.2f} s against the floor's "
            f"{floor.best:.2f} s, floor / row = {row.ratio():.1f}: {verdict(row.ratio() >= target)}"
        )
    print(f"- 4. {target_four(rows)}")
    cold, warm = rows["small_cold"], rows["small_warm"]
    print(
        f"- 5. one small up-to-date file checked in under {TARGET_SMALL * 1000:.0f} ms, start-up included "
        f"(best of {len(cold.runs)}): no cache {cold.best * 1000:.0f} ms, cached {warm.best * 1000:.0f} ms "
        f"(a bare interpreter {rows['python'].best * 1000:.0f} ms): "
        f"{verdict(max(cold.best, warm.best) < TARGET_SMALL)}"
    )


def paired(first: Row, second: Row, *, cpu: bool = False) -> float:
    """The median over the rounds both rows ran in of first's run / second's run of that round.

    Runs of one round are minutes apart at most (a ten-fold run follows its 1x
    run directly); the machine's speed drifts by a third over some minutes
    here, so a ratio of two best times can compare a quiet moment with a busy
    one. The pairs compare like with like; the median drops one odd round.
    """
    ratios = [
        (a.cpu / b.cpu) if cpu else (a.seconds / b.seconds) for a, b in zip(first.runs, second.runs, strict=False)
    ]
    return statistics.median(ratios)


def target_four(rows: Mapping[str, Row]) -> str:
    check = paired(rows["check_j1"], rows["check_j2"])
    convert = paired(rows["convert_j1"], rows["convert_j2"])
    best_check = rows["check_j1"].best / rows["check_j2"].best
    best_convert = rows["convert_j1"].best / rows["convert_j2"].best
    jobs_met = min(check, convert) >= TARGET_JOBS
    loads = ", ".join(f"{rows[name].load:.2f}" for name in ("check_j1", "check_j2", "convert_j1", "convert_j2"))
    rounds = min(len(rows["check_j1"].runs), len(rows["check_j2"].runs))
    text = (
        f"`-j 2` at least {TARGET_JOBS:g}x faster than `-j 1` (needs an idle machine; 1-minute load average at "
        f"those rows' best runs {loads}, this bench's own processes included), the median over {rounds} rounds of "
        f"each round's `-j 1` time / `-j 2` time: `--check` {check:.2f}x, in place {convert:.2f}x: "
        f"{verdict(jobs_met)} (ratio of the best times: {best_check:.2f}x and {best_convert:.2f}x)"
    )
    if "ten_check" not in rows:
        return f"{text}; the ten-fold tree was not measured (--quick): NOT judged"
    time_check = paired(rows["ten_check"], rows["check"])
    time_convert = paired(rows["ten_convert"], rows["convert"])
    time_met = max(time_check, time_convert) <= TENFOLD * TENFOLD_SLACK
    cpu_check = paired(rows["ten_check"], rows["check"], cpu=True)
    cpu_convert = paired(rows["ten_convert"], rows["convert"], cpu=True)
    best_ten_check = rows["ten_check"].best / rows["check"].best
    best_ten_convert = rows["ten_convert"].best / rows["convert"].best
    peak = max(rows["ten_check"].max_rss, rows["ten_convert"].max_rss)
    base = max(rows["check"].max_rss, rows["convert"].max_rss)
    rss_met = peak < TARGET_RSS and peak <= FLAT_RSS * base
    ten_rounds = len(rows["ten_check"].runs)
    return (
        f"{text}; the ten-fold tree takes at most {TENFOLD} times as long ({TENFOLD * TENFOLD_SLACK:g} allowed for "
        f"noise), the median over {ten_rounds} rounds of each ten-fold run's time / the 1x run's just before it: "
        f"`--check` {time_check:.1f}x, in place {time_convert:.1f}x: {verdict(time_met)} (in CPU time, user + "
        f"system of all processes: {cpu_check:.1f}x and {cpu_convert:.1f}x; ratio of the best times: "
        f"{best_ten_check:.1f}x and {best_ten_convert:.1f}x); "
        f"peak RSS of its largest process under {TARGET_RSS / MB:.0f} MB and flat (at most {FLAT_RSS:g}x the 1x "
        f"tree's {base / MB:.0f} MB): {peak / MB:.0f} MB: {verdict(rss_met)}. "
        f"Target 4: {verdict(jobs_met and time_met and rss_met)}"
    )


if __name__ == "__main__":
    sys.exit(main())
