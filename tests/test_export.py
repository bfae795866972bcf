"""Export masks to COCO, PNG and the AVSBench layouts, import them back, compare."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from avs_studio.core.datasets import AVSSWriter, MS3Writer, S4Writer, open_dataset
from avs_studio.core.errors import FormatError
from avs_studio.core.export import (
    FrameMask,
    MaskSet,
    load_masks,
    read_coco,
    write_avsbench,
    write_coco,
    write_png_masks,
)
from avs_studio.core.masks.rle import mask_iou
from avs_studio.core.setting import Setting

RNG = np.random.default_rng(9)


def _blobs(h, w, n=2):
    yy, xx = np.mgrid[:h, :w]
    m = np.zeros((h, w), np.uint8)
    for _ in range(n):
        cy, cx = RNG.integers(20, h - 20), RNG.integers(20, w - 20)
        r = RNG.integers(8, 20)
        m |= ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)
    return m


@pytest.fixture
def s4_dataset(tmp_path):
    w = S4Writer(tmp_path / "src" / "Single-source")
    for i, split in enumerate(["test", "train", "val"]):
        masks = {k: _blobs(224, 224) for k in range(5)}
        masks[3] = np.zeros((224, 224), np.uint8)  # an empty frame must still be an image
        frames = [RNG.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(5)]
        w.add_clip(f"clip{i}", category="dog_barking", split=split, frames=frames, masks=masks)
    return open_dataset(w.finish())


@pytest.fixture
def avss_dataset(tmp_path):
    w = AVSSWriter(tmp_path / "src" / "AVSS")
    for i, subset in enumerate(["v2", "v1m"]):
        n = 10 if subset == "v2" else 5
        labels = {}
        for k in range(n):
            lab = np.zeros((240, 320), np.uint8)
            lab[_blobs(240, 320, 1) > 0] = 17
            lab[_blobs(240, 320, 1) > 0] = 70  # 'woman', the class the official noBg drops
            labels[k] = lab
        w.add_clip(f"v{i}_0_{n}000", vid=f"v{i}", subset=subset, split="test", masks=labels,
                   frames=[RNG.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(n)])  # fmt: skip
    return open_dataset(w.finish())


def _same_masks(a: MaskSet, b: MaskSet) -> None:
    assert [(f.clip_id, f.frame) for f in a] == [(f.clip_id, f.frame) for f in b]
    for fa, fb in zip(a, b):
        assert np.array_equal(fa.mask, fb.mask), (fa.clip_id, fa.frame)


def test_s4_ground_truth_to_coco_rle_and_back_is_bit_exact(s4_dataset, tmp_path):
    gt, _ = load_masks(s4_dataset.root)
    assert len(gt) == 5 + 1 + 5  # train clip: frame 1 only
    summary = write_coco(tmp_path / "gt.json", gt)
    data = json.loads((tmp_path / "gt.json").read_text())
    assert data["categories"] == [{"id": 1, "name": "sounding_object"}]
    assert summary.images == 11 and summary.annotations == 9  # two empty frames: images, no annotation
    img = data["images"][0]
    assert img["file_name"] == "s4_data/visual_frames/test/dog_barking/clip0/clip0_1.png"
    assert (img["width"], img["height"], img["video"], img["frame_index"]) == (224, 224, "clip0", 0)
    ann = data["annotations"][0]
    assert isinstance(ann["segmentation"]["counts"], str) and ann["iscrowd"] == 0
    assert isinstance(ann["area"], int) and all(isinstance(v, float) for v in ann["bbox"])
    # pycocotools reads it without special cases and agrees on the pixels
    coco = COCO(str(tmp_path / "gt.json"))
    assert np.array_equal(coco.annToMask(coco.anns[1]), gt.frames[0].mask)
    back = read_coco(tmp_path / "gt.json")
    assert back.setting is Setting.S4
    _same_masks(gt, back)


def test_polygons_round_trip_above_the_stated_iou_bound(s4_dataset, tmp_path):
    gt, _ = load_masks(s4_dataset.root)
    summary = write_coco(tmp_path / "poly.json", gt, polygons=True)
    assert summary.polygons == 9 and summary.rle_fallbacks == 0
    data = json.loads((tmp_path / "poly.json").read_text())
    assert all(isinstance(a["segmentation"], list) for a in data["annotations"])
    rle_areas = {a["id"]: a["area"] for a in json.loads(json.dumps(data))["annotations"]}
    assert all(v > 0 for v in rle_areas.values())  # area from the mask, not the polygon
    back = read_coco(tmp_path / "poly.json")
    for a, b in zip(gt, back):
        if a.mask.any():
            # the documented bound for blobs of radius >= 8 px: pixel-centre contours lose a rim
            assert mask_iou(a.mask, b.mask) >= 0.85
        else:
            assert not b.mask.any()


def test_avss_to_coco_one_annotation_per_class_and_back(avss_dataset, tmp_path):
    gt, _ = load_masks(avss_dataset.root)
    assert gt.frames[0].mask.shape == (240, 320)  # native size by default
    write_coco(tmp_path / "avss.json", gt)
    data = json.loads((tmp_path / "avss.json").read_text())
    assert len(data["categories"]) == 70 and data["categories"][0] == {"id": 1, "name": "accordion"}
    per_image = {}
    for a in data["annotations"]:
        per_image.setdefault(a["image_id"], []).append(a["category_id"])
    assert all(len(v) == len(set(v)) for v in per_image.values())
    _same_masks(gt, read_coco(tmp_path / "avss.json"))
    small, _ = load_masks(avss_dataset.root, native_size=False)
    assert small.frames[0].mask.shape == (224, 224)


def test_png_masks_round_trip(avss_dataset, s4_dataset, tmp_path):
    for name, ds in (("a", avss_dataset), ("s", s4_dataset)):
        gt, _ = load_masks(ds.root)
        n = write_png_masks(tmp_path / name, gt)
        assert n == len(gt)
        back, _ = load_masks(tmp_path / name)
        _same_masks(gt, back)
    with pytest.raises(FormatError, match="already exists"):
        write_png_masks(tmp_path / "s", gt)


def test_export_to_avsbench_layouts_and_reload(s4_dataset, avss_dataset, tmp_path):
    gt, ds = load_masks(s4_dataset.root)
    out = tmp_path / "ms3"
    summary = write_avsbench(out, gt, "ms3", dataset=ds)
    # The S4 train clip carries one mask; the official MS3 loader reads five: left out, named.
    assert summary.clips == 2 and [x.clip_id for x in summary.left_out] == ["clip1"]
    assert any("1 clip(s) left out" in n and "clip1" in n for n in summary.notes)
    ms3 = open_dataset(out)
    assert ms3.setting is Setting.MS3
    assert np.array_equal(ms3.get("clip0").frame(2), ds.get("clip0").frame(2))
    back, _ = load_masks(out)
    _same_masks(MaskSet(gt.setting, [f for f in gt if f.clip_id != "clip1"]), back)
    # AVSS class masks can become binary (any class = sounding), at 224x224
    agt, ads = load_masks(avss_dataset.root)
    s = write_avsbench(tmp_path / "s4", agt, "s4", dataset=ads)
    assert any("resized" in n for n in s.notes) and any("binary" in n for n in s.notes)
    assert [x.clip_id for x in s.left_out] == ["v0_0_10000"]  # a 10-frame v2 clip is no S4 clip
    # and AVSS round-trips through its own layout
    write_avsbench(tmp_path / "avss", agt, "avss", dataset=ads)
    _same_masks(agt, load_masks(tmp_path / "avss")[0])
    with pytest.raises(FormatError, match="no classes"):
        write_avsbench(tmp_path / "x", gt, "avss")


def test_a_json_that_is_not_coco_is_a_clear_error(tmp_path):
    cases = {
        "list.json": "[]",
        "dict.json": '{"foo": 1}',
        "broken.json": "{",
        "badann.json": json.dumps({"images": [{"id": 1, "width": 4, "height": 4, "file_name": "a/0"}],
                                   "annotations": [{"image_id": 9, "category_id": 1, "segmentation": []}],
                                   "categories": [{"id": 1}], "info": {"setting": "s4"}}),  # fmt: skip
        "badrle.json": json.dumps({"images": [{"id": 1, "width": 4, "height": 4, "file_name": "x",
                                               "video": "v", "frame_index": 0}],
                                   "annotations": [{"image_id": 1, "category_id": 1,
                                                    "segmentation": {"size": [5, 5], "counts": "5"}}],
                                   "categories": [{"id": 1}], "info": {"setting": "s4"}}),  # fmt: skip
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(FormatError):
            read_coco(tmp_path / name)
    one_cat = {"images": [], "annotations": [], "categories": [{"id": 1}]}
    (tmp_path / "nosetting.json").write_text(json.dumps(one_cat))
    with pytest.raises(FormatError, match="--setting"):
        read_coco(tmp_path / "nosetting.json")
    assert read_coco(tmp_path / "nosetting.json", "ms3").setting is Setting.MS3


def test_in_memory_masks_export_without_a_dataset(tmp_path):
    ms = MaskSet(Setting.MS3, [FrameMask.of("clipA", k, _blobs(224, 224), split="test") for k in range(5)])
    write_avsbench(tmp_path, ms, "ms3")
    ds = open_dataset(tmp_path, "ms3")
    assert ds.get("clipA").annotated == (0, 1, 2, 3, 4)
    m = MS3Writer(tmp_path / "x")
    assert m.finish().is_dir()
