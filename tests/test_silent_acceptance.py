"""Nothing bad is accepted in silence: off-palette colours, JPEG masks, refused CSV rows, score
maps of the wrong shape, damaged model files, a garbage propose state -- each is refused or
counted and named, and the exit status of a batch says when it skipped something (3).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from avs_studio.cli import parser as cli
from avs_studio.core.datasets import open_dataset
from avs_studio.core.errors import AVSError
from avs_studio.model.checkpoint import CheckpointError, read_checkpoint_object
from avs_studio.model.model_files import demo_model_path, load_system

REPO = Path(__file__).resolve().parents[1]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(["-q", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.fixture
def avss(demo_root, tmp_path) -> Path:
    return Path(shutil.copytree(demo_root("avss", 4, 0), tmp_path / "AVSS"))


@pytest.fixture
def s4(demo_root, tmp_path) -> Path:
    return Path(shutil.copytree(demo_root("s4", 6, 0), tmp_path / "Single-source"))


# --------------------------------------------------------------------------- masks


def test_off_palette_colours_in_an_avss_mask_are_counted_and_named(avss, tmp_path, capsys):
    clip = open_dataset(avss).clips()[0]
    k = clip.annotated[0]
    path = clip.mask_path(k)
    rgb = np.array(Image.open(path).convert("RGB"))
    rgb[:10, :10] = (1, 2, 3)  # no palette colour
    Image.fromarray(rgb).save(path)
    code, _, err = run(capsys, "export", avss, "--to", "png", tmp_path / "png")
    # Read as background, as the official loader does -- but counted and named.
    assert code == 0 and f"{path.name} (100 px)" in err and "outside the AVSS palette" in err
    code, _, err = run(capsys, "evaluate", avss / "..", avss, "--setting", "avss", "--split", "all")
    assert "outside the AVSS palette" in err or code == 2  # (no predictions here: only the note matters)


def test_evaluate_names_off_palette_ground_truth(avss, tmp_path, capsys):
    code, _, _ = run(capsys, "export", avss, "--to", "png", tmp_path / "pred")  # perfect predictions
    assert code == 0
    clip = open_dataset(avss).clips()[0]
    path = clip.mask_path(clip.annotated[0])
    rgb = np.array(Image.open(path).convert("RGB"))
    rgb[:4, :4] = (250, 1, 1)
    Image.fromarray(rgb).save(path)
    code, out, err = run(capsys, "evaluate", tmp_path / "pred", avss, "--setting", "avss", "--split", "all")
    assert code == 0 and "mIoU" in out and "outside the AVSS palette" in err and path.name in err


def test_jpeg_bytes_named_png_are_not_a_colour_mask(avss, tmp_path, capsys):
    clip = open_dataset(avss).clips()[0]
    path = clip.mask_path(clip.annotated[0])
    Image.open(path).convert("RGB").save(path, format="JPEG")  # a .png holding JPEG data
    code, out, err = run(capsys, "export", avss, "--to", "png", tmp_path / "png")
    assert code == 3 and "JPEG" in err and path.name in err and "1 unreadable mask(s) skipped" in out


# --------------------------------------------------------------------------- CSV rows


def test_export_counts_and_names_every_refused_csv_row(s4, tmp_path, capsys):
    meta = s4 / "s4_meta_data.csv"
    meta.write_text(meta.read_text().rstrip("\n") + "\n../../x,0,cat,test\n/abs/clip,0,cat,test\nshort,row\n"
                    "ok,0,../../cat,train\n")  # fmt: skip
    code, out, err = run(capsys, "export", s4, "--to", "png", tmp_path / "png")
    assert code == 3 and "4 refused row(s) of the source skipped" in out
    for what in ("../../x", "/abs/clip", "short,row", "../../cat"):
        assert what in err, what
    assert (tmp_path / "png" / "masks.json").is_file()  # the rest is written
    report = json.loads((tmp_path / "png" / "avs_studio_export_report.json").read_text())
    assert f"report: {tmp_path / 'png' / 'avs_studio_export_report.json'}" in out
    assert report["complete"] is False and report["counts"]["skipped"] == 4
    assert all(any(what in s for s in report["skipped"]) for what in ("../../x", "/abs/clip", "short,row", "../../cat"))
    # the folder with its report is still a PNG mask folder our import reads
    code, out, _ = run(capsys, "export", tmp_path / "png", "--to", "coco", tmp_path / "again.json")
    assert code == 0 and json.loads((tmp_path / "again.report.json").read_text())["complete"] is True


def test_evaluate_with_refused_ground_truth_rows_says_so(s4, tmp_path, capsys):
    code, _, _ = run(capsys, "export", s4, "--to", "png", tmp_path / "pred")
    assert code == 0
    meta = s4 / "s4_meta_data.csv"
    meta.write_text(meta.read_text().rstrip("\n") + "\nbroken,row\n")
    code, out, err = run(capsys, "evaluate", tmp_path / "pred", s4, "--setting", "s4", "--split", "test")
    assert code == 3 and "mIoU" in out and "broken,row" in err


# --------------------------------------------------------------------------- score maps


def test_an_avss_score_map_of_the_wrong_shape_is_refused_not_scored(avss, tmp_path, capsys):
    from avs_studio.core.metrics.scores import write_score_file

    def write_semantic_scores(path, labels, confidence):
        write_score_file(path, {"labels": labels, "confidence": confidence}, "semantic-labels")

    clips = open_dataset(avss).clips()
    pred = tmp_path / "pred"
    for clip in clips:
        labels = np.zeros((10, 224, 224), np.uint8)
        write_semantic_scores(pred / "scores" / f"{clip.clip_id}.npz", labels, np.zeros_like(labels))
    code, out, _ = run(capsys, "evaluate", pred, avss, "--setting", "avss", "--split", "all")
    assert code == 0 and "mIoU" in out
    bad = clips[0].clip_id
    write_semantic_scores(pred / "scores" / f"{bad}.npz", np.zeros((10, 56, 56), np.uint8),
                          np.zeros((10, 56, 56), np.uint8))  # fmt: skip
    code, out, err = run(capsys, "evaluate", pred, avss, "--setting", "avss", "--split", "all")
    assert code == 2 and "[10, 56, 56]" in err and bad in err and "mIoU" not in out


# --------------------------------------------------------------------------- model files


def _flip_a_weight_bit(src: Path, dest: Path) -> None:
    """Copy a model file with one bit flipped inside a weight's bytes (the zip stores them raw)."""
    raw = read_checkpoint_object(src)
    weight = max(raw["avs"].values(), key=lambda t: t.numel())
    needle = weight.contiguous().view(-1)[:64].numpy().tobytes()
    data = bytearray(src.read_bytes())
    at = data.find(needle)
    assert at > 0
    data[at + 9] ^= 0x04  # a mantissa bit: the value stays finite, the model silently differs
    dest.write_bytes(bytes(data))


