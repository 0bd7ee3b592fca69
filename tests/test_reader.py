"""Reading prototxt the way Caffe (protobuf's C++ text parser) reads it.

Everything Caffe accepts is accepted, with the same meaning; everything else is an
`InputError` whose line and column point at the offending token (1-based;
columns count characters, a tab is one).
"""

from __future__ import annotations

import contextlib
import gc

import pytest
from conftest import check_noop

from upgrade_tool import InputError, upgrade_text
from upgrade_tool.reader import parse_tree
from upgrade_tool.source import Source


def error_of(text: str) -> InputError:
    with pytest.raises(InputError) as caught:
        upgrade_text(text, output_format="canonical")
    return caught.value


def canonical(text: str) -> str:
    return upgrade_text(text, output_format="canonical").text


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        pytest.param(
            'name: "x"\nlayer {\n  name: "a"\n  foo: 1\n}\n',
            4,
            3,
            "unknown field 'foo' in caffe.LayerParameter",
            id="unknown field names the field and its message",
        ),
        pytest.param('name: "x"\nversion: 2\n', 2, 1, "unknown field 'version'", id="unknown top level field"),
        pytest.param(
            "layer {\n  param { lr_mult: 1.2.3 }\n}\n", 2, 20, "invalid number '1.2.3'", id="number with two points"
        ),
        pytest.param("layer { param { lr_mult: 1e } }", 1, 26, "invalid number '1e'", id="exponent without digits"),
        pytest.param("layer { param { lr_mult: 0abc } }", 1, 26, "invalid number '0abc'", id="number run into letters"),
        pytest.param(
            "layer { convolution_param { pad: 09 } }", 1, 34, "invalid number '09'", id="octal number with a 9"
        ),
        pytest.param('name: "abc\nlayer {}\n', 1, 7, "unterminated string", id="unterminated string"),
        pytest.param("name: 'abc\n", 1, 7, "unterminated string", id="unterminated single quoted string"),
        pytest.param('name: "a"\nname: "b"\n', 2, 1, "'name' is given more than once", id="singular field twice"),
        pytest.param(
            'layer {\n  name: "a"\n  type: "X"\n  type: "Y"\n}\n',
            4,
            3,
            "'type' is given more than once",
            id="singular field twice inside a layer",
        ),
        pytest.param(
            "layer {\n  convolution_param {}\n  convolution_param {}\n}\n",
            3,
            3,
            "'convolution_param' is given more than once",
            id="singular message twice",
        ),
        pytest.param(
            'layer {\n  param { lr_mult: "0" }\n}\n',
            2,
            20,
            "'lr_mult' takes a float, not a string",
            id="string for number",
        ),
        pytest.param("layer { param { lr_mult: zero } }", 1, 26, "'lr_mult' takes a number", id="word for number"),
        pytest.param("name: zero\n", 1, 7, "'name' takes a quoted string", id="word for string"),
        pytest.param("name: 5\n", 1, 7, "'name' takes a quoted string", id="number for string"),
        pytest.param(
            "layer {\n  param { share_mode: SOMETIMES }\n}\n",
            2,
            23,
            "unknown value 'SOMETIMES' for 'share_mode'",
            id="unknown enum value",
        ),
        pytest.param("layer { param { share_mode: 7 } }", 1, 29, "unknown value '7'", id="unknown enum number"),
        pytest.param(
            "layer { convolution_param { axis: 2147483648 } }",
            1,
            35,
            "2147483648 is out of range for 'axis'",
            id="int32 overflow",
        ),
        pytest.param(
            "layer { convolution_param { num_output: -1 } }",
            1,
            41,
            "'num_output' is unsigned: a '-' is not allowed",
            id="negative unsigned",
        ),
        pytest.param(
            "layer { convolution_param { bias_term: yes } }",
            1,
            40,
            "'bias_term' takes true or false",
            id="bad boolean",
        ),
        pytest.param(r'name: "a\qb"', 1, 9, "invalid escape sequence '\\q'", id="bad escape"),
        pytest.param('layer {\n  name: "a"\n', 3, 1, "found end of file", id="missing closing brace at end of file"),
        pytest.param(
            'layer <\n  name: "a"\n}\n', 3, 1, "expected a field name or '>', found '}'", id="mismatched closer"
        ),
        pytest.param('name: "a"\n}\n', 2, 1, "expected a field name, found '}'", id="stray closing brace"),
        pytest.param('name: "a"\n\x00\n', 2, 1, "NUL byte", id="nul byte"),
        pytest.param('name: "a"\n@\n', 2, 1, "unexpected character '@'", id="stray character"),
        pytest.param('name "a"\n', 1, 6, "expected ':' or '{' after field name 'name'", id="missing colon"),
        pytest.param("name:\n", 2, 1, "expected a value", id="missing value"),
        pytest.param("layer: 5\n", 1, 6, "'layer' is a message", id="scalar for a message"),
        pytest.param("name { }\n", 1, 6, "'name' is not a message", id="block for a scalar"),
        pytest.param('name: ["a", "b"]\n', 1, 5, "'name' is not repeated", id="list for a singular field"),
        pytest.param('name: -"a"\n', 1, 8, "expected a value", id="minus before a string"),
        pytest.param(
            'layer [{ name: "a" } { name: "b" }]', 1, 22, "expected ',' or ']'", id="list of messages without comma"
        ),
        pytest.param(
            "layer {\n  clip_param {\n    min: 0\n  }\n}\n",
            2,
            3,
            "required field 'max' is missing",
            id="missing required field",
        ),
        pytest.param(
            'layer {\n  name: "网络" foo: 1\n}\n', 2, 14, "unknown field 'foo'", id="columns count characters not bytes"
        ),
        pytest.param("layer {\n\t\tfoo: 1\n}\n", 2, 3, "unknown field 'foo'", id="a tab is one column"),
        pytest.param("layer {\r\n  name: 1\r\n}\r\n", 2, 9, "'name' takes a quoted string", id="crlf line ends"),
        pytest.param("# comment\n\n   # another\nfoo: 1", 4, 1, "unknown field 'foo'", id="comments count as lines"),
    ],
)
def test_error_position(text: str, line: int, column: int, message: str) -> None:
    error = error_of(text)
    assert message in error.message
    assert (error.line, error.column) == (line, column), error.message


