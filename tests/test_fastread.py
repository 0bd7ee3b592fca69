"""The reader's C fast path (`_fastread.c`) reads exactly as the Python reader and binder do.

Where the extension is built, a well-formed text is read by it: the same tree
(node by node), the same message (byte for byte) and the same nodes left aside
as the Python code gives; and for every text it cannot read plainly it gives up,
so the Python code reads it and every error stays the same. Compared here on
hand-written edge cases, generated nets, and both corpora with every dialect's
schema; bench/fastread_diff.py does it for many more texts. Its speed is
measured by bench/, never here. That it is built where it can be:
tests/test_extension.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CORPUS, SHARED
from hypothesis import given
from test_lazy import nodes
from test_properties import PROPERTY, net_texts

from upgrade_tool import binder, reader
from upgrade_tool.dialects import all_dialects
from upgrade_tool.document import Kind
from upgrade_tool.errors import InputError
from upgrade_tool.reader import Field
from upgrade_tool.reading import detect_kind
from upgrade_tool.schema import BVLC, Schema
from upgrade_tool.source import Source

pytestmark = pytest.mark.skipif(reader.FASTREAD is None, reason="the C fast path is not built (or turned off)")
CORPUS2 = SHARED / "corpus2"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def python_tree(text: str) -> object:
    """The Python reader's tree (or error), the fast path off."""
    fast, reader._FAST = reader._FAST, None
    try:
        return list(nodes(reader.parse_tree(text, lazy=False)))
    except InputError as exc:
        return exc.code, exc.message, exc.offset
    finally:
        reader._FAST = fast


def assert_reads_alike(text: str) -> bool:
    """The fast path's tree is the Python reader's; whether it took the text (not gave it up)."""
    assert reader._FAST is not None
    fast = reader._FAST(text)
    expected = python_tree(text)
    if fast is None:  # given up: right only where the Python reader refuses it, or for a byte that is not UTF-8
        assert isinstance(expected, tuple) or reader._NOT_UTF8.search(text), text
        return isinstance(expected, tuple)
    assert list(nodes(fast)) == expected
    return True


EDGE_TEXTS = [
    "",
    "  # only a comment",
    'name: "n"\nlayer { name: "a" param { lr_mult: 0 } bottom: ["x", "y"] }\nlayer: []\n',
    "layer [{ name: 'b' }, { name: 'c' include < phase: TEST > }];\ninput_shape { dim: 1 dim: 3 },",
    "a: -5 b: - 7 c:-inf d: 1.5f e: .5 f: 5. g: 1e5 h: 1E-5F i: 0x1F j: 017 k: 0 l: 0.0 m: -0",
    "a: 'x' \"y\" # joined\n 'z' b: \"\\n\\t\\x41\\101\" c: 'it''s'",
    "a:[] b: [1, -2, 3] c: [x, y] d: ['p' 'q', \"r\"];",
    "a {\r\n  b: 1;\r\n}\r\n c < d: 2 >",
    "layer{name:'a'type:'b'}layer{}",
    'name: "caf\xe9" # \u00e9t\u00e9\n',
    'name: "\u4e2d\u6587" layer { name: "\U0001f600" }',
    "a: b: c",  # errors from here on
    "a { b: 1",
    "a { b: 1 } }",
    "a 5",
    "a: 1_000",
    "a: 019",
    "a: 1.2.3",
    "a: 5x",
    "a: 'unterminated\n'",
    'a: "bad\x00"',
    "a: . b: 1",
    "a: [1, 2",
    "a [{ b: 1 } { c: 2 }]",
    "a: [{ b: 1 }, 3]",
    "a: 1 @",
    "a: 1 # caf\udce9\n",
    'a: "caf\udce9"',
    "layer { name: 'a' } \x00",
]


@pytest.mark.parametrize("text", EDGE_TEXTS)
def test_edge_texts_read_alike(text: str) -> None:
    assert_reads_alike(text)


@PROPERTY
@given(net_texts())
def test_generated_nets_read_alike(text: str) -> None:
    assert_reads_alike(text)
    for schema in (BVLC, *SCHEMAS[:3]):
        for strict in (False, True):
            assert bound(text, schema, strict, fast=True) == bound(text, schema, strict, fast=False)


def corpus_texts(*roots: Path) -> Iterator[tuple[Path, str]]:
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in (".prototxt", ".pt"):
                yield path, Source.from_bytes(path.read_bytes()).text


