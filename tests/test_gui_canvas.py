"""The canvas on its own: overlays, zoom and pan, the brush preview, the polygon tool."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from avs_studio.gui.annotator.canvas import CanvasObject, FrameCanvas
from avs_studio.gui.common.qimage import FillLayer, paint_fills, premultiplied, render_fills


def disc(h, w, cx, cy, r) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (((xx - cx) ** 2 + (yy - cy) ** 2) <= r * r).astype(np.uint8)


@pytest.fixture
def canvas(qtbot):
    c = FrameCanvas()
    qtbot.addWidget(c)
    c.resize(640, 480)
    c.show()
    c.set_image(np.full((120, 160, 3), 90, np.uint8))
    return c


def pixel(item, x, y) -> tuple[int, int, int, int]:
    """BGRA of a layer's pixel (premultiplied)."""
    buf = item.buffer
    return tuple(int(v) for v in buf[y, x]) if buf is not None else (0, 0, 0, 0)


def test_objects_are_filled_proposals_hatched_and_the_selection_has_its_own_layer(canvas):
    a = CanvasObject(1, 1, "object", disc(120, 160, 40, 60, 20), (255, 0, 200))
    b = CanvasObject(2, 1, "object", disc(120, 160, 110, 60, 25), (0, 200, 255), proposal=True, confidence=0.8)
    canvas.set_opacity(0.5)
    canvas.set_objects([a, b], selected=1)
    base, active = canvas._base_item, canvas._active_item
    assert pixel(active, 40, 60)[3] > 0 and pixel(base, 40, 60)[3] == 0  # the selected object
    hatch = {pixel(base, x, 60)[3] for x in range(100, 120)}
    assert len(hatch) == 2  # stripes: two alphas inside a proposal
    assert pixel(base, 5, 5) == (0, 0, 0, 0)
    assert canvas.object_at(110, 60) == 2 and canvas.object_at(40, 60) == 1 and canvas.object_at(5, 5) is None
    tags = [i.text for i in canvas.scene().items() if isinstance(getattr(i, "text", None), str)]
    assert tags == ["proposal 80%"]
    canvas.set_selected(None)
    assert canvas._active_item.image.isNull() and pixel(canvas._base_item, 40, 60)[3] > 0
    canvas.set_objects_visible(False)
    assert not canvas._base_item.isVisible()
    b.visible = False
    canvas.set_objects_visible(True)
    canvas.set_objects([a, b])
    assert canvas.object_at(110, 60) is None  # hidden objects are not picked either


def test_fills_of_many_objects_match_a_plain_numpy_reference():
    rng = np.random.default_rng(3)
    layers = [FillLayer(rng.random((50, 70)) > 0.6, tuple(int(v) for v in rng.integers(0, 255, 3))) for _ in range(4)]
    out = render_fills((50, 70), layers, 120)
    ref = np.zeros((50, 70, 4), np.uint8)
    for layer in layers:
        ref[layer.mask] = premultiplied(layer.colour, 120)
    assert np.array_equal(out, ref)
    assert np.array_equal(paint_fills(np.zeros_like(out), [], 120), np.zeros_like(out))


