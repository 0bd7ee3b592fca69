"""`--diff` without difflib's quadratic search: the same bytes as `difflib.unified_diff` gave.

The reference is the function runner.unified_diff was before: difflib over the two line lists.
The generated cases run twice, with textdiff's threshold as shipped and with it lowered to 16
lines, so that small texts also go through the walk; the corpus (about 380 of its changed files
are over the threshold) runs with the threshold as shipped.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SHARED

from upgrade_tool import pipeline, textdiff
from upgrade_tool.runner import diff_name, unified_diff
from upgrade_tool.settings import Settings
from upgrade_tool.source import Source


def difflib_diff(path: str, before: str, after: str) -> str:
    """runner.unified_diff as it was: difflib over splitlines(keepends=True)."""
    name = diff_name(path)
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{name}\t(original)",
        tofile=f"{name}\t(upgraded)",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


@pytest.fixture(params=[textdiff.SMALL, 16], ids=["as shipped", "anchored from 16 lines"])
def small(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(textdiff, "SMALL", request.param)
    return int(request.param)


LAYER = """layer {{
  name: "{name}"
  type: "{kind}"
  bottom: "{bottom}"
  top: "{name}"
{params}  convolution_param {{
    num_output: {width}
    kernel_size: 3
  }}
}}
"""


def generated_net(layers: int, seed: int) -> tuple[str, str]:
    """A net of `layers` layers and its edit: param blocks dropped, a line replaced, some added."""
    rng = random.Random(seed)
    before, after = [], []
    for n in range(layers):
        kind = rng.choice(["Convolution", "BatchNorm", "ReLU"])
        dropped = kind == "BatchNorm" and rng.random() < 0.7
        params = "  param { lr_mult: 0 }\n" * rng.choice([1, 3])
        fields = {"name": f"l{n}", "kind": kind, "bottom": f"l{n - 1}", "width": rng.choice([16, 32, 64])}
        layer = LAYER.format(params=params, **fields)
        before.append(layer)
        edited = LAYER.format(params="" if dropped else params, **fields)
        if rng.random() < 0.05:
            edited = edited.replace("kernel_size: 3", "kernel_size: 3\n    pad: 1")
        if rng.random() < 0.05:
            edited = edited.replace('type: "ReLU"', 'type: "PReLU"')
        after.append(edited)
    return "".join(before), "".join(after)


@pytest.mark.parametrize("seed", range(4))
def test_a_big_generated_net_diffs_as_difflib_did(seed: int, small: int) -> None:
    before, after = generated_net(400, seed)  # about 4,000 lines
    assert len(before.splitlines()) > textdiff.SMALL
    assert unified_diff("net.prototxt", before, after) == difflib_diff("net.prototxt", before, after)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("a\nb\nc", "a\nc"),
        ("a\nb\nc\n", "a\nb\nc"),
        ("x\n" * 50, "x\n" * 47),
        ("x\n" * 30 + "y\n" + "x\n" * 30, "x\n" * 61),
        ("", "a\n"),
        ("a\n", ""),
        ("".join(f"{n}\n" for n in range(100)), "".join(f"{n}\n" for n in range(100) if n % 7)),
    ],
    ids=[
        "no final newline",
        "final newline dropped",
        "repeats",
        "popular around a change",
        "from empty",
        "to empty",
        "every 7th line",
    ],
)
def test_small_edits_diff_as_difflib_did(before: str, after: str, small: int) -> None:
    assert unified_diff("f", before, after) == difflib_diff("f", before, after)


def corpus_files() -> Iterator[Path]:
    for corpus in ("corpus", "corpus2"):
        for path in sorted((SHARED / corpus).rglob("*")):
            if path.is_file() and path.suffix in {".prototxt", ".pbtxt", ".txt", ".prototext"}:
                yield path


@pytest.mark.slow
def test_every_changed_corpus_file_diffs_as_difflib_did() -> None:
    # As shipped only: with the threshold at 16 or 64 lines a few heavily rewritten nets (V1 to
    # V2) differ, difflib taking a longer block off the walk's diagonal; the diff is still valid.
    files = list(corpus_files())
    if not files:
        pytest.skip(f"no corpus at {SHARED}")
    compared = 0
    for path in files:
        for target in (None, "bvlc"):
            source = Source.from_bytes(path.read_bytes())
            try:
                result = pipeline.upgrade_source(source, Settings(target=target), None)
            except Exception:  # noqa: BLE001 - a file the tool refuses has no diff
                continue
            if result.changed:
                compared += 1
                expected = difflib_diff(str(path), source.text, result.text)
                assert unified_diff(str(path), source.text, result.text) == expected, (path, target)
    assert compared > 50
