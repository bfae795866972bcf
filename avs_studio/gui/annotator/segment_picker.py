"""Pick a 5-s or 10-s segment of a long video while listening, to add it as a clip.

The dialog opens the video in the background, shows its waveform and spectrogram on a
:class:`~avs_studio.gui.common.timeline.TimelineWidget` in segment mode with the frame at the
selection start, and plays the selection through a :class:`~avs_studio.gui.common.player.Player`.
OK returns ``(path, start, seconds)``; the caller adds it with
``Project.add_video(path, start=start, seconds=seconds)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from avs_studio.core.media.playback import format_time
from avs_studio.gui.common.audio_output import AudioOutput
from avs_studio.gui.common.player import Player
from avs_studio.gui.common.qimage import to_pixmap
from avs_studio.gui.common.timeline import TimelineWidget
from avs_studio.gui.common.workers import JobWorker, start

__all__ = ["SegmentPickerDialog", "load_media_for_playback"]

VIDEO_FILTER = "Videos (*.mp4 *.mkv *.mov *.avi *.webm *.m4v);;All files (*)"


def load_media_for_playback(path: Path, progress=None, cancel=None) -> dict:
    """Probe a video and decode its whole audio track (a job for a worker thread).

    Returns ``path``, ``duration``, ``fps``, ``audio`` (float32 ``[S, C]``), ``rate`` and
    ``has_audio``. Raises :class:`~avs_studio.core.errors.MediaError` for files that are not
    videos.
    """
    from avs_studio.core.media.decode import open_media
    from avs_studio.core.media.probe import media_error

    with open_media(path) as media:
        info = media.info
        if info.video is None:
            raise media_error(path, "has no video stream; a clip needs pictures")
        if cancel is not None:
            cancel.raise_if_cancelled()
        audio, rate = media.audio()
        fps = info.video.avg_fps or float(info.video.guessed_rate or 25)
        duration = info.duration or audio.shape[0] / rate
    return {"path": Path(path), "duration": float(duration), "fps": float(fps), "audio": audio,
            "rate": int(rate), "has_audio": info.has_audio}  # fmt: skip


class _Preview(QLabel):
    """The frame at the selection start, scaled to fit."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumSize(320, 180)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("background: rgb(20, 21, 23); color: rgb(150, 154, 160);")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._pixmap: QPixmap | None = None

    def set_frame(self, rgb: np.ndarray | None) -> None:
        self._pixmap = None if rgb is None else to_pixmap(rgb)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None or self._pixmap.isNull():
            return
        self.setPixmap(self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation))  # fmt: skip

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale()


