"""A damaged project file gives the project's corruption error, never a traceback: broken JSON
in a clip row, flipped bits in a page, an absurd clip size, a table that is gone.

``project status --check`` checks the schema too: a project without its ``objects`` table
is not "integrity: ok" (it used to export 0 annotations without a word).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from avs_studio.cli import parser as cli
from avs_studio.core.project.project import Project, ProjectCorruptError


@pytest.fixture(scope="module")
def good(tmp_path_factory, demo_root) -> Path:
    """A healthy S4 project of two dataset clips (with their ground truth), closed."""
    folder = tmp_path_factory.mktemp("damage")
    path = folder / "good.avsproj"
    with Project.create(path, "s4") as project:
        project.add_clips_from_dataset(demo_root("s4", 6, 0), split="test")
    return path


@pytest.fixture(scope="module")
def predictions(good, tmp_path_factory) -> Path:
    """PNG mask predictions of the healthy project (its own masks), for ``report``."""
    out = tmp_path_factory.mktemp("pred") / "pred"
    assert cli.main(["-q", "project", "export", str(good), "--to", "png", str(out)]) == 0
    return out


def damaged(good: Path, folder: Path, *statements: str) -> Path:
    path = folder / "damaged.avsproj"
    shutil.copyfile(good, path)
    conn = sqlite3.connect(path, isolation_level=None)
    for sql in statements:
        conn.execute(sql)
    conn.close()
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(["-q", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def assert_refused_as_damaged(capsys, path: Path, tmp_path: Path, predictions: Path) -> None:
    """Every project command that reads clips says the file is damaged (exit 2, one line)."""
    first_clip = "any"
    commands = {
        "status": ("project", "status", path),
        "export": ("project", "export", path, "--to", "coco", tmp_path / "out.json"),
        "merge": ("project", "merge", path, path, tmp_path / "merged.avsproj"),
        "report": ("report", predictions, path, "--setting", "s4", "--out", tmp_path / "report"),
        "relink": ("project", "relink", path, first_clip, tmp_path),
    }
    for name, argv in commands.items():
        code, out, err = run(capsys, *argv)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (name, err)
        assert "damaged" in err, (name, err)
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "merged.avsproj").exists()
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("column, value", [
    ("frame_times", "[0.5, 1.5"),
    ("annotated", "{}"),
    ("files", "[]"),
    ("ordinals", "not json"),
    ("frame_times", '["a", "b", "c", "d", "e"]'),
    ("annotated", "[0, 99]"),
])  # fmt: skip
def test_a_clip_row_with_broken_json_is_a_damaged_project(good, predictions, tmp_path, capsys, column, value):
    path = damaged(good, tmp_path, f"UPDATE clips SET {column} = '{value}' WHERE id = (SELECT min(id) FROM clips)")
    assert_refused_as_damaged(capsys, path, tmp_path, predictions)


@pytest.mark.parametrize("width, height", [(0, 120), (100_000, 100_000), (-5, 120)])
def test_a_clip_of_an_impossible_size_is_a_damaged_project(good, predictions, tmp_path, capsys, width, height):
    path = damaged(good, tmp_path, f"UPDATE clips SET width = {width}, height = {height}")
    assert_refused_as_damaged(capsys, path, tmp_path, predictions)


def test_flipped_bits_in_a_text_page_give_the_corruption_error(good, tmp_path, capsys):
    path = tmp_path / "flipped.avsproj"
    data = bytearray(good.read_bytes())
    at = data.find(b"avs-studio-project")
    assert at > 0
    data[at + 3] ^= 0x80  # no longer UTF-8: reading the meta table used to raise UnicodeDecodeError
    path.write_bytes(bytes(data))
    for argv in (("project", "status", path), ("project", "export", path, "--to", "png", tmp_path / "o")):
        code, out, err = run(capsys, *argv)
        assert code == 2 and "damaged" in err or "not an AVS Studio project" in err, err
    with pytest.raises(ProjectCorruptError):
        Project.open(path, readonly=True)
    with pytest.raises(ProjectCorruptError):
        Project.open(path)


def test_a_flipped_bit_in_a_clip_row_gives_the_corruption_error(good, predictions, tmp_path, capsys):
    path = tmp_path / "damaged.avsproj"
    data = bytearray(good.read_bytes())
    at = data.find(b'"frames"')
    assert at > 0
    data[at + 2] ^= 0x80
    path.write_bytes(bytes(data))
    assert_refused_as_damaged(capsys, path, tmp_path, predictions)


def test_status_check_verifies_the_schema_not_only_sqlite_integrity(good, tmp_path, capsys):
    path = damaged(good, tmp_path, "DROP TABLE objects")
    code, out, err = run(capsys, "project", "status", path, "--check")
    assert code == 2 and "objects" in err and "damaged" in err
    code, out, err = run(capsys, "project", "export", path, "--to", "coco", tmp_path / "out.json")
    assert code == 2 and "objects" in err and not (tmp_path / "out.json").exists()

    path = damaged(good, tmp_path / "..", "CREATE TABLE x(a)", "INSERT INTO x SELECT uid FROM clips",
                   "DROP INDEX clips_status")  # fmt: skip
    code, out, err = run(capsys, "project", "status", path, "--check")
    assert code == 1 and "clips_status" in out and "integrity: ok" not in out


def test_a_healthy_project_still_checks_ok(good, capsys):
    code, out, _ = run(capsys, "project", "status", good, "--check")
    assert code == 0 and "integrity: ok" in out
