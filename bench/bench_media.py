"""Getting a clip's official frames and 16-kHz audio, against decoding every frame.

    python bench/bench_media.py [--repeats N]

Generates a 5-s 1280x720 H.264 + AAC (44.1 kHz stereo) clip, then measures in a fresh
interpreter per variant:

* ours:  ``open_media`` -> ``sampled_frames()`` (the 5 official frames) + ``audio_16k_mono()``;
* naive: decode every frame to an RGB array and keep them all (what the official script
  does), pick the 5, then the same audio path.

For each: the first run after imports (the resampy/numba JIT is paid before), the median
of the repeats, peak Python/numpy allocation (tracemalloc, one run; FFmpeg allocates the
decoded pictures itself, so tracemalloc does not see them) and the process peak RSS
(``VmHWM`` from /proc) above the RSS after imports. Prints the figures and naive/ours
ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def make_clip(path: Path, seconds: float = 5.0, fps: int = 25, size=(1280, 720)) -> Path:
    """A moving pattern with some texture (so the encoder does real work) and a chord."""
    from avs_studio.core.media.writer import write_video

    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 24, size=(h, w, 1), dtype=np.uint8)

    def frames():
        for i in range(int(seconds * fps)):
            t = i / fps
            r = 127 + 100 * np.sin(xx / 60 + 3 * t)
            g = 127 + 100 * np.sin(yy / 45 - 2 * t)
            b = 127 + 100 * np.sin((xx + yy) / 80 + t)
            img = np.stack([r, g, b], axis=-1).astype(np.uint8)
            yield img + texture

    sr = 44100
    n = int(seconds * sr)
    tt = np.arange(n) / sr
    left = 0.3 * np.sin(2 * np.pi * 440 * tt) + 0.1 * np.sin(2 * np.pi * 1320 * tt)
    right = 0.3 * np.sin(2 * np.pi * 660 * tt)
    audio = np.stack([left, right], axis=1).astype(np.float32)
    return write_video(path, frames(), fps, audio=audio, sample_rate=sr, threads=0)


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def run_ours(clip: Path) -> tuple[list[np.ndarray], np.ndarray, int]:
    from avs_studio.core.media.decode import open_media

    with open_media(clip) as m:
        frames, _ = m.sampled_frames(seconds=5)
        mono, _ = m.audio_16k_mono()
        return frames, mono, m.decoded_frames


def run_naive(clip: Path) -> tuple[list[np.ndarray], np.ndarray, int]:
    import av

    from avs_studio.core.audio.logmel import resample
    from avs_studio.core.media.official import official_output_indices

    with av.open(str(clip)) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        every = [f.to_ndarray(format="rgb24", interpolation="BICUBIC") for f in c.decode(vs)]
        fi = round(float(vs.average_rate))
    picked = [every[k] for k in official_output_indices(fi, 5, len(every))]
    with av.open(str(clip)) as c:
        a = c.streams.audio[0]
        chunks = [f.to_ndarray() for f in c.decode(a)]
        rate = a.codec_context.sample_rate
    pcm = np.concatenate(chunks, axis=1)  # planar float [channels, S]
    mono = resample(pcm.astype(np.float64).mean(axis=0), rate, 16000).astype(np.float32)
    return picked, mono, len(every)


def child(variant: str, clip: Path, repeats: int) -> None:
    """One variant in this (fresh) process; prints a JSON line."""
    fn = {"ours": run_ours, "naive": run_naive}[variant]
    import av  # noqa: F401 - imports are not part of the measurement

    from avs_studio.core.audio import logmel as audio
    from avs_studio.core.media import decode as media  # noqa: F401

    # resampy/numba JIT (about 1 s and 130 MB, once per process) is common to both
    # variants and measured by bench_audio.py: pay it before measuring.
    audio.resample(np.zeros(44100), 44100, 16000)
    rss_base = _rss_kib("VmRSS")
    t = time.perf_counter()
    fn(clip)
    cold = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        frames, mono, decoded = fn(clip)
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    frames, mono, decoded = fn(clip)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    checksum = int(sum(int(f[::97, ::89].sum()) for f in frames))
    print(
        json.dumps(
            {
                "variant": variant,
                "cold_s": cold,
                "median_s": statistics.median(times),
                "min_s": min(times),
                "tracemalloc_peak_mib": peak / 2**20,
                "vmhwm_mib": _rss_kib("VmHWM") / 1024,
                "rss_after_imports_mib": rss_base / 1024,
                "decoded_frames": decoded,
                "audio_samples": int(mono.shape[0]),
                "checksum": checksum,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--child", choices=["ours", "naive"])
    ap.add_argument("--clip", type=Path)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.clip, args.repeats)
        return

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        clip = make_clip(Path(tmp) / "clip 720p.mp4")
        print(
            f"clip: 5 s 1280x720 H.264 + AAC 44.1 kHz stereo, {clip.stat().st_size / 1e6:.2f} MB, "
            f"written in {time.perf_counter() - t:.2f} s"
        )
        res = {}
        for variant in ("ours", "naive"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    variant,
                    "--clip",
                    str(clip),
                    "--repeats",
                    str(args.repeats),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            res[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    o, n = res["ours"], res["naive"]
    if o["checksum"] != n["checksum"] or o["audio_samples"] != n["audio_samples"]:
        print("WARNING: the two variants returned different frames or audio lengths")
    print(f"{'':34s}{'ours':>12s}{'naive':>12s}{'naive/ours':>12s}")
    rows = [
        ("time, median of repeats (s)", "median_s", "{:.3f}"),
        ("time, first call (s)", "cold_s", "{:.3f}"),
        ("tracemalloc peak (MiB)", "tracemalloc_peak_mib", "{:.1f}"),
        ("process peak RSS, VmHWM (MiB)", "vmhwm_mib", "{:.1f}"),
    ]
    for label, key, fmt in rows:
        ratio = n[key] / o[key]
        print(f"{label:34s}{fmt.format(o[key]):>12s}{fmt.format(n[key]):>12s}{ratio:>11.2f}x")
    d_o = o["vmhwm_mib"] - o["rss_after_imports_mib"]
    d_n = n["vmhwm_mib"] - n["rss_after_imports_mib"]
    label = "peak RSS above imports (MiB)"
    print(f"{label:34s}{d_o:>12.1f}{d_n:>12.1f}{d_n / max(d_o, 1e-9):>11.2f}x")
    print(f"{'video frames decoded':34s}{o['decoded_frames']:>12d}{n['decoded_frames']:>12d}")
    same = o["checksum"] == n["checksum"] and o["audio_samples"] == n["audio_samples"]
    print(f"same frames and audio length: {same}")


if __name__ == "__main__":
    main()
