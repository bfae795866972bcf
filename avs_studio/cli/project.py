"""``avs-studio project ...``: annotation projects from the command line.

    avs-studio project new birds.avsproj --setting avss
    avs-studio project add birds.avsproj avsbench_data/AVSS recordings/ more.txt --split train
    avs-studio project add birds.avsproj long.mp4 --segments --seconds 10
    avs-studio project status birds.avsproj
    avs-studio project export birds.avsproj --to avsbench-avss out/ --status done
    avs-studio project import birds.avsproj corrected.json
    avs-studio project merge ana.avsproj ben.avsproj both.avsproj
    avs-studio project relink birds.avsproj /old/videos /new/videos

Each command is a thin face on :mod:`avs_studio.core.project.project`; long work shows a progress
bar and ends with a one-line summary. User errors raise AVSError (printed, exit 2).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from avs_studio.cli.common import EXIT_PARTIAL, logmel_pickle_writer, progress_bar
from avs_studio.core.errors import AVSError
from avs_studio.core.jobs import CancelToken
from avs_studio.core.setting import Setting
from avs_studio.core.text import plural

_TARGETS = ["coco", "png", "avsbench-s4", "avsbench-ms3", "avsbench-avss"]
_SPLITS = ["train", "val", "test"]
_SHOWN_FAILURES = 5


def _quiet(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "quiet", False))


def _report_failures(failures, notes=()) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    for f in failures[:_SHOWN_FAILURES]:
        print(f"failed: {f.item}: {f.error}", file=sys.stderr)
    if len(failures) > _SHOWN_FAILURES:
        print(f"... and {len(failures) - _SHOWN_FAILURES} more failures", file=sys.stderr)


# --------------------------------------------------------------------------- commands


def cmd_new(args: argparse.Namespace) -> int:
    """Create an empty project."""
    from avs_studio.core.project.project import Project

    with Project.create(args.project, args.setting, name=args.name) as project:
        print(f"created {project.setting.value.upper()} project {project.path}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    """Add videos, folders, list files or AVSBench datasets."""
    from avs_studio.core.project.add import merge_reports
    from avs_studio.core.project.project import Project

    t0 = time.perf_counter()
    with Project.open(args.project) as project, progress_bar("add", "clip", quiet=_quiet(args)) as prog:
        token = CancelToken()
        if args.segments:
            report = merge_reports(
                project.add_segments(src, seconds=args.seconds, step=args.step, split=args.split or "",
                                     category=args.category or "", progress=prog, cancel=token)
                for src in args.sources
            )  # fmt: skip
        else:
            report = project.add(args.sources, start=args.start, seconds=args.seconds, split=args.split or "",
                                 category=args.category or "", progress=prog, cancel=token)  # fmt: skip
        total = len(project)
    # Clips accepted with a remark (a video shorter than the clip: its last frame repeats).
    remarks = [f"{r.clip_id}: {r.comment}" for r in report.results if getattr(r, "comment", "")]
    _report_failures(report.failures, [*report.notes, *remarks])
    if report.failures and not report.results and not report.skipped:
        raise AVSError(f"no clip was added: {report.failures[0].item}: {report.failures[0].error}")
    print(f"{report.summary('clips')} ({total} in the project) in {time.perf_counter() - t0:.1f} s")
    return EXIT_PARTIAL if report.failures else 0


def cmd_status(args: argparse.Namespace) -> int:
    """Counts per status and split, and clips whose media are missing."""
    from avs_studio.core.project.project import STATUS_TITLES, Project

    with Project.open(args.project, readonly=True) as project:
        counts = project.counts()
        print(f"{project.path.name}: {project.setting.value.upper()} project, {plural(len(project), 'clip')}")
        print("status: " + ", ".join(f"{STATUS_TITLES[s]} {n}" for s, n in counts["status"].items()))
        print("split:  " + (", ".join(f"{s} {n}" for s, n in counts["split"].items()) or "-"))
        missing = project.missing_media()
        if missing:
            print(f"missing media: {len(missing)} clip(s); relink with 'avs-studio project relink'")
            for rec in missing[: args.show]:
                print(f"  {rec.clip_id}: {rec.media_path}")
        else:
            print("missing media: none")
        if args.check:
            problems = project.check()
            print("integrity: " + ("ok" if not problems else "; ".join(problems[:5])))
            if problems:
                return 1
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export (all clips, or one status/split) to COCO, PNG or an AVSBench layout."""
    from avs_studio.core.project.project import Project

    t0 = time.perf_counter()
    writer = None
    if args.to in ("avsbench-s4", "avsbench-ms3") and not args.no_media:
        writer = logmel_pickle_writer()
    with Project.open(args.project, readonly=True) as project, \
            progress_bar(f"export {args.to}", "item", quiet=_quiet(args)) as prog:  # fmt: skip
        summary = project.export(
            args.out, args.to, status=args.status, split=args.split, polygons=args.polygons,
            holes=args.holes, media=not args.no_media, include_proposals=args.include_proposals,
            log_mel_writer=writer, progress=prog, cancel=CancelToken(),
        )  # fmt: skip
    _report_failures([], summary.notes)
    for clip_id, where in list(summary.open_proposals.items())[: args.show]:
        frames = sorted({f + 1 for f, _ in where})
        print(f"open proposals: {clip_id}: {len(where)} on frame(s) {', '.join(map(str, frames))}", file=sys.stderr)
    for left in summary.left_out[: args.show]:
        print(f"left out: {left}", file=sys.stderr)
    for d in summary.dropped[: args.show]:
        print(f"not written: {d}", file=sys.stderr)
    print(f"report: {summary.report}")
    print(f"{summary.line()} in {time.perf_counter() - t0:.1f} s")
    # Something was not exported (clips the layout cannot hold, open proposals): say so.
    return 0 if summary.complete else EXIT_PARTIAL


