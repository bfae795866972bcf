"""The review's plots, drawn with QPainter in the app's dark theme: the histogram of per-clip
IoU, the mean IoU per category, and IoU against object size.

They plot the same arrays as the HTML report (:meth:`ReviewTable.histogram`,
:meth:`ReviewTable.category_stats`, :meth:`ReviewTable.size_vs_iou`), restricted to the
clips the table shows, and they are clickable: a histogram bar filters the table to its
score range, a category bar to its category, and a point selects its clip. (The report's
SVG has a white page behind it, which would glare in the dark window; QtSvg is not needed.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QScrollArea, QTabWidget, QToolTip, QWidget

from avs_studio.core.review.plots_svg import nice_ticks
from avs_studio.core.review.table import CategoryStat, ReviewTable

BACKGROUND = QColor(37, 38, 42)
GRID = QColor(255, 255, 255, 20)
AXIS = QColor(110, 115, 124)
TEXT = QColor(150, 156, 166)
INK = QColor(214, 217, 223)
COLOUR_A = QColor(92, 148, 214)
COLOUR_B = QColor(245, 150, 60)
COLOUR_BAD = QColor(228, 87, 86)
HOVER = QColor(255, 255, 255, 36)
SELECTED = QColor(255, 214, 10)


class _Plot(QWidget):
    """A plot area with axes, a title and clickable regions (``_hits``, built when painting)."""

    margins = (46, 14, 30, 36)  # left, right, top, bottom

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.setMouseTracking(True)
        self.setMinimumSize(260, 180)
        self._font = QFont(self.font())
        self._font.setPointSizeF(max(7.5, self._font.pointSizeF() * 0.88))
        self._title_font = QFont(self.font())
        self._title_font.setBold(True)
        self._hits: list[tuple[QRectF, object, str]] = []
        self._hover: object = None
        self.xlo, self.xhi, self.ylo, self.yhi = 0.0, 1.0, 0.0, 1.0

    # ------------------------------------------------------------------ geometry
    def plot_rect(self) -> QRectF:
        """Where the data go (inside the axes)."""
        left, right, top, bottom = self.margins
        return QRectF(left, top, max(10, self.width() - left - right), max(10, self.height() - top - bottom))

    def x(self, v: float) -> float:
        r = self.plot_rect()
        return r.left() + (v - self.xlo) / ((self.xhi - self.xlo) or 1) * r.width()

    def y(self, v: float) -> float:
        r = self.plot_rect()
        return r.bottom() - (v - self.ylo) / ((self.yhi - self.ylo) or 1) * r.height()

    # ------------------------------------------------------------------ painting
    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        p.setFont(self._title_font)
        p.setPen(INK)
        p.drawText(QRectF(10, 4, self.width() - 20, 22), int(Qt.AlignmentFlag.AlignVCenter), self.title)
        p.setFont(self._font)
        self._hits = []
        self.paint_plot(p)
        p.end()

    def paint_plot(self, p: QPainter) -> None:  # pragma: no cover - overridden
        """Draw the data (subclasses)."""

    def draw_axes(self, p: QPainter, xticks: Sequence[float], yticks: Sequence[float], xlabel: str, ylabel: str,
                  xfmt: Callable[[float], str] | None = None, yfmt: Callable[[float], str] | None = None) -> None:  # fmt: skip
        """Grid lines, tick labels and axis titles."""
        r = self.plot_rect()
        fm = QFontMetricsF(self._font)
        for t in yticks:
            y = self.y(t)
            p.setPen(GRID)
            p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
            p.setPen(TEXT)
            text = yfmt(t) if yfmt else _tick(t, yticks)
            p.drawText(QRectF(0, y - 8, r.left() - 6, 16),
                       int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), text)  # fmt: skip
        for t in xticks:
            x = self.x(t)
            p.setPen(GRID)
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
            p.setPen(TEXT)
            text = xfmt(t) if xfmt else _tick(t, xticks)
            w = fm.horizontalAdvance(text) + 4
            p.drawText(QRectF(x - w / 2, r.bottom() + 3, w, 16), int(Qt.AlignmentFlag.AlignHCenter), text)
        p.setPen(AXIS)
        p.drawLine(QPointF(r.left(), r.bottom()), QPointF(r.right(), r.bottom()))
        p.drawLine(QPointF(r.left(), r.top()), QPointF(r.left(), r.bottom()))
        p.setPen(TEXT)
        p.drawText(QRectF(r.left(), self.height() - 17, r.width(), 16), int(Qt.AlignmentFlag.AlignHCenter), xlabel)
        p.save()
        p.translate(11, r.center().y())
        p.rotate(-90)
        p.drawText(QRectF(-r.height() / 2, -8, r.height(), 16), int(Qt.AlignmentFlag.AlignHCenter), ylabel)
        p.restore()

    def draw_empty(self, p: QPainter, message: str) -> None:
        """A message where the data would be."""
        p.setPen(TEXT)
        p.drawText(self.plot_rect(), int(Qt.AlignmentFlag.AlignCenter), message)

    # ------------------------------------------------------------------ interaction
    def hit(self, pos: QPointF) -> tuple[object, str] | None:
        """The payload and tooltip of the region under ``pos`` (None: nothing)."""
        for rect, payload, tip in self._hits:
            if rect.contains(pos):
                return payload, tip
        return None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        found = self.hit(event.position())
        payload = found[0] if found else None
        if found:
            QToolTip.showText(event.globalPosition().toPoint(), found[1], self)
        else:
            QToolTip.hideText()
        self.setCursor(Qt.CursorShape.PointingHandCursor if found else Qt.CursorShape.ArrowCursor)
        if payload != self._hover:
            self._hover = payload
            self.update()

    def leaveEvent(self, _event) -> None:
        if self._hover is not None:
            self._hover = None
            self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            found = self.hit(event.position())
            if found:
                self.clicked(found[0])

    def clicked(self, payload: object) -> None:  # pragma: no cover - overridden
        """A region was clicked (subclasses emit their signal)."""


def _tick(v: float, ticks: Sequence[float]) -> str:
    step = (ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    if step >= 1:
        return f"{v:.0f}"
    digits = min(3, max(1, -math.floor(math.log10(step) + 1e-9)))
    return f"{v:.{digits}f}"


# ====================================================================== the three plots


class HistogramPlot(_Plot):
    """Clips per score bin (model B beside A when comparing); a click emits the bin's range."""

    binClicked = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Per-clip mIoU", parent)
        self.edges = np.linspace(0, 1, 21)
        self.counts = np.zeros(20, dtype=np.int64)
        self.counts_b: np.ndarray | None = None

    def set_data(self, edges: np.ndarray, counts: np.ndarray, counts_b: np.ndarray | None = None) -> None:
        """Bins (``edges`` one longer than ``counts``) and, when comparing, B's counts."""
        self.edges, self.counts = np.asarray(edges, float), np.asarray(counts)
        self.counts_b = None if counts_b is None else np.asarray(counts_b)
        self.update()

    def paint_plot(self, p: QPainter) -> None:
        top = int(max(self.counts.max(initial=0), 0 if self.counts_b is None else self.counts_b.max(initial=0)))
        self.xlo, self.xhi = float(self.edges[0]), float(self.edges[-1])
        yt = [t for t in nice_ticks(0, max(top, 1), 4) if float(t).is_integer()] or [0, 1]
        self.ylo, self.yhi = 0.0, float(max(yt[-1], top, 1))
        self.draw_axes(p, nice_ticks(self.xlo, self.xhi, 5), yt, "per-clip mIoU (official)", "clips",
                       yfmt=lambda v: f"{v:.0f}")  # fmt: skip
        series = [(self.counts, COLOUR_A, "A")]
        if self.counts_b is not None:
            series.append((self.counts_b, COLOUR_B, "B"))
        r = self.plot_rect()
        for i in range(len(self.counts)):
            lo, hi = float(self.edges[i]), float(self.edges[i + 1])
            xa, xb = self.x(lo), self.x(hi)
            column = QRectF(xa, r.top(), xb - xa, r.height())
            if self._hover == i:
                p.fillRect(column, HOVER)
            width = (xb - xa - 1.5) / len(series)
            parts = []
            for s, (vals, colour, name) in enumerate(series):
                n = int(vals[i])
                parts.append(f"{name}: {n}" if len(series) > 1 else f"{n} clip{'s' if n != 1 else ''}")
                if n <= 0:
                    continue
                y = self.y(n)
                p.fillRect(QRectF(xa + 0.75 + s * width, y, max(1.0, width), r.bottom() - y), colour)
            tip = f"mIoU {lo:.2f}\u2013{hi:.2f}: {', '.join(parts)}<br><i>click: show these clips</i>"
            self._hits.append((column, i, tip))
        if self.counts_b is not None:
            _legend(self, p, self._font, [(COLOUR_A, "A"), (COLOUR_B, "B")])
        if top == 0:
            self.draw_empty(p, "no clips with a score")

    def clicked(self, payload: object) -> None:
        i = int(payload)
        self.binClicked.emit(float(self.edges[i]), float(self.edges[i + 1]))


