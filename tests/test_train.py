"""`avs-studio train`: the official losses, a tiny training run through the CLI parser,
resuming, refusing to overwrite, cancelling, and fine-tuning an official variant."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avs_studio.cli.parser import build_parser
from avs_studio.core.errors import AVSError
from avs_studio.core.jobs import CancelToken
from avs_studio.core.setting import Setting
from avs_studio.model.model_files import load_system
from avs_studio.model.train.loop import (
    TrainOptions,
    avm_kl_loss,
    bce_first_frame,
    masked_bce,
    masked_ce,
    side_paths,
    train,
)

# --------------------------------------------------------------------------- losses


def _bce(x: float, y: float) -> float:
    p = 1.0 / (1.0 + math.exp(-x))
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def test_s4_loss_is_bce_of_the_first_frame_of_each_clip_only():
    torch.manual_seed(0)
    logits = torch.randn(10, 1, 2, 2)  # two clips of five frames
    gt = (torch.rand(10, 2, 2) > 0.5).float()
    by_hand = np.mean([_bce(float(logits[n, 0].flatten()[i]), float(gt[n].flatten()[i]))
                       for n in (0, 5) for i in range(4)])
    assert float(bce_first_frame(logits, gt)) == pytest.approx(by_hand, rel=1e-6)
    # ... the official expression on the first frames agrees ...
    official = torch.nn.BCELoss()(torch.sigmoid(logits[::5, 0]), gt[::5])
    assert float(bce_first_frame(logits, gt)) == pytest.approx(float(official), rel=1e-5)
    # ... and the other frames do not count.
    other = logits.clone()
    other[1:5] += 3.0
    assert float(bce_first_frame(other, gt)) == pytest.approx(by_hand, rel=1e-6)


def test_ms3_bce_covers_all_frames():
    logits = torch.tensor([0.0, 2.0, -1.0, 0.5, 1.5]).view(5, 1, 1, 1)
    gt = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0]).view(5, 1, 1)
    by_hand = np.mean([_bce(x, y) for x, y in zip([0.0, 2.0, -1.0, 0.5, 1.5], [1, 0, 0, 1, 1])])
    assert float(masked_bce(logits, gt, torch.ones(5))) == pytest.approx(by_hand, rel=1e-6)


def test_avm_kl_term_matches_the_hand_computed_value():
    # One frame, two channels, a 1x1 stage: msk = sigmoid(mean logit) = sigmoid(0) = 0.5.
    logits = torch.zeros(1, 1, 2, 2)
    v = torch.tensor([[[[2.0]], [[0.0]]]])                  # [1, 2, 1, 1]
    a = torch.tensor([[[0.0, 1.0]]])                       # [1, 1, 2]
    vb = np.array([1.0, 0.0])                              # v * 0.5
    p_v = np.exp(vb) / np.exp(vb).sum()
    p_a = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
    kl = float(np.sum(p_a * (np.log(p_a) - np.log(p_v))))
    assert float(avm_kl_loss(logits, [v], [a])) == pytest.approx(kl, rel=1e-6)


def test_avm_kl_term_is_the_official_expression_averaged_over_stages():
    torch.manual_seed(1)
    n = 10
    logits = torch.randn(n, 1, 16, 16)
    feats = [torch.rand(n, 4, s, s) for s in (8, 4, 2, 1)]
    audio = [torch.randn(n // 5, 5, 4) for _ in range(4)]
    expected = []
    for v, a in zip(feats, audio):
        msk = torch.sigmoid(F.adaptive_avg_pool2d(logits, v.shape[-2:]))
        vb = torch.mean(v * msk, dim=(-2, -1))
        expected.append(F.kl_div(F.softmax(vb, dim=-1).log(), F.softmax(a.reshape(n, 4), dim=-1),
                                 reduction="sum"))
    want = float(torch.stack(expected).mean())
    assert float(avm_kl_loss(logits, feats, audio)) == pytest.approx(want, rel=1e-5)
    # AVSS: a hard foreground mask (argmax != 0), each frame weighted by its gt flag.
    logits71 = torch.randn(n, 3, 16, 16)
    flags = torch.tensor([1.0, 0, 1, 1, 0, 0, 0, 0, 0, 1])
    expected = []
    for v, a in zip(feats, audio):
        fg = (logits71.argmax(1, keepdim=True) != 0).float()
        vb = torch.mean(v * F.adaptive_avg_pool2d(fg, v.shape[-2:]), dim=(-2, -1))
        p = F.softmax(a.reshape(n, 4), dim=-1)
        kl = (p * (p.log() - F.softmax(vb, dim=-1).log())).sum(-1)
        expected.append((kl * flags).sum() / flags.sum())
    got = avm_kl_loss(logits71, feats, audio, hard_mask=True, weights=flags)
    assert float(got) == pytest.approx(float(torch.stack(expected).mean()), rel=1e-5)


def test_avss_loss_is_cross_entropy_weighted_by_the_gt_flag():
    torch.manual_seed(2)
    logits = torch.randn(4, 5, 3, 3)
    gt = torch.randint(0, 5, (4, 3, 3))
    flags = torch.tensor([1.0, 0.0, 1.0, 0.0])
    per_frame = [F.cross_entropy(logits[i:i + 1], gt[i:i + 1]) for i in range(4)]
    want = (per_frame[0] + per_frame[2]) / 2
    assert float(masked_ce(logits, gt, flags)) == pytest.approx(float(want), rel=1e-6)


# --------------------------------------------------------------------------- the job


def _cli(argv: list[str]) -> int:
    """``avs-studio ARGV`` through the real parser, errors raised rather than printed."""
    args = build_parser().parse_args(argv)
    return args.func(args)


def test_a_tiny_training_run_writes_a_model_the_app_can_load(demo_root, tmp_path):
    data = demo_root("ms3", 6, 0)
    out = tmp_path / "tiny.pt"
    argv = ["-q", "train", str(data), "--setting", "ms3", "--out", str(out), "--epochs", "2",
            "--max-clips", "4", "--batch-clips", "2", "--threads", "2"]
    assert _cli(argv) == 0
    system = load_system(out, setting="ms3")
    assert system.info.arch == "demo-tpavi" and not system.training
    card = system.info.extra["card"]
    assert card["train_clips"] == 4 and card["epochs_run"] == 2
    assert "avs-studio train" in card["command"]
    side = side_paths(out)
    assert side["csv"].read_text().count("\n") == 3  # header + two epochs
    assert not side["state"].exists()  # the run finished: nothing left to resume
    frames = torch.zeros(5, 3, 224, 224)
    with torch.inference_mode():
        assert system(frames, torch.zeros(5, 96, 64)).shape == (5, 1, 224, 224)

    # A second run refuses to overwrite, a finished run has nothing to resume ...
    with pytest.raises(AVSError, match="already exists"):
        _cli(argv)
    with pytest.raises(AVSError, match="nothing to resume"):
        _cli([*argv, "--resume"])
    # ... and --overwrite starts again.
    assert _cli([*argv, "--overwrite", "--epochs", "1"]) == 0
    parent = load_system(out).info.extra["card"]
    assert parent["epochs_run"] == 1 and "init_card" not in parent
    # Fine-tuning it: the new card carries the parent's (the lineage of the model).
    child = tmp_path / "child.pt"
    assert _cli([*argv[:5], "--out", str(child), "--init", str(out), *argv[7:], "--epochs", "1"]) == 0
    card = load_system(child).info.extra["card"]
    assert card["init"] == str(out) and card["init_card"] == parent


def test_training_is_cancellable_and_resumes_where_it_stopped(demo_root, tmp_path):
    data = demo_root("s4", 6, 0)
    out = tmp_path / "s4.pt"
    opts = dict(setting=Setting.S4, epochs=2, batch_clips=1, max_clips=2, threads=2,
                val_split="none")
    token = CancelToken()
    seen = []

    def progress(done, total, message=""):
        seen.append(message)
        if message.startswith("ep 2/2"):  # the first batch of the second epoch is done
            token.cancel()

    result = train(data, out, TrainOptions(**opts), progress=progress, cancel=token)
    assert result.cancelled and result.epochs_done == 1
    assert any(m.startswith("ep 1/2 loss") for m in seen)
    assert out.exists() and side_paths(out)["state"].exists()
    first = load_system(out).avs.state_dict()

    resumed = train(data, out, TrainOptions(**opts), resume=True)
    assert not resumed.cancelled and resumed.epochs_done == 2
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    assert not side_paths(out)["state"].exists()
    second = load_system(out).avs.state_dict()
    assert any(not torch.equal(first[k], second[k]) for k in first)

    # Same seed, same data, same threads: the same weights as an uninterrupted run.
    again = tmp_path / "again.pt"
    train(data, again, TrainOptions(**opts))
    third = load_system(again).avs.state_dict()
    assert all(torch.equal(second[k], third[k]) for k in second)


def test_cancelling_before_the_first_epoch_writes_nothing(demo_root, tmp_path):
    token = CancelToken()
    token.cancel()
    out = tmp_path / "none.pt"
    result = train(demo_root("s4", 6, 0), out, TrainOptions(Setting.S4, max_clips=2),
                   cancel=token)
    assert result.cancelled and result.epochs_done == 0
    assert not out.exists() and not side_paths(out)["state"].exists()


def test_user_errors_are_clear(demo_root, tmp_path):
    data = demo_root("s4", 6, 0)
    with pytest.raises(AVSError, match="VGGish"):
        ckpt = tmp_path / "fake_official.pth"
        from avs_studio.model import build

        torch.save(build("s4_resnet50").state_dict(), ckpt)
        train(data, tmp_path / "x.pt", TrainOptions(Setting.S4, init=str(ckpt)))
    with pytest.raises(AVSError, match="no annotated"):
        train(data, tmp_path / "y.pt", TrainOptions(Setting.S4, train_split="nosuchsplit"))
    with pytest.raises(AVSError, match="nothing to resume"):
        train(data, tmp_path / "z.pt", TrainOptions(Setting.S4), resume=True)


@pytest.mark.slow
def test_fine_tuning_an_official_variant_keeps_vggish_frozen(demo_root, tmp_path):
    from avs_studio.model import build, build_vggish

    torch.manual_seed(0)
    ckpt, vggish = tmp_path / "ms3_resnet50_best.pth", tmp_path / "vggish.pth"
    torch.save(build("ms3_resnet50").state_dict(), ckpt)
    audio = build_vggish()
    torch.save(audio.state_dict(), vggish)
    out = tmp_path / "tuned.pt"
    argv = ["-q", "train", str(demo_root("ms3", 6, 0)), "--setting", "ms3", "--out", str(out),
            "--init", str(ckpt), "--vggish", str(vggish), "--epochs", "1", "--max-clips", "1",
            "--val-split", "none", "--threads", "2"]
    assert _cli(argv) == 0
    system = load_system(out, setting="ms3")  # an AVS Studio file: VGGish inside
    assert system.info.arch == "official" and system.info.name == "ms3_resnet50"
    assert system.info.extra["config"] == {"variant": "ms3_resnet50"}
    tuned_audio = system.audio_encoder.state_dict()
    assert all(torch.equal(v, tuned_audio[k]) for k, v in audio.state_dict().items())
    before = torch.load(ckpt, weights_only=True)
    after = system.avs.state_dict()
    assert not torch.equal(before["output_conv.4.weight"], after["output_conv.4.weight"])


def test_an_architecture_option_added_when_fine_tuning_starts_as_the_identity(demo_root, tmp_path):
    """S4 -> MS3 with the per-frame audio gate added (how the MS3 demo model was made): the
    new layers start fresh, everything else is carried over, and the model computes exactly
    what it did before training."""
    from avs_studio.model.demo_model import build_demo_system, full_config
    from avs_studio.model.model_files import save_system
    from avs_studio.model.train.loop import _init_system

    torch.manual_seed(4)
    config = full_config({"frame_gate": False})
    s4 = build_demo_system("s4", config)
    path = tmp_path / "s4.pt"
    save_system(path, s4, config=config)
    s4 = load_system(path)
    options = TrainOptions(setting=Setting.MS3, init=str(path), demo_config={"frame_gate": True})
    ms3, new_config = _init_system(options)
    assert new_config["frame_gate"] is True and ms3.setting is Setting.MS3
    fresh = ms3.info.extra["fresh_tensors"]
    assert fresh and all(".frame_gate." in name for name in fresh)
    frames, log_mel = torch.randn(5, 3, 224, 224), torch.randn(5, 1, 96, 64)
    with torch.inference_mode():
        assert torch.equal(ms3.eval()(frames, log_mel), s4.eval()(frames, log_mel))
    # A malformed option is refused by the parser.
    with pytest.raises(SystemExit):
        _cli(["train", "DATA", "--setting", "ms3", "--out", "x.pt", "--arch", "frame_gate"])
