"""Sounding lanes: for each object of a clip, where it is and whether it sounds, frame by frame.

AVSBench's masks hold only the objects that *sound* in a frame. A project keeps every
object's geometry in every frame it is visible in, with a per-frame ``sounding`` flag
(:class:`~avs_studio.core.project.edits.SetSounding`); this module turns a clip's objects
into lanes (one per object, one cell per sampled frame) with a hint from the model, and
says which frames still need a person's decision.

Definitions (the annotator's lanes and its keys follow them):

- a cell is *present* when the object has a mask in that frame (an empty mask counts);
- it is *decided* when a person toggled or confirmed its sounding flag, or when the object
  is ground truth read from a dataset or imported (AVSBench masks hold only sounding
  objects, so their presence is the decision);
- the *hint* is the model's probability that the object sounds in that frame: the
  object's own confidence when it is (or was accepted from) a model proposal; else the
  mean probability over its pixels when the frame's probability map is known; else, when
  the model left objects in that frame, their confidence weighted by the share of the
  object's pixels they cover (0 when none covers it); else, when the model proposed
  something elsewhere in the clip but nothing in this frame, 0; else no hint;
- the hint *disagrees* when it is known and says the opposite of the flag (>= 0.5 reads
  as sounding);
- a frame *needs a decision* when an object other than a pending proposal is present in
  it and undecided. (Pending proposals are decided by accepting or rejecting them.) A
  disagreeing hint on an undecided cell is shown as such, so it is looked at first; on a
  decided cell it is shown but asks nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from avs_studio.core.project.records import ObjectRecord

#: A hint at or above this reads as "sounding".
HINT_SOUNDING = 0.5


@dataclass(frozen=True)
class LaneCell:
    """One object in one sampled frame (see the module docstring for the terms)."""

    present: bool
    sounding: bool = False
    decided: bool = False
    proposal: bool = False
    hint: float | None = None

    @property
    def needs_decision(self) -> bool:
        """Present, not a pending proposal, and nobody decided whether it sounds."""
        return self.present and not self.proposal and not self.decided

    @property
    def disagrees(self) -> bool:
        """The model's hint says the opposite of the sounding flag."""
        if not self.present or self.hint is None:
            return False
        return (self.hint >= HINT_SOUNDING) != self.sounding


ABSENT = LaneCell(False)


@dataclass
class ObjectLane:
    """One object of a clip across its sampled frames."""

    instance_id: int
    label: int
    cells: list[LaneCell] = field(default_factory=list)

    def frames_present(self) -> list[int]:
        """Frames in which the object has a mask."""
        return [k for k, c in enumerate(self.cells) if c.present]


def _coverage(obj_mask: np.ndarray, other: np.ndarray) -> float:
    """Share of ``obj_mask``'s pixels that ``other`` covers (0 for an empty object)."""
    a = np.asarray(obj_mask, dtype=bool)
    n = int(np.count_nonzero(a))
    if n == 0:
        return 0.0
    return int(np.count_nonzero(a & np.asarray(other, dtype=bool))) / n


def sounding_hint(obj: ObjectRecord, frame_objects: Iterable[ObjectRecord], *,
                  mask_of: Callable[[ObjectRecord], np.ndarray] | None = None,
                  probability: np.ndarray | None = None, model_ran: bool = False,
                  coverage: Callable[[ObjectRecord, ObjectRecord], float] | None = None) -> float | None:  # fmt: skip
    """The model's probability that ``obj`` sounds in its frame (see the module docstring).

    ``frame_objects`` are the objects of the same frame; ``probability`` the frame's model
    probability map (uint8 0-255 or float 0-1, the frame's size), when known; ``model_ran``
    that the model proposed something somewhere in this clip. ``mask_of`` reads a mask
    (default: the record's own), ``coverage(obj, other)`` may cache overlaps.
    """
    if obj.provenance.confidence is not None:
        return float(obj.provenance.confidence)
    mask_of = mask_of or (lambda o: o.mask)
    if probability is not None:
        m = np.asarray(mask_of(obj), dtype=bool)
        if m.shape == probability.shape[:2] and m.any():
            p = np.asarray(probability)[m]
            scale = 255.0 if p.dtype == np.uint8 else 1.0
            return float(p.mean()) / scale
    cover = coverage or (lambda a, b: _coverage(mask_of(a), mask_of(b)))
    models = [o for o in frame_objects if o.instance_id != obj.instance_id and o.provenance.confidence is not None]
    if models:
        return max(float(o.provenance.confidence) * cover(obj, o) for o in models)
    return 0.0 if model_ran else None


def object_lanes(objects: Iterable[ObjectRecord], num_frames: int, *,
                 mask_of: Callable[[ObjectRecord], np.ndarray] | None = None,
                 probabilities: Mapping[int, np.ndarray] | None = None,
                 coverage: Callable[[ObjectRecord, ObjectRecord], float] | None = None) -> list[ObjectLane]:  # fmt: skip
    """One lane per object of a clip (by instance id), one cell per sampled frame.

    ``objects`` are all the clip's objects (every frame); ``probabilities`` the model's
    probability maps by frame where they are known (binary proposals of this session).
    """
    by_frame: dict[int, list[ObjectRecord]] = {}
    for o in objects:
        by_frame.setdefault(int(o.frame), []).append(o)
    model_ran = any(o.provenance.confidence is not None for objs in by_frame.values() for o in objs)
    lanes: dict[int, ObjectLane] = {}
    for k in range(num_frames):
        for o in by_frame.get(k, []):
            lane = lanes.get(o.instance_id)
            if lane is None:
                lane = lanes[o.instance_id] = ObjectLane(o.instance_id, o.label, [ABSENT] * num_frames)
            prob = None if probabilities is None else probabilities.get(k)
            hint = sounding_hint(o, by_frame[k], mask_of=mask_of, probability=prob, model_ran=model_ran,
                                 coverage=coverage)  # fmt: skip
            lane.cells[k] = LaneCell(True, o.sounding, o.sounding_decided, o.provenance.is_proposal, hint)
    return [lanes[i] for i in sorted(lanes)]


def frame_needs_decision(lanes: Iterable[ObjectLane], frame: int) -> list[int]:
    """Instance ids whose sounding in ``frame`` still needs a decision (lane order)."""
    return [lane.instance_id for lane in lanes if lane.cells[frame].needs_decision]


def next_decision(lanes: list[ObjectLane], after: int, num_frames: int) -> tuple[int, int] | None:
    """The next ``(frame, instance_id)`` that needs a decision after frame ``after``.

    Frames are searched from ``after + 1`` onwards, wrapping round to the clip's first
    frame and ending with ``after`` itself; within a frame, an undecided cell whose hint
    disagrees with its flag comes first, then lane order. None when all is decided.
    """
    for step in range(1, num_frames + 1):
        k = (after + step) % num_frames
        waiting = [lane for lane in lanes if lane.cells[k].needs_decision]
        if waiting:
            first = next((lane for lane in waiting if lane.cells[k].disagrees), waiting[0])
            return k, first.instance_id
    return None
