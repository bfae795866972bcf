"""The annotator as an annotator meets it, on small demo projects (offscreen, silent sink).

The model is a tiny fake engine (a disc of probability per frame) so the story does not
depend on the shipped weights; one test runs the real demo model when it is installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from avs_studio.core.project.project import Project
from avs_studio.core.setting import Setting

# ---------------------------------------------------------------------- a fake model


class DiscScores:
    """ClipScores-like answer: in frame k a soft disc (probability 1 at the centre, 0.5 at
    ``radius``) whose centre moves right with k. AVSS: the disc is class 28 (guitar)."""

    def __init__(self, clip, setting: Setting, radius: float = 0.22) -> None:
        self.clip_id, self.setting, self.num_frames = clip.clip_id, setting, clip.num_frames
        h, w = clip.frame(0).shape[:2]
        self.frame_sizes = [(w, h)] * self.num_frames
        self.radius = radius

    def centre(self, k: int, w: int, h: int) -> tuple[float, float]:
        return w * (0.35 + 0.05 * k), h * 0.5

    def _p(self, k: int, w: int, h: int) -> np.ndarray:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy = self.centre(k, w, h)
        r = self.radius * min(w, h)
        d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
        return np.clip(1.0 - 0.5 * d / r, 0.0, 1.0).astype(np.float32)

    def probability_maps(self, native: bool = True):
        return [self._p(k, *self.frame_sizes[k]) for k in range(self.num_frames)]

    def labels(self):
        return np.stack([(self._p(k, 224, 224) > 0.5).astype(np.uint8) * 28 for k in range(self.num_frames)])

    def confidence(self):
        return np.stack([self._p(k, 224, 224) for k in range(self.num_frames)])

    def masks(self, threshold: float = 0.5, native: bool = False):
        return [(p > 0.5).astype(np.uint8) * 28 for p in self.probability_maps()]


class DiscEngine:
    """What the annotator needs of an engine; counts its calls; can be told to fail."""

    name = "disc test model"

    def __init__(self, setting, fail: Exception | None = None) -> None:
        self.setting = Setting.parse(setting)
        self.fail = fail
        self.calls: list[str] = []

    def propose_clip(self, clip, *, progress=lambda *a: None, cancel=None):
        self.calls.append(clip.clip_id)
        progress(1, 2, "thinking")
        if self.fail is not None:
            raise self.fail
        return DiscScores(clip, self.setting)


# ---------------------------------------------------------------------- fixtures


@pytest.fixture
def settings_file(tmp_path, monkeypatch):
    """Preferences go to a temporary INI file, never to the user's settings."""
    path = tmp_path / "settings.ini"
    monkeypatch.setenv("AVS_STUDIO_SETTINGS", str(path))
    return path


def make_project(tmp_path, root, setting: str, name: str = "p") -> Path:
    path = tmp_path / f"{name}.avsproj"
    with Project.create(path, setting, user="ana") as project:
        project.add_clips_from_dataset(root, with_masks=False)
    return path


@pytest.fixture
def make_window(qtbot, settings_file, monkeypatch):
    """``make_window(engine=None)``: an annotator with a fake model; message boxes are recorded.

    The annotator's questions (open proposals at "done", how to propose again, the class of
    a new AVSS object) are answered from ``win.answers`` and recorded in ``win.asked``.
    """
    from avs_studio.core.proposals import ProposeOptions
    from avs_studio.gui.annotator import guards
    from avs_studio.gui.annotator.window import AnnotatorWindow

    errors: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: errors.append(a[2]))
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: None)
    asked: list[tuple] = []
    answers = {"propose": ProposeOptions(), "open": "cancel", "class": None}
    monkeypatch.setattr(guards, "ask_propose_options",
                        lambda _parent, *a: asked.append(("propose", *a)) or answers["propose"])  # fmt: skip
    monkeypatch.setattr(guards, "ask_open_proposals",
                        lambda _parent, *a: asked.append(("open", *a)) or answers["open"])  # fmt: skip
    monkeypatch.setattr(guards, "ask_class", lambda _parent, *a: asked.append(("class", *a)) or answers["class"])

    def make(engine=None):
        holder = {}

        def factory(setting):
            holder["engine"] = engine or DiscEngine(setting)
            return holder["engine"]

        win = AnnotatorWindow(engine_factory=factory)
        win.errors = errors
        win.engines = holder
        win.asked, win.answers = asked, answers
        qtbot.addWidget(win)
        win.resize(1400, 900)
        win.show()
        return win

    return make


