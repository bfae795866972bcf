"""``propose``: run the engine over many clips and write predictions, resumably.

Inputs (:func:`discover`): an AVSBench dataset folder (any setting; ``split`` picks one
split), a folder of videos (recursive, the extensions projects accept), a list file (one
``path[,start[,seconds[,split[,category]]]]`` per line, as ``project add`` reads), one
video file, or clip objects. Clip ids: the dataset's; a video's file name without
extension, or ``<name>_<start_ms>_<end_ms>`` for a segment starting after 0 s.

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

Decoding overlaps inference: worker processes (``spawn``) prepare clips
(:func:`avs_studio.model.engine.prepare_clip`) while the main process runs the model, with
a bounded number of prepared clips in flight; two writer threads encode and write the
finished clips (at most 4 waiting), so the model never waits for PNG encoding or fsync.
Importing this module does not import torch.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avs_studio.core.clip import Clip
from avs_studio.core.errors import AVSError, DatasetError, MediaError
from avs_studio.core.fsutil import (
    atomic_dir,
    atomic_write_text,
    check_component,
    is_temporary,
    remove_stale_temporaries,
    safe_join,
)
from avs_studio.core.jobs import CancelToken, ItemFailure, Progress, no_progress
from avs_studio.core.setting import Setting
from avs_studio.core.threads import usable_cpus
from avs_studio.model.engine import (
    ClipInputs,
    ClipScores,
    PrefetchStats,
    Prepared,
    guarded_prepare,
    iter_prepared,
)

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

FORMATS = ("avsbench", "png", "coco")
STATE_DIR = ".propose"
RUN_FILE = "run.json"
COCO_FILE = "coco_instances.json"
REPORT_JSON = "report.json"
REPORT_CSV = "report.csv"
RUN_FORMAT = "avs-studio-propose"
#: Clip ids that would collide with the folders propose writes beside the clips.
_RESERVED = {"scores", "pred_masks", STATE_DIR}


def default_workers(device: str = "cpu") -> int:
    """Decoding processes by default: on the CPU half the cores, 1 to 4 (the model needs the
    rest); with a GPU all cores but one, up to 16 (so that decoding keeps the GPU busy)."""
    cores = usable_cpus()  # the affinity mask: a container's CPU set, not the host's
    if device == "cpu":
        return max(1, min(4, cores // 2))
    return max(1, min(16, cores - 1))


# ====================================================================== inputs


@dataclass(frozen=True)
class ClipTask:
    """One clip to propose, as a picklable recipe a worker process turns into a Clip."""

    clip_id: str
    source: str
    kind: str  # "dataset" | "video" | "clip"
    setting: str
    path: str = ""
    start: float = 0.0
    seconds: int | None = None
    split: str = ""
    category: str = ""
    clip: Any = None

    def resolve(self) -> Clip:
        """The clip this task names (opens the dataset or probes the video)."""
        if self.kind == "clip":
            return self.clip
        if self.kind == "dataset":
            try:
                return _dataset(self.path, self.setting).get(self.clip_id)
            except KeyError:
                raise DatasetError(f"{self.path}: no clip {self.clip_id!r}") from None
        from avs_studio.model.engine import VideoClip

        return VideoClip(self.path, self.setting, start=self.start, seconds=self.seconds,
                         clip_id=self.clip_id, split=self.split, category=self.category)  # fmt: skip

    def __str__(self) -> str:
        return self.clip_id


_DATASETS: dict[tuple[str, str], Any] = {}


def _dataset(root: str, setting: str):
    """A dataset opened once per process (workers open it on their first clip)."""
    key = (root, setting)
    if key not in _DATASETS:
        from avs_studio.core.datasets import open_dataset

        _DATASETS[key] = open_dataset(root, setting)
    return _DATASETS[key]


def prepare_task(task: ClipTask) -> Prepared:
    """Worker entry point: resolve the task and prepare its inputs; failures are returned."""

    def make() -> ClipInputs:
        from avs_studio.model.engine import prepare_clip

        clip = task.resolve()
        try:
            return prepare_clip(clip)
        finally:
            close = getattr(clip, "close", None)
            if task.kind != "clip" and callable(close):
                close()

    return guarded_prepare(task, make)


@dataclass
class Discovery:
    """The clips found in an input, and the entries that could not become clips."""

    setting: Setting
    kind: str
    tasks: list[ClipTask] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def discover(
    source: str | os.PathLike[str] | Sequence[Clip],
    setting: Setting | str | None = None,
    *,
    split: str | None = None,
    seconds: int | None = None,
) -> Discovery:
    """Find the clips of an input (see the module docstring). ``setting`` is needed for
    videos and list files; for a dataset it picks one of several settings in the folder."""
    if not isinstance(source, (str, os.PathLike)):
        clips = list(source)
        if not clips:
            raise AVSError("no clips to propose")
        st = Setting.parse(setting) if setting is not None else clips[0].setting
        disc = Discovery(st, "clips")
        for c in clips:
            disc.tasks.append(ClipTask(c.clip_id, str(c.video_path or c.clip_id), "clip", st.value, clip=c))
        return _dedupe(disc)
    p = Path(source)
    if not p.exists():
        raise AVSError(f"{p}: no such file or folder")
    if seconds is not None and seconds not in (5, 10):
        raise AVSError(f"clips are 5 or 10 s long, not {seconds} s")
    if p.is_dir():
        from avs_studio.core.datasets import detect_setting

        found = detect_setting(p)
        if found:
            return _discover_dataset(p, found, setting, split)
        return _discover_folder(p, _need_setting(setting, p), seconds)
    from avs_studio.core.project.add import is_list_file
    from avs_studio.core.project.media import is_video_file

    if is_list_file(p):
        return _discover_list(p, _need_setting(setting, p), seconds)
    if is_video_file(p):
        st = _need_setting(setting, p)
        disc = Discovery(st, "video")
        disc.tasks.append(_video_task(p, st, 0.0, seconds))
        return disc
    raise AVSError(
        f"{p}: not an AVSBench dataset folder, a folder of videos, a list file (.txt, .lst, "
        ".list, .csv) or a video file"
    )


def _need_setting(setting, p: Path) -> Setting:
    if setting is None:
        raise AVSError(f"{p}: videos need a setting (s4, ms3 or avss) to be proposed")
    return Setting.parse(setting)


def _discover_dataset(p: Path, found: list[Setting], setting, split: str | None) -> Discovery:
    from avs_studio.core.datasets import open_dataset

    wanted = Setting.parse(setting) if setting is not None else None
    if wanted is not None and wanted in found:
        st = wanted
    elif len(found) == 1:
        st = found[0]
    else:
        names = ", ".join(s.value for s in found)
        raise AVSError(f"{p}: holds several settings ({names}); choose one with --setting")
    ds = open_dataset(p, st)
    root = str(Path(ds.root).resolve())
    _DATASETS[(root, st.value)] = ds
    clips = ds.clips(split)
    if not clips:
        raise AVSError(f"{p}: no {split + ' ' if split else ''}clips in this {st.value.upper()} dataset")
    disc = Discovery(st, "dataset")
    disc.notes.extend(str(x) for x in ds.problems[:20])
    for c in clips:
        disc.tasks.append(ClipTask(c.clip_id, f"{root}:{c.clip_id}", "dataset", st.value, path=root,
                                   split=c.split, category=c.category))  # fmt: skip
    return _dedupe(disc)


def _discover_folder(p: Path, st: Setting, seconds: int | None) -> Discovery:
    from avs_studio.core.project.add import find_videos

    videos = find_videos(p)
    if not videos:
        raise AVSError(f"{p}: no video files in this folder (and it is not an AVSBench dataset)")
    disc = Discovery(st, "videos")
    for v in videos:
        disc.tasks.append(_video_task(v, st, 0.0, seconds))
    return _dedupe(disc)


def _discover_list(p: Path, st: Setting, seconds: int | None) -> Discovery:
    from avs_studio.core.project.add import read_list_file

    disc = Discovery(st, "list")
    for e in read_list_file(p):
        secs = e.seconds if e.seconds is not None else seconds
        try:
            disc.tasks.append(_video_task(e.path, st, e.start, secs, split=e.split, category=e.category))
        except AVSError as exc:
            disc.failures.append(ItemFailure(f"{p.name}:{e.line}", f"{type(exc).__name__}: {exc}", str(e.path)))
    return _dedupe(disc)


def _video_task(path: Path, st: Setting, start: float, seconds: int | None, *, split: str = "",
                category: str = "") -> ClipTask:  # fmt: skip
    from avs_studio.core.project.add import default_seconds, segment_uid

    if start < 0 or not np.isfinite(start):
        raise MediaError(f"{path}: the start time must be >= 0 s, got {start}")
    if start > 0:
        secs = seconds
        if secs is None:
            secs = 5 if st.is_binary else default_seconds(st, _duration(path), start)
        clip_id = segment_uid(path.stem, start, secs)
    else:
        clip_id = path.stem
    return ClipTask(clip_id, str(path), "video", st.value, path=str(path), start=float(start),
                    seconds=seconds if start == 0 else secs, split=split, category=category)  # fmt: skip


def _duration(path: Path) -> float | None:
    from avs_studio.core.media.probe import probe

    return probe(path, count_frames=False).duration


def _dedupe(disc: Discovery) -> Discovery:
    """Refuse clip ids that repeat or are not usable as file names (reported, not fatal)."""
    seen: dict[str, ClipTask] = {}
    kept = []
    for t in disc.tasks:
        try:
            check_component(t.clip_id, "clip id")
        except AVSError as exc:
            disc.failures.append(ItemFailure(t.clip_id, f"{type(exc).__name__}: {exc}", t.source))
            continue
        if t.clip_id in _RESERVED:
            disc.failures.append(ItemFailure(t.clip_id, f"the clip id {t.clip_id!r} is the name of an output folder; rename the file", t.source))
            continue
        if t.clip_id in seen:
            disc.failures.append(ItemFailure(
                t.clip_id, f"another input has the same clip id ({seen[t.clip_id].source}); rename one "
                "of them", t.source))  # fmt: skip
            continue
        seen[t.clip_id] = t
        kept.append(t)
    disc.tasks = kept
    return disc


# ====================================================================== the job


@dataclass
class ProposeReport:
    """What a propose run did: clips done, skipped (already done), failed, and where time went."""

    out: Path
    setting: Setting
    total: int = 0
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    prefetch: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def clips_per_s(self) -> float:
        """Clips proposed per second of wall time in this run."""
        return len(self.done) / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> str:
        """One line for the end of the command."""
        parts = [f"{len(self.done)} clips proposed"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} already done")
        if self.failures:
            parts.append(f"{len(self.failures)} failed (see {self.out / REPORT_CSV})")
        if self.cancelled:
            parts.append("stopped early")
        rate = f", {self.clips_per_s:.2f} clips/s" if self.done else ""
        return f"{', '.join(parts)} in {self.wall_s:.1f} s{rate}"


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
    """
    from avs_studio.model.engine import Engine

    if fmt not in FORMATS:
        raise AVSError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    opts = _Options(fmt, probs, workers, backend, max_ahead)
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


