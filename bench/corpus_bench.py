"""Time bn-upgrade on the whole corpus against the floor, in one run, and print a markdown table.

The floor is a plain loop that parses every corpus file with protobuf's own
`text_format` into a caffe_pb2 NetParameter or SolverParameter (by the file's
kind: the MANIFEST's category `f`) and does nothing else; files it cannot parse
are counted and still timed. It is measured two ways:

  floor        `text_format.Parse(text, message, allow_unknown_field=True)`: every
               file is read to its end, fork-dialect fields included (skipped),
               as any tool that reads the whole corpus must; this is "the floor"
               the ratios divide by.
  strict floor plain `text_format.Parse(text, message)`: it gives up at the first
               field the schema lacks, which is most of the corpus (fork dialects),
               so it reads much less; shown for reference.

Then, each as a child process of the installed tool (`python -m upgrade_tool`,
default jobs):

  (a) `--check` on an already-upgraded copy of the corpus (copied to a temporary
      directory and upgraded in place once, untimed);
  (b) in-place conversion of a fresh copy of the corpus (a new copy per run);
  (c) in-place conversion of the largest corpus file alone (with its own floor).

Every row is the best wall time of --repeat runs of a whole child process
(interpreter start-up included, for the floor too), files/s and MB/s (10^6
bytes) from that time, and peak resident memory: of the largest single process
(wait4's ru_maxrss, like /usr/bin/time; worker processes included once the
tool has reaped them) and of all the child's processes together (sampled from
/proc every 20 ms; Linux only; pages shared after fork count in each process,
so this is an upper bound). "vs floor" is floor time / row time.

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
MB = 1_000_000
MIB = 1 << 20
TOOL = [sys.executable, "-m", "upgrade_tool"]
SAMPLE_SECONDS = 0.02

FLOOR_SCRIPT = r"""
import importlib.util, json, sys, time
from google.protobuf import text_format
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
            text_format.Parse(handle.read().decode("utf-8"), messages[kind](), allow_unknown_field=whole)
    except (text_format.ParseError, UnicodeDecodeError):
        failures += 1
print(json.dumps({"failures": failures, "loop_seconds": time.perf_counter() - started}))
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
    prepared = measure([*TOOL, "-q", "--report", str(scratch / "prepare.json"), "upgraded"], scratch)
    expect_exit(prepared, "preparing the upgraded copy", problems)
    before = summary_of(scratch / "prepare.json")
    check_command = [*TOOL, "--check", "upgraded"]
    check = Row(
        "(a) `--check`, upgraded corpus",
        display(check_command),
        len(files),
        total,
        tuple(timed(check_command, scratch, repeat, problems)),
        floor,
    )
    verify = measure([*TOOL, "--check", "-q", "--report", str(scratch / "verify.json"), "upgraded"], scratch)
    after = summary_of(scratch / "verify.json")
    if verify.code not in (0, 1, 2) or after["upgraded"]:
        problems.append(f"--check on the upgraded copy still finds {after['upgraded']} files to upgrade")

    fresh = scratch / "fresh"
    convert_command = [*TOOL, "fresh"]
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
    big_command = [*TOOL, f"large/{big.name}"]
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
        f"Corpus outcome (first in-place run): {before['upgraded']} upgraded, {before['up to date']} already up to "
        f"date, {before['needs_human']} need a human, {before['failed']} failed; --check afterwards: "
        f"{after['upgraded']} to upgrade."
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
    """net or solver per file: the MANIFEST's category `f` where there is one, else the tool's guess."""
    manifest = corpus / "MANIFEST.tsv"
    if manifest.is_file():
        with manifest.open(encoding="utf-8", newline="") as handle:
            rows = {row["file"]: row["categories"].split(",") for row in csv.DictReader(handle, delimiter="\t")}
        if all(f in rows for f in files):
            return {f: "solver" if "f" in rows[f] else "net" for f in files}
    return {f: guess_kind(corpus / f) for f in files}


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
    jobs = scratch / f"floor-{len(files)}.json"
    jobs.write_text(json.dumps([[str(corpus / f), kinds[f]] for f in files]), encoding="utf-8")
    mode = "whole" if whole else "strict"
    command = [sys.executable, "-c", FLOOR_SCRIPT, str(REPO / "upgrade_tool" / "caffe_pb2.py"), str(jobs), mode]
    runs = tuple(timed(command, scratch, repeat, problems))
    outcomes = [json.loads(run.stdout) for run in runs if run.code == 0]
    if not outcomes:
        problems.append(f"{label}: the parse loop failed")
        outcomes = [{"failures": "?", "loop_seconds": float("nan")}]
    loop = min(outcome["loop_seconds"] for outcome in outcomes)
    note = (
        f"{outcomes[0]['failures']} of {len(files)} files do not parse with `text_format` (still timed); "
        f"the loop alone, without interpreter start-up, best {loop:.2f} s"
    )
    size = sum((corpus / f).stat().st_size for f in files)
    shown = f"`python -c <parse loop> caffe_pb2.py <file list> {mode}`"
    return Row(label, shown, len(files), size, runs, floor, note)


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


def measure(command: list[str], cwd: Path) -> Run:
    """Run `command` as a child: exit code, wall time, peak RSS (wait4, and sampled over its process tree)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
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
            usage.ru_maxrss * 1024,  # KiB on Linux
            sampler.peak,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


class TreeSampler(threading.Thread):
    """The largest sum of VmRSS over a process and its children, read from /proc every 20 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        if not os.path.isdir("/proc"):
            return
        while not self._done.wait(SAMPLE_SECONDS):
            self.peak = max(self.peak, sum(rss(pid) for pid in [self.pid, *children(self.pid)]))


def children(parent: int) -> list[int]:
    """Processes whose parent is `parent` (only pids above it: children are started after it)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) > parent:
            try:
                with open(f"/proc/{name}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == parent:
                found.append(int(name))
    return found


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


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
