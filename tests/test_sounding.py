"""Sounding objects: an object visible but silent in a frame keeps its geometry but stays out
of that frame's AVS mask, in every export and wherever the project is read as ground truth.

Stories: an annotator marks a guitar silent in the frames where it does not play, undoes
it, reopens the project; exports to every format the project writes; a researcher reviews
predictions against the project; an old (schema 1) project opens and exports unchanged;
the lanes say which frames still need a decision and what the model thinks.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from conftest import downgrade_to_schema_1
from test_edits import blank_clip

from avs_studio.core.datasets import open_dataset
from avs_studio.core.export import load_masks
from avs_studio.core.project import schema as project_schema
from avs_studio.core.project.edits import (
    AddObject,
    DeleteObject,
    SetSounding,
    decode_command,
    encode_command,
)
from avs_studio.core.project.merge import merge
from avs_studio.core.project.project import EditError, Project, Provenance
from avs_studio.core.sounding import LaneCell, next_decision, object_lanes, sounding_hint


def disc(shape, cx, cy, r) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r).astype(np.uint8)


@pytest.fixture
def avss(tmp_path):
    """An AVSS project with two objects in all ten frames: a guitar (1) and a man (2)."""
    project = Project.create(tmp_path / "avss.avsproj", "avss", user="ana")
    project.add_clip(blank_clip(frames=10))
    s = project.session("clip")
    guitar, man = project.labels.index("guitar"), project.labels.index("man")
    for k in range(10):
        s.apply(AddObject(k, 1, guitar, disc((240, 320), 80 + 5 * k, 100, 30)))
        s.apply(AddObject(k, 2, man, disc((240, 320), 220, 120, 40)))
    yield project
    project.close()


# ---------------------------------------------------------------------- the flag and its command


def test_a_silent_object_keeps_its_mask_but_leaves_the_frames_avs_mask(avss):
    s = avss.session("clip")
    guitar = avss.labels.index("guitar")
    before = avss.label_mask("clip", 3)
    assert (before == guitar).sum() > 2000
    s.apply(SetSounding([(3, 1)], False))
    obj = avss.frame_objects("clip", 3)[0]
    assert not obj.sounding and obj.sounding_decided and obj.mask.sum() == (before == guitar).sum()
    after = avss.label_mask("clip", 3)
    assert not (after == guitar).any() and (after == avss.labels.index("man")).sum() > 4000
    assert avss.binary_mask("clip", 3).sum() == (after != 0).sum()
    # the other frames are untouched, and undo brings the guitar back into frame 3's mask
    assert (avss.label_mask("clip", 4) == guitar).any()
    assert s.undo_text() == "Undo Mark object 1 silent"
    s.undo()
    assert np.array_equal(avss.label_mask("clip", 3), before)
    obj = avss.frame_objects("clip", 3)[0]
    assert obj.sounding and not obj.sounding_decided  # exactly as before, undecided again
    s.redo()
    assert not (avss.label_mask("clip", 3) == guitar).any()


def test_confirming_records_the_decision_and_changes_no_pixel(avss):
    s = avss.session("clip")
    before = avss.label_mask("clip", 0)
    cmd = SetSounding([(0, 1), (0, 2)], None)
    assert not cmd.changes_masks and cmd.description == "Confirm sounding of 2 objects"
    s.apply(cmd)
    assert all(o.sounding and o.sounding_decided for o in avss.frame_objects("clip", 0))
    assert np.array_equal(avss.label_mask("clip", 0), before)
    s.undo()
    assert not any(o.sounding_decided for o in avss.frame_objects("clip", 0))


def test_the_flag_survives_reopening_and_its_command_is_stored_whole(avss, tmp_path):
    s = avss.session("clip")
    cmd = SetSounding([(k, 1) for k in (2, 5, 7)], False)
    s.apply(cmd)
    back = decode_command(*encode_command(cmd))
    assert isinstance(back, SetSounding) and back.items == cmd.items and back.sounding is False
    path = avss.path
    avss.close()
    with Project.open(path) as again:
        assert [k for k in range(10) if not again.frame_objects("clip", k)[0].sounding] == [2, 5, 7]
        again.session("clip").undo()  # the undo history is in the file too
        assert all(again.frame_objects("clip", k)[0].sounding for k in range(10))


def test_a_deleted_silent_object_comes_back_silent_and_a_bad_decision_is_refused(avss):
    s = avss.session("clip")
    s.apply(SetSounding([(4, 2)], False))
    s.apply(DeleteObject(2))
    s.undo()
    assert [o.sounding for o in avss.frame_objects("clip", 4)] == [True, False]
    digest = avss.state_digest()
    with pytest.raises(EditError, match="no object 9"):
        s.apply(SetSounding([(4, 1), (4, 9)], False))
    assert avss.state_digest() == digest  # all or nothing
    added = AddObject(6, 5, 3, disc((240, 320), 40, 40, 8), sounding=False)
    s.apply(added)
    assert not avss.frame_objects("clip", 6)[2].sounding
    assert decode_command(*encode_command(added)).sounding is False


# ---------------------------------------------------------------------- exports and ground truth


@pytest.fixture
def s4_project(demo_root, tmp_path):
    """An S4 project made from a demo dataset (its ground truth as objects) with the sounding
    object of the first clip's frame 0 marked silent."""
    root = demo_root("s4", 6, 0)
    project = Project.create(tmp_path / "s4.avsproj", "s4", user="ana")
    project.add_clips_from_dataset(root)
    clip = next(c for c in project.clip_ids() if all(project.binary_mask(c, k).any() for k in (0, 1)))
    obj = project.frame_objects(clip, 0)[0]
    assert obj.sounding_decided  # dataset ground truth: present means sounding, decided
    project.session(clip).apply(SetSounding([(0, obj.instance_id)], False))
    yield project, root, clip
    project.close()


