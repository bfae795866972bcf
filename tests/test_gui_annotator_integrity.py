"""What you annotate is what you export: the annotator's stories where work used to be dropped.

Each story drives the annotator as a user does (offscreen, the fake disc model of
test_gui_annotator) and checks the project and the exported files: an edited proposal is
exported, "done" never drops open proposals, overlapping objects are exported in the order
the user gave and the canvas's "show as exported" is the export pixel for pixel, proposing
again does not pile duplicates on accepted objects, a new object's class is this clip's.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from avs_studio.core.export import load_masks
from avs_studio.core.proposals import ProposeOptions
from tests import test_gui_annotator as story
from tests.test_gui_annotator import click, drag, make_project, objects, open_project, wait_idle

make_window = story.make_window  # the annotator story's fixtures: fake model, recorded questions
settings_file = story.settings_file


def propose_and_wait(qtbot, win) -> int:
    win.propose_current()
    wait_idle(qtbot, win)
    return next(o.instance_id for o in win.session.objects(win.frame_index) if o.provenance.is_proposal)


def exported_pngs(win, tmp_path, name: str, **kw) -> dict:
    """Export the project as PNG masks (the annotator's export job) and read them back."""
    from avs_studio.gui.annotator.export_dialog import ExportOptions

    out = tmp_path / name
    win.export(ExportOptions("png", out, **kw))
    wait_idle(qtbot_of(win), win)
    masks, _ = load_masks(out, win.project.setting.value)
    return {(fm.clip_id, fm.frame): np.asarray(fm.mask) for fm in masks.frames}


def qtbot_of(win):
    return win._qtbot


@pytest.fixture
def s4_window(make_window, qtbot, demo_root, tmp_path):
    win = make_window()
    win._qtbot = qtbot
    open_project(qtbot, win, make_project(tmp_path, demo_root("s4", 6, 0), "s4"))
    return win


def avss_window(make_window, qtbot, demo_root, tmp_path):
    win = make_window()
    win._qtbot = qtbot
    open_project(qtbot, win, make_project(tmp_path, demo_root("avss", 4, 0), "avss"))
    return win


# ---------------------------------------------------------------------- edited proposals


def test_painting_into_a_proposal_makes_it_yours_and_the_export_keeps_the_paint(s4_window, qtbot, tmp_path):
    win = s4_window
    proposal = propose_and_wait(qtbot, win)
    assert win.selected == proposal
    before = objects(win)[proposal].mask.copy()
    win.set_tool("brush")
    win.set_brush_radius(5)
    history = len(win.session.history())
    drag(win, [(20, 20), (40, 20)])  # far from the disc: pixels only the paint explains
    edited = objects(win)[proposal]
    assert edited.provenance.kind == "accepted" and edited.mask[20, 30]
    assert len(win.session.history()) == history + 1  # painting and accepting: one step
    assert [r.kind for r in win.objects._rows] == ["accepted"]
    written = exported_pngs(win, tmp_path, "png")
    mask = written[(win.clip_id, 0)]
    assert mask[20, 30] and np.array_equal(mask != 0, edited.mask != 0)
    assert (win.clip_id, 1) not in written or not written[(win.clip_id, 1)].any()  # frame 2 still proposed
    win.undo()
    assert objects(win)[proposal].provenance.is_proposal
    assert np.array_equal(objects(win)[proposal].mask, before)


# ---------------------------------------------------------------------- done with open proposals


def test_done_with_open_proposals_asks_listing_them_and_never_drops_them(s4_window, qtbot):
    win = s4_window
    first = win.clip_id
    proposal = propose_and_wait(qtbot, win)
    win.accept_frame()  # frame 1's proposal accepted; frames 2-5 still open
    win.answers["open"] = "cancel"
    win.actions_by_id["mark_done"].trigger()
    kind, clip, listed = win.asked[-1]
    assert (kind, clip) == ("open", first)
    assert [(p.frame, p.instance_id) for p in listed] == [(k, proposal) for k in range(1, 5)]
    assert win.record.status != "done" and win.clip_id == first
    assert "4 open proposal(s)" in win.statusBar().currentMessage()
    # the status box asks too; rejecting them all marks the clip done in one undo step
    win.answers["open"] = "reject"
    win.status_combo.setCurrentIndex(win.status_combo.findData("done"))
    win.status_combo.activated.emit(win.status_combo.currentIndex())
    assert win.record.status == "done" and not win.project.open_proposals(first)
    assert [o.frame for o in win.session.store.objects()] == [0]
    win.undo()
    assert win.record.status == "in_progress" and len(win.project.open_proposals(first)) == 4
    # accepting them all and moving on
    win.answers["open"] = "accept"
    win.mark_done()
    assert win.project.clip_record(first).status == "done" and not win.project.open_proposals(first)
    assert {o.provenance.kind for o in win.project.frame_objects(first, 3)} == {"accepted"}
    qtbot.waitUntil(lambda: win.clip_id != first, timeout=20000)
    wait_idle(qtbot, win)
    # the list follows: the clip opened is the current, selected row
    assert win.clip_list.current_id == win.clip_id
    assert [i.data(0, Qt.ItemDataRole.UserRole) for i in win.clip_list.tree.selectedItems()] == [win.clip_id]


def test_done_and_next_keeps_the_clip_list_on_the_clip_shown(s4_window, qtbot):
    win = s4_window
    tree = win.clip_list.tree
    win.clip_list.filter.setCurrentIndex(1)  # "To do": a done clip leaves the list
    for i in range(3):
        tree.topLevelItem(i).setSelected(True)  # several rows selected (for Propose Selected)
    for _ in range(2):
        shown = win.clip_id
        win.mark_done()
        qtbot.waitUntil(lambda shown=shown: win.clip_id != shown, timeout=20000)
        wait_idle(qtbot, win)
        item = tree.currentItem()
        assert item is not None and item.data(0, Qt.ItemDataRole.UserRole) == win.clip_id
        assert [i.data(0, Qt.ItemDataRole.UserRole) for i in tree.selectedItems()] == [win.clip_id]
        assert not item.isHidden() and shown not in win.clip_list.visible_ids()


# ---------------------------------------------------------------------- overlaps and "show as exported"


def test_overlapping_objects_are_exported_in_the_order_shown_as_exported(make_window, qtbot, demo_root, tmp_path,
                                                                         monkeypatch):  # fmt: skip
    win = avss_window(make_window, qtbot, demo_root, tmp_path)
    said: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _p, _t, text, *a: said.append(text))
    labels = win.project.labels
    bird, woman = labels.index("bird"), labels.index("woman")
    win.set_tool("brush")
    win.set_brush_radius(10)
    win.labels.choose(bird)
    drag(win, [(30, 40), (70, 40)])
    first = win.selected
    win.new_object()
    win.labels.choose(woman)
    drag(win, [(60, 40), (100, 40)])
    second = win.selected
    assert second != first
    shared = objects(win)[first].mask.astype(bool) & objects(win)[second].mask.astype(bool)
    assert shared.sum() > 50
    # the panel lists the top object first; the woman lies on top and wins the shared pixels
    assert [r.instance_id for r in win.objects._rows] == [second, first]
    win.actions_by_id["show_exported"].setChecked(True)
    shown = win.export_overlay.mask.copy()
    assert win.export_overlay.item.isVisible() and not win.canvas.objects_visible
    assert (shown[shared] == woman).all()
    written = exported_pngs(win, tmp_path, "png")[(win.clip_id, 0)]
    assert np.array_equal(shown, written)  # what the canvas shows is what the export writes
    assert f"objects overlap in 1 frame(s), {int(shared.sum()):,} shared pixel(s)" in said[-1]  # and says so
    # raise the bird (the panel's button): the view and the export follow
    win.select_object(first)
    win.objects.raise_button.click()
    assert [r.instance_id for r in win.objects._rows] == [first, second]
    raised = win.export_overlay.mask.copy()
    assert (raised[shared] == bird).all()
    from avs_studio.gui.annotator.export_dialog import ExportOptions

    win.export(ExportOptions("avsbench-avss", tmp_path / "avss"))
    wait_idle(qtbot, win)
    from avs_studio.core.datasets import open_dataset

    ds = open_dataset(tmp_path / "avss" / "AVSS", "avss")
    clip = next(c for c in ds.clips() if c.clip_id == win.clip_id)
    assert np.array_equal(clip.mask(0, size=None), raised)  # the official layout, pixel for pixel
    # the export says what the overlap cost
    summary = win.project.export(tmp_path / "png2", "png")
    assert summary.overlaps.frames[(win.clip_id, 0)] == (int(shared.sum()), int(shared.sum()))
    # undo puts the woman back on top; H hides the exported view like the objects
    win.undo()
    assert (win.export_overlay.mask[shared] == woman).all()
    win.actions_by_id["toggle_objects"].trigger()
    assert not win.export_overlay.item.isVisible()
    win.actions_by_id["toggle_objects"].trigger()
    win.actions_by_id["show_exported"].setChecked(False)
    assert not win.export_overlay.shown and win.canvas.objects_visible
    win.close()


