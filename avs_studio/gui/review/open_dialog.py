"""The "Open review" dialog: a prediction folder, the ground truth (an AVSBench dataset folder
or a project), the setting (detected where the files say it), the split, and optionally a
second prediction folder to compare with.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from avs_studio.core.errors import AVSError
from avs_studio.core.fsutil import is_temporary
from avs_studio.core.project.project import PROJECT_SUFFIX
from avs_studio.core.setting import Setting

SPLITS = (("test", "test (the official evaluation)"), ("val", "val"), ("train", "train"), ("all", "all clips"))


@dataclass(frozen=True)
class ReviewRequest:
    """What to review: the arguments of :class:`~avs_studio.core.review.session.ReviewSession`."""

    pred: Path
    gt: Path
    setting: str | None = None
    compare: Path | None = None
    split: str = "test"


def guess_setting(pred: Path | None, gt: Path | None) -> tuple[list[Setting], str]:
    """The settings the files allow (one when it is clear) and what said so.

    Reads only small things: a project's header, a dataset's metadata file names, the run
    file ``propose`` leaves, a PNG mask manifest, the array names of one score file.
    """
    allowed = list(Setting)
    said: list[str] = []

    def narrow(found: list[Setting], why: str) -> None:
        nonlocal allowed
        if found:
            allowed = [s for s in allowed if s in found]
            said.append(why)

    if gt is not None and gt.exists():
        if gt.is_file():
            narrow(_project_setting(gt), "the project")
        elif gt.is_dir():
            from avs_studio.core.datasets import detect_setting

            narrow(detect_setting(gt), "the dataset")
    if pred is not None and pred.is_dir():
        narrow(_prediction_settings(pred), "the predictions")
    return allowed, " and ".join(said)


def _project_setting(path: Path) -> list[Setting]:
    from avs_studio.core.project.project import Project

    try:
        with Project.open(path, readonly=True) as project:
            return [project.setting]
    except (AVSError, OSError):
        return []


def _prediction_settings(pred: Path) -> list[Setting]:
    for run in (pred / ".propose" / "run.json", pred / "masks.json"):
        try:
            data = json.loads(run.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        value = data.get("clip_setting") or data.get("setting") if isinstance(data, dict) else None
        try:
            return [Setting.parse(value)] if value else []
        except ValueError:
            return []
    scores = pred / "scores" if (pred / "scores").is_dir() else pred
    first = next(iter(sorted(p for p in scores.glob("*.npz") if not is_temporary(p))), None)
    if first is not None:
        try:
            with zipfile.ZipFile(first) as z:
                names = set(z.namelist())
        except (OSError, zipfile.BadZipFile):
            return []
        if "labels.npy" in names:
            return [Setting.AVSS]
        if names & {"codes.npy", "logits.npy", "probs.npy"}:
            return [Setting.S4, Setting.MS3]
    return []


class OpenReviewDialog(QDialog):
    """Choose what to review (see the module docstring); :meth:`request` gives the answer."""

    def __init__(self, parent: QWidget | None = None, *, folder: str = "", last: ReviewRequest | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Review predictions")
        self.setMinimumWidth(640)
        self.folder = folder
        self.pred_edit = QLineEdit(placeholderText="a propose output or an AVSBench prediction folder")
        self.gt_edit = QLineEdit(placeholderText="an AVSBench dataset folder or a project (.avsproj)")
        self.compare_edit = QLineEdit(placeholderText="optional: a second model's predictions")
        self.setting_combo = QComboBox()
        self.setting_combo.addItem("Detect", None)
        for s in Setting:
            self.setting_combo.addItem(s.value.upper(), s.value)
        self.detected = QLabel()
        self.detected.setObjectName("muted")
        self.split_combo = QComboBox()
        for value, title in SPLITS:
            self.split_combo.addItem(title, value)
        form = QFormLayout()
        form.addRow("Predictions", self._with_buttons(self.pred_edit, ("Folder…", self._browse_pred)))
        form.addRow("Ground truth", self._with_buttons(self.gt_edit, ("Dataset…", self._browse_dataset),
                                                       ("Project…", self._browse_project)))  # fmt: skip
        setting_row = QHBoxLayout()
        setting_row.addWidget(self.setting_combo)
        setting_row.addWidget(self.detected, 1)
        form.addRow("Setting", setting_row)
        form.addRow("Split", self.split_combo)
        form.addRow("Compare with", self._with_buttons(self.compare_edit, ("Folder…", self._browse_compare)))
        hint = QLabel("The overall figures are those of <code>avs-studio evaluate</code> with the same "
                      "split (the official test loops use the test split).")  # fmt: skip
        hint.setObjectName("muted")
        hint.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Review")
        buttons.button(QDialogButtonBox.StandardButton.Ok).setObjectName("accent")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(hint)
        lay.addWidget(buttons)
        for edit in (self.pred_edit, self.gt_edit):
            edit.editingFinished.connect(self._detect)
        self.setting_combo.currentIndexChanged.connect(self._detect)
        if last is not None:
            self.pred_edit.setText(str(last.pred))
            self.gt_edit.setText(str(last.gt))
            self.compare_edit.setText(str(last.compare or ""))
            i = self.split_combo.findData(last.split)
            self.split_combo.setCurrentIndex(max(0, i))
            if last.setting:
                self.setting_combo.setCurrentIndex(max(0, self.setting_combo.findData(last.setting)))
        self._detect()

    def _with_buttons(self, edit: QLineEdit, *buttons) -> QWidget:
        w = QWidget()
        row = QHBoxLayout(w)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        for text, slot in buttons:
            b = QPushButton(text)
            b.clicked.connect(slot)
            row.addWidget(b)
        return w

    # ------------------------------------------------------------------ browsing
    def _start(self, edit: QLineEdit) -> str:
        text = edit.text().strip()
        return str(Path(text).parent) if text else self.folder

    def _browse_folder(self, edit: QLineEdit, title: str, *, detect: bool = True) -> None:
        d = QFileDialog.getExistingDirectory(self, title, self._start(edit))
        if d:
            edit.setText(d)
            if detect:
                self._detect()

    def _browse_pred(self) -> None:
        self._browse_folder(self.pred_edit, "Prediction folder")

    def _browse_compare(self) -> None:
        self._browse_folder(self.compare_edit, "Second model's prediction folder", detect=False)

    def _browse_dataset(self) -> None:
        self._browse_folder(self.gt_edit, "AVSBench dataset folder")

    def _browse_project(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Project with the ground truth", self._start(self.gt_edit),
                                           f"AVS Studio projects (*{PROJECT_SUFFIX});;All files (*)")  # fmt: skip
        if f:
            self.gt_edit.setText(f)
            self._detect()

    # ------------------------------------------------------------------ the setting
    def _paths(self) -> tuple[Path | None, Path | None]:
        pred, gt = self.pred_edit.text().strip(), self.gt_edit.text().strip()
        return (Path(pred) if pred else None), (Path(gt) if gt else None)

    def _detect(self) -> None:
        if self.setting_combo.currentData() is not None:
            self.detected.setText("")
            return
        pred, gt = self._paths()
        found, why = guess_setting(pred, gt)
        if not why:
            self.detected.setText("from the files, once they are chosen")
        elif len(found) == 1:
            self.detected.setText(f"{found[0].value.upper()} (from {why})")
        elif not found:
            self.detected.setText(f"<span style='color:#f06964'>{why} disagree: choose the setting</span>")
        else:
            names = " or ".join(s.value.upper() for s in found)
            self.detected.setText(f"{names}: choose one")

    def setting(self) -> str | None:
        """The setting chosen or detected (None when it is not clear)."""
        chosen = self.setting_combo.currentData()
        if chosen is not None:
            return chosen
        found, _ = guess_setting(*self._paths())
        return found[0].value if len(found) == 1 else None

    def request(self) -> ReviewRequest | None:
        """What to review (None while the answers are incomplete)."""
        pred, gt = self._paths()
        if pred is None or gt is None:
            return None
        compare = self.compare_edit.text().strip()
        return ReviewRequest(pred, gt, self.setting(), Path(compare) if compare else None,
                             self.split_combo.currentData())  # fmt: skip

    def _accept(self) -> None:
        pred, gt = self._paths()
        problem = ""
        if pred is None or not pred.is_dir():
            problem = "Choose the folder of predictions to review."
        elif gt is None or not gt.exists():
            problem = "Choose the ground truth: an AVSBench dataset folder or a project file."
        elif self.setting() is None:
            problem = "The setting cannot be told from these files: choose S4, MS3 or AVSS."
        if problem:
            QMessageBox.warning(self, "Review predictions", problem)
            return
        self.accept()
