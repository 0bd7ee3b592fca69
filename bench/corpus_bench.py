"""Time bn-upgrade on the whole corpus against the floor, in one run, and print a markdown table.

The floor is a plain loop that parses every corpus file with protobuf's own
`text_format` into a caffe_pb2 NetParameter or SolverParameter (by the file's
kind: the MANIFEST's solver category, `f` in ../shared/corpus, `solver` in
../shared/corpus2) and does nothing else; a binary `.caffemodel` is read with
`NetParameter.ParseFromString` (protobuf's own full decode, weights included:
what any reader of the model must at least do). Files it cannot parse are
counted and still timed. It is measured two ways (binary models the same both):

  floor        `text_format.Parse(text, message, allow_unknown_field=True)`: every
               file is read to its end, fork-dialect fields included (skipped),
               as any tool that reads the whole corpus must; this is "the floor"
               the ratios divide by.
  strict floor plain `text_format.Parse(text, message)`: it gives up at the first
               field the schema lacks, which is most of the corpus (fork dialects),
               so it reads much less; shown for reference.

Then, each as a child process of the installed tool (`python -m upgrade_tool`,
default jobs, `--no-cache`; the first, untimed, run writes the .pyc files):

  (a) `--check` on an already-upgraded copy of the corpus (copied to a temporary
      directory and upgraded in place once, untimed);
  (b) in-place conversion of a fresh copy of the corpus (a new copy per run);
  (c) in-place conversion of the largest corpus file alone (with its own floor).

Every row is the best wall time of --repeat runs of a whole child process
(interpreter start-up included, for the floor too), files/s and MB/s (10^6
bytes) from that time, and peak resident memory, sampled from /proc every 20 ms
(Linux): of the largest single process (the highest VmHWM, the kernel's own
high-water mark, of the child or any process below it; not wait4's ru_maxrss,
which on Linux keeps the RSS the bench had when it started the child) and of
all the child's processes together (the largest sum of VmRSS; pages shared
after fork count in each process, so this is an upper bound). "vs floor" is
floor time / row time. Children run without PYTHONDONTWRITEBYTECODE, so they
use .pyc files as an installed tool does.

Caffe's own C++ tool (`upgrade_net_proto_text` / `upgrade_solver_proto_text`)
run file by file over the corpus was measured at about 5.0 s on this 2-core
machine (issue 5). Caffe is not built here, so that row is a quoted reference,
not a measurement.

    python bench/corpus_bench.py                  # ../shared/corpus, best of 3
    python bench/corpus_bench.py --repeat 5 --corpus PATH

Exit status 0 when every run behaved (exit codes 0-2, nothing left to upgrade
after (b)); the targets are reported, not enforced.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from google.protobuf.internal import api_implementation

from upgrade_tool.errors import InputError
from upgrade_tool.pipeline import detect_kind
from upgrade_tool.reader import parse_tree
from upgrade_tool.schema import load_schema
from upgrade_tool.walk import Selection, collect

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
CAFFE_SECONDS = 5.0  # quoted from issue 5: Caffe's C++ tool, file by file, on this machine
TARGET_CHECK = 5.0  # (a) at least this many times faster than the floor
TARGET_CONVERT = 3.6  # (b) at least this many times faster than the floor (and under CAFFE_SECONDS)
TARGET_RSS_MB = 200.0
SOLVER_CATEGORIES = frozenset({"f", "solver"})  # how ../shared/corpus and ../shared/corpus2 mark solvers
BINARY_SUFFIX = ".caffemodel"
MB = 1_000_000
MIB = 1 << 20
TOOL = [sys.executable, "-m", "upgrade_tool"]
SAMPLE_SECONDS = 0.02
PROC_CHILDREN = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")  # Linux 3.5+, usually

FLOOR_SCRIPT = r"""
import importlib.util, json, sys, time
from google.protobuf import text_format
from google.protobuf.message import DecodeError
spec = importlib.util.spec_from_file_location("caffe_pb2", sys.argv[1])
caffe_pb2 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(caffe_pb2)
messages = {"net": caffe_pb2.NetParameter, "solver": caffe_pb2.SolverParameter}
jobs = json.load(open(sys.argv[2]))
whole = sys.argv[3] == "whole"
started = time.perf_counter()
failures = 0
for path, kind in jobs:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if kind == "binary":
            caffe_pb2.NetParameter().ParseFromString(data)
        else:
            text_format.Parse(data.decode("utf-8"), messages[kind](), allow_unknown_field=whole)
    except (text_format.ParseError, UnicodeDecodeError, DecodeError):
        failures += 1
