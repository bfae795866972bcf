"""The official AVSBench metrics: fixtures from the official code, the worked examples of
metrics.md, batching rules, streaming, hard masks, the per-dataset protocol and bad input."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from avs_studio.core.errors import AVSError, MaskError
from avs_studio.core.metrics import (
    BinaryMetricAccumulator,
    MetricInputError,
    SemanticMetricAccumulator,
    binary_scores,
    clip_rows,
    clip_rows_csv,
    float32_sigmoid,
    fscore_curve,
    semantic_scores,
    semantic_scores_from_labels,
    softmax_argmax,
)
from avs_studio.core.metrics.f32 import THRESHOLDS

F32 = np.float32


def _shared() -> Path:
    """$AVS_SHARED, ../shared, or the fixtures bundled in tests/fixtures (tests/reference.py)."""
    from reference import shared_root

    return shared_root()


METRICS_DIR = _shared() / "spec" / "reference" / "metrics"
needs_fixtures = pytest.mark.skipif(
    not (METRICS_DIR / "cases.json").exists(),
    reason=f"reference metric fixtures not found at {METRICS_DIR} (set AVS_SHARED)",
)


def _cases(setting_filter):
    path = METRICS_DIR / "cases.json"
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    return [
        pytest.param(name, c, doc["tolerance"], id=name)
        for name, c in doc["cases"].items()
        if setting_filter(c)
    ]


def _load(case):
    pred = np.load(METRICS_DIR / case["files"]["pred"]["file"]).astype(np.float32)
    gt = np.load(METRICS_DIR / case["files"]["gt"]["file"])
    return pred, gt


def _close_list(got, want, tol):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        if b is None:
            assert a is None
        else:
            assert a is not None and abs(a - b) <= tol, (a, b)


def logit(p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return np.log(p / (1 - p)).astype(np.float32)


# ---- official fixtures ---------------------------------------------------------------------


@needs_fixtures
@pytest.mark.parametrize(
    "name,case,tol",
    _cases(lambda c: c["setting"] != "avss"),
)
def test_binary_fixture_matches_the_official_code(name, case, tol):
    pred, gt = _load(case)
    r = binary_scores(pred, gt, batch_size=case["batch_size"])
    want = case["values"]
    assert abs(r["miou"] - want["miou"]) <= tol["miou"]
    assert abs(r["fscore"] - want["fscore"]) <= tol["fscore"]
    for key in ("per_batch_miou", "per_batch_fscore", "per_frame_iou", "per_video_iou"):
        _close_list(r[key], want[key], tol["lists"])
    assert r["num_clips"] == want["videos"]
    # beyond the bounds: the float32 arithmetic is reproduced bit for bit
    assert r["miou"] == want["miou"] and r["fscore"] == want["fscore"]


@needs_fixtures
@pytest.mark.parametrize(
    "name,case,tol",
    _cases(lambda c: c["setting"] == "avss"),
)
def test_avss_fixture_matches_the_official_code(name, case, tol):
    pred, gt = _load(case)
    r = semantic_scores(pred, gt, batch_size=case["batch_size"])
    want = case["values"]
    for key in ("miou", "miou_noBg", "fscore", "fscore_noBg"):
        assert abs(r[key] - want[key]) <= tol[key], key
    assert r["miou_nobg_official"] == r["miou_noBg"]
    assert r["classes_seen"] == want["classes_seen"]
    for key in ("per_class_iou", "per_class_fscore", "per_class_count", "per_frame_miou_list"):
        _close_list(r[key], want[key], tol["lists"])
    assert r["miou"] == want["miou"] and r["fscore_noBg"] == want["fscore_noBg"]

    # the metric depends only on the argmax, so label maps reproduce it exactly
    labels = softmax_argmax(pred)
    from_labels = semantic_scores_from_labels(labels, gt, num_classes=pred.shape[1])
    for key in ("miou", "fscore", "miou_nobg_official", "per_class_iou", "per_frame_miou_list"):
        assert from_labels[key] == r[key]


@needs_fixtures
def test_fixture_results_pass_the_shared_checker(tmp_path):
    """The result dicts can be written straight into check_reference.py's values.json."""
    import importlib.util

    tool = _shared() / "tools" / "check_reference.py"
    spec = importlib.util.spec_from_file_location("check_reference", tool)
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    values = {}
    for param in _cases(lambda c: True):
        name, case, _ = param.values
        pred, gt = _load(case)
        if case["setting"] == "avss":
            r = semantic_scores(pred, gt, batch_size=case["batch_size"])
        else:
            r = binary_scores(pred, gt, batch_size=case["batch_size"])
        values[name] = {k: v for k, v in r.items() if k in case["values"]}
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "values.json").write_text(json.dumps(values))
    rep = checker.Report(strict=True)
    checker.check_metrics(_shared() / "spec" / "reference", tmp_path, rep)
    assert not rep.failed, [r for r in rep.rows if r[1] != "PASS"]
    assert len(rep.rows) > 40


