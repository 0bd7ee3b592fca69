"""Worker processes (`-j N`): every item done once, a dead worker's file reported, never a hang."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from upgrade_tool import workers

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the workers are forked here")

LEGACY = 'name: "n"\nlayer {\n  name: "bn"\n  type: "BatchNorm"\n  bottom: "x"\n  top: "x"\n  param { lr_mult: 0 }\n}\n'
UPGRADED = 'name: "n"\nlayer {\n  name: "bn"\n  type: "BatchNorm"\n  bottom: "x"\n  top: "x"\n}\n'


def no_setup() -> None:
    pass


def square(item: int) -> int:
    return item * item


def die_on_sevens(item: int) -> int:
    if item % 7 == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return item * item


def die_always(item: int) -> int:
    os._exit(3)


def run(items: list[int], count: int, handle: Any) -> tuple[dict[int, Any], list[tuple[int, str]]]:
    done: dict[int, Any] = {}
    lost: list[tuple[int, str]] = []

    def take(index: int, result: Any) -> None:
        assert index not in done, f"item {index} done twice"
        done[index] = result

    def record(index: int, how: str) -> str:
        lost.append((index, how))
        return "lost"

    work = [[(i, items[i]) for i in chunk] for chunk in workers.chunks(range(len(items)), count)]
    workers.run(work, count, no_setup, (), handle, take, record)
    return done, lost


@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_every_item_is_done_once(count: int) -> None:
    items = list(range(100))
    done, lost = run(items, count, square)
    assert done == {i: i * i for i in items} and lost == []


@pytest.mark.parametrize(("total", "count"), [(1, 1), (5, 2), (16, 2), (873, 2), (1000, 3)])
def test_chunks_cover_every_index_in_order_and_shrink_to_one(total: int, count: int) -> None:
    chunks = workers.chunks(range(total), count)
    assert [i for chunk in chunks for i in chunk] == list(range(total))
    assert max(map(len, chunks)) <= 16 and len(chunks[-1]) == 1
    assert [len(chunk) for chunk in chunks] == sorted((len(chunk) for chunk in chunks), reverse=True)


def test_a_dead_worker_loses_the_item_in_hand_and_the_rest_are_done() -> None:
    items = list(range(60))
    done, lost = run(items, 2, die_on_sevens)
    dying = [i for i in items if i % 7 == 0]
    assert sorted(index for index, _ in lost) == dying
    assert {how for _, how in lost} == {"killed by signal 9, SIGKILL"}
    assert done == {i: "lost" if i in dying else i * i for i in items}


def test_workers_that_always_die_still_end_the_run() -> None:
    done, lost = run(list(range(10)), 2, die_always)
    assert done == dict.fromkeys(range(10), "lost")
    assert {how for _, how in lost} == {"exit status 3"}


def test_an_error_in_the_parent_stops_the_workers_and_propagates() -> None:
    seen = []

    def take(index: int, result: Any) -> None:
        seen.append(index)
        if len(seen) == 3:
            raise KeyboardInterrupt

    work = [[(i, i)] for i in range(500)]
    with pytest.raises(KeyboardInterrupt):
        workers.run(work, 2, no_setup, (), square, take, lambda index, how: None)
    assert len(seen) == 3
    assert multiprocessing.active_children() == []


# -- through the command --------------------------------------------------------------------------

KILL_IN = """
import os, signal, sys
from upgrade_tool import runner
process = runner.process
def dying(target, job):
    if target.path.endswith(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    return process(target, job)
runner.process = dying
from upgrade_tool.cli import main
main(sys.argv[2:], prog_name="bn-upgrade")
"""

SPAWNED = """
import sys
from upgrade_tool import workers
workers.forking = lambda: False
from upgrade_tool.cli import main
main(sys.argv[1:], prog_name="bn-upgrade")
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def tree_of(root: Path, count: int) -> list[Path]:
    return [write(root / "tree" / f"net{i:02d}.prototxt", LEGACY) for i in range(count)]


def test_a_worker_killed_mid_file_is_reported_and_the_batch_goes_on(tmp_path: Path) -> None:
    nets = tree_of(tmp_path, 12)
    completed = subprocess.run(
        [sys.executable, "-c", KILL_IN, "net05.prototxt", "-j", "2", "tree"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in completed.stderr
    assert completed.returncode == 123, completed.stderr
    said = [line for line in completed.stderr.splitlines() if "BUG001" in line]
    assert said == [
        "tree/net05.prototxt: BUG001 internal error: the worker process upgrading this file died (killed by "
        "signal 9, SIGKILL); the file is whole, as it was or, if its write had ended, upgraded. If the machine "
        "ran out of memory, try the file alone with -j 1"
    ]
    assert [net.read_text() == UPGRADED for net in nets] == [net.name != "net05.prototxt" for net in nets]
    assert sorted(path.name for path in (tmp_path / "tree").iterdir()) == [net.name for net in nets]


def test_spawned_workers_give_the_forked_workers_results(tmp_path: Path) -> None:
    tree_of(tmp_path, 9)
    write(tmp_path / "tree" / "bad.prototxt", "layer { name: $x }\n")
    reports = []
    for how in (["-c", SPAWNED], ["-m", "upgrade_tool"]):
        completed = subprocess.run(
            [sys.executable, *how, "--check", "-j", "2", "--report", "r.json", "tree"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 2 and "Traceback" not in completed.stderr, completed.stderr
        report = json.loads((tmp_path / "r.json").read_text())
        reports.append({key: value for key, value in report.items() if key != "seconds"})
    assert reports[0] == reports[1]
    assert reports[0]["summary"]["would_upgrade"] == 9