print(json.dumps({"files": len(jobs), "failures": failures, "loop_seconds": time.perf_counter() - started}))
"""


@dataclass(frozen=True)
class Run:
    """One child process: exit code, wall time, peak RSS of its largest process and of all together."""

    code: int
    seconds: float
    max_rss: int  # bytes
    tree_rss: int  # bytes, sampled
    stdout: str
    stderr: str
    load: float = float("nan")  # the 1-minute load average when it started
    cpu: float = float("nan")  # user + system seconds of it and of the children it waited for (its workers)


@dataclass(frozen=True)
class Row:
    label: str
    command: str
    files: int
    size: int  # bytes
    runs: tuple[Run, ...]
    floor: Row | None = None  # what "vs floor" divides by
    note: str = ""

    @property
    def best(self) -> float:
        return min(run.seconds for run in self.runs)

    @property
    def load(self) -> float:
        """The 1-minute load average when the best run started."""
        return min(self.runs, key=lambda run: run.seconds).load

    @property
    def cpu(self) -> float:
        """The least CPU time of its runs (user + system, the process and the children it waited for)."""
        return min(run.cpu for run in self.runs)

    @property
    def max_rss(self) -> int:
        return max(run.max_rss for run in self.runs)

    @property
    def tree_rss(self) -> int:
        return max(run.tree_rss for run in self.runs)

    def ratio(self) -> float:
        return (self.floor.best if self.floor is not None else self.best) / self.best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus directory (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the best wall time counts (default 3)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    corpus = args.corpus.resolve()
    if not corpus.is_dir():
        parser.error(f"no corpus at {corpus}")
    with tempfile.TemporaryDirectory(prefix="bn-upgrade-bench-") as scratch:
        return bench(corpus, Path(scratch), args.repeat)


def bench(corpus: Path, scratch: Path, repeat: int) -> int:
    files = corpus_files(corpus)
    kinds = file_kinds(corpus, files)
    total = sum((corpus / f).stat().st_size for f in files)
    largest = max(files, key=lambda f: ((corpus / f).stat().st_size, f))
    problems: list[str] = []
    print_setup(corpus, scratch, files, total, repeat)

    floor = floor_row("floor: `text_format` loop, whole files", corpus, files, kinds, scratch, repeat, problems)
    strict = floor_row(
        "strict floor: `text_format` loop, stops at unknown fields",
        corpus,
        files,
        kinds,
        scratch,
        repeat,
        problems,
        floor,
        whole=False,
    )

    upgraded = scratch / "upgraded"
    shutil.copytree(corpus, upgraded)
    prepared = measure([*TOOL, "-q", "--no-cache", "--report", str(scratch / "prepare.json"), "upgraded"], scratch)
    expect_exit(prepared, "preparing the upgraded copy", problems)
    before = summary_of(scratch / "prepare.json")
    check_command = [*TOOL, "--check", "--no-cache", "upgraded"]
    check = Row(
        "(a) `--check`, upgraded corpus",
        display(check_command),
        len(files),
        total,
        tuple(timed(check_command, scratch, repeat, problems)),
        floor,
    )
    verify = measure(
        [*TOOL, "--check", "--no-cache", "-q", "--report", str(scratch / "verify.json"), "upgraded"], scratch
    )
    after = summary_of(scratch / "verify.json")
    if verify.code not in (0, 1, 2) or after["would_upgrade"]:
        problems.append(f"--check on the upgraded copy still finds {after['would_upgrade']} files to upgrade")

    fresh = scratch / "fresh"
    convert_command = [*TOOL, "--no-cache", "fresh"]
    convert = Row(
        "(b) in place, fresh copy",
        display(convert_command),
        len(files),
        total,
        tuple(timed(convert_command, scratch, repeat, problems, lambda: fresh_copy(corpus, fresh))),
        floor,
    )

    big = scratch / "large" / Path(largest).name
    big_floor = floor_row("floor: one large net, whole file", corpus, [largest], kinds, scratch, repeat, problems)
    big_command = [*TOOL, "--no-cache", f"large/{big.name}"]
    big_size = (corpus / largest).stat().st_size
    one = Row(
        "(c) one large net, in place",
        display(big_command),
        1,
        big_size,
        tuple(timed(big_command, scratch, repeat, problems, lambda: fresh_copy(corpus / largest, big))),
        big_floor,
        f"`{largest}`",
    )
    caffe = Row(
        "Caffe C++ tool, file by file (quoted, not measured: no Caffe build here)",
        "`upgrade_net_proto_text` / `upgrade_solver_proto_text` per file",
        len(files),
        total,
        (Run(0, CAFFE_SECONDS, 0, 0, "", ""),),
        floor,
    )

    print_table([floor, strict, check, convert, big_floor, one, caffe])
    print()
    print(f"Floor: {floor.note}. Strict floor: {strict.note}.")
    print(f"Large net: {one.note}, {big_size / MB:.2f} MB.")
    print(
        f"Corpus outcome (first in-place run): {before['upgraded']} upgraded, {before['up_to_date']} already up to "
        f"date, {before['needs_human']} need a human, {before['failed']} failed; --check afterwards: "
        f"{after['would_upgrade']} to upgrade."
    )
    print()
    print_targets(floor, strict, check, convert, [check, convert, one])
    print(f"Load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


# -- the corpus -------------------------------------------------------------------------


def corpus_files(corpus: Path) -> list[str]:
    """The files a directory run takes (the tool's own walk), relative to the corpus."""
    return [os.path.relpath(target.path, corpus) for target in collect([str(corpus)], Selection())]


def file_kinds(corpus: Path, files: Sequence[str]) -> dict[str, str]:
    """net, solver or binary per file (relative to `corpus`).

    A `.caffemodel` is binary; a text file is a solver if the MANIFEST gives it
    a solver category, else a net; a file the MANIFEST lacks is as the tool guesses.
    """
    categories = manifest_categories(corpus)
    return {f: file_kind(corpus / f, categories.get(f)) for f in files}


def manifest_categories(corpus: Path) -> dict[str, set[str]]:
    manifest = corpus / "MANIFEST.tsv"
    if not manifest.is_file():
        return {}
    with manifest.open(encoding="utf-8", newline="") as handle:
        return {row["file"]: set(row["categories"].split(",")) for row in csv.DictReader(handle, delimiter="\t")}


def file_kind(path: Path, categories: set[str] | None) -> str:
    if path.suffix == BINARY_SUFFIX:
        return "binary"
    if categories is None:
        return guess_kind(path)
    return "solver" if categories & SOLVER_CATEGORIES else "net"


def guess_kind(path: Path) -> str:
    try:
        return detect_kind(parse_tree(path.read_bytes().decode("utf-8")), load_schema(None)).value
    except (InputError, UnicodeDecodeError):
        return "net"


def fresh_copy(source: Path, destination: Path) -> None:
    if destination.is_dir():
        shutil.rmtree(destination)
    elif destination.exists():
        destination.unlink()
    if source.is_dir():
        shutil.copytree(source, destination)
    else:
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    os.sync()  # the copy reaches the disk now, untimed, not during the timed run's own writes


# -- running and measuring --------------------------------------------------------------


def floor_row(
    label: str,
    corpus: Path,
    files: Sequence[str],
    kinds: dict[str, str],
    scratch: Path,
    repeat: int,
    problems: list[str],
    floor: Row | None = None,
    whole: bool = True,
) -> Row:
    command = floor_command(corpus, files, kinds, scratch, whole)
    runs = tuple(timed(command, scratch, repeat, problems))
    size = sum((corpus / f).stat().st_size for f in files)
    return Row(label, floor_display(whole), len(files), size, runs, floor, floor_note(label, runs, problems))


def floor_command(corpus: Path, files: Sequence[str], kinds: dict[str, str], scratch: Path, whole: bool) -> list[str]:
    """The floor's parse loop over `files` (relative to `corpus`), its file list written into `scratch`."""
    jobs = scratch / f"floor-{len(files)}-{corpus.name}.json"
    jobs.write_text(json.dumps([[str(corpus / f), kinds[f]] for f in files]), encoding="utf-8")
    mode = "whole" if whole else "strict"
    return [sys.executable, "-c", FLOOR_SCRIPT, str(REPO / "upgrade_tool" / "caffe_pb2.py"), str(jobs), mode]


def floor_display(whole: bool) -> str:
    return f"`python -c <parse loop> caffe_pb2.py <file list> {'whole' if whole else 'strict'}`"


def floor_note(label: str, runs: Sequence[Run], problems: list[str]) -> str:
    """How many files the floor's loop could not parse, and its best time without interpreter start-up."""
    outcomes = [json.loads(run.stdout) for run in runs if run.code == 0]
    if not outcomes:
        problems.append(f"{label}: the parse loop failed")
        return "the parse loop failed"
    loop = min(outcome["loop_seconds"] for outcome in outcomes)
    return (
        f"{outcomes[0]['failures']} of {outcomes[0]['files']} files do not parse with protobuf (still timed); "
        f"the loop alone, without interpreter start-up, best {loop:.3g} s"
    )


def timed(
    command: list[str], cwd: Path, repeat: int, problems: list[str], before_each: Callable[[], None] | None = None
) -> list[Run]:
    runs = []
    for _ in range(repeat):
        if before_each is not None:
            before_each()
        run = measure(command, cwd)
        expect_exit(run, display(command), problems)
        runs.append(run)
    return runs


def expect_exit(run: Run, what: str, problems: list[str]) -> None:
    if run.code not in (0, 1, 2):  # 2: the corpus holds files nobody can read
        problems.append(f"{what}: exit {run.code}: {run.stderr.strip()[-2000:]}")


def child_environment(**extra: str) -> dict[str, str]:
    """This environment plus `extra`, without PYTHONDONTWRITEBYTECODE: children use .pyc files, as installed."""
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**environment, **extra}


