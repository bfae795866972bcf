"""One writer per project: an OS advisory lock on a sidecar ``<project>.lock`` file.

The lock is ``flock`` (POSIX) or ``msvcrt.locking`` (Windows) on an open descriptor, so the
operating system releases it when the holder exits, even on SIGKILL: a stale lock file
never keeps a project shut. The file also records who holds it (pid, host, user, since),
which the refusal message of a second writer names. The file is never deleted (deleting
it while another process waits on the same name would let two writers in).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import getpass
import json
import os
import socket
from pathlib import Path

from avs_studio.core.project.errors import ProjectLockedError, ProjectReadOnlyError

try:  # pragma: no branch - one of the two exists
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


def lock_path(project_path: str | os.PathLike[str]) -> Path:
    """The sidecar lock file of a project: ``<project>.lock``."""
    p = Path(project_path)
    return p.with_name(p.name + ".lock")


def current_user() -> str:
    """The login name of this process (for provenance and lock messages)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"


class WriterLock:
    """The exclusive writer lock of one project file."""

    def __init__(self, project_path: str | os.PathLike[str]) -> None:
        self.project_path = Path(project_path)
        self.path = lock_path(project_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`ProjectLockedError` naming the holder."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:
            raise ProjectReadOnlyError(
                f"{self.project_path}: cannot write in {self.path.parent} (no permission to "
                "create the lock file); open the project read-only"
            ) from None
        except OSError as exc:
            raise ProjectReadOnlyError(
                f"{self.project_path}: cannot create the lock file {self.path.name} ({exc.strerror}); "
                "open the project read-only"
            ) from None
        try:
            _lock(fd)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            who = _describe(holder)
            raise ProjectLockedError(
                f"{self.project_path} is open for writing by {who}; close it there, or open it "
                "read-only",
                holder,
            ) from None
        self._fd = fd
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "user": current_user(),
            "since": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        with contextlib.suppress(OSError):  # the lock is what counts; the note is a courtesy
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(info).encode())

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            _unlock(fd)
        os.close(fd)


def read_holder(project_path: str | os.PathLike[str]) -> dict:
    """Who last took the lock of a project (empty when nobody holds it or the file is absent)."""
    try:
        fd = os.open(lock_path(project_path), os.O_RDONLY)
    except OSError:
        return {}
    try:
        return _read_holder(fd)
    finally:
        os.close(fd)


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        holder = json.loads(data.decode() or "{}")
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "another process"
    parts = [f"{holder.get('user', '?')}@{holder.get('host', '?')}", f"pid {holder.get('pid', '?')}"]
    if holder.get("pid") == os.getpid():
        parts.append("this very process: close the other Project first")
    if holder.get("since"):
        parts.append(f"since {holder['since']}")
    return f"{parts[0]} ({', '.join(parts[1:])})"


def _lock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:  # pragma: no cover - Windows
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
