"""``avs-studio propose``: a model's masks for a dataset, a folder of videos or a list file,
in the official, PNG or COCO layouts, scored by ``evaluate``, resumable after a hard kill.

The stories use a tiny system injected into the job (the CLI loads real models; its
loading is replaced here so that no shipped weights are needed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from avs_studio.core.datasets import open_dataset
from avs_studio.core.errors import AVSError
from avs_studio.core.export import load_masks, read_coco
from avs_studio.core.fsutil import is_temporary
from avs_studio.core.jobs import CancelToken
from avs_studio.core.metrics import BinaryMetricAccumulator, SemanticMetricAccumulator
from avs_studio.core.metrics.evaluation import evaluate
from avs_studio.core.metrics.predictions import Predictions
from avs_studio.core.setting import Setting
from avs_studio.model.engine import Engine
from avs_studio.model.inputs import prepare_clip
from avs_studio.model.propose.run import STATE_DIR, discover, propose
from avs_studio.model.system import AVSSystem, SystemInfo

TESTS = Path(__file__).resolve().parent


class TinyAudio(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(96 * 64, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x.flatten(1)))


class TinyAVS(nn.Module):
    """A 1x1 convolution plus an audio term; ``delay`` seconds per forward (kill tests)."""

    def __init__(self, classes: int, delay: float = 0.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, classes, 1)
        self.audio = nn.Linear(128, classes)
        self.delay = delay

    def forward(self, frames, audio, flags=None):
        if self.delay:
            time.sleep(self.delay)
        y = self.conv(frames) + self.audio(audio)[:, :, None, None]
        if flags is not None:
            y = y * flags.view(-1, 1, 1, 1)
        return y, [], []


def tiny_system(setting: str = "s4", seed: int = 0, delay: float = 0.0, name: str = "tiny") -> AVSSystem:
    st = Setting.parse(setting)
    torch.manual_seed(seed)
    avs = TinyAVS(st.num_classes, delay)
    with torch.no_grad():
        avs.conv.weight.mul_(4.0)  # masks with both classes present, not all background
    return AVSSystem(TinyAudio(), avs, SystemInfo(st, "tiny", f"{name}-{st.value}")).eval()


def engine_scores(root: Path, setting: str, split: str | None = None, seed: int = 0):
    """The engine's answer in memory, clip by clip in dataset order."""
    clips = open_dataset(root).clips(split)
    engine = Engine(tiny_system(setting, seed), device="cpu")
    return clips, [engine.run([prepare_clip(c)])[0] for c in clips]


def keeping_engine(setting: str) -> tuple[Engine, dict]:
    """An engine that also keeps every ClipScores it hands to the job, by clip id."""
    engine = Engine(tiny_system(setting), device="cpu")
    kept: dict = {}
    run = engine.run

    def run_and_keep(batch):
        scores = run(batch)
        kept.update((s.clip_id, s) for s in scores)
        return scores

    engine.run = run_and_keep
    return engine, kept


def files_under(out: Path) -> dict[str, Path]:
    """Output files (not the job's own state or reports)."""
    return {p.relative_to(out).as_posix(): p for p in out.rglob("*")
            if p.is_file() and STATE_DIR not in p.parts and not p.name.startswith("report.")}  # fmt: skip


# --------------------------------------------------------------------------- datasets


def test_proposals_for_a_dataset_score_with_evaluate_exactly_as_in_memory(demo_root, tmp_path):
    """MS3, every split (all frames annotated): --probs scores give the official mIoU and
    F-score bit for bit; the official pred_masks give the same mIoU (hard masks)."""
    root = demo_root("ms3", 6, 0)
    out = tmp_path / "props"
    engine, kept = keeping_engine("ms3")
    report = propose(root, engine, out, probs=True, workers=0)
    assert len(report.done) == 6 and not report.failures
    clips = open_dataset(root).clips()
    scores = [kept[c.clip_id] for c in clips]
    acc = BinaryMetricAccumulator(batch_size=4, frames_per_clip=5, kind="logits")
    hard = BinaryMetricAccumulator(batch_size=4, frames_per_clip=5, kind="masks")
    for c, s in zip(clips, scores):
        acc.add_clip(s.logits, c.gt_stack()[0])
        hard.add_clip(s.masks(), c.gt_stack()[0])
    expected = acc.result()
    ev = evaluate(out, root, "ms3", split=None)
    assert not ev.hard_masks
    assert ev.result["miou"] == expected["miou"] and ev.result["fscore"] == expected["fscore"]
    # The official layout alone (as the official test script writes it).
    for c in clips:
        d = out / "pred_masks" / c.clip_id
        assert sorted(p.name for p in d.iterdir()) == [f"{c.clip_id}_{i}.png" for i in range(5)]
        img = Image.open(d / f"{c.clip_id}_0.png")
        assert img.mode == "P" and img.size == (224, 224)
    preds = Predictions(out / "pred_masks", "ms3")
    assert preds.layout == "official-png"
    kind, arr = preds.load(clips[0])
    np.testing.assert_array_equal(arr, scores[0].masks())
    ev_hard = evaluate(out / "pred_masks", root, "ms3", split=None)
    assert ev_hard.hard_masks and ev_hard.result["miou"] == hard.result()["miou"]


