"""The AVSBench-semantic label set: 71 class names and their palette colours.

Class index = ``label2idx.json`` value - 1 = palette position (formats.md §2.3-2.4).
Index 0 is background.
"""

from __future__ import annotations

import numpy as np

CLASS_NAMES: tuple[str, ...] = (
    "background", "accordion", "airplane", "axe", "baby", "bassoon", "bell", "bird", "boat",
    "boy", "bus", "car", "cat", "cello", "clarinet", "clipper", "clock", "dog", "donkey", "drum",
    "duck", "elephant", "emergency-car", "erhu", "flute", "frying-food", "girl", "goose",
    "guitar", "gun", "guzheng", "hair-dryer", "handpan", "harmonica", "harp", "helicopter", "hen",
    "horse", "keyboard", "leopard", "lion", "man", "marimba", "missile-rocket", "motorcycle",
    "mower", "parrot", "piano", "pig", "pipa", "saw", "saxophone", "sheep", "sitar", "sorna",
    "squirrel", "tabla", "tank", "tiger", "tractor", "train", "trombone", "truck", "trumpet",
    "tuba", "ukulele", "utv", "vacuum-cleaner", "violin", "wolf", "woman",
)  # fmt: skip

NUM_CLASSES = len(CLASS_NAMES)
BACKGROUND = 0


def _voc_palette(n: int) -> np.ndarray:
    """The PASCAL-VOC bit-interleaving colour map cut to ``n`` entries."""
    pal = np.zeros((n, 3), dtype=np.uint8)
    for j in range(n):
        r = g = b = 0
        v, bit = j, 7
        while v > 0:
            r |= (v & 1) << bit
            g |= ((v >> 1) & 1) << bit
            b |= ((v >> 2) & 1) << bit
            v >>= 3
            bit -= 1
        pal[j] = (r, g, b)
    return pal


PALETTE: np.ndarray = _voc_palette(NUM_CLASSES)
PALETTE.setflags(write=False)

_PACKED = (PALETTE[:, 0].astype(np.int64) << 16) | (PALETTE[:, 1].astype(np.int64) << 8) | PALETTE[
    :, 2
].astype(np.int64)
_ORDER = np.argsort(_PACKED)
_SORTED_PACKED = _PACKED[_ORDER]

S4_CATEGORIES: tuple[str, ...] = (
    "ambulance_siren", "baby_laughter", "cap_gun_shooting", "cat_meowing", "chainsawing_trees",
    "coyote_howling", "dog_barking", "driving_buses", "female_singing", "helicopter",
    "horse_clip-clop", "lawn_mowing", "lions_roaring", "male_speech", "mynah_bird_singing",
    "playing_acoustic_guitar", "playing_glockenspiel", "playing_piano", "playing_tabla",
    "playing_ukulele", "playing_violin", "race_car", "typing_on_computer_keyboard",
)  # fmt: skip


def class_index(name: str) -> int:
    """Index of a class name (exact match); ValueError for unknown names."""
    try:
        return CLASS_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown AVSS class {name!r}") from None


def label2idx() -> dict[str, int]:
    """The ``label2idx.json`` mapping: class name -> index + 1, in palette order."""
    return {name: i + 1 for i, name in enumerate(CLASS_NAMES)}


def colour_to_index(rgb: np.ndarray, *, return_unknown: bool = False):
    """Map an RGB image ``[H, W, 3]`` to class indices ``[H, W]`` (int64), as the official loader.

    Each pixel is matched exactly (all three channels) against the 71 palette colours; a
    colour that matches none becomes class 0 (background), like the official argmax over an
    all-zero match vector. With ``return_unknown`` also return the boolean map of
    unmatched pixels, so callers can warn about stray colours.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {rgb.shape}")
    rgb = rgb[..., :3].astype(np.int64)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    pos = np.searchsorted(_SORTED_PACKED, packed)
    pos = np.minimum(pos, len(_SORTED_PACKED) - 1)
    known = _SORTED_PACKED[pos] == packed
    index = np.where(known, _ORDER[pos], BACKGROUND).astype(np.int64)
    if return_unknown:
        return index, ~known
    return index


def index_to_colour(label: np.ndarray) -> np.ndarray:
    """Paint a class-index map ``[H, W]`` with the palette colours -> RGB uint8 ``[H, W, 3]``."""
    label = np.asarray(label)
    if label.size and (label.min() < 0 or label.max() >= NUM_CLASSES):
        raise ValueError(f"class indices must lie in 0..{NUM_CLASSES - 1}")
    return PALETTE[label.astype(np.intp)]
