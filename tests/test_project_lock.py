"""One writer per project, whatever the path: a symlink, a hard link or a deleted ``.lock``
file never lets a second writer in, and SQLite itself refuses a writer that ignores our lock.

The story behind it: a second annotator opened the same project through a symlink (another
lock file name) and through a hard link (another WAL file), and edits were lost.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from avs_studio.core.project.add import NewClip
from avs_studio.core.project.edits import AddObject, SetStatus
from avs_studio.core.project.lock import lock_path
from avs_studio.core.project.project import Project, ProjectError, ProjectLockedError

REPO = Path(__file__).resolve().parents[1]


def blank_clip(uid: str) -> NewClip:
    return NewClip(
        uid=uid, source="video", root=Path("/nonexistent"), files={"video": f"{uid}.mp4"},
        media_hash="", duration=5.0, start=0.0, seconds=5, num_frames=5,
        frame_times=[k + 0.9375 for k in range(5)], annotated=list(range(5)), width=64, height=48,
    )  # fmt: skip


@pytest.fixture
def project_file(tmp_path) -> Path:
    path = tmp_path / "real" / "birds.avsproj"
    with Project.create(path, "s4", user="ana") as project:
        project.add_clip(blank_clip("a"))
        project.add_clip(blank_clip("b"))
    return path


@pytest.fixture
def symlink(project_file, tmp_path) -> Path:
    link = tmp_path / "elsewhere" / "via-symlink.avsproj"
    link.parent.mkdir()
    link.symlink_to(project_file)
    return link


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from avs_studio.core.project.edits import SetStatus
    from avs_studio.core.project.project import Project
    project = Project.open(sys.argv[1], user="ben")
    project.session("a").apply(SetStatus("in_progress", comment="ben was here"))
    print("open", flush=True)
    time.sleep(120)
    """
)


def hold_in_child(path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE,
                             text=True, env=env)  # fmt: skip
    line = child.stdout.readline().strip()
    assert line == "open", f"the holder did not start: {line!r}"
    return child


def kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()


# --------------------------------------------------------------------------- in one process


def test_a_writer_through_a_symlink_is_refused_while_the_real_file_is_held(project_file, symlink):
    with Project.open(project_file) as first:
        with pytest.raises(ProjectLockedError, match="open for writing"):
            Project.open(symlink)
        with Project.open(symlink, readonly=True) as reader:  # readers still get in
            assert reader.clip_ids() == first.clip_ids() == ["a", "b"]
    with Project.open(symlink) as project:  # and the symlink is the same project afterwards
        project.session("a").apply(SetStatus("done", comment="through the symlink"))
    with Project.open(project_file, readonly=True) as project:
        assert project.clip_record("a").comment == "through the symlink"


def test_deleting_the_lock_file_does_not_let_a_second_writer_in(project_file):
    with Project.open(project_file):
        note = lock_path(project_file)
        if note.exists():
            note.unlink()
        with pytest.raises(ProjectLockedError):
            Project.open(project_file)
        # Nor does a FIFO (or any junk) in the lock file's place hang or crash the opener.
        os.mkfifo(note)
        with pytest.raises(ProjectLockedError):
            Project.open(project_file)
        note.unlink()


def test_a_project_file_with_two_names_is_never_opened_for_writing(project_file, tmp_path):
    """Two names mean two WAL files: a writer through one cannot see the other's commits."""
    hard = tmp_path / "hard-link.avsproj"
    os.link(project_file, hard)
    for path in (project_file, hard):
        with pytest.raises(ProjectError, match="2 names"):
            Project.open(path)
        with Project.open(path, readonly=True) as reader:  # reading it is harmless
            assert reader.clip_ids() == ["a", "b"]
    hard.unlink()
    with Project.open(project_file) as project:
        project.session("a").apply(SetStatus("done"))


def test_a_hard_link_made_while_a_writer_holds_the_project_gets_no_second_writer(project_file, tmp_path):
    with Project.open(project_file) as first:
        hard = tmp_path / "hard-link.avsproj"
        os.link(project_file, hard)
        with pytest.raises(ProjectError):
            Project.open(hard)
        first.session("a").apply(SetStatus("done", comment="after the link"))
    hard.unlink()
    with Project.open(project_file, readonly=True) as project:
        assert project.clip_record("a").comment == "after the link"


def test_sqlite_itself_refuses_a_writer_that_ignores_our_lock(project_file):
    """A program that knows nothing of AVS Studio (the sqlite3 shell, an old version) cannot
    write while a project is held: the holder keeps SQLite's write lock."""
    with Project.open(project_file) as project:
        foreign = sqlite3.connect(project_file, timeout=0.2, isolation_level=None)
        try:
            assert foreign.execute("SELECT count(*) FROM clips").fetchone()[0] == 2  # reading is fine
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                foreign.execute("BEGIN IMMEDIATE")
        finally:
            foreign.close()
        # The holder goes on committing, and a reader sees each commit.
        session = project.session("b")
        session.apply(AddObject(0, 1, label=1, mask=np.ones((48, 64), np.uint8)))
        with Project.open(project_file, readonly=True) as reader:
            assert len(reader.clip("b").objects(0)) == 1
        project.checkpoint()  # folding the WAL keeps the hold
        foreign = sqlite3.connect(project_file, timeout=0.2, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                foreign.execute("BEGIN IMMEDIATE")
        finally:
            foreign.close()
    foreign = sqlite3.connect(project_file, timeout=0.2, isolation_level=None)
    foreign.execute("BEGIN IMMEDIATE")  # closed: the write lock is free again
    foreign.execute("ROLLBACK")
    foreign.close()


# --------------------------------------------------------------------------- two processes


def test_two_processes_through_a_symlink_and_a_hard_link_get_one_writer_and_a_kill_frees_it(
    project_file, symlink, tmp_path
):
    child = hold_in_child(symlink)  # the holder came in through the symlink
    try:
        with pytest.raises(ProjectLockedError, match=f"pid {child.pid}"):
            Project.open(project_file)
        lock_path(project_file).unlink()  # the note is only a courtesy
        with pytest.raises(ProjectLockedError):
            Project.open(project_file)
        hard = tmp_path / "hard-link.avsproj"
        os.link(project_file, hard)
        with pytest.raises(ProjectError):
            Project.open(hard)
        hard.unlink()
        with Project.open(project_file, readonly=True) as reader:
            assert reader.clip_record("a").comment == "ben was here"
    finally:
        kill(child)
    # SIGKILL released everything: the next writer gets in and sees the dead holder's commit.
    with Project.open(project_file) as project:
        assert project.clip_record("a").comment == "ben was here"
        project.session("b").apply(SetStatus("done"))


def test_a_killed_holder_of_the_real_file_lets_the_next_writer_in_through_the_symlink(project_file, symlink):
    child = hold_in_child(project_file)
    try:
        with pytest.raises(ProjectLockedError, match=f"pid {child.pid}"):
            Project.open(symlink)
    finally:
        kill(child)
    with Project.open(symlink) as project:
        assert project.clip_record("a").status == "in_progress"
