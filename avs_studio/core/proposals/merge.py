"""A new round of model proposals for a clip that has objects already.

Running Propose again on a clip must not pile proposals onto the annotator's work.
:func:`plan_proposals` turns what the model proposes into one command (one undo step) and
decides, as :class:`ProposeOptions` say:

- the clip's open proposals (nobody accepted or rejected them) are replaced by the new
  ones, or kept beside them;
- the annotator's objects (accepted proposals, drawn, imported or dataset objects) are
  always kept as they are;
- a proposed object that overlaps an annotator's object of the same class in the same
  frame with an IoU at or above the threshold (0.5 by default) duplicates it and is left
  out -- counted and named in the plan, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avs_studio.core.errors import AVSError
from avs_studio.core.masks.rle import mask_iou
from avs_studio.core.project.edits import (
    AddObject,
    Command,
    Composite,
    RejectProposal,
    SetAnnotated,
    SetStatus,
)
from avs_studio.core.project.records import Provenance
from avs_studio.core.project.store import ClipStore
from avs_studio.core.setting import Setting

#: IoU at or above which a proposal duplicates an annotator's object of the same class.
DEFAULT_IOU = 0.5


@dataclass
class ProposedObject:
    """One object of one frame as the model proposes it."""

    key: str  # the same key in several frames is the same object ("fg", "class:12")
    frame: int
    label: int
    mask: np.ndarray
    confidence: float
    probability: np.ndarray | None = None  # uint8 0..255 at the frame's size (binary only)


@dataclass
class ClipProposal:
    """What the model proposes for one clip."""

    clip_id: str
    setting: Setting
    model: str
    checkpoint: str
    threshold: float
    objects: list[ProposedObject] = field(default_factory=list)

    @property
    def frames(self) -> list[int]:
        """Frames with at least one proposed object."""
        return sorted({o.frame for o in self.objects})


@dataclass(frozen=True)
class ProposeOptions:
    """How new proposals join a clip's objects (see the module docstring)."""

    replace_open: bool = True
    skip_duplicates: bool = True
    iou: float = DEFAULT_IOU

    def __post_init__(self) -> None:
        if not 0.0 < float(self.iou) <= 1.0:
            raise ValueError(f"the duplicate IoU threshold must lie in (0, 1], got {self.iou}")


@dataclass(frozen=True)
class SkippedProposal:
    """A proposed object left out: it duplicates object ``duplicate_of`` of the annotator."""

    frame: int
    key: str
    label: int
    duplicate_of: int
    iou: float

    def __str__(self) -> str:
        return f"frame {self.frame + 1}: {self.key} duplicates object #{self.duplicate_of} (IoU {self.iou:.2f})"


@dataclass
class ProposalPlan:
    """The command that adds a clip's new proposals, and what it decided.

    ``maps`` and ``masks`` hold the new binary proposals' probabilities and every new
    proposal's mask by ``(instance_id, frame)``; ``added`` counts the object-frames added,
    ``replaced`` the open ones rejected, ``kept_open`` those left beside the new ones.
    """

    clip_id: str
    command: Command | None = None
    maps: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    masks: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    added: int = 0
    replaced: int = 0
    kept_open: int = 0
    skipped: list[SkippedProposal] = field(default_factory=list)

    def line(self) -> str:
        """One line for a status bar or a log."""
        parts = [f"{self.clip_id}: {self.added} proposal(s) added"]
        if self.replaced:
            parts.append(f"{self.replaced} open proposal(s) replaced")
        if self.kept_open:
            parts.append(f"{self.kept_open} open proposal(s) kept")
        if self.skipped:
            iou = min(s.iou for s in self.skipped)
            parts.append(f"{len(self.skipped)} left out as duplicates of your objects (IoU ≥ {iou:.2f})")
        return ", ".join(parts)


def plan_proposals(store: ClipStore, proposal: ClipProposal, options: ProposeOptions | None = None) -> ProposalPlan:
    """One command adding ``proposal`` to the clip of ``store`` as ``options`` say (no change yet).

    The clip's status moves from ``new`` to ``proposed``; frames with a proposal get a
    ground-truth slot. ``plan.command`` is None when there is nothing to change.
    """
    options = options or ProposeOptions()
    shape = store.shape
    for obj in proposal.objects:
        if obj.mask.shape != shape:
            raise AVSError(
                f"{proposal.clip_id}: the model's frame {obj.frame} is {obj.mask.shape[1]}x{obj.mask.shape[0]}, "
                f"the clip's frames are {shape[1]}x{shape[0]}"
            )
    plan = ProposalPlan(proposal.clip_id)
    existing = store.objects()
    cmds: list[Command] = []
    open_ids = sorted({o.instance_id for o in existing if o.provenance.is_proposal})
    open_rows = sum(o.provenance.is_proposal for o in existing)
    if options.replace_open:
        cmds.extend(RejectProposal(inst) for inst in open_ids)
        plan.replaced = open_rows
    else:
        plan.kept_open = open_rows
    mine: dict[int, list] = {}  # frame -> the annotator's objects there
    for o in existing:
        if not o.provenance.is_proposal:
            mine.setdefault(o.frame, []).append(o)
    next_id = store.next_instance_id()
    ids: dict[str, int] = {}
    framed: set[int] = set()
    for obj in proposal.objects:
        if options.skip_duplicates:
            dup = _duplicate(obj, mine.get(obj.frame, ()), options.iou)
            if dup is not None:
                plan.skipped.append(SkippedProposal(obj.frame, obj.key, obj.label, *dup))
                continue
        inst = ids.setdefault(obj.key, next_id + len(ids))
        conf = obj.confidence if np.isfinite(obj.confidence) else None
        prov = Provenance.proposal(proposal.model, proposal.checkpoint, conf)
        cmds.append(AddObject(obj.frame, inst, obj.label, obj.mask, prov))
        plan.masks[(inst, obj.frame)] = obj.mask
        if obj.probability is not None:
            plan.maps[(inst, obj.frame)] = obj.probability
        plan.added += 1
        framed.add(obj.frame)
    new_slots = sorted(framed - set(store.annotated()))
    if new_slots:
        cmds.append(SetAnnotated(new_slots))
    if store.status()[0] == "new":
        cmds.append(SetStatus("proposed"))
    if cmds:
        plan.command = Composite(cmds, "Model proposals")
    return plan


def _duplicate(obj: ProposedObject, mine, threshold: float) -> tuple[int, float] | None:
    """``(instance, iou)`` of the annotator's object of the same class ``obj`` overlaps most,
    when that IoU reaches ``threshold``."""
    best: tuple[int, float] | None = None
    for o in mine:
        if o.label != obj.label:
            continue
        iou = float(mask_iou(obj.mask, o.mask))
        if iou >= threshold and (best is None or iou > best[1]):
            best = (o.instance_id, iou)
    return best
