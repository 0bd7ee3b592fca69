"""Worker processes for `-j N`: started once per run, each fed chunks of work over its own pipes.

Not `multiprocessing.Pool`, for two reasons measured on it. Its worker-handler
thread waits on the result pipe too, so every result wakes it and it spins
until the result thread has read it: 0.04 s of the parent's CPU over both
corpora, taken from the workers on a two-core machine. And a worker that dies
(the kernel's out-of-memory killer, a crash in protobuf's C code) takes its task
with it: the batch then waits for ever, Ctrl-C included.

Here the parent alone talks to the workers, from its main thread: it waits on
their result pipes, keeps each worker `AHEAD` chunks ahead, and takes each
item's result as it comes. A worker that dies is noticed at once (its pipe
closes): the item it had in hand is given to `lost`, the rest of its chunks go
to a new worker. Each death uses up one item, so a run always ends.
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from upgrade_tool.files import hold_signals, release_signals

Chunk = list[tuple[int, Any]]  # (index, item)
AHEAD = 2  # chunks a worker holds, so that the next is there when it finishes one
_IDLE_CHECK = 1.0  # seconds a waiting worker sleeps between checks that the parent is alive


def forking() -> bool:
    """Whether workers are forked (and share what the parent has loaded), not started afresh."""
    return sys.platform.startswith("linux")


def context() -> Any:
    return multiprocessing.get_context("fork" if forking() else "spawn")


def chunks(indices: Sequence[int], workers: int, largest: int = 16) -> list[list[int]]:
    """Chunks that shrink towards the end, so that the workers finish together.

    Each is an eighth of what is left per worker, between 1 and `largest` items:
    few messages while much is left, single items at the end.
    """
    result = []
    start = 0
    while start < len(indices):
        size = max(1, min(largest, (len(indices) - start) // (workers * 8)))
        result.append(list(indices[start : start + size]))
        start += size
    return result


class _Worker:
    __slots__ = ("process", "tasks", "results", "held")

    def __init__(self, process: Any, tasks: Connection, results: Connection) -> None:
        self.process = process
        self.tasks = tasks  # the parent's end: chunks go out
        self.results = results  # the parent's end: (index, result) come in
        self.held: deque[deque[tuple[int, Any]]] = deque()  # the chunks sent, each with what is not yet done


def run(
    work: Sequence[Chunk],
    count: int,
    setup: Callable[..., None],
    setup_args: tuple[Any, ...],
    handle: Callable[[Any], Any],
    done: Callable[[int, Any], None],
    lost: Callable[[int, str], Any],
) -> None:
    """Run `handle(item)` for every item of `work` in `count` workers; `done(index, result)` as each ends.

    Each worker runs `setup(*setup_args)` first. Where a worker dies, `done`
    gets `lost(index, how)` for the item it had in hand. Should anything here
    raise (an interrupt, say), each worker ends the item in hand, skips the rest
    and is waited for before the error propagates; results that arrive
    meanwhile are dropped.
    """
    ctx = context()
    stop = ctx.RawValue(ctypes.c_bool, False)
    start = functools.partial(_start, ctx, stop, setup, setup_args, handle)
    pending: deque[Chunk] = deque(work)
    crew: list[_Worker] = []
    try:
        for _ in range(min(count, len(pending))):
            crew.append(start(crew))
            _feed(crew[-1], pending)
        while any(worker.held for worker in crew):
            ready = wait([worker.results for worker in crew if worker.held])
            for worker in [worker for worker in crew if worker.results in ready]:
                try:
                    index, result = worker.results.recv()
                except (EOFError, OSError):
                    crew.remove(worker)
                    done(*_bury(worker, pending, lost))
                    if pending:
                        crew.append(start(crew))
                        _feed(crew[-1], pending)
                    continue
                _take(worker, index)
                done(index, result)
                _feed(worker, pending)
    except BaseException:
        stop.value = True  # each worker ends the item in hand and skips the rest
        raise
    finally:
        _stop(crew)


def _start(
    ctx: Any,
    stop: Any,
    setup: Callable[..., None],
    args: tuple[Any, ...],
    handle: Callable[[Any], Any],
    crew: Sequence[_Worker],
) -> _Worker:
    tasks_in, tasks_out = ctx.Pipe(duplex=False)
    results_in, results_out = ctx.Pipe(duplex=False)
    # A forked worker inherits the parent's ends of its pipes and of the other workers': it
    # closes them, so that a pipe reads as closed once the process at its other end is gone.
    parents_ends = [tasks_out, results_in, *(end for worker in crew for end in (worker.tasks, worker.results))]
    others = parents_ends if forking() else []
    process = ctx.Process(
        target=_serve, args=(tasks_in, results_out, os.getpid(), stop, others, setup, args, handle), daemon=True
    )
    held = hold_signals()  # a worker must not run the parent's signal handlers before its setup ignores them
    try:
        process.start()
    finally:
        release_signals(held)
    tasks_in.close()
    results_out.close()
    return _Worker(process, tasks_out, results_in)


def _feed(worker: _Worker, pending: deque[Chunk]) -> None:
    while pending and len(worker.held) < AHEAD:
        chunk = pending.popleft()
        worker.held.append(deque(chunk))
        try:
            worker.tasks.send(chunk)
        except OSError:  # it has died: its result pipe reads as closed, and `run` buries it
            return


def _take(worker: _Worker, index: int) -> None:
    chunk = worker.held[0]
    if chunk.popleft()[0] != index:
        raise RuntimeError(f"a worker answered for item {index} out of turn")
    if not chunk:
        worker.held.popleft()


def _bury(worker: _Worker, pending: deque[Chunk], lost: Callable[[int, str], Any]) -> tuple[int, Any]:
    """The dead worker's item in hand, with `lost`'s result for it; what it held after that goes back to `pending`."""
    worker.process.join()
    worker.tasks.close()
    worker.results.close()
    index, _ = worker.held[0].popleft()
    pending.extendleft(reversed([list(chunk) for chunk in worker.held if chunk]))
    return index, lost(index, _how(worker.process.exitcode))


def _how(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by signal {-code}, {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _stop(crew: Sequence[_Worker]) -> None:
    """No more work: each worker ends what it holds (stopped: the item in hand), sees its task pipe closed and ends."""
    for worker in crew:
        worker.tasks.close()
    left = list(crew)
    while left:
        ready = wait([worker.results for worker in left])
        for worker in [worker for worker in left if worker.results in ready]:
            try:
                worker.results.recv()  # a result nobody will take: the run is over
            except (EOFError, OSError):
                worker.results.close()
                worker.process.join()
                left.remove(worker)


def _serve(
    tasks: Connection,
    results: Connection,
    parent: int,
    stop: Any,
    others: Sequence[Connection],
    setup: Callable[..., None],
    args: tuple[Any, ...],
    handle: Callable[[Any], Any],
) -> None:
    """A worker's life: chunks in until the parent closes the pipe (or is gone), each item's result out."""
    for end in others:
        end.close()
    setup(*args)
    try:
        while True:
            while not tasks.poll(_IDLE_CHECK):
                if os.getppid() != parent:
                    return
            for index, item in tasks.recv():
                if stop.value or os.getppid() != parent:  # the batch was stopped: leave the rest untouched
                    return
                results.send((index, handle(item)))
    except (EOFError, OSError):  # the parent closed the pipe, or is gone: nothing more to do
        return
