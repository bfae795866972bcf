"""The review table: per-clip and per-frame scores in columns, cheap to sort and filter.

A :class:`ReviewTable` holds one row per clip as numpy arrays and lists (no per-row
objects), so a GUI table model over thousands of clips only indexes arrays: sorting
returns an index array (cached per column and direction), filtering a boolean mask, and
a cell's text comes from a per-column list of strings formatted once. The same table
feeds the CSV files, the HTML report and the plots (:meth:`ReviewTable.histogram`,
:meth:`ReviewTable.category_stats`, :meth:`ReviewTable.size_vs_iou`).

Missing values (a clip without a score, a padded frame, the F-score of a frame with no
sounding object) are NaN in the numeric columns and an empty string in the text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

#: The worst-first order: lowest mIoU, then lowest F, then evaluation order; no value last.
WORST = "worst"


@dataclass(frozen=True)
class Column:
    """One column of the clip table: its key, header title, and whether it holds numbers."""

    key: str
    title: str
    numeric: bool
    digits: int = 4
    tooltip: str = ""
    percent: bool = False


_COLUMNS: dict[str, Column] = {
    c.key: c
    for c in (
        Column("rank", "Rank", True, 0, "position in the worst-first order"),
        Column("clip_id", "Clip", False),
        Column("category", "Category", False, tooltip="S4 category; AVSS sounding classes (a_obj)"),
        Column("subset", "Subset", False, tooltip="AVSS: v1s, v1m or v2"),
        Column("split", "Split", False),
        Column("miou", "mIoU", True, 4, "official per-clip mIoU"),
        Column("fscore", "F-score", True, 4, "official per-clip F (the clip as its own batch)"),
        Column("frames", "Frames", True, 0, "time steps scored"),
        Column("gt_size", "Object size", True, 1,
               "share of the frame covered by ground-truth objects (mean over frames)", percent=True),
        Column("miou_b", "mIoU (B)", True, 4, "second model's per-clip mIoU"),
        Column("fscore_b", "F-score (B)", True, 4, "second model's per-clip F"),
        Column("delta_miou", "\u0394 mIoU", True, 4, "B - A: positive when the second model is better"),
        Column("delta_fscore", "\u0394 F", True, 4, "B - A"),
    )
}  # fmt: skip

BASE_COLUMNS = ("rank", "clip_id", "category", "miou", "fscore", "gt_size", "frames")
COMPARE_COLUMNS = ("miou_b", "fscore_b", "delta_miou", "delta_fscore")
TEXT_COLUMNS = ("clip_id", "category", "subset", "split")
_ATTRS = {"clip_id": "clip_ids", "category": "categories", "subset": "subsets", "split": "splits",
          "miou": "miou", "fscore": "fscore", "frames": "frames", "gt_size": "gt_size",
          "miou_b": "miou_b", "fscore_b": "fscore_b"}  # fmt: skip


def column_info(key: str) -> Column:
    """The :class:`Column` description of ``key`` (KeyError for unknown columns)."""
    return _COLUMNS[key]


@dataclass(frozen=True)
class CategoryStat:
    """Mean per-clip scores of the clips of one category (clips without a value left out)."""

    name: str
    clips: int
    mean_miou: float
    mean_fscore: float
    mean_delta_miou: float = math.nan


@dataclass
class ReviewTable:
    """Per-clip columns (length N) and per-frame matrices (``[N, T]``, NaN-padded).

    Build it with :meth:`from_columns`; treat it as read-only afterwards (orders and
    formatted text are cached). Row ``i`` is the ``i``-th clip in evaluation order.
    """

    clip_ids: list[str]
    categories: list[str]
    subsets: list[str]
    splits: list[str]
    tags: list[tuple[str, ...]]
    miou: np.ndarray
    fscore: np.ndarray
    frames: np.ndarray
    gt_size: np.ndarray
    frame_iou: np.ndarray
    frame_fscore: np.ndarray
    frame_gt_size: np.ndarray
    frame_pred_size: np.ndarray
    frame_padded: np.ndarray
    miou_b: np.ndarray | None = None
    fscore_b: np.ndarray | None = None
    frame_iou_b: np.ndarray | None = None
    frame_fscore_b: np.ndarray | None = None
    frame_pred_size_b: np.ndarray | None = None
    _orders: dict = field(default_factory=dict, repr=False)
    _texts: dict = field(default_factory=dict, repr=False)
    _tag_rows: dict | None = field(default=None, repr=False)
    _rank: np.ndarray | None = field(default=None, repr=False)
    _lower: list[str] | None = field(default=None, repr=False)
    _index: dict[str, int] | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_columns(
        cls,
        clip_ids: Sequence[str],
        miou: Sequence[float | None],
        fscore: Sequence[float | None],
        *,
        categories: Sequence[str] | None = None,
        subsets: Sequence[str] | None = None,
        splits: Sequence[str] | None = None,
        tags: Sequence[Iterable[str]] | None = None,
        frames: Sequence[int] | None = None,
        gt_size: Sequence[float] | None = None,
        frame_iou: np.ndarray | None = None,
        frame_fscore: np.ndarray | None = None,
        frame_gt_size: np.ndarray | None = None,
        frame_pred_size: np.ndarray | None = None,
        frame_padded: np.ndarray | None = None,
        miou_b: Sequence[float | None] | None = None,
        fscore_b: Sequence[float | None] | None = None,
        frame_iou_b: np.ndarray | None = None,
        frame_fscore_b: np.ndarray | None = None,
        frame_pred_size_b: np.ndarray | None = None,
    ) -> ReviewTable:
        """A table from per-clip sequences (None -> NaN) and optional ``[N, T]`` frame matrices.

        ``tags`` are what the category filter and the per-category plot group by (default:
        the category itself when it is not empty).
        """
        n = len(clip_ids)
        cats = _strings(categories, n, "categories")
        if tags is None:
            tag_list = [(c,) if c else () for c in cats]
        else:
            tag_list = [tuple(t) for t in tags]
            _check_len(tag_list, n, "tags")
        t = 1
        for m in (frame_iou, frame_fscore, frame_gt_size, frame_pred_size, frame_padded):
            if m is not None:
                t = np.asarray(m).shape[1] if np.asarray(m).ndim == 2 else t

        def mat(m, dtype=np.float64, fill=math.nan):
            if m is None:
                return np.full((n, t), fill, dtype=dtype)
            a = np.asarray(m, dtype=dtype)
            if a.shape != (n, t):
                raise ValueError(f"frame matrix has shape {a.shape}, expected {(n, t)}")
            return a

        table = cls(
            clip_ids=[str(c) for c in clip_ids],
            categories=cats,
            subsets=_strings(subsets, n, "subsets"),
            splits=_strings(splits, n, "splits"),
            tags=tag_list,
            miou=_floats(miou, n, "miou"),
            fscore=_floats(fscore, n, "fscore"),
            frames=np.asarray(frames if frames is not None else np.zeros(n), dtype=np.int64),
            gt_size=_floats(gt_size, n, "gt_size") if gt_size is not None else np.full(n, math.nan),
            frame_iou=mat(frame_iou),
            frame_fscore=mat(frame_fscore),
            frame_gt_size=mat(frame_gt_size),
            frame_pred_size=mat(frame_pred_size),
            frame_padded=mat(frame_padded, bool, False),
        )
        if (miou_b is None) != (fscore_b is None):
            raise ValueError("give both miou_b and fscore_b, or neither")
        if miou_b is not None:
            table.miou_b = _floats(miou_b, n, "miou_b")
            table.fscore_b = _floats(fscore_b, n, "fscore_b")
            table.frame_iou_b = mat(frame_iou_b)
            table.frame_fscore_b = mat(frame_fscore_b)
            table.frame_pred_size_b = mat(frame_pred_size_b)
        if table.frames.shape != (n,):
            raise ValueError(f"frames has {table.frames.size} values for {n} clips")
        return table

    # ------------------------------------------------------------------ shape
    def __len__(self) -> int:
        return len(self.clip_ids)

    @property
    def compared(self) -> bool:
        """True when the table holds a second model's scores (and the deltas)."""
        return self.miou_b is not None

    @property
    def frames_per_row(self) -> int:
        """Columns of the per-frame matrices (the setting's time steps)."""
        return int(self.frame_iou.shape[1])

    def columns(self) -> list[Column]:
        """The columns a clip table shows, in order: the comparison columns only when compared,
        the category only when some clip has one (MS3 has none)."""
        keys = BASE_COLUMNS + (COMPARE_COLUMNS if self.compared else ())
        return [_COLUMNS[k] for k in keys if k != "category" or any(self.categories)]

    def index_of(self, clip_id: str) -> int:
        """Row of ``clip_id`` (KeyError if absent)."""
        if self._index is None:
            self._index = {c: i for i, c in enumerate(self.clip_ids)}
        return self._index[clip_id]

    # ------------------------------------------------------------------ values
    @property
    def delta_miou(self) -> np.ndarray | None:
        """Per-clip mIoU of B minus A (None without a second model)."""
        return self._delta("miou")

    @property
    def delta_fscore(self) -> np.ndarray | None:
        """Per-clip F of B minus A (None without a second model)."""
        return self._delta("fscore")

    def _delta(self, key: str) -> np.ndarray | None:
        b = getattr(self, f"{key}_b")
        if b is None:
            return None
        cached = self._texts.get(("delta", key))  # computed once, like the formatted columns
        if cached is None:
            cached = b - getattr(self, key)
            cached.setflags(write=False)
            self._texts[("delta", key)] = cached
        return cached

    @property
    def rank(self) -> np.ndarray:
        """1-based position of each row in the worst-first order."""
        if self._rank is None:
            rank = np.empty(len(self), dtype=np.int64)
            rank[self.order(WORST)] = np.arange(1, len(self) + 1)
            self._rank = rank
        return self._rank

    def column(self, key: str) -> np.ndarray | list[str]:
        """The values of one column: a numpy array (numbers) or a list of strings."""
        if key == "rank":
            return self.rank
        if key in ("delta_miou", "delta_fscore"):
            v = getattr(self, key)
        elif key in _ATTRS:
            v = getattr(self, _ATTRS[key])
        else:
            raise KeyError(f"unknown column {key!r}")
        if v is None:
            raise KeyError(f"{key}: no second model to compare with")
        return v

    def value(self, row: int, key: str):
        """One cell's value (float NaN for a missing number)."""
        v = self.column(key)[row]
        return v.item() if isinstance(v, np.generic) else v

    def text(self, key: str) -> list[str]:
        """The column formatted for display, computed once (empty string for no value)."""
        cached = self._texts.get(key)
        if cached is None:
            col = _COLUMNS[key]
            values = self.column(key)
            if not col.numeric:
                cached = list(values)
            else:
                fmt = _format(col)
                cached = [fmt(v) for v in np.asarray(values, dtype=np.float64).tolist()]
            self._texts[key] = cached
        return cached

    def cell(self, row: int, key: str) -> str:
        """Display text of one cell (what a Qt table model's ``data()`` returns), formatted on
        demand: a screen of cells costs microseconds whatever the number of clips."""
        cached = self._texts.get(key)
        if cached is not None:
            return cached[row]
        col = _COLUMNS[key]
        v = self.column(key)[row]
        return _format(col)(float(v)) if col.numeric else v

    def row_dict(self, row: int) -> dict:
        """All per-clip values of one row (for CSV and tooltips)."""
        keys = ("rank", "clip_id", "category", "subset", "split", "miou", "fscore", "frames", "gt_size")
        if self.compared:
            keys += COMPARE_COLUMNS
        return {k: self.value(row, k) for k in keys}

    # ------------------------------------------------------------------ sorting
    def order(self, key: str = WORST, descending: bool = False) -> np.ndarray:
        """Row indices sorted by ``key`` (cached): stable, ties in evaluation order.

        ``WORST`` sorts as :func:`avs_studio.core.metrics.clip_rows` does (lowest mIoU, then
        lowest F; clips without a value last). Numeric columns put NaN last in either
        direction; text sorts case-insensitively.
        """
        cache_key = (key, bool(descending))
        cached = self._orders.get(cache_key)
        if cached is not None:
            return cached
        n = len(self)
        idx = np.arange(n)
        if key == WORST:
            m, f = self.miou, self.fscore
            keys = [idx, np.nan_to_num(f, nan=0.0), np.nan_to_num(m, nan=0.0), np.isnan(m)]
            if descending:
                keys = [idx, -keys[1], -keys[2], keys[3]]
            out = np.lexsort(keys)
        elif key == "rank":
            out = self.order(WORST, descending=False)
            out = out[::-1].copy() if descending else out
        elif _COLUMNS[key].numeric:
            v = np.asarray(self.column(key), dtype=np.float64)
            nan = np.isnan(v)
            vv = np.where(nan, 0.0, v)
            out = np.lexsort([idx, -vv if descending else vv, nan])
        else:
            codes = self._text_codes(key)
            out = np.lexsort([idx, -codes if descending else codes])
        out = np.ascontiguousarray(out, dtype=np.intp)
        out.setflags(write=False)
        self._orders[cache_key] = out
        return out

    def _text_codes(self, key: str) -> np.ndarray:
        folded = [s.casefold() for s in self.column(key)]
        # sorting the distinct values only: categories repeat, and Python sorts str fast
        rank = {s: i for i, s in enumerate(sorted(set(folded)))}
        return np.fromiter((rank[s] for s in folded), dtype=np.int64, count=len(folded))

    # ------------------------------------------------------------------ filtering
    def all_tags(self) -> list[str]:
        """Every category (tag) that occurs, sorted."""
        return sorted(self._tag_index())

    def _tag_index(self) -> dict[str, np.ndarray]:
        if self._tag_rows is None:
            rows: dict[str, list[int]] = {}
            for i, tags in enumerate(self.tags):
                for t in tags:
                    rows.setdefault(t, []).append(i)
            self._tag_rows = {t: np.asarray(r, dtype=np.intp) for t, r in rows.items()}
        return self._tag_rows

    def mask(
        self,
        *,
        categories: Iterable[str] | None = None,
        subsets: Iterable[str] | None = None,
        splits: Iterable[str] | None = None,
        ranges: dict[str, tuple[float | None, float | None]] | None = None,
        text: str | None = None,
    ) -> np.ndarray:
        """Boolean row mask of the clips that pass every given filter.

        ``categories``: clips with any of these tags; ``ranges``: ``{column: (lo, hi)}``
        inclusive, None for an open end (clips without a value fail a range);
        ``text``: case-insensitive substring of the clip id or category.
        """
        n = len(self)
        keep = np.ones(n, dtype=bool)
        if categories is not None:
            index = self._tag_index()
            sel = np.zeros(n, dtype=bool)
            for c in categories:
                rows = index.get(c)
                if rows is not None:
                    sel[rows] = True
            keep &= sel
        for values, wanted in ((self.subsets, subsets), (self.splits, splits)):
            if wanted is not None:
                w = set(wanted)
                keep &= np.fromiter((v in w for v in values), dtype=bool, count=n)
        for key, (lo, hi) in (ranges or {}).items():
            v = np.asarray(self.column(key), dtype=np.float64)
            ok = ~np.isnan(v)
            if lo is not None:
                ok &= v >= lo
            if hi is not None:
                ok &= v <= hi
            keep &= ok
        if text:
            needle = text.casefold()
            if self._lower is None:
                self._lower = [f"{c}\t{k}".casefold() for c, k in zip(self.clip_ids, self.categories)]
            keep &= np.fromiter((needle in s for s in self._lower), dtype=bool, count=n)
        return keep

    def view(self, sort: str = WORST, descending: bool = False, **filters) -> np.ndarray:
        """Rows to show, in display order: :meth:`order` restricted to :meth:`mask`."""
        order = self.order(sort, descending)
        if not any(v is not None and v != {} and v != "" for v in filters.values()):
            return order
        return order[self.mask(**filters)[order]]

    # ------------------------------------------------------------------ plot data
    def histogram(self, key: str = "miou", *, bins: int = 20, rows: np.ndarray | None = None,
                  lo: float = 0.0, hi: float = 1.0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """``(edges [bins+1], counts [bins])`` of a numeric column over ``rows`` (NaN left out);
        the last bin includes ``hi``, values outside ``[lo, hi]`` are clipped into the end bins."""
        v = np.asarray(self.column(key), dtype=np.float64)
        if rows is not None:
            v = v[rows]
        v = v[~np.isnan(v)]
        edges = np.linspace(lo, hi, bins + 1)
        counts = np.histogram(np.clip(v, lo, hi), bins=edges)[0]
        return edges, counts.astype(np.int64)

    def category_stats(self, rows: np.ndarray | None = None) -> list[CategoryStat]:
        """Mean per-clip mIoU / F of each category (tag), worst mean first."""
        select = None
        if rows is not None:
            select = np.zeros(len(self), dtype=bool)
            select[rows] = True
        delta = self.delta_miou
        out = []
        for tag, members in self._tag_index().items():
            if select is not None:
                members = members[select[members]]
            if members.size == 0:
                continue
            m = self.miou[members]
            f = self.fscore[members]
            ok = ~np.isnan(m)
            dm = math.nan
            if delta is not None:
                d = delta[members]
                dm = float(np.nanmean(d)) if (~np.isnan(d)).any() else math.nan
            out.append(CategoryStat(
                tag, int(members.size),
                float(m[ok].mean()) if ok.any() else math.nan,
                float(np.nanmean(f)) if (~np.isnan(f)).any() else math.nan, dm,
            ))  # fmt: skip
        out.sort(key=lambda s: (math.isnan(s.mean_miou), s.mean_miou, s.name))
        return out

    def size_vs_iou(self, rows: np.ndarray | None = None, *, per_frame: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(object size, IoU)`` pairs with both values present: per clip (default) or per
        real frame (``per_frame``)."""
        if per_frame:
            size, iou, pad = self.frame_gt_size, self.frame_iou, self.frame_padded
            if rows is not None:
                size, iou, pad = size[rows], iou[rows], pad[rows]
            ok = ~np.isnan(size) & ~np.isnan(iou) & ~pad
            return size[ok], iou[ok]
        size, iou = self.gt_size, self.miou
        if rows is not None:
            size, iou = size[rows], iou[rows]
        ok = ~np.isnan(size) & ~np.isnan(iou)
        return size[ok], iou[ok]


def _format(col: Column):
    """The formatter of a numeric column's values (empty text for NaN)."""
    if col.digits == 0:
        return lambda v: "" if v != v else str(int(v))
    if col.percent:
        return lambda v: "" if v != v else f"{v * 100:.{col.digits}f}%"
    spec = f"{{:+.{col.digits}f}}" if col.key.startswith("delta") else f"{{:.{col.digits}f}}"
    return lambda v: "" if v != v else spec.format(v)


def _check_len(values: Sequence, n: int, what: str) -> None:
    if len(values) != n:
        raise ValueError(f"{what} has {len(values)} values for {n} clips")


def _strings(values: Sequence[str] | None, n: int, what: str) -> list[str]:
    if values is None:
        return [""] * n
    out = ["" if v is None else str(v) for v in values]
    _check_len(out, n, what)
    return out


def _floats(values: Sequence[float | None], n: int, what: str) -> np.ndarray:
    if isinstance(values, np.ndarray):
        out = values.astype(np.float64, copy=True)
    else:
        out = np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)
    if out.shape != (n,):
        raise ValueError(f"{what} has {out.size} values for {n} clips")
    return out
