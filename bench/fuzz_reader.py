"""Fuzz the reader, binder and upgrade pipeline with mutated corpus files.

Each input is a corpus file (or two spliced together) with a few random
mutations: bytes flipped or replaced, tokens, brackets, quotes, escapes and
NUL/CR/non-UTF-8 bytes inserted, spans deleted or repeated, lines swapped,
the end cut off; or, half the time, whole fields deleted, repeated, moved
into another message, renamed or given another value (so the syntax holds
and the input reaches the binder and the passes). About one input in eight is instead a binary model (a
corpus net serialized by protobuf) with its bytes mutated, for the binary
route. Each input is upgraded with random settings (preserve or canonical,
strip or zero, --unsafe-fixes, --strict), exactly as the command does.

An input may end in a clean result or an `InputError` (whose message must be
one line). Anything else is a crash; a `SelfCheckError` (the tool's proof of
its own output failing) is a finding too, and so is an input that takes more
than --timeout seconds. With --against-protobuf, each text is also read by
protobuf's own text_format.Parse, and any difference from our strict reading
is a finding. Crashing inputs are saved with their tracebacks.

With --against-cpp, the inputs are mostly generated (bench/prototxt_gen.py:
every spelling the text format has, right and wrong) and each is also read
by protobuf's C++ TextFormat (bench/oracle, the parser Caffe links; build it
with `make -C bench/oracle`, BVLC's caffe.proto). Our strict reading as BVLC's
(`--strict --dialect bvlc`: no fork's fields) must agree: the same
accept or refuse; when both accept, the same serialized bytes and
`canonical.render` printing exactly what C++ prints. Differences listed in
DOCUMENTED (README's "Deliberate differences") are counted, not reported;
every other one is a finding. For inputs both refuse, it counts how often
our error is on C++'s line (and at its column, counted the C++ way).

    python bench/fuzz_reader.py --seconds 300            # a five-minute run, seed 0
    python bench/fuzz_reader.py --count 20000 --seed 7 --against-protobuf
    python bench/fuzz_reader.py --count 100000 --against-cpp
    python bench/fuzz_reader.py --atheris --seconds 300  # coverage-guided, if atheris is installed

Exit status 0 if no crash or finding, 1 otherwise.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import hashlib
import random
import re
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from google.protobuf import text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from upgrade_tool import caffe_pb2
from upgrade_tool.binary import upgrade_binary
from upgrade_tool.canonical import render
from upgrade_tool.document import Kind
from upgrade_tool.errors import InputError, SelfCheckError
from upgrade_tool.pipeline import parse_document, upgrade_source
from upgrade_tool.reader import Field, parse_tree, tokenize
from upgrade_tool.settings import BnStyle, OutputFormat, Settings
from upgrade_tool.source import UTF8_BOM, Source

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpp_oracle import Accepted, CppOracle, OracleMissing, Refused  # noqa: E402
from prototxt_gen import generate  # noqa: E402

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
# How the differential checks read: strictly, with BVLC's schema (the oracles know BVLC's caffe.proto
# only; without a dialect named, a fork's file would be read with its fork's schema).
AS_BVLC = Settings(strict=True, dialect="bvlc")
TOKENS = [
    b"{", b"}", b"<", b">", b"[", b"]", b":", b",", b";", b'"', b"'", b"#", b"\\", b"-", b"\n", b"\r\n", b" ",
    b"\x00", b"\xff", b"\xc3\xa9", b"\xef\xbb\xbf", b"\t", b"\v",
    b"layer", b"layers", b"layer {", b"layers {", b"param", b"param { lr_mult: 0 }", b"param < lr_mult: 0.0 >",
    b"lr_mult: 0", b"lr_mult: 1", b"decay_mult: 0", b'type: "BatchNorm"', b"type: BATCHNORM", b"type: CONVOLUTION",
    b'name: "bn"', b'name: "', b"share_mode: PERMISSIVE", b"input: ", b'input: "data"', b"input_dim: 1",
    b"input_shape { dim: 1 }", b"blobs_lr: 1", b"weight_decay: 0", b"batch_norm_param {", b"transform_param {",
    b"include { phase: TRAIN }", b"0x", b"0x7fffffff", b"1e", b"1e400", b"-1", b"inf", b"-nan", b".5f", b"077",
    b"99999999999999999999999", b"true", b"t", b"\\x41", b"\\777", b"\\u00e9", b"\\", b": [", b"[{", b"}]",
    b"net_param {", b"solver_type: ADAM", b"base_lr: 0.1", b"layer { layer {", b"}}}}",
]  # fmt: skip


@dataclass(frozen=True)
class Case:
    data: bytes
    binary: bool
    settings: Settings
    origin: str  # how it was made, for the saved copy


class Hang(Exception):
    pass


# -- making inputs -----------------------------------------------------------------------------------


def load_corpus(root: Path, max_bytes: int) -> list[tuple[str, bytes]]:
    files = sorted(p for p in root.rglob("*") if p.suffix in (".prototxt", ".pt") and p.is_file())
    return [(str(p.relative_to(root)), p.read_bytes()) for p in files if p.stat().st_size <= max_bytes]


def models_of(corpus: list[tuple[str, bytes]], limit: int = 60) -> list[tuple[str, bytes]]:
    """Some corpus nets as binary models (the ones protobuf's own parser reads as BVLC nets)."""
    models = []
    for name, data in corpus:
        try:
            net = text_format.Parse(data.decode("utf-8"), caffe_pb2.NetParameter())
        except Exception:  # noqa: BLE001 - fork dialects, solvers, V0 files: not for this
            continue
        if net.layer or net.layers:
            models.append((name, net.SerializeToString()))
        if len(models) >= limit:
            break
    return models


VALUES = ["0", "1", "-1", "0.0", "2147483648", "1e40", "nan", "true", "MAX", "RELU", "BatchNorm", '"BatchNorm"',
          '"x"', "''", '"\\xff"', "[]", "[1, 2]", "{ }", "{ lr_mult: 0 }", "< name: \"p\" >"]  # fmt: skip


def mutate_fields(data: bytearray, rng: random.Random) -> str | None:
    """A mutation that keeps the syntax: a whole field deleted, repeated, moved or given another value.

    These reach past the reader, into the binder's rules and the passes.
    """
    try:
        text = bytes(data).decode("utf-8")
        nodes = list(_walk(parse_tree(text)))
    except (UnicodeDecodeError, InputError):
        return None
    if not nodes:
        return None
    node = rng.choice(nodes)
    piece = text[node.start : node.stop]
    kind = rng.choice(["delete field", "repeat field", "move field", "new value", "rename field"])
    if kind == "delete field":
        text = text[: node.start] + text[node.stop :]
    elif kind == "repeat field":
        text = text[: node.stop] + " " + piece + text[node.stop :]
    elif kind == "move field":
        target = rng.choice([n for n in nodes if n.children is not None] or [node])
        at = target.close if target.children is not None and target.close > 0 else len(text)
        text = text[:at] + " " + piece + " " + text[at:]
        if at > node.start:
            text = text[: node.start] + text[node.stop :]
    elif kind == "new value" and node.values:
        text = text[: node.values[0].start] + rng.choice(VALUES) + text[node.values[0].end :]
    else:
        other = rng.choice(nodes).name
        text = text[: node.start] + other + text[node.name_end :]
    data[:] = text.encode("utf-8")
    return kind


def _walk(fields: list[Field]) -> Iterator[Field]:
    stack = list(fields)
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.children or ())


