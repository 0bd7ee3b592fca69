"""Peak memory of upgrading a big binary model, and proof that its weights came through intact.

Builds a synthetic legacy .caffemodel of about --size-mb megabytes in a temporary
directory (a V2 net of Convolution + BatchNorm + Scale + ReLU blocks, every
BatchNorm with three `param { lr_mult: 0 }` blocks, and an InnerProduct layer;
random weights), upgrades it with the bn-upgrade command in a child process and
reports the child's wall time and peak resident memory against the file size
(target: under 2x). Then it checks the output with protobuf's own parser: it
must be exactly the bytes protobuf writes for the input with the same upgrade
applied in memory, and every blob must serialize to the same bytes (and hash) as
in the input. The directory is deleted afterwards unless --keep.

    python bench/binary_memory.py                 # 500 MB
    python bench/binary_memory.py --size-mb 50 --naive

--naive also measures the plain approach (ParseFromString, upgrade,
SerializeToString) in a child process, for comparison. Exit status 0 when every
check passes and the ratio is under --max-ratio (0: do not enforce).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from google.protobuf.message import Message

from upgrade_tool import caffe_pb2
from upgrade_tool.document import Document, Kind
from upgrade_tool.passes import all_passes
from upgrade_tool.settings import Settings
from upgrade_tool.wire import LEN, encode_tag, encode_varint, length_prefix

MB = 1 << 20
BLOCKS = 16  # Convolution + BatchNorm + Scale + ReLU blocks
CHANNELS = 256
RANDOM_CHUNK = 16 * MB
NAIVE = """
import sys
from google.protobuf.message import Message

from upgrade_tool import caffe_pb2
from upgrade_tool.document import Document, Kind
from upgrade_tool.passes import all_passes
from upgrade_tool.settings import Settings
net = caffe_pb2.NetParameter.FromString(open(sys.argv[1], "rb").read())
for upgrade_pass in all_passes():
    if upgrade_pass.kind is Kind.NET:
        net = upgrade_pass.upgrade(Document("", None, net, ()), Settings()).net
open(sys.argv[2], "wb").write(net.SerializeToString())
"""


@dataclass(frozen=True)
class Measured:
    returncode: int
    seconds: float
    peak_bytes: int
    stderr: str


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=500.0, help="size of the synthetic model (default 500)")
    parser.add_argument("--max-ratio", type=float, default=2.0, help="fail above this peak/size ratio (0: report only)")
    parser.add_argument("--naive", action="store_true", help="also measure ParseFromString + SerializeToString")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bn-upgrade-bench-"))
    try:
        return bench(scratch, int(args.size_mb * MB), args.max_ratio, args.naive)
    finally:
        if args.keep:
            print(f"kept:      {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def bench(scratch: Path, size: int, max_ratio: float, naive: bool) -> int:
    model, output = scratch / "legacy.caffemodel", scratch / "upgraded.caffemodel"
    blobs = write_model(model, size)
    file_size = model.stat().st_size
    print(f"model:     {file_size / MB:.1f} MB synthetic legacy net, {BLOCKS} BatchNorm layers, {blobs} blobs")
    baseline = measure([sys.executable, "-m", "upgrade_tool", "--version"])
    command = [sys.executable, "-m", "upgrade_tool", "-o", str(output), str(model)]
    run = measure(command)
    ratio = run.peak_bytes / file_size
    print(
        f"command:   python -m upgrade_tool -o {output.name} {model.name}  (exit {run.returncode}, {run.seconds:.2f} s)"
    )
    for line in run.stderr.splitlines():
        print(f"said:      {line}")
    print(f"peak RSS:  {run.peak_bytes / MB:.1f} MB = {ratio:.2f}x the file (interpreter alone: {mb(baseline)} MB)")
    if naive:
        plain = measure([sys.executable, "-c", NAIVE, str(model), str(scratch / "naive.caffemodel")])
        print(
            f"naive:     parse + serialize: {mb(plain)} MB = {plain.peak_bytes / file_size:.2f}x, {plain.seconds:.2f} s"
        )
    problems = [] if run.returncode == 0 else [f"bn-upgrade exited {run.returncode}"]
    if not problems:
        problems += verify(model, output)
    if max_ratio and ratio >= max_ratio:
        problems.append(f"peak memory {ratio:.2f}x the file size, over the {max_ratio}x target")
    for problem in problems:
        print(f"FAILED:    {problem}")
    return 1 if problems else 0


def mb(measured: Measured) -> str:
    return f"{measured.peak_bytes / MB:.1f}"


def measure(command: list[str]) -> Measured:
    """Run `command` as a child; its exit code, wall time and peak RSS (from wait4)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        stderr.seek(0)
        text = stderr.read().decode("utf-8", "replace")
    return Measured(child.returncode, seconds, usage.ru_maxrss * 1024, text)  # ru_maxrss is in KiB on Linux


# -- the synthetic model ---------------------------------------------------------


