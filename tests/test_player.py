"""Playback as a user meets it: sound (or silence) sets the clock, video follows it.

Tests never open a sound card (conftest sets AVS_STUDIO_AUDIO=null); the sound-card path
is exercised with a stand-in ``sounddevice`` module that plays into arrays.
"""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QTimer

from avs_studio.core.media.playback import FramePrefetcher, LoopSpan, ManualClock, vggish_window
from avs_studio.gui.common import audio_output as ao
from avs_studio.gui.common.audio_output import NullOutput, SoundDeviceOutput, default_output
from avs_studio.gui.common.player import Player


def overload() -> float:
    """How many times over its cores the machine is loaded (>= 1): wall-clock limits stretch
    by this much when other processes share the cores (1 on an idle machine, as in CI)."""
    try:
        return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    except OSError:
        return 1.0


def ramp(n: int, channels: int = 1) -> np.ndarray:
    """Samples whose value says where they are (frame i holds i / n)."""
    x = (np.arange(n, dtype=np.float32) / n)[:, None]
    return np.repeat(x, channels, axis=1)


# ------------------------------------------------------------------ the silent sink


def test_the_silent_clock_runs_pauses_resumes_and_ends():
    clock = ManualClock()
    out = NullOutput("No audio output device", clock=clock)
    assert not out.available and out.reason == "No audio output device"
    out.start(ramp(1000), 100, start_frame=200)
    assert out.is_playing and out.position_frames() == 200
    clock.advance(0.5)
    assert out.position_frames() == 250
    out.pause()
    clock.advance(3.0)
    assert out.position_frames() == 250 and not out.is_playing
    out.resume()
    clock.advance(1.0)
    assert out.position_frames() == 350 and out.is_playing
    clock.advance(100.0)
    assert out.position_frames() == 1000 and not out.is_playing
    out.resume()  # nothing left to play
    assert not out.is_playing


def test_the_silent_clock_follows_wall_time():
    out = NullOutput()
    out.start(ramp(48000), 48000)
    time.sleep(0.2)
    pos = out.position_frames()
    assert 0.15 * 48000 <= pos <= 0.6 * 48000


def test_a_loop_window_wraps_and_never_ends():
    clock = ManualClock()
    out = NullOutput(clock=clock)
    out.start(ramp(1000), 100, start_frame=250, loop=(200, 300))
    clock.advance(0.4)
    assert out.position_frames() == 290
    clock.advance(0.2)  # 60 frames from the start: 50 to the loop end, then 10 into the loop
    assert out.position_frames() == 210
    clock.advance(10.0)
    assert out.is_playing and 200 <= out.position_frames() < 300


def test_loop_spans_fill_device_blocks_across_the_wrap():
    samples = ramp(100, channels=1)
    span = LoopSpan.make(100, 25, (20, 30))
    block = np.full((12, 2), -1.0, np.float32)  # a stereo device block
    span.fill(samples, 0, block)
    want = [25, 26, 27, 28, 29, 20, 21, 22, 23, 24, 25, 26]
    assert np.allclose(block[:, 0], np.array(want) / 100) and np.allclose(block[:, 1], block[:, 0])
    # without a loop the span ends, the rest of the block is silence
    end = LoopSpan.make(100, 95)
    block = np.full((8, 1), -1.0, np.float32)
    end.fill(samples, 0, block)
    assert np.allclose(block[:5, 0], np.arange(95, 100) / 100) and (block[5:] == 0).all()
    assert end.finished(5) and not end.finished(4)


# ------------------------------------------------------------------ the sound card


class FakeStream:
    """Stands in for sounddevice.OutputStream: the test pulls blocks through the callback."""

    def __init__(self, owner, **kw):
        self.kw = kw
        self.owner = owner
        self.started = self.closed = False
        self.latency = 0.05
        owner.streams.append(self)

    def start(self):
        if self.owner.refuse:
            raise self.owner.PortAudioError("Device unavailable [PaErrorCode -9985]")
        self.started = True

    def abort(self):
        self.started = False

    def close(self):
        self.closed = True

    def pull(self, frames: int, dac_delay: float = 0.05):
        out = np.zeros((frames, self.kw["channels"]), np.float32)
        info = SimpleNamespace(currentTime=10.0, outputBufferDacTime=10.0 + dac_delay)
        try:
            self.kw["callback"](out, frames, info, None)
        except self.owner.CallbackStop:
            self.kw["finished_callback"]()
        return out


