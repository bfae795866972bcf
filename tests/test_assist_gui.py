"""Assisted annotation in the annotator, as an annotator uses it (offscreen, silent sink):
the click tool (C), propagation (T), copy from the previous frame (Ctrl+D), refine proposal
(Shift+C), and a SAM-family model named in the preferences."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication
from test_gui_annotator import (  # noqa: F401 - fixtures
    DiscEngine,
    make_project,
    make_window,
    open_project,
    settings_file,
    wait_idle,
)

from avs_studio.core.assist.propagate import PROPAGATION_MODEL
from avs_studio.core.assist.simulate import iou
from avs_studio.core.project.edits import AddObject


def send(win, kind, x: float, y: float, button=Qt.MouseButton.LeftButton, modifiers=Qt.KeyboardModifier.NoModifier):
    """A mouse event at image pixel centre (x, y) on the canvas."""
    pos = QPointF(win.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5)))
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    b = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else button
    ev = QMouseEvent(kind, pos, win.canvas.viewport().mapToGlobal(pos), b, buttons, modifiers)
    QApplication.sendEvent(win.canvas.viewport(), ev)


def click(win, x, y, **kw) -> None:
    send(win, QEvent.Type.MouseButtonPress, x, y, **kw)
    send(win, QEvent.Type.MouseButtonRelease, x, y, **kw)


def drag(win, a, b) -> None:
    send(win, QEvent.Type.MouseButtonPress, *a)
    for t in np.linspace(0, 1, 6)[1:]:
        send(win, QEvent.Type.MouseMove, a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
    send(win, QEvent.Type.MouseButtonRelease, *b)


def press(qtbot, win, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, key, modifier)


def truth(root, clip_id: str, k: int) -> np.ndarray | None:
    """The dataset's ground truth of frame ``k`` (the sounding object), at the frame's size
    (None for frames without one: S4 train clips have only their first)."""
    from avs_studio.core.datasets import open_dataset

    ds = open_dataset(root, "s4")
    clip = next(c for c in ds.clips() if c.clip_id == clip_id)
    m = clip.mask(k, size=None)
    return None if m is None else m.astype(bool)


def deepest(mask: np.ndarray) -> tuple[int, int]:
    import cv2

    d = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    r, c = np.unravel_index(int(np.argmax(d)), d.shape)
    return int(c), int(r)


def preview_of(win, inst: int) -> np.ndarray:
    return next(o.mask for o in win.canvas.objects if o.instance_id == inst).astype(bool)


def open_sounding_clip(qtbot, win, root) -> None:
    """Open a clip with ground truth on every frame whose first frame has a sounding object."""
    for clip_id in win.clip_list.visible_ids():
        gt = truth(root, clip_id, 0)
        if gt is not None and gt.sum() > 200 and all(truth(root, clip_id, k) is not None for k in range(5)):
            win.open_clip(clip_id)
            qtbot.waitUntil(lambda c=clip_id: win.clip_id == c and win._loading is None, timeout=30000)
            wait_idle(qtbot, win)
            return
    pytest.fail("no demo clip sounds in its first frame")


@pytest.fixture
def s4(make_window, qtbot, demo_root, tmp_path):  # noqa: F811
    """An S4 demo project open on a clip whose first frame has a sounding object."""
    root = demo_root("s4", 6, 0)
    win = make_window()
    open_project(qtbot, win, make_project(tmp_path, root, "s4"))
    open_sounding_clip(qtbot, win, root)
    return win, root


def test_click_tool_preview_negative_clicks_box_enter_and_esc(s4, qtbot):
    win, root = s4
    gt = truth(root, win.clip_id, 0)
    press(qtbot, win, Qt.Key.Key_C)
    assert win.canvas.tool.name == "click"
    history = len(win.session.history())

    # one click on the sounding object: a preview at once (in the background), nothing saved yet
    x, y = deepest(gt)
    click(win, x, y)
    qtbot.waitUntil(lambda: win.click_edit is not None and win.click_edit.mask is not None, timeout=10000)
    inst = win.click_edit.instance_id
    assert iou(preview_of(win, inst), gt) > 0.85
    assert len(win.session.history()) == history and not win.session.objects(0)

    # Shift+click and a right click are "not the object": red marks, the object stays
    far = (5, 5) if not gt[5, 5] else (218, 218)
    click(win, *far, modifiers=Qt.KeyboardModifier.ShiftModifier)
    click(win, far[0] + 3, far[1] + 3, button=Qt.MouseButton.RightButton)
    tool = win.tools["click"]
    assert [c.positive for c in tool.prompt.clicks] == [True, False, False]
    wait_idle(qtbot, win)
    assert iou(preview_of(win, inst), gt) > 0.85
    press(qtbot, win, Qt.Key.Key_Backspace)  # takes the right click back
    assert len(tool.prompt.clicks) == 2

    # Enter commits: ONE command, undone in one step
    press(qtbot, win, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: win.session.store.object(0, inst) is not None, timeout=10000)
    assert len(win.session.history()) == history + 1
    assert win.session.history()[-1][0] == "Click to mask"
    committed = win.session.store.object(0, inst)
    assert iou(committed.mask, gt) > 0.85 and win.selected == inst and not tool.active
    win.undo()
    assert win.session.store.object(0, inst) is None

    # a dragged box around the object segments what is inside it
    rows, cols = np.flatnonzero(gt.any(axis=1)), np.flatnonzero(gt.any(axis=0))
    drag(win, (cols[0] - 4, rows[0] - 4), (cols[-1] + 4, rows[-1] + 4))
    assert tool.prompt.box is not None and not tool.prompt.clicks
    qtbot.waitUntil(lambda: win.click_edit is not None and win.click_edit.mask is not None, timeout=10000)
    boxed = preview_of(win, win.click_edit.instance_id)
    assert not boxed[: max(0, rows[0] - 5)].any() and iou(boxed, gt) > 0.7

    # Esc drops the clicks and the preview; the project never changed
    history = len(win.session.history())
    press(qtbot, win, Qt.Key.Key_Escape)
    assert win.click_edit is None and not tool.active
    assert not win.session.objects(0) and len(win.session.history()) == history
    assert all(o.instance_id != inst for o in win.canvas.objects)


def test_clicks_on_a_selected_object_correct_it(s4, qtbot):
    """With an object selected, clicks start from its mask: a negative click in a spill
    removes the spill; Enter replaces the mask (one step)."""
    win, root = s4
    gt = truth(root, win.clip_id, 0)
    spill = np.zeros_like(gt)
    rows, cols = np.flatnonzero(gt.any(axis=1)), np.flatnonzero(gt.any(axis=0))
    spill[rows[0] : rows[-1], cols[-1] : min(cols[-1] + 25, gt.shape[1])] = True
    inst = win.session.next_instance_id()
    win.commit(AddObject(0, inst, 1, (gt | spill).astype(np.uint8)), select=inst)
    win.select_object(inst)
    win.set_tool("click")
    x, y = deepest(spill & ~gt)
    click(win, x, y, modifiers=Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: win.click_edit is not None and win.click_edit.mask is not None, timeout=10000)
    press(qtbot, win, Qt.Key.Key_Enter)
    qtbot.waitUntil(lambda: win.click_edit is None, timeout=10000)
    assert iou(win.session.store.object(0, inst).mask, gt) > 0.85
    assert win.session.history()[-1][0] == "Click to mask"


def test_propagation_proposals_accept_copy_and_correction(s4, qtbot):
    """T proposes the selected object on the other sampled frames (through the clip's video),
    as proposals the annotator accepts like the model's; Ctrl+D copies the previous frame;
    a click-tool correction on a frame proposes the later frames again from it."""
    win, root = s4
    gt0 = truth(root, win.clip_id, 0)
    inst = win.session.next_instance_id()
    win.commit(AddObject(0, inst, 1, gt0.astype(np.uint8)), select=inst)
    win.select_object(inst)
    press(qtbot, win, Qt.Key.Key_T)
    wait_idle(qtbot, win)
    props = {o.frame: o for o in win.session.store.objects() if o.instance_id == inst and o.provenance.is_proposal}
    assert sorted(props) == [1, 2, 3, 4]
    assert all(o.provenance.model == PROPAGATION_MODEL and 0 < o.provenance.confidence <= 1 for o in props.values())
    assert "Propagation" in win.statusBar().currentMessage()
    assert win.session.history()[-1][0] == f"Propagate object {inst}"
    # where the object sounds (the ground truth shows it), the proposal found it
    gts = {f: truth(root, win.clip_id, f) for f in props}
    scores = [iou(o.mask, gts[f]) for f, o in props.items() if gts[f].any()]
    assert scores and min(scores) > 0.8, scores

    # reject frame 2's proposal; Ctrl+D on frame 2 copies frame 1's mask there
    win.show_frame(2)
    win.select_object(inst)
    win.reject_frame()
    assert win.session.store.object(2, inst) is None
    win.show_frame(2)
    press(qtbot, win, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    copied = win.session.store.object(2, inst)
    assert copied is not None and copied.provenance.is_proposal
    assert np.array_equal(copied.mask, win.session.store.object(1, inst).mask)

    # a correction on frame 2 with the click tool re-propagates frames 3 and 4 from it
    before = {f: win.session.store.object(f, inst).rle for f in (3, 4)}
    win.select_object(inst)
    win.set_tool("click")
    x, y = deepest(copied.mask.astype(bool))
    click(win, x, y)
    qtbot.waitUntil(lambda: win.click_edit is not None and win.click_edit.mask is not None, timeout=10000)
    press(qtbot, win, Qt.Key.Key_Return)
    wait_idle(qtbot, win)
    titles = [t for t, _ in win.session.history()]
    assert titles[-2:] == ["Click to mask", f"Propagate object {inst}"]
    after = {f: win.session.store.object(f, inst) for f in (3, 4)}
    assert all(o.provenance.model == PROPAGATION_MODEL for o in after.values())
    assert win.last_propagation[0].source == 2 and [p.frame for p in win.last_propagation[0].frames] == [3, 4]
    assert any(after[f].rle != before[f] for f in (3, 4))

    # accepting the selected proposal accepts it on every frame
    win.show_frame(3)
    win.select_object(inst)
    win.accept_selected()
    assert all(not o.provenance.is_proposal for o in win.session.store.objects() if o.instance_id == inst)

    # an annotated frame stops a walk: propagating from frame 0 again has nothing to do
    win.show_frame(0)
    win.select_object(inst)
    assert not win.propagate_selected("forward")
    assert "annotated already" in win.statusBar().currentMessage()


def test_copy_from_previous_frame_with_nothing_selected_copies_every_object(s4, qtbot):
    """Two objects on frame 1, nothing selected on frame 2: Ctrl+D proposes both there, the
    same pixels, in one undo step. An object drawn on frame 2 already keeps its own mask,
    and the status bar says so."""
    from avs_studio.gui.annotator.assist import COPY_MODEL

    win, _ = s4
    store = win.session.store
    a, b, c = (win.session.next_instance_id() + i for i in range(3))
    left = np.zeros((224, 224), np.uint8)
    left[40:100, 20:80] = 1
    right = np.zeros_like(left)
    right[120:200, 130:210] = 1
    win.commit(AddObject(0, a, 1, left))
    win.commit(AddObject(0, b, 1, right))
    win.show_frame(1)
    win.select_object(None)
    history = len(win.session.history())
    press(qtbot, win, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    copied = {o.instance_id: o for o in win.session.objects(1)}
    assert sorted(copied) == [a, b]
    assert all(o.provenance.is_proposal and o.provenance.model == COPY_MODEL for o in copied.values())
    assert np.array_equal(copied[a].mask, left) and np.array_equal(copied[b].mask, right)
    assert [t for t, _ in win.session.history()[history:]] == ["Copy from frame 1"]
    assert {r.instance_id for r in win.objects._rows} == {a, b}  # the panel lists both, as proposals
    win.undo()
    assert not win.session.objects(1)
    # frame 3 has object b drawn by hand already; frame 2 gets a and b again and a new object c
    own = np.zeros_like(left)
    own[10:30, 150:200] = 1
    win.show_frame(2)
    win.commit(AddObject(2, b, 1, own))
    win.show_frame(1)
    win.select_object(None)
    press(qtbot, win, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    win.commit(AddObject(1, c, 1, right[::-1].copy()))
    win.show_frame(2)
    win.select_object(None)
    press(qtbot, win, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    here = {o.instance_id: o for o in win.session.objects(2)}
    assert sorted(here) == [a, b, c]
    assert np.array_equal(here[b].mask, own) and not here[b].provenance.is_proposal  # kept, not copied over
    assert here[a].provenance.is_proposal and np.array_equal(here[a].mask, store.object(1, a).mask)
    assert here[c].provenance.is_proposal and np.array_equal(here[c].mask, store.object(1, c).mask)
    assert f"Kept this frame's own mask of object(s) #{b}" in win.statusBar().currentMessage()


def test_refine_proposal_turns_a_model_proposal_into_clicks(s4, qtbot):
    win, _ = s4
    win.propose_current()
    wait_idle(qtbot, win)
    proposal = next(o for o in win.session.objects(0) if o.provenance.is_proposal)
    win.select_object(proposal.instance_id)
    press(qtbot, win, Qt.Key.Key_C, Qt.KeyboardModifier.ShiftModifier)
    tool = win.tools["click"]
    assert win.canvas.tool is tool and tool.prompt.positives and tool.prompt.negatives
    qtbot.waitUntil(lambda: win.click_edit is not None and win.click_edit.mask is not None, timeout=10000)
    history = len(win.session.history())
    press(qtbot, win, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: win.click_edit is None, timeout=10000)
    assert len(win.session.history()) == history + 1
    refined = win.session.store.object(0, proposal.instance_id)
    assert refined.rle != proposal.rle
    assert not refined.provenance.is_proposal  # corrected by hand: the annotator's now


def test_a_sam_model_named_in_the_preferences_serves_the_clicks(make_window, qtbot, demo_root, tmp_path):  # noqa: F811
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from sam_tiny import build_pair

    enc, dec = build_pair(tmp_path / "models", "sam2_osam", radius=100.0)
    root = demo_root("s4", 6, 0)
    win = make_window()
    win.prefs.sam_encoder, win.prefs.sam_decoder = str(enc), str(dec)
    win.set_assist_backend("sam")
    open_project(qtbot, win, make_project(tmp_path, root, "s4"))
    wait_idle(qtbot, win)
    seg = win.segmenters.loaded()
    assert seg is not None and "SAM 2" in seg.name
    assert all(seg.is_prepared((win.clip_id, k)) for k in range(5))  # embedded when the clip opened
    win.set_tool("click")
    click(win, 112, 112)
    qtbot.waitUntil(lambda: win.click_edit is not None and win.click_edit.mask is not None, timeout=10000)
    mask = win.click_edit.mask
    ys, xs = np.nonzero(mask)
    assert abs(xs.mean() - 112) < 2 and abs(ys.mean() - 112) < 2  # the tiny decoder's disc
    assert abs((xs.max() - xs.min() + 1) / 2 - 100 * 224 / 1024) < 2


def test_sam_files_that_fail_fall_back_to_the_builtin_segmenter(make_window, qtbot, demo_root, tmp_path):  # noqa: F811
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"nonsense")
    root = demo_root("s4", 6, 0)
    win = make_window()
    win.prefs.sam_encoder, win.prefs.sam_decoder = str(bad), str(bad)
    win.set_assist_backend("sam")
    open_project(qtbot, win, make_project(tmp_path, root, "s4"))
    open_sounding_clip(qtbot, win, root)
    win.set_tool("click")
    gt = truth(root, win.clip_id, 0)
    click(win, *deepest(gt))
    qtbot.waitUntil(lambda: win.click_edit is not None and win.click_edit.mask is not None, timeout=10000)
    assert iou(win.click_edit.mask, gt) > 0.85  # the built-in segmenter answered
    assert any("bad.onnx" in e and "built-in segmenter" in e for e in win.errors)


def test_without_onnxruntime_the_sam_choice_is_disabled_and_says_why(make_window, monkeypatch):  # noqa: F811
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    win = make_window()
    assert not win.sam_action.isEnabled()
    assert "ONNX Runtime" in win.sam_action.toolTip() and "pip install" in win.sam_action.toolTip()
    assert win.builtin_action.isChecked()