def write_model(path: Path, size: int) -> int:
    """Write the model layer by layer (weights streamed, never held whole); the number of blobs."""
    conv_bytes = max(4 * CHANNELS * 9, int(size * 0.8) // BLOCKS)
    fc_bytes = max(4000, size - conv_bytes * BLOCKS)
    count = 0
    with open(path, "wb") as out:
        out.write(caffe_pb2.NetParameter(name="synthetic-legacy").SerializeToString())
        for layer, shapes in layers(conv_bytes, fc_bytes):
            blobs = [Blob.of(shape) for shape in shapes]
            skeleton = layer.SerializeToString()
            out.write(length_prefix(100, len(skeleton) + sum(blob.size for blob in blobs)) + skeleton)
            for blob in blobs:  # after the layer's other fields: protobuf reads fields in any order
                blob.write(out)
            count += len(blobs)
    return count


@dataclass(frozen=True)
class Blob:
    """A BlobProto field with random float data, in protobuf's own order (data 5, then shape 7)."""

    head: bytes  # the field's tag and length, then the data field's tag and length
    data: int  # bytes of packed floats
    tail: bytes  # the shape field

    @classmethod
    def of(cls, shape: list[int]) -> Blob:
        data = 4 * math.prod(shape)
        shape_bytes = caffe_pb2.BlobShape(dim=shape).SerializeToString()
        tail = length_prefix(7, len(shape_bytes)) + shape_bytes
        data_head = encode_tag(5, LEN) + encode_varint(data)
        return cls(length_prefix(7, len(data_head) + data + len(tail)) + data_head, data, tail)

    @property
    def size(self) -> int:
        return len(self.head) + self.data + len(self.tail)

    def write(self, out: BinaryIO) -> None:
        out.write(self.head)
        for done in range(0, self.data, RANDOM_CHUNK):
            out.write(os.urandom(min(RANDOM_CHUNK, self.data - done)))
        out.write(self.tail)


def layers(conv_bytes: int, fc_bytes: int) -> Iterator[tuple[caffe_pb2.LayerParameter, list[list[int]]]]:
    data = caffe_pb2.LayerParameter(name="data", type="Input", top=["data"])
    data.input_param.shape.add(dim=[1, CHANNELS, 56, 56])
    yield data, []
    bottom = "data"
    for i in range(BLOCKS):
        conv = caffe_pb2.LayerParameter(name=f"conv{i}", type="Convolution", bottom=[bottom], top=[f"conv{i}"])
        conv.convolution_param.num_output = CHANNELS
        conv.convolution_param.kernel_size.append(3)
        yield conv, [[CHANNELS, max(1, conv_bytes // (4 * CHANNELS * 9)), 3, 3], [CHANNELS]]
        bn = caffe_pb2.LayerParameter(name=f"bn{i}", type="BatchNorm", bottom=[f"conv{i}"], top=[f"conv{i}"])
        for _ in range(3):
            bn.param.add(lr_mult=0)
        yield bn, [[CHANNELS], [CHANNELS], [1]]
        scale = caffe_pb2.LayerParameter(name=f"scale{i}", type="Scale", bottom=[f"conv{i}"], top=[f"conv{i}"])
        scale.scale_param.bias_term = True
        yield scale, [[CHANNELS], [CHANNELS]]
        yield caffe_pb2.LayerParameter(name=f"relu{i}", type="ReLU", bottom=[f"conv{i}"], top=[f"conv{i}"]), []
        bottom = f"conv{i}"
    fc = caffe_pb2.LayerParameter(name="fc", type="InnerProduct", bottom=[bottom], top=["fc"])
    fc.inner_product_param.num_output = 1000
    yield fc, [[1000, max(1, fc_bytes // 4000)]]


# -- the checks ------------------------------------------------------------------


def verify(model: Path, output: Path) -> list[str]:
    """Check the output with protobuf's own parser and serializer."""
    source = caffe_pb2.NetParameter.FromString(model.read_bytes())
    upgraded: Message = source
    for upgrade_pass in all_passes():
        if upgrade_pass.kind is Kind.NET:
            upgraded = upgrade_pass.upgrade(Document("", None, upgraded, ()), Settings()).net
    written = output.read_bytes()
    result = caffe_pb2.NetParameter.FromString(written)
    problems = []
    if written != upgraded.SerializeToString():
        problems.append("the output is not what protobuf writes for the upgraded model")
    before, after = blob_hashes(source), blob_hashes(result)
    same = sum(1 for key, digest in before.items() if after.get(key) == digest)
    print(
        f"check:     output parses; {'equals' if not problems else 'DIFFERS from'} protobuf's bytes for the "
        f"upgraded model; {same}/{len(before)} blobs byte-identical (sha256)"
    )
    if same != len(before) or len(after) != len(before):
        problems.append("blob bytes differ")
    if any(layer.type == "BatchNorm" and layer.param for layer in result.layer):
        problems.append("a BatchNorm layer still has param blocks")
    return problems


def blob_hashes(net: caffe_pb2.NetParameter) -> dict[tuple[str, int], str]:
    return {
        (layer.name, index): hashlib.sha256(blob.SerializeToString()).hexdigest()
        for layer in net.layer
        for index, blob in enumerate(layer.blobs)
    }


if __name__ == "__main__":
    sys.exit(main())
