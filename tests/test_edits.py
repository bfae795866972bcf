"""Edits as commands: brush, erase, polygon, flood fill, objects, labels, proposals, status.

Every story goes through a ClipSession: the command is applied and committed at once, and
undo/redo history lives in the project file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avs_studio.core.project.add import NewClip
from avs_studio.core.project.edits import (
    AcceptProposal,
    AddObject,
    Composite,
    DeleteObject,
    MaskPatch,
    RejectProposal,
    ReplaceMask,
    SetLabel,
    SetStatus,
    decode_command,
    encode_command,
)
from avs_studio.core.project.painting import brush_region
from avs_studio.core.project.project import (
    HISTORY_LIMIT,
    EditError,
    Project,
    ProjectReadOnlyError,
    Provenance,
)


def blank_clip(uid: str = "clip", width: int = 320, height: int = 240, frames: int = 5) -> NewClip:
    """A clip with no media on disk: enough for editing stories."""
    return NewClip(
        uid=uid, source="video", root=Path("/nonexistent"), files={"video": f"{uid}.mp4"},
        media_hash="", duration=float(frames), start=0.0, seconds=frames, num_frames=frames,
        frame_times=[k + 0.9375 for k in range(frames)], annotated=list(range(frames)),
        width=width, height=height,
    )  # fmt: skip


@pytest.fixture
def s4(tmp_path):
    project = Project.create(tmp_path / "s4.avsproj", "s4", user="ana")
    project.add_clip(blank_clip())
    yield project
    project.close()


@pytest.fixture
def avss(tmp_path):
    project = Project.create(tmp_path / "avss.avsproj", "avss", user="ana")
    project.add_clip(blank_clip(frames=10))
    yield project
    project.close()


def exact_brush(points, radius, shape):
    """Reference: pixels whose centre lies within ``radius`` of the polyline (brute force)."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w].astype(float)
    best = np.full(shape, np.inf)
    pts = np.asarray(points, float)
    segs = zip(pts[:-1], pts[1:]) if len(pts) > 1 else [(pts[0], pts[0])]
    for (ax, ay), (bx, by) in segs:
        dx, dy = bx - ax, by - ay
        denom = dx * dx + dy * dy
        t = np.zeros(shape) if denom == 0 else np.clip(((xx - ax) * dx + (yy - ay) * dy) / denom, 0, 1)
        best = np.minimum(best, np.hypot(xx - (ax + t * dx), yy - (ay + t * dy)))
    return best


# --------------------------------------------------------------------------- rasterising


def test_a_click_paints_a_round_dot():
    top, left, box = brush_region([(50.0, 40.0)], 6.0, (100, 100))
    full = np.zeros((100, 100), bool)
    full[top : top + box.shape[0], left : left + box.shape[1]] = box
    ref = exact_brush([(50.0, 40.0)], 6.0, (100, 100)) <= 6.0
    assert np.array_equal(full, ref)


def test_a_stroke_covers_what_lies_within_the_radius_of_the_pointer_path():
    rng = np.random.default_rng(3)
    pts = np.cumsum(rng.normal(0, 6, (40, 2)), axis=0) + (120, 90)
    r = 7.5
    top, left, box = brush_region(pts, r, (200, 260))
    got = np.zeros((200, 260), bool)
    got[top : top + box.shape[0], left : left + box.shape[1]] = box
    dist = exact_brush(pts, r, (200, 260))
    # The centre line is rasterised, so the edge may move by under a pixel; nothing more.
    assert got[dist <= r - 1.0].all()
    assert not got[dist > r + 1.0].any()
    assert box.shape[0] < 200 and box.shape[1] < 260  # only the stroke's box is touched


def test_a_stroke_off_the_image_is_clipped_or_nothing():
    assert brush_region([(-50, -50), (-40, -45)], 3, (100, 100)) is None
    top, left, box = brush_region([(-5.0, 50.0), (10.0, 50.0)], 4, (100, 100))
    assert left == 0 and box[:, 0].any()


# --------------------------------------------------------------------------- brush / erase


