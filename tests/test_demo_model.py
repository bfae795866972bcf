"""The shipped demo models: they load with no configuration, segment unseen demo clips well,
and follow the sound (same pictures, other sounds -> other objects)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from avs_studio.core.audio.logmel import log_mel_examples
from avs_studio.core.clip import MODEL_SIZE, Clip
from avs_studio.core.demo.dataset import (
    AUDIO_RATE,
    build_scene,
    official_wav_of,
    plan_clips,
    sampled_times,
)
from avs_studio.core.masks.palette import class_index
from avs_studio.core.setting import Setting
from avs_studio.model.demo_model import ARCH
from avs_studio.model.model_files import demo_model_path, load_system
from avs_studio.model.train.data import ClipCache, clip_arrays, make_batch
from avs_studio.model.train.loop import evaluate_system

# Seeds never used to train the shipped models (those used 101-103; the model card's
# held-out sets used 9001).
UNSEEN_SEED = 8123


class SceneClip(Clip):
    """A demo clip rendered in memory: the generator's pictures, sound and masks at the times
    the official preprocessing samples, without writing the dataset files."""

    def __init__(self, setting: Setting, plan, seed: int) -> None:
        super().__init__(clip_id=plan.clip_id, setting=setting, split="test", subset=plan.subset,
                         num_frames=plan.seconds, annotated=tuple(range(plan.seconds)))
        self.plan = plan
        self.scene = build_scene(plan, seed)
        self.times = sampled_times(plan.seconds)

    def frame(self, k: int) -> np.ndarray:
        rgb = self.scene.render(self.times[k])
        if self.setting is Setting.AVSS:
            return rgb  # stored at native size; model_frame resizes as the AVSS loader
        return cv2.resize(rgb, MODEL_SIZE, interpolation=cv2.INTER_LINEAR)  # as demo-data

    def mask(self, k: int, *, size=MODEL_SIZE) -> np.ndarray:
        if self.setting is Setting.AVSS:
            classes = {kind.avss_class: class_index(kind.avss_class)
                       for kind in (o.kind for o in self.scene.objects)}
            return self.scene.label_mask(self.times[k], MODEL_SIZE, classes)
        return self.scene.binary_mask(self.times[k], MODEL_SIZE)

    def audio(self):
        wav, rate = official_wav_of(self.scene.audio(AUDIO_RATE), self.num_frames)
        return wav.astype(np.float32) / 32768.0, rate

    def log_mel(self) -> np.ndarray:
        samples, rate = self.audio()
        return log_mel_examples(samples, rate, layout=self.setting.value)


def _clips(setting: Setting, n: int, seed: int = UNSEEN_SEED) -> list[SceneClip]:
    return [SceneClip(setting, p, seed) for p in plan_clips(setting, n, seed)]


@pytest.fixture(scope="module")
def systems():
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return {s: load_system(None, setting=s) for s in Setting}


def test_each_setting_ships_a_small_float32_demo_model(systems):
    for setting, system in systems.items():
        path = demo_model_path(setting)
        assert path.stat().st_size < 4 << 20  # a few MB
        assert system.info.arch == ARCH and system.setting is setting and not system.training
        assert all(p.dtype == torch.float32 for p in system.parameters())
        card = system.info.extra["card"]
        assert card["heldout"]["miou"] > 0 and card["parameters"] < 2_000_000


def test_s4_demo_model_segments_unseen_clips(systems):
    # Measured on the model card's 40 held-out clips: see models/README.md.  Ten clips vary
    # more than forty, so the bound sits a little below the target of 0.75.
    result = evaluate_system(systems[Setting.S4], _clips(Setting.S4, 10))
    assert result["miou"] >= 0.70, result["miou"]


def test_ms3_demo_model_segments_unseen_clips(systems):
    # Target 0.5 on the held-out set; bound a little below for ten clips.
    result = evaluate_system(systems[Setting.MS3], _clips(Setting.MS3, 10))
    assert result["miou"] >= 0.45, result["miou"]


def test_avss_demo_model_finds_the_sounding_classes(systems):
    # The official AVSS mIoU averages over all 71 classes (those never seen count 0), so on
    # the demo's six classes and background it cannot exceed 7/71; judge the classes that
    # occur.  An untrained model gets about 0.02 on them.
    result = evaluate_system(systems[Setting.AVSS], _clips(Setting.AVSS, 4), batch_clips=1)["result"]
    seen = [iou for iou, n in zip(result["per_class_iou"], result["per_class_count"]) if n]
    assert len(seen) >= 3 and result["miou"] <= len(seen) / 71 + 1e-6
    assert float(np.mean(seen)) >= 0.5, seen


def _iou(pred: np.ndarray, gt: np.ndarray) -> float:
    union = np.logical_or(pred, gt).sum()
    return float(np.logical_and(pred, gt).sum() / union) if union else 1.0


def _predict(system, frames_clip: SceneClip, audio_clip: SceneClip) -> np.ndarray:
    # Not through a ClipCache: both clips have the same id, and a cache would hand back the
    # first clip's sound for the second.
    pictures = clip_arrays(frames_clip)
    sound = clip_arrays(audio_clip)
    batch = make_batch([pictures], Setting.MS3)
    log_mel = torch.from_numpy(sound.log_mel).unsqueeze(1)
    with torch.inference_mode():
        logits = system(batch.frames, log_mel)
    return logits[:, 0].numpy() > 0


def test_the_proposal_follows_the_sound(systems):
    """Same pictures, other sounds: the mask moves to the objects that now sound."""
    system = systems[Setting.MS3]
    plans = [p for p in plan_clips(Setting.MS3, 12, UNSEEN_SEED + 1)
             if all(0 < sum(s) < len(s) for s in p.sounding)][:3]
    assert plans
    for plan in plans:
        swapped = type(plan)(**{**plan.__dict__,
                                "sounding": [[not on for on in s] for s in plan.sounding]})
        own, other = SceneClip(Setting.MS3, plan, UNSEEN_SEED), SceneClip(Setting.MS3, swapped, UNSEEN_SEED)
        assert np.array_equal(own.frame(2), other.frame(2))  # the same pictures
        gt_own = np.stack([own.mask(k) for k in range(5)]) > 0
        gt_other = np.stack([other.mask(k) for k in range(5)]) > 0
        with_own_sound = _predict(system, own, own)
        with_other_sound = _predict(system, own, other)
        assert _iou(with_own_sound, gt_own) > 0.5
        assert _iou(with_other_sound, gt_other) > 0.5
        assert _iou(with_other_sound, gt_own) < 0.2


def test_outputs_do_not_depend_on_the_batch(systems):
    """The engine runs whole clips in batches of any size: results must not depend on it."""
    for setting in (Setting.S4, Setting.AVSS):
        system = systems[setting]
        clips = _clips(setting, 2, UNSEEN_SEED + 2)
        items = [ClipCache().get(c) for c in clips]
        both = make_batch(items, setting)
        flags = both.vid_flags if setting is Setting.AVSS else None
        t = setting.frames_per_clip
        with torch.inference_mode():
            together = system(both.frames, both.log_mel, flags)
            alone = system(both.frames[t:], both.log_mel[t:], None if flags is None else flags[t:])
        assert torch.allclose(together[t:], alone, atol=1e-4)
        if setting is Setting.AVSS and flags.min() == 0:
            assert together[flags == 0].abs().max() == 0  # padded steps: all-zero logits
