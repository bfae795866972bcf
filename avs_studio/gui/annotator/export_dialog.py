"""The export dialog: target format, which clips, options and where; the export itself runs
in the window's worker (see :meth:`ExportOptions.job`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from avs_studio.core.project.records import STATUS_TITLES
from avs_studio.core.setting import Setting

TARGET_TITLES = {
    "avsbench-s4": "AVSBench S4 layout (Single-source)",
    "avsbench-ms3": "AVSBench MS3 layout (Multi-sources)",
    "avsbench-avss": "AVSBench-semantic layout (AVSS)",
    "coco": "COCO instances JSON (RLE)",
    "coco-polygons": "COCO instances JSON (polygons)",
    "png": "PNG mask folder",
}


@dataclass
class ExportOptions:
    """What the user chose in the dialog."""

    target: str
    out: Path
    status: str | None = None
    split: str | None = None
    media: bool = True
    include_proposals: bool = False

    @property
    def format(self) -> str:
        """The project's export target name (``coco-polygons`` is ``coco`` with polygons)."""
        return "coco" if self.target == "coco-polygons" else self.target

    def job(self, project):
        """The export as a worker job ``fn(progress, cancel) -> ExportSummary``."""
        writer = None
        if self.format in ("avsbench-s4", "avsbench-ms3") and self.media:
            try:
                from avs_studio.model.official_io import save_logmel_pickle as writer
            except ImportError:  # torch missing: the pickles are optional
                writer = None

        def run(progress, cancel):
            return project.export(self.out, self.format, status=self.status, split=self.split,
                                  polygons=self.target == "coco-polygons", media=self.media,
                                  include_proposals=self.include_proposals, log_mel_writer=writer,
                                  progress=progress, cancel=cancel)  # fmt: skip

        return run


def targets_for(setting: Setting) -> list[str]:
    """Targets a project of ``setting`` can be exported to (binary masks carry no classes)."""
    layouts = ["avsbench-s4", "avsbench-ms3"] if setting.is_binary else ["avsbench-avss", "avsbench-s4", "avsbench-ms3"]
    first = f"avsbench-{setting.value}"
    layouts.remove(first)
    return [first, *layouts, "coco", "coco-polygons", "png"]


class ExportDialog(QDialog):
    """Choose an export; :meth:`options` reads the choice after ``exec()``."""

    def __init__(self, setting: Setting, start_folder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.setMinimumWidth(520)
        self.target = QComboBox()
        for t in targets_for(setting):
            self.target.addItem(TARGET_TITLES[t], t)
        self.status = QComboBox()
        self.status.addItem("All clips", None)
        for s, title in STATUS_TITLES.items():
            self.status.addItem(f"Only {title}", s)
        self.split = QComboBox()
        for title, value in (("All splits", None), ("train", "train"), ("val", "val"), ("test", "test")):
            self.split.addItem(title, value)
        self.media = QCheckBox("Also write frames, audio and videos (AVSBench layouts)")
        self.media.setChecked(True)
        self.proposals = QCheckBox("Include proposals nobody accepted yet")
        self.out = QLineEdit(str(Path(start_folder) / "export"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.out, 1)
        row.addWidget(browse)
        self.note = QLabel()
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Format", self.target)
        form.addRow("Clips", self.status)
        form.addRow("Split", self.split)
        form.addRow("", self.media)
        form.addRow("", self.proposals)
        form.addRow("Destination", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.note)
        lay.addWidget(buttons)
        self.target.currentIndexChanged.connect(self._update_note)
        self._update_note()

    def _update_note(self, *_args) -> None:
        t = self.target.currentData()
        self.media.setEnabled(t.startswith("avsbench"))
        notes = {
            "coco": "Destination: a .json file, or a folder (annotations.json is written in it).",
            "coco-polygons": "Polygons trace pixel centres (holes are lost); masks without a polygon stay RLE.",
            "png": "One PNG per annotated frame, <clip>/<frame>.png, and masks.json.",
        }
        self.note.setText(notes.get(t, "A complete dataset folder in the official layout is written inside "
                                       "the destination folder (which must not hold one already)."))  # fmt: skip

    def _browse(self) -> None:
        t = self.target.currentData()
        if t.startswith("coco"):
            path, _ = QFileDialog.getSaveFileName(self, "Export COCO JSON", self.out.text(), "JSON (*.json)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export into folder", self.out.text())
        if path:
            self.out.setText(path)

    def options(self) -> ExportOptions:
        """The choices made."""
        return ExportOptions(
            target=self.target.currentData(), out=Path(self.out.text().strip()).expanduser(),
            status=self.status.currentData(), split=self.split.currentData(), media=self.media.isChecked(),
            include_proposals=self.proposals.isChecked(),
        )  # fmt: skip
