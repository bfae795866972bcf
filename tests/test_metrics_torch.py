"""Cross-checks against PyTorch: the official metric loop, written out in torch from the
metrics.md pseudocode, must give bit-identical numbers to the numpy implementation."""

from __future__ import annotations

import numpy as np
import pytest

from avs_studio.core.metrics import binary_scores, semantic_scores
from avs_studio.core.metrics import f32 as m32

torch = pytest.importorskip("torch")

F32 = np.float32


# ---- the official loop in torch, per metrics.md §2-§5 ------------------------------------------


def torch_mask_iou(logits, gt):
    n = logits.shape[0]
    pixels = logits.shape[-1] * logits.shape[-2]
    pred = (torch.sigmoid(logits) > 0.5).int()
    inter = (pred * gt).sum(2).sum(1)
    union = torch.max(pred, gt).sum(2).sum(1)
    empty = gt.sum(2).sum(1) == 0
    inter[empty] = ((1 - gt) * (1 - pred)).sum(2).sum(1)[empty]
    union[empty] = pixels
    return torch.sum(inter / (union + 1e-7)) / n


def torch_batch_f(logits, gt):
    prob = torch.sigmoid(logits)
    thresholds = torch.linspace(0, 1 - 1e-10, 255)
    acc, frames = 0.0, 0
    score = torch.zeros(255)
    for n in range(logits.shape[0]):
        if torch.mean(gt[n]) == 0.0:
            continue
        prec, rec = torch.zeros(255), torch.zeros(255)
        for i in range(255):
            predicted = (prob[n] >= thresholds[i]).float()
            tp = (predicted * gt[n]).sum()
            prec[i] = tp / (predicted.sum() + 1e-20)
            rec[i] = tp / (gt[n].sum() + 1e-20)
        f = 1.3 * prec * rec / (0.3 * prec + rec)
        f[f != f] = 0
        acc = acc + f
        frames += 1
        score = acc / frames
    return score.max().item()


def torch_binary_test(logits, gt, clip_frames, batch_size):
    """The S4/MS3 test script: batches of clips, AverageMeter for mIoU, float mean for F."""
    step = clip_frames * batch_size
    miou_sum, f_sum, batches = 0.0, 0.0, 0
    per_batch = []
    for start in range(0, logits.shape[0], step):
        lo, go = logits[start : start + step], gt[start : start + step]
        miou = torch_mask_iou(lo, go)
        f = torch_batch_f(lo, go)
        miou_sum = miou_sum + miou
        f_sum += f
        batches += 1
        per_batch.append((miou.item(), f))
    return (miou_sum / batches).item(), f_sum / batches, per_batch


def torch_avss_test(logits, gt, clip_frames, batch_size):
    """The AVSS test script: per-class float32 sums per batch, totals, means over classes."""
    c = logits.shape[1]
    step = clip_frames * batch_size
    iou_total, f_total, count_total = torch.zeros(c), torch.zeros(c), torch.zeros(c)
    for start in range(0, logits.shape[0], step):
        lo, go = logits[start : start + step], gt[start : start + step]
        pred = torch.argmax(torch.softmax(lo, dim=1), 1)
        ious, fs, counts = torch.zeros(c), torch.zeros(c), torch.zeros(c)
        for t in range(lo.shape[0]):
            p, g = pred[t].flatten(), go[t].flatten()
            inter = torch.bincount(p[p == g], minlength=c).float()
            area_p = torch.bincount(p, minlength=c).float()
            area_g = torch.bincount(g, minlength=c).float()
            union = area_p + area_g - inter
            ious += inter / (2.220446049250313e-16 + union)
            counts[union > 0] += 1
            prec, rec = inter / area_p, inter / area_g
            f = 1.3 * prec * rec / (0.3 * prec + rec)
            f[torch.isnan(f)] = 0.0
            fs += f
        iou_total += ious
        f_total += fs
        count_total += counts
    miou_pc = iou_total / count_total
    miou_pc[torch.isnan(miou_pc)] = 0
    f_pc = f_total / count_total
    f_pc[torch.isnan(f_pc)] = 0
    return {
        "miou": torch.mean(miou_pc).item(),
        "miou_nobg_official": torch.mean(miou_pc[:-1]).item(),
        "fscore": torch.mean(f_pc).item(),
        "fscore_nobg_official": torch.mean(f_pc[:-1]).item(),
        "per_class_count": [int(v) for v in count_total],
    }


# ---- float32 primitives ---------------------------------------------------------------------


def test_thresholds_equal_torch_linspace_bit_for_bit():
    assert np.array_equal(m32.THRESHOLDS, torch.linspace(0, 1 - 1e-10, 255).numpy())


def test_sigmoid_equals_torch_bit_for_bit():
    rng = np.random.default_rng(0)
    specials = np.array(
        [0, 6e-8, 1e-7, -6e-8, -1e-7, 16.6, 16.7, -16.6, 88, -88, -103, 103, np.inf, -np.inf], F32
    )
    # chunks of 32000 (a multiple of torch's vector width, one thread) avoid torch's scalar tail
    chunks = [rng.normal(0, s, 32000).astype(F32) for s in (1e-6, 1e-2, 1, 4, 12)]
    chunks.append(np.resize(np.concatenate([specials, m32.logit_thresholds()[1:]]), 32000))
    for x in chunks:
        assert np.array_equal(m32.float32_sigmoid(x), torch.sigmoid(torch.from_numpy(x)).numpy())


