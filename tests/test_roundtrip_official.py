"""Every source to every AVSBench layout, read back as the official loaders read it.

Sources: the demo datasets (S4, MS3, AVSS), projects made from them, a project of
segments cut from a long recording, and ``propose`` outputs (a tiny S4 model, and the
shipped AVSS demo model). Targets: the S4, MS3 and
AVSS layouts, where a source's masks can become them (binary masks carry no classes, so
they never become AVSS). Each result is checked with :func:`check_dataset`, which encodes
``formats.md``: file names and counts, sizes and modes, mask values as each loader decodes
them, the log-mel pickles, the CSV columns and their value ranges; clips a layout cannot
hold are named as left out, never written half.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from ffmpeg_tools import official_picks
from PIL import Image

from avs_studio.cli.parser import main
from avs_studio.core.datasets import open_dataset
from avs_studio.core.datasets.check import check_dataset
from avs_studio.core.media.writer import write_video
from avs_studio.core.project.project import Project

FOLDER = {"s4": "Single-source", "ms3": "Multi-sources", "avss": "AVSS"}
META = {"s4": "s4_meta_data.csv", "ms3": "ms3_meta_data.csv", "avss": "metadata.csv"}


def cli(*argv) -> int:
    return main(["--quiet", *map(str, argv)])


def assert_loadable(root: Path, setting: str, *, media: bool = True) -> None:
    report = check_dataset(root, setting, media=media)
    assert report.ok, "\n".join(map(str, report.findings[:10]))
    assert report.clips > 0


def csv_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.read_text().splitlines()))


def expected_left_out(ds, target: str) -> set[str]:
    """Clips of a dataset the target layout cannot hold (formats.md §1.4, §2.8)."""
    out = set()
    for c in ds.clips():
        if target in ("s4", "ms3") and c.num_frames > 5:
            out.add(c.clip_id)  # a 10-frame v2 clip
        elif target == "ms3" and len(c.annotated) < 5:
            out.add(c.clip_id)  # an S4 train clip: one mask
    return out


def expected_dropped(ds, target: str) -> set[str]:
    """Clips whose masks of frames 2-5 the target's train layout has no place for (S4 train
    keeps frame 1's mask): exported, but named and the export is not complete."""
    def first_only(c) -> bool:
        return c.split == "train" and (target == "s4" and c.num_frames <= 5 or target == "avss" and c.subset == "v1s")

    return {c.clip_id for c in ds.clips() if first_only(c) and len(c.annotated) > 1}


# --------------------------------------------------------------------------- demo datasets


@pytest.mark.parametrize("source", ["s4", "ms3", "avss"])
@pytest.mark.parametrize("target", ["s4", "ms3", "avss"])
def test_a_demo_dataset_exports_to_every_layout_the_official_loaders_read(demo_root, tmp_path, capsys, source,
                                                                          target):  # fmt: skip
    root = demo_root(source, 6 if source != "avss" else 4, 0)
    ds = open_dataset(root)
    out = tmp_path / "out"
    code = cli("export", root, "--to", f"avsbench-{target}", out)
    err = capsys.readouterr().err
    if target == "avss" and source != "avss":
        assert code == 2 and "no classes" in err
        assert not out.exists()  # a refused export leaves no folder
        return
    left, dropped = expected_left_out(ds, target), expected_dropped(ds, target)
    assert code == (3 if left or dropped else 0)
    for clip_id in left | dropped:
        assert clip_id in err  # named, with the reason
    report = json.loads((out / FOLDER[target] / "avs_studio_export_report.json").read_text())
    assert report["complete"] is not bool(left or dropped)
    assert {d.split(":")[0] for d in report["dropped"]} == dropped
    assert_loadable(out, target)
    written = open_dataset(out / FOLDER[target])
    assert {c.clip_id for c in written.clips()} == {c.clip_id for c in ds.clips()} - left
    assert [c.split for c in written.clips()] == [c.split for c in ds.clips() if c.clip_id not in left]
    if source == target == "s4":  # the metadata survive: S4 start
        assert csv_rows(out / FOLDER[target] / "s4_meta_data.csv") == csv_rows(root / "s4_meta_data.csv")
    if source == target == "avss":  # vid, s_min, s_sec, a_obj, split, label
        assert csv_rows(out / "AVSS" / "metadata.csv") == csv_rows(root / "metadata.csv")


