"""Starting the GUI: the application, the window registry, and the command line of ``main.py``.

``python main.py`` opens the demo project (the demo dataset is built on first start, in
the background, with a progress bar); ``python main.py PROJECT.avsproj`` opens a project;
``python main.py DATASET_FOLDER`` offers to create a project from the dataset (or, with
``--browse``, opens the read-only dataset browser).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QApplication,
    QMainWindow,
    QMessageBox,
)

from avs_studio.core.threads import limit_numpy_blas
from avs_studio.gui import windows
from avs_studio.gui.browser import DatasetBrowser
from avs_studio.gui.common.qimage import icon
from avs_studio.gui.common.theme import apply_theme

# ====================================================================== start-up


def register_windows() -> None:
    """Tell the window registry how to make each kind of window (see :mod:`avs_studio.gui.windows`):
    the annotator and the review window open each other through it, not through imports."""
    from avs_studio.gui.annotator.window import AnnotatorWindow
    from avs_studio.gui.review.window import ReviewWindow

    windows.register("annotator", AnnotatorWindow)
    windows.register("review", ReviewWindow)


def make_app() -> QApplication:
    """The QApplication (created once), themed, with the window registry filled."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    register_windows()
    app.setApplicationName("AVS Studio")
    app.setOrganizationName("AVS Studio")
    app.setWindowIcon(icon("app"))
    apply_theme(app)
    return app


def _install_excepthook(window: QMainWindow) -> None:
    """A programming error in a slot shows a message instead of killing the window."""
    import traceback

    def hook(kind, value, tb):
        text = "".join(traceback.format_exception(kind, value, tb, limit=6))
        sys.__stderr__.write(text)
        with contextlib.suppress(Exception):
            QMessageBox.critical(window, "AVS Studio: unexpected error",
                                 f"{kind.__name__}: {value}\n\nThe project is unchanged by the failed "
                                 f"action. Details:\n{text[-1500:]}")  # fmt: skip

    sys.excepthook = hook


def qt_binding_problem() -> str:
    """Why the installed Qt binding cannot run AVS Studio, or "" when it can."""
    import PySide6

    version = tuple(int(p) for p in PySide6.__version__.split(".")[:2] if p.isdigit())
    if version == (6, 12) and sys.version_info < (3, 12):
        return (
            f"PySide6 {PySide6.__version__} loses a reference to None/True on every Qt call on "
            "Python < 3.12 and crashes after a few hundred signals; install a fixed release: "
            "python -m pip install 'PySide6-Essentials<6.12'"
        )
    return ""


def run(argv: list[str] | None = None) -> int:
    """Start the GUI on a project, a dataset folder, or (no argument) the demo project."""
    import argparse

    parser = argparse.ArgumentParser(prog="avs-studio-gui", description="AVS Studio")
    parser.add_argument("target", nargs="*", help="a project file (.avsproj) or AVSBench dataset folder(s)")
    parser.add_argument("--demo", default="s4", choices=["s4", "ms3", "avss"], help="which demo project to open")
    parser.add_argument("--browse", action="store_true", help="open dataset folders in the read-only browser")
    parser.add_argument("--screenshot", help="save a screenshot of the window to this PNG once it is ready, and quit")
    # the review window (review_window.py)
    parser.add_argument("--review", nargs=2, metavar=("PRED", "GT"),
                        help="review predictions against ground truth (an AVSBench dataset folder or a project)")
    parser.add_argument("--setting", choices=["s4", "ms3", "avss"], help="with --review: the setting (default: from the files)")
    parser.add_argument("--compare", metavar="PRED2", help="with --review: a second model's predictions to compare with")
    parser.add_argument("--split", default="test", choices=["test", "val", "train", "all"],
                        help="with --review: the clips to score (default: test, as the official evaluation)")
    args = parser.parse_args(argv)
    problem = qt_binding_problem()
    if problem:
        print(f"AVS Studio: {problem}", file=sys.stderr)
        return 2
    app = make_app()
    limit_numpy_blas(1)  # small matrix products only: spinning BLAS threads would starve the GUI
    from avs_studio.gui.annotator.window import AnnotatorWindow

    targets = [Path(p) for p in args.target]
    if args.review:
        from avs_studio.gui.review.window import ReviewWindow

        win = ReviewWindow()
        win.show()
        win.open_review(args.review[0], args.review[1], args.setting, compare=args.compare, split=args.split)
    elif args.browse or (len(targets) > 1 and all(p.is_dir() for p in targets)):
        win: QMainWindow = DatasetBrowser()
        win.show()
        if targets:
            win.open_paths(targets)
        else:
            win.load_demo()
    else:
        win = AnnotatorWindow()
        win.show()
        target = targets[0] if targets else None
        if target is None:
            win.open_demo(args.demo)
        elif target.is_dir():
            QTimer.singleShot(0, lambda: _offer_project(win, target))
        else:
            win.open_project(target)
    _install_excepthook(win)
    if args.screenshot:
        _screenshot_when_idle(app, win, Path(args.screenshot))
    return app.exec()


def _offer_project(win, folder: Path) -> None:
    """A dataset folder was named: create a project from it, or browse it read-only."""
    box = QMessageBox(QMessageBox.Icon.Question, "AVS Studio",
                      f"{folder} is a dataset folder. Create an annotation project from its clips, or "
                      "browse it read-only?", parent=win)  # fmt: skip
    create = box.addButton("Create Project…", QMessageBox.ButtonRole.AcceptRole)
    browse = box.addButton("Browse", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    if box.clickedButton() is create:
        win._guarded(lambda: win.create_project_from_dataset(folder))
    elif box.clickedButton() is browse:
        browser = DatasetBrowser()
        browser.show()
        browser.open_paths([folder])
        win._browser = browser


def _screenshot_when_idle(app: QApplication, win: QMainWindow, path: Path) -> None:
    """Save the window once background work is done and a frame is shown, then quit."""

    def ready() -> bool:
        if hasattr(win, "screenshot_ready"):  # the review window
            return win.screenshot_ready()
        if isinstance(win, DatasetBrowser):
            return win.jobs.is_idle and win.clip is not None
        return win.jobs.is_idle and getattr(win, "loaded", None) is not None

    def check():
        if ready():
            QTimer.singleShot(400, lambda: (win.grab().save(str(path)), app.quit()))
        else:
            QTimer.singleShot(200, check)

    QTimer.singleShot(500, check)
