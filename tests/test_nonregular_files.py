"""A FIFO (or a device, or a folder) where a user's file should be is refused at once with one
clear line, never read: opening a FIFO blocks until someone writes to it, so a FIFO named
like a project used to hang every project command, and one named like a mask, a CSV or a
video hung the command that read it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

import pytest

from avs_studio.cli import parser as cli
from avs_studio.core.project.project import Project

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging the suite) when the block takes longer than ``seconds``."""

    def alarm(signum, frame):
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(capsys, *argv) -> tuple[int, str]:
    with deadline(20):
        code = cli.main(["-q", *map(str, argv)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def fifo_at(path: Path) -> Path:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    os.mkfifo(path)
    return path


@pytest.fixture
def data(demo_root, tmp_path) -> Path:
    """A private copy of the small S4 demo dataset (it gets FIFOs put into it)."""
    return Path(shutil.copytree(demo_root("s4", 6, 0), tmp_path / "data" / "Single-source"))


def test_a_fifo_named_like_a_project_is_refused_by_every_project_command(tmp_path, capsys):
    project = fifo_at(tmp_path / "fifo.avsproj")
    real = tmp_path / "real.avsproj"
    with Project.create(real, "s4"):
        pass
    for argv in (("project", "status", project),
                 ("project", "export", project, "--to", "png", tmp_path / "out"),
                 ("project", "add", project, tmp_path),
                 ("project", "import", project, tmp_path / "x.json"),
                 ("project", "merge", project, real, tmp_path / "m.avsproj"),
                 ("project", "relink", project, "x", tmp_path)):  # fmt: skip
        code, err = run(capsys, *argv)
        assert code == 2 and "pipe" in err, (argv, err)
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.avsproj").exists()


def test_a_fifo_for_the_journal_beside_a_project_is_refused(tmp_path, capsys):
    real = tmp_path / "real.avsproj"
    with Project.create(real, "s4"):
        pass
    fifo_at(tmp_path / "real.avsproj-wal")
    code, err = run(capsys, "project", "status", real)
    assert code == 2 and "real.avsproj-wal" in err


def test_fifos_in_a_dataset_are_refused_not_read(data, tmp_path, capsys):
    mask = next(data.rglob("gt_masks/**/*.png"))
    fifo_at(mask)
    code, err = run(capsys, "export", data, "--to", "png", tmp_path / "png")
    assert code == 3 and "pipe" in err  # that mask is skipped and named; the rest is written
    code, err = run(capsys, "export", data, "--to", "avsbench-s4", tmp_path / "layout")
    assert code == 3 and "pipe" in err
    fifo_at(data / "s4_meta_data.csv")  # no longer a dataset: refused, not read
    code, err = run(capsys, "export", data, "--to", "png", tmp_path / "png2")
    assert code == 2 and not (tmp_path / "png2").exists()
    code, err = run(capsys, "export", data, "--to", "png", tmp_path / "png2", "--setting", "s4")
    assert code == 2 and not (tmp_path / "png2").exists()


def test_a_fifo_for_a_clips_wav_fails_the_layout_export_in_one_line(demo_root, tmp_path, capsys):
    """Found by the seeded fuzz run (seed 11): the WAV copied into an AVSBench layout was
    opened with shutil, whose SpecialFileError came out as a traceback."""
    data = Path(shutil.copytree(demo_root("avss", 4, 0), tmp_path / "data" / "AVSS"))
    fifo_at(next(data.rglob("audio.wav")))
    code, err = run(capsys, "export", data, "--to", "avsbench-avss", tmp_path / "layout")
    assert code == 2 and "pipe" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "layout").exists()


def test_fifos_for_single_files_are_refused(data, tmp_path, capsys):
    video = fifo_at(tmp_path / "clip.mp4")
    code, err = run(capsys, "info", video)
    assert code == 2 and "pipe" in err
    project = tmp_path / "p.avsproj"
    with Project.create(project, "s4"):
        pass
    code, err = run(capsys, "project", "add", project, video)
    assert code == 2 and "pipe" in err
    listing = fifo_at(tmp_path / "clips.txt")
    code, err = run(capsys, "project", "add", project, listing)
    assert code == 2 and "pipe" in err
    coco = fifo_at(tmp_path / "gt.json")
    code, err = run(capsys, "export", coco, "--to", "png", tmp_path / "o", "--setting", "s4")
    assert code == 2 and "pipe" in err
    os.remove(coco)
    coco.symlink_to("/dev/zero")  # a device never ends
    code, err = run(capsys, "import", coco, tmp_path / "o", "--setting", "s4")
    assert code == 2 and "device" in err
    model = fifo_at(tmp_path / "model.pt")
    code, err = run(capsys, "propose", data, "--out", tmp_path / "props", "--model", model, "--workers", "0")
    assert code == 2 and not (tmp_path / "props").exists()
