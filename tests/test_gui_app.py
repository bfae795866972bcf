"""The main window as a user meets it: datasets, clips, frames with their masks."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from avs_studio.gui import app as gui_app


@pytest.fixture
def window(qtbot, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    win = gui_app.MainWindow()
    win.errors = shown
    qtbot.addWidget(win)
    win.show()
    return win


def _wait_idle(qtbot, win):
    qtbot.waitUntil(lambda: win._worker is None, timeout=20000)


def test_open_a_dataset_browse_clips_and_frames(window, qtbot, demo_root):
    root = demo_root("s4", 6, 0)
    window.open_paths([root])
    _wait_idle(qtbot, window)
    assert window.clip_tree.topLevelItemCount() == 1
    top = window.clip_tree.topLevelItem(0)
    assert top.childCount() == 6
    qtbot.waitUntil(lambda: window.clip is not None and window.strip.count() == 5, timeout=20000)
    first = window.clip
    assert window.canvas._frame_item.pixmap().width() == 224
    # pick a test clip (all frames annotated) and walk through its frames with the arrow keys
    item = next(top.child(i) for i in range(top.childCount()) if top.child(i).text(1) == "test")
    window.clip_tree.setCurrentItem(item)
    qtbot.waitUntil(lambda: window.clip is not None and window.clip is not first, timeout=20000)
    _wait_idle(qtbot, window)
    assert window.strip.item(0).text().endswith("✓")
    window._step(1)
    assert window._frame_index == 1 and "frame 2/5" in window.frame_label.text()
    window._step(10)
    assert window._frame_index == 4
    # filtering hides other clips
    window.clip_filter.setText(item.text(0))
    visible = [top.child(i) for i in range(top.childCount()) if not top.child(i).isHidden()]
    assert visible == [item]
    window.opacity.setValue(20)
    assert window.canvas.opacity == pytest.approx(0.2)
    window.show_mask.setChecked(False)
    assert not window.canvas._mask_item.isVisible()


def test_avss_clips_show_palette_masks(window, qtbot, demo_root):
    window.open_paths([demo_root("avss", 4, 0)])
    qtbot.waitUntil(lambda: window.clip is not None and window.strip.count() > 0, timeout=20000)
    _wait_idle(qtbot, window)
    assert window.canvas._frame_item.pixmap().width() == 160  # native frames, not 224
    assert not window.canvas._mask_item.pixmap().isNull()


def test_a_bad_folder_shows_a_message_and_the_window_lives_on(window, qtbot, tmp_path):
    window.open_paths([tmp_path])
    assert window.errors and "not an AVSBench dataset" in window.errors[0]
    assert window.isVisible()


def test_a_corrupt_frame_fails_in_the_worker_not_the_gui(window, qtbot, demo_root, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(demo_root("s4", 6, 0), root)
    from avs_studio.core.datasets import open_dataset

    ds = open_dataset(root)
    for clip in ds:
        clip.frame_path(0).write_bytes(b"garbage")
    window.open_paths([root])
    qtbot.waitUntil(lambda: bool(window.errors), timeout=20000)
    assert "not a readable image" in window.errors[0]
    assert window.isVisible()


def test_the_demo_is_built_in_the_background_with_progress(qtbot, monkeypatch, tmp_path, window):
    monkeypatch.setenv("AVS_STUDIO_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.setattr(gui_app, "DEMO_SETTINGS", (("s4", 2), ("avss", 1)))
    import avs_studio.core.demo as demo

    real = demo.write_demo_dataset
    monkeypatch.setattr(demo, "write_demo_dataset", lambda *a, **k: real(*a, **{**k, "size": (64, 48)}))
    window.load_demo()
    assert window.progress.isVisible() and window.cancel_button.isVisible()
    qtbot.waitUntil(lambda: window.clip is not None, timeout=60000)
    _wait_idle(qtbot, window)
    assert window.clip_tree.topLevelItemCount() == 2
    assert not window.progress.isVisible()
    assert window.clip_tree.topLevelItem(1).child(0).data(0, Qt.ItemDataRole.UserRole).setting.value == "avss"
