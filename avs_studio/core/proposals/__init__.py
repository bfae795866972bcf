"""Model proposals as a project meets them: what a model proposes for a clip, and how a new
round of proposals joins the objects the clip has already (:mod:`.merge`)."""

from __future__ import annotations

from avs_studio.core.proposals.merge import (
    DEFAULT_IOU,
    ClipProposal,
    ProposalPlan,
    ProposedObject,
    ProposeOptions,
    SkippedProposal,
    plan_proposals,
)

__all__ = [
    "DEFAULT_IOU",
    "ClipProposal",
    "ProposalPlan",
    "ProposeOptions",
    "ProposedObject",
    "SkippedProposal",
    "plan_proposals",
]
