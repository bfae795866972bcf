"""The frame view: a frame with its mask overlaid, zoom with the wheel, pan by dragging."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPixmap, QTransform, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

from .qimage import mask_rgba, rgba_to_qimage, to_pixmap


class FrameCanvas(QGraphicsView):
    """Shows one frame and one mask; the mask is scaled to the frame (masks may be 224 x 224)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QColor(32, 33, 36))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self._frame_item = QGraphicsPixmapItem()
        self._mask_item = QGraphicsPixmapItem()
        self._mask_item.setZValue(1)
        self.scene().addItem(self._frame_item)
        self.scene().addItem(self._mask_item)
        self._opacity = 0.55
        self._mask: np.ndarray | None = None
        self._binary = True
        self._fit = True

    def set_frame(self, rgb: np.ndarray | None, mask: np.ndarray | None, *, binary: bool) -> None:
        """Show ``rgb`` with ``mask`` (either may be None)."""
        self._mask, self._binary = mask, binary
        if rgb is None:
            self._frame_item.setPixmap(QPixmap())
            self._mask_item.setPixmap(QPixmap())
            return
        h, w = rgb.shape[:2]
        self._frame_item.setPixmap(to_pixmap(rgb))
        if mask is not None:
            self._mask_item.setTransform(QTransform.fromScale(w / mask.shape[1], h / mask.shape[0]))
        self._render_mask()
        self.scene().setSceneRect(QRectF(0, 0, w, h))
        if self._fit:
            self.fit()

    def _render_mask(self) -> None:
        # The fill carries the opacity and the outline stays opaque, so the mask is visible
        # even at low opacity or where its colour matches the object underneath.
        if self._mask is None:
            self._mask_item.setPixmap(QPixmap())
            return
        rgba = mask_rgba(self._mask, binary=self._binary, alpha=round(255 * self._opacity))
        self._mask_item.setPixmap(QPixmap.fromImage(rgba_to_qimage(rgba)))

    @property
    def opacity(self) -> float:
        """Current fill opacity of the mask overlay."""
        return self._opacity

    def set_opacity(self, value: float) -> None:
        """Mask fill opacity in [0, 1]."""
        self._opacity = float(value)
        self._render_mask()

    def set_mask_visible(self, visible: bool) -> None:
        """Show or hide the mask overlay."""
        self._mask_item.setVisible(visible)

    def fit(self) -> None:
        """Zoom so the whole frame is visible."""
        self._fit = True
        self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        """Zoom by ``factor`` around the mouse."""
        self._fit = False
        self.scale(factor, factor)

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.zoom(1.25 if event.angleDelta().y() > 0 else 0.8)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.fit()
