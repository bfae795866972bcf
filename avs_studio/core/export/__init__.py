"""Exporters and importers: COCO (RLE / polygons), plain PNG masks, AVSBench layouts.

:func:`load_masks` reads any supported source into a :class:`MaskSet`; the writers take
a MaskSet. ``avs-studio export`` and ``import`` are thin faces on these.
"""

from __future__ import annotations

import os
from pathlib import Path

from avs_studio.core.datasets import detect_setting, open_dataset
from avs_studio.core.datasets.common import Dataset
from avs_studio.core.errors import FormatError
from avs_studio.core.export.avsbench import LayoutSummary, write_avsbench
from avs_studio.core.export.coco import CocoSummary, read_coco, to_coco, write_coco
from avs_studio.core.export.compose import Composition, Layer, OverlapTally, compose_objects
from avs_studio.core.export.maskset import FrameMask, MaskSet, from_dataset
from avs_studio.core.export.png import read_png_masks, write_png_masks
from avs_studio.core.fsutil import require_regular_file
from avs_studio.core.setting import Setting

__all__ = [
    "CocoSummary",
    "Composition",
    "FrameMask",
    "Layer",
    "LayoutSummary",
    "MaskSet",
    "OverlapTally",
    "compose_objects",
    "from_dataset",
    "load_masks",
    "read_coco",
    "read_png_masks",
    "to_coco",
    "write_avsbench",
    "write_coco",
    "write_png_masks",
]

TARGETS = ("coco", "png", "avsbench-s4", "avsbench-ms3", "avsbench-avss")


def load_masks(
    src: str | os.PathLike[str],
    setting: Setting | str | None = None,
    *,
    split: str | None = None,
    native_size: bool = True,
) -> tuple[MaskSet, Dataset | None]:
    """Read masks from a COCO JSON, a PNG mask folder or an AVSBench dataset.

    Returns the MaskSet and, when ``src`` is a dataset, the dataset itself (exporters
    use it to carry frames and audio along). AVSS masks keep their native size unless
    ``native_size`` is False (then 224 x 224, the evaluation size).
    """
    path = Path(src)
    if not path.exists():
        raise FormatError(f"{path}: no such file or folder")
    if not path.is_dir():
        require_regular_file(path, FormatError, "mask file or folder")  # FIFOs, devices
    if path.is_file():
        if path.suffix.lower() == ".json":
            ms = read_coco(path, setting)
            return ms.filter(split=split), None
        raise FormatError(f"{path}: expected a COCO .json file or a folder")
    if (path / "masks.json").is_file():
        return read_png_masks(path, setting).filter(split=split), None
    if (path / ".propose" / "run.json").is_file():
        # A propose output folder in the official pred_masks/ layout (224x224 predictions)
        raise FormatError(
            f"{path} is a propose output folder of official prediction masks, not masks this command "
            "converts; run propose again with --format coco (a COCO file of its proposals) or "
            "--format png (PNG masks at each frame's size, which export converts), into a new --out; "
            "evaluate and report read this folder as it is"
        )
    if detect_setting(path):
        ds = open_dataset(path, setting)
        ms = from_dataset(ds, split=split, size=None if native_size else (224, 224))
        ms.info["mask_resolution"] = "native" if native_size else "224x224"
        return ms, ds
    return read_png_masks(path, setting).filter(split=split), None