class SegmentPickerDialog(QDialog):
    """Choose ``[start, start + seconds)`` of a video by ear and eye; see the module doc."""

    def __init__(self, parent: QWidget | None = None, path: str | Path | None = None, *,
                 seconds: int | Sequence[int] = (5, 10), folder: str | Path | None = None,
                 output: AudioOutput | None = None, player: Player | None = None) -> None:  # fmt: skip
        """``seconds``: the segment length, or the lengths offered (the first is the default).
        ``folder``: where Open Video starts. ``output``: the audio sink for a new player;
        ``player``: an existing player to use instead (it is paused, not closed, at the end).
        """
        super().__init__(parent)
        self.setWindowTitle("New clip from a video")
        self.resize(980, 640)
        self._path: Path | None = None
        self._folder = str(folder) if folder else ""
        self._media: dict | None = None
        self._job: JobWorker | None = None
        self.player = player if player is not None else Player(self, output=output)
        self._own_player = player is None
        if isinstance(seconds, int):
            lengths = [seconds] + [n for n in (5, 10) if n != seconds]
        else:
            lengths = [int(n) for n in seconds] or [5]

        self.path_label = QLabel("No video opened")
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_button = QPushButton("Open Video…")
        open_button.clicked.connect(self._browse)
        top = QHBoxLayout()
        top.addWidget(self.path_label, 1)
        top.addWidget(open_button)

        self.preview = _Preview()
        self.preview.setText("Open a video to pick a segment")
        self.timeline = TimelineWidget()
        self.timeline.setMinimumHeight(190)

        self.length = QComboBox()
        for n in lengths:
            self.length.addItem(f"{n} s", int(n))
        self.length.setCurrentIndex(0)
        self.length.setEnabled(len(lengths) > 1)
        self.length.currentIndexChanged.connect(self._on_length)
        self.start_box = QDoubleSpinBox()
        self.start_box.setDecimals(1)
        self.start_box.setSingleStep(0.1)
        self.start_box.setSuffix(" s")
        self.start_box.setKeyboardTracking(False)
        self.start_box.valueChanged.connect(self.timeline.set_segment)
        self.play_button = QPushButton("▶ Play selection")
        self.play_button.setEnabled(False)
        self.play_button.clicked.connect(self._toggle_play)
        self.loop_box = QCheckBox("Loop")
        self.info = QLabel("")
        self.info.setStyleSheet("color: rgb(150, 154, 160);")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Length"))
        controls.addWidget(self.length)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Start"))
        controls.addWidget(self.start_box)
        controls.addSpacing(12)
        controls.addWidget(self.play_button)
        controls.addWidget(self.loop_box)
        controls.addStretch(1)
        controls.addWidget(self.info)

        self.status = QLabel("")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add Clip")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.buttons)

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.preview, 1)
        lay.addWidget(self.timeline)
        lay.addLayout(controls)
        lay.addLayout(bottom)

        self.timeline.segmentChanged.connect(self._on_segment)
        self.timeline.seekRequested.connect(self.player.seek)
        self.player.positionChanged.connect(self.timeline.set_playhead)
        self.player.frameReady.connect(lambda _t, rgb: self.preview.set_frame(rgb))
        self.player.stateChanged.connect(self._on_state)
        self.player.message.connect(self.status.setText)
        self._set_ok(False)
        if path is not None:
            self.open_video(path)

    # ------------------------------------------------------------------ public
    @property
    def seconds(self) -> int:
        """Length of the segment being picked."""
        return int(self.length.currentData())

    def selection(self) -> tuple[Path, float, int] | None:
        """``(path, start, seconds)`` of the current selection, None before a video is loaded."""
        seg = self.timeline.segment()
        if self._media is None or seg is None or self._media["duration"] + 1e-6 < self.seconds:
            return None
        return self._media["path"], seg[0], self.seconds

    def result_segment(self) -> tuple[Path, float, int] | None:
        """Same as :meth:`selection` (after ``exec()`` returned Accepted)."""
        return self.selection()

    def open_video(self, path: str | Path) -> None:
        """Load ``path`` in the background (waveform, spectrogram and preview follow)."""
        if self._job is not None:
            self._job.cancel()
        self.player.clear()
        self._media = None
        self._path = Path(path)
        self._set_ok(False)
        self.play_button.setEnabled(False)
        self.path_label.setText(str(self._path))
        self.status.setText(f"Opening {self._path.name}…")
        job = JobWorker(lambda progress, cancel, p=self._path: load_media_for_playback(p, progress, cancel))
        job.signals.finished.connect(self._on_loaded)
        job.signals.failed.connect(self._on_failed)
        self._job = start(job)

    @classmethod
    def get_segment(cls, parent: QWidget | None = None, path: str | Path | None = None, *,
                    seconds: int | Sequence[int] = (5, 10), folder: str | Path | None = None,
                    output: AudioOutput | None = None) -> tuple[Path, float, int] | None:  # fmt: skip
        """Run the dialog (asking for a file first when ``path`` is None); ``(path, start,
        seconds)`` on OK, None on Cancel."""
        dlg = cls(parent, path, seconds=seconds, folder=folder, output=output)
        if path is None:
            dlg._browse()
            if dlg._path is None:
                dlg.close_player()
                return None
        ok = dlg.exec() == QDialog.DialogCode.Accepted
        return dlg.selection() if ok else None

    def close_player(self) -> None:
        """Stop playback and release the audio device and decoder."""
        if self._own_player:
            self.player.close()
        else:
            self.player.pause()

    def done(self, result: int) -> None:
        self.close_player()
        super().done(result)

    # ------------------------------------------------------------------ internals
    def _browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open a video", self._folder, VIDEO_FILTER)
        if name:
            self._folder = str(Path(name).parent)
            self.open_video(name)

    def _set_ok(self, enabled: bool) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(enabled)

    def _on_loaded(self, media: dict) -> None:
        if self._path is None or media["path"] != self._path:
            return
        self._job = None
        self._media = media
        duration = media["duration"]
        self.timeline.set_audio(media["audio"], media["rate"], duration)
        self.timeline.set_segment_mode(self.seconds)
        self.player.set_media(media["path"], media["audio"], media["rate"], fps=media["fps"],
                              duration=duration)  # fmt: skip
        self.start_box.setRange(0.0, max(0.0, duration - self.seconds))
        self.play_button.setEnabled(True)
        note = "" if media["has_audio"] else " — no audio track"
        self.info.setText(f"{format_time(duration, 1)} · {media['fps']:.3g} fps{note}")
        self._check_length()
        seg = self.timeline.segment()
        if seg is not None:
            self.player.seek(seg[0])

    def _on_failed(self, message: str) -> None:
        self._job = None
        self._media = None
        self.status.setText(message.splitlines()[0])
        self.preview.set_frame(None)
        self.preview.setText("This file cannot be used")

    def _check_length(self) -> None:
        media = self._media
        if media is None:
            return
        if media["duration"] + 1e-6 < self.seconds:
            self.status.setText(f"The video is only {media['duration']:.2f} s long; a clip needs {self.seconds} s")
            self._set_ok(False)
        else:
            self.status.setText("Drag the box (or use ←/→) to choose the segment; ▶ plays it")
            self._set_ok(True)

    def _on_length(self) -> None:
        if self._media is None:
            return
        self.timeline.set_segment_mode(self.seconds)
        self.start_box.setRange(0.0, max(0.0, self._media["duration"] - self.seconds))
        self._check_length()

    def _on_segment(self, start_s: float, _seconds: float) -> None:
        self.start_box.blockSignals(True)
        self.start_box.setValue(start_s)
        self.start_box.blockSignals(False)
        if self.player.state == "playing" and self.player.window is not None:
            self._play_selection()
        elif self.player.state != "playing":
            self.player.seek(start_s)

    def _play_selection(self) -> None:
        seg = self.timeline.segment()
        if seg is not None:
            self.player.play_window(seg[0], seg[0] + seg[1], loop=self.loop_box.isChecked())

    def _toggle_play(self) -> None:
        if self.player.state == "playing":
            self.player.pause()
        else:
            self._play_selection()

    def _on_state(self, state: str) -> None:
        self.play_button.setText("⏸ Pause" if state == "playing" else "▶ Play selection")
