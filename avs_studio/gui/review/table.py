"""The review's clip table: a Qt model over the columnar :class:`ReviewTable`, and its filter bar.

The model holds no per-row objects: it keeps the row indices to show (a numpy array) and
asks the table for a cell's text when Qt asks for it, so resetting, sorting or filtering
5,000 clips costs a few numpy operations and one screen of ``data()`` calls. Sorting is
the table's own cached :meth:`ReviewTable.order`; filtering its :meth:`ReviewTable.mask`.
The default order is worst first (the Rank column ascending).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from avs_studio.core.review.table import WORST, ReviewTable, column_info
from avs_studio.core.text import plural

#: The GUI-only column that draws each frame's IoU as a small bar (not sortable).
FRAMES_KEY = "frame_bars"
#: ``data()`` role of the frame-bars column: ``(iou [T], padded [T])`` of the row.
FRAMES_ROLE = Qt.ItemDataRole.UserRole + 1
#: ``data()`` role giving the table row (evaluation order) of a view row.
ROW_ROLE = Qt.ItemDataRole.UserRole + 2

_SCORE_KEYS = ("miou", "fscore", "miou_b", "fscore_b")
_DELTA_KEYS = ("delta_miou", "delta_fscore")
_UP = QColor(95, 211, 141)
_DOWN = QColor(240, 105, 100)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


_BAD, _MID, _GOOD = (228, 87, 86), (236, 178, 60), (82, 186, 120)


def quality_rgb(v: float) -> tuple[int, int, int]:
    """A score's colour: red at 0, amber at 0.6, green at 1 (for cells, bars and points)."""
    v = min(1.0, max(0.0, v))
    return _mix(_BAD, _MID, v / 0.6) if v < 0.6 else _mix(_MID, _GOOD, (v - 0.6) / 0.4)


# One brush per hundredth: data() is called for every visible cell, so no colour maths there.
_TINTS = [QBrush(QColor(*quality_rgb(i / 100), 62)) for i in range(101)]
_SOLID = [QColor(*quality_rgb(i / 100)) for i in range(101)]


def quality_colour(v: float, *, alpha: bool = False) -> QColor | QBrush:
    """The cached colour (or translucent cell brush with ``alpha``) of score ``v``."""
    i = 0 if v != v else int(round(min(1.0, max(0.0, v)) * 100))
    return _TINTS[i] if alpha else _SOLID[i]


