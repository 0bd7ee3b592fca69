"""Standard output is written in full, or the run says so in one line and exits 2.

Every way stdout can refuse a write is produced for real in a subprocess: a
full disk (/dev/full), a pipe whose reader is gone (EPIPE), stdout closed
(`>&-`), stdout open for reading only (EBADF), and a file-size limit under
which the OS takes only part of a write and refuses the rest (a short write,
which `PYTHONUNBUFFERED=1` lets reach bn-upgrade: its sys.stdout is then a raw
stream). Each with and without PYTHONUNBUFFERED. Never exit 123, never a
traceback, never "Exception ignored" at interpreter exit, and never
"upgraded" for output that did not arrive.
"""

from __future__ import annotations

import fcntl
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from upgrade_tool import upgrade_text


def bn_layer(index: int) -> str:
    blocks = "  param { lr_mult: 0 }\n" * 3
    return f'layer {{\n  name: "bn{index}"\n  type: "BatchNorm"\n  bottom: "x"\n  top: "x"\n{blocks}}}\n'


BIG = 'name: "net"\n' + "".join(bn_layer(i) for i in range(1500))  # 107 KB upgraded: more than a pipe holds
BIG_UPGRADED = upgrade_text(BIG).text
SMALL = 'name: "net"\n' + "".join(bn_layer(i) for i in range(50))  # for a diff, which takes time to make
SIZE_LIMIT = 8192
assert len(BIG_UPGRADED) > max(65536, SIZE_LIMIT)  # a pipe's capacity on Linux
OLD_NS = 1_500_000_000_000_000_000


class Sink(NamedTuple):
    """Where stdout goes: `open` makes it (in the test), `setup` runs in the child before exec."""

    reason: str  # what the one-line error must say
    open: Callable[[Path], int | None]
    setup: Callable[[], None] | None = None


def dev_full(tmp_path: Path) -> int:
    return os.open("/dev/full", os.O_WRONLY)


def read_only_file(tmp_path: Path) -> int:
    (tmp_path / "sink").write_bytes(b"")
    return os.open(tmp_path / "sink", os.O_RDONLY)


def pipe_without_reader(tmp_path: Path) -> int:
    reader, writer = os.pipe()
    os.close(reader)
    return writer


def small_file(tmp_path: Path) -> int:
    return os.open(tmp_path / "sink", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


def no_stdout(tmp_path: Path) -> None:
    return None


def close_stdout() -> None:
    os.close(1)


def limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (SIZE_LIMIT, SIZE_LIMIT))


SINKS = {
    "a full disk (/dev/full)": Sink("No space left on device", dev_full),
    "a pipe whose reader is gone": Sink("Broken pipe", pipe_without_reader),
    "a closed stdout (>&-)": Sink("standard output is closed", no_stdout, close_stdout),
    "stdout open for reading only": Sink("Bad file descriptor", read_only_file),
    "a file-size limit (a short write, then a refusal)": Sink("File too large", small_file, limit_file_size),
}
BUFFERING = [pytest.param({}, id="buffered"), pytest.param({"PYTHONUNBUFFERED": "1"}, id="PYTHONUNBUFFERED=1")]


def run(
    tmp_path: Path, sink: Sink, env: dict[str, str], *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    fd = sink.open(tmp_path)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "upgrade_tool", *args],
            cwd=tmp_path,
            input=stdin.decode() if stdin is not None else None,
            stdout=fd if fd is not None else None,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=sink.setup,
            env={**os.environ, **env},
            timeout=120,
        )
    finally:
        if fd is not None:
            os.close(fd)
    assert "Traceback" not in completed.stderr, completed.stderr
    assert "Exception ignored" not in completed.stderr, completed.stderr
    return completed


