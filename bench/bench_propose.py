"""End-to-end speed of ``propose``: the engine against a literal baseline, per variant.

Demo clips (S4, 320 x 240 H.264 + AAC, generated here; AVSS variants get an AVSS set) are
proposed into the official ``pred_masks/`` layout by two configurations, each in a fresh
subprocess:

* ``literal``: what the official test loop does, one clip at a time: decode the clip, compute
  its log-mel, VGGish, then the model in the official evaluation order
  (``set_tpavi_mode("literal")``: quadratic TPAVI, explicit attention, every frame through the
  network), eager float32, NCHW weights, under ``torch.no_grad()``; then write the masks;
* ``engine``: ``avs_studio.model.propose.run.propose`` with the engine the command builds:
  decoding worker processes overlapping the model, the fast TPAVI, channels-last weights,
  the ResNet's BatchNorms folded into its convolutions, ``torch.inference_mode()``, batches
  of ``--batches`` clips (the best is compared).

Printed per configuration: clips/s (wall), CPU seconds per clip (this process and its
workers: steadier than wall time when the machine is shared), the time split between
decoding frames, log-mel (audio decoding included), the audio encoder, the AVS model and
writing (decoding and log-mel run in the workers for the engine: their sum can exceed the
wall time; ``wait`` is the time the model waited for decoded clips), the peak resident
memory of the main process (``VmHWM``, reset after the model is built) and of the largest
decoding worker; then the ratios and the max |logit difference| between the two.

Weights are random (the shared reference recipe when ``../shared`` is there, as in
``bench_model.py``): speed does not depend on them.

    python bench/bench_propose.py --quick                 # s4_resnet50 and ms3_pvt, 4 clips
    python bench/bench_propose.py s4_resnet50 --clips 12 --batches 1 2 4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_model import _reset_peak_rss, _vm, _weights  # noqa: E402 - bench helpers by path


def _cpu_s() -> float:
    """CPU seconds of this process and of its reaped children (decoding workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class ChildPeak:
    """Largest ``VmHWM`` of this process's child processes (the decoding workers), polled.

    (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` would count the parent's pages a child shares
    between ``fork`` and ``exec``.)
    """

    def __init__(self, every: float = 0.1) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, args=(every,), daemon=True)

    def __enter__(self) -> ChildPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mib(self) -> int:
        return self.peak_kib // 1024

    def _poll(self, every: float) -> None:
        me = str(os.getpid())
        while not self._stop.wait(every):
            for d in Path("/proc").iterdir():
                if not d.name.isdigit():
                    continue
                with contextlib.suppress(OSError, IndexError, ValueError):
                    if (d / "stat").read_text().rsplit(")", 1)[1].split()[1] != me:
                        continue
                    if b"multiprocessing" not in (d / "cmdline").read_bytes():
                        continue  # between fork and exec a child still counts the parent's pages
                    m = re.search(r"VmHWM:\s+(\d+)", (d / "status").read_text())
                    if m:
                        self.peak_kib = max(self.peak_kib, int(m.group(1)))


def build_system(variant: str):
    """``demo`` (the shipped demo model of S4) or an official variant with random weights."""
    import torch

    from avs_studio.core.setting import Setting
    from avs_studio.model import build, build_vggish, setting_of
    from avs_studio.model.model_files import load_system
    from avs_studio.model.system import AVSSystem, SystemInfo

    if variant.startswith("demo"):
        from avs_studio.model.demo_model import build_demo_system
        from avs_studio.model.model_files import demo_model_path

        setting = variant.split("_", 1)[1] if "_" in variant else "s4"
        if demo_model_path(setting).is_file():
            return load_system(None, setting=setting)
        torch.manual_seed(11)  # not shipped yet: the same architecture, random weights
        return build_demo_system(Setting.parse(setting), {}).eval()
    avs = build(variant)
    _weights(avs, variant)
    torch.manual_seed(11)
    info = SystemInfo(Setting.parse(setting_of(variant)), "official", variant)
    return AVSSystem(build_vggish(), avs, info).eval()


