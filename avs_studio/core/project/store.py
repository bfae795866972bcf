"""The SQLite side of a project: opening safely, transactions, object rows, a mask cache.

Durability. Every change runs in one ``BEGIN IMMEDIATE ... COMMIT`` transaction in WAL
mode. With ``synchronous=NORMAL`` (the default here) a commit is durable against the
process being killed at any moment -- the WAL is in the operating system's page cache
and SQLite replays it on the next open -- but the last commits may be lost if the
*machine* loses power; ``durability="full"`` also syncs the WAL at every commit (power
safe, a few ms more per edit on most disks). Either way the file is never corrupted.

Opening checks the file through a read-only connection first, so a foreign, damaged or
newer file is refused without a single byte written; anything but a regular file (a FIFO,
a device) is refused before SQLite opens it, so nothing hangs. An older file opened for writing is
upgraded in place (every migration in one transaction); opened read-only, it is read
through an upgraded copy in memory and the file is left as it is.

One writer. A writer holds :class:`~avs_studio.core.project.lock.ProjectFileLock` (an OS lock
on the project file itself, whatever path it came by) *and* SQLite's own write lock: between
its transactions it keeps an empty ``BEGIN IMMEDIATE`` open, so any other connection that
tries to write -- another program, or one that bypassed our lock -- is refused by SQLite
("database is locked") while readers go on reading the last commit. Errors SQLite reports while writing
(disk full, I/O errors, a read-only file) roll the transaction back, drop every decoded
mask the transaction touched, and surface as :class:`ProjectStorageError` or
:class:`ProjectReadOnlyError`: the project and the in-memory state stay at the last commit.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sqlite3
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from avs_studio.core.project import rle
from avs_studio.core.project.errors import (
    EditError,
    ProjectCorruptError,
    ProjectError,
    ProjectLockedError,
    ProjectReadOnlyError,
    ProjectStorageError,
)
from avs_studio.core.project.lock import ProjectFileLock, WriterLock
from avs_studio.core.project.records import (
    LabelSet,
    ObjectRecord,
    Provenance,
    paint_order,
    provenance_from_row,
)
from avs_studio.core.project.schema import check_marks, check_schema, migrate

DURABILITY = {"normal": "NORMAL", "full": "FULL"}
_CACHE_BYTES = 256 << 20  # decoded masks kept for editing (a 1080p mask is 2 MiB)


def now_iso() -> str:
    """The current local time, ISO 8601 to the millisecond (provenance stamps)."""
    return _dt.datetime.now().isoformat(timespec="milliseconds")


def storage_error(exc: sqlite3.Error, path: Path, doing: str) -> ProjectError:
    """Turn an SQLite error met while ``doing`` something into a user-facing ProjectError."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_FULL") or "full" in str(exc):
        return ProjectStorageError(
            f"{path}: the disk is full; {doing} was not saved and the project is unchanged "
            "since the last saved edit. Free some space and try again"
        )
    if name.startswith("SQLITE_READONLY") or "readonly" in str(exc):
        return ProjectReadOnlyError(f"{path}: the project file cannot be written; {doing} was not saved")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return ProjectCorruptError(f"{path}: the project file is damaged ({exc}); {doing} was not saved")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return ProjectStorageError(f"{path}: the project file is busy ({exc}); {doing} was not saved")
    return ProjectStorageError(f"{path}: {doing} could not be saved ({exc}); the project is unchanged")


def _connect(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=5.0)
    conn.row_factory = sqlite3.Row
    return conn


def _uri(path: Path, mode: str, immutable: bool = False) -> str:
    from urllib.parse import quote

    extra = "&immutable=1" if immutable else ""
    return f"file:{quote(str(path.resolve()))}?mode={mode}{extra}"


