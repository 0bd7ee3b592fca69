"""`--out-dir OUT`: every output lands in OUT, once, and never on an input.

Two inputs that would map to one output are an error before anything is
written; an OUT inside an input tree is not walked; a link already inside OUT
(to a file or a directory) is never written through, so output never leaves
OUT; `--copy-unchanged` never follows a link out of the tree, copies a file
that failed to upgrade as it is (and says so), and reports every copy that
fails in one line.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from upgrade_tool import upgrade_text
from upgrade_tool.files import FileError, read_file


def bn_layer(name: str) -> str:
    blocks = "  param { lr_mult: 0 }\n" * 3
    return f'layer {{\n  name: "{name}"\n  type: "BatchNorm"\n  bottom: "x"\n  top: "x"\n{blocks}}}\n'


LEGACY = 'name: "net"\n' + bn_layer("bn1")
OTHER_LEGACY = "# another net\n" + LEGACY
UPGRADED = upgrade_text(LEGACY).text
BAD = 'name: "net"\nlayer {\n  name: unquoted\n}\n'
OLD_NS = 1_500_000_000_000_000_000


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    os.utime(path, ns=(OLD_NS, OLD_NS))
    return path


def run(*args: str, cwd: Path, **options: Any) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", *args], cwd=cwd, capture_output=True, text=True, timeout=120, **options
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed


def snapshot(root: Path) -> dict[str, tuple[str, bytes | str, int]]:
    """Every entry below root, links not followed: (kind, bytes or link target, mtime)."""
    entries: dict[str, tuple[str, bytes | str, int]] = {}
    for directory, subdirs, files in os.walk(root):
        for name in subdirs + files:
            path = Path(directory, name)
            if path.is_symlink():
                entries[str(path.relative_to(root))] = ("link", os.readlink(path), path.lstat().st_mtime_ns)
            elif path.is_file():
                entries[str(path.relative_to(root))] = ("file", path.read_bytes(), path.stat().st_mtime_ns)
    return entries


# -- two inputs, one output (item 2) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "args", "first", "second", "output"),
    [
        pytest.param(
            {"t1/m/net.prototxt": LEGACY, "t2/m/net.prototxt": OTHER_LEGACY},
            ("t1", "t2"),
            "t1/m/net.prototxt",
            "t2/m/net.prototxt",
            "OUT/m/net.prototxt",
            id="two trees holding the same relative path",
        ),
        pytest.param(
            {"a/net.prototxt": LEGACY, "b/net.prototxt": OTHER_LEGACY},
            ("a/net.prototxt", "b/net.prototxt"),
            "a/net.prototxt",
            "b/net.prototxt",
            "OUT/net.prototxt",
            id="two named files with one base name",
        ),
        pytest.param(
            {"t/net.prototxt": LEGACY, "u/net.prototxt": OTHER_LEGACY},
            ("t", "u/net.prototxt"),
            "t/net.prototxt",
            "u/net.prototxt",
            "OUT/net.prototxt",
            id="a tree's file and a named file",
        ),
        pytest.param(
            {"t1/notes.txt": "one\n", "t2/notes.txt": "two\n", "t1/a.prototxt": LEGACY, "t2/b.prototxt": LEGACY},
            ("--copy-unchanged", "t1", "t2"),
            "t1/notes.txt",
            "t2/notes.txt",
            "OUT/notes.txt",
            id="two files copied unchanged",
        ),
    ],
)
def test_two_inputs_mapping_to_one_output_are_an_error_before_anything_is_written(
    tmp_path: Path, make: dict[str, str], args: tuple[str, ...], first: str, second: str, output: str
) -> None:
    for relative, content in make.items():
        write(tmp_path / relative, content)
    before = snapshot(tmp_path)
    completed = run("--out-dir", "OUT", *args, cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [
        f"bn-upgrade: IO004 --out-dir: {first} and {second} would both be written to {output}; nothing was written"
    ]
    assert snapshot(tmp_path) == before, "nothing is written, not even OUT"


def test_an_out_dir_that_is_the_input_tree_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "tree" / "net.prototxt", LEGACY)
    before = snapshot(tmp_path)
    completed = run("--out-dir", "tree", "tree", cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [
        "bn-upgrade: IO004 --out-dir: the output for tree/net.prototxt would overwrite the input tree/net.prototxt; "
        "nothing was written"
    ]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("copy", [(), ("--copy-unchanged",)], ids=["upgraded files", "with --copy-unchanged"])
def test_an_out_dir_inside_the_input_tree_is_not_walked(tmp_path: Path, copy: tuple[str, ...]) -> None:
    tree = tmp_path / "tree"
    write(tree / "a" / "net.prototxt", LEGACY)
    write(tree / "notes.txt", "notes\n")
    first = run("--out-dir", "tree/out", *copy, "--report", "r1.json", "tree", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    out = snapshot(tree / "out")
    second = run("--out-dir", "tree/out", *copy, "--report", "r2.json", "tree", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    paths = [record["path"] for record in json.loads((tmp_path / "r2.json").read_text())["files"]]
    assert not any(path.startswith("tree/out/") for path in paths), paths
    assert sorted(paths) == sorted(record["path"] for record in json.loads((tmp_path / "r1.json").read_text())["files"])
    assert {k: v[:2] for k, v in snapshot(tree / "out").items()} == {k: v[:2] for k, v in out.items()}
    assert not (tree / "out" / "out").exists()
    assert (tree / "out" / "a" / "net.prototxt").read_text() == UPGRADED


# -- links already inside OUT (item 3) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("points_to", "message"),
    [
        pytest.param(
            "tree/a/net.prototxt",
            "bn-upgrade: IO004 --out-dir: the output for tree/a/net.prototxt would overwrite the input "
            "tree/a/net.prototxt; nothing was written",
            id="to the input: refused before anything is written",
        ),
        pytest.param(
            "elsewhere.prototxt",
            "OUT/a/net.prototxt: IO002 cannot write: is a symbolic link (--out-dir never writes through one)",
            id="to another file: refused when the file is written",
        ),
    ],
)
def test_a_link_to_a_file_in_out_dir_is_not_written_through(tmp_path: Path, points_to: str, message: str) -> None:
    write(tmp_path / "tree" / "a" / "net.prototxt", LEGACY)
    write(tmp_path / "elsewhere.prototxt", "someone's file\n")
    (tmp_path / "OUT" / "a").mkdir(parents=True)
    (tmp_path / "OUT" / "a" / "net.prototxt").symlink_to(tmp_path / points_to)
    before = snapshot(tmp_path)
    completed = run("--out-dir", "OUT", "tree", cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [message]
    assert snapshot(tmp_path) == before, "the input, the file and the link are as they were; no temp file is left"


@pytest.mark.parametrize(
    ("linked", "shown"),
    [
        pytest.param("a", "OUT/a", id="a linked directory just below OUT"),
        pytest.param("a/b", "OUT/a/b", id="a linked directory deeper down"),
    ],
)
def test_a_linked_directory_in_out_dir_does_not_send_output_elsewhere(tmp_path: Path, linked: str, shown: str) -> None:
    write(tmp_path / "tree" / "a" / "b" / "net.prototxt", LEGACY)
    write(tmp_path / "tree" / "a" / "b" / "notes.txt", "notes\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "OUT" / linked
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere, target_is_directory=True)
    completed = run("-j", "1", "--out-dir", "OUT", "--copy-unchanged", "tree", cwd=tmp_path)
    assert completed.returncode == 2
    message = f"IO002 cannot write: {shown} is a symbolic link (--out-dir never writes through one)"
    lines = completed.stderr.splitlines()
    assert lines[:2] == [f"OUT/a/b/net.prototxt: {message}", f"OUT/a/b/notes.txt: {message}"]
    assert lines[2].startswith("2 files scanned: 0 upgraded, 0 already up to date, 0 need a human, 2 failed, 0 other")
    assert list(elsewhere.iterdir()) == [], "nothing went through the link"
    assert link.is_symlink()


def test_out_dir_itself_may_be_a_link(tmp_path: Path) -> None:
    write(tmp_path / "tree" / "a" / "net.prototxt", LEGACY)
    (tmp_path / "real_out").mkdir()
    (tmp_path / "OUT").symlink_to("real_out", target_is_directory=True)
    completed = run("--out-dir", "OUT", "tree", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "real_out" / "a" / "net.prototxt").read_text() == UPGRADED


def test_a_regular_file_already_in_out_dir_is_replaced(tmp_path: Path) -> None:
    write(tmp_path / "tree" / "net.prototxt", LEGACY)
    write(tmp_path / "OUT" / "net.prototxt", "an older output\n")
    assert run("--out-dir", "OUT", "tree", cwd=tmp_path).returncode == 0
    assert (tmp_path / "OUT" / "net.prototxt").read_text() == UPGRADED


def test_an_output_keeps_its_inputs_mode(tmp_path: Path) -> None:
    write(tmp_path / "tree" / "private.prototxt", LEGACY).chmod(0o600)
    write(tmp_path / "tree" / "notes.txt", "notes\n").chmod(0o640)
    assert run("--out-dir", "OUT", "--copy-unchanged", "tree", cwd=tmp_path).returncode == 0
    assert (tmp_path / "OUT" / "private.prototxt").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "OUT" / "notes.txt").stat().st_mode & 0o777 == 0o640


# -- --copy-unchanged (item 4) ------------------------------------------------------------------


@pytest.fixture
def tree_with_links(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    write(tree / "net.prototxt", LEGACY)
    write(tree / "bad.prototxt", BAD)
    write(tree / "docs" / "notes.txt", "notes\n")
    write(tmp_path / "outside" / "secret.txt", "not part of the tree\n")
    (tree / "secret.txt").symlink_to(tmp_path / "outside" / "secret.txt")  # a link out of the tree
    (tree / "notes_link.txt").symlink_to(Path("docs") / "notes.txt")  # a link inside the tree
    return tree


def test_copy_unchanged_never_follows_a_link_out_of_the_tree(tmp_path: Path, tree_with_links: Path) -> None:
    completed = run("--out-dir", "OUT", "--copy-unchanged", "tree", cwd=tmp_path)
    assert completed.returncode == 2  # bad.prototxt
    out = snapshot(tmp_path / "OUT")
    assert "secret.txt" not in out
    assert not any(b"not part of the tree" in entry[1] for entry in out.values() if entry[0] == "file")
    assert out["notes_link.txt"][:2] == ("file", b"notes\n"), "a link inside the tree is copied as its file"
    assert out["docs/notes.txt"][:2] == ("file", b"notes\n")


def test_copy_unchanged_copies_a_file_that_failed_as_it_is_and_says_so(tmp_path: Path, tree_with_links: Path) -> None:
    completed = run("-j", "1", "--out-dir", "OUT", "--copy-unchanged", "--report", "r.json", "tree", cwd=tmp_path)
    assert completed.returncode == 2
    lines = completed.stderr.splitlines()
    assert lines[:2] == [
        "tree/bad.prototxt:3:9: E003 'name' takes a quoted string",
        "tree/bad.prototxt: copied unchanged to OUT/bad.prototxt",
    ]
    assert (tmp_path / "OUT" / "bad.prototxt").read_bytes() == BAD.encode()
    records = {record["path"]: record for record in json.loads((tmp_path / "r.json").read_text())["files"]}
    assert records["tree/bad.prototxt"]["status"] == "failed"
    assert records["tree/bad.prototxt"]["written"] == ["OUT/bad.prototxt"]
    assert records["tree/docs/notes.txt"]["status"] == "copied_unchanged"
    assert records["tree/docs/notes.txt"]["written"] == ["OUT/docs/notes.txt"]
    assert "tree/secret.txt" not in records


def test_copy_unchanged_says_a_dangling_link_in_one_line(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write(tree / "net.prototxt", LEGACY)
    (tree / "gone.txt").symlink_to("missing.txt")
    completed = run("-q", "--out-dir", "OUT", "--copy-unchanged", "tree", cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == ["tree/gone.txt: IO001 a dangling link"]
    assert (tmp_path / "OUT" / "net.prototxt").read_text() == UPGRADED
    assert sorted(os.listdir(tmp_path / "OUT")) == ["net.prototxt"]


def test_copy_unchanged_on_a_disk_that_refuses_the_write_is_one_line_per_file(tmp_path: Path) -> None:
    # A real refusal: RLIMIT_FSIZE makes the kernel refuse to grow a file past 4 KB.
    tree = tmp_path / "tree"
    write(tree / "big.bin", b"\x01" * 10_000)
    write(tree / "small.txt", "small\n")
    write(tree / "net.prototxt", LEGACY)

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    completed = run(
        "-q", "-j", "1", "--out-dir", "OUT", "--copy-unchanged", "tree", cwd=tmp_path, preexec_fn=limit_file_size
    )
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == ["OUT/big.bin: IO002 cannot write: File too large"]
    assert sorted(os.listdir(tmp_path / "OUT")) == ["net.prototxt", "small.txt"], "no temp file left"


def test_reading_a_copied_file_refuses_a_link_out_of_its_tree(tmp_path: Path) -> None:
    # The check behind the walk's, for a link that appears after the walk looked.
    write(tmp_path / "outside.txt", "outside\n")
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "x.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(FileError, match="^a link out of the tree; not copied$"):
        read_file(tmp_path / "tree" / "x.txt", within=str(tmp_path / "tree"))
    with pytest.raises(FileError, match="^is a symbolic link; not followed$"):
        read_file(tmp_path / "tree" / "x.txt", follow_links=False)
