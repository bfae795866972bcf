"""The README's pictures of the assistance: the click tool, and propagation's proposals.

A project of one 5-s clip of a real video (opencv-doc's Megamind.avi when installed, else
the MS3 demo), opened in the annotator: three clicks on a character with the click tool
(the preview before Enter), then the committed mask propagated to the other sampled frames
(the strip and the canvas show the proposals).

    xvfb-run -a -s "-screen 0 1600x1000x24" python bench/assist_screenshots.py --out docs
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("AVS_STUDIO_AUDIO", "null")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_gui import App, _settle, make_window  # noqa: E402 - bench helpers by path
from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

MEGAMIND = Path("/usr/share/doc/opencv-doc/examples/data/Megamind.avi")
# clicks on the woman in the first second of Megamind.avi (positive, positive, negative)
CLICKS = [((330, 250), True), ((300, 140), True), ((290, 470), True), ((470, 230), False)]


def click(win, x: float, y: float, positive: bool = True) -> None:
    pos = QPointF(win.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5)))
    button = Qt.MouseButton.LeftButton if positive else Qt.MouseButton.RightButton
    for kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease):
        buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
        QApplication.sendEvent(win.canvas.viewport(), QMouseEvent(kind, pos, pos, button, buttons,
                                                                  Qt.KeyboardModifier.NoModifier))  # fmt: skip


def save(win, path: Path) -> None:
    """The window as a 256-colour PNG (the click marks' colours kept in the palette)."""
    import numpy as np
    from PIL import Image

    img = win.grab().toImage().convertToFormat(win.grab().toImage().Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, : 3 * img.width()]
    pic = Image.fromarray(arr.reshape(img.height(), img.width(), 3).copy())
    pic.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"  wrote {path} ({path.stat().st_size // 1024} KiB)")


def project(folder: Path) -> tuple[Path, list]:
    """A project with one clip, and where to click on its first frame."""
    from avs_studio.core.project.project import Project

    path = folder / "assist.avsproj"
    with Project.create(path, "s4") as p:
        if MEGAMIND.is_file():
            p.add_video(MEGAMIND, start=0.0, seconds=5)
            return path, CLICKS
        from avs_studio.core.demo.dataset import write_demo_dataset

        root = write_demo_dataset(folder / "demo", "ms3", 2, 7)
        p.add_clips_from_dataset(root, with_masks=False)
    return path, [((112, 112), True)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    qa = App()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AVS_STUDIO_SETTINGS"] = str(Path(tmp) / "settings.ini")
        path, clicks = project(Path(tmp))
        win = make_window()
        win.resize(1500, 940)
        win.open_project(path)
        qa.wait(lambda: win.loaded is not None and win.jobs.is_idle and win._loading is None)
        win.set_tool("click")
        for (x, y), positive in clicks:
            click(win, x, y, positive)
            qa.wait(lambda: win.jobs.is_idle)
        _settle(qa, win)
        save(win, args.out / "annotator-click.png")
        win.assist_commit()
        qa.wait(lambda: win.jobs.is_idle)
        inst = win.selected
        win.propagate_selected("forward")
        qa.wait(lambda: win.jobs.is_idle, timeout=300)
        print("  " + win.statusBar().currentMessage())
        win.show_frame(3)
        win.select_object(inst)
        win.set_tool("select")
        _settle(qa, win)
        save(win, args.out / "annotator-propagate.png")
        win.close()
        qa.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