def open_readonly_connection(path: Path) -> sqlite3.Connection:
    """A read-only connection that works in read-only folders too (when nothing is pending)."""
    try:
        conn = _connect(_uri(path, "ro"))
        conn.execute("PRAGMA schema_version").fetchone()
        return conn
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB" or "not a database" in str(exc):
            raise ProjectCorruptError(
                f"{path}: not an AVS Studio project (the file is not an SQLite database)"
            ) from None
        wal = path.with_name(path.name + "-wal")
        if wal.exists():
            raise ProjectReadOnlyError(
                f"{path}: the project holds edits not yet merged into the file (a -wal file) and "
                "its folder cannot be written; open it once where it can be written"
            ) from None
    # A WAL-mode file in a read-only folder without a -shm file: nothing is pending, so it
    # can be read as an immutable file.
    try:
        conn = _connect(_uri(path, "ro", immutable=True))
        conn.execute("PRAGMA schema_version").fetchone()
        return conn
    except sqlite3.DatabaseError as exc:
        raise ProjectCorruptError(f"{path}: cannot read the project file ({exc})") from None


class ProjectStore:
    """One open project file: its connection, its writer lock and its decoded-mask cache.

    Thread-safe: every database access holds one re-entrant lock, so a worker thread (an
    export) and the GUI thread may share the store.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, *, readonly: bool,
                 writer_lock: ProjectFileLock | None, user: str) -> None:  # fmt: skip
        self.path = path
        # Media paths are relative to where the project file really is (not to a symlink).
        self.dir = path.resolve().parent
        self.conn = conn
        self.readonly = readonly
        self.user = user
        self.mutex = threading.RLock()
        self._writer_lock = writer_lock
        self._depth = 0
        self._cache: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()
        self._cache_bytes = 0
        self._closed = False

    # ------------------------------------------------------------------ opening / closing
    @classmethod
    def open(cls, path: Path, *, readonly: bool, durability: str, user: str) -> ProjectStore:
        """Check and open a project file (see the module docstring for the order of checks)."""
        if durability not in DURABILITY:
            raise ValueError(f"durability must be one of {', '.join(DURABILITY)}")
        check_project_file(path)
        probe = open_readonly_connection(path)
        try:
            version = check_marks(probe, path, allow_older=True)
        except BaseException:
            probe.close()
            raise
        if readonly:
            if version < _current_version():
                probe = _upgraded_copy(probe, path, version)
                check_schema(probe, path)  # an older file is checked after its upgrade
            probe.execute("PRAGMA query_only = ON")
            return cls(path, probe, readonly=True, writer_lock=None, user=user)
        probe.close()
        if not os.access(path, os.W_OK):
            raise ProjectReadOnlyError(f"{path}: the project file is read-only; open it read-only")
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise ProjectReadOnlyError(
                f"{path}: its folder is read-only (SQLite keeps its journal beside the project); "
                "open it read-only"
            )
        lock = ProjectFileLock(path)
        lock.acquire()
        try:
            conn = _connect(_uri(path, "rw"))
            try:
                _set_pragmas(conn, durability)
                if version != check_marks(conn, path, allow_older=True):
                    raise ProjectError(f"{path}: the file changed while it was being opened")
                if version < _current_version():
                    _run_in_tx(conn, path, "the schema upgrade", lambda: migrate(conn, version))
                    check_schema(conn, path)
                _take_write_lock(conn, path)
            except BaseException:
                conn.close()
                raise
        except sqlite3.Error as exc:
            lock.release()
            err = storage_error(exc, path, "opening")
            if isinstance(err, ProjectReadOnlyError):
                raise ProjectReadOnlyError(
                    f"{path}: cannot be opened for writing ({exc}); open it read-only"
                ) from None
            raise ProjectStorageError(f"{path}: cannot be opened for writing ({exc})") from None
        except BaseException:
            lock.release()
            raise
        return cls(path, conn, readonly=False, writer_lock=lock, user=user)

    @classmethod
    def create(cls, path: Path, meta: dict[str, str], *, durability: str, user: str) -> ProjectStore:
        """Create a new project file (atomically: built under a temporary name, then renamed)."""
        from avs_studio.core.project.schema import initialise

        if path.exists():
            raise ProjectError(f"{path} already exists; choose another name or open it")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectReadOnlyError(f"{path.parent}: cannot create the folder ({exc.strerror})") from None
        lock = WriterLock(path)
        lock.acquire()
        tmp = path.with_name(f".avs-tmp-{os.getpid()}-{path.name}")
        try:
            try:
                conn = _connect(_uri(tmp, "rwc"))
                try:
                    conn.execute("PRAGMA journal_mode = WAL").fetchone()
                    _run_in_tx(conn, path, "creating the project", lambda: initialise(conn, meta))
                finally:
                    conn.close()
                if path.exists():
                    raise ProjectError(f"{path} already exists; choose another name or open it")
                os.replace(tmp, path)
            finally:
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(str(tmp) + suffix)
        except sqlite3.Error as exc:
            lock.release()
            raise storage_error(exc, path, "creating the project") from None
        except OSError as exc:
            lock.release()
            raise ProjectReadOnlyError(f"{path}: cannot create the project ({exc.strerror})") from None
        except BaseException:
            lock.release()
            raise
        lock.release()
        return cls.open(path, readonly=False, durability=durability, user=user)

    def close(self) -> None:
        """Close the connection (SQLite merges the WAL into the file) and release the lock."""
        if self._closed:
            return
        with self.mutex:
            self._closed = True
            try:
                if not self.readonly:
                    with contextlib.suppress(sqlite3.Error):
                        if self.conn.in_transaction:  # the held, empty write transaction
                            self.conn.execute("ROLLBACK")
                self.conn.close()
            finally:
                self._cache.clear()
                if self._writer_lock is not None:
                    self._writer_lock.release()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    # ------------------------------------------------------------------ transactions
    def require_writable(self) -> None:
        """Raise :class:`ProjectReadOnlyError` for a project opened read-only (or closed)."""
        if self._closed:
            raise ProjectError(f"{self.path}: the project is closed")
        if self.readonly:
            raise ProjectReadOnlyError(f"{self.path}: opened read-only; reopen it for writing to edit")

    @contextlib.contextmanager
    def write(self, doing: str = "the change") -> Iterator[sqlite3.Connection]:
        """One write transaction (nested calls join the outer one).

        On any exception the transaction is rolled back and the mask cache dropped, so
        memory and file agree on the last commit; SQLite errors become ProjectErrors.
        """
        self.require_writable()
        with self.mutex:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                try:
                    if not self.conn.in_transaction:  # the hold was lost (see _hold)
                        self.conn.execute("BEGIN IMMEDIATE")
                    yield self.conn
                    self.conn.execute("COMMIT")
                except BaseException as exc:
                    self._rollback()
                    if isinstance(exc, sqlite3.Error):
                        raise storage_error(exc, self.path, doing) from None
                    if isinstance(exc, UnicodeDecodeError):
                        raise ProjectCorruptError(f"{self.path}: damaged project: {exc}; {doing} was "
                                                  "not saved") from None  # fmt: skip
                    raise
                finally:
                    self._hold()
            finally:
                self._depth = 0

    def _hold(self) -> None:
        """Begin the next (empty) write transaction at once, keeping SQLite's write lock.

        Only a program that ignores our file lock could take the write lock in the moment
        between COMMIT and BEGIN; then the next :meth:`write` waits for it (busy timeout).
        """
        with contextlib.suppress(sqlite3.Error):
            if not self.conn.in_transaction:
                self.conn.execute("BEGIN IMMEDIATE")

    def fold_wal(self) -> None:
        """Checkpoint the WAL into the project file (outside any write, keeping the hold)."""
        if self._closed or self.readonly:
            return
        with self.mutex:
            if self._depth:
                return
            try:
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")  # the held transaction is empty
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.DatabaseError as exc:
                raise storage_error(exc, self.path, "folding the journal") from None
            finally:
                self._hold()

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        self._cache.clear()
        self._cache_bytes = 0

    def query(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        """Run a read query and return all rows."""
        if self._closed:
            raise ProjectError(f"{self.path}: the project is closed")
        with self.mutex:
            try:
                return self.conn.execute(sql, params).fetchall()
            except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
                raise ProjectCorruptError(f"{self.path}: damaged project: cannot read it ({exc})") from None

    def query_one(self, sql: str, params: tuple | list = ()) -> sqlite3.Row | None:
        """Run a read query and return its first row (or None)."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    # ------------------------------------------------------------------ mask cache
    def cached(self, key: tuple[int, int, int]) -> np.ndarray | None:
        """A decoded mask kept for editing, or None."""
        m = self._cache.get(key)
        if m is not None:
            self._cache.move_to_end(key)
        return m

    def remember(self, key: tuple[int, int, int], mask: np.ndarray) -> None:
        """Keep a decoded mask (least recently used ones go when the budget is spent)."""
        old = self._cache.pop(key, None)
        if old is not None:
            self._cache_bytes -= old.nbytes
        self._cache[key] = mask
        self._cache_bytes += mask.nbytes
        while self._cache_bytes > _CACHE_BYTES and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._cache_bytes -= dropped.nbytes

    def forget(self, key: tuple[int, int, int]) -> None:
        """Drop one decoded mask."""
        old = self._cache.pop(key, None)
        if old is not None:
            self._cache_bytes -= old.nbytes


