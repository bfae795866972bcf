"""What the command line says: help texts that tell the defaults and carry no reStructuredText
markup, a hint where a newcomer is stuck, and "1 clip", not "1 clips"."""

from __future__ import annotations

import argparse

import pytest

from avs_studio.cli import parser as cli
from avs_studio.core.project.project import Project
from avs_studio.core.text import plural


def _all_parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_no_help_text_shows_rst_markup():
    for p in _all_parsers(cli.build_parser()):
        text = p.format_help()
        assert "``" not in text and "`" not in text, p.prog


def test_evaluate_help_says_the_default_split_is_test(capsys):
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--split {train,val,test,all} the split to score (default: test" in out


def test_exporting_a_propose_folder_points_at_propose_format_coco(tmp_path, capsys):
    folder = tmp_path / "props"
    (folder / ".propose").mkdir(parents=True)
    (folder / ".propose" / "run.json").write_text("{}")
    (folder / "pred_masks").mkdir()
    code = cli.main(["-q", "export", str(folder), "--to", "coco", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert code == 2 and "propose output folder" in err and "--format coco" in err


def test_one_is_singular():
    assert plural(1, "clip") == "1 clip" and plural(2, "clip") == "2 clips" and plural(0, "clip") == "0 clips"


def test_a_one_clip_project_says_1_clip(tmp_path, demo_root, capsys):
    path = tmp_path / "p.avsproj"
    with Project.create(path, "s4") as project:
        project.add_clips_from_dataset(demo_root("s4", 6, 0), split="test")
        assert len(project) == 1
    assert cli.main(["-q", "project", "status", str(path)]) == 0
    assert "S4 project, 1 clip\n" in capsys.readouterr().out
    assert cli.main(["-q", "project", "export", str(path), "--to", "coco", str(tmp_path / "o.json")]) == 0
    out = capsys.readouterr().out
    assert "exported 1 clip (" in out and "1 clips" not in out