def test_a_brush_stroke_of_a_hundred_moves_is_one_small_command(tmp_path):
    with Project.create(tmp_path / "hd.avsproj", "s4") as project:
        project.add_clip(blank_clip("hd", 1920, 1080))
        session = project.session("hd")
        stroke = session.stroke(2, 1, radius=12)
        for t in np.linspace(0, 1, 100):
            stroke.add_point(600 + 400 * t, 500 + 80 * np.sin(6 * t))
        cmd = stroke.finish()
        session.apply(cmd)
        assert session.history() == [("Brush stroke", False)]
        assert session.undo_text() == "Undo Brush stroke"
        _, blob = encode_command(cmd)
        assert len(blob) < 20_000  # the changed box, bit-packed: not a 2 MB mask
        mask = project.binary_mask("hd", 2)
        end_y = int(round(500 + 80 * np.sin(6.0)))
        assert mask[500, 600] == 1 and mask[end_y, 1000] == 1 and mask[100, 100] == 0
        assert project.binary_mask("hd", 1).sum() == 0


def test_erasing_removes_pixels_and_undo_brings_them_back(s4):
    session = s4.session("clip")
    session.apply(session.polygon(0, 1, [(20, 20), (200, 20), (200, 150), (20, 150)]))
    before = s4.binary_mask("clip", 0).copy()
    eraser = session.stroke(0, 1, radius=10, erase=True)
    eraser.add_points([(30, 80), (190, 80)])
    session.apply(eraser.finish())
    after = s4.binary_mask("clip", 0)
    assert after.sum() < before.sum() and after[80, 100] == 0 and after[30, 100] == 1
    assert session.undo() == "Erase"
    assert np.array_equal(s4.binary_mask("clip", 0), before)


def test_a_stroke_that_changes_nothing_is_no_command(s4):
    session = s4.session("clip")
    assert session.stroke(0, 1, radius=5, erase=True).finish() is None  # no object to erase
    session.apply(session.polygon(0, 1, [(10, 10), (100, 10), (100, 100)]))
    inside = session.stroke(0, 1, radius=2)
    inside.add_point(80, 20)
    assert inside.finish() is None
    assert len(session.history()) == 1


def test_polygon_fill_matches_the_polygon(s4):
    session = s4.session("clip")
    session.apply(session.polygon(1, 1, [(40, 30), (140, 30), (140, 90), (40, 90)]))
    mask = s4.binary_mask("clip", 1)
    ys, xs = np.nonzero(mask)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (30, 90, 40, 140)
    assert mask.sum() == 61 * 101


def test_flood_fill_fills_background_bounded_by_objects_or_a_hole_of_one_object(s4):
    session = s4.session("clip")
    yy, xx = np.mgrid[:240, :320]
    ring = ((yy - 120) ** 2 + (xx - 160) ** 2 <= 60**2) & ((yy - 120) ** 2 + (xx - 160) ** 2 > 40**2)
    session.apply(AddObject(0, 1, 1, ring.astype(np.uint8)))
    wall = (xx >= 250) & (xx < 255)
    session.apply(AddObject(0, 2, 1, wall.astype(np.uint8)))
    # Fill the ring's hole into object 1 (bounded by itself).
    session.apply(session.flood_fill(0, 1, 160, 120, bounded_by="self"))
    disc = (yy - 120) ** 2 + (xx - 160) ** 2 <= 60**2
    assert np.array_equal(s4.session("clip").store.mask(0, 1).astype(bool), disc)
    # Fill the background right of the wall into a new object 3: stops at the wall.
    session.apply(session.flood_fill(0, 3, 300, 10))
    right = (xx >= 255)
    assert np.array_equal(session.store.mask(0, 3).astype(bool), right)
    # A seed on an object fills nothing.
    assert session.flood_fill(0, 3, 160, 120) is None


# --------------------------------------------------------------------------- objects, labels, proposals


def test_objects_labels_and_composites_in_avss(avss):
    session = avss.session("clip")
    dog, bird = avss.labels.index("dog"), avss.labels.index("bird")
    session.apply(session.polygon(4, 1, [(10, 10), (100, 10), (100, 100), (10, 100)], label="dog"))
    session.apply(session.polygon(4, 2, [(50, 50), (150, 50), (150, 150), (50, 150)], label=bird))
    label = avss.label_mask("clip", 4)
    assert label[20, 20] == dog and label[120, 120] == bird and label[70, 70] == bird  # later on top
    objs = avss.frame_objects("clip", 4)
    assert [(o.instance_id, o.label) for o in objs] == [(1, dog), (2, bird)]
    assert objs[0].provenance.created_by == "ana" and objs[0].mask.sum() == 91 * 91
    session.apply(SetLabel(1, avss.labels.index("cat")))
    assert avss.label_mask("clip", 4)[20, 20] == avss.labels.index("cat")
    assert session.undo() == "Change label"
    assert avss.label_mask("clip", 4)[20, 20] == dog
    with pytest.raises(EditError, match="choose a label"):
        session.polygon(4, 9, [(0, 0), (9, 0), (9, 9)])


