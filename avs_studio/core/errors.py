"""Errors a user can cause, each with a message the user can act on.

Every exception raised at the edge where bad input enters the program derives from
:class:`AVSError`; the CLI prints its message without a traceback and the GUI shows it
in a dialog.
"""

from __future__ import annotations


class AVSError(Exception):
    """Base class of all user-facing errors of AVS Studio."""


class MediaError(AVSError):
    """A video or audio file cannot be opened or decoded."""


class AudioError(AVSError):
    """Audio that the VGGish front end (or the official preprocessing) refuses."""


class MaskError(AVSError):
    """A mask of the wrong size, mode or colours."""


class DatasetError(AVSError):
    """A dataset folder, CSV or JSON that does not follow the expected layout."""


class UnsafePathError(DatasetError):
    """A path that tries to leave the folder it must stay in."""


class FormatError(AVSError):
    """A file in an export/import format (COCO JSON, prediction folders) that is malformed."""


class Cancelled(AVSError):
    """Long work stopped because the user asked for it."""
