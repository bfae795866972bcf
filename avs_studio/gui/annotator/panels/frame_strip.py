"""The strip of a clip's sampled frames: thumbnails with their objects and a state mark.

Marks: a green tick when the clip is done (or reviewed) and the frame has its masks, a
blue pencil when the frame has annotations, an orange dot while proposals wait for a
decision, nothing for an untouched frame.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem

from avs_studio.gui.common.qimage import rgb_to_qimage

THUMB = QSize(128, 96)
MARKS = ("", "proposed", "edited", "done")
_MARK_COLOURS = {"proposed": QColor(255, 170, 0), "edited": QColor(80, 160, 255), "done": QColor(95, 211, 141)}


def frame_mark(has_proposals: bool, has_objects: bool, clip_done: bool, annotated: bool) -> str:
    """The mark of one frame (see the module docstring)."""
    if has_proposals:
        return "proposed"
    if clip_done and annotated:
        return "done"
    if has_objects:
        return "edited"
    return ""


def _badge(p: QPainter, rect: QRectF, mark: str) -> None:
    colour = _MARK_COLOURS[mark]
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    p.drawEllipse(rect)
    pen = QPen(QColor(20, 20, 20), 2.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    cx, cy, r = rect.center().x(), rect.center().y(), rect.width() / 2
    if mark == "done":
        path = QPainterPath(QPointF(cx - r * 0.45, cy))
        path.lineTo(cx - r * 0.1, cy + r * 0.35)
        path.lineTo(cx + r * 0.5, cy - r * 0.35)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(path)
    elif mark == "edited":
        p.drawLine(QPointF(cx - r * 0.4, cy + r * 0.4), QPointF(cx + r * 0.4, cy - r * 0.4))
    else:
        p.setBrush(QColor(20, 20, 20))
        p.drawEllipse(rect.center(), r * 0.25, r * 0.25)


def thumbnail_icon(rgb: np.ndarray, mark: str, number: int, size: QSize = THUMB) -> QIcon:
    """A thumbnail with its frame number and mark painted on it."""
    img = rgb_to_qimage(rgb).scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                    Qt.TransformationMode.SmoothTransformation)  # fmt: skip
    pm = QPixmap(size)
    pm.fill(QColor(24, 25, 28))
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    x = (size.width() - img.width()) // 2
    y = (size.height() - img.height()) // 2
    p.drawImage(x, y, img)
    f = QFont()
    f.setBold(True)
    f.setPointSizeF(8.5)
    p.setFont(f)
    tag = QRectF(4, 4, 20, 16)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(0, 0, 0, 170))
    p.drawRoundedRect(tag, 3, 3)
    p.setPen(QColor(235, 235, 235))
    p.drawText(tag, Qt.AlignmentFlag.AlignCenter, str(number))
    if mark:
        _badge(p, QRectF(size.width() - 21, 4, 17, 17), mark)
    p.end()
    found = QIcon(pm)
    found.addPixmap(pm, QIcon.Mode.Selected)  # no highlight tint over the picture
    return found


class FrameStrip(QListWidget):
    """One row of thumbnails; ``frameSelected(k)`` when the user picks frame ``k``."""

    frameSelected = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(THUMB)
        self.setMovement(QListView.Movement.Static)
        self.setSpacing(3)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setFixedHeight(THUMB.height() + 44)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrows belong to the window's frame steps
        self.marks: list[str] = []
        self.currentRowChanged.connect(self._on_row)

    def set_frames(self, thumbs: list[np.ndarray], times: list[float], marks: list[str] | None = None) -> None:
        """New clip: one thumbnail per sampled frame, labelled with its time."""
        self.blockSignals(True)
        self.clear()
        self.marks = list(marks or [""] * len(thumbs))
        for k, rgb in enumerate(thumbs):
            item = QListWidgetItem(thumbnail_icon(rgb, self.marks[k], k + 1), f"{times[k]:.2f} s")
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.addItem(item)
        self.blockSignals(False)
        self._fit()

    def _fit(self) -> None:
        # Ten frames (AVSS v2) shrink to fit the width rather than scroll, down to 45%.
        n = max(1, self.count())
        room = (self.viewport().width() - 2 * self.spacing() * n - 4) / n - 8
        width = int(max(THUMB.width() * 0.45, min(THUMB.width(), room)))
        size = QSize(width, round(width * THUMB.height() / THUMB.width()))
        self.setIconSize(size)
        for i in range(self.count()):
            self.item(i).setSizeHint(QSize(size.width() + 8, size.height() + 26))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def update_frame(self, k: int, rgb: np.ndarray, mark: str) -> None:
        """Redraw frame ``k``'s thumbnail (its objects changed)."""
        item = self.item(k)
        if item is None:
            return
        self.marks[k] = mark
        item.setIcon(thumbnail_icon(rgb, mark, k + 1))
        item.setToolTip({"": "untouched", "proposed": "proposals waiting", "edited": "annotated",
                         "done": "done"}[mark])  # fmt: skip

    def set_current(self, k: int) -> None:
        """Highlight frame ``k`` (no signal)."""
        self.blockSignals(True)
        self.setCurrentRow(k)
        self.blockSignals(False)
        item = self.item(k)
        if item is not None:
            self.scrollToItem(item)

    def _on_row(self, k: int) -> None:
        if k >= 0:
            self.frameSelected.emit(k)
