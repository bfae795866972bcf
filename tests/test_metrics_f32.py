"""The float32 building blocks of the metrics: thresholds, sigmoid, softmax, summation order
and the threshold buckets behind the one-pass F-score sweep."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from avs_studio.core.metrics import f32 as m32
from avs_studio.core.metrics.binary import f_beta_f32, fscore_curve

F32 = np.float32
T = m32.THRESHOLDS


def test_thresholds_are_the_float32_linspace():
    assert T.dtype == F32 and T.shape == (255,)
    assert T[0] == 0 and T[-1] == 1.0
    assert np.all(np.diff(T) > 0)
    assert np.max(np.abs(T - np.arange(255) / 254)) <= 6e-8


def test_logit_thresholds_split_the_float32_sigmoid_exactly():
    """X[i] is the first float32 whose sigmoid reaches t[i]; nearby floats fall on their side."""
    x = m32.logit_thresholds()
    assert x[0] == -np.inf and np.all(np.diff(x[1:]) > 0)
    ordered = m32._to_ordered(x[1:])
    window = np.arange(-600, 600)
    around = m32._from_ordered(ordered[:, None] + window[None, :])
    reached = m32.float32_sigmoid(around) >= T[1:, None]
    assert np.array_equal(reached, np.broadcast_to(window >= 0, reached.shape))
    half = m32.half_logit()
    near = m32._from_ordered(m32._to_ordered(half) + np.arange(-600, 600))
    assert np.array_equal(m32.float32_sigmoid(near) > 0.5, near >= half)
    assert F32(6e-8) < half <= F32(1e-7)


def test_sleef_exp_is_close_to_the_true_exponential():
    d = np.linspace(-87, 88, 200001).astype(F32)  # results in the normal float32 range
    got = m32.sleef_expf(d).astype(np.float64)
    want = np.exp(d.astype(np.float64))
    assert np.all(np.abs(got - want) <= 2.0**-22 * want)  # within 1 ulp-ish
    assert m32.sleef_expf(np.array([-200, 200, -np.inf, np.inf], F32)).tolist() == [
        0,
        np.inf,
        0,
        np.inf,
    ]


def test_softmax_sums_to_one_and_argmax_takes_the_first_of_equal_logits():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, (2, 7, 5, 5)).astype(F32)
    p = m32.float32_softmax(x)
    assert np.allclose(p.sum(axis=1), 1, atol=1e-6)
    x[:, 4] = x[:, 2] = x.max(axis=1) + 1  # exact tie between classes 2 and 4
    assert np.all(m32.softmax_argmax(x) == 2)


def test_near_ties_follow_the_float32_softmax_not_the_logits():
    """Logits 1 ulp apart near zero become equal probabilities: the first class wins."""
    base = np.zeros((1, 3, 1, 1), F32)
    base[0, 0] = -F32(1e-9)  # below class 1 as a logit, tied with it after softmax
    base[0, 1] = 0.0
    base[0, 2] = -5.0
    assert base[0, :, 0, 0].argmax() == 1
    p = m32.float32_softmax(base)
    assert p[0, 0, 0, 0] == p[0, 1, 0, 0]
    assert m32.softmax_argmax(base)[0, 0, 0] == 0


@pytest.mark.parametrize("n", [1, 3, 5, 7, 8, 9, 20, 31, 64, 70, 71, 200, 1000])
def test_torch_order_sum_is_close_to_the_exact_sum(n):
    rng = np.random.default_rng(n)
    v = rng.random(n).astype(F32)
    assert float(m32.torch_sum_f32(v)) == pytest.approx(
        float(np.sum(v, dtype=np.float64)), rel=1e-6
    )
    assert float(m32.torch_mean_f32(v)) == pytest.approx(
        float(np.mean(v, dtype=np.float64)), rel=1e-6
    )


# ---- buckets = the direct definition (property tests) --------------------------------------

SPECIAL_PROBS = [0.0, -0.0, 1.0, 0.5, *T[[1, 2, 126, 127, 128, 253, 254]].tolist()]


def probs_arrays():
    element = st.one_of(
        st.floats(0, 1, width=32),
        st.sampled_from(SPECIAL_PROBS),
        st.integers(0, 254).map(lambda i: float(T[i])),
        st.integers(1, 254).map(lambda i: float(np.nextafter(T[i], F32(-1)))),
    )
    return hnp.arrays(F32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=7), elements=element)


def logits_arrays():
    x = m32.logit_thresholds()
    element = st.one_of(
        st.floats(-30, 30, width=32),
        st.sampled_from([0.0, -0.0, 6e-8, 1e-7, 16.6, 17.0, -88.0, float("inf"), float("-inf")]),
        st.integers(1, 254).map(lambda i: float(x[i])),
        st.integers(1, 254).map(lambda i: float(np.nextafter(x[i], F32(-100)))),
    )
    return hnp.arrays(F32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=7), elements=element)


def naive_curve(prob: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """The F sweep literally: 255 passes, each with its own threshold comparison."""
    out = np.zeros(255, F32)
    for i in range(255):
        predicted = prob >= T[i]
        tp = F32(np.count_nonzero(predicted & gt))
        prec = tp / (F32(np.count_nonzero(predicted)) + F32(1e-20))
        rec = tp / (F32(np.count_nonzero(gt)) + F32(1e-20))
        with np.errstate(invalid="ignore"):
            f = F32(1.3) * prec * rec / (F32(0.3) * prec + rec)
        out[i] = 0 if np.isnan(f) else f
    return out


@settings(max_examples=150, deadline=None, database=None)
@given(probs_arrays(), st.data())
def test_bucketed_sweep_equals_the_naive_loop_on_probabilities(prob, data):
    gt = data.draw(hnp.arrays(np.bool_, prob.shape))
    k = m32.bucket_probs(prob)
    assert np.array_equal(k, m32.direct_bucket(prob))
    for i in (0, 1, 127, 254):
        assert np.count_nonzero(k > i) == np.count_nonzero(prob >= T[i])
    assert np.array_equal(fscore_curve(prob, gt, kind="probs"), naive_curve(prob, gt))


@settings(max_examples=150, deadline=None, database=None)
@given(logits_arrays(), st.data())
def test_bucketed_sweep_equals_the_naive_loop_on_logits(x, data):
    gt = data.draw(hnp.arrays(np.bool_, x.shape))
    prob = m32.float32_sigmoid(x)
    assert np.array_equal(m32.bucket_logits(x), m32.direct_bucket(prob))
    assert np.array_equal(x >= m32.half_logit(), prob > 0.5)
    assert np.array_equal(fscore_curve(x, gt), naive_curve(prob, gt))


def test_f_beta_handles_empty_predictions_and_perfect_ones():
    f = f_beta_f32(np.array([0, 5, 0]), np.array([0, 5, 3]), np.array([4, 5, 4]))
    assert f.tolist() == [0.0, 1.0, 0.0]