class CategoryPlot(_Plot):
    """Mean per-clip mIoU of each category, worst first; a click emits the category."""

    categoryClicked = Signal(str)
    BAR = 16
    GAP = 5

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Mean mIoU per category (worst first)", parent)
        self.stats: list[CategoryStat] = []
        self.compared = False
        self.empty_text = "no categories"
        self.margins = (150, 74, 30, 36)

    def set_data(self, stats: list[CategoryStat], *, compared: bool = False, empty_text: str = "no categories") -> None:
        """The categories' statistics (in the order to draw them)."""
        self.stats, self.compared, self.empty_text = list(stats), compared, empty_text
        fm = QFontMetricsF(self._font)
        widest = max((fm.horizontalAdvance(_short(s.name)) for s in self.stats), default=40)
        self.margins = (int(min(190, widest + 18)), 120 if compared else 74, 30, 36)
        self.setMinimumHeight(self.margins[2] + self.margins[3] + max(1, len(self.stats)) * (self.BAR + self.GAP) + 6)
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(360, self.minimumHeight())

    def paint_plot(self, p: QPainter) -> None:
        self.xlo, self.xhi = 0.0, 1.0
        r = self.plot_rect()
        self.draw_axes(p, nice_ticks(0, 1, 5), [], "mean per-clip mIoU", "")
        if not self.stats:
            self.draw_empty(p, self.empty_text)
            return
        fm = QFontMetricsF(self._font)
        for i, s in enumerate(self.stats):
            top = r.top() + i * (self.BAR + self.GAP) + 2
            row = QRectF(0, top - self.GAP / 2, self.width(), self.BAR + self.GAP)
            if self._hover == s.name:
                p.fillRect(row, HOVER)
            p.setPen(INK)
            p.drawText(QRectF(4, top, r.left() - 10, self.BAR),
                       int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), _short(s.name))  # fmt: skip
            v = s.mean_miou
            tip = f"<b>{s.name}</b>: mean mIoU {_num(v)}, mean F {_num(s.mean_fscore)} over {s.clips} clip(s)"
            if self.compared:
                tip += f"<br>mean \u0394 mIoU (B \u2212 A) {_num(s.mean_delta_miou, sign=True)}"
            tip += "<br><i>click: show these clips</i>"
            self._hits.append((row, s.name, tip))
            if math.isnan(v):
                continue
            bar_h = self.BAR - (5 if self.compared else 0)
            x1 = self.x(min(1.0, max(0.0, v)))
            end = x1
            p.fillRect(QRectF(r.left(), top, max(1.0, x1 - r.left()), bar_h), COLOUR_A)
            if self.compared and not math.isnan(s.mean_delta_miou):
                xb = self.x(min(1.0, max(0.0, v + s.mean_delta_miou)))
                p.fillRect(QRectF(r.left(), top + bar_h + 1, max(1.0, xb - r.left()), 4), COLOUR_B)
                end = max(end, xb)
            label = f"{v:.3f}  n={s.clips}"
            if self.compared and not math.isnan(s.mean_delta_miou):
                label = f"{v:.3f}  B {v + s.mean_delta_miou:.3f}  n={s.clips}"
            p.setPen(TEXT)
            lw = fm.horizontalAdvance(label)
            p.drawText(QRectF(end + 5, top, lw + 4, self.BAR), int(Qt.AlignmentFlag.AlignVCenter), label)
        if self.compared:
            _legend(self, p, self._font, [(COLOUR_A, "A"), (COLOUR_B, "B")])

    def clicked(self, payload: object) -> None:
        self.categoryClicked.emit(str(payload))