class ReviewTableModel(QAbstractTableModel):
    """The clips of a :class:`ReviewTable` in display order (see the module docstring)."""

    #: Emitted after the rows changed (sorted or filtered): ``(shown, total)``.
    rowsChanged = Signal(int, int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.table: ReviewTable | None = None
        self.rows = np.empty(0, dtype=np.intp)
        self.keys: list[str] = []
        self.sort_key = WORST
        self.descending = False
        self.filters: dict = {}
        self._numeric: list[bool] = []
        self._titles: list[str] = []
        self._tips: list[str] = []

    # ------------------------------------------------------------------ content
    def set_table(self, table: ReviewTable | None) -> None:
        """Show ``table`` (None: nothing), worst first, unfiltered."""
        self.beginResetModel()
        self.table = table
        self.sort_key, self.descending, self.filters = WORST, False, {}
        if table is None:
            self.keys, self.rows = [], np.empty(0, dtype=np.intp)
        else:
            keys = [c.key for c in table.columns()]
            keys.insert(keys.index("fscore") + 1, FRAMES_KEY)  # beside the clip's own scores
            self.keys = keys
            self.rows = table.order(WORST)
        self._numeric = [k != FRAMES_KEY and column_info(k).numeric for k in self.keys]
        self._titles = [_title(k) for k in self.keys]
        self._tips = [_tooltip(k) for k in self.keys]
        self.endResetModel()
        self.rowsChanged.emit(len(self.rows), 0 if table is None else len(table))

    def set_filters(self, **filters) -> None:
        """Keep only the clips that pass ``filters`` (the keywords of :meth:`ReviewTable.mask`)."""
        self.filters = {k: v for k, v in filters.items() if v is not None and v != "" and v != {}}
        self._refresh()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by a column (Qt calls this when a header is clicked): the table's cached order."""
        if self.table is None or not 0 <= column < len(self.keys) or self.keys[column] == FRAMES_KEY:
            return
        key = self.keys[column]
        self.sort_key = WORST if key == "rank" else key
        self.descending = order == Qt.SortOrder.DescendingOrder
        self._refresh()

    def sort_by(self, key: str, descending: bool = False) -> None:
        """Sort by a column key (``"worst"`` for the default order)."""
        self.sort_key, self.descending = key, bool(descending)
        self._refresh()

    def _refresh(self) -> None:
        if self.table is None:
            return
        # A reset, not a layout change: the row count changes with the filter and nothing
        # per-row is kept, so a reset is the cheapest thing Qt can be told.
        self.beginResetModel()
        self.rows = self.table.view(self.sort_key, self.descending, **self.filters)
        self.endResetModel()
        self.rowsChanged.emit(len(self.rows), len(self.table))

    def column_of(self, key: str) -> int:
        """The column showing ``key`` (-1 when not shown)."""
        return self.keys.index(key) if key in self.keys else -1

    def sort_column(self) -> int:
        """The column the rows are sorted by (Rank for worst first)."""
        return self.column_of("rank" if self.sort_key == WORST else self.sort_key)

    # ------------------------------------------------------------------ rows <-> clips
    def table_row(self, view_row: int) -> int:
        """The table row (evaluation order) shown at ``view_row``."""
        return int(self.rows[view_row])

    def clip_id(self, view_row: int) -> str | None:
        """The clip shown at ``view_row`` (None out of range)."""
        if self.table is None or not 0 <= view_row < len(self.rows):
            return None
        return self.table.clip_ids[int(self.rows[view_row])]

    def view_row_of(self, clip_id: str) -> int:
        """Where ``clip_id`` is shown (-1 when filtered out or unknown)."""
        if self.table is None:
            return -1
        try:
            i = self.table.index_of(clip_id)
        except KeyError:
            return -1
        hit = np.flatnonzero(self.rows == i)
        return int(hit[0]) if hit.size else -1

    def shown_clip_ids(self) -> list[str]:
        """The clips shown, in display order (tests and exports; builds a list)."""
        if self.table is None:
            return []
        ids = self.table.clip_ids
        return [ids[i] for i in self.rows.tolist()]

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.keys)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        # Called for every visible cell and role: answer the common roles first, cheaply.
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            key = self.keys[col]
            return "" if key == FRAMES_KEY else self.table.cell(int(self.rows[index.row()]), key)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if self._numeric[col] else _LEFT
        if role == Qt.ItemDataRole.BackgroundRole:
            key = self.keys[col]
            if key in _SCORE_KEYS:
                v = self.table.value(int(self.rows[index.row()]), key)
                return None if v != v else quality_colour(v, alpha=True)
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            key = self.keys[col]
            if key in _DELTA_KEYS:
                v = self.table.value(int(self.rows[index.row()]), key)
                return _UP if v > 0 else (_DOWN if v < 0 else None)
            return None
        if role == FRAMES_ROLE:
            r = int(self.rows[index.row()])
            return self.table.frame_iou[r], self.table.frame_padded[r]
        if role == ROW_ROLE:
            return int(self.rows[index.row()])
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._row_tooltip(int(self.rows[index.row()]))
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.keys):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._titles[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tips[section]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            # centred: a right-aligned title would sit under the sort arrow
            return int(Qt.AlignmentFlag.AlignCenter) if self._numeric[section] else _LEFT
        return None

    def _row_tooltip(self, r: int) -> str:
        t = self.table
        parts = [f"<b>{t.clip_ids[r]}</b>"]
        if t.categories[r]:
            parts.append(t.categories[r])
        if t.subsets[r]:
            parts.append(f"subset {t.subsets[r]}")
        ious = [f"{v:.2f}" if v == v else "–" for v, pad in zip(t.frame_iou[r], t.frame_padded[r]) if not pad]
        parts.append("per-frame IoU: " + " ".join(ious))
        return "<br>".join(parts)


def _title(key: str) -> str:
    return "Per frame" if key == FRAMES_KEY else column_info(key).title


def _tooltip(key: str) -> str:
    if key == FRAMES_KEY:
        return "IoU of each sampled frame (grey: no sounding object in the frame, so no score)"
    c = column_info(key)
    return c.tooltip or c.title


class FrameBarsDelegate(QStyledItemDelegate):
    """Paints a row's per-frame IoU as small bars coloured by quality (NaN: a grey tick)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        value = index.data(FRAMES_ROLE)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        if value is None:
            return
        iou, padded = value
        real = [float(v) for v, pad in zip(iou, padded) if not pad]
        if not real:
            return
        r = QRectF(option.rect).adjusted(6, 4, -6, -4)
        n = len(real)
        step = min(9.0, r.width() / n)
        w = max(2.0, step - 2.0)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.fillRect(QRectF(r.left(), r.bottom(), step * n - 2, 1), QColor(255, 255, 255, 40))
        for k, v in enumerate(real):
            x = r.left() + k * step
            if math.isnan(v):
                painter.fillRect(QRectF(x, r.bottom() - 2, w, 2), QColor(130, 134, 142))
                continue
            h = max(1.5, v * r.height())
            painter.fillRect(QRectF(x, r.bottom() - h, w, h), quality_colour(v))
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return QSize(96, 22)


# ====================================================================== the filter bar


@dataclass
class Filters:
    """What the filter bar asks for, as the keywords of :meth:`ReviewTable.view`."""

    categories: set[str] | None = None
    subsets: set[str] | None = None
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    text: str = ""

    def kwargs(self) -> dict:
        """Keyword arguments for :meth:`ReviewTable.view` / :meth:`ReviewTableModel.set_filters`."""
        return {"categories": self.categories, "subsets": self.subsets, "ranges": self.ranges or None,
                "text": self.text or None}  # fmt: skip

    @property
    def active(self) -> bool:
        """True when any filter is set."""
        return bool(self.categories or self.subsets or self.ranges or self.text)


_RANGE_KEYS = (("miou", "mIoU"), ("fscore", "F-score"), ("gt_size", "Object size"))
_COMPARE_RANGE_KEYS = (("delta_miou", "\u0394 mIoU"), ("miou_b", "mIoU (B)"))


class FilterBar(QWidget):
    """Search, category, AVSS subset and score range; ``changed`` when any of them changes."""

    changed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search clip or category…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Case-insensitive part of the clip id or category")
        self.category = QComboBox()
        self.category.setToolTip("Only the clips of one category (AVSS: clips where the class sounds)")
        self.category.setMinimumContentsLength(14)
        self.category.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.subset = QComboBox()
        self.subset.setToolTip("AVSS subset: v1s (single source), v1m (multi-source), v2")
        self.range_key = QComboBox()
        self.range_key.setToolTip("The column the range applies to")
        self.range_lo = QDoubleSpinBox()
        self.range_hi = QDoubleSpinBox()
        for spin, tip in ((self.range_lo, "Lowest value shown"), (self.range_hi, "Highest value shown")):
            spin.setDecimals(2)
            spin.setSingleStep(0.05)
            spin.setKeyboardTracking(False)
            spin.setToolTip(tip + " (clips without a value are hidden while a range is set)")
            spin.setFixedWidth(74)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Show every clip")
        self.count = QLabel()
        self.count.setObjectName("muted")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 4)
        outer.setSpacing(4)
        top = QHBoxLayout()
        top.setSpacing(6)
        top.addWidget(self.search, 3)
        top.addWidget(self.category, 2)
        top.addWidget(self.subset)
        bottom = QHBoxLayout()
        bottom.setSpacing(6)
        self.range_label = QLabel("Range")
        self.range_label.setObjectName("muted")
        bottom.addWidget(self.range_label)
        bottom.addWidget(self.range_key)
        bottom.addWidget(self.range_lo)
        self.dash = QLabel("–")
        bottom.addWidget(self.dash)
        bottom.addWidget(self.range_hi)
        bottom.addWidget(self.reset_button)
        bottom.addStretch(1)
        bottom.addWidget(self.count)
        outer.addLayout(top)
        outer.addLayout(bottom)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(160)  # typing: filter once the user pauses
        self._timer.timeout.connect(self.changed)
        self.search.textChanged.connect(lambda _t: self._timer.start())
        self.category.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.subset.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.range_key.currentIndexChanged.connect(self._on_range_key)
        self.range_lo.valueChanged.connect(lambda _v: self.changed.emit())
        self.range_hi.valueChanged.connect(lambda _v: self.changed.emit())
        self.reset_button.clicked.connect(self.reset)
        self.set_table(None)

    # ------------------------------------------------------------------ content
    def set_table(self, table: ReviewTable | None) -> None:
        """Offer the categories, subsets and columns of ``table``; clear every filter."""
        widgets = (self.search, self.category, self.subset, self.range_key, self.range_lo, self.range_hi)
        for w in widgets:
            w.blockSignals(True)
        self.search.clear()
        self.category.clear()
        self.category.addItem("All categories", None)
        self.subset.clear()
        self.subset.addItem("All subsets", None)
        self.range_key.clear()
        if table is not None:
            counts = {s.name: s.clips for s in table.category_stats()}
            for tag in table.all_tags():
                self.category.addItem(f"{tag}  ({counts.get(tag, 0)})", tag)
            for s in sorted({s for s in table.subsets if s}):
                self.subset.addItem(s, s)
            keys = _RANGE_KEYS + (_COMPARE_RANGE_KEYS if table.compared else ())
            for key, title in keys:
                self.range_key.addItem(title, key)
        self.category.setVisible(self.category.count() > 1)
        self.subset.setVisible(self.subset.count() > 2)
        self._set_bounds()
        for w in widgets:
            w.blockSignals(False)
        self.setEnabled(table is not None)

    def _bounds(self) -> tuple[float, float]:
        key = self.range_key.currentData()
        return (-1.0, 1.0) if key in ("delta_miou", "delta_fscore") else (0.0, 1.0)

    def _set_bounds(self) -> None:
        lo, hi = self._bounds()
        for spin in (self.range_lo, self.range_hi):
            spin.blockSignals(True)
            spin.setRange(lo, hi)
            spin.blockSignals(False)
        self.range_lo.blockSignals(True)
        self.range_hi.blockSignals(True)
        self.range_lo.setValue(lo)
        self.range_hi.setValue(hi)
        self.range_lo.blockSignals(False)
        self.range_hi.blockSignals(False)

    def _on_range_key(self, _i: int) -> None:
        self._set_bounds()
        self.changed.emit()

    # ------------------------------------------------------------------ state
    def filters(self) -> Filters:
        """The filters as set now."""
        out = Filters(text=self.search.text().strip())
        tag = self.category.currentData()
        if tag is not None:
            out.categories = {tag}
        sub = self.subset.currentData()
        if sub is not None:
            out.subsets = {sub}
        key = self.range_key.currentData()
        if key is not None:
            lo, hi = self.range_lo.value(), self.range_hi.value()
            blo, bhi = self._bounds()
            # The full range is no filter: clips without a value stay visible.
            if lo > blo or hi < bhi:
                out.ranges = {key: (lo if lo > blo else None, hi if hi < bhi else None)}
        return out

    def set_category(self, tag: str | None) -> None:
        """Choose one category (None: all)."""
        i = self.category.findData(tag) if tag is not None else 0
        if i >= 0:
            self.category.setCurrentIndex(i)

    def set_subset(self, subset: str | None) -> None:
        """Choose one AVSS subset (None: all)."""
        i = self.subset.findData(subset) if subset is not None else 0
        if i >= 0:
            self.subset.setCurrentIndex(i)

    def set_range(self, key: str, lo: float | None, hi: float | None) -> None:
        """Show only clips with ``lo <= key <= hi`` (None: open end); one ``changed``."""
        i = self.range_key.findData(key)
        if i < 0:
            return
        self.blockSignals(True)
        try:
            self.range_key.setCurrentIndex(i)
            blo, bhi = self._bounds()
            self.range_lo.setValue(blo if lo is None else lo)
            self.range_hi.setValue(bhi if hi is None else hi)
        finally:
            self.blockSignals(False)
        self.changed.emit()

    def set_text(self, text: str) -> None:
        """Search for ``text`` now (no typing delay)."""
        self.search.blockSignals(True)
        self.search.setText(text)
        self.search.blockSignals(False)
        self.changed.emit()

    def reset(self) -> None:
        """Clear every filter; one ``changed``."""
        self.blockSignals(True)
        try:
            self.search.clear()
            self.category.setCurrentIndex(0)
            self.subset.setCurrentIndex(0)
            if self.range_key.count():
                self.range_key.setCurrentIndex(0)
            self._set_bounds()
        finally:
            self.blockSignals(False)
        self._timer.stop()
        self.changed.emit()

    def show_count(self, shown: int, total: int) -> None:
        """Write "shown of total clips" in the count label."""
        self.count.setText(f"{shown} of {plural(total, 'clip')}" if shown != total else plural(total, "clip"))
