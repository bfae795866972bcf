"""Where a project's media live: stored locations, resolving them, content hashes.

A clip's media location is stored twice: relative to the project's folder (so a project
moved together with its media keeps working) and absolute (so a project moved alone keeps
working). Resolving tries the relative one first.

Content hashes identify a file cheaply and robustly: ``b2f:<size>:<hex>`` is BLAKE2b-128
over the size, the first MiB and the last MiB (two reads, whatever the file's length, so
adding 10,000 clips stays fast; a re-encode or a truncation changes it). ``b2:<hex>`` is the
full-file BLAKE2b-128, available on request.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from avs_studio.core.errors import MediaError
from avs_studio.core.fsutil import require_regular_file

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv")
_CHUNK = 1 << 20


def fast_hash(path: str | os.PathLike[str]) -> str:
    """``b2f:<size>:<hex>``: BLAKE2b-128 of the size, the first and the last MiB of a file."""
    p = require_regular_file(path, MediaError, "media file")  # a FIFO would block the hash
    size = p.stat().st_size
    h = hashlib.blake2b(digest_size=16)
    h.update(size.to_bytes(8, "little"))
    with open(p, "rb") as f:
        h.update(f.read(_CHUNK))
        if size > _CHUNK:
            f.seek(max(_CHUNK, size - _CHUNK))
            h.update(f.read(_CHUNK))
    return f"b2f:{size}:{h.hexdigest()}"


def full_hash(path: str | os.PathLike[str]) -> str:
    """``b2:<hex>``: BLAKE2b-128 of the whole file."""
    h = hashlib.blake2b(digest_size=16)
    with open(require_regular_file(path, MediaError, "media file"), "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return f"b2:{h.hexdigest()}"


def hash_like(stored: str, path: str | os.PathLike[str]) -> str:
    """Hash ``path`` the same way ``stored`` was computed (fast unless it is a full hash)."""
    return full_hash(path) if stored.startswith("b2:") else fast_hash(path)


def store_location(path: str | os.PathLike[str], project_dir: Path) -> tuple[str, str]:
    """``(relative, absolute)`` POSIX forms of ``path`` for the project in ``project_dir``."""
    absolute = Path(os.path.abspath(path))
    try:
        rel = os.path.relpath(absolute, os.path.abspath(project_dir))
    except ValueError:  # another drive (Windows): only the absolute form exists
        rel = ""
    return Path(rel).as_posix() if rel else "", absolute.as_posix()


def resolve_location(rel: str, absolute: str, project_dir: Path) -> Path:
    """The stored location that exists now (relative first), else the absolute one."""
    if rel:
        cand = Path(os.path.normpath(project_dir / rel))
        if cand.exists():
            return cand
    return Path(absolute)


def is_video_file(path: Path) -> bool:
    """True for files whose extension is a video container AVS Studio reads."""
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS
