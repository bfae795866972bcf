"""The timeline under the canvas: waveform, log-mel spectrogram, sampled frames, playhead.

Lanes, top to bottom: a time ruler (seconds), the sampled-frame marks (numbered 1..N as
the frame strip numbers them), the annotator's object lanes when it sets them (one per
object: presence and sounding per sampled frame, see :mod:`~avs_studio.gui.common.lanes`;
a click on a cell emits ``laneClicked``), the waveform (min/max per pixel column, RMS
inside) and the log-mel spectrogram (the VGGish analysis every 10 ms, 64 mel bands 125 Hz - 7.5 kHz).
Each sampled frame's audio window - VGGish example ``n`` hears ``[0.96 n, 0.96 n + 0.975)``
s, which is *not* second ``n`` (``audio.md`` §4) - is a translucent band; the current
frame's is highlighted.

Click or drag to scrub (``seekRequested``); click a frame mark to pick that frame
(``frameClicked``); Ctrl+wheel zooms around the mouse, the wheel scrolls. In segment mode
(for cutting 5-s or 10-s clips out of long videos) dragging in the waveform or
spectrogram moves a box of that length (``segmentChanged``); Left/Right nudge it by the
snap step (Shift: 1 s), Home/End jump to the ends.

Heavy work is done once per clip in a worker (peaks at doubling block sizes, the
spectrogram picture); the lanes are rendered into a cached pixmap when the view changes,
and a repaint for a moving playhead only draws the overlays on top of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import QScrollBar, QToolTip, QWidget

from avs_studio.core.media.playback import (
    HOP_SECONDS,
    WaveformPeaks,
    display_log_mel,
    format_time,
    mel_band_position,
    nice_step,
    sampled_frame_times,
    snap_segment,
    spectrogram_rgb,
    vggish_window,
    waveform_image,
)
from avs_studio.gui.common.lanes import LanesMixin, lanes_height, paint_lanes
from avs_studio.gui.common.qimage import rgb_to_qimage, rgba_to_qimage
from avs_studio.gui.common.workers import JobWorker, start

__all__ = ["TimelineWidget"]

# Colours: a dark theme that matches the frame canvas (32, 33, 36).
BACKGROUND = QColor(30, 31, 34)
LANE = QColor(36, 38, 42)
RULER = QColor(43, 45, 49)
GRID = QColor(255, 255, 255, 18)
TEXT = QColor(200, 203, 209)
DIM_TEXT = QColor(135, 140, 148)
TICK = QColor(110, 115, 124)
FRAME = QColor(255, 179, 0)  # sampled frames and their audio windows
WINDOW_FILL = (QColor(255, 179, 0, 34), QColor(255, 224, 130, 22))  # alternate, they overlap
CURRENT_FILL = QColor(255, 179, 0, 70)
PLAYHEAD = QColor(255, 82, 82)
SEGMENT = QColor(102, 187, 106)
SHADE = QColor(0, 0, 0, 130)

SCROLLBAR_STYLE = """
QScrollBar:horizontal { background: rgb(30, 31, 34); height: 12px; margin: 0; border: none; }
QScrollBar::handle:horizontal { background: rgb(78, 82, 89); min-width: 24px; border-radius: 4px;
                                margin: 2px 0; }
QScrollBar::handle:horizontal:hover { background: rgb(104, 109, 117); }
QScrollBar::add-line:horizontal, QScrollBar::sub-line:horizontal { width: 0; }
QScrollBar::add-page:horizontal, QScrollBar::sub-page:horizontal { background: none; }
"""

GUTTER = 46  # left margin for lane labels
RIGHT_PAD = 8
RULER_H = 22
MARKS_H = 22
SCROLL_H = 12
MAX_TILE = 4096  # spectrogram columns per QImage tile


class TimelineWidget(LanesMixin, QWidget):
    """Waveform + spectrogram + sampled frames + playhead of one clip or video (see module doc).

    Times are seconds from the start of the audio given to :meth:`set_audio`.
    """

    seekRequested = Signal(float)
    frameClicked = Signal(int)
    segmentChanged = Signal(float, float)
    audioReady = Signal()
    viewChanged = Signal(float, float)
    #: A click on an object lane: (instance id, frame), frame -1 on the lane's title.
    laneClicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(170)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._scroll = QScrollBar(Qt.Orientation.Horizontal, self)
        self._scroll.valueChanged.connect(self._on_scroll)
        self._scroll.setStyleSheet(SCROLLBAR_STYLE)
        self._font = QFont(self.font())
        self._font.setPointSizeF(max(7.5, self._font.pointSizeF() * 0.85))
        self._bold = QFont(self._font)
        self._bold.setBold(True)
        # data
        self._duration = 0.0
        self._rate = 0.0
        self._peaks: WaveformPeaks | None = None
        self._spec_rgb: np.ndarray | None = None
        self._spec_tiles: list[tuple[int, QImage]] = []
        self._computing = False
        self._error = ""
        self._job: JobWorker | None = None
        self._generation = 0
        self._amp_scale = 1.0
        # view
        self._view_start = 0.0
        self._pps: float | None = None  # pixels per second; None = fit the whole duration
        self.follow_playhead = True
        # overlays
        self._frame_times: list[float] = []
        self._current: int | None = None
        self._playhead = 0.0
        self._segment_seconds: int | None = None
        self._segment_start = 0.0
        self.segment_step = 0.1
        # interaction
        self._drag: str | None = None
        self._drag_offset = 0.0
        self._static: QPixmap | None = None
        self._static_key: tuple | None = None
        self._object_lanes: list = []  # LaneView, see LanesMixin
        self._lane_selected: int | None = None

    # ------------------------------------------------------------------ data
    def set_audio(self, samples: np.ndarray | None, rate: float, duration: float | None = None) -> None:
        """Show this audio (``[S]`` or ``[S, C]`` float); waveform and spectrogram are computed
        in a worker (``audioReady`` when done). ``duration`` defaults to the audio's length."""
        self._cancel_job()
        self._generation += 1
        self._peaks = None
        self._spec_rgb = None
        self._spec_tiles = []
        self._error = ""
        if samples is None or rate <= 0:
            self._duration = float(duration or 0.0)
            self._computing = False
            self._reset_view()
            return
        x = np.asarray(samples)
        self._rate = float(rate)
        self._duration = float(duration) if duration else x.shape[0] / self._rate
        self._computing = True
        self._reset_view()
        generation = self._generation
        rate_f = self._rate

        def compute(progress, cancel):
            if x.ndim == 2:
                mono = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
            else:
                mono = x.reshape(-1)
            peaks = WaveformPeaks.build(mono, rate_f, cancel=cancel)
            log_mel = display_log_mel(mono, rate_f, progress=progress, cancel=cancel)
            return generation, peaks, spectrogram_rgb(log_mel)

        worker = JobWorker(compute)
        worker.signals.finished.connect(self._on_computed)
        worker.signals.failed.connect(lambda msg, g=generation: self._on_failed(g, msg))
        self._job = start(worker)

    def clear(self) -> None:
        """Show nothing."""
        self.set_audio(None, 0.0, 0.0)
        self._frame_times = []
        self._current = None
        self._playhead = 0.0

    def _cancel_job(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job = None

    def _on_computed(self, result) -> None:
        generation, peaks, rgb = result
        if generation != self._generation:
            return
        self._job = None
        self._peaks = peaks
        self._amp_scale = 1.0 if peaks.peak >= 0.5 else max(peaks.peak * 1.15, 0.02)
        self._spec_rgb = rgb
        self._spec_tiles = [
            (c, rgb_to_qimage(np.ascontiguousarray(rgb[:, c : c + MAX_TILE])))
            for c in range(0, rgb.shape[1], MAX_TILE)
        ]
        self._computing = False
        self._invalidate()
        self.audioReady.emit()

    def _on_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self._job = None
        self._computing = False
        self._error = message.splitlines()[0] if message else "failed"
        self._invalidate()

    @property
    def duration(self) -> float:
        """Length of the timeline in seconds."""
        return self._duration

    @property
    def is_computing(self) -> bool:
        """True while the waveform and spectrogram are being computed."""
        return self._computing

    @property
    def peaks(self) -> WaveformPeaks | None:
        """The waveform peaks (None until computed)."""
        return self._peaks

    def spectrogram_image(self) -> QImage | None:
        """The whole spectrogram as one picture (64 rows, one column per 10 ms), or None."""
        if self._spec_rgb is None:
            return None
        return rgb_to_qimage(self._spec_rgb)

    # ------------------------------------------------------------------ overlays
    def set_frame_times(self, times: Sequence[float]) -> None:
        """Times (s) of the sampled frames; frame ``n``'s audio window is VGGish example ``n``."""
        self._frame_times = [float(t) for t in times]
        if self._current is not None and self._current >= len(self._frame_times):
            self._current = None
        self.update()

    def frame_times(self) -> list[float]:
        """The sampled-frame times shown."""
        return list(self._frame_times)

    def set_current_frame(self, n: int | None) -> None:
        """Highlight sampled frame ``n`` (0-based) and its audio window (None: none)."""
        self._current = None if n is None or not 0 <= n < len(self._frame_times) else int(n)
        self.update()

    def current_frame(self) -> int | None:
        """The highlighted sampled frame."""
        return self._current

    def set_playhead(self, t: float) -> None:
        """Move the playhead to ``t`` s (the view follows it when ``follow_playhead``)."""
        self._playhead = max(0.0, float(t))
        if self.follow_playhead and self._drag is None and self._pps is not None:
            t0, t1 = self.visible_range()
            if not t0 <= self._playhead <= t1:
                self._set_view_start(self._playhead - 0.1 * (t1 - t0))
        self.update()

    def playhead(self) -> float:
        """Where the playhead is (s)."""
        return self._playhead

    # ------------------------------------------------------------------ segment mode
    def set_segment_mode(self, seconds: int | None) -> None:
        """Pick a segment of ``seconds`` (5 or 10) with a box; None or 0 turns the mode off."""
        if not seconds:
            self._segment_seconds = None
            self.update()
            return
        self._segment_seconds = int(seconds)
        self._move_segment(self._segment_start, force=True)

    def segment_mode(self) -> int | None:
        """Length of the segment box (None when not in segment mode)."""
        return self._segment_seconds

    def set_segment(self, start: float) -> None:
        """Put the segment box at ``start`` (snapped, kept inside the media)."""
        self._move_segment(start)

    def segment(self) -> tuple[float, float] | None:
        """``(start, seconds)`` of the segment box, None outside segment mode."""
        if self._segment_seconds is None:
            return None
        return self._segment_start, float(self._segment_seconds)

    def _move_segment(self, start: float, force: bool = False) -> None:
        if self._segment_seconds is None:
            return
        new = snap_segment(start, self._segment_seconds, self._duration, self.segment_step)
        if new != self._segment_start or force:
            self._segment_start = new
            self._ensure_visible(new, new + self._segment_seconds)
            self.update()
            self.segmentChanged.emit(new, float(self._segment_seconds))

    # ------------------------------------------------------------------ view & mapping
    def _plot_rect(self) -> QRectF:
        return QRectF(GUTTER, 0, max(1, self.width() - GUTTER - RIGHT_PAD), max(1, self.height() - SCROLL_H))

    def _lanes(self) -> dict[str, QRectF]:
        r = self._plot_rect()
        objects_h = lanes_height(len(self._object_lanes))
        top = RULER_H + MARKS_H + objects_h
        rest = max(20.0, r.height() - top)
        wave_h = round(rest * 0.42)
        return {
            "ruler": QRectF(r.left(), 0, r.width(), RULER_H),
            "marks": QRectF(r.left(), RULER_H, r.width(), MARKS_H),
            "objects": QRectF(r.left(), RULER_H + MARKS_H, r.width(), objects_h),
            "wave": QRectF(r.left(), top, r.width(), wave_h),
            "spec": QRectF(r.left(), top + wave_h + 1, r.width(), rest - wave_h - 1),
        }

    def _fit_pps(self) -> float:
        return self._plot_rect().width() / max(self._duration, 1e-3)

    def _max_pps(self) -> float:
        # A pixel column never holds less than one block of the finest waveform level.
        base = self._peaks.base if self._peaks is not None else 16
        return max(self._fit_pps(), min(4000.0, (self._rate or 16000) / base))

    def pixels_per_second(self) -> float:
        """Current zoom."""
        return self._pps if self._pps is not None else self._fit_pps()

    def visible_range(self) -> tuple[float, float]:
        """Seconds shown at the left and right edges of the lanes."""
        t0 = self._view_start
        return t0, t0 + self._plot_rect().width() / self.pixels_per_second()

    def time_to_x(self, t: float) -> float:
        """Widget x of time ``t``."""
        return GUTTER + (t - self._view_start) * self.pixels_per_second()

    def x_to_time(self, x: float) -> float:
        """Time at widget x (not clamped)."""
        return self._view_start + (x - GUTTER) / self.pixels_per_second()

    def fit(self) -> None:
        """Show the whole duration."""
        self._pps = None
        self._view_start = 0.0
        self._update_scrollbar()
        self._invalidate()

    def zoom(self, factor: float, anchor: float | None = None) -> None:
        """Zoom by ``factor`` keeping time ``anchor`` (default: the view's centre) in place."""
        t0, t1 = self.visible_range()
        anchor = (t0 + t1) / 2 if anchor is None else anchor
        ax = self.time_to_x(anchor)
        pps = min(max(self.pixels_per_second() * factor, self._fit_pps()), self._max_pps())
        if pps <= self._fit_pps() * 1.0001:
            self.fit()
            return
        self._pps = pps
        self._set_view_start(anchor - (ax - GUTTER) / pps)

    def set_view(self, start: float, seconds: float) -> None:
        """Show ``seconds`` from ``start``."""
        seconds = max(seconds, 1e-3)
        self._pps = min(max(self._plot_rect().width() / seconds, self._fit_pps()), self._max_pps())
        if self._pps <= self._fit_pps() * 1.0001:
            self.fit()
            return
        self._set_view_start(start)

    def _reset_view(self) -> None:
        self._pps = None
        self._view_start = 0.0
        self._update_scrollbar()
        self._invalidate()

    def _set_view_start(self, t: float) -> None:
        t0, t1 = self.visible_range()
        latest = max(0.0, self._duration - (t1 - t0))
        self._view_start = min(max(0.0, t), latest)
        self._update_scrollbar()
        self._invalidate()
        self.viewChanged.emit(*self.visible_range())

    def _ensure_visible(self, a: float, b: float) -> None:
        if self._pps is None:
            return
        t0, t1 = self.visible_range()
        if a < t0:
            self._set_view_start(a - 0.05 * (t1 - t0))
        elif b > t1:
            self._set_view_start(b - 0.95 * (t1 - t0))

    def _update_scrollbar(self) -> None:
        t0, t1 = self.visible_range()
        span_ms = max(0, round((self._duration - (t1 - t0)) * 1000))
        self._scroll.blockSignals(True)
        self._scroll.setRange(0, span_ms)
        self._scroll.setPageStep(max(1, round((t1 - t0) * 1000)))
        self._scroll.setSingleStep(max(1, round((t1 - t0) * 100)))
        self._scroll.setValue(round(self._view_start * 1000))
        self._scroll.setEnabled(span_ms > 0)
        self._scroll.blockSignals(False)

    def _on_scroll(self, value: int) -> None:
        self._view_start = value / 1000.0
        self._invalidate()
        self.viewChanged.emit(*self.visible_range())

    # ------------------------------------------------------------------ painting
    def sizeHint(self) -> QSize:
        return QSize(900, 210 + lanes_height(len(self._object_lanes)))

    def resizeEvent(self, event) -> None:
        self._scroll.setGeometry(GUTTER, self.height() - SCROLL_H, max(1, self.width() - GUTTER - RIGHT_PAD), SCROLL_H)
        if self._pps is not None:
            self._set_view_start(self._view_start)
        self._update_scrollbar()
        self._invalidate()
        super().resizeEvent(event)

    def _invalidate(self) -> None:
        self._static_key = None
        self.update()

    def paintEvent(self, event) -> None:
        dpr = self.devicePixelRatioF()
        key = (self.width(), self.height(), dpr, self._view_start, self.pixels_per_second(),
               self._computing, self._peaks is not None, self._error)  # fmt: skip
        if self._static is None or self._static_key != key:
            self._static = self._render_static(dpr)
            self._static_key = key
        p = QPainter(self)
        p.drawPixmap(0, 0, self._static)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        lanes = self._lanes()
        paint_lanes(p, lanes["objects"], self.lanes(), self.frame_xs(), current=self._current,
                    selected=self._lane_selected, font=self._font, gutter=GUTTER)  # fmt: skip
        # overlays may use the right margin (the last frame's flag sits near the end)
        p.setClipRect(QRectF(GUTTER, 0, self.width() - GUTTER, self.height() - SCROLL_H))
        self._paint_windows(p, lanes)
        self._paint_marks(p, lanes)
        if self._segment_seconds is not None:
            self._paint_segment(p, lanes)
        self._paint_playhead(p, lanes)
        p.end()

    def _render_static(self, dpr: float) -> QPixmap:
        pm = QPixmap(max(1, round(self.width() * dpr)), max(1, round(self.height() * dpr)))
        pm.setDevicePixelRatio(dpr)
        pm.fill(BACKGROUND)
        p = QPainter(pm)
        lanes = self._lanes()
        for name in ("marks", "wave"):
            p.fillRect(lanes[name], LANE)
        p.fillRect(lanes["spec"], QColor(0, 0, 4))
        p.fillRect(QRectF(0, 0, self.width(), RULER_H), RULER)
        self._paint_ruler(p, lanes)
        self._paint_waveform(p, lanes["wave"], dpr)
        self._paint_spectrogram(p, lanes["spec"])
        self._paint_gutter(p, lanes)
        if self._computing or self._error or self._duration <= 0:
            if self._computing:
                text = "computing waveform and spectrogram…"
            elif self._error:
                text = f"no audio view: {self._error}"
            else:
                text = "no clip"
            p.setFont(self._font)
            p.setPen(TEXT)
            area = lanes["wave"].united(lanes["spec"])
            p.fillRect(area, QColor(30, 31, 34, 200))
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, text)
        p.end()
        return pm

    def _paint_ruler(self, p: QPainter, lanes: dict[str, QRectF]) -> None:
        ruler = lanes["ruler"]
        pps = self.pixels_per_second()
        step = nice_step(pps, 64.0)
        minor = step / (5 if str(step)[0] in "125" and step not in (15, 30) else 3)
        t0, t1 = self.visible_range()
        p.setFont(self._font)
        fm = QFontMetrics(self._font)
        k0 = math.floor(t0 / minor)
        k1 = math.ceil(t1 / minor)
        major_every = round(step / minor)
        grid = QPen(GRID)
        for k in range(max(k0, 0), k1 + 1):
            t = k * minor
            if t > self._duration + 1e-9:
                break
            x = round(self.time_to_x(t)) + 0.5
            if x < GUTTER or x > ruler.right():
                continue
            is_major = k % major_every == 0
            p.setPen(TICK)
            p.drawLine(QPointF(x, RULER_H - (9 if is_major else 4)), QPointF(x, RULER_H))
            if is_major:
                p.setPen(TEXT)
                label = format_time(t, step)
                p.drawText(QPointF(x + 3, RULER_H - 9 - fm.descent() + 4), label)
                p.setPen(grid)
                p.drawLine(QPointF(x, lanes["wave"].top()), QPointF(x, lanes["wave"].bottom()))
        # the end of the media
        if t0 <= self._duration <= t1:
            x = self.time_to_x(self._duration)
            p.fillRect(QRectF(x, RULER_H, ruler.right() - x, self.height()), BACKGROUND)

    def _paint_waveform(self, p: QPainter, rect: QRectF, dpr: float) -> None:
        peaks = self._peaks
        if peaks is None:
            return
        w = max(1, round(rect.width() * dpr))
        h = max(1, round(rect.height() * dpr))
        mins, maxs, rms = peaks.columns(self._view_start, 1.0 / (self.pixels_per_second() * dpr), w)
        img = rgba_to_qimage(waveform_image(mins, maxs, rms, h, scale=self._amp_scale))
        img.setDevicePixelRatio(dpr)
        p.drawImage(rect.topLeft(), img)

    def _paint_spectrogram(self, p: QPainter, rect: QRectF) -> None:
        if not self._spec_tiles:
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        t0, t1 = self.visible_range()
        cps = 1.0 / HOP_SECONDS  # spectrogram columns per second
        pps = self.pixels_per_second()
        for c0, img in self._spec_tiles:
            a = max(t0, c0 / cps)
            b = min(t1, (c0 + img.width()) / cps)
            if b <= a:
                continue
            src = QRectF(a * cps - c0, 0, (b - a) * cps, img.height())
            dst = QRectF(self.time_to_x(a), rect.top(), (b - a) * pps, rect.height())
            p.drawImage(dst, img, src)

    def _paint_gutter(self, p: QPainter, lanes: dict[str, QRectF]) -> None:
        p.fillRect(QRectF(0, RULER_H, GUTTER, self.height()), BACKGROUND)
        p.setFont(self._font)
        fm = QFontMetrics(self._font)
        right = GUTTER - 6

        def label(y: float, text: str, colour: QColor = DIM_TEXT) -> None:
            p.setPen(colour)
            wdt = fm.horizontalAdvance(text)
            p.drawText(QPointF(right - wdt, y + fm.ascent() / 2 - 1), text)

        p.setPen(TEXT)
        p.drawText(QRectF(4, 0, GUTTER - 8, RULER_H), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, "time")
        marks = lanes["marks"]
        label(marks.center().y(), "frame", TEXT)
        wave = lanes["wave"]
        amp = self._amp_scale
        label(wave.top() + fm.ascent() / 2 + 1, f"+{amp:.2g}")
        label(wave.center().y(), "0")
        label(wave.bottom() - fm.ascent() / 2 - 1, f"−{amp:.2g}")
        spec = lanes["spec"]
        for hz, text in ((250, "250"), (500, "500"), (1000, "1k"), (2000, "2k"), (4000, "4k"), (7000, "7k")):
            frac = (mel_band_position(hz) + 0.5) / 64.0
            y = spec.bottom() - frac * spec.height()
            if spec.top() + fm.ascent() / 2 <= y <= spec.bottom() - fm.ascent() / 2:
                label(y, text)
                p.setPen(TICK)
                p.drawLine(QPointF(GUTTER - 4, y), QPointF(GUTTER, y))
        p.setPen(DIM_TEXT)
        p.save()
        p.translate(9, spec.center().y())
        p.rotate(-90)
        p.drawText(QRectF(-spec.height() / 2, -8, spec.height(), 14), Qt.AlignmentFlag.AlignCenter, "mel · Hz")
        p.restore()
        p.setPen(QColor(60, 63, 68))
        p.drawLine(QPointF(GUTTER - 0.5, RULER_H), QPointF(GUTTER - 0.5, self.height() - SCROLL_H))

    def _window_rects(self, lanes: dict[str, QRectF], times: Sequence[float], origin: float = 0.0
                      ) -> list[QRectF]:  # fmt: skip
        top, bottom = lanes["wave"].top(), lanes["spec"].bottom()
        out = []
        for n in range(len(times)):
            a, b = vggish_window(n)
            x0, x1 = self.time_to_x(origin + a), self.time_to_x(min(origin + b, self._duration))
            out.append(QRectF(x0, top, max(1.0, x1 - x0), bottom - top))
        return out

    def _paint_windows(self, p: QPainter, lanes: dict[str, QRectF]) -> None:
        if not self._frame_times:
            return
        wave, spec = lanes["wave"], lanes["spec"]
        for n, r in enumerate(self._window_rects(lanes, self._frame_times)):
            current = n == self._current
            fill = CURRENT_FILL if current else WINDOW_FILL[n % 2]
            p.fillRect(QRectF(r.left(), wave.top(), r.width(), wave.height()), fill)
            if current:
                p.fillRect(QRectF(r.left(), spec.top(), r.width(), spec.height()), QColor(255, 255, 255, 28))
            edge = QPen(FRAME if current else QColor(255, 179, 0, 110), 1.5 if current else 1.0)
            p.setPen(edge)
            for x in (r.left(), r.right()):
                p.drawLine(QPointF(x, wave.top()), QPointF(x, spec.bottom()))
            # a bracket under the marks lane ties the window to its frame number
            p.drawLine(QPointF(r.left(), wave.top() + 0.5), QPointF(r.right(), wave.top() + 0.5))

    def _flag(self, p: QPainter, x: float, lane: QRectF, text: str, *, fill: QColor, pen: QColor) -> QRectF:
        fm = QFontMetrics(self._bold)
        w = max(16, fm.horizontalAdvance(text) + 8)
        h = lane.height() - 6
        r = QRectF(x - w / 2, lane.top() + 2, w, h)
        path = QPainterPath()
        path.addRoundedRect(r, 3, 3)
        tip = QPolygonF([QPointF(x - 4, r.bottom() - 0.5), QPointF(x + 4, r.bottom() - 0.5), QPointF(x, lane.bottom())])
        path.addPolygon(tip)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(fill)
        p.drawPath(path.simplified())
        p.setPen(pen)
        p.setFont(self._bold)
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, text)
        return r

    def _paint_marks(self, p: QPainter, lanes: dict[str, QRectF]) -> None:
        marks = lanes["marks"]
        for n, t in enumerate(self._frame_times):
            x = self.time_to_x(t)
            current = n == self._current
            fill = FRAME if current else QColor(255, 179, 0, 150)
            self._flag(p, x, marks, str(n + 1), fill=fill, pen=QColor(20, 20, 20))
            p.setPen(QPen(QColor(255, 179, 0, 200 if current else 120), 1.0, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(x, lanes["wave"].top()), QPointF(x, lanes["wave"].bottom()))

    def _paint_segment(self, p: QPainter, lanes: dict[str, QRectF]) -> None:
        a = self._segment_start
        b = a + (self._segment_seconds or 0)
        top, bottom = lanes["wave"].top(), lanes["spec"].bottom()
        xa, xb = self.time_to_x(a), self.time_to_x(b)
        left = QRectF(GUTTER, RULER_H, max(0.0, xa - GUTTER), bottom - RULER_H)
        right = QRectF(xb, RULER_H, max(0.0, self.width() - xb), bottom - RULER_H)
        p.fillRect(left, SHADE)
        p.fillRect(right, SHADE)
        # the frames and audio windows the clip would get
        times = sampled_frame_times(a, self._segment_seconds or 0)
        for n, r in enumerate(self._window_rects(lanes, times, origin=a)):
            p.fillRect(QRectF(r.left(), lanes["wave"].top(), r.width(), lanes["wave"].height()), WINDOW_FILL[n % 2])
        for n, t in enumerate(times):
            self._flag(p, self.time_to_x(t), lanes["marks"], str(n + 1), fill=QColor(255, 179, 0, 110),
                       pen=QColor(20, 20, 20))  # fmt: skip
        box = QRectF(xa, top, xb - xa, bottom - top)
        p.setPen(QPen(SEGMENT, 2.0))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(box.adjusted(1, 1, -1, -1))
        for x in (xa + 1, xb - 1):  # grips
            p.fillRect(QRectF(x - 3, top + box.height() / 2 - 12, 6, 24), SEGMENT)
        text = f"{format_time(a, 0.1)} – {format_time(b, 0.1)}  ({self._segment_seconds} s)"
        fm = QFontMetrics(self._bold)
        pill = QRectF(xa + 6, bottom - fm.height() - 10, fm.horizontalAdvance(text) + 12, fm.height() + 4)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(20, 40, 22, 220))
        p.drawRoundedRect(pill, 4, 4)
        p.setPen(QColor(200, 240, 200))
        p.setFont(self._bold)
        p.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_playhead(self, p: QPainter, lanes: dict[str, QRectF]) -> None:
        x = self.time_to_x(self._playhead)
        if not GUTTER - 1 <= x <= self.width():
            return
        p.setPen(QPen(PLAYHEAD, 1.5))
        p.drawLine(QPointF(x, 4), QPointF(x, lanes["spec"].bottom()))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(PLAYHEAD)
        p.drawPolygon(QPolygonF([QPointF(x - 5, 0), QPointF(x + 5, 0), QPointF(x, 7)]))

    # ------------------------------------------------------------------ input
    def _lane_at(self, y: float) -> str | None:
        for name, r in self._lanes().items():
            if r.top() <= y < r.bottom() + 1:
                return name
        return None

    def frame_at(self, x: float, tolerance: float = 9.0) -> int | None:
        """The sampled frame whose mark is nearest widget x (within ``tolerance`` px)."""
        best, dist = None, tolerance
        for n, t in enumerate(self._frame_times):
            d = abs(self.time_to_x(t) - x)
            if d <= dist:
                best, dist = n, d
        return best

    def _time_at(self, x: float) -> float:
        return min(max(0.0, self.x_to_time(x)), self._duration)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._duration <= 0:
            return super().mousePressEvent(event)
        pos = event.position()
        lane = self._lane_at(pos.y())
        if lane == "objects":
            self._lane_press(pos, GUTTER)
            return
        if pos.x() < GUTTER:
            return
        if lane == "marks":
            n = self.frame_at(pos.x())
            if n is not None:
                self.set_current_frame(n)
                self.frameClicked.emit(n)
                return
        t = self._time_at(pos.x())
        if self._segment_seconds is not None and lane in ("wave", "spec"):
            a = self._segment_start
            if a <= t <= a + self._segment_seconds:
                self._drag_offset = t - a
            else:
                self._drag_offset = 0.0
                self._move_segment(t)
            self._drag = "segment"
            return
        self._drag = "scrub"
        self._scrub(t)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is None:
            return super().mouseMoveEvent(event)
        t = self._time_at(event.position().x())
        if self._drag == "segment":
            self._move_segment(t - self._drag_offset)
        else:
            self._scrub(t)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag = None
        super().mouseReleaseEvent(event)

    def _scrub(self, t: float) -> None:
        self._playhead = t
        self.update()
        self.seekRequested.emit(t)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not delta:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom(1.25 ** (delta / 120.0), anchor=self.x_to_time(event.position().x()))
        elif self._pps is not None:
            t0, t1 = self.visible_range()
            self._set_view_start(self._view_start - delta / 120.0 * 0.1 * (t1 - t0))
        event.accept()

    _SEGMENT_KEYS = (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Home, Qt.Key.Key_End)

    def event(self, event: QEvent) -> bool:
        # In segment mode the arrow keys move the box, even where the window binds them.
        if (event.type() == QEvent.Type.ShortcutOverride and self._segment_seconds is not None
                and isinstance(event, QKeyEvent) and event.key() in self._SEGMENT_KEYS):  # fmt: skip
            event.accept()
            return True
        if event.type() == QEvent.Type.ToolTip:
            self._tooltip(event)
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self._segment_seconds is None or event.key() not in self._SEGMENT_KEYS:
            return super().keyPressEvent(event)
        step = 1.0 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else self.segment_step
        key = event.key()
        if key == Qt.Key.Key_Left:
            self._move_segment(self._segment_start - step)
        elif key == Qt.Key.Key_Right:
            self._move_segment(self._segment_start + step)
        elif key == Qt.Key.Key_Home:
            self._move_segment(0.0)
        else:
            self._move_segment(self._duration)

    def _tooltip(self, event) -> None:
        pos = event.pos()
        lane = self._lane_at(pos.y())
        if lane == "objects" and self._lane_tooltip(event):
            return
        if pos.x() < GUTTER or self._duration <= 0:
            QToolTip.hideText()
            return
        if lane == "marks":
            n = self.frame_at(pos.x())
            if n is not None:
                a, b = vggish_window(n)
                QToolTip.showText(
                    event.globalPos(),
                    f"Frame {n + 1} at {self._frame_times[n]:.3f} s\n"
                    f"its audio (VGGish example {n + 1}): {a:.3f}–{b:.3f} s",
                    self,
                )
                return
        QToolTip.showText(event.globalPos(), f"{self._time_at(pos.x()):.3f} s", self)