# --------------------------------------------------------------------------- projects


#: Clips of the demo dataset each project is made from (MS3 kept small: three clips).
PROJECT_CLIPS = {"s4": 6, "ms3": 3, "avss": 4}


@pytest.fixture(scope="module")
def projects(demo_root, tmp_path_factory):
    """Projects made from the S4, MS3 and AVSS demo datasets (ground truth as objects)."""
    base = tmp_path_factory.mktemp("projects")
    out = {}
    for setting, clips in PROJECT_CLIPS.items():
        path = base / f"{setting}.avsproj"
        with Project.create(path, setting) as p:
            p.add([demo_root(setting, clips, 0)])
        out[setting] = path
    return out


@pytest.mark.parametrize("source,target", [("s4", "s4"), ("s4", "ms3"), ("ms3", "ms3"), ("ms3", "s4"),
                                           ("avss", "avss"), ("avss", "s4"), ("avss", "ms3")])  # fmt: skip
def test_a_project_exports_to_every_layout_the_official_loaders_read(projects, demo_root, tmp_path, capsys,
                                                                     source, target):  # fmt: skip
    ds = open_dataset(demo_root(source, PROJECT_CLIPS[source], 0))
    out = tmp_path / "out"
    code = cli("project", "export", projects[source], "--to", f"avsbench-{target}", out)
    err = capsys.readouterr().err
    left, dropped = expected_left_out(ds, target), expected_dropped(ds, target)
    assert code == (3 if left or dropped else 0), err
    assert all(f"left out: {c}" in err for c in left)
    assert all(f"not written: {c}: the mask(s) of frame(s) 2, 3, 4, 5" in err for c in dropped)
    assert_loadable(out, target)
    written = open_dataset(out / FOLDER[target])
    assert {c.clip_id for c in written.clips()} == {c.clip_id for c in ds.clips()} - left
    # every mask the loader reads is the source's (any class = the sounding object in S4/MS3);
    # S4 train clips keep the first frame's mask only
    for c in written.clips():
        src = ds.get(c.clip_id)
        assert c.split == src.split
        assert c.annotated == ((0,) if target == "s4" and c.split == "train" else src.annotated)
        for k in c.annotated:
            if target == "avss":
                assert np.array_equal(c.mask(k, size=None), src.mask(k, size=None)), (c.clip_id, k)
            else:
                assert np.array_equal(c.mask(k) > 0, src.mask(k) > 0), (c.clip_id, k)
    if source == target:
        # frames copied byte for byte (AVSS JPEGs are not re-encoded), metadata kept
        for c in written.clips():
            for k in range(c.num_frames):
                assert c.frame_path(k).read_bytes() == ds.get(c.clip_id).frame_path(k).read_bytes()
        assert csv_rows(out / FOLDER[target] / META[source]) == csv_rows(ds.root / META[source])


@pytest.mark.parametrize("source", ["s4", "ms3"])
def test_a_binary_project_cannot_become_avss_and_leaves_no_folder(projects, tmp_path, capsys, source):
    out = tmp_path / "nested" / "out"
    assert cli("project", "export", projects[source], "--to", "avsbench-avss", out) == 2
    assert "no classes" in capsys.readouterr().err
    assert not (tmp_path / "nested").exists()


# --------------------------------------------------------------------------- segments


