"""Random prototxt for the differential fuzzer: every spelling protobuf's text format allows, and many it does not.

`generate(rng)` returns (bytes, kind): a net or solver built from caffe.proto's
own descriptors, with random field choices and, for each token, a random
spelling: integers in decimal, octal and hex, `-0`, `- 5`, `1_000`; floats with
`f` suffixes, `inf`/`-inf`/`infinity`/`nan`/`nanf` in any case, huge, halfway
and subnormal values; booleans spelt every way; enums by name and number
(known or not); strings with every escape (octal, hex, `\\u`/`\\U`, surrogate
pairs and lone surrogates, `\\U00110000`, `\\UFFFFFFFF`), raw UTF-8 and raw bytes
that are not UTF-8, adjacent literals in both quotes; lists with and without
a colon (empty ones too), `{}` and `<>`, `;` and `,` separators, repeated
singular fields, unknown fields, comments in odd places (with bytes that are
not UTF-8 in them), and LF, CRLF or lone-CR line ends.
"""

from __future__ import annotations

import random

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from upgrade_tool import caffe_pb2

NET = caffe_pb2.NetParameter.DESCRIPTOR
SOLVER = caffe_pb2.SolverParameter.DESCRIPTOR
# Fields real files use most, tried more often so the generated nets look like nets.
COMMON = {
    "NetParameter": ["layer", "layer", "layers", "name", "input", "input_dim", "input_shape", "state",
                     "force_backward"],
    "LayerParameter": ["name", "type", "bottom", "top", "param", "include", "convolution_param", "batch_norm_param",
                       "blobs", "loss_weight", "phase", "pooling_param", "transform_param", "propagate_down"],
    "V1LayerParameter": ["name", "type", "bottom", "top", "blobs_lr", "weight_decay", "layer", "include"],
    "SolverParameter": ["net", "base_lr", "lr_policy", "solver_type", "type", "net_param", "test_iter", "momentum",
                        "max_iter", "stepvalue", "solver_mode", "delta", "weight_decay", "test_state"],
}  # fmt: skip
UNKNOWN_NAMES = [b"foo", b"scale_bias", b"Name", b"layerx", b"_", b"permute_param", b"engine"]
INT_LIMITS = [0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64]
FLOAT_WORDS = [b"inf", b"-inf", b"Inf", b"INF", b"infinity", b"-Infinity", b"INFINITY", b"nan", b"-nan", b"NaN",
               b"- inf", b"-\tnan"]  # fmt: skip
FLOAT_SPELLINGS = [b"0", b"-0", b"0.0", b"-0.0", b"1.", b".5", b"-.5", b"1e5", b"1E-5", b"1e+5", b"5f", b"5F", b"1.5f",
                   b"0f", b".5f", b"1e5f", b"3.4028235677973366e+38", b"-3.4028235677973366e+38",
                   b"3.4028235677973362e+38", b"3.402823567797337e+38", b"3.4028234663852886e+38", b"3.40282347e+38",
                   b"1e39", b"1e309", b"3e-39", b"1e-45", b"7e-46", b"1.17549435e-38", b"1.1754942e-38", b"5e-324",
                   b"2.2250738585072014e-308", b"1e-310", b"99999999999999999999999", b"18446744073709551616",
                   b"- 5", b"-5", b"0.1", b"0.30000000000000004", b"123456789", b"16777217", b"1" * 400,
                   b"0." + b"0" * 50 + b"1", b"00.5e1", b"0e0", b"1.000000059604644775390625"]  # fmt: skip
FLOAT_ERRORS = [b"0x10", b"010", b"00", b"0X1", b"1_000", b"1.2.3", b"1e", b"5f3", b"nanf", b"inff", b"infinit", b"in",
                b"1e5.5", b"0x1.5", b"- -1", b"+1", b'"1"', b"1.5ff"]  # fmt: skip
BOOL_SPELLINGS = [b"true", b"True", b"t", b"false", b"False", b"f", b"1", b"0", b"0x1", b"01", b"00", b"0x0", b"0X1"]
BOOL_ERRORS = [b"2", b"T", b"TRUE", b"yes", b"-1", b"-0", b'"true"', b"1.0", b"tru", b"1f"]
STRING_PIECES = [b"a", b"conv1", b"data", b" ", b"#", b"{", b"'", b'"', b"\\n", b"\\t", b"\\r", b"\\\\", b"\\'",
                 b'\\"', b"\\?", b"\\a", b"\\b", b"\\f", b"\\v", b"\\0", b"\\12", b"\\377", b"\\777", b"\\400",
                 b"\\x4", b"\\x41", b"\\u00e9", b"\\ud83d\\ude00", b"\\uD83D\\uDE00", b"\\U0001F600",
                 b"\\U0000d83d\\ude00", b"\\U00110000", b"\\U001fffff", b"\\U0010FFFF", "é".encode(), "网".encode(),
                 "😀".encode(), b"\t", b"\r", b"\x01", b"\x7f"]  # fmt: skip
