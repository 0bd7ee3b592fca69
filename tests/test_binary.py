"""Binary models (.caffemodel, .binaryproto): the same upgrades as text, weights byte for byte.

Every model here is built in the test with caffe_pb2 (or written byte by byte
where protobuf would not write it that way). The reference for each upgrade is
independent of the binary code: the same net printed as text and upgraded by
the text route, or the fully parsed net upgraded in memory and serialized by
protobuf itself.
"""

from __future__ import annotations

import math
import os
import random
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from google.protobuf import text_format
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import upgrade_tool.binary
import upgrade_tool.pipeline
from upgrade_tool import InputError, SelfCheckError, caffe_pb2, upgrade_text
from upgrade_tool.binary import BinaryResult, upgrade_binary
from upgrade_tool.codes import Code
from upgrade_tool.document import Document, Kind
from upgrade_tool.passes import PassResult, UpgradePass, all_passes
from upgrade_tool.settings import BnStyle, Settings
from upgrade_tool.wire import VARINT, encode_tag, length_prefix

REPO = Path(__file__).resolve().parents[1]
PASS_NAMES = {upgrade_pass.name for upgrade_pass in all_passes()}
NetParameter = caffe_pb2.NetParameter


# -- building models -------------------------------------------------------------


def blob(*shape: int, start: float = 0.0) -> caffe_pb2.BlobProto:
    """A blob of exactly representable values, so text and binary agree on them."""
    made = caffe_pb2.BlobProto()
    made.shape.dim.extend(shape)
    made.data.extend(start + i / 8 for i in range(math.prod(shape)))
    return made


def conv(net: NetParameter, name: str, bottom: str) -> None:
    layer = net.layer.add(name=name, type="Convolution", bottom=[bottom], top=[name])
    layer.convolution_param.num_output = 2
    layer.blobs.extend([blob(2, 1, 3, 3, start=1), blob(2, start=2)])


def batchnorm(net: NetParameter, name: str, *rates: float, shared: bool = False) -> caffe_pb2.LayerParameter:
    layer = net.layer.add(name=name, type="BatchNorm", bottom=[name], top=[name])
    for index, rate in enumerate(rates):
        param = layer.param.add(lr_mult=rate)
        if shared:
            param.name = f"{name}_stat{index}"
    layer.blobs.extend([blob(2, start=3), blob(2, start=4), blob(1, start=5)])
    return layer


def legacy_bn_net(*rates: float, shared: bool = False) -> NetParameter:
    net = NetParameter(name="net")
    net.layer.add(name="data", type="Input", top=["data"]).input_param.shape.add(dim=[1, 1, 4, 4])
    conv(net, "conv1", "data")
    batchnorm(net, "conv1", *rates, shared=shared)
    conv(net, "conv2", "conv1")
    batchnorm(net, "conv2", *rates, shared=shared)
    return net


def modern_net() -> NetParameter:
    net = legacy_bn_net(0, 0, 0)
    for layer in net.layer:
        if layer.type == "BatchNorm":
            del layer.param[:]
    return net


def v1_net() -> NetParameter:
    net = NetParameter(name="v1")
    net.input.append("data")
    net.input_dim.extend([1, 1, 4, 4])
    layer = net.layers.add(name="conv1", type=caffe_pb2.V1LayerParameter.CONVOLUTION, bottom=["data"], top=["conv1"])
    layer.blobs_lr.extend([1, 2])
    layer.weight_decay.extend([1, 0])
    layer.convolution_param.num_output = 2
    layer.blobs.extend([blob(2, 1, 3, 3), blob(2, start=1)])
    relu = net.layers.add(name="relu1", type=caffe_pb2.V1LayerParameter.RELU, bottom=["conv1"], top=["conv1"])
    relu.blobs.add()  # an empty blob is still a blob
    return net