def click_row(qtbot, win, instance_id: int) -> None:
    """Click an object's row in the object panel, as the user picks an object there."""
    from PySide6.QtTest import QTest

    tree = win.objects.tree
    item = next(tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
                if tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == instance_id)  # fmt: skip
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(item).center())
    assert win.selected == instance_id


def press_button(button) -> None:
    """A real click on a panel or toolbar button (refused while it is disabled, as on screen)."""
    from PySide6.QtTest import QTest

    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def test_the_panels_lower_and_raise_buttons_reorder_overlapping_objects_and_undo_puts_them_back(
    make_window, qtbot, demo_root, tmp_path
):
    """A bird, then a woman painted over its right half: the woman lies on top. The annotator
    lowers the woman with the panel's Lower button: the bird wins the shared pixels on the
    canvas shown as exported and in the exported labels; undo gives them back to the woman;
    Raise on the bird does what Lower on the woman did."""
    win = avss_window(make_window, qtbot, demo_root, tmp_path)
    labels = win.project.labels
    bird, woman = labels.index("bird"), labels.index("woman")
    win.set_tool("brush")
    win.set_brush_radius(10)
    win.labels.choose(bird)
    drag(win, [(30, 40), (70, 40)])
    first = win.selected
    win.new_object()
    win.labels.choose(woman)
    drag(win, [(60, 40), (100, 40)])
    second = win.selected
    shared = objects(win)[first].mask.astype(bool) & objects(win)[second].mask.astype(bool)
    assert shared.sum() > 50
    win.actions_by_id["show_exported"].setChecked(True)
    assert (win.export_overlay.mask[shared] == woman).all()
    panel = win.objects

    def order() -> list[int]:  # the panel lists the top object first
        return [r.instance_id for r in panel._rows]

    click_row(qtbot, win, second)
    assert order() == [second, first]
    assert panel.lower_button.isEnabled() and not panel.raise_button.isEnabled()  # on top already
    history = len(win.session.history())
    press_button(panel.lower_button)
    assert order() == [first, second] and win.selected == second
    assert win.session.history()[-1][0] == f"Lower object {second}" and len(win.session.history()) == history + 1
    assert not panel.lower_button.isEnabled() and panel.raise_button.isEnabled()  # at the bottom now
    lowered = win.export_overlay.mask.copy()
    assert (lowered[shared] == bird).all()
    assert (lowered[objects(win)[second].mask.astype(bool) & ~shared] == woman).all()  # the rest stays hers
    written = exported_pngs(win, tmp_path, "lowered")[(win.clip_id, 0)]
    assert np.array_equal(written, lowered)  # the export writes what the canvas shows
    # undo: the woman on top again, on the canvas and in the next export
    win.undo()
    assert order() == [second, first]
    assert (win.export_overlay.mask[shared] == woman).all()
    assert (exported_pngs(win, tmp_path, "undone")[(win.clip_id, 0)][shared] == woman).all()
    # Raise on the bird (picked in the panel) gives the same picture as Lower on the woman
    click_row(qtbot, win, first)
    press_button(panel.raise_button)
    assert order() == [first, second] and win.session.history()[-1][0] == f"Raise object {first}"
    assert np.array_equal(win.export_overlay.mask, lowered)
    assert np.array_equal(exported_pngs(win, tmp_path, "raised")[(win.clip_id, 0)], lowered)
    win.close()