def test_s4_proposals_follow_the_category_layout_and_the_cli_evaluates_them(demo_root, tmp_path, capsys):
    from avs_studio.cli.parser import main

    root = demo_root("s4", 6, 0)
    out = tmp_path / "props"
    report = propose(root, tiny_system("s4"), out, split="test", probs=True, workers=0)
    ds = open_dataset(root)
    test = ds.clips("test")
    assert report.done == [c.clip_id for c in test]
    for c in test:
        assert (out / "pred_masks" / c.category / c.clip_id / f"{c.clip_id}_4.png").is_file()
    assert main(["-q", "evaluate", str(out), str(root), "--setting", "s4", "--split", "test"]) == 0
    printed = capsys.readouterr().out
    _, scores = engine_scores(root, "s4", "test")
    acc = BinaryMetricAccumulator(batch_size=4, frames_per_clip=5, kind="logits")
    for c, s in zip(test, scores):
        acc.add_clip(s.logits, c.gt_stack()[0])
    assert f"mIoU      {acc.result()['miou']:.4f}" in printed


def test_avss_proposals_write_ten_colour_masks_and_exact_scores(demo_root, tmp_path):
    root = demo_root("avss", 4, 0)
    out = tmp_path / "props"
    engine, kept = keeping_engine("avss")
    report = propose(root, engine, out, probs=True, workers=0)
    assert len(report.done) == 4
    clips = open_dataset(root).clips()
    scores = [kept[c.clip_id] for c in clips]
    acc = SemanticMetricAccumulator(batch_size=4, frames_per_clip=10)
    for c, s in zip(clips, scores):
        acc.add_clip(s.logits, c.gt_stack()[0], kind="logits")
        files = sorted((out / "pred_masks" / c.clip_id).iterdir())
        assert len(files) == 10  # padded steps too, as the official script writes them
        assert Image.open(files[0]).mode == "RGB" and Image.open(files[0]).size == (224, 224)
    ev = evaluate(out, root, "avss", split=None)
    expected = acc.result()
    for key in ("miou", "fscore", "miou_nobg_official", "fscore_nobg_official"):
        assert ev.result[key] == expected[key]
    kind, labels = Predictions(out / "pred_masks", "avss").load(clips[1])
    np.testing.assert_array_equal(labels, scores[1].labels())
    # The same folder in another format: only the real frames, at their own size.
    again = propose(root, tiny_system("avss"), out, fmt="coco", workers=0)
    assert len(again.done) == 4
    coco = read_coco(out / "coco_instances.json")
    assert len(coco) == sum(c.num_frames for c in clips)
    fm = coco.by_clip()[clips[1].clip_id][3]
    assert fm.mask.shape == (120, 160) and fm.file_name == f"{clips[1].subset}/{clips[1].clip_id}/frames/3.jpg"
    np.testing.assert_array_equal(fm.mask, scores[1].masks(native=True)[3])
    assert _is_done_for(out, clips[0].clip_id, ["avsbench", "scores", "coco"])


def test_what_a_crash_leaves_mid_write_is_not_read_as_a_clip(demo_root, tmp_path):
    """A killed run can leave ``.avs-tmp-*`` files and folders (a score file, a mask folder,
    a marker being written): readers must not take them for clips."""
    from avs_studio.core.export.png import read_png_masks

    root = demo_root("ms3", 3, 0)
    out = tmp_path / "props"
    propose(root, tiny_system("ms3"), out, probs=True, workers=0)
    clip_ids = {c.clip_id for c in open_dataset(root).clips()}
    before = evaluate(out, root, "ms3", split=None).result
    first = sorted(clip_ids)[0]
    shutil.copy(out / "scores" / f"{first}.npz", out / "scores" / ".avs-tmp-half.npz")
    shutil.copytree(out / "pred_masks" / first, out / "pred_masks" / ".avs-tmp-half")
    (out / STATE_DIR / "done" / ".avs-tmp-half.json").write_text("{")
    assert Predictions(out, "ms3").clip_ids() == clip_ids
    assert Predictions(out / "pred_masks", "ms3").clip_ids() == clip_ids
    assert evaluate(out, root, "ms3", split=None).result == before
    png = tmp_path / "png"
    propose(root, tiny_system("ms3"), png, fmt="png", workers=0)
    shutil.copytree(png / first, png / ".avs-tmp-half")
    assert {f.clip_id for f in read_png_masks(png, "ms3").frames} == clip_ids
    again = propose(root, tiny_system("ms3"), out, probs=True, workers=0)
    assert sorted(again.skipped) == sorted(clip_ids) and not again.done


