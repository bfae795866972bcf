"""The inference engine: a clip (from a dataset or any video) becomes model inputs, the model
runs on whole clips, and the score maps come back at 224 and at each frame's own size.

Most stories use a tiny system (a convolution and a linear layer with the AVSSystem
interface) so that they run in a blink; the AVSS padding story uses an official variant
with random weights, because only the official model zeroes padded steps.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from avs_studio.core.audio.logmel import log_mel_from_wav
from avs_studio.core.datasets import open_dataset
from avs_studio.core.errors import AVSError, Cancelled, MediaError
from avs_studio.core.jobs import CancelToken
from avs_studio.core.masks.resize import resize_nearest
from avs_studio.core.media.video_clip import VideoClip
from avs_studio.core.media.wavio import write_wav
from avs_studio.core.metrics.f32 import float32_softmax, softmax_argmax
from avs_studio.core.setting import Setting
from avs_studio.model.engine import ClipScores, Engine
from avs_studio.model.inputs import prepare_clip
from avs_studio.model.prefetch import PrefetchStats, Prepared, iter_prepared
from avs_studio.model.system import AVSSystem, SystemInfo

# --------------------------------------------------------------------------- a tiny system


class TinyAudio(nn.Module):
    """Log-mel examples -> 128-d embeddings (one linear layer)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(96 * 64, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x.flatten(1)))


class TinyAVS(nn.Module):
    """Frames + audio -> logits; AVSS logits are multiplied by the frame flags like upstream."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, classes, 1)
        self.audio = nn.Linear(128, classes)

    def forward(self, frames, audio, flags=None):
        y = self.conv(frames) + self.audio(audio)[:, :, None, None]
        if flags is not None:
            y = y * flags.view(-1, 1, 1, 1)
        return y, [], []


def tiny_system(setting: str = "s4", seed: int = 0) -> AVSSystem:
    st = Setting.parse(setting)
    torch.manual_seed(seed)
    return AVSSystem(TinyAudio(), TinyAVS(st.num_classes), SystemInfo(st, "tiny", f"tiny-{st.value}")).eval()


def raw_videos(root: Path) -> list[Path]:
    """The demo dataset's source videos (real H.264 + AAC files)."""
    return sorted(root.rglob("raw_videos/**/*.mp4"))


# --------------------------------------------------------------------------- stories


def test_a_dataset_clip_gives_score_maps_at_224_and_at_the_frames_own_size(demo_root):
    ds = open_dataset(demo_root("avss", 4, 0))
    clip = next(c for c in ds.clips() if c.subset == "v2")
    engine = Engine(tiny_system("avss"), device="cpu")
    inputs = engine.prepare(clip)
    assert inputs.frames.shape == (10, 3, 224, 224) and inputs.log_mel.shape == (10, 96, 64)
    assert inputs.frame_sizes == [(160, 120)] * 10  # the AVSS frames are stored at 160x120
    assert inputs.frame_names[3] == f"v2/{clip.clip_id}/frames/3.jpg"
    scores = engine.run([inputs])[0]
    assert scores.logits.shape == (10, 71, 224, 224)
    assert scores.masks().shape == (10, 224, 224)
    native = scores.masks(native=True)
    assert len(native) == 10 and all(m.shape == (120, 160) for m in native)
    maps = scores.probability_maps()
    assert maps[0].shape == (71, 120, 160)
    np.testing.assert_allclose(maps[0].sum(axis=0), 1.0, atol=1e-5)  # still probabilities
    assert scores.probability_maps(native=False)[0].shape == (71, 224, 224)


def test_s4_frames_are_stored_at_224_so_native_and_model_sizes_agree(demo_root):
    clip = open_dataset(demo_root("s4", 6, 0)).clips()[0]
    scores = Engine(tiny_system("s4"), device="cpu").propose_clip(clip)
    assert scores.logits.shape == (5, 224, 224)
    native = scores.masks(native=True)
    assert [m.shape for m in native] == [(224, 224)] * 5
    np.testing.assert_array_equal(np.stack(native), scores.masks())
    assert set(np.unique(scores.masks())) <= {0, 1}


