"""`bn-upgrade` over whole trees: which files it takes, where it writes, what it tells the user.

Every test runs the real command in a subprocess on a small tree built in
`tmp_path` (legacy, up-to-date, broken, fork-dialect, needs-a-human and shared-BN
nets, a solver, a binary model, a PyTorch `.pt`, a hidden directory and symlinks
into and out of the tree); one test runs the whole shared corpus.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, REPO, validate_report
from google.protobuf import text_format

from upgrade_tool import caffe_pb2


def bn_layer(name: str, *params: str) -> str:
    blocks = "".join(f"  param {{ {p} }}\n" for p in params)
    return f'layer {{\n  name: "{name}"\n  type: "BatchNorm"\n  bottom: "x"\n  top: "x"\n{blocks}}}\n'


ZERO3 = ("lr_mult: 0",) * 3
LEGACY = 'name: "net"\n' + bn_layer("bn1", *ZERO3)
UPGRADED = 'name: "net"\n' + bn_layer("bn1")
MODERN = '# already modern\nname: "net"\n' + bn_layer("bn1")
SHARED_BN = 'name: "net"\n' + bn_layer("bn", 'name: "m" lr_mult: 0', 'name: "v" lr_mult: 0', 'name: "f" lr_mult: 0')
HUMAN = 'name: "net"\n' + bn_layer("learn", "lr_mult: 1", "lr_mult: 1", "lr_mult: 0")
BAD = 'name: "net"\nlayer {\n  name: unquoted\n}\n'  # 3:9: 'name' takes a quoted string
FORK = 'name: "net"\nlayer {\n  name: "p"\n  type: "Permute"\n  permute_param { order: 0 }\n}\n'
SOLVER = 'net: "train.prototxt"\nbase_lr: 0.01\nsolver_type: ADAM\n'
SOLVER_UPGRADED = 'net: "train.prototxt"\nbase_lr: 0.01\ntype: "Adam"\n'
TORCH_PT = b"PK\x03\x04" + bytes(60)  # a PyTorch checkpoint is a zip
OLD_MTIME = 1_500_000_000_000_000_000

# What a walk of the tree takes by default, in report order.
WALKED = [
    "a/legacy.prototxt",
    "a/modern.prototxt",
    "a/shared.prototxt",
    "b/bad.prototxt",
    "b/fork.prototxt",
    "b/human.prototxt",
    "c/text.pt",
    "model.caffemodel",
    "solver.prototxt",
]
WOULD_UPGRADE = ["a/legacy.prototxt", "a/shared.prototxt", "c/text.pt", "model.caffemodel", "solver.prototxt"]


def legacy_caffemodel() -> bytes:
    net = caffe_pb2.NetParameter()
    text_format.Parse(LEGACY, net)
    return net.SerializeToString()


def make_tree(base: Path) -> Path:
    """The test tree under base/tree, plus base/outside that links point into."""
    tree, outside = base / "tree", base / "outside"
    files: dict[str, str | bytes] = {
        "a/legacy.prototxt": LEGACY,
        "a/modern.prototxt": MODERN,
        "a/shared.prototxt": SHARED_BN,
        "b/bad.prototxt": BAD,
        "b/fork.prototxt": FORK,
        "b/human.prototxt": HUMAN,
        "c/text.pt": LEGACY,
        "c/torch.pt": TORCH_PT,
        "model.caffemodel": legacy_caffemodel(),
        "solver.prototxt": SOLVER,
        "notes.txt": "not a net\n",
        ".git/legacy.prototxt": LEGACY,
    }
    for relative, content in files.items():
        write(tree / relative, content)
    write(outside / "ext.prototxt", LEGACY)
    write(outside / "dir" / "deep.prototxt", LEGACY)
    (tree / "link_out.prototxt").symlink_to(outside / "ext.prototxt")
    (tree / "linked_dir").symlink_to(outside / "dir", target_is_directory=True)
    (tree / "link_in.prototxt").symlink_to(Path("a") / "legacy.prototxt")
    return tree


def write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    os.utime(path, ns=(OLD_MTIME, OLD_MTIME))  # a fixed past time, so an untouched file is provable


def run(*args: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed


def state(root: Path) -> dict[str, tuple[str, bytes | str, int]]:
    """Every entry below root, links not followed: (kind, bytes or link target, mtime)."""
    entries: dict[str, tuple[str, bytes | str, int]] = {}
    for directory, subdirs, files in os.walk(root, followlinks=False):
        for name in subdirs + files:
            path = Path(directory) / name
            relative = path.relative_to(root).as_posix()
            info = path.lstat()
            if path.is_symlink():
                entries[relative] = ("link", os.readlink(path), info.st_mtime_ns)
            elif path.is_file():
                entries[relative] = ("file", path.read_bytes(), info.st_mtime_ns)
    return entries


def contents(root: Path) -> dict[str, bytes]:
    return {relative: data for relative, (kind, data, _) in state(root).items() if kind == "file"}  # type: ignore[misc]


def read_report(path: Path) -> dict[str, Any]:
    """A report file, validated against the schema the repository ships."""
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    validate_report(report)
    return report


def records(report: dict[str, Any], root: str = "tree") -> dict[str, dict[str, Any]]:
    """The report's per-file records by path relative to `root`, in report order."""
    return {os.path.relpath(record["path"], root): record for record in report["files"]}


