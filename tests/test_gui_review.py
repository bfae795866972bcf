"""The review window as a researcher meets it: a model's predictions against the ground truth
of small demo datasets, with a few clips deliberately damaged (offscreen, silent sink)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from avs_studio.core.datasets import open_dataset
from avs_studio.core.metrics.evaluation import evaluate
from avs_studio.core.metrics.scores import write_binary_scores, write_score_file

# ---------------------------------------------------------------------- predictions
# (small pieces of tests/test_review.py: predictions made from the ground truth, some damaged)


def write_binary_predictions(dataset, out, damage=None) -> None:
    """Score maps equal to the ground truth (logits +-12), except the clips in ``damage``."""
    for clip in dataset.clips():
        gt, _ = clip.gt_stack()
        logits = np.where(gt > 0, 12.0, -12.0).astype(np.float32)
        how = (damage or {}).get(clip.clip_id, "")
        if how == "shift":
            logits = np.roll(logits, 48, axis=2)
        elif how == "erase":
            logits = np.full_like(logits, -12.0)
        write_binary_scores(out / "scores" / f"{clip.clip_id}.npz", logits)


def write_semantic_predictions(dataset, out, damage=None) -> None:
    """AVSS labels from the ground truth; damaged clips get a wrong class or nothing."""
    for clip in dataset.clips():
        gt, _ = clip.gt_stack()
        labels = gt.astype(np.uint8)
        how = (damage or {}).get(clip.clip_id, "")
        if how == "wrong-class":
            labels[labels > 0] = np.where(labels[labels > 0] == 1, 2, 1)
        elif how == "erase":
            labels[:] = 0
        conf = np.full(labels.shape, 255, np.uint8)
        write_score_file(out / "scores" / f"{clip.clip_id}.npz", {"labels": labels, "confidence": conf},
                         "semantic-labels")  # fmt: skip


@pytest.fixture(scope="module")
def ms3_case(demo_root, tmp_path_factory):
    """MS3 demo (every clip annotated) with two damaged clips, and a perfect second model."""
    root = demo_root("ms3", 6, 0)
    ds = open_dataset(root)
    ids = [c.clip_id for c in ds.clips()]
    damage = {ids[1]: "shift", ids[4]: "erase"}
    base = tmp_path_factory.mktemp("gui-review")
    write_binary_predictions(ds, base / "damaged", damage)
    write_binary_predictions(ds, base / "perfect")
    return root, base, damage, ids


# ---------------------------------------------------------------------- the window


@pytest.fixture
def errors(monkeypatch, tmp_path):
    """Message boxes are recorded, never shown; preferences go to a temporary file."""
    monkeypatch.setenv("AVS_STUDIO_SETTINGS", str(tmp_path / "settings.ini"))
    seen: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: seen.append(a[2]))
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: None)
    return seen


@pytest.fixture
def make_window(qtbot, errors):
    from avs_studio.gui.review.window import ReviewWindow

    def make(**kw):
        win = ReviewWindow(**kw)
        qtbot.addWidget(win)
        win.resize(1600, 1000)
        win.show()
        return win

    return make


def open_and_wait(qtbot, win, *args, **kw) -> None:
    """Open a review and wait until it is scored and its worst clip is on screen."""
    win.open_review(*args, **kw)
    qtbot.waitUntil(lambda: win.session is not None and win.detail.data is not None and win.jobs.is_idle,
                    timeout=60000)  # fmt: skip


def wait_clip(qtbot, win, clip_id: str) -> None:
    qtbot.waitUntil(lambda: win.shown_clip == clip_id and win.jobs.is_idle, timeout=30000)


def ctrl_wheel(view, steps: int = 1) -> None:
    """Ctrl+wheel over the middle of a view."""
    pos = QPointF(view.viewport().rect().center())
    event = QWheelEvent(pos, QPointF(view.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)  # fmt: skip
    QApplication.sendEvent(view.viewport(), event)


# ---------------------------------------------------------------------- the story


def test_the_damaged_clips_come_first_under_evaluates_own_figures(qtbot, make_window, ms3_case):
    root, base, damage, _ = ms3_case
    win = make_window()
    open_and_wait(qtbot, win, base / "damaged", root, "ms3", split="all")
    shown = win.model.shown_clip_ids()
    assert set(shown[: len(damage)]) == set(damage)  # worst first by default
    assert win.shown_clip == shown[0]  # and the worst clip is open
    ev = evaluate(base / "damaged", root, "ms3", split=None)
    assert win.figures.values["miou"].text() == f"{ev.result['miou']:.4f}"
    assert win.figures.values["fscore"].text() == f"{ev.result['fscore']:.4f}"
    assert win.figures.evaluate_text.toPlainText() == "\n".join(ev.summary_lines())
    # the table's cells are the official per-clip values
    col = win.model.column_of("miou")
    for row in range(win.model.rowCount()):
        cid = win.model.clip_id(row)
        i = win.session.table.index_of(cid)
        assert win.model.index(row, col).data() == f"{win.session.table.miou[i]:.4f}"
    assert "6 clips" in win.filter_bar.count.text()


def test_all_clips_of_an_s4_dataset_are_scored_with_its_one_mask_train_clips_and_the_window_says_so(
    qtbot, make_window, errors, demo_root, tmp_path
):
    """S4 train clips carry the first frame's mask only. Reviewing "all clips" opens (it used
    to abort), scores the train clips on the frame they have, and says so above the table
    and in the figures; the train clip's other frames show "no ground truth"."""
    root = demo_root("s4", 6, 0)
    ds = open_dataset(root)
    train = [c for c in ds.clips("train") if c.mask(0) is not None and c.mask(0).any()]
    assert train and all(c.annotated == (0,) for c in train)
    erased = train[0].clip_id
    write_binary_predictions(ds, tmp_path / "pred", {erased: "erase"})  # its one mask missed
    win = make_window()
    win.open_review(tmp_path / "pred", root, "s4", split="all")
    qtbot.waitUntil(lambda: bool(errors) or (win.session is not None and win.detail.data is not None
                                             and win.jobs.is_idle), timeout=60000)  # fmt: skip
    assert not errors  # no "Cannot review these predictions"
    table = win.session.table
    assert set(win.model.shown_clip_ids()) == {c.clip_id for c in ds.clips()}  # train, val and test
    assert f"{len(ds.clips())} clips" in win.filter_bar.count.text()
    row = table.index_of(erased)
    assert table.miou[row] == 0.0 and win.shown_clip == erased  # the worst clip, opened first
    assert not np.isnan(table.frame_iou[row, 0]) and np.isnan(table.frame_iou[row, 1:]).all()
    # the window says what was scored: above the table and in evaluate's own lines
    assert win.figures.notes.isVisibleTo(win) and "only some frames" in win.figures.notes.text()
    assert erased in win.figures.notes.text()
    assert "annotated frames only" in win.figures.evaluate_text.toPlainText().splitlines()[0]
    ev = evaluate(tmp_path / "pred", root, "s4", split=None)
    assert win.figures.values["miou"].text() == f"{ev.result['miou']:.4f}"
    # the clip's frames: the first with its ground truth and errors, the others without
    pane = win.detail
    assert len(pane.rows) == 5
    assert pane.data.frames[0].has_gt and pane.data.images[0]["diff_a"] is not None
    assert pane.data.frames[0].counts["fn"] > 0  # the missed object
    assert all(not f.has_gt for f in pane.data.frames[1:])
    assert all(pane.data.images[k]["diff_a"] is None and "no ground truth" in pane.rows[k].label.text()
               for k in range(1, 5))  # fmt: skip


