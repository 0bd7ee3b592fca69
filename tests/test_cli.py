"""`bn-upgrade` on the command line: what it writes, what it says on stderr, and its exit code.

Exit codes: 0 up to date or upgraded; 1 `--check`/`--diff` found changes, or a
finding needs a human; 2 usage error or bad input; 123 the tool's check of its
own output failed. Most tests run the real command in a subprocess, so a
traceback or a wrong exit code cannot hide; the ones that break the tool on
purpose run it in-process with click's CliRunner.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
from click.testing import CliRunner
from google.protobuf.message import Message

from upgrade_tool import SelfCheckError, check_idempotent, upgrade_text
from upgrade_tool.canonical import render as canonical_render
from upgrade_tool.cli import main
from upgrade_tool.pipeline import upgrade_source

CANONICAL = ("--format", "canonical")


def bn_layer(name: str, *params: str) -> str:
    blocks = "".join(f"  param {{ {p} }}\n" for p in params)
    return f'layer {{\n  name: "{name}"\n  type: "BatchNorm"\n  bottom: "x"\n  top: "x"\n{blocks}}}\n'


ZERO3 = ("lr_mult: 0",) * 3
LEGACY = 'name: "net"\n' + bn_layer("bn1", *ZERO3) + bn_layer("bn2", *ZERO3) + bn_layer("bn3", *ZERO3)
UPGRADED = 'name: "net"\n' + "".join(bn_layer(name) for name in ("bn1", "bn2", "bn3"))
UP_TO_DATE_WITH_COMMENTS = '# already modern\nname: "net"\nlayer { name: "bn1" type: "BatchNorm" }  # no params\n'
NEEDS_HUMAN = 'name: "net"\n' + bn_layer("learnable", "lr_mult: 1", "lr_mult: 1", "lr_mult: 0")
ERROR_LINE = re.compile(
    r"^(?P<path>[^:]+):(?P<line>\d+):(?P<column>\d+): (?:(?P<code>(?:E|IO|BUG)\d{3}) )?(?P<message>.+)$"
)
UPGRADED_LINE = "net.prototxt: upgraded (BatchNorm: removed 9 param blocks in 3 layers)"


def run(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", *args],
        cwd=cwd,
        input=stdin.decode("utf-8", "surrogateescape") if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in completed.stderr
    return completed


def run_bytes(*args: str, cwd: Path, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    completed = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", *args], cwd=cwd, input=stdin, capture_output=True, timeout=120
    )
    assert b"Traceback" not in completed.stderr
    return completed


def write(path: Path, text: str | bytes, *, mtime_ns: int = 1_500_000_000_000_000_000) -> Path:
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    os.utime(path, ns=(mtime_ns, mtime_ns))  # a fixed past time, so an untouched file is provable
    return path


def fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def listing(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


# -- upgrading in place -------------------------------------------------------


def test_upgrades_in_place_and_says_what_it_did(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    completed = run(*CANONICAL, "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stderr.splitlines()[0] == UPGRADED_LINE
    assert completed.stdout == ""
    assert net.read_text() == UPGRADED
    assert listing(tmp_path) == ["net.prototxt"]


def test_bn_style_zero_says_zeroed(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    completed = run(*CANONICAL, "--bn-style", "zero", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stderr.splitlines()[0] == "net.prototxt: upgraded (BatchNorm: zeroed 9 param blocks in 3 layers)"
    assert net.read_text().count("decay_mult: 0") == 9


def test_up_to_date_file_is_not_touched(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", UP_TO_DATE_WITH_COMMENTS)
    before = fingerprint(net)
    completed = run(*CANONICAL, "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 0
    assert fingerprint(net) == before
    assert "upgraded (" not in completed.stderr
    assert listing(tmp_path) == ["net.prototxt"]


def test_upgraded_file_is_up_to_date_on_the_next_run(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    assert run(*CANONICAL, "net.prototxt", cwd=tmp_path).returncode == 0
    after_first = fingerprint(net)
    completed = run(*CANONICAL, "-v", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 0
    assert "net.prototxt: up to date" in completed.stderr.splitlines()
    assert fingerprint(net) == after_first


def test_quiet_silences_the_status_lines(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    completed = run(*CANONICAL, "-q", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stderr == ""
    assert net.read_text() == UPGRADED


def test_file_mode_is_kept_and_no_temp_file_is_left(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    net.chmod(0o640)
    assert run(*CANONICAL, "net.prototxt", cwd=tmp_path).returncode == 0
    assert stat.S_IMODE(net.stat().st_mode) == 0o640
    assert net.read_text() == UPGRADED
    assert listing(tmp_path) == ["net.prototxt"]


def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    target = write(tmp_path / "real.prototxt", LEGACY)
    link = tmp_path / "net.prototxt"
    link.symlink_to("real.prototxt")
    assert run(*CANONICAL, "net.prototxt", cwd=tmp_path).returncode == 0
    assert link.is_symlink()
    assert target.read_text() == UPGRADED
    assert listing(tmp_path) == ["net.prototxt", "real.prototxt"]


def test_bom_and_crlf_input_is_upgraded_to_caffes_bytes(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", b"\xef\xbb\xbf" + LEGACY.replace("\n", "\r\n").encode())
    assert run(*CANONICAL, "net.prototxt", cwd=tmp_path).returncode == 0
    assert net.read_bytes() == UPGRADED.encode()


# -- --check and --diff -------------------------------------------------------


def test_check_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    before = fingerprint(net)
    completed = run(*CANONICAL, "--check", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 1
    assert (
        completed.stderr.splitlines()[0]
        == "net.prototxt: would upgrade (BatchNorm: removed 9 param blocks in 3 layers)"
    )
    assert completed.stdout == ""
    assert fingerprint(net) == before
    assert listing(tmp_path) == ["net.prototxt"]


def test_check_exits_0_once_upgraded(tmp_path: Path) -> None:
    write(tmp_path / "net.prototxt", LEGACY)
    assert run(*CANONICAL, "net.prototxt", cwd=tmp_path).returncode == 0
    assert run(*CANONICAL, "--check", "net.prototxt", cwd=tmp_path).returncode == 0


def test_check_exits_0_for_an_up_to_date_file(tmp_path: Path) -> None:
    write(tmp_path / "net.prototxt", UP_TO_DATE_WITH_COMMENTS)
    assert run(*CANONICAL, "--check", "net.prototxt", cwd=tmp_path).returncode == 0


def test_diff_prints_a_unified_diff_and_writes_nothing(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    before = fingerprint(net)
    completed = run(*CANONICAL, "--diff", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 1
    lines = completed.stdout.splitlines()
    assert lines[:2] == ["--- net.prototxt\t(original)", "+++ net.prototxt\t(upgraded)"]
    assert lines[2].startswith("@@ ")
    removed = [line for line in lines[2:] if line.startswith("-")]
    assert removed == ["-  param { lr_mult: 0 }"] * 9
    assert not [line for line in lines[2:] if line.startswith("+")]
    assert fingerprint(net) == before
    assert listing(tmp_path) == ["net.prototxt"]


def test_diff_of_an_up_to_date_file_is_empty(tmp_path: Path) -> None:
    write(tmp_path / "net.prototxt", UP_TO_DATE_WITH_COMMENTS)
    completed = run(*CANONICAL, "--diff", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stdout == ""


# -- other outputs and inputs -------------------------------------------------


def test_output_file(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    before = fingerprint(net)
    completed = run(*CANONICAL, "-o", "new.prototxt", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 0
    assert (tmp_path / "new.prototxt").read_text() == UPGRADED
    assert fingerprint(net) == before
    assert listing(tmp_path) == ["net.prototxt", "new.prototxt"]


def test_an_unwritable_output_is_named_in_the_error(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    before = fingerprint(net)
    completed = run(*CANONICAL, "-q", "-o", "missing_dir/new.prototxt", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    assert fingerprint(net) == before
    assert completed.stderr.startswith("missing_dir/new.prototxt: IO002 cannot write")


def test_output_to_stdout(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    before = fingerprint(net)
    completed = run(*CANONICAL, "-o", "-", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stdout == UPGRADED
    assert fingerprint(net) == before


def test_the_program_exits_with_all_its_output_written(tmp_path: Path) -> None:
    """The console script ends without tearing the interpreter down: nothing it wrote may be lost by that."""
    layers = "".join(bn_layer(f"bn{i}", *ZERO3) for i in range(4000))
    write(tmp_path / "big.prototxt", 'name: "big"\n' + layers)
    expected = upgrade_text('name: "big"\n' + layers).text
    completed = run("-o", "-", "big.prototxt", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert len(completed.stdout) > 200_000 and completed.stdout == expected  # more than a pipe holds
    many = [write(tmp_path / f"n{i}.prototxt", LEGACY).name for i in range(40)]
    checked = run("--check", *many, cwd=tmp_path)
    assert checked.returncode == 1
    assert checked.stderr.count(": would upgrade (") == 40
    reported = run("--check", "--output-format", "json", *many, cwd=tmp_path)
    assert [record["status"] for record in json.loads(reported.stdout)["files"]] == ["would_upgrade"] * 40


def test_stdin_to_stdout(tmp_path: Path) -> None:
    completed = run(*CANONICAL, "-", cwd=tmp_path, stdin=LEGACY.encode())
    assert completed.returncode == 0
    assert completed.stdout == UPGRADED
    assert completed.stderr.splitlines()[0] == "-: upgraded (BatchNorm: removed 9 param blocks in 3 layers)"
    assert listing(tmp_path) == []


def test_stdin_that_is_up_to_date_passes_through_unchanged(tmp_path: Path) -> None:
    data = UP_TO_DATE_WITH_COMMENTS.replace("\n", "\r\n").encode()
    completed = run_bytes(*CANONICAL, "-", cwd=tmp_path, stdin=data)
    assert completed.returncode == 0
    assert completed.stdout == data


def test_stdin_with_check(tmp_path: Path) -> None:
    completed = run(*CANONICAL, "--check", "-", cwd=tmp_path, stdin=LEGACY.encode())
    assert completed.returncode == 1
    assert completed.stdout == ""


# -- bad input ----------------------------------------------------------------


def only_error_line(stderr: str) -> re.Match[str]:
    """stderr of a failed run with -q: exactly one `PATH:LINE:COL: message` line."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    match = ERROR_LINE.match(lines[0])
    assert match, lines[0]
    return match


