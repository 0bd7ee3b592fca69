"""Time the reader and binder alone over every text file of the shared corpora.

    python bench/parse_time.py                       # ../shared/corpus and ../shared/corpus2, best of 3
    python bench/parse_time.py --repeat 5 DIR ...

For each corpus: decode the bytes (`Source.from_bytes`), build the syntax tree
(`parse_tree`) and fill the message (`bind`, not strict, so fork files are read
to their end), in this process, with nothing else timed. Files that fail count
too (as far as they get). Prints the best wall time of `--repeat` runs and MB/s,
and the best CPU time of this process (steadier when the machine is shared).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from upgrade_tool.binder import bind
from upgrade_tool.errors import InputError
from upgrade_tool.pipeline import detect_kind
from upgrade_tool.reader import parse_tree
from upgrade_tool.schema import BVLC
from upgrade_tool.source import Source

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def corpus_files(root: Path) -> list[bytes]:
    paths = sorted(p for p in root.rglob("*") if p.suffix in (".prototxt", ".pt") and p.is_file())
    return [p.read_bytes() for p in paths]


def read_all(files: list[bytes]) -> int:
    failed = 0
    for data in files:
        try:
            text = Source.from_bytes(data).text
            tree = parse_tree(text)
            message = BVLC.net() if detect_kind(tree, BVLC).value == "net" else BVLC.solver()
            bind(tree, message, text, strict=False)
        except InputError:
            failed += 1
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="*", type=Path, default=[SHARED / "corpus", SHARED / "corpus2"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for root in args.corpora:
        if not root.is_dir():
            parser.error(f"no corpus at {root}")
        files = corpus_files(root)
        size = sum(len(data) for data in files)
        best = best_cpu = float("inf")
        failed = 0
        for _ in range(args.repeat):
            started, started_cpu = time.perf_counter(), time.process_time()
            failed = read_all(files)
            best = min(best, time.perf_counter() - started)
            best_cpu = min(best_cpu, time.process_time() - started_cpu)
        print(f"{root.name}: {len(files)} files, {size / 1e6:.2f} MB, {failed} fail to read; "
              f"best of {args.repeat}: {best:.3f} s ({size / 1e6 / best:.2f} MB/s), CPU {best_cpu:.3f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
