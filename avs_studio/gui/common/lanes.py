"""Sounding lanes of the timeline: one row per object, one cell per sampled frame.

A cell shows whether the object is in that frame and whether it sounds there:

- nothing but a faint line: the object is not in that frame;
- a full block in the object's colour: present and sounding (in the frame's AVS mask);
- an outlined, hatched block: present but silent (kept as geometry, left out of the mask);
- a dashed white border: a model proposal not yet accepted;
- a ``?`` badge: nobody decided yet whether it sounds there; an amber ``!`` badge (and
  amber border): the model's hint says the opposite of the flag;
- a bar along the bottom and a number: the model's hint (probability that it sounds).

The terms are those of :mod:`avs_studio.core.sounding`. The timeline owns the geometry
(where each frame is); this module paints and hit-tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QToolTip

from avs_studio.core.sounding import LaneCell

LANE_H = 18  # pixels per object lane
MAX_LANES = 8  # lanes shown at most (the selected object's is always among them)
AMBER = QColor(255, 179, 0)
LANE_BG = (QColor(34, 36, 40), QColor(39, 41, 46))
SELECTED_BG = QColor(60, 56, 36)
TEXT = QColor(220, 222, 228)
DIM = QColor(120, 124, 132)


@dataclass
class LaneView:
    """One object's lane as the timeline draws it."""

    instance_id: int
    title: str  # short, for the gutter ("#3")
    colour: tuple[int, int, int]
    cells: Sequence[LaneCell]
    name: str = ""  # long, for tooltips ("#3 guitar")


def lanes_height(count: int) -> int:
    """Height of the lanes area for ``count`` objects (0 when there are none)."""
    return min(count, MAX_LANES) * LANE_H


def shown_lanes(lanes: Sequence[LaneView], selected: int | None) -> list[LaneView]:
    """The lanes that fit, in order; the selected object's lane replaces the last if needed."""
    shown = list(lanes[:MAX_LANES])
    if selected is not None and all(lane.instance_id != selected for lane in shown):
        chosen = next((lane for lane in lanes if lane.instance_id == selected), None)
        if chosen is not None:
            shown[-1] = chosen
    return shown


def cell_width(xs: Sequence[float]) -> float:
    """Width of a cell: most of the distance between neighbouring frames."""
    gaps = [b - a for a, b in zip(xs, xs[1:]) if b > a]
    return max(10.0, min(170.0, 0.84 * min(gaps))) if gaps else 60.0


def cell_rect(area: QRectF, row: int, x: float, width: float) -> QRectF:
    """The rectangle of the cell of lane ``row`` centred at widget x."""
    return QRectF(x - width / 2, area.top() + row * LANE_H + 2, width, LANE_H - 4)


