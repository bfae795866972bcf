"""Reading and writing the official S4, MS3 and AVSS layouts, including broken ones."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from avs_studio.core.datasets import (
    AVSSDataset,
    AVSSWriter,
    MS3Dataset,
    MS3Writer,
    S4Dataset,
    S4Writer,
    detect_setting,
    open_dataset,
)
from avs_studio.core.errors import DatasetError, UnsafePathError
from avs_studio.core.setting import Setting

RNG = np.random.default_rng(5)


def _frames(n, size=(224, 224)):
    return [RNG.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8) for _ in range(n)]


def _masks(n, size=(224, 224)):
    return {k: (RNG.random((size[1], size[0])) > 0.7).astype(np.uint8) for k in range(n)}


def _wav(seconds=5.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    x = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    return np.stack([x, x], axis=1), rate


def test_s4_layout_round_trip_with_official_names(tmp_path):
    w = S4Writer(tmp_path / "Single-source")
    frames, masks = _frames(5), _masks(5)
    w.add_clip("0d9u2CymIxc", category="helicopter", split="test", start=2, frames=frames, masks=masks,
               wav=_wav())  # fmt: skip
    w.add_clip("trainclip01", category="helicopter", split="train", frames=_frames(5), masks=_masks(5))
    root = w.finish()
    assert (root / "s4_meta_data.csv").read_text() == (
        "name,start,category,split\n0d9u2CymIxc,2,helicopter,test\ntrainclip01,0,helicopter,train\n"
    )
    base = root / "s4_data"
    assert (base / "visual_frames/test/helicopter/0d9u2CymIxc/0d9u2CymIxc_1.png").is_file()
    assert (base / "gt_masks/test/helicopter/0d9u2CymIxc/0d9u2CymIxc_5.png").is_file()
    assert (base / "audio_wav/test/helicopter/0d9u2CymIxc.wav").is_file()
    # S4 train has only the first frame annotated
    assert sorted(p.name for p in (base / "gt_masks/train/helicopter/trainclip01").iterdir()) == [
        "trainclip01_1.png"
    ]

    ds = open_dataset(tmp_path)  # finds Single-source/ below
    assert isinstance(ds, S4Dataset) and not ds.problems
    clip = ds.clips("test")[0]
    assert (clip.clip_id, clip.category, clip.start, clip.annotated) == (
        "0d9u2CymIxc", "helicopter", 2.0, (0, 1, 2, 3, 4)
    )
    assert all(np.array_equal(clip.frame(k), frames[k]) for k in range(5))
    assert all(np.array_equal(clip.mask(k), masks[k]) for k in range(5))
    assert ds.get("trainclip01").annotated == (0,)
    audio, rate = clip.audio()
    assert rate == 16000 and audio.shape == (80000, 2)
    assert clip.log_mel().shape == (5, 96, 64)
    x, flags = clip.model_frames()
    assert x.shape == (5, 3, 224, 224) and flags.tolist() == [1] * 5
    gt, has = clip.gt_stack()
    assert gt.shape == (5, 224, 224) and has.all()


def test_ms3_frames_keep_the_literal_mp4_and_have_no_split_level(tmp_path):
    w = MS3Writer(tmp_path / "Multi-sources")
    masks = _masks(5)
    w.add_clip("xv7eM6-UmkY_36", split="val", frames=_frames(5), masks=masks, wav=_wav())
    root = w.finish()
    assert (root / "ms3_data/visual_frames/xv7eM6-UmkY_36/xv7eM6-UmkY_36.mp4_3.png").is_file()
    assert (root / "ms3_data/gt_masks/val/xv7eM6-UmkY_36/xv7eM6-UmkY_36_3.png").is_file()
    ds = open_dataset(root)
    assert isinstance(ds, MS3Dataset)
    clip = ds.get("xv7eM6-UmkY_36")
    assert clip.split == "val" and np.array_equal(clip.mask(2), masks[2])


def test_avss_layout_round_trip_with_padding_and_flags(tmp_path):
    w = AVSSWriter(tmp_path / "AVSS")
    labels = {k: RNG.integers(0, 71, size=(240, 360)).astype(np.uint8) for k in range(10)}
    w.add_clip("_-apT0tfo6U_16000_26000", vid="_-apT0tfo6U", subset="v2", split="test", start=16,
               a_obj="girl_guitar", frames=_frames(10, (360, 240)), masks=labels, wav=_wav(10))  # fmt: skip
    w.add_clip("__GOGlHL23s_4000_9000", vid="__GOGlHL23s", subset="v1s", split="train", start=4,
               frames=_frames(5, (360, 240)), masks={k: labels[k] for k in range(5)}, wav=_wav())  # fmt: skip
    root = w.finish()
    meta = (root / "metadata.csv").read_text()
    assert meta.splitlines()[0] == "vid,uid,s_min,s_sec,a_obj,split,label"
    assert not meta.endswith("\n")
    assert list(json.loads((root / "label2idx.json").read_text()).values()) == list(range(1, 72))
    ds = open_dataset(tmp_path, "avss")
    assert isinstance(ds, AVSSDataset) and not ds.problems
    v2 = ds.get("_-apT0tfo6U_16000_26000")
    assert (v2.num_frames, v2.annotated, v2.start) == (10, tuple(range(10)), 16.0)
    assert np.array_equal(v2.mask(3, size=None), labels[3])
    assert v2.mask(3).shape == (224, 224)
    v1 = ds.get("__GOGlHL23s_4000_9000")
    assert v1.annotated == (0,)  # v1s train: only 0.png, like the release
    x, flags = v1.model_frames()
    assert x.shape == (10, 3, 224, 224) and flags.tolist() == [1] * 5 + [0] * 5
    assert np.count_nonzero(x[5:]) == 0  # padding is zero after normalisation
    gt, has = v1.gt_stack()
    assert gt.shape == (10, 224, 224) and has.tolist() == [True] + [False] * 9
    assert v1.log_mel().shape == (10, 96, 64)
    _, flags_v2 = v2.model_frames()
    assert flags_v2.tolist() == [1] * 10


def _s4_with_csv(tmp_path, text):
    root = tmp_path / "Single-source"
    root.mkdir(parents=True, exist_ok=True)
    (root / "s4_meta_data.csv").write_text(text)
    return root


def test_a_csv_with_missing_columns_is_a_clear_error(tmp_path):
    root = _s4_with_csv(tmp_path, "name,category,split\nabc,helicopter,test\n")
    with pytest.raises(DatasetError, match="missing column.*start"):
        S4Dataset(root)
    with pytest.raises(DatasetError, match="empty file"):
        S4Dataset(_s4_with_csv(tmp_path / "e", ""))


def test_bad_rows_are_reported_and_the_rest_loads(tmp_path):
    text = (
        "name,start,category,split\n"
        "good1,0,helicopter,test\n"
        "short,0,helicopter\n"
        "../../etc,0,helicopter,test\n"
        "badstart,x,helicopter,test\n"
        "badsplit,0,helicopter,holdout\n"
        "good1,0,helicopter,test\n"
        "good2,1,dog_barking,val\n"
    )
    ds = S4Dataset(_s4_with_csv(tmp_path, text))
    assert [c.clip_id for c in ds] == ["good1", "good2"]
    messages = " | ".join(str(p) for p in ds.problems)
    for expected in ("3 fields", "not a plain file or folder name", "not an integer", "unknown split",
                     "duplicate", "missing ground-truth"):  # fmt: skip
        assert expected in messages


def test_a_symlink_out_of_the_dataset_is_refused(tmp_path):
    root = _s4_with_csv(tmp_path, "name,start,category,split\nclip,0,cat,test\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "s4_data" / "visual_frames" / "test").mkdir(parents=True)
    os.symlink(outside, root / "s4_data" / "visual_frames" / "test" / "cat")
    ds = S4Dataset(root)
    with pytest.raises(UnsafePathError):
        ds.get("clip").frame(0)


def test_names_with_spaces_and_non_ascii_characters(tmp_path):
    w = MS3Writer(tmp_path / "Multi-sources")
    w.add_clip("clip ü 日本", split="test", frames=_frames(5), masks=_masks(5))
    ds = open_dataset(w.finish())
    assert ds.get("clip ü 日本").mask(0).shape == (224, 224)


def test_writers_refuse_wrong_sizes_and_unsafe_names(tmp_path):
    w = S4Writer(tmp_path / "s")
    with pytest.raises(DatasetError, match="224x224"):
        w.add_clip("a", category="c", split="test", frames=_frames(5, (100, 100)))
    with pytest.raises(UnsafePathError):
        w.add_clip("../a", category="c", split="test")
    with pytest.raises(DatasetError, match="split"):
        w.add_clip("a", category="c", split="nope")


def test_avss_stray_files_and_bad_label2idx_are_reported(tmp_path):
    w = AVSSWriter(tmp_path / "AVSS")
    w.add_clip("u_0_5000", vid="u", subset="v1m", split="test", frames=_frames(5, (64, 48)),
               masks={k: np.zeros((48, 64), np.uint8) for k in range(5)})  # fmt: skip
    root = w.finish()
    (root / "v1m" / "u_0_5000" / "frames" / "Thumbs.db").write_bytes(b"x")
    (root / "label2idx.json").write_text("{not json")
    ds = AVSSDataset(root)
    text = " | ".join(str(p) for p in ds.problems)
    assert "stray files in frames/" in text and "not valid JSON" in text
    assert ds.get("u_0_5000").num_frames == 5


def test_open_dataset_explains_what_it_found(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        open_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="not an AVSBench dataset"):
        open_dataset(tmp_path)
    S4Writer(tmp_path / "Single-source").finish()
    MS3Writer(tmp_path / "Multi-sources").finish()
    assert detect_setting(tmp_path) == [Setting.S4, Setting.MS3]
    with pytest.raises(DatasetError, match="several settings"):
        open_dataset(tmp_path)
    assert isinstance(open_dataset(tmp_path, "ms3"), MS3Dataset)


def test_frames_that_are_not_images_give_a_clear_error(tmp_path):
    w = S4Writer(tmp_path / "Single-source")
    w.add_clip("c", category="cat", split="test", frames=_frames(5), masks=_masks(5))
    root = w.finish()
    ds = S4Dataset(root)
    ds.get("c").frame_path(0).write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="not a readable image"):
        ds.get("c").frame(0)
    Image.new("L", (10, 10)).save(ds.get("c").mask_path(1))
    with pytest.raises(Exception, match="expected 224x224"):
        ds.get("c").mask(1)
