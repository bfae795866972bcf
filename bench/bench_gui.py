"""Annotator responsiveness (offscreen Qt): brush moves, frame switches, clip opening, stalls.

    python bench/bench_gui.py [--moves 400] [--dir DIR] [--screenshots docs/]

1. Brush-stroke latency per mouse move on a 1920x1080 frame with two 1080p objects
   (target: under 16 ms): the move event plus the repaint it causes, median and p95.
   Baseline, same moves: re-rendering the whole overlay at every move (the naive way).
2. Frame switch on the 1080p clip (target: under 50 ms): showing another sampled frame
   with its objects, repaint included. Baseline: decoding that frame from the video.
3. Clip open (target: under 500 ms): from the click to the frame, strip, timeline and
   player being ready; the 1080p clip and a demo clip.
4. The longest stall of the GUI thread while proposals run on the CPU (target: under
   100 ms): a 10 ms QTimer watchdog records the longest gap between its ticks while a
   proposal job runs (the shipped demo model if models/demo_s4.pt exists, else the
   official s4_resnet50 with random weights, which is heavier; a disc of probability is
   added to the model's answer so that every frame gets a proposal to add and draw), the
   first run (model loading) and a second one. Baseline: the watchdog with nothing running.

``--screenshots DIR`` also writes the README screenshots (a proposal shown, a polygon
being drawn, AVSS labels, overlapping objects shown as exported, the sounding lanes, an
outline edit, the minimap) from the demo
projects.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("AVS_STUDIO_AUDIO", "null")

import numpy as np
from PySide6.QtCore import QElapsedTimer, QEvent, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

TARGETS = {"move": 16.0, "switch": 50.0, "open": 500.0, "stall": 100.0}


def pct(ms: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(ms), q))


def line(name: str, ms: list[float], target: float | None = None) -> str:
    med, p95 = statistics.median(ms), pct(ms, 95)
    verdict = "" if target is None else f"   target < {target:g} ms: {'met' if p95 < target else 'MISSED'} (p95)"
    return f"  {name:<38} median {med:7.2f} ms   p95 {p95:7.2f} ms   max {max(ms):7.2f} ms{verdict}"


class App:
    """The QApplication and helpers to wait for the window."""

    def __init__(self) -> None:
        from avs_studio.gui.app import make_app

        self.app = make_app()

    def wait(self, cond, timeout: float = 120.0) -> None:
        t0 = time.perf_counter()
        while not cond():
            self.app.processEvents()
            time.sleep(0.002)
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError("the window did not get ready in time")

    def flush(self) -> None:
        self.app.processEvents()


def make_window(engine_factory=None):
    from avs_studio.gui.annotator.window import AnnotatorWindow

    win = AnnotatorWindow(engine_factory=engine_factory)
    win.resize(1600, 1000)
    win.show()
    return win


def send(win, kind, x: float, y: float) -> None:
    pos = QPointF(win.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5)))
    b = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else Qt.MouseButton.LeftButton
    QApplication.sendEvent(win.canvas.viewport(), QMouseEvent(kind, pos, pos, b, buttons, Qt.KeyboardModifier.NoModifier))


# ====================================================================== fixtures


def make_1080p_project(folder: Path) -> Path:
    """A project with one 5-s 1920x1080 clip (and two objects on every frame)."""
    from avs_studio.core.media.writer import write_video
    from avs_studio.core.project.edits import AddObject, Composite
    from avs_studio.core.project.project import Project

    video = folder / "hd.mp4"
    yy, xx = np.mgrid[0:1080, 0:1920]
    base = np.stack([(xx * 255 // 1920), (yy * 255 // 1080), np.full_like(xx, 90)], axis=2).astype(np.uint8)
    frames = []
    for i in range(25):  # 5 fps is enough for the sampling and keeps encoding short
        f = base.copy()
        f[300:700, 200 + 20 * i:700 + 20 * i] = (220, 60, 40)
        frames.append(f)
    t = np.arange(5 * 16000) / 16000
    write_video(video, frames, fps=5, audio=(0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[:, None],
                sample_rate=16000)  # fmt: skip
    path = folder / "hd.avsproj"
    with Project.create(path, "s4") as project:
        rec = project.add_video(video)
        session = project.session(rec.clip_id)
        cmds = []
        for k in range(rec.num_frames):
            a = np.zeros((1080, 1920), np.uint8)
            a[250:760, 150:900] = 1
            b = np.zeros((1080, 1920), np.uint8)
            b[600:1000, 1000:1800] = 1
            cmds += [AddObject(k, 1, 1, a), AddObject(k, 2, 1, b)]
        session.apply(Composite(cmds, "objects"))
    return path


def demo_project(setting: str, folder: Path) -> Path:
    os.environ.setdefault("AVS_STUDIO_DEMO_DIR", str(folder / "demo"))
    from avs_studio.gui.common.demo import ensure_demo_project

    return ensure_demo_project(setting, lambda *a: None, None)


# ====================================================================== 1-3: moves, switches, opening


def bench_brush(qa: App, win, moves: int) -> None:
    print(f"\n1. brush stroke on a 1920x1080 frame ({moves} pointer moves, radius 24 px, "
          f"canvas {win.canvas.viewport().width()}x{win.canvas.viewport().height()} at {win.canvas.zoom_factor:.0%})")  # fmt: skip

    win.set_tool("brush")
    win.set_brush_radius(24)
    rng = np.random.default_rng(0)

    def path(n):  # a random walk over empty frame, so every stroke paints a new object
        p = np.array([1300.0, 250.0]) + np.cumsum(rng.normal(0, 6, (n, 2)), axis=0)
        return np.clip(p, (950, 30), (1890, 560))

    results = {}
    for mode in ("incremental (ours)", "whole overlay per move"):
        win.new_object()
        before = sum(not undone for _, undone in win.session.history())
        pts = path(moves)
        send(win, QEvent.Type.MouseButtonPress, *pts[0])
        qa.flush()
        times = []
        for x, y in pts[1:]:
            t0 = time.perf_counter()
            send(win, QEvent.Type.MouseMove, x, y)
            if mode.startswith("whole"):
                win.canvas._base_cache._items.clear()  # no cached layers: the naive way
                win.canvas._render()
                win.canvas.begin_paint((255, 0, 200), erase=False)
            win.canvas.viewport().repaint()  # the repaint the move asked for, now
            times.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        send(win, QEvent.Type.MouseButtonRelease, *pts[-1])
        qa.flush()
        commit = (time.perf_counter() - t0) * 1000
        results[mode] = times
        print(line(mode, times, TARGETS["move"] if mode.startswith("incr") else None))
        print(f"  {'':<38} stroke commit (one command + refresh): {commit:.1f} ms")
        assert sum(not u for _, u in win.session.history()) == before + 1, "the stroke was not committed"
        win.undo()
    ratio = statistics.median(results["whole overlay per move"]) / statistics.median(results["incremental (ours)"])
    print(f"  incremental preview is {ratio:.1f}x faster per move than re-rendering the overlay")


def bench_switch(qa: App, win) -> None:
    print("\n2. frame switch on the 1080p clip (frame with two 1080p objects, repaint included)")
    from avs_studio.core.media.decode import open_media

    times = []
    n = len(win.loaded.images)
    win._prerender(win.loaded)  # as after opening the clip (the brush baseline emptied the caches)
    qa.wait(lambda: win.jobs.is_idle)
    for _ in range(20):  # let the player, the timeline and the thumbnails settle
        qa.flush()
        time.sleep(0.02)
    first = []
    for _ in range(n):  # the first visit of each frame draws its layers (cached afterwards)
        t0 = time.perf_counter()
        win.show_frame((win.frame_index + 1) % n)
        win.canvas.viewport().repaint()
        first.append((time.perf_counter() - t0) * 1000)
        qa.flush()
    print(line("first visit of each frame", first, TARGETS["switch"]))
    for _ in range(40):
        k = (win.frame_index + 1) % n
        t0 = time.perf_counter()
        win.show_frame(k)
        win.canvas.viewport().repaint()
        win.strip.viewport().repaint()
        times.append((time.perf_counter() - t0) * 1000)
        qa.flush()
    print(line("show another sampled frame (again)", times, TARGETS["switch"]))
    rec = win.loaded.record
    with open_media(rec.media_path) as media:
        base = []
        for i in range(10):
            t0 = time.perf_counter()
            media.frames_by_ordinal([rec.ordinals[i % n]])
            base.append((time.perf_counter() - t0) * 1000)
    print(line("baseline: decode that frame from the video", base))


def bench_open(qa: App, win, label: str, clip_ids: list[str]) -> None:
    times = []
    for cid in clip_ids * 2:
        if win.clip_id == cid:
            other = next(c for c in win.project.clip_ids() if c != cid) if len(win.project) > 1 else None
            if other is None:
                win.loaded = None
            else:
                win.open_clip(other)
                qa.wait(lambda o=other: win.clip_id == o and win.jobs.is_idle and win._loading is None)
        qa.wait(lambda: win.jobs.is_idle)
        t0 = time.perf_counter()
        win.open_clip(cid)
        qa.wait(lambda c=cid: win.clip_id == c and win._loading is None)  # on screen, editable
        win.canvas.viewport().repaint()
        times.append((time.perf_counter() - t0) * 1000)
    print(line(f"open a clip: {label}", times, TARGETS["open"]))


# ====================================================================== 4: stalls


class WithObjects:
    """Wraps a real engine: the model runs as it is (the CPU load), and a disc of
    probability is added to its answer, so every frame gets a proposal for the GUI to
    add and draw even when random weights propose nothing."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.system = getattr(engine, "system", None)

    def propose_clip(self, clip, *, progress=lambda *a: None, cancel=None):
        scores = self.engine.propose_clip(clip, progress=progress, cancel=cancel)
        real = scores.probability_maps

        def maps(native: bool = True):
            out = []
            for k, p in enumerate(real(native)):
                h, w = p.shape
                yy, xx = np.ogrid[0:h, 0:w]
                d = np.sqrt((xx - w * (0.3 + 0.08 * k)) ** 2 + (yy - h * 0.5) ** 2) / (0.25 * min(h, w))
                out.append(np.maximum(p, np.clip(1.0 - 0.5 * d, 0, 1)).astype(np.float32))
            return out

        scores.probability_maps = maps
        return scores


