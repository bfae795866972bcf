"""The built-in demo: synthetic AVSBench datasets in the exact official layout.

``write_demo_dataset(out, setting, clips, seed)`` renders each clip (see
:mod:`avs_studio.core.demo.scene`), encodes a real H.264 + AAC ``.mp4``, and writes what the
official preprocessing makes of it: the sampled frames (resized to 224 with OpenCV for
S4/MS3), the 16 kHz WAV (the moviepy path), ground-truth masks of the sounding objects at
the sampled times, and the metadata CSVs.

The sampled frames and the WAV are taken from the rendered pictures and the synthesised
soundtrack at exactly the times and by exactly the rules the official preprocessing applies
to the video, rather than decoded back from the ``.mp4``: x264 was seen to produce slightly
different bytes now and then from identical input, and the dataset must be identical for
a given seed. A ``demo_manifest.json`` beside the
data records every clip's objects and which seconds each one sounds in.
"""

from __future__ import annotations

import json
import shutil
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avs_studio.core.datasets.avss import AVSSWriter
from avs_studio.core.datasets.common import LogMelWriter
from avs_studio.core.datasets.ms3 import MS3Writer
from avs_studio.core.datasets.s4 import S4Writer
from avs_studio.core.errors import DatasetError
from avs_studio.core.fsutil import atomic_dir, atomic_write_text
from avs_studio.core.jobs import CancelToken, Progress, no_progress
from avs_studio.core.masks.palette import class_index
from avs_studio.core.setting import Setting

SUBFOLDER = {Setting.S4: "Single-source", Setting.MS3: "Multi-sources", Setting.AVSS: "AVSS"}
MANIFEST = "demo_manifest.json"
VIDEO_SIZE = (320, 240)
FPS = 25.0
AUDIO_RATE = 44100
_ID_CHARS = string.ascii_letters + string.digits + "-_"


