"""Faults around the files: whatever goes wrong, every original is intact and no temp file is left.

In-place writes go to a temp file beside the target, are fsynced, then renamed
over it; mode and owner are kept; a symlink is written through; a file that
changed on disk meanwhile is left alone; read-only, unreadable and non-regular
files, a full disk, and SIGINT/SIGTERM mid-batch all leave every original
either as it was or fully upgraded (exit 130). `--backup SUFFIX` keeps the
original's bytes beside the upgraded file.

Faults the operating system can produce are produced for real in a
subprocess (file permissions, with root's override dropped when the tests run
as root; RLIMIT_FSIZE for a write the OS refuses; signals). Faults it cannot
produce on demand (a full disk, a crash between write and rename, a race with
another writer) are planted in-process with monkeypatch and click's CliRunner.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import random
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import upgrade_tool.files
from upgrade_tool import upgrade_text
from upgrade_tool.binary import upgrade_binary
from upgrade_tool.cli import main
from upgrade_tool.files import FileError, read_file, replace_file
from upgrade_tool.runner import install_signal_handlers


def bn_layer(name: str) -> str:
    blocks = "  param { lr_mult: 0 }\n" * 3
    return f'layer {{\n  name: "{name}"\n  type: "BatchNorm"\n  bottom: "x"\n  top: "x"\n{blocks}}}\n'


LEGACY = '# a legacy net\nname: "net"\n' + "".join(bn_layer(f"bn{i}") for i in range(3))
UPGRADED = upgrade_text(LEGACY).text
MODERN = 'name: "net"\nlayer {\n  name: "bn1"\n  type: "BatchNorm"\n}\n'
OLD_NS = 1_500_000_000_000_000_000  # a fixed past mtime, so an untouched file is provable
TEMP = re.compile(r"\.bn-upgrade\.tmp$")
INTERRUPTED = "bn-upgrade: interrupted; files already upgraded are complete, the rest untouched."
WRITTEN_BEFORE = "  written before the interrupt: "


def write(path: Path, data: str | bytes, *, mode: int | None = None) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    if mode is not None:
        path.chmod(mode)
    os.utime(path, ns=(OLD_NS, OLD_NS))
    return path


def fingerprint(path: Path) -> tuple[bytes, int, int]:
    info = path.stat()
    return path.read_bytes(), info.st_mtime_ns, stat.S_IMODE(info.st_mode)


def everything(root: Path) -> list[str]:
    """Every entry below `root`, hidden ones included, as sorted relative paths."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def temp_files(root: Path) -> list[str]:
    return [name for name in everything(root) if TEMP.search(name)]


def run(*args: str, cwd: Path, **options: Any) -> subprocess.CompletedProcess[str]:
    options.setdefault("timeout", 120)
    completed = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", *args], cwd=cwd, capture_output=True, text=True, **options
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed


def invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """Run the command in-process (so monkeypatched faults apply), in `tmp_path`."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["-j", "1", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def only_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


class PatchedOs:
    """The `os` module as files.py sees it, with some functions replaced (nothing else is affected)."""

    def __init__(self, **replacements: Callable[..., Any]) -> None:
        self._replacements = replacements

    def __getattr__(self, name: str) -> Any:
        return self._replacements.get(name, getattr(os, name))


def patch_os(monkeypatch: pytest.MonkeyPatch, **replacements: Callable[..., Any]) -> None:
    monkeypatch.setattr(upgrade_tool.files, "os", PatchedOs(**replacements))


def at(name: str, dir_fd: int | None) -> Path:
    """The file a call made with `dir_fd` (a descriptor of its directory) names."""
    return Path(f"/proc/self/fd/{dir_fd}", name) if dir_fd is not None else Path(name)


def failing(error: int) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError(error, os.strerror(error))

    return fail


# -- atomic in-place writes ------------------------------------------------------------------


def test_the_upgrade_is_written_to_a_fsynced_temp_file_beside_the_target_then_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    events: list[tuple[str, str]] = []
    fsynced: set[int] = set()

    def spy_fsync(fd: int) -> None:
        os.fsync(fd)
        fsynced.add(fd)
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else "?"))

    def spy_replace(source: str, destination: str, *, src_dir_fd: int, dst_dir_fd: int) -> None:
        assert src_dir_fd == dst_dir_fd and "/" not in source + destination, "the temp file must sit beside the target"
        assert os.path.samefile(at(".", src_dir_fd), tmp_path), "... in the target's own directory"
        assert at(source, src_dir_fd).read_text() == UPGRADED, "the temp file must be complete before the rename"
        assert at(destination, dst_dir_fd).read_text() == LEGACY, "the original must be intact until the rename"
        events.append(("replace", str(tmp_path / source)))
        os.replace(source, destination, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    patch_os(monkeypatch, fsync=spy_fsync, replace=spy_replace)
    result = invoke(tmp_path, monkeypatch, "net.prototxt")
    assert result.exit_code == 0, result.output
    assert [kind for kind, _ in events] == ["fsync", "replace"]
    if events[0][1] != "?":
        assert events[0][1] == events[1][1], "the file fsynced is the file renamed"
    assert TEMP.search(events[1][1]) and Path(events[1][1]).name.startswith(".net.prototxt.")
    assert net.read_text() == UPGRADED
    assert everything(tmp_path) == ["net.prototxt"]


@pytest.mark.parametrize(
    ("fault", "code", "words"),
    [
        pytest.param(failing(errno.EIO), 2, "net.prototxt: IO002 cannot write: Input/output error", id="rename fails"),
        pytest.param(
            failing(errno.EXDEV), 2, "net.prototxt: IO002 cannot write: Invalid cross-device link", id="cross dev"
        ),
    ],
)
def test_a_failure_between_write_and_rename_keeps_the_original_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: Callable[..., Any], code: int, words: str
) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY, mode=0o640)
    before = fingerprint(net)
    patch_os(monkeypatch, replace=fault)
    result = invoke(tmp_path, monkeypatch, "net.prototxt")
    assert result.exit_code == code
    assert only_line(result.stderr) == words
    assert fingerprint(net) == before
    assert everything(tmp_path) == ["net.prototxt"]


def test_an_interrupt_between_write_and_rename_keeps_the_original_and_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    before = fingerprint(net)

    def interrupted(source: str, destination: str, **dir_fds: int) -> None:
        assert at(source, dir_fds["src_dir_fd"]).exists()
        raise KeyboardInterrupt

    patch_os(monkeypatch, replace=interrupted)
    result = invoke(tmp_path, monkeypatch, "net.prototxt")
    assert result.exit_code == 130
    assert result.stderr.splitlines() == [INTERRUPTED]
    assert fingerprint(net) == before
    assert everything(tmp_path) == ["net.prototxt"]


def test_a_signal_just_after_the_temp_file_is_created_does_not_leave_it_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The narrowest window: the temp file exists, but the code that removes it on
    # failure has not started yet. SIGINT and SIGTERM are held across it.
    net = write(tmp_path / "net.prototxt", LEGACY)
    before = fingerprint(net)
    real = upgrade_tool.files._create_temp

    def temp_then_signal(name: str, dir_fd: int) -> tuple[int, str]:
        made = real(name, dir_fd)
        # To this thread, which holds the signal: a signal to the process would go to any other thread
        # that does not (pytest-xdist's worker has one), and Python would act on it at once.
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
        return made

    monkeypatch.setattr(upgrade_tool.files, "_create_temp", temp_then_signal)
    previous = signal.getsignal(signal.SIGTERM)
    install_signal_handlers()  # SIGTERM raises KeyboardInterrupt, as in the command
    try:
        with pytest.raises(KeyboardInterrupt):
            replace_file(net, UPGRADED.encode(), read_file(net))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert fingerprint(net) == before
    assert everything(tmp_path) == ["net.prototxt"]


# -- what is kept: mode, owner, links ----------------------------------------------------------


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o755, 0o2775], ids=oct)
def test_the_file_mode_is_kept(tmp_path: Path, mode: int) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY, mode=mode)
    assert run("net.prototxt", cwd=tmp_path).returncode == 0
    assert net.read_text() == UPGRADED
    assert stat.S_IMODE(net.stat().st_mode) == mode
    assert everything(tmp_path) == ["net.prototxt"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="only root can give a file to another owner")
def test_the_owner_and_group_are_kept(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY, mode=0o640)
    os.chown(net, 12345, 23456)
    completed = run("--backup", ".orig", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 0
    assert net.read_text() == UPGRADED
    assert (net.stat().st_uid, net.stat().st_gid) == (12345, 23456)
    backup = tmp_path / "net.prototxt.orig"
    assert (backup.stat().st_uid, backup.stat().st_gid, stat.S_IMODE(backup.stat().st_mode)) == (12345, 23456, 0o640)


def test_a_link_to_a_file_in_another_directory_is_written_through(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "work").mkdir()
    target = write(tmp_path / "models" / "real.prototxt", LEGACY, mode=0o640)
    (tmp_path / "work" / "hop.prototxt").symlink_to("../models/real.prototxt")
    link = tmp_path / "work" / "net.prototxt"
    link.symlink_to("hop.prototxt")  # a link to a link
    assert run("work/net.prototxt", cwd=tmp_path).returncode == 0
    assert link.is_symlink() and os.readlink(link) == "hop.prototxt"
    assert (tmp_path / "work" / "hop.prototxt").is_symlink()
    assert target.read_text() == UPGRADED
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert everything(tmp_path) == [
        "models",
        "models/real.prototxt",
        "work",
        "work/hop.prototxt",
        "work/net.prototxt",
    ]


def test_an_output_file_that_is_a_link_is_written_through(tmp_path: Path) -> None:
    write(tmp_path / "net.prototxt", LEGACY)
    target = write(tmp_path / "out_real.prototxt", "old output\n")
    (tmp_path / "out.prototxt").symlink_to("out_real.prototxt")
    assert run("-o", "out.prototxt", "net.prototxt", cwd=tmp_path).returncode == 0
    assert (tmp_path / "out.prototxt").is_symlink()
    assert target.read_text() == UPGRADED


def test_a_dangling_link_is_an_error_and_stays_a_link(tmp_path: Path) -> None:
    link = tmp_path / "net.prototxt"
    link.symlink_to("gone.prototxt")
    completed = run("net.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    assert only_line(completed.stderr) == "net.prototxt: IO001 a dangling link"
    assert link.is_symlink() and everything(tmp_path) == ["net.prototxt"]


# -- a file that changes on disk while it is processed ----------------------------------------


def edit_keeping_size_and_mtime(path: Path) -> bytes:
    """Change a byte, then put the old mtime back (as `cp -p`, `rsync -t` or `touch -r` would)."""
    info = path.stat()
    data = bytearray(path.read_bytes())
    data[0:1] = b"#" if data[0:1] != b"#" else b" "
    path.write_bytes(bytes(data))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    return bytes(data)


def replace_keeping_size_and_mtime(path: Path) -> bytes:
    """Put another file of the same size and mtime in its place (a new inode)."""
    info = path.stat()
    data = path.read_bytes().replace(b"net", b"NET", 1)
    other = path.with_name("other")
    other.write_bytes(data)
    os.utime(other, ns=(info.st_atime_ns, info.st_mtime_ns))
    os.replace(other, path)
    return data


def append_line(path: Path) -> bytes:
    with path.open("ab") as handle:
        handle.write(b"# someone else's edit\n")
    return path.read_bytes()


def delete(path: Path) -> None:
    path.unlink()
    return None


EDITS = [
    pytest.param(append_line, id="appended to"),
    pytest.param(edit_keeping_size_and_mtime, id="edited with its size and mtime kept"),
    pytest.param(replace_keeping_size_and_mtime, id="replaced by a file of the same size and mtime"),
    pytest.param(delete, id="deleted"),
]


@pytest.mark.parametrize("edit", EDITS)
def test_a_file_changed_between_reading_and_renaming_is_left_as_the_other_writer_left_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: Callable[[Path], bytes | None]
) -> None:
    # The other writer strikes at the last moment: after the backup is written and
    # the upgraded temp file is written and synced (the second fsync).
    net = write(tmp_path / "net.prototxt", LEGACY)
    synced: list[int] = []
    theirs: list[bytes | None] = []

    def fsync_while_someone_edits(fd: int) -> None:
        os.fsync(fd)
        synced.append(fd)
        if len(synced) == 2:
            theirs.append(edit(net))

    patch_os(monkeypatch, fsync=fsync_while_someone_edits)
    result = invoke(tmp_path, monkeypatch, "--backup", ".orig", "net.prototxt")
    assert result.exit_code == 2, result.output
    assert only_line(result.stderr) == "net.prototxt: IO003 changed on disk while it was being upgraded; left as it is"
    if theirs[0] is None:
        assert everything(tmp_path) == []
    else:
        assert net.read_bytes() == theirs[0]
        assert everything(tmp_path) == ["net.prototxt"], "no temp file, and no backup of a file left alone"


class RecordingOs:
    """The `os` module as files.py sees it, every call noted by name and first argument."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        if not callable(real) or isinstance(real, type):
            return real

        def noted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args[0] if args else None))
            return real(*args, **kwargs)

        return noted


