"""The review window: a model's predictions against ground truth, for researchers.

Top: the official figures exactly as ``avs-studio evaluate`` prints them (and, when two
models are compared, B's with the deltas). Left: the clips, worst first, sortable and
filterable, with the plots under them. Right: the selected clip frame by frame (ground
truth, prediction(s), difference) in views that zoom together, with its sound. From any
clip, "Fix Ground Truth" opens it in the annotator.

A window of its own rather than a tab of the annotator: reviewing is about two prediction
folders and a ground truth, not about one project's clips, it wants the whole screen width
for three or four views per frame, and fixing the ground truth happens in the annotator
beside it while the review stays open. ``python main.py --review PRED GT`` opens it alone;
the annotator's File ▸ Review Predictions… opens it next to the annotator.

Everything slow runs in the window's workers (:class:`~avs_studio.gui.common.workers.JobBar`):
scoring the predictions (progress bar, Cancel), and reading and drawing a clip. Errors the
user can cause (a folder without predictions, a missing clip, the wrong setting) show a
message; the window carries on with what it showed.
"""

from __future__ import annotations

import threading
from html import escape
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from avs_studio import __version__
from avs_studio.core.errors import AVSError
from avs_studio.core.project.project import PROJECT_SUFFIX
from avs_studio.core.review.session import ReviewSession
from avs_studio.core.text import plural
from avs_studio.gui import windows
from avs_studio.gui.common.actions import ActionsMixin
from avs_studio.gui.common.qimage import icon
from avs_studio.gui.common.settings import Preferences
from avs_studio.gui.common.shortcuts import Shortcut, sheet_html
from avs_studio.gui.common.workers import JobBar
from avs_studio.gui.review.detail import ClipDetailPane, DetailData, load_detail_job
from avs_studio.gui.review.open_dialog import OpenReviewDialog, ReviewRequest, guess_setting
from avs_studio.gui.review.plots import PlotsPanel
from avs_studio.gui.review.table import FRAMES_KEY, FilterBar, FrameBarsDelegate, ReviewTableModel

__all__ = ["REVIEW_SHORTCUTS", "ReviewWindow"]

SK = QKeySequence.StandardKey

#: The review window's keys (its Help ▸ Keyboard Shortcuts sheet is rendered from them).
REVIEW_SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("open_review", "Review", "Open Review…", ("Ctrl+O",),
             "Choose predictions, the ground truth, the split and a second model to compare", SK.Open),  # fmt: skip
    Shortcut("recompute", "Review", "Recompute", ("F5",), "Score the same folders again (after fixing masks)"),
    Shortcut("write_report", "Review", "Write HTML Report…", ("Ctrl+E",),
             "The same review as avs-studio report: index.html, per_clip.csv, per_frame.csv"),
    Shortcut("fix_gt", "Review", "Fix Ground Truth…", ("Ctrl+G",),
             "Open this clip in the annotator to correct its masks (a project made from a dataset "
             "folder, when the ground truth is one)"),
    Shortcut("close_window", "Review", "Close", ("Ctrl+W",), "Close the review window", SK.Close),
    Shortcut("find", "Clips", "Search Clips", ("Ctrl+F",), "Put the cursor in the search box", SK.Find),
    Shortcut("reset_filters", "Clips", "Show All Clips", ("Ctrl+Shift+A",), "Clear every filter"),
    Shortcut("prev_clip", "Clips", "Previous Clip", ("PgUp",), "The clip above in the table"),
    Shortcut("next_clip", "Clips", "Next Clip", ("PgDown",), "The clip below in the table (↑ ↓ work too)"),
    Shortcut("prev_frame", "Frames", "Previous Frame", ("Left",), "The previous sampled frame"),
    Shortcut("next_frame", "Frames", "Next Frame", ("Right",), "The next sampled frame"),
    Shortcut("play", "Frames", "Play / Pause", ("Space",), "Play the clip's sound from the current frame"),
    Shortcut("play_window", "Frames", "Play Frame's Audio Window", ("W",),
             "Play the audio the current frame is paired with"),
    Shortcut("loop_window", "Frames", "Loop Window", ("Shift+W",), "Loop the frame's audio window"),
    Shortcut("zoom_in", "View", "Zoom In", ("Ctrl++", "Ctrl+="), "Zoom every view (also Ctrl+wheel)", SK.ZoomIn),
    Shortcut("zoom_out", "View", "Zoom Out", ("Ctrl+-",), "Zoom every view out", SK.ZoomOut),
    Shortcut("zoom_fit", "View", "Fit", ("Ctrl+0",), "Fit the frames to the views (also double-click)"),
    Shortcut("diff_b", "View", "Difference of Model B", ("D",), "When comparing: the last column shows B's errors"),
    Shortcut("shortcuts", "Help", "Keyboard Shortcuts", ("F1",), "This sheet"),
)
_BY_ID = {s.id: s for s in REVIEW_SHORTCUTS}


