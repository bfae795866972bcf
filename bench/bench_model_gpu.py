"""GPU speed and memory of the TPAVI models: official order vs the engine's paths (CUDA).

The GPU twin of ``bench_model.py`` (which measures the CPU). Per variant and batch size,
in one process (the GPU's memory is measured with torch's own counters, reset per
configuration):

* ``literal``: the official evaluation order (quadratic TPAVI, every frame through the
  network), eager float32, NCHW, ``torch.no_grad()`` -- the baseline;
* ``fast``: what the engine runs by default: cheap TPAVI, channels-last, inference mode, fp32
  (TF32 off, as the engine leaves it unless asked);
* ``fast-bf16`` / ``fast-fp16``: the same under autocast (``--precision`` of the engine).

Printed: frames/s (median of the timed forwards, each bracketed by ``cuda.synchronize``),
peak GPU memory allocated during the forwards, the speed ratio against ``literal``, the max
|logit difference| against ``literal`` and, for reduced precision, the share of pixels whose
mask (S4/MS3: logit > 0; AVSS: argmax) differs from fp32.

    python bench/bench_model_gpu.py                      # all six variants, 1, 4, 16 clips
    python bench/bench_model_gpu.py --quick s4_resnet50 avss_pvt
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_model import _inputs, _weights  # noqa: E402  (same weights and inputs as the CPU bench)

CONFIGS = ("literal", "fast", "fast-bf16", "fast-fp16")


def _masks(logits, avss: bool):
    return logits.argmax(dim=1) if avss else logits[:, 0] > 0


def run_variant(name: str, clips_list: list[int], repeats: int) -> None:
    import torch

    import avs_studio.model as avs_model

    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    avss = name.startswith("avss")
    model = avs_model.build(name, tpavi_mode="literal")
    _weights(model, name)
    model = model.eval().to(dev)
    for clips in clips_list:
        frames, audio, flags = _inputs(name, clips)
        frames, audio = frames.to(dev), audio.to(dev)
        flags = flags.to(dev) if flags is not None else None
        ref = None
        ref_mask = None
        fp32_fast = None
        literal_fps = None
        for config in CONFIGS:
            fast = config != "literal"
            model.set_tpavi_mode("fast" if fast else "literal")
            if fast:
                model.to_channels_last()
                x = frames.contiguous(memory_format=torch.channels_last)
            else:
                model.to(memory_format=torch.contiguous_format)
                x = frames
            args = (x, audio) if flags is None else (x, audio, flags)
            grad = torch.inference_mode if fast else torch.no_grad
            dtype = {"fast-bf16": torch.bfloat16, "fast-fp16": torch.float16}.get(config)
            cast = torch.autocast("cuda", dtype=dtype) if dtype else contextlib.nullcontext()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)
            base = torch.cuda.memory_allocated(dev)
            times = []
            with grad(), cast:
                for i in range(repeats + 2):  # two warm-ups (cudnn.benchmark picks kernels)
                    torch.cuda.synchronize(dev)
                    t = time.perf_counter()
                    out = model(*args)[0]
                    torch.cuda.synchronize(dev)
                    if i >= 2:
                        times.append(time.perf_counter() - t)
            peak = (torch.cuda.max_memory_allocated(dev) - base) / 2**20
            logits = out.float()
            n = int(frames.shape[0])
            fps = n / statistics.median(times)
            if config == "literal":
                ref, ref_mask, literal_fps = logits, _masks(logits, avss), fps
                extra = ""
            else:
                diff = float((logits - ref).abs().max())
                flips = float((_masks(logits, avss) != ref_mask).float().mean())
                extra = f"{fps / literal_fps:>7.2f}x  max|d| {diff:.1e}  mask diff {flips:.2%}"
                if config == "fast":
                    fp32_fast = fps
                else:
                    extra += f"  ({fps / fp32_fast:.2f}x fast fp32)"
            print(f"{name:<14}{clips:>6}{n:>7}  {config:<10}{fps:>10.1f}{peak:>10.0f}  {extra}",
                  flush=True)
            del out, logits
        del frames, audio, flags, ref, ref_mask
    del model
    torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    import torch

    import avs_studio.model as avs_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variants", nargs="*", help=f"subset of {', '.join(avs_model.VARIANTS)}")
    ap.add_argument("--quick", action="store_true", help="batches of 1 and 4 clips, 3 repeats")
    ap.add_argument("--clips", type=int, nargs="+", help="batch sizes in clips (default 1 4 16)")
    ap.add_argument("--repeats", type=int, help="timed forwards per configuration (default 5)")
    a = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA GPU is available to torch here: nothing to measure (bench_model.py "
              "measures the CPU)")
        return 0
    variants = a.variants or list(avs_model.VARIANTS)
    clips = a.clips or ([1, 4] if a.quick else [1, 4, 16])
    repeats = a.repeats or (3 if a.quick else 5)
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}; median of {repeats} "
          f"timed forwards after two warm-ups; TF32 off; memory = peak MiB allocated by the forward "
          f"(weights excluded); {os.cpu_count()} CPU cores")
    header = (f"{'variant':<14}{'clips':>6}{'frames':>7}  {'config':<10}{'fr/s':>10}"
              f"{'peak MiB':>10}  vs literal")
    print(header)
    print("-" * len(header))
    for name in variants:
        avs_model.setting_of(name)
        run_variant(name, clips, repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