def test_the_first_error_in_the_file_is_reported() -> None:
    text = 'layer {\n  name: "a"\n  foo: 1\n}\nlayer {\n  name: "b"\n  bar: 2\n}\n'
    error = error_of(text)
    assert "'foo'" in error.message
    assert (error.line, error.column) == (3, 3)


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        pytest.param("layer { } }\nname: \x01", 2, 7, "unexpected control character", id="a bad character"),
        pytest.param('layer {\n  name "a"\n}\nx: 1.5e\n', 4, 4, "invalid number '1.5e'", id="a bad number"),
        pytest.param('name: [ "a" "b"\nx: "c', 2, 4, "unterminated string", id="an unterminated string"),
    ],
)
def test_a_bad_token_later_in_the_file_is_reported_before_a_syntax_error(
    text: str, line: int, column: int, message: str
) -> None:
    # The tree is built as the tokens come; the rest of the text is still tokenized
    # before a syntax error is raised, as when the whole text was tokenized first.
    error = error_of(text)
    assert message in error.message
    assert (error.line, error.column) == (line, column), error.message


@pytest.mark.parametrize("collecting", [True, False], ids=["collector on", "collector off"])
@pytest.mark.parametrize("text", ['name: "a"\nlayer { name: "b" }\n', "layer {"], ids=["valid", "invalid"])
def test_reading_leaves_the_garbage_collector_as_it_found_it(collecting: bool, text: str) -> None:
    was = gc.isenabled()
    (gc.enable if collecting else gc.disable)()
    try:
        with contextlib.suppress(InputError):
            parse_tree(text)
        assert gc.isenabled() is collecting
    finally:
        (gc.enable if was else gc.disable)()