def test_softmax_and_its_argmax_equal_torch():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 3, (4, 71, 8, 8)).astype(F32)
    assert np.array_equal(m32.float32_softmax(x), torch.softmax(torch.from_numpy(x), 1).numpy())
    # near ties: small logits a few ulps apart, exact ties and all-zero (padded) steps
    tiny = (rng.integers(-3, 4, (6, 71, 8, 8)) * np.float32(3e-8)).astype(F32)
    tiny[0] = 0
    tiny[1, :, :4] += F32(0.4)
    tiny[2] += rng.normal(0, 1, (71, 8, 8)).astype(F32) * F32(1e-7)
    for logits in (x, tiny):
        want = torch.softmax(torch.from_numpy(logits), 1).argmax(1).numpy()
        assert np.array_equal(m32.softmax_argmax(logits), want)
    assert not np.array_equal(tiny.argmax(1), m32.softmax_argmax(tiny))  # ties do matter


@pytest.mark.parametrize("n", [1, 2, 5, 7, 8, 15, 16, 20, 33, 70, 71, 100, 640, 5000])
def test_summation_order_equals_torch(n):
    rng = np.random.default_rng(n)
    for v in (
        rng.random(n).astype(F32),
        (rng.normal(0, 1, n) * 10 ** rng.uniform(-4, 4, n)).astype(F32),
    ):
        t = torch.from_numpy(v)
        assert m32.torch_sum_f32(v) == torch.sum(t).item()
        assert m32.torch_mean_f32(v) == torch.mean(t).item()


# ---- the official loop, end to end ------------------------------------------------------------


def _binary_case(seed, clips, size=12, frames=5):
    rng = np.random.default_rng(seed)
    gt = (rng.random((clips * frames, size, size)) < rng.uniform(0.05, 0.5)).astype(F32)
    gt[rng.random(clips * frames) < 0.2] = 0  # empty frames
    logits = (np.where(gt > 0, 1.0, -1.0) + rng.normal(0, 2, gt.shape)).astype(F32)
    logits[0, :3, :3] = 0.0  # exact-zero logits
    logits[1, 0, 0] = 6e-8
    logits[1, 0, 1] = 1e-7
    if clips > 1:  # a frame whose union is one pixel
        gt[6] = 0
        gt[6, 2, 2] = 1
        logits[6] = -4
        logits[6, 2, 2] = 4
    return logits, gt


@pytest.mark.parametrize("seed,clips,batch_size", [(0, 5, 4), (1, 6, 1), (2, 7, 3), (3, 2, 4)])
def test_binary_scores_equal_the_official_loop_in_torch(seed, clips, batch_size):
    logits, gt = _binary_case(seed, clips)
    miou, fscore, per_batch = torch_binary_test(
        torch.from_numpy(logits), torch.from_numpy(gt), 5, batch_size
    )
    r = binary_scores(logits, gt, batch_size=batch_size)
    assert r["miou"] == miou
    assert r["fscore"] == fscore
    assert list(zip(r["per_batch_miou"], r["per_batch_fscore"])) == per_batch
    probs = torch.sigmoid(torch.from_numpy(logits)).numpy()
    r_probs = binary_scores(probs, gt, kind="probs", batch_size=batch_size)
    assert (r_probs["miou"], r_probs["fscore"]) == (miou, fscore)


def test_fractional_ms3_targets_follow_the_official_float_arithmetic():
    logits, gt = _binary_case(4, 3)
    frac = (gt * np.float32(128) / np.float32(255)).astype(F32)  # a palette index 128 in MS3
    miou, fscore, _ = torch_binary_test(torch.from_numpy(logits), torch.from_numpy(frac), 5, 4)
    r = binary_scores(logits, frac, batch_size=4, allow_fractional_gt=True)
    # sums over pixels are exact here and rounded once; torch sums in float32, hence 1e-6
    assert r["miou"] == pytest.approx(miou, abs=1e-6)
    assert r["fscore"] == pytest.approx(fscore, abs=1e-6)


@pytest.mark.parametrize("seed,batch_size", [(0, 4), (1, 1), (2, 3)])
def test_semantic_scores_equal_the_official_loop_in_torch(seed, batch_size):
    rng = np.random.default_rng(seed)
    clips, frames, c = 5, 10, 12
    logits = rng.normal(0, 2, (clips * frames, c, 8, 8)).astype(F32)
    gt = rng.integers(0, c // 2, (clips * frames, 8, 8))
    logits[45:] = 0  # padded steps of the last clip: zero logits, background ground truth
    gt[45:] = 0
    logits[3, 5] = logits[3, 4]  # an exact tie between classes
    logits[4, 7] = logits[4].max(axis=0) + F32(3e-8)
    want = torch_avss_test(torch.from_numpy(logits), torch.from_numpy(gt), frames, batch_size)
    r = semantic_scores(logits, gt, batch_size=batch_size)
    for key, value in want.items():
        assert r[key] == value, key
