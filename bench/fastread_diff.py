"""Differential check of the C fast path (`upgrade_tool/_fastread.c`) against the Python reader and binder.

    python bench/fastread_diff.py                       # both corpora, 20,000 generated, 20,000 mutated
    python bench/fastread_diff.py --count 2000 --seed 7 --schemas 3
    python bench/fastread_diff.py --rounds 6               # only: RSS after each round of reading both corpora

The texts are reader_diff.py's: every text file of ../shared/corpus and
../shared/corpus2, bench/prototxt_gen.py's nets (every spelling the text format
has, right and wrong) and corpus files with bench/fuzz_reader.py's mutations.
Each is read with the fast path and without it (as `BN_UPGRADE_PURE_PYTHON=1`
reads): the same tree or the same error; then its tree is bound as a net and as
a solver, strictly and not, with BVLC's schema and the first `--schemas` dialects'
(all by default): the same message (serialized, deterministic) and the same
nodes left aside, or the same error. Prints the counts, how often the fast path
took the text itself (not given up to the Python code), and each difference;
exit status 1 if any. Needs the extension built (`pip install .` with a C compiler).

With `--rounds N`, it only reads, binds and walks (for dialect detection) every
text file of both corpora N times and prints the process's resident memory
after each round: a reference the C code failed to drop would make it grow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from upgrade_tool import binder, reader
from upgrade_tool.dialects import all_dialects
from upgrade_tool.errors import InputError
from upgrade_tool.schema import BVLC, Schema
from upgrade_tool.source import Source

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reader_diff import decoded, outcome, texts  # noqa: E402


def python_parse(text: str) -> list[Any]:
    fast, reader._FAST = reader._FAST, None
    try:
        return reader.parse_tree(text, lazy=False)
    finally:
        reader._FAST = fast


def bound(tree: list[Any], message_type: Any, text: str, strict: bool, fast: bool) -> tuple[Any, ...]:
    saved = binder.FASTREAD
    binder.FASTREAD = saved if fast else None
    message = message_type()
    try:
        found = binder.bind(tree, message, text, strict=strict)
    except InputError as exc:
        return ("error", exc.message, exc.offset, exc.code)
    finally:
        binder.FASTREAD = saved
    return ("message", message.SerializeToString(deterministic=True), [(u.owner, u.node.key) for u in found.unknown])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20_000, help="generated and mutated texts, each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schemas", type=int, default=None, help="how many dialects' schemas besides BVLC's")
    parser.add_argument("--rounds", type=int, default=0, help="only measure memory over this many rounds")
    args = parser.parse_args()
    if reader.FASTREAD is None:
        sys.exit("the C fast path is not built here (or BN_UPGRADE_PURE_PYTHON is set)")
    if args.rounds:
        return rounds(args.rounds)
    schemas: list[Schema] = [BVLC] + [dialect.schema() for dialect in all_dialects()][: args.schemas]
    tally = {"texts": 0, "not decoded": 0, "trees": 0, "read fast": 0, "binds": 0, "bound fast": 0}
    differences = 0
    for name, text in decoded(texts(args.count, args.seed), tally):
        tally["texts"] += 1
        fast_tree = reader._FAST(text) if reader._FAST is not None else None
        tally["read fast"] += fast_tree is not None
        before, after = outcome(python_parse, text), outcome(reader.parse_tree, text)
        if before != after:
            differences += 1
            print(f"DIFFERENT TREE {name}: {before[:4] if before[0] == 'error' else 'a tree'} -> "
                  f"{after[:4] if after[0] == 'error' else 'a tree'}")  # fmt: skip
            continue
        if before[0] == "error":
            continue
        tally["trees"] += 1
        tree = reader.parse_tree(text)
        for schema in schemas:
            for message_type in (schema.net, schema.solver):
                for strict in (False, True):
                    fast, slow = (bound(tree, message_type, text, strict, on) for on in (True, False))
                    tally["binds"] += 1
                    tally["bound fast"] += _bound_fast(tree, message_type, text, strict)
                    if fast != slow:
                        differences += 1
                        print(f"DIFFERENT BIND {name} ({message_type.DESCRIPTOR.full_name}, strict={strict}): "
                              f"{slow[:4] if slow[0] == 'error' else 'a message'} -> "
                              f"{fast[:4] if fast[0] == 'error' else 'a message'}")  # fmt: skip
    print(f"{tally['texts']} texts ({tally['not decoded']} more not decoded), {tally['read fast']} read by the fast "
          f"path; {tally['trees']} trees bound {tally['binds']} ways, {tally['bound fast']} by the fast path; "
          f"{differences} differences")  # fmt: skip
    return 1 if differences else 0


def rounds(count: int) -> int:
    from upgrade_tool.dialects import keys

    corpus = [Source.from_bytes(data).text for name, data in texts(0, 0)]
    for round_ in range(count):
        for text in corpus:
            try:
                tree = reader.parse_tree(text)
            except InputError:
                continue
            for message_type in (BVLC.net, BVLC.solver):
                try:
                    binder.bind(tree, message_type(), text, strict=False)
                    keys.tree_keys(message_type.DESCRIPTOR, tree, text)
                    keys.leaves_aside(message_type.DESCRIPTOR, tree, text)
                except InputError:
                    pass
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        print(f"round {round_ + 1}: {len(corpus)} texts, resident memory {pages * 4096 / 2**20:.0f} MiB")
    return 0


def _bound_fast(tree: list[Any], message_type: Any, text: str, strict: bool) -> bool:
    """Whether the fast path binds it itself (it gives up where anything is not plain)."""
    assert reader.FASTREAD is not None
    found = reader.FASTREAD.bind(tree, message_type(), text, strict, binder._FAST_TABLES, binder._fast_table)
    return found is not None


if __name__ == "__main__":
    sys.exit(main())
