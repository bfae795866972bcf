"""The SQLite schema of an annotation project, how a file is recognised, and migrations.

A project file carries three marks so that a foreign or damaged file is told apart from a
project before anything is written: ``PRAGMA application_id`` (``'AVSP'``),
``PRAGMA user_version`` (the schema version) and a ``meta`` table whose ``app`` row says
``avs-studio-project``. ``MIGRATIONS[v]`` upgrades a file from schema ``v`` to ``v + 1``;
all of them run in one transaction, so an upgrade happens completely or not at all.

Schema versions:

1. clips, objects (one row per object per frame), undo history.
2. ``clips.object_order``: the clip's objects bottom to top, as the export composes them
   (a JSON list of instance ids; objects not listed lie above the listed ones, by id).
   A v1 file gets ``'[]'``: every object by id, later on top, exactly as v1 composed them.
3. ``objects.sounding`` and ``objects.sounding_checked``: each object's per-frame *sounding*
   flag and whether a person decided it (:func:`_v2_to_v3_sounding`).

Each migration is one self-contained function appended to :data:`MIGRATIONS`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from avs_studio.core.project.errors import ProjectCorruptError, ProjectVersionError

APPLICATION_ID = 0x41565350  # 'AVSP'
APP_NAME = "avs-studio-project"
SCHEMA_VERSION = 3

STATUSES = ("new", "proposed", "in_progress", "done", "reviewed")

_SCHEMA_V1 = f"""
CREATE TABLE meta(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE clips(
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL CHECK (source IN ('video', 'dataset')),
    root_rel TEXT NOT NULL DEFAULT '',
    root_abs TEXT NOT NULL,
    files TEXT NOT NULL,
    media_hash TEXT NOT NULL DEFAULT '',
    duration REAL,
    start REAL NOT NULL DEFAULT 0,
    seconds INTEGER NOT NULL,
    num_frames INTEGER NOT NULL,
    frame_times TEXT NOT NULL,
    ordinals TEXT NOT NULL DEFAULT '[]',
    annotated TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    split TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    subset TEXT NOT NULL DEFAULT '',
    vid TEXT NOT NULL DEFAULT '',
    a_obj TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    annotator TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    added_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX clips_status ON clips(status);
CREATE INDEX clips_split ON clips(split);
CREATE TABLE objects(
    clip INTEGER NOT NULL REFERENCES clips(id) ON DELETE CASCADE,
    frame INTEGER NOT NULL,
    instance INTEGER NOT NULL,
    label INTEGER NOT NULL,
    rle BLOB NOT NULL,
    area INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT 'manual',
    model TEXT NOT NULL DEFAULT '',
    checkpoint TEXT NOT NULL DEFAULT '',
    confidence REAL,
    created_by TEXT NOT NULL DEFAULT '',
    edited_by TEXT NOT NULL DEFAULT '',
    edited_at TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (clip, frame, instance)
);
CREATE TABLE history(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clip INTEGER NOT NULL REFERENCES clips(id) ON DELETE CASCADE,
    undone INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL,
    command TEXT NOT NULL,
    data BLOB NOT NULL,
    user TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX history_clip ON history(clip, undone, id);
"""


def _create_v1(conn: sqlite3.Connection) -> None:
    # executescript() would commit the caller's transaction; run statement by statement.
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1_to_v2_object_order(conn: sqlite3.Connection) -> None:
    """v2: each clip records the order of its objects (bottom to top) for the export.

    ``'[]'`` keeps what v1 did: objects composed by instance id, the later on top.
    """
    conn.execute("ALTER TABLE clips ADD COLUMN object_order TEXT NOT NULL DEFAULT '[]'")


def _v2_to_v3_sounding(conn: sqlite3.Connection) -> None:
    """Each object gets a per-frame ``sounding`` flag and whether a person decided it.

    An object visible but silent in a frame (``sounding = 0``) keeps its geometry but is
    left out of that frame's AVS mask, as AVSBench defines the masks. Objects written
    before this version were exported as sounding, so they default to sounding and old
    projects export unchanged. ``sounding_checked`` records that a person toggled or
    confirmed the flag (ground truth read from a dataset or imported counts as decided
    without it: AVSBench masks hold only sounding objects).
    """
    conn.execute("ALTER TABLE objects ADD COLUMN sounding INTEGER NOT NULL DEFAULT 1 CHECK (sounding IN (0, 1))")
    conn.execute(
        "ALTER TABLE objects ADD COLUMN sounding_checked INTEGER NOT NULL DEFAULT 0 "
        "CHECK (sounding_checked IN (0, 1))"
    )


#: ``MIGRATIONS[v](conn)`` brings a file from schema ``v`` to ``v + 1`` (0 = an empty file).
#: Each runs inside the caller's transaction and must not commit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_create_v1, _v1_to_v2_object_order, _v2_to_v3_sounding]


def read_marks(conn: sqlite3.Connection, path: Path) -> tuple[int, int]:
    """``(application_id, user_version)`` of an open file; a clear error if it is no database."""
    try:
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        # Reading the schema catches files whose header is fine but whose pages are not.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        raise ProjectCorruptError(
            f"{path}: not an AVS Studio project (the file is not a readable SQLite database: {exc})"
        ) from None
    return int(app), int(version)


def check_marks(conn: sqlite3.Connection, path: Path, *, allow_older: bool) -> int:
    """Check that ``conn`` holds an AVS Studio project this version can use; return its schema.

    Raises :class:`ProjectCorruptError` for foreign or damaged files and
    :class:`ProjectVersionError` for a newer schema (or, unless ``allow_older``, an older one).
    """
    app, version = read_marks(conn, path)
    if app != APPLICATION_ID:
        raise ProjectCorruptError(
            f"{path}: not an AVS Studio project (an SQLite file of another program, "
            f"application id {app:#x}); nothing was changed"
        )
    if version > SCHEMA_VERSION:
        raise ProjectVersionError(
            f"{path}: written by a newer AVS Studio (project schema {version}; this version "
            f"reads schemas up to {SCHEMA_VERSION}). Update AVS Studio to open it; the file "
            "was not changed"
        )
    if version < 1:
        raise ProjectCorruptError(f"{path}: an AVS Studio project without a schema version (damaged)")
    if version < SCHEMA_VERSION and not allow_older:
        raise ProjectVersionError(
            f"{path}: project schema {version} is older than this version's {SCHEMA_VERSION}; "
            "open it for writing once to upgrade it"
        )
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'app'").fetchone()
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        raise ProjectCorruptError(f"{path}: damaged project (no readable meta table: {exc})") from None
    if row is None or row[0] != APP_NAME:
        raise ProjectCorruptError(f"{path}: damaged project (its meta table does not name AVS Studio)")
    if version == SCHEMA_VERSION:  # an older file is checked after its upgrade
        check_schema(conn, path)
    return version


_EXPECTED: dict[int, dict[str, dict]] = {}


def expected_schema() -> dict[str, dict]:
    """What a healthy file of :data:`SCHEMA_VERSION` holds, read from a fresh in-memory project
    (so that it follows :data:`MIGRATIONS`): ``{"tables": {name: columns}, "indexes": {...}}``."""
    cached = _EXPECTED.get(SCHEMA_VERSION)
    if cached is None:
        mem = sqlite3.connect(":memory:", isolation_level=None)
        try:
            mem.execute("BEGIN")
            initialise(mem, {})
            mem.execute("COMMIT")
            cached = _schema_of(mem)
        finally:
            mem.close()
        _EXPECTED[SCHEMA_VERSION] = cached
    return cached


def _schema_of(conn: sqlite3.Connection) -> dict[str, dict]:
    tables: dict[str, list[tuple]] = {}
    indexes: dict[str, str] = {}
    for kind, name, table in conn.execute(
        "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    ).fetchall():
        if kind == "table":
            cols = conn.execute(f"PRAGMA table_info({_quote(name)})").fetchall()
            # (name, declared type, not null, primary-key position): what the code relies on
            tables[name] = [(c[1], str(c[2]).upper(), int(c[3]), int(c[5])) for c in cols]
        elif kind == "index":
            indexes[name] = table
    return {"tables": tables, "indexes": indexes}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def schema_problems(conn: sqlite3.Connection) -> list[str]:
    """How the file's tables, columns and indexes differ from :func:`expected_schema` (missing
    or changed ones; extra tables and columns are left alone)."""
    want = expected_schema()
    try:
        have = _schema_of(conn)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        return [f"the schema cannot be read ({exc})"]
    problems = []
    for table, columns in want["tables"].items():
        got = have["tables"].get(table)
        if got is None:
            problems.append(f"table {table} is missing")
            continue
        got_by_name = {c[0]: c for c in got}
        for col in columns:
            found = got_by_name.get(col[0])
            if found is None:
                problems.append(f"column {table}.{col[0]} is missing")
            elif found != col:
                problems.append(f"column {table}.{col[0]} was changed ({found[1]}, expected {col[1]})")
    for index, table in want["indexes"].items():
        if have["indexes"].get(index) != table:
            problems.append(f"index {index} on {table} is missing")
    return problems


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a file whose tables or columns are missing or changed (a damaged project); a
    missing index only slows it down and is left to ``project status --check``."""
    problems = [p for p in schema_problems(conn) if not p.startswith("index ")]
    if problems:
        raise ProjectCorruptError(f"{path}: damaged project: {'; '.join(problems[:4])}")


def migrate(conn: sqlite3.Connection, from_version: int) -> int:
    """Run the migrations from ``from_version`` to :data:`SCHEMA_VERSION` (inside a transaction)."""
    for v in range(from_version, SCHEMA_VERSION):
        MIGRATIONS[v](conn)
    conn.execute(f"PRAGMA user_version = {int(SCHEMA_VERSION)}")
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
    return SCHEMA_VERSION


def initialise(conn: sqlite3.Connection, meta: dict[str, str]) -> None:
    """Create the schema of a new project and write its meta rows (inside a transaction)."""
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    MIGRATIONS[0](conn)
    for v in range(1, SCHEMA_VERSION):
        MIGRATIONS[v](conn)
    rows = {"app": APP_NAME, "schema_version": str(SCHEMA_VERSION), **meta}
    conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", sorted(rows.items()))
    conn.execute(f"PRAGMA user_version = {int(SCHEMA_VERSION)}")
