"""Masks as the official loaders read them, as we write them, and as RLE / polygons."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from avs_studio.core.errors import MaskError
from avs_studio.core.masks.files import (
    as_binary,
    read_binary_mask,
    read_label_mask,
    write_binary_mask,
    write_colour_mask,
    write_prediction_mask,
)
from avs_studio.core.masks.palette import (
    CLASS_NAMES,
    PALETTE,
    class_index,
    colour_to_index,
    index_to_colour,
    label2idx,
)
from avs_studio.core.masks.resize import resize_nearest
from avs_studio.core.masks.rle import (
    decode_rle,
    encode_rle,
    mask_to_polygons,
    polygons_to_mask,
    rle_area,
    rle_bbox,
)

# ---------------------------------------------------------------- palette


def test_palette_matches_the_spec_table():
    assert PALETTE.shape == (71, 3)
    assert len({tuple(c) for c in PALETTE.tolist()}) == 71
    spot = {0: (0, 0, 0), 1: (128, 0, 0), 8: (64, 0, 0), 32: (0, 0, 64), 64: (32, 0, 0), 70: (32, 128, 128)}
    for idx, rgb in spot.items():
        assert tuple(PALETTE[idx]) == rgb
    assert CLASS_NAMES[0] == "background" and CLASS_NAMES[70] == "woman"
    assert class_index("emergency-car") == 22
    assert label2idx()["accordion"] == 2 and len(label2idx()) == 71


def test_colour_to_index_check_values_and_unknown_colours():
    rgb = np.array([[[128, 0, 0], [64, 0, 0], [32, 128, 128], [255, 255, 255], [0, 0, 0]]], np.uint8)
    index, unknown = colour_to_index(rgb, return_unknown=True)
    assert index.tolist() == [[1, 8, 70, 0, 0]]
    assert unknown.tolist() == [[False, False, False, True, False]]
    labels = np.arange(71, dtype=np.int64).reshape(1, 71)
    assert np.array_equal(colour_to_index(index_to_colour(labels)), labels)


# ---------------------------------------------------------------- resizing


@pytest.mark.parametrize("src,dst", [((640, 360), (224, 224)), ((360, 240), (224, 224)), ((7, 5), (13, 11))])
def test_resize_nearest_picks_what_pillow_picks(src, dst):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(src[1], src[0], 3), dtype=np.uint8)
    ref = np.asarray(Image.fromarray(img).resize(dst, Image.Resampling.NEAREST))
    assert np.array_equal(resize_nearest(img, dst), ref)
    labels = rng.integers(0, 71, size=(src[1], src[0])).astype(np.int64)
    out = resize_nearest(labels, dst)
    assert out.dtype == np.int64 and out.shape == (dst[1], dst[0])
    assert set(np.unique(out)) <= set(np.unique(labels))


def test_pillow_nearest_is_not_the_naive_rule():
    # formats.md §2.7: for 640 -> 224 the two rules differ at columns 17, 24, 101, ...
    ramp = np.arange(640, dtype=np.int64)[None, :]
    picked = resize_nearest(ramp, (224, 1))[0]
    naive = np.floor((np.arange(224) + 0.5) * 640 / 224).astype(int)
    assert np.nonzero(picked != naive)[0][:3].tolist() == [17, 24, 101]


# ---------------------------------------------------------------- official decoding


def _save(img: Image.Image, path):
    img.save(path)
    return path


def test_s4_reads_greyscale_with_pillow_dithering(tmp_path):
    grey = np.full((8, 8), 128, np.uint8)
    p = _save(Image.fromarray(grey, "L"), tmp_path / "grey.png")
    mask = read_binary_mask(p, "s4")
    expect = np.asarray(Image.open(p).convert("1"), dtype=np.uint8)
    assert np.array_equal(mask, expect)
    assert 0 < mask.sum() < mask.size  # a half-on dither pattern, not a plain threshold


def test_s4_reads_palette_files_by_colour_not_index(tmp_path):
    img = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), "P")
    img.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    p = _save(img, tmp_path / "pal.png")
    assert read_binary_mask(p, "s4").tolist() == [[0, 1], [1, 0]]
    # MS3 reads the same file by index -> targets 1/255: refused with a clear message
    with pytest.raises(MaskError, match="fractional"):
        read_binary_mask(p, "ms3")


def test_ms3_refuses_truecolour_masks(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2] = 255
    p = _save(Image.fromarray(rgb, "RGB"), tmp_path / "rgb.png")
    with pytest.raises(MaskError, match="truecolour"):
        read_binary_mask(p, "ms3")
    assert read_binary_mask(p, "s4").sum() == 8


def test_written_masks_decode_the_same_in_both_loaders(tmp_path):
    rng = np.random.default_rng(0)
    m = (rng.random((224, 224)) > 0.6).astype(np.uint8)
    write_binary_mask(tmp_path / "gt.png", m)
    assert Image.open(tmp_path / "gt.png").mode == "L"
    for setting in ("s4", "ms3"):
        assert np.array_equal(read_binary_mask(tmp_path / "gt.png", setting, size=(224, 224)), m)
    write_prediction_mask(tmp_path / "pred.png", m)
    pred = Image.open(tmp_path / "pred.png")
    assert pred.mode == "P"
    assert set(np.unique(np.asarray(pred))) == {0, 255}
    assert np.array_equal(np.asarray(pred.convert("L")) // 255, m)


def test_wrong_size_and_broken_files_are_clear_errors(tmp_path):
    write_binary_mask(tmp_path / "m.png", np.ones((10, 12), np.uint8))
    with pytest.raises(MaskError, match="12x10, expected 224x224"):
        read_binary_mask(tmp_path / "m.png", "s4", size=(224, 224))
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    with pytest.raises(MaskError, match="not a readable image"):
        read_binary_mask(tmp_path / "junk.png", "s4")
    with pytest.raises(MaskError, match="not found"):
        read_binary_mask(tmp_path / "missing.png", "s4")
    good = (tmp_path / "m.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(MaskError):
        read_binary_mask(tmp_path / "cut.png", "s4")


def test_bad_in_memory_masks_are_refused():
    with pytest.raises(MaskError, match="2-D"):
        as_binary(np.zeros((2, 2, 2)))
    with pytest.raises(MaskError, match="only 0 and 1"):
        as_binary(np.array([[0, 1], [2, 1]]))
    with pytest.raises(MaskError, match="NaN"):
        as_binary(np.array([[0.0, np.nan]]))
    assert as_binary(np.array([[0, 255]])).tolist() == [[0, 1]]


def test_colour_masks_round_trip_and_stray_colours_become_background(tmp_path):
    rng = np.random.default_rng(2)
    label = rng.integers(0, 71, size=(240, 360)).astype(np.uint8)
    write_colour_mask(tmp_path / "c.png", label)
    assert np.array_equal(read_label_mask(tmp_path / "c.png", size=None), label)
    small = read_label_mask(tmp_path / "c.png")
    assert small.shape == (224, 224)
    assert np.array_equal(small, resize_nearest(label, (224, 224)))
    rgb = index_to_colour(label)
    rgb[0, 0] = (255, 255, 255)
    Image.fromarray(rgb).save(tmp_path / "stray.png")
    decoded, unknown = read_label_mask(tmp_path / "stray.png", size=None, return_unknown=True)
    assert decoded[0, 0] == 0 and unknown.sum() == 1


# ---------------------------------------------------------------- RLE and polygons


@pytest.mark.parametrize(
    "mask,counts,area,bbox",
    [
        (np.pad(np.ones((2, 3), np.uint8), ((1, 1), (1, 1))), "5220003", 6, [1, 1, 3, 2]),
        (np.array([[1, 0, 0, 0, 0, 0]] * 5 + [[1] * 6], np.uint8), "065K00000000", 11, [0, 0, 6, 6]),
        (np.zeros((3, 3), np.uint8), "9", 0, [0, 0, 0, 0]),
    ],
)
def test_rle_matches_the_spec_examples(mask, counts, area, bbox):
    rle = encode_rle(mask)
    assert rle == {"size": list(mask.shape), "counts": counts}
    assert isinstance(rle["counts"], str)
    assert rle_area(rle) == area and isinstance(rle_area(rle), int)
    assert rle_bbox(rle) == bbox
    assert np.array_equal(decode_rle(rle), mask)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(0, 2**32 - 1),
    st.floats(0.0, 1.0),
)
def test_rle_round_trip_is_bit_exact(h, w, seed, density):
    m = (np.random.default_rng(seed).random((h, w)) < density).astype(np.uint8)
    assert np.array_equal(decode_rle(encode_rle(m)), m)
    # and the uncompressed list form decodes to the same pixels
    flat = m.ravel(order="F")
    runs, cur, n = [], 0, 0
    for v in flat:
        if v != cur:
            runs.append(n)
            cur, n = v, 0
        n += 1
    runs.append(n)
    assert np.array_equal(decode_rle({"size": [h, w], "counts": runs}), m)


def test_malformed_rle_is_a_clear_error():
    with pytest.raises(MaskError):
        decode_rle({"size": [2, 2], "counts": [1, 1]})
    with pytest.raises(MaskError):
        decode_rle({"counts": "abc"})


def test_polygon_of_a_block_uses_pixel_centres_and_area_comes_from_the_mask():
    m = np.zeros((4, 5), np.uint8)
    m[1:3, 1:4] = 1
    polys = mask_to_polygons(m)
    assert polys == [[1.0, 1.0, 1.0, 2.0, 3.0, 2.0, 3.0, 1.0]]
    assert polygons_to_mask(polys, 4, 5).sum() < m.sum()  # why area/bbox come from the RLE
    assert rle_area(encode_rle(m)) == 6


def test_holes_are_lost_by_default_or_kept_as_rle():
    yy, xx = np.mgrid[:64, :64]
    d2 = (yy - 32) ** 2 + (xx - 32) ** 2
    ring = ((d2 <= 24**2) & (d2 >= 10**2)).astype(np.uint8)
    filled = polygons_to_mask(mask_to_polygons(ring), 64, 64)
    assert filled[32, 32] == 1  # spec rule: external contours only
    assert mask_to_polygons(ring, holes="rle") is None
    assert mask_to_polygons(np.zeros((5, 5), np.uint8)) is None
    speck = np.zeros((5, 5), np.uint8)
    speck[2, 2] = 1
    assert mask_to_polygons(speck) is None  # fewer than 3 points: dropped, caller keeps RLE