needs_corpora = pytest.mark.skipif(
    not (CORPUS.is_dir() and CORPUS2.is_dir()), reason=f"the shared corpora are not at {SHARED}"
)


@needs_corpora
def test_every_corpus_file_reads_to_the_same_tree() -> None:
    given_up = [path.name for path, text in corpus_texts(CORPUS, CORPUS2) if not assert_reads_alike(text)]
    assert len(given_up) <= 1, given_up  # one solver has a byte that is not UTF-8 in a comment


# -- the binder ---------------------------------------------------------------------------------------

SCHEMAS: list[Schema] = [dialect.schema() for dialect in all_dialects()]


def bound(text: str, schema: Schema, strict: bool, *, fast: bool, tree: list[Field] | None = None) -> object:
    """What binding the text's tree gives with the fast path on or off: the message's bytes and the unknown nodes.

    Bound as a net and as a solver; with `tree` (the text's, read once by the caller), only as the kind it is.
    """
    roots = (schema.net, schema.solver)
    if tree is None:
        try:
            tree = reader.parse_tree(text)
        except InputError as exc:
            return exc.message
    else:
        roots = (schema.net,) if detect_kind(tree, BVLC) is Kind.NET else (schema.solver,)
    outcomes = []
    for root in roots:
        saved = binder.FASTREAD
        binder.FASTREAD = saved if fast else None
        message = root()
        try:
            found = binder.bind(tree, message, text, strict=strict)
            unknown = [(item.owner, item.node.key) for item in found.unknown]
            outcomes.append((message.SerializeToString(deterministic=True), unknown))
        except InputError as exc:
            outcomes.append((exc.code, exc.message, exc.offset))  # type: ignore[arg-type]
        finally:
            binder.FASTREAD = saved
    return outcomes


VALUE_TEXTS = [
    f"layer {{ convolution_param {{ num_output: {value} }} }}"
    for value in ("0", "1", "017", "0x1f", "4294967295", "4294967296", "-1", "- 1", "1.0", "1e3", "true", "'5'")
] + [
    f"layer {{ loss_weight: {value} }}"
    for value in ("0", "-0", "1.5f", ".5", "5.", "1e39", "-1e39", "3.4028235677973366e38", "inf", "-Infinity", "NAN",
                  "-nan", "017", "0x10", "00", "1_0", "x", '"1"')
] + [
    f"force_backward: {value}"
    for value in ("true", "True", "t", "false", "False", "f", "1", "0", "0x1", "2", "-1", "yes")
] + [
    f"state {{ phase: {value} }}" for value in ("TRAIN", "TEST", "1", "-1", "7", "train", '"TEST"')
] + [
    f"layer {{ name: {value} }}" for value in ("'a'", "'a' 'b'", r"'\x41'", r"'\u00e9'", '"caf\xe9"', "a", "1")
] + [
    "debug_info: true debug_info: false",  # a singular field twice
    "state { phase: TRAIN } state { level: 1 }",
    "layer [{ name: 'a' }, { name: 'b' }] layer: []",
    "layer { name: 'a' frobnicate: 1 blobs { frob { x: 1 } } } wat { }",  # unknown names, at depth
    "state: [{ phase: TRAIN }]",
    "state: 1",
    "layer { convolution_param: 1 }",
    "layer { bottom: 'a' bottom: ['b', 'c'] top: [] }",
    "input_dim: [1, 3, 224, 224] input: 'data'",
    "layer { blobs { data: [1, 2.5, -inf] shape { dim: [1, 2] } } }",
    "layer { include { phase: TEST stage: 's' } exclude { not_stage: 'x' } }",
    "net: 'n' test_iter: 100 base_lr: 0.01 solver_type: ADAM type: 'Adam' stepvalue: [1, 2]",
    "layer { name 'a' }",
    "layer { ",
    "layers { type: CONVOLUTION } layers { type: BN } layers { type: 4 } layers { type: 99 }",  # V1 enums
    "layers { type: BN type: RELU } layers { type: RELU type: BN } layers { type: BN type: BN }",
    "layer { pooling_param { pool: MIN engine: MKL2017 } } state { phase: 2147483648 }",
]  # fmt: skip


@pytest.mark.parametrize("text", VALUE_TEXTS)
def test_values_bind_alike(text: str) -> None:
    for schema in (BVLC, *SCHEMAS):
        for strict in (False, True):
            assert bound(text, schema, strict, fast=True) == bound(text, schema, strict, fast=False), schema