# ---- worked examples of metrics.md (1e-6) --------------------------------------------------

FRAME_A_GT = np.array([[1, 1], [0, 0]])
FRAME_A_PRED = np.array([[3.0, -3.0], [3.0, -3.0]], np.float32)
FRAME_B_GT = np.zeros((2, 2), int)
FRAME_B_PRED = np.array([[3.0, -3.0], [-3.0, -3.0]], np.float32)


def _frames(*pairs):
    return np.stack([p for p, _ in pairs]), np.stack([g for _, g in pairs])


def test_M1_batch_miou_with_an_empty_ground_truth_frame():
    pred, gt = _frames((FRAME_A_PRED, FRAME_A_GT), (FRAME_B_PRED, FRAME_B_GT))
    r = binary_scores(pred, gt, frames_per_clip=2, batch_size=1)
    assert r["per_frame_iou"] == pytest.approx([1 / 3, 0.75], abs=1e-6)
    assert r["miou"] == pytest.approx(0.5416667, abs=1e-6)


def test_M2_every_batch_weighs_the_same_whatever_its_size():
    a, b = (FRAME_A_PRED, FRAME_A_GT), (FRAME_B_PRED, FRAME_B_GT)
    pred, gt = _frames(a, b, a)
    r = binary_scores(pred, gt, frames_per_clip=1, batch_size=2)
    assert r["per_batch_miou"] == pytest.approx([0.5416667, 1 / 3], abs=1e-6)
    assert r["miou"] == pytest.approx(0.4375, abs=1e-6)
    assert np.mean(r["per_frame_iou"]) == pytest.approx(0.4722222, abs=1e-6)


def test_M3_logits_of_exactly_zero_are_background():
    r = binary_scores(np.zeros((1, 2, 2), F32), np.ones((1, 2, 2)), frames_per_clip=1)
    assert r["miou"] == 0.0


FRAME_F_A = (logit([[0.9, 0.6], [0.7, 0.1]]), np.array([[1, 1], [0, 0]]))
FRAME_F_B = (logit([[0.4, 0.3], [0.2, 0.1]]), np.array([[1, 1], [1, 0]]))
FRAME_F_E = (logit(np.full((2, 2), 0.9)), np.zeros((2, 2), int))


