"""Record what C++ TextFormat makes of each case in tests/cpp_parity.json (needs bench/oracle built).

    python bench/record_cpp_cases.py            # rewrite the "cpp" of every case from the oracle
    python bench/record_cpp_cases.py --check    # exit 1 if any recorded outcome is not the oracle's

Each case has "what" (its test id), "kind" (net or solver), "input" (the bytes,
one character per byte, i.e. Latin-1), "cpp" (what C++ did: {"printed": TEXT}
or {"refused": {"line": N, "message": ...}}), and, for a documented difference,
"deliberate" (why bn-upgrade differs). To add a case, add it without "cpp" and
run this script; tests/test_cpp_parity.py then checks bn-upgrade against it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpp_oracle import Accepted, CppOracle, OracleMissing  # noqa: E402

CASES = Path(__file__).resolve().parents[1] / "tests" / "cpp_parity.json"


def outcome(oracle: CppOracle, case: dict[str, Any]) -> dict[str, Any]:
    answer = oracle.parse(case["input"].encode("latin-1"), case["kind"])
    if isinstance(answer, Accepted):
        return {"printed": answer.printed.decode("utf-8")}
    return {"refused": {"line": answer.line, "message": answer.message}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare, do not rewrite")
    args = parser.parse_args()
    cases = json.loads(CASES.read_text(encoding="utf-8"))
    try:
        oracle = CppOracle.start()
    except OracleMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    stale = 0
    with oracle:
        for case in cases:
            fresh = outcome(oracle, case)
            if case.get("cpp") != fresh:
                stale += 1
                print(f"{'differs' if args.check else 'recorded'}: {case['what']}")
                case["cpp"] = fresh
    if args.check:
        return 1 if stale else 0
    CASES.write_text(json.dumps(cases, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"{len(cases)} cases, {stale} (re)recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
