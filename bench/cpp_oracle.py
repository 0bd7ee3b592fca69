"""A client for bench/oracle: protobuf's C++ TextFormat (3.21, what Caffe links) in a child process.

    with CppOracle.start() as oracle:
        answer = oracle.parse(b'name: "n"', "net")   # Accepted(wire, printed) or Refused(line, column, message)

The oracle is built by `make -C bench/oracle` (see bench/README.md); `start()`
raises `OracleMissing`, saying how to build it, when it is not there.
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

BUILD = Path(__file__).resolve().parent / "oracle" / "build"


class OracleMissing(Exception):
    pass


@dataclass(frozen=True)
class Accepted:
    wire: bytes  # deterministic serialization
    printed: bytes  # TextFormat::PrintToString


@dataclass(frozen=True)
class Refused:
    line: int  # 1-based; 0 when the error has no place (missing required fields)
    column: int  # 1-based, in bytes, a tab advancing to the next multiple of 8
    message: str


class CppOracle:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process

    @classmethod
    def start(cls, build: Path = BUILD) -> CppOracle:
        program, schema = build / "oracle", build / "caffe.pb"
        if not program.is_file() or not schema.is_file():
            raise OracleMissing(f"no oracle at {build}: build it with `make -C bench/oracle` (needs libprotobuf-dev)")
        process = subprocess.Popen([str(program), str(schema)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        return cls(process)

    def parse(self, data: bytes, kind: str) -> Accepted | Refused:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(b"n" if kind == "net" else b"s")
        stdin.write(struct.pack("<I", len(data)))
        stdin.write(data)
        stdin.flush()
        status = self._read(1)
        if status == b"o":
            return Accepted(self._blob(), self._blob())
        line, column = struct.unpack("<II", self._read(8))
        return Refused(line, column, self._blob().decode("utf-8", "replace"))

    def _blob(self) -> bytes:
        (size,) = struct.unpack("<I", self._read(4))
        return self._read(size)

    def _read(self, size: int) -> bytes:
        assert self._process.stdout is not None
        data = self._process.stdout.read(size)
        if len(data) != size:
            raise RuntimeError(f"the oracle stopped answering (exit status {self._process.poll()})")
        return data

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=10)

    def __enter__(self) -> CppOracle:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