def test_sorting_and_filtering_change_the_rows(qtbot, make_window, ms3_case):
    root, base, damage, ids = ms3_case
    win = make_window()
    open_and_wait(qtbot, win, base / "damaged", root, "ms3", split="all")
    table = win.session.table
    # a click on the mIoU header sorts by it; a second click reverses it
    col = win.model.column_of("miou")
    win.table_view.sortByColumn(col, Qt.SortOrder.DescendingOrder)  # what a header click does
    values = [table.miou[table.index_of(c)] for c in win.model.shown_clip_ids()]
    assert values == sorted(values, reverse=True)
    assert set(win.model.shown_clip_ids()[-len(damage):]) == set(damage)
    win.table_view.sortByColumn(win.model.column_of("clip_id"), Qt.SortOrder.AscendingOrder)
    assert win.model.shown_clip_ids() == sorted(ids, key=str.casefold)
    # the clip shown stays selected through the re-sorting
    assert win.model.clip_id(win.table_view.currentIndex().row()) == win.shown_clip
    # a score range keeps the clips inside it, and the plots follow the filter
    win.filter_bar.set_range("miou", 0.99, None)
    kept = win.model.shown_clip_ids()
    assert set(kept) == set(ids) - set(damage)
    assert win.plots.histogram.counts.sum() == len(kept)
    assert f"{len(kept)} of 6 clips" == win.filter_bar.count.text()
    win.filter_bar.set_text(ids[2][:5])
    assert win.model.shown_clip_ids() == [ids[2]]
    win.filter_bar.reset()
    assert len(win.model.shown_clip_ids()) == 6
    # clicking the lowest histogram bar shows the clips it counts
    plot = win.plots.histogram
    plot.repaint()
    i = int(np.flatnonzero(plot.counts)[0])
    lo, hi = plot.edges[i], plot.edges[i + 1]
    QTest.mouseClick(plot, Qt.MouseButton.LeftButton, pos=QPoint(round(plot.x((lo + hi) / 2)),
                                                                round(plot.plot_rect().center().y())))  # fmt: skip
    low = win.model.shown_clip_ids()
    assert len(low) == plot.counts.sum() == plot.counts[i]
    assert all(lo - 0.005 <= table.miou[table.index_of(c)] <= hi + 0.005 for c in low)


