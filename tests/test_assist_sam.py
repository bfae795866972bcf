"""SAM-family ONNX pairs the user names: detection from the files' signatures, the host's
pre- and post-processing per family, cached embeddings, and clear refusals.

No weights exist here: ``sam_tiny`` builds stand-ins with the exporters' exact input and
output names, dtypes and ranks, whose decoders draw a disc of radius R (model-frame pixels)
around each positive point. A click lands in the right place only if the host put it into
the model frame correctly and brought the mask back correctly.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from sam_tiny import SCORE_OFFSETS, build_pair

from avs_studio.core.assist.prompt import AssistUnavailable, Click, Prompt
from avs_studio.core.assist.sam import SamModel, SamSegmenter, onnxruntime_status, providers
from avs_studio.core.assist.sam_spec import Port, detect_pair

R = 64.0  # the tiny decoders' disc radius in the 1024 model frame
FAMILIES = {
    "sam": ("sam", "sam_hwc"),
    "sam_nchw": ("sam", "sam_nchw"),
    "edgesam": ("edgesam", "sam_nchw"),
    "efficientsam": ("efficientsam", "original"),
    "sam2_samexporter": ("sam2", "stretch"),
    "sam2_osam": ("sam2", "stretch"),
    "sam2_onnxruntime": ("sam2", "stretch"),
}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sam")
    return {name: build_pair(folder, name, radius=R) for name in [*FAMILIES, "sam_frozen"]}


@pytest.fixture(scope="module")
def segmenters(pairs):
    return {name: SamSegmenter.from_files(*pairs[name]) for name in FAMILIES}


def picture(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)


def radii(seg: SamSegmenter, h: int, w: int) -> tuple[float, float]:
    """The disc's radii in image pixels: the model frame is the image resized to a longest
    side of 1024 (SAM 1, EdgeSAM) or stretched to 1024x1024 (SAM 2, EfficientSAM)."""
    if seg.model.spec.coords == "longest":
        return (R * max(h, w) / 1024,) * 2
    return R * w / 1024, R * h / 1024


@pytest.mark.parametrize("name", list(FAMILIES))
def test_each_family_is_recognised_by_its_signature(segmenters, name):
    family, prep = FAMILIES[name]
    spec = segmenters[name].model.spec
    assert (spec.family, spec.image_prep) == (family, prep)
    if family == "sam2":
        assert spec.flavour == name.split("_", 1)[1]
        assert set(spec.encoder_outputs) == {"embed", "feats0", "feats1"}


@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize("shape", [(480, 640), (900, 300)], ids=["landscape", "portrait"])
def test_a_click_lands_where_it_was_made(segmenters, name, shape):
    """On a landscape and a portrait image, a positive click gives the decoder's disc around
    the click, with the radii the family's model frame implies."""
    seg = segmenters[name]
    h, w = shape
    img = picture(h, w)
    cx, cy = 0.3 * w, 0.6 * h
    res = seg.segment(img, Prompt(clicks=(Click(cx, cy),)), key=(name, shape))
    ys, xs = np.nonzero(res.mask)
    rx, ry = radii(seg, h, w)
    assert abs(xs.mean() - cx) < 1.5 and abs(ys.mean() - cy) < 1.5
    assert abs((xs.max() - xs.min() + 1) / 2 - rx) < 0.05 * rx + 1.5
    assert abs((ys.max() - ys.min() + 1) / 2 - ry) < 0.05 * ry + 1.5
    # the score is the embedding's mean plus the chosen candidate's offset: the embedding
    # of *this* image reached the decoder
    emb = seg.cache.peek((name, shape))
    assert emb is not None and abs(res.score - (emb.arrays["embed"].mean() + SCORE_OFFSETS[2])) < 1e-3


@pytest.mark.parametrize("name", list(FAMILIES))
def test_negative_clicks_boxes_and_the_previous_mask(segmenters, name):
    seg = segmenters[name]
    h, w = 400, 600
    img = picture(h, w, 1)
    rx, _ = radii(seg, h, w)
    cx, cy = 250.0, 200.0
    first = seg.segment(img, Prompt(clicks=(Click(cx, cy),)), key="img")
    hole_x = cx + 0.6 * rx
    prompt = Prompt(clicks=(Click(cx, cy), Click(hole_x, cy, positive=False)))
    second = seg.segment(img, prompt, state=first.state, key="img")
    assert first.mask[int(cy), int(hole_x)] and not second.mask[int(cy), int(hole_x)]
    assert second.mask[int(cy), int(cx - 0.6 * rx)]
    boxed = seg.segment(img, Prompt().with_box((400, 50, 550, 150)), key="img").mask
    assert boxed[100, 475] and not boxed[300, 100] and not boxed[100, 380]
    if "mask_input" in seg.model.spec.decoder_inputs:
        # the previous answer's logits go back in: a negative click far away keeps the disc
        third = seg.segment(img, Prompt(clicks=(Click(20, 380, positive=False),)), state=first.state, key="img")
        assert third.mask[int(cy), int(cx)]


