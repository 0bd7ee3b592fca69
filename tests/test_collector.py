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

from upgrade_tool import runner
from upgrade_tool.cli import main

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