def check_project_file(path: Path) -> None:
    """Refuse what cannot be a project before SQLite opens it: a missing path, a folder, a
    FIFO or device (opening one would hang), or a journal beside it that is not a file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such project file") from None
    except OSError as exc:
        raise ProjectError(f"{path}: cannot read the project file ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ProjectError(f"{path}: is a folder, not a project file")
    if not stat.S_ISREG(st.st_mode):
        raise ProjectCorruptError(f"{path}: not a regular file (a pipe or a device), so not an AVS "
                                  "Studio project")  # fmt: skip
    real = path.resolve()
    for suffix in ("-wal", "-shm", "-journal"):
        side = real.with_name(real.name + suffix)
        try:
            mode = os.lstat(side).st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            raise ProjectCorruptError(f"{path}: {side.name} beside it is not a regular file; "
                                      "remove it to open the project")  # fmt: skip


def _take_write_lock(conn: sqlite3.Connection, path: Path) -> None:
    """Begin the held write transaction; refuse when another program is writing."""
    conn.execute("PRAGMA busy_timeout = 500")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise ProjectLockedError(
                f"{path} is being written by another program (SQLite holds its write lock); "
                "close it there, or open the project read-only"
            ) from None
        raise
    finally:
        conn.execute("PRAGMA busy_timeout = 5000")


def _current_version() -> int:
    from avs_studio.core.project import schema as project_schema

    return project_schema.SCHEMA_VERSION


def _upgraded_copy(conn: sqlite3.Connection, path: Path, version: int) -> sqlite3.Connection:
    """An in-memory copy of an older project, upgraded to the current schema (the file is
    not touched): reading an old project needs no write access, the app reads one schema."""
    mem = _connect(":memory:")
    try:
        conn.backup(mem)
        _run_in_tx(mem, path, "the schema upgrade", lambda: migrate(mem, version))
    except sqlite3.Error as exc:
        mem.close()
        raise ProjectCorruptError(f"{path}: cannot read the project of schema {version} ({exc})") from None
    finally:
        conn.close()
    return mem


def _set_pragmas(conn: sqlite3.Connection, durability: str) -> None:
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise ProjectStorageError(f"cannot switch the project to WAL mode (got {mode})")
    conn.execute(f"PRAGMA synchronous = {DURABILITY[durability]}")
    conn.execute("PRAGMA foreign_keys = ON")


def _run_in_tx(conn: sqlite3.Connection, path: Path, doing: str, work) -> None:
    try:
        conn.execute("BEGIN IMMEDIATE")
        work()
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


# ====================================================================== one clip's objects


class ClipStore:
    """The objects of one clip, as edit commands read and change them.

    Reads work any time; changes must run inside :meth:`ProjectStore.write` (a
    :class:`~avs_studio.core.project.session.ClipSession` opens it around each command).
    Masks handed out by :meth:`mask` are the store's working copies: a command patches
    them in place and then calls :meth:`save_mask`.
    """

    def __init__(self, store: ProjectStore, rowid: int, clip_id: str, *, height: int, width: int,
                 num_frames: int, labels: LabelSet, user: str) -> None:  # fmt: skip
        self.store = store
        self.rowid = rowid
        self.clip_id = clip_id
        self.height = height
        self.width = width
        self.num_frames = num_frames
        self.labels = labels
        self.user = user

    # ------------------------------------------------------------------ reading
    @property
    def shape(self) -> tuple[int, int]:
        """Mask shape ``(H, W)`` of this clip."""
        return self.height, self.width

    def check_frame(self, frame: int) -> int:
        """Return ``frame`` if it is a frame of this clip, else raise EditError."""
        if not 0 <= int(frame) < self.num_frames:
            raise EditError(f"{self.clip_id}: frame {frame} out of range 0..{self.num_frames - 1}")
        return int(frame)

    def object(self, frame: int, instance: int) -> ObjectRecord | None:
        """The object ``instance`` in ``frame`` (None if absent)."""
        row = self.store.query_one(
            "SELECT * FROM objects WHERE clip=? AND frame=? AND instance=?", (self.rowid, frame, instance)
        )
        return None if row is None else self._record(row)

    def objects(self, frame: int | None = None) -> list[ObjectRecord]:
        """Objects of one frame in paint order (bottom first, as the export composes them),
        or of all frames by frame then instance id."""
        if frame is None:
            rows = self.store.query(
                "SELECT * FROM objects WHERE clip=? ORDER BY frame, instance", (self.rowid,)
            )
            return [self._record(r) for r in rows]
        rows = self.store.query(
            "SELECT * FROM objects WHERE clip=? AND frame=? ORDER BY instance", (self.rowid, frame)
        )
        by_id = {int(r["instance"]): r for r in rows}
        return [self._record(by_id[i]) for i in paint_order(self.stored_order(), by_id)]

    def stored_order(self) -> list[int]:
        """The clip's recorded object order (``clips.object_order``), as stored."""
        row = self.store.query_one("SELECT object_order FROM clips WHERE id=?", (self.rowid,))
        return [int(i) for i in json.loads(row[0])] if row is not None else []

    def object_order(self) -> list[int]:
        """Every object of the clip, bottom to top (see :func:`~.records.paint_order`)."""
        rows = self.store.query("SELECT DISTINCT instance FROM objects WHERE clip=?", (self.rowid,))
        return paint_order(self.stored_order(), (int(r[0]) for r in rows))

    def frames_of(self, instance: int) -> list[int]:
        """Frames in which ``instance`` exists."""
        rows = self.store.query(
            "SELECT frame FROM objects WHERE clip=? AND instance=? ORDER BY frame", (self.rowid, instance)
        )
        return [int(r[0]) for r in rows]

    def label_of(self, instance: int) -> int | None:
        """The label ``instance`` carries in its first frame (None if it exists nowhere)."""
        row = self.store.query_one(
            "SELECT label FROM objects WHERE clip=? AND instance=? ORDER BY frame LIMIT 1",
            (self.rowid, instance),
        )
        return None if row is None else int(row[0])

    def next_instance_id(self) -> int:
        """An instance id not used in any frame of this clip."""
        row = self.store.query_one("SELECT max(instance) FROM objects WHERE clip=?", (self.rowid,))
        return int(row[0] or 0) + 1

    def mask(self, frame: int, instance: int) -> np.ndarray:
        """The working copy of an object's mask (writable, Fortran order)."""
        key = (self.rowid, int(frame), int(instance))
        m = self.store.cached(key)
        if m is not None:
            return m
        row = self.store.query_one(
            "SELECT rle FROM objects WHERE clip=? AND frame=? AND instance=?", (self.rowid, frame, instance)
        )
        if row is None:
            raise EditError(f"{self.clip_id}: frame {frame} has no object {instance}")
        m = rle.decode(row[0], self.height, self.width)
        self.store.remember(key, m)
        return m

    def occupancy(self, frame: int, *, exclude: int | None = None) -> np.ndarray:
        """Union of the masks of all objects in ``frame`` (bool), optionally without one."""
        out = np.zeros(self.shape, dtype=bool)
        for inst in self.instances(frame):
            if inst != exclude:
                out |= self.mask(frame, inst).astype(bool)
        return out

    def instances(self, frame: int) -> list[int]:
        """Instance ids present in ``frame``."""
        rows = self.store.query(
            "SELECT instance FROM objects WHERE clip=? AND frame=? ORDER BY instance", (self.rowid, frame)
        )
        return [int(r[0]) for r in rows]

    def status(self) -> tuple[str, str, str]:
        """``(status, annotator, comment)`` of the clip."""
        row = self.store.query_one("SELECT status, annotator, comment FROM clips WHERE id=?", (self.rowid,))
        return row[0], row[1], row[2]

    def _record(self, row: sqlite3.Row) -> ObjectRecord:
        return ObjectRecord(
            clip_id=self.clip_id, frame=int(row["frame"]), instance_id=int(row["instance"]),
            label=int(row["label"]), provenance=provenance_from_row(row), height=self.height,
            width=self.width, area=int(row["area"]), rle=bytes(row["rle"]),
            sounding=bool(row["sounding"]), sounding_checked=bool(row["sounding_checked"]),
        )  # fmt: skip

    # ------------------------------------------------------------------ changing (in a transaction)
    def _check_mask(self, mask: np.ndarray) -> np.ndarray:
        m = np.asarray(mask)
        if m.shape != self.shape:
            raise EditError(
                f"{self.clip_id}: mask is {m.shape[1]}x{m.shape[0]}, the clip's frames are "
                f"{self.width}x{self.height}"
            )
        if m.dtype == bool:
            m = m.view(np.uint8)
        elif m.dtype != np.uint8 or (m.size and m.max() > 1):
            m = (m != 0).astype(np.uint8)
        return np.asfortranarray(m)

    def insert(self, frame: int, instance: int, label: int, mask: np.ndarray | None,
               provenance: Provenance, *, sounding: bool = True, checked: bool = False) -> None:  # fmt: skip
        """Add an object (EditError if ``instance`` already exists in ``frame``).

        ``sounding``/``checked``: its sounding flag in this frame and whether a person decided it.
        """
        frame = self.check_frame(frame)
        label = self.labels.index(int(label))
        if self.object(frame, instance) is not None:
            raise EditError(f"{self.clip_id}: frame {frame} already has an object {instance}")
        m = rle.empty(*self.shape) if mask is None else self._check_mask(mask).copy(order="F")
        counts, area = rle.encode(m)
        stamp = now_iso()
        prov = provenance
        self.store.conn.execute(
            "INSERT INTO objects(clip, frame, instance, label, rle, area, kind, model, checkpoint, "
            "confidence, created_by, edited_by, edited_at, sounding, sounding_checked) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (self.rowid, frame, int(instance), label, counts, area, prov.kind, prov.model,
             prov.checkpoint, prov.confidence, prov.created_by or self.user,
             prov.edited_by or self.user, prov.edited_at or stamp, int(bool(sounding)), int(bool(checked))),
        )  # fmt: skip
        self.store.remember((self.rowid, frame, int(instance)), m)

    def save_mask(self, frame: int, instance: int) -> None:
        """Store the working copy of a mask after a command patched it in place.

        Stamps the object with this store's user and the time (undo stamps the undoer).
        """
        key = (self.rowid, int(frame), int(instance))
        m = self.store.cached(key)
        if m is None:
            raise EditError(f"{self.clip_id}: mask of object {instance} in frame {frame} was not loaded")
        counts, area = rle.encode(m)
        cur = self.store.conn.execute(
            "UPDATE objects SET rle=?, area=?, edited_by=?, edited_at=? "
            "WHERE clip=? AND frame=? AND instance=?",
            (counts, area, self.user, now_iso(), self.rowid, frame, instance),
        )
        if cur.rowcount != 1:
            raise EditError(f"{self.clip_id}: frame {frame} has no object {instance}")

    def set_mask(self, frame: int, instance: int, mask: np.ndarray) -> None:
        """Replace an object's whole mask."""
        m = self._check_mask(mask).copy(order="F")
        self.store.remember((self.rowid, int(frame), int(instance)), m)
        self.save_mask(frame, instance)

    def set_label(self, frame: int, instance: int, label: int) -> None:
        """Change the label of an object in one frame."""
        label = self.labels.index(int(label))
        cur = self.store.conn.execute(
            "UPDATE objects SET label=?, edited_by=?, edited_at=? WHERE clip=? AND frame=? AND instance=?",
            (label, self.user, now_iso(), self.rowid, frame, instance),
        )
        if cur.rowcount != 1:
            raise EditError(f"{self.clip_id}: frame {frame} has no object {instance}")

    def set_sounding(self, frame: int, instance: int, sounding: bool, checked: bool) -> None:
        """Set whether an object sounds in one frame, and whether a person decided it."""
        cur = self.store.conn.execute(
            "UPDATE objects SET sounding=?, sounding_checked=?, edited_by=?, edited_at=? "
            "WHERE clip=? AND frame=? AND instance=?",
            (int(bool(sounding)), int(bool(checked)), self.user, now_iso(), self.rowid, frame, instance),
        )
        if cur.rowcount != 1:
            raise EditError(f"{self.clip_id}: frame {frame} has no object {instance}")

    def set_provenance(self, frame: int, instance: int, prov: Provenance) -> None:
        """Replace the provenance of an object in one frame (as given, stamps included)."""
        cur = self.store.conn.execute(
            "UPDATE objects SET kind=?, model=?, checkpoint=?, confidence=?, created_by=?, "
            "edited_by=?, edited_at=? WHERE clip=? AND frame=? AND instance=?",
            (prov.kind, prov.model, prov.checkpoint, prov.confidence, prov.created_by,
             prov.edited_by, prov.edited_at, self.rowid, frame, instance),
        )  # fmt: skip
        if cur.rowcount != 1:
            raise EditError(f"{self.clip_id}: frame {frame} has no object {instance}")

    def remove(self, frame: int, instance: int) -> dict:
        """Delete an object and return its snapshot (for :meth:`restore`)."""
        row = self.store.query_one(
            "SELECT * FROM objects WHERE clip=? AND frame=? AND instance=?", (self.rowid, frame, instance)
        )
        if row is None:
            raise EditError(f"{self.clip_id}: frame {frame} has no object {instance}")
        self.store.conn.execute(
            "DELETE FROM objects WHERE clip=? AND frame=? AND instance=?", (self.rowid, frame, instance)
        )
        self.store.forget((self.rowid, int(frame), int(instance)))
        return {
            "frame": int(frame), "instance": int(instance), "label": int(row["label"]),
            "rle": bytes(row["rle"]), "area": int(row["area"]),
            "provenance": provenance_from_row(row).to_dict(),
            "sounding": int(row["sounding"]), "sounding_checked": int(row["sounding_checked"]),
        }  # fmt: skip

    def restore(self, snap: dict) -> None:
        """Put back an object removed by :meth:`remove` exactly as it was."""
        prov = Provenance.from_dict(snap["provenance"])
        self.store.conn.execute(
            "INSERT INTO objects(clip, frame, instance, label, rle, area, kind, model, checkpoint, "
            "confidence, created_by, edited_by, edited_at, sounding, sounding_checked) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (self.rowid, snap["frame"], snap["instance"], snap["label"], snap["rle"], snap["area"],
             prov.kind, prov.model, prov.checkpoint, prov.confidence, prov.created_by,
             prov.edited_by, prov.edited_at, int(snap.get("sounding", 1)),
             int(snap.get("sounding_checked", 0))),
        )  # fmt: skip
        self.store.forget((self.rowid, int(snap["frame"]), int(snap["instance"])))

    def set_object_order(self, order: list[int]) -> None:
        """Record the clip's object order (bottom to top; see :meth:`object_order`)."""
        self.store.conn.execute(
            "UPDATE clips SET object_order=?, updated_at=? WHERE id=?",
            (json.dumps([int(i) for i in order]), now_iso(), self.rowid),
        )

    def set_status(self, status: str, annotator: str, comment: str) -> None:
        """Change the clip's status, annotator and comment."""
        self.store.conn.execute(
            "UPDATE clips SET status=?, annotator=?, comment=?, updated_at=? WHERE id=?",
            (status, annotator, comment, now_iso(), self.rowid),
        )

    def annotated(self) -> list[int]:
        """Frames of the clip that carry ground truth (exported as masks)."""
        row = self.store.query_one("SELECT annotated FROM clips WHERE id=?", (self.rowid,))
        try:
            frames = json.loads(row[0])
            return [self.check_frame(k) for k in frames if not isinstance(k, bool)]
        except (ValueError, TypeError, EditError):
            raise ProjectCorruptError(f"{self.store.path}: damaged project: clip {self.clip_id!r}, "
                                      "column annotated") from None  # fmt: skip

    def set_annotated(self, frames: list[int]) -> None:
        """Replace the list of frames that carry ground truth."""
        frames = sorted({self.check_frame(k) for k in frames})
        self.store.conn.execute(
            "UPDATE clips SET annotated=?, updated_at=? WHERE id=?", (json.dumps(frames), now_iso(), self.rowid)
        )

    def touch(self) -> None:
        """Mark the clip as changed now."""
        self.store.conn.execute("UPDATE clips SET updated_at=? WHERE id=?", (now_iso(), self.rowid))
