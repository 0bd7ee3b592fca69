"""Canonical output is byte for byte what protobuf's C++ TextFormat prints for Caffe.

Floats: the shorter of %.6g / %.9g that reads back as the same float32 (doubles:
%.15g / %.17g), `nan`, `inf`, `-inf`. Strings: double quotes, C escapes, every
byte outside printable ASCII as a 3-digit octal escape. Enums bare, messages
expanded with a 2-space indent, set fields in field-number order, a newline after
every field. The float rules are also checked against the C library's own
printf/strtof, the functions C++ protobuf calls.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import struct

import pytest
from conftest import check_noop
from hypothesis import given
from hypothesis import strategies as st

from upgrade_tool import upgrade_text


def canonical(text: str) -> str:
    return upgrade_text(text, output_format="canonical").text


def float_as_printed(spelling: str) -> str:
    """How a float field (ParamSpec.lr_mult) written as `spelling` is printed."""
    out = canonical(f"layer {{ param {{ lr_mult: {spelling} }} }}")
    prefix, suffix = "layer {\n  param {\n    lr_mult: ", "\n  }\n}\n"
    assert out.startswith(prefix) and out.endswith(suffix), out
    return out[len(prefix) : -len(suffix)]


def double_as_printed(spelling: str) -> str:
    """How a double field (BlobProto.double_data) written as `spelling` is printed."""
    out = canonical(f"layer {{ blobs {{ double_data: {spelling} }} }}")
    prefix, suffix = "layer {\n  blobs {\n    double_data: ", "\n  }\n}\n"
    assert out.startswith(prefix) and out.endswith(suffix), out
    return out[len(prefix) : -len(suffix)]


def string_as_printed(literal: str) -> str:
    out = canonical(f"name: {literal}\n")
    assert out.startswith("name: ") and out.endswith("\n"), out
    return out[len("name: ") : -1]


@pytest.mark.parametrize(
    ("spelling", "printed"),
    [
        pytest.param("0", "0", id="zero"),
        pytest.param("1", "1", id="one"),
        pytest.param("1.0", "1", id="no trailing zeros"),
        pytest.param("-0", "-0", id="negative zero keeps its sign"),
        pytest.param("0.00001", "1e-05", id="small numbers in exponent form"),
        pytest.param("0.999", "0.999", id="six digits are enough for 0.999"),
        pytest.param("3.14159265358979", "3.14159274", id="pi needs nine digits as a float32"),
        pytest.param("1e10", "1e+10", id="exponent with a sign and two digits"),
        pytest.param("0.1", "0.1", id="0.1 is printed short"),
        pytest.param("0.3f", "0.3", id="an f suffix is only spelling"),
        pytest.param("100000", "100000", id="six digit integer"),
        pytest.param("1000000", "1e+06", id="seven digit integer in exponent form"),
        pytest.param("123456789", "123456792", id="nearest float32 of 123456789"),
        pytest.param("16777217", "16777216", id="float32 loses the last bit"),
        pytest.param("0.0025", "0.0025", id="small decimal"),
        pytest.param("1e-45", "1.40129846e-45", id="smallest subnormal takes nine digits"),
        pytest.param("3e-39", "3.00000065e-39", id="a subnormal takes nine digits though six read back"),
        pytest.param("1.17549435e-38", "1.17549435e-38", id="smallest normal float"),
        pytest.param("7e-46", "0", id="below half the smallest subnormal is zero"),
        pytest.param("3.4028235677973366e+38", "3.40282347e+38", id="halfway to 2**128 is float max as in C++"),
        pytest.param("-3.4028235677973366e+38", "-3.40282347e+38", id="and so is its negative"),
        pytest.param("3.402823567797337e+38", "inf", id="past halfway to 2**128 is inf"),
        pytest.param("99999999999999999999999", "1e+23", id="an integer past any 64-bit range"),
        pytest.param("3.4028235e38", "3.40282347e+38", id="largest float32"),
        pytest.param("1e40", "inf", id="too large for a float32 is inf"),
        pytest.param("nan", "nan", id="nan"),
        pytest.param("NaN", "nan", id="nan in any case"),
        pytest.param("inf", "inf", id="inf"),
        pytest.param("-inf", "-inf", id="negative inf"),
        pytest.param("Infinity", "inf", id="infinity spelled out"),
        pytest.param("-infinity", "-inf", id="negative infinity spelled out"),
    ],
)
def test_float(spelling: str, printed: str) -> None:
    assert float_as_printed(spelling) == printed


def test_negative_nan_prints_as_nan() -> None:
    assert float_as_printed("-nan") == "nan"


@pytest.mark.parametrize(
    ("spelling", "printed"),
    [
        pytest.param("0.1", "0.1", id="0.1"),
        pytest.param("3.141592653589793", "3.1415926535897931", id="pi needs seventeen digits"),
        pytest.param("0.30000000000000004", "0.30000000000000004", id="0.1 plus 0.2"),
        pytest.param("1e-05", "1e-05", id="small"),
        pytest.param("1e100", "1e+100", id="large"),
        pytest.param("-0", "-0", id="negative zero"),
        pytest.param("123456789", "123456789", id="a double keeps all nine digits"),
        pytest.param("nan", "nan", id="nan"),
        pytest.param("-inf", "-inf", id="negative inf"),
    ],
)
def test_double(spelling: str, printed: str) -> None:
    assert double_as_printed(spelling) == printed


# The C library's printf and strtof/strtod: what C++ protobuf's SimpleFtoa/SimpleDtoa call.
_LIBC_NAME = ctypes.util.find_library("c")
libc = ctypes.CDLL(_LIBC_NAME, use_errno=True) if _LIBC_NAME else None
needs_libc = pytest.mark.skipif(libc is None, reason="needs the C library (for printf as an oracle)")


def c_format(template: bytes, value: float) -> str:
    assert libc is not None
    buffer = ctypes.create_string_buffer(64)
    libc.snprintf(buffer, 64, template, ctypes.c_double(value))
    return buffer.value.decode("ascii")


def c_reads_back(text: str, value: float, as_float32: bool) -> bool:
    """protobuf's safe_strtof (a range error fails it) for floats; a plain strtod for doubles."""
    assert libc is not None
    reader = libc.strtof if as_float32 else libc.strtod
    reader.restype = ctypes.c_float if as_float32 else ctypes.c_double
    reader.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    ctypes.set_errno(0)
    parsed: float = reader(text.encode("ascii"), None)
    if as_float32 and ctypes.get_errno() != 0:
        return False
    return parsed == value


