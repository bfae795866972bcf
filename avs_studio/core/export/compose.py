"""Composing a frame's objects into the one mask an export writes, and counting overlaps.

An AVSBench mask holds one value per pixel: the class (AVSS) or "sounding" (S4/MS3). When
two objects claim the same pixel, the export has to decide. :func:`compose_objects` is the
one place where that happens: objects are painted bottom to top in the order the project
keeps for the clip (the object panel's raise/lower), so the object on top wins a shared
pixel (AVSS) and binary masks take the union (S4/MS3). It also counts what was decided,
so that nothing is decided silently: the pixels two or more objects claim, and per object
the pixels the export gives to another class.

The project export and the annotator's "show as exported" view both call this function,
so what the canvas shows is, pixel for pixel, what the export writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Layer:
    """One object of a frame for composing: its id, its label and its pixels (any non-zero)."""

    key: int
    label: int
    mask: np.ndarray


@dataclass
class Composition:
    """A composed frame: the mask the export writes and what the overlaps cost.

    ``mask`` is uint8: the class index per pixel (label maps) or {0, 1} (binary).
    ``shared`` counts the pixels two or more objects claim. ``hidden[key]`` counts, per
    object, its pixels written as another class (an object above it of another label);
    binary masks hide nothing (the union keeps every pixel), they merge.
    """

    mask: np.ndarray
    shared: int = 0
    hidden: dict[int, int] = field(default_factory=dict)

    @property
    def hidden_pixels(self) -> int:
        """All pixels of all objects written as another class."""
        return sum(self.hidden.values())


def compose_objects(layers: Sequence[Layer], shape: tuple[int, int], *, binary: bool) -> Composition:
    """Paint ``layers`` (bottom first) into one uint8 mask of ``shape`` and count overlaps.

    Label maps (``binary=False``) take the label of the topmost object covering a pixel;
    binary masks are the union of the objects. Masks of another shape are an error.
    """
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), dtype=np.uint8)
    claims = np.zeros((h, w), dtype=np.uint8)
    boolean = []
    for layer in layers:
        m = np.asarray(layer.mask)
        if m.shape != (h, w):
            raise ValueError(f"object {layer.key}: mask is {m.shape[1]}x{m.shape[0]}, the frame {w}x{h}")
        m = m.view(bool) if m.dtype == np.uint8 and m.max(initial=0) <= 1 else m != 0
        boolean.append(m)
        out[m] = 1 if binary else int(layer.label)
        # Saturating count: 2 means "two or more", which is all the count needs.
        np.minimum(claims + m, 2, out=claims, casting="unsafe")
    result = Composition(out, shared=int(np.count_nonzero(claims == 2)))
    if result.shared and not binary:
        for layer, m in zip(layers, boolean):
            lost = int(np.count_nonzero(m & (out != int(layer.label))))
            if lost:
                result.hidden[layer.key] = result.hidden.get(layer.key, 0) + lost
    return result


@dataclass
class OverlapTally:
    """Overlaps met while exporting, frame by frame (a frame composed twice counts once).

    ``frames[(clip_id, frame)] = (shared, hidden)``: the pixels two or more objects claim
    and the pixels written as another class than their object's.
    """

    binary: bool
    frames: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)

    def add(self, clip_id: str, frame: int, composition: Composition) -> None:
        """Record one composed frame (frames without overlap are not kept)."""
        if composition.shared:
            self.frames[(clip_id, int(frame))] = (composition.shared, composition.hidden_pixels)

    @property
    def shared(self) -> int:
        """Pixels claimed by two or more objects, over all frames."""
        return sum(s for s, _ in self.frames.values())

    @property
    def hidden(self) -> int:
        """Pixels written as another class than their object's, over all frames."""
        return sum(h for _, h in self.frames.values())

    def note(self, shown: int = 5) -> str:
        """One line for the summary (empty when no objects overlap), naming the first frames."""
        if not self.frames:
            return ""
        items = sorted(self.frames.items())
        named = ", ".join(f"{c} frame {k + 1} ({s:,} px)" for (c, k), (s, _) in items[:shown])
        more = f" and {len(items) - shown} more" if len(items) > shown else ""
        if self.binary:
            how = "merged into the one sounding-object mask"
        else:
            how = (f"each given to the object on top ({self.hidden:,} px of lower objects written as "
                   "the class above; raise or lower objects in the annotator's object panel)")  # fmt: skip
        return (f"objects overlap in {len(items)} frame(s), {self.shared:,} shared pixel(s) {how}: "
                f"{named}{more}")  # fmt: skip

    def to_dict(self) -> dict:
        """JSON-safe form for report files."""
        return {
            "frames": len(self.frames), "shared_pixels": self.shared, "hidden_pixels": self.hidden,
            "by_frame": [{"clip_id": c, "frame": k, "shared_pixels": s, "hidden_pixels": h}
                         for (c, k), (s, h) in sorted(self.frames.items())],
        }  # fmt: skip