def _recording(path: Path, seconds: float, fps: int = 25) -> Path:
    """A recording whose frames all differ, with a keyframe every 2 s (GOP of 50)."""
    n = int(seconds * fps)

    def frames():
        for i in range(n):
            img = np.zeros((120, 160, 3), np.uint8)
            img[..., 0] = (i * 7) % 256
            img[..., 1] = (i * 3) % 256
            img[40:80, i % 140 : i % 140 + 20, 2] = 255
            yield img

    t = np.arange(int(seconds * 16000)) / 16000
    write_video(path, frames(), fps, audio=(0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
                gop_size=2 * fps)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def segment_project(tmp_path_factory):
    """An S4 project of clips cut from a 16-s recording: at keyframes (4 s) and between them."""
    base = tmp_path_factory.mktemp("segments")
    long = _recording(base / "long.mp4", 16.0)
    path = base / "seg.avsproj"
    with Project.create(path, "s4") as p:
        for start in (4.0, 7.0, 10.3):
            rec = p.add_video(long, start=start, seconds=5, split="test", category="dog_barking")
            s = p.session(rec.clip_id, user="ana")
            for k in range(5):
                s.apply(s.polygon(k, 1, [(10 + 4 * k, 10), (60, 10), (60, 60)]))
    return path


@pytest.mark.parametrize("target", ["s4", "ms3"])
def test_segments_of_a_long_recording_export_videos_whose_official_frames_are_the_exported_frames(
    segment_project, tmp_path, capsys, target
):
    out = tmp_path / "out"
    assert cli("project", "export", segment_project, "--to", f"avsbench-{target}", out) == 0
    err = capsys.readouterr().err
    assert "re-encoded losslessly" in err  # 7 s and 10.3 s are not keyframes
    root = out / FOLDER[target]
    assert_loadable(out, target)
    ds = open_dataset(root)
    for clip in ds.clips():
        video = clip.video_path
        picks = official_picks(video, 160, 120)  # the official preprocessing, run on the exported video
        for k, pick in enumerate(picks):
            resized = cv2.resize(pick, (224, 224), interpolation=cv2.INTER_LINEAR)
            assert np.array_equal(resized, clip.frame(k)), f"{clip.clip_id} frame {k + 1}"
    manifest = json.loads((root / "avs_studio_manifest.json").read_text())
    assert {c: m["source_start"] for c, m in manifest["segments"].items()} == {
        "long_4000_9000": 4.0, "long_7000_12000": 7.0, "long_10300_15300": 10.3}  # fmt: skip
    if target == "s4":
        # the official script reads `start` to count the seconds of the (trimmed) clip: 0..6
        assert {r["start"] for r in csv_rows(root / "s4_meta_data.csv")} == {"0"}
    # added back to a project, each clip says which longer video it was cut from, and where
    with Project.create(tmp_path / "again.avsproj", target) as again:
        again.add([root])
        notes = {r.clip_id: r.comment for r in again.clips()}
    for clip_id, seg in manifest["segments"].items():
        assert notes[clip_id] == f"cut from {seg['source_video']} at {seg['source_start']:g} s (from " \
                                 "avs_studio_manifest.json of the export)"
    # a damaged manifest loses only that: the clips are added, and the add says so
    (root / "avs_studio_manifest.json").write_text('{"format": "avs-studio-export", "segments": {"x": 1}}')
    with Project.create(tmp_path / "third.avsproj", target) as third:
        report = third.add([root])
        assert len(third.clips()) == len(manifest["segments"]) and not any(r.comment for r in third.clips())
    assert any("avs_studio_manifest.json" in n and "not known" in n for n in report.notes)


# --------------------------------------------------------------------------- propose output


@pytest.fixture(scope="module")
def proposals(demo_root, tmp_path_factory):
    from test_propose import tiny_system

    from avs_studio.model.propose.run import propose

    out = tmp_path_factory.mktemp("propose") / "props"
    propose(demo_root("s4", 6, 0), tiny_system("s4"), out, fmt="png", workers=0)
    return out


@pytest.mark.parametrize("target", ["s4", "ms3"])
def test_propose_output_exports_masks_the_official_loaders_read(proposals, demo_root, tmp_path, capsys, target):
    out = tmp_path / "out"
    code = cli("export", proposals, "--to", f"avsbench-{target}", out)
    err = capsys.readouterr().err
    assert "masks and metadata only" in err  # and says what is missing
    # proposals cover every frame; an S4 train clip keeps frame 1's: the rest is named, exit 3
    train = {c.clip_id for c in open_dataset(demo_root("s4", 6, 0)).clips() if c.split == "train"}
    dropped = train if target == "s4" else set()
    assert code == (3 if dropped else 0) and all(f"not written: {c}" in err for c in dropped)
    assert_loadable(out, target, media=False)
    n = len({f.split("/")[0] for f in json.loads((proposals / "masks.json").read_text())["frames"]
             for f in [f["file"]]})  # fmt: skip
    assert len(open_dataset(out / FOLDER[target]).clips()) == n
    if target == "s4":  # a proposal for every frame; the S4 train layout keeps the first
        train = [c for c in open_dataset(out / FOLDER[target]).clips() if c.split == "train"]
        assert train and all(c.annotated == (0,) for c in train)
    if target == "s4":  # the metadata rows are the source dataset's: the S4 start kept, not zeroed
        assert csv_rows(out / FOLDER[target] / META[target]) == csv_rows(demo_root("s4", 6, 0) / META[target])


@pytest.fixture(scope="module", params=["png", "coco"])
def avss_proposals(demo_root, tmp_path_factory, request):
    """The shipped AVSS demo model's proposals (PNG masks, or a COCO file) for one clip of
    each subset (v1s, v1m, v2)."""
    from avs_studio.model.model_files import load_system
    from avs_studio.model.propose.run import propose

    ds = open_dataset(demo_root("avss", 4, 0))
    clips = [next(c for c in ds.clips() if c.subset == subset) for subset in ("v1s", "v1m", "v2")]
    out = tmp_path_factory.mktemp("propose-avss") / "props"
    report = propose(clips, load_system(None, setting="avss"), out, fmt=request.param, workers=0)
    assert sorted(report.done) == sorted(c.clip_id for c in clips) and not report.failures
    return ds, clips, out, request.param


def test_an_avss_propose_output_exports_to_the_avss_layout_with_the_sources_metadata(avss_proposals, tmp_path,
                                                                                     capsys):  # fmt: skip
    from avs_studio.core.metrics.evaluation import evaluate

    ds, clips, props, fmt = avss_proposals
    out = tmp_path / "out"
    source = props / "coco_instances.json" if fmt == "coco" else props
    assert cli("export", source, "--to", "avsbench-avss", out) == 3  # the v1s train clip keeps one mask
    err = capsys.readouterr().err
    assert "masks and metadata only" in err and "frames 2-5 of train clips not written" in err
    v1s = next(c for c in clips if c.subset == "v1s")
    assert v1s.split == "train" and f"not written: {v1s.clip_id}: the mask(s) of frame(s) 2, 3, 4, 5" in err
    assert_loadable(out, "avss", media=False)
    root = out / "AVSS"
    # metadata.csv: the source's rows (vid, s_min, s_sec, a_obj, split, label; formats.md 2.2)
    src_rows = {r["uid"]: r for r in csv_rows(ds.root / "metadata.csv")}
    assert csv_rows(root / "metadata.csv") == [src_rows[c.clip_id] for c in clips]
    written = open_dataset(root)
    assert [c.clip_id for c in written.clips()] == [c.clip_id for c in clips]
    for c in written.clips():
        src = ds.get(c.clip_id)
        assert (c.subset, c.split, c.num_frames) == (src.subset, src.split, src.num_frames)
        assert c.annotated == ((0,) if c.subset == "v1s" and c.split == "train" else tuple(range(c.num_frames)))
    if fmt != "png":
        return
    # every label mask, decoded from its colour PNG as the official loader does, is the model's
    for c in written.clips():
        for k in c.annotated:
            proposed = np.asarray(Image.open(props / c.clip_id / f"{k}.png"))
            assert np.array_equal(c.mask(k, size=None), proposed), (c.clip_id, k)
    # "enough to evaluate against", as the note says: every clip is scored, and the clips with
    # all their masks score perfectly (the v1s train clip's missing masks are the official padding)
    ev = evaluate(props, root, "avss", split=None)
    assert ev.clips == len(clips)
    whole = {c.clip_id for c in written.clips() if len(c.annotated) == c.num_frames}
    assert len(whole) == 2 and all(r["miou"] == pytest.approx(1.0) for r in ev.rows if r["clip_id"] in whole)


# --------------------------------------------------------------------------- the checker


def test_the_checker_finds_what_the_official_loaders_would_fail_on(demo_root, tmp_path):
    import shutil

    root = shutil.copytree(demo_root("s4", 6, 0), tmp_path / "s4")
    ds = open_dataset(root)
    clip = ds.clips()[0]
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(clip.frame_path(1))  # wrong size
    assert not ds.logmel_path(clip).exists()  # this demo was written without its pickles
    Image.fromarray(np.full((224, 224), 128, np.uint8)).save(clip.mask_path(0))  # grey values
    meta = root / "s4_meta_data.csv"
    meta.write_text(meta.read_text().replace(f"{clip.clip_id},{int(clip.start)},", f"{clip.clip_id},60,"))
    findings = [str(f) for f in check_dataset(root).findings]
    assert any("100x100" in f for f in findings)
    assert any(".pkl" in f and "missing" in f for f in findings)
    assert any("values [128]" in f for f in findings)
    assert any("start 60 is outside 0..6" in f for f in findings)


def test_the_checker_reports_damaged_files_and_never_crashes(demo_root, tmp_path, capsys):
    """Files the checker reads itself (not through the dataset readers): a JSON nested
    200,000 deep, a CSV field beyond the csv module's limit, a decompression bomb."""
    import shutil

    avss = shutil.copytree(demo_root("avss", 4, 0), tmp_path / "avss")
    (avss / "label2idx.json").write_text("[" * 200_000 + "]" * 200_000)
    frame = next(avss.rglob("frames/*.jpg"))
    bomb = Image.new("L", (30_000, 30_000))  # 900 Mpx: Pillow refuses it as a bomb
    bomb.save(frame.with_suffix(".png"), format="PNG", optimize=False)
    frame.with_suffix(".png").replace(frame)
    assert cli("check", avss) == 1
    out = capsys.readouterr().out
    assert "label2idx.json: not valid JSON" in out and "Traceback" not in out
    assert "not an image Pillow can read" in out and "decompression bomb" in out.lower()
    s4 = shutil.copytree(demo_root("s4", 6, 0), tmp_path / "s4")
    meta = s4 / "s4_meta_data.csv"
    meta.write_text(meta.read_text() + "x" * 200_000 + ",0,cat,test\n")
    assert cli("check", s4) == 1
    assert "not a CSV the loaders can read" in capsys.readouterr().out
    # names from the CSV that are no plain file names are findings, never paths (found by the
    # fuzz run, seed 23: a 300-byte id made the file system refuse the path)
    ms3 = shutil.copytree(demo_root("ms3", 4, 0), tmp_path / "ms3")
    meta = ms3 / "ms3_meta_data.csv"
    meta.write_text(meta.read_text().rstrip("\n") + "\n" + "y" * 300 + ",test\n../../etc,test\n")
    assert cli("check", ms3) == 1
    out = capsys.readouterr().out
    assert "ms3_meta_data.csv:6: video_id" in out and "longer than 255 bytes" in out
    assert "ms3_meta_data.csv:7: video_id" in out and "not a plain file or folder name" in out
