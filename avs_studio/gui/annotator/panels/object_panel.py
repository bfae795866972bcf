"""The objects of the current frame: visibility, selection, proposals to accept or reject,
the object order (listed top first; raise and lower), whether each sounds in this frame, a lock
that keeps the tools off an object's pixels, and the threshold that reshapes a binary proposal
before it is accepted."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSlider,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from avs_studio.gui.annotator.panels.label_picker import swatch
from avs_studio.gui.common.qimage import icon

KIND_TITLES = {"manual": "drawn", "proposal": "proposal", "accepted": "accepted", "dataset": "dataset",
               "import": "imported"}  # fmt: skip


@dataclass
class ObjectRow:
    """One object as the panel lists it."""

    instance_id: int
    name: str
    colour: tuple[int, int, int]
    kind: str
    confidence: float | None
    area: int
    visible: bool = True
    sounding: bool = True  # sounds in this frame (False: silent, left out of the AVS mask)
    decided: bool = True  # a person decided whether it sounds here
    locked: bool = False  # the tools leave its pixels alone

    @property
    def is_proposal(self) -> bool:
        """True for a model proposal nobody accepted yet."""
        return self.kind == "proposal"


def _button(name: str, text: str, tip: str) -> QToolButton:
    b = QToolButton()
    b.setIcon(icon(name))
    b.setText(text)
    b.setToolTip(tip)
    b.setIconSize(QSize(16, 16))
    b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    return b


#: Columns of the object list.
COL_OBJECT, COL_SOURCE, COL_AREA, COL_SOUND, COL_LOCK = range(5)


class ObjectPanel(QWidget):
    """List + buttons; the window connects the signals to commands."""

    objectSelected = Signal(object)  # instance id or None
    visibilityChanged = Signal(int, bool)
    #: The "Sound" box of an object was clicked (the window toggles its sounding flag).
    soundingToggled = Signal(int)
    lockChanged = Signal(int, bool)
    acceptRequested = Signal()
    rejectRequested = Signal()
    acceptFrameRequested = Signal()
    rejectFrameRequested = Signal()
    deleteRequested = Signal()
    #: Move the selected object up / down the clip's order (the top one wins shared pixels).
    raiseRequested = Signal()
    lowerRequested = Signal()
    #: The threshold slider moved (live preview) / was released (apply), as a probability.
    thresholdPreview = Signal(float)
    thresholdCommitted = Signal(float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Object", "Source", "Area", "Sound", "Lock"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.setColumnWidth(COL_SOURCE, 78)
        self.tree.setColumnWidth(COL_AREA, 52)
        self.tree.setColumnWidth(COL_SOUND, 50)
        self.tree.setColumnWidth(COL_LOCK, 38)
        self.tree.headerItem().setToolTip(COL_SOUND, "Ticked: sounds in this frame (in its mask); "
                                          "? = not decided yet. S toggles")  # fmt: skip
        self.tree.headerItem().setToolTip(COL_LOCK, "Locked objects keep their pixels: no tool paints over them")
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tree.setMinimumHeight(120)
        self.hint = QLabel()
        self.hint.setObjectName("muted")
        self.hint.setWordWrap(True)
        self.accept_button = _button("accept", "Accept", "Accept the selected proposal in every frame (A)")
        self.reject_button = _button("reject", "Reject", "Reject the selected proposal in every frame (R)")
        self.accept_frame_button = _button("accept", "Frame", "Accept every proposal of this frame (Shift+A)")
        self.reject_frame_button = _button("reject", "Frame", "Reject every proposal of this frame (Shift+R)")
        self.delete_button = _button("delete", "Delete", "Delete the selected object from this frame (Del)")
        self.raise_button = _button("raise", "Raise", "Move the selected object up: where objects overlap, the "
                                    "export writes the one on top (Ctrl+])")  # fmt: skip
        self.lower_button = _button("lower", "Lower", "Move the selected object down (Ctrl+[)")
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(1, 99)
        self.threshold.setValue(50)
        self.threshold.setToolTip("Reshape the selected binary proposal: pixels whose probability is above "
                                  "the threshold (applied when the slider is released)")  # fmt: skip
        self.threshold_label = QLabel("Threshold 0.50")
        grid = QGridLayout()
        grid.setSpacing(4)
        grid.addWidget(self.accept_button, 0, 0)
        grid.addWidget(self.reject_button, 0, 1)
        grid.addWidget(self.delete_button, 0, 2)
        grid.addWidget(self.accept_frame_button, 1, 0)
        grid.addWidget(self.reject_frame_button, 1, 1)
        grid.addWidget(self.raise_button, 2, 0)
        grid.addWidget(self.lower_button, 2, 1)
        th = QHBoxLayout()
        th.addWidget(self.threshold_label)
        th.addWidget(self.threshold, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.hint)
        lay.addLayout(grid)
        lay.addLayout(th)
        self._rows: list[ObjectRow] = []
        self._updating = False
        self.tree.currentItemChanged.connect(self._on_current)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.accept_button.clicked.connect(self.acceptRequested)
        self.reject_button.clicked.connect(self.rejectRequested)
        self.accept_frame_button.clicked.connect(self.acceptFrameRequested)
        self.reject_frame_button.clicked.connect(self.rejectFrameRequested)
        self.delete_button.clicked.connect(self.deleteRequested)
        self.raise_button.clicked.connect(self.raiseRequested)
        self.lower_button.clicked.connect(self.lowerRequested)
        self.threshold.valueChanged.connect(self._on_threshold)
        self.threshold.sliderReleased.connect(lambda: self.thresholdCommitted.emit(self.threshold_value))
        self.set_threshold_enabled(False)

    # ------------------------------------------------------------------ content
    def set_objects(self, rows: list[ObjectRow], selected: int | None, *, hint: str = "") -> None:
        """Show the objects of the current frame (top of the order first); ``selected`` is the current row."""
        self._updating = True
        self._rows = list(rows)
        self.tree.clear()
        current = None
        for row in rows:
            conf = "" if row.confidence is None else f" {row.confidence:.0%}"
            item = QTreeWidgetItem([f"#{row.instance_id}  {row.name}", KIND_TITLES.get(row.kind, row.kind) + conf,
                                    f"{row.area:,}", "" if row.decided else "?", ""])  # fmt: skip
            checked = {True: Qt.CheckState.Checked, False: Qt.CheckState.Unchecked}
            item.setCheckState(COL_SOUND, checked[row.sounding])
            item.setToolTip(COL_SOUND, ("Sounds in this frame" if row.sounding else "Silent in this frame: kept as "
                                        "geometry, left out of the mask") +
                            ("" if row.decided else " (not decided yet)") + ". Click or S to toggle")  # fmt: skip
            item.setCheckState(COL_LOCK, checked[row.locked])
            item.setToolTip(COL_LOCK, "Lock: brush, eraser, polygon, fill and outline edits leave its pixels alone")
            if not row.sounding:
                f = item.font(0)
                f.setItalic(True)
                item.setFont(0, f)
            item.setIcon(0, swatch(row.colour))
            item.setData(0, Qt.ItemDataRole.UserRole, row.instance_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if row.visible else Qt.CheckState.Unchecked)
            item.setToolTip(0, "Untick to hide the object")
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if row.is_proposal:
                f = item.font(1)
                f.setItalic(True)
                item.setFont(1, f)
            self.tree.addTopLevelItem(item)
            if row.instance_id == selected:
                current = item
        self.tree.setCurrentItem(current)
        if current is None:
            self.tree.clearSelection()
        self._updating = False
        self.set_hint(hint)
        self._update_buttons(selected)

    def set_hint(self, hint: str) -> None:
        """The line under the list (what painting will do); hidden when empty."""
        self.hint.setText(hint)
        self.hint.setVisible(bool(hint))

    def set_selected(self, instance_id: int | None) -> None:
        """Make ``instance_id`` the current row (no signal)."""
        self._updating = True
        found = None
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == instance_id:
                found = item
        self.tree.setCurrentItem(found)
        if found is None:
            self.tree.clearSelection()
        self._updating = False
        self._update_buttons(instance_id)

    def row(self, instance_id: int | None) -> ObjectRow | None:
        """The row of an object of this frame."""
        return next((r for r in self._rows if r.instance_id == instance_id), None)

    def _update_buttons(self, selected: int | None) -> None:
        row = self.row(selected)
        has_proposals = any(r.is_proposal for r in self._rows)
        self.accept_button.setEnabled(row is not None and row.is_proposal)
        self.reject_button.setEnabled(row is not None and row.is_proposal)
        self.delete_button.setEnabled(row is not None)
        movable = row is not None and len(self._rows) > 1
        self.raise_button.setEnabled(movable and self._rows[0].instance_id != selected)
        self.lower_button.setEnabled(movable and self._rows[-1].instance_id != selected)
        self.accept_frame_button.setEnabled(has_proposals)
        self.reject_frame_button.setEnabled(has_proposals)

    # ------------------------------------------------------------------ threshold
    @property
    def threshold_value(self) -> float:
        """The slider's threshold as a probability."""
        return self.threshold.value() / 100.0

    def set_threshold(self, value: float) -> None:
        """Move the slider without signals."""
        self.threshold.blockSignals(True)
        self.threshold.setValue(int(round(value * 100)))
        self.threshold.blockSignals(False)
        self.threshold_label.setText(f"Threshold {self.threshold_value:.2f}")

    def set_threshold_enabled(self, enabled: bool) -> None:
        """The slider works only for a selected binary proposal with its probabilities."""
        self.threshold.setEnabled(enabled)
        self.threshold_label.setEnabled(enabled)

    def _on_threshold(self, _value: int) -> None:
        self.threshold_label.setText(f"Threshold {self.threshold_value:.2f}")
        self.thresholdPreview.emit(self.threshold_value)
        if not self.threshold.isSliderDown():  # keyboard or a click on the groove
            self.thresholdCommitted.emit(self.threshold_value)

    # ------------------------------------------------------------------ signals
    def _on_current(self, item: QTreeWidgetItem | None, _prev=None) -> None:
        if self._updating:
            return
        inst = None if item is None else item.data(0, Qt.ItemDataRole.UserRole)
        self._update_buttons(inst)
        self.objectSelected.emit(inst)

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._updating or column not in (COL_OBJECT, COL_SOUND, COL_LOCK):
            return
        inst = int(item.data(0, Qt.ItemDataRole.UserRole))
        on = item.checkState(column) == Qt.CheckState.Checked
        if column == COL_OBJECT:
            signal, args = self.visibilityChanged, (inst, on)
        elif column == COL_SOUND:
            signal, args = self.soundingToggled, (inst,)
        else:
            signal, args = self.lockChanged, (inst, on)
        # Emitted once the item's own call returns: the window rebuilds the list, which
        # deletes this item (deleting it inside its setData() crashes).
        QTimer.singleShot(0, self, lambda: signal.emit(*args))