def heavy_engine_factory():
    """The shipped demo model, else the official s4_resnet50 with random weights (both
    wrapped so that every frame gets a proposal)."""
    from avs_studio.model.model_files import demo_model_path

    if demo_model_path("s4").is_file():
        def demo(setting):
            from avs_studio.gui.annotator.proposals import _load_engine

            return WithObjects(_load_engine(setting, "", "", "cpu"))

        return demo, "the shipped demo model (models/demo_s4.pt), plus a disc per frame"

    def factory(setting):
        from avs_studio.model import build, build_vggish
        from avs_studio.model.engine import Engine
        from avs_studio.model.system import AVSSystem, SystemInfo

        system = AVSSystem(build_vggish(), build("s4_resnet50"), SystemInfo(setting, "official", "s4_resnet50"))
        return WithObjects(Engine(system, device="cpu", threads=max(1, (os.cpu_count() or 2) - 1)))

    return factory, "official s4_resnet50 + VGGish with random weights, plus a disc per frame"


class Watchdog:
    """A 10 ms timer on the GUI thread; records the longest gap between its ticks."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(10)
        self.clock = QElapsedTimer()
        self.gaps: list[float] = []
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.gaps = []
        self.clock.start()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        self.gaps.append(self.clock.nsecsElapsed() / 1e6)
        self.clock.restart()

    @property
    def longest_stall(self) -> float:
        """The longest gap beyond the 10 ms period."""
        return max(self.gaps) - 10.0 if self.gaps else 0.0


def bench_stall(qa: App, folder: Path) -> None:
    from avs_studio.gui.annotator.proposals import preload_model_code

    factory, what = heavy_engine_factory()
    print(f"\n4. GUI-thread stalls while proposals run on the CPU ({what}; {os.cpu_count()} cores)")
    dog = Watchdog()
    dog.start()
    t0 = time.perf_counter()
    preload_model_code()  # the app does this in a worker once the first clip is shown
    print(f"  torch + model code imported in {time.perf_counter() - t0:.1f} s (the app does it early, in a worker)")
    dog.start()
    qa.wait(lambda: len(dog.gaps) >= 200)
    print(f"  baseline, nothing running: longest stall {dog.longest_stall:5.1f} ms")
    for label, path in (("S4 demo clips", demo_project("s4", folder)), ("the 1080p clip", folder / "hd.avsproj")):
        win = make_window(factory)
        win.open_project(path)
        qa.wait(lambda w=win: w.loaded is not None and w.jobs.is_idle)
        ids = win.project.clip_ids()[:3]
        for run in ("first run, model load included", "model loaded"):
            dog.start()
            t0 = time.perf_counter()
            win.propose(ids)
            qa.wait(lambda w=win: w.jobs.is_idle, timeout=600)
            took = time.perf_counter() - t0
            dog.stop()
            verdict = "met" if dog.longest_stall < TARGETS["stall"] else "MISSED"
            print(f"  {label}, {run}: {len(ids)} clip(s) in {took:.1f} s; longest stall {dog.longest_stall:6.1f} ms "
                  f"(p99 gap {pct(dog.gaps, 99):5.1f} ms, {len(dog.gaps)} ticks); target < {TARGETS['stall']:g} ms: "
                  f"{verdict}")  # fmt: skip
        win.close()
        win.deleteLater()
        qa.flush()


# ====================================================================== screenshots


class GroundTruthEngine:
    """A stand-in model for screenshots when no demo model is installed: it "proposes" the
    demo dataset's ground truth, blurred into probabilities (said so in the output)."""

    name = "ground truth, blurred (stand-in)"

    def __init__(self, dataset_root: Path) -> None:
        from avs_studio.core.datasets import open_dataset

        self.dataset = open_dataset(dataset_root, "s4")

    def propose_clip(self, clip, *, progress=lambda *a: None, cancel=None):
        import cv2

        gt = self.dataset.get(clip.clip_id)
        maps = []
        for k in range(clip.num_frames):
            m = gt.mask(k)
            m = np.zeros((224, 224), np.uint8) if m is None else m
            maps.append(np.clip(cv2.GaussianBlur(m.astype(np.float32), (0, 0), 4) * 1.15, 0, 1))

        class Scores:
            setting, clip_id, num_frames = clip.setting, clip.clip_id, clip.num_frames

            def probability_maps(self, native=True):
                return maps

        return Scores()


