"""Float32 arithmetic of the official metric code, reproduced in numpy.

The official AVSBench metrics run in PyTorch float32 on the CPU.  The primitives below decide
which side of a threshold a pixel falls on, or the last bit of an average, so they are
reproduced here bit for bit (checked against torch 2.13 on an x86 CPU by
``tests/test_metrics_torch.py``):

* **The 255 F-score thresholds**, ``torch.linspace(0, 1 - 1e-10, 255)`` in float32.
  ``1 - 1e-10`` is 1.0 in float32 and the step is the float32 quotient ``1 / 254``.  torch
  fills the first half from the start and the second half from the end, each value with a
  single rounding: ``t[i] = fl(step * i)`` for ``i < 127`` and ``t[i] = fl(1 - step * (254 - i))``
  for ``i >= 127``.  Products of a float32 and a small integer are exact in float64, so
  computing in float64 and rounding once gives these bits.
* **The float32 sigmoid** ``1 / (1 + exp(-x))``.  torch's vectorised CPU kernel takes ``exp``
  from SLEEF (``expf_u10``), which is not correctly rounded; a float32 sigmoid built on numpy's
  ``exp`` differs from torch's by an ulp or two for about one input in six, and at
  ``x = 1e-7`` gives exactly 0.5 where torch gives 0.50000006.  :func:`sleef_expf` follows SLEEF's algorithm (Cody-Waite
  reduction, degree-5 polynomial, fused multiply-adds), so :func:`float32_sigmoid` equals
  ``torch.sigmoid`` on every tested input.  (torch computes the last few elements of a
  vectorised chunk with the C library's ``expf``; those may differ by one ulp.)
* **The float32 softmax** over classes (max, ``exp(x - max)``, a running sum in class order,
  one division), whose argmax (first index on ties) is the AVSS prediction.
* **torch's summation order** for ``torch.sum`` / ``torch.mean`` of a short vector (the
  batch mean of frame IoUs, the AVSS class means): :func:`torch_sum_f32`.

Rather than evaluating the sigmoid for every pixel, logits are compared with precomputed
*logit thresholds*: for each probability threshold ``t[i]``, the smallest float32 logit whose
float32 sigmoid reaches it (found by bisection over float32 values with the exact sigmoid).
Because the float32 sigmoid is non-decreasing (verified over every float32 in [-104, 20];
it is 0 below and 1 above), ``sigmoid(x) >= t[i]`` if and only if ``x >= X[i]``; the tests
check this at and around every boundary.  The same applies to the IoU rule
``sigmoid(x) > 0.5``: it holds exactly for ``x >= half_logit()``, the smallest float32 whose
sigmoid is above 0.5 (8.9e-8: a logit of 0 or 6e-8 is background, 1e-7 is not).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

F32 = np.float32
NUM_THRESHOLDS = 255

# SLEEF expf_u10 constants (float32): log2(e), and ln(2) split into a high and a low part.
_R_LN2 = F32(1.442695040888963407359924681001892137426645954152985934135449406931)
_L2U = F32(0.693145751953125)
_L2L = F32(1.428606765330187045e-06)
_EXP_POLY = tuple(
    F32(c)
    for c in (
        0.000198527617612853646278381,
        0.00139304355252534151077271,
        0.00833336077630519866943359,
        0.0416664853692054748535156,
        0.166666671633720397949219,
        0.5,
    )
)


def _thresholds() -> np.ndarray:
    step = F32(1.0) / F32(NUM_THRESHOLDS - 1)  # end is fl32(1 - 1e-10) == 1.0
    i = np.arange(NUM_THRESHOLDS, dtype=np.float64)
    half = NUM_THRESHOLDS // 2
    t = np.where(i < half, np.float64(step) * i, 1.0 - np.float64(step) * (NUM_THRESHOLDS - 1 - i))
    out = t.astype(F32)
    out.setflags(write=False)
    return out


THRESHOLDS: np.ndarray = _thresholds()
"""The official float32 F-score thresholds, ``torch.linspace(0, 1 - 1e-10, 255)``."""


def _fma(a: np.ndarray, b, c) -> np.ndarray:
    """Float32 fused multiply-add, emulated in float64.

    The product of two float32 values is exact in float64; the sum is rounded twice (to
    float64, then float32), which differs from one rounding only when the float64 result
    lands exactly halfway between two float32 values, about once in 2**29 operations.
    """
    return (np.asarray(a, np.float64) * np.float64(b) + np.asarray(c, np.float64)).astype(F32)


def sleef_expf(d: np.ndarray) -> np.ndarray:
    """Float32 ``exp`` exactly as SLEEF's ``expf_u10`` (torch's vectorised CPU ``exp``) computes it."""
    d = np.asarray(d, dtype=F32)
    # Clip only to keep the integer conversion defined; the two limits are applied at the end.
    dc = np.clip(d, F32(-105.0), F32(101.0))
    q = np.rint(dc * _R_LN2).astype(np.int32)
    qf = q.astype(F32)
    s = _fma(qf, -_L2U, dc)
    s = _fma(qf, -_L2L, s)
    u = np.full(s.shape, _EXP_POLY[0], dtype=F32)
    for c in _EXP_POLY[1:]:
        u = _fma(u, s, c)
    u = F32(1.0) + _fma(s * s, u, s)
    q1 = q >> 1
    with np.errstate(over="ignore"):
        u = u * np.ldexp(F32(1.0), q1).astype(F32)
        u = u * np.ldexp(F32(1.0), q - q1).astype(F32)
    u = np.where(d < F32(-104.0), F32(0.0), u)
    u = np.where(d > F32(100.0), F32(np.inf), u)
    return u.astype(F32, copy=False)


def float32_sigmoid(x: np.ndarray) -> np.ndarray:
    """``torch.sigmoid`` of float32 values on the CPU, bit for bit: ``1 / (1 + exp(-x))``."""
    x = np.asarray(x, dtype=F32)
    with np.errstate(over="ignore"):
        return F32(1.0) / (F32(1.0) + sleef_expf(-x))


def float32_softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """``torch.softmax(logits, dim=axis)`` in float32 on the CPU, bit for bit.

    torch subtracts the maximum, exponentiates, adds the exponentials in class order and
    divides each by the sum; this repeats those steps in the same order.
    """
    x = np.asarray(logits, dtype=F32)
    m = x.max(axis=axis, keepdims=True)
    e = sleef_expf(x - m)
    e_moved = np.moveaxis(e, axis, 0)
    total = np.zeros(e_moved.shape[1:], dtype=F32)
    for plane in e_moved:  # sequential over classes, vectorised over pixels
        total = total + plane
    return (e / np.expand_dims(total, axis)).astype(F32, copy=False)


# ---- torch.sum of a short float32 vector ---------------------------------------------------
#
# The official code averages frame IoUs with ``torch.sum(v) / N`` (and AVSS class means with
# ``torch.mean``), which on the CPU accumulates in float32 in a fixed order: vectors of 8 lanes
# (also on an AVX-512 machine, where this was verified), 4 interleaved accumulators with a
# cascade, then the tail and the lanes one by one.  The order decides the last bit (the
# reference fixtures differ by 6e-8 from a sequential or exactly rounded sum), so it is
# reproduced here, for 1-D inputs short enough that one thread sums them.

_LANES = 8
_ILP = 4
_LEVELS = 4


def _ceil_log2(x: int) -> int:
    return 1 if x <= 2 else int(x - 1).bit_length()


def _multi_row_sum(rows: np.ndarray) -> np.ndarray:
    """``rows`` [size, 4, L] -> [4, L], torch's cascaded partial sums."""
    size = rows.shape[0]
    power = max(4, _ceil_log2(size) // _LEVELS)
    step = 1 << power
    mask = step - 1
    acc = np.zeros((_LEVELS, *rows.shape[1:]), dtype=F32)
    i = 0
    while i + step <= size:
        for _ in range(step):
            acc[0] = acc[0] + rows[i]
            i += 1
        for j in range(1, _LEVELS):
            acc[j] = acc[j] + acc[j - 1]
            acc[j - 1] = 0
            if i & (mask << (j * power)):
                break
    for r in range(i, size):
        acc[0] = acc[0] + rows[r]
    for j in range(1, _LEVELS):
        acc[0] = acc[0] + acc[j]
    return acc[0]


def _row_sum(rows: np.ndarray) -> np.ndarray:
    """``rows`` [size, L] -> [L]: torch's ``row_sum`` with 4-way interleaving."""
    size = rows.shape[0]
    n_ilp = size // _ILP
    partial = _multi_row_sum(rows[: n_ilp * _ILP].reshape(n_ilp, _ILP, rows.shape[1]))
    for r in range(n_ilp * _ILP, size):
        partial[0] = partial[0] + rows[r]
    for k in range(1, _ILP):
        partial[0] = partial[0] + partial[k]
    return partial[0]


def torch_sum_f32(values) -> np.float32:
    """``torch.sum`` of a 1-D float32 vector on the CPU, in torch's summation order."""
    v = np.asarray(values, dtype=F32).ravel()
    n = v.size
    if n < _LANES:
        return F32(_row_sum(v[:, None])[0])
    n_vec = n // _LANES
    lanes = _row_sum(v[: n_vec * _LANES].reshape(n_vec, _LANES))
    total = F32(0.0)
    for x in v[n_vec * _LANES :]:
        total = F32(total + x)
    for x in lanes:
        total = F32(total + x)
    return total


def torch_mean_f32(values) -> np.float32:
    """``torch.mean`` of a 1-D float32 vector on the CPU (its sum, then one float32 division)."""
    v = np.asarray(values, dtype=F32).ravel()
    return F32(torch_sum_f32(v) / F32(v.size))


# ---- logit thresholds --------------------------------------------------------------------


def _to_ordered(x: np.ndarray) -> np.ndarray:
    bits = np.asarray(x, dtype=F32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)


def _from_ordered(o: np.ndarray) -> np.ndarray:
    o = np.asarray(o, dtype=np.int64)
    bits = np.where(o < 0, (-o) | 0x80000000, o).astype(np.uint32)
    return bits.view(F32)


def _smallest_logit(test, n: int) -> np.ndarray:
    """Per entry, the smallest float32 logit in [-104, 20] where ``test(sigmoid, index)`` holds."""
    lo = np.full(n, _to_ordered(F32(-104.0)), dtype=np.int64)  # sigmoid == 0: test fails
    hi = np.full(n, _to_ordered(F32(20.0)), dtype=np.int64)  # sigmoid == 1: test holds
    idx = np.arange(n)
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        ok = test(float32_sigmoid(_from_ordered(mid)), idx)
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return _from_ordered(hi)


@lru_cache(maxsize=1)
def logit_thresholds() -> np.ndarray:
    """``X[i]``: the smallest float32 logit with ``float32_sigmoid(X[i]) >= THRESHOLDS[i]``.

    ``X[0]`` is ``-inf`` (threshold 0 takes every pixel).  Read-only, computed once.
    """
    t = THRESHOLDS
    x = _smallest_logit(lambda p, i: p >= t[i], NUM_THRESHOLDS)
    x = x.astype(F32)
    x[0] = -np.inf
    x.setflags(write=False)
    return x


@lru_cache(maxsize=1)
def _half_logit() -> float:
    return float(_smallest_logit(lambda p, i: p > F32(0.5), 1)[0])


def half_logit() -> np.float32:
    """The smallest float32 logit whose float32 sigmoid is above 0.5 (the official IoU rule)."""
    return F32(_half_logit())


# ---- bucketing -----------------------------------------------------------------------------
#
# A pixel's *bucket* k is the number of thresholds it reaches (t[i] <= p), 0..255.  The pixels
# predicted at threshold i are those with k > i, so one histogram of k per frame gives the
# counts for all 255 thresholds at once (a reverse cumulative sum).
#
# The bucket is read from a table indexed by the top 20 bits of the value's float32 bit
# pattern, mapped to a signed integer that orders like the floats.  Integer arithmetic makes
# the cell of a value exact; a cell holds one bucket unless a threshold falls strictly inside
# it, and the few values in such cells (about 1 % for typical logits) are resolved with
# ``searchsorted`` on the exact thresholds.  So the result equals the direct definition
# ``count(t <= v)`` bit for bit, with one table lookup per pixel and no sigmoid at all.

_CELL_SHIFT = 12
_CELL_OFFSET = 1 << (31 - _CELL_SHIFT)


def _ordered_bits(v: np.ndarray) -> np.ndarray:
    """Float32 values as int32 that order like the floats (-0.0 just below +0.0)."""
    b = np.asarray(v, dtype=F32).view(np.int32)
    return b ^ ((b >> 31) & np.int32(0x7FFFFFFF))


class _BucketTable:
    """Bucket lookup for one sorted float32 boundary vector (see the comment above)."""

    def __init__(self, bounds: np.ndarray) -> None:
        self.bounds = np.asarray(bounds, dtype=F32)
        ob = _ordered_bits(self.bounds).astype(np.int64)
        cells = np.arange(1 << (32 - _CELL_SHIFT), dtype=np.int64)
        first = (cells - _CELL_OFFSET) << _CELL_SHIFT  # first ordered value of each cell
        table = np.searchsorted(ob, first, side="right").astype(np.int16)
        inside = (ob & ((1 << _CELL_SHIFT) - 1)) != 0
        table[(ob[inside] >> _CELL_SHIFT) + _CELL_OFFSET] = -1
        if np.any(self.bounds == 0):  # -0.0 equals a zero boundary but orders below it
            table[(int(_ordered_bits(F32(-0.0))) >> _CELL_SHIFT) + _CELL_OFFSET] = -1
        self.table = table

    def __call__(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=F32)
        cell = _ordered_bits(v)
        cell >>= _CELL_SHIFT
        cell += _CELL_OFFSET
        k = self.table[cell]
        unsure = np.flatnonzero(k < 0)
        if unsure.size:
            k.flat[unsure] = np.searchsorted(self.bounds, v.flat[unsure], side="right")
        return k


@lru_cache(maxsize=1)
def _prob_table() -> _BucketTable:
    return _BucketTable(THRESHOLDS)


@lru_cache(maxsize=1)
def _logit_table() -> _BucketTable:
    return _BucketTable(logit_thresholds())


def bucket_probs(p: np.ndarray) -> np.ndarray:
    """Per pixel, the number of official thresholds ``t`` with ``t <= p`` (int16, 0..255)."""
    return _prob_table()(p)


def bucket_logits(x: np.ndarray) -> np.ndarray:
    """Per pixel, the number of thresholds ``t <= float32_sigmoid(x)``, without the sigmoid.

    Exact because the float32 sigmoid is non-decreasing (checked over every float32 in
    [-104, 20]), so ``sigmoid(x) >= t[i]`` exactly when ``x >= logit_thresholds()[i]``.
    """
    return _logit_table()(x)


def direct_bucket(p: np.ndarray) -> np.ndarray:
    """Reference definition of the bucket, ``searchsorted`` on the threshold vector (for tests)."""
    return np.searchsorted(THRESHOLDS, np.asarray(p, F32), side="right")


# ---- AVSS argmax ---------------------------------------------------------------------------

# Two classes whose logits are more than this apart cannot tie after the float32 softmax:
# exp(-1e-6) is 16 float32 ulps below 1, far more than exp's and the division's rounding.
_TIE_GAP = F32(1e-6)


def softmax_argmax(logits: np.ndarray) -> np.ndarray:
    """Per pixel, the argmax over classes of the float32 softmax (first index on ties).

    ``logits`` is ``[N, C, H, W]`` float32; returns int64 ``[N, H, W]``.  The softmax keeps
    the order of the logits except where a class lies within 1e-6 below the top logit, so
    that their float32 probabilities may become equal; those pixels (rare) are recomputed
    with :func:`float32_softmax`, all others take the first maximal logit.
    """
    x = np.asarray(logits, dtype=F32)
    n, c = x.shape[:2]
    top = np.zeros((n, *x.shape[2:]), dtype=np.int64)
    for f in range(n):  # frame by frame and class by class: contiguous planes, cache-friendly
        xf = x[f]
        m = xf.max(axis=0)
        near_floor = m - _TIE_GAP
        near = np.zeros(m.shape, dtype=np.uint8)  # classes within the gap of the maximum
        equal = np.zeros(m.shape, dtype=np.uint8)  # classes exactly at the maximum
        idx = top[f]
        for k in range(c - 1, -1, -1):  # descending, so the first maximal class is kept
            plane = xf[k]
            at_max = plane == m
            np.copyto(idx, k, where=at_max)
            equal += at_max
            near += plane >= near_floor
        # equal logits give equal probabilities (first index wins, as above); only a class
        # close to but below the maximum can tie with it after the softmax
        close = np.nonzero(near > equal)
        if close[0].size:
            sub = xf[(slice(None), *close)].T  # [K, C]
            idx[close] = float32_softmax(sub, axis=1).argmax(axis=1)
    return top
