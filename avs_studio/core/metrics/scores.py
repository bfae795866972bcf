"""Score maps on disk: compact, and lossless for the official metrics.

The official S4/MS3 metrics look at a probability only through two questions: which of
the 255 F-score thresholds it reaches, and whether it is above 0.5. So one uint8 per pixel
answers both exactly: the *code* is the number of thresholds reached (1..255), except
that pixels in the one bucket that straddles 0.5 and are not above it get code 0. Decoding
gives a representative float32 logit per code that the metrics score bit for bit like the
original (see :func:`decode_binary_scores`). AVSS metrics depend only on the argmax, so
AVSS score maps store the class index (and a confidence for display).

File: ``scores/<clip_id>.npz`` (``np.savez_compressed``, no pickles) with ``format``,
``version``, ``kind`` ("binary-codes" or "semantic-labels") and the arrays.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from functools import lru_cache

import numpy as np

from avs_studio.core.errors import FormatError
from avs_studio.core.fsutil import atomic_path, require_regular_file
from avs_studio.core.metrics.f32 import (
    bucket_logits,
    bucket_probs,
    half_logit,
    logit_thresholds,
    softmax_argmax,
)

FORMAT = "avs-studio-scores"
VERSION = 1


@lru_cache(maxsize=1)
def _straddle_bucket() -> int:
    """The bucket holding the smallest logit whose sigmoid is above 0.5."""
    return int(bucket_logits(np.array([half_logit()], dtype=np.float32))[0])


def encode_binary_scores(scores: np.ndarray, *, kind: str = "logits") -> np.ndarray:
    """uint8 codes ``[..., H, W]`` of logits (or probabilities with ``kind='probs'``)."""
    x = np.asarray(scores, dtype=np.float32)
    if not np.isfinite(x).all() and kind == "probs":
        raise FormatError("probabilities must be finite")
    if np.isnan(x).any():
        raise FormatError("score maps contain NaN")
    if kind == "logits":
        buckets = bucket_logits(x)
        positive = x >= half_logit()
    elif kind == "probs":
        if x.size and (x.min() < 0 or x.max() > 1):
            raise FormatError("probabilities must lie in [0, 1]")
        buckets = bucket_probs(x)
        positive = x > np.float32(0.5)
    else:
        raise ValueError(f"kind must be 'logits' or 'probs', got {kind!r}")
    codes = buckets.astype(np.uint8)
    codes[(buckets == _straddle_bucket()) & ~positive] = 0
    return codes


@lru_cache(maxsize=1)
def _code_logits() -> np.ndarray:
    x = logit_thresholds()
    table = np.empty(256, dtype=np.float32)
    table[1:] = x  # code c >= 1: the smallest logit reaching exactly c thresholds
    kb = _straddle_bucket()
    table[0] = x[kb - 1]  # in the straddling bucket, not above 0.5
    table[kb] = half_logit()  # in the straddling bucket, above 0.5
    table[1] = -104.0  # bucket 1 starts at -inf; any very negative finite logit will do
    table.setflags(write=False)
    return table


def decode_binary_scores(codes: np.ndarray) -> np.ndarray:
    """Representative float32 logits of uint8 codes; the official metrics score them exactly
    as the original logits."""
    return _code_logits()[np.asarray(codes, dtype=np.uint8)]


def code_probabilities(codes: np.ndarray) -> np.ndarray:
    """Approximate probabilities of codes (for display): the lower threshold of each bucket."""
    from avs_studio.core.metrics.f32 import THRESHOLDS

    table = np.empty(256, dtype=np.float32)
    table[1:] = THRESHOLDS
    table[0] = THRESHOLDS[_straddle_bucket() - 1]
    return table[np.asarray(codes, dtype=np.uint8)]


def write_score_file(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], kind: str) -> None:
    """Write one clip's score maps atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, format=np.array(FORMAT), version=np.array(VERSION), kind=np.array(kind),
                            **arrays)  # fmt: skip


def write_binary_scores(path: str | os.PathLike[str], logits: np.ndarray) -> None:
    """Store S4/MS3 logits ``[T, H, W]`` losslessly for the official metrics."""
    write_score_file(path, {"codes": encode_binary_scores(logits)}, "binary-codes")


def write_semantic_scores(path: str | os.PathLike[str], logits: np.ndarray) -> None:
    """Store AVSS logits ``[T, C, H, W]`` as argmax labels (all the official metrics use)
    and the winning softmax probability as uint8 (for display)."""
    x = np.asarray(logits, dtype=np.float32)
    labels = softmax_argmax(x)
    # The confidence is for display only: plain float32 exp is plenty (the torch-exact
    # softmax of the metrics would cost seconds per clip here).
    top = np.take_along_axis(x, labels[:, None].astype(np.intp), axis=1)
    with np.errstate(over="ignore", under="ignore"):
        conf = 1.0 / np.exp(x - top).sum(axis=1, dtype=np.float32)
    write_score_file(
        path,
        {"labels": labels.astype(np.uint8), "confidence": np.round(conf * 255).astype(np.uint8)},
        "semantic-labels",
    )


def read_score_file(path: str | os.PathLike[str]) -> tuple[str, np.ndarray]:
    """Read one clip's score file -> ``(kind, array)`` where kind is what the metrics take.

    Returns ``("logits", float32 [T,H,W])`` for binary codes or raw logits,
    ``("probs", ...)`` for stored probabilities, ``("labels", uint8 [T,H,W])`` for AVSS.
    Never unpickles (``allow_pickle=False``).
    """
    path = require_regular_file(path, FormatError, "score file")  # a FIFO would block np.load
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            if "codes" in keys:
                return "logits", decode_binary_scores(z["codes"])
            if "labels" in keys:
                return "labels", np.asarray(z["labels"])
            if "logits" in keys:
                arr = np.asarray(z["logits"], dtype=np.float32)
                return ("logits", arr)
            if "probs" in keys:
                return "probs", np.asarray(z["probs"], dtype=np.float32)
    except FileNotFoundError:
        raise FormatError(f"{path}: not found") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, zlib.error, KeyError, TypeError) as exc:
        # (a damaged archive fails in zlib, in zipfile or in numpy's header parser)
        raise FormatError(f"{path}: not a readable .npz score file ({exc})") from None
    raise FormatError(f"{path}: holds none of 'codes', 'labels', 'logits', 'probs'")