def run_literal(variant: str, data: str, out: str, device: str) -> dict:
    """The official test loop, clip after clip (see the module docstring)."""
    import numpy as np
    import torch

    from avs_studio.core.datasets import open_dataset
    from avs_studio.core.masks.files import write_colour_mask, write_prediction_mask
    from avs_studio.model.inputs import prepare_clip

    system = build_system(variant).to(device)
    if device.startswith("cuda"):  # as the engine: no TF32 (cuDNN allows it by default)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    if hasattr(system.avs, "set_tpavi_mode"):
        system.avs.set_tpavi_mode("literal")
    else:  # the demo model: its TPAVI blocks are the official module
        for block in getattr(system.avs, "tpavi_blocks", []):
            block.mode = "literal"
    clips = open_dataset(data).clips()
    split = {"frames_s": 0.0, "log_mel_s": 0.0, "audio_encoder_s": 0.0, "model_s": 0.0, "write_s": 0.0}
    logits_all = []
    binary = system.setting.is_binary
    _reset_peak_rss()
    cpu0, t0 = _cpu_s(), time.perf_counter()
    for clip in clips:
        inputs = prepare_clip(clip)
        split["frames_s"] += inputs.timings["frames_s"]
        split["log_mel_s"] += inputs.timings["log_mel_s"]
        with torch.no_grad():
            t = time.perf_counter()
            audio = system.audio_encoder(torch.from_numpy(inputs.log_mel).unsqueeze(1).to(device))
            _sync(device)
            split["audio_encoder_s"] += time.perf_counter() - t
            t = time.perf_counter()
            frames = torch.from_numpy(inputs.frames).to(device)
            if binary:
                logits = system.avs(frames, audio)[0]
            else:
                flags = torch.from_numpy(inputs.flags).to(device)
                logits = system.avs(frames, audio * flags.view(-1, 1), flags)[0]
            logits = logits.float().cpu().numpy()
            split["model_s"] += time.perf_counter() - t
        t = time.perf_counter()
        dest = Path(out) / "pred_masks" / clip.clip_id
        dest.mkdir(parents=True, exist_ok=True)
        for i, lg in enumerate(logits):
            if binary:
                write_prediction_mask(dest / f"{clip.clip_id}_{i}.png", (lg[0] > 0).astype(np.uint8))
            else:
                write_colour_mask(dest / f"{clip.clip_id}_{i}.png", lg.argmax(0).astype(np.uint8))
        split["write_s"] += time.perf_counter() - t
        logits_all.append(logits[:, 0] if binary else logits)
    wall = time.perf_counter() - t0
    np.save(Path(out) / "logits.npy", np.stack(logits_all))
    return {"clips": len(clips), "wall_s": wall, "cpu_s": _cpu_s() - cpu0, "split": split,
            "peak_mib": _vm("VmHWM"), "worker_peak_mib": 0, "threads": torch.get_num_threads()}  # fmt: skip


def run_engine(variant: str, data: str, out: str, device: str, batch: int, workers: int) -> dict:
    """``propose`` as the command runs it."""
    import numpy as np
    import torch

    from avs_studio.model.engine import Engine
    from avs_studio.model.propose.run import propose

    engine = Engine(build_system(variant), device=device, batch_clips=batch, fold_batchnorm=True)
    captured = []
    run = engine.run

    def run_and_keep(batch_inputs):
        scores = run(batch_inputs)
        captured.extend((s.clip_id, s.logits.copy()) for s in scores)
        return scores

    engine.run = run_and_keep
    _reset_peak_rss()
    cpu0, t0 = _cpu_s(), time.perf_counter()
    with ChildPeak() as children:
        report = propose(data, engine, Path(out) / "props", workers=workers)
    wall = time.perf_counter() - t0
    if report.failures:
        raise SystemExit(f"propose failed on {report.failures[0].item}: {report.failures[0].error}")
    from avs_studio.core.datasets import open_dataset

    order = {c.clip_id: i for i, c in enumerate(open_dataset(data).clips())}  # the literal order
    captured.sort(key=lambda x: order[x[0]])
    np.save(Path(out) / "logits.npy", np.stack([lg for _, lg in captured]))
    t = report.timings
    split = {k: t.get(k, 0.0) for k in ("frames_s", "log_mel_s", "audio_encoder_s", "model_s", "write_s", "wait_s")}
    return {"clips": len(report.done), "wall_s": wall, "cpu_s": _cpu_s() - cpu0, "split": split,
            "peak_mib": _vm("VmHWM"), "worker_peak_mib": children.mib,
            "threads": torch.get_num_threads(), "batch": batch, "workers": workers}  # fmt: skip


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def worker(spec: dict) -> None:
    """One configuration in this fresh process; figures go to ``spec['result']``."""
    if spec["config"] == "literal":
        res = run_literal(spec["variant"], spec["data"], spec["out"], spec["device"])
    else:
        res = run_engine(spec["variant"], spec["data"], spec["out"], spec["device"], spec["batch"],
                         spec["workers"])  # fmt: skip
    Path(spec["result"]).write_text(json.dumps(res))


def run_config(spec: dict, tmp: str) -> dict:
    name = re.sub(r"[^a-z0-9]+", "_", f"{spec['variant']}_{spec['config']}_{spec.get('batch', 1)}")
    spec = dict(spec, out=os.path.join(tmp, name), result=os.path.join(tmp, name + ".json"))
    os.makedirs(spec["out"], exist_ok=True)
    subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], check=True, cwd=ROOT)
    res = json.loads(Path(spec["result"]).read_text())
    res["logits"] = os.path.join(spec["out"], "logits.npy")
    return res


