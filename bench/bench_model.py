"""CPU speed and memory of the TPAVI models: official order vs the fast engine path.

For each variant and batch size, two configurations run in fresh subprocesses:

* ``literal``: the official evaluation order (quadratic TPAVI, explicit attention, every
  frame through the network), eager float32, NCHW, under ``torch.no_grad()`` as the official
  test.py runs it;
* ``fast``: cheap TPAVI, skipped zero-padding taps and padded frames, fused attention,
  channels-last convolutions, under ``torch.inference_mode()``.

Printed per configuration: frames/s (best of the timed repeats, and the median), CPU
seconds per frame (process time, all threads; steadier than wall time on a shared machine),
the resident memory of the built model and the peak resident memory during the forwards
(``VmHWM`` of the worker process, reset after the build); then the speed and memory ratios
and the max |difference| between the two configurations' logits.

AVSS batches alternate a 10-frame clip and a 5-frame clip padded to 10 (as the official loader
pads AVSBench-object clips), starting with the 10-frame one.

    python bench/bench_model.py                      # all six variants, 1 and 4 clips
    python bench/bench_model.py --quick s4_resnet50 ms3_pvt avss_pvt
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _vm(field: str) -> int:
    """A /proc/self/status memory field in MiB."""
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", text).group(1)) // 1024


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError):  # Linux >= 4.0: "5" resets VmHWM to the current RSS
        Path("/proc/self/clear_refs").write_text("5")


def _weights(model, name: str) -> None:
    """Load the reference recipe weights when the shared folder is there (so the TPAVI
    attention path is alive: the official init zeroes W_z's BatchNorm); else randomise."""
    import torch

    shared = Path(os.environ.get("AVS_SHARED", ROOT.parent / "shared"))
    listing = shared / "spec" / "keys" / f"{name}.txt"
    if listing.is_file():
        sys.path.insert(0, str(shared / "tools"))
        from reference_weights import make_state_dict

        model.load_state_dict(make_state_dict(listing, seed=7), strict=True)
        return
    torch.manual_seed(7)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                mod.weight.normal_(1.0, 0.1)


def _inputs(name: str, clips: int):
    import torch

    g = torch.Generator().manual_seed(1234)
    if name.startswith("avss"):
        flags = torch.ones(clips, 10)
        flags[1::2, 5:] = 0  # every second clip is a padded 5-frame clip
        flags = flags.flatten()
    else:
        flags = torch.ones(clips * 5)
    n = flags.numel()
    frames = torch.randn(n, 3, 224, 224, generator=g) * flags.view(-1, 1, 1, 1)
    audio = torch.rand(n, 128, generator=g) * flags.view(-1, 1)
    return frames, audio, (flags if name.startswith("avss") else None)


def worker(name: str, config: str, clips: int, repeats: int, out: str) -> None:
    """Run one configuration in this (fresh) process and write its figures as JSON."""
    import numpy as np
    import torch

    import avs_studio.model as avs_model

    t0 = time.perf_counter()
    model = avs_model.build(name, tpavi_mode="literal" if config == "literal" else "fast")
    _weights(model, name)
    frames, audio, flags = _inputs(name, clips)
    if config == "fast":
        model.to_channels_last()
        frames = frames.contiguous(memory_format=torch.channels_last)
    build_s = time.perf_counter() - t0
    args = (frames, audio) if flags is None else (frames, audio, flags)
    context = torch.no_grad if config == "literal" else torch.inference_mode
    model_rss = _vm("VmRSS")
    _reset_peak_rss()
    times, cpu_times = [], []
    with context():
        pred = model(*args)[0]  # warm-up (oneDNN primitive caches, allocator)
        del pred
        for i in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            pred = model(*args)[0]
            times.append(time.perf_counter() - t)
            cpu_times.append(time.process_time() - c)
            if i != repeats - 1:
                del pred
    peak = _vm("VmHWM")
    np.save(out + ".npy", pred.numpy())
    Path(out + ".json").write_text(json.dumps({
        "frames": int(frames.shape[0]), "times": times, "cpu_times": cpu_times,
        "build_s": build_s,
        "model_rss_mib": model_rss, "peak_rss_mib": peak,
        "threads": torch.get_num_threads()}))


def run_config(name: str, config: str, clips: int, repeats: int, tmp: str) -> dict:
    out = os.path.join(tmp, f"{name}_{config}_{clips}")
    cmd = [sys.executable, __file__, "--worker", name, config, str(clips), str(repeats), out]
    subprocess.run(cmd, check=True, cwd=ROOT)
    res = json.loads(Path(out + ".json").read_text())
    res["pred"] = out + ".npy"
    return res


def main(argv: list[str] | None = None) -> int:
    import avs_studio.model as avs_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variants", nargs="*", help=f"subset of {', '.join(avs_model.VARIANTS)}")
    ap.add_argument("--quick", action="store_true",
                    help="batches of 1 and 2 clips, 2 timed repeats")
    ap.add_argument("--clips", type=int, nargs="+", help="batch sizes in clips")
    ap.add_argument("--repeats", type=int, help="timed forwards per configuration")
    ap.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        name, config, clips, repeats, out = a.worker
        worker(name, config, int(clips), int(repeats), out)
        return 0
    import numpy as np

    variants = a.variants or list(avs_model.VARIANTS)
    for v in variants:
        avs_model.setting_of(v)  # validates the name
    clip_sizes = a.clips or ([1, 2] if a.quick else [1, 4])
    repeats = a.repeats or (2 if a.quick else 3)
    print(f"CPU, {os.cpu_count()} cores visible; best / median of {repeats} timed forwards "
          f"after one warm-up; memory = resident MiB of the worker process")
    header = (f"{'variant':<14}{'clips':>6}{'frames':>7}  {'config':<8}{'fr/s best':>10}"
              f"{'fr/s med':>9}{'cpu-s/fr':>9}{'model MiB':>10}{'peak MiB':>9}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="avs_bench_") as tmp:
        for name in variants:
            for clips in clip_sizes:
                res = {c: run_config(name, c, clips, repeats, tmp) for c in ("literal", "fast")}
                for c, r in res.items():
                    fps_best = r["frames"] / min(r["times"])
                    fps_med = r["frames"] / statistics.median(r["times"])
                    cpu = min(r["cpu_times"]) / r["frames"]
                    print(f"{name:<14}{clips:>6}{r['frames']:>7}  {c:<8}{fps_best:>10.2f}"
                          f"{fps_med:>9.2f}{cpu:>9.2f}{r['model_rss_mib']:>10}"
                          f"{r['peak_rss_mib']:>9}")
                lit, fast = res["literal"], res["fast"]
                diff = float(np.abs(np.load(lit["pred"]) - np.load(fast["pred"])).max())
                speed = min(lit["times"]) / min(fast["times"])
                cpu_speed = min(lit["cpu_times"]) / min(fast["cpu_times"])
                mem = lit["peak_rss_mib"] / fast["peak_rss_mib"]
                print(f"{'':<14}{'':>6}{'':>7}  => fast/literal: {speed:.2f}x wall, "
                      f"{cpu_speed:.2f}x CPU time, {mem:.2f}x less peak memory; "
                      f"max |logit diff| {diff:.2e}")
                for r in res.values():
                    os.remove(r["pred"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
