"""Exports the official loaders accept and imports that read what other tools wrote.

Stories from issue 12: a dataset exported to S4/MS3 carries its log-mel pickles; an S4
project exported as MS3 leaves its one-mask train clips out and says so; a refused export
or import leaves no folder; AVSS frames are copied, not re-encoded; the metadata columns
survive export -> import; COCO files written by other tools (pycocotools scripts,
Datumaro) are read by what their ``file_name`` says; a clip shorter than 5 s is accepted
the official way.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from ffmpeg_tools import official_picks
from pycocotools import mask as coco_mask

from avs_studio.cli.parser import main
from avs_studio.core.audio.logmel import load_logmel_pickle, log_mel_from_wav
from avs_studio.core.datasets import open_dataset
from avs_studio.core.datasets.check import check_dataset
from avs_studio.core.export import load_masks, read_coco, write_avsbench
from avs_studio.core.masks.palette import class_index
from avs_studio.core.media.writer import write_video
from avs_studio.core.project.edits import AddObject
from avs_studio.core.project.errors import ProjectError
from avs_studio.core.project.project import Project
from avs_studio.core.project.records import Provenance
from avs_studio.core.setting import Setting
from avs_studio.model.official_io import save_logmel_pickle


def cli(*argv) -> int:
    return main(["--quiet", *map(str, argv)])


def rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.read_text().splitlines()))


# --------------------------------------------------------------------------- log-mel pickles


@pytest.fixture(scope="module")
def s4_with_pickles(demo_root, tmp_path_factory):
    """The S4 demo with its audio_log_mel/*.pkl files, pickled with protocol 2 (the bytes
    differ from what the exporter would write, so a copy is told from a recomputation)."""
    import pickle

    import torch

    root = shutil.copytree(demo_root("s4", 6, 0), tmp_path_factory.mktemp("s4pkl") / "Single-source")
    ds = open_dataset(root)
    for c in ds.clips():
        examples = torch.from_numpy(log_mel_from_wav(ds.wav_path(c), layout="s4")[:, None].copy())
        ds.logmel_path(c).parent.mkdir(parents=True, exist_ok=True)
        ds.logmel_path(c).write_bytes(pickle.dumps(examples, protocol=2))
    return root


@pytest.mark.parametrize("target", ["s4", "ms3"])
def test_exporting_a_dataset_to_s4_or_ms3_writes_the_log_mel_pickles_the_loaders_open(
    s4_with_pickles, demo_root, tmp_path, capsys, target
):
    # Source with pickles: copied byte for byte.
    assert cli("export", s4_with_pickles, "--to", f"avsbench-{target}", tmp_path / "a") in (0, 3)
    src, out = open_dataset(s4_with_pickles), open_dataset(tmp_path / "a")
    assert out.clips()
    for c in out.clips():
        assert out.logmel_path(c).read_bytes() == src.logmel_path(src.get(c.clip_id)).read_bytes()
    # Source without pickles: computed from its WAV, as `project export` does.
    bare = demo_root("s4", 6, 0)
    assert not any(bare.rglob("*.pkl"))
    assert cli("export", bare, "--to", f"avsbench-{target}", tmp_path / "b") in (0, 3)
    out = open_dataset(tmp_path / "b")
    for c in out.clips():
        np.testing.assert_array_equal(load_logmel_pickle(out.logmel_path(c))[:, 0],
                                      log_mel_from_wav(out.wav_path(c), layout="s4"))  # fmt: skip
    capsys.readouterr()


# --------------------------------------------------------------------------- clips a layout cannot hold


def test_an_s4_project_exported_as_ms3_leaves_out_its_one_mask_train_clips_and_says_so(demo_root, tmp_path,
                                                                                        capsys):  # fmt: skip
    root = demo_root("s4", 6, 0)
    ds = open_dataset(root)
    train = [c.clip_id for c in ds.clips("train")]
    assert train and all(len(ds.get(c).annotated) == 1 for c in train)
    proj = tmp_path / "s4.avsproj"
    with Project.create(proj, "s4") as p:
        p.add([root])
        summary = p.export(tmp_path / "core", "avsbench-ms3")
    assert sorted(x.clip_id for x in summary.left_out) == sorted(train)
    assert all("1 of the 5" in x.reason for x in summary.left_out)
    assert summary.clips == len(ds) - len(train)
    assert not summary.complete
    out = tmp_path / "cli"
    assert cli("project", "export", proj, "--to", "avsbench-ms3", out) == 3  # some clips left out
    err = capsys.readouterr().err
    assert f"{len(train)} clip(s) left out" in err and all(c in err for c in train)
    ms3 = open_dataset(out)
    assert all(c.annotated == (0, 1, 2, 3, 4) for c in ms3.clips())
    assert check_dataset(out).ok


def test_a_failed_export_or_import_leaves_no_output_folder(demo_root, tmp_path, capsys):
    from avs_studio.core.project.edits import SetStatus

    avss = demo_root("avss", 4, 0)
    v2 = [c.clip_id for c in open_dataset(avss).clips() if c.subset == "v2"]
    assert v2
    with Project.create(tmp_path / "avss.avsproj", "avss") as p:
        p.add([avss])
        for clip_id in v2:
            p.session(clip_id, user="t").apply(SetStatus("reviewed"))
        # 10-frame clips exported as MS3: none fits, the export is refused ...
        with pytest.raises(ProjectError, match="no clip can be exported as MS3"):
            p.export(tmp_path / "new" / "ms3", "avsbench-ms3", status="reviewed")
    assert not (tmp_path / "new").exists()  # ... and leaves no folder behind
    # A refused import (binary masks cannot become AVSS): no folder either.
    coco = tmp_path / "gt.json"
    assert cli("export", demo_root("s4", 6, 0), "--to", "coco", coco) == 0
    assert cli("import", coco, tmp_path / "imp" / "x", "--layout", "avsbench-avss") == 2
    assert not (tmp_path / "imp").exists()
    # A folder the user made stays, even when the export into it fails.
    (tmp_path / "mine").mkdir()
    assert cli("import", coco, tmp_path / "mine", "--layout", "avsbench-avss") == 2
    assert (tmp_path / "mine").is_dir()
    capsys.readouterr()


# --------------------------------------------------------------------------- AVSS frames


def test_an_avss_export_copies_the_source_jpegs_byte_for_byte(demo_root, tmp_path):
    root = demo_root("avss", 4, 0)
    masks, ds = load_masks(root)
    summary = write_avsbench(tmp_path, masks, "avss", dataset=ds)
    out = open_dataset(tmp_path)
    for c in out.clips():
        for k in range(c.num_frames):
            assert c.frame_path(k).read_bytes() == ds.get(c.clip_id).frame_path(k).read_bytes()
    assert any("copied byte for byte" in n for n in summary.notes)


# --------------------------------------------------------------------------- metadata round trips


@pytest.mark.parametrize("via", ["coco", "png"])
def test_export_import_round_trips_keep_s4_start_and_avss_vid_and_position(demo_root, tmp_path, capsys, via):
    for setting, meta, cols in (("s4", "s4_meta_data.csv", ("name", "start", "category", "split")),
                                ("avss", "metadata.csv", ("vid", "uid", "s_min", "s_sec", "a_obj", "split",
                                                          "label"))):  # fmt: skip
        root = demo_root(setting, 6 if setting == "s4" else 4, 0)
        mid = tmp_path / f"{setting}.json" if via == "coco" else tmp_path / f"{setting}-png"
        assert cli("export", root, "--to", via, mid) == 0
        back = tmp_path / f"{setting}-back"
        assert cli("import", mid, back) == 0
        ds = open_dataset(back)
        got = [{k: r[k] for k in cols} for r in rows(ds.root / meta)]
        want = [{k: r[k] for k in cols} for r in rows(open_dataset(root).root / meta)]
        assert got == want
        # and through a project: dataset -> project -> COCO -> layout
        proj = tmp_path / f"{setting}.avsproj"
        with Project.create(proj, setting) as p:
            p.add([root])
            p.export(tmp_path / f"{setting}-p.json", "coco")
        assert cli("import", tmp_path / f"{setting}-p.json", tmp_path / f"{setting}-pback") == 0
        again = open_dataset(tmp_path / f"{setting}-pback")
        assert [{k: r[k] for k in cols} for r in rows(again.root / meta)] == want
    capsys.readouterr()


# --------------------------------------------------------------------------- COCO from other tools


def _rle(mask: np.ndarray, compressed: bool = True) -> dict:
    if compressed:  # what a pycocotools script writes
        r = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        return {"size": list(r["size"]), "counts": r["counts"].decode("ascii")}
    # Datumaro: uncompressed counts, column-major runs starting with zeros
    flat = mask.astype(np.uint8).flatten(order="F")
    change = np.flatnonzero(np.diff(np.r_[0, flat, 1 - flat[-1]])) if flat.size else []
    runs = np.diff(np.r_[0, change]).tolist()
    return {"size": list(mask.shape), "counts": runs}


def _blob(h=224, w=224, y=60, x=70, r=25) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - y) ** 2 + (xx - x) ** 2 <= r * r).astype(np.uint8)


def test_coco_from_a_pycocotools_script_tells_setting_split_and_category_by_its_file_names(tmp_path, capsys):
    m = _blob()
    data = {
        "images": [{"id": i + 1, "width": 224, "height": 224,
                    "file_name": f"s4_data/visual_frames/{split}/dog_barking/abc{i}/abc{i}_1.png"}
                   for i, split in enumerate(["train", "val"])],  # fmt: skip
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": _rle(m), "area": int(m.sum()),
                         "bbox": [0, 0, 1, 1], "iscrowd": 0}],  # fmt: skip
        "categories": [{"id": 1, "name": "sounding_object"}],
    }
    path = tmp_path / "script.json"
    path.write_text(json.dumps(data))
    ms = read_coco(path)  # no --setting: s4_data says S4
    assert ms.setting is Setting.S4
    assert [(f.clip_id, f.frame, f.split, f.category) for f in ms] == [
        ("abc0", 0, "train", "dog_barking"), ("abc1", 0, "val", "dog_barking")]  # fmt: skip
    np.testing.assert_array_equal(ms.frames[0].mask, m)
    ms3 = json.loads(json.dumps(data).replace("s4_data/visual_frames/train/dog_barking/abc0/abc0_1.png",
                                              "ms3_data/visual_frames/abc0/abc0.mp4_1.png"))  # fmt: skip
    ms3["images"] = ms3["images"][:1]
    (tmp_path / "ms3.json").write_text(json.dumps(ms3))
    assert read_coco(tmp_path / "ms3.json").setting is Setting.MS3
    # imported into a layout, the split and category come from the paths
    assert cli("import", path, tmp_path / "out") == 3  # the val clip has 1 of its 5 masks: left out
    out = open_dataset(tmp_path / "out")
    assert [(c.clip_id, c.split, c.category) for c in out.clips()] == [("abc0", "train", "dog_barking")]
    assert "abc1" in capsys.readouterr().err


def test_coco_from_datumaro_with_a_background_category_and_ids_in_label_order(tmp_path):
    # Datumaro numbers categories from 1 in its label order (background first here), keeps
    # the frame path with the extension it saved (.jpg), writes uncompressed RLE, iscrowd 1.
    m = _blob()
    s4 = {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "description": "", "version": "", "year": ""},
        "categories": [{"id": 1, "name": "background", "supercategory": ""},
                       {"id": 2, "name": "sounding_object", "supercategory": ""}],  # fmt: skip
        "images": [{"id": 1, "width": 224, "height": 224, "license": 0, "date_captured": 0,
                    "file_name": "s4_data/visual_frames/test/lions_roaring/xyz/xyz_3.jpg"}],  # fmt: skip
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": _rle(1 - m, False), "area": 1.0,
             "bbox": [0.0, 0.0, 224.0, 224.0], "iscrowd": 1},
            {"id": 2, "image_id": 1, "category_id": 2, "segmentation": _rle(m, False), "area": float(m.sum()),
             "bbox": [0.0, 0.0, 1.0, 1.0], "iscrowd": 1},
        ],
    }
    (tmp_path / "dm-s4.json").write_text(json.dumps(s4))
    ms = read_coco(tmp_path / "dm-s4.json")
    assert ms.setting is Setting.S4
    (f,) = ms.frames
    assert (f.clip_id, f.frame, f.split, f.category) == ("xyz", 2, "test", "lions_roaring")
    np.testing.assert_array_equal(f.mask, m)  # the background region draws nothing
    # AVSS: ids follow the label list (dog=2, bird=3), not the palette positions; the subset
    # comes from the path; a background category with id 0.
    dog, bird = _blob(240, 320, 60, 80), _blob(240, 320, 150, 200)
    avss = {
        "categories": [{"id": 0, "name": "background"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}],
        "images": [{"id": 7, "width": 320, "height": 240, "file_name": "v1m/u1_0_5000/frames/0.jpg"}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 2, "segmentation": _rle(dog), "iscrowd": 0},
                        {"id": 2, "image_id": 7, "category_id": 3, "segmentation": _rle(bird), "iscrowd": 0}],
    }  # fmt: skip
    (tmp_path / "dm-avss.json").write_text(json.dumps(avss))
    ms = read_coco(tmp_path / "dm-avss.json")
    assert ms.setting is Setting.AVSS
    (f,) = ms.frames
    assert (f.clip_id, f.frame, f.subset) == ("u1_0_5000", 0, "v1m")
    assert f.mask[60, 80] == class_index("dog") == 17 and f.mask[150, 200] == class_index("bird") == 7
    assert f.mask[0, 0] == 0


# --------------------------------------------------------------------------- short clips


def test_a_clip_shorter_than_five_seconds_is_accepted_the_official_way(tmp_path):
    frames = [np.full((72, 96, 3), (i * 9) % 256, np.uint8) for i in range(int(3.2 * 25))]
    t = np.arange(int(3.2 * 16000)) / 16000
    video = write_video(tmp_path / "short.mp4", frames, 25, audio=(0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32))
    with Project.create(tmp_path / "s.avsproj", "s4") as p:
        rec = p.add_video(video, split="test", category="dog_barking")
        assert rec.num_frames == 5
        assert "repeat its last frame" in rec.comment and "4, 5" in rec.comment
        with p.clip(rec.clip_id) as clip:
            got = clip.frames()
            assert clip.log_mel().shape == (5, 96, 64)  # the last example repeated, as the script pads
        for k, pick in enumerate(official_picks(video, 96, 72)):
            np.testing.assert_array_equal(got[k], pick)
        s = p.session(rec.clip_id, user="t")
        for k in range(5):
            s.apply(s.polygon(k, 1, [(10, 10), (50, 10), (50, 50)]))
        summary = p.export(tmp_path / "nopkl", "avsbench-s4")
        assert any("without audio_log_mel" in n for n in summary.notes)  # said, not silent
        p.export(tmp_path / "out", "avsbench-s4", log_mel_writer=save_logmel_pickle)
    assert check_dataset(tmp_path / "out").ok
    # AVSS: a 10-s clip of a 7-s video
    long7 = write_video(tmp_path / "seven.mp4", [np.full((72, 96, 3), i, np.uint8) for i in range(7 * 10)], 10)
    with Project.create(tmp_path / "a.avsproj", "avss") as p:
        rec = p.add_video(long7, seconds=10)
        assert rec.num_frames == 10 and rec.ordinals[-1] == rec.ordinals[-2] == 69
        assert "8, 9, 10" in rec.comment


# --------------------------------------------------------------------------- open proposals


def test_project_export_names_the_clips_whose_proposals_are_still_open(demo_root, tmp_path, capsys):
    proj = tmp_path / "p.avsproj"
    with Project.create(proj, "s4") as p:
        p.add([demo_root("s4", 6, 0)])
        clip = p.clips(split="test")[0]
        session = p.session(clip.clip_id, user="ana")
        session.apply(AddObject(2, 9, 1, _blob(), Provenance.proposal("demo", "x", 0.7)))
        done = [c.clip_id for c in p.clips(status="done")]
    assert clip.clip_id in done
    code = cli("project", "export", proj, "--to", "coco", tmp_path / "gt.json", "--status", "done")
    err = capsys.readouterr().err
    assert code == 3  # the export finished, but proposals were not exported: the status says so
    assert "1 open proposal(s) in 1 clip(s)" in err
    assert f"open proposals: {clip.clip_id}: 1 on frame(s) 3" in err
    # the report beside the COCO file names the proposal; the export is not complete
    report = json.loads((tmp_path / "gt.report.json").read_text())
    assert report["complete"] is False and report["source"] == str(proj) and report["target"] == "coco"
    assert report["open_proposals"] == [{"clip": clip.clip_id, "frame": 3, "object": 9}]
