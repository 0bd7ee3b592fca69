"""Differential check of the reader against an earlier version of itself.

    python bench/reader_diff.py --rev 091a65a                # both corpora, 20,000 generated, 20,000 mutated
    python bench/reader_diff.py --rev HEAD~3 --count 5000 --seed 7
    python bench/reader_diff.py --rev 2ec3276 --lazy         # the current reader reading every text lazily

The reader of git revision REV (`upgrade_tool/reader.py` as committed there) is
loaded beside the current one, and both read the same texts: every text file
of ../shared/corpus and ../shared/corpus2, the texts of bench/prototxt_gen.py
(every spelling the text format has, right and wrong), and corpus files with
bench/fuzz_reader.py's mutations. For each, both must give the same tree (every
node's name, offsets, flags, values and children) or the same error (message,
offset and code). Prints the counts and each difference; exit status 1 if any.
With `--lazy` the current reader reads every text as it reads a big one
(`reader.Span`: children read again from the span when asked for).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from upgrade_tool import reader
from upgrade_tool.errors import InputError
from upgrade_tool.source import Source

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_reader import load_corpus, mutated_texts  # noqa: E402
from prototxt_gen import generate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SLOTS = ("name", "start", "name_end", "end", "stop", "open", "close", "in_list", "colon", "values")


def load_old(rev: str, scratch: Path) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{rev}:upgrade_tool/reader.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    path = scratch / "old_reader.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_reader", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outcome(parse: Callable[[str], list[Any]], text: str) -> tuple[Any, ...]:
    """The tree as nested tuples of every node's slots, or the error it raises."""
    try:
        tree = parse(text)
    except InputError as exc:
        return ("error", exc.message, exc.offset, exc.code)
    return ("tree", shape(tree))


def shape(fields: list[Any]) -> tuple[Any, ...]:
    """Nested tuples without recursion (trees may be deep).

    Nodes are told apart by their offsets, not identity: a lazy node's children
    read a second time are new nodes (`reader.Span`).
    """
    done: dict[tuple[int, int], tuple[Any, ...]] = {}
    pending: list[tuple[Any, bool]] = [(node, False) for node in reversed(fields)]
    while pending:
        node, expanded = pending.pop()
        if not expanded and node.children:
            pending.append((node, True))
            pending.extend((child, False) for child in node.children)
            continue
        values = None if node.values is None else tuple(tuple(v) for v in node.values)
        slots = tuple(values if slot == "values" else getattr(node, slot) for slot in SLOTS)
        children = None if node.children is None else tuple(done.pop((c.start, c.open)) for c in node.children)
        done[node.start, node.open] = (*slots, children)
    return tuple(done.pop((node.start, node.open)) for node in fields)


def texts(count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    corpus: list[tuple[str, bytes]] = []
    for root in (SHARED / "corpus", SHARED / "corpus2"):
        if root.is_dir():
            found = load_corpus(root, 10**9)
            corpus += [(f"{root.name}/{name}", data) for name, data in found]
    if not corpus:
        sys.exit(f"no corpus at {SHARED} (../shared next to the repository)")
    yield from corpus
    rng = random.Random(seed)
    for index in range(count):
        data, _ = generate(rng)
        yield f"generated #{index}", data
    yield from mutated_texts(corpus, rng, count)


def decoded(named: Iterator[tuple[str, bytes]], tally: dict[str, int]) -> Iterator[tuple[str, str]]:
    """Each text as `Source` decodes it; one it cannot is counted in `tally["not decoded"]` and skipped."""
    for name, data in named:
        try:
            yield name, Source.from_bytes(data).text
        except InputError:
            tally["not decoded"] += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", required=True, help="the git revision whose reader is compared")
    parser.add_argument("--count", type=int, default=20_000, help="generated and mutated texts, each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lazy", action="store_true", help="the current reader reads every text lazily")
    args = parser.parse_args()
    current = functools.partial(reader.parse_tree, lazy=True) if args.lazy else reader.parse_tree
    with tempfile.TemporaryDirectory() as scratch:
        old = load_old(args.rev, Path(scratch))
        tally = {"tree": 0, "error": 0, "not decoded": 0}
        differences = 0
        for name, text in decoded(texts(args.count, args.seed), tally):
            before, after = outcome(old.parse_tree, text), outcome(current, text)
            if before != after:
                differences += 1
                print(f"DIFFERENT {name}: {before[:4] if before[0] == 'error' else 'a tree'} -> "
                      f"{after[:4] if after[0] == 'error' else 'a tree'}")  # fmt: skip
            tally[after[0]] += 1
    total = sum(tally.values())
    print(f"{total} texts: {tally['tree']} trees, {tally['error']} errors, {tally['not decoded']} not decoded; "
          f"{differences} differences from the reader of {args.rev}")  # fmt: skip
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
