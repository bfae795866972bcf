"""``propose``: run the engine over many clips and write predictions, resumably.

Inputs: see :mod:`avs_studio.model.propose.discover`.

Outputs under ``OUT`` (:func:`propose`):

* ``--format avsbench``: the official test scripts' ``pred_masks/`` layout (formats.md §3):
  S4 ``pred_masks/<category>/<name>/<name>_<i>.png`` (a video without a category goes to
  ``unknown/``), MS3 ``pred_masks/<id>/<id>_<i>.png``, binary 0/255 palette PNGs at 224 x 224;
  AVSS ``pred_masks/<uid>/<uid>_<i>.png`` colour masks for all 10 steps at **224 x 224** (the
  official script's 360 x 240 bicubic resize blends colours; it is a visualisation and is
  not reproduced);
* ``--format png``: AVS Studio PNG masks, ``<clip_id>/<frame>.png`` per real frame at the
  frame's own size plus ``masks.json`` (``core.export.png``'s format);
* ``--format coco``: ``coco_instances.json`` (``core.export.write_coco``), masks at each
  frame's own size;
* ``probs=True``: ``scores/<clip_id>.npz`` (``core.scores``), the lossless form
  ``avs-studio evaluate`` reads (the exact official F-score needs it);
* always ``report.json`` and ``report.csv`` (one row per clip: done, skipped or failed with
  the reason).

Resumable: every file is written atomically, a clip's mask folder appears whole
(``atomic_dir``), and a per-clip marker ``.propose/done/<clip_id>.json`` is written last; a
clip counts as done when its marker lists the outputs asked for and they all exist, so a
re-run skips it. ``masks.json`` and the COCO file are rebuilt from the markers at the end of
every run (also after Ctrl-C); after a hard kill they are stale until the next run. A folder
holds the proposals of one model: a run with another model is refused. One run per folder at
a time (an OS lock).

The stages are modules beside this one: ``discover`` -> ``prepare`` -> ``infer`` ->
``write`` -> ``report``, with the output folder's names and markers in ``state``. The loop
that drives prepare -> infer -> write is an :class:`~avs_studio.model.propose.executor.Executor`:
``local`` (decoding processes on this machine, the default) or ``ray_executor`` (a Ray
cluster). Importing this module does not import torch (nor Ray).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avs_studio.core.clip import Clip
from avs_studio.core.errors import AVSError
from avs_studio.core.fsutil import remove_stale_temporaries
from avs_studio.core.jobs import CancelToken, Progress, no_progress
from avs_studio.core.setting import Setting
from avs_studio.model.propose.discover import ClipTask, Discovery, discover
from avs_studio.model.propose.executor import Executor, Outcomes, RunSpec
from avs_studio.model.propose.local import LocalExecutor, default_workers
from avs_studio.model.propose.report import ProposeReport, finish_run
from avs_studio.model.propose.state import (
    FORMATS,
    RUN_FILE,
    STATE_DIR,
    check_run_file,
    is_done,
)
from avs_studio.model.propose.write import write_score_maps

if TYPE_CHECKING:  # pragma: no cover
    from avs_studio.model.engine import Engine
    from avs_studio.model.system import AVSSystem

__all__ = [
    "FORMATS",
    "ClipTask",
    "Discovery",
    "ProposeReport",
    "default_workers",
    "discover",
    "propose",
    "write_score_maps",
]


def propose(
    source: str | os.PathLike[str] | Sequence[Clip],
    model: AVSSystem | Engine,
    out: str | os.PathLike[str],
    *,
    setting: Setting | str | None = None,
    fmt: str = "avsbench",
    probs: bool = False,
    split: str | None = None,
    seconds: int | None = None,
    batch_clips: int = 1,
    workers: int | None = None,
    backend: str = "process",
    max_ahead: int | None = None,
    device: str = "auto",
    precision: str = "fp32",
    threads: int | None = None,
    executor: Executor | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> ProposeReport:
    """Propose masks for every clip of ``source`` with ``model`` into ``out``.

    ``model`` is a loaded :class:`AVSSystem` (an :class:`Engine` is built with ``device``,
    ``precision``, ``batch_clips`` and ``threads``) or a ready :class:`Engine`. ``workers``
    decoding processes (default :func:`default_workers`; 0 decodes in this process) prepare
    at most ``max_ahead`` clips ahead (clip objects that do not pickle are prepared by
    threads instead). ``cancel`` stops after the current batch: finished
    clips are complete, the rest are left for the next run. Bad clips are reported, not fatal.
    ``executor`` runs prepare -> infer -> write (default: :class:`LocalExecutor`).
    """
    from avs_studio.model.engine import Engine

    if fmt not in FORMATS:
        raise AVSError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    opts = _Options(fmt, probs, workers, backend, max_ahead, executor or LocalExecutor())
    t_start = time.perf_counter()
    if isinstance(model, Engine):
        disc = discover(source, setting or model.setting, split=split, seconds=seconds)
        return _propose(disc, model, Path(out), opts, progress, cancel, t_start)
    engine = Engine(model, device=device, precision=precision, batch_clips=batch_clips, threads=threads)
    try:
        disc = discover(source, setting or engine.setting, split=split, seconds=seconds)
        return _propose(disc, engine, Path(out), opts, progress, cancel, t_start)
    finally:
        engine.close()


@dataclass
class _Options:
    fmt: str
    probs: bool
    workers: int | None
    backend: str
    max_ahead: int | None
    executor: Executor


def _propose(disc: Discovery, engine: Engine, out: Path, opts: _Options, progress: Progress,
             cancel: CancelToken | None, t_start: float) -> ProposeReport:  # fmt: skip

    _check_setting(disc, engine)
    if opts.backend == "process" and disc.kind == "clips" and not _picklable(disc.tasks[:1]):
        opts.backend = "thread"  # e.g. project clips hold a database connection
    if (out.exists() or out.is_symlink()) and not out.is_dir():
        raise AVSError(f"{out}: exists and is not a folder")
    created = not out.exists()
    try:
        report = _propose_into(disc, engine, out, opts, progress, cancel, t_start)
    except BaseException:
        if created:  # a refused run leaves no folder behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    if created and not report.done and not report.skipped:
        # Nothing was proposed (every clip failed, or none was started): the failures are on
        # the summary; an output folder holding only them would look like a result.
        shutil.rmtree(out, ignore_errors=True)
        report.out_removed = True
    return report


def _propose_into(disc: Discovery, engine: Engine, out: Path, opts: _Options, progress: Progress,
                  cancel: CancelToken | None, t_start: float) -> ProposeReport:  # fmt: skip
    from avs_studio.core.project.errors import ProjectLockedError
    from avs_studio.core.project.lock import WriterLock

    state = out / STATE_DIR
    (state / "done").mkdir(parents=True, exist_ok=True)
    lock = WriterLock(state / "outputs")
    try:
        lock.acquire()
    except ProjectLockedError as exc:
        who = f" (pid {exc.holder['pid']})" if exc.holder.get("pid") else ""
        raise AVSError(f"{out} is being written by another propose run{who}; wait for it to finish "
                       "or choose another --out") from None  # fmt: skip
    try:
        remove_stale_temporaries(out)
        check_run_file(state / RUN_FILE, engine, disc.setting)
        report = ProposeReport(out=out, setting=disc.setting, total=len(disc.tasks) + len(disc.failures))
        report.notes.extend(disc.notes)
        report.failures.extend(disc.failures)
        kinds = [opts.fmt] + (["scores"] if opts.probs else [])
        todo = []
        for t in disc.tasks:
            if is_done(out, t.clip_id, kinds):
                report.skipped.append(t.clip_id)
            else:
                todo.append(t)
        spec = RunSpec(out, kinds, engine, opts.workers, opts.backend, opts.max_ahead)
        try:
            stats = opts.executor.run(todo, spec, Outcomes(report, progress), cancel)
            report.timings, report.prefetch, report.cancelled = stats.timings, stats.prefetch, stats.cancelled
            report.notes.extend(stats.notes)
        finally:
            report.wall_s = time.perf_counter() - t_start
            finish_run(out, disc, opts.fmt, report)
        return report
    finally:
        lock.release()


def _picklable(obj: Any) -> bool:
    import pickle

    try:
        pickle.dumps(obj)
    except Exception:  # any object may refuse in its own way
        return False
    return True


def _check_setting(disc: Discovery, engine: Engine) -> None:
    st = engine.setting
    if disc.setting is st:
        return
    if disc.setting.is_binary and st.is_binary:
        return  # S4 and MS3 models take the same inputs; the clips' layout decides the output
    raise AVSError(
        f"the model segments {st.value.upper()} clips; these are {disc.setting.value.upper()} clips"
    )
