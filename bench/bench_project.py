"""Project store speed: brush strokes on 1080p masks, opening 10,000 clips, exporting 1,000.

    python bench/bench_project.py [--strokes 200] [--clips 10000] [--export 1000] [--dir DIR]

1. A brush stroke (100 pointer moves, radius 5-30 px) on a 1920x1080 mask: rasterise it
   (``finish``) and apply + commit it (``session.apply``), median and p95; target: under
   10 ms median. Baseline: the naive command that stores the whole mask before and after
   (ReplaceMask), measured on the same strokes; also the history bytes per stroke, and the
   same strokes with ``durability="full"`` (an fsync per commit).
2. Opening a project of 10,000 clips (5 annotated frames, one object each): ``Project.open``
   alone (target under 1 s), then listing every clip and counting statuses.
3. Exporting 1,000 clips (5,000 masks of 224x224) to PNG and COCO, against the same masks
   exported from memory by the same writers (the cost of reading them out of SQLite).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from avs_studio.core.export import FrameMask, MaskSet, write_coco, write_png_masks
from avs_studio.core.project.add import NewClip
from avs_studio.core.project.edits import ReplaceMask
from avs_studio.core.project.project import Project
from avs_studio.core.setting import Setting


def clip_spec(uid: str, width: int, height: int, split: str = "test") -> NewClip:
    return NewClip(
        uid=uid, source="video", root=Path("/media/none"), files={"video": f"{uid}.mp4"},
        media_hash="", duration=5.0, start=0.0, seconds=5, num_frames=5,
        frame_times=[k + 0.9375 for k in range(5)], annotated=list(range(5)), width=width,
        height=height, split=split, category="dog_barking", status="done",
    )  # fmt: skip


def stroke_points(rng: np.random.Generator, n: int = 100) -> tuple[np.ndarray, float]:
    start = rng.uniform((100, 100), (1820, 980))
    return start + np.cumsum(rng.normal(0, 6, (n, 2)), axis=0), float(rng.uniform(5, 30))


def stats(ms: list[float]) -> str:
    a = np.asarray(ms)
    return f"median {np.median(a):6.2f} ms   p95 {np.percentile(a, 95):6.2f} ms"


def bench_strokes(folder: Path, n: int) -> None:
    print(f"\n1. brush strokes on a 1920x1080 mask ({n} strokes of 100 moves)")
    results = {}
    for mode, durability in (("region patch", "normal"), ("whole mask", "normal"),
                             ("region patch, durability=full", "full")):  # fmt: skip
        path = folder / f"strokes-{durability}-{mode[:5]}.avsproj"
        rng = np.random.default_rng(1)
        finish_ms, apply_ms = [], []
        with Project.create(path, "s4", durability=durability) as project:
            project.add_clip(clip_spec("hd", 1920, 1080))
            session = project.session("hd")
            for i in range(n):
                pts, radius = stroke_points(rng)
                t0 = time.perf_counter()
                builder = session.stroke(i % 5, 1, radius=radius)
                builder.add_points(pts)
                cmd = builder.finish()
                if mode == "whole mask" and cmd is not None and session.store.object(i % 5, 1) is not None:
                    top, left, region = builder.preview()
                    whole = np.array(session.store.mask(i % 5, 1))
                    h, w = region.shape
                    whole[top : top + h, left : left + w] |= region.astype(np.uint8)
                    cmd = ReplaceMask(i % 5, 1, whole)
                t1 = time.perf_counter()
                if cmd is not None:
                    session.apply(cmd)
                t2 = time.perf_counter()
                finish_ms.append((t1 - t0) * 1e3)
                apply_ms.append((t2 - t1) * 1e3)
            blob = project._store.query_one("SELECT avg(length(data) + length(command)) FROM history")[0]
        total = [a + b for a, b in zip(finish_ms, apply_ms)]
        results[mode] = (np.median(apply_ms), np.median(total), blob)
        print(f"   {mode:32s} rasterise {stats(finish_ms)}")
        print(f"   {'':32s} apply+commit {stats(apply_ms)}")
        print(f"   {'':32s} total {stats(total)}   history {blob / 1024:7.1f} KiB/stroke")
    ours, naive = results["region patch"], results["whole mask"]
    print(f"   -> apply+commit {naive[0] / ours[0]:.1f}x faster, history {naive[2] / ours[2]:.0f}x smaller "
          "than storing the whole mask; target < 10 ms median: "
          f"{'met' if ours[1] < 10 else 'MISSED'} ({ours[1]:.2f} ms)")  # fmt: skip


def build_big(path: Path, clips: int) -> None:
    import cv2

    rng = np.random.default_rng(2)
    t0 = time.perf_counter()
    with Project.create(path, "s4") as project:
        for i in range(clips):  # one transaction per clip, as adding clips does
            objects = []
            for k in range(5):
                m = np.zeros((224, 224), np.uint8)
                cy, cx = rng.integers(40, 184, 2).tolist()
                cv2.circle(m, (cx, cy), int(rng.integers(10, 40)), 1, -1)
                objects.append((k, 1, 1, m))
            project.add_clip(clip_spec(f"clip{i:05d}", 224, 224, ("train", "val", "test")[i % 3]), objects)
    print(f"   built in {time.perf_counter() - t0:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)")


def bench_open(folder: Path, clips: int) -> Path:
    print(f"\n2. opening a project of {clips} clips ({clips * 5} objects)")
    path = folder / "big.avsproj"
    build_big(path, clips)
    opens, lists = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        project = Project.open(path)
        t1 = time.perf_counter()
        records = project.clips()
        counts = project.counts()
        t2 = time.perf_counter()
        project.close()
        opens.append((t1 - t0) * 1e3)
        lists.append((t2 - t1) * 1e3)
    assert len(records) == clips and sum(counts["status"].values()) == clips
    print(f"   Project.open             {stats(opens)}   (target < 1000 ms: {'met' if np.median(opens) < 1000 else 'MISSED'})")
    print(f"   list all clips + counts  {stats(lists)}")
    print(f"   open + list + counts     median {np.median(opens) + np.median(lists):6.1f} ms")
    return path


def bench_export(folder: Path, big: Path, clips: int) -> None:
    print(f"\n3. exporting {clips} clips ({clips * 5} masks of 224x224)")
    with Project.open(big, readonly=True) as project:
        ids = project.clip_ids()[:clips]
        keep = set(ids)
        ms = project.to_maskset()
        ms = MaskSet(ms.setting, [f for f in ms.frames if f.clip_id in keep], ms.info)
        plain = MaskSet(Setting.S4, [FrameMask.of(f.clip_id, f.frame, f.mask.copy(), file_name=f.file_name,
                                                  split=f.split) for f in ms.frames])  # fmt: skip
        for f in ms.frames:
            f.release()
        for target in ("png", "coco"):
            dest = folder / f"export-{target}"
            t0 = time.perf_counter()
            if target == "png":
                write_png_masks(dest, ms)
            else:
                write_coco(dest.with_suffix(".json"), ms)
            t1 = time.perf_counter()
            ref = folder / f"plain-{target}"
            if target == "png":
                write_png_masks(ref, plain)
            else:
                write_coco(ref.with_suffix(".json"), plain)
            t2 = time.perf_counter()
            print(f"   {target:5s} from the project {t1 - t0:6.2f} s   from memory {t2 - t1:6.2f} s   "
                  f"ratio {(t1 - t0) / (t2 - t1):.2f}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--strokes", type=int, default=200)
    ap.add_argument("--clips", type=int, default=10000)
    ap.add_argument("--export", type=int, default=1000)
    ap.add_argument("--dir", type=Path, help="working folder (default: a temporary one)")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-project-", dir=args.dir))
    try:
        bench_strokes(folder, args.strokes)
        big = bench_open(folder, args.clips)
        bench_export(folder, big, min(args.export, args.clips))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