def _is_done_for(out: Path, clip_id: str, kinds: list[str]) -> bool:
    from avs_studio.model.propose.state import is_done

    return is_done(out, clip_id, kinds)


# --------------------------------------------------------------------------- videos


def test_a_folder_of_videos_gives_png_masks_at_the_videos_own_size(demo_root, tmp_path):
    src = tmp_path / "videos"
    (src / "nested").mkdir(parents=True)
    videos = sorted(demo_root("s4", 6, 0).rglob("raw_videos/**/*.mp4"))[:3]
    shutil.copy(videos[0], src / videos[0].name)
    shutil.copy(videos[1], src / "nested" / videos[1].name)
    shutil.copy(videos[2], src / videos[2].name)
    (src / "notes.txt.bak").write_text("not a video")
    out = tmp_path / "props"
    report = propose(src, tiny_system("s4"), out, fmt="png", workers=1)
    assert sorted(report.done) == sorted(v.stem for v in videos) and not report.failures
    masks, _ = load_masks(out)
    assert masks.setting is Setting.S4 and len(masks) == 15
    by_clip = masks.by_clip()
    from avs_studio.core.media.video_clip import VideoClip

    engine = Engine(tiny_system("s4"), device="cpu")
    with VideoClip(src / "nested" / videos[1].name, "s4") as clip:
        expected = engine.propose_clip(clip).masks(native=True)
    got = [fm.mask for fm in by_clip[videos[1].stem]]
    assert [g.shape for g in got] == [(120, 160)] * 5
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    assert by_clip[videos[1].stem][0].file_name == f"{videos[1].name}@0.920s"


def test_a_list_file_picks_segments_and_reports_missing_videos_as_coco(demo_root, tmp_path):
    """S4 proposals for two 5-s segments of a 10-s video, as a COCO instances file."""
    long_video = next(c.video_path for c in open_dataset(demo_root("avss", 4, 0)).clips() if c.subset == "v2")
    shutil.copy(long_video, tmp_path / "long.mp4")
    (tmp_path / "clips.txt").write_text("# video,start,seconds\nlong.mp4\nlong.mp4,5,5\nmissing.mp4\n")
    out = tmp_path / "props"
    report = propose(tmp_path / "clips.txt", tiny_system("s4"), out, fmt="coco", workers=0)
    assert report.done == ["long", "long_5000_10000"]
    assert [f.item for f in report.failures] == ["missing"]
    assert "no such video file" in report.failures[0].error
    coco = read_coco(out / "coco_instances.json")
    assert coco.setting is Setting.S4 and coco.clip_ids() == ["long", "long_5000_10000"]
    frames = coco.by_clip()["long_5000_10000"]
    assert len(frames) == 5 and frames[0].mask.shape == (120, 160)
    assert frames[0].file_name == "long.mp4@5.920s"
    from avs_studio.core.media.video_clip import VideoClip

    with VideoClip(tmp_path / "long.mp4", "s4", start=5, seconds=5) as clip:
        expected = Engine(tiny_system("s4"), device="cpu").propose_clip(clip).masks(native=True)
    for fm, e in zip(frames, expected):
        np.testing.assert_array_equal(fm.mask, e)
    rows = (out / "report.csv").read_text().splitlines()
    assert rows[0] == "clip_id,status,source,reason" and any(r.startswith("missing,failed,") for r in rows)