def test_a_node_spans_its_name() -> None:
    first, second = parse_tree('layer [ { name: "a" }, { name: "b" } ]  bottom: "x"')[0:2]
    assert (first.start, first.name_end, second.start, second.name_end) == (0, 5, 0, 5)
    (bottom,) = parse_tree('  bottom : "x"')
    assert (bottom.start, bottom.name_end, bottom.end) == (2, 8, 14)


def test_empty_list_of_messages_is_accepted() -> None:
    assert canonical('layer { name: "a" param: [] }\nlayer []') == 'layer {\n  name: "a"\n}\n'


@pytest.mark.parametrize("spelling", ["010", "00", "0x10"])
def test_float_written_as_octal_or_hex_is_an_error(spelling: str) -> None:
    error_of(f"layer {{ param {{ lr_mult: {spelling} }} }}")


def test_deep_nesting_is_an_input_error_not_a_recursion_error() -> None:
    depth = 10_000
    error = error_of("layer {" * depth + "}" * depth)
    assert "unknown field 'layer' in caffe.LayerParameter" in error.message
    assert (error.line, error.column) == (1, 8)


def test_deep_nesting_of_known_fields_is_an_input_error() -> None:
    depth = 10_000
    error = error_of('layer { name: "a" ' + "include {" * depth + "}" * depth + " }")
    assert "unknown field 'include'" in error.message


def test_deep_unclosed_nesting_is_an_input_error() -> None:
    error = error_of("layer <" * 10_000)
    assert "end of file" in error.message


def test_deep_nesting_in_a_list_is_an_input_error() -> None:
    depth = 5_000
    error = error_of("layer [" * depth + "]" * depth)
    assert error.line == 1


def test_crlf_reads_like_lf() -> None:
    lf = 'name: "n"\nlayer {\n  name: "a"\n  type: "BatchNorm"\n  param { lr_mult: 0 }\n}\n'
    crlf = lf.replace("\n", "\r\n")
    assert upgrade_text(crlf, output_format="canonical") == upgrade_text(lf, output_format="canonical")


def test_utf8_bom_is_accepted() -> None:
    source = Source.from_bytes(b'\xef\xbb\xbfname: "n"\nlayer { type: "BatchNorm" param { lr_mult: 0 } }\n')
    assert source.bom
    assert source.text.startswith("name")
    assert canonical(source.text) == 'name: "n"\nlayer {\n  type: "BatchNorm"\n}\n'


def read_bytes(data: bytes, **options: str) -> str:
    """Upgrade bytes as the command does: decoded by `Source`, encoded back by it."""
    source = Source.from_bytes(data)
    try:
        result = upgrade_text(source.text, **options)  # type: ignore[arg-type]
    except InputError as exc:
        exc.line, exc.column = source.position(exc.offset)
        raise
    return source.encode(result.text).decode("latin-1")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'name: "n"  # caf\xe9 (Latin-1)\n', id="a Latin-1 byte"),
        pytest.param(b'# \xff\xfe\x80 and caf\xc3\xa9\nname: "n"\n', id="bytes that are never UTF-8 beside UTF-8"),
        pytest.param(b'name: "n"\n# cut short \xe2\x82', id="a character cut off at the end of the file"),
        pytest.param(b'name: "n"\r# \xe9 runs on, a lone CR ends no comment\r', id="a comment under lone CR line ends"),
    ],
)
def test_a_byte_that_is_not_utf8_inside_a_comment_is_kept(data: bytes) -> None:
    # Caffe reads a comment as bytes; so does bn-upgrade, and writes them back as they were.
    assert read_bytes(data) == data.decode("latin-1")
    assert read_bytes(data, output_format="canonical") == 'name: "n"\n'


