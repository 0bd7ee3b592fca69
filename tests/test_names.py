"""File names as they come: too long for the OS, not UTF-8, spelt in different ways.

A path longer than PATH_MAX, or a name longer than NAME_MAX, is a one-line
error counted as failed (exit 2), and the batch goes on. A name that is not
UTF-8 is reported without loss: as `\\xNN` in text lines and annotations, as a
`\\udcNN` escape in JSON (which gives the bytes back through os.fsencode), as
its own bytes in a diff header. A path is spelt in every message as it was
given on the command line, joined with what the walk found.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from upgrade_tool import upgrade_text


def bn_layer(name: str) -> str:
    blocks = "  param { lr_mult: 0 }\n" * 3
    return f'layer {{\n  name: "{name}"\n  type: "BatchNorm"\n  bottom: "x"\n  top: "x"\n{blocks}}}\n'


LEGACY = 'name: "net"\n' + bn_layer("bn1")
UPGRADED = upgrade_text(LEGACY).text
BAD = 'name: "net"\nlayer {\n  name: unquoted\n}\n'
UPGRADED_LINE = "upgraded (BatchNorm: removed 3 param blocks in 1 layer)"
PATH_MAX = os.pathconf("/", "PC_PATH_MAX") if hasattr(os, "pathconf") else 4096
LONG_PART = "d" * 250


def run(*args: str, cwd: Path, **options: Any) -> subprocess.CompletedProcess[bytes]:
    completed = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", *args], cwd=cwd, capture_output=True, timeout=120, **options
    )
    assert b"Traceback" not in completed.stderr, completed.stderr
    return completed


def lines(data: bytes) -> list[str]:
    return data.decode("utf-8").splitlines()  # strict: every message is valid UTF-8


def write(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


# -- too long (item 9) ---------------------------------------------------------------------------


def deep_directory(root: Path, levels: int) -> tuple[str, int]:
    """`levels` directories of 250-byte names below root; their relative path and an open descriptor."""
    fd = os.open(root, os.O_RDONLY)
    for _ in range(levels):
        os.mkdir(LONG_PART, dir_fd=fd)
        inner = os.open(LONG_PART, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    return os.path.join(*[LONG_PART] * levels), fd


def write_at(fd: int, name: str, content: str) -> None:
    handle = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(handle, content.encode())
    os.close(handle)


@pytest.mark.skipif(sys.platform != "linux", reason="PATH_MAX as Linux has it")
def test_paths_longer_than_path_max_in_a_tree_are_one_line_each_and_the_batch_goes_on(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write(tree / "a.prototxt", LEGACY)
    levels = (PATH_MAX - len("tree/")) // (len(LONG_PART) + 1)  # the deepest directory whose path still fits
    relative, fd = deep_directory(tree, levels)
    try:
        write_at(fd, "n" * 150 + ".prototxt", LEGACY)  # the directory fits; the file's path does not
        os.mkdir(LONG_PART, dir_fd=fd)  # nor this directory's
        inner = os.open(LONG_PART, os.O_RDONLY, dir_fd=fd)
        write_at(inner, "x.prototxt", LEGACY)
        os.close(inner)
    finally:
        os.close(fd)
    completed = run("-j", "1", "tree", cwd=tmp_path)
    assert completed.returncode == 2
    deep = f"tree/{relative}"
    assert lines(completed.stderr)[:3] == [
        f"tree/a.prototxt: {UPGRADED_LINE}",
        f"{deep}/{LONG_PART}: IO001 cannot read directory: File name too long",
        f"{deep}/{'n' * 150}.prototxt: IO001 cannot read: File name too long",
    ]
    assert lines(completed.stderr)[3].startswith(
        "3 files scanned: 1 upgraded, 0 already up to date, 0 need a human, 2 failed"
    )
    assert (tree / "a.prototxt").read_text() == UPGRADED


def test_a_name_longer_than_name_max_on_the_command_line_is_one_line(tmp_path: Path) -> None:
    write(tmp_path / "net.prototxt", LEGACY)
    long_name = "x" * 300 + ".prototxt"
    completed = run("-j", "1", long_name, "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    assert lines(completed.stderr)[:2] == [
        f"{long_name}: IO001 cannot read: File name too long",
        f"net.prototxt: {UPGRADED_LINE}",
    ]


@pytest.mark.parametrize("length", [231, 240, 255])
def test_a_file_name_of_up_to_255_bytes_is_upgraded(tmp_path: Path, length: int) -> None:
    # The temp file beside it must fit NAME_MAX too: its name is shortened, never the target's.
    name = "a" * (length - len(".prototxt")) + ".prototxt"
    net = write(tmp_path / name, LEGACY)
    completed = run(name, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert net.read_text() == UPGRADED
    assert os.listdir(tmp_path) == [name], "no temp file left"


def test_a_long_name_of_multibyte_characters_is_upgraded(tmp_path: Path) -> None:
    name = "é" * 123 + ".prototxt"  # 255 bytes; a cut temp name must not split a character
    assert len(name.encode()) == 255
    net = write(tmp_path / name, LEGACY)
    completed = run(name, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert net.read_text() == UPGRADED
    assert os.listdir(tmp_path) == [name]


# -- not UTF-8 (item 13) ------------------------------------------------------------------------

RAW = b"n\xffet.prototxt"
NAME = os.fsdecode(RAW)  # what Python makes of it: 'n\udcffet.prototxt'
SHOWN = "n\\xffet.prototxt"  # what a person reads


@pytest.fixture
def odd_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    write(tree / NAME, LEGACY)
    write(tree / os.fsdecode(b"bad\xfe.prototxt"), BAD)
    return tree


def test_a_name_that_is_not_utf8_is_escaped_readably_in_messages(tmp_path: Path, odd_tree: Path) -> None:
    completed = run("-j", "1", "tree", cwd=tmp_path)
    assert completed.returncode == 2
    assert lines(completed.stderr)[:2] == [
        "tree/bad\\xfe.prototxt:3:9: E003 'name' takes a quoted string",
        f"tree/{SHOWN}: {UPGRADED_LINE}",
    ]
    assert (odd_tree / NAME).read_text() == UPGRADED


@pytest.mark.parametrize("where", ["--report", "--output-format"], ids=["--report FILE", "--output-format json"])
def test_a_name_that_is_not_utf8_survives_the_json_report(tmp_path: Path, odd_tree: Path, where: str) -> None:
    options = ("--report", "r.json") if where == "--report" else ("--output-format", "json")
    completed = run("-j", "1", *options, "tree", cwd=tmp_path)
    assert completed.returncode == 2
    text = (tmp_path / "r.json").read_bytes() if where == "--report" else completed.stdout
    report = json.loads(text.decode("utf-8"))  # valid UTF-8, valid JSON
    assert b"\\udcff" in text
    paths = [os.fsencode(record["path"]) for record in report["files"]]
    assert paths == [b"tree/bad\xfe.prototxt", b"tree/" + RAW], "the names come back byte for byte"
    assert [os.fsencode(path) for path in report["files"][1]["written"]] == [b"tree/" + RAW]
    error = report["files"][0]["error"]
    assert (error["code"], error["line"], error["column"]) == ("E003", 3, 9)


def test_a_name_that_is_not_utf8_in_github_annotations_and_diffs(tmp_path: Path, odd_tree: Path) -> None:
    github = run("--check", "--output-format", "github", f"tree/{NAME}", cwd=tmp_path)
    assert github.returncode == 1
    assert lines(github.stdout)[0].startswith(f"::error file=tree/{SHOWN},line=7,col=1,title=UP005::")
    diff = run("--diff", f"tree/{NAME}", cwd=tmp_path)
    assert diff.returncode == 1
    assert diff.stdout.splitlines()[:2] == [b"--- tree/" + RAW + b"\t(original)", b"+++ tree/" + RAW + b"\t(upgraded)"]


def test_a_name_that_is_not_utf8_in_out_dir(tmp_path: Path, odd_tree: Path) -> None:
    completed = run("-q", "--out-dir", "OUT", "--copy-unchanged", "tree", cwd=tmp_path)
    assert completed.returncode == 2
    assert sorted(os.listdir(os.fsencode(tmp_path / "OUT"))) == [b"bad\xfe.prototxt", RAW]
    assert (tmp_path / "OUT" / NAME).read_text() == UPGRADED


# -- spelt as given (item 18) -------------------------------------------------------------------


@pytest.mark.parametrize("root", ["./tree", "tree", "tree/", "ABSOLUTE"], ids=["./tree", "tree", "tree/", "absolute"])
def test_paths_are_spelt_in_every_message_as_given(tmp_path: Path, root: str) -> None:
    given = str(tmp_path / "tree") if root == "ABSOLUTE" else root
    prefix = os.path.join(given, "")
    write(tmp_path / "tree" / "a.prototxt", LEGACY)
    write(tmp_path / "tree" / "b.prototxt", LEGACY)
    (tmp_path / "tree" / "b.prototxt.orig").mkdir()  # the backup cannot be written
    write(tmp_path / "tree" / "c.prototxt", BAD)
    completed = run("-j", "1", "--backup", ".orig", given, cwd=tmp_path)
    assert completed.returncode == 2
    assert lines(completed.stderr)[:3] == [
        f"{prefix}a.prototxt: {UPGRADED_LINE}",
        f"{prefix}b.prototxt.orig: IO002 cannot write: is a directory",
        f"{prefix}c.prototxt:3:9: E003 'name' takes a quoted string",
    ]


@pytest.mark.parametrize("out", ["./OUT", "OUT", "ABSOLUTE"], ids=["./OUT", "OUT", "absolute"])
def test_output_paths_are_spelt_as_given(tmp_path: Path, out: str) -> None:
    given = str(tmp_path / "OUT") if out == "ABSOLUTE" else out
    write(tmp_path / "tree" / "a" / "net.prototxt", LEGACY)
    write(tmp_path / "tree" / "b" / "net.prototxt", LEGACY)
    (tmp_path / "OUT").mkdir()
    (tmp_path / "OUT" / "b").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "report").mkdir()
    completed = run("-j", "1", "--out-dir", given, "--report", "./report", "./tree", cwd=tmp_path)
    assert completed.returncode == 2
    said = lines(completed.stderr)
    assert said[:2] == [
        f"./tree/a/net.prototxt: {UPGRADED_LINE}",
        f"{given}/b/net.prototxt: IO002 cannot write: {given}/b is a symbolic link "
        "(--out-dir never writes through one)",
    ]
    assert said[-1] == "./report: IO002 cannot write: is a directory"  # after the summary
