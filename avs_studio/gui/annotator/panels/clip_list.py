"""The project's clips: status, category, split; a status filter and a search box.

The current row is the clip shown; several rows can be selected for "Propose selected".
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from avs_studio.core.project.records import STATUS_TITLES, ClipRecord
from avs_studio.core.text import plural

STATUS_COLOURS = {
    "new": (140, 145, 155),
    "proposed": (255, 170, 0),
    "in_progress": (80, 160, 255),
    "done": (95, 211, 141),
    "reviewed": (190, 120, 255),
}
TODO = ("new", "proposed", "in_progress")
FILTERS = (("All clips", None), ("To do", TODO), *((t.capitalize(), (s,)) for s, t in STATUS_TITLES.items()))
_ICON_CACHE: dict[str, QIcon] = {}


def status_icon(status: str) -> QIcon:
    """A coloured dot for a status."""
    found = _ICON_CACHE.get(status)
    if found is None:
        pm = QPixmap(12, 12)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(*STATUS_COLOURS.get(status, (128, 128, 128))))
        p.drawEllipse(1, 1, 10, 10)
        p.end()
        found = _ICON_CACHE[status] = QIcon(pm)
    return found


class ClipListPanel(QWidget):
    """A filterable list of clip records; ``clipActivated(clip_id)`` when the user picks one."""

    clipActivated = Signal(str)

    COLUMNS = ("Clip", "Status", "Category", "Split", "#")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search id, category, split…")
        self.search.setClearButtonEnabled(True)
        self.filter = QComboBox()
        for title, _ in FILTERS:
            self.filter.addItem(title)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(self.COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        header = self.tree.header()
        header.setStretchLastSection(False)
        for col, width in enumerate((118, 96, 112, 44, 34)):
            self.tree.setColumnWidth(col, width)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tree.headerItem().setToolTip(4, "sampled frames")
        self.counts = QLabel()
        self.counts.setObjectName("muted")
        top = QHBoxLayout()
        top.setSpacing(4)
        top.addWidget(self.search, 1)
        top.addWidget(self.filter)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(6)
        lay.addLayout(top)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.counts)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._records: dict[str, ClipRecord] = {}
        self._labels: Callable[[ClipRecord], str] = lambda r: r.category
        self.search.textChanged.connect(self._apply_filter)
        self.filter.currentIndexChanged.connect(self._apply_filter)
        self.tree.currentItemChanged.connect(self._on_current)

    # ------------------------------------------------------------------ content
    def set_clips(self, records: list[ClipRecord], current: str | None = None) -> None:
        """Show ``records`` (in project order); ``current`` becomes the current row (no signal)."""
        self.tree.blockSignals(True)
        self.tree.clear()
        self._items, self._records = {}, {}
        for rec in records:
            item = QTreeWidgetItem()
            item.setData(0, Qt.ItemDataRole.UserRole, rec.clip_id)
            self._items[rec.clip_id] = item
            self._fill(item, rec)
            self.tree.addTopLevelItem(item)
        self.tree.blockSignals(False)
        if current is not None:
            self.set_current(current, emit=False)
        self._apply_filter()

    def update_clip(self, rec: ClipRecord) -> None:
        """Refresh one row (status, comment...)."""
        item = self._items.get(rec.clip_id)
        if item is not None:
            self._fill(item, rec)
            self._apply_filter()

    def _fill(self, item: QTreeWidgetItem, rec: ClipRecord) -> None:
        self._records[rec.clip_id] = rec
        category = rec.category if not rec.subset else f"{rec.subset}: {rec.category or rec.a_obj}"
        texts = (rec.clip_id, STATUS_TITLES.get(rec.status, rec.status), category, rec.split or "–",
                 str(rec.num_frames))  # fmt: skip
        for col, text in enumerate(texts):
            item.setText(col, text)
        item.setIcon(1, status_icon(rec.status))
        tip = f"{rec.clip_id}\n{rec.media_path}"
        if rec.annotator:
            tip += f"\nannotator: {rec.annotator}"
        if rec.comment:
            tip += f"\n“{rec.comment}”"
        item.setToolTip(0, tip)
        item.setTextAlignment(4, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def records(self) -> list[ClipRecord]:
        """All records, in list order."""
        return [self._records[i.data(0, Qt.ItemDataRole.UserRole)] for i in self._ordered_items()]

    def record(self, clip_id: str) -> ClipRecord | None:
        """The record shown for ``clip_id``."""
        return self._records.get(clip_id)

    def _ordered_items(self) -> list[QTreeWidgetItem]:
        return [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]

    # ------------------------------------------------------------------ selection
    @property
    def current_id(self) -> str | None:
        """The clip of the current row."""
        item = self.tree.currentItem()
        return None if item is None else item.data(0, Qt.ItemDataRole.UserRole)

    def set_current(self, clip_id: str, *, emit: bool = True) -> None:
        """Make ``clip_id`` the current row (and select it alone)."""
        item = self._items.get(clip_id)
        if item is None:
            return
        if item.isHidden():
            self.search.clear()
            self.filter.setCurrentIndex(0)
        self.tree.blockSignals(not emit)
        self.tree.setCurrentItem(item)
        self.tree.blockSignals(False)
        self.tree.scrollToItem(item)

    def selected_ids(self) -> list[str]:
        """Clips selected in the list (in list order; the current one when none is)."""
        chosen = {id(i) for i in self.tree.selectedItems()}
        ids = [i.data(0, Qt.ItemDataRole.UserRole) for i in self._ordered_items() if id(i) in chosen and not i.isHidden()]
        if not ids and self.current_id:
            ids = [self.current_id]
        return ids

    def visible_ids(self) -> list[str]:
        """Clips the filter and search leave visible, in order."""
        return [i.data(0, Qt.ItemDataRole.UserRole) for i in self._ordered_items() if not i.isHidden()]

    def neighbour(self, clip_id: str | None, step: int) -> str | None:
        """The visible clip ``step`` rows away from ``clip_id`` (None at the ends)."""
        ids = self.visible_ids()
        if not ids:
            return None
        if clip_id not in ids:
            return ids[0]
        k = ids.index(clip_id) + step
        return ids[k] if 0 <= k < len(ids) else None

    def next_matching(self, clip_id: str | None, keep: Callable[[ClipRecord], bool]) -> str | None:
        """The first clip after ``clip_id`` (wrapping around, all clips) that ``keep`` accepts."""
        ids = [i.data(0, Qt.ItemDataRole.UserRole) for i in self._ordered_items()]
        if not ids:
            return None
        start = ids.index(clip_id) + 1 if clip_id in ids else 0
        for cid in ids[start:] + ids[:start]:
            if cid != clip_id and keep(self._records[cid]):
                return cid
        return None

    # ------------------------------------------------------------------ filtering
    def _apply_filter(self, *_args) -> None:
        text = self.search.text().strip().lower()
        statuses = FILTERS[max(0, self.filter.currentIndex())][1]
        shown = 0
        for cid, item in self._items.items():
            rec = self._records[cid]
            hay = " ".join((rec.clip_id, rec.category, rec.split, rec.subset, rec.a_obj, rec.comment)).lower()
            hide = (bool(text) and text not in hay) or (statuses is not None and rec.status not in statuses)
            item.setHidden(hide)
            shown += not hide
        done = sum(r.status in ("done", "reviewed") for r in self._records.values())
        total = len(self._records)
        self.counts.setText(f"{shown} of {plural(total, 'clip')} shown · {done} done" if shown != total
                            else f"{plural(total, 'clip')} · {done} done")  # fmt: skip

    def _on_current(self, item: QTreeWidgetItem | None, _previous=None) -> None:
        if item is not None:
            self.clipActivated.emit(item.data(0, Qt.ItemDataRole.UserRole))