def test_a_plain_video_is_sampled_like_the_official_preprocessing(demo_root, tmp_path):
    video = raw_videos(demo_root("s4", 6, 0))[0]
    with VideoClip(video, "s4") as clip:
        assert clip.clip_id == video.stem and clip.num_frames == 5 and clip.annotated == ()
        assert clip.frame_times() == pytest.approx([0.92, 1.92, 2.92, 3.92, 4.92], abs=1e-6)
        assert clip.mask(0) is None
        # The log-mel is what the official code computes from the WAV its preprocessing writes.
        pcm, rate = clip.official_wav()
        assert pcm.dtype == np.int16 and rate == 16000 and pcm.shape[1] == 2
        wav = tmp_path / "clip.wav"
        write_wav(wav, pcm, rate)
        np.testing.assert_array_equal(clip.log_mel(), log_mel_from_wav(wav, layout="s4"))
        scores = Engine(tiny_system("s4"), device="cpu").propose_clip(clip)
    assert scores.masks().shape == (5, 224, 224)
    assert [m.shape for m in scores.masks(native=True)] == [(120, 160)] * 5
    assert [p.shape for p in scores.probability_maps()] == [(120, 160)] * 5
    assert scores.frame_names[0] == f"{video.name}@0.920s"


def test_a_video_clip_crosses_into_a_worker_process_without_its_decoder(demo_root):
    import pickle

    video = raw_videos(demo_root("s4", 6, 0))[0]
    clip = VideoClip(video, "s4")
    clip.frame(0)  # opens the decoder
    copy = pickle.loads(pickle.dumps(clip))
    np.testing.assert_array_equal(copy.frame(2), clip.frame(2))
    clip.close()
    copy.close()


def test_videos_that_cannot_give_a_clip_are_refused_with_their_name(tmp_path, demo_root):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(MediaError, match="broken.mp4"):
        VideoClip(broken, "s4")
    video = raw_videos(demo_root("s4", 6, 0))[0]  # 5 s long
    with pytest.raises(MediaError, match="needs 8 s"):
        VideoClip(video, "s4", start=3)
    with pytest.raises(MediaError, match="not 10 s"):
        VideoClip(video, "s4", seconds=10)


def test_an_avss_video_of_five_seconds_is_padded_to_ten_steps(demo_root):
    video = next(p for p in raw_videos(demo_root("avss", 4, 0)) if p.stem.count("_") == 1)  # v1m: 5 s
    with VideoClip(video, "avss") as clip:
        assert clip.seconds == 5 and clip.subset == "v1s"
        inputs = prepare_clip(clip)
    np.testing.assert_array_equal(inputs.flags, [1] * 5 + [0] * 5)
    assert not inputs.frames[5:].any() and not inputs.log_mel[5:].any()  # zero padding
    assert inputs.log_mel[:5].any()


def test_the_engine_gives_what_the_system_gives_whatever_the_batch(demo_root):
    clips = open_dataset(demo_root("avss", 4, 0)).clips()[:2]  # a 10-s clip and a padded 5-s one
    system = tiny_system("avss", seed=3)
    inputs = [prepare_clip(c) for c in clips]
    with torch.inference_mode():
        direct = [system(torch.from_numpy(i.frames), torch.from_numpy(i.log_mel),
                         torch.from_numpy(i.flags)).numpy() for i in inputs]  # fmt: skip
    one = Engine(system, device="cpu", batch_clips=1)
    batched = Engine(system, device="cpu", batch_clips=2).run(inputs)
    singles = [one.run([i])[0] for i in inputs]
    for d, a, b in zip(direct, singles, batched):
        assert np.abs(a.logits - d).max() <= 1e-5
        assert np.abs(b.logits - a.logits).max() <= 1e-5
    assert one.stats.clips == 2 and one.stats.batches == 2 and one.stats.frames == 20


