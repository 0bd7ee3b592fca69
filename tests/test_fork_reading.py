"""Reading a fork's file without building BVLC's message: the same outcome as binding it.

BVLC's lenient reading of a fork's file only says which dialect the file is
written for, or fails. `tree_keys` finds the same keys without a message, and
BVLC's reading is bound only where `reads_alike` cannot vouch that it succeeds.
These tests hold both to the binder itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SHARED
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upgrade_tool import caffe_pb2
from upgrade_tool.binder import bind
from upgrade_tool.dialects import all_dialects, get_dialect, keys_of, leaves_aside, tree_keys, used_keys
from upgrade_tool.dialects.alike import reads_alike
from upgrade_tool.errors import InputError
from upgrade_tool.reader import parse_tree
from upgrade_tool.reading import read
from upgrade_tool.schema import BVLC, Schema, load_schema
from upgrade_tool.settings import Settings
from upgrade_tool.source import Source

NET = BVLC.net.DESCRIPTOR
SOLVER = "caffe.SolverParameter"
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def bvlc_reading(text: str, root: Descriptor = NET) -> tuple[tuple[object, ...], tuple[object, ...]] | None:
    """keys_of and used_keys after binding `text` leniently with BVLC's schema; None where that fails."""
    tree = parse_tree(text)
    message = BVLC.net() if root is NET else BVLC.solver()
    try:
        bound = bind(tree, message, text, strict=False)
    except InputError:
        return None
    return keys_of(bound.message, bound.unknown, text), used_keys(bound.message, tree, text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("layer { multibox_loss_param { num_classes: 21 loc_loss_type: SMOOTH_L1 } }", id="a fork field"),
        pytest.param("layers { type: BN } layers { type: 43 bottom: 'a' bottom: 'b' }", id="enum values BVLC lacks"),
        pytest.param(
            "layer { foo: 1 foo: 2 } layer { foo: 1 } layer { bar { baz: X } bar { } }",
            id="a field given twice in one message, once in another",
        ),
        pytest.param(
            "layer { name: 'a' batch_norm_param { engine: MKL2017 } param { lr_mult: 0 } } layer { engine: CAFFE }",
            id="an unknown enum value, then an unknown field of the same name elsewhere",
        ),
        pytest.param("layer { name: 'a' type: 'ReLU' bottom: ['x', 'y'] }", id="nothing unknown"),
    ],
)
def test_tree_keys_are_those_of_bvlcs_lenient_reading(text: str) -> None:
    tree = parse_tree(text)
    found = bvlc_reading(text)
    assert found is not None
    assert tree_keys(NET, tree, text) == found
    assert leaves_aside(NET, tree, text) == bool(found[0])


def test_a_dialect_that_reads_the_file_does_not_hide_bvlcs_error() -> None:
    # tsn's `device_id` is repeated, BVLC's is not: tsn reads the file, BVLC's schema refuses it, and
    # BVLC's reading is the one that decides.
    text = "base_lr: 0.1 richness: 5 device_id: 0 device_id: 1\n"
    bind(parse_tree(text), get_dialect("tsn").schema().solver(), text, strict=True)
    with pytest.raises(InputError) as error:
        read(text, Settings())
    assert (error.value.message, error.value.offset) == ("'device_id' is given more than once (it is not repeated)", 38)
    assert read(text.replace(" device_id: 1", ""), Settings()).dialect == "tsn"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("layer { multibox_loss_param { num_classes: -1 } num_ouput: 1 } layer { name: 1 }",
                     id="no dialect reads it all, and the closest one refuses it"),
        pytest.param("layer { multibox_loss_param { num_classes: -1 } } layer { name: 1 }",
                     id="the dialects that know every name refuse it"),
    ],
)  # fmt: skip
def test_bvlcs_error_comes_before_a_dialects(text: str) -> None:
    with pytest.raises(InputError) as error:
        read(text, Settings())
    assert (error.value.message, error.value.offset) == ("'name' takes a quoted string", text.index("name: 1") + 6)


@pytest.mark.parametrize(
    ("dialect", "key", "alike"),
    [
        pytest.param("ssd", ("caffe.ConvolutionParameter", "kernel_size"), True, id="the same field"),
        pytest.param("segnet", ("caffe.ConvolutionParameter", "pad"), True, id="singular there: refuses more"),
        pytest.param("tsn", (SOLVER, "device_id"), False, id="repeated there: refuses less"),
        pytest.param("segnet", ("caffe.ConvolutionParameter", "dilation"), False, id="a field it lacks"),
        pytest.param("deeplab-context", ("caffe.V1LayerParameter", "type"), True, id="an enum of fewer values"),
    ],
)
def test_reads_alike(dialect: str, key: tuple[str, str], alike: bool) -> None:
    assert reads_alike(get_dialect(dialect).schema(), [key]) is alike


def bvlc_changed(path: Path, change: Callable[[descriptor_pb2.DescriptorProto], None], message: str) -> Schema:
    """BVLC's schema with one message changed, as a --proto descriptor set at `path`."""
    file = descriptor_pb2.FileDescriptorProto.FromString(caffe_pb2.DESCRIPTOR.serialized_pb)
    change(next(m for m in file.message_type if m.name == message))
    path.write_bytes(descriptor_pb2.FileDescriptorSet(file=[file]).SerializeToString())
    return load_schema(str(path))


def _field_named(message: descriptor_pb2.DescriptorProto, name: str) -> descriptor_pb2.FieldDescriptorProto:
    return next(field for field in message.field if field.name == name)