def measure(command: list[str], cwd: Path, environment: dict[str, str] | None = None) -> Run:
    """Run `command` as a child: exit code, wall time, peak RSS (of its largest process and of its whole tree).

    The child gets `environment`, by default `child_environment()`.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        load = os.getloadavg()[0]
        started = time.perf_counter()
        child = subprocess.Popen(
            command,
            cwd=cwd,
            env=child_environment() if environment is None else environment,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        sampler = TreeSampler(child.pid)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        sampler.stop()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            child.returncode,
            seconds,
            # wait4's ru_maxrss (KiB on Linux) only where /proc is missing: on Linux it keeps the RSS this
            # process had when it started the child, which would floor every row at the bench's own size.
            sampler.largest or usage.ru_maxrss * 1024,
            sampler.peak,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            load,
            usage.ru_utime + usage.ru_stime,
        )


class TreeSampler(threading.Thread):
    """Peak memory of a process and everything below it, from /proc every 20 ms (Linux).

    `largest`: the largest VmHWM (the kernel's own high-water mark of a process's
    resident memory, so only a process's last 20 ms can be missed) of any one
    process; `peak`: the largest sum of VmRSS over all of them at once.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.largest = 0
        self.peak = 0
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        if not os.path.isdir("/proc"):
            return
        while True:
            memory = [resident(pid) for pid in descendants(self.pid)]
            self.peak = max(self.peak, sum(now for now, _ in memory))
            self.largest = max(self.largest, *(high for _, high in memory))
            if self._done.wait(SAMPLE_SECONDS):
                return


def descendants(root: int) -> list[int]:
    """`root` and every process below it (children, their children, ...)."""
    parents = None if PROC_CHILDREN else parents_from_proc()
    found = [root]
    for pid in found:  # grows while it is walked: breadth first
        found.extend(children(pid) if parents is None else parents.get(pid, ()))
    return found


def children(pid: int) -> list[int]:
    """The children of every thread of `pid`, from /proc/PID/task/TID/children."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children", "rb") as handle:
                found.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            continue
    return found


def parents_from_proc() -> dict[int, list[int]]:
    """Every process's children, from each /proc/PID/stat: for kernels without the `children` files."""
    parents: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as handle:
                    parent = int(handle.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(parent, []).append(int(name))
    return parents


def resident(pid: int) -> tuple[int, int]:
    """VmRSS and VmHWM of `pid` in bytes; 0 for a process that is gone."""
    found = {b"VmRSS": 0, b"VmHWM": 0}
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                name, _, value = line.partition(b":")
                if name in found:
                    found[name] = int(value.split()[0]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return found[b"VmRSS"], found[b"VmHWM"]


def summary_of(report: Path) -> dict[str, int]:
    summary: dict[str, int] = json.loads(report.read_text(encoding="utf-8"))["summary"]
    return summary


def display(command: Sequence[str]) -> str:
    """A command as a user types it: `bn-upgrade ...` for the tool."""
    words = list(command)
    if words[:3] == TOOL:
        words = ["bn-upgrade", *words[3:]]
    return "`" + shlex.join(words) + "`"


# -- printing ---------------------------------------------------------------------------


def print_setup(corpus: Path, scratch: Path, files: Sequence[str], total: int, repeat: int) -> None:
    protobuf = module_version("google.protobuf")
    print(f"Command: `{shlex.join([os.path.basename(sys.executable), *sys.argv])}`")
    print(
        f"Machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, protobuf {protobuf} ({api_implementation.Type()}), "
        f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"Corpus: {corpus} ({len(files)} files, {total / MB:.2f} MB); copies in {scratch}; best of {repeat}")
    print()


def module_version(name: str) -> str:
    module: ModuleType | None = sys.modules.get(name)
    if module is None and importlib.util.find_spec(name) is not None:
        module = importlib.import_module(name)
    return str(getattr(module, "__version__", "?"))


def print_table(rows: Sequence[Row]) -> None:
    print(
        "| run | command | files | MB | best s | files/s | MB/s | peak RSS, largest process (MiB) "
        "| peak RSS, all processes (MiB) | vs floor |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        quoted = row.max_rss == 0
        rss_largest = "n/a" if quoted else f"{row.max_rss / MIB:.0f}"
        rss_all = "n/a" if quoted else f"{row.tree_rss / MIB:.0f}"
        seconds = f"~{row.best:.1f}" if quoted else f"{row.best:.2f}"
        print(
            f"| {row.label} | {row.command} | {row.files} | {row.size / MB:.2f} | {seconds} "
            f"| {row.files / row.best:.0f} | {row.size / MB / row.best:.2f} | {rss_largest} | {rss_all} "
            f"| {row.ratio():.1f}x |"
        )


def print_targets(floor: Row, strict: Row, check: Row, convert: Row, tool_rows: Sequence[Row]) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    def against(row: Row) -> str:
        return (
            f"{floor.best / row.best:.1f}x the floor ({floor.best:.1f} s), "
            f"{strict.best / row.best:.1f}x the strict floor ({strict.best:.1f} s)"
        )

    rss_peak = max(row.max_rss for row in tool_rows) / MIB
    tree_peak = max(row.tree_rss for row in tool_rows) / MIB
    print("Targets (issue 5; reported, not enforced):")
    print(
        f"- (a) `--check` at least {TARGET_CHECK:g}x faster than the floor: {check.best:.2f} s = {against(check)}: "
        f"{verdict(check.ratio() >= TARGET_CHECK)}"
    )
    print(
        f"- (b) in place at least {TARGET_CONVERT:g}x faster than the floor and under Caffe's ~{CAFFE_SECONDS:g} s: "
        f"{convert.best:.2f} s = {against(convert)}: {verdict(convert.ratio() >= TARGET_CONVERT)} against the "
        f"floor, {verdict(convert.best < CAFFE_SECONDS)} against {CAFFE_SECONDS:g} s"
    )
    print(
        f"- peak RSS under {TARGET_RSS_MB:g} MB: largest process {rss_peak:.0f} MiB: "
        f"{verdict(rss_peak * MIB < TARGET_RSS_MB * MB)} (all processes together at most {tree_peak:.0f} MiB)"
    )


if __name__ == "__main__":
    sys.exit(main())
