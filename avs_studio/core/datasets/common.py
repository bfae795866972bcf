"""What the S4, MS3 and AVSS dataset readers and writers share: CSVs, problems, clips on disk."""

from __future__ import annotations

import csv
import io
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from avs_studio.core.clip import MODEL_SIZE, Clip
from avs_studio.core.errors import AudioError, DatasetError, MaskError, UnsafePathError
from avs_studio.core.fsutil import (
    atomic_path,
    atomic_write_text,
    check_component,
    read_user_text,
    require_regular_file,
    safe_join,
)
from avs_studio.core.masks.files import open_image
from avs_studio.core.setting import Setting

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetProblem:
    """Something wrong with one row or file of a dataset; the rest still loads."""

    where: str
    message: str
    #: True when the row (or clip) was left out because of it; else a warning only
    skipped: bool = False

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class CsvRows:
    """Rows of a metadata CSV as dicts (with their 1-based line numbers) and the problems met."""

    header: list[str]
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    problems: list[DatasetProblem] = field(default_factory=list)


def read_csv(path: Path, required: Sequence[str]) -> CsvRows:
    """Read a comma-separated metadata file with a header row.

    A missing file or a header without the ``required`` columns raises
    :class:`DatasetError`; rows with the wrong number of fields become problems.
    A header whose column order differs from ``required`` is reported too, because the
    official loaders read some columns by position.
    """
    # A regular file only: a FIFO named like the metadata would block the reader.
    text = read_user_text(path, DatasetError, "metadata file", max_bytes=256 << 20, encoding="utf-8-sig")
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DatasetError(f"{path}: empty file, expected a header {','.join(required)}") from None
    except csv.Error as exc:
        raise DatasetError(f"{path}: malformed CSV header ({exc})") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise DatasetError(
            f"{path}: missing column(s) {', '.join(missing)}; header is {','.join(header)!r}, "
            f"expected {','.join(required)!r}"
        )
    out = CsvRows(header=header)
    if header[: len(required)] != list(required):
        out.problems.append(
            DatasetProblem(
                path.name,
                f"column order {header} differs from the official {list(required)}; "
                "the official loaders read some columns by position",
            )
        )
    try:
        for line_no, fields in enumerate(reader, start=2):
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                out.problems.append(
                    DatasetProblem(
                        f"{path.name}:{line_no}",
                        f"{len(fields)} fields, expected {len(header)}: {','.join(fields)[:80]!r}",
                        skipped=True,
                    )
                )
                continue
            out.rows.append((line_no, {h: f.strip() for h, f in zip(header, fields)}))
    except csv.Error as exc:
        raise DatasetError(f"{path}: malformed CSV ({exc})") from None
    return out


def write_csv(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], *, final_newline: bool = True
) -> None:
    """Write a metadata CSV the way the official files are: LF endings, no quoting, atomic."""
    lines = [",".join(header)]
    for row in rows:
        cells = [str(c) for c in row]
        for c in cells:
            if any(ch in c for ch in ',"\n\r'):
                raise DatasetError(f"value {c!r} cannot be written to an unquoted CSV")
        lines.append(",".join(cells))
    text = "\n".join(lines) + ("\n" if final_newline else "")
    atomic_write_text(path, text)


def check_split(split: str, where: str) -> str:
    """Return ``split`` if it is train/val/test, else raise a problem-worthy DatasetError."""
    if split not in SPLITS:
        raise DatasetError(f"{where}: unknown split {split!r} (expected train, val or test)")
    return split


def safe_name(value: str, what: str) -> str:
    """A value that becomes a file or folder name: refuse separators and '..'."""
    try:
        return check_component(value, what)
    except UnsafePathError as exc:
        raise UnsafePathError(str(exc)) from None


def read_rgb(path: Path) -> np.ndarray:
    """Read a frame image as the official loaders do (Pillow, convert('RGB')) -> uint8 [H, W, 3]."""
    try:
        img = open_image(path)
    except MaskError as exc:
        raise DatasetError(str(exc).replace("mask", "frame")) from None
    return np.asarray(img.convert("RGB"))


def write_frame(path: Path, frame: np.ndarray | Path, encode: Callable[[Path, np.ndarray], None]) -> None:
    """Write one frame: a file path is copied byte for byte, pixels are encoded."""
    if isinstance(frame, (str, os.PathLike)):
        copy_atomic(Path(frame), path)
    else:
        encode(path, frame)


