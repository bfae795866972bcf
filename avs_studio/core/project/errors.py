"""Errors of annotation projects: each says what happened to which file and what to do.

They derive from :class:`~avs_studio.core.errors.AVSError`, so the CLI prints them and
exits 2 and the GUI shows them in a dialog. Every one of them is raised *before* the
project file changed, or after the transaction in flight was rolled back.
"""

from __future__ import annotations

from avs_studio.core.errors import AVSError


class ProjectError(AVSError):
    """A project file that cannot be created, opened, read or written."""


class ProjectLockedError(ProjectError):
    """Another process (or another open in this one) holds the project for writing."""

    def __init__(self, message: str, holder: dict | None = None) -> None:
        super().__init__(message)
        self.holder = dict(holder or {})


class ProjectVersionError(ProjectError):
    """The file was written by a newer AVS Studio (a schema this version does not know)."""


class ProjectCorruptError(ProjectError):
    """Not an SQLite file, a damaged one, or an SQLite file that is not an AVS Studio project."""


class ProjectReadOnlyError(ProjectError):
    """The project (or its folder) cannot be written, or it was opened read-only."""


class ProjectStorageError(ProjectError):
    """A write failed (disk full, I/O error); the edit in flight was rolled back."""


class EditError(ProjectError):
    """An edit that does not fit the project: no such object, a label outside the set, ..."""