def _propose(disc: Discovery, engine: Engine, out: Path, opts: _Options, progress: Progress,
             cancel: CancelToken | None, t_start: float) -> ProposeReport:  # fmt: skip
    from avs_studio.core.project.errors import ProjectLockedError
    from avs_studio.core.project.lock import WriterLock

    _check_setting(disc, engine)
    if opts.backend == "process" and disc.kind == "clips" and not _picklable(disc.tasks[:1]):
        opts.backend = "thread"  # e.g. project clips hold a database connection
    if out.exists() and not out.is_dir():
        raise AVSError(f"{out}: exists and is not a folder")
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
        _check_run_file(state / RUN_FILE, engine, disc.setting)
        report = ProposeReport(out=out, setting=disc.setting, total=len(disc.tasks) + len(disc.failures))
        report.notes.extend(disc.notes)
        report.failures.extend(disc.failures)
        kinds = [opts.fmt] + (["scores"] if opts.probs else [])
        todo = []
        for t in disc.tasks:
            if _is_done(out, t.clip_id, kinds):
                report.skipped.append(t.clip_id)
            else:
                todo.append(t)
        try:
            _run(engine, todo, out, kinds, report, opts, progress, cancel)
        finally:
            report.wall_s = time.perf_counter() - t_start
            _finish(out, disc, opts.fmt, report)
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


