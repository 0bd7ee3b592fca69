"""A big text is read lazily (`reader.Span`): the same tree, the same results, less memory.

A text of `LAZY_FROM` characters or more keeps a node per top-level field and reads
a message's children from its span when asked for. Everything else must be as for
a text read at once: the trees (compared node by node), every upgrade's result and
every error, on generated nets and on both corpora. The memory it saves is
measured by bench/scaling.py, never here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CORPUS, SHARED
from hypothesis import given
from test_properties import PROPERTY, net_texts

from upgrade_tool import reader
from upgrade_tool.errors import InputError, SelfCheckError
from upgrade_tool.pipeline import Result, upgrade_source
from upgrade_tool.reader import Field, Span, parse_tree
from upgrade_tool.settings import Settings
from upgrade_tool.source import LAZY_FROM, Source

CORPUS2 = SHARED / "corpus2"
LEGACY_BN = 'layer { name: "bn" type: "BatchNorm" bottom: "x" top: "x" %s}\n' % ("param { lr_mult: 0 } " * 3)

Node = tuple[object, ...]


def nodes(tree: list[Field]) -> Iterator[Node]:
    """Every node, depth first, as the tuple of what it holds."""
    pending = [iter(tree)]
    while pending:
        node = next(pending[-1], None)
        if node is None:
            pending.pop()
            continue
        children = node.children
        yield (node.name, node.start, node.end, node.stop, node.values, node.open, node.close, node.in_list,
               node.colon, children is None, node.key)  # fmt: skip
        if children is not None:
            pending.append(iter(children))


def read_both(text: str) -> tuple[object, object]:
    """The tree (or the error) read at once, and read lazily."""
    outcomes = []
    for lazy in (False, True):
        try:
            outcomes.append(list(nodes(parse_tree(text, lazy=lazy))))
        except InputError as exc:
            outcomes.append((exc.code, exc.message, exc.offset))
    return outcomes[0], outcomes[1]


def outcome(text: str, lazy: bool, monkeypatch: pytest.MonkeyPatch, **options: object) -> object:
    """What upgrading `text` gives, every text read lazily or none."""
    monkeypatch.setattr(reader, "LAZY_FROM", 0 if lazy else 1 << 62)
    try:
        result: Result = upgrade_source(Source(text), Settings(**options))  # type: ignore[arg-type]
    except (InputError, SelfCheckError) as exc:
        return type(exc).__name__, str(exc), getattr(exc, "offset", None)
    return result


def test_a_lazy_tree_is_the_tree() -> None:
    text = 'name: "n"\nlayer { name: "a" param { lr_mult: 0 } bottom: ["x", "y"] }\nlayer: []\n' + LEGACY_BN
    text += "layer [{ name: 'b' }, { name: 'c' include < phase: TEST > }];\ninput_shape { dim: 1 dim: 3 }\n"
    eager, lazy = read_both(text)
    assert lazy == eager
    tree = parse_tree(text, lazy=True)
    assert all(isinstance(node, Span) for node in tree if node.values is None)
    assert not any(isinstance(node, Span) for node in parse_tree(text, lazy=False))


def test_a_lazy_node_reads_its_children_again_as_the_same_nodes() -> None:
    layer = parse_tree(LEGACY_BN, lazy=True)[0]
    first = layer.children
    assert [child.name for child in first] == ["name", "type", "bottom", "top", "param", "param", "param"]
    assert layer.children is first  # kept while it is among the last levels read
    for _ in range(200):  # read many other levels: this one is read again, as new nodes with the same keys
        for child in parse_tree(LEGACY_BN * 3, lazy=True):
            assert child.children
    again = parse_tree(LEGACY_BN, lazy=True)[0].children
    assert [child.key for child in again] == [child.key for child in first]
    with pytest.raises(AttributeError):
        layer.children = []  # type: ignore[misc]


@pytest.mark.parametrize(
    "text",
    [
        'layer { name: "a" }\nlayer { name: "b" top: }\n',  # a syntax error after a good message
        'layer { name: "a" \n',  # a message left open
        'layer { name: "a" } }',
        "layer [{ name: 'a' } { name: 'b' }]",
        'layer { name: "\\xff\\q" }',
        'layer { name: "a" }\nlayer { convolution_param { num_output: 1_0 } }',
        'layer { name: "a\xe9" } # caf\udce9\n',
    ],
)
def test_the_same_errors_are_found(text: str) -> None:
    eager, lazy = read_both(text)
    assert lazy == eager


@PROPERTY
@given(net_texts())
def test_generated_nets_read_and_upgrade_the_same_lazily(text: str) -> None:
    eager, lazy = read_both(text)
    assert lazy == eager
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert outcome(text, True, monkeypatch) == outcome(text, False, monkeypatch)


def corpus_files(*roots: Path) -> list[Path]:
    return [
        path
        for root in roots
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix not in (".caffemodel", ".tsv", ".binaryproto") and "MANIFEST" not in path.name
    ]


def _text(path: Path) -> str:
    return Source.from_bytes(path.read_bytes()).text


needs_corpora = pytest.mark.skipif(
    not (CORPUS.is_dir() and CORPUS2.is_dir()), reason=f"the shared corpora are not at {SHARED}"
)


@needs_corpora
def test_every_corpus_file_reads_to_the_same_tree_lazily() -> None:
    differ = [path for path in corpus_files(CORPUS, CORPUS2) if len(set(map(repr, read_both(_text(path))))) != 1]
    assert differ == []


@needs_corpora
@pytest.mark.parametrize(
    "options",
    [{"target": "bvlc"}, {"output_format": "canonical"}],  # default and strict: the sample below
    ids=["target bvlc", "canonical"],
)
@pytest.mark.slow
def test_every_corpus_file_upgrades_the_same_lazily(
    options: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    differ = []
    for path in corpus_files(CORPUS, CORPUS2):
        try:
            text = _text(path)
        except InputError:
            continue  # not a text (the reader's tests cover it)
        if outcome(text, True, monkeypatch, **options) != outcome(text, False, monkeypatch, **options):
            differ.append(path)
    assert differ == []


@needs_corpora
def test_some_corpus_files_upgrade_the_same_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sample of both corpora in the default run (all of them: the slow test above)."""
    files = corpus_files(CORPUS, CORPUS2)[::25]
    for path in files:
        text = _text(path)
        for options in ({}, {"strict": True}, {"target": "bvlc"}):
            assert outcome(text, True, monkeypatch, **options) == outcome(text, False, monkeypatch, **options), path