# Strings C++ keeps as bytes and Python protobuf cannot hold (a documented difference): now and then.
NOT_UTF8_PIECES = [b"\xe9", b"\xff", b"\xed\xa0\x80", b"\xc0\xaf", b"\\ud800", b"\\udc00", b"\\ud83d\\u0041", b"\\xff"]
STRING_ERRORS = [b"\\x", b"\\xg", b"\\u12", b"\\U00200000", b"\\UFFFFFFFF", b"\\q", b"\\8", b"\\\n", b"\n", b"\x00"]
COMMENT_PIECES = [b"a comment", b" ", "café".encode(), b"caf\xe9", b"\xff\xfe", b"\x80", b"{", b"}", b'"', b"'",
                  b"#", b"\\", b"\r", b"\t", "网络".encode(), b"\xed\xa0\x80", b"\x01"]  # fmt: skip


class Generator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def space(self) -> bytes:
        """What goes between two tokens."""
        r = self.rng.random()
        if r < 0.75:
            return b" "
        if r < 0.82:
            return b"\n  "
        if r < 0.86:
            return b""
        if r < 0.92:
            return b" " + self.comment() + b"\n"
        return self.rng.choice([b"\t", b"\v", b"\f", b"\r", b"\r\n", b"  \n\n"])

    def comment(self) -> bytes:
        return b"#" + b"".join(self.rng.choice(COMMENT_PIECES) for _ in range(self.rng.randint(0, 4)))

    def message(self, descriptor: Descriptor, depth: int) -> bytes:
        fields = list(descriptor.fields)
        by_name = descriptor.fields_by_name
        common = [by_name[n] for n in COMMON.get(descriptor.name, []) if n in by_name]
        count = self.rng.choice([0, 1, 2, 2, 3, 4, 5, 7]) if depth < 4 else self.rng.choice([0, 1])
        parts = []
        given: set[str] = set()
        for _ in range(count):
            if self.chance(0.01):
                parts.append(self.unknown_field())
                continue
            field = self.rng.choice(common) if common and self.chance(0.6) else self.rng.choice(fields)
            if field.name in given and not field.is_repeated:
                continue
            given.add(field.name)
            parts.append(self.field(field, depth))
            if self.chance(0.005):  # the same field once more: an error for a singular one
                parts.append(self.field(field, depth))
        return b"".join(part + self.separator() for part in parts)

    def separator(self) -> bytes:
        r = self.rng.random()
        if r < 0.8:
            return self.space() if self.chance(0.5) else b"\n"
        if r < 0.995:
            return self.rng.choice([b",", b";", b" ;", b", ", b" , "]) + self.space()
        return self.rng.choice([b";;", b",;"]) + self.space()

    def unknown_field(self) -> bytes:
        name = self.rng.choice(UNKNOWN_NAMES)
        return name + (b" { a: 1 }" if self.chance(0.5) else b": 1")

    def field(self, field: FieldDescriptor, depth: int) -> bytes:
        name = field.name.encode()
        is_message = field.type == FieldDescriptor.TYPE_MESSAGE
        colon = b":" if (self.chance(0.5) if is_message else self.chance(0.99)) else b""
        head = name + (self.space() if self.chance(0.1) else b"") + colon + self.space()
        if self.chance(0.1 if field.is_repeated else 0.01):  # the list form, right or wrong
            if not field.is_repeated or self.chance(0.9):  # mostly right: a scalar list needs its ':'
                colon = colon or b":"
            items = [self.value_or_block(field, depth) for _ in range(self.rng.choice([0, 1, 2, 3]))]
            joiner = b"," + self.space() if self.chance(0.97) else b" "
            return head + b"[" + self.space() + joiner.join(items) + self.space() + b"]"
        return head + self.value_or_block(field, depth)

    def value_or_block(self, field: FieldDescriptor, depth: int) -> bytes:
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            return self.value(field)
        assert field.message_type is not None
        opener, closer = (b"{", b"}") if self.chance(0.8) else (b"<", b">")
        if self.chance(0.01):
            closer = b">" if closer == b"}" else b"}"
        return opener + self.space() + self.message(field.message_type, depth + 1) + closer

    def value(self, field: FieldDescriptor) -> bytes:
        kind = field.type
        if self.chance(0.01):  # a value of another type
            kind = self.rng.choice([FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_FLOAT,
                                    FieldDescriptor.TYPE_BOOL, FieldDescriptor.TYPE_ENUM])  # fmt: skip
        if kind == FieldDescriptor.TYPE_STRING or kind == FieldDescriptor.TYPE_BYTES:
            return self.string()
        if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
            return self.float_value()
        if kind == FieldDescriptor.TYPE_BOOL:
            return self.rng.choice(BOOL_ERRORS if self.chance(0.05) else BOOL_SPELLINGS)
        if kind == FieldDescriptor.TYPE_ENUM:
            return self.enum_value(field)
        return self.integer(kind)

    def integer(self, kind: int) -> bytes:
        r = self.rng.random()
        if r < 0.86:
            number = self.rng.choice([0, 1, 2, 3, 7, 64, 255, 1000])
        elif r < 0.97:
            number = self.rng.choice(INT_LIMITS) + self.rng.choice([-1, 0, 0, 1])
        else:
            return self.rng.choice([b"-0", b"- 5", b"-\n5", b"- # c\n5", b"1_000", b"1e3", b"5f", b"09", b"0x", b"1.0",
                                    b"ten", b'"5"', b"+5", b"0x7FFFFFFF", b"0XFFFFFFFF", b"017", b"-0x80000000",
                                    b"00", b"0" * 30 + b"1", b"- -5", b"--5"])  # fmt: skip
        sign = b"-" if self.chance(0.1) else b""
        style = self.rng.random()
        if number < 0:
            number, sign = -number, b"-"
        if style < 0.7:
            body = str(number).encode()
        elif style < 0.85:
            body = (b"0x" if self.chance(0.5) else b"0X") + format(number, "x").encode()
        else:
            body = b"0" + format(number, "o").encode()
        return sign + body

    def float_value(self) -> bytes:
        r = self.rng.random()
        if r < 0.03:
            return self.rng.choice(FLOAT_ERRORS)
        if r < 0.3:
            return self.rng.choice(FLOAT_SPELLINGS)
        if r < 0.4:
            return self.rng.choice(FLOAT_WORDS)
        if r < 0.7:  # a float32 written as repr, %.6g or %.9g
            scaled = self.rng.expovariate(1) * 10 ** self.rng.randint(-45, 38)
            value = self.rng.choice([self.rng.uniform(-10, 10), scaled])
            spelled = self.rng.choice([repr(value), f"{value:.6g}", f"{value:.9g}", f"{value:.3e}"])
            return spelled.encode()
        if r < 0.85:
            suffix = self.rng.choice([b"", b".", b".0", b"f", b"e2", b".5e-3f"])
            return str(self.rng.randint(0, 10**6)).encode() + suffix
        return self.integer(FieldDescriptor.TYPE_INT64)

    def enum_value(self, field: FieldDescriptor) -> bytes:
        enum = field.enum_type or caffe_pb2.Phase.DESCRIPTOR  # a value of another type given to a non-enum
        r = self.rng.random()
        if r < 0.75:
            return self.rng.choice(enum.values).name.encode()
        if r < 0.96:
            number = self.rng.choice(enum.values).number
            return self.rng.choice([str(number), hex(number), f"-{number}" if number == 0 else str(number)]).encode()
        return self.rng.choice([b"UNKNOWN_VALUE", b"-0", b"-1", b"99", b"2147483648", b"-2147483649", b"0x1", b"1.0",
                                b'"TRAIN"', b"train", b"- 0"])  # fmt: skip

    def string(self) -> bytes:
        literals = []
        for _ in range(1 if self.chance(0.9) else self.rng.randint(2, 3)):
            quote = b'"' if self.chance(0.85) else b"'"
            pieces = STRING_ERRORS if self.chance(0.03) else NOT_UTF8_PIECES if self.chance(0.05) else STRING_PIECES
            body = b"".join(self.rng.choice(pieces) for _ in range(self.rng.choice([0, 1, 1, 2, 3, 5])))
            if self.chance(0.6):  # most strings are plain
                body = self.rng.choice([b"conv1", b"data", b"Convolution", b"BatchNorm", b"", b"a b", b"x.prototxt"])
            literals.append(quote + body + (quote if self.chance(0.998) else b""))
        return self.space().join(literals) if self.chance(0.5) else b" ".join(literals)


def generate(rng: random.Random) -> tuple[bytes, str]:
    """One random input and the kind (net or solver) it is meant as."""
    generator = Generator(rng)
    solver = rng.random() < 0.2
    data = generator.message(SOLVER if solver else NET, 0)
    if rng.random() < 0.1:
        data = generator.comment() + b"\n" + data
    ending = rng.random()
    if ending < 0.1:
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    elif ending < 0.15:
        data = data.replace(b"\n", b"\r")
    return data, "solver" if solver else "net"
