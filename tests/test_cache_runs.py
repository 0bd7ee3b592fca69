"""The outcome cache never changes a result: a hit gives the messages, report and exit code a miss gives.

In-process cases count how often the pipeline runs; the corpus case runs the
command over copies of both shared corpora with and without the cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import SHARED, validate_report

from upgrade_tool import cli, pipeline, reader
from upgrade_tool.cli import main

LEGACY = 'name: "n"\nlayer {\n  name: "bn"\n  type: "BatchNorm"\n  bottom: "x"\n  top: "x"\n  param { lr_mult: 0 }\n}\n'
CURRENT = 'name: "n"\nlayer {\n  name: "bn"\n  type: "BatchNorm"\n  bottom: "x"\n  top: "x"\n}\n'
LEARNABLE = LEGACY.replace("lr_mult: 0", "lr_mult: 1")
BAD = "layer { name: $NAME }\n"
FILES = {"legacy.prototxt": LEGACY, "current.prototxt": CURRENT, "human.prototxt": LEARNABLE, "bad.prototxt": BAD}


def without_timing(report: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key != "seconds"}


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BN_UPGRADE_CACHE_DIR", str(tmp_path / ".cache"))
    return tmp_path


def invoke(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, dict[str, Any], int]:
    """Run in-process: (exit code, stderr, JSON report, how many texts the pipeline upgraded)."""
    calls = []
    upgrade = pipeline.upgrade_source

    def counted(*a: Any, **k: Any) -> Any:
        calls.append(1)
        return upgrade(*a, **k)

    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "upgrade_source", counted)
        result = CliRunner().invoke(main, ["-j", "1", "--report", "r.json", *args])
    report = json.loads(Path("r.json").read_text())
    validate_report(report)
    return result.exit_code, result.stderr, without_timing(report), len(calls)


def test_a_second_check_is_served_from_the_cache_with_the_same_results(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = invoke(monkeypatch, "--check", ".")
    second = invoke(monkeypatch, "--check", ".")
    assert first[3] == 4 and second[3] == 0
    assert first[:3] == second[:3]
    assert first[0] == 2
    uncached = invoke(monkeypatch, "--check", "--no-cache", ".")
    assert uncached[3] == 4 and uncached[:3] == first[:3]


@pytest.mark.parametrize(
    "changed",
    [("--bn-style", "zero"), ("--ignore", "BN001"), ("--select", "UP"), ("--format", "canonical")],
    ids=lambda args: " ".join(args),
)
def test_a_changed_setting_misses(tree: Path, monkeypatch: pytest.MonkeyPatch, changed: tuple[str, ...]) -> None:
    invoke(monkeypatch, "--check", ".")
    assert invoke(monkeypatch, "--check", *changed, ".")[3] == 4


def test_another_version_or_a_changed_install_misses(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke(monkeypatch, "--check", ".")
    with monkeypatch.context() as patch:
        patch.setattr(cli, "__version__", "0.0.0-other")
        assert invoke(monkeypatch, "--check", ".")[3] == 4
    stamp = cli._package_stamp()
    with monkeypatch.context() as patch:
        patch.setattr(cli, "_package_stamp", lambda: [*stamp[:-1], (stamp[-1][0], stamp[-1][1] + 1, stamp[-1][2])])
        assert invoke(monkeypatch, "--check", ".")[3] == 4
    assert invoke(monkeypatch, "--check", ".")[3] == 0


def test_the_package_stamp_covers_the_compiled_fast_path() -> None:
    names = {name for name, _, _ in cli._package_stamp()}
    assert {"cli.py", "caffe_pb2.py", os.path.join("rules", "__init__.py")} <= names
    if reader.FASTREAD is None:
        pytest.skip("the C fast path is not built here")
    built = os.path.relpath(reader.FASTREAD.__file__, os.path.dirname(cli.__file__))
    assert built in names  # a rebuilt extension is a changed install


def test_cache_dir_beats_the_environment(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke(monkeypatch, "--check", "--cache-dir", "given", ".")
    assert list((tree / "given").glob("*.json")) and not (tree / ".cache").exists()
    assert invoke(monkeypatch, "--check", ".")[3] == 4  # BN_UPGRADE_CACHE_DIR's own table, still empty
    assert invoke(monkeypatch, "--check", "--cache-dir", "given", ".")[3] == 0


def test_a_file_that_must_be_written_is_upgraded_again(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke(monkeypatch, "--check", ".")
    code, stderr, report, calls = invoke(monkeypatch, ".")
    assert calls == 1  # only legacy.prototxt, which the cache says changes; the rest are served
    assert (tree / "legacy.prototxt").read_text() == CURRENT
    assert "legacy.prototxt: upgraded (BatchNorm: " in stderr
    diff = invoke(monkeypatch, "--diff", "human.prototxt", "current.prototxt")
    assert diff[3] == 0


def test_per_file_ignores_are_part_of_a_files_key(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tree / "pyproject.toml").write_text('[tool.bn-upgrade]\nper-file-ignores = {"copy*" = ["BN001"]}\n')
    shutil.copy(tree / "human.prototxt", tree / "copy.prototxt")
    code, _, report, calls = invoke(monkeypatch, "--check", "human.prototxt", "copy.prototxt")
    again = invoke(monkeypatch, "--check", "human.prototxt", "copy.prototxt")
    assert calls == 2 and again[3] == 0 and again[2] == report
    statuses = [record["status"] for record in report["files"]]
    assert statuses == ["needs_human", "up_to_date"]


def test_a_corrupt_table_is_rebuilt(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = invoke(monkeypatch, "--check", ".")
    for table in (tree / ".cache").iterdir():
        table.write_text("{not json")
    again = invoke(monkeypatch, "--check", ".")
    assert again[3] == 4 and again[:3] == first[:3]


# -- both corpora -----------------------------------------------------------------------------

CORPORA = [SHARED / "corpus", SHARED / "corpus2"]


def run(*args: str, cwd: Path, cache: Path) -> tuple[int, str, dict[str, Any]]:
    completed = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", "-j", "2", "--report", "r.json", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "BN_UPGRADE_CACHE_DIR": str(cache)},
    )
    assert "Traceback" not in completed.stderr
    report = json.loads((cwd / "r.json").read_text())
    validate_report(report)
    lines = [line for line in completed.stderr.splitlines() if " scanned: " not in line]  # the time differs
    return completed.returncode, "\n".join(lines), without_timing(report)


@pytest.mark.slow
@pytest.mark.parametrize("corpus", CORPORA, ids=lambda path: path.name)
def test_both_corpora_give_the_same_results_with_and_without_the_cache(tmp_path: Path, corpus: Path) -> None:
    if not corpus.is_dir():
        pytest.skip(f"the shared corpus is not at {corpus} (../shared next to the repository)")
    for name in ("plain", "cached"):
        shutil.copytree(corpus, tmp_path / name / "tree", symlinks=True)
    cache = tmp_path / "cache"
    plain = run("--check", "--no-cache", "tree", cwd=tmp_path / "plain", cache=cache)
    cold = run("--check", "tree", cwd=tmp_path / "cached", cache=cache)
    warm = run("--check", "tree", cwd=tmp_path / "cached", cache=cache)
    assert plain == cold == warm
    assert any(cache.iterdir())
    in_place = run("--no-cache", "tree", cwd=tmp_path / "plain", cache=cache)
    in_place_cached = run("tree", cwd=tmp_path / "cached", cache=cache)
    assert in_place == in_place_cached
    for path in (tmp_path / "plain" / "tree").rglob("*"):
        if path.is_file() and not path.is_symlink():
            twin = tmp_path / "cached" / "tree" / path.relative_to(tmp_path / "plain" / "tree")
            assert path.read_bytes() == twin.read_bytes(), path


PROBE = """\
import sys
from upgrade_tool.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(sorted(name for name in sys.modules if name.split(".")[0] in ("google", "multiprocessing")))
"""


@pytest.mark.parametrize(
    "selectors",
    [
        pytest.param((), id="defaults"),
        pytest.param(("--ignore", "BN006", "--extend-select", "DL"), id="selectors on the command line"),
        pytest.param(("--config", "bn.toml"), id="selectors and per-file ignores in a file"),
    ],
)
def test_a_run_served_from_the_cache_loads_neither_protobuf_nor_multiprocessing(
    tree: Path, selectors: tuple[str, ...]
) -> None:
    (tree / "bn.toml").write_text('select = ["ALL"]\nignore = ["BN1"]\nper-file-ignores = {"bad.*" = ["E001"]}\n')
    args = ["--check", "-j", "2", *selectors, *FILES]
    first = subprocess.run([sys.executable, "-m", "upgrade_tool", *args], capture_output=True, text=True, timeout=120)
    assert first.returncode in (1, 2) and "Traceback" not in first.stderr, first.stderr
    second = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    untimed = re.compile(r"\(\d+\.\d+ s\)")
    assert untimed.sub("", second.stderr) == untimed.sub("", first.stderr)
    assert second.stdout == "[]\n"