class ScatterPlot(_Plot):
    """Per-clip mIoU against the share of the frame its objects cover; a click emits the row."""

    pointClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("mIoU against object size", parent)
        self.sizes = np.empty(0)
        self.ious = np.empty(0)
        self.rows = np.empty(0, dtype=np.intp)
        self.names: list[str] = []
        self.selected: int | None = None
        self._screen = np.empty((0, 2))

    def set_data(self, sizes: np.ndarray, ious: np.ndarray, rows: np.ndarray, names: list[str]) -> None:
        """Points ``(size, iou)`` of table ``rows`` (``names`` their clip ids, for tooltips)."""
        self.sizes, self.ious = np.asarray(sizes, float), np.asarray(ious, float)
        self.rows, self.names = np.asarray(rows, dtype=np.intp), names
        self.update()

    def set_selected(self, row: int | None) -> None:
        """Ring the point of table row ``row``."""
        self.selected = row
        self.update()

    def paint_plot(self, p: QPainter) -> None:
        top = float(self.sizes.max()) if self.sizes.size else 1.0
        xt = nice_ticks(0.0, top if top > 0 else 1.0, 5)
        if xt[-1] < top:
            xt.append(xt[-1] + (xt[1] - xt[0] if len(xt) > 1 else top))
        self.xlo, self.xhi, self.ylo, self.yhi = 0.0, float(xt[-1]), 0.0, 1.0
        step = (xt[1] - xt[0]) if len(xt) > 1 else 1.0
        digits = 0 if step * 100 >= 1 else 1
        self.draw_axes(p, xt, nice_ticks(0, 1, 5), "object size (share of the frame, ground truth)",
                       "per-clip mIoU", xfmt=lambda v: f"{v * 100:.{digits}f}%")  # fmt: skip
        if not self.sizes.size:
            self.draw_empty(p, "no clips with a score and an object")
            return
        r = self.plot_rect()
        xs = r.left() + (self.sizes - self.xlo) / ((self.xhi - self.xlo) or 1) * r.width()
        ys = r.bottom() - self.ious * r.height()
        self._screen = np.stack([xs, ys], axis=1)
        radius = 3.4 if len(xs) <= 300 else (2.4 if len(xs) <= 2000 else 1.7)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(QColor(20, 20, 24, 160), 0.6))
        colour = QColor(COLOUR_A)
        colour.setAlpha(190)
        p.setBrush(colour)
        for x, y in zip(xs.tolist(), ys.tolist()):
            p.drawEllipse(QPointF(x, y), radius, radius)
        for row, pen in ((self._hover, QPen(INK, 1.5)), (self.selected, QPen(SELECTED, 2.0))):
            if row is None:
                continue
            hit = np.flatnonzero(self.rows == row)
            if hit.size:
                p.setPen(pen)
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawEllipse(QPointF(xs[hit[0]], ys[hit[0]]), radius + 3.5, radius + 3.5)

    def hit(self, pos: QPointF) -> tuple[object, str] | None:
        if not len(self._screen):
            return None
        d = np.hypot(self._screen[:, 0] - pos.x(), self._screen[:, 1] - pos.y())
        i = int(np.argmin(d))
        if d[i] > 7:
            return None
        name = self.names[i] if i < len(self.names) else ""
        tip = f"<b>{name}</b><br>object size {self.sizes[i] * 100:.1f}%, mIoU {self.ious[i]:.3f}<br><i>click: open</i>"
        return int(self.rows[i]), tip

    def clicked(self, payload: object) -> None:
        self.pointClicked.emit(int(payload))


