"""The label picker: the project's classes with their palette colours, searchable.

AVSS projects have 70 object classes (index 0, background, is not a label); S4/MS3 have
one ("sounding object"), so the annotator hides the picker there.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from avs_studio.core.project.records import LabelSet
from avs_studio.gui.common.qimage import object_colour

SWATCH = 14


def swatch(rgb: tuple[int, int, int], size: int = SWATCH) -> QIcon:
    """A small rounded colour square."""
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QColor(255, 255, 255, 120))
    p.setBrush(QColor(*rgb))
    p.drawRoundedRect(0.5, 0.5, size - 1, size - 1, 3, 3)
    p.end()
    return QIcon(pm)


class LabelPicker(QWidget):
    """A search box over a list of labels with colour swatches.

    ``labelChosen(index)`` fires when the user picks a label (click, Enter in the search
    box, or arrow keys + Enter); :attr:`current_label` is the label new objects get.
    """

    labelChosen = Signal(int)
    #: A label was picked from the keyboard (Enter): the window gives the keys back to the canvas.
    searchFinished = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search classes…  (Ctrl+L)")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setIconSize(QSize(SWATCH, SWATCH))
        self.list.setUniformItemSizes(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.search)
        lay.addWidget(self.list, 1)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._choose_first_visible)
        self.list.itemClicked.connect(self._choose)
        self.list.itemActivated.connect(self._activated)
        self._labels: LabelSet | None = None
        self._current = 1

    def set_labels(self, labels: LabelSet, *, binary: bool) -> None:
        """Fill the list with ``labels`` (index 0, background, is left out)."""
        self._labels = labels
        self.list.clear()
        for index in range(1, len(labels)):
            name = labels.name(index)
            colour = object_colour(index, 1, binary=binary) if not binary else (255, 0, 200)
            item = QListWidgetItem(swatch(colour), f"{name}")
            item.setData(Qt.ItemDataRole.UserRole, index)
            item.setToolTip(f"{name} (class {index})")
            self.list.addItem(item)
        self.set_current(1)

    @property
    def current_label(self) -> int:
        """The label the next new object gets."""
        return self._current

    def set_current(self, label: int) -> None:
        """Show ``label`` as the current one (no signal); 0 shows none."""
        self._current = int(label)
        found = None
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == self._current:
                found = item
                break
        self.list.blockSignals(True)
        self.list.setCurrentItem(found)
        if found is None:
            self.list.clearSelection()
        self.list.blockSignals(False)
        if found is not None:
            self.list.scrollToItem(found)

    def visible_labels(self) -> list[int]:
        """Labels the search leaves visible, in list order."""
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())
                if not self.list.item(i).isHidden()]  # fmt: skip

    def focus_search(self) -> None:
        """Put the cursor in the search box (Ctrl+L)."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _filter(self, text: str) -> None:
        text = text.strip().lower()
        for i in range(self.list.count()):
            item = self.list.item(i)
            item.setHidden(bool(text) and text not in item.text().lower())

    def _choose_first_visible(self) -> None:
        labels = self.visible_labels()
        current = self.list.currentItem()
        if current is not None and not current.isHidden():
            self._choose(current)
        elif labels:
            self.choose(labels[0])
        else:
            return
        self.searchFinished.emit()

    def _activated(self, item: QListWidgetItem) -> None:
        self._choose(item)
        self.searchFinished.emit()

    def _choose(self, item: QListWidgetItem) -> None:
        self.choose(int(item.data(Qt.ItemDataRole.UserRole)))

    def choose(self, label: int) -> None:
        """Pick ``label`` as if the user clicked it."""
        self.set_current(label)
        self.labelChosen.emit(int(label))
