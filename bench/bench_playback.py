"""Playback and timeline speed: spectrogram, waveform views, video on the audio clock.

    python bench/bench_playback.py [--minutes 10] [--video-seconds 8]

Prints figures and ratios against baselines measured in the same run:

* display spectrogram of a long 44.1 kHz recording, analysed at its own rate, against
  resampling it to 16 kHz with resampy first (what the model's front end does);
* one waveform view (min/max per pixel column) from the peak pyramid, against min/max over
  the raw samples of each column;
* playback of a 1280x720 25 fps video with decode-ahead (the player), against decoding each
  frame on the GUI thread when it is due: the GUI thread's longest stall, frames shown and
  dropped, and how late frames are relative to the audio clock.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("AVS_STUDIO_AUDIO", "null")


def timed(fn, *args, repeat: int = 1, **kw):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args, **kw)
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_spectrogram(minutes: float) -> None:
    from avs_studio.core.audio.logmel import to_16k_mono
    from avs_studio.core.media.playback import display_log_mel

    rate = 44100
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(int(minutes * 60 * rate)) * 0.1).astype(np.float32)
    t_native, frames = timed(display_log_mel, x, rate)

    def resample_first():
        return display_log_mel(to_16k_mono(x, rate), 16000)

    to_16k_mono(x[:rate], rate)  # resampy's JIT compile is not part of the figure
    t_base, ref = timed(resample_first)
    print(f"spectrogram of {minutes:g} min at 44.1 kHz: {t_native:.2f} s at the native rate, "
          f"{t_base:.2f} s resampling to 16 kHz first -> {t_base / t_native:.1f}x faster "
          f"({frames.shape[0]} vs {ref.shape[0]} columns of 10 ms)")  # fmt: skip


def bench_waveform(minutes: float) -> None:
    from avs_studio.core.media.playback import WaveformPeaks

    rate = 44100
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.standard_normal(int(minutes * 60 * rate))).astype(np.float32)
    x /= np.abs(x).max()
    t_build, peaks = timed(WaveformPeaks.build, x, rate)
    print(f"waveform pyramid of {minutes:g} min: built once in {t_build:.2f} s, "
          f"{sum(lv[0].nbytes * 3 for lv in peaks.levels) / 2**20:.1f} MiB")
    for label, t0, span in (("whole recording", 0.0, minutes * 60), ("5-s zoom", min(100.0, minutes * 30), 5.0)):
        cols = 1600

        def brute(t0=t0, span=span, cols=cols):
            edges = np.round((t0 + np.arange(cols + 1) * span / cols) * rate).astype(np.int64)
            return [(x[a:b].min(), x[a:b].max()) for a, b in zip(edges[:-1], edges[1:]) if b > a]

        t_view, _ = timed(peaks.columns, t0, span / cols, cols, repeat=5)
        t_brute, _ = timed(brute, repeat=2)
        print(f"  view of the {label} ({cols} columns): {t_view * 1000:.2f} ms from the pyramid, "
              f"{t_brute * 1000:.1f} ms over raw samples -> {t_brute / t_view:.0f}x")  # fmt: skip


SIZE = (1280, 720)


def make_video(path: Path, seconds: float) -> Path:
    from avs_studio.core.demo.dataset import FPS, build_scene, plan_clips
    from avs_studio.core.media.writer import write_video

    plan = plan_clips("avss", 1, 3)[0]
    scene = build_scene(plan, 3, size=SIZE)
    n = int(seconds * FPS)
    frames = (scene.render((i % int(10 * FPS)) / FPS) for i in range(n))
    audio = scene.audio(44100)
    audio = np.concatenate([audio] * int(np.ceil(seconds / 10)))[: int(seconds * 44100)]
    return write_video(path, frames, FPS, audio=audio, sample_rate=44100)


def bench_playback(seconds: float) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from avs_studio.core.media.decode import open_media
    from avs_studio.core.media.playback import frame_index_at
    from avs_studio.gui.common.audio_output import NullOutput
    from avs_studio.gui.common.player import Player
    from avs_studio.gui.common.timeline import TimelineWidget

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        path = make_video(Path(tmp) / "bench.mp4", seconds)
        print(f"playback of a {seconds:g}-s {SIZE[0]}x{SIZE[1]} 25 fps video (encoded in {time.perf_counter() - t:.1f} s):")
        with open_media(path) as m:
            audio, rate = m.audio()
            fps, duration = m.info.video.avg_fps, m.info.duration

        timeline = TimelineWidget()
        timeline.resize(1200, 200)
        timeline.show()
        timeline.set_audio(audio, rate)

        def run(start_playing, shown_frames) -> dict:
            gaps = {"max": 0.0, "last": time.monotonic()}

            def beat():
                now = time.monotonic()
                gaps["max"] = max(gaps["max"], now - gaps["last"])
                gaps["last"] = now

            watchdog = QTimer()
            watchdog.setInterval(5)
            watchdog.timeout.connect(beat)
            watchdog.start()
            playing = start_playing()
            while playing():
                app.processEvents()
                time.sleep(0.001)
            watchdog.stop()
            lags = [clock - ft for ft, clock in shown_frames]
            return {"stall": gaps["max"], "shown": len(shown_frames), "lag": np.mean(lags) if lags else 0.0,
                    "lag_max": max(lags) if lags else 0.0}  # fmt: skip

        # the player: decode-ahead thread, video on the audio clock
        player = Player(output=NullOutput())
        shown: list[tuple[float, float]] = []
        player.frameReady.connect(lambda ft, rgb: shown.append((ft, player.position())))
        player.positionChanged.connect(timeline.set_playhead)
        player.set_media(path, audio, rate, fps=fps, duration=duration)
        time.sleep(0.3)
        shown.clear()

        def start_player():
            player.play()
            return lambda: player.state == "playing"

        ours = run(start_player, shown)
        ours["dropped"] = player.frames_dropped
        player.close()

        # baseline: decode on the GUI thread each time a new frame is due
        media = open_media(path)
        base_shown: list[tuple[float, float]] = []
        clock = NullOutput()
        state = {"k": -1, "dropped": 0}

        def tick():
            pos = clock.position_frames() / rate
            k = frame_index_at(pos, fps, int(duration * fps))
            if k != state["k"]:
                if state["k"] >= 0 and k > state["k"] + 1:
                    state["dropped"] += k - state["k"] - 1
                media.frame_at(k / fps)
                state["k"] = k
                base_shown.append((k / fps, clock.position_frames() / rate))
            timeline.set_playhead(pos)

        timer = QTimer()
        timer.setInterval(8)
        timer.timeout.connect(tick)

        def start_baseline():
            clock.start(audio, rate)
            timer.start()
            return lambda: clock.is_playing

        base = run(start_baseline, base_shown)
        timer.stop()
        media.close()
        base["dropped"] = state["dropped"]
        for name, r in (("player (decode-ahead)", ours), ("decode on the GUI thread", base)):
            print(f"  {name:26s} longest GUI stall {r['stall'] * 1000:6.1f} ms, frames shown {r['shown']:4d}, "
                  f"dropped {r['dropped']:3d}, frame lag behind the clock mean {r['lag'] * 1000:5.1f} ms "
                  f"(max {r['lag_max'] * 1000:5.1f} ms)")  # fmt: skip
        print(f"  -> longest stall {base['stall'] / max(ours['stall'], 1e-9):.1f}x shorter with decode-ahead")
        timeline.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the long recording")
    parser.add_argument("--video-seconds", type=float, default=5.0, help="length of the playback test video")
    args = parser.parse_args()
    bench_spectrogram(args.minutes)
    bench_waveform(args.minutes)
    bench_playback(args.video_seconds)


if __name__ == "__main__":
    main()