def review_sheet_html() -> str:
    """The review window's shortcuts sheet (Help ▸ Keyboard Shortcuts)."""
    notes = ("<p><b>Mouse:</b> Ctrl+wheel over a frame zooms every view around the pointer; dragging "
             "pans them all; double-click fits. Click a histogram bar, a category bar or a point "
             "to show those clips.</p>")  # fmt: skip
    return sheet_html(REVIEW_SHORTCUTS, notes)


# ====================================================================== the figures


class FiguresBar(QFrame):
    """The overall figures of the review as tiles, and ``evaluate``'s own text on demand."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("figuresBar")
        self.setStyleSheet(
            "QFrame#figuresBar { background: #26272b; border-bottom: 1px solid #1e1f22; }"
            " QFrame#tile { background: #2f3035; border: 1px solid #3a3c43; border-radius: 6px; }"
            " QFrame#tile[extra='true'] { background: #2a2b2f; border-style: dashed; }"
            " QLabel#tileLabel { color: #9ea4ae; font-size: 11px; font-weight: 600; }"
            " QLabel#tileValue { color: #f1f3f6; font-size: 20px; font-weight: 600; }"
            " QLabel#tileNote { color: #8c929c; font-size: 10px; }"
        )
        self.tiles: dict[str, QFrame] = {}
        self.values: dict[str, QLabel] = {}
        self.tiles_row = QHBoxLayout()
        self.tiles_row.setSpacing(8)
        self.info = QLabel()
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setWordWrap(True)
        self.info.setObjectName("muted")
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.toggle = QPushButton("evaluate output")
        self.toggle.setCheckable(True)
        self.toggle.setToolTip("The figures exactly as `avs-studio evaluate` prints them")
        self.evaluate_text = QPlainTextEdit()
        self.evaluate_text.setReadOnly(True)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.evaluate_text.setFont(mono)
        self.evaluate_text.setVisible(False)
        self.evaluate_text.setMaximumHeight(150)
        self.toggle.toggled.connect(self.evaluate_text.setVisible)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #ffc46b;")
        side = QVBoxLayout()
        side.setSpacing(4)
        side.addWidget(self.info)
        side.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        side.addStretch(1)
        top = QHBoxLayout()
        top.setContentsMargins(10, 8, 10, 8)
        top.setSpacing(14)
        top.addLayout(self.tiles_row)
        top.addLayout(side, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(top)
        lay.addWidget(self.notes)
        lay.addWidget(self.evaluate_text)
        self.clear()

    def clear(self) -> None:
        """No review."""
        while self.tiles_row.count():
            w = self.tiles_row.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.tiles, self.values = {}, {}
        self.info.setText("")
        self.notes.setVisible(False)
        self.evaluate_text.setPlainText("")

    def set_session(self, session: ReviewSession) -> None:
        """Show a computed session's figures."""
        self.clear()
        figs_b = {f.key: f for f in session.figures("b")} if session.compared else {}
        for f in session.figures("a"):
            tile = QFrame()
            tile.setObjectName("tile")
            tile.setProperty("extra", "false" if f.official else "true")
            tl = QVBoxLayout(tile)
            tl.setContentsMargins(10, 6, 10, 6)
            tl.setSpacing(1)
            label = QLabel(f.label)
            label.setObjectName("tileLabel")
            value = QLabel(f"{f.value:.4f}")
            value.setObjectName("tileValue")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            tl.addWidget(label)
            tl.addWidget(value)
            if f.key in figs_b:
                vb = figs_b[f.key].value
                d = vb - f.value
                colour = "#5fd38d" if d > 0 else ("#f06964" if d < 0 else "#9299a5")
                b = QLabel(f"B {vb:.4f} <span style='color:{colour}'>({d:+.4f})</span>")
                b.setTextFormat(Qt.TextFormat.RichText)
                tl.addWidget(b)
                self.values[f.key + "_b"] = b
            text = f.note or ("" if f.official else "not official")
            if text:
                note = QLabel(text)
                note.setObjectName("tileNote")
                note.setWordWrap(True)
                note.setMaximumWidth(230)
                tl.addWidget(note)
                tile.setToolTip(text)
            tile.setMaximumWidth(260)
            self.tiles_row.addWidget(tile, 0, Qt.AlignmentFlag.AlignTop)
            self.tiles[f.key] = tile
            self.values[f.key] = value
        first = session.summary_lines("a")[0]
        rows = [f"<b style='color:#d5d8de'>{escape(first)}</b>",
                f"{'A' if session.compared else 'Predictions'}: {escape(str(session.pred_path))}"]  # fmt: skip
        if session.compared:
            rows.append(f"B: {escape(str(session.compare_path))}")
        rows.append(f"Ground truth: {escape(str(session.gt_path))} ({session.gt_kind})")
        self.info.setText("<br>".join(rows))
        text = "\n".join(session.summary_lines("a"))
        if session.compared:
            text = "A:\n" + text + "\n\nB:\n" + "\n".join(session.summary_lines("b"))
        self.evaluate_text.setPlainText(text)
        if session.notes:
            self.notes.setText("  " + "\n  ".join(f"⚠ {n}" for n in session.notes))
            self.notes.setContentsMargins(10, 0, 10, 6)
            self.notes.setVisible(True)