def screenshots(qa: App, folder: Path, out: Path, model: Path | None = None) -> None:
    """The README's four screenshots, from the demo projects (proposals by ``model``, else
    the shipped demo model, else a stand-in that blurs the ground truth)."""
    from avs_studio.core.project.project import Project
    from avs_studio.gui.common.qimage import mask_box
    from avs_studio.model.model_files import demo_model_path

    out.mkdir(parents=True, exist_ok=True)
    demo_project("s4", folder)
    demo_project("avss", folder)  # the demo datasets, built once
    demo_dir = Path(os.environ["AVS_STUDIO_DEMO_DIR"])

    def fresh(setting: str, sub: str) -> Path:  # a new project, untouched by earlier runs
        path = folder / f"screenshots-{setting}.avsproj"
        for p in folder.glob(f"{path.name}*"):
            p.unlink()
        with Project.create(path, setting) as project:
            project.add_clips_from_dataset(demo_dir / sub, with_masks=False)
        return path

    s4 = fresh("s4", "Single-source")
    sounding_screenshots(qa, fresh("avss", "AVSS"), demo_dir / "AVSS", out)
    if model is not None:
        def factory(setting):
            from avs_studio.gui.annotator.proposals import _load_engine

            return _load_engine(setting, str(model), "", "cpu")

        what = str(model)
    elif demo_model_path("s4").is_file():
        factory, what = None, "the shipped demo model"
    else:
        factory, what = (lambda st: GroundTruthEngine(demo_dir / "Single-source")), GroundTruthEngine.name
    print(f"  proposals by: {what}")
    # 1. a proposal shown (S4 demo), on a clip whose sounding object changes
    win = make_window(factory)
    win.resize(1500, 940)
    win.open_project(s4)
    qa.wait(lambda: win.loaded is not None and win.jobs.is_idle)
    target = win.project.clip_ids()[1]
    win.open_clip(target)
    qa.wait(lambda: win.clip_id == target and win.jobs.is_idle and win._loading is None)
    win.propose_current()
    qa.wait(lambda: win.jobs.is_idle, timeout=600)
    win.show_frame(1)
    props = [o.instance_id for o in win.session.objects(1) if o.provenance.is_proposal]
    if props:
        win.select_object(props[0])
    win.set_tool("select")
    _settle(qa, win)
    _save(win, out / "annotator-proposal.png")
    # 2. a polygon being drawn, beside the accepted proposal
    if props:
        win.accept_selected()
    win.set_tool("polygon")
    win.new_object()
    for x, y in [(22, 150), (70, 128), (104, 150), (96, 200), (40, 206)]:
        send(win, QEvent.Type.MouseButtonPress, x, y)
        send(win, QEvent.Type.MouseButtonRelease, x, y)
    send(win, QEvent.Type.MouseMove, 24, 184)
    _settle(qa, win)
    _save(win, out / "annotator-polygon.png")
    win.close()
    # 3. AVSS labels: the dataset's masks imported (File > Import Masks), one selected
    win = make_window()
    win.resize(1500, 940)
    win.open_project(fresh("avss", "AVSS"))
    qa.wait(lambda: win.loaded is not None and win.jobs.is_idle)
    win.import_masks(demo_dir / "AVSS")
    qa.wait(lambda: win.jobs.is_idle, timeout=120)
    best = max(win.project.clip_ids(), key=lambda c: len({o.label for o in win.project.frame_objects(c, 2)}))
    win.open_clip(best)
    qa.wait(lambda: win.clip_id == best and win.jobs.is_idle and win._loading is None)
    win.show_frame(2)
    objs = win.session.objects(2)
    if objs:
        win.select_object(objs[0].instance_id)
    win.labels.search.setText("o")
    win.set_tool("select")
    _settle(qa, win)
    _save(win, out / "annotator-avss.png")
    # 4. overlapping objects shown as exported, with the object order controls
    win.labels.search.setText("")
    if objs:
        below = objs[0]
        top, left, bottom, right = mask_box(below.mask)
        win.select_object(None)
        win.labels.choose(win.project.labels.index("man") if below.label != win.project.labels.index("man")
                          else win.project.labels.index("dog"))  # fmt: skip
        win.set_tool("brush")
        win.set_brush_radius(max(6, (bottom - top) // 6))
        y = (top + bottom) // 2
        x0, x1 = max(0, left - (right - left) // 2), (left + right) // 2
        send(win, QEvent.Type.MouseButtonPress, x0, y)
        for x in range(x0, x1, 4):
            send(win, QEvent.Type.MouseMove, x, y)
        send(win, QEvent.Type.MouseButtonRelease, x1, y)
        win.select_object(below.instance_id)  # the lower one: Raise would give it the shared pixels
        win.actions_by_id["show_exported"].setChecked(True)
        win.set_tool("select")
        _settle(qa, win)
        _save(win, out / "annotator-exported.png")
    win.close()


def sounding_screenshots(qa: App, project: Path, dataset: Path, out: Path) -> None:
    """The sounding lanes, an outline edit and the minimap, on the AVSS demo clip with the
    most objects. Its objects are drawn in every frame they are visible in (from the demo's
    own scene, as propagation would give them), the demo model proposes (the lanes' hints),
    and the first six frames are decided as the demo's manifest says each object sounds."""
    from avs_studio.core.demo.dataset import DemoClipPlan, build_scene, read_manifest, sampled_times
    from avs_studio.core.demo.scene import KIND_BY_NAME
    from avs_studio.core.project.edits import AddObject, Composite, SetAnnotated, SetSounding

    manifest = read_manifest(dataset)
    plans = [DemoClipPlan(**c) for c in manifest["clips"]]
    plan = max((p for p in plans if p.seconds == 10), key=lambda p: (len(p.kinds), sum(map(any, p.sounding))))
    win = make_window()
    win.resize(1500, 980)
    win.open_project(project)
    qa.wait(lambda: win.loaded is not None and win.jobs.is_idle)
    win.open_clip(plan.clip_id)
    qa.wait(lambda: win.clip_id == plan.clip_id and win.jobs.is_idle and win._loading is None)
    rec, labels = win.record, win.project.labels
    scene = build_scene(plan, manifest["seed"], tuple(manifest["size"]))
    times = sampled_times(plan.seconds)
    cmds = []
    for k, t in enumerate(times):
        where = scene.object_map(t, (rec.width, rec.height))
        for i, kind in enumerate(plan.kinds):
            if (where == i).any():
                cmds.append(AddObject(k, i + 1, labels.index(KIND_BY_NAME[kind].avss_class),
                                      (where == i).astype(np.uint8)))  # fmt: skip
    win.session.apply(Composite([*cmds, SetAnnotated(range(len(times)))], "Objects of every frame"))
    win.propose_current()
    qa.wait(lambda: win.jobs.is_idle, timeout=600)
    proposals = {o.instance_id for o in win.session.store.objects() if o.provenance.is_proposal}
    for k, t in enumerate(times[:6]):
        present = {o.instance_id for o in win.session.objects(k)} - proposals
        silent = [(k, i) for i in sorted(present) if not plan.sounding[i - 1][min(int(t), plan.seconds - 1)]]
        if silent:
            win.session.apply(SetSounding(silent, False))
        if present:
            win.session.apply(SetSounding([(k, i) for i in sorted(present)], None))
    win._after_edit(None)
    shown = next((k, i) for k in (3, 4, 2, 1, 5, 0) for i, s in enumerate(plan.sounding, start=1)
                 if not s[min(int(times[k]), plan.seconds - 1)] and win.session.store.object(k, i))  # fmt: skip
    win.show_frame(shown[0])
    win.select_object(shown[1])
    win.refresh_objects()
    win.set_tool("select")
    _settle(qa, win)
    _save(win, out / "annotator-sounding.png")
    obj = win.session.store.object(*shown)
    rows, cols = np.nonzero(obj.mask)
    centre = QPointF(cols.mean() + 0.5, rows.mean() + 0.5)
    # an outline being edited: a vertex of the selected object pulled out (not committed yet)
    win.canvas.zoom(2.0)
    win.canvas.centerOn(centre)
    win.set_tool("outline")
    _settle(qa, win)
    tool = win.tools["outline"]
    if tool.outlines:
        o = tool.outlines[0]
        j = int(np.argmax(o.points[:, 0]))
        x, y = o.points[j]
        for kind, px, py in ((QEvent.Type.MouseButtonPress, x, y), (QEvent.Type.MouseMove, x + 14, y - 10),
                             (QEvent.Type.MouseButtonRelease, x + 18, y - 12)):  # fmt: skip
            send(win, kind, px, py)
    _settle(qa, win)
    _save(win, out / "annotator-outline.png")
    tool.key(_key_event(Qt.Key.Key_Escape))
    # zoomed in: the minimap shows the whole frame and where the view is
    win.set_tool("select")
    win.canvas.fit()
    win.canvas.zoom(2.5)
    others = [o for o in win.session.objects(shown[0]) if o.instance_id != shown[1]]
    if others:
        rows, cols = np.nonzero(others[0].mask)
        win.canvas.centerOn(QPointF(cols.mean() + 0.5, rows.mean() + 0.5))
    _settle(qa, win)
    _save(win, out / "annotator-minimap.png")
    win.close()


def _key_event(key):
    from PySide6.QtGui import QKeyEvent

    return QKeyEvent(QEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier)


def _settle(qa: App, win) -> None:
    for _ in range(30):
        qa.flush()
        time.sleep(0.02)


def _save(win, path: Path) -> None:
    """The window as a PNG with a 256-colour palette (a few hundred KB, not megabytes)."""
    from PIL import Image

    img = win.grab().toImage().convertToFormat(win.grab().toImage().Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, : 3 * img.width()]
    pic = Image.fromarray(arr.reshape(img.height(), img.width(), 3).copy())
    pic.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"  wrote {path} ({path.stat().st_size // 1024} KiB)")


# ====================================================================== main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moves", type=int, default=400)
    ap.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument("--screenshots", type=Path, help="also write the README screenshots here")
    ap.add_argument("--skip-stall", action="store_true", help="skip the proposal stall measurement")
    ap.add_argument("--screenshots-only", action="store_true", help="only write the screenshots")
    ap.add_argument("--model", type=Path, help="the S4 model whose proposals the screenshots show")
    args = ap.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench-gui-"))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["AVS_STUDIO_SETTINGS"] = str(folder / "settings.ini")
    os.environ.setdefault("AVS_STUDIO_DEMO_DIR", str(folder / "demo"))
    qa = App()
    if args.screenshots_only:
        screenshots(qa, folder, args.screenshots or Path("docs"), args.model)
        return 0
    try:
        print(f"AVS Studio GUI bench ({QApplication.platformName()} platform, Python {sys.version.split()[0]})")
        t0 = time.perf_counter()
        hd = folder / "hd.avsproj"
        if not hd.exists():
            make_1080p_project(folder)
        demo = demo_project("s4", folder)
        print(f"  fixtures ready in {time.perf_counter() - t0:.1f} s: {hd.name} (1920x1080), {demo.name}")
        win = make_window()
        win.open_project(hd)
        qa.wait(lambda: win.loaded is not None and win.jobs.is_idle)
        qa.flush()
        bench_brush(qa, win, args.moves)
        bench_switch(qa, win)
        print("\n3. clip open (frames decoded in a worker, strip, timeline, player)")
        bench_open(qa, win, "1080p video clip", win.project.clip_ids())
        win.close()
        win = make_window()
        win.open_project(demo)
        qa.wait(lambda: win.loaded is not None and win.jobs.is_idle)
        bench_open(qa, win, "S4 demo clip (224x224 frames)", win.project.clip_ids()[1:3])
        win.close()
        if not args.skip_stall:
            bench_stall(qa, folder)
        if args.screenshots:
            print("\nscreenshots")
            screenshots(qa, folder, args.screenshots, args.model)
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