def test_a_corrupt_video_is_reported_and_the_rest_finishes(demo_root, tmp_path):
    src = tmp_path / "videos"
    src.mkdir()
    videos = sorted(demo_root("s4", 6, 0).rglob("raw_videos/**/*.mp4"))[:2]
    for v in videos:
        shutil.copy(v, src / v.name)
    (src / "garbage.mp4").write_bytes(os.urandom(20000))
    data = videos[0].read_bytes()
    (src / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (src / "silent_movie.mkv").write_bytes(b"")
    out = tmp_path / "props"
    report = propose(src, tiny_system("s4"), out, workers=1)
    assert sorted(report.done) == sorted(v.stem for v in videos)
    failed = {f.item: f.error for f in report.failures}
    assert set(failed) == {"garbage", "truncated", "silent_movie"}
    assert all("Error" in reason for reason in failed.values())
    data = json.loads((out / "report.json").read_text())
    assert data["done"] == 2 and data["failed"] == 3
    assert {f["clip_id"] for f in data["failures"]} == set(failed)


def test_inputs_that_are_not_clips_are_refused_clearly(tmp_path):
    (tmp_path / "readme.md").write_text("hello")
    with pytest.raises(AVSError, match="not an AVSBench dataset folder"):
        discover(tmp_path / "readme.md", "s4")
    with pytest.raises(AVSError, match="no video files"):
        discover(tmp_path, "s4")
    with pytest.raises(AVSError, match="no such file"):
        discover(tmp_path / "nowhere", "s4")


# --------------------------------------------------------------------------- resuming


def _complete(path: Path) -> None:
    """Raise if a file is not whole."""
    if path.suffix == ".png":
        with Image.open(path) as img:
            img.load()
    elif path.suffix == ".npz":
        with np.load(path) as z:
            for k in z.files:
                z[k]
    elif path.suffix == ".json":
        json.loads(path.read_text())


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _markers(done_dir: Path) -> list[Path]:
    """Finished markers only: a marker being written is a temporary that also ends in .json."""
    return [p for p in done_dir.glob("*.json") if not is_temporary(p)] if done_dir.is_dir() else []


def test_a_run_killed_mid_way_leaves_whole_files_and_resumes_to_the_same_result(demo_root, tmp_path):
    root = demo_root("s4", 6, 0)
    out = tmp_path / "killed"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from test_propose import tiny_system; from avs_studio.model.propose.run import propose;"
        "propose(sys.argv[2], tiny_system('s4', delay=0.4), sys.argv[3], probs=True, workers=1)"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(TESTS), str(root), str(out)])
    done_dir = out / STATE_DIR / "done"
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            workers.update(_children(proc.pid))
            if len(_markers(done_dir)) >= 2:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    marked = len(_markers(done_dir))
    assert 2 <= marked < 6
    for p in out.rglob("*"):
        if p.is_file() and not is_temporary(p):
            _complete(p)
    for d in (out / "pred_masks").glob("*/*"):
        assert len(list(d.iterdir())) == 5  # a clip's folder appears whole or not at all
    # Orphaned decoding workers notice and exit.
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{w}").exists() and "Z" not in Path(f"/proc/{w}/stat").read_text().split()[2]
                   for w in workers)  # fmt: skip

    resumed = propose(root, tiny_system("s4"), out, probs=True, workers=0)
    assert len(resumed.skipped) == marked and len(resumed.done) == 6 - marked
    assert not [p for p in out.rglob("*") if is_temporary(p)]
    fresh = tmp_path / "fresh"
    propose(root, tiny_system("s4"), fresh, probs=True, workers=0)
    a, b = files_under(out), files_under(fresh)
    assert sorted(a) == sorted(b)
    for rel, p in a.items():
        if rel.endswith(".png"):
            assert p.read_bytes() == b[rel].read_bytes(), rel
        elif rel.endswith(".npz"):
            with np.load(p) as x, np.load(b[rel]) as y:
                assert all(np.array_equal(x[k], y[k]) for k in x.files)


def test_ctrl_c_stops_after_the_current_batch_and_a_rerun_continues(demo_root, tmp_path):
    root = demo_root("s4", 6, 0)
    out = tmp_path / "props"
    token = CancelToken()
    engine = Engine(tiny_system("s4"), device="cpu", batch_clips=2)
    run = engine.run

    def run_then_ctrl_c(batch):
        token.cancel()  # Ctrl-C while the first batch runs
        return run(batch)

    engine.run = run_then_ctrl_c
    report = propose(root, engine, out, fmt="png", workers=0, cancel=token)
    assert report.cancelled and len(report.done) == 2  # the batch under way was finished
    assert json.loads((out / "masks.json").read_text())["frames"][9]["frame"] == 4
    assert "not run" in (out / "report.csv").read_text()
    again = propose(root, tiny_system("s4"), out, fmt="png", workers=0)
    assert len(again.skipped) == 2 and len(again.done) == 4 and not again.cancelled
    masks, _ = load_masks(out)
    assert len(masks.clip_ids()) == 6


