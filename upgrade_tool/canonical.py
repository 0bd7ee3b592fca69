"""Render a message exactly as protobuf's C++ TextFormat prints it (what Caffe writes).

Two-space indent, every message expanded, set fields in field-number order,
enums by name, strings C-escaped with bytes outside printable ASCII in octal,
floats in the shorter of %.6g / %.9g that reads back as the same float32
(doubles: %.15g / %.17g), and a newline after every field. A subnormal float
always takes %.9g: C++ reads %.6g back with `strtof`, which reports every
subnormal result as a range error.
"""

from __future__ import annotations

import math
import struct

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

_ESCAPES = {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", ord('"'): '\\"', ord("'"): "\\'", ord("\\"): "\\\\"}
_FLOAT_MIN_NORMAL = 2.0**-126
_BYTE_TEXT = [_ESCAPES.get(b, chr(b) if 0x20 <= b < 0x7F else f"\\{b:03o}") for b in range(256)]


def render(message: Message) -> str:
    """The canonical text of `message`."""
    lines: list[str] = []
    _render_fields(message, "", lines)
    return "".join(lines)


def _render_fields(message: Message, indent: str, lines: list[str]) -> None:
    for field, value in message.ListFields():
        values = value if field.is_repeated else (value,)
        for item in values:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                lines.append(f"{indent}{field.name} {{\n")
                _render_fields(item, indent + "  ", lines)
                lines.append(f"{indent}}}\n")
            else:
                lines.append(f"{indent}{field.name}: {format_scalar(field, item)}\n")


def format_scalar(field: FieldDescriptor, value: object) -> str:
    """One scalar value in C++ TextFormat spelling."""
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        assert isinstance(value, str)
        return quote(value.encode("utf-8"))
    if kind == FieldDescriptor.TYPE_BYTES:
        assert isinstance(value, bytes)
        return quote(value)
    if kind == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    if kind == FieldDescriptor.TYPE_ENUM:
        assert isinstance(value, int)
        enum = field.enum_type
        known = enum.values_by_number.get(value) if enum is not None else None
        return known.name if known is not None else str(value)
    if kind == FieldDescriptor.TYPE_FLOAT:
        assert isinstance(value, float)
        return format_float(value)
    if kind == FieldDescriptor.TYPE_DOUBLE:
        assert isinstance(value, float)
        return format_double(value)
    return str(value)


def quote(data: bytes) -> str:
    return '"' + "".join([_BYTE_TEXT[b] for b in data]) + '"'


def _special(value: float) -> str | None:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return None


def _as_float32(value: float) -> float:
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


def format_float(value: float) -> str:
    special = _special(value)
    if special is not None:
        return special
    short = f"{value:.6g}"
    if (value == 0 or abs(value) >= _FLOAT_MIN_NORMAL) and read_float32(short) == value:
        return short
    return f"{value:.9g}"


def read_float32(spelled: str) -> float:
    """The float32 nearest the decimal `spelled`, rounded once, as C's `strtof` rounds it.

    Rounding to a double first can only go wrong when the double lands exactly
    halfway between two float32 values; then the decimal itself decides.
    """
    double = float(spelled)
    single = _as_float32(double)
    if single == double or math.isinf(single):
        return single
    other = _float32_step(single, double > single)
    if (single + other) / 2 != double:
        return single
    from fractions import Fraction  # rare (a tie in float32), and slow to import

    exact = Fraction(spelled)
    if exact == double:
        return single  # a true tie: to even, as the cast did
    return max(single, other) if exact > double else min(single, other)


def _float32_step(value: float, up: bool) -> float:
    """The next float32 above (or below) `value`."""
    bits: int = struct.unpack("<i", struct.pack("<f", value))[0]
    bits += 1 if (up == (value >= 0)) else -1
    if value == 0:
        bits = 1 if up else -(2**31) + 1
    result: float = struct.unpack("<f", struct.pack("<i", bits))[0]
    return result


def format_double(value: float) -> str:
    special = _special(value)
    if special is not None:
        return special
    short = f"{value:.15g}"
    return short if float(short) == value else f"{value:.17g}"
