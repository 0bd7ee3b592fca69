"""Differential check of reading (which schema and dialect a text is read with) against an earlier version.

    python bench/reading_diff.py --rev 2ec3276            # both corpora; 3,000 generated, mutated and forked texts
    python bench/reading_diff.py --rev HEAD~1 --count 500 --seed 7

The whole package as committed at git revision REV (`git archive`) reads the
same texts in a child process as the current code does here, each under five
settings: the default, `--strict`, `--format canonical`, `--target bvlc` and
`--target` of a random dialect. The texts: every text file of
../shared/corpus and ../shared/corpus2; `--count` texts bench/prototxt_gen.py
builds from a random dialect's schema (its own fields, with every spelling,
right and wrong); `--count` corpus files with bench/fuzz_reader.py's
mutations; and `--count` corpus files with a field of a random dialect (made
by prototxt_gen, so right or wrong) put into a random message, where that
dialect has one of that name. For each, both must give the same reading (kind,
dialect, reason, strictness, findings, the file's own dialect, the schema's
origin, the message's type and bytes, the nodes left unknown and where) or the
same error (message, offset, code), or the same crash. Prints the counts and
each difference; exit status 1 if any.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import random
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def settings_for(rng: random.Random, dialects: list[str]) -> list[dict[str, Any]]:
    """The settings a text is read with, as `Settings` arguments (the same in both processes)."""
    return [
        {},
        {"strict": True},
        {"output_format": "canonical"},
        {"target": "bvlc"},
        {"target": rng.choice(dialects)},
    ]


def outcome(text: str, options: dict[str, Any]) -> tuple[str, str]:
    """(a hash of the whole outcome, a short summary of it) for one reading of `text`."""
    from upgrade_tool.errors import InputError
    from upgrade_tool.reading import read
    from upgrade_tool.settings import OutputFormat, Settings

    if "output_format" in options:
        options = {**options, "output_format": OutputFormat(options["output_format"])}
    try:
        reading = read(text, Settings(**options))
    except InputError as exc:
        whole: tuple[Any, ...] = ("error", exc.message, exc.offset, exc.code)
        return _hash(whole), repr(whole)[:300]
    except Exception as exc:  # noqa: BLE001 - a crash is an outcome to compare too
        whole = ("crash", type(exc).__name__, str(exc))
        return _hash(whole), repr(whole)[:300]
    message = reading.doc.message
    unknown = tuple((item.owner, item.node.name, item.node.start) for item in reading.doc.unknown)
    whole = (
        "reading", reading.kind.value, reading.dialect, reading.reason, reading.strict, reading.findings,
        reading.written_for, reading.schema.origin, message.DESCRIPTOR.full_name,
        message.SerializeToString(deterministic=True), unknown,
    )  # fmt: skip
    return _hash(whole), repr(whole[:8])[:300]


def _hash(whole: tuple[Any, ...]) -> str:
    return hashlib.sha256(repr(whole).encode("utf-8", "surrogatepass")).hexdigest()


def outcomes(cases: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[str, str]]:
    return [outcome(text, options) for _, text, options in cases]


# -- the texts ------------------------------------------------------------------------------------


def texts(count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    sys.path.insert(0, str(ROOT / "bench"))
    from fuzz_reader import MUTATED_FROM, load_corpus, mutated_texts
    from prototxt_gen import generate

    corpus: list[tuple[str, bytes]] = []
    for root in (SHARED / "corpus", SHARED / "corpus2"):
        if root.is_dir():
            corpus += [(f"{root.name}/{name}", data) for name, data in load_corpus(root, 10**9)]
    if not corpus:
        sys.exit(f"no corpus at {SHARED} (../shared next to the repository)")
    yield from corpus
    rng = random.Random(seed)
    for index in range(count):
        data, dialect = generated(rng, generate)
        yield f"generated #{index} ({dialect})", data
    yield from mutated_texts(corpus, rng, count)
    small = [(name, data) for name, data in corpus if len(data) <= MUTATED_FROM]
    for index in range(count):
        name, seed_data = rng.choice(small)
        data, what = forked(rng, seed_data)
        yield f"forked #{index} ({name} + {what})", data


def generated(rng: random.Random, generate: Any) -> tuple[bytes, str]:
    """A text prototxt_gen makes from a random dialect's net or solver message."""
    import prototxt_gen

    from upgrade_tool.dialects import all_dialects

    dialect = rng.choice(all_dialects())
    schema = dialect.schema()
    saved = prototxt_gen.NET, prototxt_gen.SOLVER
    prototxt_gen.NET, prototxt_gen.SOLVER = schema.net.DESCRIPTOR, schema.solver.DESCRIPTOR
    try:
        data, _ = generate(rng)
    finally:
        prototxt_gen.NET, prototxt_gen.SOLVER = saved
    return data, dialect.name


