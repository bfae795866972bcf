"""The Ray executor's stages as they run on the cluster: preparing a clip (a CPU task) and the
model (an actor holding one engine), each turning rows into rows.

A row carries one clip. It enters as ``{"i", "task"}`` (the clip's index in the run and its
pickled :class:`~avs_studio.model.propose.discover.ClipTask`); :func:`prepare_row` adds the
pickled :class:`~avs_studio.model.inputs.ClipInputs` (``inputs``) or the reason it could not
be prepared (``error``); :class:`ModelStage` turns a batch of those into one result row per
clip: the pickled scores, or the ``error``; the driver writes the scores, or, when the
cluster writes, :func:`write_row` (a CPU task) does and keeps only the outcome. Every column
has the same type in every row, whatever happened to the clip.

No per-clip problem may escape a stage as an exception: Ray Data fails the whole dataset on
the first one (its ``max_errored_blocks=0``), or, when told to tolerate errors, silently
drops every row of the block, innocent neighbours included. Errors are rows here, and the
driver reports them as failed clips, as the local run does.

Both stages use the local run's own pieces (:func:`prepare_task`, :class:`Batcher`,
:func:`write_clip`), so that a clip meets the same checks and becomes the same bytes
wherever it runs.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avs_studio.core.threads import configure_worker, usable_cpus
from avs_studio.model.propose.state import RUN_FILE, STATE_DIR

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from avs_studio.model.engine import ClipScores, Engine
    from avs_studio.model.system import AVSSystem

#: Result columns that carry seconds, summed by the driver into the report's timings.
TIMING_COLUMNS = ("frames_s", "log_mel_s", "audio_encoder_s", "model_s", "write_s", "idle_s")

_configured = False


def _error(exc: BaseException, where: str = "") -> str:
    """The reason a clip failed, as the local run words it (``Type: message``)."""
    text = f"{type(exc).__name__}: {exc}"
    return (f"{where}: {text}" if where else text)[:2000]


def _configure_once() -> None:
    """A preparation task's process keeps to one BLAS thread and one decoder thread: Ray runs
    one such task per CPU, so each gets one core's share (what the local run's decoding
    workers get from ``configure_worker``)."""
    global _configured
    if _configured:
        return
    with contextlib.suppress(Exception):
        import cv2

        cv2.setNumThreads(1)
    configure_worker(usable_cpus())  # after cv2: its wheel may bring an OpenBLAS of its own
    _configured = True


def prepare_row(row: dict[str, Any]) -> dict[str, Any]:
    """Ray Data ``map`` function: one clip's model inputs (or why it has none). Never raises."""
    from avs_studio.model.propose.prepare import prepare_task

    _configure_once()
    out = {"i": int(row["i"]), "task": row["task"], "inputs": b"", "error": "",
           "frames_s": 0.0, "log_mel_s": 0.0}  # fmt: skip
    try:
        prepared = prepare_task(pickle.loads(row["task"]))  # never raises: errors come back
        if prepared.inputs is None:
            out["error"] = prepared.error or "the clip could not be prepared"
        else:
            out["frames_s"] = float(prepared.inputs.timings.get("frames_s", 0.0))
            out["log_mel_s"] = float(prepared.inputs.timings.get("log_mel_s", 0.0))
            out["inputs"] = pickle.dumps(prepared.inputs, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # e.g. the task does not unpickle on this node
        out["error"] = _error(exc)
    return out


# ====================================================================== the model


def system_bytes(system: AVSSystem) -> bytes:
    """``system`` serialised once on the driver, to travel to every actor through the object
    store (``ray.put``), without the hooks the driver's engine hung on it (they belong to that
    engine; each actor's engine adds its own)."""
    import torch

    buf = io.BytesIO()
    with _without_forward_hooks(system):
        torch.save(system, buf)
    return buf.getvalue()


def load_system_bytes(blob: bytes) -> AVSSystem:
    """The system :func:`system_bytes` wrote, on the CPU (the actor's engine moves it).

    Full unpickling (``weights_only=False``): the bytes are the driver's own, through the
    cluster's object store, not a file from elsewhere.
    """
    import torch

    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=False)


@contextlib.contextmanager
def _without_forward_hooks(module: torch.nn.Module) -> Iterator[None]:
    # Torch keeps hooks in per-module dicts (keyed by handle ids, which restart in every
    # process): empty them while pickling, and put them back.
    names = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
             "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs")  # fmt: skip
    saved = []
    for m in module.modules():
        kept = {n: getattr(m, n) for n in names if hasattr(m, n)}
        saved.append((m, kept))
        for n in kept:
            setattr(m, n, OrderedDict())
    try:
        yield
    finally:
        for m, kept in saved:
            for n, v in kept.items():
                setattr(m, n, v)


def portable_scores(scores: ClipScores, kinds: list[str]) -> ClipScores:
    """``scores`` made small for the trip to the driver, writing the same bytes there.

    AVSS logits are ``[10, 71, 224, 224]`` float32 (142 MB a clip); every output of an AVSS
    clip is made from its labels and, for ``scores``, the winning class's probability
    (:mod:`avs_studio.model.propose.write`), so those are computed here (as the driver would)
    and the logits travel as an empty ``[T, 0, 224, 224]`` array that keeps the step count.
    S4/MS3 logits (1 MB a clip) travel whole: native-size masks are made from them.
    """
    if scores.setting.is_binary:
        return scores
    scores.labels()
    if "scores" in kinds:
        scores.confidence()
    t, _, h, w = scores.logits.shape
    scores.logits = np.empty((t, 0, h, w), dtype=np.float32)
    return scores


