"""The review report: one self-contained HTML file plus per-clip and per-frame CSV files.

``write_report(session, "out/")`` writes, into a folder that appears only when complete:

* ``index.html`` -- the official figures (the labels and values ``avs-studio evaluate``
  prints), plots (inline SVG), the worst clips with per-frame thumbnails (frame + ground
  truth, frame + prediction, difference; PNG data URIs) and a table of every clip. It loads
  nothing from anywhere: styles, pictures and the few lines of script that sort the table
  are inside the file, and everything but the sorting works without script
  (``index.html#sort=miou`` or ``#sort=-miou`` opens the table sorted by a column).
* ``per_clip.csv`` -- every clip, worst first; ``per_frame.csv`` -- every scored time step.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import os
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np

from avs_studio.core.errors import AVSError
from avs_studio.core.fsutil import atomic_dir
from avs_studio.core.jobs import CancelToken, Progress, no_progress
from avs_studio.core.review.images import MASK_COLOUR, class_colour, diff_legend, png_data_uri
from avs_studio.core.review.plots_svg import COLOUR_B, bar_chart_svg, histogram_svg, scatter_svg
from avs_studio.core.review.session import ClipDetail, ReviewSession
from avs_studio.core.review.table import ReviewTable
from avs_studio.core.setting import Setting
from avs_studio.core.text import plural

DEFAULT_WORST = 20
_FRAMES_PER_ROW = 5
_MAX_CATEGORIES = 30
_THUMB_COLOURS = 256  # palette PNGs: a quarter of the size of full-colour ones


@dataclass
class ReportSummary:
    """What :func:`write_report` wrote."""

    out: Path
    clips: int
    worst: int
    html_bytes: int

    def line(self, session: ReviewSession) -> str:
        """One line for the end of the CLI command."""
        ev = session.evaluation
        r = ev.result
        worst = ""
        if len(session.table):
            i = int(session.table.order()[0])
            worst = f"; worst {session.table.clip_ids[i]} (mIoU {session.table.miou[i]:.3f})"
        return (f"wrote {self.out}: {plural(self.clips, f'{ev.setting.value.upper()} {ev.split} clip')}, "
                f"mIoU {r['miou']:.4f}, F-score {r['fscore']:.4f}{worst}; "
                f"index.html {_size(self.html_bytes)}")  # fmt: skip


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(1, round(n / 1e3))} kB"


def write_report(
    session: ReviewSession,
    out: str | os.PathLike[str],
    *,
    worst: int = DEFAULT_WORST,
    thumb_width: int = 200,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> ReportSummary:
    """Write the report of a computed session into the new folder ``out`` (a job).

    ``out`` must not exist: the folder is assembled under a temporary name and appears
    only when complete (Ctrl-C or an error leaves nothing behind).
    """
    if not session.computed:
        raise AVSError("compute the review before writing its report")
    out = Path(out)
    if out.exists():
        raise AVSError(f"{out} already exists; choose a new folder for the report")
    table = session.table
    order = table.order()
    chosen = [int(i) for i in order[: max(0, worst)]]
    total = len(chosen) + 1
    progress(0, total, "report")
    details: list[ClipDetail] = []
    with atomic_dir(out) as tmp:
        (tmp / "per_clip.csv").write_text(per_clip_csv(table), encoding="utf-8")
        (tmp / "per_frame.csv").write_text(per_frame_csv(table), encoding="utf-8")
        for n, i in enumerate(chosen, start=1):
            if cancel is not None:
                cancel.raise_if_cancelled()
            details.append(session.clip_detail(table.clip_ids[i]))
            progress(n, total, table.clip_ids[i])
        html = report_html(session, details, thumb_width=thumb_width)
        data = html.encode("utf-8")
        (tmp / "index.html").write_bytes(data)
        progress(total, total, "report")
    return ReportSummary(out, len(table), len(details), len(data))


# ====================================================================== CSV


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return str(v)


def per_clip_csv(table: ReviewTable) -> str:
    """Every clip, worst first: rank, id, category, subset, split, mIoU, F, frames, object
    size (and the second model's scores and the deltas when compared)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    rows = [table.row_dict(int(i)) for i in table.order()]
    keys = list(rows[0]) if rows else ["rank", "clip_id", "category", "miou", "fscore"]
    w.writerow(keys)
    for row in rows:
        w.writerow([_cell(row[k]) for k in keys])
    return buf.getvalue()


def per_frame_csv(table: ReviewTable) -> str:
    """Every time step of every clip (clips worst first): IoU, F, ground-truth and predicted
    object size; ``padded`` marks AVSS steps after the end of a 5-second clip."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = ["rank", "clip_id", "frame", "padded", "iou", "fscore", "gt_size", "pred_size"]
    if table.compared:
        keys += ["iou_b", "fscore_b", "pred_size_b"]
    w.writerow(keys)
    rank = table.rank
    for i in table.order():
        i = int(i)
        for k in range(table.frames_per_row):
            vals = [int(rank[i]), table.clip_ids[i], k, int(table.frame_padded[i, k]),
                    table.frame_iou[i, k], table.frame_fscore[i, k], table.frame_gt_size[i, k],
                    table.frame_pred_size[i, k]]  # fmt: skip
            if table.compared:
                vals += [table.frame_iou_b[i, k], table.frame_fscore_b[i, k], table.frame_pred_size_b[i, k]]
            w.writerow([_cell(float(v)) if isinstance(v, np.floating) else _cell(v) for v in vals])
    return buf.getvalue()


# ====================================================================== HTML

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1f2937;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif}
.wrap{max-width:1320px;margin:0 auto;padding:0 28px}
header.top{background:#1f2a37;color:#e5e7eb;padding:22px 0 18px}
header.top h1{margin:0 0 4px;font-size:22px;font-weight:650;color:#fff;letter-spacing:.2px}
header.top .sub{margin:0 0 12px;color:#aab4c3}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0;font-size:12.5px}
dl.meta dt{color:#8b97a8}dl.meta dd{margin:0;font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;word-break:break-all}
section{background:#fff;border:1px solid #e3e6ea;border-radius:10px;margin:20px 0;padding:18px 22px}
h2{font-size:17px;margin:0 0 12px;font-weight:650}
h2 small{font-weight:400;color:#6b7280;font-size:13px;margin-left:6px}
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:12px}
.tile{border:1px solid #e3e6ea;border-radius:8px;padding:10px 14px;min-width:150px;background:#fafbfc}
.tile.extra{background:#fff;border-style:dashed}
.tile .label{font-size:12px;color:#6b7280;text-transform:none}
.tile .value{font-size:24px;font-weight:650;font-variant-numeric:tabular-nums}
.tile .b{font-size:13px;color:#374151;font-variant-numeric:tabular-nums}
.tile .note{font-size:11.5px;color:#6b7280;max-width:230px}
.up{color:#15803d}.down{color:#b91c1c}
pre.evaluate{background:#f8fafc;color:#111827;border:1px solid #e5e7eb;border-left:3px solid #4c78a8;border-radius:6px;padding:10px 14px;font-size:12.5px;overflow-x:auto;margin:8px 0 0}
.caption{font-size:12px;color:#6b7280;margin:4px 0 0}
ul.notes{margin:8px 0 0;padding-left:18px;color:#92400e;font-size:13px}
.plots{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.plots svg{border:1px solid #eef0f2;border-radius:6px;max-width:100%;height:auto}
.legend{display:flex;flex-wrap:wrap;gap:14px;font-size:12.5px;margin:0 0 10px;color:#374151}
.legend .sep{color:#6b7280;margin-left:10px}
.legend.classes{font-size:12px;margin:-2px 0 6px 104px}
.sw{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:5px;vertical-align:-2px}
article.clip{border-top:1px solid #e8eaee;padding:14px 0 6px}
article.clip h3{margin:0 0 8px;font-size:15px;font-weight:600}
article.clip h3 .rank{display:inline-block;min-width:34px;color:#6b7280;font-weight:500}
article.clip h3 .cat{font-weight:400;color:#4b5563;margin-left:8px}
.scores{font-size:12.5px;color:#374151;margin-left:10px;font-variant-numeric:tabular-nums}
.pill{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600;margin-left:6px}
.bad{background:#fde2e1;color:#9b1c1c}.mid{background:#fef3c7;color:#92400e}.good{background:#dcfce7;color:#166534}
.frames{display:grid;gap:4px 6px;align-items:center;margin:6px 0 10px;overflow-x:auto}
.frames .rowlabel{font-size:12px;color:#4b5563;text-align:right;padding-right:6px}
.frames .fh{font-size:11.5px;color:#4b5563;text-align:center;font-variant-numeric:tabular-nums}
.frames img{display:block;border-radius:3px;image-rendering:auto}
.frames .nogt{font-size:11px;color:#9ca3af;text-align:center}
table.clips{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
table.clips th{position:sticky;top:0;background:#f3f4f6;text-align:left;padding:6px 8px;border-bottom:1px solid #d1d5db;cursor:pointer;white-space:nowrap;user-select:none}
table.clips th.num,table.clips td.num{text-align:right}
table.clips th[aria-sort=ascending]::after{content:" \\25B2";font-size:9px}
table.clips th[aria-sort=descending]::after{content:" \\25BC";font-size:9px}
table.clips td{padding:4px 8px;border-bottom:1px solid #eef0f2}
table.clips tr:hover td{background:#f9fafb}
table.clips td.id{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px}
.tablebox{max-height:640px;overflow:auto;border:1px solid #e5e7eb;border-radius:6px}
footer{color:#6b7280;font-size:12px;padding:6px 0 30px}
a{color:#1d4ed8;text-decoration:none}a:hover{text-decoration:underline}
"""

_JS = """
(function () {
  var table = document.getElementById("clip-table");
  if (!table) { return; }
  var heads = table.tHead.rows[0].cells;
  function sortBy(th, asc) {
    var col = th.cellIndex, body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var numeric = th.className.indexOf("num") >= 0;
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      var c = numeric ? parseFloat(x) - parseFloat(y) : (x < y ? -1 : (x > y ? 1 : 0));
      return (asc ? c : -c) || (parseInt(a.getAttribute("data-i"), 10) - parseInt(b.getAttribute("data-i"), 10));
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(heads, function (th) {
    th.addEventListener("click", function () { sortBy(th, th.getAttribute("aria-sort") !== "ascending"); });
  });
  // index.html#sort=miou (or #sort=-miou) opens the table sorted by that column
  var m = /^#sort=(-?)([a-z_]+)$/.exec(window.location.hash);
  if (m) {
    Array.prototype.forEach.call(heads, function (th) {
      if (th.getAttribute("data-key") === m[2]) { sortBy(th, m[1] !== "-"); }
    });
  }
})();
"""


def _fmt(v: float, digits: int = 4, sign: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "\u2013"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def _quality(v: float) -> str:
    if v is None or math.isnan(v):
        return "mid"
    return "bad" if v < 0.5 else ("mid" if v < 0.8 else "good")


def report_html(session: ReviewSession, details: list[ClipDetail], *, thumb_width: int = 200) -> str:
    """The report page for a computed session and the clip details of its worst clips."""
    from avs_studio import __version__

    ev = session.evaluation
    table = session.table
    setting = session.setting
    scope = "all clips" if ev.split == "all" else f"{ev.split} split"
    title = f"Review of predictions \u00b7 {setting.value.upper()} {scope}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)} \u00b7 AVS Studio</title>",
        f"<style>{_CSS}</style></head><body>",
        _header(session, title, __version__),
        '<main class="wrap">',
        _figures_section(session),
        _plots_section(session),
        _worst_section(session, details, thumb_width),
        _table_section(table, {d.clip_id for d in details}),
        '<footer>Written by AVS Studio. Files beside this page: <a href="per_clip.csv">per_clip.csv</a> '
        '(every clip, worst first) and <a href="per_frame.csv">per_frame.csv</a> (every scored time step). '
        "Per-clip mIoU and F are the official per-clip values; per-frame values score each frame on its own."
        "</footer>",
        "</main>",
        f"<script>{_JS}</script>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _header(session: ReviewSession, title: str, version: str) -> str:
    ev = session.evaluation
    r = ev.result
    sub = (f"{plural(ev.clips, 'clip')} \u00b7 {r.get('protocol', 'official')} protocol \u00b7 batch size "
           f"{r.get('batch_size', '?')}")  # fmt: skip
    rows = [("Predictions (A)" if session.compared else "Predictions", str(session.pred_path))]
    if session.compared:
        rows.append(("Compared with (B)", str(session.compare_path)))
    rows.append(("Ground truth", f"{session.gt_path} ({session.gt_kind})"))
    rows.append(("Written", f"{_dt.datetime.now():%Y-%m-%d %H:%M} by AVS Studio {version}"))
    meta = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return (f'<header class="top"><div class="wrap"><h1>{escape(title)}</h1>'
            f'<p class="sub">{escape(sub)}</p><dl class="meta">{meta}</dl></div></header>')  # fmt: skip


def _figures_section(session: ReviewSession) -> str:
    figs = session.figures("a")
    figs_b = {f.key: f for f in session.figures("b")} if session.compared else {}
    tiles = []
    for f in figs:
        b = ""
        if f.key in figs_b:
            vb = figs_b[f.key].value
            d = vb - f.value
            cls = "up" if d > 0 else ("down" if d < 0 else "")
            b = f'<div class="b">B {vb:.4f} <span class="{cls}">({d:+.4f})</span></div>'
        note = f'<div class="note">{escape(f.note)}</div>' if f.note else ""
        tiles.append(f'<div class="tile{"" if f.official else " extra"}"><div class="label">{escape(f.label)}'
                     f'</div><div class="value">{f.value:.4f}</div>{b}{note}</div>')  # fmt: skip
    pre = "\n".join(session.summary_lines("a"))
    if session.compared:
        pre = "A:\n" + pre + "\n\nB:\n" + "\n".join(session.summary_lines("b"))
    notes = ""
    if session.notes:
        notes = '<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in session.notes) + "</ul>"
    return ('<section id="figures"><h2>Official figures<small>identical to <code>avs-studio evaluate</code>'
            f'</small></h2><div class="tiles">{"".join(tiles)}</div>'
            f'<pre class="evaluate">{escape(pre)}</pre>{notes}</section>')  # fmt: skip


def _plots_section(session: ReviewSession) -> str:
    table = session.table
    setting = session.setting
    plots = []
    edges, counts = table.histogram("miou", bins=20)
    counts_b = table.histogram("miou_b", bins=20)[1] if table.compared else None
    plots.append(histogram_svg(edges, counts, title="Per-clip mIoU", xlabel="clip mIoU", counts_b=counts_b,
                               labels=("A", "B")))  # fmt: skip
    stats = table.category_stats()
    if stats:
        shown = stats[:_MAX_CATEGORIES]
        more = f" ({len(shown)} worst of {len(stats)})" if len(stats) > len(shown) else ""
        what = "class" if setting is Setting.AVSS else "category"
        plots.append(bar_chart_svg([s.name for s in shown], [s.mean_miou for s in shown], [s.clips for s in shown],
                                   title=f"Mean clip mIoU per {what}{more}", xlabel="mean clip mIoU"))  # fmt: skip
    size, iou = table.size_vs_iou()
    names = [table.clip_ids[i] for i in range(len(table)) if not (math.isnan(table.gt_size[i]) or math.isnan(table.miou[i]))]
    plots.append(scatter_svg(size, iou, names=names, title="Clip mIoU vs. object size",
                             xlabel="ground-truth object size (share of the frame)", ylabel="clip mIoU",
                             x_percent=True))  # fmt: skip
    if table.compared:
        d_edges, d_counts = table.histogram("delta_miou", bins=20, lo=-1.0, hi=1.0)
        plots.append(histogram_svg(d_edges, d_counts, title="\u0394 mIoU per clip (B \u2212 A)",
                                   xlabel="B \u2212 A (positive: B better)", colour=COLOUR_B))  # fmt: skip
        if stats:
            shown = sorted(stats, key=lambda s: (math.isnan(s.mean_delta_miou), s.mean_delta_miou))[:_MAX_CATEGORIES]
            top = max([abs(s.mean_delta_miou) for s in shown if not math.isnan(s.mean_delta_miou)] + [0.1])
            top = math.ceil(top * 10) / 10
            plots.append(bar_chart_svg([s.name for s in shown], [s.mean_delta_miou for s in shown],
                                       [s.clips for s in shown], title=f"Mean \u0394 mIoU per {what} (B \u2212 A)",
                                       xlabel="mean \u0394 clip mIoU", lo=-top, hi=top))  # fmt: skip
    if setting is Setting.AVSS:
        r = session.evaluation.result
        seen = [(i, v) for i, (v, n) in enumerate(zip(r["per_class_iou"], r["per_class_count"])) if n > 0]
        from avs_studio.core.masks.palette import CLASS_NAMES

        seen.sort(key=lambda t: t[1])
        plots.append(bar_chart_svg([CLASS_NAMES[i] for i, _ in seen], [v for _, v in seen],
                                   [r["per_class_count"][i] for i, _ in seen],
                                   title="Official per-class IoU (classes seen)", xlabel="class IoU",
                                   unit="time step"))  # fmt: skip
    caption = ("Hover a bar or point for its value. Object size: share of the 224\u00d7224 frame covered by "
               "ground-truth objects, averaged over the clip's frames.")  # fmt: skip
    return (f'<section id="plots"><h2>Distributions</h2><div class="plots">{"".join(plots)}</div>'
            f'<p class="caption">{escape(caption)}</p></section>')  # fmt: skip


def _legend(binary: bool) -> str:
    items = [f'<span><span class="sw" style="background:rgb{c}"></span>{escape(label)}</span>'
             for c, label in diff_legend(binary=binary)]  # fmt: skip
    if binary:
        mask = f'<span><span class="sw" style="background:rgb{MASK_COLOUR}"></span>sounding object (mask)</span>'
    else:
        mask = "<span>masks in class colours (listed per clip)</span>"
    return f'<div class="legend">{mask}<span class="sep">difference:</span>{"".join(items)}</div>'


def _class_key(d: ClipDetail) -> str:
    """Swatches of the AVSS classes painted in a clip's pictures."""
    from avs_studio.core.masks.palette import CLASS_NAMES

    present: set[int] = set()
    for f in d.frames:
        for m in (f.gt, f.pred, f.pred_b):
            if m is not None:
                present.update(int(v) for v in np.unique(m) if v > 0)
    if not present:
        return ""
    items = "".join(f'<span><span class="sw" style="background:rgb{class_colour(c)}"></span>'
                    f"{escape(CLASS_NAMES[c] if c < len(CLASS_NAMES) else str(c))}</span>" for c in sorted(present))  # fmt: skip
    return f'<div class="legend classes">{items}</div>'


def _worst_section(session: ReviewSession, details: list[ClipDetail], thumb_width: int) -> str:
    if not details:
        return ""
    table = session.table
    out = [f'<section id="worst"><h2>The {len(details)} worst clips<small>lowest mIoU first</small></h2>',
           _legend(session.setting.is_binary)]  # fmt: skip
    for d in details:
        row = d.row
        i = table.index_of(d.clip_id)
        cat = f'<span class="cat">{escape(row["category"])}</span>' if row["category"] else ""
        scores = (f'<span class="scores">mIoU <span class="pill {_quality(row["miou"])}">{_fmt(row["miou"])}</span>'
                  f' F <span class="pill {_quality(row["fscore"])}">{_fmt(row["fscore"])}</span>')  # fmt: skip
        if session.compared:
            scores += (f' &nbsp; B mIoU {_fmt(row["miou_b"])} ({_fmt(row["delta_miou"], sign=True)})'
                       f' F {_fmt(row["fscore_b"])}')  # fmt: skip
        size = "" if math.isnan(table.gt_size[i]) else f" &nbsp; object size {table.gt_size[i] * 100:.1f}%"
        scores += size + "</span>"
        out.append(f'<article class="clip" id="clip-{int(row["rank"])}"><h3><span class="rank">#{int(row["rank"])}'
                   f'</span>{escape(d.clip_id)}{cat}{scores}</h3>')  # fmt: skip
        if not d.binary:
            out.append(_class_key(d))
        for start in range(0, len(d.frames), _FRAMES_PER_ROW):
            out.append(_frame_grid(d, range(start, min(len(d.frames), start + _FRAMES_PER_ROW)), thumb_width,
                                   session.compared))  # fmt: skip
        out.append("</article>")
    out.append("</section>")
    return "\n".join(out)


def _frame_grid(d: ClipDetail, ks: range, width: int, compared: bool) -> str:
    cols = len(ks)
    cells = ['<div class="rowlabel"></div>']
    for k in ks:
        f = d.frames[k]
        scores = f"IoU {_fmt(f.iou, 3)} \u00b7 F {_fmt(f.fscore, 3)}"
        if compared:
            scores = f"A {_fmt(f.iou, 3)} \u00b7 B {_fmt(f.iou_b, 3)} IoU"
        cells.append(f'<div class="fh">frame {f.index + 1} \u00b7 {f.time:.2f} s<br>{scores}</div>')
    def diff(model: str):
        return lambda k: d.diff_image(k, model, width=width)

    no_gt, no_pred = "no ground truth", "no prediction"
    rows = [("Ground truth", lambda k: d.gt_image(k, width=width), no_gt),
            ("Prediction A" if compared else "Prediction", lambda k: d.pred_image(k, "a", width=width), no_pred)]  # fmt: skip
    if compared:
        rows.append(("Prediction B", lambda k: d.pred_image(k, "b", width=width)
                     if d.frames[k].pred_b is not None else None, no_pred))  # fmt: skip
    rows.append(("Difference A" if compared else "Difference", diff("a"), no_gt))
    if compared:
        rows.append(("Difference B", diff("b"), no_gt))
    for label, render, missing in rows:
        cells.append(f'<div class="rowlabel">{escape(label)}</div>')
        for k in ks:
            img = render(k)
            if img is None:
                f = d.frames[k]
                why = no_pred if (label == "Difference B" and f.gt is not None) else missing
                cells.append(f'<div class="nogt">{why}</div>')
                continue
            alt = f"{label}, frame {d.frames[k].index + 1} of {d.clip_id}"
            cells.append(f'<img src="{png_data_uri(img, colours=_THUMB_COLOURS)}" width="{img.shape[1]}" '
                         f'height="{img.shape[0]}" alt="{escape(alt)}">')  # fmt: skip
    style = f"grid-template-columns:104px repeat({cols},{width}px)"
    return f'<div class="frames" style="{style}">{"".join(cells)}</div>'


def _table_section(table: ReviewTable, with_detail: set[str]) -> str:
    cols = table.columns()
    head = "".join(
        f'<th class="{"num" if c.numeric else "txt"}" data-key="{c.key}" title="{escape(c.tooltip)}">'
        f"{escape(c.title)}</th>"
        for c in cols
    )
    texts = {c.key: table.text(c.key) for c in cols}
    values = {c.key: table.column(c.key) for c in cols}
    body = []
    rank = table.rank
    for i in table.order():
        i = int(i)
        tds = []
        for c in cols:
            text = texts[c.key][i]
            if c.numeric:
                v = float(values[c.key][i])
                data = "" if math.isnan(v) else repr(v)
                cls = "num"
            else:
                data = text.casefold()
                cls = "id" if c.key == "clip_id" else "txt"
            cell = escape(text) if text else "\u2013"
            if c.key == "clip_id" and table.clip_ids[i] in with_detail:
                cell = f'<a href="#clip-{int(rank[i])}">{cell}</a>'
            tds.append(f'<td class="{cls}" data-v="{escape(data)}">{cell}</td>')
        body.append(f'<tr data-i="{i}">' + "".join(tds) + "</tr>")
    return (f'<section id="table"><h2>All clips<small>{plural(len(table), "clip")}, worst first; click a column to sort'
            f'</small></h2><div class="tablebox"><table class="clips" id="clip-table"><thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(body)}</tbody></table></div></section>')  # fmt: skip