def test_a_clip_shows_every_frame_with_its_errors_in_views_that_zoom_together(qtbot, make_window, ms3_case):
    root, base, damage, _ = ms3_case
    win = make_window()
    open_and_wait(qtbot, win, base / "damaged", root, "ms3", split="all")
    shifted = next(c for c, how in damage.items() if how == "shift")
    assert win.select_clip(shifted)
    wait_clip(qtbot, win, shifted)
    pane = win.detail
    assert len(pane.rows) == 5 and all(len(r.views) == 3 for r in pane.rows)
    detail = win.session.clip_detail(shifted)
    for k, row in enumerate(pane.rows):
        assert pane.data.images[k]["diff_a"] is not None  # MS3: every frame has ground truth
        assert f"{detail.frames[k].iou:.3f}" in row.label.text()
        errors = pane.data.frames[k].counts
        assert errors["fp"] + errors["fn"] > 0  # the shifted mask is wrong in every frame
    # the difference picture paints false positives and misses in their own colours
    from avs_studio.core.review.images import DIFF_STYLE, FALSE_NEGATIVE, FALSE_POSITIVE

    img = pane.data.images[0]["diff_a"]
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3]
    arr = arr.reshape(img.height(), img.width(), 3).astype(int)
    for code in (FALSE_POSITIVE, FALSE_NEGATIVE):
        colour = np.asarray(DIFF_STYLE[code][0])
        assert (np.abs(arr - colour).max(axis=2) < 60).any()
    # Ctrl+wheel over one view zooms every view of the clip by the same factor
    views = pane.views()
    # the rows are laid out (every view at its final height) and the group has applied it
    qtbot.waitUntil(lambda: views[0].transform().m11() > 0 and pane.group.settled
                    and len({v.viewport().height() for v in views}) == 1, timeout=5000)  # fmt: skip
    before = views[0].transform().m11()
    ctrl_wheel(views[4])
    after = [v.transform().m11() for v in views]
    assert after[0] == pytest.approx(before * 1.25)
    assert all(a == pytest.approx(after[0]) for a in after)
    # dragging one pans them all: every view looks at the same scene point
    win.actions_by_id["zoom_in"].trigger()
    v = views[1]
    v.horizontalScrollBar().setValue(v.horizontalScrollBar().value() + 30)

    def centres_apart() -> float:
        centre = v.mapToScene(v.viewport().rect().center())
        return max(max(abs(c.x() - centre.x()), abs(c.y() - centre.y()))
                   for c in (o.mapToScene(o.viewport().rect().center()) for o in views))  # fmt: skip

    qtbot.waitUntil(lambda: centres_apart() <= 1.5, timeout=3000)  # a late re-layout re-centres them
    win.actions_by_id["zoom_fit"].trigger()
    assert pane.group.fit and views[0].transform().m11() == pytest.approx(before)
    # frames step, and each frame's audio window plays (the silent sink keeps the clock)
    win.actions_by_id["next_frame"].trigger()
    assert pane.current == 1 and pane.timeline.current_frame() == 1
    assert pane.timeline.frame_times() == pytest.approx(pane.data.frame_times)
    win.actions_by_id["play_window"].trigger()
    assert pane.player.state == "playing" and pane.player.window[0] == pytest.approx(0.96)
    win.actions_by_id["play"].trigger()  # the whole clip from this frame
    assert pane.player.state == "playing" and pane.player.window is None
    win.actions_by_id["play"].trigger()
    assert pane.player.state == "paused"