def test_paint_behind_ticked_in_the_toolbar_leaves_other_objects_their_pixels(make_window, qtbot, demo_root,
                                                                             tmp_path, monkeypatch):  # fmt: skip
    """With "Paint behind" ticked, a stroke across a bird paints a violin around it: the bird
    keeps every pixel, the new violin goes to the bottom of the order, nothing overlaps and
    the export has both whole. Unticked, the violin's brush paints over the bird's pixels."""
    win = avss_window(make_window, qtbot, demo_root, tmp_path)
    said: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _p, _t, text, *a: said.append(text))
    labels = win.project.labels
    bird, violin = labels.index("bird"), labels.index("violin")
    win.set_tool("brush")
    win.set_brush_radius(12)
    win.labels.choose(bird)
    drag(win, [(60, 60), (70, 60)])
    the_bird = win.selected
    bird_mask = objects(win)[the_bird].mask.astype(bool).copy()
    behind = win.tool_options.behind
    assert behind.isVisible() and not behind.isChecked()
    press_button(behind)  # the toolbar's checkbox
    assert behind.isChecked() and win.tool_options.paint_behind
    win.new_object()
    win.labels.choose(violin)
    history = len(win.session.history())
    drag(win, [(20, 60), (110, 60)])  # right through the bird
    the_violin = win.selected
    assert the_violin != the_bird and len(win.session.history()) == history + 1
    painted = objects(win)[the_violin].mask.astype(bool)
    assert painted[60, 20] and painted[60, 110] and not (painted & bird_mask).any()
    assert np.array_equal(objects(win)[the_bird].mask.astype(bool), bird_mask)  # the bird is untouched
    assert [r.instance_id for r in win.objects._rows] == [the_bird, the_violin]  # the violin at the bottom
    written = exported_pngs(win, tmp_path, "behind")[(win.clip_id, 0)]
    assert (written[bird_mask] == bird).all() and (written[painted] == violin).all()
    assert not any("overlap" in s for s in said)  # nothing overlaps, so nothing was hidden
    # the selected violin painted behind once more, over the bird: still no bird pixel taken
    drag(win, [(60, 45), (60, 75)])
    assert not (objects(win)[the_violin].mask.astype(bool) & bird_mask).any()
    # unticked, the violin's stroke takes bird pixels: they overlap now, the bird (still on
    # top) keeps them in the export, and the export says how many violin pixels it hid
    press_button(behind)
    assert not win.tool_options.paint_behind
    drag(win, [(50, 60), (70, 60)])
    over = objects(win)[the_violin].mask.astype(bool) & bird_mask
    assert over.any()
    assert (exported_pngs(win, tmp_path, "over")[(win.clip_id, 0)][over] == bird).all()
    assert f"objects overlap in 1 frame(s), {int(over.sum()):,} shared pixel(s)" in said[-1]
    win.close()