def test_a_folder_keeps_the_proposals_of_one_model(demo_root, tmp_path):
    root = demo_root("s4", 6, 0)
    out = tmp_path / "props"
    propose(root, tiny_system("s4"), out, split="test", workers=0)
    with pytest.raises(AVSError, match="another model"):
        propose(root, tiny_system("s4", name="other"), out, split="test", workers=0)
    with pytest.raises(AVSError, match="segments AVSS clips"):
        propose(root, tiny_system("avss"), tmp_path / "p2", workers=0)
    from avs_studio.core.project.lock import WriterLock

    other = WriterLock(out / STATE_DIR / "outputs")  # another run holding the folder
    other.acquire()
    try:
        with pytest.raises(AVSError, match="being written by another propose run"):
            propose(root, tiny_system("s4"), out, split="test", workers=0)
    finally:
        other.release()


def test_decoding_workers_hold_a_bounded_number_of_clips(demo_root, tmp_path):
    root = demo_root("s4", 6, 0)
    report = propose(root, tiny_system("s4", delay=0.05), tmp_path / "p", workers=2, max_ahead=3)
    assert len(report.done) == 6
    assert report.prefetch["workers"] == 2 and 1 <= report.prefetch["max_in_flight"] <= 3
    assert report.timings["frames_s"] > 0 and report.timings["model_s"] > 0


# --------------------------------------------------------------------------- command line

_CLI_SCRIPT = (
    "import sys; sys.path.insert(0, sys.argv[1]); import test_propose as t;"
    "import avs_studio.model.model_files as s;"
    "s.load_system = lambda *a, **k: t.tiny_system('s4', delay=0.3);"
    "sys.exit(t._cli(sys.argv[2:]))"
)


def test_ctrl_c_on_the_command_finishes_the_batch_and_exits_130(demo_root, tmp_path):
    root = demo_root("s4", 6, 0)
    out = tmp_path / "props"
    argv = [sys.executable, "-c", _CLI_SCRIPT, str(TESTS), "propose", str(root), "--out", str(out),
            "--model", "m.pt", "--workers", "1", "--device", "cpu"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _markers(out / STATE_DIR / "done") and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "stopping after the current batch" in stderr and "run the same command again" in stderr
    report = json.loads((out / "report.json").read_text())
    assert report["cancelled"] and 1 <= report["done"] < 6
    assert "Traceback" not in stderr
    again = propose(root, tiny_system("s4"), out, workers=0)
    assert len(again.skipped) == report["done"] and len(again.done) == 6 - report["done"]


def _cli(argv: list[str]) -> int:
    """``avs-studio ARGV`` through the real parser, letting AVSError through (``main`` would
    turn it into exit status 2 and a message)."""
    from avs_studio.cli.parser import build_parser

    args = build_parser().parse_args(argv)
    return args.func(args)


def test_without_a_model_the_missing_demo_model_is_named(demo_root, tmp_path, monkeypatch):
    import avs_studio.model.model_files as system

    monkeypatch.setattr(system, "MODELS_DIR", tmp_path / "no-models")
    with pytest.raises(AVSError, match=r"demo model .*demo_s4\.pt is missing.*--model PATH"):
        _cli(["propose", str(demo_root("s4", 6, 0)), "--out", str(tmp_path / "p")])
    with pytest.raises(AVSError, match="--setting"):
        _cli(["propose", str(tmp_path), "--out", str(tmp_path / "p")])


def test_the_command_runs_resumes_and_summarises(demo_root, tmp_path, monkeypatch, capsys):
    import avs_studio.model.model_files as system

    calls = []

    def fake_load(model=None, *, vggish=None, setting=None, **kw):
        calls.append((model, vggish, setting))
        return tiny_system("s4")

    monkeypatch.setattr(system, "load_system", fake_load)
    root = demo_root("s4", 6, 0)
    argv = ["propose", str(root), "--out", str(tmp_path / "p"), "--model", "m.pt", "--split", "test",
            "--probs", "--workers", "0", "--device", "cpu", "--threads", "1"]  # fmt: skip
    threads = torch.get_num_threads()
    try:
        assert _cli(argv) == 0
    finally:
        torch.set_num_threads(threads)
    first = capsys.readouterr()
    assert calls == [("m.pt", None, None)]
    n_test = len(open_dataset(root).clips("test"))
    assert f"{n_test} clip{'s' if n_test != 1 else ''} proposed" in first.out and "clips/s" in first.out
    assert "model: tiny-s4" in first.err and "audio encoder" in first.err
    try:
        assert _cli(["-q", *argv]) == 0
    finally:
        torch.set_num_threads(threads)  # --threads is process-wide: later tests keep theirs
    assert f"0 clips proposed, {n_test} already done" in capsys.readouterr().out
    with pytest.raises(AVSError, match="GPU"):
        _cli([*argv, "--precision", "fp16"])