def wait_idle(qtbot, win, timeout=30000):
    """Until no job runs, no clip is loading and every thumbnail is redrawn."""
    qtbot.waitUntil(lambda: win.jobs.is_idle and win._loading is None and not win._thumb_queue, timeout=timeout)


def open_project(qtbot, win, path):
    assert win.open_project(path)
    qtbot.waitUntil(lambda: win.loaded is not None, timeout=30000)
    wait_idle(qtbot, win)


# ---------------------------------------------------------------------- pointer input


def _send(win, kind, x: float, y: float, button=Qt.MouseButton.LeftButton) -> None:
    """A mouse event at image pixel centre (x, y) on the canvas."""
    pos = QPointF(win.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5)))
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    b = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else button
    ev = QMouseEvent(kind, pos, win.canvas.viewport().mapToGlobal(pos), b, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win.canvas.viewport(), ev)


def drag(win, points) -> None:
    """Press at the first point, move through the others, release at the last."""
    _send(win, QEvent.Type.MouseButtonPress, *points[0])
    for p in points[1:]:
        _send(win, QEvent.Type.MouseMove, *p)
    _send(win, QEvent.Type.MouseButtonRelease, *points[-1])


def click(win, x, y) -> None:
    _send(win, QEvent.Type.MouseButtonPress, x, y)
    _send(win, QEvent.Type.MouseButtonRelease, x, y)


def key(qtbot, win, k, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, k, modifier)


def objects(win, frame=None):
    return {o.instance_id: o for o in win.session.objects(win.frame_index if frame is None else frame)}


# ---------------------------------------------------------------------- the story