def test_plain_trees_are_bound_by_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """It does the work, not only give up: a plain net binds without the Python binder's field loop."""

    def refuse(*args: object) -> object:
        raise AssertionError("the Python binder was used")

    text = "name: 'n' layer { name: 'a' type: 'Convolution' top: 'x' convolution_param { num_output: 8 } }"
    monkeypatch.setattr(binder, "_bind_field", refuse)
    message = BVLC.net()
    binder.bind(reader.parse_tree(text), message, text)
    assert message.layer[0].convolution_param.num_output == 8


@needs_corpora
def test_corpus_files_bind_alike_with_bvlc_and_a_dialect() -> None:
    """Every third file of both corpora in the default run (all of them, every dialect: the slow test below)."""
    nvcaffe = next(schema for dialect, schema in zip(all_dialects(), SCHEMAS, strict=True) if dialect.name == "nvcaffe")
    for path, text in list(corpus_texts(CORPUS, CORPUS2))[::3]:
        for schema in (BVLC, nvcaffe):
            for strict in (False, True):
                assert bound(text, schema, strict, fast=True) == bound(text, schema, strict, fast=False), path


@needs_corpora
@pytest.mark.slow
def test_every_corpus_file_binds_alike_with_every_dialect() -> None:
    """Leniently, as the kind of file it is (the test above binds a sample both ways, as both kinds)."""
    for path, text in corpus_texts(CORPUS, CORPUS2):
        try:
            tree = reader.parse_tree(text)
        except InputError:
            continue  # the trees' errors: test_every_corpus_file_reads_to_the_same_tree
        for schema in SCHEMAS:
            fast, slow = (bound(text, schema, False, fast=on, tree=tree) for on in (True, False))
            assert fast == slow, path


def test_the_pure_python_path_gives_the_same_output(tmp_path: Path) -> None:
    example = EXAMPLES / "resnet_block_legacy.prototxt"
    outputs = []
    for pure in ("", "1"):
        report = tmp_path / f"report{pure}.json"
        command = [sys.executable, "-m", "upgrade_tool", "--no-cache", "-o", "-", "--report", str(report), str(example)]
        run = subprocess.run(command, capture_output=True, env={**os.environ, "BN_UPGRADE_PURE_PYTHON": pure})
        assert run.returncode == 0, run.stderr
        lines = report.read_text().splitlines()
        outputs.append((run.stdout, [line for line in lines if '"seconds"' not in line]))
    assert outputs[0] == outputs[1]
    assert b"layer" in outputs[0][0]
    check = [sys.executable, "-c", "from upgrade_tool import reader; print(reader.FASTREAD is None)"]
    pure = subprocess.run(check, capture_output=True, text=True, env={**os.environ, "BN_UPGRADE_PURE_PYTHON": "1"})
    assert pure.stdout.strip() == "True"


# -- dialect detection's walk -------------------------------------------------------------------------


def walked(text: str, *, fast: bool) -> object:
    """`leaves_aside` and `tree_keys` of a text's tree for BVLC's net and solver, or their errors."""
    from upgrade_tool.dialects import keys

    try:
        tree = reader.parse_tree(text)
    except InputError as exc:
        return exc.message
    saved = keys.FASTREAD
    keys.FASTREAD = saved if fast else None
    outcomes: list[object] = []
    try:
        for root in (BVLC.net.DESCRIPTOR, BVLC.solver.DESCRIPTOR):
            for walk in (keys.leaves_aside, keys.tree_keys):
                try:
                    outcomes.append(walk(root, tree, text))  # type: ignore[operator]
                except InputError as exc:
                    outcomes.append((exc.code, exc.message, exc.offset))
    finally:
        keys.FASTREAD = saved
    return outcomes


@pytest.mark.parametrize("text", VALUE_TEXTS + EDGE_TEXTS)
def test_detection_walks_alike(text: str) -> None:
    assert walked(text, fast=True) == walked(text, fast=False)


@PROPERTY
@given(net_texts())
def test_generated_nets_are_walked_alike(text: str) -> None:
    assert walked(text, fast=True) == walked(text, fast=False)


@needs_corpora
def test_every_corpus_file_is_walked_alike() -> None:
    for path, text in corpus_texts(CORPUS, CORPUS2):
        assert walked(text, fast=True) == walked(text, fast=False), path
