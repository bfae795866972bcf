"""Atomic writes, paths that cannot escape, and batches that survive bad items."""

from __future__ import annotations

import os

import pytest

from avs_studio.core.errors import AVSError, Cancelled, UnsafePathError
from avs_studio.core.fsutil import atomic_dir, atomic_path, atomic_write_text, safe_join
from avs_studio.core.jobs import CancelToken, run_batch


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    dest = tmp_path / "data.json"
    atomic_write_text(dest, "old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.json"]
    atomic_write_text(dest, "new")
    assert dest.read_text() == "new"


def test_a_failed_folder_write_leaves_nothing(tmp_path):
    dest = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt), atomic_dir(dest) as tmp:
        (tmp / "a.png").write_bytes(b"x")
        raise KeyboardInterrupt
    assert not dest.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(dest) as tmp:
        (tmp / "a.png").write_bytes(b"x")
    assert (dest / "a.png").read_bytes() == b"x"


def test_paths_cannot_leave_their_root(tmp_path):
    root = tmp_path / "root"
    (root / "ok dir ü").mkdir(parents=True)
    assert safe_join(root, "ok dir ü", "naïve name.png") == root / "ok dir ü" / "naïve name.png"
    for bad in ("../x", "a/../../x", "/etc/passwd", ".."):
        with pytest.raises(UnsafePathError):
            safe_join(root, bad)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(UnsafePathError, match="outside"):
        safe_join(root, "link", "file")


def test_a_batch_reports_bad_items_and_finishes_the_rest():
    seen = []

    def work(x):
        if x == 2:
            raise AVSError("clip 2 is corrupt")
        return x * 10

    report = run_batch([1, 2, 3], work, progress=lambda d, t, m="": seen.append((d, t)))
    assert report.results == [10, 30]
    assert [f.item for f in report.failures] == ["2"] and "corrupt" in report.failures[0].error
    assert seen[-1] == (3, 3)
    assert report.summary("clips") == "2 clips done, 1 failed"


def test_a_batch_stops_when_cancelled():
    token = CancelToken()

    def work(x):
        if x == 1:
            token.cancel()
        return x

    report = run_batch(range(5), work, cancel=token)
    assert report.results == [0, 1] and report.cancelled
    with pytest.raises(Cancelled):
        token.raise_if_cancelled()


def test_atomic_folders_get_the_permissions_of_a_new_folder(tmp_path):
    reference = tmp_path / "plain"
    reference.mkdir()
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "f").write_text("x")
    assert (tmp_path / "out").stat().st_mode & 0o777 == reference.stat().st_mode & 0o777


def test_atomic_files_get_the_mode_of_a_new_file_or_keep_the_old_one(tmp_path):
    old = os.umask(0o022)
    try:
        new = tmp_path / "masks.json"
        atomic_write_text(new, "{}")
        assert new.stat().st_mode & 0o777 == 0o644  # as open() makes it, not mkstemp's 0600
        shared = tmp_path / "shared.json"
        shared.write_text("{}")
        shared.chmod(0o664)
        atomic_write_text(shared, "[]")
        assert shared.stat().st_mode & 0o777 == 0o664 and shared.read_text() == "[]"
    finally:
        os.umask(old)