def test_an_annotators_day_on_the_s4_demo(make_window, qtbot, demo_root, tmp_path):
    root = demo_root("s4", 6, 0)
    path = make_project(tmp_path, root, "s4")
    win = make_window()
    open_project(qtbot, win, path)
    first = win.clip_id
    assert win.strip.count() == 5 and win.canvas.image_size == (224, 224)
    assert win.clip_list.tree.topLevelItemCount() == 6

    # play the clip briefly with its sound (the silent sink keeps the clock), then pause
    assert win.player is not None and win.player.silent_reason
    win.toggle_play()
    qtbot.waitUntil(lambda: win.player.state == "playing", timeout=5000)
    assert "silent" in win.statusBar().currentMessage()  # and the status bar says why
    qtbot.wait(300)
    win.toggle_play()
    qtbot.waitUntil(lambda: win.player.state != "playing", timeout=5000)
    assert win.player.position() > 0.05
    assert win.canvas.objects_visible  # back on a sampled frame with its objects
    # the audio window of frame 1 (VGGish example 0: [0, 0.975) s), on a loop
    from avs_studio.core.media.playback import vggish_window

    win.actions_by_id["loop_window"].setChecked(True)
    win.actions_by_id["play_window"].trigger()
    t0, t1, loop = win.player.window
    assert (t0, t1) == pytest.approx(vggish_window(0)) and loop and win.player.state == "playing"
    win.toggle_play()
    win.actions_by_id["loop_window"].setChecked(False)
    # scrub between two sampled frames: the video is shown there, objects wait on the sampled ones
    win.timeline.seekRequested.emit(2.4)
    qtbot.waitUntil(lambda: win._video_at is not None, timeout=5000)
    assert not win.canvas.objects_visible and "video at" in win.header.text()
    win.set_tool("brush")
    drag(win, [(100, 100), (110, 110)])  # no painting on a frame that is not sampled
    assert win._video_at is None and win.frame_index == 1 and not win.session.objects(1)
    win.timeline.seekRequested.emit(2.4)
    qtbot.waitUntil(lambda: win._video_at is not None, timeout=5000)
    win.actions_by_id["next_frame"].trigger()  # from the playhead to the next sampled frame
    assert win.frame_index == 2 and win.canvas.objects_visible

    # step through the sampled frames with the arrows, back to frame 1
    win.actions_by_id["next_frame"].trigger()
    assert win.frame_index == 3 and "frame 4/5" in win.header.text()
    for _ in range(4):
        win.actions_by_id["prev_frame"].trigger()
    assert win.frame_index == 0

    # propose: the fake model's disc arrives as one proposal object per frame, in the background
    win.propose_current()
    assert win.jobs.busy("propose")
    wait_idle(qtbot, win)
    assert win.engines["engine"].calls == [first]
    props = [o for o in win.session.objects(0) if o.provenance.is_proposal]
    assert len(props) == 1 and 0.5 < props[0].provenance.confidence < 1.0
    proposal = props[0].instance_id
    assert win.record.status == "proposed"
    assert win.selected == proposal and win.objects.threshold.isEnabled()
    assert win.strip.marks == ["proposed"] * 5
    # a higher threshold shrinks the proposal in every frame, before it is accepted
    area_before = props[0].area
    win.objects.threshold.setValue(80)
    shrunk = objects(win)[proposal]
    assert shrunk.provenance.is_proposal and 0 < shrunk.area < area_before
    win.accept_selected()
    assert all(o.provenance.kind == "accepted" for o in win.session.store.objects() if o.instance_id == proposal)
    qtbot.waitUntil(lambda: win.strip.marks == ["edited"] * 5, timeout=5000)

    # paint a new object with the brush: one stroke, one command
    win.set_tool("brush")
    win.new_object()
    win.set_brush_radius(6)
    history = len(win.session.history())
    drag(win, [(20 + 4 * i, 200) for i in range(20)])
    assert len(win.session.history()) == history + 1
    painted = win.selected
    assert painted not in (None, proposal)
    mask = objects(win)[painted].mask
    assert mask[200, 20] and mask[200, 96] and mask[206, 60] and not mask[200, 110] and not mask[180, 60]
    # the eraser (E) takes a bite out of the selected object
    key(qtbot, win, Qt.Key.Key_E)
    assert win.canvas.tool.name == "eraser"
    drag(win, [(60, 190), (60, 210)])
    mask = objects(win)[painted].mask
    assert not mask[200, 60] and mask[200, 30] and mask[200, 90]

    # a polygon on a new object: click vertices, drag one, Enter commits
    win.set_tool("polygon")
    win.new_object()
    for x, y in [(150, 20), (200, 20), (200, 60), (150, 60)]:
        click(win, x, y)
    drag(win, [(200, 60), (210, 70)])  # move the third vertex
    assert win.tools["polygon"].drawing
    key(qtbot, win, Qt.Key.Key_Return)
    poly = win.selected
    pm = objects(win)[poly].mask
    assert pm[40, 175] and pm[66, 206] and not pm[10, 175]
    assert 40 * 45 < pm.sum() < 62 * 52

    # undo takes the polygon back, redo restores it
    win.actions_by_id["undo"].trigger()
    assert poly not in objects(win)
    win.actions_by_id["redo"].trigger()
    assert np.array_equal(objects(win)[poly].mask, pm)
    assert win.actions_by_id["undo"].text() == "Undo Polygon fill"

    # Ctrl+S says everything is saved; the project file holds it all
    win.save()
    assert "Saved" in win.statusBar().currentMessage()
    expected = {k: win.project.binary_mask(first, k) for k in range(5)}
    assert expected[0][200, 30] and not expected[0][200, 60] and expected[0][40, 175]

    # mark done: the clip is done and the next clip that is not done opens
    win.actions_by_id["mark_done"].trigger()
    assert win.project.clip_record(first).status == "done"
    qtbot.waitUntil(lambda: win.clip_id not in (None, first), timeout=20000)
    wait_idle(qtbot, win)
    assert win.project.clip_record(win.clip_id).status != "done"

    # export to COCO in the background; re-import into a fresh project; the masks come back
    from avs_studio.gui.annotator.export_dialog import ExportOptions

    out = tmp_path / "coco.json"
    win.export(ExportOptions("coco", out, status="done"))
    assert win.jobs.busy("export")
    wait_idle(qtbot, win)
    assert out.is_file() and not win.errors
    fresh = make_project(tmp_path, root, "s4", name="fresh")
    open_project(qtbot, win, fresh)
    win.import_masks(out)
    wait_idle(qtbot, win)
    assert not win.errors
    for k, mask in expected.items():
        assert np.array_equal(win.project.binary_mask(first, k), mask), k
    win.close()