def test_ctrl_wheel_zooms_and_the_middle_button_pans(canvas, qtbot):
    canvas.fit()
    z = canvas.zoom_factor
    pos = QPointF(320, 240)
    ev = QWheelEvent(pos, canvas.mapToGlobal(pos), QPoint(), QPoint(0, 120), Qt.MouseButton.NoButton,
                     Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    QApplication.sendEvent(canvas.viewport(), ev)
    assert canvas.zoom_factor == pytest.approx(z * 1.25)
    canvas.zoom(4)
    h = canvas.horizontalScrollBar().value()
    for kind, p in ((QEvent.Type.MouseButtonPress, QPointF(300, 200)), (QEvent.Type.MouseMove, QPointF(200, 200)),
                    (QEvent.Type.MouseButtonRelease, QPointF(200, 200))):  # fmt: skip
        btn = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.MiddleButton
        QApplication.sendEvent(canvas.viewport(), QMouseEvent(kind, p, p, btn, Qt.MouseButton.MiddleButton,
                                                              Qt.KeyboardModifier.NoModifier))  # fmt: skip
    assert canvas.horizontalScrollBar().value() == h + 100
    canvas.fit()
    assert canvas.zoom_factor == pytest.approx(z)


def test_the_brush_preview_repaints_only_the_segment(canvas):
    canvas.set_objects([])
    canvas.set_brush_cursor(6)
    canvas.begin_paint((255, 0, 200), erase=False)
    dirty = canvas.paint_segment(QPointF(20.5, 20.5), QPointF(60.5, 30.5), 6)
    canvas.end_paint()
    assert dirty.width() < 60 and dirty.height() < 30
    assert pixel(canvas._active_item, 40, 25)[3] > 0 and pixel(canvas._active_item, 100, 100)[3] == 0
    assert canvas._cursor_item.rect().width() == 12  # the footprint, in frame pixels


class Host:
    """A ToolHost that records what the tools ask for."""

    def __init__(self, canvas) -> None:
        self.canvas = canvas
        self.polygons = []
        self.brush_radius = 5.0

    def commit_polygon(self, points, *, erase=False):
        self.polygons.append((points, erase))
        return True


def test_the_polygon_tool_adds_drags_closes_and_commits(canvas, qtbot):
    from avs_studio.gui.annotator.tools import PolygonTool

    host = Host(canvas)
    tool = PolygonTool(host)
    canvas.set_tool(tool)
    canvas.zoom(3)

    def send(kind, x, y):
        p = QPointF(canvas.mapFromScene(QPointF(x + 0.5, y + 0.5)))
        btn = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
        QApplication.sendEvent(canvas.viewport(), QMouseEvent(kind, p, p, btn, Qt.MouseButton.LeftButton,
                                                              Qt.KeyboardModifier.NoModifier))  # fmt: skip

    for x, y in [(20, 20), (60, 20), (60, 50), (20, 50)]:
        send(QEvent.Type.MouseButtonPress, x, y)
        send(QEvent.Type.MouseButtonRelease, x, y)
    assert len(tool.points) == 4 and not tool.closed
    send(QEvent.Type.MouseButtonPress, 60, 50)  # grab a vertex and drag it
    send(QEvent.Type.MouseMove, 70, 60)
    send(QEvent.Type.MouseButtonRelease, 70, 60)
    send(QEvent.Type.MouseButtonPress, 20, 20)  # a click on the first vertex closes the outline
    send(QEvent.Type.MouseButtonRelease, 20, 20)
    assert tool.closed and len(tool.points) == 4
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Backspace)
    assert len(tool.points) == 3 and not tool.closed
    send(QEvent.Type.MouseButtonPress, 20, 50)
    send(QEvent.Type.MouseButtonRelease, 20, 50)
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    points, erase = host.polygons[-1]
    assert not erase and np.allclose(points, [(20, 20), (60, 20), (70, 60), (20, 50)], atol=0.05)
    assert not tool.drawing
    # Esc forgets an outline
    send(QEvent.Type.MouseButtonPress, 10, 10)
    send(QEvent.Type.MouseButtonRelease, 10, 10)
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert not tool.drawing and len(host.polygons) == 1


def test_a_space_tap_asks_for_playback_and_space_drag_pans(canvas, qtbot):
    from avs_studio.gui.annotator.tools import PolygonTool

    tool = PolygonTool(Host(canvas))
    canvas.set_tool(tool)  # the left button belongs to the tool, unless Space is held
    taps = []
    canvas.spaceTapped.connect(lambda: taps.append(1))
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Space)
    assert taps == [1]
    canvas.zoom(4)
    h = canvas.horizontalScrollBar().value()
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    for kind, x in ((QEvent.Type.MouseButtonPress, 300), (QEvent.Type.MouseMove, 250),
                    (QEvent.Type.MouseButtonRelease, 250)):  # fmt: skip
        p = QPointF(x, 200)
        btn = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
        QApplication.sendEvent(canvas.viewport(), QMouseEvent(kind, p, p, btn, Qt.MouseButton.LeftButton,
                                                              Qt.KeyboardModifier.NoModifier))  # fmt: skip
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.horizontalScrollBar().value() == h + 50 and taps == [1]
    assert not tool.drawing
