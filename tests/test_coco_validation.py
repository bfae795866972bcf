"""A COCO file from elsewhere is checked before anything uses it: its structure and types (a JSON
schema), its sizes and its geometry. Each malformed file below once crashed the reader (a
traceback, or pycocotools killing the process) or was written out wrongly; now each is one
clear error line, exit 2, and nothing is written.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from avs_studio.cli import parser as cli
from avs_studio.core.errors import FormatError
from avs_studio.core.export import read_coco
from avs_studio.core.export.coco_schema import check_coco_document
from avs_studio.core.project.project import Project

REPO = Path(__file__).resolve().parents[1]

GOOD = {
    "info": {"setting": "s4"},
    "images": [{"id": 1, "width": 64, "height": 48, "file_name": "x.png", "video": "clipA", "frame_index": 0},
               {"id": 2, "width": 64, "height": 48, "file_name": "y.png", "video": "clipA", "frame_index": 1}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 30, 2, 30, 20, 2, 20]]},
        {"id": 2, "image_id": 2, "category_id": 1, "segmentation": {"size": [48, 64], "counts": [100, 50, 2922]}},
    ],
    "categories": [{"id": 1, "name": "sounding_object"}],
}  # fmt: skip


def damaged(change) -> dict:
    doc = copy.deepcopy(GOOD)
    change(doc)
    return doc


def write(tmp_path: Path, doc, name: str = "in.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def seg(value):
    return lambda d: d["annotations"][0].__setitem__("segmentation", value)


def image(key, value):
    return lambda d: d["images"][0].__setitem__(key, value)


MALFORMED = {
    "RLE counts with strings": (seg({"size": [48, 64], "counts": [100, "50", 2922]}), "counts"),
    "RLE counts with negatives": (seg({"size": [48, 64], "counts": [-100, 200, 2972]}), "counts"),
    "RLE counts that do not fill the image": (seg({"size": [48, 64], "counts": [5, 7]}), "add up"),
    "RLE of another size": (seg({"size": [10, 10], "counts": [100]}), "differs"),
    "RLE compressed counts outside the alphabet": (seg({"size": [48, 64], "counts": "~~{|"}), "counts"),
    "a polygon with a string": (seg([[2, 2, "30", 2, 30, 20]]), "segmentation"),
    "a polygon that is a bare number": (seg(5), "neither polygons"),
    "a polygon of bare numbers": (seg([2, 2, 30, 2, 30, 20]), "segmentation"),
    "a polygon with an odd count": (seg([[2, 2, 30, 2, 30, 20, 7]]), "odd"),
    # (1e30 and NaN points, which crashed pycocotools, are checked in child processes below)
    "a polygon point far outside the image": (seg([[2, 2, 300, 2, 30, 20]]), "outside"),
    "a list as an image id": (image("id", [1]), "whole number"),
    "a list as an annotation id": (lambda d: d["annotations"][0].__setitem__("image_id", [1]), "whole number"),
    "a string as a category id": (lambda d: d["annotations"][0].__setitem__("category_id", "1"), "whole number"),
    "frame_index as text": (image("frame_index", "3"), "frame_index"),
    "frame_index -1": (image("frame_index", -1), "frame number"),
    "frame_index 1e9": (image("frame_index", 10**9), "frame number"),
    "a declared image of 100,000 x 100,000": (lambda d: d["images"][0].update(width=100_000, height=100_000),
                                              "each side must be"),
    "a zero width": (image("width", 0), "each side must be"),
    "a clip id that is a path": (image("video", "../../x"), "plain name"),
    "two images with one id": (lambda d: d["images"][1].__setitem__("id", 1), "twice"),
    "images that are not objects": (lambda d: d.__setitem__("images", [[[[]]]]), "images[0]"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_coco_file_is_one_clear_error(tmp_path, name):
    change, words = MALFORMED[name]
    path = write(tmp_path, damaged(change))
    with pytest.raises(FormatError, match=re.escape(words)) as err:
        read_coco(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_json_nested_200000_deep_is_a_clear_error_not_a_recursion_error(tmp_path, capsys):
    deep = "[" * 200_000 + "]" * 200_000
    path = write(tmp_path, deep)
    with pytest.raises(FormatError, match="nested too deeply"):
        read_coco(path)
    doc = damaged(lambda d: d["info"].__setitem__("x", 1))
    text = json.dumps(doc).replace('"x": 1', '"x": ' + "[" * 200_000 + "]" * 200_000)
    with pytest.raises(FormatError, match="nested too deeply"):
        read_coco(write(tmp_path, text, "deep2.json"))
    code = cli.main(["-q", "export", str(path), "--to", "png", str(tmp_path / "out"), "--setting", "s4"])
    assert code == 2 and "nested too deeply" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_healthy_file_still_reads(tmp_path):
    masks = read_coco(write(tmp_path, GOOD))
    assert [(f.clip_id, f.frame) for f in masks.frames] == [("clipA", 0), ("clipA", 1)]
    assert masks.frames[0].mask.sum() > 0 and masks.frames[1].mask.sum() == 50
    check_coco_document(GOOD)  # also usable on parsed JSON


def test_frame_index_out_of_range_writes_nothing(tmp_path, capsys):
    """frame_index -1 and 1e9 used to be written as <clip>/_0.png and _1000000001.png."""
    for value in (-1, 10**9):
        path = write(tmp_path, damaged(image("frame_index", value)), f"f{value}.json")
        out = tmp_path / f"out{value}"
        code = cli.main(["-q", "import", str(path), str(out), "--setting", "s4"])
        assert code == 2 and "frame_index" in capsys.readouterr().err
        assert not out.exists()


def test_a_huge_declared_image_is_refused_before_any_allocation(tmp_path, capsys):
    path = write(tmp_path, damaged(lambda d: d["images"][0].update(width=100_000, height=100_000)))
    code = cli.main(["-q", "export", str(path), "--to", "png", str(tmp_path / "o"), "--setting", "s4"])
    err = capsys.readouterr().err
    assert code == 2 and "100000 pixels" in err and "16384" in err


def test_a_polygon_at_1e30_no_longer_kills_import_export_or_project_import(tmp_path, demo_root):
    """pycocotools crashed the process (SIGSEGV) on such a polygon: run each command in a child."""
    path = write(tmp_path, damaged(seg([[1e30, 1e30, 5, 1e30, 7, 9, 1e30, 40]])))
    nan = write(tmp_path, damaged(seg([[float("nan"), 2, 30, 2, 30, 20]])), "nan.json")
    project = tmp_path / "p.avsproj"
    with Project.create(project, "s4"):
        pass
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for argv in (["import", str(path), str(tmp_path / "a"), "--setting", "s4"],
                 ["export", str(path), "--to", "png", str(tmp_path / "b"), "--setting", "s4"],
                 ["project", "import", str(project), str(path), "--setting", "s4"],
                 ["export", str(nan), "--to", "png", str(tmp_path / "b"), "--setting", "s4"]):  # fmt: skip
        child = subprocess.run([sys.executable, "-c", "import sys; from avs_studio.cli.parser import main; "
                                "sys.exit(main(sys.argv[1:]))", "-q", *argv],
                               capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
        assert child.returncode == 2, (argv, child.returncode, child.stderr[-500:])
        assert "outside its 64 x 48 image" in child.stderr and "Traceback" not in child.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
