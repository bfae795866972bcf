"""Starting AVS Studio: the demo project, dataset folders, the read-only browser, shortcuts."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from avs_studio.gui.browser import DatasetBrowser
from avs_studio.gui.common import demo as app_demo


@pytest.fixture(autouse=True)
def settings_file(tmp_path, monkeypatch):
    """Preferences go to a temporary INI file, never to the user's settings."""
    path = tmp_path / "settings.ini"
    monkeypatch.setenv("AVS_STUDIO_SETTINGS", str(path))
    return path


@pytest.fixture
def errors(monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: None)  # notes, not errors
    return shown


@pytest.fixture
def browser(qtbot, errors):
    win = DatasetBrowser()
    win.errors = errors
    qtbot.addWidget(win)
    win.show()
    return win


def _wait_idle(qtbot, win, timeout=30000):
    qtbot.waitUntil(lambda: win.jobs.is_idle, timeout=timeout)


@pytest.fixture
def small_demo(monkeypatch, tmp_path):
    """A tiny demo (2 S4 clips, 1 AVSS clip, small frames) in a temporary folder."""
    monkeypatch.setenv("AVS_STUDIO_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.setattr(app_demo, "DEMO_SETTINGS", (("s4", 2), ("ms3", 1), ("avss", 1)))
    import avs_studio.core.demo.dataset as demo

    real = demo.write_demo_dataset
    monkeypatch.setattr(demo, "write_demo_dataset", lambda *a, **k: real(*a, **{**k, "size": (64, 48)}))
    return tmp_path / "demo"


# ---------------------------------------------------------------------- start-up


def test_no_argument_opens_the_demo_project_built_once_in_the_background(qtbot, small_demo, errors, monkeypatch):
    import avs_studio.core.demo.dataset as demo
    from avs_studio.core.project.project import Project
    from avs_studio.gui.annotator.window import AnnotatorWindow

    calls = {"data": 0, "project": 0}
    write, create = demo.write_demo_dataset, Project.create.__func__

    def counted_write(*a, **k):
        calls["data"] += 1
        return write(*a, **k)

    def counted_create(cls, *a, **k):
        calls["project"] += 1
        return create(cls, *a, **k)

    monkeypatch.setattr(demo, "write_demo_dataset", counted_write)
    monkeypatch.setattr(Project, "create", classmethod(counted_create))
    win = AnnotatorWindow()
    qtbot.addWidget(win)
    win.show()
    assert win.prefs.qs.fileName().endswith("settings.ini")  # not the user's settings
    win.open_demo("s4")
    assert win.jobs.isVisible() and win.jobs.cancel_button.isVisible()
    qtbot.waitUntil(lambda: win.loaded is not None, timeout=60000)
    _wait_idle(qtbot, win)
    project = small_demo / "demo-s4.avsproj"
    assert win.project.path == project and len(win.project) == 2
    assert all(r.status == "new" for r in win.project.clips())  # ground truth left out: work to do
    assert not win.jobs.isVisible()
    assert calls == {"data": 1, "project": 1}
    win.close_project()
    # the second start reuses the project and the dataset
    win.open_demo("s4")
    qtbot.waitUntil(lambda: win.loaded is not None, timeout=30000)
    assert calls == {"data": 1, "project": 1} and len(win.project) == 2
    assert str(project) in win.prefs.recent()
    win.close()
    assert not errors


def test_a_dataset_folder_becomes_a_project(qtbot, demo_root, tmp_path, monkeypatch, errors):
    from avs_studio.gui.annotator.window import AnnotatorWindow

    root = demo_root("s4", 6, 0)
    target = tmp_path / "mine.avsproj"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    win = AnnotatorWindow()
    qtbot.addWidget(win)
    win.show()
    win.create_project_from_dataset(root)
    qtbot.waitUntil(lambda: win.loaded is not None, timeout=60000)
    assert win.project.path == target and len(win.project) == 6
    # dataset clips keep their ground truth as objects, so they start as done; the train
    # clips, whose ground truth is frame 1 only, start in progress
    status = {r.split: r.status for r in win.project.clips()}
    assert status == {"train": "in_progress", "val": "done", "test": "done"}
    win.close()


def test_shortcuts_are_bound_and_the_sheet_lists_them(qtbot, errors):
    from avs_studio.gui.annotator.window import AnnotatorWindow
    from avs_studio.gui.common.qimage import resource_path
    from avs_studio.gui.common.shortcuts import SHORTCUTS, sheet_html

    win = AnnotatorWindow()
    qtbot.addWidget(win)
    sheet = resource_path("shortcuts.md").read_text()
    html = sheet_html()
    seen = set()
    for s in SHORTCUTS:
        act = win.actions_by_id[s.id]
        assert act.shortcuts(), s.id
        for seq in act.shortcuts():
            text = seq.toString()
            assert text not in seen, f"{text} is bound twice"
            seen.add(text)
        for k in s.keys:
            assert f"`{k}`" in sheet, f"{k} ({s.title}) is missing from resources/shortcuts.md"
        assert s.title in html
    # the standard keys are the standard ones
    for sid, keys in (("undo", "Ctrl+Z"), ("redo", "Ctrl+Shift+Z"), ("save", "Ctrl+S"), ("play", "Space"),
                      ("next_frame", "Right"), ("prev_frame", "Left")):  # fmt: skip
        assert keys in [q.toString() for q in win.actions_by_id[sid].shortcuts()], sid
    win.actions_by_id["shortcuts"].trigger()
    assert win._shortcuts_dialog.isVisible()
    assert re.search(r"Ctrl\+S\s+Save", win.shortcuts_view.toPlainText())
    win._shortcuts_dialog.close()
    assert all(not a.icon().isNull() for a in (win.actions_by_id["tool_brush"], win.actions_by_id["propose"]))


def test_a_missing_or_foreign_project_file_shows_a_message(qtbot, tmp_path, errors):
    from avs_studio.gui.annotator.window import AnnotatorWindow

    win = AnnotatorWindow()
    qtbot.addWidget(win)
    win.show()
    assert not win.open_project(tmp_path / "nothing.avsproj")
    assert "no such project file" in errors[-1]
    foreign = tmp_path / "foreign.avsproj"
    foreign.write_bytes(b"not a database at all" * 100)
    assert not win.open_project(foreign)
    assert "not an AVS Studio project" in errors[-1]
    assert win.isVisible() and win.project is None


# ---------------------------------------------------------------------- the read-only browser


def test_open_a_dataset_browse_clips_and_frames(browser, qtbot, demo_root):
    window = browser
    window.open_paths([demo_root("s4", 6, 0)])
    _wait_idle(qtbot, window)
    assert window.clip_tree.topLevelItemCount() == 1
    top = window.clip_tree.topLevelItem(0)
    assert top.childCount() == 6
    qtbot.waitUntil(lambda: window.clip is not None and window.strip.count() == 5, timeout=20000)
    first = window.clip
    assert window.canvas.image_size == (224, 224)
    # pick a test clip (all frames annotated) and walk through its frames
    item = next(top.child(i) for i in range(top.childCount()) if top.child(i).text(1) == "test")
    window.clip_tree.setCurrentItem(item)
    qtbot.waitUntil(lambda: window.clip is not None and window.clip is not first, timeout=20000)
    _wait_idle(qtbot, window)
    assert window.strip.item(0).text().endswith("✓")
    window._step(1)
    assert window._frame_index == 1 and "frame 2/5" in window.frame_label.text()
    window._step(10)
    assert window._frame_index == 4
    window.clip_filter.setText(item.text(0))
    visible = [top.child(i) for i in range(top.childCount()) if not top.child(i).isHidden()]
    assert visible == [item]
    window.opacity.setValue(20)
    assert window.canvas.opacity == pytest.approx(0.2)
    window.show_mask.setChecked(False)
    assert not window.canvas._mask_item.isVisible()


def test_avss_clips_show_palette_masks(browser, qtbot, demo_root):
    browser.open_paths([demo_root("avss", 4, 0)])
    qtbot.waitUntil(lambda: browser.clip is not None and browser.strip.count() > 0, timeout=20000)
    _wait_idle(qtbot, browser)
    assert browser.canvas.image_size == (160, 120)  # native frames, not 224
    assert not browser.canvas._mask_item.image.isNull()


def test_a_bad_folder_shows_a_message_and_the_browser_lives_on(browser, tmp_path):
    browser.open_paths([tmp_path])
    assert browser.errors and "not an AVSBench dataset" in browser.errors[0]
    assert browser.isVisible()


def test_a_corrupt_frame_fails_in_the_worker_not_the_gui(browser, qtbot, demo_root, tmp_path):
    import shutil

    from avs_studio.core.datasets import open_dataset

    root = tmp_path / "copy"
    shutil.copytree(demo_root("s4", 6, 0), root)
    for clip in open_dataset(root):
        clip.frame_path(0).write_bytes(b"garbage")
    browser.open_paths([root])
    qtbot.waitUntil(lambda: bool(browser.errors), timeout=20000)
    assert "not a readable image" in browser.errors[0]
    assert browser.isVisible()


def test_the_browser_builds_the_demo_datasets_in_the_background(browser, qtbot, small_demo):
    browser.load_demo()
    assert browser.progress.isVisible() and browser.cancel_button.isVisible()
    qtbot.waitUntil(lambda: browser.clip is not None, timeout=60000)
    _wait_idle(qtbot, browser)
    assert browser.clip_tree.topLevelItemCount() == 3
    assert not browser.progress.isVisible()
    avss = browser.clip_tree.topLevelItem(2).child(0).data(0, Qt.ItemDataRole.UserRole)
    assert avss.setting.value == "avss"


def test_the_export_dialog_offers_what_the_project_can_be_exported_to(qtbot, tmp_path):
    from avs_studio.core.setting import Setting
    from avs_studio.gui.annotator.export_dialog import ExportDialog

    dlg = ExportDialog(Setting.S4, str(tmp_path))
    qtbot.addWidget(dlg)
    targets = [dlg.target.itemData(i) for i in range(dlg.target.count())]
    assert targets[0] == "avsbench-s4" and "avsbench-avss" not in targets  # binary masks carry no classes
    dlg.target.setCurrentIndex(targets.index("coco-polygons"))
    dlg.status.setCurrentIndex(dlg.status.findData("done"))
    dlg.out.setText(str(tmp_path / "gt.json"))
    opts = dlg.options()
    assert (opts.format, opts.status, opts.out.name) == ("coco", "done", "gt.json")
    assert not dlg.media.isEnabled()
    avss = ExportDialog(Setting.AVSS, str(tmp_path))
    qtbot.addWidget(avss)
    assert avss.target.itemData(0) == "avsbench-avss"
