"""Does reading by dialect slow down files that are plain BVLC? (issue 10: at most 10%)

    python bench/dialect_overhead.py --old PATH [--repeat 5]

PATH is a checkout of bn-upgrade from before dialects (for example `git worktree
add ../before-dialects 4d83661`). The script copies the files of ../shared/corpus
and corpus2 that the current version reads as BVLC's (nothing unknown) into a
scratch directory, then times `python -m upgrade_tool --check -q -j 1` on it with
the old and the current package, alternately, and prints the best wall time of
each and their ratio. Whole processes, start-up included.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))


def bvlc_files(scratch: Path) -> int:
    from upgrade_tool import InputError, upgrade_text
    from upgrade_tool.source import Source

    count = 0
    for corpus in (SHARED / "corpus", SHARED / "corpus2"):
        for path in sorted(corpus.rglob("*")):
            if path.suffix not in (".prototxt", ".pt") or not path.is_file():
                continue
            try:
                result = upgrade_text(Source.from_bytes(path.read_bytes()).text)
            except InputError:
                continue
            if result.dialect == "bvlc" and not result.unknown_fields:
                destination = scratch / corpus.name / path.relative_to(corpus)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)
                count += 1
    return count


def timed(package_root: Path, tree: Path) -> float:
    environment = {**os.environ, "PYTHONPATH": str(package_root)}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "upgrade_tool", "--check", "-q", "-j", "1", str(tree)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="a checkout of bn-upgrade before dialects")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch)
        count = bvlc_files(tree)
        old, new = [], []
        for _ in range(args.repeat):
            old.append(timed(args.old.resolve(), tree))
            new.append(timed(ROOT, tree))
    print(f"{count} BVLC files, `--check -j 1`, best of {args.repeat} (load {os.getloadavg()[0]:.1f}):")
    print(f"  before dialects: {min(old):.2f} s")
    print(f"  with dialects:   {min(new):.2f} s ({min(new) / min(old):.2f}x)")


if __name__ == "__main__":
    main()