def test_sam1_masks_come_from_the_low_res_logits_not_the_frozen_crop(pairs):
    """segment-anything 1.0 (PyPI) traced the export's dummy aspect ratio into the decoder's
    ``masks`` output; on a portrait image that output is displaced. The host post-processes
    ``low_res_masks`` itself and gets the disc right."""
    import onnxruntime as ort

    seg = SamSegmenter.from_files(*pairs["sam_frozen"])
    h, w = 900, 300
    img = picture(h, w)
    res = seg.segment(img, Prompt(clicks=(Click(90, 540),)))
    ys, xs = np.nonzero(res.mask)
    assert abs(xs.mean() - 90) < 1.5 and abs(ys.mean() - 540) < 1.5
    # the decoder's own ``masks`` output really is wrong for this image
    dec = ort.InferenceSession(str(pairs["sam_frozen"][1]), providers=["CPUExecutionProvider"])
    emb = seg.model.embed(img)
    feed = seg.model._feed(emb, np.array([[90 * 1024 / 900, 540 * 1024 / 900], [0, 0]]),
                           np.array([1, -1], np.float32), None)  # fmt: skip
    masks = dec.run(None, feed)[0]
    assert ((masks[0, 0] > 0) ^ res.mask).mean() > 0.01


def test_efficientsam_takes_six_points_and_says_which_were_left_out(segmenters):
    seg = segmenters["efficientsam"]
    img = picture(300, 400)
    clicks = tuple(Click(30 + 40 * i, 150, positive=i % 2 == 0) for i in range(8))
    res = seg.segment(img, Prompt(clicks=clicks))
    assert res.notes and "at most 6" in res.notes[0] and "2 oldest" in res.notes[0]
    assert res.mask[150, 30 + 40 * 6]  # the latest positive click is in


def test_embeddings_are_computed_once_per_frame_and_cached(pairs):
    seg = SamSegmenter.from_files(*pairs["sam2_osam"])
    runs = []
    real = seg.model.embed
    seg.model.embed = lambda image: runs.append(1) or real(image)
    frames = [picture(240, 320, k) for k in range(3)]
    for k, f in enumerate(frames):
        seg.prepare(f, ("clip", k))
    assert len(runs) == 3 and all(seg.is_prepared(("clip", k)) for k in range(3))
    for k, f in enumerate(frames):
        seg.segment(f, Prompt(clicks=(Click(100, 100),)), key=("clip", k))
    assert len(runs) == 3  # clicks only ran the decoder
    seg.cache.max_items = 2
    seg.prepare(picture(240, 320, 9), ("clip", 9))
    assert len(seg.cache) == 2 and not seg.is_prepared(("clip", 0))


# ---------------------------------------------------------------------- refusals


def test_pairs_that_do_not_fit_are_refused_with_the_names_found(pairs, tmp_path):
    enc_sam, _ = pairs["sam"]
    _, dec_sam2 = pairs["sam2_osam"]
    with pytest.raises(AssistUnavailable, match="SAM 2 decoder needs a SAM 2 encoder"):
        SamModel(enc_sam, dec_sam2)
    with pytest.raises(AssistUnavailable, match="does not exist"):
        SamModel(tmp_path / "nothing.onnx", dec_sam2)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(AssistUnavailable, match="junk.onnx: cannot load the SAM encoder"):
        SamModel(junk, dec_sam2)


def test_detection_rules_on_signatures():
    f = "float"
    emb = Port("image_embeddings", f, (1, 256, 64, 64))
    hq = [emb, Port("interm_embeddings", f, (1, 1, 64, 64, 768)), Port("point_coords", f, (1, None, 2))]
    with pytest.raises(AssistUnavailable, match="SAM-HQ"):
        detect_pair([Port("x", f, (1, 3, 1024, 1024))], [emb], hq, [Port("masks", f, ())])
    with pytest.raises(AssistUnavailable, match="inputs foo"):
        detect_pair([Port("x", f, (1, 3, 1024, 1024))], [emb], [Port("foo", f, (1,))], [Port("bar", f, ())])


def test_without_onnxruntime_sam_is_unavailable_and_says_why(monkeypatch, pairs):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert "onnxruntime" in onnxruntime_status().lower() and "pip install" in onnxruntime_status()
    with pytest.raises(AssistUnavailable, match="ONNX Runtime"):
        SamModel(*pairs["sam"])


def test_cuda_is_used_when_this_onnxruntime_build_has_it(monkeypatch):
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["AzureExecutionProvider", "CPUExecutionProvider"])
    assert providers() == ["CPUExecutionProvider"]