def mutate(data: bytearray, rng: random.Random, other: bytes) -> str:
    """Apply one random mutation in place; return its name."""
    if rng.randrange(2):
        done = mutate_fields(data, rng)
        if done is not None:
            return done
    size = len(data)
    kind = rng.choice(["flip", "byte", "token", "token", "token", "delete", "repeat", "swap", "cut", "splice"])
    at = rng.randrange(size + 1) if size else 0
    if kind in ("token", "repeat", "delete") and rng.randrange(2):  # at a line start: more often still valid
        at = bytes(data).find(b"\n", at) + 1
    if kind == "flip" and size:
        data[min(at, size - 1)] ^= 1 << rng.randrange(8)
    elif kind == "byte" and size:
        data[min(at, size - 1)] = rng.randrange(256)
    elif kind == "token":
        data[at:at] = rng.choice(TOKENS)
    elif kind == "delete":
        del data[at : at + rng.randint(1, 64)]
    elif kind == "repeat":
        span = bytes(data[at : at + rng.randint(1, 200)])
        data[at:at] = span * rng.randint(1, 50)
    elif kind == "swap":
        lines = bytes(data).split(b"\n")
        if len(lines) > 2:
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            data[:] = b"\n".join(lines)
    elif kind == "cut":
        del data[at:]
    elif kind == "splice":
        data[at:] = other[rng.randrange(len(other) + 1) :]
    return kind