@dataclass
class DemoClipPlan:
    """What one synthetic clip will be: id, split, subset, kinds, sounding seconds."""

    clip_id: str
    split: str
    subset: str
    seconds: int
    kinds: list[str]
    sounding: list[list[bool]]
    start: int = 0
    vid: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain dict for the manifest."""
        return dict(self.__dict__)


def _youtube_like_id(rng: np.random.Generator) -> str:
    return "".join(_ID_CHARS[i] for i in rng.integers(0, len(_ID_CHARS), 11))


def _splits(n: int, rng: np.random.Generator) -> list[str]:
    n_test = max(1, round(0.2 * n)) if n >= 2 else 0
    n_val = max(1, round(0.1 * n)) if n >= 5 else 0
    labels = ["test"] * n_test + ["val"] * n_val + ["train"] * (n - n_test - n_val)
    return [labels[i] for i in rng.permutation(n)]


def _pattern(rng: np.random.Generator, seconds: int, p: float, at_least: int) -> list[bool]:
    on = rng.random(seconds) < p
    while on.sum() < at_least:
        on[rng.integers(0, seconds)] = True
    return on.tolist()


def plan_clips(setting: Setting | str, n: int, seed: int) -> list[DemoClipPlan]:
    """Decide every clip of a demo dataset (deterministic in ``seed``)."""
    from avs_studio.core.demo.scene import KINDS

    setting = Setting.parse(setting)
    if n < 1:
        raise DatasetError("a demo dataset needs at least one clip")
    rng = np.random.default_rng([seed, list(Setting).index(setting)])
    names = [k.name for k in KINDS]
    splits = _splits(n, rng)
    plans: list[DemoClipPlan] = []
    for i in range(n):
        if setting is Setting.AVSS:
            subset = ("v2", "v1s", "v2", "v1m")[i % 4]
        else:
            subset = {Setting.S4: "v1s", Setting.MS3: "v1m"}[setting]
        seconds = 10 if subset == "v2" else 5
        if subset == "v1s":
            main = names[i % len(names)]
            others = [k for k in names if k != main]
            extra = list(rng.choice(others, size=int(rng.integers(1, 3)), replace=False))
            kinds = [main, *extra]
            sounding = [_pattern(rng, seconds, 0.75, 3)] + [[False] * seconds for _ in extra]
        else:
            count = int(rng.integers(2, 4 if subset == "v1m" else 5))
            kinds = list(rng.choice(names, size=count, replace=False))
            sounding = [_pattern(rng, seconds, 0.55, 1) for _ in kinds]
        order = rng.permutation(len(kinds))  # z-order: the sounding object is not always on top
        kinds = [str(kinds[j]) for j in order]
        sounding = [sounding[j] for j in order]
        vid = _youtube_like_id(rng)
        start = int(rng.integers(0, 6)) if subset == "v1s" else int(rng.integers(0, 60))
        if subset == "v1m":
            clip_id = f"{vid}_{int(rng.integers(1, 40))}"
            vid = clip_id
            start = 0  # formats.md: v1m rows have s_min = s_sec = 0 (drawn above all the same: same stream)
        elif setting is Setting.AVSS:
            clip_id = f"{vid}_{start * 1000}_{(start + seconds) * 1000}"
        else:
            clip_id = vid
        plans.append(DemoClipPlan(clip_id, splits[i], subset, seconds, kinds, sounding, start, vid))
    if setting is Setting.S4:  # the official CSV is grouped by category
        plans.sort(key=lambda p: names.index(p.kinds[_main_index(p)]))
    return plans


def _main_index(plan: DemoClipPlan) -> int:
    """The object that sounds in an S4 clip (the clip's category)."""
    return next((i for i, s in enumerate(plan.sounding) if any(s)), 0)


def build_scene(plan: DemoClipPlan, seed: int, size: tuple[int, int] = VIDEO_SIZE):
    """The :class:`~avs_studio.core.demo.scene.Scene` of a planned clip."""
    from avs_studio.core.demo.scene import KIND_BY_NAME, make_scene

    rng = np.random.default_rng([seed, _stable_hash(plan.clip_id)])
    return make_scene(
        rng,
        seconds=plan.seconds,
        kinds=[KIND_BY_NAME[k] for k in plan.kinds],
        sounding=[np.array(s) for s in plan.sounding],
        fps=FPS,
        size=size,
    )


def _stable_hash(text: str) -> int:
    h = 2166136261
    for ch in text.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


def render_clip_video(scene, path: Path, soundtrack: np.ndarray | None = None) -> None:
    """Encode the scene as H.264 + AAC ``.mp4`` (real video file, as a camera would give)."""
    from avs_studio.core.media.writer import write_video

    n = int(round(scene.seconds * scene.fps))
    frames = (scene.render(i / scene.fps) for i in range(n))
    audio = scene.audio(AUDIO_RATE) if soundtrack is None else soundtrack
    write_video(path, frames, scene.fps, audio=audio, sample_rate=AUDIO_RATE)


def sampled_times(seconds: int, fps: float = FPS) -> list[float]:
    """Times of the frames the official preprocessing samples from a constant-rate clip."""
    from avs_studio.core.media.official import official_output_indices

    n_frames = int(round(seconds * fps))
    return [i / fps for i in official_output_indices(int(round(fps)), seconds, n_frames)]


def official_wav_of(soundtrack: np.ndarray, seconds: int) -> tuple[np.ndarray, int]:
    """The 16 kHz int16 WAV the official (moviepy) path makes from 44.1 kHz stereo audio.

    The samples are quantised to int16 as FFmpeg's resampler does (round, clip), then
    picked as moviepy picks them.
    """
    from avs_studio.core.media.official import OFFICIAL_WAV_RATE, moviepy_pick, moviepy_sample_count

    s16 = np.clip(np.rint(soundtrack.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    return moviepy_pick(s16, moviepy_sample_count(float(seconds))), OFFICIAL_WAV_RATE


def write_demo_dataset(
    out: str | Path,
    setting: Setting | str = Setting.S4,
    clips: int = 12,
    seed: int = 0,
    *,
    size: tuple[int, int] = VIDEO_SIZE,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    log_mel_writer: LogMelWriter | None = None,
) -> Path:
    """Write a synthetic dataset of ``setting`` under ``out``; return its root.

    The data go to ``out/Single-source``, ``out/Multi-sources`` or ``out/AVSS`` (so the
    three settings can share ``out``, like the official ``avsbench_data``). The folder
    appears only when complete: an interrupted run leaves nothing behind.
    """
    import cv2


    setting = Setting.parse(setting)
    dest = Path(out) / SUBFOLDER[setting]
    if dest.exists():
        raise DatasetError(f"{dest} already exists; choose another folder or remove it")
    plans = plan_clips(setting, clips, seed)
    with atomic_dir(dest) as root:
        writer = {Setting.S4: S4Writer, Setting.MS3: MS3Writer, Setting.AVSS: AVSSWriter}[setting](root)
        scratch = root / ".demo-scratch"
        scratch.mkdir()
        progress(0, len(plans), "")
        for i, plan in enumerate(plans):
            if cancel is not None:
                cancel.raise_if_cancelled()
            scene = build_scene(plan, seed, size)
            video = scratch / f"{plan.clip_id}.mp4"
            soundtrack = scene.audio(AUDIO_RATE)
            render_clip_video(scene, video, soundtrack)
            times = sampled_times(plan.seconds)
            frames = [scene.render(t) for t in times]
            wav = official_wav_of(soundtrack, plan.seconds)
            if setting is Setting.AVSS:
                cls = {k: class_index(k) for k in _avss_classes(plan)}
                masks = {k: scene.label_mask(t, size, cls) for k, t in enumerate(times)}
                a_obj = "_".join(dict.fromkeys(_avss_sounding_classes(plan)))
                writer.add_clip(
                    plan.clip_id, vid=plan.vid, subset=plan.subset, split=plan.split,
                    start=plan.start, a_obj=a_obj, frames=frames, masks=masks, wav=wav, video=video,
                )  # fmt: skip
            else:
                small = [cv2.resize(f, (224, 224), interpolation=cv2.INTER_LINEAR) for f in frames]
                masks = {k: scene.binary_mask(t, (224, 224)) for k, t in enumerate(times)}
                if setting is Setting.S4:
                    from avs_studio.core.demo.scene import KIND_BY_NAME

                    category = KIND_BY_NAME[plan.kinds[_main_index(plan)]].s4_category
                    writer.add_clip(
                        plan.clip_id, category=category, split=plan.split, start=plan.start,
                        frames=small, masks=masks, wav=wav, video=video, log_mel_writer=log_mel_writer,
                    )  # fmt: skip
                else:
                    writer.add_clip(
                        plan.clip_id, split=plan.split, frames=small, masks=masks, wav=wav,
                        video=video, log_mel_writer=log_mel_writer,
                    )  # fmt: skip
            video.unlink()
            progress(i + 1, len(plans), plan.clip_id)
        shutil.rmtree(scratch)
        writer.finish()
        manifest = {
            "generator": "avs_studio.core.demo.dataset",
            "setting": setting.value,
            "seed": seed,
            "size": list(size),
            "fps": FPS,
            "clips": [p.to_json() for p in plans],
        }
        atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return dest


def _avss_classes(plan: DemoClipPlan) -> list[str]:
    from avs_studio.core.demo.scene import KIND_BY_NAME

    return [KIND_BY_NAME[k].avss_class for k in plan.kinds]


def _avss_sounding_classes(plan: DemoClipPlan) -> list[str]:
    from avs_studio.core.demo.scene import KIND_BY_NAME

    return [KIND_BY_NAME[k].avss_class for k, s in zip(plan.kinds, plan.sounding) if any(s)]


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of a demo dataset (what sounds when), or a DatasetError."""
    path = Path(root) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{root}: not a demo dataset (no {MANIFEST})") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: malformed ({exc})") from None
