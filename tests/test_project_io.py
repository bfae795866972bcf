"""Filling a project and getting data out: datasets, videos, segments, export, import, merge.

Stories: an annotator starts a project from an AVSBench dataset (its ground truth becomes
objects), adds new clips cut from a long recording, edits, exports every format the
foundation knows, imports corrected masks back, merges a colleague's half, and relinks
media that moved.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from avs_studio.core.datasets import open_dataset
from avs_studio.core.export import load_masks
from avs_studio.core.media.decode import open_media, probe
from avs_studio.core.media.writer import write_video
from avs_studio.core.project.edits import SetStatus
from avs_studio.core.project.merge import merge
from avs_studio.core.project.project import Project, ProjectError


def make_video(path: Path, seconds: float, *, fps: int = 10, size=(128, 96), seed: int = 0) -> Path:
    """A small H.264 + AAC video whose frames differ (a moving square) with a tone."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(0, 256, 3)
    n = int(round(seconds * fps))

    def frames():
        for i in range(n):
            img = np.zeros((h, w, 3), np.uint8)
            img[:] = base
            x = (i * 3) % (w - 16)
            img[20:36, x : x + 16] = (255, 255, 255)
            yield img

    rate = 16000
    audio = (0.2 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
    write_video(path, frames(), fps, audio=audio, sample_rate=rate)
    return path


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("recordings")
    make_video(folder / "long.mp4", 23.0, seed=1)
    make_video(folder / "short.mp4", 5.0, seed=2)
    (folder / "sub").mkdir()
    make_video(folder / "sub" / "other.mp4", 10.4, seed=3)
    return folder


# --------------------------------------------------------------------------- from a dataset


def test_an_s4_dataset_becomes_a_project_whose_clips_match_the_dataset(demo_root, tmp_path):
    root = demo_root("s4", 6, 0)
    dataset = open_dataset(root)
    with Project.create(tmp_path / "s4.avsproj", "s4") as project:
        report = project.add_clips_from_dataset(root)
        assert report.ok == len(dataset) and not report.failures
        assert project.clip_ids() == [c.clip_id for c in dataset]  # CSV order kept
        again = project.add_clips_from_dataset(root)
        assert (again.ok, again.skipped) == (0, len(dataset))
        for dclip in dataset:
            pclip = project.clip(dclip.clip_id)
            rec = project.clip_record(dclip.clip_id)
            assert (rec.split, rec.category, rec.annotated, rec.status) == (
                dclip.split, dclip.category, dclip.annotated, "done")
            assert np.array_equal(pclip.frame(2), dclip.frame(2))
            gt, has = pclip.gt_stack()
            dgt, dhas = dclip.gt_stack()
            assert np.array_equal(gt, dgt) and np.array_equal(has, dhas)
            for obj in project.frame_objects(dclip.clip_id, dclip.annotated[0]):
                assert obj.provenance.kind == "dataset" and obj.label == 1
        clip = project.clip(dataset.clips()[0].clip_id)
        assert clip.log_mel().shape == (5, 96, 64)
        assert project.missing_media() == []


def test_an_avss_dataset_keeps_classes_as_objects_and_exports_back_bit_exact(demo_root, tmp_path):
    root = demo_root("avss", 4, 0)
    gt, _ = load_masks(root)
    with Project.create(tmp_path / "avss.avsproj", "avss") as project:
        assert project.add_clips_from_dataset(root).ok == 4
        first = gt.frames[0]
        objs = project.frame_objects(first.clip_id, first.frame)
        assert sorted(o.label for o in objs) == sorted(set(np.unique(first.mask)) - {0})
        assert len({o.instance_id for o in objs}) == len(objs)
        summary = project.export(tmp_path / "png", "png")
        assert summary.masks == len(gt)
        project.export(tmp_path / "coco.json", "coco", polygons=False)
        project.export(tmp_path / "layout", "avsbench-avss")
    for out in (tmp_path / "png", tmp_path / "coco.json", tmp_path / "layout" / "AVSS"):
        back, _ = load_masks(out, "avss")
        assert [(f.clip_id, f.frame) for f in back] == [(f.clip_id, f.frame) for f in gt]
        for a, b in zip(gt, back):
            assert np.array_equal(a.mask, b.mask), (out, a.clip_id, a.frame)
    layout = open_dataset(tmp_path / "layout" / "AVSS")
    assert [c.meta["vid"] for c in layout] == [c.meta["vid"] for c in open_dataset(root)]
    assert not layout.problems


def test_export_filters_by_status_and_split(demo_root, tmp_path):
    root = demo_root("s4", 6, 0)
    with Project.create(tmp_path / "p.avsproj", "s4") as project:
        project.add_clips_from_dataset(root)
        ids = project.clip_ids()
        project.session(ids[0]).apply(SetStatus("reviewed"))
        summary = project.export(tmp_path / "reviewed.json", "coco", status="reviewed")
        assert summary.clips == 1
        data = json.loads((tmp_path / "reviewed.json").read_text())
        assert {img["video"] for img in data["images"]} == {ids[0]}
        test_ids = [c.clip_id for c in project.clips(split="test")]
        summary = project.export(tmp_path / "test", "avsbench-s4", split="test", media=False)
        assert open_dataset(tmp_path / "test" / "Single-source").clips()[0].clip_id == test_ids[0]
        with pytest.raises(ProjectError, match="no masks"):
            project.export(tmp_path / "none", "png", status="proposed")


# --------------------------------------------------------------------------- from videos


def test_segments_of_a_long_recording_become_avss_clips_and_export_with_trimmed_media(recordings, tmp_path):
    with Project.create(tmp_path / "rec.avsproj", "avss") as project:
        rec = project.add_video(recordings / "long.mp4", start=7, seconds=10, split="val")
        assert rec.clip_id == "long_7000_17000" and rec.subset == "v2" and rec.is_segment
        assert rec.num_frames == 10 and rec.frame_times[0] == pytest.approx(0.9, abs=0.06)
        with open_media(recordings / "long.mp4") as media:
            frames, _ = media.sampled_frames(seconds=10, start=7)
        clip = project.clip(rec.clip_id)
        assert all(np.array_equal(a, b) for a, b in zip(clip.frames(), frames))
        samples, rate = clip.audio()
        assert abs(samples.shape[0] / rate - 10) < 0.05
        session = project.session(rec.clip_id, user="ana")
        for k in range(10):
            session.apply(session.polygon(k, 1, [(10, 10), (60, 10), (60, 60)], label="dog"))
            session.apply(session.polygon(k, 2, [(70, 40), (120, 40), (120, 90)], label="bird"))
        session.apply(SetStatus("done"))
        report = project.add_segments(recordings / "long.mp4", seconds=5, step=10)
        assert [r.clip_id for r in report.results] == ["long_0_5000", "long_10000_15000"]
        summary = project.export(tmp_path / "out", "avsbench-avss", status="done")
        assert summary.clips == 1 and summary.masks == 10
    root = tmp_path / "out" / "AVSS"
    lines = (root / "metadata.csv").read_text().splitlines()
    assert lines[1] == "long,long_7000_17000,0,7,dog_bird,val,v2"
    video = root / "raw_videos" / "long_7000_17000.mp4"
    # An exact cut: it starts with the clip's first frame (copied on a keyframe, else
    # re-encoded losslessly), so sampling it gives the clip's frames.
    assert abs(probe(video).duration - 10) < 0.15
    with open_media(video) as cut:
        got, _ = cut.sampled_frames(seconds=10)
    assert all(np.array_equal(a, b) for a, b in zip(got, frames))
    assert any("cut from longer videos" in note for note in summary.notes)
    ds = open_dataset(root)
    clip = ds.get("long_7000_17000")
    assert clip.num_frames == 10 and not ds.problems
    label = clip.mask(3, size=None)
    assert label[30, 40] == 17  # dog


def test_folders_and_list_files_add_clips_and_report_bad_lines(recordings, tmp_path):
    lst = tmp_path / "clips.txt"
    lst.write_text(
        "# path,start,seconds,split,category\n"
        f"{recordings / 'long.mp4'},0,5,train,dog_barking\n"
        f"{recordings / 'long.mp4'},12,5,test\n"
        f"{recordings / 'short.mp4'}\n"
        f"{recordings / 'short.mp4'},3,5\n"  # 3 + 5 > 5 s: too short, reported
        "missing.mp4\n"
    )
    with Project.create(tmp_path / "s4.avsproj", "s4") as project:
        report = project.add_list_file(lst)
        assert [r.clip_id for r in report.results] == ["long_0_5000", "long_12000_17000", "short"]
        assert len(report.failures) == 2
        assert "needs 8 s" in report.failures[0].error and "no such video" in report.failures[1].error
        rec = project.clip_record("long_0_5000")
        assert (rec.split, rec.category) == ("train", "dog_barking")
        folder = project.add_folder(recordings, seconds=5)  # sub-folders too; known clips skipped
        assert [r.clip_id for r in folder.results] == ["other_0_5000"] and folder.skipped == 2
        with pytest.raises(ProjectError, match="5 s long, not 10"):
            project.add_video(recordings / "long.mp4", seconds=10)


def test_the_same_name_with_other_media_is_refused_not_overwritten(recordings, tmp_path):
    with Project.create(tmp_path / "p.avsproj", "s4") as project:
        project.add_video(recordings / "short.mp4")
        other = tmp_path / "elsewhere"
        other.mkdir()
        make_video(other / "short.mp4", 5.0, seed=9)
        report = project.add([other / "short.mp4"])
        assert report.ok == 0 and "other media" in report.failures[0].error
        assert project.clip_record("short").root_abs == recordings.as_posix()


# --------------------------------------------------------------------------- moved media


def test_moved_media_are_reported_and_relinked_not_dropped(recordings, tmp_path):
    media = tmp_path / "media"
    shutil.copytree(recordings, media)
    path = tmp_path / "proj" / "p.avsproj"
    with Project.create(path, "s4") as project:
        project.add_folder(media, seconds=5)
        session = project.session("short")
        session.apply(session.polygon(0, 1, [(5, 5), (50, 5), (50, 50)]))
    moved = tmp_path / "archive" / "media-2024"
    moved.parent.mkdir()
    media.rename(moved)
    with Project.open(path) as project:
        missing = {r.clip_id for r in project.missing_media()}
        assert missing == set(project.clip_ids())
        with pytest.raises(ProjectError, match="hash mismatch"):
            project.relink("short", moved / "long.mp4")
        assert project.relink("short", moved / "short.mp4") == ["short"]
        done = project.relink(str(media), moved)
        assert sorted(done) == sorted(missing - {"short"})
        assert project.missing_media() == []
        assert project.clip("other_0_5000").frame(0).shape == (96, 128, 3)
        assert project.binary_mask("short", 0)[10, 40] == 1
    # a project moved together with its media keeps working (relative locations)
    shutil.move(tmp_path / "proj", moved.parent / "proj")
    with Project.open(moved.parent / "proj" / "p.avsproj", readonly=True) as project:
        assert project.missing_media() == []


# --------------------------------------------------------------------------- import and merge


def test_corrected_masks_come_back_in_through_an_undoable_import(demo_root, tmp_path):
    root = demo_root("s4", 6, 0)
    with Project.create(tmp_path / "ana.avsproj", "s4") as ana:
        ana.add_clips_from_dataset(root)
        cid = ana.clips(split="test")[0].clip_id
        session = ana.session(cid)
        stroke = session.stroke(1, 1, radius=20)
        stroke.add_points([(20, 200), (200, 200)])
        session.apply(stroke.finish())
        ana.export(tmp_path / "ana.json", "coco")
        ana.export(tmp_path / "ana_png", "png")
        wanted = [ana.binary_mask(cid, k) for k in range(5)]
    for src in (tmp_path / "ana.json", tmp_path / "ana_png"):
        with Project.create(tmp_path / f"ben-{src.stem}.avsproj", "s4", user="ben") as ben:
            ben.add_clips_from_dataset(root)
            original = ben.binary_mask(cid, 1)
            report = ben.import_masks(src)
            assert report.clips == 6 and not report.unknown and not report.failures
            assert all(np.array_equal(ben.binary_mask(cid, k), wanted[k]) for k in range(5))
            obj = ben.frame_objects(cid, 1)[0]
            assert obj.provenance.kind == "import" and obj.provenance.created_by == "ben"
            session = ben.session(cid)
            assert session.undo() == "Import masks"
            assert np.array_equal(ben.binary_mask(cid, 1), original)
    with Project.create(tmp_path / "avss.avsproj", "avss") as other, pytest.raises(ProjectError):
        other.import_masks(tmp_path / "ana.json")


def test_two_annotators_halves_merge_with_a_report_of_clips_in_both(demo_root, tmp_path):
    root = demo_root("s4", 6, 0)
    ids = [c.clip_id for c in open_dataset(root)]
    halves = {"ana": ids[:4], "ben": ids[2:]}  # clips 2 and 3 are in both
    paths = {}
    for who, mine in halves.items():
        paths[who] = tmp_path / who / f"{who}.avsproj"
        with Project.create(paths[who], "s4", user=who) as project:
            project.add_clips_from_dataset(root, status="new", clip_ids=mine)
            session = project.session(ids[2])
            if who == "ana":
                stroke = session.stroke(0, 1, radius=15)
                stroke.add_point(100, 100)
                session.apply(stroke.finish())
                session.apply(SetStatus("reviewed"))
            else:
                session.apply(SetStatus("done"))
    out = tmp_path / "merged" / "both.avsproj"
    report = merge(paths["ana"], paths["ben"], out)
    assert (report.only_a, report.only_b, report.in_both, report.identical) == (2, 2, 2, 1)
    (conflict,) = report.conflicts
    assert (conflict.clip_id, conflict.status_a, conflict.status_b, conflict.kept) == (ids[2], "reviewed", "done", "a")
    with Project.open(out) as merged:
        assert merged.clip_ids() == ids[:4] + ids[4:]
        assert merged.clip_record(ids[2]).status == "reviewed"
        assert merged.binary_mask(ids[2], 0)[100, 100] == 1
        assert merged.session(ids[2]).undo_text() == "Undo Mark as reviewed"  # history came along
        assert merged.missing_media() == [] and merged.check() == []
    with pytest.raises(ProjectError, match="already exists"):
        merge(paths["ana"], paths["ben"], out)
    prefer_b = merge(paths["ana"], paths["ben"], tmp_path / "b.avsproj", prefer="b")
    assert prefer_b.conflicts[0].kept == "b"
    with Project.create(tmp_path / "avss.avsproj", "avss"):
        pass
    with pytest.raises(ProjectError, match="cannot merge"):
        merge(paths["ana"], tmp_path / "avss.avsproj", tmp_path / "x.avsproj")
