"""What each lint rule flags on the shared corpora, and what running the rules costs.

    python bench/rule_counts.py                        # ../shared/corpus and ../shared/corpus2
    python bench/rule_counts.py --list BN104           # also every finding of BN104: file:line: message
    python bench/rule_counts.py --repeat 3 DIR ...     # timing: best of 3 (default 1)

Every text file of each corpus's MANIFEST (binary models and files that are not
UTF-8 left out) is upgraded in this process with the Python API, as
`bn-upgrade --select ALL` would, and each rule's findings are counted: files
flagged, and findings (each rule reports one finding per layer, so these are the
layers flagged). Files the tool refuses (exit 2 on the command line) are counted
apart. The roles the nets were given are counted too.

Then the cost: the same loop with the default selection, once as it is and once
with every rule ignored (`--ignore` each rule's code), best wall and CPU time
of `--repeat` runs each. The rules read the net the passes already parsed, so
the difference is the rules' own work. On a shared machine that difference
drowns in noise, so the run with the rules also clocks the rules themselves:
CPU time inside every rule's `check` and in making their context (the net's
role), against the CPU time of the whole loop. The load average is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from upgrade_tool import pipeline, rules, upgrade_text
from upgrade_tool.errors import InputError, SelfCheckError
from upgrade_tool.rules import RULE_ORDER, all_rules
from upgrade_tool.source import Source

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BINARY_SUFFIXES = (".caffemodel", ".binaryproto", ".solverstate")
RULE_MODULES = [f"upgrade_tool.rules.{name}" for name in RULE_ORDER]


def corpus_texts(root: Path) -> list[tuple[str, str]]:
    """(name, text) of every file of the MANIFEST that is text."""
    texts = []
    for line in (root / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        name = line.split("\t", 1)[0]
        if name.endswith(BINARY_SUFFIXES):
            continue
        try:
            texts.append((name, Source.from_bytes((root / name).read_bytes()).text))
        except InputError:
            continue  # not UTF-8: the tool refuses it before any rule runs
    return texts


Counts = dict[str, Counter[str]]


def count(texts: list[tuple[str, str]], codes: Sequence[str], listed: str | None) -> tuple[Counts, int]:
    """Per code: how many files and findings; and how many files the tool refuses."""
    files: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    roles: Counter[str] = Counter()
    refused = 0
    for name, text in texts:
        try:
            result = upgrade_text(text, select=["ALL"])
        except (InputError, SelfCheckError):
            refused += 1
            continue
        roles.update(role for role, _ in result.roles)
        mine = Counter(f.code for f in result.findings if f.code in codes)
        findings.update(mine)
        files.update(mine.keys())
        for finding in result.findings:
            if finding.code == listed:
                print(f"  {name}:{finding.line}: {finding.message}")
    return {"files": files, "findings": findings, "roles": roles}, refused


class RuleClock:
    """CPU seconds spent in the rules' checks and their contexts, while installed."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def clocked(*args: Any) -> Any:
            started = time.process_time()
            try:
                return function(*args)
            finally:
                self.seconds[name] += time.process_time() - started

        return clocked

    def install(self) -> Callable[[], None]:
        """Clock every rule's check and `pipeline._rule_context`; returns the undo."""
        saved = [(module, module.RULE) for module in map(importlib.import_module, RULE_MODULES)]
        for module, rule in saved:
            module.RULE = dataclasses.replace(rule, check=self.wrap(rule.code.code, rule.check))
        context = pipeline._rule_context
        pipeline._rule_context = self.wrap("context", context)  # type: ignore[assignment]
        rules.all_rules.cache_clear()

        def undo() -> None:
            for module, rule in saved:
                module.RULE = rule
            pipeline._rule_context = context  # type: ignore[assignment]
            rules.all_rules.cache_clear()

        return undo


def timed(texts: list[tuple[str, str]], ignore: Sequence[str], repeat: int) -> tuple[float, float]:
    """Best wall and CPU seconds of upgrading every text with the default selection minus `ignore`."""
    best = best_cpu = float("inf")
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        for _, text in texts:
            with contextlib.suppress(InputError, SelfCheckError):
                upgrade_text(text, ignore=ignore)
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - started_cpu)
    return best, best_cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="*", type=Path, default=[SHARED / "corpus", SHARED / "corpus2"])
    parser.add_argument("--list", metavar="CODE", help="print every finding of this code")
    parser.add_argument("--repeat", type=int, default=1, help="timing runs per variant (0: no timing)")
    args = parser.parse_args()
    rules = [rule.code for rule in all_rules()]
    codes = [code.code for code in rules]
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for root in args.corpora:
        if not (root / "MANIFEST.tsv").is_file():
            parser.error(f"no corpus with a MANIFEST.tsv at {root}")
        texts = corpus_texts(root)
        if args.list:
            print(f"{root.name}: findings of {args.list}")
        counts, refused = count(texts, codes, args.list)
        print(f"\n{root.name}: {len(texts)} text files, {refused} refused by the tool; roles: "
              + ", ".join(f"{role} {n}" for role, n in counts["roles"].most_common()))  # fmt: skip
        print("| code | name | on by default | files | layers |")
        print("|---|---|---|---:|---:|")
        for code in rules:
            flagged = f"{counts['files'][code.code]} | {counts['findings'][code.code]}"
            print(f"| {code.code} | {code.name} | {'yes' if code.default else 'no'} | {flagged} |")
        if args.repeat > 0:
            with_rules = timed(texts, (), args.repeat)
            without = timed(texts, codes, args.repeat)
            grown = (with_rules[0] - without[0]) / without[0] * 100
            print(f"default selection, best of {args.repeat}: with the rules {with_rules[0]:.2f} s "
                  f"(CPU {with_rules[1]:.2f} s), rules ignored {without[0]:.2f} s (CPU {without[1]:.2f} s): "
                  f"{grown:+.1f}% wall")  # fmt: skip
            clock = RuleClock()
            undo = clock.install()
            try:
                _, cpu = timed(texts, (), 1)
            finally:
                undo()
            total = sum(clock.seconds.values())
            parts = ", ".join(f"{name} {seconds:.3f}" for name, seconds in clock.seconds.most_common())
            print(f"the rules themselves (default selection, one run): {total:.3f} s CPU of {cpu:.2f} s "
                  f"({total / cpu * 100:.1f}%): {parts}")  # fmt: skip
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
