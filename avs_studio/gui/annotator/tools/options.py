"""The tool options beside the brush size: what a new object will be, paint behind, the
magic wand's tolerance."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from avs_studio.core.project.painting import WAND_TOLERANCE
from avs_studio.gui.annotator.panels.label_picker import swatch


class ToolOptions(QWidget):
    """A row of toolbar widgets: the object the brush paints, "Paint behind", the tolerance."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.swatch = QLabel()
        self.target = QLabel()
        self.target.setObjectName("muted")
        self.target.setToolTip("What the brush, the polygon and the fill paint: the selected object, or a "
                               "new object of this class (N starts a new object; Ctrl+L chooses the class)")  # fmt: skip
        self.behind = QCheckBox("Paint behind")
        self.behind.setToolTip("Brush and polygon leave the pixels of other objects to them (no overlap is made); "
                               "a new object goes to the bottom of the order")  # fmt: skip
        self.tolerance = QSpinBox()
        self.tolerance.setRange(0, 255)
        self.tolerance.setValue(WAND_TOLERANCE)
        self.tolerance.setToolTip("Magic wand (fill): how far a pixel's colour may lie from the clicked one's "
                                  "(0-255 per channel) to be filled")  # fmt: skip
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 0, 6, 0)
        lay.setSpacing(4)
        lay.addWidget(self.swatch)
        lay.addWidget(self.target)
        lay.addSpacing(8)
        lay.addWidget(self.behind)
        lay.addSpacing(8)
        lay.addWidget(QLabel("Tolerance"))
        lay.addWidget(self.tolerance)

    def set_target(self, text: str, colour: tuple[int, int, int] | None) -> None:
        """Show what the next stroke paints (``colour`` None: no swatch, e.g. a class to choose)."""
        self.target.setText(text)
        if colour is None:
            self.swatch.clear()
        else:
            self.swatch.setPixmap(swatch(colour).pixmap(14, 14))
        self.swatch.setAlignment(Qt.AlignmentFlag.AlignVCenter)

    @property
    def paint_behind(self) -> bool:
        """True when the brush and the polygon paint behind other objects."""
        return self.behind.isChecked()

    @property
    def wand_tolerance(self) -> int:
        """The magic wand's colour tolerance (0-255)."""
        return int(self.tolerance.value())