def _as_int(message: descriptor_pb2.DescriptorProto) -> None:
    _field_named(message, "name").type = descriptor_pb2.FieldDescriptorProto.TYPE_INT32


def _not_required(message: descriptor_pb2.DescriptorProto) -> None:
    _field_named(message, "max").label = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL


def _in_a_oneof(message: descriptor_pb2.DescriptorProto) -> None:
    message.oneof_decl.add(name="either")
    _field_named(message, "lr_mult").oneof_index = 0


@pytest.mark.parametrize(
    ("change", "message", "key"),
    [
        pytest.param(_as_int, "LayerParameter", ("caffe.LayerParameter", "name"), id="a field of another type"),
        pytest.param(_not_required, "ClipParameter", ("caffe.LayerParameter", "clip_param"),
                     id="a message that requires less"),  # BVLC's would refuse a clip_param without max
        pytest.param(_in_a_oneof, "ParamSpec", ("caffe.LayerParameter", "param"), id="a message with a oneof"),
    ],
)  # fmt: skip
def test_a_schema_that_refuses_less_does_not_read_alike(
    tmp_path: Path, change: Callable[[descriptor_pb2.DescriptorProto], None], message: str, key: tuple[str, str]
) -> None:
    assert reads_alike(bvlc_changed(tmp_path / "same.pb", lambda _: None, message), [key])
    assert not reads_alike(bvlc_changed(tmp_path / "changed.pb", change, message), [key])


# -- the same over generated texts: any dialect's field, anywhere, with any value -----------------------

SPELLINGS = ["0", "1", "-1", "3000000000", "1.5", "nan", "true", "f", '"x"', "'\\xff'", "MAX", "BN", "CONVOLUTION",
             "MKL2017", "[]", "[0, 1]", "[\"a\"]", "{ }"]  # fmt: skip
# Values of the right type, given three times in four.
RIGHT = {FieldDescriptor.TYPE_FLOAT: ["0.5", "2"], FieldDescriptor.TYPE_DOUBLE: ["0.5"],
         FieldDescriptor.TYPE_BOOL: ["true"], FieldDescriptor.TYPE_INT32: ["0", "3"],
         FieldDescriptor.TYPE_UINT32: ["0", "3"], FieldDescriptor.TYPE_INT64: ["3"]}  # fmt: skip


@st.composite
def fork_texts(draw: st.DrawFn) -> tuple[str, str]:
    """A net or solver of fields drawn from a random dialect's messages (some twice), with any value."""
    dialect = draw(st.sampled_from(all_dialects()))
    root = draw(st.sampled_from([dialect.schema().net, dialect.schema().solver])).DESCRIPTOR
    return _fields(draw, root, 0), root.name


def _fields(draw: st.DrawFn, message: Descriptor, depth: int) -> str:
    parts: list[str] = []
    if not message.fields:
        return ""
    for field in draw(st.lists(st.sampled_from(list(message.fields)), max_size=4 if depth < 3 else 1)):
        for _ in range(draw(st.sampled_from([1, 1, 1, 2]))):
            parts.append(_field(draw, field, depth))
    return " ".join(parts)


def _field(draw: st.DrawFn, field: FieldDescriptor, depth: int) -> str:
    if field.type == FieldDescriptor.TYPE_MESSAGE and draw(st.integers(0, 9)):
        return f"{field.name} {{ {_fields(draw, field.message_type, depth + 1)} }}"
    if draw(st.integers(0, 3)):
        right = [value.name for value in field.enum_type.values] if field.enum_type is not None else []
        right = right or RIGHT.get(field.type, ['"x"'])
        return f"{field.name}: {draw(st.sampled_from(right))}"
    return f"{field.name}: {draw(st.sampled_from(SPELLINGS))}"


@PROPERTY
@given(fork_texts())
def test_bvlcs_reading_is_vouched_for_only_where_it_succeeds(case: tuple[str, str]) -> None:
    text, root_name = case
    tree = parse_tree(text)
    root = NET if root_name == "NetParameter" else BVLC.solver.DESCRIPTOR
    found = bvlc_reading(text, root)
    try:
        keys = tree_keys(root, tree, text)
        aside = leaves_aside(root, tree, text)
    except InputError:
        assert found is None  # a value the walk refuses, the binder refuses too
        return
    if found is not None:
        assert keys == found
        assert aside == bool(found[0])
    for dialect in all_dialects():
        schema = dialect.schema()
        try:
            bind(tree, schema.net() if root is NET else schema.solver(), text, strict=False)
        except InputError:
            continue
        if reads_alike(schema, keys[1]):
            assert found is not None, f"{dialect.name} vouches for BVLC's reading, which fails"


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "corpus2").is_dir(), reason=f"the corpora are not at {SHARED} (../shared)")
@pytest.mark.parametrize("corpus", ["corpus", "corpus2"])
def test_tree_keys_on_every_corpus_file(corpus: str) -> None:
    for path in sorted(Path(SHARED / corpus).rglob("*")):
        if path.suffix not in (".prototxt", ".pt") or not path.is_file():
            continue
        try:
            text = Source.from_bytes(path.read_bytes()).text
            tree = parse_tree(text)
        except InputError:
            continue
        root = BVLC.solver.DESCRIPTOR if any(node.name == "base_lr" for node in tree) else NET
        found = bvlc_reading(text, root)
        if found is not None:
            assert tree_keys(root, tree, text) == found, path
