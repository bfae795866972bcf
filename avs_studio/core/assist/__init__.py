"""Assisted annotation: click-to-mask segmenters and mask propagation across frames.

One small interface (:class:`Segmenter`: image + clicks/box/prior -> mask) with two kinds of
backends: the built-in :class:`ClassicalSegmenter` (no weights) and SAM-family ONNX pairs
the user names (:mod:`avs_studio.core.assist.sam`, which needs ONNX Runtime). :func:`propagate`
proposes an object's mask on a clip's other sampled frames through the decoded frames
between them (:class:`ClipFrames`). No Qt, no torch.
"""

from avs_studio.core.assist.classical import ClassicalSegmenter
from avs_studio.core.assist.frames import ClipFrames
from avs_studio.core.assist.prompt import (
    AssistError,
    AssistUnavailable,
    Click,
    Prompt,
    Segmenter,
    SegmentResult,
    proposal_prompt,
)
from avs_studio.core.assist.propagate import (
    PROPAGATION_MODEL,
    FlowTracker,
    PropagationResult,
    propagate,
)

__all__ = [
    "PROPAGATION_MODEL",
    "AssistError",
    "AssistUnavailable",
    "ClassicalSegmenter",
    "Click",
    "ClipFrames",
    "FlowTracker",
    "Prompt",
    "PropagationResult",
    "SegmentResult",
    "Segmenter",
    "proposal_prompt",
    "propagate",
]
