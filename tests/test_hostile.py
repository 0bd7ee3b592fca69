"""Hostile input: one line on stderr and exit 2 (or a proven result), never a traceback, never a hang.

Every case runs the real command in a subprocess with a timeout, and checks that
stderr is exactly one line, `PATH:LINE:COL: message` for text or `PATH: message`
for a binary model or a file that cannot be read at all, and that the input is
left byte for byte as it was. The 100 MB cases also print the child's wall
time and peak memory (`os.wait4`); no test asserts either (bench/ measures them).

Set BN_UPGRADE_SLOW=1 to also read a valid 100 MB one-line net of 5 million
layers (about 2.5 minutes and 12 GB: each layer a syntax node and a protobuf
message).
"""

from __future__ import annotations

import gzip
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from upgrade_tool import caffe_pb2, upgrade_text
from upgrade_tool.wire import encode_tag, length_prefix

MB = 1 << 20
ERROR = re.compile(
    r"^(?P<path>[^:]+)(?::(?P<line>\d+):(?P<column>\d+))?: (?:(?P<code>(?:E|IO|BUG)\d{3}) )?(?P<message>.+)$"
)
SLOW = os.environ.get("BN_UPGRADE_SLOW") == "1"
LEGACY_BN = 'layer { name: "bn" type: "BatchNorm" bottom: "x" top: "x" param { lr_mult: 0 } }\n'


@dataclass(frozen=True)
class Run:
    code: int
    stdout: bytes
    stderr: str
    seconds: float
    peak_mb: float | None  # the child's peak resident memory, where the OS reports it


# Measures the command from a small go-between: a child's peak memory counts the
# memory of the process it was forked from, and pytest's can be large.
MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as report:
    report.write("%d %d" % (os.waitstatus_to_exitcode(status), usage.ru_maxrss))
