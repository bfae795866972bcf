"""File-system helpers: atomic writes and paths that may not leave their root.

A write goes to a temporary file in the destination folder and is renamed over the
destination only when complete, so an interrupted program (Ctrl-C, a crash, a full
disk) leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from avs_studio.core.errors import UnsafePathError

_TMP_PREFIX = ".avs-tmp-"


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` on success.

    The temporary file keeps ``dest``'s extension (or ``suffix``) so that writers that
    infer the format from the name (Pillow, OpenCV, soundfile) pick the right one.
    On an exception the temporary file is removed and ``dest`` is left untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    ext = suffix if suffix is not None else "".join(dest.suffixes[-1:])
    fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=ext, dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        # mkstemp makes 0600: give the file the mode it had, or the one open() would give.
        try:
            mode = dest.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        tmp.chmod(mode)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``dest``; move it to ``dest`` when the block succeeds.

    ``dest`` must not exist yet (a folder cannot be swapped atomically over another one).
    On an exception the temporary folder is removed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=dest.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the result should look like mkdir's
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (threads may be writing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(dest: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``dest`` atomically (LF line endings as given)."""
    atomic_write_bytes(dest, text.encode(encoding))


def _fsync_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> int:
    """Delete temporary files that an interrupted atomic write left in ``folder`` (recursive)."""
    n = 0
    for p in Path(folder).rglob(f"{_TMP_PREFIX}*"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
        n += 1
    return n


def is_temporary(path: str | os.PathLike[str]) -> bool:
    """True for the names :func:`atomic_path` uses for its temporary files."""
    return Path(path).name.startswith(_TMP_PREFIX)


def safe_join(root: str | os.PathLike[str], *parts: str) -> Path:
    """Join ``parts`` under ``root`` and refuse any result that leaves ``root``.

    Absolute parts, ``..`` components and symbolic links that resolve outside the root
    raise :class:`UnsafePathError`. Names with spaces or non-ASCII characters are fine.
    """
    root_path = Path(root)
    root_real = root_path.resolve()
    for part in parts:
        p = str(part)
        if not p or "\x00" in p:
            raise UnsafePathError(f"invalid path component {part!r} under {root_path}")
        if os.path.isabs(p) or p.startswith(("/", "\\")) or (len(p) > 1 and p[1] == ":"):
            raise UnsafePathError(f"absolute path {part!r} is not allowed inside {root_path}")
        if any(seg == ".." for seg in p.replace("\\", "/").split("/")):
            raise UnsafePathError(f"path {part!r} tries to leave {root_path}")
    joined = root_path.joinpath(*parts)
    real = joined.resolve()
    if real != root_real and root_real not in real.parents:
        raise UnsafePathError(f"path {joined} resolves to {real}, outside {root_real}")
    return joined


def check_component(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a single safe path component (no separators, not '..')."""
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or os.path.isabs(name)
    ):
        raise UnsafePathError(f"{what} {name!r} is not a plain file or folder name")
    return name
