"""Does the review window's clip table stay responsive with 5,000 clips? (offscreen Qt)

    python bench/bench_gui_review.py [--clips 5000] [--repeat 9]

Builds a :class:`~avs_studio.core.review.table.ReviewTable` of synthetic per-clip scores
(5,000 clips, 23 categories, 5 frames, a second model: nothing is scored) and times what
the window does on each interaction, each followed by a forced repaint of the table (one
screen of ``data()`` calls) and, where the window does it, the plots: showing the table,
sorting by each column (first time and cached), filtering by category, score range and
text, scrolling to another screen, and redrawing the three plots for a filter.

The baseline, measured in the same run on the same data and the same view, is the
obvious Qt design: a ``QStandardItemModel`` with one item per cell behind a
``QSortFilterProxyModel``. Target: every interaction under 50 ms. Prints milliseconds
(median) and the ratio baseline / ours.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_review import build, timed
from bench_review import synthetic as review_columns
from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QApplication, QTableView

from avs_studio.core.review.table import ReviewTable

TARGET_MS = 50.0


def synthetic(n: int, seed: int = 0) -> ReviewTable:
    """The review table of ``bench_review.py``'s synthetic per-clip scores (5 frames, a
    second model, skewed scores, a few clips without a value)."""
    return build(review_columns(n, seed))


def make_view(model) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(24)
    from PySide6.QtWidgets import QHeaderView

    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    view.resize(700, 900)  # about 36 rows on screen
    view.show()
    return view


def paint(view: QTableView) -> None:
    """Lay out and draw the visible rows now (what the event loop does after a change)."""
    view.doItemsLayout()
    view.viewport().grab()


def baseline_model(table: ReviewTable, keys: list[str]) -> QStandardItemModel:
    """One QStandardItem per cell, numbers as EditRole values (so the proxy sorts them)."""
    model = QStandardItemModel(len(table), len(keys))
    for r in range(len(table)):
        for c, key in enumerate(keys):
            item = QStandardItem(table.cell(r, key))
            v = table.value(r, key)
            if not isinstance(v, str):
                item.setData(v, Qt.ItemDataRole.UserRole)
            model.setItem(r, c, item)
    return model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from avs_studio.gui.common.theme import apply_theme
    from avs_studio.gui.review.plots import PlotsPanel
    from avs_studio.gui.review.table import FRAMES_KEY, FrameBarsDelegate, ReviewTableModel

    n, rep = args.clips, args.repeat
    t = time.perf_counter()
    table = synthetic(n)
    build_ms = (time.perf_counter() - t) * 1000
    apply_theme(app)
    ours = ReviewTableModel()
    view = make_view(ours)
    results: list[tuple[str, float, float | None]] = []

    def fresh():
        # a new table each time: nothing cached from the previous run
        return synthetic(n, seed=1)

    tables = [fresh() for _ in range(rep)]
    it = iter(tables)
    show_ms = timed(lambda: (ours.set_table(next(it)), paint(view)), rep)
    ours.set_table(table)
    for col, key in enumerate(ours.keys):
        if key == FRAMES_KEY:
            view.setItemDelegateForColumn(col, FrameBarsDelegate(view))
    paint(view)
    app.processEvents()

    # ---------------------------------------------------------------- baseline
    keys = [k for k in ours.keys if k != FRAMES_KEY]
    t = time.perf_counter()
    std = baseline_model(table, keys)
    proxy = QSortFilterProxyModel()
    proxy.setSortRole(Qt.ItemDataRole.UserRole)
    proxy.setSourceModel(std)
    base_view = make_view(proxy)
    paint(base_view)
    base_show_ms = (time.perf_counter() - t) * 1000
    results.append((f"show {n} clips", show_ms, base_show_ms))

    # ---------------------------------------------------------------- sorting
    sort_first, sort_cached, base_sort = [], [], []
    for col, key in enumerate(ours.keys):
        if key == FRAMES_KEY:
            continue
        table._orders.clear()  # the first sort of this column
        t = time.perf_counter()
        ours.sort(col, Qt.SortOrder.DescendingOrder)
        paint(view)
        sort_first.append((time.perf_counter() - t) * 1000)
        sort_cached.append(timed(lambda c=col: (ours.sort(c, Qt.SortOrder.DescendingOrder), paint(view)), rep))
        bcol = keys.index(key)
        base_sort.append(timed(lambda c=bcol: (proxy.sort(c, Qt.SortOrder.DescendingOrder), paint(base_view)), 3))
    results.append(("sort, first time (worst column)", max(sort_first), max(base_sort)))
    results.append(("sort, cached (worst column)", max(sort_cached), None))
    ours.sort_by("worst")
    proxy.sort(-1)

    # ---------------------------------------------------------------- filtering
    cat = table.all_tags()[3]
    cat_col = keys.index("category")
    results.append(("filter: one category",
                    timed(lambda: (ours.set_filters(categories={cat}), paint(view)), rep),
                    timed(lambda: (proxy.setFilterKeyColumn(cat_col), proxy.setFilterFixedString(cat),
                                   paint(base_view)), 3)))  # fmt: skip
    proxy.setFilterFixedString("")
    results.append(("filter: mIoU range 0.2-0.6",
                    timed(lambda: (ours.set_filters(ranges={"miou": (0.2, 0.6)}), paint(view)), rep), None))
    id_col = keys.index("clip_id")
    results.append(("filter: text search 'ab'",
                    timed(lambda: (ours.set_filters(text="ab"), paint(view)), rep),
                    timed(lambda: (proxy.setFilterKeyColumn(id_col), proxy.setFilterFixedString("ab"),
                                   paint(base_view)), 3)))  # fmt: skip
    proxy.setFilterFixedString("")
    ours.set_filters()

    # ---------------------------------------------------------------- scrolling
    rng = np.random.default_rng(3)
    bar, base_bar = view.verticalScrollBar(), base_view.verticalScrollBar()
    results.append(("scroll to another screen",
                    timed(lambda: (bar.setValue(int(rng.integers(0, bar.maximum() + 1))), paint(view)), rep * 3),
                    timed(lambda: (base_bar.setValue(int(rng.integers(0, base_bar.maximum() + 1))),
                                   paint(base_view)), rep * 3)))  # fmt: skip
    calls = [0]
    real_data = ours.data

    def counting(index, role=Qt.ItemDataRole.DisplayRole):
        calls[0] += 1
        return real_data(index, role)

    ours.data = counting
    paint(view)
    ours.data = real_data

    # ---------------------------------------------------------------- plots
    plots = PlotsPanel()
    plots.resize(700, 320)
    plots.show()
    rows = table.view(categories=set(table.all_tags()[:12]))

    def plot_all():
        plots.update_from(table, rows)
        for w in (plots.histogram, plots.categories, plots.scatter):
            w.repaint()

    results.append(("plots for a filter (3 plots)", timed(plot_all, rep), None))
    plots.setCurrentIndex(2)
    results.append((f"scatter of {n} points", timed(lambda: (plots.update_from(table, None), plots.scatter.repaint()), rep),
                    None))  # fmt: skip

    # ---------------------------------------------------------------- report
    print(f"review table GUI, {n} clips (offscreen Qt, {QApplication.platformName()}); "
          f"table built from columns in {build_ms:.0f} ms")  # fmt: skip
    print(f"one screen of the table: {calls[0]} data() calls")
    print(f"{'interaction':38s} {'ours ms':>9s} {'baseline ms':>12s} {'ratio':>7s}")
    worst = 0.0
    for name, ms, base in results:
        worst = max(worst, ms)
        b = f"{base:12.1f}" if base is not None else f"{'-':>12s}"
        r = f"{base / ms:6.1f}x" if base is not None and ms > 0 else f"{'':>7s}"
        print(f"{name:38s} {ms:9.1f} {b} {r}")
    print(f"slowest interaction {worst:.1f} ms: {'OK' if worst < TARGET_MS else 'over'} the {TARGET_MS:.0f} ms target")
    view.close()
    base_view.close()
    plots.close()
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
