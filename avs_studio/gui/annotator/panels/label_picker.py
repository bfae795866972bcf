"""The label picker: the project's classes with their palette colours, searchable, and the
recent classes on the number keys.

AVSS projects have 70 object classes (index 0, background, is not a label); S4/MS3 have
one ("sounding object"), so the annotator hides the picker there.

Recent classes: the classes chosen or met in the open clips fill nine numbered slots
(keys 1-9) in the order they come. A class keeps its number while it stays; when all
nine are taken, the class used longest ago gives its slot to the new one, so the numbers
a hand has learnt do not shift with every choice.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

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


RECENT_SLOTS = 9


class RecentLabels:
    """Nine numbered slots of recently used labels (see the module docstring)."""

    def __init__(self, size: int = RECENT_SLOTS) -> None:
        self.slots: list[int | None] = [None] * size
        self._used: dict[int, int] = {}  # label -> when it was last used
        self._clock = 0

    def use(self, label: int) -> int:
        """Note that ``label`` was used; return its slot (0-based)."""
        self._clock += 1
        label = int(label)
        if label in self.slots:
            slot = self.slots.index(label)
        elif None in self.slots:
            slot = self.slots.index(None)
        else:  # the least recently used label gives up its slot
            slot = min(range(len(self.slots)), key=lambda i: self._used.get(self.slots[i], 0))
            self._used.pop(self.slots[slot], None)
        self.slots[slot] = label
        self._used[label] = self._clock
        return slot

    def label(self, number: int) -> int | None:
        """The label on key ``number`` (1-based), or None."""
        return self.slots[number - 1] if 1 <= number <= len(self.slots) else None

    def clear(self) -> None:
        """Empty every slot."""
        self.slots = [None] * len(self.slots)
        self._used.clear()


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
        self.recent = RecentLabels()
        self.recent_row = QWidget()
        self.recent_row.setToolTip("Recent classes: keys 1-9 pick them")
        rr = QHBoxLayout(self.recent_row)
        rr.setContentsMargins(0, 0, 0, 0)
        rr.setSpacing(2)
        self.recent_buttons: list[QToolButton] = []
        for n in range(1, RECENT_SLOTS + 1):
            b = QToolButton()
            b.setIconSize(QSize(SWATCH - 4, SWATCH - 4))
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            b.setAutoRaise(True)
            b.clicked.connect(lambda _=False, n=n: self.choose_recent(n))
            rr.addWidget(b)
            self.recent_buttons.append(b)
        rr.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.search)
        lay.addWidget(self.recent_row)
        lay.addWidget(self.list, 1)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._choose_first_visible)
        self.list.itemClicked.connect(self._choose)
        self.list.itemActivated.connect(self._activated)
        self._labels: LabelSet | None = None
        self._binary = False
        self._current = 1

    def set_labels(self, labels: LabelSet, *, binary: bool) -> None:
        """Fill the list with ``labels`` (index 0, background, is left out)."""
        self._labels = labels
        self._binary = binary
        self.recent.clear()
        self.list.clear()
        for index in range(1, len(labels)):
            name = labels.name(index)
            colour = object_colour(index, 1, binary=binary) if not binary else (255, 0, 200)
            item = QListWidgetItem(swatch(colour), f"{name}")
            item.setData(Qt.ItemDataRole.UserRole, index)
            item.setToolTip(f"{name} (class {index})")
            self.list.addItem(item)
        self.set_current(1)
        self._update_recent()

    def remember(self, labels) -> None:
        """Put labels met in a clip into the recent slots (without choosing them)."""
        for label in labels:
            if self._labels is not None and 1 <= int(label) < len(self._labels):
                self.recent.use(int(label))
        self._update_recent()

    def choose_recent(self, number: int) -> int | None:
        """Pick the class on key ``number`` (1-9), as if clicked; None when the slot is empty."""
        label = self.recent.label(number)
        if label is not None:
            self.choose(label)
        return label

    def _update_recent(self) -> None:
        labels = self._labels
        for n, b in enumerate(self.recent_buttons, start=1):
            label = self.recent.label(n)
            b.setVisible(label is not None and labels is not None)
            if label is None or labels is None:
                continue
            name = labels.name(label)
            b.setText(f"{n} {name[:10]}")
            b.setIcon(swatch(object_colour(label, 1, binary=self._binary), SWATCH - 4))
            b.setToolTip(f"{n}: {name}")
        self.recent_row.setVisible(labels is not None and any(x is not None for x in self.recent.slots))

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
        self.recent.use(int(label))
        self._update_recent()
        self.labelChosen.emit(int(label))
