"""Decoding throughput of ``propose``'s worker pool: thread settings of the workers.

``propose`` decodes clips (5 frames + the official 16-kHz audio + log-mel) in worker
processes while the model runs; on a GPU the model is fast and the pool must keep up. Each
worker now keeps to a share of the cores (``avs_studio.core.threads.configure_worker``: one
NumPy BLAS thread, ``cores // workers`` FFmpeg decoder threads). The baseline, measured in
the same run on the same clips, is the previous setting: BLAS and FFmpeg threads left at
their defaults (one per core each; idle OpenBLAS threads spin after each call).

Clips: S4 demo videos (320 x 240 H.264 + AAC, 5 s) generated here, given as a list file,
as ``avs-studio propose LIST`` reads them. Printed per configuration and worker count:
clips/s (wall, the pool fully fed, as the engine consumes it) and CPU seconds per clip
(the workers' own, steadier than wall time on a shared machine), then the ratios.

    python bench/bench_prepare.py                     # 48 clips, 1 and 2 workers, 3 rounds
    python bench/bench_prepare.py --clips 96 --workers 1 2 4 8 --rounds 5
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avs_studio.core.threads import set_decoder_threads, usable_cpus  # noqa: E402
from avs_studio.model.prefetch import Prepared, iter_prepared  # noqa: E402
from avs_studio.model.propose.run import discover, prepare_task  # noqa: E402

_DEFAULTS_SET = False


def prepare_with_default_threads(task) -> Prepared:
    """The baseline: undo the worker's thread caps once, then prepare as before."""
    global _DEFAULTS_SET
    if not _DEFAULTS_SET:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=usable_cpus(), user_api="blas")
        set_decoder_threads(0)
        _DEFAULTS_SET = True
    return prepare_task(task)


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(tasks, workers: int, baseline: bool) -> tuple[float, float]:
    """Clips/s and worker CPU seconds per clip for one pass over ``tasks``."""
    prepare = prepare_with_default_threads if baseline else prepare_task
    cpu0 = _children_cpu_s()
    t0 = time.perf_counter()
    n = 0
    for p in iter_prepared(tasks, workers=workers, prepare=prepare):
        if p.error is not None:
            raise SystemExit(f"{p.item}: {p.error}")
        n += 1
    wall = time.perf_counter() - t0
    return n / wall, (_children_cpu_s() - cpu0) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        subprocess.run([sys.executable, "-m", "avs_studio.cli.parser", "-q", "demo-data", str(root), "--setting", "s4",
                        "--clips", str(args.clips), "--seed", "301"], check=True, cwd=ROOT)  # fmt: skip
        videos = sorted(root.rglob("raw_videos/**/*.mp4"))
        listing = Path(tmp) / "list.txt"
        listing.write_text("".join(f"{v}\n" for v in videos))
        tasks = discover(listing, setting="s4").tasks
        print(f"{len(tasks)} clips (S4 demo, 320x240 H.264 + AAC, 5 s), {usable_cpus()} CPUs, "
              f"best of {args.rounds} rounds (median CPU)")  # fmt: skip
        for workers in args.workers:
            got = {}
            for baseline in (True, False):
                rates, cpus = [], []
                for _ in range(args.rounds):
                    rate, cpu = run(tasks, workers, baseline)
                    rates.append(rate)
                    cpus.append(cpu)
                got[baseline] = (max(rates), statistics.median(cpus))
            (b_rate, b_cpu), (n_rate, n_cpu) = got[True], got[False]
            print(f"workers {workers}: default threads {b_rate:6.1f} clips/s {b_cpu * 1000:6.1f} ms CPU/clip | "
                  f"capped {n_rate:6.1f} clips/s {n_cpu * 1000:6.1f} ms CPU/clip | "
                  f"{n_rate / b_rate:.2f}x clips/s, {b_cpu / n_cpu:.2f}x less CPU")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
