"""File-system helpers: atomic writes, paths that may not leave their root, and reading the
files a user hands us.

A write goes to a temporary file in the destination folder and is renamed over the
destination only when complete, so an interrupted program (Ctrl-C, a crash, a full
disk) leaves either the old file or the new one, never half of one.

A read of a user's file first makes sure it *is* a file: a FIFO, a socket or a device
(``/dev/zero``) named like an input would hang the reader or never end, so
:func:`require_regular_file` refuses them with the caller's error class, and
:func:`read_user_bytes` / :func:`read_user_json` open without blocking, check what was
opened, cap the size and turn every failure (bad UTF-8, bad JSON, JSON nested deeper than
the parser can go) into that error.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from avs_studio.core.errors import AVSError, UnsafePathError

_TMP_PREFIX = ".avs-tmp-"


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` on success.

    The temporary file keeps ``dest``'s extension (or ``suffix``) so that writers that
    infer the format from the name (Pillow, OpenCV, soundfile) pick the right one.
    On an exception the temporary file is removed and ``dest`` is left untouched.
    """
    dest = Path(dest)
    try:
        mode = os.stat(dest).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    except OSError as exc:
        raise UnsafePathError(f"{dest}: cannot be written ({exc.strerror or exc})") from None
    if mode is not None and not stat.S_ISREG(mode):
        # replacing a folder, a FIFO or a device with a file is never what was meant
        what = "a folder" if stat.S_ISDIR(mode) else _kind_of(mode)
        raise UnsafePathError(f"{dest} exists and is {what}; choose another name for the output")
    _make_parent(dest)
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
    _make_parent(dest)
    tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=dest.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the result should look like mkdir's
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _make_parent(dest: Path) -> None:
    """Create the folder an output goes into; a file in the way is a clear error."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UnsafePathError(f"{dest}: a file is in the way of its folder {dest.parent}") from None
    except PermissionError:
        raise UnsafePathError(f"{dest}: no permission to create its folder {dest.parent}") from None


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
            raise UnsafePathError(f"invalid path component {short(part)} under {root_path}")
        if os.path.isabs(p) or p.startswith(("/", "\\")) or (len(p) > 1 and p[1] == ":"):
            raise UnsafePathError(f"absolute path {short(part)} is not allowed inside {root_path}")
        segments = p.replace("\\", "/").split("/")
        if any(seg == ".." for seg in segments):
            raise UnsafePathError(f"path {short(part)} tries to leave {root_path}")
        if any(len(seg.encode("utf-8", "surrogatepass")) > NAME_MAX for seg in segments):
            raise UnsafePathError(f"path {short(part)} has a name longer than {NAME_MAX} bytes")
    joined = root_path.joinpath(*parts)
    try:
        real = joined.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, a path too long
        raise UnsafePathError(f"path {short(str(joined), 200)} cannot be resolved ({exc})") from None
    if real != root_real and root_real not in real.parents:
        raise UnsafePathError(f"path {joined} resolves to {real}, outside {root_real}")
    return joined


#: Longest file or folder name (bytes) the common file systems take.
NAME_MAX = 255


def short(text: object, limit: int = 80) -> str:
    """``repr`` of a user's value cut to ``limit`` characters (for one-line messages)."""
    r = repr(text)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def check_component(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a single safe path component (no separators, not '..', not
    longer than :data:`NAME_MAX` bytes)."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or os.path.isabs(name)
    ):
        raise UnsafePathError(f"{what} {short(name)} is not a plain file or folder name")
    if len(name.encode("utf-8", "surrogatepass")) > NAME_MAX:
        raise UnsafePathError(f"{what} {short(name)} is longer than {NAME_MAX} bytes")
    return name


# --------------------------------------------------------------------------- reading user files

#: Largest text or JSON file read whole (a COCO file of 100,000 annotations is ~100 MB).
MAX_TEXT_BYTES = 1 << 30


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def require_regular_file(path: str | os.PathLike[str], error: type[AVSError] = AVSError,
                         what: str = "file") -> Path:  # fmt: skip
    """``path`` if it names a regular file (symlinks followed); else ``error`` saying what it is.

    Checked before a library opens the path: opening a FIFO blocks until someone writes
    to it, and reading a device such as ``/dev/zero`` never ends.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except (FileNotFoundError, NotADirectoryError):
        raise error(f"{p}: {what} not found") from None
    except OSError as exc:
        raise error(f"{p}: cannot read the {what} ({exc.strerror or exc})") from None
    except ValueError:  # a NUL byte in the name
        raise error(f"{p!r}: not a valid file name") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{p}: is a folder, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{p}: is {_kind_of(st.st_mode)}, not a {what}")
    return p


def read_user_bytes(path: str | os.PathLike[str], error: type[AVSError] = AVSError, what: str = "file",
                    max_bytes: int = MAX_TEXT_BYTES) -> bytes:  # fmt: skip
    """The bytes of a user's file: opened without blocking, refused unless it is a regular
    file of at most ``max_bytes``; every failure is ``error`` naming the file."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except (FileNotFoundError, NotADirectoryError):
        raise error(f"{p}: {what} not found") from None
    except IsADirectoryError:
        raise error(f"{p}: is a folder, not a {what}") from None
    except OSError as exc:
        raise error(f"{p}: cannot read the {what} ({exc.strerror or exc})") from None
    except ValueError:
        raise error(f"{p!r}: not a valid file name") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{p}: is a folder, not a {what}")
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{p}: is {_kind_of(st.st_mode)}, not a {what}")
        if st.st_size > max_bytes:
            raise error(f"{p}: the {what} is {st.st_size / 2**20:.0f} MiB, more than the "
                        f"{max_bytes / 2**20:.0f} MiB this reader accepts")  # fmt: skip
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{p}: cannot read the {what} ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise error(f"{p}: the {what} grew beyond {max_bytes / 2**20:.0f} MiB while being read")
    return data


def read_user_text(path: str | os.PathLike[str], error: type[AVSError] = AVSError, what: str = "file",
                   max_bytes: int = MAX_TEXT_BYTES, encoding: str = "utf-8") -> str:  # fmt: skip
    """:func:`read_user_bytes` decoded; text that is not ``encoding`` is ``error``."""
    data = read_user_bytes(path, error, what, max_bytes)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise error(f"{Path(path)}: the {what} is not {encoding.upper()} text ({exc.reason} at byte "
                    f"{exc.start})") from None  # fmt: skip


def read_user_json(path: str | os.PathLike[str], error: type[AVSError] = AVSError, what: str = "JSON file",
                   max_bytes: int = MAX_TEXT_BYTES) -> object:  # fmt: skip
    """A user's JSON file parsed; bad UTF-8, bad JSON and nesting too deep for the parser
    (a RecursionError) are ``error`` naming the file."""
    return parse_json(read_user_text(path, error, what, max_bytes, "utf-8-sig"), Path(path), error, what)


def parse_json(text: str, where: object, error: type[AVSError] = AVSError, what: str = "JSON file") -> object:
    """``json.loads`` whose every failure is ``error`` (see :func:`read_user_json`)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise error(f"{where}: the {what} is nested too deeply to be read") from None
    except json.JSONDecodeError as exc:
        raise error(f"{where}: the {what} is not valid JSON ({exc})") from None