def test_bad_input_is_one_line_with_its_position(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.prototxt", 'name: "n"\nlayer {\n  nme: "x"\n}\n')
    before = fingerprint(bad)
    completed = run(*CANONICAL, "-q", "bad.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    error = only_error_line(completed.stderr)
    assert (error["path"], error["line"], error["column"]) == ("bad.prototxt", "3", "3")
    assert error["message"].startswith("unknown field 'nme' in caffe.LayerParameter")
    assert fingerprint(bad) == before
    assert listing(tmp_path) == ["bad.prototxt"]


def test_bad_input_without_quiet_is_still_one_line(tmp_path: Path) -> None:
    write(tmp_path / "bad.prototxt", 'name: "n"\nlayer {\n  nme: "x"\n}\n')
    completed = run(*CANONICAL, "bad.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    lines = completed.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("bad.prototxt:3:3: E002 unknown field 'nme'")


def test_several_files_end_with_a_summary(tmp_path: Path) -> None:
    write(tmp_path / "bad.prototxt", 'name: "n"\nlayer {\n  nme: "x"\n}\n')
    write(tmp_path / "good.prototxt", LEGACY)
    completed = run(*CANONICAL, "-j", "1", "bad.prototxt", "good.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    lines = completed.stderr.splitlines()
    assert lines[0].startswith("bad.prototxt:3:3: E002 unknown field 'nme'")
    assert lines[2].startswith("2 files scanned: 1 upgraded, 0 already up to date, 0 need a human, 1 failed (")
    assert lines[3] == "  BatchNorm: 1 file (param blocks removed: 9, layers: 3)"


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        pytest.param('name: "abc\n', 1, 7, "unterminated string", id="unterminated string"),
        pytest.param('layer {\n  name: "a"\n', 3, 1, "end of file", id="missing closing brace"),
        pytest.param("layer {" * 10_000 + "}" * 10_000, 1, 8, "unknown field 'layer'", id="nesting 10000 deep"),
        pytest.param('name: "a"\nname: "b"\n', 2, 1, "more than once", id="singular field twice"),
    ],
)
def test_bad_input_never_gives_a_traceback(tmp_path: Path, text: str, line: int, column: int, words: str) -> None:
    write(tmp_path / "bad.prototxt", text)
    completed = run(*CANONICAL, "-q", "bad.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    error = only_error_line(completed.stderr)
    assert (int(error["line"]), int(error["column"])) == (line, column)
    assert words in error["message"]


def test_missing_file(tmp_path: Path) -> None:
    completed = run(*CANONICAL, "-q", "missing.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stderr == "missing.prototxt: IO001 no such file\n"
    assert listing(tmp_path) == []


def test_an_empty_directory_is_nothing_to_do(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    completed = run(*CANONICAL, "models", cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stderr == "models: no files to upgrade (looked for *.prototxt, *.pt, *.caffemodel)\n"


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    binary = write(tmp_path / "binary.prototxt", b'name: "n"\n\n  \xff\xfe\x00\x01')
    before = fingerprint(binary)
    completed = run(*CANONICAL, "-q", "binary.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    error = only_error_line(completed.stderr)
    assert (error["line"], error["column"]) == ("3", "3")
    assert error["message"] == "not valid UTF-8 (byte 0xff); is this a binary file?"
    assert fingerprint(binary) == before


def test_several_files_keep_going_and_exit_with_the_worst(tmp_path: Path) -> None:
    write(tmp_path / "a_bad.prototxt", "nme: 1\n")
    legacy = write(tmp_path / "b_legacy.prototxt", LEGACY)
    write(tmp_path / "c_needs_human.prototxt", NEEDS_HUMAN)
    completed = run(
        *CANONICAL, "a_bad.prototxt", "gone.prototxt", "b_legacy.prototxt", "c_needs_human.prototxt", cwd=tmp_path
    )
    assert completed.returncode == 2
    lines = completed.stderr.splitlines()
    assert lines[0].startswith("a_bad.prototxt:1:1: E002 unknown field 'nme'")
    assert lines[1] == "gone.prototxt: IO001 no such file"
    assert lines[2] == "b_legacy.prototxt: upgraded (BatchNorm: removed 9 param blocks in 3 layers)"
    assert lines[3].startswith("c_needs_human.prototxt:2:1: BN001 ")
    assert legacy.read_text() == UPGRADED


@pytest.mark.parametrize(
    ("files", "extra", "code"),
    [
        pytest.param((LEGACY, UP_TO_DATE_WITH_COMMENTS), (), 0, id="upgraded and up to date exit 0"),
        pytest.param((LEGACY, NEEDS_HUMAN), (), 1, id="a finding that needs a human exits 1"),
        pytest.param((UP_TO_DATE_WITH_COMMENTS, LEGACY), ("--check",), 1, id="check with one stale file exits 1"),
        pytest.param((NEEDS_HUMAN, "nme: 1"), ("--check",), 2, id="bad input outranks a finding"),
    ],
)
def test_exit_code_is_the_worst_of_all_files(
    tmp_path: Path, files: tuple[str, ...], extra: tuple[str, ...], code: int
) -> None:
    names = [write(tmp_path / f"{index}.prototxt", text).name for index, text in enumerate(files)]
    assert run(*CANONICAL, *extra, *names, cwd=tmp_path).returncode == code


# -- findings -----------------------------------------------------------------


def test_a_layer_that_needs_a_human_exits_1_and_is_left_alone(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", NEEDS_HUMAN)
    before = fingerprint(net)
    completed = run(*CANONICAL, "-q", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 1
    error = only_error_line(completed.stderr)
    assert (error["path"], error["line"], error["column"]) == ("net.prototxt", "2", "1")
    assert error["message"].startswith("BN001 BatchNorm 'learnable' has a param block with a nonzero")
    assert fingerprint(net) == before


def test_unsafe_fixes_upgrade_it_and_exit_0(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", NEEDS_HUMAN)
    completed = run(*CANONICAL, "--unsafe-fixes", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 0
    lines = completed.stderr.splitlines()
    assert lines[0].startswith("net.prototxt:2:1: BN002 BatchNorm 'learnable'")
    assert lines[1] == "net.prototxt: upgraded (BatchNorm: removed 3 param blocks in 1 layer)"
    assert "param" not in net.read_text()


def test_a_warning_is_shown_but_quiet_hides_it(tmp_path: Path) -> None:
    shared = 'name: "net"\n' + bn_layer("bn_a", 'name: "m" lr_mult: 0', 'name: "v" lr_mult: 0', 'name: "f" lr_mult: 0')
    write(tmp_path / "net.prototxt", shared)
    completed = run(*CANONICAL, "--check", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 1
    assert completed.stderr.splitlines()[0].startswith("net.prototxt:2:1: BN003 BatchNorm 'bn_a' shares its statistics")
    quiet = run(*CANONICAL, "-q", "net.prototxt", cwd=tmp_path)
    assert quiet.returncode == 0
    assert quiet.stderr == ""


# -- usage --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(
            ("--diff", "--output-format", "json", "net.prototxt"),
            "--diff and --output-format json would both write to standard output",
            id="diff with a report on stdout",
        ),
        pytest.param(
            ("-o", "out.prototxt", "net.prototxt", "other.prototxt"), "exactly one input", id="output with two inputs"
        ),
        pytest.param(("-o", "out.prototxt", "--check", "net.prototxt"), "cannot be combined", id="output with check"),
        pytest.param(("-", "-"), "standard input", id="stdin twice"),
        pytest.param((), "Missing argument", id="no path"),
        pytest.param(("--bn-style", "remove", "net.prototxt"), "--bn-style", id="unknown bn style"),
        pytest.param(("--format", "pretty", "net.prototxt"), "--format", id="unknown format"),
        pytest.param(("--frobnicate", "net.prototxt"), "No such option", id="unknown option"),
        pytest.param(("--include", "", "."), "--include: an empty pattern", id="an empty include"),
        pytest.param(("--extend-exclude", "", "."), "--extend-exclude: an empty pattern", id="an empty exclude"),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    write(tmp_path / "other.prototxt", LEGACY)
    before = fingerprint(net)
    completed = run(*args, cwd=tmp_path, stdin=b"")
    assert completed.returncode == 2
    assert words in completed.stderr
    assert fingerprint(net) == before
    assert listing(tmp_path) == ["net.prototxt", "other.prototxt"]


def test_help_lists_the_exit_codes(tmp_path: Path) -> None:
    completed = run("--help", cwd=tmp_path)
    assert completed.returncode == 0
    assert "Exit codes:" in completed.stdout
    for code, words in [("0", "up to date"), ("1", "--check"), ("2", "usage error"), ("123", "internal error")]:
        assert re.search(rf"^\s+{code}\s+.*{re.escape(words)}", completed.stdout, re.MULTILINE), code


def test_kind_can_be_forced(tmp_path: Path) -> None:
    write(tmp_path / "solver.prototxt", 'base_lr: 0.01\nnet: "train.prototxt"\n')
    assert run(*CANONICAL, "solver.prototxt", cwd=tmp_path).returncode == 0
    forced = run(*CANONICAL, "-q", "--kind", "net", "solver.prototxt", cwd=tmp_path)
    assert forced.returncode == 2
    assert "unknown field 'base_lr' in caffe.NetParameter" in only_error_line(forced.stderr)["message"]


# -- the self-check (exit 123) and races, in-process --------------------------


class Breakage(NamedTuple):
    """A bug planted in the tool: `target` (a dotted name) is replaced by `make(calls)`."""

    target: str
    make: Callable[[list[int]], Callable[..., object]]
    words: str  # what the self-check must say
    args: tuple[str, ...] = ()


def never_settles(calls: list[int]) -> Callable[..., object]:
    """The BatchNorm pass always thinks a block still needs zeroing: a second run acts again."""

    def settled(param: object) -> bool:
        calls.append(1)
        return False

    return settled


def lossy_render(calls: list[int]) -> Callable[..., object]:
    """The printer drops a field: the output no longer reads back as the upgraded net."""

    def render(message: Message) -> str:
        calls.append(1)
        return canonical_render(message).replace('  top: "x"\n', "", 1)

    return render


def unparsable_render(calls: list[int]) -> Callable[..., object]:
    """The printer writes text that does not parse at all."""

    def render(message: Message) -> str:
        calls.append(1)
        return canonical_render(message) + "}\n"

    return render


BREAKAGES = [
    pytest.param(
        Breakage(
            "upgrade_tool.passes.batchnorm._settled",
            never_settles,
            "a second run would upgrade the output again",
            ("--bn-style", "zero"),
        ),
        id="a second run would change it again",
    ),
    pytest.param(
        Breakage("upgrade_tool.pipeline.render", lossy_render, "does not read back as the upgraded net"),
        id="the output reads back as a different net",
    ),
    pytest.param(
        Breakage("upgrade_tool.pipeline.render", unparsable_render, "output does not parse"),
        id="the output does not parse",
    ),
]


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_failed_self_check_exits_123_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, breakage: Breakage
) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    before = fingerprint(net)
    calls: list[int] = []
    monkeypatch.setattr(breakage.target, breakage.make(calls))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*CANONICAL, *breakage.args, "net.prototxt"])
    assert calls, f"{breakage.target} was never called: this test no longer reaches the self-check"
    assert result.exit_code == 123, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    first = result.stderr.splitlines()[0]
    assert first.startswith("net.prototxt: BUG001 internal error: self-check failed: ")
    assert breakage.words in first
    assert "nothing was written" in first
    assert "please report it with this input attached" in first
    assert fingerprint(net) == before
    assert listing(tmp_path) == ["net.prototxt"]


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_the_same_file_upgrades_without_the_breakage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, breakage: Breakage
) -> None:
    # The control for the test above: only the planted bug makes it exit 123.
    net = write(tmp_path / "net.prototxt", LEGACY)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*CANONICAL, *breakage.args, "net.prototxt"])
    assert result.exit_code == 0, result.output
    assert net.read_bytes() != LEGACY.encode()


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_the_api_raises_self_check_error(monkeypatch: pytest.MonkeyPatch, breakage: Breakage) -> None:
    style = "zero" if "zero" in breakage.args else "strip"
    check_idempotent(LEGACY, output_format="canonical", bn_style=style)  # fine before the breakage
    calls: list[int] = []
    monkeypatch.setattr(breakage.target, breakage.make(calls))
    with pytest.raises(SelfCheckError, match=breakage.words):
        upgrade_text(LEGACY, output_format="canonical", bn_style=style)
    with pytest.raises(SelfCheckError):
        check_idempotent(LEGACY, output_format="canonical", bn_style=style)
    assert calls


def test_a_file_changed_during_the_upgrade_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    edited = LEGACY + "# someone else's edit\n"

    def upgrade_while_someone_edits(*args: object, **kwargs: object) -> object:
        net.write_text(edited)
        return upgrade_source(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("upgrade_tool.pipeline.upgrade_source", upgrade_while_someone_edits)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*CANONICAL, "net.prototxt"])
    assert result.exit_code == 2, result.output
    assert (
        result.stderr.splitlines()[0]
        == "net.prototxt: IO003 changed on disk while it was being upgraded; left as it is"
    )
    assert net.read_text() == edited
    assert listing(tmp_path) == ["net.prototxt"]
