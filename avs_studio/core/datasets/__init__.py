"""Read and write the official AVSBench layouts: S4, MS3 and AVSS (formats.md)."""

from __future__ import annotations

import os
from pathlib import Path

from avs_studio.core.datasets import avss, ms3, s4
from avs_studio.core.datasets.avss import AVSSDataset, AVSSWriter
from avs_studio.core.datasets.common import Dataset, DatasetClip, DatasetProblem
from avs_studio.core.datasets.ms3 import MS3Dataset, MS3Writer
from avs_studio.core.datasets.s4 import S4Dataset, S4Writer
from avs_studio.core.errors import DatasetError
from avs_studio.core.setting import Setting

__all__ = [
    "AVSSDataset",
    "AVSSWriter",
    "Dataset",
    "DatasetClip",
    "DatasetProblem",
    "MS3Dataset",
    "MS3Writer",
    "S4Dataset",
    "S4Writer",
    "detect_setting",
    "open_dataset",
]

_READERS = {Setting.S4: S4Dataset, Setting.MS3: MS3Dataset, Setting.AVSS: AVSSDataset}
_FINDERS = {Setting.S4: s4.find_root, Setting.MS3: ms3.find_root, Setting.AVSS: avss.find_root}


def detect_setting(path: str | os.PathLike[str]) -> list[Setting]:
    """The settings whose layout is found at ``path`` (several for an ``avsbench_data`` root)."""
    return [s for s, find in _FINDERS.items() if find(path) is not None]


def open_dataset(path: str | os.PathLike[str], setting: Setting | str | None = None) -> Dataset:
    """Open the dataset at ``path``; ``setting`` picks one when the folder holds several."""
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"{p}: no such folder")
    if not p.is_dir():
        raise DatasetError(f"{p}: not a folder")
    if setting is not None:
        return _READERS[Setting.parse(setting)](p)
    found = detect_setting(p)
    if not found:
        raise DatasetError(
            f"{p}: not an AVSBench dataset (no s4_meta_data.csv, ms3_meta_data.csv or metadata.csv)"
        )
    if len(found) > 1:
        names = ", ".join(s.value for s in found)
        raise DatasetError(f"{p}: holds several settings ({names}); choose one with --setting")
    return _READERS[found[0]](p)
