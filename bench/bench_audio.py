"""Speed of the audio front end against plain baselines measured in the same run.

    python bench/bench_audio.py

Prints, for each figure, our time, the baseline's time and the ratio:
* log-mel of a 10-s 16 kHz clip: vectorised pipeline vs a per-frame Python loop (the official
  reference procedure written literally);
* the 44.1 kHz stereo path (resampy kaiser_best dominates) and the one-off cost of importing
  resampy/numba and JIT-compiling its kernel (measured in fresh interpreters);
* reading an official log-mel pickle with the restricted unpickler vs ``pickle.load`` with torch.
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from avs_studio.core.audio import logmel as audio


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _loop_log_mel(x: np.ndarray) -> np.ndarray:
    """The reference procedure frame by frame (baseline only)."""
    window = audio.periodic_hann()
    w = audio.mel_weight_matrix()
    n_frames = 1 + (len(x) - 400) // 160
    rows = []
    for k in range(n_frames):
        spec = np.abs(np.fft.rfft(x[160 * k : 160 * k + 400] * window, 512))
        rows.append(np.log(spec @ w + 0.01))
    logmel = np.array(rows)
    e = 1 + (n_frames - 96) // 96
    return logmel[: 96 * e].reshape(e, 96, 64).astype(np.float32)


def _fresh(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    rng = np.random.default_rng(0)
    x16 = rng.uniform(-0.5, 0.5, 160_000)
    ours = _best(lambda: audio.log_mel_examples(x16, 16_000))
    base = _best(lambda: _loop_log_mel(x16), repeat=3)
    same = np.abs(audio.log_mel_examples(x16, 16_000) - _loop_log_mel(x16)).max()
    print(
        f"log-mel 10 s @16 kHz   ours {ours * 1e3:7.2f} ms   per-frame loop {base * 1e3:7.2f} ms"
        f"   speed-up x{base / ours:.1f}   (max |diff| {same:.1e})"
    )

    stereo = rng.uniform(-0.5, 0.5, (441_000, 2))
    t = time.perf_counter()
    audio.log_mel_examples(stereo, 44_100)
    first = time.perf_counter() - t
    warm = _best(lambda: audio.log_mel_examples(stereo, 44_100), repeat=3)
    print(
        f"log-mel 10 s @44.1 kHz stereo   first call {first * 1e3:7.1f} ms (JIT)   "
        f"warm {warm * 1e3:7.1f} ms   vs 16 kHz x{warm / ours:.0f}"
    )

    imp = _fresh("import time; t=time.perf_counter(); import resampy; print(time.perf_counter()-t)")
    jit = _fresh(
        "import numpy as np, resampy, time; t=time.perf_counter(); "
        "resampy.resample(np.zeros(4410), 44100, 16000); print(time.perf_counter()-t)"
    )
    core = _fresh(
        "import time; t=time.perf_counter(); import avs_studio.core.audio.logmel; "
        "print(time.perf_counter()-t)"
    )
    print(
        f"one-off costs (fresh interpreter): import avs_studio.core.audio.logmel {core * 1e3:.0f} ms, "
        f"import resampy {imp * 1e3:.0f} ms, first resample (numba JIT) {jit * 1e3:.0f} ms"
    )

    try:
        import torch
    except ImportError:
        print("pickle: torch not installed, baseline skipped")
        return
    t5 = torch.tensor(rng.normal(size=(5, 96, 64)), requires_grad=True)[:, None].float()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "clip.pkl"
        path.write_bytes(pickle.dumps(t5, protocol=4))
        ours = _best(lambda: audio.load_logmel_pickle(path), repeat=50)
        base = _best(lambda: pickle.load(io.BytesIO(path.read_bytes())).detach(), repeat=50)
    print(
        f"log-mel .pkl read   ours {ours * 1e6:7.0f} us   pickle.load+torch {base * 1e6:7.0f} us"
        f"   ratio x{ours / base:.2f}"
    )


if __name__ == "__main__":
    main()