def v0_net() -> NetParameter:
    net = NetParameter(name="v0")
    net.input.append("data")
    net.input_dim.extend([1, 1, 4, 4])
    pad = net.layers.add(bottom=["data"], top=["pad1"])
    pad.layer.name, pad.layer.type, pad.layer.pad = "pad1", "padding", 1
    layer = net.layers.add(bottom=["pad1"], top=["conv1"])
    layer.layer.name, layer.layer.type, layer.layer.num_output, layer.layer.kernelsize = "conv1", "conv", 2, 3
    layer.layer.blobs.extend([blob(2, 1, 3, 3), blob(2, start=1)])
    return net


def upgraded_in_memory(net: Message, options: Settings) -> Message:
    """The reference: the fully parsed net, upgraded by the passes directly."""
    for upgrade_pass in all_passes():
        if upgrade_pass.kind is Kind.NET:
            net = upgrade_pass.upgrade(Document("", None, net, ()), options).net
    return net


def write(path: Path, data: bytes, *, mtime_ns: int = 1_500_000_000_000_000_000) -> Path:
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    completed = subprocess.run([sys.executable, "-m", "upgrade_tool", *args], cwd=cwd, capture_output=True, timeout=120)
    assert b"Traceback" not in completed.stderr
    return completed


def needs_pass(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(name not in PASS_NAMES, reason=f"the {name} pass is not written yet")


# -- the same upgrade as text --------------------------------------------------------

AS_TEXT = [
    pytest.param(legacy_bn_net(0, 0, 0), Settings(), id="removes zero-rate BatchNorm params"),
    pytest.param(
        legacy_bn_net(0, 0, 0), Settings(bn_style=BnStyle.ZERO), id="zeroes BatchNorm params with bn-style zero"
    ),
    pytest.param(legacy_bn_net(0, 0, 0, shared=True), Settings(), id="keeps shared BatchNorm params with zero rates"),
    pytest.param(legacy_bn_net(1, 1, 0), Settings(unsafe_fixes=True), id="removes learnable params with unsafe fixes"),
    pytest.param(v1_net(), Settings(), id="upgrades a V1 net", marks=needs_pass("V1 to V2")),
    pytest.param(v0_net(), Settings(), id="upgrades a V0 net", marks=needs_pass("V0 to V1")),
]


@pytest.mark.parametrize(("net", "options"), AS_TEXT)
def test_binary_upgrade_equals_the_text_upgrade(net: NetParameter, options: Settings) -> None:
    result = upgrade_binary(net.SerializeToString(), options)
    text = upgrade_text(
        text_format.MessageToString(net),
        bn_style=options.bn_style.value,
        unsafe_fixes=options.unsafe_fixes,
        output_format="canonical",
    )
    assert result.changed and text.changed
    assert result.summaries == text.summaries
    assert [f.code for f in result.findings] == [f.code for f in text.findings]
    output = result.to_bytes()
    assert output is not None
    assert NetParameter.FromString(output) == text_format.Parse(text.text, NetParameter())


@pytest.mark.parametrize(("net", "options"), AS_TEXT)
def test_binary_output_is_what_protobuf_writes_for_the_upgraded_net(net: NetParameter, options: Settings) -> None:
    result = upgrade_binary(net.SerializeToString(), options)
    assert result.to_bytes() == upgraded_in_memory(net, options).SerializeToString()


@pytest.mark.parametrize(("net", "options"), AS_TEXT)
def test_binary_output_is_up_to_date(net: NetParameter, options: Settings) -> None:
    output = upgrade_binary(net.SerializeToString(), options).to_bytes()
    assert output is not None
    again = upgrade_binary(output, options)
    assert not again.changed and again.output is None


def test_a_layer_that_needs_a_human_is_left_alone_with_its_finding() -> None:
    result = upgrade_binary(legacy_bn_net(1, 1, 0).SerializeToString(), Settings())
    assert not result.changed and result.output is None
    assert [(f.code, f.needs_human) for f in result.findings] == [("BN001", True)] * 2
    assert result.findings[0].message.endswith("(at layer[2])")
    assert result.report().needs_human


# -- blob bytes ------------------------------------------------------------------------


def raw_blob_fields() -> list[bytes]:
    """BlobProto encodings protobuf would not write itself, each as a whole `blobs` field of a layer."""
    floats = b"".join(encode_tag(5, 5) + bytes([0, 0, 0x80, 0x3F + i]) for i in range(3))  # unpacked data
    shape = caffe_pb2.BlobShape(dim=[3]).SerializeToString()
    odd_order = length_prefix(7, len(shape)) + shape + length_prefix(5, 8) + bytes(range(8))  # shape before data
    repeated = encode_tag(1, VARINT) + b"\x05" + encode_tag(1, VARINT) + b"\x03"  # num twice: the last one counts
    fork = length_prefix(5, 4) + b"\x00\x00\xc0\x7f" + encode_tag(900, VARINT) + b"\x2a"  # a NaN, a fork field
    return [length_prefix(7, len(body)) + body for body in (floats, odd_order, repeated, fork)]


def test_blob_bytes_come_out_exactly_as_they_went_in() -> None:
    net = legacy_bn_net(0, 0, 0)
    layer = net.layer[2].SerializeToString() + b"".join(raw_blob_fields())
    data = net.SerializeToString() + length_prefix(100, len(layer)) + layer
    output = upgrade_binary(data, Settings()).to_bytes()
    assert output is not None
    for field in raw_blob_fields():
        assert output.count(field) == 1
    layers = zip(NetParameter.FromString(data).layer, NetParameter.FromString(output).layer, strict=True)
    for layer_in, layer_out in layers:
        assert [b.SerializeToString() for b in layer_in.blobs] == [b.SerializeToString() for b in layer_out.blobs]


def test_the_output_shares_the_input_buffer_instead_of_copying_weights() -> None:
    data = bytearray(legacy_bn_net(0, 0, 0).SerializeToString())
    result = upgrade_binary(data, Settings())
    assert result.output is not None
    views = [piece for piece in result.output if isinstance(piece, memoryview)]
    assert len(views) == result.blobs == 10
    assert all(view.obj is data for view in views)


# -- what is left alone ------------------------------------------------------------------


def test_an_up_to_date_model_is_not_rewritten(tmp_path: Path) -> None:
    model = write(tmp_path / "net.caffemodel", modern_net().SerializeToString())
    before = fingerprint(model)
    completed = run("-v", "net.caffemodel", cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stderr.decode().splitlines()[-1] == "net.caffemodel: up to date"
    assert fingerprint(model) == before
    assert sorted(os.listdir(tmp_path)) == ["net.caffemodel"]


def test_an_up_to_date_model_gives_no_output() -> None:
    result = upgrade_binary(modern_net().SerializeToString(), Settings())
    assert (result.changed, result.output, result.to_bytes()) == (False, None, None)


def unknown_everywhere() -> bytes:
    """A legacy net with fork fields at the top, in layers, in a blob and in a param block."""
    net = legacy_bn_net(0, 0, 0)
    conv_layer = net.layer[1]
    conv_layer.param.add().ParseFromString(encode_tag(77, VARINT) + b"\x01")
    weights = conv_layer.blobs[0].SerializeToString() + encode_tag(901, VARINT) + b"\x07"
    conv_layer.blobs[0].ParseFromString(weights)
    conv_layer.ParseFromString(conv_layer.SerializeToString() + length_prefix(950, 3) + b"abc")
    bn_layer = net.layer[2]
    bn_layer.ParseFromString(bn_layer.SerializeToString() + encode_tag(951, VARINT) + b"\x02")
    return net.SerializeToString() + encode_tag(999, VARINT) + b"\x01"


def test_fields_the_schema_does_not_know_survive() -> None:
    data = unknown_everywhere()
    result = upgrade_binary(data, Settings(unsafe_fixes=True))
    output = result.to_bytes()
    assert output is not None
    assert result.unknown_fields == (
        "field 999 in the net",
        "field 950 in layer[1]",
        "field 77 in layer[1].param[0]",
        "field 901 in layer[1].blobs[0]",
        "field 951 in layer[2]",
    )
    assert output == upgraded_in_memory(NetParameter.FromString(data), Settings(unsafe_fixes=True)).SerializeToString()
    for number, value in ((999, b"\x01"), (77, b"\x01"), (901, b"\x07"), (951, b"\x02")):
        assert output.count(encode_tag(number, VARINT) + value) == 1
    assert output.count(length_prefix(950, 3) + b"abc") == 1


def test_a_batchnorm_layer_with_a_fork_field_is_left_for_a_human() -> None:
    result = upgrade_binary(unknown_everywhere(), Settings())
    assert [(f.code, f.needs_human) for f in result.findings] == [("BN004", True)]
    assert "(field 951)" in result.findings[0].message
    assert result.findings[0].message.endswith("(at layer[2])")
    output = result.to_bytes()
    assert output is not None
    assert [len(layer.param) for layer in NetParameter.FromString(output).layer if layer.type == "BatchNorm"] == [3, 0]


def fork_v1_net() -> bytes:
    """A V1 net with a layer whose type number BVLC's enum does not have (a fork's ROI_POOLING, say)."""
    net = v1_net()
    roi = caffe_pb2.V1LayerParameter(name="roi", bottom=["conv1"], top=["roi"], blobs=[blob(2)])
    raw = roi.SerializeToString() + encode_tag(5, VARINT) + bytes([99])
    return net.SerializeToString() + length_prefix(2, len(raw)) + raw


@needs_pass("V1 to V2")
def test_a_fork_v1_type_is_left_for_a_human_by_its_number() -> None:
    result = upgrade_binary(fork_v1_net(), Settings())
    assert not result.changed
    assert result.unknown_fields == ("type: 99 in layers[2]",)
    [unmapped] = [f for f in result.findings if f.code == "VL001"]
    assert unmapped.needs_human
    assert "say which layer type 99 stands for" in unmapped.message


@needs_pass("V1 to V2")
def test_a_fork_v1_type_is_mapped_by_its_number() -> None:
    result = upgrade_binary(fork_v1_net(), Settings(v1_types=(("99", "ROIPooling"),)))
    output = result.to_bytes()
    assert output is not None
    roi = NetParameter.FromString(output).layer[-1]
    assert (roi.name, roi.type, list(roi.blobs[0].data)) == ("roi", "ROIPooling", [0.0, 0.125])


def test_strict_refuses_fields_the_schema_does_not_know() -> None:
    with pytest.raises(
        InputError, match=r"^field 999 in the net is not in the schema \(strict: every field must be known\)$"
    ) as caught:
        upgrade_binary(unknown_everywhere(), Settings(strict=True))
    assert caught.value.code == "E002"
    assert "--" not in caught.value.message  # the API names settings, not command-line flags


# -- files that are not nets -----------------------------------------------------------------

MEAN = caffe_pb2.BlobProto(num=1, channels=3, height=2, width=2, data=[0.5] * 12)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        pytest.param(MEAN.SerializeToString(), "BlobProto", id="a mean file"),
        pytest.param(caffe_pb2.BlobProtoVector(blobs=[MEAN, MEAN]).SerializeToString(), "BlobProtoVector", id="blobs"),
    ],
)
def test_a_blob_file_has_nothing_to_upgrade(tmp_path: Path, data: bytes, kind: str) -> None:
    mean = write(tmp_path / "mean.binaryproto", data)
    before = fingerprint(mean)
    completed = run("mean.binaryproto", cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stderr.decode().splitlines()[0].startswith(f"mean.binaryproto: BIN001 a {kind}")
    assert fingerprint(mean) == before


def test_a_binaryproto_holding_a_net_is_upgraded(tmp_path: Path) -> None:
    model = write(tmp_path / "net.binaryproto", legacy_bn_net(0, 0, 0).SerializeToString())
    assert run("-q", "net.binaryproto", cwd=tmp_path).returncode == 0
    assert model.read_bytes() == upgraded_in_memory(legacy_bn_net(0, 0, 0), Settings()).SerializeToString()


# -- hostile input ------------------------------------------------------------------------------

GOOD = legacy_bn_net(0, 0, 0).SerializeToString()
HOSTILE = [
    pytest.param(b"", "an empty file is not a Caffe model", id="an empty file"),
    pytest.param(GOOD[:-5], "a field claims", id="a truncated model"),
    pytest.param(b"\xa2", "the data ends inside a number", id="a model cut inside its first tag"),
    pytest.param(length_prefix(100, 2**31) + bytes(1000), "claims 2147483648 bytes but only 1000", id="a 2 GB length"),
    pytest.param(b"\xa2\x06" + b"\xff" * 11, "longer than 10 bytes", id="an endless varint"),
    pytest.param(random.Random(4).randbytes(4096), "not a binary Caffe model", id="random bytes"),
    pytest.param(b'name: "net"\nlayer {\n  name: "a"\n}\n', "a text file, not a binary model", id="a prototxt"),
    pytest.param(b"\x89HDF\r\n\x1a\n" + bytes(64), "an HDF5 file", id="an HDF5 model"),
    pytest.param(encode_tag(2, 3) * 200 + encode_tag(2, 4) * 200, "groups nested too deeply", id="deep groups"),
    pytest.param(encode_tag(5, 4) + b"\x01", "a group ends that never started", id="a stray group end"),
    pytest.param(b"\x00\x01\x02", "invalid field number 0", id="field number zero"),
    pytest.param(b"\x08\x96\x01\xa2\x01\x02ab", "not a Caffe net: no layers", id="another protobuf message"),
    pytest.param(
        length_prefix(100, 4) + length_prefix(1, 2) + b"\xff\xfe", "layer[0].name is not valid UTF-8", id="a name"
    ),
    pytest.param(
        length_prefix(100, 9) + length_prefix(7, 7) + length_prefix(5, 5) + bytes(5),
        "not a whole number of values",
        id="blob data of 5 bytes",
    ),
]


@pytest.mark.parametrize(("data", "words"), HOSTILE)
def test_hostile_input_is_a_one_line_input_error(data: bytes, words: str) -> None:
    with pytest.raises(InputError) as caught:
        upgrade_binary(data, Settings())
    assert words in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(
    "data",
    [pytest.param(GOOD[:-5], id="truncated"), pytest.param(length_prefix(100, 2**31) + bytes(1000), id="2 GB length")],
)
def test_hostile_input_exits_2_with_one_line(tmp_path: Path, data: bytes) -> None:
    model = write(tmp_path / "bad.caffemodel", data)
    completed = run("-q", "bad.caffemodel", cwd=tmp_path)
    assert completed.returncode == 2
    lines = completed.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bad.caffemodel: E006 not a binary Caffe model")
    assert model.read_bytes() == data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_models_give_an_input_error_or_a_proven_upgrade(data: st.DataObject) -> None:
    seeds = (GOOD, v1_net().SerializeToString(), v0_net().SerializeToString(), unknown_everywhere(), fork_v1_net())
    damaged = bytearray(data.draw(st.sampled_from(seeds)))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(damaged) - 1))
        damaged[at] = data.draw(st.integers(0, 255))
    damaged = damaged[: data.draw(st.integers(0, len(damaged)))]
    try:
        upgrade_binary(bytes(damaged), Settings())
    except InputError as exc:
        assert "\n" not in exc.message


