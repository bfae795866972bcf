"""``avs-studio evaluate | report``: the official figures of predictions, and a self-contained HTML
review of them plus CSV files.

    avs-studio report PRED GT --setting s4 --out review/
    avs-studio report PRED GT --setting avss --out review/ --compare PRED2 --worst 30

``GT`` is an AVSBench dataset folder or an annotation project (``*.avsproj``). The folder
``--out`` must not exist; it appears only when complete (Ctrl-C leaves nothing behind).
It holds ``index.html`` (official figures, plots, the worst clips with per-frame overlays
and differences, a sortable table of every clip), ``per_clip.csv`` and ``per_frame.csv``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from avs_studio.cli.common import EXIT_PARTIAL, progress_bar
from avs_studio.core.errors import AVSError
from avs_studio.core.jobs import CancelToken
from avs_studio.core.setting import Setting


def cmd_report(args: argparse.Namespace) -> int:
    """Review predictions against ground truth and write the report folder."""
    from avs_studio.core.review.report import write_report
    from avs_studio.core.review.session import ReviewSession

    if args.out.exists():
        raise AVSError(f"{args.out} already exists; choose a new folder for the report")
    if args.worst < 0:
        raise AVSError("--worst must be 0 or more")
    quiet = bool(getattr(args, "quiet", False))
    cancel = CancelToken()
    with ReviewSession(args.pred, args.gt, args.setting, compare=args.compare, split=args.split,
                       batch_size=args.batch_size, allow_missing=args.allow_missing) as session:  # fmt: skip
        with progress_bar("review", "clip", quiet=quiet) as prog:
            session.compute(prog, cancel)
        with progress_bar("report", "clip", quiet=quiet) as prog:
            summary = write_report(session, args.out, worst=args.worst, progress=prog, cancel=cancel)
        for note in session.notes:
            print(f"note: {note}", file=sys.stderr)
        skipped = session.evaluation.skipped if session.evaluation is not None else []
        for item in skipped[:20]:
            print(f"skipped: {item}", file=sys.stderr)
        print(summary.line(session))
    return EXIT_PARTIAL if skipped else 0


def add_report_parser(subparsers) -> None:
    """Register ``report`` on the ``avs-studio`` sub-parsers."""
    settings = [s.value for s in Setting]
    r = subparsers.add_parser("report", help="HTML review of predictions: figures, plots, worst clips, CSV")
    r.add_argument("pred", type=Path, help="prediction folder (scores/*.npz, PNG masks, or official pred_masks/)")
    r.add_argument("gt", type=Path, help="ground truth: an AVSBench dataset folder or a project (*.avsproj)")
    r.add_argument("--setting", choices=settings, required=True)
    r.add_argument("--out", type=Path, required=True, help="new folder for index.html and the CSV files")
    r.add_argument("--compare", type=Path, metavar="PRED2", help="a second model's predictions (per-clip deltas)")
    r.add_argument("--split", default="test", choices=["train", "val", "test", "all"],
                   help="the split to review (default: test; all: every clip)")
    r.add_argument("--worst", type=int, default=20, metavar="N", help="clips shown with thumbnails (default 20)")
    r.add_argument("--batch-size", type=int, default=4, help="clips per batch (official: 4)")
    r.add_argument("--allow-missing", action="store_true", help="skip clips without predictions")
    r.set_defaults(func=cmd_report)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Official mIoU and F-score of a prediction folder against ground truth."""
    from avs_studio.core.metrics.evaluation import evaluate, write_rows_csv

    split = None if args.split == "all" else args.split
    with progress_bar("evaluate", "clip", quiet=args.quiet) as prog:
        ev = evaluate(
            args.pred, args.gt, args.setting, split=split, batch_size=args.batch_size,
            protocol=args.protocol, allow_missing=args.allow_missing, progress=prog, cancel=CancelToken(),
        )  # fmt: skip
    for line in ev.summary_lines():
        print(line)
    for note in ev.notes:
        print(f"note: {note}", file=sys.stderr)
    for item in ev.skipped[:20]:
        print(f"skipped: {item}", file=sys.stderr)
    if args.per_clip:
        if not ev.rows:
            print("note: per-clip scores follow the official protocol only; none written", file=sys.stderr)
        else:
            write_rows_csv(args.per_clip, ev)
            worst = ", ".join(f"{r['clip_id']} ({r['miou']:.3f})" for r in ev.rows[:3])
            print(f"per-clip scores written to {args.per_clip}; worst: {worst}")
    # Figures over fewer clips than asked for (refused rows, --allow-missing) say so.
    return EXIT_PARTIAL if ev.skipped else 0


def add_evaluate_parser(sub, settings: list[str]) -> None:
    """``evaluate``."""
    v = sub.add_parser("evaluate", help="official mIoU and F-score of predictions against ground truth")
    v.add_argument("pred", help="prediction folder (scores/*.npz, PNG masks, or official pred_masks/)")
    v.add_argument("gt", help="ground-truth AVSBench dataset folder")
    v.add_argument("--setting", choices=settings, required=True)
    v.add_argument("--split", default="test", choices=["train", "val", "test", "all"],
                   help="the split to score (default: test, as the official test scripts; all: every clip)")
    v.add_argument("--per-clip", metavar="CSV", help="write per-clip scores, worst first")
    v.add_argument("--protocol", choices=["official", "per-dataset"], default="official")
    v.add_argument("--batch-size", type=int, default=4, help="clips per batch (official: 4)")
    v.add_argument("--allow-missing", action="store_true", help="skip clips without predictions")
    v.set_defaults(func=cmd_evaluate)