def test_two_models_compared_give_deltas_and_a_three_way_view(qtbot, make_window, ms3_case):
    root, base, damage, _ = ms3_case
    win = make_window()
    open_and_wait(qtbot, win, base / "damaged", root, "ms3", split="all", compare=base / "perfect")
    assert {"miou_b", "delta_miou", "delta_fscore"} <= set(win.model.keys)
    b = evaluate(base / "perfect", root, "ms3", split=None)
    a = evaluate(base / "damaged", root, "ms3", split=None)
    assert f"B {b.result['miou']:.4f}" in win.figures.values["miou_b"].text()
    assert f"{b.result['miou'] - a.result['miou']:+.4f}" in win.figures.values["miou_b"].text()
    win.table_view.sortByColumn(win.model.column_of("delta_miou"), Qt.SortOrder.DescendingOrder)
    gains = win.model.shown_clip_ids()
    assert set(gains[: len(damage)]) == set(damage)  # B gains most where A was damaged
    assert win.model.index(0, win.model.column_of("delta_miou")).data().startswith("+")
    win.select_clip(gains[0])
    wait_clip(qtbot, win, gains[0])
    pane = win.detail
    assert [v.role for v in pane.rows[0].views] == ["gt", "a", "b", "diff"]
    shown = pane.rows[0].view("diff").item.pixmap().toImage()
    assert shown == pane.data.images[0]["diff_a"].convertToFormat(shown.format())
    win.actions_by_id["diff_b"].trigger()  # model B's errors instead
    shown = pane.rows[0].view("diff").item.pixmap().toImage()
    assert shown == pane.data.images[0]["diff_b"].convertToFormat(shown.format())
    assert pane.data.frames[0].counts_b["fp"] == pane.data.frames[0].counts_b["fn"] == 0


def test_avss_review_filters_by_class_and_subset_and_notes_the_official_quirk(qtbot, make_window, demo_root,
                                                                             tmp_path):  # fmt: skip
    root = demo_root("avss", 4, 0)
    ds = open_dataset(root)
    clips = ds.clips()
    damage = {clips[0].clip_id: "wrong-class", clips[2].clip_id: "erase"}
    write_semantic_predictions(ds, tmp_path / "pred", damage)
    win = make_window()
    open_and_wait(qtbot, win, tmp_path / "pred", root, None, split="all")  # the setting from the files
    assert win.session.setting.value == "avss"
    assert set(win.model.shown_clip_ids()[:2]) == set(damage)
    ev = evaluate(tmp_path / "pred", root, "avss", split=None)
    assert win.figures.evaluate_text.toPlainText() == "\n".join(ev.summary_lines())
    assert win.figures.values["miou_nobg_official"].text() == f"{ev.result['miou_nobg_official']:.4f}"
    assert "woman" in win.figures.tiles["miou_nobg_official"].toolTip()  # the noBg quirk, said
    # the category filter matches any sounding class of a clip
    tag = clips[0].category.split("_")[0]
    win.filter_bar.set_category(tag)
    assert set(win.model.shown_clip_ids()) == {c.clip_id for c in clips if tag in c.category.split("_")}
    assert [s.name for s in win.plots.categories.stats if s.name == tag]
    win.filter_bar.set_category(None)
    subset = clips[1].subset
    win.filter_bar.set_subset(subset)
    assert set(win.model.shown_clip_ids()) == {c.clip_id for c in clips if c.subset == subset}
    # a wrong class is painted as such, and the frame lists the classes of its ground truth
    win.filter_bar.reset()
    win.select_clip(clips[0].clip_id)
    wait_clip(qtbot, win, clips[0].clip_id)
    first = win.detail.data.frames[0]
    assert first.counts["wrong"] > 0 and first.gt_classes
    assert first.gt_classes[0][0] in win.detail.rows[0].label.text()


