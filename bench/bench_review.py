"""Is the review table responsive with 5,000 clips? Sort, filter and one screen of cells.

    python bench/bench_review.py [--clips 5000] [--repeat 15]

Builds a :class:`~avs_studio.core.review.table.ReviewTable` from synthetic per-clip arrays
(5,000 clips, 23 categories, 5 frames each, a second model to compare with: no metrics are
computed, the scores are fed in) and times what a GUI does on each interaction: sort by each
column (first time, then cached), filter by category, score range and text, and the
``data()`` calls a Qt table model makes for one screen (50 rows x 6 columns). The baseline,
measured in the same run on the same data, is the obvious design: a list of one dict per
clip, sorted with ``sorted()`` and filtered with list comprehensions. Target: every
interaction under 50 ms. Prints milliseconds per operation (median) and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avs_studio.core.masks.palette import S4_CATEGORIES
from avs_studio.core.review.table import ReviewTable

TARGET_MS = 50.0
SCREEN_ROWS = 50
SCREEN_COLUMNS = ("rank", "clip_id", "category", "miou", "fscore", "delta_miou")


def synthetic(n: int, seed: int = 0) -> dict:
    """Per-clip arrays shaped like a real review: skewed scores, some clips without a value."""
    rng = np.random.default_rng(seed)
    miou = rng.beta(5, 2, n)
    miou[rng.random(n) < 0.01] = np.nan
    fscore = np.clip(miou + rng.normal(0, 0.05, n), 0, 1)
    frames = rng.beta(5, 2, (n, 5))
    return dict(
        clip_ids=[f"{''.join(rng.choice(list('abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_'), 11))}_{i}"
                  for i in range(n)],
        miou=miou, fscore=fscore,
        categories=[S4_CATEGORIES[i] for i in rng.integers(0, len(S4_CATEGORIES), n)],
        frames=np.full(n, 5), gt_size=rng.beta(2, 8, n),
        frame_iou=frames, frame_fscore=frames, frame_gt_size=rng.beta(2, 8, (n, 5)),
        miou_b=np.clip(miou + rng.normal(0.02, 0.1, n), 0, 1), fscore_b=fscore,
    )  # fmt: skip


def build(data: dict) -> ReviewTable:
    d = dict(data)
    return ReviewTable.from_columns(d.pop("clip_ids"), d.pop("miou"), d.pop("fscore"), **d)


def rows_of(data: dict) -> list[dict]:
    """The baseline store: one dict per clip."""
    out = []
    for i, cid in enumerate(data["clip_ids"]):
        m = float(data["miou"][i])
        mb = float(data["miou_b"][i])
        out.append({"clip_id": cid, "category": data["categories"][i], "miou": m, "fscore": float(data["fscore"][i]),
                    "gt_size": float(data["gt_size"][i]), "delta_miou": mb - m, "index": i})  # fmt: skip
    return out


def timed(fn, repeat: int) -> float:
    """Median milliseconds of ``fn()``."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    n, rep = args.clips, args.repeat
    data = synthetic(n)
    print(f"review table: {n} clips, 5 frames each, compared with a second model; median of {rep} runs")
    print(f"{'operation':46s} {'table ms':>9s} {'dicts ms':>9s} {'ratio':>7s}")
    worst = 0.0

    def line(name: str, ms: float, base: float | None = None) -> None:
        nonlocal worst
        worst = max(worst, ms)
        ratio = f"{base / ms:6.1f}x" if base else ""
        base_text = f"{base:9.2f}" if base is not None else ""
        print(f"{name:46s} {ms:9.2f} {base_text:>9s} {ratio:>7s}")

    t_build = timed(lambda: build(data), max(3, rep // 3))
    t_dicts = timed(lambda: rows_of(data), max(3, rep // 3))
    line(f"load {n:,} clips' scores", t_build, t_dicts)

    table = build(data)
    rows = rows_of(data)

    def nan_last(key, reverse=False):
        def k(r):
            v = r[key]
            return (v != v, -v if reverse and v == v else (v if v == v else 0.0), r["index"])

        return k

    for key, descending in (("worst", False), ("miou", True), ("fscore", False), ("gt_size", False),
                            ("delta_miou", True), ("clip_id", False), ("category", False)):  # fmt: skip
        def cold(key=key, descending=descending):
            table._orders.clear()
            table.order(key, descending)

        if key in ("clip_id", "category"):
            base = timed(lambda key=key: sorted(rows, key=lambda r: (r[key].casefold(), r["index"])), rep)
        elif key == "worst":
            base = timed(lambda: sorted(rows, key=lambda r: (r["miou"] != r["miou"], r["miou"] if r["miou"] == r["miou"] else 0,
                                                             r["fscore"], r["index"])), rep)  # fmt: skip
        else:
            base = timed(lambda key=key, d=descending: sorted(rows, key=nan_last(key, d)), rep)
        line(f"sort by {key}{' (descending)' if descending else ''}, first time", timed(cold, rep), base)
    table.order("miou", True)
    line("sort again (cached)", timed(lambda: table.order("miou", True), rep))

    cats = {"dog_barking", "helicopter"}
    line("filter: two categories", timed(lambda: table.view(categories=cats), rep),
         timed(lambda: [r for r in sorted(rows, key=nan_last("miou")) if r["category"] in cats], rep))  # fmt: skip
    line("filter: mIoU in [0.2, 0.6]", timed(lambda: table.view(ranges={"miou": (0.2, 0.6)}), rep),
         timed(lambda: [r for r in sorted(rows, key=nan_last("miou")) if 0.2 <= r["miou"] <= 0.6], rep))  # fmt: skip
    table.mask(text="x")  # the lower-cased search strings are built once, on the first search
    line("filter: text 'ab'", timed(lambda: table.view(text="ab"), rep),
         timed(lambda: [r for r in sorted(rows, key=nan_last("miou")) if "ab" in r["clip_id"].lower()
                        or "ab" in r["category"].lower()], rep))  # fmt: skip
    line("filter: all three + sort by delta", timed(lambda: table.view("delta_miou", True, categories=cats,
                                                                       ranges={"miou": (0.2, 0.9)}, text="a"), rep))  # fmt: skip

    def screen(table=table):
        view = table.view("miou", True, categories=cats)
        return [[table.cell(int(view[r]), c) for c in SCREEN_COLUMNS] for r in range(min(SCREEN_ROWS, len(view)))]

    def cold_screen():
        table._texts.clear()
        screen()

    line("one screen of cells (50 x 6), first time", timed(cold_screen, rep),
         timed(lambda: [[f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in ("clip_id", "category", "miou",
                        "fscore", "delta_miou")] for r in sorted(rows, key=nan_last("miou"))[:50]], rep))  # fmt: skip
    line("one screen of cells (50 x 6), scrolled again", timed(screen, rep))
    line("plot data: histogram + categories + scatter",
         timed(lambda: (table.histogram(), table.category_stats(), table.size_vs_iou()), rep))  # fmt: skip
    verdict = "OK" if worst < TARGET_MS else "TOO SLOW"
    print(f"slowest interaction {worst:.2f} ms (target < {TARGET_MS:.0f} ms): {verdict}")
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