def fake_sounddevice(*, devices=True, refuse=False, rates=(44100, 48000)):
    class PortAudioError(Exception):
        pass

    class CallbackStop(Exception):
        pass

    sd = SimpleNamespace(PortAudioError=PortAudioError, CallbackStop=CallbackStop, streams=[],
                         refuse=refuse)  # fmt: skip

    def query_devices(device=None, kind=None):
        if not devices:
            raise PortAudioError("Error querying device -1")
        return {"name": "fake", "max_output_channels": 2, "default_samplerate": 48000.0}

    def check_output_settings(device=None, channels=None, samplerate=None, dtype=None):
        if samplerate not in rates:
            raise PortAudioError("Invalid sample rate")

    sd.query_devices = query_devices
    sd.check_output_settings = check_output_settings
    sd.OutputStream = lambda **kw: FakeStream(sd, **kw)
    return sd


def test_without_the_portaudio_library_playback_is_silent_with_a_reason(monkeypatch):
    def missing():
        raise OSError("PortAudio library not found")

    monkeypatch.setattr(ao, "_load_sounddevice", missing)
    clock = ManualClock()
    out = SoundDeviceOutput(clock=clock)
    assert not out.available and "PortAudio" in out.reason
    out.start(ramp(1000), 100)
    clock.advance(0.3)
    assert out.is_playing and out.position_frames() == 30  # the clock still runs


def test_without_an_output_device_the_default_sink_is_silent(monkeypatch):
    monkeypatch.setattr(ao, "_load_sounddevice", lambda: fake_sounddevice(devices=False))
    monkeypatch.delenv("AVS_STUDIO_AUDIO", raising=False)
    out = default_output()
    assert isinstance(out, NullOutput) and out.reason == "No audio output device"
    monkeypatch.setenv("AVS_STUDIO_AUDIO", "null")
    forced = default_output()
    assert isinstance(forced, NullOutput) and "AVS_STUDIO_AUDIO" in forced.reason


def test_a_device_that_refuses_to_open_falls_back_to_silence(monkeypatch):
    monkeypatch.setattr(ao, "_load_sounddevice", lambda: fake_sounddevice(refuse=True))
    clock = ManualClock()
    out = SoundDeviceOutput(clock=clock)
    assert out.available
    out.start(ramp(1000), 44100)
    assert not out.available and "could not be opened" in out.reason
    clock.advance(0.01)
    assert out.is_playing and out.position_frames() == 441


def test_the_device_callback_plays_the_samples_and_its_dac_time_is_the_clock(monkeypatch):
    sd = fake_sounddevice()
    monkeypatch.setattr(ao, "_load_sounddevice", lambda: sd)
    clock = ManualClock(100.0)
    out = SoundDeviceOutput(clock=clock)
    samples = ramp(44100)
    out.start(samples, 44100, start_frame=4410, loop=(4410, 8820))
    stream = sd.streams[-1]
    assert stream.started and stream.kw["samplerate"] == 44100 and stream.kw["channels"] == 2
    assert out.position_frames() == 4410  # nothing handed over yet
    block = stream.pull(1024, dac_delay=0.05)
    assert np.allclose(block[:, 0], samples[4410:5434, 0]) and np.allclose(block[:, 1], block[:, 0])
    # the block is heard 50 ms after the callback: the clock waits for it
    assert out.position_frames() == 4410
    clock.advance(0.05 + 512 / 44100)
    assert abs(out.position_frames() - (4410 + 512)) <= 1
    clock.advance(1.0)  # never beyond what the device was given
    assert out.position_frames() == 4410 + 1024
    for _ in range(4):  # 4096 more frames: through the loop end and back to its start
        stream.pull(1024)
    clock.advance(1.0)
    assert out.position_frames() == 4410 + (5 * 1024 - 4410)
    out.pause()
    assert stream.closed and not out.is_playing
    paused = out.position_frames()
    out.resume()
    assert sd.streams[-1] is not stream and out.is_playing
    assert out.position_frames() == paused


def test_a_device_without_the_clip_rate_gets_resampled_audio_and_keeps_clip_time(monkeypatch):
    sd = fake_sounddevice(rates=(48000,))
    monkeypatch.setattr(ao, "_load_sounddevice", lambda: sd)
    clock = ManualClock()
    out = SoundDeviceOutput(clock=clock)
    out.start(ramp(16000), 16000, start_frame=8000)
    stream = sd.streams[-1]
    assert stream.kw["samplerate"] == 48000
    block = stream.pull(300, dac_delay=0.0)
    assert abs(block[0, 0] - 0.5) < 1e-3 and abs(block[-1, 0] - (8000 + 100) / 16000) < 1e-3
    clock.advance(1.0)
    assert abs(out.position_frames() - 8100) <= 1  # in the clip's own 16 kHz frames
    stream.pull(48000 * 2)  # past the end (0.5 s of sound was left): the stream stops itself
    assert not out.is_playing and out.position_frames() == 16000


