"""SAM-family models the user names: ONNX encoder/decoder pairs run with ONNX Runtime.

AVS Studio ships no weights and downloads nothing: the user points the preferences at an
encoder and a decoder file (SAM ViT-B/L/H, MobileSAM, EdgeSAM, EfficientSAM, SAM 2/2.1, as
samexporter, X-AnyLabeling, osam/labelme or the models' own scripts wrote them); which
one it is comes from the files' input and output names (:mod:`.sam_spec`). The quality of
the masks is the quality of the user's model.

The encoder turns an image into an embedding once (a second or more on a CPU); every click
then runs only the decoder (tens of milliseconds). :class:`SamSegmenter` keeps embeddings
in a bounded LRU (:class:`~avs_studio.core.assist.cache.EmbeddingCache`) keyed by the
caller's image key, and ``prepare`` fills it in the background. ONNX Runtime runs on the
CPU, or on CUDA when the installed build lists ``CUDAExecutionProvider``.

Masks always come from the decoder's *low-resolution* logits, post-processed here: the
``masks`` output of SAM 1 decoders exported with segment-anything 1.0 from PyPI is
cropped to the aspect ratio of the export's dummy image (a traced constant).
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avs_studio.core.assist.cache import EmbeddingCache
from avs_studio.core.assist.prompt import (
    AssistUnavailable,
    Prompt,
    Segmenter,
    SegmentResult,
    check_image,
)
from avs_studio.core.assist.sam_spec import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    LOWRES,
    MODEL_SIDE,
    SAM_MEAN,
    SAM_STD,
    Port,
    SamSpec,
    detect_pair,
)

__all__ = ["Embedding", "SamModel", "SamSegmenter", "onnxruntime_status", "providers"]

_DTYPES = {"float": np.float32, "float32": np.float32, "double": np.float64, "int64": np.int64,
           "int32": np.int32, "bool": np.bool_}  # fmt: skip
INSTALL_HINT = "pip install 'avs-studio[assist]' (or: pip install onnxruntime)"


def onnxruntime_status() -> str:
    """'' when ONNX Runtime can be imported, else why SAM models are unavailable."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        return f"SAM models need ONNX Runtime, which is not installed ({exc}); {INSTALL_HINT}"
    return ""


def providers() -> list[str]:
    """The execution providers to use: CUDA when this ONNX Runtime build has it, the CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()  # never get_all_providers(): it lists CUDA on CPU builds
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available] or available


def _ports(items) -> list[Port]:
    out = []
    for a in items:
        dtype = str(a.type).replace("tensor(", "").rstrip(")")
        shape = tuple(d if isinstance(d, int) else None for d in (a.shape or ()))
        out.append(Port(a.name, dtype, shape))
    return out


@dataclass
class Embedding:
    """An image's embedding: the encoder's outputs by role, and the image's size."""

    arrays: dict[str, np.ndarray]
    size: tuple[int, int]  # (h, w) of the image
    notes: list[str] = field(default_factory=list)