MUTATED_FROM = 200_000  # bytes: larger corpus files are not mutated (the mutations of small ones suffice)


def mutated_texts(corpus: list[tuple[str, bytes]], rng: random.Random, count: int) -> Iterator[tuple[str, bytes]]:
    """`count` corpus files (of at most `MUTATED_FROM` bytes), each with one to three of `mutate`'s changes."""
    small = [(name, data) for name, data in corpus if len(data) <= MUTATED_FROM]
    for index in range(count):
        name, seed_data = rng.choice(small)
        data = bytearray(seed_data)
        done = [mutate(data, rng, rng.choice(small)[1]) for _ in range(rng.choice((1, 1, 2, 3)))]
        yield f"mutated #{index} ({name} + {', '.join(done)})", bytes(data)


def cases(corpus: list[tuple[str, bytes]], models: list[tuple[str, bytes]], rng: random.Random) -> Iterator[Case]:
    while True:
        binary = bool(models) and rng.randrange(8) == 0
        name, seed = rng.choice(models if binary else corpus)
        _, other = rng.choice(models if binary else corpus)
        data = bytearray(seed)
        kinds = [mutate(data, rng, other) for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4)))]
        settings = Settings(
            rng.choice(list(BnStyle)),
            rng.randrange(4) == 0,
            OutputFormat.CANONICAL if rng.randrange(4) == 0 else OutputFormat.PRESERVE,
            rng.randrange(8) == 0,
        )
        yield Case(bytes(data), binary, settings, f"{name} + {', '.join(kinds)}")


# -- running one ----------------------------------------------------------------------------------


def run_one(case: Case, differential: bool = False) -> str:
    """'ok', 'upgraded' or 'input error'; raises anything else."""
    if differential and not case.binary:
        against_protobuf(case.data)
    if case.binary:
        try:
            result = upgrade_binary(case.data, case.settings)
        except InputError as exc:
            check_message(exc)
            return "input error"
        return "upgraded" if result.changed else "ok"
    try:
        source = Source.from_bytes(case.data)
        outcome = upgrade_source(source, case.settings)
    except InputError as exc:
        check_message(exc)
        return "input error"
    return "upgraded" if outcome.changed else "ok"


# Errors of ours that protobuf's C++ tokenizer (Caffe's) raises too, where Python's is lenient.
CPP_REFUSES_TOO = ("invalid escape sequence", "unexpected control character")


class Disagreement(Exception):
    """Our reader and protobuf's own text parser read the same text differently."""