def test_a_model_file_with_a_flipped_bit_is_refused_by_propose_and_train(s4, tmp_path, capsys):
    damaged = tmp_path / "damaged.pt"
    _flip_a_weight_bit(demo_model_path("s4"), damaged)
    read_checkpoint_object(damaged)  # still a readable file: only the digest tells
    with pytest.raises(CheckpointError, match="digest"):
        load_system(damaged)
    code, _, err = run(capsys, "propose", s4, "--out", tmp_path / "props", "--model", damaged, "--workers", "0")
    assert code == 2 and "digest" in err and not (tmp_path / "props").exists()
    code, _, err = run(capsys, "train", s4, "--setting", "s4", "--out", tmp_path / "m.pt", "--init", damaged,
                       "--epochs", "1")  # fmt: skip
    assert code == 2 and "digest" in err and not (tmp_path / "m.pt").exists()


def test_the_shipped_models_carry_a_digest_that_matches():
    for setting in ("s4", "ms3", "avss"):
        raw = read_checkpoint_object(demo_model_path(setting))
        assert str(raw.get("digest", "")).startswith("sha256:")
        assert load_system(None, setting=setting).info.extra["integrity"] == "verified"


def test_a_model_file_without_a_digest_is_read_only_when_its_weights_are_finite(tmp_path):
    raw = read_checkpoint_object(demo_model_path("s4"))
    del raw["digest"]
    legacy = tmp_path / "legacy.pt"
    torch.save(raw, legacy)
    assert load_system(legacy).info.extra["integrity"] == "no digest"
    key = next(iter(raw["avs"]))
    raw["avs"][key] = raw["avs"][key].clone().fill_(float("nan"))
    torch.save(raw, legacy)
    with pytest.raises(CheckpointError, match="NaN"):
        load_system(legacy)