def test_every_export_of_a_binary_project_leaves_silent_objects_out(s4_project, tmp_path):
    project, root, clip = s4_project
    gt = open_dataset(root).get(clip)
    assert gt.mask(0).any() and gt.mask(1).any()
    s = project.export(tmp_path / "layout", "avsbench-s4", media=False)
    assert any("1 silent object(s) left out" in n for n in s.notes)
    ds = open_dataset(tmp_path / "layout" / "Single-source")
    assert not ds.get(clip).mask(0).any() and np.array_equal(ds.get(clip).mask(1), gt.mask(1))
    project.export(tmp_path / "ms3", "avsbench-ms3", media=False)
    assert not open_dataset(tmp_path / "ms3" / "Multi-sources").get(clip).mask(0).any()
    project.export(tmp_path / "png", "png")
    project.export(tmp_path / "coco.json", "coco")
    for src in (tmp_path / "png", tmp_path / "coco.json"):
        masks, _ = load_masks(src, "s4")
        frames = {(f.clip_id, f.frame): f for f in masks.frames}
        assert not np.asarray(frames[(clip, 0)].mask).any(), src
        assert np.asarray(frames[(clip, 1)].mask).any(), src
    coco = json.loads((tmp_path / "coco.json").read_text())
    image = next(i for i in coco["images"] if i["file_name"].endswith(f"{clip}_1.png"))
    assert not [a for a in coco["annotations"] if a["image_id"] == image["id"]]  # an empty frame, kept


def test_avss_exports_leave_a_silent_class_out_of_its_frames_and_of_a_obj(avss, tmp_path):
    guitar = avss.labels.index("guitar")
    avss.session("clip").apply(SetSounding([(k, 1) for k in range(10)], False))  # the guitar never plays
    s = avss.export(tmp_path / "avss", "avsbench-avss", media=False)
    assert any("10 silent object(s)" in n for n in s.notes)
    from PIL import Image

    folder = tmp_path / "avss" / "AVSS"
    for k in range(10):
        m = np.asarray(Image.open(folder / "v2" / "clip" / "labels_semantic" / f"{k}.png"))  # class indices
        assert not (m == guitar).any() and (m == avss.labels.index("man")).any(), k
    rows = (folder / "metadata.csv").read_text().splitlines()
    assert rows[1].split(",")[4] == "man"  # a_obj: the clip's sounding classes
    avss.export(tmp_path / "coco.json", "coco")
    coco = json.loads((tmp_path / "coco.json").read_text())
    assert {a["category_id"] for a in coco["annotations"]} == {avss.labels.index("man")}


def test_evaluation_and_review_read_the_project_as_ground_truth_without_silent_objects(demo_root, tmp_path):
    from test_review import write_binary_predictions

    from avs_studio.core.review.session import ReviewSession

    root = demo_root("ms3", 6, 0)
    ds = open_dataset(root)
    write_binary_predictions(ds, tmp_path / "perfect")  # equal to the dataset's ground truth
    path = tmp_path / "gt.avsproj"
    with Project.create(path, "ms3") as project:
        project.add_clips_from_dataset(root)
        clip = next(c for c in project.clip_ids() if project.binary_mask(c, 2).sum() > 200)
        silent = [(2, o.instance_id) for o in project.frame_objects(clip, 2)]
        project.session(clip).apply(SetSounding(silent, False))
        assert not project.clip(clip).mask(2).any()  # the clip the metrics read
    with ReviewSession(tmp_path / "perfect", path, "ms3", split="all") as rs:
        rs.compute()
        i = rs.table.index_of(clip)
        assert rs.table.miou[i] < 1.0  # the prediction now claims a silent object
        assert all(rs.table.miou[j] == 1.0 for j in range(len(rs.table.clip_ids)) if j != i)
        detail = rs.clip_detail(clip)
        assert not detail.frames[2].gt.any() and detail.frames[1].gt.any()


