"""``avs-studio demo-data | info | check | export | import``: datasets, videos and mask files.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from avs_studio.cli.common import (
    EXIT_PARTIAL,
    logmel_pickle_writer,
    parse_size,
    progress_bar,
)
from avs_studio.core.errors import AVSError
from avs_studio.core.jobs import CancelToken
from avs_studio.core.setting import Setting
from avs_studio.core.text import plural


def cmd_demo_data(args: argparse.Namespace) -> int:
    """Write a synthetic dataset in the official layout."""
    from avs_studio.core.demo.dataset import write_demo_dataset

    writer = None
    if Setting.parse(args.setting).is_binary and not args.no_pickles:
        writer = logmel_pickle_writer()
    t0 = time.perf_counter()
    with progress_bar(f"demo {args.setting}", "clip", quiet=args.quiet) as prog:
        root = write_demo_dataset(
            args.dir, args.setting, args.clips, args.seed, size=args.size, progress=prog,
            cancel=CancelToken(), log_mel_writer=writer,
        )  # fmt: skip
    pkl = "" if writer is not None or not Setting.parse(args.setting).is_binary else " (no log-mel pickles)"
    print(f"wrote {plural(args.clips, args.setting.upper() + ' clip')} to {root} in {time.perf_counter() - t0:.1f} s{pkl}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Describe a video file."""
    from avs_studio.core.media.decode import probe

    info = probe(args.clip)
    print(info.describe(seconds=args.seconds))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Check a dataset folder against what the official dataset classes read."""
    from avs_studio.core.datasets.check import check_dataset

    report = check_dataset(args.dir, args.setting, media=not args.masks_only)
    for finding in report.findings[: args.show]:
        print(finding)
    if len(report.findings) > args.show:
        print(f"... and {len(report.findings) - args.show} more")
    verdict = "the official loaders read it" if report.ok else f"{len(report.findings)} problem(s)"
    print(f"{report.setting.value.upper()} {report.root}: {plural(report.clips, 'clip')}, {plural(report.files, 'file')} checked; {verdict}")
    return 0 if report.ok else 1


def cmd_export(args: argparse.Namespace) -> int:
    """Convert masks between COCO, PNG and the AVSBench layouts."""
    from avs_studio.core import export as ex

    masks, dataset = ex.load_masks(args.src, args.setting, split=args.split, native_size=not args.eval_size)
    return _write_masks(masks, dataset, args.to, Path(args.out), args)


def cmd_import(args: argparse.Namespace) -> int:
    """Read COCO or PNG masks into an AVSBench layout."""
    from avs_studio.core import export as ex

    masks, dataset = ex.load_masks(args.src, args.setting, split=args.split)
    target = args.layout or f"avsbench-{masks.setting.value}"
    return _write_masks(masks, dataset, target, Path(args.out), args)


def _write_masks(masks, dataset, target: str, out: Path, args: argparse.Namespace) -> int:
    from avs_studio.core import export as ex
    from avs_studio.core.export.avsbench import FOLDER
    from avs_studio.core.export.layout import output_folder
    from avs_studio.core.export.report import write_export_report

    if len(masks) == 0:
        why = f"; {len(masks.skipped)} refused, e.g. {masks.skipped[0]}" if masks.skipped else " (check --split)"
        raise AVSError(f"{args.src}: no masks to write{why}")
    t0 = time.perf_counter()
    failures: list[str] = []
    left_out = []
    dropped: list[str] = []
    notes: list[str] = []
    with output_folder(out), progress_bar(f"export {target}", "mask", quiet=args.quiet) as prog:
        token = CancelToken()
        if target == "coco":
            dest = out if out.suffix.lower() == ".json" else out / "annotations.json"
            s = ex.write_coco(dest, masks, polygons=args.polygons, holes=args.holes, progress=prog,
                              cancel=token)  # fmt: skip
            failures, notes, written = s.failures, list(s.notes), dest
            extra = f", {s.polygons} as polygons, {s.rle_fallbacks} kept as RLE" if args.polygons else ""
            line = (f"wrote {plural(s.images, 'image')} and {plural(s.annotations, 'annotation')} to "
                    f"{dest}{extra}")  # fmt: skip
        elif target == "png":
            n = ex.write_png_masks(out, masks, progress=prog, cancel=token, failures=failures)
            written = out
            line = f"wrote {plural(n, 'PNG mask')} to {out}"
        else:
            layout = target.split("-", 1)[1]
            writer = logmel_pickle_writer() if layout in ("s4", "ms3") and dataset is not None else None
            s = ex.write_avsbench(out, masks, layout, dataset=dataset, log_mel_writer=writer, progress=prog,
                                  cancel=token)  # fmt: skip
            failures, left_out, notes, dropped = s.failures, s.left_out, list(s.notes), s.dropped
            written = out / FOLDER[Setting.parse(layout)]
            line = f"wrote {plural(s.clips, 'clip')} ({plural(s.masks, 'mask')}) as {layout.upper()} under {out}"
            if left_out:
                line += f", {plural(len(left_out), 'clip')} left out"
            if dropped:
                line += f", {plural(len(dropped), 'train clip')} with masks the layout cannot hold"
        # Rows of the source refused when it was read are skipped items too (named, counted).
        counts = [f"{len(failures)} unreadable mask(s) skipped"] if failures else []
        if masks.skipped:
            counts.append(f"{len(masks.skipped)} refused row(s) of the source skipped")
        failures = [*masks.skipped, *failures]
        notes += list(dataset.notes()) if dataset is not None else []
        report = write_export_report(written, source=str(args.src), target=target,
                                     counts={"clips": len(masks.clip_ids()), "masks": len(masks)},
                                     notes=notes, skipped=failures, left_out=left_out,
                                     dropped=dropped)  # fmt: skip
    for note in notes:  # the writer's, then the source's: as in the report
        print(f"note: {note}", file=sys.stderr)
    for failure in failures[:20]:
        print(f"skipped: {failure}", file=sys.stderr)
    if len(failures) > 20:
        print(f"skipped: ... and {len(failures) - 20} more", file=sys.stderr)
    bad = "".join(f", {c}" for c in counts)
    print(f"report: {report}")
    print(f"{line}{bad} in {time.perf_counter() - t0:.1f} s")
    for d in dropped[:20]:
        print(f"not written: {d}", file=sys.stderr)
    return EXIT_PARTIAL if failures or left_out or dropped else 0


def _mask_options(p: argparse.ArgumentParser, settings: list[str]) -> None:
    p.add_argument("--setting", choices=settings, help="needed when the source cannot tell")
    p.add_argument("--split", choices=["train", "val", "test"], help="only this split")
    p.add_argument("--polygons", action="store_true", help="COCO polygons instead of RLE")
    p.add_argument("--holes", choices=["lose", "rle"], default="lose",
                   help="polygon masks with holes: 'lose' (spec rule) or keep them as RLE")  # fmt: skip


def add_data_parsers(sub, settings: list[str]) -> None:
    """``demo-data``, ``info``, ``export`` and ``import``."""
    d = sub.add_parser("demo-data", help="write a synthetic dataset in the official layout")
    d.add_argument("dir", help="output folder (the data go to DIR/Single-source, Multi-sources or AVSS)")
    d.add_argument("--setting", choices=settings, default="s4")
    d.add_argument("--clips", type=int, default=12)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--size", type=parse_size, default=(320, 240), help="video size WxH (default 320x240)")
    d.add_argument("--no-pickles", action="store_true", help="do not write audio_log_mel/*.pkl")
    d.set_defaults(func=cmd_demo_data)

    i = sub.add_parser("info", help="describe a video: duration, fps, size, rotation, audio, sampled frames")
    i.add_argument("clip")
    i.add_argument("--seconds", type=int, default=5, choices=(5, 10), help="clip length to sample (5 or 10)")
    i.set_defaults(func=cmd_info)

    c = sub.add_parser("check", help="check a dataset folder against what the official loaders read")
    c.add_argument("dir", help="an S4, MS3 or AVSS dataset folder")
    c.add_argument("--setting", choices=settings, help="which layout, when the folder holds several")
    c.add_argument("--show", type=int, default=50, help="problems to list (default 50)")
    c.add_argument("--masks-only", action="store_true",
                   help="check what evaluation reads (CSV and masks), not frames, audio and log-mel")  # fmt: skip
    c.set_defaults(func=cmd_check)

    targets = ["coco", "png", "avsbench-s4", "avsbench-ms3", "avsbench-avss"]
    e = sub.add_parser("export", help="convert masks: COCO (RLE/polygons), PNG, AVSBench layouts")
    e.add_argument("src", help="a dataset folder, a PNG mask folder or a COCO .json")
    e.add_argument("--to", required=True, choices=targets)
    e.add_argument("out", help="output folder (or .json file for coco)")
    _mask_options(e, settings)
    e.add_argument("--eval-size", action="store_true", help="AVSS masks at 224x224 instead of native size")
    e.set_defaults(func=cmd_export)

    m = sub.add_parser("import", help="read COCO or PNG masks into an AVSBench layout")
    m.add_argument("src", help="a COCO .json or a PNG mask folder")
    m.add_argument("out", help="output folder")
    m.add_argument("--layout", choices=targets[2:], help="target layout (default: the masks' setting)")
    _mask_options(m, settings)
    m.set_defaults(func=cmd_import)