def test_show_as_exported_leaves_out_proposals_like_the_default_export(s4_window, qtbot, tmp_path):
    win = s4_window
    propose_and_wait(qtbot, win)
    win.actions_by_id["show_exported"].trigger()
    assert win.showing_exported and not win.export_overlay.mask.any()  # nothing accepted yet
    win.accept_selected()
    assert win.export_overlay.mask.any()
    assert np.array_equal(win.export_overlay.mask, exported_pngs(win, tmp_path, "png")[(win.clip_id, 0)])


# ---------------------------------------------------------------------- proposing again


def test_proposing_again_asks_and_leaves_out_duplicates_of_accepted_objects(s4_window, qtbot):
    win = s4_window
    proposal = propose_and_wait(qtbot, win)
    win.accept_selected()  # every frame's disc is the annotator's now
    n_before = len(win.session.store.objects())
    win.propose_current()
    wait_idle(qtbot, win)
    kind, what, proposals, mine = win.asked[-1]
    assert (kind, what, proposals, mine) == ("propose", win.clip_id, 0, 5)
    assert len(win.session.store.objects()) == n_before  # the same discs again: all left out
    assert "5 left out as duplicates of your objects" in win.statusBar().currentMessage()
    assert {o.instance_id for o in win.session.store.objects()} == {proposal}
    # without skipping, the new round adds its proposals beside the accepted objects
    win.answers["propose"] = ProposeOptions(skip_duplicates=False)
    win.propose_current()
    wait_idle(qtbot, win)
    assert len(win.project.open_proposals(win.clip_id)) == 5
    # cancelling the question proposes nothing
    calls = list(win.engines["engine"].calls)
    win.answers["propose"] = None
    win.propose_current()
    wait_idle(qtbot, win)
    assert win.engines["engine"].calls == calls


