"""Speed of the official S4/MS3 metrics (mIoU + 255-threshold F) against a plain implementation.

    python bench/bench_metrics.py [--quick]

The baseline is the definition written the straightforward way, per frame: a float32 sigmoid
with numpy, the 0.5 test for IoU, then a literal loop over the 255 thresholds (one full pass
over the pixels each) for F, aggregated per batch as the official test does.  The library
builds all 255 operating points from one histogram of threshold buckets.  Both run on the same
synthetic logits in this process; the script prints frames per second and the ratio, and
checks that the two agree (exactly when the baseline uses the torch-exact sigmoid).  An AVSS
figure (71 classes) is printed as well, against a plain softmax + per-class loop.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avs_studio.core.metrics import binary_scores, semantic_scores
from avs_studio.core.metrics.f32 import THRESHOLDS, float32_sigmoid

F32 = np.float32


def numpy_sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return F32(1) / (F32(1) + np.exp(-x))


def baseline_binary(logits, gt, frames_per_clip=5, batch_size=4, sigmoid=numpy_sigmoid):
    """The official S4/MS3 test, one frame and one threshold at a time."""
    step = frames_per_clip * batch_size
    miou_sum, f_sum, batches = F32(0), 0.0, 0
    for start in range(0, logits.shape[0], step):
        ious, acc, used = [], np.zeros(255, F32), 0
        for x, g in zip(logits[start : start + step], gt[start : start + step]):
            p = sigmoid(x)
            pos = p > F32(0.5)
            if g.any():
                inter, union = np.count_nonzero(pos & g), np.count_nonzero(pos | g)
            else:
                inter, union = np.count_nonzero(~pos), g.size
            ious.append(F32(inter) / (F32(union) + F32(1e-7)))
            if not g.any():
                continue
            f = np.zeros(255, F32)
            for i in range(255):
                predicted = p >= THRESHOLDS[i]
                tp = F32(np.count_nonzero(predicted & g))
                prec = tp / (F32(np.count_nonzero(predicted)) + F32(1e-20))
                rec = tp / (F32(np.count_nonzero(g)) + F32(1e-20))
                with np.errstate(invalid="ignore"):
                    v = F32(1.3) * prec * rec / (F32(0.3) * prec + rec)
                f[i] = 0 if np.isnan(v) else v
            acc = acc + f
            used += 1
        miou_sum = F32(miou_sum + F32(np.sum(ious, dtype=F32) / F32(len(ious))))
        f_sum += float((acc / F32(used)).max()) if used else 0.0
        batches += 1
    return float(miou_sum / F32(batches)), f_sum / batches


def baseline_semantic(logits, gt):
    """AVSS with a plain float32 softmax and one pass per class and frame."""
    c = logits.shape[1]
    with np.errstate(over="ignore"):
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
    pred = (e / e.sum(axis=1, keepdims=True)).argmax(axis=1)
    iou, count = np.zeros(c), np.zeros(c)
    for p, g in zip(pred, gt):
        for k in range(c):
            pk, gk = p == k, g == k
            union = np.count_nonzero(pk | gk)
            if union:
                iou[k] += np.count_nonzero(pk & gk) / union
                count[k] += 1
    with np.errstate(invalid="ignore"):
        per_class = np.nan_to_num(iou / count)
    return float(per_class.mean())


def synthetic(frames, h, w, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    gt = np.zeros((frames, h, w), bool)
    for f in range(frames):
        if f % 7 == 3:
            continue  # some empty ground truths
        cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
        r = rng.uniform(0.1, 0.3) * min(h, w)
        gt[f] = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    logits = np.where(gt, F32(2), F32(-2)) + rng.normal(0, 2.5, (frames, h, w)).astype(F32)
    return logits.astype(F32), gt


def timed(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames (a smoke run)")
    args = ap.parse_args(argv)

    print(f"numpy {np.__version__}; best of repeated runs; frames/s of mIoU + F together\n")
    print(
        f"{'frames':>16} {'n':>4} {'library f/s':>12} {'baseline f/s':>13} {'ratio':>7}  agreement"
    )
    ok = True
    for (h, w), n in (
        ((224, 224), 20 if args.quick else 40),
        ((1080, 1920), 5 if args.quick else 10),
    ):
        logits, gt = synthetic(n, h, w)
        binary_scores(logits[:5], gt[:5])  # warm the lookup tables
        t_lib, lib = timed(lambda x=logits, g=gt: binary_scores(x, g), 3)
        t_base, base = timed(lambda x=logits, g=gt: baseline_binary(x, g), 1)
        d_miou, d_f = abs(lib["miou"] - base[0]), abs(lib["fscore"] - base[1])
        # with the torch-exact sigmoid the literal loop must agree to the last bit
        exact = baseline_binary(logits[:5], gt[:5], sigmoid=float32_sigmoid)
        small = binary_scores(logits[:5], gt[:5])
        same = exact == (small["miou"], small["fscore"])
        ok &= same and d_miou <= 1e-6 and d_f <= 1e-5
        print(
            f"{f'{w}x{h}':>16} {n:>4} {n / t_lib:12.1f} {n / t_base:13.2f} {t_base / t_lib:6.1f}x"
            f"  |dmIoU| {d_miou:.1e}, |dF| {d_f:.1e} (numpy exp); exact sigmoid: "
            f"{'identical' if same else 'DIFFERENT'}"
        )

    rng = np.random.default_rng(1)
    n = 10 if args.quick else 20
    logits = rng.normal(0, 3, (n, 71, 224, 224)).astype(F32)
    gt = rng.integers(0, 71, (n, 224, 224))
    gt[:, 50:150, 50:150] = 0
    t_lib, lib = timed(lambda: semantic_scores(logits, gt), 2)
    t_base, base = timed(lambda: baseline_semantic(logits, gt), 1)
    d = abs(lib["miou"] - base)
    ok &= d <= 1e-6
    print(
        f"{'AVSS 224x224x71':>16} {n:>4} {n / t_lib:12.1f} {n / t_base:13.2f} {t_base / t_lib:6.1f}x"
        f"  |dmIoU| {d:.1e}"
    )
    print("\nagreement:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
