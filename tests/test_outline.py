"""Editing a mask by its outline (the core of the outline tool, no Qt).

An annotator pulls one vertex of a ring-shaped object with a second, separate part: the
pulled part follows its polygon, its hole and the other part keep their exact pixels, and
committing nothing changes nothing.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avs_studio.core.masks.outline import MAX_VERTICES, apply_outlines, mask_outlines


def ring_and_blob() -> np.ndarray:
    """A ring (a disc with a hole) and, apart from it, a small square."""
    m = np.zeros((120, 160), np.uint8)
    cv2.circle(m, (50, 60), 35, 1, -1)
    cv2.circle(m, (50, 60), 12, 0, -1)
    m[20:40, 120:145] = 1
    return m


def test_outlines_are_the_parts_and_their_holes_within_a_pixel():
    m = ring_and_blob()
    outlines = mask_outlines(m)
    assert [o.hole for o in outlines] == [False, False, True]
    hole = outlines[2]
    ring = next(i for i, o in enumerate(outlines) if not o.hole and abs(o.points[:, 0].mean() - 50) < 3)
    assert hole.parent == ring and all(o.editable for o in outlines)
    # the polygons are short (the square has 4 vertices) and follow the boundary
    square = outlines[1 - ring]
    assert len(square.points) == 4 and len(outlines[ring].points) < 40
    d = cv2.pointPolygonTest(outlines[ring].exact.reshape(-1, 1, 2).astype(np.float32), (85.0, 60.0), True)
    assert abs(d) <= 1.0


def test_committing_the_outline_as_traced_gives_back_the_exact_mask():
    rng = np.random.default_rng(3)
    for _ in range(25):
        m = (cv2.GaussianBlur(rng.random((60, 80)), (0, 0), 2.5) > 0.5).astype(np.uint8)
        m[rng.integers(0, 60, 12), rng.integers(0, 80, 12)] ^= 1  # specks and pinholes
        outlines = mask_outlines(m)
        for o in outlines:
            o.points = o.exact.astype(float)
        assert np.array_equal(apply_outlines(m, outlines, range(len(outlines))), m)
    assert np.array_equal(apply_outlines(m, mask_outlines(m), []), m)  # nothing edited: nothing changes


def test_pulling_one_vertex_reshapes_only_that_part_and_keeps_its_hole():
    m = ring_and_blob()
    outlines = mask_outlines(m)
    ring = next(i for i, o in enumerate(outlines) if not o.hole and abs(o.points[:, 0].mean() - 50) < 3)
    o = outlines[ring]
    j = int(np.argmax(o.points[:, 0]))  # the rightmost vertex, near (85, 60)
    o.points[j] = (100.0, o.points[j, 1])
    new = apply_outlines(m, outlines, [ring])
    assert new[60, 95] and not m[60, 95]  # pulled out to the right
    assert np.array_equal(new[50:71, 38:63], m[50:71, 38:63])  # the hole, exactly
    assert np.array_equal(new[15:45, 110:150], m[15:45, 110:150])  # the other part, exactly
    far = np.ones_like(m, bool)
    far[:, 80:] = False  # away from the pulled vertex the part follows its polygon within a pixel
    assert np.count_nonzero((new != m) & far) < 0.02 * m.sum()


def test_a_moved_hole_moves_and_the_parts_pixels_around_it_stay():
    m = ring_and_blob()
    outlines = mask_outlines(m)
    h = next(i for i, o in enumerate(outlines) if o.hole)
    outlines[h].points = outlines[h].points + (8.0, 0.0)
    new = apply_outlines(m, outlines, [h])
    assert new[60, 40] and not m[60, 40]  # the old hole's left side is filled
    assert not new[60, 66] and m[60, 66]  # the hole now reaches further right
    assert np.array_equal(new[:, 100:], m[:, 100:])


@pytest.mark.parametrize("size", [(400, 400)])
def test_a_wiggly_boundary_is_simplified_to_a_bounded_number_of_vertices(size):
    h, w = size
    yy, xx = np.mgrid[:h, :w]
    angle = np.arctan2(yy - h / 2, xx - w / 2)
    radius = 150 + 12 * np.sin(40 * angle)
    m = (np.hypot(yy - h / 2, xx - w / 2) < radius).astype(np.uint8)
    (outline,) = mask_outlines(m)
    assert 40 < len(outline.points) <= MAX_VERTICES
