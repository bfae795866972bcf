"""Plain records a project hands out: clips, objects, provenance, the label set, statuses.

Records are snapshots: reading them never changes the project, and changing the project
(through :mod:`avs_studio.core.project.edits` commands) never changes a record already handed out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avs_studio.core.masks.palette import CLASS_NAMES, PALETTE
from avs_studio.core.project.errors import EditError, ProjectCorruptError
from avs_studio.core.project.media import resolve_location
from avs_studio.core.project.rle import decode as rle_decode
from avs_studio.core.project.schema import STATUSES
from avs_studio.core.setting import Setting

#: Provenance kinds: drawn by hand, proposed by a model, a proposal accepted, ground truth
#: of a dataset, imported from COCO/PNG masks.
KIND_MANUAL = "manual"
KIND_PROPOSAL = "proposal"
KIND_ACCEPTED = "accepted"
KIND_DATASET = "dataset"
KIND_IMPORT = "import"
KINDS = (KIND_MANUAL, KIND_PROPOSAL, KIND_ACCEPTED, KIND_DATASET, KIND_IMPORT)

STATUS_TITLES = {
    "new": "new",
    "proposed": "proposed",
    "in_progress": "in progress",
    "done": "done",
    "reviewed": "reviewed",
}


def parse_status(value: str) -> str:
    """``'in progress'``, ``'In-Progress'``, ``'done'`` ... -> the stored status token."""
    token = str(value).strip().lower().replace(" ", "_").replace("-", "_")
    if token not in STATUSES:
        raise EditError(
            f"unknown status {value!r}: expected one of {', '.join(STATUS_TITLES.values())}"
        )
    return token


def status_rank(status: str) -> int:
    """Position of a status in the workflow (new = 0 ... reviewed = 4)."""
    return STATUSES.index(status)


def paint_order(stored: Sequence[int], instances: Iterable[int]) -> list[int]:
    """The objects ``instances`` bottom to top, as the export composes them.

    ``stored`` is the clip's recorded order (``clips.object_order``): the objects it lists
    come first, in its order; the others lie above them by instance id (a new object is on
    top, as every object was before the order could be changed).
    """
    present = {int(i) for i in instances}
    listed = [i for i in dict.fromkeys(int(v) for v in stored) if i in present]
    return listed + sorted(present - set(listed))


def moved(order: Sequence[int], instance: int, step: int, among: Iterable[int] | None = None) -> list[int]:
    """``order`` (bottom to top) with ``instance`` moved ``step`` places up (> 0) or down (< 0).

    Places are counted among the objects ``among`` (e.g. those of the frame shown; all by
    default): raising an object puts it just above the next of them above it, whatever
    objects of other frames lie between. Steps past the top or bottom stop there.
    """
    order = [int(i) for i in order]
    instance = int(instance)
    if instance not in order:
        raise EditError(f"object {instance} is not in the clip's order")
    keep = set(order) if among is None else {int(i) for i in among} | {instance}
    places = [i for i in order if i in keep]
    at = places.index(instance)
    to = max(0, min(len(places) - 1, at + int(step)))
    if to == at:
        return order
    rest = [i for i in order if i != instance]
    anchor = rest.index(places[to])
    rest.insert(anchor + 1 if to > at else anchor, instance)
    return rest


@dataclass(frozen=True)
class LabelSet:
    """The labels objects may carry: index 0 is background, objects use 1..N-1."""

    names: tuple[str, ...]
    colours: tuple[tuple[int, int, int], ...]

    @classmethod
    def for_setting(cls, setting: Setting) -> LabelSet:
        """The official label set of a setting (one sounding object, or the 71 AVSS classes)."""
        if setting.is_binary:
            return cls(("background", "sounding_object"), ((0, 0, 0), (255, 255, 255)))
        return cls(tuple(CLASS_NAMES), tuple(tuple(int(v) for v in c) for c in PALETTE))

    def __len__(self) -> int:
        return len(self.names)

    def name(self, label: int) -> str:
        """Name of label index ``label``."""
        return self.names[label]

    def index(self, name_or_index: str | int) -> int:
        """Label index of a name (or check an index); EditError if not in the set."""
        if isinstance(name_or_index, (int, np.integer)):
            label = int(name_or_index)
            if not 1 <= label < len(self.names):
                raise EditError(f"label {label} is outside 1..{len(self.names) - 1}")
            return label
        try:
            label = self.names.index(str(name_or_index))
        except ValueError:
            raise EditError(f"unknown label {name_or_index!r}") from None
        if label == 0:
            raise EditError("background is not an object label")
        return label

    def palette(self) -> np.ndarray:
        """The colours as uint8 ``[N, 3]``."""
        return np.asarray(self.colours, dtype=np.uint8)

    def to_json(self) -> str:
        """The form stored in the project's meta table."""
        return json.dumps([[n, list(c)] for n, c in zip(self.names, self.colours)])

    @classmethod
    def from_json(cls, text: str) -> LabelSet:
        """Inverse of :meth:`to_json`."""
        items = json.loads(text)
        return cls(tuple(str(n) for n, _ in items), tuple(tuple(int(v) for v in c) for _, c in items))


