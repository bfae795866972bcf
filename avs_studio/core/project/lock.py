"""One writer per project, whatever the path it is opened by.

A project is identified by its real file: the path with every symbolic link resolved, and
the file's device and inode. :class:`ProjectFileLock` takes an OS lock on one byte of the
project file *itself* (an open-file-description lock on Linux, a POSIX record lock
elsewhere, ``msvcrt.locking`` on Windows), inside the page SQLite reserves for its own
locks and never reads or writes, and outside the bytes SQLite locks. So a symlink, a hard
link, a renamed file or a deleted sidecar all meet the same lock, and the operating system
releases it when the holder exits, even on SIGKILL. A file with more than one name (hard
links) is refused for writing: SQLite keeps its WAL beside the *name*, so two names would
mean two WALs, and commits made through one name are invisible through the other.

The sidecar ``<project>.lock`` only records who holds the project (pid, host, user,
since) for the refusal message; deleting it changes nothing. (The store also keeps
SQLite's own write lock while it holds a project: see :mod:`~avs_studio.core.project.store`.)

:class:`WriterLock` is the plain sidecar lock: ``flock`` on ``<path>.lock``, for things
that are not SQLite files (a propose output folder, a project being created).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import getpass
import json
import os
import socket
import stat
import struct
import sys
from pathlib import Path

from avs_studio.core.project.errors import ProjectError, ProjectLockedError, ProjectReadOnlyError

try:  # pragma: no branch - one of the two exists
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


def lock_path(project_path: str | os.PathLike[str]) -> Path:
    """The sidecar lock file of a project: ``<project>.lock``."""
    p = Path(project_path)
    return p.with_name(p.name + ".lock")


#: The byte of the project file the writer locks: in SQLite's lock-byte page (the page at
#: 1 GiB, which SQLite never reads or writes) but after the 512 bytes SQLite itself locks
#: there (PENDING, RESERVED and the SHARED range), so it never conflicts with SQLite.
LOCK_OFFSET = 0x40000000 + 0x800


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
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NONBLOCK", 0), 0o644)
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
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise ProjectError(f"{self.path}: the lock file is not a regular file; remove it")
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
    fd = _open_note(lock_path(project_path), os.O_RDONLY)
    if fd is None:
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


# --------------------------------------------------------------------------- the project file


class ProjectFileLock:
    """The exclusive writer lock of one project file, taken on the file itself.

    ``path`` may be a symlink: the real file is what is locked (:attr:`real_path`).
    """

    def __init__(self, project_path: str | os.PathLike[str]) -> None:
        self.project_path = Path(project_path)
        self.real_path = self.project_path.resolve()
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise: :class:`ProjectLockedError` naming the holder, or a
        :class:`ProjectError` for a file that is not one plain file with one name."""
        if self._fd is not None:
            return
        real, shown = self.real_path, self.project_path
        flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(real, flags)
        except PermissionError:
            raise ProjectReadOnlyError(f"{shown}: the project file is read-only; open it read-only") from None
        except OSError as exc:
            raise ProjectError(f"{shown}: cannot open the project file ({exc.strerror})") from None
        try:
            st = os.fstat(fd)
            check_one_plain_file(st, shown)
            try:
                _lock_byte(fd)
            except OSError:
                holder = read_holder(real)
                raise ProjectLockedError(
                    f"{shown} is open for writing by {_describe(holder)}; close it there, or open "
                    "it read-only",
                    holder,
                ) from None
            # The name still leads to the file we locked (not swapped meanwhile).
            now = os.stat(real)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                raise ProjectError(f"{shown}: the project file was replaced while it was being opened")
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        _write_note(lock_path(real))

    def release(self) -> None:
        """Give the lock back (idempotent); the holder note is emptied first."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        _clear_note(lock_path(self.real_path))
        with contextlib.suppress(OSError):
            _unlock_byte(fd)
        os.close(fd)


def check_one_plain_file(st: os.stat_result, shown: Path) -> None:
    """Refuse, for writing, anything but a regular file with exactly one name."""
    if not stat.S_ISREG(st.st_mode):
        raise ProjectError(f"{shown}: not a regular file, so not a project file")
    if st.st_nlink > 1:
        raise ProjectError(
            f"{shown}: the project file has {st.st_nlink} names (hard links). SQLite keeps its "
            "journal beside the name, so edits made through one name would be invisible through "
            "the other and could be lost; remove the other name(s), or copy the file, then open "
            "it again (or open it read-only)"
        )


def _write_note(path: Path) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "user": current_user(),
            "since": _dt.datetime.now().isoformat(timespec="seconds")}  # fmt: skip
    fd = _open_note(path, os.O_RDWR | os.O_CREAT)
    if fd is None:
        return
    try:  # the lock is what counts; the note is a courtesy
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(info).encode())
    finally:
        os.close(fd)


def _clear_note(path: Path) -> None:
    fd = _open_note(path, os.O_RDWR)
    if fd is None:
        return
    try:
        if _read_holder(fd).get("pid") == os.getpid():
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _open_note(path: Path, flags: int) -> int | None:
    """The note file, only if it is (or becomes) a plain file: never a FIFO or a link."""
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError:
        return None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", None) if fcntl is not None else None


def _flock_struct(kind: int) -> bytes:
    # struct flock {short l_type; short l_whence; off_t l_start; off_t l_len; pid_t l_pid;}
    # (Linux, 64-bit off_t); l_pid must be 0 for open-file-description locks.
    return struct.pack("@hhqqi4x", kind, os.SEEK_SET, LOCK_OFFSET, 1, 0)


def _lock_byte(fd: int) -> None:
    if fcntl is None:  # pragma: no cover - Windows
        os.lseek(fd, LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    elif _OFD_SETLK is not None and sys.platform.startswith("linux"):
        # Open-file-description locks belong to this descriptor, not to the process: SQLite
        # closing its own descriptors of the file cannot drop them.
        fcntl.fcntl(fd, _OFD_SETLK, _flock_struct(fcntl.F_WRLCK))
    else:  # pragma: no cover - other POSIX systems: a classic record lock
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, LOCK_OFFSET, os.SEEK_SET)


def _unlock_byte(fd: int) -> None:
    if fcntl is None:  # pragma: no cover - Windows
        os.lseek(fd, LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    elif _OFD_SETLK is not None and sys.platform.startswith("linux"):
        fcntl.fcntl(fd, _OFD_SETLK, _flock_struct(fcntl.F_UNLCK))
    else:  # pragma: no cover
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, LOCK_OFFSET, os.SEEK_SET)