def lane_at(area: QRectF, lanes: Sequence[LaneView], xs: Sequence[float], pos: QPointF
            ) -> tuple[int, int | None] | None:  # fmt: skip
    """``(instance_id, frame)`` under ``pos``: frame None on the lane's title (the gutter)
    or between cells; None outside the lanes."""
    if not (area.top() <= pos.y() < area.top() + len(lanes) * LANE_H):
        return None
    row = int((pos.y() - area.top()) // LANE_H)
    lane = lanes[row]
    if pos.x() < area.left():
        return lane.instance_id, None
    w = cell_width(xs)
    for k, x in enumerate(xs):
        if abs(pos.x() - x) <= w / 2:
            return lane.instance_id, k
    return lane.instance_id, None


def cell_text(lane: LaneView, k: int) -> str:
    """What a cell means, in words (its tooltip)."""
    c = lane.cells[k]
    head = f"{lane.name or lane.title} in frame {k + 1}: "
    if not c.present:
        return head + "not in this frame"
    state = "sounding (in the frame's mask)" if c.sounding else "silent (kept as geometry, left out of the mask)"
    parts = [head + state, "proposal, not accepted yet" if c.proposal else
             ("decided" if c.decided else "not decided yet (S toggles, Shift+S confirms)")]  # fmt: skip
    if c.hint is not None:
        says = "sounding" if c.hint >= 0.5 else "silent"
        parts.append(f"model hint {c.hint:.2f} ({says}{', disagrees' if c.disagrees else ''})")
    parts.append("click to toggle sounding")
    return "\n".join(parts)


def paint_lanes(p: QPainter, area: QRectF, lanes: Sequence[LaneView], xs: Sequence[float], *,
                current: int | None, selected: int | None, font: QFont, gutter: float) -> None:  # fmt: skip
    """Paint the lanes into ``area`` (the plot's width) and their titles into the gutter."""
    if not lanes:
        return
    fm = QFontMetrics(font)
    w = cell_width(xs)
    p.save()
    p.setFont(font)
    for row, lane in enumerate(lanes):
        band = QRectF(0, area.top() + row * LANE_H, area.right() + 2, LANE_H)
        p.fillRect(band, SELECTED_BG if lane.instance_id == selected else LANE_BG[row % 2])
        # the title: a swatch and "#id name" squeezed into the gutter
        sw = QRectF(3, band.top() + 5, 8, 8)
        p.fillRect(sw, QColor(*lane.colour))
        p.setPen(TEXT if lane.instance_id == selected else DIM)
        title = fm.elidedText(lane.title, Qt.TextElideMode.ElideRight, int(gutter - 16))
        p.drawText(QRectF(13, band.top(), gutter - 15, LANE_H), Qt.AlignmentFlag.AlignVCenter, title)
    p.setClipRect(QRectF(area.left(), area.top(), area.width() + 2, len(lanes) * LANE_H))
    if current is not None and 0 <= current < len(xs):
        p.fillRect(QRectF(xs[current] - w / 2 - 2, area.top(), w + 4, len(lanes) * LANE_H), QColor(255, 179, 0, 26))
    for row, lane in enumerate(lanes):
        for k, x in enumerate(xs):
            if k < len(lane.cells):
                _paint_cell(p, cell_rect(area, row, x, w), lane.cells[k], QColor(*lane.colour), fm)
    p.restore()


def _paint_cell(p: QPainter, r: QRectF, c: LaneCell, colour: QColor, fm: QFontMetrics) -> None:
    if not c.present:
        p.setPen(QPen(QColor(255, 255, 255, 28), 1))
        p.drawLine(QPointF(r.left() + 2, r.center().y()), QPointF(r.right() - 2, r.center().y()))
        return
    border = AMBER if c.disagrees else QColor(255, 255, 255, 210) if c.proposal else colour
    pen = QPen(border, 1.6 if c.disagrees else 1.2, Qt.PenStyle.DashLine if c.proposal else Qt.PenStyle.SolidLine)
    p.setPen(pen)
    if c.sounding:
        fill = QColor(colour)
        fill.setAlpha(190)
        p.setBrush(fill)
    else:
        hatch = QColor(colour)
        hatch.setAlpha(110)
        p.setBrush(QBrush(hatch, Qt.BrushStyle.BDiagPattern))
    p.drawRoundedRect(r, 3, 3)
    if c.hint is not None:  # the model's hint: a bar along the bottom, and its value
        bar = QRectF(r.left() + 2, r.bottom() - 3, max(1.0, (r.width() - 4) * min(1.0, c.hint)), 2)
        p.fillRect(bar, QColor(255, 255, 255, 200))
        text = f"{c.hint:.2f}"
        if fm.horizontalAdvance(text) + 24 < r.width():
            light = c.sounding and (colour.red() * 299 + colour.green() * 587 + colour.blue() * 114) / 1000 > 150
            p.setPen(QColor(20, 20, 20) if light else TEXT)
            p.drawText(r.adjusted(4, 0, -14, -2), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
    badge = "!" if c.needs_decision and c.disagrees else "?" if c.needs_decision else ""
    if badge:
        b = QRectF(r.right() - 12, r.top() + 1, 11, r.height() - 2)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(AMBER if badge == "!" else QColor(20, 20, 24, 210))
        p.drawRoundedRect(b, 3, 3)
        p.setPen(QColor(20, 20, 20) if badge == "!" else AMBER)
        p.drawText(b, Qt.AlignmentFlag.AlignCenter, badge)


class LanesMixin:
    """The object lanes' side of :class:`~avs_studio.gui.common.timeline.TimelineWidget`: it
    holds the lanes, says where they are, and turns clicks into ``laneClicked``."""

    def set_lanes(self, lanes: Sequence[LaneView], selected: int | None = None) -> None:
        """One lane per object (presence and sounding per sampled frame); [] hides them."""
        before = len(shown_lanes(self._object_lanes, self._lane_selected))
        self._object_lanes, self._lane_selected = list(lanes), selected
        self.setMinimumHeight(170 + lanes_height(len(self._object_lanes)))
        if len(shown_lanes(self._object_lanes, selected)) != before:
            self.updateGeometry()
            self._invalidate()  # the lanes below moved
        else:
            self.update()

    def lanes(self) -> list[LaneView]:
        """The lanes shown (at most :data:`MAX_LANES`, the selected object's among them)."""
        return shown_lanes(self._object_lanes, self._lane_selected)

    def lane_area(self) -> QRectF:
        """Where the object lanes are (empty height when there are none)."""
        return self._lanes()["objects"]

    def frame_xs(self) -> list[float]:
        """Widget x of each sampled frame."""
        return [self.time_to_x(t) for t in self._frame_times]

    def _lane_press(self, pos: QPointF, gutter: float) -> None:
        hit = lane_at(self.lane_area(), self.lanes(), self.frame_xs(), pos)
        if hit is not None and (hit[1] is not None or pos.x() < gutter):
            self.laneClicked.emit(hit[0], -1 if hit[1] is None else hit[1])

    def _lane_tooltip(self, event) -> bool:
        hit = lane_at(self.lane_area(), self.lanes(), self.frame_xs(), QPointF(event.pos()))
        if hit is None or hit[1] is None:
            return False
        view = next(v for v in self.lanes() if v.instance_id == hit[0])
        QToolTip.showText(event.globalPos(), cell_text(view, hit[1]), self)
        return True