class SamModel:
    """An encoder/decoder pair loaded in ONNX Runtime; ``embed`` then ``decode``."""

    def __init__(self, encoder: str | os.PathLike[str], decoder: str | os.PathLike[str], *,
                 device_providers: list[str] | None = None, threads: int | None = None) -> None:  # fmt: skip
        status = onnxruntime_status()
        if status:
            raise AssistUnavailable(status)
        import onnxruntime as ort

        self.encoder_path, self.decoder_path = Path(encoder), Path(decoder)
        for what, path in (("encoder", self.encoder_path), ("decoder", self.decoder_path)):
            if not path.is_file():
                raise AssistUnavailable(f"the SAM {what} {path} does not exist (set it in the preferences)")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        opts.log_severity_level = 3
        self.providers = device_providers or providers()
        self._enc = self._session(ort, self.encoder_path, opts, "encoder")
        self._dec = self._session(ort, self.decoder_path, opts, "decoder")
        self.spec: SamSpec = detect_pair(_ports(self._enc.get_inputs()), _ports(self._enc.get_outputs()),
                                         _ports(self._dec.get_inputs()), _ports(self._dec.get_outputs()))  # fmt: skip
        self._enc_out = [o.name for o in self._enc.get_outputs()]

    def _session(self, ort, path: Path, opts, what: str):
        try:
            return ort.InferenceSession(str(path), sess_options=opts, providers=self.providers)
        except Exception as exc:  # ORT raises its own exception types for every kind of bad file
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AssistUnavailable(f"{path}: cannot load the SAM {what} ({first})") from None

    @property
    def title(self) -> str:
        """"SAM 2 (osam) on CPUExecutionProvider"."""
        return f"{self.spec.title} on {self.providers[0]}"

    # ------------------------------------------------------------------ the encoder
    def embed(self, image: np.ndarray) -> Embedding:
        """Run the encoder on an RGB image."""
        img = check_image(image)
        h, w = img.shape[:2]
        outputs = self._enc.run(None, {self.spec.encoder_input: self._prepare(img)})
        by_name = dict(zip(self._enc_out, outputs))
        arrays = {role: np.asarray(by_name[name], np.float32) for role, name in self.spec.encoder_outputs.items()}
        return Embedding(arrays, (h, w))

    def _prepare(self, img: np.ndarray) -> np.ndarray:
        import cv2

        h, w = img.shape[:2]
        prep = self.spec.image_prep
        if prep in ("sam_hwc", "sam_nchw"):
            nh, nw = longest_side(h, w)
            x = _resize(img, nw, nh).astype(np.float32)
            if prep == "sam_hwc":
                return x  # the graph normalises and pads
            x = (x - np.asarray(SAM_MEAN, np.float32)) / np.asarray(SAM_STD, np.float32)
            x = np.pad(x, ((0, MODEL_SIDE - nh), (0, MODEL_SIDE - nw), (0, 0)))
            return np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        if prep == "stretch":
            x = cv2.resize(img, (MODEL_SIDE, MODEL_SIDE), interpolation=cv2.INTER_AREA if max(h, w) > MODEL_SIDE
                           else cv2.INTER_LINEAR).astype(np.float32) / 255.0  # fmt: skip
            x = (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
            return np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        x = img.astype(np.float32) / 255.0  # EfficientSAM: the graph resizes and normalises
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    # ------------------------------------------------------------------ the decoder
    def decode(self, emb: Embedding, prompt: Prompt, previous: np.ndarray | None = None
               ) -> tuple[np.ndarray, float, np.ndarray | None, list[str]]:  # fmt: skip
        """The mask for ``prompt``: ``(bool mask [H, W], score, low-res logits to pass back as
        ``previous`` with the next click (None when the model takes no mask input), notes)``."""
        spec = self.spec
        h, w = emb.size
        notes: list[str] = []
        pts = [(c.x, c.y) for c in prompt.clicks]
        labels = [1.0 if c.positive else 0.0 for c in prompt.clicks]
        box = prompt.box
        if box is None and not prompt.positives and prompt.prior is not None and np.any(prompt.prior):
            rows = np.flatnonzero(np.any(prompt.prior, axis=1))
            cols = np.flatnonzero(np.any(prompt.prior, axis=0))
            box = (float(cols[0]), float(rows[0]), float(cols[-1]), float(rows[-1]))
        if box is not None:
            pts += [(box[0], box[1]), (box[2], box[3])]
            labels += [2.0, 3.0]
        if spec.max_points is not None and len(pts) > spec.max_points:
            keep = spec.max_points
            corners = 2 if box is not None else 0
            clicks = max(0, keep - corners)
            notes.append(f"{spec.title} takes at most {keep} points: the {len(prompt.clicks) - clicks} oldest "
                         "click(s) were left out")  # fmt: skip
            pts = pts[len(prompt.clicks) - clicks : len(prompt.clicks)] + pts[len(prompt.clicks) :]
            labels = labels[len(prompt.clicks) - clicks : len(prompt.clicks)] + labels[len(prompt.clicks) :]
        coords = np.asarray(pts, np.float64).reshape(-1, 2)
        lab = np.asarray(labels, np.float32)
        if spec.coords == "longest":
            nh, nw = longest_side(h, w)
            coords = coords * (nw / w, nh / h)
        elif spec.coords == "stretch":
            coords = coords * (MODEL_SIDE / w, MODEL_SIDE / h)
        if spec.padding_point and box is None:
            coords = np.concatenate([coords, [[0.0, 0.0]]], axis=0)
            lab = np.concatenate([lab, [-1.0]]).astype(np.float32)
        feed = self._feed(emb, coords, lab, previous)
        outputs = self._dec.run(None, feed)
        return self._mask(outputs, emb.size, len(lab)) + (notes,)

    def _feed(self, emb: Embedding, coords: np.ndarray, labels: np.ndarray, previous: np.ndarray | None) -> dict:
        spec = self.spec
        ports = spec.decoder_inputs
        h, w = emb.size

        def typed(role: str, value) -> np.ndarray:
            return np.asarray(value, dtype=_DTYPES.get(ports[role].dtype, np.float32))

        feed = {ports["embed"].name: emb.arrays["embed"]}
        for role in ("feats0", "feats1"):
            if role in ports:
                feed[ports[role].name] = emb.arrays[role]
        if spec.family == "efficientsam":
            feed[ports["coords"].name] = typed("coords", coords.reshape(1, 1, -1, 2))
            feed[ports["labels"].name] = typed("labels", labels.reshape(1, 1, -1))
        else:
            feed[ports["coords"].name] = typed("coords", coords.reshape(1, -1, 2))
            feed[ports["labels"].name] = typed("labels", labels.reshape(1, -1))
        if "mask_input" in ports:
            has = previous is not None
            mask = previous.reshape(1, 1, LOWRES, LOWRES) if has else np.zeros((1, 1, LOWRES, LOWRES))
            feed[ports["mask_input"].name] = typed("mask_input", mask)
            feed[ports["has_mask"].name] = typed("has_mask", [1.0 if has else 0.0])
        if "orig_size" in ports:
            feed[ports["orig_size"].name] = typed("orig_size", [h, w])
        return feed

    def _mask(self, outputs: list, size: tuple[int, int], n_points: int
              ) -> tuple[np.ndarray, float, np.ndarray | None]:  # fmt: skip
        spec = self.spec
        h, w = size
        pos = spec.decoder_outputs
        scores = np.asarray(outputs[pos["scores"]], np.float32).reshape(-1)
        low = None
        if "low_res" in pos:
            low = np.asarray(outputs[pos["low_res"]], np.float32)
            low = low.reshape(-1, LOWRES, LOWRES)
            k = _pick(scores, len(low), n_points)
            logits = self._upsample(low[k], size)
            chosen_low = low[k]
        else:  # EfficientSAM: full-size logits (read by position)
            full = np.asarray(outputs[pos["masks"]])
            full = full.reshape(-1, full.shape[-2], full.shape[-1])
            k = _pick(scores, len(full), n_points) if len(scores) == len(full) else 0
            logits = full[k].astype(np.float32)
            chosen_low = None
            if logits.shape != (h, w):
                logits = _resize(logits, w, h)
        mask = logits > 0.0
        score = float(scores[k]) if k < len(scores) else float("nan")
        keep_low = chosen_low if "mask_input" in spec.decoder_inputs else None
        return mask, score, keep_low

    def _upsample(self, low: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Low-res logits (256x256 of the model frame) to the image's size."""
        import cv2

        h, w = size
        if self.spec.coords == "stretch":
            return cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR)
        # SAM 1 / EdgeSAM: the model frame is the image resized to a longest side of 1024,
        # padded at the bottom and right: upsample, crop the image's part, resize.
        nh, nw = longest_side(h, w)
        up = cv2.resize(low, (MODEL_SIDE, MODEL_SIDE), interpolation=cv2.INTER_LINEAR)[:nh, :nw]
        return cv2.resize(np.ascontiguousarray(up), (w, h), interpolation=cv2.INTER_LINEAR)


def _pick(scores: np.ndarray, count: int, n_points: int) -> int:
    """Which of the decoder's masks to use: SAM's own rule when it gives its four tokens
    (the single-mask token 0 for several points, else the best-scored of the three
    candidates); the best-scored otherwise."""
    scores = scores[:count]
    if count == 4:
        return 0 if n_points > 2 else 1 + int(np.argmax(scores[1:4]))
    return int(np.argmax(scores)) if len(scores) else 0


def longest_side(h: int, w: int, side: int = MODEL_SIDE) -> tuple[int, int]:
    """``(new_h, new_w)`` with the longest side ``side`` (segment-anything's rounding)."""
    scale = side / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def _resize(a: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    shrink = a.shape[0] * a.shape[1] > w * h
    return cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


@dataclass
class _SamState:
    key: Hashable | None
    low: np.ndarray | None


class SamSegmenter(Segmenter):
    """A :class:`SamModel` behind the segmenter interface, with embeddings cached by key."""

    def __init__(self, model: SamModel, cache: EmbeddingCache | None = None) -> None:
        self.model = model
        self.cache = cache or EmbeddingCache()
        self.name = model.spec.title

    @classmethod
    def from_files(cls, encoder: str | os.PathLike[str], decoder: str | os.PathLike[str], **kw: Any) -> SamSegmenter:
        """Load a pair (an AssistUnavailable says why it cannot be used)."""
        return cls(SamModel(encoder, decoder, **kw))

    def prepare(self, image: np.ndarray, key: Hashable) -> None:
        """Compute and cache the embedding of ``image`` under ``key``."""
        self.cache.get(key, lambda: self.model.embed(image))

    def is_prepared(self, key: Hashable) -> bool:
        """True when the embedding of ``key`` is cached."""
        return key in self.cache

    def segment(self, image: np.ndarray, prompt: Prompt, *, state: Any = None,
                key: Hashable | None = None) -> SegmentResult:  # fmt: skip
        """The decoder's mask for ``prompt`` (the embedding from the cache when ``key`` is
        given and known, else computed now)."""
        img = check_image(image)
        h, w = img.shape[:2]
        previous = state.low if isinstance(state, _SamState) and state.key == key else None
        if prompt.empty and previous is None:
            return SegmentResult(np.zeros((h, w), bool), notes=["no positive click, box or prior mask"])
        emb = self.cache.get(key, lambda: self.model.embed(img)) if key is not None else self.model.embed(img)
        if emb.size != (h, w):
            emb = self.model.embed(img)  # the key named another image: do not trust it
        mask, score, low, notes = self.model.decode(emb, prompt, previous)
        return SegmentResult(mask, score, _SamState(key, low), notes)
