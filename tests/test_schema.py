"""proto/caffe.proto and the committed bindings match Caffe's schema facts.

The facts are the final BVLC caffe.proto compiled to a FileDescriptorSet and
printed as JSON (``caffe.descriptor.json``). Two things are proven here:

1. compiling ``proto/caffe.proto`` gives exactly that descriptor: every message,
   field (name, number, label, type, type name, default, ``packed``) and enum;
2. the committed ``upgrade_tool/caffe_pb2.py`` was generated from the current
   ``proto/caffe.proto`` (its embedded descriptor equals a fresh compile).

Compiling needs grpcio-tools (declared in the ``test`` extra); without it the
tests skip with that reason.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import struct
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor_pb2 import DescriptorProto as MessageProto
from google.protobuf.descriptor_pb2 import EnumDescriptorProto as EnumProto
from google.protobuf.descriptor_pb2 import FieldDescriptorProto as FieldProto
from google.protobuf.descriptor_pb2 import FileDescriptorProto as FileProto
from google.protobuf.descriptor_pb2 import FileDescriptorSet

REPO = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO / "proto" / "build_bindings.py"
COMMITTED_BINDINGS = REPO / "upgrade_tool" / "caffe_pb2.py"

# Where to find caffe.descriptor.json: $CAFFE_DESCRIPTOR_JSON, else the first
# of these that exists.
FACTS_CANDIDATES = [
    REPO / "tests" / "data" / "caffe.descriptor.json",
    REPO.parent / "shared" / "schema" / "caffe.descriptor.json",
]

EXPECTED_TOP_LEVEL_MESSAGES = 63
EXPECTED_TOTAL_FIELDS = 423  # all messages are top-level, so this is their sum
EXPECTED_TOP_LEVEL_ENUMS = 1  # Phase
EXPECTED_NESTED_ENUMS = 25

STALE = "upgrade_tool/caffe_pb2.py is stale: run `python proto/build_bindings.py`"


def _facts_path() -> Path | None:
    override = os.environ.get("CAFFE_DESCRIPTOR_JSON")
    if override:
        return Path(override)
    return next((p for p in FACTS_CANDIDATES if p.is_file()), None)


def _load_facts(path: Path) -> FileProto:
    descriptor_set = json_format.Parse(path.read_text(encoding="utf-8"), FileDescriptorSet())
    assert len(descriptor_set.file) == 1, "the facts describe exactly one file"
    return descriptor_set.file[0]


def _all_messages(messages: Iterable[MessageProto], prefix: str = "") -> dict[str, MessageProto]:
    """Every message, nested ones included, keyed by its dotted name."""
    found: dict[str, MessageProto] = {}
    for message in messages:
        name = f"{prefix}{message.name}"
        found[name] = message
        found.update(_all_messages(message.nested_type, prefix=f"{name}."))
    return found


def _load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FACTS_PATH = _facts_path()
FACTS: FileProto | None = _load_facts(FACTS_PATH) if FACTS_PATH else None
FACT_MESSAGES = _all_messages(FACTS.message_type) if FACTS else {}

needs_facts = pytest.mark.skipif(
    FACTS is None,
    reason=f"caffe.descriptor.json not found: set CAFFE_DESCRIPTOR_JSON or place it at {FACTS_CANDIDATES[0]}",
)


@pytest.fixture(scope="module")
def build_bindings() -> ModuleType:
    pytest.importorskip(
        "grpc_tools.protoc",
        reason="grpcio-tools (test extra) is needed to compile proto/caffe.proto",
    )
    return _load_module("_bn_upgrade_build_bindings", BUILD_SCRIPT)


@pytest.fixture(scope="module")
def fresh_build(build_bindings: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[FileProto, Path]:
    """Compile proto/caffe.proto now: its descriptor and the fresh caffe_pb2.py."""
    out_dir = tmp_path_factory.mktemp("fresh_bindings")
    descriptor_set_file = out_dir / "caffe.pb"
    module_path: Path = build_bindings.build(out_dir, descriptor_set=descriptor_set_file)
    assert module_path.is_file()
    descriptor_set = FileDescriptorSet.FromString(descriptor_set_file.read_bytes())
    assert [f.name for f in descriptor_set.file] == ["caffe.proto"]
    return descriptor_set.file[0], module_path


@pytest.fixture(scope="module")
def compiled(fresh_build: tuple[FileProto, Path]) -> FileProto:
    return fresh_build[0]


@pytest.fixture(scope="module")
def compiled_messages(compiled: FileProto) -> dict[str, MessageProto]:
    return _all_messages(compiled.message_type)


def _field_facts(field: FieldProto) -> dict[str, object]:
    """The properties of a field that define Caffe's wire and text formats."""
    return {
        "number": field.number,
        "label": FieldProto.Label.Name(field.label),
        "type": FieldProto.Type.Name(field.type),
        "type_name": field.type_name,
        "default_value": field.default_value if field.HasField("default_value") else None,
        "packed": field.options.packed if field.options.HasField("packed") else None,
        "json_name": field.json_name,
        "in_oneof": field.HasField("oneof_index"),
    }