def write_png_rgb(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB uint8 frame as PNG, atomically."""
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB").save(tmp, format="PNG")


def write_jpeg_rgb(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    """Write an RGB uint8 frame as JPEG, atomically."""
    with atomic_path(path, suffix=".jpg") as tmp:
        Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB").save(
            tmp, format="JPEG", quality=quality
        )


class DatasetClip(Clip):
    """A clip stored in a dataset folder; its dataset knows where each file lives."""

    def __init__(self, dataset: Dataset, **kw) -> None:
        super().__init__(**kw)
        self._dataset = dataset

    @property
    def dataset(self) -> Dataset:
        """The dataset this clip belongs to."""
        return self._dataset

    def frame(self, k: int) -> np.ndarray:
        """Frame ``k`` (0-based) as stored."""
        self._check_k(k)
        return read_rgb(self._dataset.frame_path(self, k))

    def frame_path(self, k: int) -> Path:
        """Where frame ``k`` lives."""
        self._check_k(k)
        return self._dataset.frame_path(self, k)

    def mask_path(self, k: int) -> Path:
        """Where the mask of frame ``k`` lives (whether or not it exists)."""
        self._check_k(k)
        return self._dataset.mask_path(self, k)

    def mask(self, k: int, *, size: tuple[int, int] | None = MODEL_SIZE) -> np.ndarray | None:
        """Ground truth of frame ``k`` decoded as the official loader, or None."""
        self._check_k(k)
        if k not in self.annotated:
            return None
        return self._dataset.read_mask(self._dataset.mask_path(self, k), size=size)

    def audio(self) -> tuple[np.ndarray, int]:
        """The clip's WAV (or the audio track of its raw video when there is no WAV)."""
        from avs_studio.core.audio.logmel import read_wav

        wav = self._dataset.wav_path(self)
        if wav is not None and wav.exists():
            return read_wav(wav)
        if self.video_path is not None and self.video_path.exists():
            from avs_studio.core.media.decode import open_media

            with open_media(self.video_path) as media:
                return media.audio()
        raise AudioError(f"{self}: no audio file ({wav}) and no video to take it from")

    def log_mel(self) -> np.ndarray:
        """Log-mel examples recomputed from the WAV; the cached pickle only through a safe loader."""
        from avs_studio.core.audio.logmel import load_logmel_pickle, log_mel_from_wav

        layout = "avss" if self.setting is Setting.AVSS else "s4"
        wav = self._dataset.wav_path(self)
        if wav is not None and wav.exists():
            return log_mel_from_wav(wav, layout=layout)
        pkl = self._dataset.logmel_path(self)
        if pkl is not None and pkl.exists():
            arr = load_logmel_pickle(pkl)
            return np.asarray(arr, dtype=np.float32).reshape(-1, 96, 64)
        raise AudioError(f"{self}: neither {wav} nor {pkl} exists")

    def _check_k(self, k: int) -> None:
        if not 0 <= k < self.num_frames:
            raise IndexError(f"{self}: frame {k} out of range 0..{self.num_frames - 1}")


class Dataset:
    """A dataset folder of one setting: its clips in metadata order and the problems met."""

    setting: Setting

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.problems: list[DatasetProblem] = []
        #: colour mask path -> pixels of colours outside the palette (AVSS), filled while reading
        self.stray_colours: dict[str, int] = {}
        self._stray_lock = threading.Lock()
        self._clips: list[DatasetClip] = []

    # layout hooks, implemented per setting
    def frame_path(self, clip: Clip, k: int) -> Path:
        """Path of frame ``k`` (0-based) of ``clip``."""
        raise NotImplementedError

    def mask_path(self, clip: Clip, k: int) -> Path:
        """Path of the mask of frame ``k`` (0-based) of ``clip``."""
        raise NotImplementedError

    def wav_path(self, clip: Clip) -> Path | None:
        """Path of the clip's WAV file, if the layout has one."""
        raise NotImplementedError

    def logmel_path(self, clip: Clip) -> Path | None:
        """Path of the cached log-mel pickle, if the layout has one."""
        return None

    def read_mask(self, path: Path, *, size: tuple[int, int] | None = MODEL_SIZE) -> np.ndarray:
        """Decode one ground-truth mask file."""
        raise NotImplementedError

    # queries
    def clips(self, split: str | None = None) -> list[DatasetClip]:
        """Clips in metadata-CSV order (the official evaluation order), optionally one split."""
        if split is None:
            return list(self._clips)
        return [c for c in self._clips if c.split == split]

    def get(self, clip_id: str) -> DatasetClip:
        """The clip with this id; KeyError if absent."""
        for c in self._clips:
            if c.clip_id == clip_id:
                return c
        raise KeyError(clip_id)

    def __len__(self) -> int:
        return len(self._clips)

    def __iter__(self):
        return iter(self._clips)

    def _join(self, *parts: str) -> Path:
        return safe_join(self.root, *parts)

    def _problem(self, where: str, message: str, *, skipped: bool = False) -> None:
        self.problems.append(DatasetProblem(where, message, skipped))

    @property
    def skipped_rows(self) -> list[DatasetProblem]:
        """Rows of the metadata that were left out (each with why): a batch over this dataset
        reports them as skipped."""
        return [p for p in self.problems if p.skipped]

    def note_stray_colours(self, path: Path, pixels: int) -> None:
        """Record that a colour mask held ``pixels`` pixels of colours outside the palette
        (read as background, as the official loader does)."""
        with self._stray_lock:
            self.stray_colours[str(path)] = int(pixels)

    def notes(self) -> list[str]:
        """What a command reading this dataset should tell the user besides skipped rows:
        the warnings met while opening it and the masks whose colours are not the palette's."""
        out = [str(p) for p in self.problems if not p.skipped]
        if self.stray_colours:
            with self._stray_lock:
                items = sorted(self.stray_colours.items())
            shown = ", ".join(f"{Path(k).name} ({v} px)" for k, v in items[:5])
            more = f" and {len(items) - 5} more" if len(items) > 5 else ""
            out.append(f"{len(items)} colour mask(s) hold {sum(v for _, v in items)} pixels of colours "
                       f"outside the AVSS palette, read as background as the official loader does: "
                       f"{shown}{more}")  # fmt: skip
        return out


LogMelWriter = Callable[[Path, Path], None]


def check_224(arr: np.ndarray, what: str) -> None:
    """Refuse an image or mask that is not 224 x 224 (the S4/MS3 layout's fixed size)."""
    shape = np.asarray(arr).shape[:2]
    if shape != (MODEL_SIZE[1], MODEL_SIZE[0]):
        raise DatasetError(f"{what} is {shape[1]}x{shape[0]}, the layout needs 224x224")


def check_frames(frames: Sequence[np.ndarray | Path], count: int, name: str, *, size224: bool = True) -> None:
    """Refuse a frame list of the wrong length (or, for S4/MS3, frames not 224 x 224).

    A frame given as a file path is copied as it is; the caller checked that it fits.
    """
    if len(frames) != count:
        raise DatasetError(f"{name}: expected {count} frames, got {len(frames)}")
    for k, rgb in enumerate(frames):
        if isinstance(rgb, (str, os.PathLike)):
            continue
        a = np.asarray(rgb)
        if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
            raise DatasetError(f"{name} frame {k}: expected RGB uint8 [H, W, 3], got {a.dtype} {a.shape}")
        if size224:
            check_224(a, f"{name} frame {k}")


def write_clip_audio(
    wav_path: Path,
    wav: tuple[np.ndarray, int] | Path,
    pkl_path: Path | None,
    log_mel_writer: LogMelWriter | None,
) -> None:
    """Write a clip's WAV (samples and rate, or an existing WAV file copied byte for byte).

    When a writer is given, the cached log-mel pickle is written from that WAV too.
    """
    if isinstance(wav, (str, os.PathLike)):
        copy_atomic(Path(wav), wav_path)
    else:
        from avs_studio.core.audio.logmel import write_wav

        write_wav(wav_path, wav[0], wav[1])
    if log_mel_writer is not None and pkl_path is not None:
        log_mel_writer(pkl_path, wav_path)


def copy_atomic(src: Path, dst: Path) -> None:
    """Copy a file so that ``dst`` appears complete or not at all.

    A source that is not a regular file (a FIFO would block, a device never end) or cannot
    be read is a :class:`DatasetError` naming it.
    """
    require_regular_file(src, DatasetError, "source file")
    with atomic_path(dst) as tmp:
        try:
            shutil.copyfile(src, tmp)
        except OSError as exc:  # e.g. replaced by a FIFO after the check, or unreadable
            raise DatasetError(f"{src}: cannot copy it ({exc.strerror or type(exc).__name__})") from None