def test_the_last_look_for_another_writer_is_the_call_just_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What remains (see the README): an edit landing between that look and the rename is lost.
    net = write(tmp_path / "net.prototxt", LEGACY)
    recording = RecordingOs()
    monkeypatch.setattr(upgrade_tool.files, "os", recording)
    result = invoke(tmp_path, monkeypatch, "net.prototxt")
    assert result.exit_code == 0, result.output
    names = [name for name, _ in recording.calls]
    rename = names.index("replace")
    assert recording.calls[rename - 1] == ("stat", "net.prototxt"), recording.calls[rename - 3 : rename + 1]
    assert names[rename - 2] == "fsync", "the temp file is complete and synced before that look"
    assert net.read_text() == UPGRADED


@pytest.mark.parametrize("edit", EDITS)
def test_a_binary_model_changed_while_it_is_upgraded_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: Callable[[Path], bytes | None]
) -> None:
    from upgrade_tool import caffe_pb2

    net = caffe_pb2.NetParameter(name="net")
    net.layer.add(name="bn", type="BatchNorm").param.add(lr_mult=0)
    model = write(tmp_path / "net.caffemodel", net.SerializeToString())
    theirs: list[bytes | None] = []

    def upgrade_while_someone_edits(*args: Any) -> Any:
        theirs.append(edit(model))
        return upgrade_binary(*args)

    monkeypatch.setattr("upgrade_tool.binary.upgrade_binary", upgrade_while_someone_edits)
    result = invoke(tmp_path, monkeypatch, "net.caffemodel")
    assert result.exit_code == 2, result.output
    assert (
        only_line(result.stderr) == "net.caffemodel: IO003 changed on disk while it was being upgraded; left as it is"
    )
    if theirs[0] is None:
        assert everything(tmp_path) == []
    else:
        assert model.read_bytes() == theirs[0]
        assert everything(tmp_path) == ["net.caffemodel"]


# -- read-only and unreadable files, with permissions that really bind --------------------------