def without_timing(report: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key != "seconds"}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path)


# --- which files a walk takes -------------------------------------------------------------


def test_a_directory_is_walked_for_prototxt_text_pt_and_caffemodel(tree: Path) -> None:
    result = run("--check", "--report", "report.json", "tree", cwd=tree.parent)
    assert result.returncode == 2  # the broken file is the worst outcome
    assert list(records(read_report(tree.parent / "report.json"))) == WALKED


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(("--include", "*.pt"), ["c/text.pt"], id="include a pattern: a binary .pt is still skipped"),
        pytest.param(("--include", "solver*"), ["solver.prototxt"], id="include a name prefix"),
        pytest.param(("--include", "a/*"), WALKED[:3], id="include a relative path pattern"),
        pytest.param(
            ("--include", "*.caffemodel", "--include", "b/f*"),
            ["b/fork.prototxt", "model.caffemodel"],
            id="include twice",
        ),
        pytest.param(("--exclude", "b"), [p for p in WALKED if not p.startswith("b/")], id="exclude a directory name"),
        pytest.param(
            ("--exclude", "b/"),
            [p for p in WALKED if not p.startswith("b/")],
            id="exclude a directory written with a slash",
        ),
        pytest.param(
            ("--exclude", "b/*"), [p for p in WALKED if not p.startswith("b/")], id="exclude a directory glob"
        ),
        pytest.param(
            ("--exclude", "human.prototxt"), [p for p in WALKED if p != "b/human.prototxt"], id="exclude a file name"
        ),
        pytest.param(
            ("--exclude", "*.caffemodel", "--exclude", "*.pt"),
            [p for p in WALKED if not p.endswith((".caffemodel", ".pt"))],
            id="exclude two patterns",
        ),
        pytest.param(
            ("--include", "*.prototxt", "--exclude", "a"),
            ["b/bad.prototxt", "b/fork.prototxt", "b/human.prototxt", "solver.prototxt"],
            id="include and exclude together",
        ),
        pytest.param(
            ("--include", "*"),
            WALKED[:7] + ["model.caffemodel", "notes.txt", "solver.prototxt"],
            id="include everything: still no hidden directory, link out of the tree, or binary .pt",
        ),
    ],
)
def test_include_and_exclude_select_files(tree: Path, options: tuple[str, ...], expected: list[str]) -> None:
    run("--check", "--report", "report.json", *options, "tree", cwd=tree.parent)
    assert list(records(read_report(tree.parent / "report.json"))) == expected


def test_a_file_named_explicitly_is_processed_whatever_the_patterns(tree: Path) -> None:
    result = run("--check", "--exclude", "*.txt", "tree/notes.txt", cwd=tree.parent)
    assert result.returncode == 2  # it was read (and is not a net)
    assert result.stderr.startswith("tree/notes.txt:1:")