# ---------------------------------------------------------------------- the class of a new object


def test_a_new_avss_object_takes_this_clips_class_never_one_left_from_another_clip(make_window, qtbot, demo_root,
                                                                                  tmp_path):  # fmt: skip
    win = avss_window(make_window, qtbot, demo_root, tmp_path)
    labels = win.project.labels
    guitar = labels.index("guitar")
    win.labels.choose(guitar)  # picked with nothing selected: this clip's new objects are guitars
    assert win.tool_options.target.text() == "New: guitar"
    win.set_tool("brush")
    win.set_brush_radius(6)
    drag(win, [(30, 30), (50, 30)])
    assert objects(win)[win.selected].label == guitar
    assert win.tool_options.target.text() == f"Paints #{win.selected} guitar"
    # another clip: the guitar is not carried over; the class is asked first
    first = win.clip_id
    win.step_clip(1)
    qtbot.waitUntil(lambda: win.clip_id != first and win.loaded is not None, timeout=20000)
    wait_idle(qtbot, win)
    assert win.tool_options.target.text() == "New: class asked (Ctrl+L)"
    assert win.labels.list.currentItem() is None  # the class list shows no stale class either
    win.answers["class"] = None
    drag(win, [(30, 30), (50, 30)])
    assert win.asked[-1][0] == "class" and not win.session.objects(0)  # cancelled: nothing painted
    win.answers["class"] = "violin"
    drag(win, [(30, 30), (50, 30)])  # this press asks; the stroke is the next one
    assert not win.session.objects(0) and win.tool_options.target.text() == "New: violin"
    drag(win, [(30, 30), (50, 30)])
    assert [o.label for o in win.session.objects(0)] == [labels.index("violin")]
    win.close()


def test_an_s4_object_is_the_clips_sounding_object_and_says_so(s4_window):
    win = s4_window
    category = win.record.category
    assert win.tool_options.target.text() == f"New: sounding object ({category})"


# ---------------------------------------------------------------------- small things that were wrong


def test_the_threshold_slider_stays_where_it_was_released(s4_window, qtbot):
    win = s4_window
    proposal = propose_and_wait(qtbot, win)
    area = objects(win)[proposal].area
    win.objects.threshold.setValue(80)  # a click on the groove: applied at once
    assert objects(win)[proposal].area < area
    assert win.objects.threshold.value() == 80 and win.objects.threshold_label.text() == "Threshold 0.80"


def test_the_threshold_slider_dragged_by_its_handle_keeps_the_value_where_it_is_released(s4_window, qtbot):
    """The user drags the slider's handle to the right: the canvas previews the tighter
    proposal while the project is unchanged; on release the threshold is applied in one
    undo step and the slider stays where it was let go (it used to jump back)."""
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QStyle, QStyleOptionSlider

    win = s4_window
    proposal = propose_and_wait(qtbot, win)
    area = objects(win)[proposal].area
    slider = win.objects.threshold
    assert slider.isEnabled() and slider.value() == 50
    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    handle = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                           QStyle.SubControl.SC_SliderHandle, slider).center()  # fmt: skip
    groove = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                           QStyle.SubControl.SC_SliderGroove, slider)  # fmt: skip
    history = len(win.session.history())

    def mouse(kind, x: int) -> None:
        pos = QPointF(QPoint(x, handle.y()))
        button = Qt.MouseButton.LeftButton
        buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
        ev = QMouseEvent(kind, pos, QPointF(slider.mapToGlobal(pos.toPoint())),
                         Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else button, buttons,
                         Qt.KeyboardModifier.NoModifier)  # fmt: skip
        QApplication.sendEvent(slider, ev)

    target = handle.x() + (groove.right() - handle.x()) * 6 // 10  # most of the way to the right
    mouse(QEvent.Type.MouseButtonPress, handle.x())
    assert slider.isSliderDown()
    for x in np.linspace(handle.x(), target, 6)[1:].round().astype(int):
        mouse(QEvent.Type.MouseMove, int(x))
    dragged = slider.value()
    assert 60 < dragged < 99
    assert win.objects.threshold_label.text() == f"Threshold {dragged / 100:.2f}"
    preview = next(o.mask for o in win.canvas.objects if o.instance_id == proposal)
    assert 0 < int(np.count_nonzero(preview)) < area  # the canvas shows the tighter mask ...
    assert objects(win)[proposal].area == area and len(win.session.history()) == history  # ... nothing saved
    mouse(QEvent.Type.MouseButtonRelease, target)
    assert not slider.isSliderDown()
    assert slider.value() == dragged and win.objects.threshold_label.text() == f"Threshold {dragged / 100:.2f}"
    assert objects(win)[proposal].area == int(np.count_nonzero(preview))  # what was previewed is applied
    assert [t for t, _ in win.session.history()[history:]] == [f"Threshold {dragged / 100:.2f}"]
    # the threshold is kept for the proposal: selected again, the slider shows it
    win.select_object(None)
    win.select_object(proposal)
    assert slider.value() == dragged
    win.undo()
    assert objects(win)[proposal].area == area