"""


def bn_upgrade(*args: str, cwd: Path, timeout: float = 60) -> Run:
    """Run bn-upgrade; fail on a hang (timeout) or a traceback; measure time and peak memory."""
    command = [sys.executable, "-m", "upgrade_tool", *args]
    with (
        tempfile.TemporaryDirectory() as scratch,
        open(f"{scratch}/out", "w+b") as out,
        open(f"{scratch}/err", "w+b") as err,
    ):
        measured = hasattr(os, "wait4")
        if measured:
            command = [sys.executable, "-c", MEASURE, f"{scratch}/report", *command]
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, start_new_session=True)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail(f"bn-upgrade hung: still running after {timeout} s ({' '.join(args)[:200]})")
        seconds = time.monotonic() - started
        peak = None
        if measured:
            code_text, peak_text = Path(f"{scratch}/report").read_text().split()
            code, peak = int(code_text), int(peak_text) / (MB if sys.platform == "darwin" else 1024)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read().decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    return Run(code, stdout, stderr, seconds, peak)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    os.utime(path, ns=(1_500_000_000_000_000_000,) * 2)
    return path


def fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def one_line_error(run: Run, name: str) -> re.Match[str]:
    assert run.code == 2, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    match = ERROR.match(lines[0])
    assert match is not None, lines[0]
    assert match["path"] == name
    return match


def model(net: caffe_pb2.NetParameter) -> bytes:
    data: bytes = net.SerializeToString()
    return data


def legacy_model() -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter(name="net")
    layer = net.layer.add(name="bn", type="BatchNorm", bottom=["x"], top=["x"])
    layer.param.add(lr_mult=0)
    layer.blobs.add().data.extend([1.0, 2.0])
    return net


def nested(depth: int, number: int = 999) -> bytes:
    """A field holding a field holding ... `depth` levels of length-delimited nesting."""
    inner = b""
    for _ in range(depth):
        inner = length_prefix(number, len(inner)) + inner
    return inner


def layer_bytes(*parts: bytes) -> bytes:
    body = b"".join(parts)
    return length_prefix(100, len(body)) + body


# -- text that is not text, or not UTF-8 --------------------------------------------------------

LEGACY_TEXT = b'name: "net"\n' + LEGACY_BN.encode()
TEXT_CASES = [
    # (file name, bytes, line, column, words)
    ("latin1.prototxt", b'name: "caf\xe9"  # caf\xe9\n', 1, 11, "not valid UTF-8 (byte 0xe9)"),
    ("in_string.prototxt", b'name: "n\xff"\n', 1, 9, "not valid UTF-8 (byte 0xff)"),
    ("continuation.prototxt", b'layer {\n  name: "\x80"\n}\n', 2, 10, "not valid UTF-8 (byte 0x80)"),
    ("overlong.prototxt", b'name: "\xc0\xaf"\n', 1, 8, "not valid UTF-8 (byte 0xc0)"),
    ("surrogate.prototxt", b'name: "\xed\xa0\x80"\n', 1, 8, "not valid UTF-8 (byte 0xed)"),
    ("cut_at_the_end.prototxt", b'name: "net"\n\xe2\x82', 2, 1, "not valid UTF-8 (byte 0xe2)"),
    ("utf16.prototxt", '\ufeffname: "net"\n'.encode("utf-16"), 1, 1, "not valid UTF-8 (byte 0xff)"),
    # Where C++ TextFormat (Caffe's parser) reports them too (bench/fuzz_reader.py --against-cpp).
    ("a_model.prototxt", model(legacy_model()), 2, 1, "unexpected control character '\\x03'"),
    ("gzipped.prototxt", gzip.compress(LEGACY_TEXT, mtime=0), 1, 1, "unexpected control character '\\x1f'"),
    ("random.prototxt", random.Random(1).randbytes(3000), 1, 1, "is this a binary file?"),
    ("png.prototxt", b"\x89PNG\r\n\x1a\n" + bytes(100), 1, 1, "not valid UTF-8 (byte 0x89)"),
    ("only_nuls.prototxt", bytes(1000), 1, 1, "NUL byte in text"),
    ("nul_after_bom.prototxt", b'\xef\xbb\xbf\x00name: "n"\n', 1, 1, "NUL byte in text"),
    ("nul_between_fields.prototxt", b'name: "n"\x00\n' + LEGACY_BN.encode(), 1, 10, "NUL byte in text"),
    ("nul_in_a_string.prototxt", b'name: "a\x00b"\n' + LEGACY_BN.encode(), 1, 9, "NUL byte in text"),
    ("nul_in_a_comment.prototxt", b'name: "n" # a \x00 b\n' + LEGACY_BN.encode(), 1, 15, "NUL byte in text"),
    ("control_character.prototxt", b'name: "n"\n\x07\n', 2, 1, "unexpected control character"),
]


@pytest.mark.parametrize(("name", "data", "line", "column", "words"), TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_text_that_cannot_be_read_is_one_line_with_its_position(
    tmp_path: Path, name: str, data: bytes, line: int, column: int, words: str
) -> None:
    path = write(tmp_path / name, data)
    before = fingerprint(path)
    error = one_line_error(bn_upgrade(name, cwd=tmp_path), name)
    assert (int(error["line"]), int(error["column"])) == (line, column)
    assert words in error["message"]
    assert fingerprint(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


COMMENT_BYTES = [
    ("latin1_comment", b'name: "net"  # caf\xe9\n' + LEGACY_BN.encode()),
    ("cut_at_the_end", LEGACY_TEXT + b"# \xe2\x82"),
    ("lone_cr", LEGACY_TEXT.replace(b"\n", b"\r") + b"# \xff\r"),
    ("crlf", b"# \xe9t\xe9\r\n" + LEGACY_TEXT.replace(b"\n", b"\r\n")),
]


@pytest.mark.parametrize(("stem", "data"), COMMENT_BYTES, ids=[c[0] for c in COMMENT_BYTES])
def test_bytes_that_are_not_utf8_in_a_comment_come_out_as_they_went_in(tmp_path: Path, stem: str, data: bytes) -> None:
    # Caffe reads them (a comment is bytes to it): upgraded in place and to stdout, byte for byte.
    path = write(tmp_path / f"{stem}.prototxt", data)
    expected = data.replace(b" param { lr_mult: 0 }", b"")
    to_stdout = bn_upgrade("-o", "-", path.name, cwd=tmp_path)
    assert (to_stdout.code, to_stdout.stdout) == (0, expected), to_stdout.stderr
    run = bn_upgrade(path.name, cwd=tmp_path)
    assert run.code == 0, run.stderr
    assert path.read_bytes() == expected


def test_a_nul_byte_is_refused_the_way_caffe_refuses_it() -> None:
    # protobuf's tokenizer ends a string, and rejects the text, at a NUL byte:
    # before this was fixed, one inside a string or a comment was accepted.
    from upgrade_tool import InputError

    for text in ('name: "a\x00b"\n', 'name: "n" # \x00\n', "name: 'a\x00'\n"):
        with pytest.raises(InputError, match="NUL byte"):
            upgrade_text(text)


# -- binary models that are not models ------------------------------------------------------------

BINARY_CASES = [
    ("text.caffemodel", LEGACY_TEXT, "a text file, not a binary model"),
    ("json.caffemodel", b'{"name": "net", "layer": []}\n', "a text file, not a binary model"),
    ("empty.caffemodel", b"", "an empty file is not a Caffe model"),
    ("claims_2gb.caffemodel", length_prefix(100, 2**31 - 1) + bytes(1000), "claims 2147483647 bytes but only 1000"),
    ("claims_2gb_blob.caffemodel", layer_bytes(length_prefix(1, 2), b"bn", length_prefix(7, 2**31), bytes(10)),
     "claims 2147483648 bytes but only 10 remain"),
    ("claims_16eb.caffemodel", encode_tag(100, 2) + b"\xff" * 9 + b"\x01" + bytes(100),
     "claims 18446744073709551615 bytes but only 100"),
    ("groups_10000_deep.caffemodel",
     layer_bytes(length_prefix(1, 2), b"bn", encode_tag(999, 3) * 10_000, encode_tag(999, 4) * 10_000),
     "groups nested too deeply"),
    ("layer_and_layers.caffemodel",
     model(caffe_pb2.NetParameter(layer=[{"name": "a", "type": "ReLU"}], layers=[{"name": "b", "type": 18}])),
     "the net has both 'layer' and V1 'layers' entries"),
    ("three_input_dims.caffemodel",
     model(caffe_pb2.NetParameter(input=["data"], input_dim=[1, 3, 4], layer=[{"name": "r", "type": "ReLU"}])),
     "3 input_dim values given for 1 input; expected 4 per input"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "data", "words"), BINARY_CASES, ids=[c[0] for c in BINARY_CASES])
def test_a_binary_model_that_cannot_be_read_is_one_line(tmp_path: Path, name: str, data: bytes, words: str) -> None:
    path = write(tmp_path / name, data)
    before = fingerprint(path)
    run = bn_upgrade(name, cwd=tmp_path)
    error = one_line_error(run, name)
    assert error["line"] is None  # a binary model has no lines
    assert words in error["message"]
    assert fingerprint(path) == before


def test_a_fork_field_nested_10000_deep_in_a_model_survives_the_upgrade(tmp_path: Path) -> None:
    # Protobuf keeps an unknown length-delimited field as bytes: no recursion, no limit.
    deep = nested(10_000)
    conv = layer_bytes(length_prefix(1, 4), b"conv", length_prefix(2, 11), b"Convolution", deep)
    path = write(tmp_path / "net.caffemodel", conv + model(legacy_model()))
    run = bn_upgrade("net.caffemodel", cwd=tmp_path)
    assert run.code == 0, run.stderr
    output = path.read_bytes()
    assert deep in output
    upgraded = caffe_pb2.NetParameter.FromString(output)
    assert [layer.name for layer in upgraded.layer] == ["conv", "bn"]
    assert not upgraded.layer[1].param


# -- nets that are wrong, each in one line ----------------------------------------------------------

NET_CASES = [
    ("three_input_dims", 'input: "data"\n' + "input_dim: 1\n" * 3 + LEGACY_BN, 1, 1, "3 input_dim values given for 1"),
    ("five_input_dims", 'input: "data"\n' + "input_dim: 1\n" * 5 + LEGACY_BN, 6, 1, "5 input_dim values given for 1"),
    ("two_inputs_four_dims", 'input: "a"\ninput: "b"\n' + "input_dim: 1\n" * 4, 2, 1, "4 input_dim values given for 2"),
    ("dims_without_input", "input_dim: 1\n" * 4 + LEGACY_BN, 1, 1, "4 input_dim values given for 0 inputs"),
    ("layer_and_layers", 'layer { name: "a" type: "ReLU" }\nlayers { name: "b" type: RELU }\n', 2, 1,
     "the net has both 'layer' and V1 'layers' entries"),
    ("layers_then_layer", 'layers { name: "b" type: RELU }\nlayer { name: "a" type: "ReLU" }\n', 1, 1,
     "the net has both 'layer' and V1 'layers' entries"),
    ("unclosed_10000_deep", "layer {" * 10_000, 1, 70_001, "expected a field name or '}', found end of file"),
    ("mismatched_closers", "foo {" * 5_000 + ">" + "}" * 4_999, 1, 25_001, "found '>'"),
    ("scalar_lists_nested", 'layer { name: "c" foo: [[1]] }\n', 1, 25, "expected a value, found '['"),
    ("number_5000_digits", "input_dim: " + "1" * 5000 + "\n", 1, 12, "(5000 characters) is out of range for"),
    ("hex_5000_digits", "input_dim: 0x" + "f" * 5000 + "\n", 1, 12, "(5002 characters) is out of range for"),
]  # fmt: skip


@pytest.mark.parametrize(("stem", "text", "line", "column", "words"), NET_CASES, ids=[c[0] for c in NET_CASES])
def test_a_net_caffe_would_crash_on_is_one_line_with_its_position(
    tmp_path: Path, stem: str, text: str, line: int, column: int, words: str
) -> None:
    name = f"{stem}.prototxt"
    path = write(tmp_path / name, text.encode())
    before = fingerprint(path)
    for options in ((), ("--format", "canonical")):
        error = one_line_error(bn_upgrade(*options, name, cwd=tmp_path), name)
        assert (int(error["line"]), int(error["column"])) == (line, column)
        assert words in error["message"]
        assert len(error["message"]) < 300, "a message quotes the input only in part"
    assert fingerprint(path) == before


FUZZ_FINDINGS = [
    # (what bench/fuzz_reader.py found, the input, options, line, column, words)
    ("a singular field given twice, first with a value the schema does not know (was: internal error 123)",
     "base_lr: 0.1\nsolver_type: MAX solver_type: ADAM\n", (), 2, 18, "'solver_type' is given more than once"),
    ("the same, the other way round", "base_lr: 0.1\nsolver_type: ADAM\nsolver_type: MAX\n", (), 3, 1,
     "'solver_type' is given more than once"),
    ("the same, both values unknown", 'layers { name: "a" type: FOO type: BAR }\n', (), 1, 30,
     "'type' is given more than once"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "options", "line", "column", "words"),
    [case[1:] for case in FUZZ_FINDINGS],
    ids=[c[0] for c in FUZZ_FINDINGS],
)
def test_what_the_fuzzer_found_is_a_one_line_error(
    tmp_path: Path, text: str, options: tuple[str, ...], line: int, column: int, words: str
) -> None:
    path = write(tmp_path / "found.prototxt", text.encode())
    error = one_line_error(bn_upgrade(*options, path.name, cwd=tmp_path), path.name)
    assert (int(error["line"]), int(error["column"])) == (line, column)
    assert words in error["message"]


def test_what_the_fuzzer_found_upgrades_keeping_both_fork_fields(tmp_path: Path) -> None:
    # atheris: a V0 layer with a fork field of its own and one inside its weight_filler.
    # The V0 upgrade moves the filler into convolution_param, after the layer's own
    # fork field; both come out byte for byte, but the proof compared them in order
    # and failed (internal error 123, nothing written).
    text = 'layers {\n  layer {\n    type: "conv"\n    weight_filler {\n      tyre: "gaussian"\n    }\n'
    text += "    weighp_decay: 1.\n  }\n}\n"
    path = write(tmp_path / "v0.prototxt", text.encode())
    run = bn_upgrade(path.name, cwd=tmp_path)
    assert run.code == 1, run.stderr  # both names are known to no dialect: a human should look (DL002)
    assert "did you mean 'type'?" in run.stderr and "did you mean 'weight_decay'?" in run.stderr
    upgraded = path.read_text()
    assert 'tyre: "gaussian"' in upgraded and "weighp_decay: 1." in upgraded
    assert 'type: "Convolution"' in upgraded


def test_an_enum_number_of_5000_digits_is_quoted_in_part(tmp_path: Path) -> None:
    path = write(tmp_path / "enum.prototxt", ('layers { name: "a" type: ' + "9" * 5000 + " }\n").encode())
    error = one_line_error(bn_upgrade("--strict", path.name, cwd=tmp_path), path.name)
    assert (error["line"], error["column"]) == ("1", "26")
    assert error["message"].startswith("9999999999")  # an enum is an int32: out of range, as C++ says too
    assert "is out of range for 'type'" in error["message"]
    assert "(5000 characters)" in error["message"] and len(error["message"]) < 300


# -- nesting 10,000 levels deep that is valid: kept as written ---------------------------------------

DEPTH = 10_000
DEEP_CASES = [
    ("braces", "foo {" * DEPTH + "}" * DEPTH),
    ("angle_brackets", "foo <" * DEPTH + ">" * DEPTH),
    ("colon_braces", "foo: {" * DEPTH + "}" * DEPTH),
    ("both_brackets", "foo <" * (DEPTH // 2) + "bar {" * (DEPTH // 2) + "}" * (DEPTH // 2) + ">" * (DEPTH // 2)),
    ("lists_of_messages", "foo [{" * DEPTH + "}]" * DEPTH),
    ("known_field_then_deeper", "include {" * DEPTH + "}" * DEPTH),
]


@pytest.mark.parametrize(("stem", "deep"), DEEP_CASES, ids=[c[0] for c in DEEP_CASES])
def test_nesting_10000_deep_is_kept_byte_for_byte_while_the_net_is_upgraded(
    tmp_path: Path, stem: str, deep: str
) -> None:
    # Nothing here recurses: the reader keeps its own stack, and what the schema
    # does not know (a fork's field, or a field one level too deep) is kept as text.
    text = f'name: "net"\nlayer {{\n  name: "c"\n  type: "Convolution"\n  {deep}\n}}\n{LEGACY_BN}'
    path = write(tmp_path / f"{stem}.prototxt", text.encode())
    run = bn_upgrade(path.name, cwd=tmp_path)
    assert run.code == 1, run.stderr  # no dialect knows the deep field: upgraded, kept, and reported (DL002)
    assert " DL002 " in run.stderr
    assert path.read_text() == text.replace(" param { lr_mult: 0 }", "")
    canonical = bn_upgrade("--format", "canonical", "--check", path.name, cwd=tmp_path)
    assert "unknown field" in one_line_error(canonical, path.name)["message"]


def test_nesting_200000_deep_is_no_harder(tmp_path: Path) -> None:
    depth = 200_000
    path = write(tmp_path / "deep.prototxt", ("foo {" * depth + "}" * depth + "\n" + LEGACY_BN).encode())
    run = bn_upgrade("--check", path.name, cwd=tmp_path)
    assert run.code == 1, run.stderr


# -- files with nothing in them ------------------------------------------------------------------------

NOTHING_CASES = [
    ("empty", b""),
    ("only_comments", b"# a net that was never written\n# nothing here\n"),
    ("only_blank_lines", b"\n\n  \t\r\n\n"),
    ("bom_only", b"\xef\xbb\xbf"),
    ("comment_without_final_newline", b"# the end"),
]


@pytest.mark.parametrize(("stem", "data"), NOTHING_CASES, ids=[c[0] for c in NOTHING_CASES])
def test_a_file_with_no_fields_is_an_empty_net_and_left_untouched(tmp_path: Path, stem: str, data: bytes) -> None:
    # Caffe reads such a file as an empty NetParameter; there is nothing to upgrade.
    path = write(tmp_path / f"{stem}.prototxt", data)
    before = fingerprint(path)
    run = bn_upgrade("-v", path.name, cwd=tmp_path)
    assert (run.code, run.stderr.splitlines()[-1]) == (0, f"{path.name}: up to date")
    assert fingerprint(path) == before


def test_a_directory_named_like_a_net(tmp_path: Path) -> None:
    (tmp_path / "x.prototxt").mkdir()
    (tmp_path / "y.caffemodel").mkdir()
    alone = bn_upgrade("x.prototxt", cwd=tmp_path)
    assert (alone.code, alone.stderr) == (
        0,
        "x.prototxt: no files to upgrade (looked for *.prototxt, *.pt, *.caffemodel)\n",
    )
    write(tmp_path / "x.prototxt" / "inner.prototxt", LEGACY_TEXT)
    walked = bn_upgrade("-q", ".", cwd=tmp_path)
    assert walked.code == 0, walked.stderr
    assert (tmp_path / "x.prototxt" / "inner.prototxt").read_text() == upgrade_text(LEGACY_TEXT.decode()).text
    output = bn_upgrade("-o", "x.prototxt", "x.prototxt/inner.prototxt", cwd=tmp_path)
    assert one_line_error(output, "x.prototxt")["message"] == "cannot write: is a directory"
    usage = bn_upgrade("-o", "-", "y.caffemodel", cwd=tmp_path)
    assert usage.code == 2 and "exactly one input file" in usage.stderr


# -- 100 MB on one line -----------------------------------------------------------------------------


HUGE = 100 * MB
HUGE_ERRORS = [  # the bytes are made in the test, not held by pytest for the whole run
    ("unterminated_string", lambda: b'name: "' + b"a" * HUGE, 1, 7, "unterminated string"),
    ("identifier", lambda: b"a" * HUGE, 1, HUGE + 1, "(104857600 characters)"),
    ("malformed_number", lambda: b"name: " + b"1" * HUGE + b"x", 1, 7, "invalid number '1111"),
    ("string_cut_by_a_nul", lambda: b'name: "' + b"a" * HUGE + b"\x00", 1, HUGE + 8, "NUL byte"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("stem", "make", "line", "column", "words"), HUGE_ERRORS, ids=[c[0] for c in HUGE_ERRORS])
def test_100_mb_on_one_line_is_a_quick_one_line_error(
    tmp_path: Path, stem: str, make: Callable[[], bytes], line: int, column: int, words: str
) -> None:
    data = make()
    path = write(tmp_path / f"{stem}.prototxt", data)
    run = bn_upgrade(path.name, cwd=tmp_path)
    error = one_line_error(run, path.name)
    assert (int(error["line"]), int(error["column"])) == (line, column)
    assert words in error["message"]
    assert len(run.stderr) < 300
    print(f"{stem}: {run.seconds:.1f} s, peak {run.peak_mb} MB")


HUGE_VALID = [
    ("comment", lambda: b"# " + b"a" * HUGE + b"\n" + LEGACY_TEXT),
    ("string", lambda: b'name: "' + b"a" * HUGE + b'"\n' + LEGACY_BN.encode()),
    # Escapes are undone one by one in Python: about 0.25 s per MB each time the
    # text is read (twice here). 10 MB keeps this file quick; 100 MB takes 54 s.
    ("escaped_string", lambda: b'name: "' + b"\\n" * (5 * MB) + b'"\n' + LEGACY_BN.encode()),
]


@pytest.mark.slow
@pytest.mark.parametrize(("stem", "make"), HUGE_VALID, ids=[c[0] for c in HUGE_VALID])
def test_a_valid_net_with_a_100_mb_line_is_upgraded(tmp_path: Path, stem: str, make: Callable[[], bytes]) -> None:
    data = make()
    path = write(tmp_path / f"{stem}.prototxt", data)
    run = bn_upgrade("-q", path.name, cwd=tmp_path)
    assert run.code == 0, run.stderr
    assert path.read_bytes() == data.replace(b" param { lr_mult: 0 }", b"")
    print(f"{stem}: {run.seconds:.1f} s, peak {run.peak_mb} MB")


def one_line_net(size: int, legacy: bool) -> bytes:
    unit = b'layer { name: "a" } '
    head = b'name: "n" ' + (LEGACY_BN.strip().encode() + b" " if legacy else b"")
    return head + unit * (size // len(unit))


@pytest.mark.parametrize(
    ("megabytes", "legacy"),
    [
        pytest.param(5, True, id="5 MB, upgraded", marks=pytest.mark.slow),
        pytest.param(
            100, False, id="100 MB, up to date", marks=pytest.mark.skipif(not SLOW, reason="BN_UPGRADE_SLOW=1")
        ),
    ],
)
def test_a_valid_one_line_net_of_many_layers_takes_linear_time_and_memory(
    tmp_path: Path, megabytes: int, legacy: bool
) -> None:
    # 260,000 layers per 5 MB, each a syntax node and a protobuf message: about
    # 1.5 s and 120 bytes per byte of input to read, twice that when the net
    # changes (the edited text is read again and compared with the first).
    data = one_line_net(megabytes * MB, legacy)
    path = write(tmp_path / "wide.prototxt", data)
    run = bn_upgrade("-q", path.name, cwd=tmp_path, timeout=60 * megabytes)
    assert run.code == 0, run.stderr
    assert path.read_bytes() == data.replace(b" param { lr_mult: 0 }", b"")
    print(f"{megabytes} MB one-line net: {run.seconds:.1f} s, peak {run.peak_mb} MB")


# -- more than the memory there is ------------------------------------------------------------------

UNDER_A_LIMIT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]) << 20, int(sys.argv[1]) << 20))
sys.argv = ["bn-upgrade", *sys.argv[2:]]
from upgrade_tool.cli import main
main()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="address-space limits as Linux sets them")
@pytest.mark.parametrize(
    ("megabytes", "limit", "words"),
    [
        # Checked before reading: protobuf's C code crashes (SIGSEGV) where it runs out of memory.
        pytest.param(
            17, 1000, ": E008 not enough memory: this input (17.8 MB) needs about", id="refused before reading"
        ),
        # A net read lazily (reader.LAZY_FROM) holds little more than its messages: checked all the same.
        pytest.param(3, 350, ": E008 not enough memory: this input (3.1 MB) needs about", id="refused, lazy"),
        # Smaller ones too: where protobuf runs out before the reader does, it crashes.
        pytest.param(1.9, 255, ": E008 not enough memory: this input (2.0 MB) needs about", id="refused, not lazy"),
    ],
)
def test_a_net_too_big_for_the_memory_there_is_is_a_one_line_error(
    tmp_path: Path, megabytes: float, limit: int, words: str
) -> None:
    data = one_line_net(int(megabytes * MB), legacy=True)
    path = write(tmp_path / "huge.prototxt", data)
    before = fingerprint(path)
    run = subprocess.run(
        [sys.executable, "-c", UNDER_A_LIMIT, str(limit), path.name], cwd=tmp_path, capture_output=True, timeout=120
    )
    stderr = run.stderr.decode()
    assert run.returncode == 2, stderr
    (line,) = stderr.splitlines()
    assert line.startswith("huge.prototxt" + words), line
    assert fingerprint(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.prototxt"]