@dataclass(frozen=True)
class Provenance:
    """Where an object comes from and who touched it last.

    ``kind`` is one of :data:`KINDS`; ``model``/``checkpoint`` (a hash) and ``confidence``
    describe a model proposal (and stay after it is accepted); ``created_by``,
    ``edited_by`` and ``edited_at`` (ISO time) name people.
    """

    kind: str = KIND_MANUAL
    model: str = ""
    checkpoint: str = ""
    confidence: float | None = None
    created_by: str = ""
    edited_by: str = ""
    edited_at: str = ""

    @classmethod
    def proposal(cls, model: str, checkpoint: str = "", confidence: float | None = None) -> Provenance:
        """The provenance of a model proposal."""
        return cls(KIND_PROPOSAL, model, checkpoint, None if confidence is None else float(confidence))

    @property
    def is_proposal(self) -> bool:
        """True for objects a model proposed and nobody accepted yet."""
        return self.kind == KIND_PROPOSAL

    def to_dict(self) -> dict:
        """Plain dict (JSON-safe)."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> Provenance:
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


#: Provenance kinds whose objects are ground truth in the AVSBench sense: present = sounding.
DECIDED_KINDS = (KIND_DATASET, KIND_IMPORT)


@dataclass(frozen=True)
class OpenProposal:
    """A model proposal nobody accepted or rejected yet: one object in one frame of a clip.

    ``frame`` is 0-based (the GUI and the CLI show ``frame + 1``).
    """

    clip_id: str
    frame: int
    instance_id: int
    label: int
    label_name: str
    confidence: float | None = None

    def __str__(self) -> str:
        conf = "" if self.confidence is None else f" ({self.confidence:.0%})"
        return f"frame {self.frame + 1}: object #{self.instance_id} {self.label_name.replace('_', ' ')}{conf}"


@dataclass
class ObjectRecord:
    """One object in one frame of a clip: instance id, label, mask and provenance.

    The mask (uint8 {0, 1}, ``[H, W]``, read-only) is decoded from its RLE on first use.
    The same ``instance_id`` in several frames of a clip is the same object. ``sounding``
    says whether it sounds in this frame: a silent object keeps its mask (geometry) but
    is left out of the frame's AVS mask and of every export; ``sounding_checked`` that a
    person decided it (see :attr:`sounding_decided`).
    """

    clip_id: str
    frame: int
    instance_id: int
    label: int
    provenance: Provenance
    height: int
    width: int
    area: int
    rle: bytes = field(repr=False)
    _mask: np.ndarray | None = field(default=None, repr=False)
    sounding: bool = True
    sounding_checked: bool = False

    @property
    def sounding_decided(self) -> bool:
        """True when a person decided whether the object sounds in this frame (toggled or
        confirmed it), or when it is ground truth read from a dataset or imported."""
        return self.sounding_checked or self.provenance.kind in DECIDED_KINDS

    @property
    def mask(self) -> np.ndarray:
        """The object's pixels (decoded on first use)."""
        if self._mask is None:
            m = rle_decode(self.rle, self.height, self.width)
            m.setflags(write=False)
            self._mask = m
        return self._mask

    @property
    def rle_dict(self) -> dict:
        """The mask as a COCO compressed RLE (``counts`` as str)."""
        return {"size": [self.height, self.width], "counts": self.rle.decode("ascii")}


