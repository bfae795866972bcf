"""The synthetic demo data: official layout, deterministic, and the sound decides the masks."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from avs_studio.core.audio.logmel import log_mel_from_wav
from avs_studio.core.datasets import open_dataset
from avs_studio.core.demo.dataset import build_scene, plan_clips, read_manifest, write_demo_dataset
from avs_studio.core.demo.scene import KIND_BY_NAME
from avs_studio.core.errors import Cancelled, DatasetError
from avs_studio.core.jobs import CancelToken
from avs_studio.core.masks.palette import class_index
from avs_studio.core.media.decode import probe


def _digest(root) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".png", ".csv", ".wav", ".json"):
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_s4_demo_is_an_official_layout_with_real_videos(demo_root):
    root = demo_root("s4", 6, 0)
    ds = open_dataset(root)
    assert ds.setting.value == "s4" and len(ds) == 6 and not ds.problems
    assert {c.split for c in ds} == {"train", "val", "test"}
    clip = ds.clips("test")[0]
    info = probe(clip.video_path)
    assert info.video.codec == "h264" and info.audio_streams[0].codec == "aac"
    assert abs(info.duration - 5.0) < 0.1
    assert clip.frame(0).shape == (224, 224, 3)
    assert clip.log_mel().shape == (5, 96, 64)
    manifest = read_manifest(root)
    assert len(manifest["clips"]) == 6
    # the CSV is grouped by category, as the official one
    cats = [c.category for c in ds]
    assert cats == sorted(cats, key=cats.index)


def test_only_sounding_objects_are_in_the_masks(demo_root):
    root = demo_root("s4", 6, 0)
    ds = open_dataset(root)
    manifest = {c["clip_id"]: c for c in read_manifest(root)["clips"]}
    checked = 0
    for clip in ds.clips():
        plan = manifest[clip.clip_id]
        main = next(i for i, s in enumerate(plan["sounding"]) if any(s))
        for k in clip.annotated:
            m = clip.mask(k)
            if not plan["sounding"][main][k]:
                assert m.sum() == 0, (clip.clip_id, k)
            else:
                checked += 1
                assert m.sum() > 50, (clip.clip_id, k)  # the sounding object is visible
    assert checked >= 5


def test_the_sound_tells_which_object_is_sounding(demo_root):
    """Louder log-mel energy in the seconds the main object sounds: the audio decides."""
    root = demo_root("s4", 6, 0)
    ds = open_dataset(root)
    manifest = {c["clip_id"]: c for c in read_manifest(root)["clips"]}
    for clip in ds.clips():
        plan = manifest[clip.clip_id]
        main = next(i for i, s in enumerate(plan["sounding"]) if any(s))
        on = np.array(plan["sounding"][main])
        if on.all():
            continue
        energy = np.exp(log_mel_from_wav(ds.wav_path(clip), layout="s4")).mean(axis=(1, 2))
        assert energy[on].min() > 3 * energy[~on].max()


def test_same_scene_with_other_sounds_gives_other_masks():
    plan = plan_clips("ms3", 2, seed=3)[0]
    swapped = type(plan)(**{**plan.__dict__, "sounding": [list(~np.array(s)) for s in plan.sounding]})
    a, b = build_scene(plan, 3), build_scene(swapped, 3)
    assert np.array_equal(a.render(2.5), b.render(2.5))  # the same pictures...
    ma, mb = a.binary_mask(2.92, (224, 224)), b.binary_mask(2.92, (224, 224))
    assert not np.array_equal(ma, mb)  # ...but other masks, because other objects sound
    assert not np.allclose(a.audio(16000), b.audio(16000))


def test_demo_is_deterministic_per_seed(tmp_path):
    a = write_demo_dataset(tmp_path / "a", "ms3", 3, seed=7, size=(96, 72))
    b = write_demo_dataset(tmp_path / "b", "ms3", 3, seed=7, size=(96, 72))
    c = write_demo_dataset(tmp_path / "c", "ms3", 3, seed=8, size=(96, 72))
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_avss_demo_has_palette_masks_of_the_sounding_classes(demo_root):
    root = demo_root("avss", 4, 0)
    ds = open_dataset(root)
    assert not ds.problems
    manifest = {c["clip_id"]: c for c in read_manifest(root)["clips"]}
    subsets = {c.subset for c in ds}
    assert subsets == {"v1s", "v1m", "v2"}
    for clip in ds:
        plan = manifest[clip.clip_id]
        assert clip.num_frames == (10 if clip.subset == "v2" else 5)
        allowed = {0} | {class_index(KIND_BY_NAME[k].avss_class) for k in plan["kinds"]}
        for k in clip.annotated:
            m = clip.mask(k, size=None)
            assert m.shape == (120, 160)  # native size; the loader resizes to 224
            assert set(np.unique(m)) <= allowed
        x, flags = clip.model_frames()
        assert flags.sum() == clip.num_frames


def test_demo_refuses_to_overwrite_and_can_be_cancelled(tmp_path):
    write_demo_dataset(tmp_path, "s4", 1, seed=0, size=(64, 48))
    with pytest.raises(DatasetError, match="already exists"):
        write_demo_dataset(tmp_path, "s4", 1, seed=0)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        write_demo_dataset(tmp_path, "ms3", 3, seed=0, cancel=token)
    assert not (tmp_path / "Multi-sources").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["Single-source"]
    json.loads((tmp_path / "Single-source" / "demo_manifest.json").read_text())


def test_dataset_frames_are_what_the_official_preprocessing_takes_from_the_video(demo_root):
    import cv2

    from avs_studio.core.audio.logmel import read_wav
    from avs_studio.core.media.decode import open_media

    ds = open_dataset(demo_root("s4", 6, 0))
    clip = ds.clips("test")[0]
    with open_media(clip.video_path) as media:
        decoded, times = media.sampled_frames(seconds=5)
        wav, rate = media.official_wav()
    assert [round(t, 3) for t in times] == [0.92, 1.92, 2.92, 3.92, 4.92]
    for k, frame in enumerate(decoded):
        small = cv2.resize(frame, (224, 224), interpolation=cv2.INTER_LINEAR).astype(float)
        assert np.abs(small - clip.frame(k)).mean() < 4.0  # only H.264 compression differs
    stored, stored_rate = read_wav(ds.wav_path(clip))
    assert stored_rate == rate == 16000 and stored.shape == wav.shape
    # AAC is lossy, but the two soundtracks are the same sound
    a, b = stored.mean(axis=1), wav.mean(axis=1) / 32768.0
    assert np.corrcoef(a, b)[0, 1] > 0.95


def test_avss_demo_rows_follow_the_official_metadata_rules(demo_root):
    """formats.md 2.2: v1m rows have uid == vid and s_min = s_sec = 0; v1s/v2 uids carry the
    start, and s_min * 60 + s_sec is that start; the checker finds nothing to say."""
    import csv

    from avs_studio.core.datasets.check import check_dataset

    root = demo_root("avss", 8, 0)
    rows = list(csv.DictReader((root / "metadata.csv").read_text().splitlines()))
    assert {r["label"] for r in rows} >= {"v1s", "v1m", "v2"}
    for r in rows:
        start = int(r["s_min"]) * 60 + int(r["s_sec"])
        if r["label"] == "v1m":
            assert r["uid"] == r["vid"] and (r["s_min"], r["s_sec"]) == ("0", "0"), r
        else:
            assert r["uid"] == f"{r['vid']}_{start * 1000}_{(start + (5 if r['label'] == 'v1s' else 10)) * 1000}", r
    assert check_dataset(root).ok, [str(f) for f in check_dataset(root).findings][:5]


def test_the_checker_takes_s_sec_60_as_the_official_file_has_it(demo_root, tmp_path):
    import shutil

    from avs_studio.core.datasets.check import check_dataset

    root = shutil.copytree(demo_root("avss", 8, 0), tmp_path / "avss")
    lines = (root / "metadata.csv").read_text().split("\n")
    fields = lines[1].split(",")
    fields[3] = "60"  # puugfzdXYz4_120000_130000 has s_min 1, s_sec 60 (formats.md 2.2)
    (root / "metadata.csv").write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]))
    assert not [f for f in check_dataset(root).findings if "s_sec" in str(f)]
    fields[3] = "61"
    (root / "metadata.csv").write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]))
    assert [f for f in check_dataset(root).findings if "s_sec" in str(f)]
