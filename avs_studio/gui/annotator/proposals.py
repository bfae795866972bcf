"""Model proposals for the annotator: run the engine in a worker, turn its scores into
proposal objects (one command per clip), keep binary probability maps for re-thresholding.

The model (the shipped demo model of the project's setting unless a checkpoint is
configured) is loaded once, in the worker, and cached. Everything heavy -- decoding,
the forward pass, resizing the probabilities to each frame and thresholding -- happens
in the worker; the GUI thread only applies the finished command.

A proposal is one object per sounding source: S4/MS3 have one proposal object per clip
(the same instance in every frame where the model finds foreground); AVSS one per class
the model finds in the clip. Its confidence is the mean probability of its pixels.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from avs_studio.core.errors import AVSError, Cancelled
from avs_studio.core.jobs import CancelToken, ItemFailure, Progress
from avs_studio.core.project.edits import Command
from avs_studio.core.proposals import ClipProposal, ProposedObject, ProposeOptions, plan_proposals
from avs_studio.core.setting import Setting

__all__ = [
    "ClipProposal",
    "EngineLike",
    "ModelCache",
    "ProposeSummary",
    "ProposedObject",
    "preload_model_code",
    "proposal_command",
    "proposals_from_scores",
    "propose_job",
]


class EngineLike(Protocol):
    """What the annotator needs from an engine (tests inject a small fake)."""

    def propose_clip(self, clip: Any, *, progress: Progress = ..., cancel: CancelToken | None = None) -> Any:
        """The clip's scores (``ClipScores``-like)."""


@dataclass
class ProposeSummary:
    """The end of a propose job: clips proposed, clips that failed."""

    done: list[str] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)


MIN_AREA_FRACTION = 0.0005  # proposals smaller than this part of the frame are specks


def _too_small(mask: np.ndarray) -> bool:
    return int(np.count_nonzero(mask)) < max(16, MIN_AREA_FRACTION * mask.size)


def proposals_from_scores(scores: Any, *, threshold: float = 0.5, model: str = "", checkpoint: str = "",
                          cancel: CancelToken | None = None) -> ClipProposal:  # fmt: skip
    """Turn an engine's ``ClipScores`` into proposal objects at each frame's own size.

    Objects smaller than :data:`MIN_AREA_FRACTION` of the frame (at least 16 pixels) are
    left out: nobody wants to accept or reject a speck.
    """
    setting = Setting.parse(scores.setting)
    out = ClipProposal(scores.clip_id, setting, model, checkpoint, float(threshold))
    if setting.is_binary:
        for k, p in enumerate(scores.probability_maps(native=True)):
            if cancel is not None:
                cancel.raise_if_cancelled()
            p = np.asarray(p, dtype=np.float32)
            mask = p > np.float32(threshold)
            if _too_small(mask):
                continue
            prob = np.clip(np.round(p * 255.0), 0, 255).astype(np.uint8)
            # Fortran order is the store's: the GUI thread then skips a transposing copy.
            out.objects.append(ProposedObject("fg", k, 1, np.asfortranarray(mask, dtype=np.uint8),
                                              float(p[mask].mean()), prob))  # fmt: skip
        return out
    labels_native = scores.masks(native=True)
    labels = np.asarray(scores.labels())
    confidence = np.asarray(scores.confidence())
    for k in range(int(scores.num_frames)):
        if cancel is not None:
            cancel.raise_if_cancelled()
        lab = np.asarray(labels_native[k])
        for c in np.unique(lab):
            if c == 0:
                continue
            mask = np.asfortranarray(lab == c, dtype=np.uint8)
            if _too_small(mask):
                continue
            small = labels[k] == c
            conf = float(confidence[k][small].mean()) if small.any() else float("nan")
            out.objects.append(ProposedObject(f"class:{int(c)}", k, int(c), mask, conf))
    return out


def proposal_command(session, proposal: ClipProposal,
                     options: ProposeOptions | None = None) -> tuple[Command | None, dict, dict]:  # fmt: skip
    """One command adding ``proposal`` to the session's clip (see :func:`~avs_studio.core.proposals.plan_proposals`).

    Returns the command (None when there is nothing to change), the probability maps of the
    new binary proposals and their masks, both by ``(instance_id, frame)``.
    """
    plan = plan_proposals(session.store, proposal, options)
    return plan.command, plan.maps, plan.masks