@dataclass(frozen=True)
class ClipRecord:
    """A lightweight description of one clip of a project (no pixels, no decoding).

    ``source`` is ``"video"`` (a video file, or a segment ``[start, start + seconds)`` of
    one) or ``"dataset"`` (frame files of an AVSBench dataset). ``frame_times`` are seconds
    from the clip start; ``annotated`` the 0-based frames that carry ground truth;
    ``object_order`` the clip's recorded object order (see :func:`paint_order`).
    """

    clip_id: str
    source: str
    media_hash: str
    duration: float | None
    start: float
    seconds: int
    num_frames: int
    frame_times: tuple[float, ...]
    annotated: tuple[int, ...]
    width: int
    height: int
    split: str
    category: str
    subset: str
    vid: str
    a_obj: str
    status: str
    annotator: str
    comment: str
    updated_at: str
    root_rel: str = field(repr=False, default="")
    root_abs: str = field(repr=False, default="")
    files: dict = field(repr=False, default_factory=dict)
    ordinals: tuple[int, ...] = field(repr=False, default=())
    project_dir: Path = field(repr=False, default=Path("."))
    object_order: tuple[int, ...] = field(repr=False, default=())

    @property
    def root(self) -> Path:
        """The folder the clip's files are relative to (resolved now)."""
        return resolve_location(self.root_rel, self.root_abs, self.project_dir)

    @property
    def media_path(self) -> Path:
        """The video file (video clips) or the dataset root (dataset clips), resolved now."""
        root = self.root
        return root / self.files["video"] if self.source == "video" else root

    @property
    def key_file(self) -> Path:
        """The file whose hash identifies the media: the video, or the first frame file."""
        root = self.root
        return root / (self.files["video"] if self.source == "video" else self.files["frames"][0])

    @property
    def media_missing(self) -> bool:
        """True when the media cannot be found at either stored location."""
        return not self.key_file.is_file()

    @property
    def is_segment(self) -> bool:
        """True for a clip cut from a longer video (it starts later or ends earlier)."""
        if self.source != "video":
            return False
        return self.start > 0 or (self.duration is not None and self.duration > self.seconds + 0.5)

    @property
    def end(self) -> float:
        """End of the clip in the media's time (s)."""
        return self.start + self.seconds


#: Largest frame side a project clip may have (the size masks are allocated at).
MAX_SIDE = 16384
#: Most frames a clip may have (AVSBench clips have 5 or 10).
MAX_FRAMES = 1000


