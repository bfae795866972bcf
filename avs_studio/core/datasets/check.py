"""Check a dataset folder against what the official AVSBench dataset classes read.

:func:`check_dataset` walks an S4, MS3 or AVSS folder the way the official loaders and
preprocessing scripts (``formats.md``) would, and lists every file or value they would
fail on or read differently: the metadata CSV (columns by position, value ranges), the
frames (S4/MS3: 224 x 224 RGB PNGs with the literal ``.mp4`` in MS3 names; AVSS: JPEGs,
nothing else in ``frames/``), the masks (single-channel 0/255 for S4/MS3, decoded as each
loader decodes them; AVSS colour masks with palette colours only), the log-mel pickles
(``[5, 1, 96, 64]`` float32) and ``label2idx.json``. It reads the files with Pillow and
the safe unpickler directly, not through the dataset readers it checks.

``avs-studio check DATA`` prints the findings.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from avs_studio.core.errors import AVSError, DatasetError, UnsafePathError
from avs_studio.core.fsutil import check_component, read_user_bytes, read_user_text
from avs_studio.core.setting import Setting

SPLITS = ("train", "val", "test")
S4_COLUMNS = ["name", "start", "category", "split"]
MS3_COLUMNS = ["video_id", "split"]
AVSS_COLUMNS = ["vid", "uid", "s_min", "s_sec", "a_obj", "split", "label"]
AVSS_FRAMES = {"v1s": 5, "v1m": 5, "v2": 10}
SIZE = (224, 224)


@dataclass(frozen=True)
class Finding:
    """One thing the official code would fail on or read differently."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class CheckReport:
    """What :func:`check_dataset` looked at and what it found."""

    setting: Setting
    root: Path
    media: bool = True
    clips: int = 0
    files: int = 0
    findings: list[Finding] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.findings is None:
            self.findings = []

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    def add(self, where: str | Path, message: str) -> None:
        """Record a finding (paths are shown relative to the dataset root)."""
        if isinstance(where, Path):
            try:
                where = where.relative_to(self.root).as_posix()
            except ValueError:
                where = str(where)
        self.findings.append(Finding(str(where), message))


def check_dataset(path: str | os.PathLike[str], setting: Setting | str | None = None, *,
                  media: bool = True) -> CheckReport:  # fmt: skip
    """Check the S4, MS3 or AVSS folder at ``path`` (its official folder or the one above).

    ``media=False`` checks what evaluation reads (the CSV and the masks) and not the
    frames, log-mel pickles and audio that training also needs.
    """
    p = Path(path)
    found = _find(p)
    if setting is not None:
        s = Setting.parse(setting)
        found = {k: v for k, v in found.items() if k is s}
    if len(found) != 1:
        from avs_studio.core.errors import DatasetError

        what = ", ".join(k.value for k in found) or "no s4_meta_data.csv, ms3_meta_data.csv or metadata.csv"
        raise DatasetError(f"{p}: expected one AVSBench layout, found {what}; choose one with --setting")
    s, root = next(iter(found.items()))
    report = CheckReport(s, root, media)
    {Setting.S4: _check_s4, Setting.MS3: _check_ms3, Setting.AVSS: _check_avss}[s](report)
    return report


def _find(p: Path) -> dict[Setting, Path]:
    out = {}
    for s, meta, sub in ((Setting.S4, "s4_meta_data.csv", "Single-source"),
                         (Setting.MS3, "ms3_meta_data.csv", "Multi-sources"),
                         (Setting.AVSS, "metadata.csv", "AVSS")):  # fmt: skip
        for cand in (p, p / sub):
            if (cand / meta).is_file():
                out[s] = cand
                break
    return out


# --------------------------------------------------------------------------- the CSVs


def _rows(report: CheckReport, name: str, columns: list[str], paths: tuple[str, ...] = ()) -> list[list[str]]:
    """The CSV's data rows; its header must be ``columns`` in order (read by position).

    The ``paths`` columns become file and folder names: a row whose value is no plain
    name (separators, ``..``, too long for the file system) is a finding, never a path.
    """
    path = report.root / name
    raw = read_user_bytes(path, DatasetError, name)  # regular files only, size capped
    report.files += 1
    if b"\r" in raw:
        report.add(name, "CRLF line endings; the official files end lines with LF")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        report.add(name, "not UTF-8 text")
        return []
    if text.startswith("\ufeff"):
        report.add(name, "starts with a byte-order mark: pandas reads the first column name with it")
    if '"' in text:
        report.add(name, "holds quotes; the official files have none")
    try:
        table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as exc:  # e.g. a field beyond the csv module's size limit
        report.add(name, f"not a CSV the loaders can read ({exc})")
        return []
    if not table or table[0] != columns:
        report.add(name, f"header {table[0] if table else []} is not {columns} (the loaders read columns by position)")
        return []
    out = []
    for line, row in enumerate(table[1:], start=2):
        if not row:
            continue
        if len(row) != len(columns):
            report.add(f"{name}:{line}", f"{len(row)} fields, expected {len(columns)}")
            continue
        if row[columns.index("split")] not in SPLITS:
            report.add(f"{name}:{line}", f"split {row[columns.index('split')]!r} is not train, val or test")
            continue
        try:
            for col in paths:  # the longest name made of it: "<vid>.mp4_10.png"
                check_component(row[columns.index(col)] + ".mp4_10.png", col)
        except UnsafePathError as exc:
            report.add(f"{name}:{line}", str(exc))
            continue
        out.append(row)
    return out


