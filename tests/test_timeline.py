"""The timeline as a user meets it: see the sound, find the frames, scrub, cut a segment."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtWidgets import QApplication

from avs_studio.core.audio.logmel import log_mel_examples
from avs_studio.core.media.playback import WaveformPeaks, display_log_mel, vggish_window
from avs_studio.gui.common.timeline import TimelineWidget

RATE = 16000


def tone_then_silence(seconds: float = 5.0, hz: float = 1000.0, rate: int = RATE) -> np.ndarray:
    """A tone in the first half, near-silence in the second: ``[S, 2]`` float32."""
    t = np.arange(int(seconds * rate)) / rate
    x = np.where(t < seconds / 2, 0.6 * np.sin(2 * np.pi * hz * t), 0.001 * np.sin(2 * np.pi * 90 * t))
    return np.stack([x, x], axis=1).astype(np.float32)


@pytest.fixture
def timeline(qtbot):
    w = TimelineWidget()
    qtbot.addWidget(w)
    w.resize(1000, 220)
    w.show()
    return w


def load(qtbot, w: TimelineWidget, samples: np.ndarray, rate: int = RATE) -> None:
    with qtbot.waitSignal(w.audioReady, timeout=10000):
        w.set_audio(samples, rate)
    assert not w.is_computing


def lane_y(w: TimelineWidget, name: str) -> int:
    return round(w._lanes()[name].center().y())


# ------------------------------------------------------------------ what is computed


def test_the_spectrogram_is_the_models_own_log_mel_every_10_ms():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(5 * RATE) * 0.1).astype(np.float32)
    frames = display_log_mel(x, RATE)
    assert frames.shape == (498, 64)  # 1 + (80000 - 400) // 160
    examples = log_mel_examples(x, RATE)  # what VGGish gets: 5 examples of 96 frames
    assert np.abs(frames[: 5 * 96].reshape(5, 96, 64) - examples).max() < 1e-5


def test_other_sample_rates_show_the_same_bands_without_resampling():
    t = np.arange(3 * 44100) / 44100
    x = 0.5 * np.sin(2 * np.pi * 2000 * t)
    at_44k = display_log_mel(x, 44100)
    at_16k = display_log_mel(0.5 * np.sin(2 * np.pi * 2000 * np.arange(3 * RATE) / RATE), RATE)
    assert abs(at_44k.shape[0] - at_16k.shape[0]) <= 1  # still one frame per 10 ms
    assert at_44k.mean(axis=0).argmax() == at_16k.mean(axis=0).argmax()
    assert abs(at_44k.max() - at_16k.max()) < 0.5  # levels comparable (natural log units)


@pytest.mark.parametrize("t0, span, columns", [(0.0, 5.0, 700), (1.234, 0.05, 300), (-0.5, 2.0, 97), (4.9, 3.0, 50)])
def test_waveform_columns_hold_the_min_and_max_of_their_samples(t0, span, columns):
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal(5 * RATE)).astype(np.float32)
    x /= np.abs(x).max()
    peaks = WaveformPeaks.build(x, RATE)
    mins, maxs, rms = peaks.columns(t0, span / columns, columns)
    for c in range(columns):
        a = (t0 + c * span / columns) * RATE
        b = (t0 + (c + 1) * span / columns) * RATE
        lo, hi = max(0, int(np.floor(a + 1e-6))), min(x.shape[0], int(np.ceil(b - 1e-6)))
        if hi <= 0 or lo >= x.shape[0]:
            assert np.isnan(mins[c])
            continue
        seg = x[lo:hi]
        # a column may show a little more than its own samples (whole blocks), never less
        assert mins[c] <= seg.min() + 1e-6 and maxs[c] >= seg.max() - 1e-6
        slack = peaks.base * 2 ** max(0, int(np.log2(max(1.0, (b - a) / peaks.base))))
        around = x[max(0, lo - slack) : min(x.shape[0], hi + slack)]
        assert mins[c] >= around.min() - 1e-6 and maxs[c] <= around.max() + 1e-6
        assert 0 <= rms[c] <= max(abs(mins[c]), abs(maxs[c])) + 1e-6


def test_the_widget_computes_its_pictures_off_the_gui_thread(qtbot, timeline):
    audio = tone_then_silence()
    timeline.set_audio(audio, RATE)
    assert timeline.is_computing  # shown as "computing…" meanwhile
    qtbot.waitUntil(lambda: not timeline.is_computing, timeout=10000)
    img = timeline.spectrogram_image()
    assert img is not None and img.height() == 64 and img.width() == 498
    # the tone's band is bright in the first half and dark in the second
    row = 63 - int(np.argmax(display_log_mel(audio, RATE)[10]))
    loud, quiet = QColor(img.pixel(100, row)), QColor(img.pixel(400, row))
    assert loud.lightness() > quiet.lightness() + 100
    assert timeline.peaks is not None and timeline.peaks.peak == pytest.approx(0.6, abs=1e-3)


# ------------------------------------------------------------------ time <-> pixels


def test_time_and_x_map_back_and_forth_through_zoom_and_scroll(qtbot, timeline):
    load(qtbot, timeline, tone_then_silence(30.0))
    t0, t1 = timeline.visible_range()
    assert t0 == 0.0 and t1 == pytest.approx(30.0)
    for x in (46.0, 300.5, 991.0):
        assert timeline.time_to_x(timeline.x_to_time(x)) == pytest.approx(x)
    x_at_12 = timeline.time_to_x(12.0)
    wheel = QWheelEvent(QPointF(x_at_12, 100), QPointF(timeline.mapToGlobal(QPoint(round(x_at_12), 100))),
                        QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    QApplication.sendEvent(timeline, wheel)  # Ctrl+wheel: zoom in around the mouse
    t0, t1 = timeline.visible_range()
    assert t1 - t0 == pytest.approx(30.0 / 1.25**2, rel=1e-6)
    assert timeline.time_to_x(12.0) == pytest.approx(x_at_12)  # the point under the mouse stays
    timeline.set_view(20.0, 2.0)
    t0, t1 = timeline.visible_range()
    assert (t0, t1) == (pytest.approx(20.0), pytest.approx(22.0))
    assert timeline.time_to_x(21.0) == pytest.approx((timeline.time_to_x(20.0) + timeline.time_to_x(22.0)) / 2)
    timeline.set_view(29.0, 2.0)  # the view never runs past the end
    assert timeline.visible_range()[1] == pytest.approx(30.0)
    timeline.fit()
    assert timeline.visible_range() == (0.0, pytest.approx(30.0))


def test_the_view_follows_the_playhead_when_zoomed_in(qtbot, timeline):
    load(qtbot, timeline, tone_then_silence(30.0))
    timeline.set_view(0.0, 5.0)
    timeline.set_playhead(17.0)
    t0, t1 = timeline.visible_range()
    assert t0 <= 17.0 <= t1


# ------------------------------------------------------------------ clicks


def test_clicking_scrubs_and_clicking_a_frame_mark_picks_the_frame(qtbot, timeline):
    load(qtbot, timeline, tone_then_silence())
    times = [k + 15 / 16 for k in range(5)]
    timeline.set_frame_times(times)
    x = round(timeline.time_to_x(1.5))
    with qtbot.waitSignal(timeline.seekRequested) as seek:
        qtbot.mouseClick(timeline, Qt.MouseButton.LeftButton, pos=QPoint(x, lane_y(timeline, "wave")))
    assert seek.args[0] == pytest.approx(timeline.x_to_time(x)) and abs(seek.args[0] - 1.5) < 0.01
    assert timeline.playhead() == pytest.approx(seek.args[0])
    mark = QPoint(round(timeline.time_to_x(times[3])) + 2, lane_y(timeline, "marks"))
    with qtbot.waitSignal(timeline.frameClicked) as clicked, qtbot.assertNotEmitted(timeline.seekRequested):
        qtbot.mouseClick(timeline, Qt.MouseButton.LeftButton, pos=mark)
    assert clicked.args == [3] and timeline.current_frame() == 3


def test_each_frames_audio_window_is_drawn_and_the_current_one_stands_out(qtbot, timeline):
    load(qtbot, timeline, tone_then_silence())
    timeline.set_frame_times([k + 15 / 16 for k in range(5)])
    a, b = vggish_window(2)
    assert (a, b) == (pytest.approx(1.92), pytest.approx(2.895))
    x = round(timeline.time_to_x((a + b) / 2 + 0.2))
    y = round(timeline._lanes()["wave"].top()) + 3  # above the waveform, on the band
    plain = QColor(timeline.grab().toImage().pixel(x, y))
    timeline.set_current_frame(2)
    lit = QColor(timeline.grab().toImage().pixel(x, y))
    timeline.set_current_frame(None)
    unmarked = QColor(timeline.grab().toImage().pixel(round(timeline.time_to_x(4.95)) + 30, y))
    assert lit.red() > plain.red() + 15 and plain.red() >= unmarked.red()


# ------------------------------------------------------------------ segment mode


def test_a_five_second_segment_is_picked_by_dragging_and_nudging(qtbot, timeline):
    load(qtbot, timeline, tone_then_silence(30.0))
    timeline.set_segment_mode(5)
    assert timeline.segment() == (0.0, 5.0)
    y = lane_y(timeline, "spec")
    x = round(timeline.time_to_x(12.34))
    with qtbot.waitSignal(timeline.segmentChanged) as changed:
        qtbot.mouseClick(timeline, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    start, seconds = changed.args
    assert seconds == 5.0 and start == pytest.approx(round(timeline.x_to_time(x), 1))
    # drag the box by its middle far to the right: it stops at the end of the media
    inside = QPoint(round(timeline.time_to_x(start + 2.5)), y)
    qtbot.mousePress(timeline, Qt.MouseButton.LeftButton, pos=inside)
    qtbot.mouseMove(timeline, QPoint(timeline.width() - 2, y))
    qtbot.mouseRelease(timeline, Qt.MouseButton.LeftButton, pos=QPoint(timeline.width() - 2, y))
    start, seconds = timeline.segment()
    assert start + seconds <= 30.0 + 1e-9 and start == pytest.approx(25.0)
    timeline.setFocus()
    qtbot.keyClick(timeline, Qt.Key.Key_Left)
    assert timeline.segment()[0] == pytest.approx(24.9)
    qtbot.keyClick(timeline, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert timeline.segment()[0] == pytest.approx(23.9)
    qtbot.keyClick(timeline, Qt.Key.Key_Home)
    assert timeline.segment()[0] == 0.0
    timeline.set_segment_mode(10)
    timeline.set_segment(27.0)
    assert timeline.segment() == (pytest.approx(20.0), 10.0)
    # outside segment mode the arrow keys are left to the window
    timeline.set_segment_mode(None)
    assert timeline.segment() is None


def test_a_screenshot_shows_playhead_frames_and_sound(qtbot, timeline, tmp_path):
    load(qtbot, timeline, tone_then_silence())
    timeline.set_frame_times([k + 15 / 16 for k in range(5)])
    timeline.set_current_frame(1)
    timeline.set_playhead(3.3)
    path = tmp_path / "timeline.png"
    assert timeline.grab().save(str(path))
    img = timeline.grab().toImage()
    head = QColor(img.pixel(round(timeline.time_to_x(3.3)), lane_y(timeline, "spec")))
    assert head.red() > 200 and head.green() < 120  # the red playhead
    flag = QColor(img.pixel(round(timeline.time_to_x(1 + 15 / 16)), round(timeline._lanes()["marks"].top()) + 4))
    assert flag.red() > 200 and flag.green() > 120 and flag.blue() < 80  # an amber frame flag
    wave = timeline._lanes()["wave"]
    x_tone, x_quiet = round(timeline.time_to_x(0.5)), round(timeline.time_to_x(4.5))
    tone_px = sum(QColor(img.pixel(x_tone, y)).blue() > 150 for y in range(round(wave.top()), round(wave.bottom())))
    quiet_px = sum(QColor(img.pixel(x_quiet, y)).blue() > 150 for y in range(round(wave.top()), round(wave.bottom())))
    assert tone_px > 0.5 * wave.height() and quiet_px < 0.1 * wave.height()


# ------------------------------------------------------------------ new clips from long videos


def long_video(path, seconds: float, fps: int = 10, size=(64, 48)):
    """A video whose brightness counts the seconds and whose tone rises every second."""
    from avs_studio.core.media.writer import write_video

    n = int(seconds * fps)
    frames = (np.full((size[1], size[0], 3), int(255 * (i // fps) / seconds), np.uint8) for i in range(n))
    t = np.arange(int(seconds * RATE)) / RATE
    audio = (0.3 * np.sin(2 * np.pi * (300 + 100 * np.floor(t)) * t)).astype(np.float32)
    return write_video(path, frames, fps, audio=audio, sample_rate=RATE)


def test_picking_a_segment_of_a_long_video_while_listening(qtbot, tmp_path):
    from avs_studio.gui.annotator.segment_picker import SegmentPickerDialog

    video = long_video(tmp_path / "concert.mp4", 12.0)
    dlg = SegmentPickerDialog(None, video, seconds=(10, 5))
    qtbot.addWidget(dlg)
    dlg.show()
    ok = dlg.buttons.button(dlg.buttons.StandardButton.Ok)
    qtbot.waitUntil(lambda: ok.isEnabled() and not dlg.timeline.is_computing, timeout=20000)
    assert dlg.seconds == 10 and dlg.timeline.segment() == (0.0, 10.0)
    assert dlg.timeline.duration == pytest.approx(12.0, abs=0.1)
    previews = []
    dlg.player.frameReady.connect(lambda t, rgb: previews.append((t, int(rgb.mean()))))
    dlg.length.setCurrentIndex(dlg.length.findData(5))
    dlg.timeline.set_segment(6.27)
    assert dlg.start_box.value() == pytest.approx(6.3)
    qtbot.waitUntil(lambda: bool(previews) and previews[-1][0] == pytest.approx(6.3), timeout=5000)
    assert previews[-1][1] > 100  # the frame at the start of the selection (second 6 of 12)
    dlg.play_button.click()
    assert dlg.player.state == "playing" and dlg.player.window == (pytest.approx(6.3), pytest.approx(11.3), False)
    qtbot.waitUntil(lambda: dlg.player.position() > 6.6, timeout=5000)
    dlg.play_button.click()
    assert dlg.player.state == "paused"
    ok.click()
    assert dlg.result() == dlg.DialogCode.Accepted
    assert dlg.result_segment() == (video, pytest.approx(6.3), 5)


def test_a_video_shorter_than_a_clip_cannot_be_added(qtbot, tmp_path):
    from avs_studio.gui.annotator.segment_picker import SegmentPickerDialog

    video = long_video(tmp_path / "short.mp4", 3.0)
    dlg = SegmentPickerDialog(None, video, seconds=5)
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: "only" in dlg.status.text(), timeout=20000)
    assert "a clip needs 5 s" in dlg.status.text()
    assert not dlg.buttons.button(dlg.buttons.StandardButton.Ok).isEnabled()
    assert dlg.selection() is None
    dlg.open_video(tmp_path / "missing.mp4")
    qtbot.waitUntil(lambda: "not found" in dlg.status.text(), timeout=5000)
    dlg.reject()


def test_a_clip_without_sound_still_gets_a_timeline(qtbot, timeline):
    with qtbot.waitSignal(timeline.audioReady, timeout=10000):
        timeline.set_audio(np.zeros((0, 1), np.float32), RATE, 5.0)
    timeline.set_frame_times([k + 15 / 16 for k in range(5)])
    assert timeline.duration == 5.0 and timeline.peaks.peak == 0.0
    assert not timeline.grab().isNull()
    with qtbot.waitSignal(timeline.seekRequested) as seek:
        qtbot.mouseClick(timeline, Qt.MouseButton.LeftButton,
                         pos=QPoint(round(timeline.time_to_x(4.0)), lane_y(timeline, "spec")))  # fmt: skip
    assert seek.args[0] == pytest.approx(4.0, abs=0.01)