def write_net(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "net.prototxt"
    path.write_text(text)
    os.utime(path, ns=(OLD_NS, OLD_NS))
    return path


@pytest.fixture
def net(tmp_path: Path) -> Path:
    return write_net(tmp_path, BIG)


@pytest.fixture
def small_net(tmp_path: Path) -> Path:
    return write_net(tmp_path, SMALL)


@pytest.mark.parametrize("env", BUFFERING)
@pytest.mark.parametrize("sink", list(SINKS.values()), ids=list(SINKS))
def test_the_upgrade_to_stdout_that_cannot_be_written_is_one_line_and_exit_2(
    tmp_path: Path, net: Path, sink: Sink, env: dict[str, str]
) -> None:
    completed = run(tmp_path, sink, env, "-o", "-", "net.prototxt")
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [f"net.prototxt: IO002 cannot write to standard output: {sink.reason}"]
    assert net.read_text() == BIG and net.stat().st_mtime_ns == OLD_NS


@pytest.mark.parametrize("env", BUFFERING)
@pytest.mark.parametrize(
    "sink", [SINKS["a full disk (/dev/full)"], SINKS["a closed stdout (>&-)"]], ids=["full", "closed"]
)
def test_standard_input_upgraded_to_a_stdout_that_fails_is_never_called_upgraded(
    tmp_path: Path, sink: Sink, env: dict[str, str]
) -> None:
    completed = run(tmp_path, sink, env, "-", stdin=BIG.encode())
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [f"-: IO002 cannot write to standard output: {sink.reason}"]


REPORTS = [
    pytest.param(
        ("--diff",), ["net.prototxt: would upgrade (BatchNorm: removed 150 param blocks in 50 layers)"], id="--diff"
    ),
    pytest.param(("--check", "--output-format", "json"), [], id="--output-format json"),
    pytest.param(("--check", "--output-format", "github"), [], id="--output-format github"),
]


@pytest.mark.parametrize("env", BUFFERING)
@pytest.mark.parametrize(
    "sink", [SINKS["a full disk (/dev/full)"], SINKS["a closed stdout (>&-)"]], ids=["full", "closed"]
)
@pytest.mark.parametrize(("options", "status"), REPORTS)
def test_a_diff_or_report_that_cannot_be_written_is_one_line_and_exit_2(
    tmp_path: Path, small_net: Path, sink: Sink, env: dict[str, str], options: tuple[str, ...], status: list[str]
) -> None:
    completed = run(tmp_path, sink, env, *options, "net.prototxt")
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [
        f"bn-upgrade: IO002 cannot write to standard output: {sink.reason}",
        *status,
    ]
    assert small_net.read_text() == SMALL


@pytest.mark.parametrize("env", BUFFERING)
def test_version_to_a_full_disk_is_one_line_and_exit_2(tmp_path: Path, env: dict[str, str]) -> None:
    completed = run(tmp_path, SINKS["a full disk (/dev/full)"], env, "--version")
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [
        "bn-upgrade: IO002 cannot write to standard output: No space left on device"
    ]


@pytest.mark.parametrize("env", BUFFERING)
def test_a_run_that_prints_nothing_on_stdout_does_not_need_one(tmp_path: Path, net: Path, env: dict[str, str]) -> None:
    completed = run(tmp_path, SINKS["a closed stdout (>&-)"], env, "net.prototxt")
    assert completed.returncode == 0
    assert completed.stderr.splitlines() == [
        "net.prototxt: upgraded (BatchNorm: removed 4500 param blocks in 1500 layers)"
    ]
    assert net.read_text() == BIG_UPGRADED


@contextmanager
def slow_non_blocking_pipe() -> Iterator[tuple[int, list[bytes]]]:
    """A pipe whose write end is non-blocking and whose reader starts late and reads slowly."""
    reader, writer = os.pipe()
    fcntl.fcntl(writer, fcntl.F_SETFL, fcntl.fcntl(writer, fcntl.F_GETFL) | os.O_NONBLOCK)
    received: list[bytes] = []

    def drain() -> None:
        time.sleep(0.5)  # let the writer fill the pipe first
        while chunk := os.read(reader, 4096):
            received.append(chunk)
            time.sleep(0.001)

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    try:
        yield writer, received
    finally:
        thread.join(timeout=60)
        os.close(reader)


@pytest.mark.parametrize("env", BUFFERING)
def test_a_non_blocking_stdout_that_fills_up_is_waited_on_not_cut_short(
    tmp_path: Path, net: Path, env: dict[str, str]
) -> None:
    with slow_non_blocking_pipe() as (writer, received):
        process = subprocess.Popen(
            [sys.executable, "-m", "upgrade_tool", "-o", "-", "net.prototxt"],
            cwd=tmp_path,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        os.close(writer)
        stderr = process.communicate(timeout=120)[1]
    assert (process.returncode, stderr) == (
        0,
        "net.prototxt: upgraded (BatchNorm: removed 4500 param blocks in 1500 layers)\n",
    )
    assert b"".join(received).decode() == BIG_UPGRADED


def test_in_process_a_short_write_is_continued(monkeypatch: pytest.MonkeyPatch, capfdbinary: Any) -> None:
    # The unit under the tests above: a raw stream that takes 1000 bytes at a time loses nothing.
    from upgrade_tool.files import write_stdout

    class Trickle:
        def __init__(self) -> None:
            self.taken = bytearray()

        def write(self, data: memoryview) -> int:
            self.taken += data[:1000]
            return min(len(data), 1000)

        def flush(self) -> None:
            pass

    class Stdout:
        buffer = Trickle()

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stdout", Stdout())
    write_stdout([b"x" * 4500, memoryview(b"y" * 10)])
    assert bytes(Stdout.buffer.taken) == b"x" * 4500 + b"y" * 10
