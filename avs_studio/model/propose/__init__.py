"""The batch ``propose`` job: discover clips, prepare their inputs, run the model, write the
outputs, report.
"""

from avs_studio.model.propose.run import (
    FORMATS,
    ClipTask,
    Discovery,
    ProposeReport,
    default_workers,
    discover,
    propose,
    write_score_maps,
)

__all__ = [
    "FORMATS",
    "ClipTask",
    "Discovery",
    "ProposeReport",
    "default_workers",
    "discover",
    "propose",
    "write_score_maps",
]
