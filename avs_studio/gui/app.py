"""Starting the GUI: the application, its theme, the demo, and the read-only dataset browser.

``python main.py`` opens the demo project (the demo dataset is built on first start, in
the background, with a progress bar); ``python main.py PROJECT.avsproj`` opens a project;
``python main.py DATASET_FOLDER`` offers to create a project from the dataset (or, with
``--browse``, opens the read-only dataset browser).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
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
from avs_studio.core.threads import limit_numpy_blas
from avs_studio.gui.annotator.canvas import FrameCanvas
from avs_studio.gui.common.actions import ActionsMixin
from avs_studio.gui.common.qimage import icon, overlay, to_pixmap
from avs_studio.gui.common.workers import JobBar

DEMO_SETTINGS = (("s4", 12), ("ms3", 8), ("avss", 8))
DEMO_SEED = 2024
THUMB = QSize(150, 112)


# ====================================================================== the demo


def demo_dir() -> Path:
    """Where the built-in demo datasets live ($AVS_STUDIO_DEMO_DIR or the user cache)."""
    env = os.environ.get("AVS_STUDIO_DEMO_DIR")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "avs-studio" / "demo-v1"


def ensure_demo_dataset(setting: str, progress, cancel) -> Path:
    """Build the demo dataset of ``setting`` if it is missing (a core job); return its root."""
    from avs_studio.core.demo.dataset import SUBFOLDER, write_demo_dataset

    st = Setting.parse(setting)
    n = dict(DEMO_SETTINGS)[st.value]
    dest = demo_dir() / SUBFOLDER[st]
    if not dest.exists():
        write_demo_dataset(demo_dir(), st, n, seed=DEMO_SEED,
                           progress=lambda d, t, m="": progress(d, t, f"{st.value}: {m}"), cancel=cancel)  # fmt: skip
    return dest


def ensure_demo(progress, cancel) -> list[Path]:
    """Build the demo datasets that are missing (a core job); return the dataset roots."""
    return [ensure_demo_dataset(s, progress, cancel) for s, _ in DEMO_SETTINGS]


def demo_project_path(setting: str) -> Path:
    """The demo project of ``setting`` (beside the demo datasets)."""
    return demo_dir() / f"demo-{Setting.parse(setting).value}.avsproj"


def ensure_demo_project(setting: str, progress, cancel) -> Path:
    """The demo project of ``setting``, created once from its demo dataset (clips to annotate,
    their ground truth left out so the annotator starts from nothing)."""
    from avs_studio.core.project.project import Project

    path = demo_project_path(setting)
    if path.exists():
        return path
    root = ensure_demo_dataset(setting, progress, cancel)
    partial = path.with_name(path.name + ".partial")
    for p in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        p.unlink(missing_ok=True)
    progress(0, 0, "creating the demo project…")
    with Project.create(partial, setting, name=f"{Setting.parse(setting).value.upper()} demo") as project:
        project.add_clips_from_dataset(root, with_masks=False, progress=progress, cancel=cancel)
    os.replace(partial, path)
    with contextlib.suppress(OSError):
        Path(f"{partial}.lock").unlink()
    return path


# ====================================================================== the theme


def apply_theme(app: QApplication) -> None:
    """A dark Fusion theme, applied to every widget the same way."""
    app.setStyle("Fusion")
    pal = QPalette()
    base, window, text = QColor(37, 38, 42), QColor(45, 46, 51), QColor(226, 228, 232)
    for role, colour in (
        (QPalette.ColorRole.Window, window), (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, QColor(42, 43, 48)),
        (QPalette.ColorRole.ToolTipBase, QColor(30, 31, 34)), (QPalette.ColorRole.ToolTipText, text),
        (QPalette.ColorRole.Text, text), (QPalette.ColorRole.Button, QColor(54, 56, 62)),
        (QPalette.ColorRole.ButtonText, text), (QPalette.ColorRole.BrightText, QColor(255, 90, 90)),
        (QPalette.ColorRole.Highlight, QColor(58, 120, 214)), (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255)),
        (QPalette.ColorRole.Link, QColor(138, 180, 248)), (QPalette.ColorRole.PlaceholderText, QColor(130, 134, 142)),
    ):  # fmt: skip
        pal.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(110, 113, 120))
    app.setPalette(pal)
    app.setStyleSheet(STYLE)


STYLE = """
QMainWindow::separator { background: #232428; width: 3px; height: 3px; }
QDockWidget::title { background: #2a2b30; padding: 5px 8px; font-weight: 600; color: #c8cbd2; }
QToolBar { background: #2d2e33; border: none; border-bottom: 1px solid #232428; spacing: 3px; padding: 3px 6px; }
QToolBar QToolButton { border-radius: 5px; padding: 4px; }
QToolBar QToolButton:hover { background: #3a3c43; }
QToolBar QToolButton:checked { background: #3a5f9e; }
QGroupBox { border: 1px solid #3a3c43; border-radius: 6px; margin-top: 14px; padding-top: 6px; }
QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 4px; color: #aeb3bd; font-weight: 600; }
QTreeWidget, QListWidget, QTextBrowser { border: 1px solid #3a3c43; border-radius: 4px; }
QHeaderView::section { background: #2f3035; color: #aeb3bd; border: none; border-right: 1px solid #3a3c43; padding: 4px 6px; }
QLineEdit, QComboBox, QDoubleSpinBox { border: 1px solid #464951; border-radius: 4px; padding: 3px 6px; background: #25262a; }
QLineEdit:focus, QComboBox:focus, QDoubleSpinBox:focus { border-color: #3a78d6; }
QPushButton { border: 1px solid #50535c; border-radius: 5px; padding: 5px 12px; background: #3a3c43; }
QPushButton:hover { background: #454851; }
QPushButton:disabled { color: #6e7178; border-color: #3a3c43; }
QPushButton#primary { background: #2f7d4f; border-color: #3c9a63; color: white; font-weight: 600; }
QPushButton#primary:hover { background: #368f5a; }
QPushButton#accent { background: #3a5f9e; border-color: #4a74bb; color: white; font-weight: 600; }
QPushButton#accent:hover { background: #4270b8; }
QPushButton#primary:disabled, QPushButton#accent:disabled { background: #3a3c43; border-color: #3a3c43; color: #6e7178; }
QLabel#header { background: #26272b; color: #d5d8de; padding: 6px 10px; border-bottom: 1px solid #1e1f22; }
QLabel#muted { color: #9299a5; }
QLabel#placeholder { color: #9299a5; font-size: 14px; }
QStatusBar { background: #26272b; color: #aeb3bd; }
QSlider::groove:horizontal { height: 4px; background: #4a4d55; border-radius: 2px; }
QSlider::handle:horizontal { background: #8ab4f8; width: 12px; margin: -5px 0; border-radius: 6px; }
QSlider::sub-page:horizontal { background: #3a78d6; border-radius: 2px; }
QProgressBar { border: 1px solid #464951; border-radius: 4px; text-align: center; height: 14px; background: #25262a; }
QProgressBar::chunk { background: #3a78d6; border-radius: 3px; }
QToolTip { border: 1px solid #464951; padding: 4px; }
"""


# ====================================================================== the dataset browser


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
        self.statusBar().showMessage(f"{clips} clips in {len(opened)} dataset(s){note}", 8000)

    def _fill_tree(self) -> None:
        self.clip_tree.clear()
        first = None
        for ds in self.datasets:
            top = QTreeWidgetItem([f"{ds.setting.value.upper()} — {ds.root.name}", "", "", f"{len(ds)} clips"])
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


# ====================================================================== start-up


def make_app() -> QApplication:
    """The QApplication (created once), themed."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("AVS Studio")
    app.setOrganizationName("AVS Studio")
    app.setWindowIcon(icon("app"))
    apply_theme(app)
    return app


def _install_excepthook(window: QMainWindow) -> None:
    """A programming error in a slot shows a message instead of killing the window."""
    import traceback

    def hook(kind, value, tb):
        text = "".join(traceback.format_exception(kind, value, tb, limit=6))
        sys.__stderr__.write(text)
        with contextlib.suppress(Exception):
            QMessageBox.critical(window, "AVS Studio: unexpected error",
                                 f"{kind.__name__}: {value}\n\nThe project is unchanged by the failed "
                                 f"action. Details:\n{text[-1500:]}")  # fmt: skip

    sys.excepthook = hook


def qt_binding_problem() -> str:
    """Why the installed Qt binding cannot run AVS Studio, or "" when it can."""
    import PySide6

    version = tuple(int(p) for p in PySide6.__version__.split(".")[:2] if p.isdigit())
    if version == (6, 12) and sys.version_info < (3, 12):
        return (
            f"PySide6 {PySide6.__version__} loses a reference to None/True on every Qt call on "
            "Python < 3.12 and crashes after a few hundred signals; install a fixed release: "
            "python -m pip install 'PySide6-Essentials<6.12'"
        )
    return ""


def run(argv: list[str] | None = None) -> int:
    """Start the GUI on a project, a dataset folder, or (no argument) the demo project."""
    import argparse

    parser = argparse.ArgumentParser(prog="avs-studio-gui", description="AVS Studio")
    parser.add_argument("target", nargs="*", help="a project file (.avsproj) or AVSBench dataset folder(s)")
    parser.add_argument("--demo", default="s4", choices=["s4", "ms3", "avss"], help="which demo project to open")
    parser.add_argument("--browse", action="store_true", help="open dataset folders in the read-only browser")
    parser.add_argument("--screenshot", help="save a screenshot of the window to this PNG once it is ready, and quit")
    # the review window (review_window.py)
    parser.add_argument("--review", nargs=2, metavar=("PRED", "GT"),
                        help="review predictions against ground truth (an AVSBench dataset folder or a project)")
    parser.add_argument("--setting", choices=["s4", "ms3", "avss"], help="with --review: the setting (default: from the files)")
    parser.add_argument("--compare", metavar="PRED2", help="with --review: a second model's predictions to compare with")
    parser.add_argument("--split", default="test", choices=["test", "val", "train", "all"],
                        help="with --review: the clips to score (default: test, as the official evaluation)")
    args = parser.parse_args(argv)
    problem = qt_binding_problem()
    if problem:
        print(f"AVS Studio: {problem}", file=sys.stderr)
        return 2
    app = make_app()
    limit_numpy_blas(1)  # small matrix products only: spinning BLAS threads would starve the GUI
    from avs_studio.gui.annotator.window import AnnotatorWindow

    targets = [Path(p) for p in args.target]
    if args.review:
        from avs_studio.gui.review.window import ReviewWindow

        win = ReviewWindow()
        win.show()
        win.open_review(args.review[0], args.review[1], args.setting, compare=args.compare, split=args.split)
    elif args.browse or (len(targets) > 1 and all(p.is_dir() for p in targets)):
        win: QMainWindow = DatasetBrowser()
        win.show()
        if targets:
            win.open_paths(targets)
        else:
            win.load_demo()
    else:
        win = AnnotatorWindow()
        win.show()
        target = targets[0] if targets else None
        if target is None:
            win.open_demo(args.demo)
        elif target.is_dir():
            QTimer.singleShot(0, lambda: _offer_project(win, target))
        else:
            win.open_project(target)
    _install_excepthook(win)
    if args.screenshot:
        _screenshot_when_idle(app, win, Path(args.screenshot))
    return app.exec()


def _offer_project(win, folder: Path) -> None:
    """A dataset folder was named: create a project from it, or browse it read-only."""
    box = QMessageBox(QMessageBox.Icon.Question, "AVS Studio",
                      f"{folder} is a dataset folder. Create an annotation project from its clips, or "
                      "browse it read-only?", parent=win)  # fmt: skip
    create = box.addButton("Create Project…", QMessageBox.ButtonRole.AcceptRole)
    browse = box.addButton("Browse", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    if box.clickedButton() is create:
        win._guarded(lambda: win.create_project_from_dataset(folder))
    elif box.clickedButton() is browse:
        browser = DatasetBrowser()
        browser.show()
        browser.open_paths([folder])
        win._browser = browser


def _screenshot_when_idle(app: QApplication, win: QMainWindow, path: Path) -> None:
    """Save the window once background work is done and a frame is shown, then quit."""

    def ready() -> bool:
        if hasattr(win, "screenshot_ready"):  # the review window
            return win.screenshot_ready()
        if isinstance(win, DatasetBrowser):
            return win.jobs.is_idle and win.clip is not None
        return win.jobs.is_idle and getattr(win, "loaded", None) is not None

    def check():
        if ready():
            QTimer.singleShot(400, lambda: (win.grab().save(str(path)), app.quit()))
        else:
            QTimer.singleShot(200, check)

    QTimer.singleShot(500, check)