def _enum_facts(enum: EnumProto) -> list[tuple[str, int]]:
    return [(value.name, value.number) for value in enum.value]


# --- counts and file-level facts ---------------------------------------------


@needs_facts
def test_the_facts_have_the_expected_size() -> None:
    assert FACTS is not None
    assert len(FACTS.message_type) == EXPECTED_TOP_LEVEL_MESSAGES
    assert len(FACT_MESSAGES) == EXPECTED_TOP_LEVEL_MESSAGES, "no nested messages"
    assert sum(len(m.field) for m in FACT_MESSAGES.values()) == EXPECTED_TOTAL_FIELDS


def test_the_proto_has_63_messages_and_423_fields(
    compiled_messages: dict[str, MessageProto], compiled: FileProto
) -> None:
    assert len(compiled.message_type) == EXPECTED_TOP_LEVEL_MESSAGES
    assert len(compiled_messages) == EXPECTED_TOP_LEVEL_MESSAGES, "no nested messages"
    assert sum(len(m.field) for m in compiled_messages.values()) == EXPECTED_TOTAL_FIELDS
    assert len(compiled.enum_type) == EXPECTED_TOP_LEVEL_ENUMS
    assert sum(len(m.enum_type) for m in compiled_messages.values()) == EXPECTED_NESTED_ENUMS


@needs_facts
def test_the_proto_is_package_caffe_proto2_with_no_imports_or_options(
    compiled: FileProto,
) -> None:
    assert FACTS is not None
    assert compiled.package == FACTS.package == "caffe"
    # protoc leaves `syntax` unset for proto2 files.
    assert compiled.syntax == FACTS.syntax == ""
    assert list(compiled.dependency) == list(FACTS.dependency) == []
    assert compiled.options == FACTS.options
    assert not compiled.service and not compiled.extension


@needs_facts
def test_messages_are_declared_in_the_same_order_as_the_facts(
    compiled_messages: dict[str, MessageProto],
) -> None:
    assert list(compiled_messages) == list(FACT_MESSAGES)


@needs_facts
def test_the_top_level_enums_match_the_facts(compiled: FileProto) -> None:
    assert FACTS is not None
    assert [e.name for e in compiled.enum_type] == [e.name for e in FACTS.enum_type]
    for got, want in zip(compiled.enum_type, FACTS.enum_type, strict=True):
        assert _enum_facts(got) == _enum_facts(want), f"enum {want.name}"


# --- message by message ------------------------------------------------------


