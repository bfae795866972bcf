"""The annotator: watch a clip with its sound, get model proposals, correct them, label, export.

Layout: the project's clips on the left; the frame in the middle with the timeline
(waveform, log-mel spectrogram, sampled-frame marks and audio windows, playhead) and the
strip of sampled frames under it; on the right the objects of the frame (proposals to
accept or reject, the threshold), the label picker (AVSS) and the clip's status.

Every change goes through the project's commands (:mod:`avs_studio.core.project.edits`) on the
current clip's :class:`~avs_studio.core.project.session.ClipSession`: undo/redo, autosave
and crash safety come from there. Everything long (opening a clip, proposals, export,
import, adding clips) runs in the window's workers; errors a user can cause show a
message and leave the project as it was.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from avs_studio import __version__
from avs_studio.core.errors import AVSError
from avs_studio.core.project.project import ClipSession, Project
from avs_studio.core.project.records import STATUS_TITLES, ClipRecord
from avs_studio.gui.annotator.assist import AssistMixin
from avs_studio.gui.annotator.canvas import CanvasObject, FrameCanvas
from avs_studio.gui.annotator.clip_loader import (
    LoadedClip,
    MaskCache,
    load_clip_job,
    prerender,
    thumbnail_with_objects,
)
from avs_studio.gui.annotator.editing import EditingMixin
from avs_studio.gui.annotator.files import FilesMixin
from avs_studio.gui.annotator.guards import GuardsMixin
from avs_studio.gui.annotator.order_view import ObjectOrderMixin
from avs_studio.gui.annotator.panels.clip_list import ClipListPanel
from avs_studio.gui.annotator.panels.frame_strip import FrameStrip, frame_mark
from avs_studio.gui.annotator.panels.label_picker import LabelPicker
from avs_studio.gui.annotator.panels.object_panel import ObjectPanel, ObjectRow
from avs_studio.gui.annotator.proposals import ModelCache, preload_model_code
from avs_studio.gui.annotator.sounding import SoundingMixin
from avs_studio.gui.annotator.speedups import SpeedupsMixin
from avs_studio.gui.annotator.tools import make_tools
from avs_studio.gui.common.actions import ActionsMixin
from avs_studio.gui.common.qimage import icon, object_colour
from avs_studio.gui.common.settings import Preferences
from avs_studio.gui.common.shortcuts import BY_ID, sheet_html
from avs_studio.gui.common.workers import JobBar


class AnnotatorWindow(AssistMixin, SoundingMixin, SpeedupsMixin, EditingMixin, GuardsMixin, ObjectOrderMixin,
                      FilesMixin, ActionsMixin, QMainWindow):
    """AVS Studio's annotator window.

    ``engine_factory(setting)`` replaces loading the model (tests inject a fake engine);
    ``audio_output`` replaces the default sound sink.
    """

    shortcuts_by_id = BY_ID

    def __init__(self, *, prefs: Preferences | None = None, engine_factory=None, audio_output=None) -> None:
        super().__init__()
        self.prefs = prefs or Preferences()
        self.setWindowTitle(f"AVS Studio {__version__}")
        self.setWindowIcon(icon("app"))
        self.resize(1480, 920)
        self.project: Project | None = None
        self.session: ClipSession | None = None
        self.loaded: LoadedClip | None = None
        self.frame_index = 0
        self.selected: int | None = None
        self.hidden: set[int] = set()
        # Binary proposals' probabilities (uint8) by clip, for re-thresholding: the last few clips.
        self.prob_maps: OrderedDict[str, dict[tuple[int, int], np.ndarray]] = OrderedDict()
        self.thresholds: dict[tuple[str, int], float] = {}  # (clip, proposal) -> threshold applied
        self.models = ModelCache(engine_factory)
        self.masks = MaskCache()
        self._preloaded = False
        self._thumb_queue: set[int] = set()
        self._thumb_timer = QTimer(self)
        self._thumb_timer.setSingleShot(True)
        self._thumb_timer.setInterval(0)
        self._thumb_timer.timeout.connect(self._next_thumbnail)
        self._loading: str | None = None
        self._video_at: float | None = None  # time of the video frame shown between sampled frames
        self._scrubbing = False
        self._last_video: tuple[float, np.ndarray] | None = None
        self._audio_output = audio_output
        self.player = None
        self.timeline = None
        self.jobs = JobBar(self)
        self._build()
        self._restore_state()
        self._update_enabled()

    # ================================================================== layout
    def _build(self) -> None:
        self.canvas = FrameCanvas()
        self.canvas.cursorMoved.connect(self._on_cursor)
        self.canvas.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z:.0%}"))
        self.canvas.spaceTapped.connect(self.toggle_play)
        self.header = QLabel()
        self.header.setObjectName("header")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        # A new text must not re-lay out the window (that would refit and redraw the canvas).
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.header.setFixedHeight(self.header.fontMetrics().height() + 14)
        self.strip = FrameStrip()
        self.strip.frameSelected.connect(self.show_frame)
        self.timeline = self._make_timeline()
        self.player = self._make_player()

        editor = QWidget()
        ed = QVBoxLayout(editor)
        ed.setContentsMargins(0, 0, 0, 0)
        ed.setSpacing(0)
        ed.addWidget(self.header)
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(self.canvas)
        if self.timeline is not None:
            split.addWidget(self.timeline)
        split.setStretchFactor(0, 1)
        ed.addWidget(split, 1)
        ed.addWidget(self.strip)
        self.centre_split = split

        self.placeholder = QLabel()
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setText(
            "<h2>AVS Studio</h2><p>Open a project (Ctrl+O), create one (Ctrl+N), or try the demo "
            "(File ▸ Open Demo).</p>"
        )
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(editor)
        self.setCentralWidget(self.stack)

        # the clip list
        self.clip_list = ClipListPanel()
        self.clip_list.clipActivated.connect(self.open_clip)
        self.clips_dock = self._dock("Clips", self.clip_list, Qt.DockWidgetArea.LeftDockWidgetArea)

        # objects, labels, the clip's status
        self.objects = ObjectPanel()
        self.objects.objectSelected.connect(self.select_object)
        self.objects.visibilityChanged.connect(self._set_visible)
        self.objects.acceptRequested.connect(self.accept_selected)
        self.objects.rejectRequested.connect(self.reject_selected)
        self.objects.acceptFrameRequested.connect(self.accept_frame)
        self.objects.rejectFrameRequested.connect(self.reject_frame)
        self.objects.deleteRequested.connect(self.delete_selected)
        self.objects.thresholdPreview.connect(self._preview_threshold)
        self.objects.thresholdCommitted.connect(self.apply_threshold)
        self.labels = LabelPicker()
        self.labels.labelChosen.connect(self.choose_label)
        self.labels_box = QGroupBox("Label")
        lb = QVBoxLayout(self.labels_box)
        lb.setContentsMargins(6, 6, 6, 6)
        lb.addWidget(self.labels)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 6, 6, 6)
        rl.setSpacing(8)
        obj_box = QGroupBox("Objects in this frame")
        ob = QVBoxLayout(obj_box)
        ob.setContentsMargins(6, 6, 6, 6)
        ob.addWidget(self.objects)
        rl.addWidget(obj_box, 3)
        rl.addWidget(self.labels_box, 4)
        rl.addWidget(self._clip_box())
        self.side_dock = self._dock("Annotation", right, Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.clips_dock, self.side_dock], [400, 350], Qt.Orientation.Horizontal)

        self._build_actions()
        self._build_sounding()
        self._build_speedups()
        self._build_menus()
        self._build_toolbars()
        self.cursor_label = QLabel()
        self.cursor_label.setObjectName("muted")
        self.zoom_label = QLabel()
        self.zoom_label.setObjectName("muted")
        sb = self.statusBar()
        sb.addPermanentWidget(self.jobs)
        sb.addPermanentWidget(self.cursor_label)
        sb.addPermanentWidget(self.zoom_label)

    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _clip_box(self) -> QGroupBox:
        box = QGroupBox("Clip")
        self.status_combo = QComboBox()
        for s, title in STATUS_TITLES.items():
            self.status_combo.addItem(title.capitalize(), s)
        self.status_combo.activated.connect(self._on_status_chosen)
        self.annotator_edit = QLineEdit(self.prefs.annotator)
        self.annotator_edit.setToolTip("Edits are recorded under this name")
        self.annotator_edit.editingFinished.connect(self._on_annotator)
        self.comment_edit = QLineEdit(placeholderText="A note on this clip…")
        self.comment_edit.editingFinished.connect(self._on_comment)
        self.done_button = QPushButton(icon("done"), "  Mark done and next")
        self.done_button.setObjectName("primary")
        self.done_button.setToolTip("Ctrl+Enter")
        self.done_button.clicked.connect(self.mark_done)
        form = QFormLayout(box)
        form.setContentsMargins(8, 8, 8, 8)
        form.addRow("Status", self.status_combo)
        form.addRow("Annotator", self.annotator_edit)
        form.addRow("Comment", self.comment_edit)
        form.addRow(self.done_button)
        return box

    def _make_timeline(self):
        try:
            from avs_studio.gui.common.timeline import TimelineWidget
        except ImportError:
            return None
        tl = TimelineWidget()
        tl.seekRequested.connect(self._on_seek)
        tl.frameClicked.connect(self._on_frame_mark)
        return tl

    def _make_player(self):
        try:
            from avs_studio.gui.common.player import Player
        except ImportError:
            return None
        player = Player(self, output=self._audio_output)
        player.frameReady.connect(self._on_video_frame)
        player.positionChanged.connect(self._on_position)
        player.stateChanged.connect(self._on_play_state)
        player.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        return player

    # ------------------------------------------------------------------ actions
    def _build_actions(self) -> None:
        self.actions_by_id: dict[str, QAction] = {}
        a = self._action
        a("new_project", self.new_project_dialog, icon_name="project")
        a("open_project", self.open_project_dialog, icon_name="open")
        a("save", self.save, icon_name="save")
        a("add_videos", self.add_videos_dialog, icon_name="add-video")
        a("add_segment", self.add_segment_dialog, icon_name="segment")
        a("export", self.export_dialog, icon_name="export")
        a("import_masks", self.import_dialog, icon_name="import")
        a("quit", self.close)
        a("undo", self.undo, icon_name="undo")
        a("redo", self.redo, icon_name="redo")
        a("delete_object", self.delete_selected, icon_name="delete")
        a("new_object", self.new_object, icon_name="new-object")
        a("deselect", lambda: self.select_object(None))
        a("choose_label", self.labels.focus_search)
        self._build_order_actions()
        self.tool_group = QActionGroup(self)
        self.tools = make_tools(self)
        for name, tool in self.tools.items():
            act = a(f"tool_{name}", lambda n=name: self.set_tool(n), icon_name=tool.icon)
            act.setCheckable(True)
            act.setToolTip(f"{tool.title} ({BY_ID[f'tool_{name}'].key_text()}): {tool.tip}")
            self.tool_group.addAction(act)
        a("brush_smaller", lambda: self.set_brush_radius(self.brush_radius * 0.8))
        a("brush_larger", lambda: self.set_brush_radius(self.brush_radius * 1.25))
        a("zoom_in", lambda: self.canvas.zoom(1.25), icon_name="zoom-in")
        a("zoom_out", lambda: self.canvas.zoom(0.8), icon_name="zoom-out")
        a("zoom_fit", self.canvas.fit, icon_name="fit")
        a("zoom_actual", self.canvas.actual_size)
        show = a("toggle_objects", self._toggle_objects, icon_name="eye", checkable=True)
        show.blockSignals(True)
        show.setChecked(True)
        show.blockSignals(False)
        a("opacity_up", lambda: self.opacity_slider.setValue(self.opacity_slider.value() + 10))
        a("opacity_down", lambda: self.opacity_slider.setValue(self.opacity_slider.value() - 10))
        a("play", self.toggle_play, icon_name="play")
        a("play_window", self.play_window, icon_name="window")
        loop = a("loop_window", self._on_loop_toggled, icon_name="loop", checkable=True)
        loop.blockSignals(True)
        loop.setChecked(self.prefs.loop_window)
        loop.blockSignals(False)
        a("prev_frame", lambda: self.step_frame(-1), icon_name="prev")
        a("next_frame", lambda: self.step_frame(1), icon_name="next")
        a("prev_clip", lambda: self.step_clip(-1))
        a("next_clip", lambda: self.step_clip(1))
        a("mark_done", self.mark_done, icon_name="done")
        a("propose", self.propose_current, icon_name="propose")
        a("propose_selected", self.propose_selected, icon_name="propose")
        a("accept", self.accept_selected, icon_name="accept")
        a("accept_frame", self.accept_frame, icon_name="accept")
        a("reject", self.reject_selected, icon_name="reject")
        a("reject_frame", self.reject_frame, icon_name="reject")
        a("shortcuts", self.show_shortcuts, icon_name="help")
        self._build_assist_actions()

    def _build_menus(self) -> None:
        ids = self.actions_by_id
        mb = self.menuBar()
        m = mb.addMenu("&File")
        for sid in ("new_project", "open_project"):
            m.addAction(ids[sid])
        demo = m.addMenu("Open &Demo")
        for setting in ("s4", "ms3", "avss"):
            act = demo.addAction(f"{setting.upper()} demo project")
            act.triggered.connect(lambda _=False, s=setting: self.open_demo(s))
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m.addSeparator()
        m.addAction(ids["save"])
        m.addSeparator()
        m.addAction(ids["add_videos"])
        act = m.addAction("Add &Folder or Dataset…")
        act.triggered.connect(lambda: self._guarded(self.add_folder_dialog))
        m.addAction(ids["add_segment"])
        m.addSeparator()
        m.addAction(ids["export"])
        m.addAction(ids["import_masks"])
        m.addSeparator()
        act = m.addAction(icon("open"), "&Review Predictions…")  # the review window (review_window.py)
        act.setObjectName("review_predictions")
        act.setStatusTip("Open a model's predictions against ground truth: official figures, worst clips, errors")
        act.triggered.connect(lambda: self._guarded(self.review_predictions))
        m.addSeparator()
        m.addAction(ids["quit"])
        m = mb.addMenu("&Edit")
        for sid in ("undo", "redo", None, "new_object", "delete_object", "deselect", "choose_label", None,
                    "raise_object", "lower_object"):  # fmt: skip
            m.addSeparator() if sid is None else m.addAction(ids[sid])
        self._sounding_menu(m)
        m = mb.addMenu("&Tools")
        for name in self.tools:
            m.addAction(ids[f"tool_{name}"])
        m.addSeparator()
        m.addAction(ids["brush_smaller"])
        m.addAction(ids["brush_larger"])
        m = mb.addMenu("&View")
        for sid in ("zoom_in", "zoom_out", "zoom_fit", "zoom_actual", None, "toggle_objects", "show_exported",
                    "opacity_up", "opacity_down"):  # fmt: skip
            m.addSeparator() if sid is None else m.addAction(ids[sid])
        m.addSeparator()
        m.addAction(self.clips_dock.toggleViewAction())
        m.addAction(self.side_dock.toggleViewAction())
        m = mb.addMenu("&Playback")
        for sid in ("play", "play_window", "loop_window", None, "prev_frame", "next_frame", "prev_clip",
                    "next_clip", None, "mark_done"):  # fmt: skip
            m.addSeparator() if sid is None else m.addAction(ids[sid])
        m = mb.addMenu("&Model")
        for sid in ("propose", "propose_selected", None, "accept", "reject", "accept_frame", "reject_frame"):
            m.addSeparator() if sid is None else m.addAction(ids[sid])
        m.addSeparator()
        act = m.addAction("Choose Checkpoint…")
        act.triggered.connect(lambda: self._guarded(self.choose_checkpoint))
        act = m.addAction("Use the Demo Model")
        act.triggered.connect(lambda: self._guarded(self.use_demo_model))
        device_menu = m.addMenu("Run On")
        devices = QActionGroup(self)
        for name, title in (("auto", "Best Available (GPU if any)"), ("cpu", "CPU"), ("cuda", "CUDA GPU"),
                            ("mps", "Apple GPU (MPS)")):  # fmt: skip
            act = device_menu.addAction(title)
            act.setCheckable(True)
            act.setChecked(self.prefs.device == name)
            act.triggered.connect(lambda _=False, n=name: setattr(self.prefs, "device", n))
            devices.addAction(act)
        self._build_assist_menu(mb)
        m = mb.addMenu("&Help")
        m.addAction(ids["shortcuts"])
        act = m.addAction("&About AVS Studio")
        act.triggered.connect(lambda: QMessageBox.about(
            self, "AVS Studio", f"<b>AVS Studio {__version__}</b><br>Build and review audio-visual "
            "segmentation data in the AVSBench formats."))  # fmt: skip

    def _build_toolbars(self) -> None:
        ids = self.actions_by_id
        tb = QToolBar("Tools")
        tb.setObjectName("toolbar_tools")
        tb.setMovable(False)
        tb.setIconSize(QSize(20, 20))
        self.addToolBar(tb)
        for name in self.tools:
            tb.addAction(ids[f"tool_{name}"])
        tb.addSeparator()
        tb.addWidget(QLabel(" Size "))
        self.radius_spin = QDoubleSpinBox()
        self.radius_spin.setRange(1, 400)
        self.radius_spin.setDecimals(0)
        self.radius_spin.setSuffix(" px")
        self.radius_spin.setToolTip("Brush and eraser radius in frame pixels ([ and ])")
        self.radius_spin.setValue(self.prefs.brush_radius)
        self.radius_spin.valueChanged.connect(self._on_radius)
        tb.addWidget(self.radius_spin)
        self._build_tool_options(tb)
        tb.addWidget(QLabel("  Opacity "))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setFixedWidth(110)
        self.opacity_slider.setValue(int(round(self.prefs.opacity * 100)))
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        self.canvas.set_opacity(self.prefs.opacity)
        tb.addWidget(self.opacity_slider)
        tb.addAction(ids["toggle_objects"])
        tb.addAction(ids["show_exported"])
        tb.addSeparator()
        for sid in ("zoom_fit", "zoom_in", "zoom_out", None, "undo", "redo"):
            tb.addSeparator() if sid is None else tb.addAction(ids[sid])
        tb2 = QToolBar("Playback and model")
        tb2.setObjectName("toolbar_play")
        tb2.setMovable(False)
        tb2.setIconSize(QSize(20, 20))
        self.addToolBar(tb2)
        for sid in ("prev_frame", "play", "next_frame", "play_window", "loop_window"):
            tb2.addAction(ids[sid])
        tb2.addSeparator()
        self.propose_button = QPushButton(icon("propose"), " Propose")
        self.propose_button.setObjectName("accent")
        self.propose_button.setToolTip("Run the model on this clip (Ctrl+P); Ctrl+Shift+P: the selected clips")
        self.propose_button.clicked.connect(lambda: self._guarded(self.propose_current))
        tb2.addWidget(self.propose_button)
        tb2.addAction(ids["propose_selected"])
        tb2.addAction(ids["propagate"])
        tb2.addSeparator()
        tb2.addAction(ids["mark_done"])
        ids["tool_brush"].setChecked(True)
        self.set_tool("brush")

    # ------------------------------------------------------------------ state
    def _restore_state(self) -> None:
        geo = self.prefs.qs.value("window/geometry")
        state = self.prefs.qs.value("window/state")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def _save_state(self) -> None:
        self.prefs.qs.setValue("window/geometry", self.saveGeometry())
        self.prefs.qs.setValue("window/state", self.saveState())
        self.prefs.brush_radius = self.brush_radius
        self.prefs.opacity = self.canvas.opacity
        self.prefs.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._save_state()
        self.jobs.cancel_all()
        self.jobs.wait(15000)
        if self.player is not None:
            self.player.close()
        self.close_project()
        super().closeEvent(event)

    def _update_enabled(self) -> None:
        has_project = self.project is not None
        has_clip = self.loaded is not None and self.session is not None
        writable = has_project and not self.project.readonly
        self.stack.setCurrentIndex(1 if has_project else 0)
        ids = self.actions_by_id
        for sid in ("save", "add_videos", "add_segment", "import_masks"):
            ids[sid].setEnabled(writable)
        ids["export"].setEnabled(has_project)
        for sid in ("propose", "propose_selected"):
            ids[sid].setEnabled(writable)
        self.propose_button.setEnabled(writable and has_clip)
        for sid in ("mark_done", "play", "play_window", "prev_frame", "next_frame"):
            ids[sid].setEnabled(has_clip)
        self.done_button.setEnabled(writable and has_clip)
        self.status_combo.setEnabled(writable and has_clip)
        self.comment_edit.setEnabled(writable and has_clip)
        self._update_undo_actions()

    def _update_undo_actions(self) -> None:
        ids = self.actions_by_id
        s = self.session
        can_undo = s is not None and not self.project.readonly and s.can_undo
        can_redo = s is not None and not self.project.readonly and s.can_redo
        for act, can, text in ((ids["undo"], can_undo, s.undo_text() if can_undo else "Undo"),
                               (ids["redo"], can_redo, s.redo_text() if can_redo else "Redo")):  # fmt: skip
            if act.isEnabled() != can:
                act.setEnabled(can)
            if act.text() != text:  # a new text re-lays out the toolbar: only when it changed
                act.setText(text)

    # ================================================================== errors and jobs
    def run_job(self, kind: str, fn, on_done, message: str, **kw):
        """Run a core job in the background (status-bar progress, Cancel)."""
        kw.setdefault("on_failed", self.show_error)
        kw.setdefault("on_cancelled", lambda: self.statusBar().showMessage(f"{message.rstrip('…')}: cancelled", 5000))
        return self.jobs.run(kind, fn, on_done, message, **kw)

    # ================================================================== projects
    def open_project(self, path: str | Path, *, readonly: bool = False) -> bool:
        """Open a project file (asks about read-only when another program holds it)."""
        from avs_studio.core.project.errors import ProjectLockedError

        path = Path(path)
        try:
            project = Project.open(path, readonly=readonly, user=self.prefs.annotator)
        except ProjectLockedError as exc:
            answer = QMessageBox.question(
                self, "Project in use", f"{exc}\n\nOpen it read-only (you can look, not edit)?"
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
            return self.open_project(path, readonly=True)
        except AVSError as exc:
            self.show_error(str(exc))
            return False
        self._set_project(project)
        return True

    def _set_project(self, project: Project) -> None:
        self.close_project()
        self.project = project
        self.prefs.add_recent(project.path)
        ro = " (read-only)" if project.readonly else ""
        self.setWindowTitle(f"{project.name}{ro} — AVS Studio")
        self.labels.set_labels(project.labels, binary=project.setting.is_binary)
        self.labels_box.setVisible(not project.setting.is_binary)
        self.refresh_clip_list()
        self._update_enabled()
        ids = self.clip_list.visible_ids()
        todo = self.clip_list.next_matching(None, lambda r: r.status not in ("done", "reviewed"))
        first = todo or (ids[0] if ids else None)
        if first is not None:
            self.clip_list.set_current(first, emit=False)
            self.open_clip(first)
        else:
            self.statusBar().showMessage("The project has no clips yet: File ▸ Add Videos or Add Folder", 10000)

    def close_project(self) -> None:
        """Close the current project (every edit is saved already)."""
        self.jobs.cancel("open")
        if self.player is not None:
            self.player.clear()
        self.loaded, self.session, self._loading = None, None, None
        self.click_edit = None
        self.selected = None
        self.hidden.clear()
        if self.project is not None:
            self.jobs.cancel_all()
            self.jobs.wait(15000)
            self.project.close()
            self.project = None
        self.prob_maps.clear()
        self.thresholds.clear()
        self.masks.clear()
        self.clip_list.set_clips([])
        self.strip.clear()
        self.canvas.set_objects([])
        self.canvas.set_image(None)
        self.refresh_lanes()
        self._update_enabled()

    def refresh_clip_list(self) -> None:
        """Reload the clip list from the project."""
        if self.project is None:
            return
        current = self.loaded.record.clip_id if self.loaded is not None else None
        self.clip_list.set_clips(self.project.clips(), current)

    # ================================================================== clips
    def open_clip(self, clip_id: str) -> None:
        """Open a clip: decode its frames and audio in the background, then show it."""
        if self.project is None or clip_id is None:
            return
        if self.loaded is not None and self.loaded.record.clip_id == clip_id and self._loading is None:
            return
        self._finish_tools()
        self._loading = clip_id
        self.clip_list.set_current(clip_id, emit=False)
        job = load_clip_job(self.project, clip_id, self.masks)
        self.run_job("open", job, self._on_clip_loaded,
                     f"Opening {clip_id}…", on_failed=lambda msg: self._on_clip_failed(clip_id, msg),
                     quiet=True)  # fmt: skip

    def _on_clip_failed(self, clip_id: str, message: str) -> None:
        if self._loading == clip_id:
            self._loading = None
        self.show_error(message, "Cannot open the clip")
        if self.loaded is not None:
            self.clip_list.set_current(self.loaded.record.clip_id, emit=False)

    def _on_clip_loaded(self, loaded: LoadedClip) -> None:
        if self.project is None or self._loading != loaded.record.clip_id:
            return  # another clip was asked for meanwhile
        self._loading = None
        if self.player is not None and self.player.state == "playing":
            self.player.pause()
        clip_id = loaded.record.clip_id
        self.loaded = loaded
        self.session = self.project.session(clip_id, user=self.prefs.annotator)
        self.selected = None
        self.hidden.clear()
        self._thumb_queue.clear()
        self._video_at, self._scrubbing, self._last_video = None, False, None
        self.frame_index = 0
        self.canvas.set_objects_visible(self.actions_by_id["toggle_objects"].isChecked())
        marks = [self._mark(k) for k in range(len(loaded.images))]
        thumbs = loaded.overlays or [self._thumb(k) for k in range(len(loaded.images))]
        self.strip.set_frames(thumbs, list(loaded.record.frame_times), marks)
        self._load_media(loaded)
        self._update_clip_panel()
        self._remember_clip_labels()
        self.show_frame(0)
        self.canvas.fit()
        self._update_enabled()
        for note in loaded.notes:
            self.statusBar().showMessage(note, 8000)
        self._prerender(loaded)
        self._assist_clip_opened()
        if not self._preloaded and self.models.factory is None:
            self._preloaded = True  # torch's start-up, once, while the user looks at the clip
            QTimer.singleShot(1500, self._preload_model_code)

    def _prerender(self, loaded: LoadedClip) -> None:
        """Draw the other frames' layers in the background, so their first visit is quick."""
        objects, binary, alpha = loaded.objects, self.project.setting.is_binary, self.canvas.layer_alpha
        clip_id = loaded.record.clip_id

        def adopt(pre) -> None:
            if self.clip_id == clip_id:
                self.canvas.adopt(pre)

        self.jobs.run("prerender", lambda p, c: prerender(objects, self.masks, binary=binary, alpha=alpha), adopt,
                      "", on_failed=lambda _msg: None, quiet=True)  # fmt: skip

    def _preload_model_code(self) -> None:
        if self.project is not None:
            self.jobs.run("preload", preload_model_code, lambda _ok: None, "", on_failed=lambda _msg: None,
                          quiet=True)  # fmt: skip

    def _load_media(self, loaded: LoadedClip) -> None:
        rec = loaded.record
        times = list(rec.frame_times)
        audio = loaded.audio if loaded.audio is not None else np.zeros((0, 1), np.float32)
        if self.timeline is not None:
            self.timeline.set_audio(audio, loaded.rate, float(rec.seconds))
            self.timeline.set_frame_times(times)
            self.timeline.set_playhead(0.0)
        if self.player is not None:
            self.player.set_media(loaded.video_path, audio, loaded.rate, fps=loaded.fps,
                                  duration=float(rec.seconds), offset=loaded.offset)  # fmt: skip
            self.player.set_frame_times(times)

    @property
    def clip_id(self) -> str | None:
        """The clip shown."""
        return None if self.loaded is None else self.loaded.record.clip_id

    def step_clip(self, delta: int) -> None:
        """Open the previous/next clip of the (filtered) list."""
        nxt = self.clip_list.neighbour(self.clip_id, delta)
        if nxt is not None:
            self.clip_list.set_current(nxt, emit=False)
            self.open_clip(nxt)

    # ================================================================== frames
    def show_frame(self, k: int) -> None:
        """Show sampled frame ``k`` with its objects."""
        if self.loaded is None or not 0 <= k < len(self.loaded.images):
            return
        if k != self.frame_index:
            self._finish_tools()
        self.frame_index = k
        self._video_at, self._scrubbing = None, False
        self.canvas.set_image(self.loaded.images[k])
        self.canvas.set_objects_visible(self.actions_by_id["toggle_objects"].isChecked())
        self.refresh_objects()
        self.strip.set_current(k)
        t = self.loaded.record.frame_times[k]
        if self.timeline is not None:
            self.timeline.set_current_frame(k)
            self.timeline.set_playhead(t)
        self._update_header()

    def step_frame(self, delta: int) -> None:
        """Step to the previous/next sampled frame (from the playhead after scrubbing)."""
        if self.loaded is None:
            return
        if self.player is not None and self.player.state == "playing":
            self.player.pause()
        if self._video_at is not None and self.player is not None:
            k = self.player.step_sampled(delta)
            if k is not None:
                self.show_frame(k)
                return
        self.show_frame(max(0, min(len(self.loaded.images) - 1, self.frame_index + delta)))

    def _nearest_frame(self, t: float) -> int:
        times = np.asarray(self.loaded.record.frame_times)
        return int(np.argmin(np.abs(times - t)))

    def _update_header(self) -> None:
        if self.loaded is None:
            self.header.setText("")
            return
        rec = self.record
        k = self.frame_index
        w, h = rec.width, rec.height
        slot = "" if k in rec.annotated else " · <i>no ground-truth slot yet (painting adds one)</i>"
        self.header.setText(
            f"<b>{rec.clip_id}</b> &nbsp; frame {k + 1}/{rec.num_frames} &nbsp;·&nbsp; "
            f"{rec.frame_times[k]:.2f} s &nbsp;·&nbsp; {w}×{h} &nbsp;·&nbsp; {rec.category or rec.a_obj or '–'}"
            f" &nbsp;·&nbsp; {STATUS_TITLES.get(rec.status, rec.status)}{slot}"
        )

    @property
    def record(self) -> ClipRecord:
        """The current clip's record as the project has it now."""
        return self.project.clip_record(self.loaded.record.clip_id)

    # ------------------------------------------------------------------ objects on screen
    def refresh_objects(self) -> None:
        """Redraw the current frame's objects from the project."""
        if self.session is None:
            return
        binary = self.project.setting.is_binary
        labels = self.project.labels
        canvas_objs, rows = [], []
        for o in self.session.objects(self.frame_index):
            colour = object_colour(o.label, o.instance_id, binary=binary)
            name = "sounding object" if binary else labels.name(o.label)
            visible, locked = o.instance_id not in self.hidden, o.instance_id in self.locked
            canvas_objs.append(CanvasObject(o.instance_id, o.label, name, self.masks.mask(o), colour, o.provenance.is_proposal,
                                            o.provenance.confidence, visible, sounding=o.sounding, locked=locked))  # fmt: skip
            rows.append(ObjectRow(o.instance_id, "object" if binary else name, colour, o.provenance.kind, o.provenance.confidence, o.area,
                                  visible, o.sounding, o.sounding_decided, locked))  # fmt: skip
        present = {o.instance_id for o in canvas_objs}
        shown = self.selected if self.selected in present else None
        self.canvas.set_objects(canvas_objs, shown, binary=binary)  # bottom first, as exported
        self.objects.set_objects(rows[::-1], shown, hint=self._object_hint())  # the top one first
        self._update_threshold()
        self._update_undo_actions()
        if not binary and shown is not None:
            label = next(o.label for o in canvas_objs if o.instance_id == shown)
            self.labels.set_current(label)
        self.update_tool_target()
        self.refresh_export_view()
        self.refresh_lanes()

    def _mark(self, k: int) -> str:
        objs = self.session.objects(k) if self.session is not None else []
        rec = self.loaded.record if self.loaded is not None else None
        done = rec is not None and rec.status in ("done", "reviewed")
        return frame_mark(any(o.provenance.is_proposal for o in objs),
                          any(not o.provenance.is_proposal for o in objs), done,
                          rec is not None and k in rec.annotated)  # fmt: skip

    def _thumb(self, k: int) -> np.ndarray:
        if self.session is None:
            return self.loaded.thumbs[k]
        return thumbnail_with_objects(self.loaded.thumbs[k], self.session.objects(k), self.masks,
                                      binary=self.project.setting.is_binary)  # fmt: skip

    def refresh_thumbnails(self, frames: list[int] | None = None) -> None:
        """Redraw thumbnails and marks (of ``frames``, or all: the current one now, the others
        one per turn of the event loop, so that a big edit never stalls the window)."""
        if self.loaded is None:
            return
        self.loaded.record = self.project.clip_record(self.loaded.record.clip_id)
        if frames is None:
            self._thumb_queue.update(range(len(self.loaded.images)))
            frames = [self.frame_index]
        for k in frames:
            self._thumb_queue.discard(k)
            self.strip.update_frame(k, self._thumb(k), self._mark(k))
        if self._thumb_queue:
            self._thumb_timer.start()

    def _next_thumbnail(self) -> None:
        if self.loaded is None or not self._thumb_queue:
            self._thumb_queue.clear()
            return
        k = min(self._thumb_queue)
        self._thumb_queue.discard(k)
        if k < len(self.loaded.images):
            self.strip.update_frame(k, self._thumb(k), self._mark(k))
        if self._thumb_queue:
            self._thumb_timer.start()

    def _set_visible(self, instance_id: int, visible: bool) -> None:
        (self.hidden.discard if visible else self.hidden.add)(instance_id)
        self.refresh_objects()

    def _toggle_objects(self, on: bool) -> None:
        self.canvas.set_objects_visible(on)
        self.refresh_export_view()

    def select_object(self, instance_id: int | None) -> None:
        """Select an object (the brush paints into it, Delete removes it)."""
        self._finish_tools(keep_polygon=True)
        self.selected = instance_id
        self.canvas.set_selected(instance_id)
        self.objects.set_selected(instance_id)
        self.refresh_lanes()
        self._update_threshold()
        if instance_id is not None and self.project is not None and not self.project.setting.is_binary:
            label = self.session.store.label_of(instance_id) if self.session is not None else None
            if label is not None:
                self.labels.set_current(label)
        self._selection_changed()

    def new_object(self) -> None:
        """Deselect: the next brush stroke, polygon or fill starts a new object."""
        self.select_object(None)
        self.statusBar().showMessage("The next stroke starts a new object", 4000)

    # ================================================================== playback
    def toggle_play(self) -> None:
        """Play or pause the clip with its sound (from the sampled frame shown, or the playhead)."""
        if self.player is None or self.loaded is None:
            self.statusBar().showMessage("Playback is not available", 4000)
            return
        if self.player.state != "playing":
            at = self._video_at if self._video_at is not None else self.loaded.record.frame_times[self.frame_index]
            self.player.seek(at)
        self.player.toggle()

    def play_window(self) -> None:
        """Play the audio window of the current sampled frame (looping when Loop is on)."""
        if self.player is None or self.loaded is None:
            return
        self.player.play_frame_window(self.frame_index, loop=self.actions_by_id["loop_window"].isChecked())

    def _on_loop_toggled(self, on: bool) -> None:
        self.prefs.loop_window = on
        if self.player is not None and self.player.window is not None and self.player.state == "playing":
            self.play_window()

    def _on_video_frame(self, t: float, rgb) -> None:
        if self.loaded is None or self.player is None:
            return
        playing_clip = self.player.state == "playing" and self.player.window is None
        if not (playing_clip or self._scrubbing):
            return  # an audio window plays over the sampled frame, which stays on screen
        self._video_at, self._last_video = t, (t, rgb)
        self.canvas.set_image(rgb)
        self.canvas.set_objects_visible(False)
        self.refresh_export_view()  # the exported mask belongs to the sampled frames too
        self.header.setText(f"<b>{self.clip_id}</b> &nbsp; video at {t:.2f} s &nbsp;·&nbsp; "
                            "<i>objects are drawn on the sampled frames (← → step to them)</i>")  # fmt: skip

    def _on_position(self, t: float) -> None:
        if self.timeline is not None:
            self.timeline.set_playhead(t)
        if self.player is not None and self.player.state == "playing":
            self.cursor_label.setText(f"▶ {t:5.2f} s")

    def _on_play_state(self, state: str) -> None:
        self.actions_by_id["play"].setIcon(icon("pause" if state == "playing" else "play"))
        if state != "playing" and self.loaded is not None and self._video_at is not None and not self._scrubbing:
            # Paused: back on the sampled frame nearest to the playhead, with its objects.
            self.show_frame(self._nearest_frame(self.player.position()))

    def _on_seek(self, t: float) -> None:
        """The timeline was clicked or dragged: scrub (the video there, or a sampled frame)."""
        if self.loaded is None:
            return
        k = self._nearest_frame(t)
        fps = self.player.fps if self.player is not None else 25.0
        if self.player is None or self.player.state == "playing":
            if self.player is not None:
                self.player.seek(t)
            return
        if abs(self.loaded.record.frame_times[k] - t) <= 0.5 / fps:
            self.show_frame(k)
            self.player.seek(t)
            return
        self._scrubbing = True
        self.strip.set_current(k)
        if self.timeline is not None:
            self.timeline.set_current_frame(k)
        self.player.seek(t)  # the player decodes the frame there and sends it (frameReady)
        last = self._last_video
        if last is not None and self._video_index(last[0]) == self._video_index(t):
            self._on_video_frame(last[0], last[1])  # the player sends a frame only when it changes

    def _video_index(self, t: float) -> int:
        from avs_studio.core.media.playback import frame_index_at

        fps = self.player.fps
        return frame_index_at(t, fps, max(1, int(self.player.duration * fps)))

    def _on_frame_mark(self, k: int) -> None:
        if self.player is not None and self.player.state == "playing":
            self.player.pause()
        self.show_frame(k)

    # ================================================================== help
    def show_shortcuts(self) -> None:
        """Help > Keyboard Shortcuts."""
        self._show_sheet("Keyboard shortcuts", sheet_html(), (760, 680))

    # ================================================================== status bar
    def _on_cursor(self, x: float, y: float) -> None:
        if self.loaded is None:
            return
        c, r = int(round(x)), int(round(y))
        rec = self.loaded.record
        if 0 <= c < rec.width and 0 <= r < rec.height:
            self.cursor_label.setText(f"x {c}  y {r}")
        else:
            self.cursor_label.setText("")

    def shortcut(self, sid: str) -> QKeySequence:
        """The first key sequence of an action (for tests and tooltips)."""
        return self.actions_by_id[sid].shortcut()