def make_data(tmp: str, setting: str, clips: int) -> str:
    from avs_studio.core.demo.dataset import write_demo_dataset

    t = time.perf_counter()
    root = write_demo_dataset(os.path.join(tmp, f"data_{setting}"), setting, clips, seed=5, size=(320, 240))
    print(f"generated {clips} {setting.upper()} demo clips (320x240) in {time.perf_counter() - t:.1f} s")
    return str(root)


def _line(label: str, r: dict) -> str:
    s = r["split"]
    n = r["clips"]
    wait = f" wait {s['wait_s'] / n:5.2f}" if "wait_s" in s else ""
    return (f"  {label:<16}{n / r['wall_s']:>8.3f}{r['cpu_s'] / n:>9.2f}   frames {s['frames_s'] / n:5.2f}"
            f"  log-mel {s['log_mel_s'] / n:5.2f}  audio-enc {s['audio_encoder_s'] / n:5.2f}"
            f"  model {s['model_s'] / n:6.2f}  write {s['write_s'] / n:5.2f}{wait}"
            f"   peak {r['peak_mib']:>5} MiB" + (f" (+ worker {r['worker_peak_mib']} MiB)" if r["worker_peak_mib"] else ""))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variants", nargs="*", help="official variants and/or 'demo' / 'demo_avss' (the "
                                                "shipped demo model; default: s4_resnet50 ms3_pvt demo)")
    ap.add_argument("--quick", action="store_true", help="4 clips, batches 1 and 2")
    ap.add_argument("--clips", type=int, help="clips per run (default 8)")
    ap.add_argument("--batches", type=int, nargs="+", help="engine batch sizes to try (default 1 2 4)")
    ap.add_argument("--workers", type=int, help="engine decoding workers (default: propose's default)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(json.loads(a.worker))
        return 0
    import numpy as np

    from avs_studio.model import VARIANTS, setting_of
    from avs_studio.model.model_files import demo_model_path
    from avs_studio.model.propose.local import default_workers

    variants = a.variants or ["s4_resnet50", "ms3_pvt", "demo"]
    if "demo" in variants and not demo_model_path("s4").is_file():
        print("note: models/demo_s4.pt is not there: 'demo' is its architecture with random weights")
    for v in variants:
        if v != "demo" and not v.startswith("demo_") and v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}")
    clips = a.clips or (4 if a.quick else 8)
    batches = a.batches or ([1, 2] if a.quick else [1, 2, 4])
    workers = default_workers(a.device.split(':')[0]) if a.workers is None else a.workers
    print(f"{a.device.upper()}, {os.cpu_count()} cores visible; load average "
          f"{os.getloadavg()[0]:.1f} at start; engine workers {workers}")
    with tempfile.TemporaryDirectory(prefix="avs_bench_propose_") as tmp:
        data: dict[str, str] = {}
        for v in variants:
            setting = "s4" if v == "demo" else v.split("_", 1)[1] if v.startswith("demo_") else setting_of(v).value
            key = "avss" if setting == "avss" else "s4"
            if key not in data:
                data[key] = make_data(tmp, key, clips)
            print(f"\n{v} on {clips} {key.upper()} clips: per clip, seconds (decoding and log-mel "
                  "run in the workers for the engine)")
            print(f"  {'config':<16}{'clips/s':>8}{'cpu-s/c':>9}")
            base = run_config({"variant": v, "config": "literal", "data": data[key], "device": a.device}, tmp)
            print(_line("literal", base))
            best = None
            for b in batches:
                r = run_config({"variant": v, "config": "engine", "data": data[key], "device": a.device,
                                "batch": b, "workers": workers}, tmp)  # fmt: skip
                print(_line(f"engine batch {b}", r))
                if best is None or r["wall_s"] < best["wall_s"]:
                    best = r
            lit = np.load(base["logits"])
            diffs = [float(np.abs(lit - np.load(r)).max()) for r in [best["logits"]]]
            print(f"  => engine (batch {best['batch']}) / literal: {base['wall_s'] / best['wall_s']:.2f}x clips/s "
                  f"(wall), {base['cpu_s'] / best['cpu_s']:.2f}x less CPU time per clip, peak memory "
                  f"{best['peak_mib']} vs {base['peak_mib']} MiB "
                  f"({base['peak_mib'] / best['peak_mib']:.2f}x); max |logit diff| {diffs[0]:.2e} "
                  f"({'within' if diffs[0] <= 1e-3 else 'OUTSIDE'} the 1e-3 reference tolerance)")  # fmt: skip
    with contextlib.suppress(OSError):
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
