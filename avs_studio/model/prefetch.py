"""Bounded prefetching: clips prepared ahead of the model in worker processes (or threads).

:func:`iter_prepared` is what the local ``propose`` executor and :meth:`Engine.score_clips` run
on: ``workers`` spawned processes, each kept to its share of the cores, prepare at most
``max_ahead`` clips ahead of the consumer; a worker that dies fails the clip it was on and
the pool is restarted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from avs_studio.core.errors import AVSError
from avs_studio.core.threads import configure_worker
from avs_studio.model.inputs import ClipInputs, prepare_clip


@dataclass
class Prepared:
    """What preparing one item gave: its inputs, or the reason it failed."""

    item: Any
    inputs: ClipInputs | None = None
    error: str | None = None


@dataclass
class PrefetchStats:
    """How many items were in flight (submitted or finished, not yet handed out) at most."""

    max_outstanding: int = 0
    worker_restarts: int = 0


def _prepare_item(item: Any) -> Prepared:
    """Default preparer: ``item`` is a Clip (picklable for worker processes)."""
    return guarded_prepare(item, lambda: prepare_clip(item))


def guarded_prepare(item: Any, make: Callable[[], ClipInputs]) -> Prepared:
    """Run ``make``; any exception becomes a :class:`Prepared` with the reason (bad clips are
    reported, the batch goes on)."""
    try:
        return Prepared(item, make())
    except AVSError as exc:
        return Prepared(item, error=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a decoder's surprise must not stop a batch job
        return Prepared(item, error=f"{type(exc).__name__}: {exc}"[:2000])


def _worker_init(parent_pid: int, workers: int) -> None:
    """In each worker: leave Ctrl-C to the main process, exit when it disappears, and keep
    to a share of the cores (one BLAS and OpenCV thread, cores / workers decoder threads)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(Exception):
        import cv2

        cv2.setNumThreads(1)
    configure_worker(workers)  # after cv2: its wheel may bring an OpenBLAS of its own

    def watch() -> None:
        # A SIGKILLed parent cannot shut its pool down: do not linger as an orphan.
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def iter_prepared(
    items: Iterable[Any],
    *,
    workers: int = 0,
    backend: str = "process",
    max_ahead: int | None = None,
    prepare: Callable[[Any], Prepared] = _prepare_item,
    stats: PrefetchStats | None = None,
) -> Iterator[Prepared]:
    """Prepare ``items`` ahead of the consumer, in order, never more than ``max_ahead`` at once.

    ``workers=0`` prepares each item when it is asked for (no overlap). Otherwise ``workers``
    processes (``backend="process"``, started with ``spawn``: torch and ``fork`` do not mix;
    ``prepare`` must then be a module-level function and items picklable) or threads
    (``backend="thread"``) prepare items while the consumer works. At most ``max_ahead``
    items (default ``2 * workers``) are submitted or finished and not yet consumed, which
    bounds the decoded clips held in memory. Closing the iterator (``break``) cancels the
    rest. A worker process that dies fails the item it was on, and the pool is restarted.
    """
    stats = stats if stats is not None else PrefetchStats()
    if workers <= 0:
        for item in items:
            stats.max_outstanding = max(stats.max_outstanding, 1)
            yield prepare(item)
        return
    if backend not in ("process", "thread"):
        raise ValueError(f"backend must be 'process' or 'thread', got {backend!r}")
    ahead = max(1, int(max_ahead) if max_ahead is not None else 2 * workers)
    it = iter(items)
    pending: deque[tuple[Any, Any]] = deque()
    executor = _executor(workers, backend)
    finished = False
    try:
        while True:
            while len(pending) < ahead:
                item = next(it, _END)
                if item is _END:
                    break
                pending.append((item, executor.submit(prepare, item)))
            stats.max_outstanding = max(stats.max_outstanding, len(pending))
            if not pending:
                finished = True
                return
            item, fut = pending.popleft()
            try:
                result = fut.result()
            except Exception as exc:
                from concurrent.futures.process import BrokenProcessPool

                if not isinstance(exc, BrokenProcessPool):
                    raise
                # The worker died (a decoder crash, the OOM killer): fail this item, start a
                # fresh pool and resubmit the others.
                executor.shutdown(wait=False, cancel_futures=True)
                executor = _executor(workers, backend)
                stats.worker_restarts += 1
                pending = deque((i, executor.submit(prepare, i)) for i, _ in pending)
                result = Prepared(item, error="the decoding worker process died while preparing it")
            yield result
    finally:
        for _, fut in pending:
            fut.cancel()
        # All done: wait for the idle workers to exit (so that they are reaped and their
        # resource usage is accounted); stopped early: do not wait for work in progress.
        executor.shutdown(wait=finished, cancel_futures=True)


_END = object()


def _executor(workers: int, backend: str):
    if backend == "thread":
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="avs-prepare")
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                               initargs=(os.getpid(), workers))  # fmt: skip
