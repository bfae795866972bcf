"""Proposals and hand edits, without the GUI: nothing an annotator did is dropped silently.

Stories: an annotator paints into a model proposal that was never accepted (brush, eraser,
polygon, fill): it becomes theirs in the same undo step and the export keeps the painted
pixels. Open proposals of a clip are listed for the annotator and the command line. A new
round of proposals replaces the open ones (or keeps them), never touches accepted objects,
and leaves out what duplicates them -- saying how many. The flood fill is a magic wand
bounded by the frame's colours and the other objects; "paint behind" leaves other objects'
pixels to them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avs_studio.core.project.add import NewClip
from avs_studio.core.project.edits import AcceptProposal, AddObject, ReplaceMask, SetStatus
from avs_studio.core.project.project import Project, Provenance
from avs_studio.core.setting import Setting

H, W = 60, 80


def blank_clip(uid: str = "clip", frames: int = 5) -> NewClip:
    return NewClip(
        uid=uid, source="video", root=Path("/nonexistent"), files={"video": f"{uid}.mp4"},
        media_hash="", duration=float(frames), start=0.0, seconds=frames, num_frames=frames,
        frame_times=[k + 0.9375 for k in range(frames)], annotated=list(range(frames)),
        width=W, height=H, split="test",
    )  # fmt: skip


def disc(cx, cy, r) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return (((xx - cx) ** 2 + (yy - cy) ** 2) <= r * r).astype(np.uint8)


MODEL = Provenance.proposal("disc model", "abc", 0.8)


@pytest.fixture
def s4(tmp_path):
    project = Project.create(tmp_path / "s4.avsproj", "s4", user="ana")
    project.add_clip(blank_clip())
    session = project.session("clip")
    for k in range(5):  # the model proposes object #1 in every frame
        session.apply(AddObject(k, 1, 1, disc(30, 30, 10), MODEL))
    yield project
    project.close()


def kinds(project, inst=1):
    return [o.provenance.kind for o in project.session("clip").store.objects() if o.instance_id == inst]


# --------------------------------------------------------------------------- hand edits


@pytest.mark.parametrize("tool", ["brush", "eraser", "polygon", "fill", "drawn whole mask"])
def test_a_hand_edit_makes_the_proposal_the_annotators_in_the_same_undo_step(s4, tmp_path, tool):
    session = s4.session("clip")
    history = len(session.history())
    if tool == "brush":
        stroke = session.stroke(0, 1, radius=3)
        stroke.add_points([(50, 30), (60, 30)])  # paints beside the disc
        command = stroke.finish()
    elif tool == "eraser":
        stroke = session.stroke(0, 1, radius=3, erase=True)
        stroke.add_points([(30, 30)])
        command = stroke.finish()
    elif tool == "polygon":
        command = session.polygon(0, 1, [(50, 20), (70, 20), (70, 40)])
    elif tool == "fill":
        dark = np.zeros((H, W, 3), np.uint8)
        dark[:, 60:] = 255
        command = session.flood_fill(0, 1, 5, 5, image=dark)  # the dark part around the disc
    else:
        command = ReplaceMask(0, 1, disc(40, 30, 12), by_hand=True)
    session.apply(command)
    edited = session.store.object(0, 1)
    assert edited.provenance.kind == "accepted" and edited.provenance.model == "disc model"
    assert kinds(s4)[1:] == ["proposal"] * 4  # the frames nobody touched stay proposals
    assert len(session.history()) == history + 1  # one undo step
    assert "1" in {str(o.instance_id) for o in s4.frame_objects("clip", 0, include_proposals=False)}
    # the default export (no proposals) now holds exactly the edited mask
    assert np.array_equal(s4.binary_mask("clip", 0), edited.mask)
    session.undo()
    assert kinds(s4) == ["proposal"] * 5
    assert np.array_equal(s4.session("clip").store.object(0, 1).mask, disc(30, 30, 10))
    session.redo()
    assert kinds(s4)[0] == "accepted"


def test_painting_into_a_proposal_then_exporting_keeps_the_painted_pixels(s4, tmp_path):
    from avs_studio.core.export import load_masks

    session = s4.session("clip")
    stroke = session.stroke(2, 1, radius=4)
    stroke.add_points([(55, 30), (70, 30)])
    session.apply(stroke.finish())
    s4.export(tmp_path / "png", "png")
    masks, _ = load_masks(tmp_path / "png", "s4")
    written = {fm.frame: fm.mask for fm in masks.frames}
    assert written[2][30, 65] and written[2][30, 30]  # the painted pixels and the proposal's
    assert not written[1].any()  # frames still proposed are left out of the default export


def test_re_thresholding_a_proposal_keeps_it_a_proposal(s4):
    session = s4.session("clip")
    session.apply(ReplaceMask(0, 1, disc(30, 30, 6)))  # the threshold slider, not a hand edit
    assert kinds(s4) == ["proposal"] * 5


# --------------------------------------------------------------------------- open proposals


def test_the_open_proposals_of_a_clip_are_listed_by_frame_and_object(s4):
    session = s4.session("clip")
    assert [(p.frame, p.instance_id) for p in s4.open_proposals("clip")] == [(k, 1) for k in range(5)]
    session.apply(AcceptProposal(1, 0))
    session.apply(AddObject(3, 2, 1, disc(60, 40, 5), MODEL))
    found = s4.open_proposals("clip")
    assert [(p.frame, p.instance_id) for p in found] == [(1, 1), (2, 1), (3, 1), (3, 2), (4, 1)]
    assert str(found[0]) == "frame 2: object #1 sounding object (80%)"
    assert [p.clip_id for p in s4.open_proposals()] == ["clip"] * 5  # the whole project
    assert s4.object_counts("clip") == {"accepted": 1, "proposal": 5}
    session.apply(AcceptProposal(1))
    session.apply(AcceptProposal(2))
    assert s4.open_proposals("clip") == []


# --------------------------------------------------------------------------- a new round


def proposal(frames=range(5), cx=30, label=1, key="fg"):
    from avs_studio.core.proposals import ClipProposal, ProposedObject

    objs = [ProposedObject(key, k, label, disc(cx, 30, 10), 0.9) for k in frames]
    return ClipProposal("clip", Setting.S4, "disc model", "abc", 0.5, objs)


def test_a_new_round_replaces_open_proposals_and_skips_what_duplicates_accepted_objects(s4):
    from avs_studio.core.proposals import (
        plan_proposals,
    )

    session = s4.session("clip")
    session.apply(AcceptProposal(1, 0))  # frame 1's disc is the annotator's now
    session.apply(AcceptProposal(1, 1))
    plan = plan_proposals(session.store, proposal())
    session.apply(plan.command)
    objs = session.store.objects()
    assert [(o.frame, o.instance_id, o.provenance.kind) for o in objs if o.frame < 2] == [
        (0, 1, "accepted"), (1, 1, "accepted")]  # accepted objects kept, not duplicated
    new = [o for o in objs if o.provenance.is_proposal]
    assert sorted(o.frame for o in new) == [2, 3, 4] and {o.instance_id for o in new} == {2}
    assert plan.replaced == 3 and plan.added == 3
    assert [(s.frame, s.duplicate_of, s.iou) for s in plan.skipped] == [(0, 1, 1.0), (1, 1, 1.0)]
    assert "2 left out as duplicates of your objects (IoU ≥ 1.00)" in plan.line()
    assert "3 open proposal(s) replaced" in plan.line()


def test_a_new_round_can_keep_the_open_proposals_and_everything_it_proposes(s4):
    from avs_studio.core.proposals import (
        ProposeOptions,
        plan_proposals,
    )

    session = s4.session("clip")
    session.apply(AcceptProposal(1, 0))
    plan = plan_proposals(session.store, proposal(cx=34), ProposeOptions(replace_open=False, skip_duplicates=False))
    session.apply(plan.command)
    assert plan.kept_open == 4 and plan.added == 5 and not plan.skipped
    assert len(session.store.objects(0)) == 2 and len(session.store.objects(2)) == 2


def test_only_an_overlap_above_the_threshold_of_the_same_class_is_a_duplicate(tmp_path):
    from avs_studio.core.proposals import (
        ProposeOptions,
        plan_proposals,
    )

    with Project.create(tmp_path / "avss.avsproj", "avss") as project:
        project.add_clip(blank_clip(frames=10))
        session = project.session("clip")
        session.apply(AddObject(0, 1, 28, disc(30, 30, 10)))  # a guitar drawn by hand
        moved_disc = proposal(frames=[0], cx=36, label=28, key="class:28")  # IoU with it 0.46
        plan = plan_proposals(session.store, moved_disc)
        assert plan.added == 1 and not plan.skipped
        plan = plan_proposals(session.store, moved_disc, ProposeOptions(iou=0.4))
        assert plan.added == 0 and plan.skipped[0].duplicate_of == 1 and 0.4 <= plan.skipped[0].iou < 0.5
        violin = proposal(frames=[0], label=45, key="class:45")  # same pixels, another class
        assert plan_proposals(session.store, violin).added == 1
    with pytest.raises(ValueError):
        ProposeOptions(iou=0.0)


def test_a_model_frame_of_the_wrong_size_is_refused(s4):
    from avs_studio.core.errors import AVSError
    from avs_studio.core.proposals import (
        ClipProposal,
        ProposedObject,
        plan_proposals,
    )

    bad = ClipProposal("clip", Setting.S4, "m", "", 0.5, [ProposedObject("fg", 0, 1, np.ones((10, 10), np.uint8), 0.9)])
    with pytest.raises(AVSError, match="the clip's frames are 80x60"):
        plan_proposals(s4.session("clip").store, bad)


# --------------------------------------------------------------------------- magic wand, paint behind


def test_the_magic_wand_fills_similar_colour_bounded_by_image_edges_and_other_objects(tmp_path):
    image = np.full((H, W, 3), (200, 40, 40), np.uint8)  # a red frame ...
    image[:, 40:] = (40, 40, 200)  # ... whose right half is blue
    image[10:20, 10:20] = (210, 50, 45)  # a slightly different red patch (within the tolerance)
    with Project.create(tmp_path / "s4.avsproj", "s4") as project:
        project.add_clip(blank_clip())
        session = project.session("clip")
        session.apply(AddObject(0, 1, 1, disc(20, 45, 6)))  # another object inside the red half
        session.apply(session.flood_fill(0, 2, 5, 5, image=image, tolerance=32, label=1))
        filled = session.store.object(0, 2).mask.astype(bool)
        assert filled[5, 5] and filled[15, 15] and filled[59, 39]
        assert not filled[:, 40:].any()  # the colour edge bounds it
        assert not (filled & disc(20, 45, 6).astype(bool)).any()  # so does the other object
        session.undo()
        # a tolerance below the patch's difference leaves the patch out
        session.apply(session.flood_fill(0, 2, 5, 5, image=image, tolerance=5, label=1))
        assert not session.store.object(0, 2).mask[15, 15]
        # the old fill (no image) still fills everything no object covers
        session.undo()
        session.apply(session.flood_fill(0, 2, 5, 5, label=1))
        assert session.store.object(0, 2).mask[:, 40:].all()


def test_painting_behind_leaves_other_objects_pixels_to_them_and_puts_a_new_object_at_the_bottom(tmp_path):
    with Project.create(tmp_path / "avss.avsproj", "avss") as project:
        project.add_clip(blank_clip(frames=10))
        session = project.session("clip")
        session.apply(AddObject(0, 1, 28, disc(30, 30, 10)))
        stroke = session.stroke(0, 2, radius=4, label=45, behind=True)
        stroke.add_points([(10, 30), (50, 30)])  # right through the guitar
        session.apply(stroke.finish())
        violin = session.store.object(0, 2).mask.astype(bool)
        assert violin[30, 10] and violin[30, 50] and not violin[30, 30]
        assert project.composed_mask("clip", 0).shared == 0
        assert session.object_order() == [2, 1]  # the new object lies behind
        assert session.undo() == "Brush stroke"
        assert session.store.object(0, 2) is None and session.object_order() == [1]
        # painted normally, the same stroke covers the guitar and lies on top
        stroke = session.stroke(0, 2, radius=4, label=45)
        stroke.add_points([(10, 30), (50, 30)])
        session.apply(stroke.finish())
        assert session.store.object(0, 2).mask[30, 30] and session.object_order() == [1, 2]
        assert project.composed_mask("clip", 0).hidden == {1: int(np.count_nonzero(
            disc(30, 30, 10).astype(bool) & session.store.object(0, 2).mask.astype(bool)))}


def test_marking_a_clip_done_in_the_core_is_left_to_the_faces(s4):
    # The core does not refuse: the annotator asks and the CLI reports (open_proposals).
    s4.session("clip").apply(SetStatus("done"))
    assert s4.clip_record("clip").status == "done" and len(s4.open_proposals("clip")) == 5
