"""A minimap for a zoomed view: the whole frame in a corner, the visible part outlined.

It floats over the top-right corner of a :class:`QGraphicsView` while the view shows only
part of its scene (zoomed in), and hides when the whole scene fits. A click or a drag in
it centres the view on that point. It redraws from the view's own pictures
(``images()``: the frame, then any overlay layers at the frame's size), scaled once per
change of the pictures, so following the view costs a rectangle per pan.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsView, QWidget

MARGIN = 10  # from the view's corner
BORDER = QColor(255, 255, 255, 150)
VIEWPORT = QColor(255, 214, 10)


class Minimap(QWidget):
    """The whole scene small, with the view's visible rectangle; click or drag to pan."""

    def __init__(self, view: QGraphicsView, images: Callable[[], list[QImage]], *, size: int = 180) -> None:
        super().__init__(view)
        self.view = view
        self.images = images
        self.max_side = size
        self.enabled_by_user = True
        self._pixmap: QPixmap | None = None
        self._key: tuple | None = None
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("The whole frame: click or drag to move the view")
        for bar in (view.horizontalScrollBar(), view.verticalScrollBar()):
            bar.valueChanged.connect(self.sync)
            bar.rangeChanged.connect(self.sync)
        zoom = getattr(view, "zoomChanged", None)
        if zoom is not None:
            zoom.connect(self.sync)
        view.installEventFilter(self)
        self.hide()

    # ------------------------------------------------------------------ geometry
    def scene_rect(self) -> QRectF:
        """The scene the minimap shows (the frame)."""
        return self.view.sceneRect()

    def visible_rect(self) -> QRectF:
        """The part of the scene the view shows now."""
        return self.view.mapToScene(self.view.viewport().rect()).boundingRect().intersected(self.scene_rect())

    def zoomed_in(self) -> bool:
        """True when the view shows only part of the scene."""
        scene = self.scene_rect()
        if scene.isEmpty():
            return False
        vis = self.visible_rect()
        return vis.width() < scene.width() - 0.5 or vis.height() < scene.height() - 0.5

    def _scale(self) -> float:
        scene = self.scene_rect()
        return self.max_side / max(scene.width(), scene.height(), 1.0)

    def sync(self, *_args) -> None:
        """Show, hide and place the minimap to match the view (connected to its signals)."""
        show = self.enabled_by_user and self.zoomed_in()
        if show:
            scene = self.scene_rect()
            s = self._scale()
            w, h = max(8, round(scene.width() * s)), max(8, round(scene.height() * s))
            vp = self.view.viewport().geometry()
            self.setGeometry(vp.right() - w - MARGIN, vp.top() + MARGIN, w + 2, h + 2)
            self.raise_()
        self.setVisible(show)
        if show:
            self.update()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.view and event.type() == QEvent.Type.Resize:
            self.sync()
        return False

    # ------------------------------------------------------------------ drawing
    def _picture(self) -> QPixmap | None:
        images = [i for i in self.images() if not i.isNull()]
        if not images:
            return None
        key = (self.width(), self.height(), tuple(i.cacheKey() for i in images))
        if key != self._key:
            pm = QPixmap(max(1, self.width() - 2), max(1, self.height() - 2))
            pm.fill(QColor(20, 20, 22))
            p = QPainter(pm)
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            for img in images:
                p.drawImage(QRectF(0, 0, pm.width(), pm.height()), img)
            p.end()
            self._pixmap, self._key = pm, key
        return self._pixmap

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        pm = self._picture()
        if pm is not None:
            p.drawPixmap(1, 1, pm)
        p.setPen(QPen(BORDER, 1))
        p.drawRect(QRectF(0.5, 0.5, self.width() - 1, self.height() - 1))
        s = self._scale()
        vis, scene = self.visible_rect(), self.scene_rect()
        r = QRectF(1 + (vis.left() - scene.left()) * s, 1 + (vis.top() - scene.top()) * s,
                   vis.width() * s, vis.height() * s)  # fmt: skip
        p.setPen(QPen(QColor(0, 0, 0, 160), 3))
        p.drawRect(r)
        p.setPen(QPen(VIEWPORT, 1.5))
        p.drawRect(r)
        p.end()

    # ------------------------------------------------------------------ panning
    def scene_point(self, pos: QPointF) -> QPointF:
        """The scene point under a position in the minimap."""
        s = self._scale()
        scene = self.scene_rect()
        return QPointF(scene.left() + (pos.x() - 1) / s, scene.top() + (pos.y() - 1) / s)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.view.centerOn(self.scene_point(event.position()))
            event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.view.centerOn(self.scene_point(event.position()))
            event.accept()