def _batch_f(*frames, batches=1):
    pred, gt = _frames(*frames)
    return binary_scores(pred, gt, frames_per_clip=1, batch_size=len(frames) // batches)


def test_F_curve_of_frame_A_follows_the_table():
    curve = fscore_curve(*FRAME_F_A)
    t = THRESHOLDS
    for lo, hi, f in [
        (-1, 0.1, 0.5652174),
        (0.1, 0.6, 0.7222222),
        (0.6, 0.7, 0.5),
        (0.7, 0.9, 0.8125),
        (0.9, 2, 0.0),
    ]:
        sel = (t > lo) & (t <= hi)
        assert sel.any()
        assert curve[sel] == pytest.approx(f, abs=1e-6)


def test_F1_to_F5_worked_examples():
    assert _batch_f(FRAME_F_A)["fscore"] == pytest.approx(0.8125, abs=1e-6)  # F1
    assert _batch_f(FRAME_F_A)["fscore"] == pytest.approx(0.81249994, abs=1e-8)  # float32 value
    assert _batch_f(FRAME_F_A, FRAME_F_B)["fscore"] == pytest.approx(0.8611111, abs=1e-6)  # F2
    assert _batch_f(FRAME_F_A, FRAME_F_B, FRAME_F_E)["fscore"] == pytest.approx(0.8611111, abs=1e-6)
    assert _batch_f(FRAME_F_E)["fscore"] == 0.0  # F4: all-empty batch scores 0
    f5 = _batch_f(FRAME_F_A, FRAME_F_B, batches=2)
    assert f5["per_batch_fscore"] == pytest.approx([0.8125, 1.0], abs=1e-6)
    assert f5["fscore"] == pytest.approx(0.90625, abs=1e-6)  # F5 differs from F2
    assert f5["per_frame_iou"] == pytest.approx([2 / 3, 0.0], abs=1e-6)


def _s_example(num_classes):
    chosen = [np.array([[0, 1], [2, 2]]), np.array([[0, 0], [0, 1]])]
    logits = np.zeros((2, num_classes, 2, 2), F32)
    for t, lab in enumerate(chosen):
        for c in range(num_classes):
            logits[t, c][lab == c] = 5.0
    gt = np.array([[[0, 1], [1, 2]], [[0, 0], [0, 0]]])
    return logits, gt


@pytest.mark.parametrize(
    "num_classes,want",
    [
        (3, (0.5416667, 0.5625, 0.6452510, 0.6852679)),
        (71, (0.0228873, 0.0232143, 0.0272641, 0.0276536)),
    ],
    ids=["S1", "S2"],
)
def test_S1_S2_avss_worked_example(num_classes, want):
    logits, gt = _s_example(num_classes)
    r = semantic_scores(logits, gt, frames_per_clip=2)
    got = (r["miou"], r["miou_nobg_official"], r["fscore"], r["fscore_nobg_official"])
    assert got == pytest.approx(want, abs=1e-6)
    assert r["per_class_count"][:3] == [2, 2, 1]
    assert r["per_class_iou"][:3] == pytest.approx([0.875, 0.25, 0.5], abs=1e-6)
    assert r["classes_seen"] == 3
    # the truly background-free mean (not official) skips class 0, never-seen classes count 0
    assert r["miou_no_background"] == pytest.approx(0.75 / (num_classes - 1), abs=1e-6)


def test_P1_per_dataset_protocol_is_labelled_and_differs():
    logits, gt = _s_example(3)
    r = semantic_scores(logits, gt, frames_per_clip=2, protocol="per-dataset")
    assert r["protocol"] == "per-dataset"
    assert r["miou"] == pytest.approx(0.5444444, abs=1e-6)
    assert r["fscore"] == pytest.approx(0.6702240, abs=1e-6)
    assert r["per_class_iou"] == pytest.approx([0.8, 1 / 3, 0.5], abs=1e-6)
    assert semantic_scores(logits, gt, frames_per_clip=2)["protocol"] == "official"


# ---- float32 boundaries ---------------------------------------------------------------------


def test_tiny_positive_logits_round_to_one_half_as_in_torch():
    p = float32_sigmoid(np.array([0.0, 6e-8, 1e-7], F32))
    assert p[0] == 0.5 and p[1] == 0.5 and p[2] > 0.5
    gt = np.ones((3, 2, 2))
    pred = np.stack([np.full((2, 2), v, F32) for v in (0.0, 6e-8, 1e-7)])
    r = binary_scores(pred, gt, frames_per_clip=3)
    assert r["per_frame_iou"] == [0.0, 0.0, 1.0]


def test_a_one_pixel_union_keeps_the_float32_epsilon():
    gt = np.zeros((1, 4, 4))
    gt[0, 1, 1] = 1
    pred = np.where(gt > 0, 5.0, -5.0).astype(F32)
    r = binary_scores(pred, gt, frames_per_clip=1)
    assert r["per_frame_iou"] == [float(F32(1) / (F32(1) + F32(1e-7)))]
    assert r["per_frame_iou"][0] == pytest.approx(1.0, abs=2e-7)


# ---- batching and order -----------------------------------------------------------------------


def _random_clips(rng, clips=6, frames=5, size=16, empty_every=4):
    gt = np.zeros((clips, frames, size, size), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    for v in range(clips):
        for t in range(frames):
            if (v * frames + t) % empty_every == 0:
                continue
            cy, cx, r = rng.integers(3, size - 3, 2).tolist() + [rng.integers(2, 6)]
            gt[v, t] = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    pred = (np.where(gt > 0, 1.5, -1.5) + rng.normal(0, 1.5, gt.shape)).astype(F32)
    return pred, gt


def test_f_score_depends_on_batch_size_and_clip_order_but_per_clip_values_do_not():
    rng = np.random.default_rng(3)
    pred, gt = _random_clips(rng, clips=8)
    bs4 = binary_scores(pred, gt, batch_size=4)
    bs1 = binary_scores(pred, gt, batch_size=1)
    assert bs4["num_batches"] == 2 and bs1["num_batches"] == 8
    assert bs4["fscore"] != bs1["fscore"]
    # per-clip F is the clip scored as its own batch: the batch-size-1 figures
    assert bs4["per_clip_fscore"] == bs1["per_batch_fscore"] == bs1["per_clip_fscore"]
    assert bs1["fscore"] == pytest.approx(np.mean(bs1["per_clip_fscore"]), abs=1e-12)
    # with equal batches the mIoU is the frame mean, whatever the batch size
    assert bs4["miou"] == pytest.approx(np.mean(bs4["per_frame_iou"]), abs=1e-6)
    order = [1, 6, 3, 0, 7, 2, 5, 4]
    shuffled = binary_scores(pred[order], gt[order], batch_size=4)
    assert shuffled["fscore"] != bs4["fscore"]
    assert shuffled["per_clip_fscore"] == [bs4["per_clip_fscore"][i] for i in order]


def test_a_short_last_batch_weighs_as_much_as_a_full_one():
    rng = np.random.default_rng(4)
    pred, gt = _random_clips(rng, clips=5)
    r = binary_scores(pred, gt, batch_size=4)
    assert r["num_batches"] == 2
    assert r["per_batch_miou"][1] == pytest.approx(r["per_clip_iou"][4], abs=1e-7)
    assert r["miou"] == pytest.approx(np.mean(r["per_batch_miou"]), abs=1e-7)
    assert r["miou"] != pytest.approx(np.mean(r["per_frame_iou"]), abs=1e-4)


def test_a_batch_of_only_empty_frames_scores_zero_f():
    rng = np.random.default_rng(5)
    pred, gt = _random_clips(rng, clips=2)
    gt[1] = 0
    r = binary_scores(pred, gt, batch_size=1)
    assert r["per_batch_fscore"][1] == 0.0 and r["empty_gt_batches"] == 1
    assert r["per_clip_empty_gt_frames"][1] == 5


def test_avss_totals_barely_depend_on_batch_size_or_order():
    rng = np.random.default_rng(6)
    logits = rng.normal(0, 2, (6 * 10, 8, 12, 12)).astype(F32)
    gt = rng.integers(0, 8, (60, 12, 12))
    a = semantic_scores(logits, gt, batch_size=4)
    b = semantic_scores(logits, gt, batch_size=1)
    assert a["num_batches"] == 2 and b["num_batches"] == 6
    for key in ("miou", "fscore", "miou_nobg_official"):
        assert a[key] == pytest.approx(b[key], abs=1e-6)
    order = np.arange(60).reshape(6, 10)[::-1].ravel()
    c = semantic_scores(logits[order], gt[order], batch_size=4)
    assert c["miou"] == pytest.approx(a["miou"], abs=1e-6)
    assert c["per_clip_miou"] == a["per_clip_miou"][::-1]


# ---- streaming ---------------------------------------------------------------------------------


def test_streaming_clip_by_clip_gives_the_identical_result():
    rng = np.random.default_rng(7)
    pred, gt = _random_clips(rng, clips=7)
    one_shot = binary_scores(pred, gt, batch_size=3, clip_ids=[f"v{i}" for i in range(7)])
    acc = BinaryMetricAccumulator(batch_size=3)
    for i in range(7):
        acc.add_clip(pred[i], gt[i], clip_id=f"v{i}")
        if i == 4:
            partial = acc.result()  # a look half-way must not disturb the stream
            assert partial["num_clips"] == 5 and partial["num_batches"] == 2
    assert acc.result() == one_shot
    assert acc.num_clips == 7


def test_avss_streaming_equals_one_shot_and_accepts_logits_and_labels():
    rng = np.random.default_rng(8)
    logits = rng.normal(0, 2, (30, 6, 10, 10)).astype(F32)
    gt = rng.integers(0, 6, (30, 10, 10))
    one_shot = semantic_scores(logits, gt, batch_size=2)
    acc = SemanticMetricAccumulator(num_classes=6, batch_size=2)
    acc.add_clip(logits[:10], gt[:10])
    acc.add_clip(softmax_argmax(logits[10:20]), gt[10:20])  # labels, e.g. from colour PNGs
    acc.add_clip(logits[20:], gt[20:])
    streamed = acc.result()
    assert streamed.pop("inputs") == ["labels", "logits"]
    one_shot.pop("inputs")
    assert streamed == one_shot


# ---- prediction kinds ------------------------------------------------------------------------


def test_probabilities_give_the_same_scores_as_the_logits_they_came_from():
    rng = np.random.default_rng(9)
    pred, gt = _random_clips(rng, clips=4)
    from_logits = binary_scores(pred, gt)
    from_probs = binary_scores(float32_sigmoid(pred), gt, kind="probs")
    assert from_probs.pop("kind") == "probs" and from_logits.pop("kind") == "logits"
    assert from_probs == from_logits


def test_hard_masks_give_exact_iou_and_a_labelled_hard_mask_f():
    rng = np.random.default_rng(10)
    pred, gt = _random_clips(rng, clips=4)
    masks = (float32_sigmoid(pred) > 0.5).astype(np.uint8)
    official = binary_scores(pred, gt)
    hard = binary_scores(masks, gt, kind="masks")
    assert official["fscore_kind"] == "official" and hard["fscore_kind"] == "hard-mask"
    assert hard["per_frame_iou"] == official["per_frame_iou"]
    assert hard["miou"] == official["miou"]
    # hard F of one frame: F-beta of the mask itself
    g, m = gt[0, 1].astype(bool), masks[0, 1].astype(bool)
    tp = (g & m).sum()
    prec, rec = tp / m.sum(), tp / g.sum()
    assert fscore_curve(m, g, kind="masks")[0] == pytest.approx(
        1.3 * prec * rec / (0.3 * prec + rec), abs=1e-6
    )
    # the official sweep on 0/1 "probabilities" would add the threshold-0 point (all pixels)
    as_probs = binary_scores(masks.astype(F32), gt, kind="probs")
    assert as_probs["fscore"] >= hard["fscore"]


def test_fractional_ground_truth_is_refused_unless_asked_for():
    rng = np.random.default_rng(11)
    pred, gt = _random_clips(rng, clips=1)
    frac = gt.astype(F32) * F32(200 / 255)
    with pytest.raises(MetricInputError, match="allow_fractional_gt"):
        binary_scores(pred, frac)
    r = binary_scores(pred, frac, allow_fractional_gt=True)
    assert r["fractional_gt"] is True
    # with 0/1 values the fractional arithmetic is the ordinary one
    same = binary_scores(pred, gt.astype(F32), allow_fractional_gt=True)
    assert same["fractional_gt"] is False
    assert same["miou"] == binary_scores(pred, gt)["miou"]
    # official float formulas: a frame with gt v/255 where predicted scores inter/union
    g = frac[0, 1].astype(np.float64)
    pos = float32_sigmoid(pred[0, 1]) > 0.5
    want = (pos * g).sum() / np.maximum(pos, g).sum()
    assert r["per_frame_iou"][1] == pytest.approx(want, abs=1e-6)


# ---- per-dataset protocol -------------------------------------------------------------------


def test_binary_per_dataset_protocol_is_opt_in_and_records_its_classes():
    pred, gt = _frames((FRAME_A_PRED, FRAME_A_GT), (FRAME_B_PRED, FRAME_B_GT))
    official = binary_scores(pred, gt, frames_per_clip=2)
    assert official["protocol"] == "official"
    both = binary_scores(pred, gt, frames_per_clip=2, protocol="per-dataset")
    obj = binary_scores(
        pred, gt, frames_per_clip=2, protocol="per-dataset", per_dataset_classes="object"
    )
    # pooled pixels: TP 1, FP 2, FN 1, TN 4
    assert both["protocol"] == obj["protocol"] == "per-dataset"
    assert both["per_dataset_classes"] == "background+object" and both["classes"] == [
        "background",
        "object",
    ]
    assert obj["per_dataset_classes"] == "object" and obj["classes"] == ["object"]
    assert obj["miou"] == pytest.approx(1 / 4, abs=1e-9)
    assert both["miou"] == pytest.approx((1 / 4 + 4 / 7) / 2, abs=1e-9)
    assert obj["fscore"] == pytest.approx(1.3 / 3.6, abs=1e-9)
    assert both["fscore"] == pytest.approx((1.3 / 3.6 + 5.2 / 6.8) / 2, abs=1e-9)
    assert "per_frame_iou" not in both  # nothing official hides in a per-dataset result
    acc = BinaryMetricAccumulator(frames_per_clip=2)
    acc.add_clip(pred, gt)
    assert acc.result()["protocol"] == "official"
    assert acc.result("per-dataset")["miou"] == both["miou"]


# ---- review rows --------------------------------------------------------------------------------


def test_clip_rows_list_the_worst_clips_first():
    rng = np.random.default_rng(12)
    pred, gt = _random_clips(rng, clips=5)
    pred[2] = -pred[2]  # a clip the model gets badly wrong
    r = binary_scores(pred, gt, clip_ids=["a", "b", "c", "d", "e"])
    rows = clip_rows(r)
    assert rows[0]["clip_id"] == "c" and rows[0]["rank"] == 1
    mious = [row["miou"] for row in rows]
    assert mious == sorted(mious)
    assert {row["clip_id"] for row in rows} == set("abcde")
    parsed = list(csv.DictReader(io.StringIO(clip_rows_csv(r))))
    assert [p["clip_id"] for p in parsed] == [row["clip_id"] for row in rows]
    assert set(parsed[0]) == {"rank", "clip_id", "miou", "fscore", "frames", "empty_gt_frames"}
    assert [row["clip_id"] for row in clip_rows(r, worst_first=False)] == list("abcde")


def test_avss_clip_rows_use_the_classes_occurring_in_each_clip():
    logits, gt = _s_example(71)
    r = semantic_scores(logits, gt, frames_per_clip=1, clip_ids=["s1", "s2"])
    # step 1: classes 0,1,2 with IoU 1, 0.5, 0.5; step 2: classes 0,1 with IoU 0.75, 0
    assert r["per_clip_miou"] == pytest.approx([2 / 3, 0.375], abs=1e-7)
    assert r["per_clip_classes"] == [3, 2]
    rows = clip_rows(r)
    assert [row["clip_id"] for row in rows] == ["s2", "s1"] and rows[0]["classes"] == 2
    with pytest.raises(MetricInputError, match="official"):
        clip_rows(semantic_scores(logits, gt, frames_per_clip=1, protocol="per-dataset"))


# ---- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pred,gt,kwargs,match",
    [
        (np.zeros((5, 4, 4)), np.zeros((5, 4, 5)), {}, "shape"),
        (np.zeros((7, 4, 4)), np.zeros((7, 4, 4)), {}, "clips of 5"),
        (np.zeros((4, 4)), np.zeros((4, 4)), {}, "clips, frames"),
        (np.zeros((5, 4, 4)), np.full((5, 4, 4), 255, np.uint8), {}, "divide by 255"),
        (np.zeros((5, 4, 4)), np.full((5, 4, 4), 2), {}, "only 0 and 1"),
        (np.full((5, 4, 4), np.nan), np.zeros((5, 4, 4)), {}, "NaN"),
        (np.full((5, 4, 4), 1.5), np.zeros((5, 4, 4)), {"kind": "probs"}, r"\[0, 1\]"),
        (np.full((5, 4, 4), 255), np.zeros((5, 4, 4)), {"kind": "masks"}, "divide by 255"),
        (np.zeros((5, 4, 4)), np.zeros((5, 4, 4)), {"kind": "heatmap"}, "kind"),
        (np.zeros((5, 4, 4)), np.zeros((5, 4, 4)), {"batch_size": 0}, "batch_size"),
        (np.zeros((5, 4, 4)), np.zeros((5, 4, 4)), {"protocol": "coco"}, "protocol"),
        (
            np.zeros((5, 4, 4)),
            np.zeros((5, 4, 4)),
            {"protocol": "per-dataset", "per_dataset_classes": "all"},
            "per_dataset_classes",
        ),
        (np.array(["a"] * 80).reshape(5, 4, 4), np.zeros((5, 4, 4)), {}, "numeric"),
    ],
)
def test_bad_binary_input_raises_a_clear_error(pred, gt, kwargs, match):
    with pytest.raises(MetricInputError, match=match) as info:
        binary_scores(pred, gt, **kwargs)
    assert isinstance(info.value, MaskError) and isinstance(info.value, ValueError)
    assert isinstance(info.value, AVSError)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: semantic_scores(np.zeros((10, 3, 4, 4)), np.full((10, 4, 4), 3)), "0..2"),
        (lambda: semantic_scores(np.zeros((10, 3, 4, 4)), np.zeros((10, 4, 5))), "shape"),
        (lambda: semantic_scores(np.full((10, 3, 4, 4), np.inf), np.zeros((10, 4, 4))), "finite"),
        (lambda: semantic_scores(np.zeros((9, 3, 4, 4)), np.zeros((9, 4, 4))), "clips of 10"),
        (lambda: semantic_scores(np.zeros((10, 4, 4)), np.zeros((10, 4, 4))), "classes"),
        (
            lambda: semantic_scores_from_labels(np.full((10, 4, 4), 71), np.zeros((10, 4, 4))),
            "0..70",
        ),
        (
            lambda: semantic_scores_from_labels(np.full((10, 4, 4), 0.5), np.zeros((10, 4, 4))),
            "whole",
        ),
        (
            lambda: semantic_scores_from_labels(np.zeros((10, 4, 4)), np.full((10, 4, 4), -1)),
            "0..70",
        ),
        (
            lambda: SemanticMetricAccumulator(num_classes=5).add_clip(
                np.zeros((10, 4, 4, 4)), np.zeros((10, 4, 4))
            ),
            "channels",
        ),
        (
            lambda: SemanticMetricAccumulator().add_clip(np.zeros((5, 4, 4)), np.zeros((5, 4, 4))),
            "pads",
        ),
        (lambda: SemanticMetricAccumulator().result(), "no clips"),
        (lambda: BinaryMetricAccumulator().result(), "no clips"),
    ],
)
def test_bad_semantic_input_raises_a_clear_error(call, match):
    with pytest.raises(MetricInputError, match=match):
        call()


def test_empty_predicted_everything_is_not_nan():
    """No prediction and no ground truth anywhere: defined values, never NaN."""
    r = binary_scores(np.full((1, 5, 4, 4), -9, F32), np.zeros((1, 5, 4, 4)))
    assert r["miou"] == 1.0 and r["fscore"] == 0.0
    s = semantic_scores_from_labels(np.zeros((10, 4, 4)), np.zeros((10, 4, 4)))
    assert s["miou"] == pytest.approx(1 / 71, abs=1e-7) and not math.isnan(s["fscore"])
    assert s["per_frame_miou_list"] == [1.0] * 10
