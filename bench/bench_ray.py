"""``propose`` on Ray against the local executor, on this machine's CPU.

Demo clips (S4, 320 x 240 H.264 + AAC, generated once into ``--data``) are proposed into the
official ``pred_masks/`` layout by each configuration, each in a fresh subprocess (the way a
user runs the command):

* ``local``: the default executor (decoding worker processes, the model in this process);
* ``ray``: ``RayExecutor`` on a local runtime started for the run (the driver writes);
* ``ray-cluster``: the same, CPU tasks on the cluster write (``--ray-writes workers``);
* ``ray-block1``: the driver writes, one clip per preparation task (Ray's per-task overhead).

The model: ``demo`` (the shipped S4 demo model: the model dominates on a CPU) or ``light``
(the demo architecture four channels wide: decoding, writing and the executor's own overhead
dominate, which is where Ray's per-clip cost shows).

Printed per configuration: clips/s (the run's own wall time, and with Ray's start and stop),
Ray's start-up and shut-down, the per-clip overhead against ``local``, the time split (the
model's time against the time it waited for prepared clips: the local model process's
``wait``; the Ray actors' ``idle``), the driver's peak resident memory (``VmHWM``, and the
peaks of its private memory and of the object-store pages it mapped: run two ``--clips``
counts to see that it does not grow with the clips) and whether the outputs are the bytes
of the local run.

    python bench/bench_ray.py                          # 200 clips, the demo model
    python bench/bench_ray.py --clips 40 --model light --threads 1 --configs local ray ray-block1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIGHT = {"stem": 4, "widths": [4, 4, 4, 4], "channels": 4, "head": 4, "audio_widths": [4, 4, 4, 4]}
CONFIGS = ("local", "ray", "ray-cluster", "ray-block1")


def _vm(field: str) -> float:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", text).group(1)) / 1024


class _Peaks:
    """The largest private (``RssAnon``) and shared (``RssShmem``: Ray's object store pages the
    driver touched) resident memory of this process, polled."""

    def __init__(self, every: float = 0.1) -> None:
        import threading

        self.anon = self.shmem = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, args=(every,), daemon=True)
        self._thread.start()

    def _poll(self, every: float) -> None:
        while not self._stop.wait(every):
            self.anon, self.shmem = max(self.anon, _vm("RssAnon")), max(self.shmem, _vm("RssShmem"))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def child(config: str, data: str, out: str, model: str, threads: int | None) -> None:
    """One configuration in this process; prints one JSON line."""
    t_start = time.perf_counter()
    from avs_studio.model.engine import Engine
    from avs_studio.model.model_files import load_system
    from avs_studio.model.propose.run import propose

    if model == "demo":
        system = load_system(None, setting="s4")
    else:
        import torch

        from avs_studio.model.demo_model import build_demo_system

        torch.manual_seed(0)
        system = build_demo_system("s4", LIGHT)
    executor = None
    if config == "local":
        engine = Engine(system, device="cpu", fold_batchnorm=True, threads=threads)
    else:
        from avs_studio.model.propose.ray_executor import RayExecutor

        # As the command builds them: the driver's engine only names the model.
        engine = Engine(system, device="cpu", fold_batchnorm=False, threads=threads)
        executor = RayExecutor(write_on="workers" if config == "ray-cluster" else "driver", fold_batchnorm=True,
                               threads=threads, clips_per_block=1 if config == "ray-block1" else None)  # fmt: skip
    rss_before = _vm("VmRSS")
    peaks = _Peaks()
    t0 = time.perf_counter()
    report = propose(data, engine, out, executor=executor)
    wall = time.perf_counter() - t0
    peaks.stop()
    print(json.dumps({
        "config": config, "clips": len(report.done), "failed": len(report.failures), "wall_s": wall,
        "import_s": t0 - t_start, "timings": report.timings, "prefetch": report.prefetch,
        "driver_hwm_mib": _vm("VmHWM"), "driver_rss_before_run_mib": rss_before, "notes": report.notes,
        "driver_anon_peak_mib": peaks.anon, "driver_shmem_peak_mib": peaks.shmem,
    }))  # fmt: skip


def _digest(out: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(out.rglob("*.png")):
        h.update(p.relative_to(out).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _run(config: str, data: Path, out: Path, model: str, threads: int | None) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    argv = [sys.executable, __file__, "--child", config, "--data", str(data), "--out", str(out), "--model", model]
    if threads:
        argv += ["--threads", str(threads)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{config} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    res = json.loads(lines[-1])
    res["digest"] = _digest(out)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--model", choices=["demo", "light"], default="demo")
    ap.add_argument("--configs", nargs="+", choices=CONFIGS, default=["local", "ray", "ray-cluster"])
    ap.add_argument("--data", help="folder for the demo clips (kept between runs)")
    ap.add_argument("--threads", type=int, help="torch CPU threads of the model (default: torch's, as the command)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.data, args.out, args.model, args.threads)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    data_dir = Path(args.data) if args.data else work / "data"
    root = data_dir / f"s4-{args.clips}" / "Single-source"
    if not root.is_dir():
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "avs_studio.cli.parser", "-q", "demo-data", str(root.parent),
                        "--setting", "s4", "--clips", str(args.clips), "--seed", "3", "--size", "320x240"],
                       check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
        print(f"generated {args.clips} demo clips in {time.perf_counter() - t:.0f} s")
    print(f"{args.clips} S4 demo clips, model {args.model}, {args.threads or 'default'} torch thread(s), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")  # fmt: skip
    results = {}
    for config in args.configs:
        res = _run(config, root, work / f"out-{config}", args.model, args.threads)
        results[config] = res
        _print(res, results.get("local"))
    print(f"load average {os.getloadavg()[0]:.1f} at the end; outputs under {work}")


def _print(res: dict, local: dict | None) -> None:
    t, n = res["timings"], max(1, res["clips"])
    start, stop = t.get("ray_start_s", 0.0), t.get("ray_stop_s", 0.0)
    run = res["wall_s"] - start - stop
    line = (f"{res['config']:>10}: {n} clips ({res['failed']} failed), {n / run:.2f} clips/s in the run "
            f"({run:.1f} s), {n / res['wall_s']:.2f} clips/s with Ray's start and stop")  # fmt: skip
    print(line)
    if "idle_s" in t:
        print(f"            Ray start {start:.1f} s, stop {stop:.1f} s, first result {t.get('first_result_s', 0):.1f} s after the "
              f"run began (actors starting, the model loading); actors: model {t['model_s'] + t['audio_encoder_s']:.1f} s, "
              f"waiting for prepared clips {t['idle_s']:.1f} s; preparation {t['frames_s'] + t['log_mel_s']:.1f} s "
              f"(CPU tasks); writing {t.get('write_s', 0):.1f} s; driver waiting for results {t['wait_s']:.1f} s")  # fmt: skip
    else:
        print(f"            model {t['model_s'] + t['audio_encoder_s']:.1f} s, waiting for decoded clips "
              f"{t['wait_s']:.1f} s; decoding {t['frames_s'] + t['log_mel_s']:.1f} s (workers); writing "
              f"{t.get('write_s', 0):.1f} s")  # fmt: skip
    print(f"            driver peak RSS {res['driver_hwm_mib']:.0f} MiB (before the run {res['driver_rss_before_run_mib']:.0f} MiB; "
          f"peaks: private {res['driver_anon_peak_mib']:.0f} MiB, object-store pages {res['driver_shmem_peak_mib']:.0f} MiB); "
          f"outputs {res['digest']}")  # fmt: skip
    if local is not None and res is not local:
        local_run = local["wall_s"]
        over = (run - local_run) / n * 1000
        same = "the same bytes as local" if res["digest"] == local["digest"] else "OUTPUTS DIFFER from local"
        print(f"            vs local: {local_run / run:.2f}x the clips/s in the run, {over:+.0f} ms per clip; "
              f"start-up + shut-down {start + stop:.1f} s; {same}")  # fmt: skip


if __name__ == "__main__":
    main()