def test_avss_padding_is_exact_with_the_official_model(demo_root):
    """A 5-s AVSS clip is padded to 10 steps; the official model gives padded steps
    all-zero logits (so class 0), and only the 5 real frames have native-size masks."""
    import avs_studio.model as avs_model

    torch.manual_seed(0)
    system = AVSSystem(avs_model.build_vggish(), avs_model.build("avss_resnet50"),
                       SystemInfo(Setting.AVSS, "official", "avss_resnet50"))  # fmt: skip
    clip = next(c for c in open_dataset(demo_root("avss", 4, 0)).clips() if c.subset == "v1s")
    scores = Engine(system, device="cpu").propose_clip(clip)
    np.testing.assert_array_equal(scores.flags, [1] * 5 + [0] * 5)
    assert scores.logits.shape == (10, 71, 224, 224)
    assert not scores.logits[5:].any()
    assert scores.logits[:5].any()
    assert not scores.labels()[5:].any()
    assert len(scores.masks(native=True)) == 5


def test_probabilities_and_labels_follow_the_official_float32_rules():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(10, 71, 24, 32)).astype(np.float32) * 3
    s = ClipScores("c", Setting.AVSS, logits, np.ones(10, np.float32), 10, [(320, 240)] * 10)
    np.testing.assert_array_equal(s.probabilities(), float32_softmax(logits, axis=1))
    np.testing.assert_array_equal(s.labels(), softmax_argmax(logits))
    np.testing.assert_array_equal(s.confidence(), float32_softmax(logits, axis=1).max(axis=1))
    binary = ClipScores("b", Setting.S4, logits[:5, 0], np.ones(5, np.float32), 5, [(32, 24)] * 5)
    np.testing.assert_array_equal(binary.masks(), (torch.sigmoid(torch.from_numpy(logits[:5, 0])) > 0.5).numpy())
    assert binary.masks(threshold=0.9).sum() < binary.masks(threshold=0.1).sum()
    with pytest.raises(ValueError, match="AVSS"):
        binary.labels()


