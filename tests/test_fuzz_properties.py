"""Property-based fuzzing of the readers at the input boundary (hypothesis): whatever bytes,
JSON or rows they are given, each either returns or raises its own one-line AVSError --
never a TypeError, a KeyError, a RecursionError or a crash.

The CLI-level fuzz (every command, damaged copies of the demo data, in a worker process) is
``tests/test_fuzz_cli.py``; this file drives the parsers directly, so it can afford many
more and stranger inputs.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avs_studio.core.audio.pickles import loads_numeric_pickle
from avs_studio.core.datasets.common import read_csv
from avs_studio.core.errors import AVSError
from avs_studio.core.export.coco_schema import check_coco_document
from avs_studio.core.fsutil import check_component, parse_json, safe_join
from avs_studio.core.project.add import read_list_file
from avs_studio.core.project.errors import ProjectCorruptError
from avs_studio.core.project.records import clip_record_from_row

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.function_scoped_fixture])

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)

GOOD_COCO = {
    "info": {"setting": "s4"},
    "images": [{"id": 1, "width": 64, "height": 48, "file_name": "a.png", "video": "clip", "frame_index": 0}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 20, 1, 20, 20]]},
                    {"id": 2, "image_id": 1, "category_id": 1,
                     "segmentation": {"size": [48, 64], "counts": [10, 20, 3042]}}],
    "categories": [{"id": 1, "name": "sounding_object"}],
}  # fmt: skip


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


COCO_PATHS = [p for p in _paths(GOOD_COCO) if p]


@SETTINGS
@given(doc=JSON)
def test_any_json_document_is_a_coco_file_or_a_format_error(doc):
    try:
        check_coco_document(doc, "x.json")
    except AVSError as exc:
        assert "\n" not in str(exc)


@SETTINGS
@given(where=st.sampled_from(COCO_PATHS), value=JSON)
def test_a_coco_file_with_any_node_replaced_is_read_or_refused(tmp_path, where, value):
    """Read all the way through pycocotools: what the checks let pass must rasterise."""
    from avs_studio.core.export.coco import read_coco

    doc = copy.deepcopy(GOOD_COCO)
    node = doc
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value
    path = tmp_path / "x.json"
    path.write_text(json.dumps(doc))
    try:
        masks = read_coco(path)
    except AVSError as exc:
        assert "\n" not in str(exc)
        return
    for frame in masks.frames:
        assert frame.mask.ndim == 2


@SETTINGS
@given(text=st.text(max_size=300))
def test_any_text_parses_as_json_or_is_a_clear_error(text):
    try:
        parse_json(text, "x.json")
    except AVSError as exc:
        assert "\n" not in str(exc).strip()


@SETTINGS
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_any_metadata_csv_is_rows_and_problems_or_a_dataset_error(tmp_path, text):
    path = tmp_path / "meta.csv"
    path.write_text(text, encoding="utf-8")
    try:
        rows = read_csv(path, ["name", "start", "category", "split"])
    except AVSError:
        return
    assert all(len(r) == len(rows.header) for _, r in rows.rows)


@SETTINGS
@given(text=st.text(max_size=300))
def test_any_list_file_is_entries_or_a_dataset_error(tmp_path, text):
    path = tmp_path / "clips.txt"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        entries = read_list_file(path)
    except AVSError:
        return
    for e in entries:
        assert isinstance(e.start, float)


@SETTINGS
@given(name=st.text(max_size=300))
def test_any_name_is_a_safe_component_or_refused(tmp_path, name):
    with contextlib.suppress(AVSError):
        check_component(name, "clip id")
    try:
        joined = safe_join(tmp_path, name)
    except AVSError:
        return
    assert tmp_path.resolve() in joined.resolve().parents or joined.resolve() == tmp_path.resolve()


@SETTINGS
@given(data=st.binary(max_size=400))
def test_any_bytes_are_a_numeric_pickle_or_refused(data):
    with contextlib.suppress(AVSError):
        loads_numeric_pickle(data, source="x.pkl")


_COLUMNS = ["uid", "source", "root_rel", "root_abs", "files", "media_hash", "duration", "start", "seconds",
            "num_frames", "frame_times", "ordinals", "annotated", "width", "height", "split", "category",
            "subset", "vid", "a_obj", "status", "annotator", "comment", "added_at", "updated_at"]  # fmt: skip
_GOOD_ROW = {"uid": "a", "source": "video", "root_rel": "", "root_abs": "/x", "files": '{"video": "a.mp4"}',
             "media_hash": "", "duration": 5.0, "start": 0.0, "seconds": 5, "num_frames": 5,
             "frame_times": "[0.5, 1.5, 2.5, 3.5, 4.5]", "ordinals": "[]", "annotated": "[0, 1]", "width": 64,
             "height": 48, "split": "", "category": "", "subset": "", "vid": "", "a_obj": "", "status": "new",
             "annotator": "", "comment": "", "added_at": "", "updated_at": ""}  # fmt: skip


@pytest.fixture(scope="module")
def row_db():
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    conn.execute(f"CREATE TABLE clips({', '.join(_COLUMNS)})")
    yield conn
    conn.close()


@SETTINGS
@given(column=st.sampled_from(_COLUMNS), value=st.none() | st.integers(-(2**62), 2**62) | st.floats()
       | st.text(max_size=40) | JSON.map(json.dumps))
def test_any_damaged_clip_row_is_a_record_or_the_corruption_error(row_db, column, value):
    row_db.execute("DELETE FROM clips")
    values = {**_GOOD_ROW, column: value}
    row_db.execute(f"INSERT INTO clips VALUES ({', '.join('?' * len(_COLUMNS))})", [values[c] for c in _COLUMNS])
    row = row_db.execute("SELECT * FROM clips").fetchone()
    try:
        rec = clip_record_from_row(row, Path("/p"), Path("/p/x.avsproj"))
    except ProjectCorruptError as exc:
        assert "damaged project" in str(exc)
        return
    assert 1 <= rec.width <= 16384 and len(rec.frame_times) == rec.num_frames