class ModelStage:
    """Ray Data ``map_batches`` callable class: one engine per actor, built once from the
    system the driver put in the object store; one forward per batch of prepared clips.
    Each result row carries the clip's pickled scores (:func:`portable_scores`), for the
    driver or for :func:`write_row` to write."""

    def __init__(self, system: Any, engine_args: dict[str, Any], kinds: list[str]) -> None:
        from avs_studio.model.engine import Engine

        blob = _resolve(system)
        self.engine: Engine = Engine(load_system_bytes(blob), **engine_args)
        del blob
        self.engine_threads = engine_args.get("threads")
        self.kinds = list(kinds)
        self._idle_from = time.perf_counter()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        """Result rows (one per input row) for a batch of prepared clips."""
        from avs_studio.model.propose.infer import Batcher

        t_in = time.perf_counter()
        if self.engine_threads is not None:
            # Ray calls the actor from another thread than the one that built it, and
            # OpenMP's thread count is per thread: the count the engine was given, here too.
            import torch

            torch.set_num_threads(self.engine_threads)
        stats0 = self.engine.stats.as_dict()
        rows = _Results()
        # A fresh batcher per Ray batch (``batch_size`` = the engine's clips per forward):
        # the local run's checks and batching, and nothing left queued if a forward raises.
        batcher = Batcher(self.engine)
        ready: dict[str, tuple[int, bytes, dict[str, float]]] = {}
        good = []
        for k in range(len(batch["i"])):
            i, task_bytes, error = int(batch["i"][k]), batch["task"][k], str(batch["error"][k])
            timing = {"frames_s": float(batch["frames_s"][k]), "log_mel_s": float(batch["log_mel_s"][k])}
            if not error:
                try:
                    task = pickle.loads(task_bytes)
                    inputs = pickle.loads(batch["inputs"][k])
                    error = batcher.check(inputs) or ""
                except Exception as exc:
                    error = _error(exc)
            if error:
                rows.add(i, task_bytes, error=error, **timing)
            else:
                ready[task.clip_id] = (i, task_bytes, timing)
                good.append((task, inputs))
        scored, failed = [], ""
        try:
            for task, inputs in good:
                scored += batcher.add(task, inputs)
            scored += batcher.flush()
        except Exception as exc:  # a forward that raised (a GPU out of memory, a surprise)
            failed = _error(exc, "the model failed")
        del good
        for task, scores in scored:
            i, task_bytes, timing = ready.pop(task.clip_id)
            blob = pickle.dumps(portable_scores(scores, self.kinds), protocol=pickle.HIGHEST_PROTOCOL)
            rows.add(i, task_bytes, scores=blob, **timing)
        for i, task_bytes, timing in ready.values():  # queued in a forward that raised
            rows.add(i, task_bytes, error=failed or "the model gave no result for it", **timing)
        stats1 = self.engine.stats.as_dict()
        # Batch-level seconds: the wait for this batch (the actor idle since the last one)
        # and the engine's time on it.
        rows.first_extra(idle_s=t_in - self._idle_from, audio_encoder_s=stats1["audio_s"] - stats0["audio_s"],
                         model_s=stats1["model_s"] - stats0["model_s"])  # fmt: skip
        self._idle_from = time.perf_counter()
        return rows.columns


def write_row(row: dict[str, Any], out: str, kinds: list[str]) -> dict[str, Any]:
    """Ray Data ``map`` function, when the cluster writes (``OUT`` shared by every node): one
    clip's outputs and marker, as the local run writes them. The result row keeps only the
    outcome (the scores stay here). Never raises."""
    from avs_studio.model.propose.write import write_clip

    res = dict(row)
    res["scores"] = b""
    if row["error"]:
        return res
    folder = Path(out)
    if not (folder / STATE_DIR / RUN_FILE).is_file():  # the driver wrote it before starting
        import socket

        res["error"] = (f"{out} is not visible on node {socket.gethostname()}: with the cluster "
                        "writing, OUT must be a folder every node sees at the same path")  # fmt: skip
        return res
    t0 = time.perf_counter()
    try:
        write_clip(folder, pickle.loads(row["scores"]), kinds, pickle.loads(row["task"]))
    except Exception as exc:  # reported as the clip's failure; nothing of it is half-written
        res["error"] = _error(exc)
    else:
        res["write_s"] = float(row["write_s"]) + time.perf_counter() - t0
    return res


class _Results:
    """Result columns, one entry per clip, the same types in every row."""

    def __init__(self) -> None:
        self.columns: dict[str, list] = {"i": [], "task": [], "error": [], "scores": [],
                                         **{c: [] for c in TIMING_COLUMNS}}  # fmt: skip

    def add(self, i: int, task: bytes, *, error: str = "", scores: bytes = b"", **seconds: float) -> None:
        """One clip's result row."""
        self.columns["i"].append(int(i))
        self.columns["task"].append(task)
        self.columns["error"].append(error)
        self.columns["scores"].append(scores)
        for c in TIMING_COLUMNS:
            self.columns[c].append(float(seconds.get(c, 0.0)))

    def first_extra(self, **seconds: float) -> None:
        """Add batch-level seconds to the batch's first row (so that sums count them once)."""
        if self.columns["i"]:
            for c, v in seconds.items():
                self.columns[c][0] += float(v)


def _resolve(system: Any) -> bytes:
    """The system's bytes: an object reference is fetched (once, by the actor)."""
    import ray

    return ray.get(system) if isinstance(system, ray.ObjectRef) else system