def test_merging_projects_keeps_each_objects_sounding(s4_project, tmp_path):
    project, root, clip = s4_project
    other = Project.create(tmp_path / "b.avsproj", "s4", user="bo")
    other.add_clips_from_dataset(root, clip_ids=[c for c in project.clip_ids() if c != clip])
    other.close()
    project.checkpoint()
    merge(project.path, tmp_path / "b.avsproj", tmp_path / "merged.avsproj")
    with Project.open(tmp_path / "merged.avsproj", readonly=True) as merged:
        assert not merged.frame_objects(clip, 0)[0].sounding
        assert not merged.binary_mask(clip, 0).any() and merged.binary_mask(clip, 1).any()


# ---------------------------------------------------------------------- an old project


def test_a_schema_1_project_migrates_and_exports_unchanged(demo_root, tmp_path, monkeypatch):
    root = demo_root("s4", 6, 0)
    path = tmp_path / "old.avsproj"
    with Project.create(path, "s4") as old:  # the previous release: schema 1, no sounding flag
        old.add_clips_from_dataset(root)
    downgrade_to_schema_1(path)
    # an undoable deletion as the previous release stored it (its snapshot has no flag)
    conn = sqlite3.connect(path)
    row = conn.execute("SELECT o.clip, frame, instance, label, rle, area, kind, c.uid FROM objects o "
                       "JOIN clips c ON c.id = o.clip WHERE frame = 1 ORDER BY o.clip LIMIT 1").fetchone()  # fmt: skip
    clip = row[7]
    snap = {"frame": 1, "instance": row[2], "label": row[3], "rle": bytes(row[4]), "area": row[5],
            "provenance": Provenance(row[6]).to_dict()}  # fmt: skip
    text, blob = encode_command(DeleteObject(row[2], 1, _snapshots=[snap]))
    assert "sounding" not in text
    conn.execute("DELETE FROM objects WHERE clip=? AND frame=1 AND instance=?", (row[0], row[2]))
    conn.execute("INSERT INTO history(clip, undone, description, command, data) VALUES (?, 0, 'Delete', ?, ?)",
                 (row[0], text, blob))  # fmt: skip
    conn.commit()
    assert [r[1] for r in conn.execute("PRAGMA table_info(objects)")].count("sounding") == 0
    conn.close()

    with Project.open(path) as project:  # upgraded in one transaction on the first write open
        cols = [r[1] for r in project._store.query("PRAGMA table_info(objects)")]
        assert {"sounding", "sounding_checked"} <= set(cols)
        objs = [o for c in project.clip_ids() for k in range(5) for o in project.frame_objects(c, k)]
        assert objs and all(o.sounding and o.sounding_decided for o in objs)
        project.session(clip).undo()  # the old history still undoes
        restored = project.frame_objects(clip, 1)[0]
        assert restored.sounding and not restored.sounding_checked
        project.export(tmp_path / "out", "avsbench-s4", media=False)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == project_schema.SCHEMA_VERSION
    conn.close()
    exported, original = open_dataset(tmp_path / "out" / "Single-source"), open_dataset(root)
    for c in original.clips():
        for k in c.annotated:
            assert np.array_equal(exported.get(c.clip_id).mask(k), c.mask(k)), (c.clip_id, k)


# ---------------------------------------------------------------------- lanes, hints, decisions