def test_after_ctrl_l_and_enter_the_keys_go_to_the_canvas_again(make_window, qtbot, demo_root, tmp_path):
    win = avss_window(make_window, qtbot, demo_root, tmp_path)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)
    win.set_tool("select")
    win.actions_by_id["choose_label"].trigger()
    assert QApplication.focusWidget() is win.labels.search
    qtbot.keyClicks(win.labels.search, "guit")
    qtbot.keyClick(win.labels.search, Qt.Key.Key_Return)
    assert win.new_object_label == win.project.labels.index("guitar")
    assert QApplication.focusWidget() is win.canvas
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_B)  # B is the brush, not a letter typed
    assert win.canvas.tool.name == "brush" and win.labels.search.text() == "guit"
    win.close()


def test_the_hint_follows_the_selected_object(s4_window, qtbot):
    win = s4_window
    win.set_tool("brush")
    win.set_brush_radius(5)
    drag(win, [(20, 20), (30, 20)])  # object #1 in frame 1 only
    one = win.selected
    win.step_frame(1)
    win.new_object()
    drag(win, [(120, 120), (130, 120)])  # object #2 in frame 2
    two = win.selected
    win.select_object(one)  # #1 is not in frame 2
    assert win.objects.hint.text() == f"Painting adds object #{one} to this frame (N starts a new object)."
    win.objects.objectSelected.emit(two)  # the panel's row of #2
    assert win.selected == two and win.objects.hint.text() == ""
    assert win.tool_options.target.text().startswith(f"Paints #{two}")


def test_the_fill_is_a_magic_wand_within_the_tolerance_of_the_clicked_colour(s4_window):
    win = s4_window
    rgb = win.loaded.frames[0].astype(int)
    x, y = 5, 5
    win.tool_options.tolerance.setValue(12)
    win.set_tool("fill")
    click(win, x, y)
    filled = objects(win)[win.selected].mask.astype(bool)
    assert filled[y, x] and 0 < filled.sum() < filled.size
    distance = np.abs(rgb - rgb[y, x]).max(axis=2)
    assert (distance[filled] <= 12).all()  # nothing outside the tolerance was filled


def test_fix_ground_truth_leaves_clips_with_partial_ground_truth_in_progress(make_window, qtbot, demo_root,
                                                                           tmp_path, monkeypatch):  # fmt: skip
    import shutil

    from PySide6.QtWidgets import QFileDialog

    data = tmp_path / "data"
    shutil.copytree(demo_root("s4", 6, 0), data)
    said = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda _p, _t, default, *_a: (default, ""))
    monkeypatch.setattr(QMessageBox, "information", lambda _p, _t, text, *a: said.append(text))
    win = make_window()
    win.create_project_from_dataset(data, setting="s4", select=None)  # what Fix Ground Truth runs
    qtbot.waitUntil(lambda: win.project is not None and win.loaded is not None, timeout=60000)
    wait_idle(qtbot, win)
    recs = {r.clip_id: r for r in win.project.clips()}
    train = [r for r in recs.values() if r.split == "train"]
    assert train and all(r.status == "in_progress" and r.comment == "ground truth in 1 of 5 frames"
                         for r in train)  # fmt: skip
    assert all(r.status == "done" for r in recs.values() if r.split != "train")
    assert any(f"{len(train)} clip(s) have ground truth in only some of their frames" in s for s in said)
    win.close()
