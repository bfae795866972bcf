"""Overlapping objects: the clip's object order decides what the export writes, and says so.

Stories: two annotated objects share pixels; the AVSS export gives the shared pixels to the
object on top of the clip's order (raise/lower change it, undoably), S4/MS3 merge them, and
the export summary counts and names the frames where objects overlap. Projects written
before the order existed (schema 1) open with the order they always had.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import downgrade_to_schema_1

from avs_studio.core.export import Layer, compose_objects, load_masks
from avs_studio.core.project import schema as project_schema
from avs_studio.core.project.add import NewClip
from avs_studio.core.project.edits import AddObject, SetObjectOrder
from avs_studio.core.project.project import Project
from avs_studio.core.project.records import moved, paint_order


def blank_clip(uid: str = "clip", width: int = 96, height: int = 64, frames: int = 5) -> NewClip:
    """A clip with no media on disk: enough for editing and mask-only export."""
    return NewClip(
        uid=uid, source="video", root=Path("/nonexistent"), files={"video": f"{uid}.mp4"},
        media_hash="", duration=float(frames), start=0.0, seconds=frames, num_frames=frames,
        frame_times=[k + 0.9375 for k in range(frames)], annotated=list(range(frames)),
        width=width, height=height, split="test", category="bird",
    )  # fmt: skip


def box(y0, y1, x0, x1, shape=(64, 96)) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


BIRD, WOMAN = 10, 70  # AVSS class indices (palette positions)


def two_overlapping_birds_and_a_woman(project: Project) -> None:
    """Frame 0: a bird (#1, 20x40 = 800 px) and a woman (#2) over its right half (20x20 = 400 px)."""
    session = project.session("clip")
    session.apply(AddObject(0, 1, BIRD, box(10, 30, 10, 50)))
    session.apply(AddObject(0, 2, WOMAN, box(10, 30, 30, 70)))


# --------------------------------------------------------------------------- the order itself


def test_the_paint_order_lists_the_recorded_objects_first_and_new_ones_on_top():
    assert paint_order([], [3, 1, 2]) == [1, 2, 3]  # nothing recorded: by id, later on top
    assert paint_order([3, 1], [1, 2, 3, 4]) == [3, 1, 2, 4]
    assert paint_order([9, 3, 3], [3]) == [3]  # deleted objects and repeats are ignored


def test_raising_and_lowering_count_only_the_objects_of_the_frame():
    order = [1, 2, 3, 4]
    assert moved(order, 1, +1) == [2, 1, 3, 4]
    assert moved(order, 4, +1) == order  # already on top
    assert moved(order, 1, +1, among=[1, 3]) == [2, 3, 1, 4]  # #2 is not in this frame
    assert moved(order, 4, -1, among=[1, 4]) == [4, 1, 2, 3]
    assert moved(order, 2, -10) == [2, 1, 3, 4]


def test_compose_gives_shared_pixels_to_the_top_object_and_counts_what_it_hid():
    a, b = box(10, 30, 10, 50), box(10, 30, 30, 70)
    c = compose_objects([Layer(1, BIRD, a), Layer(2, WOMAN, b)], a.shape, binary=False)
    assert c.shared == 400 and c.hidden == {1: 400}
    assert np.count_nonzero(c.mask == BIRD) == 400 and np.count_nonzero(c.mask == WOMAN) == 800
    c = compose_objects([Layer(2, WOMAN, b), Layer(1, BIRD, a)], a.shape, binary=False)
    assert c.hidden == {2: 400} and np.count_nonzero(c.mask == BIRD) == 800
    c = compose_objects([Layer(1, 1, a), Layer(2, 1, b)], a.shape, binary=True)
    assert c.shared == 400 and not c.hidden and np.count_nonzero(c.mask) == 1200  # merged
    same = compose_objects([Layer(1, BIRD, a), Layer(2, BIRD, b)], a.shape, binary=False)
    assert same.shared == 400 and not same.hidden  # the same class: nothing is lost


# --------------------------------------------------------------------------- in a project


@pytest.fixture
def avss(tmp_path):
    project = Project.create(tmp_path / "avss.avsproj", "avss", user="ana")
    project.add_clip(blank_clip(frames=10))
    yield project
    project.close()


def test_raising_an_object_changes_the_exported_class_of_shared_pixels_and_undo_restores_it(avss):
    two_overlapping_birds_and_a_woman(avss)
    session = avss.session("clip")
    assert [o.instance_id for o in session.objects(0)] == [1, 2]  # bottom first
    assert np.count_nonzero(avss.label_mask("clip", 0) == BIRD) == 400  # the 800-px bird shrank
    session.apply(SetObjectOrder(moved(session.object_order(), 1, +1), "Raise object 1"))
    assert [o.instance_id for o in session.objects(0)] == [2, 1] and avss.object_order("clip") == [2, 1]
    assert np.count_nonzero(avss.label_mask("clip", 0) == BIRD) == 800
    assert avss.composed_mask("clip", 0).hidden == {2: 400}
    assert session.undo() == "Raise object 1"
    assert np.count_nonzero(avss.label_mask("clip", 0) == BIRD) == 400
    session.redo()
    assert avss.object_order("clip") == [2, 1]
    # the order is part of what the project holds: it survives reopening
    path = avss.path
    avss.close()
    with Project.open(path) as again:
        assert again.object_order("clip") == [2, 1] and again.clip_record("clip").object_order == (2, 1)
        assert np.count_nonzero(again.label_mask("clip", 0) == BIRD) == 800


def test_the_export_summary_counts_and_names_the_frames_where_objects_overlap(avss, tmp_path):
    two_overlapping_birds_and_a_woman(avss)
    summary = avss.export(tmp_path / "png", "png")
    assert summary.overlaps.frames == {("clip", 0): (400, 400)}
    note = next(n for n in summary.notes if "overlap" in n)
    assert "1 frame(s)" in note and "400 shared pixel(s)" in note and "clip frame 1" in note
    masks, _ = load_masks(tmp_path / "png", "avss")
    written = next(fm for fm in masks.frames if fm.frame == 0).mask
    assert np.array_equal(written, avss.label_mask("clip", 0))
    # the AVSBench layout counts the same overlaps
    summary = avss.export(tmp_path / "avsbench", "avsbench-avss", media=False)
    assert summary.overlaps.to_dict()["by_frame"] == [
        {"clip_id": "clip", "frame": 0, "shared_pixels": 400, "hidden_pixels": 400}]
    # ... and the report file inside the written folder names the frame (1-based, as shown)
    report = json.loads((tmp_path / "avsbench" / "AVSS" / "avs_studio_export_report.json").read_text())
    assert summary.report == tmp_path / "avsbench" / "AVSS" / "avs_studio_export_report.json"
    assert report["overlaps"] == [{"clip": "clip", "frame": 1, "shared_pixels": 400, "hidden_pixels": 400}]
    assert report["counts"]["overlap_frames"] == 1 and report["complete"] is True
    assert any("overlap" in n for n in report["notes"])
    # no overlap, no note
    avss.session("clip").apply(AddObject(1, 3, BIRD, box(40, 50, 0, 10)))
    avss.session("clip").undo()
    session = avss.session("clip")
    from avs_studio.core.project.edits import DeleteObject

    session.apply(DeleteObject(2, 0))
    summary = avss.export(tmp_path / "png2", "png")
    assert not summary.overlaps.frames and not [n for n in summary.notes if "overlap" in n]


def test_s4_objects_that_overlap_are_merged_and_the_merge_is_reported(tmp_path):
    with Project.create(tmp_path / "s4.avsproj", "s4") as project:
        project.add_clip(blank_clip())
        session = project.session("clip")
        session.apply(AddObject(0, 1, 1, box(10, 30, 10, 50)))
        session.apply(AddObject(0, 2, 1, box(10, 30, 30, 70)))
        summary = project.export(tmp_path / "png", "png")
        assert np.count_nonzero(project.binary_mask("clip", 0)) == 1200
    note = next(n for n in summary.notes if "overlap" in n)
    assert "merged into the one sounding-object mask" in note and "400 shared" in note


# --------------------------------------------------------------------------- schema 1 files


def test_a_schema_1_project_written_by_the_old_code_opens_with_the_order_it_always_had(tmp_path, monkeypatch):
    path = tmp_path / "old.avsproj"
    # A file as schema 1 wrote it: no object order.
    with Project.create(path, "avss") as project:
        project.add_clip(blank_clip(frames=10))
        two_overlapping_birds_and_a_woman(project)
    downgrade_to_schema_1(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "object_order" not in [r[1] for r in conn.execute("PRAGMA table_info(clips)")]
    conn.close()
    before = path.read_bytes()
    # read-only: read through an upgraded copy, the file stays a schema-1 file
    with Project.open(path, readonly=True) as project:
        assert project.object_order("clip") == [1, 2]
        assert np.count_nonzero(project.label_mask("clip", 0) == BIRD) == 400
    assert path.read_bytes() == before
    # for writing: upgraded in place, in one transaction; v1's composition is kept
    with Project.open(path) as project:
        assert project.object_order("clip") == [1, 2]
        assert np.count_nonzero(project.label_mask("clip", 0) == BIRD) == 400
        assert not project.check()
        project.session("clip").apply(SetObjectOrder([2, 1]))
        assert np.count_nonzero(project.label_mask("clip", 0) == BIRD) == 800
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == project_schema.SCHEMA_VERSION
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(
        project_schema.SCHEMA_VERSION)
    conn.close()


def test_merging_keeps_each_clips_object_order(tmp_path):
    from avs_studio.core.project.merge import merge

    for name, order in (("a", [2, 1]), ("b", None)):
        with Project.create(tmp_path / f"{name}.avsproj", "avss") as project:
            project.add_clip(blank_clip(uid=f"clip_{name}", frames=10))
            session = project.session(f"clip_{name}")
            session.apply(AddObject(0, 1, BIRD, box(10, 30, 10, 50)))
            session.apply(AddObject(0, 2, WOMAN, box(10, 30, 30, 70)))
            if order:
                session.apply(SetObjectOrder(order))
    merge(tmp_path / "a.avsproj", tmp_path / "b.avsproj", tmp_path / "ab.avsproj")
    with Project.open(tmp_path / "ab.avsproj", readonly=True) as project:
        assert project.object_order("clip_a") == [2, 1] and project.object_order("clip_b") == [1, 2]


def test_the_command_line_export_names_the_overlaps(avss, tmp_path, capsys):
    from avs_studio.cli import parser as cli

    two_overlapping_birds_and_a_woman(avss)
    path = avss.path
    avss.close()  # the command line opens the project read-only
    assert cli.main(["-q", "project", "export", str(path), "--to", "png", str(tmp_path / "png")]) == 0
    err = capsys.readouterr().err
    assert "note: objects overlap in 1 frame(s), 400 shared pixel(s) each given to the object on top" in err
    assert "clip frame 1 (400 px)" in err