def cmd_import(args: argparse.Namespace) -> int:
    """Import COCO / PNG / AVSBench masks as objects (one undoable command per clip)."""
    from avs_studio.core.project.project import Project

    t0 = time.perf_counter()
    with Project.open(args.project) as project, progress_bar("import", "clip", quiet=_quiet(args)) as prog:
        report = project.import_masks(args.src, setting=args.setting, split=args.split, progress=prog,
                                      cancel=CancelToken())  # fmt: skip
    _report_failures(report.failures, report.notes)
    if report.unknown:
        shown = ", ".join(report.unknown[:5])
        print(f"note: {len(report.unknown)} clip(s) are not in the project ({shown}); add them first "
              "with 'avs-studio project add'", file=sys.stderr)  # fmt: skip
    if report.clips == 0:
        raise AVSError(f"{args.src}: no masks for any clip of the project")
    print(f"{report.line()} in {time.perf_counter() - t0:.1f} s")
    # Masks left out (failed, or for clips the project lacks) make a batch with skips.
    return EXIT_PARTIAL if report.failures or report.unknown else 0


def cmd_merge(args: argparse.Namespace) -> int:
    """Merge two projects of the same setting into a new one."""
    from avs_studio.core.project.merge import merge

    with progress_bar("merge", "clip", quiet=_quiet(args)) as prog:
        report = merge(args.a, args.b, args.out, prefer=args.prefer, progress=prog, cancel=CancelToken())
    for conflict in report.conflicts[: args.show]:
        print(f"in both: {conflict}")
    if len(report.conflicts) > args.show:
        print(f"... and {len(report.conflicts) - args.show} more clips differ")
    print(report.line())
    return 0


def cmd_relink(args: argparse.Namespace) -> int:
    """Point clips whose media moved at the new location."""
    from avs_studio.core.project.project import Project

    with Project.open(args.project) as project:
        done = project.relink(args.target, args.new, check_hash=not args.no_hash_check)
        left = len(project.missing_media())
    if not done:
        raise AVSError(f"nothing was relinked: no clip's media found under {args.new}")
    print(f"relinked {len(done)} clip(s); {left} still missing")
    return 0


# --------------------------------------------------------------------------- parser