def simple_ftoa(value: float) -> str:
    short = c_format(b"%.6g", value)
    return short if c_reads_back(short, value, as_float32=True) else c_format(b"%.9g", value)


def simple_dtoa(value: float) -> str:
    short = c_format(b"%.15g", value)
    return short if c_reads_back(short, value, as_float32=False) else c_format(b"%.17g", value)


@needs_libc
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float_matches_c_printf(value: float) -> None:
    assert struct.unpack("<f", struct.pack("<f", value))[0] == value
    assert float_as_printed(repr(value)) == simple_ftoa(value)


@needs_libc
@given(st.integers(min_value=1, max_value=2**23 - 1), st.booleans())
def test_subnormal_float_matches_c_printf(mantissa: int, negative: bool) -> None:
    value = (-1 if negative else 1) * mantissa * 2.0**-149
    assert float_as_printed(repr(value)) == simple_ftoa(value)


@pytest.mark.parametrize(
    ("spelled", "expected"),
    [
        pytest.param("0.1", 0.10000000149011612, id="a plain decimal"),
        # 1 + 2**-24 is halfway between 1 and the next float32: as a double it is a tie
        # (to even: 1), but a decimal a hair above it must round up, as strtof does.
        pytest.param("1.000000059604644775390625", 1.0, id="an exact tie rounds to even"),
        pytest.param("1.0000000596046447753906251", 1.0000001192092896, id="a hair above a tie rounds up"),
        pytest.param("1.0000000596046447753906249", 1.0, id="a hair below a tie rounds down"),
    ],
)
def test_reading_a_float32_rounds_once(spelled: str, expected: float) -> None:
    from upgrade_tool.canonical import read_float32

    assert read_float32(spelled) == expected


@needs_libc
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_double_matches_c_printf(value: float) -> None:
    assert double_as_printed(repr(value)) == simple_dtoa(value)


@needs_libc
def test_oracle_agrees_with_known_values() -> None:
    # The oracle itself is checked, so the two tests above cannot pass vacuously.
    assert simple_ftoa(struct.unpack("<f", struct.pack("<f", math.pi))[0]) == "3.14159274"
    assert simple_dtoa(math.pi) == "3.1415926535897931"
    assert simple_ftoa(1e-05) == "1e-05"


@pytest.mark.parametrize(
    ("literal", "printed"),
    [
        pytest.param('"plain"', '"plain"', id="plain"),
        pytest.param(r'"line\nbreak"', r'"line\nbreak"', id="newline"),
        pytest.param(r'"tab\there"', r'"tab\there"', id="tab"),
        pytest.param(r'"cr\r"', r'"cr\r"', id="carriage return"),
        pytest.param(r'"say \"hi\""', r'"say \"hi\""', id="double quotes"),
        pytest.param("'say \"hi\"'", r'"say \"hi\""', id="single quoted input"),
        pytest.param('"it\'s"', r'"it\'s"', id="single quote is escaped"),
        pytest.param(r'"back\\slash"', r'"back\\slash"', id="backslash"),
        pytest.param('"café"', r'"caf\303\251"', id="utf-8 bytes in octal"),
        pytest.param('"网"', r'"\347\275\221"', id="cjk bytes in octal"),
        pytest.param(r'"\u00e9"', r'"\303\251"', id="unicode escape becomes octal bytes"),
        pytest.param(r'"\001"', r'"\001"', id="control byte in octal"),
        pytest.param(r'"\x7f"', r'"\177"', id="delete in octal"),
        pytest.param(r'"\a\b\f\v"', r'"\007\010\014\013"', id="other C escapes become octal"),
        pytest.param(r'"\x41\102"', '"AB"', id="hex and octal escapes of printable bytes"),
        pytest.param(r'"\?"', '"?"', id="question mark escape"),
        pytest.param('"con" \'cat\' "enated"', '"concatenated"', id="adjacent strings"),
        pytest.param('""', '""', id="empty"),
    ],
)
def test_string(literal: str, printed: str) -> None:
    assert string_as_printed(literal) == printed