def test_native_avss_masks_shrink_back_to_the_224_labels():
    """Labels are enlarged with the Pillow NEAREST rule the official loader shrinks masks
    with, so a native-size proposal read back at 224 is the model's answer again."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(10, 71, 224, 224)).astype(np.float32)
    s = ClipScores("c", Setting.AVSS, logits, np.ones(10, np.float32), 2, [(640, 360), (320, 240)])
    native = s.masks(native=True)
    assert [m.shape for m in native] == [(360, 640), (240, 320)]
    for k, m in enumerate(native):
        np.testing.assert_array_equal(resize_nearest(m, (224, 224)), s.labels()[k])


def test_folding_the_resnet_batchnorms_keeps_the_backbone_function():
    import copy
    from types import SimpleNamespace

    from avs_studio.model.backbones.resnet import B2ResNet
    from avs_studio.model.engine import fold_resnet_batchnorm

    torch.manual_seed(0)
    avs = SimpleNamespace(resnet=B2ResNet().eval())  # the backbone of the ResNet variants
    with torch.no_grad():
        for m in avs.resnet.modules():
            if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics, as in trained weights
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    folded = copy.deepcopy(avs)
    assert fold_resnet_batchnorm(folded) == 82  # every conv/BN pair, the unused branch too
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.resnet.modules())
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        for a, b in zip(avs.resnet(x), folded.resnet(x)):
            assert (a - b).abs().max() <= 1e-4 * max(1.0, float(a.abs().max()))
    assert fold_resnet_batchnorm(tiny_system().avs) == 0  # other models are left alone


def test_reduced_precision_and_missing_gpus_are_refused_on_the_cpu():
    with pytest.raises(AVSError, match="GPU"):
        Engine(tiny_system(), device="cpu", precision="fp16")
    with pytest.raises(AVSError, match="GPU"):
        Engine(tiny_system(), device="cpu", precision="bf16")
    with pytest.raises(AVSError, match="unknown precision"):
        Engine(tiny_system(), device="cpu", precision="fp8")
    if not torch.cuda.is_available():
        with pytest.raises(AVSError, match="no CUDA GPU"):
            Engine(tiny_system(), device="cuda")
    engine = Engine(tiny_system(), device="auto")
    assert engine.device.type in ("cpu", "cuda", "mps")


def test_a_clip_of_another_setting_is_refused(demo_root):
    inputs = prepare_clip(open_dataset(demo_root("s4", 6, 0)).clips()[0])
    with pytest.raises(AVSError, match="S4 clip"):
        Engine(tiny_system("avss"), device="cpu").run([inputs])


def test_scoring_many_clips_can_be_cancelled_between_batches(demo_root):
    clips = open_dataset(demo_root("s4", 6, 0)).clips()
    engine = Engine(tiny_system("s4"), device="cpu", batch_clips=2)
    token = CancelToken()
    got = []
    with pytest.raises(Cancelled):
        for s in engine.score_clips(clips, cancel=token):
            got.append(s.clip_id)
            token.cancel()  # asked during the first batch: that batch still finishes
    assert got == [c.clip_id for c in clips[:2]]


def test_the_gui_call_reports_progress_and_honours_cancel(demo_root):
    clip = open_dataset(demo_root("s4", 6, 0)).clips()[0]
    engine = Engine(tiny_system("s4"), device="cpu")
    seen = []
    engine.propose_clip(clip, progress=lambda d, t, m="": seen.append((d, t)))
    assert seen[0] == (0, 2) and seen[-1] == (2, 2)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        engine.propose_clip(clip, cancel=token)


def test_prepared_clips_in_memory_stay_bounded():
    """Producers never run more than ``max_ahead`` items ahead of a slow consumer."""
    lock = threading.Lock()
    live = {"now": 0, "max": 0}

    def prepare(item):
        with lock:
            live["now"] += 1
            live["max"] = max(live["max"], live["now"])
        return Prepared(item)

    stats = PrefetchStats()
    out = []
    for p in iter_prepared(range(20), workers=3, backend="thread", max_ahead=4, prepare=prepare, stats=stats):
        time.sleep(0.01)  # the consumer (the model) is the slow side
        out.append(p.item)
        with lock:
            live["now"] -= 1
    assert out == list(range(20))  # in order
    assert live["max"] <= 4 and stats.max_outstanding <= 4
    assert live["max"] >= 2  # and the producers did run ahead


def test_a_crashed_worker_fails_its_clip_and_the_others_go_on():
    """Item 2 kills its worker process (as a decoder crash would); the others are prepared
    by a fresh pool. (Items are stand-ins that the torch-free preparer can pickle.)"""
    import functools
    import os
    from types import SimpleNamespace

    def item(k: int) -> SimpleNamespace:
        crash = functools.partial(os._exit, 3) if k == 2 else functools.partial(int, "not a number")
        return SimpleNamespace(k=k, frames=crash)

    stats = PrefetchStats()
    results = list(iter_prepared([item(k) for k in range(5)], workers=1, max_ahead=4, stats=stats))
    assert [r.item.k for r in results] == [0, 1, 2, 3, 4]
    assert "worker process died" in results[2].error and stats.worker_restarts == 1
    assert all("ValueError" in results[k].error for k in (0, 1, 3, 4))  # ordinary failures


def test_a_failing_item_is_returned_not_raised(demo_root, tmp_path):
    broken = tmp_path / "x.mp4"
    broken.write_bytes(b"junk")
    good = VideoClip(raw_videos(demo_root("s4", 6, 0))[0], "s4")
    items = [good, "not a clip"]
    results = list(iter_prepared(items, workers=0))
    assert results[0].inputs is not None and results[0].error is None
    assert results[1].inputs is None and "AttributeError" in results[1].error


def test_worker_processes_do_not_import_torch():
    code = "import sys, avs_studio.model.propose.run, avs_studio.model.engine; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