def _int(report: CheckReport, where: str, value: str, lo: int, hi: int | None, what: str) -> int | None:
    try:
        v = int(value)
    except ValueError:
        report.add(where, f"{what} {value!r} is not an integer")
        return None
    if v < lo or (hi is not None and v > hi):
        report.add(where, f"{what} {v} is outside {lo}..{'' if hi is None else hi}")
    return v


# --------------------------------------------------------------------------- files


def _image(report: CheckReport, path: Path):
    if not path.is_file():
        report.add(path, "missing")
        return None
    report.files += 1
    try:
        img = Image.open(path)
        img.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        report.add(path, f"not an image Pillow can read ({exc})")
        return None
    return img


def _frame_png(report: CheckReport, path: Path) -> None:
    """S4/MS3 frame: a 224 x 224 RGB PNG (the loaders do not resize)."""
    img = _image(report, path)
    if img is None:
        return
    if img.format != "PNG":
        report.add(path, f"is {img.format}, the layout holds PNG frames")
    if img.size != SIZE:
        report.add(path, f"is {img.size[0]}x{img.size[1]}; the S4/MS3 loaders need 224x224 (they do not resize)")
    if img.mode != "RGB":
        report.add(path, f"mode {img.mode}; the layout's frames are RGB")


def _binary_mask(report: CheckReport, path: Path, setting: Setting) -> None:
    """S4/MS3 mask: 224 x 224, one channel, 0/255 (decoded as ``convert('1')`` / ``convert('P')``)."""
    img = _image(report, path)
    if img is None:
        return
    if img.size != SIZE:
        report.add(path, f"is {img.size[0]}x{img.size[1]}; masks are 224x224")
    if img.mode not in ("L", "P", "1"):
        report.add(path, f"mode {img.mode}; masks are single-channel (a colour mask breaks the MS3 loader)")
        return
    if img.mode == "1":
        return
    values = np.unique(np.asarray(img))
    if not np.isin(values, (0, 255)).all():
        report.add(path, f"holds values {values[:6].tolist()}; the loaders need 0 and 255")
    if img.mode == "P":
        pal = np.asarray(img.getpalette() or [], dtype=np.int64).reshape(-1, 3)
        if len(pal) < 256 or pal[0].tolist() != [0, 0, 0] or pal[255].tolist() != [255, 255, 255]:
            report.add(path, "palette entries 0 and 255 are not black and white: S4 (by colour) and MS3 "
                             "(by index) read it differently")  # fmt: skip


def _log_mel(report: CheckReport, path: Path) -> None:
    """S4/MS3 ``audio_log_mel/*.pkl``: a float32 ``[5, 1, 96, 64]`` tensor."""
    from avs_studio.core.audio.logmel import load_logmel_pickle
    from avs_studio.core.errors import AudioError

    if not path.is_file():
        report.add(path, "missing (the official loader opens it for every clip)")
        return
    report.files += 1
    try:
        load_logmel_pickle(path)
    except AudioError as exc:
        report.add(path, str(exc).replace(str(path), "").strip(": ") or "unreadable")


# --------------------------------------------------------------------------- settings


def _check_s4(report: CheckReport) -> None:
    data = report.root / "s4_data"
    for row in _rows(report, "s4_meta_data.csv", S4_COLUMNS, ("name", "category")):
        name, start, category, split = row
        report.clips += 1
        where = f"s4_meta_data.csv ({name})"
        v = _int(report, where, start, 0, 6, "start")
        if v is not None and v > 5:
            report.add(where, f"start {v}: the preprocessing would write only {10 - v} frames (t = 10 - start)")
        for k in range(1, 6) if report.media else ():
            _frame_png(report, data / "visual_frames" / split / category / name / f"{name}_{k}.png")
        for k in (1,) if split == "train" else range(1, 6):
            _binary_mask(report, data / "gt_masks" / split / category / name / f"{name}_{k}.png", Setting.S4)
        if report.media:
            _log_mel(report, data / "audio_log_mel" / split / category / f"{name}.pkl")


