"""The project file: creating, opening, one writer at a time, and every way it can go wrong.

A corrupt or foreign file, a newer schema, a read-only folder or file and a full disk each
give a clear error, and none of them loses or changes what was saved.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from avs_studio.core.project import schema as project_schema
from avs_studio.core.project.add import NewClip
from avs_studio.core.project.edits import AddObject, SetStatus
from avs_studio.core.project.project import (
    SCHEMA_VERSION,
    Project,
    ProjectCorruptError,
    ProjectError,
    ProjectLockedError,
    ProjectStorageError,
    ProjectVersionError,
)

REPO = Path(__file__).resolve().parents[1]


def blank_clip(uid: str = "clip", width: int = 320, height: int = 240) -> NewClip:
    return NewClip(
        uid=uid, source="video", root=Path("/nonexistent"), files={"video": f"{uid}.mp4"},
        media_hash="", duration=5.0, start=0.0, seconds=5, num_frames=5,
        frame_times=[k + 0.9375 for k in range(5)], annotated=list(range(5)), width=width, height=height,
    )  # fmt: skip


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def saved(tmp_path) -> Path:
    """A closed project with two clips, some objects and a status."""
    path = tmp_path / "saved.avsproj"
    with Project.create(path, "s4", name="Park birds", user="ana") as project:
        project.add_clip(blank_clip("a"))
        project.add_clip(blank_clip("b"))
        session = project.session("a")
        session.apply(session.polygon(0, 1, [(10, 10), (200, 10), (200, 200)]))
        session.apply(SetStatus("done", comment="checked"))
    return path


def test_a_new_project_is_one_sqlite_file_in_wal_mode_with_its_setting(tmp_path):
    path = tmp_path / "birds.avsproj"
    with Project.create(path, "avss", name="Birds") as project:
        assert (project.setting.value, project.name, len(project.labels)) == ("avss", "Birds", 71)
        assert project.labels.name(17) == "dog"
        assert not project.readonly and len(project) == 0
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA application_id").fetchone()[0] == project_schema.APPLICATION_ID
    conn.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["birds.avsproj", "birds.avsproj.lock"]
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(path, "s4")


def test_reopening_shows_what_was_saved(saved):
    with Project.open(saved) as project:
        assert project.name == "Park birds" and project.clip_ids() == ["a", "b"]
        rec = project.clip_record("a")
        assert (rec.status, rec.annotator, rec.comment) == ("done", "ana", "checked")
        assert project.binary_mask("a", 0)[20, 100] == 1
        assert project.session("a").undo_text() == "Undo Mark as done"
        assert project.counts()["status"]["done"] == 1 and project.counts()["status"]["new"] == 1
        assert project.check() == []


def test_opening_nothing_or_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ProjectError, match="no such project"):
        Project.open(tmp_path / "missing.avsproj")
    with pytest.raises(ProjectError, match="is a folder"):
        Project.open(tmp_path)


def test_a_corrupt_file_is_refused_untouched(tmp_path):
    path = tmp_path / "junk.avsproj"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    before = sha(path)
    for readonly in (False, True):
        with pytest.raises(ProjectCorruptError, match="not an AVS Studio project"):
            Project.open(path, readonly=readonly)
    assert sha(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.avsproj"]


def test_a_damaged_project_says_so_when_read(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    data[4096 * 2 :] = b"\x5a" * (len(data) - 4096 * 2)
    broken = tmp_path / "broken.avsproj"
    broken.write_bytes(bytes(data))
    try:
        project = Project.open(broken, readonly=True)
    except ProjectCorruptError:
        return  # refused at once: fine
    with project:
        assert project.check() != []
        with pytest.raises(ProjectCorruptError, match="cannot read"):
            [project.binary_mask(c, 0) for c in project.clip_ids()]


def test_another_programs_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE songs(title TEXT)")
    conn.execute("INSERT INTO songs VALUES ('x')")
    conn.commit()
    conn.close()
    before = sha(path)
    with pytest.raises(ProjectCorruptError, match="another program"):
        Project.open(path)
    assert sha(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_a_project_from_a_newer_version_is_refused_untouched(saved):
    conn = sqlite3.connect(saved)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    conn.commit()
    conn.close()
    before = sha(saved)
    for readonly in (False, True):
        with pytest.raises(ProjectVersionError, match="newer AVS Studio"):
            Project.open(saved, readonly=readonly)
    assert sha(saved) == before


def test_an_older_project_is_migrated_in_one_step_keeping_its_data(saved, monkeypatch):
    def add_reviewer_column(conn):
        conn.execute("ALTER TABLE clips ADD COLUMN reviewer TEXT NOT NULL DEFAULT ''")

    monkeypatch.setattr(project_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(project_schema, "MIGRATIONS", [*project_schema.MIGRATIONS, add_reviewer_column])
    before = sha(saved)
    with Project.open(saved, readonly=True) as project:  # read through an upgraded copy in memory
        assert project.binary_mask("a", 0)[20, 100] == 1
        assert "reviewer" in [r[1] for r in project._store.query("PRAGMA table_info(clips)")]
    assert sha(saved) == before  # the file itself is not touched by reading it
    with Project.open(saved) as project:
        assert project.binary_mask("a", 0)[20, 100] == 1
        cols = [r[1] for r in project._store.query("PRAGMA table_info(clips)")]
        assert "reviewer" in cols
    conn = sqlite3.connect(saved)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    conn.close()


def test_a_failing_migration_leaves_the_old_file(saved, monkeypatch):
    def broken(conn):
        conn.execute("ALTER TABLE clips ADD COLUMN x TEXT")
        raise sqlite3.OperationalError("migration bug")

    monkeypatch.setattr(project_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(project_schema, "MIGRATIONS", [*project_schema.MIGRATIONS, broken])
    with pytest.raises(ProjectError):
        Project.open(saved)
    monkeypatch.undo()
    with Project.open(saved) as project:
        assert "x" not in [r[1] for r in project._store.query("PRAGMA table_info(clips)")]
        assert project.clip_record("a").status == "done"


# --------------------------------------------------------------------------- one writer


def test_a_second_writer_in_the_same_process_is_refused(saved):
    with Project.open(saved) as first:
        with pytest.raises(ProjectLockedError, match="open for writing") as err:
            Project.open(saved)
        assert err.value.holder["pid"] == os.getpid()
        with Project.open(saved, readonly=True) as reader:
            assert reader.clip_ids() == first.clip_ids()
    with Project.open(saved):  # closing released the lock
        pass


def test_a_second_process_is_refused_and_a_killed_holder_frees_the_project(saved):
    code = textwrap.dedent(
        """
        import sys, time
        from avs_studio.core.project.project import Project
        project = Project.open(sys.argv[1], user="ben")
        print("open", flush=True)
        time.sleep(120)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(saved)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "open"
        with pytest.raises(ProjectLockedError, match=f"pid {child.pid}") as err:
            Project.open(saved)
        assert "read-only" in str(err.value)
        with Project.open(saved, readonly=True) as reader:
            assert reader.clip_record("a").status == "done"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    with Project.open(saved) as project:  # the OS released the dead holder's lock
        project.session("b").apply(SetStatus("done"))