def against_protobuf(data: bytes) -> None:
    """Raise `Disagreement` unless our strict reading matches protobuf's text_format.Parse.

    Python's parser stands in for Caffe's C++ one; where the two are known to
    differ, C++ is followed and the input is skipped: a NUL byte (C++ refuses
    it anywhere, Python accepts it in a comment), an unknown escape such as
    `\\g` (C++ refuses it, Python keeps it), a control character such as
    0x1d between tokens (C++ refuses it, Python takes it for a space), and a
    UTF-8 BOM (bn-upgrade accepts it, on purpose).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    if "\x00" in text or text.startswith("\ufeff"):
        return
    why = ""
    try:
        doc, kind = parse_document(text, AS_BVLC)
        ours: object = doc.message
    except InputError as exc:
        if exc.message.startswith(CPP_REFUSES_TOO):
            return
        ours, kind, why = None, None, re.sub(r"'[^']*'", "'...'", exc.message)
    theirs: object = None
    for candidate in (kind,) if kind is not None else (Kind.NET, Kind.SOLVER):
        message = caffe_pb2.NetParameter() if candidate is Kind.NET else caffe_pb2.SolverParameter()
        try:
            theirs = text_format.Parse(text, message)
            break
        except text_format.ParseError:
            continue
    if (ours is None) != (theirs is None) or ours != theirs:
        verdict = "we accept, protobuf refuses" if theirs is None else f"we refuse ({why}), protobuf accepts"
        raise Disagreement(verdict if ours is None or theirs is None else "both accept, different messages")


def check_message(exc: InputError) -> None:
    if "\n" in exc.message or len(exc.message) > 1000:
        raise AssertionError(f"an error message must be one short line: {exc.message[:200]!r}")


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    if not hasattr(signal, "setitimer"):
        yield
        return
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def classify(exc: BaseException) -> str:
    if isinstance(exc, SelfCheckError):
        return "self-check failed"
    if isinstance(exc, Disagreement):
        return "disagrees with C++" if "C++" in str(exc) else "disagrees with protobuf"
    if isinstance(exc, Hang):
        return "hang"
    return "crash"


def signature(exc: BaseException) -> str:
    """What makes two crashes the same: the exception type and where it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} at {where}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"


def save(case: Case, exc: BaseException, out: Path) -> Path:
    digest = hashlib.sha1(case.data).hexdigest()[:12]
    path = out / f"{classify(exc).replace(' ', '-')}-{digest}{'.caffemodel' if case.binary else '.prototxt'}"
    path.write_bytes(case.data)
    details = "".join(traceback.format_exception(exc))
    path.with_suffix(path.suffix + ".txt").write_text(f"{case.origin}\n{case.settings}\n\n{details}")
    return path


# -- against protobuf's C++ TextFormat ------------------------------------------------------------

# Differences from C++ that README's "Deliberate differences from Caffe's own tools" lists; each is
# recognised by what both sides did, never by the input alone.
DOCUMENTED = {
    "bom": "a UTF-8 BOM: bn-upgrade reads past it, C++ refuses it",
    "string not utf-8": "a string that is not UTF-8 (raw bytes, or escapes such as lone surrogates): C++ keeps the "
    "bytes, Python protobuf cannot hold them in a string field, so bn-upgrade refuses it",
    "nan sign": "-nan: bn-upgrade reads it as nan (C++ keeps the sign bit, which it never prints)",
}


@dataclass
class Tally:
    outcomes: Counter[str]
    lines: Counter[str]  # for inputs both refuse: where our error is, against C++'s


@dataclass(frozen=True)
class Ours:
    """Our strict reading of one input: the message, or the error and where it is."""

    message: Message | None
    error: str = ""
    line: int = 0
    column: int = 0  # counted as C++ counts: bytes, a tab to the next multiple of 8
    printed: str = ""  # canonical text
    syntax: bool = False  # the error is the reader's (syntax), not the binder's (schema)
    later_lines: tuple[int, ...] = ()  # lines of the two tokens after the error's own


def ours_strictly(data: bytes, kind: str) -> Ours:
    source = Source.from_bytes(data)
    try:
        tree = parse_tree(source.text)
    except InputError as exc:
        line, column = source.position(exc.offset)
        return Ours(None, exc.message, line, cpp_column(source.text, exc.offset, column), syntax=True)
    try:
        doc, _ = parse_document(source.text, AS_BVLC, Kind(kind))
    except InputError as exc:
        line, column = source.position(exc.offset)
        starts = tokenize(source.text)[1]
        after = bisect.bisect_right(starts, exc.offset)
        later = tuple(source.position(offset).line for offset in starts[after : after + 2])
        return Ours(None, exc.message, line, cpp_column(source.text, exc.offset, column), later_lines=later)
    assert tree is not None
    return Ours(doc.message, printed=render(doc.message))


def cpp_column(text: str, offset: int, column: int) -> int:
    """The column C++ would give `offset`: bytes, with a tab going to the next multiple of 8."""
    prefix = text[offset - column + 1 : offset]
    count = 0
    for char in prefix:
        count = count + 8 - count % 8 if char == "\t" else count + len(char.encode("utf-8", "surrogateescape"))
    return count + 1