# ====================================================================== the window


class ReviewWindow(ActionsMixin, QMainWindow):
    """AVS Studio's review window (see the module docstring).

    ``annotator`` is the annotator window "Fix Ground Truth" uses (one is made when needed,
    by ``annotator_factory`` when given); ``audio_output`` replaces the default sound sink.
    """

    shortcuts_by_id = _BY_ID
    error_title = "AVS Studio review"
    #: Emitted when a review has been computed and shown.
    reviewReady = Signal()
    #: Emitted with the clip id when a clip's frames are shown.
    detailReady = Signal(str)

    def __init__(self, *, prefs: Preferences | None = None, audio_output=None, annotator=None,
                 annotator_factory=None) -> None:  # fmt: skip
        super().__init__()
        self.prefs = prefs or Preferences()
        self.setWindowTitle(f"Review — AVS Studio {__version__}")
        self.setWindowIcon(icon("app"))
        self.resize(1600, 1000)
        self.session: ReviewSession | None = None
        self.request: ReviewRequest | None = None
        self.annotator = annotator
        self._annotator_factory = annotator_factory
        self._audio_output = audio_output
        self._lock = threading.Lock()
        self._want_clip: str | None = None
        self._restoring = False
        self.shown_clip: str | None = None
        self.jobs = JobBar(self)
        self._select_timer = QTimer(self)
        self._select_timer.setSingleShot(True)
        self._select_timer.setInterval(90)  # holding ↓ through the table opens only where it stops
        self._select_timer.timeout.connect(self._open_selected)
        self._build()
        self._update_enabled()

    # ================================================================== layout
    def _build(self) -> None:
        self.figures = FiguresBar()
        self.filter_bar = FilterBar()
        self.model = ReviewTableModel(self)
        self.table_view = QTableView()
        tv = self.table_view
        tv.setModel(self.model)
        tv.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        tv.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        tv.setAlternatingRowColors(True)
        tv.setWordWrap(False)
        tv.setShowGrid(False)
        tv.setTextElideMode(Qt.TextElideMode.ElideRight)
        tv.verticalHeader().setVisible(False)
        tv.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        tv.verticalHeader().setDefaultSectionSize(24)
        tv.horizontalHeader().setHighlightSections(False)
        tv.horizontalHeader().setSectionsMovable(True)
        tv.setSortingEnabled(True)
        tv.setStyleSheet("QTableView { border: 1px solid #3a3c43; border-radius: 4px; }"
                         " QTableView::item { padding: 0 6px; }")  # fmt: skip
        self.frames_delegate = FrameBarsDelegate(tv)
        tv.selectionModel().currentRowChanged.connect(lambda cur, _prev: self._on_current_row(cur.row()))
        self.model.rowsChanged.connect(self._on_rows_changed)
        tv.horizontalHeader().sortIndicatorChanged.connect(self._on_sort_indicator)
        self.filter_bar.changed.connect(self.apply_filters)
        self.plots = PlotsPanel()
        self.plots.histogram.binClicked.connect(lambda lo, hi: self.filter_bar.set_range("miou", lo, hi))
        self.plots.categories.categoryClicked.connect(self.filter_bar.set_category)
        self.plots.scatter.pointClicked.connect(self._select_table_row)
        left_top = QWidget()
        lt = QVBoxLayout(left_top)
        lt.setContentsMargins(0, 0, 0, 0)
        lt.setSpacing(0)
        lt.addWidget(self.filter_bar)
        lt.addWidget(tv, 1)
        left = QSplitter(Qt.Orientation.Vertical)
        left.setChildrenCollapsible(False)
        left.addWidget(left_top)
        left.addWidget(self.plots)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 2)
        left.setSizes([560, 300])
        self.detail = ClipDetailPane(audio_output=self._audio_output)
        self.detail.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.setChildrenCollapsible(False)
        self.split.addWidget(left)
        self.split.addWidget(self.detail)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([700, 900])
        main = QWidget()
        ml = QVBoxLayout(main)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.setSpacing(0)
        ml.addWidget(self.figures)
        ml.addWidget(self.split, 1)
        self.placeholder = QWidget()
        pl = QVBoxLayout(self.placeholder)
        text = QLabel("<h2>Review predictions</h2><p>Open a model's predictions (a <code>propose</code> "
                      "output or an AVSBench prediction folder) against the ground truth (an AVSBench "
                      "dataset or a project), and optionally a second model's to compare.</p>")  # fmt: skip
        text.setObjectName("placeholder")
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        open_button = QPushButton(icon("open"), "  Open Review…")
        open_button.setObjectName("accent")
        open_button.clicked.connect(lambda: self.open_dialog())
        pl.addStretch(1)
        pl.addWidget(text)
        pl.addWidget(open_button, 0, Qt.AlignmentFlag.AlignCenter)
        pl.addStretch(2)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(main)
        self.setCentralWidget(self.stack)
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self.statusBar().addPermanentWidget(self.jobs)

    def _build_actions(self) -> None:
        self.actions_by_id: dict[str, QAction] = {}
        a = self._action
        a("open_review", self.open_dialog, icon_name="open")
        a("recompute", self.recompute, icon_name="redo")
        a("write_report", self.write_report_dialog, icon_name="export")
        a("fix_gt", self.fix_ground_truth, icon_name="brush")
        a("close_window", self.close)
        a("find", lambda: (self.filter_bar.search.setFocus(), self.filter_bar.search.selectAll()))
        a("reset_filters", self.filter_bar.reset)
        a("prev_clip", lambda: self.step_clip(-1))
        a("next_clip", lambda: self.step_clip(1))
        a("prev_frame", lambda: self.detail.step_frame(-1), icon_name="prev")
        a("next_frame", lambda: self.detail.step_frame(1), icon_name="next")
        a("play", self.detail.toggle_play, icon_name="play")
        a("play_window", lambda: self.detail.play_window(), icon_name="window")
        a("loop_window", self.detail.set_loop, icon_name="loop", checkable=True)
        a("zoom_in", lambda: self.detail.group.zoom(1.25), icon_name="zoom-in")
        a("zoom_out", lambda: self.detail.group.zoom(0.8), icon_name="zoom-out")
        a("zoom_fit", self.detail.group.set_fit, icon_name="fit")
        a("diff_b", lambda on: self.detail.set_diff_model("b" if on else "a"), checkable=True)
        a("shortcuts", self.show_shortcuts, icon_name="help")
        if self.detail.player is not None:
            self.detail.player.stateChanged.connect(
                lambda st: self.actions_by_id["play"].setIcon(icon("pause" if st == "playing" else "play")))

    def _build_menus(self) -> None:
        ids = self.actions_by_id
        mb = self.menuBar()
        for title, sids in (
            ("&Review", ("open_review", "recompute", None, "write_report", None, "fix_gt", None, "close_window")),
            ("&Clips", ("find", "reset_filters", None, "prev_clip", "next_clip")),
            ("&Frames", ("prev_frame", "next_frame", None, "play", "play_window", "loop_window")),
            ("&View", ("zoom_in", "zoom_out", "zoom_fit", None, "diff_b")),
            ("&Help", ("shortcuts",)),
        ):
            m = mb.addMenu(title)
            for sid in sids:
                m.addSeparator() if sid is None else m.addAction(ids[sid])

    def _build_toolbar(self) -> None:
        ids = self.actions_by_id
        tb = QToolBar("Review")
        tb.setObjectName("toolbar_review")
        tb.setMovable(False)
        tb.setIconSize(QSize(20, 20))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.addToolBar(tb)
        tb.addAction(ids["open_review"])
        tb.addAction(ids["recompute"])
        tb.addAction(ids["write_report"])
        tb.addSeparator()
        for sid in ("prev_frame", "play", "next_frame", "play_window", "loop_window"):
            tb.addAction(ids[sid])
        tb.addSeparator()
        for sid in ("zoom_fit", "zoom_in", "zoom_out"):
            tb.addAction(ids[sid])
        self.diff_b_button = QPushButton("Difference of B")
        self.diff_b_button.setCheckable(True)
        self.diff_b_button.setToolTip("When comparing: the last column shows model B's errors (D)")
        self.diff_b_button.toggled.connect(ids["diff_b"].setChecked)
        ids["diff_b"].toggled.connect(self.diff_b_button.setChecked)
        self.diff_b_action = tb.addWidget(self.diff_b_button)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        self.fix_button = QPushButton(icon("brush"), "  Fix Ground Truth…")
        self.fix_button.setObjectName("accent")
        self.fix_button.setToolTip(_BY_ID["fix_gt"].help + f" ({_BY_ID['fix_gt'].key_text()})")
        self.fix_button.clicked.connect(lambda: self._guarded(self.fix_ground_truth))
        tb.addWidget(self.fix_button)

    def _update_enabled(self) -> None:
        has = self.session is not None
        has_clip = has and self.detail.data is not None
        self.stack.setCurrentIndex(1 if has or self.jobs.busy("review") else 0)
        ids = self.actions_by_id
        for sid in ("recompute", "write_report", "find", "reset_filters", "prev_clip", "next_clip"):
            ids[sid].setEnabled(has)
        for sid in ("fix_gt", "prev_frame", "next_frame", "play", "play_window", "zoom_in", "zoom_out", "zoom_fit"):
            ids[sid].setEnabled(has_clip)
        self.fix_button.setEnabled(has_clip)
        compared = has and self.session.compared
        ids["diff_b"].setEnabled(compared)
        self.diff_b_action.setVisible(compared)

    # ================================================================== errors
    # ================================================================== opening a review
    def open_dialog(self, *, gt: str | Path | None = None) -> None:
        """Review ▸ Open Review: choose the folders, then score them in the background."""
        dialog = OpenReviewDialog(self, folder=self.prefs.last_folder, last=self.request)
        if gt is not None and self.request is None:
            dialog.gt_edit.setText(str(gt))
            dialog._detect()
        self._dialog = dialog
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        req = dialog.request()
        if req is not None:
            self.prefs.last_folder = str(req.pred.parent)
            self.open_review(req.pred, req.gt, req.setting, compare=req.compare, split=req.split)

    def open_review(self, pred: str | Path, gt: str | Path, setting: str | None = None, *,
                    compare: str | Path | None = None, split: str = "test") -> None:  # fmt: skip
        """Score ``pred`` (and ``compare``) against ``gt`` in the background, then show them.

        ``setting`` None: told from the files (:func:`guess_setting`) or an error message.
        """
        req = ReviewRequest(Path(pred), Path(gt), setting, Path(compare) if compare else None, split)

        def job(progress, cancel) -> ReviewSession:
            chosen = req.setting
            if chosen is None:
                found, why = guess_setting(req.pred, req.gt)
                if len(found) != 1:
                    said = f" ({why} allow {', '.join(s.value.upper() for s in found) or 'none'})" if why else ""
                    raise AVSError(f"cannot tell the setting of {req.pred}{said}: choose S4, MS3 or AVSS")
                chosen = found[0].value
            progress(0, 0, "reading the folders…")
            session = ReviewSession(req.pred, req.gt, chosen, compare=req.compare, split=req.split)
            try:
                session.compute(progress, cancel)
            except BaseException:
                session.close()
                raise
            return session

        self.jobs.run("review", job, lambda s: self._set_session(s, req), f"Scoring {req.pred.name}…",
                      on_failed=lambda msg: self._review_failed(msg),
                      on_cancelled=lambda: self._review_failed(""))  # fmt: skip
        self._update_enabled()

    def recompute(self) -> None:
        """Score the same folders again (after the ground truth was corrected)."""
        r = self.request
        if r is not None:
            self.open_review(r.pred, r.gt, r.setting, compare=r.compare, split=r.split)

    def _review_failed(self, message: str) -> None:
        self._update_enabled()
        if message:
            self.show_error(message, "Cannot review these predictions")
        else:
            self.statusBar().showMessage("Review cancelled", 5000)

    def _set_session(self, session: ReviewSession, req: ReviewRequest) -> None:
        old = self.session
        keep = self.shown_clip if old is not None and self.request is not None and req == self.request else None
        self.jobs.cancel("detail")
        if old is not None:
            with self._lock:  # a detail job may still be reading from it
                old.close()
        if req.setting is None:
            req = ReviewRequest(req.pred, req.gt, session.setting.value, req.compare, req.split)
        self.session, self.request = session, req
        self.shown_clip = self._want_clip = None
        self.detail.clear()
        self.figures.set_session(session)
        table = session.table
        self.filter_bar.set_table(table)
        self.model.set_table(table)
        self._setup_columns()
        self.plots.update_from(table, None)
        name = req.pred.name + (f" vs {req.compare.name}" if req.compare else "")
        self.setWindowTitle(f"Review: {name} — {req.gt.name} ({session.setting.value.upper()}) — AVS Studio")
        self._update_enabled()
        ev = session.evaluation.result
        worst = f"; worst {table.clip_ids[table.order()[0]]}" if len(table) else ""
        self.statusBar().showMessage(f"{plural(len(table), 'clip')} scored: mIoU {ev['miou']:.4f}, F-score "
                                     f"{ev['fscore']:.4f}{worst}", 10000)  # fmt: skip
        target = self.model.view_row_of(keep) if keep else -1
        if len(table):
            self._select_table_view_row(max(0, target))
        self.reviewReady.emit()

    def _setup_columns(self) -> None:
        tv, m = self.table_view, self.model
        header = tv.horizontalHeader()
        widths = {"rank": 60, "clip_id": 140, "category": 140, "miou": 64, "fscore": 64, "gt_size": 90,
                  "frames": 60, "miou_b": 74, "fscore_b": 84, "delta_miou": 72, "delta_fscore": 62, FRAMES_KEY: 100}  # fmt: skip
        for col, key in enumerate(m.keys):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            tv.setColumnWidth(col, widths.get(key, 80))
            tv.setItemDelegateForColumn(col, self.frames_delegate if key == FRAMES_KEY else None)
            # the count of frames scored says little next to the per-frame bars
            tv.setColumnHidden(col, key == "frames")
        header.setStretchLastSection(True)
        header.blockSignals(True)
        header.setSortIndicator(m.sort_column(), Qt.SortOrder.AscendingOrder)
        header.blockSignals(False)

    # ================================================================== table and filters
    def apply_filters(self) -> None:
        """Apply the filter bar to the table and the plots."""
        if self.session is None:
            return
        f = self.filter_bar.filters()
        self.model.set_filters(**f.kwargs())

    def _on_sort_indicator(self, column: int, order: Qt.SortOrder) -> None:
        # the per-frame bars are not a sort key: leave the indicator where the rows are sorted
        if 0 <= column < len(self.model.keys) and self.model.keys[column] == FRAMES_KEY:
            header = self.table_view.horizontalHeader()
            header.blockSignals(True)
            header.setSortIndicator(self.model.sort_column(), Qt.SortOrder.DescendingOrder
                                    if self.model.descending else Qt.SortOrder.AscendingOrder)  # fmt: skip
            header.blockSignals(False)

    def _on_rows_changed(self, shown: int, total: int) -> None:
        self.filter_bar.show_count(shown, total)
        table = self.model.table
        if table is None:
            return
        filtered = bool(self.model.filters)
        self.plots.update_from(table, self.model.rows if filtered else None)
        # the selection does not survive a reset: put it back on the clip shown, if it is still listed
        if self.shown_clip is not None or self._want_clip is not None:
            row = self.model.view_row_of(self._want_clip or self.shown_clip)
            if row >= 0:
                self._select_table_view_row(row, open_clip=False)

    def _select_table_view_row(self, row: int, *, open_clip: bool = True) -> None:
        tv = self.table_view
        index = self.model.index(row, 0)
        if not index.isValid():
            return
        flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
                 | QItemSelectionModel.SelectionFlag.Current)  # fmt: skip
        self._restoring = not open_clip
        try:
            tv.selectionModel().setCurrentIndex(index, flags)
        finally:
            self._restoring = False
        tv.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)

    def _select_table_row(self, table_row: int) -> None:
        """Select the clip at ``table_row`` (evaluation order), if the table shows it."""
        if self.session is None:
            return
        row = self.model.view_row_of(self.session.table.clip_ids[table_row])
        if row >= 0:
            self._select_table_view_row(row)

    def select_clip(self, clip_id: str) -> bool:
        """Select ``clip_id`` in the table (and show it); False when it is not listed."""
        row = self.model.view_row_of(clip_id)
        if row < 0:
            return False
        self._select_table_view_row(row)
        return True

    def step_clip(self, delta: int) -> None:
        """Select the clip above/below in the table."""
        cur = self.table_view.currentIndex().row()
        n = self.model.rowCount()
        if n:
            self._select_table_view_row(max(0, min(n - 1, (cur if cur >= 0 else -1) + delta)))

    def _on_current_row(self, row: int) -> None:
        clip_id = self.model.clip_id(row)
        if clip_id is None or self._restoring:
            return
        self._want_clip = clip_id
        self.plots.scatter.set_selected(self.model.table_row(row))
        self._select_timer.start()

    def _open_selected(self) -> None:
        if self._want_clip is not None and self._want_clip != self.shown_clip:
            self.show_clip(self._want_clip)

    # ================================================================== the clip
    def show_clip(self, clip_id: str) -> None:
        """Read and draw ``clip_id`` in the background, then show it in the detail pane."""
        if self.session is None:
            return
        self._want_clip = clip_id
        job = load_detail_job(self.session, clip_id, self._lock)
        self.jobs.run("detail", job, self._on_detail, f"Opening {clip_id}…", quiet=True,
                      on_failed=lambda msg: self.show_error(msg, f"Cannot show {clip_id}"))  # fmt: skip

    def _on_detail(self, data: DetailData) -> None:
        if data.clip_id != self._want_clip or self.session is None:
            return
        self.detail.set_detail(data)
        self.shown_clip = data.clip_id
        self._update_enabled()
        self.detailReady.emit(data.clip_id)

    @property
    def current_clip_id(self) -> str | None:
        """The clip shown in the detail pane."""
        return self.shown_clip

    # ================================================================== fixing the ground truth
    def _annotator_window(self):
        import shiboken6

        ann = self.annotator
        if ann is None or not shiboken6.isValid(ann):
            if self._annotator_factory is not None:
                ann = self._annotator_factory()
            else:
                ann = windows.create("annotator", prefs=self.prefs, audio_output=self._audio_output)
            self.annotator = ann
        ann.show()
        ann.raise_()
        ann.activateWindow()
        return ann

    def fix_ground_truth(self) -> None:
        """Open the clip shown in the annotator, to correct its masks (see the module doc)."""
        s, clip_id = self.session, self.shown_clip
        if s is None or clip_id is None:
            self.statusBar().showMessage("Select a clip first", 4000)
            return
        if s.gt_kind == "project":
            self._annotator_window().open_project_at_clip(s.gt_path, clip_id)
            self.statusBar().showMessage(f"{clip_id} is open in the annotator; Recompute (F5) scores the "
                                         "corrected masks", 10000)  # fmt: skip
            return
        folder = Path(s.gt_path)
        project = folder.parent / f"{folder.name}-{s.setting.value}{PROJECT_SUFFIX}"
        if project.exists():
            answer = QMessageBox.question(
                self, "Fix the ground truth",
                f"The ground truth is the dataset folder {folder}.\n\nCorrect {clip_id} in the project "
                f"made from it, {project.name}? (Review against that project afterwards to score the "
                "corrected masks.)")  # fmt: skip
            if answer == QMessageBox.StandardButton.Yes:
                self._annotator_window().open_project_at_clip(project, clip_id)
            return
        answer = QMessageBox.question(
            self, "Fix the ground truth",
            f"The ground truth is the dataset folder {folder}, which AVS Studio does not change.\n\n"
            "Create an annotation project from it? Its masks become editable objects; the clip opens "
            "in the annotator, and the project can then be the ground truth of this review.")  # fmt: skip
        if answer == QMessageBox.StandardButton.Yes:
            self._annotator_window().create_project_from_dataset(folder, setting=s.setting, select=clip_id)

    # ================================================================== the report
    def write_report_dialog(self) -> None:
        """Review ▸ Write HTML Report: the same report as ``avs-studio report``, in the background."""
        if self.session is None:
            return
        default = str(Path(self.prefs.last_folder or ".") / f"report-{self.request.pred.name}")
        out, _ = QFileDialog.getSaveFileName(self, "Write the report into a new folder", default, "Folders (*)")
        if out:
            self.write_report(Path(out))

    def write_report(self, out: Path) -> None:
        """Write the report of this review into the new folder ``out`` (worker)."""
        from avs_studio.core.review.report import write_report

        session, lock = self.session, self._lock

        def job(progress, cancel):
            with lock:
                return write_report(session, out, progress=progress, cancel=cancel)

        self.jobs.run("report", job, lambda summary: self.statusBar().showMessage(summary.line(session), 10000),
                      f"Writing {out.name}…", on_failed=lambda msg: self.show_error(msg, "Report failed"))  # fmt: skip

    # ================================================================== help and closing
    def show_shortcuts(self) -> None:
        """Help ▸ Keyboard Shortcuts."""
        self._show_sheet("Review: keyboard shortcuts", review_sheet_html(), (720, 620))

    def screenshot_ready(self) -> bool:
        """True once the review and a clip are on screen (``main.py --screenshot``)."""
        return self.jobs.is_idle and self.detail.data is not None

    def closeEvent(self, event: QCloseEvent) -> None:
        self.jobs.cancel_all()
        self.jobs.wait(15000)
        self.detail.close_media()
        if self.session is not None:
            self.session.close()
            self.session = None
        super().closeEvent(event)