def test_a_device_that_swallows_buffers_at_once_does_not_make_the_clock_race(monkeypatch):
    # ALSA's null PCM takes every buffer at once and reports no useful DAC times
    sd = fake_sounddevice()
    monkeypatch.setattr(ao, "_load_sounddevice", lambda: sd)
    clock = ManualClock()
    out = SoundDeviceOutput(clock=clock)
    out.start(ramp(44100), 44100)
    sd.streams[-1].pull(44100 + 512, dac_delay=-1.0)  # all of it, then the stream ends
    clock.advance(0.25)
    assert out.is_playing and out.position_frames() == pytest.approx(0.25 * 44100, abs=1)
    clock.advance(1.0)
    assert not out.is_playing and out.position_frames() == 44100


# ------------------------------------------------------------------ decode-ahead


def test_frames_are_decoded_ahead_in_a_thread_into_a_bounded_cache():
    calls = []
    gate = threading.Event()

    def slow_source(t: float) -> np.ndarray:
        calls.append(round(t * 10))
        gate.wait(2.0)
        return np.full((4, 4, 3), round(t * 10), np.uint8)

    pf = FramePrefetcher(lambda: slow_source, fps=10, n_frames=100, ahead=4, behind=1)
    try:
        started = time.monotonic()
        assert pf.get(0) is None  # never waits for the decoder ...
        assert time.monotonic() - started < 1.0  # ... which is held for 2 s
        gate.set()
        assert int(pf.wait_for(0, 2.0)[0, 0, 0]) == 0
        assert int(pf.wait_for(53, 2.0)[0, 0, 0]) == 53
        deadline = time.monotonic() + 2.0
        while pf.get(56) is None and time.monotonic() < deadline:  # decoded ahead of the cursor
            time.sleep(0.005)
        assert pf.cached() == [53, 54, 55, 56]  # four from the cursor on, no more
        assert 10 not in calls  # frames far from the cursor are never decoded
    finally:
        pf.close()


# ------------------------------------------------------------------ the player


@pytest.fixture(scope="module")
def demo_clip(demo_root):
    from avs_studio.core.datasets import open_dataset
    from avs_studio.core.media.decode import open_media

    clip = open_dataset(demo_root("s4", 6, 0)).clips()[0]
    with open_media(clip.video_path) as media:
        audio, rate = media.audio()
        fps, duration = media.info.video.avg_fps, media.info.duration
    return SimpleNamespace(clip=clip, path=clip.video_path, audio=audio, rate=rate, fps=fps, duration=duration)


def make_player(qtbot, clip, output=None) -> Player:
    player = Player(output=output)
    player.set_media(clip.path, clip.audio, clip.rate, fps=clip.fps, duration=clip.duration)
    return player


class Recorder:
    """Collects what a player says, and the GUI thread's longest pause while it plays."""

    def __init__(self, player: Player) -> None:
        self.player = player
        self.frames: list[tuple[float, float, np.ndarray]] = []
        self.states: list[str] = []
        self.messages: list[str] = []
        self.positions: list[float] = []
        player.frameReady.connect(lambda t, rgb: self.frames.append((t, player.position(), rgb)))
        player.stateChanged.connect(self.states.append)
        player.message.connect(self.messages.append)
        player.positionChanged.connect(self.positions.append)
        self.longest_gap = 0.0
        self._last = time.monotonic()
        self._watchdog = QTimer()
        self._watchdog.setInterval(10)
        self._watchdog.timeout.connect(self._beat)

    def _beat(self) -> None:
        now = time.monotonic()
        self.longest_gap = max(self.longest_gap, now - self._last)
        self._last = now

    def watch(self) -> None:
        self._last = time.monotonic()
        self._watchdog.start()


def test_playing_a_frame_window_shows_frames_in_order_on_the_audio_clock(qtbot, demo_clip):
    from avs_studio.gui.common.timeline import TimelineWidget

    player = make_player(qtbot, demo_clip)
    timeline = TimelineWidget()  # repainting the playhead is part of the GUI's work
    qtbot.addWidget(timeline)
    timeline.resize(900, 200)
    timeline.show()
    timeline.set_audio(demo_clip.audio, demo_clip.rate)
    player.positionChanged.connect(timeline.set_playhead)
    rec = Recorder(player)
    qtbot.waitUntil(lambda: len(rec.frames) == 1, timeout=5000)  # the first frame, while stopped
    assert rec.frames[0][0] == 0.0 and rec.frames[0][2].shape == (120, 160, 3)
    rec.frames.clear()
    rec.watch()
    t0, t1 = vggish_window(1)  # the audio VGGish example 1 hears: [0.96, 1.935) s
    started = time.monotonic()
    player.play_window(t0, t1)
    assert player.state == "playing" and rec.messages == ["Sound is off (AVS_STUDIO_AUDIO=null): playback is silent"]
    qtbot.waitUntil(lambda: player.state != "playing", timeout=5000)
    elapsed = time.monotonic() - started
    assert player.state == "paused" and player.position() == pytest.approx(t1)
    assert 0.9 <= elapsed < 2.0 * overload()
    times = [t for t, _, _ in rec.frames]
    assert times == sorted(times) and len(set(times)) == len(times)
    expected = round((t1 - t0) * demo_clip.fps)
    assert len(times) >= 0.7 * expected / overload()  # a frame is dropped only when it is late
    assert t0 - 1 / demo_clip.fps <= times[0] <= t0 + 2 / demo_clip.fps
    for t, clock, _ in rec.frames[:-1]:  # each frame is shown while it is due
        assert t - 1e-6 <= clock < t + 3 / demo_clip.fps
    assert rec.longest_gap < 0.1 * overload()  # the GUI thread never waits for the decoder
    assert rec.positions[-1] == pytest.approx(t1)
    player.close()


