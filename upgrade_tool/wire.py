"""Protobuf's wire format, read field by field without decoding values.

Enough of the format to find where each field of a message starts and ends
(tags, varints, length prefixes, groups), so a binary model can be taken apart
and put back together around its weights without ever copying them. Every
length is checked against the bytes that are really there before it is used:
a hostile length prefix is an error, never an allocation.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import NamedTuple, Protocol

VARINT, I64, LEN, START_GROUP, END_GROUP, I32 = range(6)
FIXED_WIDTH = {I64: 8, I32: 4}
MAX_FIELD_NUMBER = 2**29 - 1
MAX_LENGTH = 2**31 - 1  # protobuf's own limit on one length-delimited field
MAX_GROUP_DEPTH = 100  # protobuf's default recursion limit


class WireError(Exception):
    """Bytes that are not protobuf wire format; `offset` is where reading stopped making sense."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.message = message
        self.offset = offset


class Buffer(Protocol):
    """What the reader needs: a length, and slices (only small ones are asked for)."""

    def __len__(self) -> int: ...
    def __getitem__(self, key: slice, /) -> bytes | memoryview: ...


class WireField(NamedTuple):
    """One field on the wire: the tag starts at `start`, the value at `value`, all ends at `end`."""

    number: int
    wire_type: int
    start: int
    value: int
    end: int


def read_varint(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it."""
    window = bytes(buf[pos : min(pos + 10, end)])
    value = 0
    for index, byte in enumerate(window):
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            return value, pos + index + 1
    if len(window) < 10:
        raise WireError("the data ends inside a number", pos)
    raise WireError("a number longer than 10 bytes", pos)


def fields(buf: Buffer, start: int, end: int) -> Iterator[WireField]:
    """The fields of the message in `buf[start:end]`, in the order they are written."""
    pos = start
    while pos < end:
        field, pos = _read_field(buf, pos, end, 0)
        if field.wire_type == END_GROUP:
            raise WireError("a group ends that never started", field.start)
        yield field


def _read_field(buf: Buffer, pos: int, end: int, depth: int) -> tuple[WireField, int]:
    start = pos
    tag, pos = read_varint(buf, pos, end)
    number, wire_type = tag >> 3, tag & 7
    if tag > 0xFFFFFFFF or not 0 < number <= MAX_FIELD_NUMBER:
        raise WireError(f"an invalid field number {number}", start)
    if wire_type == VARINT:
        _, stop = read_varint(buf, pos, end)
    elif wire_type in FIXED_WIDTH:
        stop = _within(pos, FIXED_WIDTH[wire_type], end, start)
    elif wire_type == LEN:
        length, pos = read_varint(buf, pos, end)
        stop = _within(pos, length, end, start)
    elif wire_type == START_GROUP:
        stop = _skip_group(buf, pos, end, number, depth + 1, start)
    elif wire_type == END_GROUP:
        stop = pos
    else:
        raise WireError(f"an invalid wire type {wire_type}", start)
    return WireField(number, wire_type, start, pos, stop), stop


def _within(pos: int, length: int, end: int, start: int) -> int:
    if length > MAX_LENGTH or pos + length > end:
        raise WireError(f"a field claims {length} bytes but only {end - pos} remain", start)
    return pos + length


def _skip_group(buf: Buffer, pos: int, end: int, number: int, depth: int, start: int) -> int:
    if depth > MAX_GROUP_DEPTH:
        raise WireError("groups nested too deeply", start)
    while pos < end:
        field, pos = _read_field(buf, pos, end, depth)
        if field.wire_type == END_GROUP:
            if field.number != number:
                raise WireError("a group ends with the wrong field number", field.start)
            return pos
    raise WireError("the data ends inside a group", start)


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_tag(number: int, wire_type: int) -> bytes:
    return encode_varint(number << 3 | wire_type)


def length_prefix(number: int, size: int) -> bytes:
    """The tag and length that go before a length-delimited field of `size` bytes."""
    return encode_tag(number, LEN) + encode_varint(size)


class Joined:
    """Pieces read as one buffer, without joining them (small slices only)."""

    def __init__(self, pieces: Sequence[bytes | memoryview]) -> None:
        self.pieces = pieces
        self.starts = [0, *accumulate(len(piece) for piece in pieces)]

    def __len__(self) -> int:
        return self.starts[-1]

    def __getitem__(self, key: slice, /) -> bytes:
        start, stop, _ = key.indices(len(self))
        out = bytearray()
        index = bisect_right(self.starts, start) - 1
        while start < stop:
            piece = self.pieces[index]
            offset = start - self.starts[index]
            take = min(stop - start, len(piece) - offset)
            out += piece[offset : offset + take]
            start += take
            index += 1
        return bytes(out)


def same_bytes(left: Buffer, left_start: int, right: Buffer, right_start: int, size: int) -> bool:
    """Whether two spans hold the same bytes, compared a megabyte at a time."""
    chunk = 1 << 20
    for offset in range(0, size, chunk):
        take = min(chunk, size - offset)
        a = left[left_start + offset : left_start + offset + take]
        b = right[right_start + offset : right_start + offset + take]
        if bytes(a) != bytes(b):
            return False
    return True