PR_CAPBSET_DROP = 24
ROOT_OVERRIDES = (1, 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: what lets root ignore file modes


def _drop_root_overrides() -> None:  # runs in the child, before exec
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in ROOT_OVERRIDES:
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _bound_options() -> dict[str, Any]:
    if os.name != "posix":
        return {}
    return {"preexec_fn": _drop_root_overrides} if os.geteuid() == 0 else {}


@pytest.fixture(scope="module")
def bound_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`run`, in a process that file permissions bind (root's override dropped), or skip."""
    probe = tmp_path_factory.mktemp("probe") / "read-only"
    probe.write_text("x")
    probe.chmod(0o444)
    try:
        tried = subprocess.run(
            [sys.executable, "-c", f"open({str(probe)!r}, 'a')"], capture_output=True, timeout=60, **_bound_options()
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot start a process without root's file-permission override: {exc}")
    if tried.returncode == 0:
        pytest.skip("file permissions do not bind this user (root, and capabilities cannot be dropped)")

    def bound(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return run(*args, cwd=cwd, **_bound_options())

    return bound


def test_a_read_only_file_is_not_replaced(tmp_path: Path, bound_run: Callable[..., Any]) -> None:
    # Renaming over a read-only file is allowed by the directory's permissions;
    # bn-upgrade refuses anyway, as an editor or a shell redirection would.
    net = write(tmp_path / "net.prototxt", LEGACY, mode=0o444)
    before = fingerprint(net)
    completed = bound_run("--backup", ".orig", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    assert only_line(completed.stderr) == "net.prototxt: IO002 cannot write: permission denied (the file is read-only)"
    assert fingerprint(net) == before
    assert everything(tmp_path) == ["net.prototxt"], "no temp file, and no backup of a file left alone"


def test_a_file_in_a_read_only_directory_is_left_as_it_is(tmp_path: Path, bound_run: Callable[..., Any]) -> None:
    models = tmp_path / "models"
    models.mkdir()
    net = write(models / "net.prototxt", LEGACY)
    before = fingerprint(net)
    models.chmod(0o555)
    try:
        completed = bound_run("models/net.prototxt", cwd=tmp_path)
    finally:
        models.chmod(0o755)
    assert completed.returncode == 2
    assert only_line(completed.stderr) == "models/net.prototxt: IO002 cannot write: Permission denied"
    assert fingerprint(net) == before
    assert everything(tmp_path) == ["models", "models/net.prototxt"]


def test_an_unreadable_file_in_a_tree_is_a_one_line_error_and_the_batch_goes_on(
    tmp_path: Path, bound_run: Callable[..., Any]
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    secret = write(models / "a_secret.prototxt", LEGACY, mode=0o000)
    other = write(models / "b_net.prototxt", LEGACY)
    completed = bound_run("-j", "2", "models", cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stderr.splitlines()[0] == "models/a_secret.prototxt: IO001 cannot read: Permission denied"
    secret.chmod(0o600)
    assert secret.read_text() == LEGACY
    assert other.read_text() == UPGRADED
    assert everything(tmp_path) == ["models", "models/a_secret.prototxt", "models/b_net.prototxt"]


def test_an_unreadable_directory_in_a_tree_is_one_line_counted_as_failed_and_the_batch_goes_on(
    tmp_path: Path, bound_run: Callable[..., Any]
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    first = write(models / "a.prototxt", LEGACY)
    secret = models / "secret"
    secret.mkdir()
    hidden = write(secret / "x.prototxt", LEGACY)
    last = write(models / "z.prototxt", LEGACY)
    secret.chmod(0o000)
    try:
        completed = bound_run("-j", "2", "models", cwd=tmp_path)
    finally:
        secret.chmod(0o755)
    assert completed.returncode == 2
    lines = completed.stderr.splitlines()
    assert lines[:3] == [
        "models/a.prototxt: upgraded (BatchNorm: removed 9 param blocks in 3 layers)",
        "models/secret: IO001 cannot read directory: Permission denied",
        "models/z.prototxt: upgraded (BatchNorm: removed 9 param blocks in 3 layers)",
    ]
    assert lines[3].startswith("3 files scanned: 2 upgraded, 0 already up to date, 0 need a human, 1 failed (")
    assert first.read_text() == last.read_text() == UPGRADED
    assert hidden.read_text() == LEGACY


def test_an_unreadable_directory_named_on_the_command_line_is_one_line(
    tmp_path: Path, bound_run: Callable[..., Any]
) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    write(secret / "x.prototxt", LEGACY)
    secret.chmod(0o000)
    try:
        completed = bound_run("secret", cwd=tmp_path)
    finally:
        secret.chmod(0o755)
    assert completed.returncode == 2
    assert only_line(completed.stderr) == "secret: IO001 cannot read directory: Permission denied"


def test_an_unreadable_file_named_on_the_command_line_is_one_line_and_the_batch_goes_on(
    tmp_path: Path, bound_run: Callable[..., Any]
) -> None:
    # As for a file found in a tree: one line, counted as failed (exit 2), the other files done.
    secret = write(tmp_path / "secret.prototxt", LEGACY, mode=0o000)
    other = write(tmp_path / "net.prototxt", LEGACY)
    completed = bound_run("-j", "1", "secret.prototxt", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stderr.splitlines()[:2] == [
        "secret.prototxt: IO001 cannot read: Permission denied",
        "net.prototxt: upgraded (BatchNorm: removed 9 param blocks in 3 layers)",
    ]
    assert other.read_text() == UPGRADED
    secret.chmod(0o600)
    assert secret.read_text() == LEGACY
    assert everything(tmp_path) == ["net.prototxt", "secret.prototxt"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="root's own behaviour")
def test_root_may_write_a_read_only_file_and_its_mode_is_kept(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY, mode=0o444)
    assert run("net.prototxt", cwd=tmp_path).returncode == 0
    assert net.read_text() == UPGRADED
    assert stat.S_IMODE(net.stat().st_mode) == 0o444


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Callable[[Path], None]]:
    """Mark files immutable with chattr +i (read-only even for root); undone afterwards."""
    marked: list[Path] = []

    def mark(path: Path) -> None:
        if shutil.which("chattr") is None:
            pytest.skip("chattr is not installed")
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("cannot make a file immutable here (needs root and a file system with attributes)")
        marked.append(path)

    yield mark
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def test_an_immutable_file_is_left_as_it_is_even_for_root(tmp_path: Path, immutable: Callable[[Path], None]) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    before = fingerprint(net)
    immutable(net)
    completed = run("net.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    assert only_line(completed.stderr) == "net.prototxt: IO002 cannot write: permission denied (the file is read-only)"
    assert fingerprint(net) == before
    assert everything(tmp_path) == ["net.prototxt"]


def test_an_unreadable_file_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same fault for any user (root can read anything): the read itself is refused.
    net = write(tmp_path / "net.prototxt", LEGACY)
    before = fingerprint(net)
    patch_os(monkeypatch, open=failing(errno.EACCES))
    result = invoke(tmp_path, monkeypatch, "net.prototxt")
    assert result.exit_code == 2
    assert only_line(result.stderr) == "net.prototxt: IO001 cannot read: Permission denied"
    assert fingerprint(net) == before


READ_ONLY_MOUNT = """
set -e
mount -t tmpfs tmpfs ro
printf '%s' "$NET" > ro/net.prototxt
mount -o remount,ro ro
shift
exec "$@"
"""


def run_on_a_read_only_file_system(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run bn-upgrade in a mount namespace where `ro/` is a read-only tmpfs holding ro/net.prototxt."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    (tmp_path / "ro").mkdir()
    own = ["--map-root-user"] if os.geteuid() != 0 else []
    completed = subprocess.run(
        [
            "unshare",
            "--mount",
            *own,
            "sh",
            "-c",
            READ_ONLY_MOUNT,
            "sh",
            "-",
            sys.executable,
            "-m",
            "upgrade_tool",
            *args,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NET": LEGACY},
    )
    if "unshare:" in completed.stderr or "mount:" in completed.stderr:
        pytest.skip(f"cannot mount a read-only file system here: {completed.stderr.strip()}")
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed


@pytest.mark.skipif(sys.platform != "linux", reason="mounts a tmpfs in a Linux mount namespace")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("ro/net.prototxt",), "ro/net.prototxt: IO002 cannot write: Read-only file system", id="in place"),
        pytest.param(
            ("-o", "ro/new.prototxt", "ro/net.prototxt"),
            "ro/new.prototxt: IO002 cannot write: Read-only file system",
            id="-o",
        ),
        pytest.param(
            ("--out-dir", "ro/out", "ro/net.prototxt"),
            "ro/out/net.prototxt: IO002 cannot create its directory: Read-only file system",
            id="--out-dir",
        ),
    ],
)
def test_a_read_only_file_system_is_reported_as_such(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    completed = run_on_a_read_only_file_system(tmp_path, *args)
    assert completed.returncode == 2
    assert only_line(completed.stderr) == message


# -- where the output cannot go ----------------------------------------------------------------


def test_a_directory_given_as_output_is_a_one_line_error(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    (tmp_path / "out").mkdir()
    before = fingerprint(net)
    completed = run("-o", "out", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    assert only_line(completed.stderr) == "out: IO002 cannot write: is a directory"
    assert fingerprint(net) == before
    assert everything(tmp_path) == ["net.prototxt", "out"]


def test_a_directory_where_the_backup_goes_is_a_one_line_error(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    (tmp_path / "net.prototxt.orig").mkdir()
    before = fingerprint(net)
    completed = run("--backup", ".orig", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    assert only_line(completed.stderr) == "net.prototxt.orig: IO002 cannot write: is a directory"
    assert fingerprint(net) == before
    assert everything(tmp_path) == ["net.prototxt", "net.prototxt.orig"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_given_as_output_is_not_replaced_by_a_regular_file(tmp_path: Path) -> None:
    # The same rule keeps `-o /dev/null` run as root from replacing /dev/null.
    write(tmp_path / "net.prototxt", LEGACY)
    os.mkfifo(tmp_path / "out")
    completed = run("-o", "out", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 2
    assert only_line(completed.stderr) == "out: IO002 cannot write: not a regular file"
    assert stat.S_ISFIFO((tmp_path / "out").stat().st_mode)
    assert everything(tmp_path) == ["net.prototxt", "out"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_input_is_read_not_waited_on_and_never_replaced(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "idle.prototxt")  # nobody writes to it: read as empty, at once
    idle = run("-v", "idle.prototxt", cwd=tmp_path)
    assert (idle.returncode, idle.stderr.splitlines()[-1]) == (0, "idle.prototxt: up to date")
    os.mkfifo(tmp_path / "fed.prototxt")
    writer = threading.Thread(target=(tmp_path / "fed.prototxt").write_text, args=(LEGACY,), daemon=True)
    writer.start()  # blocks in open() until bn-upgrade opens the FIFO to read it
    fed = run("-o", "-", "fed.prototxt", cwd=tmp_path)
    writer.join(timeout=10)
    assert (fed.returncode, fed.stdout) == (0, UPGRADED)
    assert stat.S_ISFIFO((tmp_path / "fed.prototxt").stat().st_mode)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("options", [(), ("--out-dir", "copy", "--copy-unchanged")], ids=["in place", "out dir"])
def test_fifos_in_a_tree_are_skipped_not_waited_on(tmp_path: Path, options: tuple[str, ...]) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    os.mkfifo(tree / "pipe.pt")  # a .pt is opened to tell text from PyTorch: that open would wait
    os.mkfifo(tree / "pipe.prototxt")
    net = write(tree / "net.prototxt", LEGACY)
    completed = run("-q", *options, "tree", cwd=tmp_path, timeout=30)
    assert completed.returncode == 0, completed.stderr
    upgraded = tmp_path / "copy" / "net.prototxt" if options else net
    assert upgraded.read_text() == UPGRADED
    assert stat.S_ISFIFO((tree / "pipe.pt").stat().st_mode)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused_not_read_for_ever(tmp_path: Path) -> None:
    completed = run("/dev/zero", cwd=tmp_path)
    assert completed.returncode == 2
    assert only_line(completed.stderr) == "/dev/zero: IO001 not a regular file (a device or socket)"


# -- a full disk ----------------------------------------------------------------------------------


class FullDisk:
    """A file object that takes a few bytes, then fails like a full disk."""

    def __init__(self, fd: int, mode: str) -> None:
        self.handle = os.fdopen(fd, mode)

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()

    def write(self, data: bytes | memoryview) -> int:
        self.handle.write(bytes(data)[:10])
        self.handle.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self) -> None:
        self.handle.flush()

    def fileno(self) -> int:
        return self.handle.fileno()


DISK_FULL = "IO002 cannot write: No space left on device"


@pytest.mark.parametrize(
    "where",
    [
        pytest.param({"fdopen": FullDisk}, id="while writing"),
        pytest.param({"fsync": failing(errno.ENOSPC)}, id="at fsync"),
    ],
)
@pytest.mark.parametrize("name", ["net.prototxt", "net.caffemodel"])
def test_a_full_disk_keeps_the_original_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: dict[str, Callable[..., Any]], name: str
) -> None:
    from upgrade_tool import caffe_pb2

    if name.endswith(".caffemodel"):
        net = caffe_pb2.NetParameter(name="net")
        net.layer.add(name="bn", type="BatchNorm").param.add(lr_mult=0)
        original = write(tmp_path / name, net.SerializeToString())
    else:
        original = write(tmp_path / name, LEGACY)
    before = fingerprint(original)
    patch_os(monkeypatch, **where)
    result = invoke(tmp_path, monkeypatch, name)
    assert result.exit_code == 2
    assert only_line(result.stderr) == f"{name}: {DISK_FULL}"
    assert fingerprint(original) == before
    assert everything(tmp_path) == [name]


def test_a_full_disk_when_creating_the_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    before = fingerprint(net)

    def no_room_for_new_files(path: str, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.open(path, flags, *args, **kwargs)

    patch_os(monkeypatch, open=no_room_for_new_files)
    result = invoke(tmp_path, monkeypatch, "net.prototxt")
    assert result.exit_code == 2
    assert only_line(result.stderr) == f"net.prototxt: {DISK_FULL}"
    assert fingerprint(net) == before
    assert everything(tmp_path) == ["net.prototxt"]


def test_a_full_disk_while_writing_the_backup_touches_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    before = fingerprint(net)
    patch_os(monkeypatch, fdopen=FullDisk)
    result = invoke(tmp_path, monkeypatch, "--backup", ".orig", "net.prototxt")
    assert result.exit_code == 2
    assert only_line(result.stderr) == f"net.prototxt.orig: {DISK_FULL}"
    assert fingerprint(net) == before
    assert everything(tmp_path) == ["net.prototxt"]


def test_a_write_the_os_refuses_keeps_the_original(tmp_path: Path) -> None:
    # A real failed write, not a planted one: RLIMIT_FSIZE makes the kernel refuse
    # to grow any file past 2 KB (EFBIG, where a full disk gives ENOSPC).
    big = '# a legacy net\nname: "net"\n' + "".join(bn_layer(f"bn{i}") for i in range(40))
    net = write(tmp_path / "net.prototxt", big)
    small = write(tmp_path / "small.prototxt", LEGACY)
    before = fingerprint(net)
    assert len(upgrade_text(big).text) > 2048 > len(UPGRADED)

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    completed = run(
        "-j", "1", "net.prototxt", "small.prototxt",
        cwd=tmp_path, preexec_fn=limit_file_size, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    assert completed.returncode == 2
    assert completed.stderr.splitlines()[0] == "net.prototxt: IO002 cannot write: File too large"
    assert fingerprint(net) == before
    assert small.read_text() == UPGRADED
    assert everything(tmp_path) == ["net.prototxt", "small.prototxt"]


# -- interrupted runs -------------------------------------------------------------------------

STALL_IN_FSYNC = """
import os, sys, time
import upgrade_tool.files

def stalled_fsync(fd):
    os.fsync(fd)
    temp = os.path.basename(os.readlink("/proc/self/fd/%d" % fd))
    open(os.path.join(sys.argv[1], temp.split(".")[1] + ".prototxt"), "w").close()  # the file in hand
    time.sleep(float(sys.argv[2]))

class Os:
    def __getattr__(self, name):
        return stalled_fsync if name == "fsync" else getattr(os, name)

upgrade_tool.files.os = Os()
from upgrade_tool.cli import main
main(sys.argv[3:], prog_name="bn-upgrade")
"""

SIGNALS = [
    pytest.param(signal.SIGINT, True, id="Ctrl-C (SIGINT to the process group)"),
    pytest.param(signal.SIGINT, False, id="SIGINT to bn-upgrade"),
    pytest.param(signal.SIGTERM, False, id="SIGTERM to bn-upgrade"),
    pytest.param(signal.SIGTERM, True, id="SIGTERM to the process group (a service manager)"),
    pytest.param(signal.SIGHUP, True, id="SIGHUP to the process group (the terminal closed)"),
    pytest.param(signal.SIGQUIT, True, id="SIGQUIT to the process group (Ctrl-backslash)"),
]


def send(process: subprocess.Popen[str], signum: int, group: bool) -> None:
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"bn-upgrade ended before the test could interrupt it: {process.returncode}"
        assert time.monotonic() < deadline, "timed out waiting for bn-upgrade"
        time.sleep(0.005)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="finds the file in hand through /proc")
@pytest.mark.parametrize(("jobs", "stall"), [("1", "60"), ("2", "1")], ids=["one job", "two workers"])
@pytest.mark.parametrize(("signum", "group"), SIGNALS)
def test_a_signal_mid_write_leaves_each_file_old_or_new_and_exits_130(
    tmp_path: Path, jobs: str, stall: str, signum: int, group: bool
) -> None:
    # Deterministic: every write stalls after its temp file is written and synced.
    # With one job, the write in hand is undone at once. Workers are never cut
    # short (that could leave a message half-sent): each finishes the file in
    # hand, atomically, and skips the rest.
    models = tmp_path / "models"
    models.mkdir()
    in_hand = tmp_path / "in_hand"
    in_hand.mkdir()
    originals = {f"net{i}.prototxt": write(models / f"net{i}.prototxt", LEGACY) for i in range(6)}
    before = {name: fingerprint(path) for name, path in originals.items()}
    process = subprocess.Popen(
        [sys.executable, "-c", STALL_IN_FSYNC, str(in_hand), stall, "-j", jobs, "models"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(lambda: any(in_hand.iterdir()), process)
        assert temp_files(models), "a write should be under way"
        send(process, signum, group)
        stderr = process.communicate(timeout=60)[1]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130
    assert stderr.splitlines() == [INTERRUPTED]
    finished = {path.name for path in in_hand.iterdir()} if jobs != "1" else set()
    assert 0 < len(finished) <= 2 or jobs == "1"
    for name, path in originals.items():
        if name in finished:
            assert path.read_text() == UPGRADED, name
        else:
            assert fingerprint(path) == before[name], name
    assert everything(models) == sorted(originals)


def make_tree(root: Path, count: int, layers: int) -> tuple[str, str]:
    text = '# a legacy net\nname: "net"\n' + "".join(bn_layer(f"bn{i}") for i in range(layers))
    for index in range(count):
        directory = root / f"group{index % 3}"
        directory.mkdir(parents=True, exist_ok=True)
        write(directory / f"net{index:03d}.prototxt", text)
    return text, upgrade_text(text).text


@pytest.mark.parametrize(("signum", "group"), SIGNALS)
def test_a_signal_mid_batch_leaves_every_file_whole_and_no_temp_file(tmp_path: Path, signum: int, group: bool) -> None:
    tree = tmp_path / "tree"
    legacy, upgraded = make_tree(tree, 300, 30)
    first = tree / "group0" / "net000.prototxt"
    process = subprocess.Popen(
        [sys.executable, "-m", "upgrade_tool", "-j", "2", "tree"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(lambda: first.read_text() != legacy, process)
        send(process, signum, group)
        stderr = process.communicate(timeout=60)[1]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert "Traceback" not in stderr
    assert process.returncode == 130, stderr
    lines = stderr.splitlines()
    assert INTERRUPTED in lines, stderr
    # Before it: the lines of files reported in order; after it: files whose reports came in
    # before the signal but could not be printed yet (an earlier file was still in hand).
    before, after = lines[: lines.index(INTERRUPTED)], lines[lines.index(INTERRUPTED) + 1 :]
    assert all(": upgraded" in line for line in before), stderr
    listed = [line.removeprefix(WRITTEN_BEFORE) for line in after]
    assert all(line.startswith(WRITTEN_BEFORE) for line in after), stderr
    assert all((tmp_path / name).read_text() == upgraded for name in listed), stderr
    contents = [path.read_text() for path in sorted(tree.rglob("*.prototxt"))]
    assert len(contents) == 300
    assert set(contents) <= {legacy, upgraded}, "a file is neither its original nor its upgrade"
    assert legacy in contents and upgraded in contents, "the signal should have come mid-batch"
    assert temp_files(tree) == []
    assert [name for name in everything(tree) if Path(name).name.startswith(".")] == []


def test_sigterm_to_the_whole_process_group_never_hangs(tmp_path: Path) -> None:
    # When every process gets the signal at once, a worker could die holding one
    # of multiprocessing.Pool's queue locks, and the parent wait for it for ever (it
    # did, about one run in seven). Workers ignore the signal; the parent stops them.
    rng = random.Random(6)
    for trial in range(8):
        tree = tmp_path / f"tree{trial}"
        legacy, upgraded = make_tree(tree, 150, 30)
        first = tree / "group0" / "net000.prototxt"
        process = subprocess.Popen(
            [sys.executable, "-m", "upgrade_tool", "-q", "-j", "2", str(tree)],
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            wait_for(lambda: first.read_text() != legacy, process)  # noqa: B023 - used at once
            time.sleep(rng.uniform(0, 0.05))
            os.killpg(process.pid, signal.SIGTERM)
            stderr = process.communicate(timeout=30)[1]
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                pytest.fail(f"bn-upgrade hung after SIGTERM to its process group (trial {trial})")
        assert process.returncode in (0, 130), stderr
        assert "Traceback" not in stderr
        assert {path.read_text() for path in tree.rglob("*.prototxt")} <= {legacy, upgraded}
        assert temp_files(tree) == []


def test_an_interrupted_batch_can_simply_be_run_again(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    legacy, upgraded = make_tree(tree, 60, 30)
    first = tree / "group0" / "net000.prototxt"
    process = subprocess.Popen(
        [sys.executable, "-m", "upgrade_tool", "-q", "-j", "2", "tree"], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: first.read_text() != legacy, process)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    again = run("-q", "-j", "2", "tree", cwd=tmp_path)
    assert again.returncode == 0
    assert {path.read_text() for path in tree.rglob("*.prototxt")} == {upgraded}


# -- --backup ---------------------------------------------------------------------------------


def test_backup_keeps_the_original_bytes_beside_the_upgraded_file(tmp_path: Path) -> None:
    original = b"\xef\xbb\xbf" + LEGACY.replace("\n", "\r\n").encode()  # BOM and CRLF: bytes, not text
    net = write(tmp_path / "net.prototxt", original, mode=0o600)
    completed = run("--backup", ".orig", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 0
    backup = tmp_path / "net.prototxt.orig"
    assert backup.read_bytes() == original
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600, "a backup is as private as its original"
    assert net.read_bytes() == b"\xef\xbb\xbf" + UPGRADED.replace("\n", "\r\n").encode()
    assert everything(tmp_path) == ["net.prototxt", "net.prototxt.orig"]


def test_backup_is_not_written_for_up_to_date_files_or_with_check_or_diff(tmp_path: Path) -> None:
    modern = write(tmp_path / "modern.prototxt", MODERN)
    legacy = write(tmp_path / "legacy.prototxt", LEGACY)
    before = fingerprint(legacy)
    for mode in ("--check", "--diff"):
        assert run(mode, "--backup", ".orig", "legacy.prototxt", "modern.prototxt", cwd=tmp_path).returncode == 1
        assert fingerprint(legacy) == before
        assert everything(tmp_path) == ["legacy.prototxt", "modern.prototxt"]
    modern_before = fingerprint(modern)
    assert run("--backup", ".orig", "legacy.prototxt", "modern.prototxt", cwd=tmp_path).returncode == 0
    assert fingerprint(modern) == modern_before
    assert everything(tmp_path) == ["legacy.prototxt", "legacy.prototxt.orig", "modern.prototxt"]


def test_backup_in_a_parallel_batch_and_of_a_binary_model(tmp_path: Path) -> None:
    from upgrade_tool import caffe_pb2

    tree = tmp_path / "tree"
    legacy, upgraded = make_tree(tree, 6, 2)
    write(tree / "group0" / "modern.prototxt", MODERN)
    net = caffe_pb2.NetParameter(name="net")
    net.layer.add(name="bn", type="BatchNorm").param.add(lr_mult=0)
    model_bytes = net.SerializeToString()
    write(tree / "group1" / "net.caffemodel", model_bytes)
    completed = run("-q", "-j", "2", "--backup", "~", "tree", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    for path in tree.rglob("*.prototxt"):
        if path.name != "modern.prototxt":
            assert path.read_text() == upgraded
            assert Path(f"{path}~").read_text() == legacy
    assert not (tree / "group0" / "modern.prototxt~").exists()
    assert (tree / "group1" / "net.caffemodel~").read_bytes() == model_bytes
    assert (tree / "group1" / "net.caffemodel").read_bytes() != model_bytes
    assert temp_files(tree) == []


def test_an_old_backup_is_replaced_by_the_current_original(tmp_path: Path) -> None:
    write(tmp_path / "net.prototxt", LEGACY)
    write(tmp_path / "net.prototxt.orig", "an older backup\n")
    assert run("--backup", ".orig", "net.prototxt", cwd=tmp_path).returncode == 0
    assert (tmp_path / "net.prototxt.orig").read_text() == LEGACY


def test_file_error_names_the_file_it_is_about(tmp_path: Path) -> None:
    with pytest.raises(FileError) as caught:
        replace_file(tmp_path / "missing" / "x.prototxt", b"x")
    assert caught.value.path == str(tmp_path / "missing" / "x.prototxt")
    assert str(caught.value) == "cannot write: No such file or directory"


# -- temp files a killed run left ---------------------------------------------------------------


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=60)
    return process.pid


def stale_temp(directory: Path, name: str, pid: int) -> Path:
    temp = directory / f".{upgrade_tool.files.temp_stem(name)}.{pid}-0a1b2c.bn-upgrade.tmp"
    temp.write_bytes(b"half an upgrade")
    return temp


def kill_mid_write(tmp_path: Path, *args: str) -> None:
    """Run bn-upgrade until a write is under way, then SIGKILL it (and wait until it is gone)."""
    in_hand = tmp_path / "in_hand"
    in_hand.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-c", STALL_IN_FSYNC, str(in_hand), "60", "-j", "1", *args],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(lambda: any(in_hand.iterdir()), process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="finds the file in hand through /proc")
def test_a_temp_file_a_sigkill_left_is_reported_then_removed_when_its_file_is_written(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    net = write(models / "net.prototxt", LEGACY)
    kill_mid_write(tmp_path, "models")
    [temp] = temp_files(models)
    assert net.read_text() == LEGACY, "a killed write leaves the original as it was"
    said = f"models/{temp}: IO005 a temp file left by a bn-upgrade run that was killed"

    check = run("--check", "models", cwd=tmp_path)
    assert check.returncode == 1
    assert check.stderr.splitlines()[0] == f"{said}; --clean removes it"
    assert temp_files(models) == [temp], "--check removes nothing"

    upgrade = run("models", cwd=tmp_path)
    assert upgrade.returncode == 0
    assert upgrade.stderr.splitlines() == [
        f"{said}; removed",
        "models/net.prototxt: upgraded (BatchNorm: removed 9 param blocks in 3 layers)",
    ]
    assert net.read_text() == UPGRADED
    assert everything(models) == ["net.prototxt"]


@pytest.mark.parametrize("name", ["net.prototxt", "n" * 246 + ".prototxt"], ids=["a short name", "a 255-byte name"])
def test_clean_removes_stale_temp_files_where_nothing_is_written(tmp_path: Path, name: str) -> None:
    write(tmp_path / name, MODERN)
    temp = stale_temp(tmp_path, name, dead_pid())
    completed = run("--check", "--clean", "--report", "r.json", name, cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stderr.splitlines() == [
        f"{temp.name}: IO005 a temp file left by a bn-upgrade run that was killed; removed"
    ]
    assert not temp.exists()
    [record] = json.loads((tmp_path / "r.json").read_text())["files"]
    assert record["stale_temp_files"] == [{"path": temp.name, "removed": True}]


def test_a_temp_file_of_a_run_still_going_is_never_touched(tmp_path: Path) -> None:
    net = write(tmp_path / "net.prototxt", LEGACY)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        temp = stale_temp(tmp_path, "net.prototxt", alive.pid)
        completed = run("--clean", "net.prototxt", cwd=tmp_path)
    finally:
        alive.kill()
        alive.wait(timeout=60)
    assert completed.returncode == 0
    assert completed.stderr.splitlines() == ["net.prototxt: upgraded (BatchNorm: removed 9 param blocks in 3 layers)"]
    assert temp.read_bytes() == b"half an upgrade"
    assert net.read_text() == UPGRADED


def test_only_temp_files_of_the_files_processed_are_looked_at(tmp_path: Path) -> None:
    write(tmp_path / "net.prototxt", LEGACY)
    pid = dead_pid()
    others = [
        stale_temp(tmp_path, "other.prototxt", pid),  # another file's
        tmp_path / f".net.prototxt.{pid}.bn-upgrade.tmp",  # not bn-upgrade's naming
        tmp_path / ".net.prototxt.abcdefgh.bn-upgrade.tmp",  # an older bn-upgrade's, with no pid to check
    ]
    for other in others[1:]:
        other.write_bytes(b"x")
    completed = run("--clean", "net.prototxt", cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stderr.splitlines() == ["net.prototxt: upgraded (BatchNorm: removed 9 param blocks in 3 layers)"]
    assert all(other.exists() for other in others)


def test_stale_temp_files_beside_an_out_dir_output_go_when_it_is_written(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    (tmp_path / "OUT").mkdir()
    write(tmp_path / "tree" / "net.prototxt", LEGACY)
    temp = stale_temp(tmp_path / "OUT", "net.prototxt", dead_pid())
    completed = run("--out-dir", "OUT", "tree", cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stderr.splitlines()[0] == (
        f"OUT/{temp.name}: IO005 a temp file left by a bn-upgrade run that was killed; removed"
    )
    assert everything(tmp_path / "OUT") == ["net.prototxt"]


@pytest.mark.parametrize("length", [100, 224, 225, 255])
def test_temp_names_fit_name_max_and_tell_long_names_apart(length: int) -> None:
    name = "a" * (length - 10) + "x.prototxt"
    twin = "a" * (length - 10) + "y.prototxt"
    for one in (name, twin):
        temp = f".{upgrade_tool.files.temp_stem(one)}.4194304-abcdef.bn-upgrade.tmp"
        assert len(temp.encode()) <= 255
    assert upgrade_tool.files.temp_stem(name) != upgrade_tool.files.temp_stem(twin)
    assert (upgrade_tool.files.temp_stem(name) == name) == (length <= 224)