class PlotsPanel(QTabWidget):
    """The three plots in tabs, fed from the table and the rows it shows."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.histogram = HistogramPlot()
        self.categories = CategoryPlot()
        self.scatter = ScatterPlot()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self.categories)
        self.addTab(self.histogram, "IoU histogram")
        self.addTab(scroll, "Per category")
        self.addTab(self.scatter, "IoU vs object size")
        self.setDocumentMode(True)

    def update_from(self, table: ReviewTable | None, rows: np.ndarray | None) -> None:
        """Plot the clips at ``rows`` of ``table`` (all clips: ``rows=None``)."""
        if table is None:
            self.histogram.set_data(np.linspace(0, 1, 21), np.zeros(20, np.int64))
            self.categories.set_data([])
            self.scatter.set_data(np.empty(0), np.empty(0), np.empty(0, np.intp), [])
            return
        edges, counts = table.histogram("miou", bins=20, rows=rows)
        counts_b = table.histogram("miou_b", bins=20, rows=rows)[1] if table.compared else None
        self.histogram.set_data(edges, counts, counts_b)
        empty = "no categories (MS3 clips have none)" if not any(table.categories) else "no clips"
        self.categories.set_data(table.category_stats(rows), compared=table.compared, empty_text=empty)
        idx = np.arange(len(table)) if rows is None else np.asarray(rows, dtype=np.intp)
        size, iou = table.gt_size[idx], table.miou[idx]
        ok = ~np.isnan(size) & ~np.isnan(iou)
        kept = idx[ok]
        self.scatter.set_data(size[ok], iou[ok], kept, [table.clip_ids[i] for i in kept.tolist()])


def _legend(w: QWidget, p: QPainter, font: QFont, items: list[tuple[QColor, str]]) -> None:
    """Colour keys in the top right corner of a plot."""
    x = w.width() - 14
    for colour, label in reversed(items):
        width = QFontMetricsF(font).horizontalAdvance(label) + 20
        x -= width
        p.fillRect(QRectF(x, 10, 10, 10), colour)
        p.setPen(INK)
        p.drawText(QRectF(x + 14, 6, width, 18), int(Qt.AlignmentFlag.AlignVCenter), label)


def _short(name: str, n: int = 26) -> str:
    return name if len(name) <= n else name[: n - 1] + "\u2026"


def _num(v: float, sign: bool = False) -> str:
    if v != v:
        return "–"
    return f"{v:+.3f}" if sign else f"{v:.3f}"