def test_proposals_are_kept_apart_until_accepted(avss):
    session = avss.session("clip")
    guitar = avss.labels.index("guitar")
    m = np.zeros((240, 320), np.uint8)
    m[100:140, 100:200] = 1
    for k in range(3):
        session.apply(AddObject(k, 5, guitar, m, Provenance.proposal("avs-pvt", "b2:abc", 0.83)))
    assert avss.label_mask("clip", 0).max() == 0  # proposals are not annotations yet
    assert avss.label_mask("clip", 0, include_proposals=True)[120, 150] == guitar
    session.apply(AcceptProposal(5, frame=0))
    obj = avss.frame_objects("clip", 0)[0]
    assert obj.provenance.kind == "accepted" and obj.provenance.model == "avs-pvt"
    assert obj.provenance.confidence == pytest.approx(0.83)
    assert avss.label_mask("clip", 0)[120, 150] == guitar
    session.apply(RejectProposal(5))  # frames 1 and 2 still hold the proposal; frame 0 is accepted
    assert [o.frame for o in session.store.objects()] == [0]
    assert session.undo() == "Reject proposal"
    assert len(session.store.objects()) == 3
    with pytest.raises(EditError, match="not a proposal"):
        session.apply(RejectProposal(5, frame=0))


def test_deleting_an_object_across_frames_and_undoing_it(s4):
    session = s4.session("clip")
    for k in range(5):
        session.apply(session.polygon(k, 1, [(10 + k, 10), (60, 10), (60, 60)]))
    before = [s4.frame_objects("clip", k)[0] for k in range(5)]
    session.apply(DeleteObject(1))
    assert s4.frame_objects("clip", 3) == []
    assert session.undo_text() == "Undo Delete object 1"
    session.undo()
    session.redo()
    session.undo()
    after = [s4.frame_objects("clip", k)[0] for k in range(5)]
    assert [(o.rle, o.label, o.provenance) for o in after] == [(o.rle, o.label, o.provenance) for o in before]


def test_the_first_mask_edit_moves_a_new_clip_to_in_progress_and_undo_moves_it_back(s4):
    session = s4.session("clip")
    assert s4.clip_record("clip").status == "new"
    session.apply(session.polygon(0, 1, [(10, 10), (60, 10), (60, 60)]))
    rec = s4.clip_record("clip")
    assert rec.status == "in_progress"
    session.apply(SetStatus("done", comment="looks right"))
    rec = s4.clip_record("clip")
    assert (rec.status, rec.annotator, rec.comment) == ("done", "ana", "looks right")
    assert session.undo_text() == "Undo Mark as done"
    session.undo()
    session.undo()
    assert s4.clip_record("clip").status == "new"


def test_replacing_a_whole_mask_is_undoable(s4):
    session = s4.session("clip")
    session.apply(AddObject(0, 1, 1))
    m = np.zeros((240, 320), np.uint8)
    m[:, :100] = 1
    session.apply(ReplaceMask(0, 1, m))
    assert np.array_equal(s4.binary_mask("clip", 0), m)
    session.undo()
    assert s4.binary_mask("clip", 0).sum() == 0


def test_bad_edits_are_refused_and_change_nothing(s4):
    session = s4.session("clip")
    session.apply(session.polygon(0, 1, [(10, 10), (60, 10), (60, 60)]))
    digest = s4.state_digest()
    with pytest.raises(EditError, match="out of range"):
        session.stroke(7, 1, radius=3)
    with pytest.raises(EditError, match="no object 4"):
        session.apply(DeleteObject(4))
    with pytest.raises(EditError, match="outside 1..1"):
        session.apply(AddObject(0, 2, 3))
    with pytest.raises(EditError, match="already has an object 1"):
        session.apply(AddObject(0, 1, 1))
    with pytest.raises(EditError, match="unknown status"):
        SetStatus("finished")
    assert s4.state_digest() == digest
    assert len(session.history()) == 1


# --------------------------------------------------------------------------- history


