"""Reviewing predictions: a researcher opens a model's output against the ground truth and
finds the clips it got wrong, with the official figures, per-clip and per-frame scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avs_studio.core.datasets import open_dataset
from avs_studio.core.errors import AVSError, Cancelled
from avs_studio.core.jobs import CancelToken
from avs_studio.core.masks.files import write_prediction_mask
from avs_studio.core.metrics import clip_rows
from avs_studio.core.metrics.evaluation import evaluate
from avs_studio.core.metrics.scores import write_binary_scores, write_score_file
from avs_studio.core.review.images import (
    DIFF_STYLE,
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    TRUE_POSITIVE,
    WRONG_CLASS,
    diff_codes,
    diff_counts,
    render_diff,
)
from avs_studio.core.review.session import ReviewSession
from avs_studio.core.review.table import ReviewTable

# ---------------------------------------------------------------------- predictions


def damage_binary(logits: np.ndarray, how: str) -> np.ndarray:
    """A deliberately wrong prediction: masks shifted sideways, erased, or inverted."""
    if how == "shift":
        return np.roll(logits, 48, axis=2)
    if how == "erase":
        return np.full_like(logits, -12.0)
    if how == "invert":
        return -logits
    return logits


def write_binary_predictions(dataset, out, damage=None, split=None) -> None:
    """Score maps equal to the ground truth (logits +-12), except the clips in ``damage``."""
    for clip in dataset.clips(split):
        gt, _ = clip.gt_stack()
        logits = np.where(gt > 0, 12.0, -12.0).astype(np.float32)
        logits = damage_binary(logits, (damage or {}).get(clip.clip_id, ""))
        write_binary_scores(out / "scores" / f"{clip.clip_id}.npz", logits)


def write_semantic_predictions(dataset, out, damage=None) -> None:
    """AVSS score maps from the ground truth; damaged clips get a wrong class or nothing."""
    for clip in dataset.clips():
        gt, _ = clip.gt_stack()
        labels = gt.copy()
        how = (damage or {}).get(clip.clip_id, "")
        if how == "wrong-class":
            labels[labels > 0] = np.where(labels[labels > 0] == 1, 2, 1)
        elif how == "erase":
            labels[:] = 0
        write_labels(out / "scores" / f"{clip.clip_id}.npz", labels)


def write_labels(path, labels: np.ndarray) -> None:
    """An AVSS score file as ``propose`` writes it (argmax labels and a confidence), made
    directly: softmax over 71 x 224 x 224 logits per step would only slow the tests down."""
    conf = np.full(labels.shape, 255, np.uint8)
    write_score_file(path, {"labels": labels.astype(np.uint8), "confidence": conf}, "semantic-labels")


@pytest.fixture(scope="module")
def ms3_case(demo_root, tmp_path_factory):
    """MS3 demo (every clip fully annotated, so all six are scored) with three damaged clips."""
    root = demo_root("ms3", 6, 0)
    ds = open_dataset(root)
    ids = [c.clip_id for c in ds.clips()]
    damage = {ids[1]: "shift", ids[3]: "erase", ids[4]: "invert"}
    base = tmp_path_factory.mktemp("review-ms3")
    write_binary_predictions(ds, base / "damaged", damage)
    write_binary_predictions(ds, base / "perfect")
    return root, base, damage, ids


@pytest.fixture(scope="module")
def ms3_session(ms3_case):
    root, base, _, _ = ms3_case
    with ReviewSession(base / "damaged", root, "ms3", split="all", compare=base / "perfect") as rs:
        yield rs.compute()


# ---------------------------------------------------------------------- the story


def test_the_review_finds_the_damaged_clips_first(ms3_session, ms3_case):
    _, _, damage, _ = ms3_case
    table = ms3_session.table
    worst = [table.clip_ids[i] for i in table.view()]
    assert set(worst[: len(damage)]) == set(damage)
    for i in table.view()[: len(damage)]:
        assert table.miou[i] < 0.9
    for i in table.view()[len(damage):]:
        assert table.miou[i] == 1.0 and table.fscore[i] == 1.0
    assert list(table.rank[table.view()]) == list(range(1, len(table) + 1))


def test_the_overall_figures_are_evaluates_own(ms3_session, ms3_case):
    root, base, _, _ = ms3_case
    ev = evaluate(base / "damaged", root, "ms3", split=None)
    assert ms3_session.evaluation.result["miou"] == ev.result["miou"]
    assert ms3_session.evaluation.result["fscore"] == ev.result["fscore"]
    assert ms3_session.summary_lines() == ev.summary_lines()
    assert ms3_session.summary_lines("b") == evaluate(base / "perfect", root, "ms3", split=None).summary_lines()
    figures = {f.label: f.value for f in ms3_session.figures()}
    assert figures == {"mIoU": ev.result["miou"], "F-score": ev.result["fscore"]}


def test_per_clip_rows_are_the_official_clip_rows(ms3_session):
    table = ms3_session.table
    rows = clip_rows(ms3_session.evaluation.result)
    assert [table.clip_ids[i] for i in table.order()] == [r["clip_id"] for r in rows]
    for r in rows:
        i = table.index_of(r["clip_id"])
        assert table.miou[i] == r["miou"] and table.fscore[i] == r["fscore"]
        assert table.rank[i] == r["rank"] and table.frames[i] == r["frames"]


def test_per_frame_scores_and_object_sizes(ms3_session, ms3_case):
    root, _, damage, _ = ms3_case
    table = ms3_session.table
    result = ms3_session.evaluation.result
    assert np.array_equal(table.frame_iou.ravel(), np.asarray(result["per_frame_iou"]))
    ds = open_dataset(root)
    for clip in ds.clips():
        i = table.index_of(clip.clip_id)
        gt, _ = clip.gt_stack()
        size = gt.reshape(5, -1).mean(axis=1)
        assert np.allclose(table.frame_gt_size[i], size)
        assert math.isclose(table.gt_size[i], size.mean())
        empty = size == 0
        assert np.isnan(table.frame_fscore[i][empty]).all()  # F is undefined without an object
        assert not np.isnan(table.frame_fscore[i][~empty]).any()
        if damage.get(clip.clip_id) == "erase":
            assert (table.frame_pred_size[i] == 0).all()
            assert (table.frame_iou[i][~empty] == 0).all()
        if clip.clip_id not in damage:
            assert np.allclose(table.frame_pred_size[i], size)
            assert (table.frame_fscore[i][~empty] == 1.0).all()


def test_comparing_two_models_gives_per_clip_deltas(ms3_session, ms3_case):
    _, _, damage, _ = ms3_case
    table = ms3_session.table
    assert table.compared and (table.miou_b == 1.0).all()
    assert np.allclose(table.delta_miou, 1.0 - table.miou)
    assert np.allclose(table.delta_fscore, table.fscore_b - table.fscore)
    gains = [table.clip_ids[i] for i in table.view("delta_miou", descending=True)]
    assert set(gains[: len(damage)]) == set(damage)
    for cid in set(table.clip_ids) - set(damage):
        assert table.delta_miou[table.index_of(cid)] == 0.0
    assert [c.key for c in table.columns()][-4:] == ["miou_b", "fscore_b", "delta_miou", "delta_fscore"]


def test_a_clip_in_detail_shows_where_the_prediction_went_wrong(ms3_session, ms3_case):
    _, _, damage, _ = ms3_case
    shifted = next(c for c, how in damage.items() if how == "shift")
    detail = ms3_session.clip_detail(shifted)
    assert [f.index for f in detail.frames] == [0, 1, 2, 3, 4]
    wrong = 0
    for k, f in enumerate(detail.frames):
        assert f.rgb.ndim == 3 and f.gt.shape == f.pred.shape == (224, 224)
        counts = diff_counts(f.diff())
        assert counts["tp"] + counts["fn"] == int(f.gt.sum())
        assert counts["tp"] + counts["fp"] == int(f.pred.sum())
        wrong += counts["fp"] + counts["fn"]
        assert f.diff("b") is not None and diff_counts(f.diff("b"))["fp"] == 0  # model B is perfect
        for image in (detail.gt_image(k), detail.pred_image(k), detail.pred_image(k, "b"), detail.diff_image(k)):
            assert image.dtype == np.uint8 and image.shape == f.rgb.shape
        assert detail.gt_image(k, width=100).shape[1] == 100
    assert wrong > 0
    assert detail.row["clip_id"] == shifted and detail.row["delta_miou"] > 0


def test_difference_colours_tell_false_positives_from_misses():
    gt = np.zeros((8, 8), np.uint8)
    gt[2:6, 2:6] = 1
    pred = np.zeros_like(gt)
    pred[2:6, 4:8] = 1
    codes = diff_codes(gt, pred, binary=True)
    assert codes[3, 3] == FALSE_NEGATIVE and codes[3, 4] == TRUE_POSITIVE and codes[3, 7] == FALSE_POSITIVE
    assert codes[0, 0] == 0
    picture = render_diff(np.full((8, 8, 3), 128, np.uint8), codes)
    for (r, c), code in (((3, 3), FALSE_NEGATIVE), ((3, 4), TRUE_POSITIVE), ((3, 7), FALSE_POSITIVE)):
        colour = np.asarray(DIFF_STYLE[code][0])
        assert np.abs(picture[r, c].astype(int) - colour).max() < 60  # the error's own colour
    assert picture[0, 0].max() < 80  # agreeing background is dimmed grey
    labels_gt = np.array([[0, 3, 3, 5]])
    labels_pred = np.array([[4, 3, 5, 0]])
    assert list(diff_codes(labels_gt, labels_pred, binary=False)[0]) == [
        FALSE_POSITIVE, TRUE_POSITIVE, WRONG_CLASS, FALSE_NEGATIVE,
    ]  # fmt: skip


def test_avss_review_groups_by_sounding_class(demo_root, tmp_path):
    root = demo_root("avss", 4, 0)
    ds = open_dataset(root)
    clips = ds.clips()
    damage = {clips[0].clip_id: "wrong-class", clips[2].clip_id: "erase"}
    write_semantic_predictions(ds, tmp_path, damage)
    with ReviewSession(tmp_path, root, "avss", split="all") as rs:
        rs.compute()
        ev = evaluate(tmp_path, root, "avss", split=None)
        assert rs.summary_lines() == ev.summary_lines()
        labels = [f.label for f in rs.figures()]
        assert labels == ["mIoU", "F-score", "mIoU noBg", "F noBg", "mIoU w/o background", "F w/o background"]
        assert [f.official for f in rs.figures()] == [True, True, True, True, False, False]
        table = rs.table
        assert set(table.clip_ids[i] for i in table.view()[:2]) == set(damage)
        # AVSS categories are the sounding classes of a_obj; the filter matches any of them
        for clip in clips:
            i = table.index_of(clip.clip_id)
            assert table.categories[i] == clip.category
            assert set(table.tags[i]) == set(clip.category.split("_"))
        tag = table.tags[table.index_of(clips[0].clip_id)][0]
        chosen = {table.clip_ids[i] for i in table.view(categories={tag})}
        assert chosen == {c.clip_id for c in clips if tag in c.category.split("_")}
        stats = {s.name: s for s in table.category_stats()}
        assert stats[tag].clips == len(chosen)
        # padded steps of the 5-second clips are flagged, and have no object size
        v1 = next(c for c in clips if c.num_frames == 5)
        i = table.index_of(v1.clip_id)
        assert table.frame_padded[i].tolist() == [False] * 5 + [True] * 5
        assert np.isnan(table.frame_gt_size[i][5:]).all()
        wrong = rs.clip_detail(clips[0].clip_id)
        codes = np.concatenate([f.diff() for f in wrong.frames if f.gt is not None])
        assert diff_counts(codes)["wrong"] > 0 and diff_counts(codes)["fp"] == 0
        assert len(wrong.frames) == clips[0].num_frames


def test_hard_mask_predictions_are_labelled_as_such(demo_root, tmp_path):
    root = demo_root("s4", 6, 0)
    ds = open_dataset(root)
    for clip in ds.clips("test"):
        for k in range(5):
            write_prediction_mask(tmp_path / "pred_masks" / clip.category / clip.clip_id / f"{clip.clip_id}_{k}.png",
                                  clip.mask(k))  # fmt: skip
    with ReviewSession(tmp_path, root, "s4") as rs:
        rs.compute()
        assert rs.summary_lines() == evaluate(tmp_path, root, "s4").summary_lines()
        f = rs.figures()[1]
        assert f.label == "F-score*" and "hard masks" in f.note
        i = 0
        assert rs.table.categories[i] == ds.clips("test")[0].category
        assert rs.table.tags[i] == (rs.table.categories[i],)
        assert rs.table.miou[i] == 1.0


def test_a_project_can_be_the_ground_truth(ms3_case, tmp_path):
    from avs_studio.core.project.project import Project

    root, base, damage, _ = ms3_case
    path = tmp_path / "gt.avsproj"
    with Project.create(path, "ms3") as project:
        project.add_clips_from_dataset(root)
    with ReviewSession(base / "damaged", root, "ms3", split="all") as from_dataset:
        from_dataset.compute()
    with ReviewSession(base / "damaged", path, "ms3", split="all") as from_project:
        assert from_project.gt_kind == "project"
        from_project.compute()
        assert from_project.evaluation.result["miou"] == from_dataset.evaluation.result["miou"]
        assert from_project.evaluation.result["fscore"] == from_dataset.evaluation.result["fscore"]
        assert from_project.summary_lines() == from_dataset.summary_lines()
        a, b = from_project.table, from_dataset.table
        assert a.clip_ids == b.clip_ids
        assert np.array_equal(a.miou, b.miou) and np.array_equal(a.frame_gt_size, b.frame_gt_size)
        shifted = next(c for c, how in damage.items() if how == "shift")
        assert from_project.clip_detail(shifted).frames[0].rgb.shape == (224, 224, 3)
    with pytest.raises(AVSError, match="MS3 project"):
        ReviewSession(base / "damaged", path, "s4")


def test_the_job_reports_progress_and_can_be_cancelled(ms3_case):
    root, base, _, _ = ms3_case
    seen = []
    with ReviewSession(base / "damaged", root, "ms3", split="all", compare=base / "perfect") as rs:
        rs.compute(lambda done, total, message="": seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] == 18  # three passes over six clips
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    token = CancelToken()

    def cancel_soon(done, total, message=""):
        if done >= 3:
            token.cancel()

    with ReviewSession(base / "damaged", root, "ms3", split="all") as rs:
        with pytest.raises(Cancelled):
            rs.compute(cancel_soon, token)
        assert not rs.computed


def test_user_errors_are_clear(ms3_case, tmp_path):
    root, base, _, _ = ms3_case
    with pytest.raises(AVSError, match="no such dataset folder or project file"):
        ReviewSession(base / "damaged", tmp_path / "nowhere", "ms3")
    with pytest.raises(AVSError, match="not a folder of predictions"):
        ReviewSession(tmp_path / "nothing", root, "ms3")
    with pytest.raises(AVSError, match="unknown setting"):
        ReviewSession(base / "damaged", root, "s5")
    with ReviewSession(base / "damaged", root, "ms3", split="all") as rs, pytest.raises(AVSError, match="compute"):
        rs.clip_detail("x")


# ---------------------------------------------------------------------- the table alone


def make_table(n: int = 9) -> ReviewTable:
    miou = [0.5, None, 0.2, 0.9, 0.2, 0.7, 0.2, 1.0, 0.05][:n]
    fscore = [0.6, None, 0.3, 0.9, 0.1, 0.8, 0.3, 1.0, 0.2][:n]
    cats = ["dog", "cat", "Dog", "bird", "cat", "dog", "", "bird", "cat"][:n]
    return ReviewTable.from_columns(
        [f"clip{i}" for i in range(n)], miou, fscore, categories=cats,
        subsets=["v1s", "v2"] * 4 + ["v1m"], gt_size=np.linspace(0.01, 0.5, n),
        miou_b=[0.6] * n, fscore_b=[0.5] * n,
    )  # fmt: skip


def test_worst_first_is_clip_rows_order_with_ties_and_missing_values():
    t = make_table()
    result = {
        "protocol": "official", "clip_ids": t.clip_ids, "per_clip_iou": [None if math.isnan(v) else v for v in t.miou],
        "per_clip_fscore": [None if math.isnan(v) else v for v in t.fscore], "per_clip_frames": [5] * len(t),
        "per_clip_empty_gt_frames": [0] * len(t),
    }  # fmt: skip
    assert [t.clip_ids[i] for i in t.order()] == [r["clip_id"] for r in clip_rows(result)]
    assert t.clip_ids[t.order()[-1]] == "clip1"  # no value: last
    assert t.clip_ids[t.order(descending=True)[-1]] == "clip1"  # last in either direction
    assert t.clip_ids[t.order(descending=True)[0]] == "clip7"


def test_sorting_any_column_keeps_missing_values_last_and_ties_stable():
    t = make_table()
    order = t.order("miou")
    values = t.miou[order]
    assert np.isnan(values[-1]) and (np.diff(values[:-1]) >= 0).all()
    ties = [t.clip_ids[i] for i in order if t.miou[i] == 0.2]
    assert ties == ["clip2", "clip4", "clip6"]  # evaluation order among equals
    down = t.order("miou", descending=True)
    assert np.isnan(t.miou[down[-1]]) and t.clip_ids[down[0]] == "clip7"
    cats = [t.categories[i] for i in t.order("category")]
    assert cats == sorted(cats, key=str.casefold)
    assert [t.categories[i] for i in t.order("category", descending=True)][0] == "dog"
    assert t.order("gt_size") is t.order("gt_size")  # cached, not recomputed
    assert list(t.order("rank")) == list(t.order())
    d = t.order("delta_miou", descending=True)
    assert t.clip_ids[d[0]] == "clip8" and np.isnan(t.delta_miou[d[-1]])


def test_filters_combine_category_subset_range_and_text():
    t = make_table()
    assert t.all_tags() == ["Dog", "bird", "cat", "dog"]
    rows = t.view(categories={"cat"})
    assert [t.clip_ids[i] for i in rows] == ["clip8", "clip4", "clip1"]  # worst first, no value last
    rows = t.view(ranges={"miou": (0.1, 0.6)})
    assert sorted(t.clip_ids[i] for i in rows) == ["clip0", "clip2", "clip4", "clip6"]
    rows = t.view(ranges={"miou": (None, 0.2)}, subsets={"v1s"})
    assert sorted(t.clip_ids[i] for i in rows) == ["clip2", "clip4", "clip6"]
    assert [t.clip_ids[i] for i in t.view(text="DOG")] == ["clip2", "clip0", "clip5"]
    assert [t.clip_ids[i] for i in t.view(text="clip7")] == ["clip7"]
    assert len(t.view(categories={"nothing"})) == 0
    assert len(t.view(categories=set(), text="")) == 0  # an empty category choice shows nothing
    assert list(t.view(text="")) == list(t.order())


def test_cells_are_formatted_once_for_a_table_model():
    t = make_table()
    assert t.cell(0, "miou") == "0.5000" and t.cell(1, "miou") == ""
    assert t.cell(0, "delta_miou") == "+0.1000"
    assert t.cell(0, "rank") == str(int(t.rank[0]))
    assert t.text("miou") is t.text("miou")
    assert t.cell(3, "clip_id") == "clip3"
    assert t.cell(0, "gt_size") == "1.0%"  # object size reads as a share of the frame
    with pytest.raises(KeyError):
        t.column("nonsense")


def test_plot_data_for_the_gui():
    t = make_table()
    edges, counts = t.histogram("miou", bins=10)
    assert len(edges) == 11 and counts.sum() == 8 and counts[-1] == 2  # 0.9 and 1.0: the last bin is closed
    stats = t.category_stats()
    assert [s.name for s in stats][:2] == ["cat", "Dog"]  # worst mean first (0.125, 0.2)
    cat = next(s for s in stats if s.name == "cat")
    assert cat.clips == 3 and math.isclose(cat.mean_miou, (0.2 + 0.05) / 2)
    size, iou = t.size_vs_iou()
    assert len(size) == len(iou) == 8
    sub = t.category_stats(rows=t.view(subsets={"v1s"}))
    assert all(s.clips <= 3 for s in sub)


def test_reviewing_all_clips_scores_s4_train_clips_on_their_one_mask_and_says_so(demo_root, tmp_path):
    # S4 train clips carry the first frame's mask only (formats.md §1.4): "all clips" used to
    # abort; now every clip is scored on the frames that have masks, and the figures say so.
    root = demo_root("s4", 6, 0)
    ds = open_dataset(root)
    train = [c.clip_id for c in ds.clips("train")]
    assert train and all(ds.get(c).annotated == (0,) for c in train)
    write_binary_predictions(ds, tmp_path, damage={train[0]: "invert"})
    with ReviewSession(tmp_path, root, "s4", split="all") as rs:
        rs.compute()
        table = rs.table
        assert set(table.clip_ids) == {c.clip_id for c in ds.clips()}
        row = table.index_of(train[0])
        assert table.miou[row] == 0.0  # its one mask, inverted
        assert not np.isnan(table.frame_iou[row, 0]) and np.isnan(table.frame_iou[row, 1:]).all()
        assert any("only some frames" in n and train[0] in n for n in rs.notes)
        assert "annotated frames only" in rs.summary_lines()[0]
        detail = rs.clip_detail(train[0])
        assert detail.frames[0].gt is not None and all(f.gt is None for f in detail.frames[1:])
    # the val/test figures stay the official ones
    ev = evaluate(tmp_path, root, "s4", split="test")
    assert "official protocol" in ev.summary_lines()[0] and ev.clips == len(ds.clips("test"))
