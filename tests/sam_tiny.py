"""Tiny stand-ins for SAM-family ONNX pairs, built at test time (a few KB each, no weights).

Each builder writes an ``.onnx`` file whose inputs and outputs have the names, element
types and ranks the real exporters write (samexporter, osam/labelme, X-AnyLabeling, EdgeSAM,
EfficientSAM, onnxruntime's SAM 2 tools). What the graphs compute is simple and checkable:

* encoders average-pool the model-frame image onto the embedding grid(s), so the
  embedding's mean follows the image's (the decoders report it as their score, proving the
  embedding reached them);
* decoders draw, on the 256x256 low-resolution grid of the 1024x1024 model frame, a disc of
  radius ``R * factor_k`` around every positive point, cut such a disc around every
  negative point, fill the box of labels 2/3, and keep ``mask_input`` when
  ``has_mask_input`` is 1. Labels -1 (padding) count for nothing.

So a click at image point (x, y) gives a disc around (x, y) exactly when the host put the
click into the model frame correctly, and the mask comes back to the right place only when
the host post-processes the low-resolution logits correctly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIDE, LOW = 1024, 256
F32, I64, I32 = TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32
FACTORS = (1.0, 0.5, 1.0, 2.0)  # token 0 (single mask), tokens 1..3 (the candidates)
SCORE_OFFSETS = (0.0, -0.1, 0.2, -0.3)  # token 2 (factor 1.0) wins among the candidates


class Graph:
    """Nodes, constants and unique names."""

    def __init__(self) -> None:
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, base: str) -> str:
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, value, dtype=np.float32) -> str:
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, kind: str, inputs, out: str | None = None, **attrs) -> str:
        out = out or self.name(kind.lower())
        self.nodes.append(helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def save(self, path: Path, inputs, outputs) -> Path:
        graph = helper.make_graph(self.nodes, path.stem, inputs, outputs, initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
        return path


def vi(name: str, elem: int, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


# ---------------------------------------------------------------------- encoders


def _pool(g: Graph, x: str, stride: int, channels: int, out: str) -> str:
    pooled = g.op("AveragePool", [x], kernel_shape=[stride, stride], strides=[stride, stride])
    w = np.zeros((channels, 3, 1, 1), np.float32)
    w[np.arange(channels), np.arange(channels) % 3] = 1.0
    return g.op("Conv", [pooled, g.const(w)], out)


def sam_encoder(path: Path, *, hwc: bool = True, input_name: str = "input_image") -> Path:
    """SAM 1 / MobileSAM (samexporter --use-preprocess: HWC 0..255, dynamic size, the graph
    normalises and pads) or the NCHW variant (``hwc=False``: normalised, padded 1024x1024)."""
    g = Graph()
    if hwc:
        mean, std = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
        x = g.op("Div", [g.op("Sub", [input_name, g.const(mean)]), g.const(std)])
        chw = g.op("Transpose", [x], perm=[2, 0, 1])
        hw = g.op("Slice", [g.op("Shape", [chw]), g.const([1], np.int64), g.const([3], np.int64)])
        pads = g.op("Concat", [g.const([0, 0, 0, 0], np.int64), g.op("Sub", [g.const([SIDE, SIDE], np.int64), hw])],
                    axis=0)
        x = g.op("Unsqueeze", [g.op("Pad", [chw, pads]), g.const([0], np.int64)])
        inp = vi(input_name, F32, ["image_height", "image_width", 3])
    else:
        x, inp = input_name, vi(input_name, F32, [1, 3, SIDE, SIDE])
    _pool(g, x, 16, 256, "image_embeddings")
    return g.save(path, [inp], [vi("image_embeddings", F32, [1, 256, 64, 64])])


def sam2_encoder(path: Path, style: str) -> Path:
    """SAM 2 (``samexporter`` A, ``osam`` B, ``onnxruntime`` C): names and output order."""
    g = Graph()
    inp, outs = {"samexporter": ("image", ["high_res_feats_0", "high_res_feats_1", "image_embed"]),
                 "osam": ("input", ["image_embeddings", "high_res_features1", "high_res_features2"]),
                 "onnxruntime": ("image", ["image_features_0", "image_features_1", "image_embeddings"])}[style]
    channels = {}
    for name in outs:
        c = 256 if "embed" in name else (32 if name.endswith(("_0", "features1")) else 64)
        channels[name] = c
        _pool(g, inp, {32: 4, 64: 8, 256: 16}[c], c, name)
    size = {32: 256, 64: 128, 256: 64}
    return g.save(path, [vi(inp, F32, [1, 3, SIDE, SIDE])],
                  [vi(n, F32, [1, channels[n], size[channels[n]], size[channels[n]]]) for n in outs])


def efficientsam_encoder(path: Path) -> Path:
    """EfficientSAM: ``batched_images`` RGB 0..1 of any size; the graph stretches to 1024."""
    g = Graph()
    lead = g.op("Slice", [g.op("Shape", ["batched_images"]), g.const([0], np.int64), g.const([2], np.int64)])
    sizes = g.op("Concat", [lead, g.const([SIDE, SIDE], np.int64)], axis=0)
    x = g.op("Resize", ["batched_images", "", "", sizes], mode="linear")
    mean = np.asarray((0.485, 0.456, 0.406), np.float32).reshape(1, 3, 1, 1)
    std = np.asarray((0.229, 0.224, 0.225), np.float32).reshape(1, 3, 1, 1)
    _pool(g, g.op("Div", [g.op("Sub", [x, g.const(mean)]), g.const(std)]), 16, 256, "image_embeddings")
    return g.save(path, [vi("batched_images", F32, ["batch", 3, "height", "width"])],
                  [vi("image_embeddings", F32, ["batch", 256, 64, 64])])


# ---------------------------------------------------------------------- decoders


def _logits(g: Graph, coords: str, labels: str, radii, mask_input: str | None = None,
            has_mask: str | None = None) -> str:
    """``[1, K, 256, 256]`` logits: discs, holes, box, mask input (see the module docstring)."""
    k = len(radii)
    grid = g.op("Add", [g.op("Mul", [g.op("Range", [g.const(0.0), g.const(float(LOW)), g.const(1.0)]),
                                     g.const(SIDE / LOW)]), g.const(SIDE / LOW / 2)])
    gx = g.op("Reshape", [grid, g.const([1, 1, 1, LOW], np.int64)])  # [1,1,1,W]
    gy = g.op("Reshape", [grid, g.const([1, 1, LOW, 1], np.int64)])  # [1,1,H,1]
    # like SAM's prompt encoder, the graph takes pixel centres to continuous coordinates (+0.5)
    pts = g.op("Add", [g.op("Reshape", [coords, g.const([-1, 2], np.int64)]), g.const(0.5)])  # [N,2]
    lab = g.op("Reshape", [labels, g.const([-1, 1, 1, 1], np.int64)])  # [N,1,1,1]
    px = g.op("Reshape", [g.op("Gather", [pts, g.const(0, np.int64)], axis=1), g.const([-1, 1, 1, 1], np.int64)])
    py = g.op("Reshape", [g.op("Gather", [pts, g.const(1, np.int64)], axis=1), g.const([-1, 1, 1, 1], np.int64)])
    dx, dy = g.op("Sub", [gx, px]), g.op("Sub", [gy, py])
    d2 = g.op("Add", [g.op("Mul", [dx, dx]), g.op("Mul", [dy, dy])])  # [N,1,H,W]
    r = np.asarray(radii, np.float32).reshape(1, k, 1, 1)
    inside = g.op("Div", [g.op("Sub", [g.const(r**2), d2]), g.const(r)])  # [N,K,H,W]
    big = 1.0e4
    pos = g.op("ReduceMax", [g.op("Where", [g.op("Equal", [lab, g.const(1.0)]), inside, g.const(-big)])],
               axes=[0], keepdims=1)
    neg = g.op("ReduceMin", [g.op("Where", [g.op("Equal", [lab, g.const(0.0)]), g.op("Neg", [inside]),
                                            g.const(big)])], axes=[0], keepdims=1)
    # the box of labels 2 (top-left) and 3 (bottom-right)
    lab2 = g.op("Reshape", [labels, g.const([-1, 1], np.int64)])
    tl = g.op("ReduceMin", [g.op("Where", [g.op("Equal", [lab2, g.const(2.0)]), pts, g.const(big)])], axes=[0],
              keepdims=0)
    br = g.op("ReduceMax", [g.op("Where", [g.op("Equal", [lab2, g.const(3.0)]), pts, g.const(-big)])], axes=[0],
              keepdims=0)

    def comp(v: str, i: int) -> str:
        return g.op("Reshape", [g.op("Gather", [v, g.const(i, np.int64)]), g.const([1, 1, 1, 1], np.int64)])

    box = g.op("Min", [g.op("Sub", [gx, comp(tl, 0)]), g.op("Sub", [comp(br, 0), gx]),
                       g.op("Sub", [gy, comp(tl, 1)]), g.op("Sub", [comp(br, 1), gy])])
    box = g.op("Max", [g.op("Min", [box, g.const(big)]), g.const(-big)])
    union = g.op("Max", [pos, box])
    if mask_input is not None:
        has = g.op("Reshape", [has_mask, g.const([-1, 1, 1, 1], np.int64)])
        term = g.op("Add", [g.op("Mul", [has, mask_input]), g.op("Mul", [g.op("Sub", [has, g.const(1.0)]),
                                                                         g.const(big)])])
        union = g.op("Max", [union, term])
    return g.op("Min", [union, neg])


def _scores(g: Graph, embedding: str, offsets, out: str, shape) -> str:
    mean = g.op("ReduceMean", [embedding], keepdims=0)
    s = g.op("Add", [g.const(np.asarray(offsets, np.float32).reshape(1, -1)), mean])
    return g.op("Reshape", [s, g.const(shape, np.int64)], out)


def _resize(g: Graph, x: str, hw_int64: str, out: str | None = None) -> str:
    lead = g.op("Slice", [g.op("Shape", [x]), g.const([0], np.int64), g.const([2], np.int64)])
    return g.op("Resize", [x, "", "", g.op("Concat", [lead, hw_int64], axis=0)], out, mode="linear")


def sam_decoder(path: Path, *, radius: float = 64.0, frozen_crop: tuple[int, int] | None = None) -> Path:
    """SAM 1 / MobileSAM (segment_anything's SamOnnxModel): 6 inputs; ``masks`` at the
    original size (``frozen_crop`` reproduces the PyPI 1.0 export's traced crop size),
    ``iou_predictions``, ``low_res_masks``."""
    g = Graph()
    low = _logits(g, "point_coords", "point_labels", [radius * f for f in FACTORS], "mask_input", "has_mask_input")
    g.op("Identity", [low], "low_res_masks")
    _scores(g, "image_embeddings", SCORE_OFFSETS, "iou_predictions", [1, 4])
    up = _resize(g, low, g.const([SIDE, SIDE], np.int64))
    if frozen_crop is None:
        scale = g.op("Div", [g.const(float(SIDE)), g.op("ReduceMax", ["orig_im_size"], keepdims=0)])
        crop = g.op("Cast", [g.op("Floor", [g.op("Add", [g.op("Mul", ["orig_im_size", scale]), g.const(0.5)])])],
                    to=I64)
    else:
        crop = g.const(list(frozen_crop), np.int64)
    cropped = g.op("Slice", [up, g.const([0, 0], np.int64), crop, g.const([2, 3], np.int64)])
    _resize(g, cropped, g.op("Cast", ["orig_im_size"], to=I64), "masks")
    return g.save(path, [
        vi("image_embeddings", F32, [1, 256, 64, 64]), vi("point_coords", F32, [1, "num_points", 2]),
        vi("point_labels", F32, [1, "num_points"]), vi("mask_input", F32, [1, 1, LOW, LOW]),
        vi("has_mask_input", F32, [1]), vi("orig_im_size", F32, [2]),
    ], [vi("masks", F32, [1, 4, "h", "w"]), vi("iou_predictions", F32, [1, 4]),
        vi("low_res_masks", F32, [1, 4, LOW, LOW])])


def edgesam_decoder(path: Path, *, radius: float = 64.0) -> Path:
    """EdgeSAM: 3 inputs, outputs ``scores`` [1,4] then low-res ``masks`` [1,4,256,256]."""
    g = Graph()
    low = _logits(g, "point_coords", "point_labels", [radius * f for f in FACTORS])
    _scores(g, "image_embeddings", SCORE_OFFSETS, "scores", [1, 4])
    g.op("Identity", [low], "masks")
    return g.save(path, [vi("image_embeddings", F32, [1, 256, 64, 64]), vi("point_coords", F32, [1, "num_points", 2]),
                         vi("point_labels", F32, [1, "num_points"])],
                  [vi("scores", F32, [1, 4]), vi("masks", F32, [1, 4, LOW, LOW])])


SAM2_DECODERS = {
    "samexporter": (["image_embed", "high_res_feats_0", "high_res_feats_1"], "mask_input", "has_mask_input", None),
    "osam": (["image_embeddings", "high_res_features1", "high_res_features2"], "mask_input", "has_mask_input",
             ("orig_im_size", I64)),
    "onnxruntime": (["image_features_0", "image_features_1", "image_embeddings"], "input_masks", "has_input_masks",
                    ("original_image_size", I32)),
}


def sam2_decoder(path: Path, style: str, *, radius: float = 64.0) -> Path:
    """SAM 2 decoders of the three flavours: A (samexporter) returns 3 low-res candidates;
    B (osam) 4 masks at the original size plus ``low_res_masks``; C (onnxruntime) int32
    labels and size, 3 masks plus ``low_res_masks``. The graph adds the padding point."""
    g = Graph()
    feats, mask_in, has_mask, orig = SAM2_DECODERS[style]
    labels = g.op("Cast", ["point_labels"], to=F32) if style == "onnxruntime" else "point_labels"
    factors = FACTORS if style == "osam" else FACTORS[1:]
    offsets = SCORE_OFFSETS if style == "osam" else SCORE_OFFSETS[1:]
    low = g.op("Clip", [_logits(g, "point_coords", labels, [radius * f for f in factors], mask_in, has_mask),
                        g.const(-32.0), g.const(32.0)])
    embed = next(n for n in feats if "embed" in n)
    k = len(factors)
    _scores(g, embed, offsets, "iou_predictions", [1, k])
    outputs = []
    if orig is None:
        g.op("Identity", [low], "masks")
        outputs.append(vi("masks", F32, [1, k, LOW, LOW]))
    else:
        _resize(g, low, g.op("Cast", [orig[0]], to=I64), "masks")
        g.op("Identity", [low], "low_res_masks")
        outputs.append(vi("masks", F32, [1, k, "h", "w"]))
    outputs.append(vi("iou_predictions", F32, [1, k]))
    if orig is not None:
        outputs.append(vi("low_res_masks", F32, [1, k, LOW, LOW]))
    shapes = {32: [1, 32, 256, 256], 64: [1, 64, 128, 128], 256: [1, 256, 64, 64]}
    chan = {n: (256 if "embed" in n else 32 if n.endswith(("_0", "features1")) else 64) for n in feats}
    inputs = [vi(n, F32, shapes[chan[n]]) for n in feats]
    inputs += [vi("point_coords", F32, [1, "num_points", 2]),
               vi("point_labels", I32 if style == "onnxruntime" else F32, [1, "num_points"]),
               vi(mask_in, F32, [1, 1, LOW, LOW]), vi(has_mask, F32, [1])]
    if orig is not None:
        inputs.append(vi(orig[0], orig[1], [2]))
    return g.save(path, inputs, outputs)


def efficientsam_decoder(path: Path, *, radius: float = 64.0) -> Path:
    """EfficientSAM: coordinates in original pixels ``[1,1,N,2]`` (the graph stretches them),
    at most 6 points; ``output_masks`` [1,1,3,H,W], ``iou_predictions``, an unnamed third."""
    g = Graph()
    hw = g.op("Cast", ["orig_im_size"], to=F32)
    wh = g.op("Concat", [g.op("Slice", [hw, g.const([1], np.int64), g.const([2], np.int64)]),
                         g.op("Slice", [hw, g.const([0], np.int64), g.const([1], np.int64)])], axis=0)
    coords = g.op("Mul", [g.op("Reshape", ["batched_point_coords", g.const([-1, 2], np.int64)]),
                          g.op("Div", [g.const(float(SIDE)), wh])])
    coords = g.op("Slice", [coords, g.const([0], np.int64), g.const([6], np.int64)])
    labels = g.op("Slice", [g.op("Reshape", ["batched_point_labels", g.const([-1], np.int64)]),
                            g.const([0], np.int64), g.const([6], np.int64)])
    low = _logits(g, coords, labels, [radius * f for f in FACTORS[1:]])
    g.op("Identity", [low], "onnx::Reshape_1234")
    full = _resize(g, low, g.op("Cast", ["orig_im_size"], to=I64))
    g.op("Reshape", [full, g.op("Concat", [g.const([1, 1, 3], np.int64), g.op("Cast", ["orig_im_size"], to=I64)],
                                axis=0)], "output_masks")
    _scores(g, "image_embeddings", SCORE_OFFSETS[1:], "iou_predictions", [1, 1, 3])
    return g.save(path, [vi("image_embeddings", F32, ["batch", 256, 64, 64]),
                         vi("batched_point_coords", F32, [1, 1, "num_points", 2]),
                         vi("batched_point_labels", F32, [1, 1, "num_points"]), vi("orig_im_size", I64, [2])],
                  [vi("output_masks", F32, [1, 1, 3, "h", "w"]), vi("iou_predictions", F32, [1, 1, 3]),
                   vi("onnx::Reshape_1234", F32, [1, 3, LOW, LOW])])


def build_pair(folder: Path, family: str, *, radius: float = 64.0) -> tuple[Path, Path]:
    """An encoder and a decoder file for ``family``: sam, sam_nchw, edgesam, efficientsam,
    sam2_samexporter, sam2_osam, sam2_onnxruntime."""
    folder.mkdir(parents=True, exist_ok=True)
    enc, dec = folder / f"{family}.encoder.onnx", folder / f"{family}.decoder.onnx"
    if family == "sam":
        return sam_encoder(enc), sam_decoder(dec, radius=radius)
    if family == "sam_nchw":
        return sam_encoder(enc, hwc=False, input_name="x"), sam_decoder(dec, radius=radius)
    if family == "sam_frozen":
        return sam_encoder(enc), sam_decoder(dec, radius=radius, frozen_crop=(683, 1024))
    if family == "edgesam":
        return sam_encoder(enc, hwc=False, input_name="image"), edgesam_decoder(dec, radius=radius)
    if family == "efficientsam":
        return efficientsam_encoder(enc), efficientsam_decoder(dec, radius=radius)
    style = family.split("_", 1)[1]
    return sam2_encoder(enc, style), sam2_decoder(dec, style, radius=radius)
