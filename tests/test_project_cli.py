"""``avs-studio project new|add|status|export|import|merge|relink`` as a user types them."""

from __future__ import annotations

import argparse
import importlib.util
import shutil

import pytest

from avs_studio.cli import parser as cli
from avs_studio.cli.project import add_project_parser
from avs_studio.core.datasets import open_dataset
from avs_studio.core.project.project import Project


@pytest.fixture
def run(monkeypatch):
    """``run(*argv)`` -> exit status, through ``avs_studio.cli.parser.main`` with ``project`` wired in."""
    original = cli.build_parser

    def build() -> argparse.ArgumentParser:
        parser = original()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "project" not in sub.choices:  # until the lead wires it in for good
            add_project_parser(sub)
        return parser

    monkeypatch.setattr(cli, "build_parser", build)
    return lambda *argv: cli.main(["-q", *map(str, argv)])


def test_a_project_from_the_command_line(run, demo_root, tmp_path, capsys):
    root = demo_root("s4", 6, 0)
    proj = tmp_path / "birds.avsproj"
    assert run("project", "new", proj, "--setting", "s4") == 0
    assert "created S4 project" in capsys.readouterr().out
    assert run("project", "add", proj, root) == 0
    assert "6 clips done (6 in the project)" in capsys.readouterr().out
    assert run("project", "add", proj, root) == 0
    assert "0 clips done, 6 skipped" in capsys.readouterr().out

    assert run("project", "status", proj, "--check") == 0
    out = capsys.readouterr().out
    assert "6 clips" in out and "done 6" in out and "missing media: none" in out and "integrity: ok" in out

    assert run("project", "export", proj, "--to", "coco", tmp_path / "out.json", "--split", "test",
               "--polygons") == 0  # fmt: skip
    assert "as coco to" in capsys.readouterr().out
    assert run("project", "export", proj, "--to", "avsbench-s4", tmp_path / "layout") == 0
    layout = open_dataset(tmp_path / "layout" / "Single-source")
    assert len(layout) == 6 and not layout.problems
    clip = layout.clips()[0]
    assert layout.wav_path(clip).is_file() and clip.frame(0).shape == (224, 224, 3)
    if importlib.util.find_spec("torch") is not None:  # the log-mel pickles need torch
        assert layout.logmel_path(clip).is_file()
    assert run("project", "export", proj, "--to", "png", tmp_path / "png", "--status", "in progress") == 2
    assert "no masks to export" in capsys.readouterr().err

    assert run("project", "import", proj, tmp_path / "out.json") == 0
    assert "imported" in capsys.readouterr().out

    copy = tmp_path / "copy.avsproj"
    shutil.copyfile(proj, copy)
    assert run("project", "merge", proj, copy, tmp_path / "merged.avsproj") == 0
    assert "6 in both (6 identical, 0 differing)" in capsys.readouterr().out


def test_user_errors_exit_2_with_a_message(run, tmp_path, capsys):
    proj = tmp_path / "p.avsproj"
    assert run("project", "status", proj) == 2
    assert "no such project" in capsys.readouterr().err
    assert run("project", "new", proj, "--setting", "ms3") == 0
    assert run("project", "new", proj, "--setting", "ms3") == 2
    assert "already exists" in capsys.readouterr().err
    with Project.open(proj):
        assert run("project", "add", proj, tmp_path) == 2
        assert "open for writing" in capsys.readouterr().err
        assert run("project", "status", proj) == 0  # reading while another holds it is fine
    assert run("project", "add", proj, tmp_path / "nothing.mp4") == 2
    assert "no such video" in capsys.readouterr().err
    assert run("project", "relink", proj, "ghost", tmp_path) == 2