def nan_unsigned(message: Message) -> bytes:
    """The serialization with every NaN's sign bit cleared."""
    copy = type(message)()
    copy.CopyFrom(message)
    stack = [copy]
    while stack:
        current = stack.pop()
        for field, value in current.ListFields():
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                stack.extend(value if field.is_repeated else [value])
            elif field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
                values = list(value) if field.is_repeated else [value]
                fixed = [float("nan") if v != v else v for v in values]
                if field.is_repeated:
                    del value[:]
                    value.extend(fixed)
                else:
                    setattr(current, field.name, fixed[0])
    data: bytes = copy.SerializeToString(deterministic=True)
    return data


def holds_bytes_in_a_string(message: Message) -> bool:
    """Whether a string field holds bytes that are not UTF-8 (upb hands those back as bytes)."""
    stack = [message]
    while stack:
        current = stack.pop()
        for field, value in current.ListFields():
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                stack.extend(value if field.is_repeated else [value])
            elif field.type == FieldDescriptor.TYPE_STRING and any(
                isinstance(v, bytes) for v in (value if field.is_repeated else [value])
            ):
                return True
    return False


def compare_with_cpp(oracle: CppOracle, data: bytes, kind: str, tally: Tally) -> None:
    """Count how our strict reading and C++'s compare; raise `Disagreement` on an undocumented difference."""
    ours = ours_strictly(data, kind)
    message, error, line, column = ours.message, ours.error, ours.line, ours.column
    theirs = oracle.parse(data, kind)
    if isinstance(theirs, Refused) and message is None:
        tally.outcomes["both refuse"] += 1
        tally.lines[where_refused(ours, theirs)] += 1
        return
    if isinstance(theirs, Refused):
        if data.startswith(UTF8_BOM) and (theirs.line, theirs.column) == (1, 1):
            tally.outcomes[f"documented: {DOCUMENTED['bom']}"] += 1
            return
        raise Disagreement(f"we accept, C++ refuses at {theirs.line}:{theirs.column}: {theirs.message}")
    assert isinstance(theirs, Accepted)
    expected = caffe_pb2.NetParameter() if kind == "net" else caffe_pb2.SolverParameter()
    expected.ParseFromString(theirs.wire)
    if message is None:
        if "not valid UTF-8" in error and holds_bytes_in_a_string(expected):
            tally.outcomes[f"documented: {DOCUMENTED['string not utf-8']}"] += 1
            return
        raise Disagreement(f"we refuse at {line}:{column} ({error}), C++ accepts")
    wire = message.SerializeToString(deterministic=True)
    if wire != theirs.wire:
        if nan_unsigned(message) == nan_unsigned(expected):
            tally.outcomes[f"documented: {DOCUMENTED['nan sign']}"] += 1
            return
        raise Disagreement("both accept, different messages")
    if ours.printed.encode("utf-8") != theirs.printed:
        raise Disagreement("same message, canonical text differs from C++'s")
    tally.outcomes["both accept, same bytes and text"] += 1


PLACES = {
    "same": "on C++'s line and column",
    "line": "on C++'s line, another column",
    "next": "C++ points at one of the two tokens after ours (it reports once past the bad token)",
    "syntax": "ours is a syntax error after a schema error C++ meets first (bn-upgrade reads all the syntax first)",
    "utf-8": "ours is a string that is not UTF-8, which C++ accepts (documented), and its error comes later",
    "none": "C++'s error has no place (missing required fields)",
    "other": "elsewhere",
}


def where_refused(ours: Ours, theirs: Refused) -> str:
    """Where our error is, against C++'s, for an input both refuse."""
    if theirs.line == 0 or ours.line == 0:
        return PLACES["none"]
    if theirs.line == ours.line:
        return PLACES["same" if theirs.column == ours.column else "line"]
    if theirs.line in ours.later_lines:
        return PLACES["next"]
    if ours.syntax and theirs.line < ours.line:
        return PLACES["syntax"]
    if "not valid UTF-8" in ours.error and theirs.line > ours.line:
        return PLACES["utf-8"]
    return PLACES["other"]


