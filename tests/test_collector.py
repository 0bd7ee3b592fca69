"""The garbage collector during a batch: automatic passes off, a collection once files leave enough behind.

`runner.collecting_between_files` is what a run is wrapped in; these tests show
the collector is left as it was found, and that what files leave in reference
cycles is still collected, by the count `collect_if_due` watches.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SHARED

from upgrade_tool import runner
from upgrade_tool.cli import main
from upgrade_tool.dialects.registry import get_dialect
from upgrade_tool.reader import collector_paused
from upgrade_tool.runner import Job, WriteBack
from upgrade_tool.settings import Settings
from upgrade_tool.walk import Selection, Target, collect

NET = (
    'name: "net"\nlayer {\n  name: "bn"\n  type: "BatchNorm"\n  bottom: "x"\n  top: "x"\n'
    + ("  param { lr_mult: 0 }\n" * 3)
    + "}\n"
)


class _Cyclic:
    """An object in a reference cycle with itself: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


def _cycles(count: int) -> weakref.ref[_Cyclic]:
    """`count` unreachable cycles; a weak reference to the first."""
    first = _Cyclic()
    probe = weakref.ref(first)
    for _ in range(count):
        _Cyclic()
    del first
    return probe


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_leaves_the_collector_as_it_found_it(tmp_path: Path, enabled: bool) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.prototxt").write_text(NET)
    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        result = CliRunner().invoke(main, ["--no-cache", "-j", "1", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert gc.isenabled() is enabled
        assert gc.get_freeze_count() == 0
    finally:
        if was:
            gc.enable()
    assert "param" not in (tmp_path / "a.prototxt").read_text()


def test_cycles_left_behind_are_collected_once_over_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "_LEFT_BEFORE_COLLECTING", 5_000)
    with runner.collecting_between_files():
        assert not gc.isenabled()
        gc.collect()  # the count starts from nought
        few = _cycles(100)
        runner.collect_if_due()
        assert few() is not None  # under the limit: left for later
        many = _cycles(10_000)
        runner.collect_if_due()
        assert few() is None and many() is None
    assert gc.get_freeze_count() == 0


# Every way a file can fail, each as its name and its bytes. A failure's
# exception must not end up in a cycle: the collector runs rarely during a
# batch, and a cycle through a frame keeps the failed file's text and tree alive.
FAILING = {
    "E001 a character no token starts with": b'name: "n"\nlayer { name: "a" $ }\n',
    "E001 a brace left open": b'name: "n"\nlayer {\n  name: "a"\n',
    "E001 a field name without a value": b'name: "n"\nlayer { name: }\n',
    "E003 a string where a number goes": b'name: "n"\nlayer { name: "a" type: "ReLU" top: "x" loss_weight: "one" }\n',
    "E003 a scalar given twice": b'name: "n"\nname: "m"\n',
    "E004 bytes that are not UTF-8": b'name: "n\xff"\n',
    "E005 an unknown V0 layer type": b'name: "n"\nlayers { layer { name: "a" type: "no_such_type" } }\n',
    "E006 a model that is not a model": b"\x0a\xff\xff\xff\xff\x0f",
}


@pytest.mark.parametrize("case", FAILING)
def test_a_failed_file_leaves_nothing_in_a_cycle(tmp_path: Path, case: str) -> None:
    code = case.split()[0]
    path = tmp_path / ("net.caffemodel" if code == "E006" else "net.prototxt")
    path.write_bytes(FAILING[case])
    target = Target(str(path), path.name, explicit=True)
    job = Job(Settings(), WriteBack.CHECK)
    runner.process(target, job)  # imports and caches first, outside the count
    with collector_paused():
        gc.collect()
        report = runner.process(target, job)
        assert report.problem is not None and report.problem.code == code, report
        assert gc.collect() == 0


def test_a_forks_message_classes_live_as_long_as_its_schema() -> None:
    """protobuf drops a message class made at run time, in a cycle, with its last message; the schema holds them."""
    schema = get_dialect("segnet").schema()
    assert len(schema.classes) > 50
    with collector_paused():
        gc.collect()
        net = schema.net()
        net.layer.add().upsample_param.scale = 2
        del net
        assert gc.collect() == 0


CORPORA = [SHARED / "corpus", SHARED / "corpus2"]


@pytest.mark.slow
@pytest.mark.parametrize("corpus", CORPORA, ids=lambda path: path.name)
def test_no_file_of_the_corpora_leaves_a_cycle(corpus: Path) -> None:
    if not (corpus / "MANIFEST.tsv").is_file():
        pytest.skip(f"the corpus is not at {corpus} (../shared)")
    job = Job(Settings(), WriteBack.CHECK)
    targets = collect([str(corpus)], Selection())
    runner.process(targets[0], job)  # imports and caches first, outside the count
    cyclic = []
    with collector_paused():
        gc.collect()
        gc.freeze()  # each collection looks at what the last file left, not at everything
        try:
            for target in targets:
                runner.process(target, job)
                if gc.collect():
                    cyclic.append(target.path)
        finally:
            gc.unfreeze()
    assert cyclic == []
