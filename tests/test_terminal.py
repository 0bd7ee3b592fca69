"""The progress line and the colour decision, in-process."""

from __future__ import annotations

import io

import pytest

from upgrade_tool.terminal import Progress, elide_middle, paint_diff, paint_line, wants_color


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        pytest.param("models/net.prototxt", 40, "models/net.prototxt", id="short enough: as it is"),
        pytest.param("zoo/a/very/long/path/to/the/net.prototxt", 20, "zoo/a/\u2026/net.prototxt", id="the middle goes"),
        pytest.param("abcdef", 3, "abc", id="no room for an ellipsis"),
    ],
)
def test_a_long_path_loses_its_middle_not_its_end(text: str, width: int, expected: str) -> None:
    elided = elide_middle(text, width)
    assert elided == expected
    assert len(elided) <= width


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_progress_line_has_percent_count_rate_eta_and_the_file() -> None:
    clock = Clock()
    stream = io.StringIO()
    progress = Progress(200, stream, 80, clock)
    clock.now += 10.0
    line = progress.line(50, "zoo/" + "x" * 100 + "/net.prototxt")
    assert line.startswith("[ 25%] 50/200 files, 5/s, ETA 30 s  zoo/")
    assert line.endswith("/net.prototxt") and "\u2026" in line
    assert len(line) <= 79
    progress.update(50, "a.prototxt")
    progress.clear()
    assert stream.getvalue().endswith("\r" + " " * 79 + "\r")


def test_nothing_is_cleared_that_was_never_drawn() -> None:
    stream = io.StringIO()
    Progress(3, stream, 80).clear()
    assert stream.getvalue() == ""


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("choice", "environ", "tty", "expected"),
    [
        pytest.param(None, {}, True, True, id="a terminal"),
        pytest.param(None, {}, False, False, id="a pipe"),
        pytest.param(None, {"NO_COLOR": "1"}, True, False, id="NO_COLOR on a terminal"),
        pytest.param(None, {"NO_COLOR": ""}, True, True, id="an empty NO_COLOR counts for nothing"),
        pytest.param(None, {"FORCE_COLOR": "1"}, False, True, id="FORCE_COLOR on a pipe"),
        pytest.param(None, {"FORCE_COLOR": "0"}, True, True, id="FORCE_COLOR=0 forces nothing"),
        pytest.param(None, {"TERM": "dumb"}, True, False, id="a dumb terminal"),
        pytest.param(False, {"FORCE_COLOR": "1"}, True, False, id="--no-color wins"),
        pytest.param(True, {"NO_COLOR": "1"}, False, True, id="--color wins"),
    ],
)
def test_when_colour_is_used(choice: bool | None, environ: dict[str, str], tty: bool, expected: bool) -> None:
    stream = Tty() if tty else io.StringIO()
    assert wants_color(choice, stream, environ) is expected


def test_colour_marks_codes_and_diff_lines_only_when_on() -> None:
    line = "net.prototxt:2:1: BN001 BatchNorm 'x' has ..."
    assert paint_line(line, "error", False) == line
    assert (
        paint_line(line, "error", True)
        == "\033[1mnet.prototxt:2:1\033[0m: \033[1;31mBN001\033[0m BatchNorm 'x' has ..."
    )
    diff = "--- a\t(original)\n+++ a\t(upgraded)\n@@ -1 +1 @@\n-x\n+y\n z\n"
    assert paint_diff(diff, False) == diff
    coloured = paint_diff(diff, True)
    assert "\033[31m-x\033[0m\n" in coloured and "\033[32m+y\033[0m\n" in coloured and " z\n" in coloured