def _model_identity(engine: Engine) -> dict:
    info = engine.system.info
    return {"name": info.name, "arch": info.arch, "setting": info.setting.value,
            "checkpoint_hash": info.checkpoint_hash}  # fmt: skip


def _check_run_file(path: Path, engine: Engine, setting: Setting) -> None:
    ident = _model_identity(engine)
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        prev = old.get("model", {}) if isinstance(old, dict) else {}
        if prev and prev != ident:
            raise AVSError(
                f"{path.parent.parent} holds proposals of another model ({prev.get('name')}, "
                f"{prev.get('arch')}); choose another --out, or use the same model to resume"
            )
        if isinstance(old, dict) and old.get("clip_setting") not in (None, setting.value):
            raise AVSError(f"{path.parent.parent} holds proposals for {old['clip_setting'].upper()} clips, "
                           f"not {setting.value.upper()}; choose another --out")  # fmt: skip
        return
    run = {"format": RUN_FORMAT, "version": 1, "model": ident, "clip_setting": setting.value}
    atomic_write_text(path, json.dumps(run, indent=1) + "\n")


def _marker_path(out: Path, clip_id: str) -> Path:
    return safe_join(out / STATE_DIR / "done", f"{clip_id}.json")


def _read_marker(out: Path, clip_id: str) -> dict | None:
    try:
        data = json.loads(_marker_path(out, clip_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("clip_id") == clip_id else None


def _is_done(out: Path, clip_id: str, kinds: list[str]) -> bool:
    marker = _read_marker(out, clip_id)
    if marker is None:
        return False
    files = marker.get("files", {})
    for kind in kinds:
        if kind not in files:
            return False
        if not all((out / rel).is_file() for rel in files[kind]):
            return False
    return True


def _run(engine: Engine, todo: list[ClipTask], out: Path, kinds: list[str], report: ProposeReport,
         opts: _Options, progress: Progress, cancel: CancelToken | None) -> None:  # fmt: skip
    """Prepare (in workers), run batch by batch, write each clip (in writer threads, so that
    the model does not wait for PNG encoding and fsyncs); stop early when cancelled."""
    workers = default_workers(engine.device.type) if opts.workers is None else max(0, int(opts.workers))
    workers = min(workers, len(todo))
    total = report.total
    # Failures so far are the entries refused at discovery.
    writer = _Writer(out, kinds, report, progress, done=len(report.skipped) + len(report.failures))
    progress(writer.done, total, "")
    timing = {"frames_s": 0.0, "log_mel_s": 0.0, "wait_s": 0.0}
    stats = PrefetchStats()
    before = engine.stats.as_dict()
    stream = iter_prepared(todo, workers=workers, backend=opts.backend, max_ahead=opts.max_ahead,
                           prepare=prepare_task, stats=stats)  # fmt: skip
    batch: list[ClipInputs] = []
    tasks: dict[str, ClipTask] = {}
    stopped = False

    def flush() -> None:
        for scores in engine.run(batch):
            writer.submit(scores, tasks.pop(scores.clip_id))
        batch.clear()

    try:
        t_wait = time.perf_counter()
        for prepared in stream:
            timing["wait_s"] += time.perf_counter() - t_wait
            task = prepared.item
            inputs = prepared.inputs
            error = prepared.error
            if inputs is not None:
                for key in ("frames_s", "log_mel_s"):
                    timing[key] += inputs.timings.get(key, 0.0)
                try:
                    engine.check_inputs(inputs)
                except AVSError as exc:
                    error = f"{type(exc).__name__}: {exc}"
            if error is not None:
                writer.fail(task, error)
            else:
                batch.append(inputs)
                tasks[inputs.clip_id] = task
                if len(batch) >= engine.batch_clips:
                    flush()
            if cancel is not None and cancel.cancelled:
                stopped = True
                break
            t_wait = time.perf_counter()
        if not stopped and batch:
            flush()
    finally:
        stream.close()
        writer.drain()
        report.cancelled = stopped
        after = engine.stats.as_dict()
        timing["audio_encoder_s"] = after["audio_s"] - before["audio_s"]
        timing["model_s"] = after["model_s"] - before["model_s"]
        timing["write_s"] = writer.write_s
        report.timings = timing
        report.prefetch = {"workers": workers, "max_in_flight": stats.max_outstanding,
                           "worker_restarts": stats.worker_restarts}  # fmt: skip


class _Writer:
    """Writes finished clips in background threads, at most ``max_pending`` at a time.

    Results (done / failed) and progress are recorded on the calling thread only, in clip
    completion order, so progress callbacks never run on a writer thread.
    """

    def __init__(self, out: Path, kinds: list[str], report: ProposeReport, progress: Progress,
                 *, done: int, threads: int = 2, max_pending: int = 4) -> None:  # fmt: skip
        from concurrent.futures import ThreadPoolExecutor

        self.out, self.kinds, self.report, self.progress = out, kinds, report, progress
        self.done = done
        self.write_s = 0.0
        self.max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="avs-write")
        self._pending: list[tuple[ClipTask, Any]] = []

    def submit(self, scores: ClipScores, task: ClipTask) -> None:
        """Queue one clip's outputs (waits while ``max_pending`` clips are being written)."""
        while len(self._pending) >= self.max_pending:
            self._harvest(block=True)
        self._pending.append((task, self._pool.submit(self._write, scores, task)))
        self._harvest(block=False)

    def fail(self, task: ClipTask, error: str) -> None:
        """Record a clip that could not be prepared."""
        self.report.failures.append(ItemFailure(task.clip_id, error, task.source))
        self._step(task.clip_id)

    def drain(self) -> None:
        """Wait for every queued clip (all of them are whole clips: none is abandoned)."""
        while self._pending:
            self._harvest(block=True)
        self._pool.shutdown(wait=True)

    def _write(self, scores: ClipScores, task: ClipTask) -> float:
        t0 = time.perf_counter()
        _write_clip(self.out, scores, self.kinds, task)
        return time.perf_counter() - t0

    def _harvest(self, *, block: bool) -> None:
        from concurrent.futures import FIRST_COMPLETED, wait

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
                self.report.failures.append(ItemFailure(task.clip_id, f"{type(exc).__name__}: {exc}", task.source))
            else:
                self.report.done.append(task.clip_id)
            self._step(task.clip_id)
        self._pending = still

    def _step(self, clip_id: str) -> None:
        self.done += 1
        self.progress(self.done, self.report.total, clip_id)


# ====================================================================== writing one clip


def _write_clip(out: Path, scores: ClipScores, kinds: list[str], task: ClipTask) -> None:
    """Write one clip's outputs, then its marker (last, atomically)."""
    old = _read_marker(out, scores.clip_id) or {}
    files: dict[str, list[str]] = {
        k: v for k, v in old.get("files", {}).items()
        if k not in kinds and all((out / rel).is_file() for rel in v)
    }  # fmt: skip
    marker: dict[str, Any] = {
        "clip_id": scores.clip_id, "setting": scores.setting.value, "source": task.source,
        "split": scores.meta.get("split", ""), "category": scores.meta.get("category", ""),
        "subset": scores.meta.get("subset", ""), "num_frames": scores.num_frames,
        "frame_sizes": [list(s) for s in scores.frame_sizes], "frame_names": scores.frame_names,
    }  # fmt: skip
    for key in ("png", "coco"):
        if key in old and key in files:
            marker[key] = old[key]
    for kind in kinds:
        if kind == "avsbench":
            files[kind] = _write_official(out, scores)
        elif kind == "png":
            files[kind], marker["png"] = _write_png(out, scores)
        elif kind == "coco":
            files[kind], marker["coco"] = [], _coco_frames(scores)
        elif kind == "scores":
            files[kind] = [_write_scores(out, scores)]
    marker["files"] = files
    atomic_write_text(_marker_path(out, scores.clip_id), json.dumps(marker) + "\n")


def _fresh_dir(path: Path):
    """A clip's output folder appears whole: written aside, renamed into place."""
    if path.exists():  # left by a run killed after the rename, before the marker
        shutil.rmtree(path)
    return atomic_dir(path)


def _write_official(out: Path, scores: ClipScores) -> list[str]:
    from avs_studio.core.masks.files import write_colour_mask, write_prediction_mask

    cid = scores.clip_id
    if scores.setting is Setting.S4:
        category = scores.meta.get("category") or "unknown"
        check_component(category, "category")
        parts = ["pred_masks", category, cid]
    else:
        parts = ["pred_masks", cid]
    dest = safe_join(out, *parts)
    masks = scores.masks()  # [T, 224, 224] for every step (AVSS: all 10, as the official script)
    names = [f"{cid}_{i}.png" for i in range(scores.steps)]
    with _fresh_dir(dest) as tmp:
        for name, m in zip(names, masks):
            if scores.setting.is_binary:
                write_prediction_mask(tmp / name, m)
            else:
                write_colour_mask(tmp / name, m)
    return ["/".join([*parts, n]) for n in names]


def _write_png(out: Path, scores: ClipScores) -> tuple[list[str], list[dict]]:
    from avs_studio.core.masks.files import write_binary_mask, write_index_mask

    cid = scores.clip_id
    masks = scores.masks(native=True)
    rels, entries = [], []
    with _fresh_dir(safe_join(out, cid)) as tmp:
        for k, m in enumerate(masks):
            if scores.setting.is_binary:
                write_binary_mask(tmp / f"{k}.png", m)
            else:
                write_index_mask(tmp / f"{k}.png", m)
            rel = f"{cid}/{k}.png"
            rels.append(rel)
            entries.append({"clip_id": cid, "frame": k, "file": rel,
                            "source": scores.frame_names[k] if k < len(scores.frame_names) else rel,
                            "split": scores.meta.get("split", ""), "category": scores.meta.get("category", ""),
                            "subset": scores.meta.get("subset", "")})  # fmt: skip
    return rels, entries


def _coco_frames(scores: ClipScores) -> list[dict]:
    """Per real frame: its name, size and objects as compressed RLE (kept in the marker)."""
    from avs_studio.core.export.coco import frame_objects
    from avs_studio.core.masks.files import encode_rle

    frames = []
    for k, m in enumerate(scores.masks(native=True)):
        cats, stack = frame_objects(scores.setting, m)
        w, h = scores.frame_sizes[k]
        frames.append({
            "frame": k, "file_name": scores.frame_names[k] if k < len(scores.frame_names) else f"{scores.clip_id}/{k}",
            "width": int(w), "height": int(h),
            "objects": [{"category": int(c), "rle": encode_rle(obj)} for c, obj in zip(cats, stack)],
        })  # fmt: skip
    return frames


def _write_scores(out: Path, scores: ClipScores) -> str:
    rel = f"scores/{scores.clip_id}.npz"
    write_score_maps(safe_join(out, "scores", f"{scores.clip_id}.npz"), scores)
    return rel


def write_score_maps(path: str | os.PathLike[str], scores: ClipScores) -> None:
    """``scores/<clip>.npz`` as ``core.scores`` writes it (what ``evaluate`` reads).

    AVSS files hold the same arrays ``core.scores.write_semantic_scores`` writes (argmax labels
    and the winning probability x 255, rounded), from the labels and the torch softmax the
    scores already hold: that function's own softmax emulation takes seconds per clip.
    """
    from avs_studio.core.metrics.scores import write_binary_scores, write_score_file

    if scores.setting.is_binary:
        write_binary_scores(path, scores.logits)
        return
    conf = np.round(scores.confidence() * 255).astype(np.uint8)
    write_score_file(path, {"labels": scores.labels(), "confidence": conf}, "semantic-labels")


# ====================================================================== end of a run


def _markers_in_order(out: Path, disc: Discovery) -> list[dict]:
    """Markers of this input's clips in input order, then any others in the folder by name."""
    found = {}
    for p in sorted((out / STATE_DIR / "done").glob("*.json")):
        if is_temporary(p):
            continue
        m = _read_marker(out, p.stem)
        if m is not None:
            found[p.stem] = m
    ordered = [found.pop(t.clip_id) for t in disc.tasks if t.clip_id in found]
    return ordered + list(found.values())


def _finish(out: Path, disc: Discovery, fmt: str, report: ProposeReport) -> None:
    """Rebuild the folder-level files from the markers, then write the report."""
    markers = _markers_in_order(out, disc)
    if fmt == "png":
        _write_png_manifest(out, disc.setting, markers)
    elif fmt == "coco":
        _write_coco(out, disc.setting, markers)
    _write_report(out, report, disc)


def _write_png_manifest(out: Path, setting: Setting, markers: list[dict]) -> None:
    from avs_studio.core.export.png import FORMAT, MANIFEST

    entries = [e for m in markers if "png" in m.get("files", {}) for e in m.get("png", [])]
    manifest = {
        "format": FORMAT, "version": 1, "setting": setting.value,
        "encoding": "binary 0/255" if setting.is_binary else "class index 0..70",
        "frames": entries,
    }  # fmt: skip
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")


def _write_coco(out: Path, setting: Setting, markers: list[dict]) -> None:
    from avs_studio.core.export import FrameMask, MaskSet, write_coco

    ms = MaskSet(setting, info={"mask_resolution": "native"})
    for m in markers:
        if "coco" not in m.get("files", {}):
            continue
        for f in m.get("coco", []):
            ms.frames.append(FrameMask(
                clip_id=m["clip_id"], frame=int(f["frame"]), file_name=str(f["file_name"]),
                split=m.get("split", ""), category=m.get("category", ""), subset=m.get("subset", ""),
                loader=_coco_loader(f, setting),
            ))  # fmt: skip
    write_coco(out / COCO_FILE, ms)


def _coco_loader(frame: dict, setting: Setting) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from avs_studio.core.masks.files import decode_rle

        out = np.zeros((int(frame["height"]), int(frame["width"])), dtype=np.uint8)
        for obj in frame["objects"]:
            m = decode_rle(obj["rle"]).astype(bool)
            out[m] = 1 if setting.is_binary else int(obj["category"])
        return out

    return load


def _write_report(out: Path, report: ProposeReport, disc: Discovery) -> None:
    failed = {f.item: f for f in report.failures}
    rows = []
    done, skipped = set(report.done), set(report.skipped)
    for t in disc.tasks:
        if t.clip_id in failed:
            continue
        status = "done" if t.clip_id in done else "skipped (already done)" if t.clip_id in skipped else "not run"
        rows.append({"clip_id": t.clip_id, "status": status, "source": t.source, "reason": ""})
    for f in report.failures:
        rows.append({"clip_id": f.item, "status": "failed", "source": f.detail, "reason": f.error})
    data = {
        "setting": report.setting.value, "clips": report.total, "done": len(report.done),
        "skipped": len(report.skipped), "failed": len(report.failures), "cancelled": report.cancelled,
        "wall_s": round(report.wall_s, 3), "clips_per_s": round(report.clips_per_s, 4),
        "timings_s": {k: round(v, 4) for k, v in report.timings.items()},
        "prefetch": report.prefetch, "notes": report.notes,
        "failures": [{"clip_id": f.item, "source": f.detail, "reason": f.error} for f in report.failures],
    }  # fmt: skip
    atomic_write_text(out / REPORT_JSON, json.dumps(data, indent=1) + "\n")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["clip_id", "status", "source", "reason"], lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    with contextlib.suppress(OSError):
        atomic_write_text(out / REPORT_CSV, buf.getvalue())
