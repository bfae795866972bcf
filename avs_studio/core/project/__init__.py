"""The annotation project: one SQLite file (``*.avsproj``) beside the media it points at.

``Project`` (``project``) is the face the GUI and the CLI use; below it: ``store`` (the SQLite
store and its transactions), ``schema`` (tables, versions, migrations), ``records`` (the plain
records), ``lock`` (one writer at a time), ``session`` and ``edits`` (every change is a
command on a persistent undo stack), ``clip`` (a project clip as a ``Clip``), ``add``
(adding clips), ``io`` (export and import), ``merge`` (two annotators' halves), ``media``
(where media files are and whether they moved), ``rle`` (mask blobs), ``errors``.
"""

from avs_studio.core.project.merge import merge
from avs_studio.core.project.project import (
    HISTORY_LIMIT,
    KIND_ACCEPTED,
    KIND_DATASET,
    KIND_IMPORT,
    KIND_MANUAL,
    KIND_PROPOSAL,
    PROJECT_SUFFIX,
    SCHEMA_VERSION,
    STATUS_TITLES,
    STATUSES,
    ClipRecord,
    ClipSession,
    EditError,
    LabelSet,
    ObjectRecord,
    Project,
    ProjectClip,
    ProjectCorruptError,
    ProjectError,
    ProjectLockedError,
    ProjectReadOnlyError,
    ProjectStorageError,
    ProjectVersionError,
    Provenance,
)

__all__ = [
    "HISTORY_LIMIT",
    "KIND_ACCEPTED",
    "KIND_DATASET",
    "KIND_IMPORT",
    "KIND_MANUAL",
    "KIND_PROPOSAL",
    "PROJECT_SUFFIX",
    "SCHEMA_VERSION",
    "STATUSES",
    "STATUS_TITLES",
    "ClipRecord",
    "ClipSession",
    "EditError",
    "LabelSet",
    "ObjectRecord",
    "Project",
    "ProjectClip",
    "ProjectCorruptError",
    "ProjectError",
    "ProjectLockedError",
    "ProjectReadOnlyError",
    "ProjectStorageError",
    "ProjectVersionError",
    "Provenance",
    "merge",
]