def differential(args: argparse.Namespace) -> int:
    try:
        oracle = CppOracle.start()
    except OracleMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    corpus = [item for item in load_corpus(args.corpus, min(args.max_bytes, 16 * 1024))]
    out = Path(args.out or tempfile.mkdtemp(prefix="bn-upgrade-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"against C++ TextFormat; seed {args.seed}; {len(corpus)} corpus files to mutate; findings go to {out}")
    rng = random.Random(args.seed)
    tally = Tally(Counter(), Counter())
    crashes: Counter[str] = Counter()
    findings: dict[str, tuple[int, Path]] = {}
    started = time.monotonic()
    tried = 0
    with oracle:
        while True:
            tried += 1
            data, kind, origin = differential_input(rng, corpus)
            settings = Settings(rng.choice(list(BnStyle)), rng.randrange(4) == 0,
                                OutputFormat.CANONICAL if rng.randrange(4) == 0 else OutputFormat.PRESERVE)  # fmt: skip
            case = Case(data, False, settings, f"{origin} (as a {kind})")
            try:
                with time_limit(args.timeout):
                    compare_with_cpp(oracle, data, kind, tally)
                    crashes[run_one(case)] += 1
            except Exception as exc:  # noqa: BLE001 - everything else is what we are looking for
                tally.outcomes[classify(exc)] += 1
                key = signature(exc) if not isinstance(exc, Disagreement) else f"C++ differs: {exc}"[:160]
                key = re.sub(r"\d+:\d+", "L:C", key)
                if key not in findings:
                    findings[key] = (0, save(case, exc, out))
                    print(f"  new finding after {tried} inputs: {key} -> {findings[key][1]}", flush=True)
                count, path = findings[key]
                findings[key] = (count + 1, path)
            elapsed = time.monotonic() - started
            if (args.count and tried >= args.count) or (args.seconds and elapsed >= args.seconds):
                break
            if tried % 10000 == 0:
                print(f"  {tried} inputs, {elapsed:.0f} s", flush=True)
    elapsed = time.monotonic() - started
    print(f"inputs tried: {tried} in {elapsed:.0f} s ({tried / max(elapsed, 1e-9):.0f}/s)")
    for name, count in sorted(tally.outcomes.items(), key=lambda item: -item[1]):
        print(f"  {count:7}  {name}")
    print("where our error is, for inputs both refuse:")
    for name, count in sorted(tally.lines.items(), key=lambda item: -item[1]):
        print(f"  {count:7}  {name}")
    print(f"full upgrade of each input: {dict(sorted(crashes.items()))}")
    differences = sum(count for key, (count, _) in findings.items() if key.startswith("C++ differs"))
    print(f"undocumented differences from C++: {differences}")
    print(f"crashes and failed proofs in the full upgrade: {sum(c for c, _ in findings.values()) - differences}")
    for key, (count, path) in sorted(findings.items()):
        print(f"  {count:6} x {key}\n           saved: {path}")
    return 1 if findings else 0


def differential_input(rng: random.Random, corpus: list[tuple[str, bytes]]) -> tuple[bytes, str, str]:
    """Mostly a generated input; one in five a mutated corpus file (read as our reader tells its kind)."""
    if not corpus or rng.random() < 0.8:
        data, kind = generate(rng)
        return data, kind, "generated"
    name, seed = rng.choice(corpus)
    _, other = rng.choice(corpus)
    data = bytearray(seed)
    kinds = [mutate(data, rng, other) for _ in range(rng.choice((1, 1, 2, 3)))]
    kind = "net"
    with contextlib.suppress(InputError, UnicodeDecodeError):
        from upgrade_tool.pipeline import detect_kind
        from upgrade_tool.schema import BVLC

        kind = detect_kind(parse_tree(Source.from_bytes(bytes(data)).text), BVLC).value
    return bytes(data), kind, f"{name} + {', '.join(kinds)}"


# -- the two drivers ---------------------------------------------------------------------------------


def fuzz(args: argparse.Namespace) -> int:
    corpus = load_corpus(args.corpus, args.max_bytes)
    models = models_of(corpus)
    out = Path(args.out or tempfile.mkdtemp(prefix="bn-upgrade-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"corpus: {len(corpus)} files, {len(models)} as binary models; seed {args.seed}; findings go to {out}")
    rng = random.Random(args.seed)
    outcomes: Counter[str] = Counter()
    findings: dict[str, tuple[int, Path]] = {}
    started = time.monotonic()
    for tried, case in enumerate(cases(corpus, models, rng), 1):
        try:
            with time_limit(args.timeout):
                outcomes[run_one(case, args.against_protobuf)] += 1
        except Exception as exc:  # noqa: BLE001 - everything else is what we are looking for
            outcomes[classify(exc)] += 1
            key = signature(exc)
            if key not in findings:
                findings[key] = (0, save(case, exc, out))
                print(f"  new finding after {tried} inputs: {key} -> {findings[key][1]}", flush=True)
            count, path = findings[key]
            findings[key] = (count + 1, path)
        elapsed = time.monotonic() - started
        if (args.count and tried >= args.count) or (args.seconds and elapsed >= args.seconds):
            break
        if tried % 2000 == 0:
            print(f"  {tried} inputs, {elapsed:.0f} s: {dict(outcomes)}", flush=True)
    elapsed = time.monotonic() - started
    bad = sum(count for kind, count in outcomes.items() if kind not in ("ok", "upgraded", "input error"))
    print(f"inputs tried: {tried} in {elapsed:.0f} s ({tried / max(elapsed, 1e-9):.0f}/s)")
    print(f"outcomes: {dict(sorted(outcomes.items()))}")
    print(f"crashes and findings: {bad} ({len(findings)} distinct)")
    for key, (count, path) in sorted(findings.items()):
        print(f"  {count:6} x {key}\n           saved: {path}")
    return 1 if bad else 0


def fuzz_with_atheris(args: argparse.Namespace) -> int:
    try:
        import atheris  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        print("atheris is not installed (pip install atheris); run without --atheris", file=sys.stderr)
        return 2
    corpus = load_corpus(args.corpus, args.max_bytes)
    out = Path(args.out or tempfile.mkdtemp(prefix="bn-upgrade-fuzz-"))
    seeds = out / "corpus"  # libFuzzer grows it: kept beside the findings, to go on from later
    seeds.mkdir(parents=True, exist_ok=True)
    for index, (_, data) in enumerate(corpus):
        (seeds / f"seed-{index:04d}").write_bytes(data)
    settings = Settings()

    def one_input(data: bytes) -> None:
        try:
            upgrade_source(Source.from_bytes(data), settings)
        except InputError as exc:
            check_message(exc)

    atheris.Setup(
        [sys.argv[0], str(seeds), f"-max_total_time={args.seconds or 60}", f"-artifact_prefix={out}/",
         f"-timeout={int(args.timeout)}", f"-seed={args.seed + 1}", "-print_final_stats=1"],
        one_input,
    )  # fmt: skip
    atheris.instrument_all()  # coverage of everything already imported, bn-upgrade included
    atheris.Fuzz()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long")
    parser.add_argument("--count", type=int, default=0, help="stop after this many inputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--max-bytes", type=int, default=64 * 1024, help="skip corpus files larger than this")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds one input may take")
    parser.add_argument("--out", help="where crashing inputs are saved (default: a new temp dir)")
    parser.add_argument(
        "--against-protobuf", action="store_true", help="also compare our reading with protobuf's text_format.Parse"
    )
    parser.add_argument(
        "--against-cpp", action="store_true", help="generated inputs, compared with C++ TextFormat (bench/oracle)"
    )
    parser.add_argument("--atheris", action="store_true", help="coverage-guided, with atheris (text route only)")
    args = parser.parse_args()
    if not args.seconds and not args.count:
        args.seconds = 60
    if not args.corpus.is_dir():
        parser.error(f"no corpus at {args.corpus} (give --corpus DIR)")
    if args.against_cpp:
        return differential(args)
    return fuzz_with_atheris(args) if args.atheris else fuzz(args)


if __name__ == "__main__":
    sys.exit(main())