def test_a_comment_with_such_a_byte_is_kept_by_an_upgrade() -> None:
    data = b'layer { # \xe9t\xe9\n  type: "BatchNorm"\n  param { lr_mult: 0 }  # gone \xff\n}\n'
    assert read_bytes(data) == 'layer { # \xe9t\xe9\n  type: "BatchNorm"\n}\n'


@pytest.mark.parametrize(
    ("data", "line", "column", "byte"),
    [
        pytest.param(b'name: "n"\n\xff\n', 2, 1, "0xff", id="between fields"),
        pytest.param(b'name: "caf\xe9"\n', 1, 11, "0xe9", id="inside a string"),
        pytest.param(b"name: 'a' '\xc0\xaf'\n", 1, 12, "0xc0", id="inside the second of two adjacent strings"),
        pytest.param(b'layer {\n  name\xa0: "a"\n}\n', 2, 7, "0xa0", id="right after a field name"),
        pytest.param(b'# \xe9\nname: "\xed\xa0\x80"\n', 2, 8, "0xed", id="an encoded surrogate after a good comment"),
    ],
)
def test_a_byte_that_is_not_utf8_outside_a_comment_is_an_error_at_its_place(
    data: bytes, line: int, column: int, byte: str
) -> None:
    with pytest.raises(InputError) as caught:
        read_bytes(data)
    error = caught.value
    assert f"not valid UTF-8 (byte {byte})" in error.message
    assert (error.line, error.column) == (line, column)
    assert error.code == "E004"  # not-utf8, wherever the byte is (not E001, a syntax error)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            'layer { bottom: ["a", "b"] }', 'layer {\n  bottom: "a"\n  bottom: "b"\n}\n', id="list of strings"
        ),
        pytest.param(
            "layer { loss_weight: [1, 0.5, 2e-3] }",
            "layer {\n  loss_weight: 1\n  loss_weight: 0.5\n  loss_weight: 0.002\n}\n",
            id="list of numbers",
        ),
        pytest.param(
            "layer { blobs { shape { dim: [-1, 0x2] } } }",
            "layer {\n  blobs {\n    shape {\n      dim: -1\n      dim: 2\n    }\n  }\n}\n",
            id="list with signs and hex",
        ),
        pytest.param("layer { bottom: [] }", "layer {\n}\n", id="empty list"),
        pytest.param(
            'layer [{ name: "a" }, < name: "b" >]',
            'layer {\n  name: "a"\n}\nlayer {\n  name: "b"\n}\n',
            id="list of messages",
        ),
        pytest.param('layer: { name: "a" }', 'layer {\n  name: "a"\n}\n', id="colon before brace"),
        pytest.param('layer: < name: "a" >', 'layer {\n  name: "a"\n}\n', id="colon before angle bracket"),
        pytest.param(
            'layer { name: "a"; type: "X", bottom: "b"; }; name: "n",',
            'name: "n"\nlayer {\n  name: "a"\n  type: "X"\n  bottom: "b"\n}\n',
            id="semicolons and commas separate fields",
        ),
        pytest.param('name: "ab" \'cd\'\n "ef"', 'name: "abcdef"\n', id="adjacent strings concatenate"),
        pytest.param('name: "a#b" # comment', 'name: "a#b"\n', id="hash inside a string is not a comment"),
        pytest.param(
            'layer{name:"a"param{lr_mult:1}}',
            'layer {\n  name: "a"\n  param {\n    lr_mult: 1\n  }\n}\n',
            id="no spaces at all",
        ),
        pytest.param('name:\v"a"\f', 'name: "a"\n', id="vertical tab and form feed are spaces"),
        pytest.param(
            "layer { blobs { shape { dim: 0x1F dim: 0X10 dim: 017 dim: 0 dim: -0x10 dim: - 7 } } }",
            "layer {\n  blobs {\n    shape {\n"
            + "".join(f"      dim: {n}\n" for n in (31, 16, 15, 0, -16, -7))
            + "    }\n  }\n}\n",
            id="hex and octal integers and a spaced minus",
        ),
        pytest.param(
            "layer { param { lr_mult: 5f decay_mult: 1.5F } }",
            "layer {\n  param {\n    lr_mult: 5\n    decay_mult: 1.5\n  }\n}\n",
            id="float suffix",
        ),
        pytest.param(
            "layer { param { lr_mult: 7 } }", "layer {\n  param {\n    lr_mult: 7\n  }\n}\n", id="integer for a float"
        ),
        pytest.param(
            "force_backward: t debug_info: 1", "force_backward: true\ndebug_info: true\n", id="booleans as t and 1"
        ),
        pytest.param(
            "layer { param { share_mode: 1 } }",
            "layer {\n  param {\n    share_mode: PERMISSIVE\n  }\n}\n",
            id="enum by number",
        ),
        pytest.param('layer { name: "x" } ;', 'layer {\n  name: "x"\n}\n', id="separator after a message"),
    ],
)
def test_accepted_syntax(text: str, expected: str) -> None:
    assert canonical(text) == expected