def test_avss_labels_search_relabel_and_class_proposals(make_window, qtbot, demo_root, tmp_path):
    root = demo_root("avss", 4, 0)
    path = make_project(tmp_path, root, "avss")
    win = make_window()
    open_project(qtbot, win, path)
    assert win.labels_box.isVisibleTo(win)
    assert win.labels.list.count() == 70
    # search the classes, pick one with Enter: new objects get it
    win.labels.search.setText("guit")
    assert [win.project.labels.name(i) for i in win.labels.visible_labels()] == ["guitar"]
    win.labels.search.returnPressed.emit()
    guitar = win.project.labels.index("guitar")
    assert win.labels.current_label == guitar
    win.set_tool("brush")
    win.set_brush_radius(8)
    drag(win, [(40, 40), (60, 50)])
    inst = win.selected
    assert objects(win)[inst].label == guitar
    # paint the same object in the next frame, then relabel it everywhere
    win.step_frame(1)
    drag(win, [(50, 40), (70, 50)])
    assert objects(win)[inst].label == guitar and win.selected == inst
    violin = win.project.labels.index("violin")
    win.labels.choose(violin)
    assert {o.label for o in win.session.store.objects() if o.instance_id == inst} == {violin}
    tags = [i.text for i in win.canvas.scene().items() if hasattr(i, "text") and isinstance(i.text, str)]
    assert "violin" in tags
    win.undo()
    assert {o.label for o in win.session.store.objects() if o.instance_id == inst} == {guitar}
    win.redo()
    # a comment and a status are edits too (undoable), recorded for the annotator
    win.comment_edit.setText("violin bow hidden in frame 2")
    win.comment_edit.editingFinished.emit()
    win.status_combo.setCurrentIndex(win.status_combo.findData("reviewed"))
    win.status_combo.activated.emit(win.status_combo.currentIndex())
    rec = win.record
    assert (rec.comment, rec.status, rec.annotator) == ("violin bow hidden in frame 2", "reviewed", win.prefs.annotator)
    assert win.clip_list.record(rec.clip_id).status == "reviewed"
    win.undo()
    win.undo()
    assert (win.record.comment, win.record.status) == ("", "in_progress")
    # the AVSS proposals of the fake model are class objects (guitar) with a confidence
    win.propose_current()
    wait_idle(qtbot, win)
    props = [o for o in win.session.objects(0) if o.provenance.is_proposal]
    assert [o.label for o in props] == [guitar] and props[0].provenance.confidence > 0.5
    assert not win.objects.threshold.isEnabled()  # re-thresholding is for binary proposals
    assert win.frame_index == 1
    win.reject_frame()
    assert not [o for o in win.session.objects(1) if o.provenance.is_proposal]
    assert [o for o in win.session.objects(0) if o.provenance.is_proposal]  # other frames keep theirs
    win.close()


def test_propose_selected_clips_runs_a_queue_with_one_bar(make_window, qtbot, demo_root, tmp_path):
    path = make_project(tmp_path, demo_root("s4", 6, 0), "s4")
    win = make_window()
    open_project(qtbot, win, path)
    ids = win.project.clip_ids()[:3]
    tree = win.clip_list.tree
    for i in range(3):
        tree.topLevelItem(i).setSelected(True)
    assert win.clip_list.selected_ids() == ids
    win.propose_selected()
    assert win.jobs.isVisible() and win.jobs.cancel_button.isVisible()
    wait_idle(qtbot, win)
    assert win.engines["engine"].calls == ids
    for cid in ids:
        assert win.project.clip_record(cid).status == "proposed"
        assert any(o.provenance.is_proposal for o in win.project.frame_objects(cid, 0))
    # proposing again replaces the pending proposals instead of piling them up
    win.propose([ids[1]])
    wait_idle(qtbot, win)
    assert sum(o.provenance.is_proposal for o in win.project.frame_objects(ids[1], 0)) == 1


def test_cancel_stops_a_queue_and_keeps_the_clips_done(make_window, qtbot, demo_root, tmp_path):
    import threading

    path = make_project(tmp_path, demo_root("s4", 6, 0), "s4")
    gate = threading.Event()

    class SlowEngine(DiscEngine):
        def propose_clip(self, clip, *, progress=lambda *a: None, cancel=None):
            if self.calls:
                gate.wait(10)
                cancel.raise_if_cancelled()
            return super().propose_clip(clip, progress=progress, cancel=cancel)

    win = make_window(SlowEngine("s4"))
    open_project(qtbot, win, path)
    ids = win.project.clip_ids()
    win.propose(ids)
    qtbot.waitUntil(lambda: win.project.clip_record(ids[0]).status == "proposed", timeout=10000)
    win.jobs.cancel_button.click()
    gate.set()
    wait_idle(qtbot, win)
    statuses = [win.project.clip_record(c).status for c in ids]
    assert statuses[0] == "proposed" and statuses[2:] == ["new"] * (len(ids) - 2)
    assert "cancelled" in win.statusBar().currentMessage()


# ---------------------------------------------------------------------- bad input