def test_lanes_show_presence_sounding_decisions_and_the_models_hint(avss):
    s = avss.session("clip")
    guitar = avss.labels.index("guitar")
    # the model proposed a guitar in frames 0-5 (confidence 0.8), over object 1
    for k in range(6):
        s.apply(AddObject(k, 7, guitar, disc((240, 320), 80 + 5 * k, 100, 30),
                          Provenance.proposal("demo", confidence=0.8)))  # fmt: skip
    s.apply(DeleteObject(2, 9))  # the man left before the last frame
    s.apply(SetSounding([(3, 1)], False))
    s.apply(SetSounding([(4, 2)], None))
    lanes = {lane.instance_id: lane for lane in object_lanes(s.store.objects(), 10)}
    assert set(lanes) == {1, 2, 7}
    guitar_lane, man, proposal = lanes[1], lanes[2], lanes[7]
    assert man.frames_present() == list(range(9)) and not man.cells[9].present
    assert guitar_lane.cells[0] == LaneCell(True, True, False, False, pytest.approx(0.8))
    # silent where the model hears it: decided, and the hint disagrees
    assert not guitar_lane.cells[3].sounding and guitar_lane.cells[3].decided and guitar_lane.cells[3].disagrees
    # after frame 5 the model proposes nothing in the clip: hint 0, it disagrees with "sounding"
    assert guitar_lane.cells[7].hint == 0.0 and guitar_lane.cells[7].needs_decision and guitar_lane.cells[7].disagrees
    assert man.cells[0].hint == 0.0  # the model's guitar does not cover the man
    assert proposal.cells[0].proposal and not proposal.cells[0].needs_decision
    assert man.cells[4].decided and not man.cells[4].needs_decision
    # D: from frame 3 the next undecided frame is 4 (the guitar; the man was confirmed there)
    lanes_list = list(lanes.values())
    assert next_decision(lanes_list, 3, 10) == (4, 1)
    # within a frame, a disagreeing hint comes first; after the last frame it wraps round
    assert next_decision(lanes_list, 8, 10) == (9, 1)
    assert next_decision(lanes_list, 9, 10) == (0, 2)  # the man: the model hears nothing there
    decide = [(k, i) for k in range(10) for i in (1, 2) if lanes[i].cells[k].needs_decision]
    s.apply(SetSounding(decide, None))
    assert next_decision(object_lanes(s.store.objects(), 10), 0, 10) is None


def test_a_hint_is_the_mean_probability_over_the_object_when_the_map_is_known(avss):
    obj = avss.frame_objects("clip", 0)[0]
    prob = np.zeros((240, 320), np.uint8)
    prob[obj.mask.astype(bool)] = 200
    prob[:, :90] = 50  # part of the object sits where the model is less sure
    expected = prob[obj.mask.astype(bool)].mean() / 255
    assert sounding_hint(obj, [obj], probability=prob) == pytest.approx(expected)
    assert sounding_hint(obj, [obj]) is None  # no model, no hint
    assert sounding_hint(obj, [obj], model_ran=True) == 0.0


# ---------------------------------------------------------------------- locks while painting


def test_painting_with_locked_objects_never_claims_their_pixels(avss):
    s = avss.session("clip")
    man = s.store.mask(0, 2).astype(bool).copy()
    guitar_before = s.store.mask(0, 1).astype(bool).copy()
    stroke = s.stroke(0, 1, radius=12, protect=man)
    stroke.add_points([(100, 120), (260, 120)])  # across the man
    s.apply(stroke.finish())
    guitar = s.store.mask(0, 1).astype(bool)
    assert not (guitar & man & ~guitar_before).any() and guitar[120, 100] and guitar[120, 170]
    assert np.array_equal(s.store.mask(0, 2).astype(bool), man)
    poly = s.polygon(0, 1, [(150, 60), (300, 60), (300, 200), (150, 200)], protect=man)
    s.apply(poly)
    guitar = s.store.mask(0, 1).astype(bool)
    assert not (guitar & man & ~guitar_before).any() and guitar[70, 290]
    assert avss.label_mask("clip", 0)[120, 220] == avss.labels.index("man")  # still on top of nothing


def test_importing_masks_back_keeps_the_silent_objects_geometry(avss, tmp_path):
    s = avss.session("clip")
    s.apply(SetSounding([(k, 2) for k in range(10)], False))  # the man is silent throughout
    s.apply(SetSounding([(4, 1)], False))  # and the guitar in frame 4
    avss.export(tmp_path / "png", "png")
    before = {k: avss.label_mask("clip", k) for k in range(10)}
    avss.import_masks(tmp_path / "png", setting="avss")
    for k in range(10):
        objs = {o.instance_id: o for o in avss.frame_objects("clip", k)}
        assert 2 in objs and not objs[2].sounding and objs[2].area > 4000, k  # kept as it was
        assert np.array_equal(avss.label_mask("clip", k), before[k]), k
    assert set({o.instance_id: o for o in avss.frame_objects("clip", 4)}) == {1, 2}
    assert not avss.frame_objects("clip", 4)[0].sounding  # the silent guitar was not in the mask: kept
    assert avss.frame_objects("clip", 3)[0].provenance.kind == "import"  # the sounding one replaced
