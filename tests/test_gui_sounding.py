"""The annotator's sounding lanes and speed-ups, as an annotator uses them (offscreen).

Stories: decide which object sounds in which frame from the timeline's lanes and the
keys; reshape a mask by its outline; keep a finished object safe with a lock while
painting next to it; pick recent classes with the number keys; find one's way with the
minimap when zoomed in.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

import test_gui_annotator as story
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication
from test_gui_annotator import click, drag, key, make_project, objects, open_project, wait_idle

from avs_studio.gui.annotator.panels.object_panel import COL_LOCK, COL_SOUND
from avs_studio.gui.common.lanes import cell_rect, cell_width

# The annotator stories' fixtures: preferences in a temporary file, a window with a fake model.
settings_file = story.settings_file
make_window = story.make_window


def shift_click(win, x: float, y: float) -> None:
    """Shift+click at image pixel centre (x, y) on the canvas."""
    pos = QPointF(win.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5)))
    for kind, buttons in ((QEvent.Type.MouseButtonPress, Qt.MouseButton.LeftButton),
                          (QEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton)):  # fmt: skip
        ev = QMouseEvent(kind, pos, win.canvas.viewport().mapToGlobal(pos), Qt.MouseButton.LeftButton, buttons,
                         Qt.KeyboardModifier.ShiftModifier)  # fmt: skip
        QApplication.sendEvent(win.canvas.viewport(), ev)


def cell_colour_share(win, row: int, frame: int, colour) -> float:
    """Share of a lane cell's pixels drawn in (nearly) the object's colour (a 75 % fill), as on screen."""
    tl = win.timeline
    img = tl.grab().toImage()
    xs = tl.frame_xs()
    r = cell_rect(tl.lane_area(), row, xs[frame], cell_width(xs)).adjusted(3, 3, -14, -5)
    dpr = img.devicePixelRatio()
    hits = total = 0
    for y in range(int(r.top() * dpr), int(r.bottom() * dpr)):
        for x in range(int(r.left() * dpr), int(r.right() * dpr), 2):
            c = img.pixelColor(x, y)
            total += 1
            hits += abs(c.red() - colour[0]) + abs(c.green() - colour[1]) + abs(c.blue() - colour[2]) < 120
    return hits / max(total, 1)


@pytest.fixture
def s4_window(make_window, qtbot, demo_root, tmp_path):
    """An S4 demo project with the fake model's proposal accepted in every frame (object A)
    and a second object B painted in frames 1 and 2."""
    path = make_project(tmp_path, demo_root("s4", 6, 0), "s4")
    win = make_window()
    open_project(qtbot, win, path)
    win.propose_current()
    wait_idle(qtbot, win)
    win.accept_selected()
    a = win.selected
    win.set_tool("brush")
    win.set_brush_radius(10)
    win.show_frame(1)
    win.new_object()
    drag(win, [(30, 190), (70, 200)])
    b = win.selected
    win.show_frame(2)
    win.select_object(b)
    drag(win, [(40, 190), (80, 200)])
    wait_idle(qtbot, win)
    return win, a, b


def test_lanes_show_where_each_object_is_and_whether_it_sounds_and_s_toggles_it(s4_window, qtbot):
    win, a, b = s4_window
    views = {v.instance_id: v for v in win.timeline.lanes()}
    assert list(views) == [a, b]
    assert [c.present for c in views[a].cells] == [True] * 5
    assert [c.present for c in views[b].cells] == [False, True, True, False, False]
    assert all(c.sounding and not c.decided for c in views[b].cells if c.present)
    assert views[a].cells[0].hint == pytest.approx(win.session.objects(0)[0].provenance.confidence)
    assert win.timeline.minimumHeight() > 170  # room was made for the lanes
    colour_b = views[b].colour
    assert cell_colour_share(win, 1, 2, colour_b) > 0.5  # sounding: a full block
    assert cell_colour_share(win, 1, 0, colour_b) < 0.05  # absent: nothing

    # S marks B silent in frame 2: kept as geometry, out of the mask, drawn dimmed and dotted
    win.select_object(b)
    assert win.frame_index == 2
    key(qtbot, win, Qt.Key.Key_S)
    obj = objects(win)[b]
    assert not obj.sounding and obj.sounding_decided and obj.area > 0
    assert not win.project.binary_mask(win.clip_id, 2)[195, 60]
    drawn = {o.instance_id: o for o in win.canvas.objects}
    assert not drawn[b].sounding and drawn[a].sounding
    tags = [i.text for i in win.canvas.scene().items() if hasattr(i, "text") and isinstance(i.text, str)]
    assert "silent" in tags
    row = next(win.objects.tree.topLevelItem(i) for i in range(2)
               if win.objects.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == b)  # fmt: skip
    assert row.checkState(COL_SOUND) == Qt.CheckState.Unchecked
    cell = {v.instance_id: v for v in win.timeline.lanes()}[b].cells[2]
    assert cell.present and not cell.sounding and cell.decided
    assert cell_colour_share(win, 1, 2, colour_b) < 0.35  # silent: outlined and hatched
    assert win.actions_by_id["undo"].text() == f"Undo Mark object {b} silent"

    # a click on B's cell in frame 1 goes there and toggles it; Ctrl+Z takes it back
    xs = win.timeline.frame_xs()
    centre = cell_rect(win.timeline.lane_area(), 1, xs[1], cell_width(xs)).center()
    qtbot.mouseClick(win.timeline, Qt.MouseButton.LeftButton, pos=QPoint(int(centre.x()), int(centre.y())))
    assert win.frame_index == 1 and win.selected == b and not objects(win)[b].sounding
    win.actions_by_id["undo"].trigger()
    assert objects(win)[b].sounding
    # the Sound box of the object list toggles too
    row = next(win.objects.tree.topLevelItem(i) for i in range(2)
               if win.objects.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == a)  # fmt: skip
    row.setCheckState(COL_SOUND, Qt.CheckState.Unchecked)
    qtbot.waitUntil(lambda: not objects(win)[a].sounding, timeout=3000)
    assert win.selected == a
    win.close()


def test_d_walks_the_frames_that_need_a_decision_until_all_are_decided(s4_window, qtbot):
    win, a, b = s4_window
    win.show_frame(0)
    visited = []
    for _ in range(8):
        key(qtbot, win, Qt.Key.Key_D)
        if "decided in this clip" in win.statusBar().currentMessage():
            break
        visited.append((win.frame_index, win.selected))
        assert "not decided yet" in win.statusBar().currentMessage()
        if win.selected == b and win.frame_index == 2:
            key(qtbot, win, Qt.Key.Key_S)  # B is silent there
        key(qtbot, win, Qt.Key.Key_S, Qt.KeyboardModifier.ShiftModifier)  # the rest as they are
    # frame 1 and 2 hold A and B; the walk starts after frame 0 and wraps round to it
    assert [k for k, _ in visited] == [1, 2, 3, 4, 0]
    lanes = win.current_lanes()
    assert not any(c.needs_decision for lane in lanes for c in lane.cells)
    assert [c.sounding for c in lanes[1].cells if c.present] == [True, False]
    win.close()


def test_outline_edit_drags_adds_and_removes_vertices_in_one_undo_step(make_window, qtbot, demo_root, tmp_path):
    path = make_project(tmp_path, demo_root("s4", 6, 0), "s4")
    win = make_window()
    open_project(qtbot, win, path)
    win.set_tool("polygon")
    for x, y in [(60, 60), (160, 60), (160, 160), (60, 160)]:
        click(win, x, y)
    key(qtbot, win, Qt.Key.Key_Return)
    inst = win.selected
    square = objects(win)[inst].mask.copy()
    history = len(win.session.history())
    key(qtbot, win, Qt.Key.Key_P, Qt.KeyboardModifier.ShiftModifier)
    tool = win.tools["outline"]
    assert win.canvas.tool is tool and tool.instance == inst
    assert len(tool.outlines) == 1 and len(tool.outlines[0].points) == 4
    # drag the bottom-right corner out
    drag(win, [(160, 160), (180, 185), (200, 200)])
    assert tool.edited == {0}
    # click on the top edge adds a vertex there and pulls it up; Shift+click removes one
    drag(win, [(110, 60), (110, 40), (110, 30)])
    assert len(tool.outlines[0].points) == 5
    key(qtbot, win, Qt.Key.Key_Return)
    edited = objects(win)[inst].mask
    assert edited[190, 190] and edited[40, 110] and not square[190, 190]
    assert np.array_equal(edited[70:150, 70:150], square[70:150, 70:150])
    assert len(win.session.history()) == history + 1
    assert win.actions_by_id["undo"].text() == "Undo Edit outline"
    win.actions_by_id["undo"].trigger()
    assert np.array_equal(objects(win)[inst].mask, square)
    # after the undo the tool shows the square again; Shift+click takes a corner away
    qtbot.waitUntil(lambda: tool.instance == inst and len(tool.outlines[0].points) == 4, timeout=3000)
    shift_click(win, 160, 160)
    assert len(tool.outlines[0].points) == 3
    key(qtbot, win, Qt.Key.Key_Escape)  # drops the edit
    assert len(tool.outlines[0].points) == 4 and not tool.edited
    win.close()


def test_a_locked_object_keeps_its_pixels_while_painting_next_to_it(make_window, qtbot, demo_root, tmp_path):
    path = make_project(tmp_path, demo_root("s4", 6, 0), "s4")
    win = make_window()
    open_project(qtbot, win, path)
    win.set_tool("polygon")
    for x, y in [(80, 80), (140, 80), (140, 140), (80, 140)]:
        click(win, x, y)
    key(qtbot, win, Qt.Key.Key_Return)
    locked = win.selected
    before = objects(win)[locked].mask.copy()
    item = win.objects.tree.topLevelItem(0)
    item.setCheckState(COL_LOCK, Qt.CheckState.Checked)
    qtbot.waitUntil(lambda: locked in win.locked, timeout=3000)
    assert win.canvas.objects[0].locked
    # a new object painted right across the locked one does not claim its pixels
    win.set_tool("brush")
    win.new_object()
    win.set_brush_radius(8)
    drag(win, [(40, 110), (200, 110)])
    other = win.selected
    painted = objects(win)[other].mask.astype(bool)
    assert painted[110, 50] and painted[110, 190] and not (painted & before.astype(bool)).any()
    # the eraser, the outline tool and Delete leave the locked object alone
    win.set_tool("eraser")
    win.select_object(locked)
    drag(win, [(100, 100), (120, 120)])
    assert np.array_equal(objects(win)[locked].mask, before) and "locked" in win.statusBar().currentMessage()
    win.actions_by_id["delete_object"].trigger()
    assert locked in objects(win)
    win.set_tool("outline")
    assert not win.tools["outline"].editing
    # unlocked, it can be changed again
    item = next(win.objects.tree.topLevelItem(i) for i in range(2)
                if win.objects.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == locked)  # fmt: skip
    item.setCheckState(COL_LOCK, Qt.CheckState.Unchecked)
    qtbot.waitUntil(lambda: locked not in win.locked, timeout=3000)
    key(qtbot, win, Qt.Key.Key_1)  # S4 has one class: the number keys say so
    assert "one class" in win.statusBar().currentMessage()
    win.set_tool("eraser")
    win.select_object(locked)
    drag(win, [(100, 100), (120, 120)])
    assert not objects(win)[locked].mask[110, 110]
    win.close()


def test_number_keys_give_the_recent_classes(make_window, qtbot, demo_root, tmp_path):
    path = make_project(tmp_path, demo_root("avss", 4, 0), "avss")
    win = make_window()
    open_project(qtbot, win, path)
    labels = win.project.labels
    guitar, violin = labels.index("guitar"), labels.index("violin")
    for name in ("guit", "violi"):
        win.labels.search.setText(name)
        win.labels.search.returnPressed.emit()
    assert win.labels.recent.slots[:2] == [guitar, violin] and win.labels.recent_row.isVisibleTo(win)
    win.set_tool("brush")
    win.new_object()
    win.set_brush_radius(8)
    drag(win, [(40, 40), (60, 50)])
    inst = win.selected
    assert objects(win)[inst].label == violin
    key(qtbot, win, Qt.Key.Key_1)  # relabels the selected object (every frame)
    assert objects(win)[inst].label == guitar and win.labels.current_label == guitar
    assert win.labels.recent.slots[:2] == [guitar, violin]  # numbers stay where they were
    win.new_object()
    key(qtbot, win, Qt.Key.Key_2)
    drag(win, [(120, 120), (140, 130)])
    assert objects(win)[win.selected].label == violin
    key(qtbot, win, Qt.Key.Key_7)
    assert "No class on 7" in win.statusBar().currentMessage()
    # in the search box a digit is text, not a shortcut
    win.labels.search.setText("")
    win.labels.search.setFocus()
    qtbot.keyClick(win.labels.search, Qt.Key.Key_1)
    assert win.labels.search.text() == "1" and objects(win)[win.selected].label == violin
    win.close()


def test_the_minimap_shows_when_zoomed_in_and_pans_the_view(make_window, qtbot, demo_root, tmp_path):
    path = make_project(tmp_path, demo_root("s4", 6, 0), "s4")
    win = make_window()
    open_project(qtbot, win, path)
    mini = win.minimap
    assert not mini.isVisible()  # the whole frame fits
    win.canvas.zoom(4.0)
    qtbot.waitUntil(mini.isVisible, timeout=2000)
    assert mini.zoomed_in() and mini.width() <= 182 and mini.height() <= 182
    assert mini.visible_rect().width() < win.canvas.sceneRect().width()
    # a click near the minimap's bottom-right corner brings that corner into view
    target = QPointF(200, 200)
    s = mini._scale()
    qtbot.mouseClick(mini, Qt.MouseButton.LeftButton, pos=QPoint(int(1 + target.x() * s), int(1 + target.y() * s)))
    vis = mini.visible_rect()
    assert vis.contains(target) and vis.left() > 50
    # dragging moves it back to the top-left
    qtbot.mousePress(mini, Qt.MouseButton.LeftButton, pos=QPoint(int(1 + 150 * s), int(1 + 150 * s)))
    qtbot.mouseMove(mini, QPoint(int(1 + 20 * s), int(1 + 20 * s)))
    qtbot.mouseRelease(mini, Qt.MouseButton.LeftButton, pos=QPoint(int(1 + 20 * s), int(1 + 20 * s)))
    assert mini.visible_rect().contains(QPointF(20, 20))
    win.canvas.fit()
    qtbot.waitUntil(lambda: not mini.isVisible(), timeout=2000)
    win.close()