def test_hidden_directories_are_skipped_and_left_alone(tree: Path) -> None:
    before = state(tree / ".git")
    result = run("--report", "report.json", "tree", cwd=tree.parent)
    assert ".git" not in result.stderr
    assert not any(".git" in path for path in records(read_report(tree.parent / "report.json")))
    assert state(tree / ".git") == before


def test_links_out_of_the_tree_are_not_followed_or_changed(tree: Path) -> None:
    outside = tree.parent / "outside"
    before = state(outside)
    result = run("--report", "report.json", "tree", cwd=tree.parent)
    assert "link_out" not in result.stderr and "linked_dir" not in result.stderr
    paths = records(read_report(tree.parent / "report.json"))
    assert not any(path.startswith("link") for path in paths)
    assert state(outside) == before
    assert (tree / "link_out.prototxt").is_symlink() and (tree / "linked_dir").is_symlink()


@pytest.mark.parametrize(
    "link_name", ["0_first.prototxt", "z_last.prototxt"], ids=["link sorts first", "link sorts last"]
)
def test_a_link_inside_the_tree_is_processed_once(tmp_path: Path, link_name: str) -> None:
    tree = tmp_path / "tree"
    write(tree / "real" / "net.prototxt", LEGACY)
    (tree / link_name).symlink_to(Path("real") / "net.prototxt")
    result = run("--report", "report.json", "tree", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(read_report(tmp_path / "report.json")["files"]) == 1
    assert result.stderr.count(": upgraded (") == 1
    assert (tree / "real" / "net.prototxt").read_text() == UPGRADED
    assert (tree / link_name).is_symlink(), "the link must be written through, not replaced by a file"


@pytest.mark.parametrize(
    "paths",
    [
        ("tree", "tree/sub"),
        ("tree/sub", "tree"),
        ("tree", "tree/"),
        ("tree", "tree/sub/net.prototxt"),
        ("tree/sub/net.prototxt", "tree"),
        ("tree", "through_link"),
        ("through_link/sub", "tree/sub/../sub"),
    ],
    ids=lambda paths: " + ".join(paths),
)
def test_a_file_reached_by_two_paths_is_processed_once(tmp_path: Path, paths: tuple[str, ...]) -> None:
    tree = tmp_path / "tree"
    write(tree / "sub" / "net.prototxt", LEGACY)
    write(tree / "top.prototxt", LEGACY)
    (tmp_path / "through_link").symlink_to("tree")
    result = run("--check", "--report", "report.json", *paths, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    names = [os.path.normpath(record["path"]) for record in read_report(tmp_path / "report.json")["files"]]
    assert len(names) == len(set(names))
    reached = {os.path.realpath(tmp_path / name) for name in names}
    assert len(reached) == len(names), names
    assert str((tree / "sub" / "net.prototxt").resolve()) in reached


# --- --out-dir and --copy-unchanged -------------------------------------------------------


def upgraded_in_place(tree: Path, copy: Path) -> dict[str, bytes]:
    """What an in-place run makes of the tree's files (on a copy)."""
    shutil.copytree(tree, copy, symlinks=True)
    run(str(copy), cwd=copy.parent)
    return contents(copy)


def test_out_dir_mirrors_the_tree_and_leaves_the_source_untouched(tree: Path) -> None:
    before = state(tree)
    result = run("--out-dir", "out", "tree", cwd=tree.parent)
    assert result.returncode == 2  # the broken file; the rest went on
    assert state(tree) == before, "the source tree must be left byte for byte and mtime for mtime"
    expected = upgraded_in_place(tree, tree.parent / "copy")
    written = contents(tree.parent / "out")
    assert sorted(written) == WOULD_UPGRADE
    assert written == {relative: expected[relative] for relative in WOULD_UPGRADE}
    assert written["a/legacy.prototxt"] == UPGRADED.encode()
    assert written["solver.prototxt"] == SOLVER_UPGRADED.encode()


def test_copy_unchanged_copies_the_rest_of_the_tree(tree: Path) -> None:
    before = state(tree)
    run("--out-dir", "out", "--copy-unchanged", "tree", cwd=tree.parent)
    assert state(tree) == before
    out = contents(tree.parent / "out")
    unchanged = [
        "a/modern.prototxt",
        "b/bad.prototxt",
        "b/fork.prototxt",
        "b/human.prototxt",
        "c/torch.pt",
        "notes.txt",
    ]
    # The file that failed is copied as it is. Not copied: hidden directories, and links (out of
    # the tree, or to a file already mirrored under its real path).
    assert sorted(out) == sorted(WOULD_UPGRADE + unchanged)
    for relative in unchanged:
        assert out[relative] == (tree / relative).read_bytes(), relative


def test_out_dir_takes_an_explicit_file_by_name(tmp_path: Path) -> None:
    write(tmp_path / "deep" / "net.prototxt", LEGACY)
    assert run("--out-dir", "out", "deep/net.prototxt", cwd=tmp_path).returncode == 0
    assert (tmp_path / "out" / "net.prototxt").read_text() == UPGRADED


# --- parallel runs ------------------------------------------------------------------------


def test_one_job_and_two_jobs_give_identical_reports_and_trees(tree: Path) -> None:
    base = tree.parent
    outcomes = []
    for jobs in ("1", "2"):
        result = run(
            "-j", jobs, "--out-dir", f"out{jobs}", "--copy-unchanged", "--report", f"r{jobs}.json", "tree", cwd=base
        )
        report = without_timing(read_report(base / f"r{jobs}.json"))
        for record in report["files"]:
            record["written"] = [os.path.relpath(path, f"out{jobs}") for path in record["written"]]
        outcomes.append(
            (
                result.returncode,
                re.sub(r"\(\d+\.\d s\)", "", result.stderr).replace(f" out{jobs}/", " out/"),
                report,
                contents(base / f"out{jobs}"),
            )
        )
    assert outcomes[0] == outcomes[1]


def test_one_job_and_two_jobs_agree_on_part_of_the_corpus(tmp_path: Path) -> None:
    reports = []
    for jobs in ("1", "2"):
        result = run(
            "--check",
            "-j",
            jobs,
            "--report",
            f"r{jobs}.json",
            CORPUS / "rbgirshick__py-faster-rcnn",
            CORPUS / "ducha-aiki__caffenet-benchmark",
            cwd=tmp_path,
        )
        reports.append((result.returncode, without_timing(read_report(tmp_path / f"r{jobs}.json"))))
    assert reports[0] == reports[1]
    assert reports[0][1]["summary"]["files"] == 42


# --- keep going, exit codes, the summary --------------------------------------------------


@pytest.mark.parametrize(
    ("options", "code"),
    [
        pytest.param((), 2, id="a broken file: 2, the worst"),
        pytest.param(("--exclude", "bad.prototxt"), 1, id="a finding that needs a human: 1"),
        pytest.param(("--exclude", "b"), 0, id="only upgrades: 0"),
        pytest.param(("--check", "--exclude", "b"), 1, id="check with files to upgrade: 1"),
        pytest.param(("--check", "--include", "modern*"), 0, id="check with nothing to upgrade: 0"),
    ],
)
def test_the_exit_code_is_the_worst_seen(tree: Path, options: tuple[str, ...], code: int) -> None:
    assert run(*options, "tree", cwd=tree.parent).returncode == code


def test_a_bad_file_does_not_stop_the_batch(tree: Path) -> None:
    result = run("-j", "1", "tree", cwd=tree.parent)
    lines = result.stderr.splitlines()
    assert "tree/b/bad.prototxt:3:9: E003 'name' takes a quoted string" in lines
    assert lines.index("tree/b/bad.prototxt:3:9: E003 'name' takes a quoted string") < next(
        i for i, line in enumerate(lines) if line.startswith("tree/solver.prototxt: upgraded")
    )
    assert (tree / "solver.prototxt").read_text() == SOLVER_UPGRADED
    assert (tree / "b" / "bad.prototxt").read_text() == BAD


SUMMARY = re.compile(
    r"^(?P<files>\d+) files scanned: (?P<upgraded>\d+) (?P<verb>upgraded|would be upgraded), "
    r"(?P<current>\d+) already up to date, (?P<human>\d+) needs? a human, (?P<failed>\d+) failed "
    r"\((?P<seconds>\d+\.\d) s\)\.$"
)


@pytest.mark.parametrize(
    ("mode", "verb"), [((), "upgraded"), (("--check",), "would be upgraded")], ids=["in place", "check"]
)
def test_the_closing_summary_counts_outcomes_and_passes(tree: Path, mode: tuple[str, ...], verb: str) -> None:
    stderr = run(*mode, "tree", cwd=tree.parent).stderr.splitlines()
    at = next(i for i, line in enumerate(stderr) if SUMMARY.match(line))
    found = SUMMARY.match(stderr[at])
    assert found is not None
    assert found["verb"] == verb
    counts = {key: int(found[key]) for key in ("files", "upgraded", "current", "human", "failed")}
    assert counts == {"files": 9, "upgraded": 5, "current": 2, "human": 1, "failed": 1}  # each file once
    assert stderr[at + 1 :] == [
        "  BatchNorm: 4 files (param blocks removed: 9, param blocks zeroed: 3, layers: 4)",
        "  solver type: 1 file (solvers: 1)",
    ]


def test_no_summary_for_one_file_or_when_quiet(tree: Path) -> None:
    assert not any(SUMMARY.match(line) for line in run("--check", "tree/a/legacy.prototxt", cwd=tree.parent).stderr)
    quiet = run("-q", "--check", "tree", cwd=tree.parent).stderr.splitlines()
    assert not any(SUMMARY.match(line) or line.startswith("  ") for line in quiet)
    assert quiet == [
        "tree/b/bad.prototxt:3:9: E003 'name' takes a quoted string",
        "tree/b/human.prototxt:2:1: BN001 BatchNorm 'learn' has a param block with a nonzero or missing lr_mult "
        "(missing means 1); left unchanged (--unsafe-fixes upgrades it anyway)",
    ]


# --- the JSON report and the output formats -----------------------------------------------

RECORD_KEYS = {
    "path",
    "status",
    "kind",
    "dialect",
    "dialect_reason",
    "target",
    "roles",
    "changed",
    "changes",
    "findings",
    "unknown_fields",
    "notices",
    "error",
    "bytes_before",
    "bytes_after",
    "written",
    "stale_temp_files",
}


def test_report_file_has_one_record_per_file(tree: Path) -> None:
    sizes = {relative: (tree / relative).stat().st_size for relative in WALKED}
    result = run("--report", "report.json", "tree", cwd=tree.parent)
    report = read_report(tree.parent / "report.json")  # valid against upgrade_tool/report-schema.json
    assert report["schema_version"] == 2
    assert report["tool"] == "bn-upgrade"
    assert report["mode"] == "in_place"
    assert report["exit_code"] == result.returncode == 2
    assert isinstance(report["seconds"], float)
    assert report["summary"] == {  # each file in exactly one status
        "files": 9,
        "up_to_date": 2,
        "upgraded": 5,
        "needs_human": 1,
        "copied_unchanged": 0,
        "failed": 1,
        "internal_error": 0,
        "ignored": 0,
        "passes": [
            {
                "code": "UP005",
                "name": "BatchNorm",
                "files": 4,
                "counts": {"param blocks removed": 9, "param blocks zeroed": 3, "layers": 4},
            },
            {"code": "UP006", "name": "solver type", "files": 1, "counts": {"solvers": 1}},
        ],
    }
    by_path = records(report)
    for relative, record in by_path.items():
        assert set(record) == RECORD_KEYS, relative
        assert record["path"] == f"tree/{relative}"
        assert record["bytes_before"] == sizes[relative], relative
        if record["status"] != "failed":
            assert record["bytes_after"] == (tree / relative).stat().st_size, relative

    legacy = by_path["a/legacy.prototxt"]
    assert legacy["status"] == "upgraded" and legacy["kind"] == "net" and legacy["error"] is None
    assert (legacy["dialect"], legacy["target"], legacy["changed"]) == ("bvlc", "bvlc", True)
    assert legacy["changes"] == [
        {
            "code": "UP005",
            "name": "BatchNorm",
            "summary": "removed 3 param blocks in 1 layer",
            "counts": {"param blocks removed": 3, "param blocks zeroed": 0, "layers": 1},
            "line": 7,
            "column": 1,
        }
    ]
    assert legacy["written"] == ["tree/a/legacy.prototxt"]
    assert legacy["bytes_after"] == len(UPGRADED) < legacy["bytes_before"]

    shared = by_path["a/shared.prototxt"]
    assert [(f["code"], f["line"], f["column"], f["needs_human"], f["level"]) for f in shared["findings"]] == [
        ("BN003", 2, 1, False, "warning")
    ]
    human = by_path["b/human.prototxt"]
    assert human["status"] == "needs_human" and human["written"] == [] and not human["changed"]
    [finding] = human["findings"]
    assert finding["code"] == "BN001" and finding["needs_human"] is True and finding["level"] == "error"
    assert (finding["line"], finding["column"]) == (2, 1)
    assert "lr_mult" in finding["message"]

    bad = by_path["b/bad.prototxt"]
    assert bad["status"] == "failed" and bad["kind"] is None and bad["changes"] == [] and bad["written"] == []
    assert bad["error"] == {
        "code": "E003",
        "message": "'name' takes a quoted string",
        "line": 3,
        "column": 9,
        "path": None,
    }

    fork = by_path["b/fork.prototxt"]
    assert fork["unknown_fields"] == [] and fork["dialect"] == "ssd"  # read with SSD's schema, which knows it
    assert by_path["solver.prototxt"]["kind"] == "solver"
    assert by_path["model.caffemodel"]["status"] == "upgraded"
    assert by_path["model.caffemodel"]["bytes_after"] < by_path["model.caffemodel"]["bytes_before"]


def test_output_format_json_prints_the_report_on_stdout(tree: Path) -> None:
    result = run("--check", "--output-format", "json", "--report", "report.json", "tree", cwd=tree.parent)
    printed = json.loads(result.stdout)
    assert without_timing(printed) == without_timing(read_report(tree.parent / "report.json"))
    assert printed["mode"] == "check" and printed["exit_code"] == result.returncode == 2
    assert [os.path.relpath(r["path"], "tree") for r in printed["files"]] == WALKED
    assert not any(SUMMARY.match(line) for line in result.stderr.splitlines())


BN001_MESSAGE = (
    "BatchNorm 'learn' has a param block with a nonzero or missing lr_mult (missing means 1); left unchanged"
)
ANNOTATIONS = [  # each at the first line an upgrade would change, titled with its code
    "::error file=tree/a/legacy.prototxt,line=7,col=1,title=UP005::"
    "needs upgrading: BatchNorm: removed 3 param blocks in 1 layer (run bn-upgrade on this file)",
    "::warning file=tree/a/shared.prototxt,line=2,col=1,title=BN003::"
    "BatchNorm 'bn' shares its statistics by name; kept the blocks and set their rates to 0",
    "::error file=tree/a/shared.prototxt,line=7,col=31,title=UP005::"
    "needs upgrading: BatchNorm: zeroed 3 param blocks in 1 layer (run bn-upgrade on this file)",
    "::error file=tree/b/bad.prototxt,line=3,col=9,title=E003::'name' takes a quoted string",
    f"::error file=tree/b/human.prototxt,line=2,col=1,title=BN001::{BN001_MESSAGE}",
    "::error file=tree/c/text.pt,line=7,col=1,title=UP005::"
    "needs upgrading: BatchNorm: removed 3 param blocks in 1 layer (run bn-upgrade on this file)",
    "::error file=tree/model.caffemodel,title=UP005::"
    "needs upgrading: BatchNorm: removed 3 param blocks in 1 layer (run bn-upgrade on this file)",
    "::error file=tree/solver.prototxt,line=3,col=1,title=UP006::"
    "needs upgrading: solver type: solver_type ADAM became type 'Adam' (run bn-upgrade on this file)",
]


def test_output_format_github_annotates_findings_errors_and_files_to_upgrade(tree: Path) -> None:
    result = run("--check", "--output-format", "github", "tree", cwd=tree.parent)
    assert result.returncode == 2
    assert result.stdout.splitlines() == ANNOTATIONS
    assert not any(SUMMARY.match(line) for line in result.stderr.splitlines())


def test_output_format_github_in_place_annotates_only_findings_and_errors(tree: Path) -> None:
    result = run("--output-format", "github", "tree", cwd=tree.parent)
    assert result.stdout.splitlines() == [line for line in ANNOTATIONS if "title=UP00" not in line]


def test_output_format_github_escapes_commas_and_colons_in_paths(tmp_path: Path) -> None:
    write(tmp_path / "a,b:c.prototxt", HUMAN)
    result = run("--output-format", "github", "a,b:c.prototxt", cwd=tmp_path)
    assert result.stdout == f"::error file=a%2Cb%3Ac.prototxt,line=2,col=1,title=BN001::{BN001_MESSAGE}\n"


# --- the progress line --------------------------------------------------------------------

PROGRESS = re.compile(r"\r\[ *\d+%\] (\d+)/(\d+) files, \d+/s, ETA \d+ (?:s|min)")


def run_on_a_terminal(*args: str, cwd: Path) -> tuple[int, str]:
    """Run the command with stderr on a pseudo-terminal (stdout a pipe); return (code, stderr)."""
    import pty  # POSIX only; imported here so collection works anywhere

    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "100"}
    with subprocess.Popen(
        [sys.executable, "-m", "upgrade_tool", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    ) as process:
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        process.communicate(timeout=120)
    return process.returncode, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_progress_line_is_drawn_on_a_terminal(tree: Path, jobs: str) -> None:
    code, stderr = run_on_a_terminal("--check", "-j", jobs, "tree", cwd=tree.parent)
    assert code == 2
    seen = [(int(done), int(total)) for done, total in PROGRESS.findall(stderr)]
    assert seen == [(n, 9) for n in range(1, 10)]
    assert "9 files scanned" in stderr  # the summary follows, on a clean line
    assert re.search(r"\r {20,}\r", stderr), "the progress line is cleared at the end"


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
@pytest.mark.parametrize("option", [("-q",), ("--output-format", "json"), ("--output-format", "github")])
def test_no_progress_line_on_a_terminal_when_quiet_or_machine_readable(tree: Path, option: tuple[str, ...]) -> None:
    code, stderr = run_on_a_terminal("--check", *option, "tree", cwd=tree.parent)
    assert code == 2
    assert not PROGRESS.search(stderr) and "\r[" not in stderr.replace("\r\n", "\n")


def test_no_progress_line_when_stderr_is_not_a_terminal(tree: Path) -> None:
    stderr = run("--check", "-j", "2", "tree", cwd=tree.parent).stderr
    assert "\r" not in stderr and "files/s" not in stderr


# --- pre-commit ---------------------------------------------------------------------------


def parse_hooks(text: str) -> list[dict[str, Any]]:
    """The YAML subset .pre-commit-hooks.yaml uses: a list of flat mappings; flow lists; quoted scalars."""

    def scalar(value: str) -> Any:
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            return [scalar(item) for item in value[1:-1].split(",") if item.strip()]
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            return value[1:-1]
        return value

    hooks: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("- "):
            hooks.append({})
            line = "  " + line[2:]
        key, colon, value = line.strip().partition(":")
        assert line.startswith("  ") and colon and hooks and re.fullmatch(r"[a-z_]+", key), f"line {number}: {line!r}"
        assert key not in hooks[-1], f"line {number}: {key} given twice"
        hooks[-1][key] = scalar(value)
    return hooks


def hooks() -> dict[str, dict[str, Any]]:
    return {hook["id"]: hook for hook in parse_hooks((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}


def test_pre_commit_hooks_file_declares_the_hooks() -> None:
    declared = hooks()
    assert set(declared) == {"bn-upgrade", "bn-upgrade-check"}
    for hook in declared.values():
        assert {"id", "name", "entry", "language", "files"} <= set(hook)
        assert hook["language"] == "python"
        assert shlex.split(hook["entry"])[0] == "bn-upgrade"
        files = re.compile(hook["files"])
        assert files.search("models/net.prototxt") and files.search("deploy.pt")
        assert not files.search("weights.caffemodel") and not files.search("net.prototxt.orig")
    assert "--check" in hooks()["bn-upgrade-check"]["entry"].split()


def hook_command(hook: dict[str, Any]) -> list[str]:
    """The hook's command as pre-commit runs it (entry, then args), with the installed script."""
    entry = shlex.split(hook["entry"])
    script = shutil.which(entry[0], path=os.path.dirname(sys.executable)) or shutil.which(entry[0])
    if script is None:
        pytest.skip("the bn-upgrade command is not installed (pip install .)")
    return [script, *entry[1:], *hook.get("args", [])]


@pytest.mark.parametrize(
    ("hook_id", "expected_code", "legacy_after"),
    [
        pytest.param("bn-upgrade", 0, UPGRADED, id="fix hook: upgrades the file (pre-commit fails on the change)"),
        pytest.param("bn-upgrade-check", 1, LEGACY, id="check hook: exit 1, changes nothing"),
    ],
)
def test_pre_commit_hook_entry_runs(tmp_path: Path, hook_id: str, expected_code: int, legacy_after: str) -> None:
    write(tmp_path / "legacy.prototxt", LEGACY)
    write(tmp_path / "modern.prototxt", MODERN)
    command = hook_command(hooks()[hook_id])
    result = subprocess.run(
        [*command, "legacy.prototxt", "modern.prototxt"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == expected_code, result.stderr
    assert (tmp_path / "legacy.prototxt").read_text() == legacy_after
    assert (tmp_path / "modern.prototxt").stat().st_mtime_ns == OLD_MTIME
    clean = subprocess.run([*command, "modern.prototxt"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert clean.returncode == 0 and (tmp_path / "modern.prototxt").stat().st_mtime_ns == OLD_MTIME


# --- the shared corpus --------------------------------------------------------------------

needs_corpus: Callable[[Any], Any] = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the shared corpus is not at {CORPUS} (../shared next to the repository)"
)


@pytest.mark.slow
@needs_corpus
def test_the_corpus_in_place_then_check_finds_nothing_left(tmp_path: Path) -> None:
    """A whole model zoo in one command: upgrade a copy in place, then --check it."""
    copy = tmp_path / "corpus"
    shutil.copytree(CORPUS, copy)
    before = state(copy)
    first = run("-j", "2", "--report", "first.json", "corpus", cwd=tmp_path, timeout=300)
    assert first.returncode == 2  # the corpus holds files Caffe cannot read either
    report = records(read_report(tmp_path / "first.json"), "corpus")
    walked = sorted(p for p in before if p.endswith((".prototxt", ".pt")))
    assert list(report) == walked
    [found] = [m for m in map(SUMMARY.match, first.stderr.splitlines()) if m]
    assert int(found["files"]) == len(walked)
    assert int(found["upgraded"]) == sum(r["status"] == "upgraded" for r in report.values())

    after = state(copy)
    for relative, record in report.items():
        if record["changed"] and record["error"] is None:
            assert after[relative][1] != before[relative][1], relative
            assert record["bytes_after"] == len(after[relative][1]), relative
        else:  # up to date, failed: the same bytes and mtime
            assert after[relative] == before[relative], relative
    assert sum(r["changed"] and r["error"] is None for r in report.values()) > 200

    second = run("--check", "-j", "2", "--report", "second.json", "corpus", cwd=tmp_path, timeout=300)
    again = records(read_report(tmp_path / "second.json"), "corpus")
    assert [r["status"] for r in again.values()].count("upgraded") == 0, "a second run must find nothing to upgrade"
    assert [p for p, r in again.items() if r["status"] == "failed"] == [
        p for p, r in report.items() if r["status"] == "failed"
    ]
    assert second.returncode == 2
    assert state(copy) == after