def test_integers_booleans_and_enums() -> None:
    before = (
        "layer {\n"
        '  name: "c"\n'
        "  include { phase: TEST }\n"
        "  param { share_mode: 1 }\n"
        "  blobs { shape { dim: -9223372036854775808 dim: 0x10 dim: 010 } }\n"
        "  convolution_param { num_output: 4294967295 bias_term: False axis: -1 }\n"
        "  pooling_param { pool: AVE global_pooling: t }\n"
        "}\n"
    )
    assert canonical(before) == (
        "layer {\n"
        '  name: "c"\n'
        "  param {\n"
        "    share_mode: PERMISSIVE\n"
        "  }\n"
        "  blobs {\n"
        "    shape {\n"
        "      dim: -9223372036854775808\n"
        "      dim: 16\n"
        "      dim: 8\n"
        "    }\n"
        "  }\n"
        "  include {\n"
        "    phase: TEST\n"
        "  }\n"
        "  convolution_param {\n"
        "    num_output: 4294967295\n"
        "    bias_term: false\n"
        "    axis: -1\n"
        "  }\n"
        "  pooling_param {\n"
        "    pool: AVE\n"
        "    global_pooling: true\n"
        "  }\n"
        "}\n"
    )


def test_fields_in_field_number_order() -> None:
    before = (
        'layer { top: "b" param { decay_mult: 2 lr_mult: 1 } bottom: "a" type: "Convolution" name: "c" bottom: "z" }\n'
        "debug_info: true\n"
        "state { phase: TEST }\n"
        'name: "net"\n'
        "force_backward: true\n"
    )
    assert canonical(before) == (
        'name: "net"\n'
        "force_backward: true\n"
        "state {\n"
        "  phase: TEST\n"
        "}\n"
        "debug_info: true\n"
        "layer {\n"
        '  name: "c"\n'
        '  type: "Convolution"\n'
        '  bottom: "a"\n'
        '  bottom: "z"\n'
        '  top: "b"\n'
        "  param {\n"
        "    lr_mult: 1\n"
        "    decay_mult: 2\n"
        "  }\n"
        "}\n"
    )


def test_nested_messages_indent_two_spaces_per_level() -> None:
    before = 'layer { name: "c" convolution_param { weight_filler { type: "gaussian" std: 0.01 } } }'
    assert canonical(before) == (
        "layer {\n"
        '  name: "c"\n'
        "  convolution_param {\n"
        "    weight_filler {\n"
        '      type: "gaussian"\n'
        "      std: 0.01\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


def test_empty_messages_are_expanded() -> None:
    assert canonical("layer { } layer < >") == "layer {\n}\nlayer {\n}\n"


def test_explicit_default_values_are_kept() -> None:
    before = 'layer { name: "c" param { lr_mult: 1 decay_mult: 1 } convolution_param { bias_term: true } }'
    assert canonical(before) == (
        "layer {\n"
        '  name: "c"\n'
        "  param {\n"
        "    lr_mult: 1\n"
        "    decay_mult: 1\n"
        "  }\n"
        "  convolution_param {\n"
        "    bias_term: true\n"
        "  }\n"
        "}\n"
    )


def test_ends_with_a_newline_and_uses_lf() -> None:
    assert canonical('name: "a"') == 'name: "a"\n'
    assert canonical('name: "a"\r\nlayer {\r\n  name: "b"\r\n}') == 'name: "a"\nlayer {\n  name: "b"\n}\n'


def test_comments_and_blank_lines_are_dropped() -> None:
    before = '# a net\n\nname: "a"  # its name\n\n\nlayer {  # first\n}\n# end'
    assert canonical(before) == 'name: "a"\nlayer {\n}\n'


def test_empty_input_prints_nothing() -> None:
    assert canonical("") == ""
    assert canonical("# only a comment\n") == ""


def test_canonical_text_is_its_own_rendering() -> None:
    text = 'name: "n"\nlayer {\n  name: "a\\303\\251"\n  param {\n    lr_mult: 0.1\n  }\n}\n'
    assert check_noop(text).text == text