# --------------------------------------------------------------------------- read-only places


def _drop_file_permission_override() -> None:
    """In a child of root: lose the capabilities that let root ignore file permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            os._exit(77)


def run_without_write_rights(code: str, *args: str) -> dict:
    """Run ``code`` in a child that file permissions apply to (root drops its overrides)."""
    preexec = _drop_file_permission_override if os.geteuid() == 0 else None
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True,
                         text=True, preexec_fn=preexec, timeout=120)  # fmt: skip
    if out.returncode == 77:
        pytest.skip("running as root without the right to drop file-permission overrides")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


_READ_ONLY_STORY = """
    import json, sys
    from avs_studio.core.project.project import Project, ProjectError
    path, other = sys.argv[1], sys.argv[2]
    result = {}
    try:
        Project.open(path)
    except ProjectError as exc:
        result["write"] = f"{type(exc).__name__}: {exc}"
    with Project.open(path, readonly=True) as project:
        result["clips"] = project.clip_ids()
        result["pixel"] = int(project.binary_mask("a", 0)[20, 100])
    try:
        Project.create(other, "s4")
    except ProjectError as exc:
        result["create"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(result))
"""


def test_a_project_in_a_read_only_folder_opens_read_only_and_stays_untouched(saved):
    folder = saved.parent
    before = {p.name: sha(p) for p in folder.iterdir()}
    folder.chmod(0o555)
    try:
        result = run_without_write_rights(_READ_ONLY_STORY, str(saved), str(folder / "new.avsproj"))
    finally:
        folder.chmod(0o755)
    assert result["write"].startswith("ProjectReadOnlyError") and "read-only" in result["write"]
    assert result["clips"] == ["a", "b"] and result["pixel"] == 1
    assert result["create"].startswith("ProjectReadOnlyError")
    assert {p.name: sha(p) for p in folder.iterdir()} == before


def test_a_read_only_project_file_opens_read_only(saved):
    saved.chmod(0o444)
    before = sha(saved)
    try:
        result = run_without_write_rights(_READ_ONLY_STORY, str(saved), str(saved.parent / "new.avsproj"))
    finally:
        saved.chmod(0o644)
    assert result["write"].startswith("ProjectReadOnlyError") and "read-only" in result["write"]
    assert result["clips"] == ["a", "b"]
    assert "create" not in result  # the folder itself is writable
    assert sha(saved) == before


# --------------------------------------------------------------------------- a full disk


def test_a_full_disk_loses_nothing_and_the_next_edit_works_once_there_is_room(saved):
    rng = np.random.default_rng(5)
    with Project.open(saved) as project:
        session = project.session("b")
        store = project._store
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages + 3}")  # a disk with 12 KiB left
        saved_digest = project.state_digest()
        with pytest.raises(ProjectStorageError, match="disk is full") as err:
            for i in range(100):
                noise = (rng.random((240, 320)) < 0.5).astype(np.uint8)  # incompressible masks
                session.apply(AddObject(i % 5, 10 + i, 1, noise))
                saved_digest = project.state_digest()
        assert "unchanged" in str(err.value)
        assert project.state_digest() == saved_digest
        # memory agrees with the file: the working copies of the failed edit were dropped
        for obj in project.frame_objects("b", 0):
            assert np.array_equal(session.store.mask(0, obj.instance_id), obj.mask)
        store.conn.execute("PRAGMA max_page_count = 1073741823")  # room again
        session.apply(SetStatus("reviewed"))
        after = project.state_digest()
    with Project.open(saved) as project:
        assert project.state_digest() == after
        assert project.check() == []


def test_a_failing_commit_rolls_back_memory_and_file(saved, monkeypatch):
    """Simulated I/O error at COMMIT, whatever SQLite would say about the disk."""
    with Project.open(saved) as project:
        session = project.session("a")
        digest = project.state_digest()
        stroke = session.stroke(0, 1, radius=30)
        stroke.add_points([(50, 100), (250, 100)])
        cmd = stroke.finish()
        real = project._store.conn

        class FailingCommit:
            def __getattr__(self, name):
                return getattr(real, name)

            def execute(self, sql, *a):
                if sql == "COMMIT":
                    raise sqlite3.OperationalError("disk I/O error")
                return real.execute(sql, *a)

        monkeypatch.setattr(project._store, "conn", FailingCommit())
        with pytest.raises(ProjectStorageError, match="could not be saved"):
            session.apply(cmd)
        monkeypatch.setattr(project._store, "conn", real)
        assert project.state_digest() == digest
        assert np.array_equal(session.store.mask(0, 1), project.binary_mask("a", 0))
        session.apply(cmd)
        assert project.binary_mask("a", 0)[100, 150] == 1