class ModelCache:
    """Loads the model of a setting once (in a worker thread) and hands out its engine.

    ``factory(setting)`` replaces loading (tests pass a small fake engine). The model is
    keyed by setting, checkpoint and device; a different key loads again.
    """

    def __init__(self, factory: Callable[[Setting], EngineLike] | None = None) -> None:
        self.factory = factory
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._engine: EngineLike | None = None
        self.description = ""

    def engine(self, setting: Setting, *, checkpoint: str = "", vggish: str = "", device: str = "auto",
               progress: Progress | None = None) -> EngineLike:  # fmt: skip
        """The engine for ``setting`` (loading the model on first use)."""
        key = (setting, checkpoint, vggish, device)
        with self._lock:
            if self._engine is not None and self._key == key:
                return self._engine
            if progress is not None:
                progress(0, 0, "loading the model…")
            if self.factory is not None:
                engine = self.factory(setting)
                self.description = getattr(engine, "name", "test model")
            else:
                engine = _load_engine(setting, checkpoint, vggish, device)
                self.description = engine.describe()
            self._engine, self._key = engine, key
            return engine

    def model_name(self) -> tuple[str, str]:
        """``(model name, checkpoint hash)`` of the loaded model, for provenance."""
        system = getattr(self._engine, "system", None)
        info = getattr(system, "info", None)
        if info is None:
            return getattr(self._engine, "name", "model"), ""
        return f"{info.name}", info.checkpoint_hash[:16]


def preload_model_code(progress: Progress | None = None, cancel: CancelToken | None = None) -> bool:
    """Import torch and the model code (a worker job run once the window is idle).

    Loading torch's libraries holds the interpreter for a few hundred milliseconds in one
    piece, which no thread can avoid; done early, it does not stall the window when the
    user first asks for proposals. False when torch is not installed.
    """
    try:
        import torch  # noqa: F401

        from avs_studio.model import checkpoint, demo_model, engine, model_files, system  # noqa: F401
    except ImportError:
        return False
    return True


def _load_engine(setting: Setting, checkpoint: str, vggish: str, device: str) -> EngineLike:
    """The real engine: the configured checkpoint or the shipped demo model."""
    from avs_studio.model.engine import Engine
    from avs_studio.model.model_files import load_system

    system = load_system(checkpoint or None, vggish=vggish or None, setting=setting)
    # Leave one core to the GUI thread so the window stays fluid while the model runs.
    threads = max(1, (os.cpu_count() or 2) - 1)
    return Engine(system, device=device, threads=threads)


def propose_job(project, clip_ids: list[str], cache: ModelCache, *, threshold: float = 0.5,
                checkpoint: str = "", vggish: str = "", device: str = "auto"):  # fmt: skip
    """A worker job ``fn(progress, cancel, deliver)`` proposing ``clip_ids`` one by one.

    Each finished clip is delivered as a :class:`ClipProposal` (the GUI applies it at
    once, so a cancel keeps the clips already done); failures are collected and reported
    at the end, except when the only clip fails, which fails the job.
    """
    setting = project.setting

    def job(progress: Progress, cancel: CancelToken, deliver: Callable[[Any], None]) -> ProposeSummary:
        summary = ProposeSummary()
        engine = cache.engine(setting, checkpoint=checkpoint, vggish=vggish, device=device, progress=progress)
        model, ckpt = cache.model_name()
        n = len(clip_ids)
        for i, clip_id in enumerate(clip_ids):
            cancel.raise_if_cancelled()

            def sub(done: int, total: int | None, message: str = "", i: int = i) -> None:
                frac = (done / total) if total else 0.0
                progress(int(100 * (i + frac)), 100 * n, f"{i + 1}/{n} {message}".strip())

            try:
                clip = project.clip(clip_id)
                try:
                    scores = engine.propose_clip(clip, progress=sub, cancel=cancel)
                finally:
                    close = getattr(clip, "close", None)
                    if callable(close):
                        close()
                deliver(proposals_from_scores(scores, threshold=threshold, model=model, checkpoint=ckpt,
                                              cancel=cancel))  # fmt: skip
                summary.done.append(clip_id)
            except Cancelled:
                raise
            except (AVSError, OSError, ValueError, RuntimeError) as exc:
                if n == 1:
                    raise AVSError(f"no proposals for {clip_id}: {exc}") from None
                summary.failures.append(ItemFailure(clip_id, str(exc)))
            progress(100 * (i + 1), 100 * n, f"{i + 1}/{n} {clip_id}")
        return summary

    return job