def test_a_net_as_big_as_that_is_read_lazily_and_upgraded(tmp_path: Path) -> None:
    """End to end: a net just over `LAZY_FROM` characters, upgraded in place and then checked."""
    unit = 'layer { name: "c" type: "Convolution" convolution_param { num_output: 8 kernel_size: 3 } }\n'
    text = 'name: "big"\n' + LEGACY_BN + unit * (LAZY_FROM // len(unit) + 1) + LEGACY_BN
    assert len(text) >= LAZY_FROM
    path = tmp_path / "big.prototxt"
    path.write_text(text)
    run = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", "--no-cache", str(path)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert path.read_text() == text.replace(" param { lr_mult: 0 }" * 3, "")
    check = subprocess.run(
        [sys.executable, "-m", "upgrade_tool", "--no-cache", "--check", str(path)], capture_output=True
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("where", ["_build", "_FAST"], ids=["python reader", "C fast path"])
def test_running_out_of_memory_while_reading_is_one_line(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_memory(*args: object) -> list[Field]:
        raise MemoryError

    if where == "_FAST" and reader._FAST is None:
        pytest.skip("the C fast path is not built (or turned off)")
    monkeypatch.setattr(reader, "_FAST", None)  # the Python reader reads it, or (below) the fast path does
    monkeypatch.setattr(reader, where, no_memory)
    with pytest.raises(InputError) as caught:
        parse_tree('layer { name: "a" }')
    assert (caught.value.code, caught.value.offset) == ("E008", 0)
    assert caught.value.message.startswith("not enough memory to read this input")


def test_a_node_left_out_of_the_message_is_found_by_its_key_when_its_level_is_read_again() -> None:
    """Nodes are told apart by key: a level read again gives new nodes (`Locator`'s skip, the passes' sets)."""
    from upgrade_tool.binder import Locator

    layers = "".join(f'layer {{ name: "l{i}" top: "a" top: "b" top: "c" }}\n' for i in range(3 * reader._LEVELS_KEPT))
    tree = parse_tree(layers, lazy=True)
    left_out = tree[0].children[2]  # the second `top` of the first layer, as a lenient bind would keep it aside
    for layer in tree[1:]:
        assert layer.children  # every other level is read: the first one's nodes are let go
    assert tree[0].children[2] is not left_out and tree[0].children[2].key == left_out.key
    locator = Locator(tree, frozenset({left_out.key}))
    second = locator.find((("layer", 0), ("top", 1)))
    assert second is not None and layers[second.values[0].start : second.values[0].end] == '"c"'