def test_fix_the_ground_truth_opens_the_clip_in_the_annotator(qtbot, make_window, ms3_case, tmp_path):
    from avs_studio.core.project.project import Project
    from avs_studio.gui.annotator.window import AnnotatorWindow

    root, base, damage, _ = ms3_case
    path = tmp_path / "gt.avsproj"
    with Project.create(path, "ms3", user="ana") as project:
        project.add_clips_from_dataset(root)
    made = []

    def factory():
        ann = AnnotatorWindow()
        qtbot.addWidget(ann)
        made.append(ann)
        return ann

    win = make_window(annotator_factory=factory)
    open_and_wait(qtbot, win, base / "damaged", path, None, split="all")
    assert win.session.gt_kind == "project" and win.session.setting.value == "ms3"
    shifted = next(c for c, how in damage.items() if how == "shift")
    win.select_clip(shifted)
    wait_clip(qtbot, win, shifted)
    win.actions_by_id["fix_gt"].trigger()
    assert made, "an annotator was opened"
    ann = made[0]
    qtbot.waitUntil(lambda: ann.loaded is not None and ann.loaded.record.clip_id == shifted and ann.jobs.is_idle,
                    timeout=30000)  # fmt: skip
    assert ann.project.path == path and not ann.project.readonly  # editable beside the open review
    assert ann.session.objects(0)  # the ground truth is there to be corrected
    # a second fix reuses the same annotator
    other = next(c for c in win.model.shown_clip_ids() if c != shifted)
    win.select_clip(other)
    wait_clip(qtbot, win, other)
    win.fix_ground_truth()
    qtbot.waitUntil(lambda: ann.loaded.record.clip_id == other and ann.jobs.is_idle, timeout=30000)
    assert len(made) == 1
    said = []
    ann.show_error = lambda message, title=None: said.append(message)
    assert not ann.open_project_at_clip(path, "no-such-clip") and said == [f"{path.name} has no clip no-such-clip"]
    ann.close()


def test_fixing_a_dataset_ground_truth_goes_through_a_project_made_from_it(qtbot, make_window, ms3_case,
                                                                         tmp_path, monkeypatch):  # fmt: skip
    import shutil

    from PySide6.QtWidgets import QFileDialog

    from avs_studio.gui.annotator.window import AnnotatorWindow

    root, base, damage, _ = ms3_case
    data = tmp_path / "data"
    shutil.copytree(root.parent, data)  # the project is made beside the dataset: keep the shared one clean
    root = data / root.name
    made = []

    def factory():
        made.append(AnnotatorWindow())
        qtbot.addWidget(made[-1])
        return made[-1]

    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda _p, _t, default, *_a: (default, ""))
    win = make_window(annotator_factory=factory)
    open_and_wait(qtbot, win, base / "damaged", root, "ms3", split="all")
    erased = next(c for c, how in damage.items() if how == "erase")
    win.select_clip(erased)
    wait_clip(qtbot, win, erased)
    win.fix_ground_truth()
    assert "Create an annotation project" in asked[-1]
    ann = made[0]
    qtbot.waitUntil(lambda: ann.loaded is not None and ann.loaded.record.clip_id == erased and ann.jobs.is_idle,
                    timeout=60000)  # fmt: skip
    expected = root.parent / f"{root.name}-ms3.avsproj"
    assert ann.project.path == expected and len(ann.project) == 6
    # the next time, the project made from the dataset is offered instead of a new one
    win.fix_ground_truth()
    assert expected.name in asked[-1]
    ann.close()