def add_project_parser(subparsers) -> None:
    """Register ``project`` and its sub-commands on the ``avs-studio`` sub-parsers."""
    settings = [s.value for s in Setting]
    p = subparsers.add_parser("project", help="annotation projects: new, add, status, export, import, merge")
    sub = p.add_subparsers(dest="project_command", metavar="ACTION")
    sub.required = True

    n = sub.add_parser("new", help="create an empty project file (*.avsproj)")
    n.add_argument("project", type=Path)
    n.add_argument("--setting", choices=settings, required=True)
    n.add_argument("--name", help="a display name (default: the file name)")
    n.set_defaults(func=cmd_new)

    a = sub.add_parser("add", help="add videos, folders, list files or AVSBench datasets")
    a.add_argument("project", type=Path)
    a.add_argument("sources", nargs="+", type=Path, help="video files, folders, .txt/.csv lists, datasets")
    a.add_argument("--seconds", type=int, choices=(5, 10), help="clip length (S4/MS3: 5; AVSS: 5 or 10)")
    a.add_argument("--start", type=float, default=0.0, help="start of the clip in a video (s)")
    a.add_argument("--segments", action="store_true", help="cut each video into consecutive clips")
    a.add_argument("--step", type=float, help="with --segments: seconds between clip starts")
    a.add_argument("--split", choices=_SPLITS)
    a.add_argument("--category", help="category of the added clips (S4)")
    a.set_defaults(func=cmd_add)

    s = sub.add_parser("status", help="clips per status and split, missing media")
    s.add_argument("project", type=Path)
    s.add_argument("--check", action="store_true", help="also run SQLite's integrity check")
    s.add_argument("--show", type=int, default=10, help="missing clips to list (default 10)")
    s.set_defaults(func=cmd_status)

    e = sub.add_parser("export", help="export to COCO, PNG masks or an AVSBench layout")
    e.add_argument("project", type=Path)
    e.add_argument("--to", required=True, choices=_TARGETS)
    e.add_argument("out", type=Path, help="output folder (or a .json file for coco)")
    e.add_argument("--status", help="only clips with this status (new, proposed, in progress, done, reviewed)")
    e.add_argument("--split", choices=_SPLITS)
    e.add_argument("--polygons", action="store_true", help="COCO polygons instead of RLE")
    e.add_argument("--holes", choices=["lose", "rle"], default="lose",
                   help="polygon masks with holes: 'lose' (spec rule) or keep them as RLE")  # fmt: skip
    e.add_argument("--no-media", action="store_true", help="AVSBench: masks and metadata only")
    e.add_argument("--include-proposals", action="store_true", help="export unaccepted proposals too")
    e.add_argument("--show", type=int, default=20, help="clips left out or with open proposals to list")
    e.set_defaults(func=cmd_export)

    i = sub.add_parser("import", help="import COCO / PNG / AVSBench masks as objects")
    i.add_argument("project", type=Path)
    i.add_argument("src", type=Path, help="a COCO .json, a PNG mask folder or an AVSBench dataset")
    i.add_argument("--setting", choices=settings, help="needed when the source cannot tell")
    i.add_argument("--split", choices=_SPLITS, help="only this split")
    i.set_defaults(func=cmd_import)

    m = sub.add_parser("merge", help="merge two projects of the same setting into a new one")
    m.add_argument("a", type=Path)
    m.add_argument("b", type=Path)
    m.add_argument("out", type=Path)
    m.add_argument("--prefer", choices=["status", "a", "b"], default="status",
                   help="which version of a clip found in both wins (default: the further along)")  # fmt: skip
    m.add_argument("--show", type=int, default=20, help="differing clips to list (default 20)")
    m.set_defaults(func=cmd_merge)

    r = sub.add_parser("relink", help="point clips at media that moved")
    r.add_argument("project", type=Path)
    r.add_argument("target", help="a clip id, or the folder the media used to be in")
    r.add_argument("new", type=Path, help="the clip's new file (or dataset folder), or the new folder")
    r.add_argument("--no-hash-check", action="store_true", help="relink even if the content differs")
    r.set_defaults(func=cmd_relink)