def clip_record_from_row(row, project_dir: Path, source: Path | None = None) -> ClipRecord:
    """Build a :class:`ClipRecord` from a ``clips`` row (sqlite3.Row).

    Every column is checked: a row that a damaged file (or a foreign program) left with
    broken JSON, wrong types or an impossible size raises :class:`ProjectCorruptError`
    naming the clip and the column, never a bare ``ValueError``.
    """
    where = source if source is not None else project_dir
    uid = _column(row, "uid", where)
    column = "uid"

    def bad(why: str) -> ProjectCorruptError:
        return ProjectCorruptError(f"{where}: damaged project: clip {uid!r}, column {column}: {why}")

    try:
        if not isinstance(uid, str) or not uid:
            raise bad("not a clip id")
        column = "size"
        width, height = _int(row["width"]), _int(row["height"])
        check_clip_size(width, height, where, uid)
        column = "num_frames"
        num_frames = _int(row["num_frames"])
        if not 1 <= num_frames <= MAX_FRAMES:
            raise bad(f"{num_frames} frames (expected 1..{MAX_FRAMES})")
        column = "seconds"
        seconds = _int(row["seconds"])
        column = "start"
        start = _finite(row["start"])
        column = "duration"
        duration = None if row["duration"] is None else _finite(row["duration"])
        column = "frame_times"
        frame_times = tuple(_finite(t) for t in _json_list(row["frame_times"]))
        if len(frame_times) != num_frames:
            raise bad(f"{len(frame_times)} frame times for {num_frames} frames")
        column = "annotated"
        annotated = tuple(_int(k) for k in _json_list(row["annotated"]))
        if any(not 0 <= k < num_frames for k in annotated):
            raise bad(f"frames outside 0..{num_frames - 1}")
        column = "ordinals"
        ordinals = tuple(_int(k) for k in _json_list(row["ordinals"]))
        column = "object_order"  # a schema-1 row (written before the object order) has none
        object_order = (tuple(_int(k) for k in _json_list(row["object_order"]))
                        if "object_order" in row.keys() else ())  # noqa: SIM118  (sqlite3.Row: `in` tests values)  # fmt: skip
        column = "files"
        files = json.loads(row["files"])
        source_kind = row["source"]
        if not isinstance(files, dict):
            raise bad("not a JSON object")
        if source_kind == "video" and not isinstance(files.get("video"), str):
            raise bad("a video clip without its video file")
        if source_kind == "dataset" and not (
            isinstance(files.get("frames"), list) and files["frames"]
            and all(isinstance(f, str) for f in files["frames"])
        ):
            raise bad("a dataset clip without its frame files")
        column = "text columns"
        texts = {k: row[k] for k in ("media_hash", "split", "category", "subset", "vid", "a_obj",
                                     "status", "annotator", "comment", "updated_at", "root_rel",
                                     "root_abs")}  # fmt: skip
        if any(not isinstance(v, str) for v in texts.values()) or texts["status"] not in STATUSES:
            raise bad("a value of the wrong type")
    except ProjectCorruptError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError) as exc:
        raise bad(f"{type(exc).__name__}: {str(exc)[:80]}") from None
    return ClipRecord(
        clip_id=uid, source=source_kind, media_hash=texts["media_hash"], duration=duration,
        start=start, seconds=seconds, num_frames=num_frames, frame_times=frame_times,
        annotated=annotated, width=width, height=height, split=texts["split"],
        category=texts["category"], subset=texts["subset"], vid=texts["vid"], a_obj=texts["a_obj"],
        status=texts["status"], annotator=texts["annotator"], comment=texts["comment"],
        updated_at=texts["updated_at"], root_rel=texts["root_rel"], root_abs=texts["root_abs"],
        files=files, ordinals=ordinals, project_dir=project_dir, object_order=object_order,
    )  # fmt: skip


def check_clip_size(width: int, height: int, where: object, uid: str) -> None:
    """Refuse a stored clip size no mask could have (0, negative, or absurdly large)."""
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ProjectCorruptError(
            f"{where}: damaged project: clip {uid!r} is {width}x{height} pixels (each side must be "
            f"1..{MAX_SIDE})"
        )


def _column(row, key: str, where: object) -> object:
    try:
        return row[key]
    except (IndexError, KeyError):
        raise ProjectCorruptError(f"{where}: damaged project: the clips table has no column {key}") from None


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number")
    return value


def _finite(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return float(value)


def _json_list(text: object) -> list:
    if not isinstance(text, str):
        raise ValueError("not JSON text")
    value = json.loads(text)
    if not isinstance(value, list):
        raise ValueError("not a JSON list")
    return value


def provenance_from_row(row) -> Provenance:
    """The provenance columns of an ``objects`` row."""
    return Provenance(
        kind=row["kind"], model=row["model"], checkpoint=row["checkpoint"],
        confidence=row["confidence"], created_by=row["created_by"], edited_by=row["edited_by"],
        edited_at=row["edited_at"],
    )  # fmt: skip