def test_an_official_checkpoint_with_a_non_finite_weight_is_refused(tmp_path):
    import avs_studio.model as avs_model

    with torch.device("meta"):
        template = avs_model.build("s4_resnet50").state_dict()
    pool = torch.zeros(max(t.numel() for t in template.values()))
    sd = {k: pool[: t.numel()].view(t.shape) if t.is_floating_point() else torch.zeros(t.shape, dtype=t.dtype)
          for k, t in template.items()}  # fmt: skip
    key = next(k for k in sd if k.endswith("output_conv.4.bias"))
    sd[key] = torch.tensor([float("inf")])
    path = tmp_path / "official.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match="infinite"):
        avs_model.load(path)


def test_a_csv_passed_as_a_checkpoint_says_what_it_is(tmp_path, capsys):
    listing = tmp_path / "clips.csv"
    listing.write_text("clip,start,seconds\na.mp4,0,5\n")  # 'c' is the pickle GLOBAL opcode
    with pytest.raises(CheckpointError, match=r"it is a CSV text file \(first line 'clip,start,seconds'\)"):
        read_checkpoint_object(listing)
    code, _, err = run(capsys, "propose", tmp_path, "--out", tmp_path / "o", "--model", listing)
    assert code == 2 and "CSV text file" in err and "refers to" not in err


# --------------------------------------------------------------------------- propose state


@pytest.fixture
def proposed(s4, tmp_path, capsys) -> Path:
    out = tmp_path / "props"
    code, _, _ = run(capsys, "propose", s4, "--out", out, "--setting", "s4", "--workers", "0", "--split", "test")
    assert code == 0
    return out


def test_propose_does_not_resume_into_a_folder_with_a_garbage_run_file(s4, proposed, capsys):
    run_file = proposed / ".propose" / "run.json"
    for garbage in ("[1, 2, 3]", '{"model": "x"}', "not json", "[" * 100_000 + "]" * 100_000):
        run_file.write_text(garbage)
        code, _, err = run(capsys, "propose", s4, "--out", proposed, "--setting", "s4", "--workers", "0",
                           "--split", "test")  # fmt: skip
        assert code == 2 and "run.json" in err, garbage[:20]


def test_a_done_marker_pointing_outside_the_folder_is_not_trusted(s4, proposed, tmp_path, capsys):
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"x")
    markers = sorted((proposed / ".propose" / "done").glob("*.json"))
    assert markers
    for marker in markers:
        data = json.loads(marker.read_text())
        data["files"]["avsbench"] = ["../elsewhere.png", str(outside)]
        marker.write_text(json.dumps(data))
    shutil.rmtree(proposed / "pred_masks")  # the real outputs are gone
    code, out, _ = run(capsys, "propose", s4, "--out", proposed, "--setting", "s4", "--workers", "0",
                       "--split", "test")  # fmt: skip
    assert code == 0 and "already done" not in out  # proposed again, not skipped
    assert any((proposed / "pred_masks").rglob("*.png"))


def test_a_propose_run_that_proposes_nothing_leaves_no_folder(tmp_path, capsys):
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\x00" * 4096)
    code, _, err = run(capsys, "propose", video, "--out", tmp_path / "props", "--setting", "s4", "--workers", "0")
    assert code == 2 and "no clip could be proposed" in err and not (tmp_path / "props").exists()


def test_a_propose_batch_with_a_failed_clip_exits_3(s4, tmp_path, capsys):
    wav = next(s4.rglob("audio_wav/test/**/*.wav"))
    wav.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    code, out, err = run(capsys, "propose", s4, "--out", tmp_path / "p", "--setting", "s4", "--workers", "0")
    assert code == 3 and "failed" in out and wav.stem in err
    report = json.loads((tmp_path / "p" / "report.json").read_text())
    assert report["failed"] == 1 and wav.stem in json.dumps(report["failures"])


def test_the_damaged_inputs_above_are_avs_errors():
    assert issubclass(CheckpointError, AVSError)