@needs_facts
@pytest.mark.parametrize("message_name", list(FACT_MESSAGES), ids=lambda name: f"message {name}")
def test_message_matches_the_facts(message_name: str, compiled_messages: dict[str, MessageProto]) -> None:
    want = FACT_MESSAGES[message_name]
    assert message_name in compiled_messages, f"{message_name} is missing from caffe.proto"
    got = compiled_messages[message_name]

    assert [f.name for f in got.field] == [f.name for f in want.field], "field names/order"
    for got_field, want_field in zip(got.field, want.field, strict=True):
        assert _field_facts(got_field) == _field_facts(want_field), f"{message_name}.{want_field.name}"

    assert [e.name for e in got.enum_type] == [e.name for e in want.enum_type], "enum order"
    for got_enum, want_enum in zip(got.enum_type, want.enum_type, strict=True):
        assert _enum_facts(got_enum) == _enum_facts(want_enum), f"enum {message_name}.{want_enum.name}"

    assert [m.name for m in got.nested_type] == [m.name for m in want.nested_type]
    assert len(got.oneof_decl) == len(want.oneof_decl)
    assert got.options == want.options
    # Catch-all: anything the checks above do not name explicitly.
    assert got == want


@needs_facts
def test_the_whole_compiled_file_equals_the_facts(compiled: FileProto) -> None:
    compiled_copy = FileProto()
    compiled_copy.CopyFrom(compiled)
    compiled_copy.ClearField("source_code_info")
    assert compiled_copy == FACTS


# --- the committed bindings --------------------------------------------------


def test_committed_bindings_embed_exactly_the_freshly_compiled_schema(
    fresh_build: tuple[FileProto, Path],
) -> None:
    """upgrade_tool/caffe_pb2.py must be regenerated whenever caffe.proto changes.

    Compares the descriptor bytes each generated module hands to the descriptor
    pool. The freshly generated module is read, not imported, so caffe.proto is
    not registered twice.
    """
    _, fresh_module_path = fresh_build
    committed = FileProto.FromString(_embedded_descriptor(COMMITTED_BINDINGS))
    fresh = FileProto.FromString(_embedded_descriptor(fresh_module_path))
    assert committed.name == "caffe.proto"
    assert committed == fresh, STALE


def test_committed_module_loads_and_its_descriptor_matches_the_proto(
    compiled: FileProto,
) -> None:
    """Import upgrade_tool/caffe_pb2.py and compare its live DESCRIPTOR.

    With the upb backend, CopyToProto() re-prints float defaults at float32
    precision ("1e-05" comes back as "9.99999975e-06"), so float and double
    defaults are compared as numbers; everything else must be identical.
    """
    from upgrade_tool import caffe_pb2 as module  # the module the tool itself imports

    live = FileProto()
    module.DESCRIPTOR.CopyToProto(live)

    expected = FileProto()
    expected.CopyFrom(compiled)
    expected.ClearField("source_code_info")
    for message in _all_messages(expected.message_type).values():
        for field in message.field:
            field.ClearField("json_name")  # only --descriptor_set_out adds these

    assert _with_numeric_float_defaults(live) == _with_numeric_float_defaults(expected), STALE


def _with_numeric_float_defaults(file_proto: FileProto) -> FileProto:
    """A copy whose float/double defaults are rewritten in one canonical spelling."""
    copy = FileProto()
    copy.CopyFrom(file_proto)
    for message in _all_messages(copy.message_type).values():
        for field in message.field:
            if not field.HasField("default_value"):
                continue
            if field.type == FieldProto.TYPE_FLOAT:
                as_float32 = struct.unpack("<f", struct.pack("<f", float(field.default_value)))
                field.default_value = repr(as_float32[0])
            elif field.type == FieldProto.TYPE_DOUBLE:
                field.default_value = repr(float(field.default_value))
    return copy


def _embedded_descriptor(module_path: Path) -> bytes:
    """The serialized FileDescriptorProto a generated *_pb2.py passes to the pool."""
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "AddSerializedFile"
        ):
            value = ast.literal_eval(node.args[0])
            assert isinstance(value, bytes)
            return value
    raise AssertionError(f"no AddSerializedFile(...) call in {module_path}")