def _check_ms3(report: CheckReport) -> None:
    data = report.root / "ms3_data"
    for vid, split in _rows(report, "ms3_meta_data.csv", MS3_COLUMNS, ("video_id",)):
        report.clips += 1
        for k in range(1, 6):
            if report.media:
                _frame_png(report, data / "visual_frames" / vid / f"{vid}.mp4_{k}.png")
            _binary_mask(report, data / "gt_masks" / split / vid / f"{vid}_{k}.png", Setting.MS3)
        if report.media:
            _log_mel(report, data / "audio_log_mel" / split / f"{vid}.pkl")


_NUMBERED = {"frames": re.compile(r"^(\d+)\.jpg$"), "labels_rgb": re.compile(r"^(\d+)\.png$")}


def _check_avss(report: CheckReport) -> None:
    from avs_studio.core.masks.palette import CLASS_NAMES, PALETTE

    _label2idx(report, CLASS_NAMES)
    colours = {tuple(int(v) for v in c) for c in np.asarray(PALETTE).reshape(-1, 3)}
    for row in _rows(report, "metadata.csv", AVSS_COLUMNS, ("uid", "label")):
        vid, uid, s_min, s_sec, a_obj, split, label = row
        report.clips += 1
        where = f"metadata.csv ({uid})"
        _int(report, where, s_min, 0, None, "s_min")
        _int(report, where, s_sec, 0, 60, "s_sec")  # formats.md: one official row has s_sec = 60
        if label not in AVSS_FRAMES:
            report.add(where, f"label {label!r} is not v1s, v1m or v2")
            continue
        n = AVSS_FRAMES[label]
        clip = report.root / label / uid
        frames = _listing(report, clip / "frames", "frames") if report.media else []
        if report.media and frames != list(range(n)):
            report.add(clip / "frames", f"holds frames {frames[:12]}; a {label} clip has 0..{n - 1}.jpg")
        for k in frames:
            img = _image(report, clip / "frames" / f"{k}.jpg")
            if img is not None and img.format != "JPEG":
                report.add(clip / "frames" / f"{k}.jpg", f"is {img.format}, not JPEG")
        masks = _listing(report, clip / "labels_rgb", "labels_rgb")
        need = [0] if (label, split) == ("v1s", "train") else list(range(n))
        if [k for k in need if k not in masks]:
            report.add(clip / "labels_rgb", f"holds masks {masks[:12]}; the {label} {split} loader reads {need}")
        for k in masks:
            img = _image(report, clip / "labels_rgb" / f"{k}.png")
            if img is None:
                continue
            rgb = np.asarray(img.convert("RGB")).reshape(-1, 3)
            found = {tuple(int(v) for v in c) for c in np.unique(rgb, axis=0)}
            if found - colours:
                report.add(clip / "labels_rgb" / f"{k}.png",
                           f"{len(found - colours)} colour(s) outside the palette (read as background)")  # fmt: skip
        if not report.media:
            continue
        if not (clip / "audio.wav").is_file():
            report.add(clip / "audio.wav", "missing (the loader hands its path to VGGish)")
        else:
            report.files += 1


def _listing(report: CheckReport, folder: Path, kind: str) -> list[int]:
    """Numbers of ``<k>.jpg`` / ``<k>.png`` in ``folder``; stray names are findings (they
    corrupt the official frame count, or survive its filter)."""
    if not folder.is_dir():
        report.add(folder, "missing")
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        m = _NUMBERED[kind].match(name)
        if m:
            out.append(int(m.group(1)))
        else:
            report.add(folder / name, f"stray file in {kind}/ (the official loader counts or lists this folder)")
    return sorted(out)


def _label2idx(report: CheckReport, names) -> None:
    path = report.root / "label2idx.json"
    if not path.is_file():
        report.add("label2idx.json", "missing (the official loader asserts 71 entries)")
        return
    report.files += 1
    try:
        data = json.loads(read_user_text(path, DatasetError, "label2idx.json", max_bytes=1 << 20))
    except (AVSError, ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError
        report.add("label2idx.json", f"not valid JSON ({exc})")
        return
    if not isinstance(data, dict) or list(data) != list(names):
        report.add("label2idx.json", "keys are not the 71 classes in palette order")
    elif list(data.values()) != list(range(1, len(names) + 1)):
        report.add("label2idx.json", "values are not 1..71")