def test_accepted_syntax_reads_as_up_to_date() -> None:
    check_noop('layer: { name: "a"; bottom: ["x", "y"], top: "z" }')


# `name: value` is read as one match (`reader._FIELD_OR_TOKEN`); where the parser wants a value,
# such a match must read as the tokens it spans, so these read as they did token by token
# (outcomes of the reader before that change, commit 2ec3276).
@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ("a:\n b: 1", "expected a field name, found ':'", 5),  # `b` is a's value
        ("a: b: 1", "expected a field name, found ':'", 4),
        ("a: [b: 1]", "expected ',' or ']', found ':'", 5),
        ("a: [\nb: 1]", "expected ',' or ']', found ':'", 6),
        ("a: [1, b: 2]", "expected ',' or ']', found ':'", 8),
        ("a: - b: 1", "expected a field name, found ':'", 6),
        ("a b: 1", "expected ':' or '{' after field name 'a'", 2),
        ("layer [{ } b: 1]", "expected ',' or ']', found ident 'b'", 11),
        ("x { a: b: 1 }", "expected a field name or '}', found ':'", 8),
    ],
)
def test_a_field_where_a_value_is_wanted_reads_as_its_tokens(text: str, message: str, offset: int) -> None:
    for lazy in (False, True):
        with pytest.raises(InputError) as caught:
            parse_tree(text, lazy=lazy)
        assert (caught.value.message, caught.value.offset) == (message, offset)


def test_fields_read_as_one_match_are_the_fields_read_as_tokens() -> None:
    """Offsets as the reader of commit 2ec3276 read them, token by token."""
    text = "a: -\n5 b: -2 c: 'x'\n d: 'x' 'y' e: 0x1F f: WORD; g: 1.5e3f, h: \"s\" # c\n"
    fields = parse_tree(text)
    assert [(f.name, f.start, f.end, f.stop, f.colon) for f in fields] == [
        ("a", 0, 6, 6, True), ("b", 7, 12, 12, True), ("c", 13, 19, 19, True), ("d", 21, 31, 31, True),
        ("e", 32, 39, 39, True), ("f", 40, 47, 48, True), ("g", 49, 58, 59, True), ("h", 60, 66, 66, True),
    ]  # fmt: skip
    scalars = [f.values[0] for f in fields if f.values]
    assert [(s.kind, s.start, s.token, s.end, s.pieces) for s in scalars] == [
        ("number", 3, 5, 6, ()), ("number", 10, 11, 12, ()), ("string", 16, 16, 19, ((16, 19),)),
        ("string", 24, 24, 31, ((24, 27), (28, 31))), ("number", 35, 35, 39, ()), ("ident", 43, 43, 47, ()),
        ("number", 52, 52, 58, ()), ("string", 63, 63, 66, ((63, 66),)),
    ]  # fmt: skip
