"""The local executor (the default): decoding processes on this machine feed the model in this
process; two writer threads write finished clips.

Decoding overlaps inference: worker processes (``spawn``) prepare clips
(:func:`avs_studio.model.propose.prepare.prepare_task`) while this process runs the model,
with a bounded number of prepared clips in flight (:func:`avs_studio.model.prefetch.iter_prepared`);
two writer threads encode and write the finished clips (at most 4 waiting), so the model never
waits for PNG encoding or fsync.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING

from avs_studio.core.errors import AVSError
from avs_studio.core.jobs import CancelToken
from avs_studio.core.threads import usable_cpus
from avs_studio.model.prefetch import PrefetchStats, iter_prepared
from avs_studio.model.propose.executor import Executor, Outcomes, RunSpec, RunStats
from avs_studio.model.propose.infer import Batcher
from avs_studio.model.propose.prepare import prepare_task
from avs_studio.model.propose.write import write_clip

if TYPE_CHECKING:  # pragma: no cover
    from avs_studio.model.engine import ClipScores
    from avs_studio.model.propose.discover import ClipTask


def default_workers(device: str = "cpu") -> int:
    """Decoding processes by default: on the CPU half the cores, 1 to 4 (the model needs the
    rest); with a GPU all cores but one, up to 16 (so that decoding keeps the GPU busy)."""
    cores = usable_cpus()  # the affinity mask: a container's CPU set, not the host's
    if device == "cpu":
        return max(1, min(4, cores // 2))
    return max(1, min(16, cores - 1))


class LocalExecutor(Executor):
    """Prepare in worker processes, run batch by batch here, write in writer threads; stop
    after the current batch when cancelled."""

    name = "local"

    def run(self, todo: list[ClipTask], spec: RunSpec, outcomes: Outcomes,
            cancel: CancelToken | None) -> RunStats:  # fmt: skip
        engine = spec.engine
        workers = default_workers(engine.device.type) if spec.workers is None else max(0, int(spec.workers))
        workers = min(workers, len(todo))
        writer = ClipWriter(spec.out, spec.kinds, outcomes)
        timing = {"frames_s": 0.0, "log_mel_s": 0.0, "wait_s": 0.0}
        stats = PrefetchStats()
        before = engine.stats.as_dict()
        stream = iter_prepared(todo, workers=workers, backend=spec.backend, max_ahead=spec.max_ahead,
                               prepare=prepare_task, stats=stats)  # fmt: skip
        batcher = Batcher(engine)
        stopped = False
        try:
            t_wait = time.perf_counter()
            for prepared in stream:
                timing["wait_s"] += time.perf_counter() - t_wait
                task, inputs, error = prepared.item, prepared.inputs, prepared.error
                if inputs is not None:
                    for key in ("frames_s", "log_mel_s"):
                        timing[key] += inputs.timings.get(key, 0.0)
                    error = batcher.check(inputs)
                if error is not None:
                    outcomes.failed(task, error)
                else:
                    for t, scores in batcher.add(task, inputs):
                        writer.submit(scores, t)
                if cancel is not None and cancel.cancelled:
                    stopped = True
                    break
                t_wait = time.perf_counter()
            if not stopped:
                for t, scores in batcher.flush():
                    writer.submit(scores, t)
        finally:
            stream.close()
            writer.drain()
        after = engine.stats.as_dict()
        timing["audio_encoder_s"] = after["audio_s"] - before["audio_s"]
        timing["model_s"] = after["model_s"] - before["model_s"]
        timing["write_s"] = writer.write_s
        prefetch = {"workers": workers, "max_in_flight": stats.max_outstanding,
                    "worker_restarts": stats.worker_restarts}  # fmt: skip
        return RunStats(timing, prefetch, cancelled=stopped)


class ClipWriter:
    """Writes finished clips in background threads, at most ``max_pending`` at a time (the
    local executor's writer, and the Ray executor's when the driver writes).

    Outcomes (done / failed) are recorded on the calling thread only, in clip completion
    order, so progress callbacks never run on a writer thread.
    """

    def __init__(self, out: Path, kinds: list[str], outcomes: Outcomes, *, threads: int = 2,
                 max_pending: int = 4) -> None:  # fmt: skip
        self.out, self.kinds, self.outcomes = out, kinds, outcomes
        self.write_s = 0.0
        self.max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="avs-write")
        self._pending: list[tuple[ClipTask, Future]] = []

    def submit(self, scores: ClipScores, task: ClipTask) -> None:
        """Queue one clip's outputs (waits while ``max_pending`` clips are being written)."""
        while len(self._pending) >= self.max_pending:
            self._harvest(block=True)
        self._pending.append((task, self._pool.submit(self._write, scores, task)))
        self._harvest(block=False)

    def drain(self) -> None:
        """Wait for every queued clip (all of them are whole clips: none is abandoned)."""
        while self._pending:
            self._harvest(block=True)
        self._pool.shutdown(wait=True)

    def _write(self, scores: ClipScores, task: ClipTask) -> float:
        t0 = time.perf_counter()
        write_clip(self.out, scores, self.kinds, task)
        return time.perf_counter() - t0

    def _harvest(self, *, block: bool) -> None:
        if block and self._pending:
            wait([f for _, f in self._pending], return_when=FIRST_COMPLETED)
        still = []
        for task, fut in self._pending:
            if not fut.done():
                still.append((task, fut))
                continue
            try:
                self.write_s += fut.result()
            except (AVSError, OSError, ValueError) as exc:
                self.outcomes.failed(task, f"{type(exc).__name__}: {exc}")
            else:
                self.outcomes.done(task)
        self._pending = still
