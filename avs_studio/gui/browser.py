"""The read-only dataset browser: AVSBench datasets' clips, sampled frames and masks.

``python main.py --browse DATASET...`` opens it; the annotator offers it for a dataset folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSlider,
    QSplitter,
    QToolBar,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from avs_studio import __version__
from avs_studio.core.clip import Clip
from avs_studio.core.datasets import Dataset, open_dataset
from avs_studio.core.errors import AVSError
from avs_studio.core.setting import Setting
from avs_studio.core.text import plural
from avs_studio.gui.annotator.canvas import FrameCanvas
from avs_studio.gui.common.actions import ActionsMixin
from avs_studio.gui.common.demo import ensure_demo
from avs_studio.gui.common.qimage import icon, overlay, to_pixmap
from avs_studio.gui.common.workers import JobBar

THUMB = QSize(150, 112)


class DatasetBrowser(ActionsMixin, QMainWindow):
    """A read-only view of AVSBench datasets: clips, their sampled frames, frames with masks."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(f"AVS Studio {__version__} — dataset browser")
        self.setWindowIcon(icon("app"))
        self.resize(1280, 800)
        self.datasets: list[Dataset] = []
        self.clip: Clip | None = None
        self._frames: list[np.ndarray] = []
        self._masks: dict[int, np.ndarray] = {}
        self._frame_index = 0
        self.jobs = JobBar(self)
        self._build()

    @property
    def _worker(self):
        """The running job (None when idle)."""
        return None if self.jobs.is_idle else True

    @property
    def progress(self):
        """The progress bar of the status bar."""
        return self.jobs.bar

    @property
    def cancel_button(self):
        """The Cancel button of the status bar."""
        return self.jobs.cancel_button

    def _build(self) -> None:
        self.clip_filter = QLineEdit(placeholderText="Filter clips (id, category, split)")
        self.clip_filter.textChanged.connect(self._apply_filter)
        self.clip_tree = QTreeWidget()
        self.clip_tree.setHeaderLabels(["Clip", "Split", "Category", "Masks"])
        for col, width in enumerate((165, 48, 150, 50)):
            self.clip_tree.setColumnWidth(col, width)
        self.clip_tree.setUniformRowHeights(True)
        self.clip_tree.currentItemChanged.connect(self._on_clip_selected)
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.clip_filter)
        lay.addWidget(self.clip_tree)
        self.canvas = FrameCanvas()
        self.canvas.pan_with_left = True
        self.canvas.wheel_zooms = True
        self.strip = QListWidget()
        self.strip.setViewMode(QListWidget.ViewMode.IconMode)
        self.strip.setFlow(QListWidget.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setIconSize(THUMB)
        self.strip.setFixedHeight(THUMB.height() + 46)
        self.strip.setMovement(QListWidget.Movement.Static)
        self.strip.currentRowChanged.connect(self._show_frame)
        self.frame_label = QLabel()
        self.frame_label.setObjectName("header")
        centre = QWidget()
        c = QVBoxLayout(centre)
        c.setContentsMargins(4, 4, 4, 4)
        c.addWidget(self.frame_label)
        c.addWidget(self.canvas, 1)
        c.addWidget(self.strip)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(centre)
        split.setStretchFactor(1, 1)
        split.setSizes([440, 840])
        self.setCentralWidget(split)
        tb = QToolBar("View")
        tb.setMovable(False)
        self.addToolBar(tb)
        self.show_mask = QCheckBox("Mask")
        self.show_mask.setChecked(True)
        self.show_mask.toggled.connect(self.canvas.set_mask_visible)
        tb.addWidget(self.show_mask)
        tb.addWidget(QLabel("  Opacity "))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(55)
        self.opacity.setFixedWidth(140)
        self.opacity.valueChanged.connect(lambda v: self.canvas.set_opacity(v / 100))
        self.canvas.set_opacity(0.55)
        tb.addWidget(self.opacity)
        tb.addSeparator()
        fit = QPushButton("Fit")
        fit.clicked.connect(self.canvas.fit)
        tb.addWidget(fit)
        self.statusBar().addPermanentWidget(self.jobs)
        self._menus()

    def _menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        act = QAction("&Open Dataset…", self, shortcut=QKeySequence.StandardKey.Open)
        act.triggered.connect(self._open_dialog)
        m.addAction(act)
        act = QAction("Open &Demo Datasets", self)
        act.triggered.connect(self.load_demo)
        m.addAction(act)
        m.addSeparator()
        act = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        act.triggered.connect(self.close)
        m.addAction(act)
        v = self.menuBar().addMenu("&View")
        for text, keys, slot in (
            ("Zoom &In", QKeySequence.StandardKey.ZoomIn, lambda: self.canvas.zoom(1.25)),
            ("Zoom &Out", QKeySequence.StandardKey.ZoomOut, lambda: self.canvas.zoom(0.8)),
            ("&Fit", QKeySequence("Ctrl+0"), self.canvas.fit),
            ("&Next Frame", QKeySequence(Qt.Key.Key_Right), lambda: self._step(1)),
            ("&Previous Frame", QKeySequence(Qt.Key.Key_Left), lambda: self._step(-1)),
        ):
            act = QAction(text, self, shortcut=keys)
            act.triggered.connect(slot)
            v.addAction(act)

    # ------------------------------------------------------------------ jobs
    def run_job(self, fn, on_done, message: str):
        """Run ``fn(progress, cancel)`` in the background with the status-bar progress bar."""
        return self.jobs.run("browse", fn, on_done, message, on_failed=self.show_error,
                             on_cancelled=lambda: self.statusBar().showMessage("Cancelled", 4000))  # fmt: skip

    def closeEvent(self, event) -> None:
        self.jobs.cancel_all()
        self.jobs.wait(10000)
        super().closeEvent(event)

    # ------------------------------------------------------------------ datasets
    def load_demo(self) -> None:
        """Build (first time only) and open the built-in demo datasets."""
        self.run_job(ensure_demo, self._open_roots, "Preparing the demo datasets…")

    def _open_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open an AVSBench dataset folder")
        if folder:
            self.open_paths([Path(folder)])

    def open_paths(self, paths: list[Path]) -> None:
        """Open dataset folders (each may hold S4, MS3 or AVSS data)."""
        self._open_roots(paths)

    def _open_roots(self, roots: list[Path]) -> None:
        from avs_studio.core.datasets import detect_setting

        opened = []
        for root in roots:
            try:
                found = detect_setting(root) or [None]
                opened.extend(open_dataset(root, s) for s in found)
            except AVSError as exc:
                self.show_error(str(exc))
        if not opened:
            return
        self.datasets = opened
        self._fill_tree()
        problems = sum(len(d.problems) for d in opened)
        clips = sum(len(d) for d in opened)
        note = f"; {problems} problem(s) in the metadata" if problems else ""
        self.statusBar().showMessage(f"{plural(clips, 'clip')} in {len(opened)} dataset(s){note}", 8000)

    def _fill_tree(self) -> None:
        self.clip_tree.clear()
        first = None
        for ds in self.datasets:
            top = QTreeWidgetItem([f"{ds.setting.value.upper()} — {ds.root.name}", "", "", plural(len(ds), "clip")])
            top.setFlags(top.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            self.clip_tree.addTopLevelItem(top)
            for clip in ds:
                label = clip.category if ds.setting is not Setting.AVSS else f"{clip.subset}: {clip.category}"
                item = QTreeWidgetItem([clip.clip_id, clip.split, label, f"{len(clip.annotated)}/{clip.num_frames}"])
                item.setData(0, Qt.ItemDataRole.UserRole, clip)
                top.addChild(item)
                first = first or item
            top.setExpanded(True)
        if first is not None:
            self.clip_tree.setCurrentItem(first)

    def _apply_filter(self, text: str) -> None:
        text = text.strip().lower()
        for i in range(self.clip_tree.topLevelItemCount()):
            top = self.clip_tree.topLevelItem(i)
            for j in range(top.childCount()):
                item = top.child(j)
                hay = " ".join(item.text(c) for c in range(4)).lower()
                item.setHidden(bool(text) and text not in hay)

    # ------------------------------------------------------------------ clips
    def _on_clip_selected(self, item: QTreeWidgetItem | None, _prev=None) -> None:
        clip = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if isinstance(clip, Clip):
            self.open_clip(clip)

    def open_clip(self, clip: Clip) -> None:
        """Load a clip's frames and masks in the background and show them."""

        def load(progress, cancel):
            frames = []
            for k in range(clip.num_frames):
                cancel.raise_if_cancelled()
                frames.append(clip.frame(k))
                progress(k + 1, clip.num_frames, "")
            return clip, frames, clip.masks(size=None)

        self.run_job(load, self._show_clip, f"Opening {clip.clip_id}…")

    def _show_clip(self, result) -> None:
        clip, frames, masks = result
        self.clip, self._frames, self._masks = clip, frames, masks
        binary = clip.setting.is_binary
        self.strip.blockSignals(True)
        self.strip.clear()
        for k, rgb in enumerate(frames):
            thumb = overlay(rgb, masks.get(k), binary=binary)
            mark = "✓" if k in masks else "–"
            pm = to_pixmap(thumb).scaled(THUMB, Qt.AspectRatioMode.KeepAspectRatio)
            self.strip.addItem(QListWidgetItem(QIcon(pm), f"{k + 1} {mark}"))
        self.strip.blockSignals(False)
        self.strip.setCurrentRow(min(self._frame_index, len(frames) - 1))
        self._show_frame(self.strip.currentRow())

    def _show_frame(self, k: int) -> None:
        if self.clip is None or not 0 <= k < len(self._frames):
            return
        self._frame_index = k
        mask = self._masks.get(k)
        self.canvas.set_frame(self._frames[k], mask, binary=self.clip.setting.is_binary)
        h, w = self._frames[k].shape[:2]
        state = "ground truth" if mask is not None else "no mask"
        self.frame_label.setText(
            f"<b>{self.clip.clip_id}</b> — frame {k + 1}/{self.clip.num_frames} "
            f"(≈{self.clip.frame_times()[k]:.2f} s) — {w}×{h} — {state}"
        )

    def _step(self, delta: int) -> None:
        if self._frames:
            self.strip.setCurrentRow(max(0, min(len(self._frames) - 1, self._frame_index + delta)))
