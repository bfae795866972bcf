"""The review's clip detail: every sampled frame with its ground truth, the prediction(s) and
the difference, in views that zoom and pan together, and the clip's sound.

One row per sampled frame: a label block (frame, time, per-frame IoU/F, error shares, the
classes present) and three views (four when comparing: ground truth, A, B, difference).
All views of the clip belong to one :class:`ViewGroup`, so Ctrl+wheel in one zooms every
view around the same scene point and dragging one pans all: the frames of a clip share
their size, so one transform fits all. Under the rows, the clip's timeline (waveform,
spectrogram, each frame's audio window) and a :class:`~avs_studio.gui.common.player.Player` that
plays the clip or one frame's audio window.

The pictures are rendered in a worker (:func:`load_detail_job`) from the core's
:class:`~avs_studio.core.review.session.ClipDetail` (the same pixels as the HTML report).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QTransform, QWheelEvent
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from avs_studio.core.errors import AVSError
from avs_studio.core.masks.palette import CLASS_NAMES
from avs_studio.core.review.images import (
    DIFF_STYLE,
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    MASK_COLOUR,
    TRUE_POSITIVE,
    WRONG_CLASS,
    diff_counts,
    diff_legend,
)
from avs_studio.gui.common.qimage import icon, rgb_to_qimage
from avs_studio.gui.review.table import quality_colour

__all__ = ["ClipDetailPane", "DetailData", "FrameInfo", "SyncedView", "ViewGroup", "load_detail_job"]

VIEW_BACKGROUND = QColor(24, 25, 28)
MIN_SCALE_FACTOR, MAX_SCALE = 0.5, 40.0
LABEL_WIDTH = 178
MAX_IMAGE_WIDTH = 960
STRAY_SHARE = 0.001  # a class covering less than 0.1 % of a frame is likely stray pixels


# ====================================================================== data from the worker


@dataclass
class FrameInfo:
    """What the label block of one sampled frame says."""

    index: int
    time: float
    has_gt: bool
    iou: float = math.nan
    fscore: float = math.nan
    iou_b: float = math.nan
    fscore_b: float = math.nan
    gt_size: float = math.nan
    counts: dict = field(default_factory=dict)
    counts_b: dict = field(default_factory=dict)
    pixels: int = 1
    gt_classes: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class DetailData:
    """One clip ready to show: per-frame pictures (QImages), labels, the sound."""

    clip_id: str
    row: dict
    binary: bool
    compared: bool
    frames: list[FrameInfo]
    images: list[dict[str, QImage | None]]
    audio: np.ndarray | None
    rate: int
    duration: float
    frame_times: list[float]
    notes: list[str] = field(default_factory=list)


def load_detail_job(session, clip_id: str, lock: threading.Lock, *, max_width: int = MAX_IMAGE_WIDTH):
    """The worker job that reads one clip of a computed review and renders its pictures.

    ``lock`` serialises access to the session (a new selection may start before the
    previous job has finished reading).
    """

    def job(progress, cancel) -> DetailData:
        notes: list[str] = []
        with lock:
            cancel.raise_if_cancelled()
            detail = session.clip_detail(clip_id)
            cancel.raise_if_cancelled()
            clip = session.clip(clip_id)
            audio, rate = None, 16000
            try:
                samples, rate = clip.audio()
                audio = np.asarray(samples, dtype=np.float32)
            except AVSError as exc:
                notes.append(f"no sound: {exc}")
            frame_times = [float(t) for t in clip.frame_times()]
            duration = float(clip.duration)
            if hasattr(clip, "close"):
                clip.close()
        binary, compared = detail.binary, session.compared
        frames, images = [], []
        n = len(detail.frames)
        for k, f in enumerate(detail.frames):
            cancel.raise_if_cancelled()
            w = f.rgb.shape[1]
            width = max_width if w > max_width else None
            pics: dict[str, QImage | None] = {
                "gt": rgb_to_qimage(detail.gt_image(k, width=width)),
                "a": rgb_to_qimage(detail.pred_image(k, "a", width=width)),
                "b": None, "diff_a": None, "diff_b": None,
            }  # fmt: skip
            diff = detail.diff_image(k, "a", width=width)
            pics["diff_a"] = None if diff is None else rgb_to_qimage(diff)
            info = FrameInfo(f.index, f.time, f.gt is not None, f.iou, f.fscore, f.iou_b, f.fscore_b, f.gt_size)
            codes = f.diff("a")
            if codes is not None:
                info.counts, info.pixels = diff_counts(codes), int(codes.size)
            if compared and f.pred_b is not None:
                pics["b"] = rgb_to_qimage(detail.pred_image(k, "b", width=width))
                diff_b = detail.diff_image(k, "b", width=width)
                pics["diff_b"] = None if diff_b is None else rgb_to_qimage(diff_b)
                codes_b = f.diff("b")
                if codes_b is not None:
                    info.counts_b = diff_counts(codes_b)
            if not binary and f.gt is not None:
                info.gt_classes = _classes(f.gt)
            frames.append(info)
            images.append(pics)
            progress(k + 1, n, "")
        return DetailData(clip_id, detail.row, binary, compared, frames, images, audio, int(rate), duration,
                          frame_times, notes)  # fmt: skip

    return job


def _classes(label_map: np.ndarray) -> list[tuple[str, float]]:
    """``(class name, share of the frame)`` of each class in a label map, largest first."""
    counts = np.bincount(np.asarray(label_map, dtype=np.int64).ravel(), minlength=len(CLASS_NAMES))
    total = max(1, int(counts.sum()))
    out = [(CLASS_NAMES[c] if c < len(CLASS_NAMES) else str(c), counts[c] / total)
           for c in np.flatnonzero(counts[1:]) + 1]  # fmt: skip
    return sorted(out, key=lambda t: -t[1])


# ====================================================================== synchronised views


class ViewGroup(QObject):
    """Views that share one zoom and one centre (all show pictures of the same size)."""

    zoomChanged = Signal(float)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.views: list[SyncedView] = []
        self.fit = True
        self.scale = 1.0
        self.center: QPointF | None = None
        self._busy = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.apply)

    def add(self, view: SyncedView) -> None:
        """Make ``view`` follow the group."""
        self.views.append(view)
        view.group = self

    def clear(self) -> None:
        """Forget every view (a new clip); back to fitting."""
        self.views = []
        self.fit, self.center = True, None

    def schedule(self) -> None:
        """Apply the shared transform once the layout has settled."""
        self._timer.start()

    @property
    def settled(self) -> bool:
        """No re-application is pending (every view has the group's transform and centre)."""
        return not self._timer.isActive()

    def fit_scale(self) -> float:
        """The scale at which a picture fits the (first) view."""
        if not self.views:
            return 1.0
        v = self.views[0]
        rect = v.sceneRect()
        vp = v.viewport().rect()
        if rect.isEmpty() or vp.isEmpty():
            return 1.0
        return min((vp.width() - 2) / rect.width(), (vp.height() - 2) / rect.height())

    def set_fit(self) -> None:
        """Fit every picture to its view."""
        self.fit, self.center = True, None
        self.apply()

    def apply(self) -> None:
        """Give every view the shared transform (or fit them all)."""
        if not self.views:
            return
        self._busy = True
        try:
            if self.fit:
                self.scale = max(1e-3, self.fit_scale())
            for v in self.views:
                v.setTransform(QTransform.fromScale(self.scale, self.scale))
                if self.center is not None and not self.fit:
                    v.centerOn(self.center)
                else:
                    v.centerOn(v.sceneRect().center())
                v.set_smooth(self.scale < 1.5)
        finally:
            self._busy = False
        self.zoomChanged.emit(self.scale)

    def zoom(self, factor: float, view: SyncedView | None = None, pos: QPointF | None = None) -> None:
        """Zoom every view by ``factor``, keeping the scene point under ``pos`` of ``view``
        (default: the centre) where it is."""
        if not self.views:
            return
        view = view or self.views[0]
        lo = MIN_SCALE_FACTOR * self.fit_scale()
        new = min(MAX_SCALE, max(lo, self.scale * factor))
        if new == self.scale:
            return
        at = (pos if pos is not None else QPointF(view.viewport().rect().center())).toPoint()
        anchor = view.mapToScene(at)
        self.fit, self.scale = False, new
        self._busy = True
        try:
            view.setTransform(QTransform.fromScale(new, new))
            view.centerOn(view.mapToScene(view.viewport().rect().center()) - (view.mapToScene(at) - anchor))
            self.center = view.mapToScene(view.viewport().rect().center())
        finally:
            self._busy = False
        self.apply()

    def follow(self, view: SyncedView) -> None:
        """``view`` was panned: centre the others on the same scene point."""
        if self._busy or self.fit:
            return
        self.center = view.mapToScene(view.viewport().rect().center())
        self._busy = True
        try:
            for v in self.views:
                if v is not view:
                    v.centerOn(self.center)
        finally:
            self._busy = False


class SyncedView(QGraphicsView):
    """One picture of a frame; zoom (Ctrl+wheel) and pan (drag) move its whole group.

    The plain wheel scrolls the list of frames (it is passed on), as in the annotator.
    """

    pressed = Signal()

    def __init__(self, role: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.group: ViewGroup | None = None
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.item)
        self.note = QGraphicsSimpleTextItem()
        self.note.setBrush(QColor(225, 228, 232))
        self.note.setZValue(2)
        self.scene().addItem(self.note)
        self.setBackgroundBrush(VIEW_BACKGROUND)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setToolTip("Ctrl+wheel: zoom all views · drag: pan all views · double-click: fit")

    def set_image(self, image: QImage | None, size: tuple[int, int], note: str = "") -> None:
        """Show ``image`` (None: an empty frame of ``size``) with an optional note on it."""
        w, h = size
        if image is not None:
            self.item.setPixmap(QPixmap.fromImage(image))
        else:
            pm = QPixmap(w, h)
            pm.fill(QColor(33, 34, 38))
            self.item.setPixmap(pm)
        rect = QRectF(0, 0, w, h)
        if self.sceneRect() != rect:  # a new rect resets the scroll position
            self.setSceneRect(rect)
        self.note.setText(note)
        self.note.setPos(8, 6)
        self.note.setVisible(bool(note))

    def set_smooth(self, smooth: bool) -> None:
        """Smooth pictures when shrunk, crisp pixels when zoomed in."""
        mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
        if self.item.transformationMode() != mode:
            self.item.setTransformationMode(mode)
        self.note.setScale(1.0 / max(1e-3, self.transform().m11()))  # the note keeps its size

    def zoom(self, factor: float) -> None:
        """Zoom this view's group around the view's centre."""
        if self.group is not None:
            self.group.zoom(factor, self)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier and self.group is not None:
            self.group.zoom(1.25 if event.angleDelta().y() > 0 else 0.8, self, event.position())
            event.accept()
        else:
            event.ignore()  # the list of frames scrolls

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        if self.group is not None:
            self.group.follow(self)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.group is not None:
            self.group.schedule()

    def mousePressEvent(self, event) -> None:
        self.pressed.emit()
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        if self.group is not None:
            self.group.set_fit()


# ====================================================================== one frame's row

_COLUMN_TITLES = {"gt": "Ground truth", "a": "Prediction", "b": "Prediction B", "diff": "Difference"}


def _chip(rgb: tuple[int, int, int]) -> str:
    return f"<span style='color:rgb{tuple(rgb)}'>&#9632;</span>"


def _score(v: float) -> str:
    if v != v:
        return "<span style='color:#8a8f99'>–</span>"
    c = quality_colour(v)
    return f"<span style='color:{c.name()}'><b>{v:.3f}</b></span>"


class FrameRow(QFrame):
    """The label block and the views of one sampled frame."""

    clicked = Signal(int)
    playWindow = Signal(int)

    def __init__(self, k: int, info: FrameInfo, binary: bool, compared: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.k = k
        self.info = info
        self.setObjectName("frameRow")
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.label.setText(_frame_text(info, binary, compared))
        self.play_button = QToolButton()
        self.play_button.setIcon(icon("window"))
        self.play_button.setText(" Audio window")
        self.play_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.play_button.setToolTip("Play the audio this frame is paired with (W; Shift+W loops)")
        self.play_button.clicked.connect(lambda: self.playWindow.emit(self.k))
        side = QWidget()
        side.setFixedWidth(LABEL_WIDTH)
        sl = QVBoxLayout(side)
        sl.setContentsMargins(8, 6, 4, 6)
        sl.setSpacing(4)
        sl.addWidget(self.label, 1)
        sl.addWidget(self.play_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.views: list[SyncedView] = []
        lay = QHBoxLayout(self)
        lay.setContentsMargins(2, 3, 6, 3)
        lay.setSpacing(6)
        lay.addWidget(side)
        for role in ("gt", "a", "b", "diff") if compared else ("gt", "a", "diff"):
            v = SyncedView(role)
            v.pressed.connect(lambda: self.clicked.emit(self.k))
            self.views.append(v)
            lay.addWidget(v, 1)
        self.set_current(False)

    def view(self, role: str) -> SyncedView:
        """The view of ``role`` ("gt", "a", "b", "diff")."""
        return next(v for v in self.views if v.role == role)

    def set_current(self, current: bool) -> None:
        """Highlight the row of the current frame."""
        colour = "#2f4c7a" if current else "#2a2b30"
        border = "#3a78d6" if current else "#2a2b30"
        self.setStyleSheet(f"QFrame#frameRow {{ background: {colour}; border: 1px solid {border}; border-radius: 5px; }}")

    def set_view_height(self, h: int) -> None:
        """The height of the views (and so of the row)."""
        for v in self.views:
            v.setFixedHeight(h)

    def mousePressEvent(self, event) -> None:
        self.clicked.emit(self.k)
        super().mousePressEvent(event)


def _frame_text(f: FrameInfo, binary: bool, compared: bool) -> str:
    lines = [f"<b>Frame {f.index + 1}</b> <span style='color:#9299a5'>· {f.time:.2f} s</span>"]
    if not f.has_gt:
        lines.append("<span style='color:#9299a5'>no ground truth</span>")
        return "<br>".join(lines)
    name = "IoU" if binary else "mIoU"
    lines.append(f"{name} {_score(f.iou)} &nbsp;F {_score(f.fscore)}")
    if compared:
        d = f.iou_b - f.iou if f.iou == f.iou and f.iou_b == f.iou_b else math.nan
        ds = "" if d != d else f" <span style='color:{'#5fd38d' if d > 0 else ('#f06964' if d < 0 else '#9299a5')}'>({d:+.3f})</span>"
        lines.append(f"B: {name} {_score(f.iou_b)}{ds}")
    if f.counts:
        px = max(1, f.pixels)
        style = {code: colour for code, (colour, _, _) in _STYLE_BY_KIND.items()}
        parts = [f"{_chip(style['fp'])} extra {f.counts['fp'] / px:.1%}", f"{_chip(style['fn'])} missed {f.counts['fn'] / px:.1%}"]
        if not binary and f.counts.get("wrong"):
            parts.append(f"{_chip(style['wrong'])} wrong class {f.counts['wrong'] / px:.1%}")
        lines.append("<br>".join(parts))
    if f.gt_classes:
        names = []
        for cls, share in f.gt_classes[:4]:
            if share < STRAY_SHARE:
                names.append(f"<span style='color:#ffc400'>{cls} {share:.2%} (stray?)</span>")
            else:
                names.append(f"{cls} {share:.0%}")
        more = f" +{len(f.gt_classes) - 4}" if len(f.gt_classes) > 4 else ""
        lines.append("<span style='color:#aeb3bd'>GT: " + ", ".join(names) + more + "</span>")
    return "<br>".join(lines)


def _style_by_kind() -> dict[str, tuple]:
    names = {TRUE_POSITIVE: "tp", FALSE_POSITIVE: "fp", FALSE_NEGATIVE: "fn", WRONG_CLASS: "wrong"}
    return {names[c]: style for c, style in DIFF_STYLE.items()}


_STYLE_BY_KIND = _style_by_kind()


# ====================================================================== the pane


class ClipDetailPane(QWidget):
    """The selected clip: header, legend, the frame rows, the timeline and the player.

    ``audio_output`` replaces the default sound sink (tests pass a silent one).
    """

    frameChanged = Signal(int)
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, audio_output=None) -> None:
        super().__init__(parent)
        self.data: DetailData | None = None
        self.rows: list[FrameRow] = []
        self.current = 0
        self.diff_model = "a"
        self.group = ViewGroup(self)
        self.header = QLabel()
        self.header.setObjectName("header")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
        self.legend = QLabel()
        self.legend.setObjectName("muted")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.titles = QWidget()
        self._titles_layout = QHBoxLayout(self.titles)
        self._titles_layout.setContentsMargins(2, 0, 6, 0)
        self._titles_layout.setSpacing(6)
        self.rows_widget = QWidget()
        self.rows_layout = QVBoxLayout(self.rows_widget)
        self.rows_layout.setContentsMargins(4, 2, 4, 4)
        self.rows_layout.setSpacing(5)
        self.rows_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.rows_widget)
        self.scroll.viewport().installEventFilter(self)
        self.placeholder = QLabel("Select a clip in the table to see its frames.")
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.timeline = _make_timeline()
        self.player = _make_player(self, audio_output)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.setSpacing(2)
        tl.addWidget(self.header)
        tl.addWidget(self.legend)
        tl.addWidget(self.titles)
        tl.addWidget(self.scroll, 1)
        tl.addWidget(self.placeholder, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(top)
        if self.timeline is not None:
            split.addWidget(self.timeline)
            self.timeline.seekRequested.connect(self._on_seek)
            self.timeline.frameClicked.connect(self.set_current_frame)
        split.setStretchFactor(0, 1)
        split.setSizes([700, 180])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        if self.player is not None:
            self.player.positionChanged.connect(self._on_position)
            self.player.message.connect(self.message)
        self.clear()

    # ------------------------------------------------------------------ content
    def clear(self) -> None:
        """Show nothing (no clip selected)."""
        self._drop_rows()
        self.data = None
        self.header.setText("")
        self.legend.setText("")
        for w in (self.header, self.legend, self.titles, self.scroll):
            w.setVisible(False)
        self.placeholder.setVisible(True)
        if self.player is not None:
            self.player.clear()
        if self.timeline is not None:
            self.timeline.clear()

    def _drop_rows(self) -> None:
        self.group.clear()
        for row in self.rows:
            self.rows_layout.removeWidget(row)
            row.deleteLater()
        self.rows = []

    def set_detail(self, data: DetailData) -> None:
        """Show a clip (from :func:`load_detail_job`)."""
        keep_zoom = self.data is not None and self.data.clip_id == data.clip_id
        state = (self.group.fit, self.group.scale, self.group.center)
        self._drop_rows()
        self.data = data
        self.placeholder.setVisible(False)
        for w in (self.header, self.legend, self.titles, self.scroll):
            w.setVisible(True)
        self.header.setText(_header_text(data))
        self.legend.setText(_legend_text(data.binary, data.compared))
        self._fill_titles(data.compared)
        for k, info in enumerate(data.frames):
            row = FrameRow(k, info, data.binary, data.compared)
            row.clicked.connect(self.set_current_frame)
            row.playWindow.connect(lambda n: self.play_window(n))
            for v in row.views:
                self.group.add(v)
            self.rows.append(row)
            self.rows_layout.insertWidget(self.rows_layout.count() - 1, row)
            self._fill_row(k)
        if keep_zoom:
            self.group.fit, self.group.scale, self.group.center = state
        self.current = 0
        self._layout_rows()
        self._load_media(data)
        self.set_current_frame(0)
        for note in data.notes:
            self.message.emit(note)

    def _fill_titles(self, compared: bool) -> None:
        while self._titles_layout.count():
            item = self._titles_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        spacer = QWidget()
        spacer.setFixedWidth(LABEL_WIDTH)
        self._titles_layout.addWidget(spacer)
        roles = ("gt", "a", "b", "diff") if compared else ("gt", "a", "diff")
        for role in roles:
            text = _COLUMN_TITLES[role]
            if compared and role == "a":
                text = "Prediction A"
            if role == "diff" and compared:
                text = f"Difference ({self.diff_model.upper()})"
            lab = QLabel(text)
            lab.setObjectName("muted")
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self._titles_layout.addWidget(lab, 1)

    def _fill_row(self, k: int) -> None:
        data = self.data
        pics = data.images[k]
        size = _image_size(pics)
        row = self.rows[k]
        row.view("gt").set_image(pics["gt"], size, "" if data.frames[k].has_gt else "no ground truth")
        row.view("a").set_image(pics["a"], size)
        if data.compared:
            note = "" if pics["b"] is not None else "no prediction"
            row.view("b").set_image(pics["b"], size, note)
        diff = pics["diff_b" if self.diff_model == "b" else "diff_a"]
        row.view("diff").set_image(diff, size, "" if diff is not None else "no ground truth")

    def set_diff_model(self, model: str) -> None:
        """Which model's difference the last column shows when comparing ("a" or "b")."""
        self.diff_model = "b" if model == "b" else "a"
        if self.data is not None and self.data.compared:
            self._fill_titles(True)
            for k in range(len(self.rows)):
                self._fill_row(k)
            self.group.apply()

    # ------------------------------------------------------------------ layout
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.scroll.viewport() and event.type() == QEvent.Type.Resize:
            self._layout_rows()
        return False

    def _layout_rows(self) -> None:
        if not self.rows or self.data is None:
            return
        cols = len(self.rows[0].views)
        avail = self.scroll.viewport().width() - 8 - LABEL_WIDTH - 14 - 6 * cols
        col_w = max(80, avail // cols)
        w, h = _image_size(self.data.images[0])
        # one row at most ~60 % of the visible height, so two rows show at once
        cap = max(110, int(self.scroll.viewport().height() * 0.6))
        view_h = int(min(cap, max(90, col_w * h / max(1, w))))
        for row in self.rows:
            row.set_view_height(view_h)
        self.group.schedule()

    # ------------------------------------------------------------------ frames
    def set_current_frame(self, k: int) -> None:
        """Make frame ``k`` current: highlighted, visible, its audio window on the timeline."""
        if not self.rows:
            return
        k = max(0, min(len(self.rows) - 1, int(k)))
        self.rows[self.current].set_current(False)
        self.current = k
        self.rows[k].set_current(True)
        QTimer.singleShot(0, lambda r=self.rows[k]: self._ensure_visible(r))
        if self.timeline is not None:
            self.timeline.set_current_frame(k)
            if self.player is None or self.player.state != "playing":
                self.timeline.set_playhead(self.data.frame_times[k] if k < len(self.data.frame_times) else 0.0)
        self.frameChanged.emit(k)

    def _ensure_visible(self, row: FrameRow) -> None:
        if row in self.rows:
            self.scroll.ensureWidgetVisible(row, 0, 10)

    def step_frame(self, delta: int) -> None:
        """The previous/next sampled frame."""
        self.set_current_frame(self.current + delta)

    # ------------------------------------------------------------------ sound
    def _load_media(self, data: DetailData) -> None:
        audio = data.audio if data.audio is not None else np.zeros((0, 1), np.float32)
        if self.timeline is not None:
            self.timeline.set_audio(audio, data.rate, data.duration)
            self.timeline.set_frame_times(data.frame_times)
        if self.player is not None:
            self.player.set_media(None, audio, data.rate, fps=25.0, duration=data.duration)
            self.player.set_frame_times(data.frame_times)

    def toggle_play(self) -> None:
        """Play the clip's sound from the current frame (or pause it)."""
        if self.player is None or self.data is None:
            self.message.emit("Playback is not available")
            return
        if self.player.state != "playing" or self.player.window is not None:
            t = self.data.frame_times[self.current] if self.current < len(self.data.frame_times) else 0.0
            if self.player.window is not None:
                self.player.pause()
            self.player.seek(t)
            self.player.play()
            reason = self.player.silent_reason
            if reason:
                self.message.emit(f"Playing silently: {reason}")
        else:
            self.player.pause()

    def play_window(self, k: int | None = None, loop: bool | None = None) -> None:
        """Play frame ``k``'s audio window (default: the current frame's)."""
        if self.player is None or self.data is None:
            return
        if k is not None:
            self.set_current_frame(k)
        self.player.play_frame_window(self.current, loop=self.loop if loop is None else loop)

    loop = False

    def set_loop(self, on: bool) -> None:
        """Loop the audio window (and restart a window that is playing)."""
        self.loop = bool(on)
        if self.player is not None and self.player.window is not None and self.player.state == "playing":
            self.play_window()

    def stop(self) -> None:
        """Stop the sound."""
        if self.player is not None:
            self.player.pause()

    def _on_seek(self, t: float) -> None:
        if self.player is None or self.data is None:
            return
        self.player.seek(t)
        if self.player.state != "playing":
            self._follow(t)

    def _on_position(self, t: float) -> None:
        if self.timeline is not None:
            self.timeline.set_playhead(t)
        if self.player is not None and self.player.state == "playing" and self.player.window is None:
            self._follow(t)

    def _follow(self, t: float) -> None:
        """Highlight the sampled frame nearest to time ``t``."""
        if not self.data or not self.data.frame_times:
            return
        k = int(np.argmin(np.abs(np.asarray(self.data.frame_times[: len(self.rows)]) - t)))
        if k != self.current:
            self.rows[self.current].set_current(False)
            self.current = k
            self.rows[k].set_current(True)
            self._ensure_visible(self.rows[k])
            if self.timeline is not None:
                self.timeline.set_current_frame(k)
            self.frameChanged.emit(k)

    def close_media(self) -> None:
        """Release the sound device (the window is closing)."""
        if self.player is not None:
            self.player.close()

    # ------------------------------------------------------------------ access for tests
    def views(self, role: str | None = None) -> list[SyncedView]:
        """Every view (or those of one role), row by row."""
        return [v for r in self.rows for v in r.views if role is None or v.role == role]


def _image_size(pics: dict[str, QImage | None]) -> tuple[int, int]:
    img = pics["gt"] or pics["a"]
    return (img.width(), img.height()) if img is not None else (224, 224)


def _header_text(d: DetailData) -> str:
    r = d.row
    bits = [f"<b style='font-size:13px'>{r['clip_id']}</b>"]
    for key in ("category", "subset", "split"):
        if r.get(key):
            bits.append(f"<span style='color:#aeb3bd'>{r[key]}</span>")
    scores = [f"mIoU {_score(r['miou'])}", f"F {_score(r['fscore'])}", f"rank {r['rank']}"]
    if d.compared:
        dm = r.get("delta_miou", math.nan)
        colour = "#5fd38d" if dm > 0 else ("#f06964" if dm < 0 else "#9299a5")
        dm_text = "" if dm != dm else f" <span style='color:{colour}'>(\u0394 {dm:+.4f})</span>"
        scores.append(f"B: mIoU {_score(r['miou_b'])}{dm_text}")
    return " &nbsp;·&nbsp; ".join(bits) + " &nbsp;&nbsp;—&nbsp;&nbsp; " + " &nbsp;·&nbsp; ".join(scores)


def _legend_text(binary: bool, compared: bool) -> str:
    parts = []
    if binary:
        parts.append(f"{_chip(MASK_COLOUR)} mask")
    else:
        parts.append("masks in the class colours")
    for colour, label in diff_legend(binary=binary):
        parts.append(f"{_chip(colour)} {label}")
    return "&nbsp;&nbsp;&nbsp;".join(parts)


def _make_timeline():
    try:
        from avs_studio.gui.common.timeline import TimelineWidget
    except ImportError:  # pragma: no cover - an installation without the audio pieces
        return None
    tl = TimelineWidget()
    tl.setMinimumHeight(150)
    return tl


def _make_player(parent: QObject, output):
    try:
        from avs_studio.gui.common.player import Player
    except ImportError:  # pragma: no cover
        return None
    return Player(parent, output=output)
