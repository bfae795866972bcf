"""Checks on what is handed to the metrics, with messages a user can act on."""

from __future__ import annotations

import numpy as np

from avs_studio.core.errors import MaskError

F32 = np.float32

BINARY_KINDS = ("logits", "probs", "masks")
PROTOCOLS = ("official", "per-dataset")


class MetricInputError(MaskError, ValueError):
    """Predictions or ground truth that the metrics cannot score (shape, values, NaN)."""


def check_protocol(protocol: str) -> str:
    """Return ``protocol`` if it is known ('official' or 'per-dataset')."""
    if protocol not in PROTOCOLS:
        raise MetricInputError(
            f"unknown metric protocol {protocol!r}: expected 'official' (the default) or "
            "'per-dataset'"
        )
    return protocol


def check_positive_int(value, name: str) -> int:
    """Return ``value`` as an int if it is a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise MetricInputError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def _numeric(a, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise MetricInputError(f"{what} must be a numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise MetricInputError(f"{what} must be real-valued, got dtype {arr.dtype}")
    return arr


def _where(mask: np.ndarray) -> str:
    first = np.argwhere(mask)[0]
    return "frame " + str(int(first[0])) + ", pixel " + str(tuple(int(v) for v in first[1:]))


def binary_prediction(pred, kind: str, what: str = "prediction") -> np.ndarray:
    """Validate one clip's binary prediction ``[T, H, W]`` (or ``[T, 1, H, W]``) of ``kind``.

    Returns float32 logits or probabilities, or a bool mask for ``kind='masks'``.
    """
    if kind not in BINARY_KINDS:
        raise MetricInputError(
            f"unknown prediction kind {kind!r}: expected 'logits', 'probs' or 'masks'"
        )
    arr = _numeric(pred, what)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise MetricInputError(
            f"{what} of one clip must be [frames, height, width], got shape {tuple(arr.shape)}"
        )
    if min(arr.shape) == 0:
        raise MetricInputError(f"{what} is empty (shape {tuple(arr.shape)})")
    if kind == "masks":
        if arr.dtype == np.bool_:
            return arr
        bad = (arr != 0) & (arr != 1)
        if np.any(bad):
            hint = " (0/255 masks: divide by 255 first)" if np.nanmax(arr) == 255 else ""
            raise MetricInputError(
                f"{what} masks must hold only 0 and 1{hint}; found {arr[bad].flat[0]!r} at "
                f"{_where(bad)}"
            )
        return arr == 1
    if np.issubdtype(arr.dtype, np.floating):
        nan = np.isnan(arr)
        if np.any(nan):
            raise MetricInputError(f"{what} contains NaN (first at {_where(nan)})")
    out = arr.astype(F32, copy=False)
    if kind == "probs":
        bad = (out < 0) | (out > 1)
        if np.any(bad):
            raise MetricInputError(
                f"{what} probabilities must lie in [0, 1]; found {float(out[bad].flat[0])!r} at "
                f"{_where(bad)} (pass kind='logits' for raw model outputs)"
            )
    return out


def binary_ground_truth(gt, shape: tuple, allow_fractional: bool) -> tuple[np.ndarray, bool]:
    """Validate one clip's ground truth against the prediction ``shape``.

    Returns ``(gt, fractional)``: a bool mask, or (only with ``allow_fractional``) float32
    values in [0, 1] such as the official MS3 loader's ``v / 255`` targets.
    """
    arr = _numeric(gt, "ground truth")
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if tuple(arr.shape) != tuple(shape):
        raise MetricInputError(
            f"ground truth shape {tuple(arr.shape)} does not match the prediction {tuple(shape)}"
        )
    if arr.dtype == np.bool_:
        return arr, False
    binary = (arr == 0) | (arr == 1)
    if np.all(binary):
        return arr == 1, False
    bad = ~binary
    value = arr[bad].flat[0]
    if (
        allow_fractional
        and np.issubdtype(arr.dtype, np.floating)
        and not np.any(np.isnan(arr))
        and np.all((arr >= 0) & (arr <= 1))
    ):
        return arr.astype(F32, copy=False), True
    if np.issubdtype(arr.dtype, np.floating) and 0 <= value <= 1:
        hint = (
            " (fractional targets such as the official MS3 loader's v/255: pass "
            "allow_fractional_gt=True to score them with the official float arithmetic)"
        )
    elif value == 255 or np.nanmax(arr) == 255:
        hint = " (0/255 masks: divide by 255 first)"
    else:
        hint = ""
    raise MetricInputError(
        f"ground-truth masks must hold only 0 and 1{hint}; found {value!r} at {_where(bad)}"
    )


def semantic_logits(pred, num_classes: int | None) -> np.ndarray:
    """Validate one clip's AVSS logits ``[T, C, H, W]``; returns float32."""
    arr = _numeric(pred, "prediction")
    if arr.ndim != 4:
        raise MetricInputError(
            "AVSS logits of one clip must be [frames, classes, height, width], got shape "
            f"{tuple(arr.shape)}"
        )
    if min(arr.shape) == 0:
        raise MetricInputError(f"prediction is empty (shape {tuple(arr.shape)})")
    if num_classes is not None and arr.shape[1] != num_classes:
        raise MetricInputError(
            f"prediction has {arr.shape[1]} class channels, expected {num_classes}"
        )
    out = arr.astype(F32, copy=False)
    bad = ~np.isfinite(out)
    if np.any(bad):
        raise MetricInputError(
            f"prediction contains {float(out[bad].flat[0])!r} (first at frame "
            f"{int(np.argwhere(bad)[0][0])}); AVSS logits must be finite"
        )
    return out


def label_map(a, num_classes: int, what: str, shape: tuple | None = None) -> np.ndarray:
    """Validate a class-index map ``[T, H, W]`` with values 0..num_classes-1; returns int64."""
    arr = _numeric(a, what)
    if arr.ndim != 3:
        raise MetricInputError(
            f"{what} of one clip must be [frames, height, width] class indices, got shape "
            f"{tuple(arr.shape)}"
        )
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise MetricInputError(
            f"{what} shape {tuple(arr.shape)} does not match the prediction {tuple(shape)}"
        )
    if min(arr.shape) == 0:
        raise MetricInputError(f"{what} is empty (shape {tuple(arr.shape)})")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if np.any(bad):
            raise MetricInputError(
                f"{what} must hold whole class indices; found {arr[bad].flat[0]!r} at {_where(bad)}"
            )
    out = arr.astype(np.int64)
    bad = (out < 0) | (out >= num_classes)
    if np.any(bad):
        raise MetricInputError(
            f"{what} holds class index {int(out[bad].flat[0])} at {_where(bad)}; valid indices "
            f"are 0..{num_classes - 1} (there is no ignore label in AVSBench)"
        )
    return out