def random_edit(session, rng, step, size=(320, 240)):
    """One of many kinds of edits, chosen by ``rng`` (may be None when it changes nothing)."""
    kind = step % 7
    frame = int(rng.integers(0, 5))
    inst = int(rng.integers(1, 4))
    if kind in (0, 1, 2):
        stroke = session.stroke(frame, inst, radius=float(rng.uniform(2, 12)), erase=kind == 2)
        start = rng.uniform((0, 0), size)
        stroke.add_points(start + np.cumsum(rng.normal(0, 5, (15, 2)), axis=0))
        return stroke.finish()
    if kind == 3:
        c = rng.uniform((20, 20), (size[0] - 20, size[1] - 20))
        return session.polygon(frame, inst, c + rng.normal(0, 25, (5, 2)))
    if kind == 4:
        return SetStatus(str(rng.choice(["in_progress", "done", "reviewed"])), comment=f"step {step}")
    if kind == 5:
        return DeleteObject(inst, frame) if session.store.object(frame, inst) else None
    return session.flood_fill(frame, inst, *rng.uniform((0, 0), size), bounded_by="self")


def test_a_hundred_edits_then_thirty_undos_survive_closing_and_reopening(demo_root, tmp_path):
    path = tmp_path / "story.avsproj"
    rng = np.random.default_rng(42)
    states = []
    with Project.create(path, "s4", user="ana") as project:
        project.add_clips_from_dataset(demo_root("s4", 6, 0))
        cid = project.clips(split="test")[0].clip_id
        session = project.session(cid)
        ground_truth = [project.binary_mask(cid, k) for k in range(5)]
        step = 0
        while len(states) < 100:
            cmd = random_edit(session, rng, step, size=(224, 224))
            step += 1
            if cmd is None:
                continue
            session.apply(cmd)
            states.append([project.binary_mask(cid, k) for k in range(5)])
        for _ in range(30):
            assert session.undo() is not None
        assert all(np.array_equal(project.binary_mask(cid, k), states[69][k]) for k in range(5))
        digest_after_undo = project.state_digest()
    with Project.open(path) as project:
        assert project.state_digest() == digest_after_undo
        session = project.session(cid)
        assert session.can_undo and session.can_redo
        for _ in range(5):
            session.redo()
        assert all(np.array_equal(project.binary_mask(cid, k), states[74][k]) for k in range(5))
        session.apply(SetStatus("done"))  # a new command clears the redo stack
        assert not session.can_redo
        while session.undo():
            pass
        assert all(np.array_equal(project.binary_mask(cid, k), ground_truth[k]) for k in range(5))
        assert project.check() == []


def test_undo_history_is_bounded_and_kept_across_reopen(tmp_path):
    path = tmp_path / "long.avsproj"
    with Project.create(path, "s4") as project:
        project.add_clip(blank_clip())
        session = project.session("clip")
        for i in range(HISTORY_LIMIT + 5):
            session.apply(SetStatus("in_progress" if i % 2 else "done", comment=str(i)))
    with Project.open(path) as project:
        session = project.session("clip")
        undone = 0
        while session.undo() is not None:
            undone += 1
        assert undone == HISTORY_LIMIT
        assert project.clip_record("clip").comment == "4"  # the state before the oldest kept command


def test_every_command_round_trips_through_its_stored_form(s4):
    session = s4.session("clip")
    m = np.zeros((240, 320), np.uint8)
    m[50:90, 60:120] = 1
    commands = [
        AddObject(0, 1, 1, m, Provenance.proposal("m", "h", 0.5)),
        AcceptProposal(1),
        MaskPatch(0, 1, 10, 20, np.zeros((5, 7), np.uint8), np.ones((5, 7), np.uint8), what="brush"),
        ReplaceMask(0, 1, 1 - m),
        SetLabel(1, 1),
        Composite([AddObject(1, 2, 1), SetStatus("done", comment="ok")], "Two things"),
        DeleteObject(2),
    ]
    for cmd in commands:
        session.apply(cmd)
        text, blob = encode_command(cmd)
        again = decode_command(text, blob)
        assert type(again) is type(cmd) and again.description == cmd.description
        assert encode_command(again) == (text, blob)
        session.undo()
        session.redo()
    while session.undo():
        pass
    assert s4.frame_objects("clip", 0) == [] and s4.clip_record("clip").status == "new"


def test_a_read_only_project_refuses_edits(tmp_path):
    path = tmp_path / "ro.avsproj"
    with Project.create(path, "s4") as project:
        project.add_clip(blank_clip())
    with Project.open(path, readonly=True) as project:
        with pytest.raises(ProjectReadOnlyError, match="read-only"):
            project.session("clip").apply(AddObject(0, 1, 1))
        with pytest.raises(ProjectReadOnlyError):
            project.add_clip(blank_clip("other"))