def test_bad_input_shows_a_message_and_leaves_the_project_as_it_was(make_window, qtbot, demo_root, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(demo_root("s4", 6, 0), root)
    path = make_project(tmp_path, root, "s4")
    with Project.open(path) as p:
        ids = p.clip_ids()
        recs = [p.clip_record(c) for c in ids]
    # a corrupt frame in one clip, the media of another gone
    (recs[1].root / recs[1].files["frames"][0]).write_bytes(b"garbage")
    (recs[2].root / recs[2].files["frames"][0]).unlink()
    win = make_window(DiscEngine("s4", fail=RuntimeError("the model crashed")))
    open_project(qtbot, win, path)
    digest = win.project.state_digest()
    win.clip_list.set_current(ids[1])
    qtbot.waitUntil(lambda: bool(win.errors), timeout=20000)
    assert "not a readable image" in win.errors[-1]
    assert win.clip_id == ids[0] and win.isVisible()
    win.clip_list.set_current(ids[2])
    qtbot.waitUntil(lambda: len(win.errors) == 2, timeout=20000)
    assert "missing" in win.errors[-1] and win.clip_id == ids[0]
    # a failing proposal
    win.propose_current()
    wait_idle(qtbot, win)
    assert "the model crashed" in win.errors[-1]
    assert win.project.state_digest() == digest
    # a checkpoint of the wrong kind: the real loader refuses it
    win.models.factory = None
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"this is not a checkpoint")
    win.prefs.set_checkpoint("s4", str(bogus))
    win.propose_current()
    wait_idle(qtbot, win, timeout=60000)
    assert "bogus.pt" in win.errors[-1]
    assert win.project.state_digest() == digest
    # an edit the project refuses (read-only) changes nothing either
    win.close_project()
    blocker = Project.open(path)  # another program holds the project
    question = QMessageBox.question
    try:
        QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes)
        open_project(qtbot, win, path)
        assert win.project.readonly and "read-only" in win.windowTitle()
        win.set_tool("brush")
        drag(win, [(30, 30), (40, 40)])
        assert not win.session.objects(0)
        assert "read-only" in win.statusBar().currentMessage()
    finally:
        QMessageBox.question = question  # put Qt's back: later tests patch it too
        win.close_project()
        blocker.close()
    assert win.isVisible()


# ---------------------------------------------------------------------- new clips


def test_a_segment_of_a_long_video_becomes_a_10s_avss_clip(make_window, qtbot, tmp_path):
    from avs_studio.core.media.writer import write_video

    frames = [np.full((72, 96, 3), (i * 9) % 255, np.uint8) for i in range(14 * 10)]
    t = np.arange(14 * 16000) / 16000
    audio = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None]
    video = tmp_path / "long.mp4"
    write_video(video, frames, fps=10, audio=audio, sample_rate=16000)
    path = tmp_path / "v2.avsproj"
    Project.create(path, "avss").close()
    win = make_window()
    open_project_empty = win.open_project(path)
    assert open_project_empty and win.loaded is None
    win.add_segment(video, 3.0, 10)
    qtbot.waitUntil(lambda: win.loaded is not None, timeout=30000)
    wait_idle(qtbot, win)
    rec = win.record
    assert rec.clip_id == "long_3000_13000" and rec.seconds == 10 and rec.num_frames == 10
    assert rec.subset == "v2" and win.strip.count() == 10
    # a segment that runs past the end is refused with a message; nothing is added
    win.add_segment(video, 8.0, 10)
    wait_idle(qtbot, win)
    assert "long" in win.errors[-1] and len(win.project) == 1


# ---------------------------------------------------------------------- the real model


def test_the_shipped_demo_model_proposes_on_the_demo(make_window, qtbot, demo_root, tmp_path):
    from avs_studio.model.model_files import demo_model_path

    if not demo_model_path("s4").is_file():
        pytest.skip("the shipped demo model models/demo_s4.pt is not installed")
    path = make_project(tmp_path, demo_root("s4", 6, 0), "s4")
    win = make_window()
    win.models.factory = None  # the real loader: no checkpoint configured -> the demo model
    open_project(qtbot, win, path)
    ids = win.project.clip_ids()[:3]
    win.propose(ids)
    wait_idle(qtbot, win, timeout=180000)
    assert not win.errors
    assert [win.project.clip_record(c).status for c in ids] == ["proposed"] * 3
    objs = [o for c in ids for k in range(5) for o in win.project.frame_objects(c, k)]
    assert objs, "the demo model found no sounding object in three demo clips"
    assert all(o.provenance.is_proposal and o.provenance.confidence > 0.5 and o.provenance.model for o in objs)
