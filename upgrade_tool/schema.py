"""Which caffe.proto to read with: BVLC's (compiled in), or a fork's given at run time."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message

from upgrade_tool import caffe_pb2

if TYPE_CHECKING:
    from google.protobuf import descriptor_pb2
    from google.protobuf.descriptor import Descriptor


class SchemaError(Exception):
    """A --proto file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Schema:
    net: type[Message]
    solver: type[Message]
    origin: str
    # Every message class of a schema built at run time, held: protobuf makes a
    # message's class when one is first made and drops it, in a cycle, with the
    # last message of it, so a fork's classes would be made again file after file.
    classes: tuple[type[Message], ...] = ()


def schema_of(pool: descriptor_pool.DescriptorPool, net: str, solver: str, origin: str) -> Schema:
    """The schema whose NetParameter and SolverParameter are `pool`'s messages of these full names."""
    net_type, solver_type = pool.FindMessageTypeByName(net), pool.FindMessageTypeByName(solver)
    files, seen = [net_type.file, solver_type.file], set()
    messages: list[Descriptor] = []
    while files:  # the two files and every file they import
        file = files.pop()
        if file.name not in seen:
            seen.add(file.name)
            files.extend(file.dependencies)
            messages.extend(file.message_types_by_name.values())
    classes = []
    while messages:
        descriptor = messages.pop()
        classes.append(message_factory.GetMessageClass(descriptor))
        messages.extend(descriptor.nested_types)
    return Schema(
        message_factory.GetMessageClass(net_type), message_factory.GetMessageClass(solver_type), origin, tuple(classes)
    )


BVLC = Schema(caffe_pb2.NetParameter, caffe_pb2.SolverParameter, "BVLC caffe.proto")

_DESCRIPTOR_SUFFIXES = (".pb", ".protoset", ".desc", ".binpb")


@functools.cache
def load_schema(proto: str | None) -> Schema:
    """BVLC's schema, or the one in `proto` (a .proto file, or a descriptor set).

    A .proto file is compiled in-process with grpcio-tools' protoc (the `proto`
    extra); a FileDescriptorSet written by `protoc --descriptor_set_out` needs
    nothing extra.
    """
    if proto is None:
        return BVLC
    path = Path(proto)
    if not path.is_file():
        raise SchemaError(f"{proto}: {'is a directory' if path.is_dir() else 'no such file'}")
    data = path.read_bytes() if path.suffix in _DESCRIPTOR_SUFFIXES else _compile(path)
    from google.protobuf import descriptor_pb2  # only a --proto needs it

    files = descriptor_pb2.FileDescriptorSet()
    try:
        files.ParseFromString(data)
    except Exception:  # noqa: BLE001 - any decode failure means "not a descriptor set"
        raise SchemaError(f"{proto}: not a FileDescriptorSet") from None
    return _schema_from(files, proto)


def _compile(path: Path) -> bytes:
    try:
        from grpc_tools import protoc  # type: ignore[import-untyped]
    except ImportError:
        raise SchemaError(
            f"{path}: compiling a .proto needs protoc: pip install 'bn-upgrade[proto]' "
            "(or pass a descriptor set made by `protoc --include_imports --descriptor_set_out`)"
        ) from None
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "schema.pb"
        errors = Path(scratch) / "errors.txt"
        args = ["protoc", f"-I{path.parent.resolve()}", "--include_imports", f"--descriptor_set_out={out}", path.name]
        with _stderr_to(errors):  # protoc reports on file descriptor 2, not through Python
            code = protoc.main(args)
        if code != 0 or not out.exists():
            raise SchemaError(_protoc_error(path, errors.read_text(errors="replace")))
        return out.read_bytes()


def _protoc_error(path: Path, output: str) -> str:
    """protoc's first error about the file, as `PATH:LINE:COL: message` (not the log lines before it)."""
    lines = output.strip().splitlines()
    for line in lines:
        found = re.match(rf"(?:.*[/\\])?{re.escape(path.name)}(:\d+:\d+: .*)", line)
        if found:
            return f"{path}{found.group(1)}"
    logged = ("WARNING: All log messages before absl", "W0000 ", "I0000 ")
    rest = [line for line in lines if not line.startswith(logged)]
    return f"{path}: {(rest or ['protoc failed'])[0]}"


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "wb") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _schema_from(files: descriptor_pb2.FileDescriptorSet, origin: str) -> Schema:
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    package = files.file[-1].package if files.file else ""
    prefix = f"{package}." if package else ""
    try:
        return schema_of(pool, prefix + "NetParameter", prefix + "SolverParameter", origin)
    except KeyError:
        raise SchemaError(f"{origin}: has no NetParameter and SolverParameter messages") from None
