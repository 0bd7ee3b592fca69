"""What dialect reading does on the real corpora: the figures issue 10 asks for.

    python bench/dialect_report.py [--corpus DIR ...] [--json OUT]

For every text file of ../shared/corpus and ../shared/corpus2 (or the given
directories) it runs the upgrade three ways, in memory (nothing is written):

- as bn-upgrade read files before dialects: BVLC's schema, everything it does not
  know kept as text (`--proto` with BVLC's own descriptor set reads exactly so);
- by default: the file's dialect, told from its names, and that dialect as target;
- with `--target bvlc`: the net moved to current Caffe.

It prints the files per detected dialect, the files no dialect reads whole (with
the reason), VL001 and BN004 counts before and after, the BatchNorm decisions per
target, and the typo check: for each file read as a fork, one fork-specific field
name is misspelt (a letter dropped) and the run must report it (DL002 or E002)
with the original name as its did-you-mean.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from upgrade_tool import InputError, upgrade_text  # noqa: E402
from upgrade_tool.dialects import get_dialect  # noqa: E402
from upgrade_tool.reader import parse_tree  # noqa: E402
from upgrade_tool.source import Source  # noqa: E402

SHARED = ROOT.parent / "shared"
BVLC_DESCRIPTORS = str(ROOT / "upgrade_tool" / "dialects" / "data" / "bvlc.pb")


def texts(directories: list[Path]) -> list[tuple[str, str]]:
    found = []
    for directory in directories:
        for path in sorted(directory.rglob("*")):
            if path.suffix not in (".prototxt", ".pt") or not path.is_file():
                continue
            try:
                found.append(
                    (f"{directory.name}/{path.relative_to(directory)}", Source.from_bytes(path.read_bytes()).text)
                )
            except InputError:
                continue
    return found


def outcome(text: str, **options: Any) -> dict[str, Any]:
    try:
        result = upgrade_text(text, select=["ALL"], **options)
    except InputError as error:
        return {"error": error.code, "message": error.message}
    return {
        "dialect": result.dialect,
        "reason": result.dialect_reason,
        "target": result.target,
        "changed": result.changed,
        "codes": [f.code for f in result.findings],
        "messages": [f.message for f in result.findings],
        "changes": [(c.code, c.counts) for c in result.changes],
    }


def misspelt(text: str, name: str, rng: random.Random) -> str | None:
    """The text with the first field named `name` (a real field, not a word in a comment) missing a letter."""
    pending = list(parse_tree(text))
    while pending:
        node = pending.pop(0)
        if node.name == name and len(name) >= 5:
            at = rng.randrange(1, len(name) - 1)
            return text[: node.start] + name[:at] + name[at + 1 :] + text[node.name_end :]
        pending[:0] = node.children or []
    return None


def field_names(text: str) -> set[str]:
    names, pending = set(), list(parse_tree(text))
    while pending:
        node = pending.pop()
        names.add(node.name)
        pending.extend(node.children or [])
    return names


def fork_names(dialect: str) -> list[str]:
    """Field names this dialect's LayerParameter (or its messages) has and BVLC's schema does not."""
    if dialect == "bvlc":
        return []
    mine = get_dialect(dialect).schema().net.DESCRIPTOR.file
    bvlc = get_dialect("bvlc").schema().net.DESCRIPTOR.file
    names = set()
    for message in mine.message_types_by_name.values():
        theirs = bvlc.message_types_by_name.get(message.name)
        known = set(theirs.fields_by_name) if theirs is not None else set()
        names |= {field for field in message.fields_by_name if field not in known}
    return sorted(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, action="append", help="a directory of files (repeatable)")
    parser.add_argument("--json", type=Path, help="write every file's outcome here")
    args = parser.parse_args()
    directories = args.corpus or [SHARED / "corpus", SHARED / "corpus2"]
    files = texts(directories)
    rng = random.Random(10)
    started = time.perf_counter()
    records = {}
    for name, text in files:
        records[name] = {
            "before": outcome(text, proto=BVLC_DESCRIPTORS),
            "dialect": outcome(text),
            "bvlc": outcome(text, target="bvlc"),
        }
    seconds = time.perf_counter() - started
    report(records, seconds)
    typos(files, records, rng)
    if args.json:
        args.json.write_text(json.dumps(records, indent=1), encoding="utf-8")


def why_no_fit(reason: str) -> str:
    """The names that kept every dialect from reading a file, from its dialect reason."""
    unknown = re.findall(r"(\S+?)(?: \(known to no dialect\))", reason)
    if unknown:
        return "known to no dialect: " + ", ".join(dict.fromkeys(unknown))[:100]
    nobody = re.search(r"no shipped dialect knows (.*?)\); read with", reason)
    if nobody:
        return "known to no dialect: " + nobody.group(1)[:100]
    lacking = re.search(r"lacks ([^;)]+)", reason)
    if lacking:
        return "the closest lacks: " + lacking.group(1)[:100]
    refused = re.search(r"schema refuses it \((.*)\)$", reason)
    return "the closest refuses it: " + refused.group(1)[:90] if refused else reason[:100]


def report(records: dict[str, dict[str, dict[str, Any]]], seconds: float) -> None:
    by_corpus: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    no_fit = []
    for name, runs in records.items():
        corpus = name.split("/", 1)[0]
        run = runs["dialect"]
        dialect = run.get("dialect", f"error {run.get('error')}")
        by_corpus[corpus][dialect] += 1
        if "keeping what it does not know" in run.get("reason", ""):
            no_fit.append((name, run["reason"]))
    print(f"{len(records)} text files, 3 runs each, {seconds:.0f} s")
    for corpus, counts in by_corpus.items():
        print(f"\n{corpus}: files per detected dialect")
        for dialect, count in counts.most_common():
            print(f"  {dialect:18} {count}")
    print(f"\nfiles no shipped dialect reads whole: {len(no_fit)}")
    reasons = collections.Counter(why_no_fit(reason) for _, reason in no_fit)
    for reason, count in reasons.most_common(25):
        print(f"  {count:4}  {reason}")
    for code in ("VL001", "BN004", "DL002", "BN005"):
        line = [f"{code}:"]
        for run in ("before", "dialect", "bvlc"):
            findings = [r[run] for r in records.values() if "codes" in r[run]]
            files = sum(code in f["codes"] for f in findings)
            total = sum(f["codes"].count(code) for f in findings)
            line.append(f"{run} {total} in {files} files")
        print("  ".join(line))
    print("\nBatchNorm decisions, per target (layers):")
    decisions: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for runs in records.values():
        for run in ("dialect", "bvlc"):
            found = runs[run]
            if "codes" not in found:
                continue
            target = found["target"]
            for code, counts in found["changes"]:
                if code == "UP005":
                    decisions[target]["blocks removed or zeroed"] += counts.get("layers", 0)
            for code, message in zip(found["codes"], found["messages"], strict=True):
                if code == "BN006":
                    decisions[target]["blocks kept: required"] += int(message.split()[0])
                elif code == "BN007":
                    decisions[target]["blocks removed: inert (NVIDIA)"] += int(message.split()[5])
                elif code in ("BN001", "BN004", "BN005"):
                    decisions[target][code] += 1
    for target, counts in sorted(decisions.items()):
        print(f"  {target:18} " + ", ".join(f"{key}: {value}" for key, value in sorted(counts.items())))
    errors = collections.Counter(
        (runs["before"].get("error"), runs["dialect"].get("error")) for runs in records.values()
    )
    print("\n(before error, dialect error) -> files:", dict(errors))


def typos(files: list[tuple[str, str]], records: dict[str, Any], rng: random.Random) -> None:
    caught = missed = 0
    examples = []
    for name, text in files:
        run = records[name]["dialect"]
        dialect = run.get("dialect")
        if not dialect or dialect == "bvlc":
            continue
        used = field_names(text)
        candidates = [n for n in fork_names(dialect) if n in used]
        if not candidates:
            continue
        field = rng.choice(candidates)
        broken = misspelt(text, field, rng)
        if broken is None:
            continue
        found = outcome(broken)
        said = found.get("messages", []) + [found.get("message", "")]
        if any(f"did you mean {field!r}" in message for message in said):
            caught += 1
        else:
            missed += 1
            examples.append((name, field, said[:2]))
    print(f"\ntypos in fork fields: {caught} caught with the right did-you-mean, {missed} not")
    for example in examples[:10]:
        print("  missed:", example)


if __name__ == "__main__":
    main()