def forked(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """`data` with a field of a random dialect put into a random message it has there."""
    from prototxt_gen import Generator

    from upgrade_tool.dialects import all_dialects
    from upgrade_tool.errors import InputError
    from upgrade_tool.reader import parse_tree

    try:
        text = data.decode("utf-8")
        tree = parse_tree(text)
    except (UnicodeDecodeError, InputError):
        return data, "nothing (not readable)"
    dialect = rng.choice(all_dialects())
    schema = dialect.schema()
    root = schema.solver if any(node.name in ("base_lr", "net", "lr_policy") for node in tree) else schema.net
    places: list[tuple[Any, int]] = [(root.DESCRIPTOR, len(text))]  # (message type, where its fields end)
    pending = [(root.DESCRIPTOR, tree)]
    while pending:
        owner, nodes = pending.pop()
        for node in nodes:
            field = owner.fields_by_name.get(node.name)
            if field is not None and field.message_type is not None and node.children is not None and node.close > 0:
                places.append((field.message_type, node.close))
                pending.append((field.message_type, node.children))
    owner, at = rng.choice(places)
    if not owner.fields:
        return data, "nothing (an empty message)"
    field = rng.choice(list(owner.fields))
    piece = Generator(rng).field(field, 3)
    return data[:at] + b" " + piece + b" " + data[at:], f"{dialect.name}'s {owner.name}.{field.name}"


# -- the two sides -------------------------------------------------------------------------------


def reference_tree(rev: str, scratch: Path) -> Path:
    archive = scratch / "rev.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", rev, "upgrade_tool"], cwd=ROOT, check=True, stdout=out)
    tree = scratch / "rev"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", help="the git revision whose reading is compared")
    parser.add_argument("--count", type=int, default=3_000, help="generated, mutated and forked texts, each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=2, metavar=("CASES", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        cases = pickle.loads(Path(args.child[0]).read_bytes())
        Path(args.child[1]).write_bytes(pickle.dumps(outcomes(cases)))
        return 0
    if not args.rev:
        parser.error("--rev is required")
    from upgrade_tool.dialects import dialect_names
    from upgrade_tool.errors import InputError
    from upgrade_tool.source import Source

    rng = random.Random(args.seed + 1)
    names = list(dialect_names())
    cases: list[tuple[str, str, dict[str, Any]]] = []
    undecoded = 0
    for name, data in texts(args.count, args.seed):
        try:
            text = Source.from_bytes(data).text
        except InputError:
            undecoded += 1
            continue
        cases += [(name, text, options) for options in settings_for(rng, names)]
    with tempfile.TemporaryDirectory() as scratch:
        tree = reference_tree(args.rev, Path(scratch))
        (Path(scratch) / "cases").write_bytes(pickle.dumps(cases))
        env = {**os.environ, "PYTHONPATH": str(tree)}
        child = subprocess.Popen(
            [sys.executable, __file__, "--child", f"{scratch}/cases", f"{scratch}/out"], env=env, cwd=scratch
        )
        after = outcomes(cases)
        if child.wait() != 0:
            sys.exit(f"the reading of {args.rev} failed (exit status {child.returncode})")
        before = pickle.loads((Path(scratch) / "out").read_bytes())
    tally: dict[str, int] = {}
    differences = 0
    for (name, _, options), old, new in zip(cases, before, after, strict=True):
        kind = new[1].split("'")[1] if new[1].startswith("('") else "?"
        tally[kind] = tally.get(kind, 0) + 1
        if old[0] != new[0]:
            differences += 1
            print(f"DIFFERENT {name} {options}:\n  {args.rev}: {old[1]}\n  now: {new[1]}")
    shown = ", ".join(f"{count} {kind}s" for kind, count in sorted(tally.items()))
    print(f"{len(cases)} readings of {len(cases) // 5} texts ({undecoded} not decoded): {shown}; "
          f"{differences} differences from the reading of {args.rev}")  # fmt: skip
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
