"""Score a prediction folder against a ground-truth dataset, as the official test does.

Clips are taken in metadata-CSV order (the official evaluation order, which the batch-wise
F-score depends on), one split at a time, streamed through the metric accumulators so that
a whole test split never has to fit in memory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from avs_studio.core.clip import Clip
from avs_studio.core.datasets import open_dataset
from avs_studio.core.errors import AVSError, FormatError
from avs_studio.core.jobs import CancelToken, Progress, no_progress
from avs_studio.core.metrics import BinaryMetricAccumulator, SemanticMetricAccumulator, clip_rows
from avs_studio.core.metrics.predictions import Predictions
from avs_studio.core.setting import Setting
from avs_studio.core.text import plural


@dataclass
class Evaluation:
    """The official figures, per-clip rows (worst first) and what the user should know."""

    setting: Setting
    split: str
    clips: int
    result: dict
    rows: list[dict]
    hard_masks: bool
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        """The figures as the CLI prints them."""
        r = self.result
        proto = r.get("protocol", "official")
        scope = "annotated frames only" if r.get("scope") == "annotated frames" else f"{proto} protocol"
        lines = [f"{self.setting.value.upper()} {self.split}: {plural(self.clips, 'clip')}, batch size "
                 f"{r.get('batch_size', '?')}, {scope}"]  # fmt: skip
        if proto != "official":
            classes = ", ".join(r.get("classes", [])) or "all classes"
            lines.append(f"  (CAVP-style pooled metrics over all pixels; classes: {classes}; not the official protocol)")
        if r.get("scope") == "annotated frames":
            lines.append(f"  (scored on the {r.get('num_frames', '?')} frames that have masks: some clips carry "
                         "masks for only some frames, e.g. S4 train; not the official test protocol)")  # fmt: skip
        lines.append(f"  mIoU      {r['miou']:.4f}")
        f_label = "F-score   " if not self.hard_masks else "F-score*  "
        lines.append(f"  {f_label}{r['fscore']:.4f}")
        if self.setting is Setting.AVSS and proto == "official":
            lines.append(f"  mIoU noBg {r['miou_nobg_official']:.4f}   (official: drops class 70 'woman', keeps background)")
            lines.append(f"  F noBg    {r['fscore_nobg_official']:.4f}")
            lines.append(f"  mIoU w/o background {r['miou_no_background']:.4f}   (classes 1..70; not official)")
            lines.append(f"  F w/o background    {r['fscore_no_background']:.4f}")
        if self.hard_masks and self.setting.is_binary:
            lines.append("  * F-score of hard masks: the official threshold sweep needs score maps "
                         "(propose --probs); mIoU is exact")  # fmt: skip
        return lines


def evaluate(
    pred: str | os.PathLike[str],
    gt: str | os.PathLike[str],
    setting: Setting | str,
    *,
    split: str | None = "test",
    batch_size: int = 4,
    protocol: str = "official",
    allow_missing: bool = False,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> Evaluation:
    """Evaluate predictions under ``pred`` against the dataset at ``gt``.

    ``split=None`` takes every clip. Clips without a prediction are an error unless
    ``allow_missing`` (then they are skipped and listed: skipping changes the batches).
    """
    setting = Setting.parse(setting)
    dataset = open_dataset(gt, setting)
    clips = dataset.clips(split)
    if not clips:
        raise AVSError(f"{gt}: no {split or ''} clips to evaluate".replace("  ", " "))
    ev = evaluate_clips(
        clips, Predictions(pred, setting), setting, split=split, batch_size=batch_size,
        protocol=protocol, allow_missing=allow_missing, progress=progress, cancel=cancel,
    )  # fmt: skip
    # Rows of the ground truth's metadata that were refused are clips left out of the figures.
    refused = [str(p) for p in dataset.skipped_rows]
    if refused:
        ev.skipped = [*refused, *ev.skipped]
        ev.notes.append(f"{len(refused)} row(s) of the ground truth's metadata were refused and left "
                        f"out: {'; '.join(refused)}")  # fmt: skip
    ev.notes.extend(dataset.notes())  # warnings, and colour masks off the palette (AVSS)
    return ev


def evaluate_clips(
    clips: Sequence[Clip],
    preds: Predictions,
    setting: Setting | str,
    *,
    split: str | None = None,
    batch_size: int = 4,
    protocol: str = "official",
    allow_missing: bool = False,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> Evaluation:
    """:func:`evaluate` over clips from any source (a dataset, a project), in the given order.

    The order is the evaluation order: the official batch-wise F-score depends on it.
    """
    setting = Setting.parse(setting)
    if not clips:
        raise AVSError(f"no {split or ''} clips to evaluate".replace("  ", " "))
    have = preds.clip_ids()
    missing = [c.clip_id for c in clips if c.clip_id not in have]
    if missing and not allow_missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise FormatError(
            f"no prediction for {len(missing)} of {len(clips)} clips ({', '.join(missing[:5])}{more}); "
            "pass --allow-missing to skip them"
        )
    todo = [c for c in clips if c.clip_id in have]
    # S4 train clips carry the first frame's mask only: such clips are scored on the frames
    # that have masks (every clip then counts its own frames), and the figures say so.
    partial = [c.clip_id for c in todo if len(c.annotated) < _needed(c, setting)]
    unscored = [c.clip_id for c in todo if setting.is_binary and not c.annotated]
    todo = [c for c in todo if c.clip_id not in unscored]
    if not todo:
        raise AVSError(f"none of the {len(clips)} clip(s) has a ground-truth mask to score")
    if setting.is_binary:
        kind = "masks" if preds.hard else None
        acc = None
    else:
        acc = SemanticMetricAccumulator(batch_size=batch_size, frames_per_clip=10, protocol=protocol)
    progress(0, len(todo), "")
    for i, clip in enumerate(todo, start=1):
        if cancel is not None:
            cancel.raise_if_cancelled()
        pkind, arr = preds.load(clip)
        gt_stack, _ = clip.gt_stack()
        if setting.is_binary:
            if partial:
                frames = list(clip.annotated)
                arr, gt_stack = arr[frames], gt_stack[frames]
            if acc is None:
                kind = kind or pkind
                acc = BinaryMetricAccumulator(batch_size=batch_size, frames_per_clip=None if partial else 5,
                                              kind=kind, protocol=protocol)  # fmt: skip
            elif pkind != kind and not preds.hard:
                raise FormatError(f"{clip.clip_id}: holds {pkind}, earlier clips held {kind}")
            acc.add_clip(arr, gt_stack, clip_id=clip.clip_id)
        else:
            acc.add_clip(arr, gt_stack, clip_id=clip.clip_id, kind="labels")
        progress(i, len(todo), clip.clip_id)
    result = acc.result()
    result.setdefault("batch_size", batch_size)
    categories = {c.clip_id: c.category for c in todo}
    rows = clip_rows(result) if result.get("protocol", "official") == "official" else []
    for row in rows:
        row["category"] = categories.get(row["clip_id"], "")
    if partial:
        result["scope"] = "annotated frames"
        result["per_clip_annotated"] = [list(c.annotated) for c in todo]
    ev = Evaluation(setting, split or "all", len(todo), result, rows, preds.hard, list(preds.notes), missing)
    if missing:
        ev.notes.append(f"{len(missing)} clip(s) without predictions were skipped; batches differ from the official run")
    if partial:
        shown = ", ".join(partial[:3]) + (f" and {len(partial) - 3} more" if len(partial) > 3 else "")
        ev.notes.append(f"{len(partial)} clip(s) have masks for only some frames ({shown}; S4 train clips carry the "
                        f"first frame's mask): every clip is scored on the frames that have masks "
                        f"({result['num_frames']} frames), not the official test protocol")  # fmt: skip
    if unscored:
        ev.skipped.extend(unscored)
        ev.notes.append(f"{len(unscored)} clip(s) without any ground-truth mask were not scored: "
                        + ", ".join(unscored[:3]))  # fmt: skip
    return ev


def _needed(clip, setting: Setting) -> int:
    """Masks a clip needs to be scored whole: all 5 for S4/MS3; AVSS pads missing ones with
    background, as the official loader does."""
    return clip.num_frames if setting.is_binary else 0


def write_rows_csv(path: str | os.PathLike[str], ev: Evaluation) -> None:
    """Per-clip scores, worst first, as CSV (atomic)."""
    import csv
    import io

    from avs_studio.core.fsutil import atomic_write_text

    buf = io.StringIO()
    cols = ["rank", "clip_id", "category", "miou", "fscore", "frames"]
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in ev.rows:
        w.writerow(row)
    atomic_write_text(path, buf.getvalue())