# -- writing -------------------------------------------------------------------------------------


def test_in_place_upgrade_keeps_the_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    model = write(tmp_path / "net.caffemodel", GOOD)
    model.chmod(0o640)
    completed = run("net.caffemodel", cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stderr.decode().splitlines()[0] == (
        "net.caffemodel: upgraded (BatchNorm: removed 6 param blocks in 2 layers)"
    )
    assert stat.S_IMODE(model.stat().st_mode) == 0o640
    assert model.read_bytes() == upgraded_in_memory(NetParameter.FromString(GOOD), Settings()).SerializeToString()
    assert sorted(os.listdir(tmp_path)) == ["net.caffemodel"]


def test_output_to_a_file_and_to_stdout(tmp_path: Path) -> None:
    model = write(tmp_path / "net.caffemodel", GOOD)
    before = fingerprint(model)
    expected = upgraded_in_memory(NetParameter.FromString(GOOD), Settings()).SerializeToString()
    assert run("-o", "new.caffemodel", "net.caffemodel", cwd=tmp_path).returncode == 0
    assert (tmp_path / "new.caffemodel").read_bytes() == expected
    assert run("-o", "-", "net.caffemodel", cwd=tmp_path).stdout == expected
    assert fingerprint(model) == before


def test_an_up_to_date_model_is_copied_to_the_output_as_it_is(tmp_path: Path) -> None:
    write(tmp_path / "net.caffemodel", modern_net().SerializeToString())
    assert run("-o", "-", "net.caffemodel", cwd=tmp_path).stdout == modern_net().SerializeToString()


def test_check_and_diff_write_nothing_and_exit_1(tmp_path: Path) -> None:
    model = write(tmp_path / "net.caffemodel", GOOD)
    before = fingerprint(model)
    check = run("--check", "net.caffemodel", cwd=tmp_path)
    diff = run("--diff", "net.caffemodel", cwd=tmp_path)
    assert (check.returncode, diff.returncode) == (1, 1)
    assert diff.stdout == b""
    assert diff.stderr.decode().splitlines() == [
        "net.caffemodel: would upgrade (BatchNorm: removed 6 param blocks in 2 layers)",
    ]
    assert fingerprint(model) == before


def test_a_binary_model_is_not_a_solver(tmp_path: Path) -> None:
    write(tmp_path / "net.caffemodel", GOOD)
    completed = run("-q", "--kind", "solver", "net.caffemodel", cwd=tmp_path)
    assert completed.returncode == 2
    assert (
        completed.stderr.decode()
        == "net.caffemodel: E005 a binary model is a net: --kind solver does not apply to it\n"
    )


# -- the proof catches broken passes ---------------------------------------------------------------


def rebuild_blobs(doc: Document, options: Settings) -> PassResult:
    """A broken pass: copies each blob's shape only, as a careless field-by-field copy would."""
    net = NetParameter()
    net.MergeFromString(doc.message.SerializeToString())
    for layer in net.layer:
        shapes = [b.shape for b in layer.blobs]
        del layer.blobs[:]
        for shape in shapes:
            layer.blobs.add().shape.CopyFrom(shape)
    return PassResult(net, True, (), "rebuilt blobs")


def drop_fork_fields(doc: Document, options: Settings) -> PassResult:
    """A pass that rebuilds layers from their known fields, losing fork fields."""
    net = NetParameter()
    net.MergeFromString(doc.message.SerializeToString())
    net.DiscardUnknownFields()
    return PassResult(net, True, (), "rebuilt layers")


@pytest.mark.parametrize(
    ("upgrade", "data", "error", "words"),
    [
        pytest.param(rebuild_blobs, GOOD, SelfCheckError, "rebuilt one field by field", id="a pass that loses weights"),
        pytest.param(
            drop_fork_fields, unknown_everywhere(), InputError, "would lose fields the schema does not know", id="forks"
        ),
    ],
)
def test_a_pass_that_would_lose_data_is_stopped(
    monkeypatch: pytest.MonkeyPatch,
    upgrade: Callable[[Document, Settings], PassResult],
    data: bytes,
    error: type,
    words: str,
) -> None:
    broken = UpgradePass("broken", "nothing", upgrade, Code("UP999", "broken", "a broken pass", ""))
    monkeypatch.setattr(upgrade_tool.pipeline, "all_passes", lambda: (broken,))  # the one loop both routes run
    with pytest.raises(error, match=words) as caught:
        upgrade_binary(data, Settings())
    assert "--" not in str(caught.value)  # the API names settings, not command-line flags


def test_result_reports_like_a_text_result() -> None:
    result: BinaryResult = upgrade_binary(GOOD, Settings())
    report = result.report()
    assert (report.text, report.changed, report.summaries) == ("", True, result.summaries)


# -- the memory bench ---------------------------------------------------------------------------------


def test_the_memory_bench_runs_and_checks_its_output() -> None:
    completed = subprocess.run(
        [sys.executable, str(REPO / "bench" / "binary_memory.py"), "--size-mb", "2", "--max-ratio", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "113/113 blobs byte-identical" in completed.stdout
    assert "FAILED" not in completed.stdout