def test_seek_shows_the_frame_there_and_playing_goes_on_from_it(qtbot, demo_clip):
    clock = ManualClock()
    player = make_player(qtbot, demo_clip, output=NullOutput(clock=clock))
    rec = Recorder(player)
    player.seek(3.0)
    qtbot.waitUntil(lambda: any(t == pytest.approx(3.0) for t, _, _ in rec.frames), timeout=5000)
    assert player.position() == 3.0 and rec.positions[-1] == 3.0
    # a seek to another frame shows another picture (the demo objects move)
    first = next(rgb for t, _, rgb in rec.frames if t == pytest.approx(3.0))
    player.seek(0.5)  # shows the frame on screen at 0.5 s: the one from 0.48 s
    qtbot.waitUntil(lambda: rec.frames[-1][0] == pytest.approx(0.48), timeout=5000)
    assert not np.array_equal(first, rec.frames[-1][2])
    player.play()
    clock.advance(0.2)
    qtbot.waitUntil(lambda: player.position() == pytest.approx(0.7, abs=1e-3), timeout=2000)
    player.seek(4.0)
    assert player.state == "playing" and player.position() == pytest.approx(4.0)
    clock.advance(0.5)
    qtbot.waitUntil(lambda: player.state == "playing" and rec.frames[-1][0] >= 4.4, timeout=5000)
    clock.advance(5.0)  # past the end of the clip
    qtbot.waitUntil(lambda: player.state == "stopped", timeout=2000)
    assert player.position() == pytest.approx(demo_clip.duration)
    assert rec.states[-2:] == ["playing", "stopped"]
    player.play()  # from the end, play starts over
    assert player.state == "playing" and player.position() < 0.05
    player.pause()
    assert player.state == "paused"
    player.close()


def test_a_looping_window_wraps_until_paused(qtbot, demo_clip):
    clock = ManualClock()
    player = make_player(qtbot, demo_clip, output=NullOutput(clock=clock))
    player.play_window(2.0, 2.5, loop=True)
    clock.advance(0.7)
    qtbot.wait(30)
    assert player.state == "playing" and player.position() == pytest.approx(2.2, abs=1e-3)
    clock.advance(10.0)
    qtbot.wait(30)
    assert player.state == "playing" and 2.0 <= player.position() < 2.5
    player.pause()
    paused_at = player.position()
    clock.advance(1.0)
    assert player.position() == paused_at
    player.play()  # resumes the loop where it was
    clock.advance(0.1)
    assert player.window == (2.0, 2.5, True) and 2.0 <= player.position() < 2.5
    player.close()


def test_stepping_between_sampled_frames(qtbot, demo_clip):
    player = make_player(qtbot, demo_clip, output=NullOutput(clock=ManualClock()))
    times = demo_clip.clip.frame_times()
    player.set_frame_times(times)
    assert player.step_sampled(1) == 0 and player.position() == pytest.approx(times[0])
    assert player.step_sampled(1) == 1 and player.position() == pytest.approx(times[1])
    assert player.step_sampled(10) == len(times) - 1
    player.seek(2.5)
    assert player.step_sampled(-1) == 1  # the sampled frame before the playhead
    player.play_frame_window(3)
    assert player.window == (*vggish_window(3), False)
    player.close()


def test_an_undecodable_video_is_reported_and_the_sound_still_plays(qtbot, demo_clip, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    player = Player(output=NullOutput(clock=ManualClock()))
    rec = Recorder(player)
    player.set_media(bad, demo_clip.audio, demo_clip.rate, fps=25.0, duration=demo_clip.duration)
    qtbot.waitUntil(lambda: any("Cannot show the video" in m for m in rec.messages), timeout=5000)
    assert "broken.mp4" in rec.messages[-1]
    player.play()
    qtbot.wait(50)
    assert player.state == "playing" and not rec.frames
    player.close()
