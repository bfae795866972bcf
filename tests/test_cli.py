"""The command line as a user drives it: demo data, info, evaluate, export, import."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from avs_studio.cli.parser import main
from avs_studio.core.datasets import open_dataset
from avs_studio.core.masks.files import write_prediction_mask
from avs_studio.core.metrics.scores import write_binary_scores, write_semantic_scores


def run(capsys, *argv):
    code = main(["--quiet", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_demo_data_and_info(tmp_path, capsys):
    code, out, _ = run(capsys, "demo-data", str(tmp_path), "--setting", "ms3", "--clips", "3",
                       "--size", "96x72")  # fmt: skip
    assert code == 0 and "wrote 3 MS3 clips" in out
    ds = open_dataset(tmp_path)
    clip = ds.clips()[0]
    pkl = ds.logmel_path(clip)
    assert pkl.is_file()  # the official cached log-mel, written through torch
    from avs_studio.core.audio.logmel import load_logmel_pickle

    assert np.allclose(load_logmel_pickle(pkl)[:, 0], clip.log_mel(), atol=0)
    code, out, _ = run(capsys, "info", str(clip.video_path))
    assert code == 0
    for needle in ("h264", "96x72", "25 fps", "aac", "44100 Hz", "[0.920, 1.920, 2.920, 3.920, 4.920]"):
        assert needle in out


def _perfect_scores(ds, out, damage=()):
    for clip in ds.clips("test"):
        gt, _ = clip.gt_stack()
        logits = np.where(gt > 0, 12.0, -12.0).astype(np.float32)
        if clip.clip_id in damage:
            logits = -logits
        write_binary_scores(out / "scores" / f"{clip.clip_id}.npz", logits)


def test_evaluate_score_maps_and_official_pngs(demo_root, tmp_path, capsys):
    root = demo_root("s4", 6, 0)
    ds = open_dataset(root)
    test = [c.clip_id for c in ds.clips("test")]
    _perfect_scores(ds, tmp_path / "perfect")
    code, out, _ = run(capsys, "evaluate", str(tmp_path / "perfect"), str(root), "--setting", "s4")
    assert code == 0
    assert "mIoU      1.0000" in out and "F-score   1.0000" in out
    # a damaged clip comes first in the per-clip table
    _perfect_scores(ds, tmp_path / "damaged", damage={test[-1]})
    csv_path = tmp_path / "per_clip.csv"
    code, out, _ = run(capsys, "evaluate", str(tmp_path / "damaged"), str(root), "--setting", "s4",
                       "--per-clip", str(csv_path), "--split", "all")  # fmt: skip
    assert code != 0  # train clips have only frame 1 annotated: a clear error, not a wrong number
    code, out, _ = run(capsys, "evaluate", str(tmp_path / "damaged"), str(root), "--setting", "s4",
                       "--per-clip", str(csv_path))  # fmt: skip
    rows = list(csv.DictReader(csv_path.open()))
    assert rows[0]["clip_id"] == test[-1] and float(rows[0]["miou"]) < 0.5
    assert rows[0]["category"]
    # the official test script's PNGs: hard masks, and the output says what that means
    pred = tmp_path / "official" / "pred_masks"
    for clip in ds.clips("test"):
        for k in range(5):
            write_prediction_mask(pred / clip.category / clip.clip_id / f"{clip.clip_id}_{k}.png", clip.mask(k))
    code, out, _ = run(capsys, "evaluate", str(tmp_path / "official"), str(root), "--setting", "s4")
    assert code == 0 and "mIoU      1.0000" in out and "F-score of hard masks" in out


def test_evaluate_avss_prints_the_official_nobg_quirk(demo_root, tmp_path, capsys):
    root = demo_root("avss", 4, 0)
    ds = open_dataset(root)
    for clip in ds.clips("test"):
        gt, _ = clip.gt_stack()
        logits = np.zeros((10, 71, 224, 224), np.float32)
        np.put_along_axis(logits, gt[:, None].astype(np.intp), 5.0, axis=1)
        write_semantic_scores(tmp_path / "scores" / f"{clip.clip_id}.npz", logits)
    code, out, _ = run(capsys, "evaluate", str(tmp_path), str(root), "--setting", "avss")
    assert code == 0, out
    assert "drops class 70 'woman'" in out and "classes 1..70; not official" in out


def test_missing_predictions_and_bad_inputs_are_clear_errors(demo_root, tmp_path, capsys):
    root = demo_root("s4", 6, 0)
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "nothing.npz").write_bytes(b"not a zip")
    code, _, err = run(capsys, "evaluate", str(tmp_path), str(root), "--setting", "s4")
    assert code == 2 and "no prediction for" in err and "--allow-missing" in err
    code, _, err = run(capsys, "evaluate", str(tmp_path / "nope"), str(root), "--setting", "s4")
    assert code == 2 and "not a folder" in err
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 1000)
    code, _, err = run(capsys, "info", str(tmp_path / "junk.mp4"))
    assert code == 2 and "junk.mp4" in err
    (tmp_path / "bad.json").write_text('{"images": 3}')
    code, _, err = run(capsys, "export", str(tmp_path / "bad.json"), "--to", "png", str(tmp_path / "o"))
    assert code == 2 and "COCO" in err


def test_export_import_round_trip_through_the_cli(demo_root, tmp_path, capsys):
    root = demo_root("s4", 6, 0)
    coco = tmp_path / "gt.json"
    code, out, _ = run(capsys, "export", str(root), "--to", "coco", str(coco))
    assert code == 0 and "annotations" in out
    assert json.loads(coco.read_text())["info"]["setting"] == "s4"
    code, out, _ = run(capsys, "import", str(coco), str(tmp_path / "back"))
    assert code == 0
    back = open_dataset(tmp_path / "back")
    src = open_dataset(root)
    for clip in src:
        for k in clip.annotated:
            assert np.array_equal(back.get(clip.clip_id).mask(k), clip.mask(k))
    code, out, _ = run(capsys, "export", str(root), "--to", "coco", str(tmp_path / "poly.json"), "--polygons")
    assert code == 0 and "as polygons" in out
    code, out, _ = run(capsys, "export", str(root), "--to", "png", str(tmp_path / "png"), "--split", "test")
    assert code == 0 and (tmp_path / "png" / "masks.json").is_file()


def test_ctrl_c_during_export_leaves_nothing_half_written(demo_root, tmp_path, monkeypatch, capsys):
    root = demo_root("s4", 6, 0)
    import avs_studio.core.export.png as png

    real = png.write_binary_mask
    calls = {"n": 0}

    def interrupted(path, mask):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        real(path, mask)

    monkeypatch.setattr(png, "write_binary_mask", interrupted)
    code, _, err = run(capsys, "export", str(root), "--to", "png", str(tmp_path / "out"))
    assert code == 130 and "interrupted" in err
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_corrupt_dataset_csv_is_reported_not_fatal(demo_root, tmp_path, capsys):
    src = demo_root("s4", 6, 0)
    root = tmp_path / "copy"
    shutil.copytree(src, root)
    meta = root / "s4_meta_data.csv"
    meta.write_text(meta.read_text() + "broken,row\n../../escape,0,cat,test\n")
    ds = open_dataset(root)
    assert len(ds) == 6 and len(ds.problems) == 2
    code, out, err = run(capsys, "export", str(root), "--to", "coco", str(tmp_path / "x.json"))
    # The export finishes, but the refused rows are counted and named, and the status says so.
    assert code == 3 and "2 refused row(s) of the source skipped" in out
    assert "s4_meta_data.csv:8" in err and "s4_meta_data.csv:9" in err and "escape" in err


@pytest.mark.parametrize("argv", [["demo-data"], ["evaluate", "a", "b"], ["export", "a", "b"]])
def test_usage_errors_exit_with_argparse_status(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_an_export_reports_a_corrupt_mask_and_finishes_the_rest(demo_root, tmp_path, capsys):
    root = tmp_path / "copy"
    shutil.copytree(demo_root("s4", 6, 0), root)
    ds = open_dataset(root)
    clip = ds.clips("test")[0]
    clip.mask_path(2).write_bytes(b"\x89PNG broken")
    for target, out in (("coco", tmp_path / "gt.json"), ("png", tmp_path / "png"),
                        ("avsbench-ms3", tmp_path / "ms3")):  # fmt: skip
        code, out_text, err = run(capsys, "export", str(root), "--to", target, str(out))
        assert code == 3, (target, err)
        assert f"{clip.clip_id} frame 2" in err and "1 unreadable mask(s) skipped" in out_text
    data = json.loads((tmp_path / "gt.json").read_text())
    total = sum(len(c.annotated) for c in ds)
    assert len(data["images"]) == total - 1
    assert [i["id"] for i in data["images"]] == list(range(1, total))  # ids stay dense
    assert open_dataset(tmp_path / "ms3").get(clip.clip_id).annotated == (0, 1, 3, 4)