def test_a_bad_folder_shows_a_message_and_the_window_lives_on(qtbot, make_window, ms3_case, tmp_path, errors):
    root, base, _, _ = ms3_case
    win = make_window()
    (tmp_path / "empty").mkdir()
    win.open_review(tmp_path / "empty", root, "ms3", split="all")
    qtbot.waitUntil(lambda: win.jobs.is_idle and len(errors) == 1, timeout=30000)
    assert "no predictions found" in errors[-1]
    assert win.session is None and win.stack.currentIndex() == 0
    win.open_review(base / "damaged", root, "s4", split="all")  # the wrong setting for this folder
    qtbot.waitUntil(lambda: win.jobs.is_idle and len(errors) == 2, timeout=30000)
    assert "s4_meta_data.csv" in errors[-1]
    open_and_wait(qtbot, win, base / "damaged", root, "ms3", split="all")
    good = win.session
    win.open_review(base / "damaged", tmp_path / "nowhere", "ms3")
    qtbot.waitUntil(lambda: win.jobs.is_idle and len(errors) == 3, timeout=30000)
    assert "no such dataset folder or project file" in errors[-1]
    assert win.session is good and win.model.rowCount() == 6  # what was shown stays


def test_the_open_dialog_tells_the_setting_from_the_files(qtbot, errors, ms3_case, demo_root, tmp_path, monkeypatch):
    from avs_studio.core.project.project import Project
    from avs_studio.core.setting import Setting
    from avs_studio.gui.review.open_dialog import OpenReviewDialog, guess_setting
    from avs_studio.gui.review.window import ReviewWindow

    root, base, _, _ = ms3_case
    assert [s.value for s in guess_setting(base / "damaged", root)[0]] == ["ms3"]
    assert [s.value for s in guess_setting(base / "damaged", None)[0]] == ["s4", "ms3"]  # scores alone: binary
    path = tmp_path / "p.avsproj"
    Project.create(path, "ms3", user="ana").close()
    assert guess_setting(None, path) == ([Setting.MS3], "the project")
    win = ReviewWindow()
    qtbot.addWidget(win)

    def fill(dialog: OpenReviewDialog) -> int:
        dialog.pred_edit.setText(str(base / "damaged"))
        dialog.gt_edit.setText(str(root))
        dialog.compare_edit.setText(str(base / "perfect"))
        dialog.split_combo.setCurrentIndex(dialog.split_combo.findData("all"))
        dialog._detect()
        assert "MS3" in dialog.detected.text()
        dialog._accept()
        return dialog.result()

    monkeypatch.setattr(OpenReviewDialog, "exec", fill)
    win.open_dialog()
    qtbot.waitUntil(lambda: win.session is not None and win.jobs.is_idle, timeout=60000)
    assert win.request.split == "all" and win.session.compared and win.request.setting == "ms3"


def test_the_annotator_and_the_command_line_open_the_review(qtbot, errors, ms3_case, monkeypatch):
    from avs_studio.gui import app as app_module
    from avs_studio.gui.annotator.window import AnnotatorWindow
    from avs_studio.gui.review.open_dialog import OpenReviewDialog
    from avs_studio.gui.review.window import ReviewWindow

    root, base, _, _ = ms3_case
    monkeypatch.setattr(OpenReviewDialog, "exec", lambda self: QDialog.DialogCode.Rejected)
    ann = AnnotatorWindow()
    qtbot.addWidget(ann)
    act = next(a for a in ann.menuBar().actions()[0].menu().actions() if a.objectName() == "review_predictions")
    act.trigger()
    assert isinstance(ann.review_window, ReviewWindow) and ann.review_window.annotator is ann
    qtbot.addWidget(ann.review_window)
    # python main.py --review PRED GT --split all (the setting from the files)
    monkeypatch.setattr(QApplication, "exec", lambda *a: 0)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # run() installs its own: restored after
    before = {id(w) for w in QApplication.topLevelWidgets()}
    assert app_module.run(["--review", str(base / "damaged"), str(root), "--split", "all"]) == 0
    win = next(w for w in QApplication.topLevelWidgets() if isinstance(w, ReviewWindow) and id(w) not in before)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.session is not None and win.jobs.is_idle, timeout=60000)
    assert win.session.setting.value == "ms3" and win.request.split == "all"
