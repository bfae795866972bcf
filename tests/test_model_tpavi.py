"""TPAVI's two evaluation orders compute the same function, frames interact only within
their 5-frame group, and AVSS padding behaves like the official model even when padded
frames do not fill whole 5-frame groups (a case the reference fixtures cannot see)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import avs_studio.model as avs_model
from avs_studio.model.tpavi import TPAVIModule


def _shared() -> Path:
    """$AVS_SHARED, ../shared, or the fixtures bundled in tests/fixtures (tests/reference.py)."""
    from reference import shared_root

    return shared_root()


SHARED = _shared()


def _randomised_block(audio_bias: bool = True, seed: int = 0) -> TPAVIModule:
    """A block whose every parameter and BatchNorm statistic is random (the official init
    zeroes W_z's BatchNorm, which would hide the attention path entirely)."""
    torch.manual_seed(seed)
    block = TPAVIModule(256, audio_bias=audio_bias)
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0.0, 0.2)
        bn = block.W_z[1]
        bn.weight.add_(1.0)
        bn.running_mean.normal_(0.0, 0.1)
        bn.running_var.uniform_(0.5, 1.5)
    return block


def _pair(block: TPAVIModule) -> tuple[TPAVIModule, TPAVIModule]:
    fast = block
    literal = TPAVIModule(256, audio_bias=block.align_channel.bias is not None,
                          mode="literal")
    literal.to(next(fast.parameters()).dtype).load_state_dict(fast.state_dict())
    return fast, literal.train(fast.training)


@torch.no_grad()
def test_fast_and_literal_orders_agree_to_rounding_in_eval():
    fast, literal = _pair(_randomised_block().double().eval())
    x = torch.randn(2, 256, 5, 6, 7, dtype=torch.float64)
    audio = torch.rand(2, 5, 128, dtype=torch.float64)
    z_fast, a_fast = fast(x, audio)
    z_lit, a_lit = literal(x, audio)
    assert z_fast.shape == x.shape and a_fast.shape == (2, 5, 256)
    torch.testing.assert_close(z_fast, z_lit, rtol=0, atol=1e-10)
    torch.testing.assert_close(a_fast, a_lit, rtol=0, atol=0)
    # The result really depends on the audio (the attention path is not dead).
    z_other, _ = fast(x, torch.rand_like(audio))
    assert float((z_other - z_fast).abs().max()) > 1e-3


@torch.no_grad()
def test_frame_major_interface_matches_the_official_5d_one():
    block = _randomised_block(audio_bias=False).double().eval()
    feat = torch.randn(10, 256, 4, 3, dtype=torch.float64)
    audio = torch.rand(10, 128, dtype=torch.float64)
    x5 = feat.reshape(2, 5, 256, 4, 3).permute(0, 2, 1, 3, 4).contiguous()
    for mode in ("fast", "literal"):
        block.mode = mode
        z, a = block.forward_frames(feat, audio)
        z5, a5 = block(x5, audio.view(2, 5, 128))
        torch.testing.assert_close(z, z5.permute(0, 2, 1, 3, 4).reshape(10, 256, 4, 3),
                                   rtol=0, atol=1e-10)
        torch.testing.assert_close(a, a5)
        assert a.shape == (2, 5, 256)


def test_training_mode_orders_agree_on_outputs_statistics_and_gradients():
    fast, literal = _pair(_randomised_block().double().train())
    x = torch.randn(2, 256, 5, 4, 4, dtype=torch.float64)
    audio = torch.rand(2, 5, 128, dtype=torch.float64)
    grads = []
    for block in (fast, literal):
        xs, au = x.clone().requires_grad_(), audio.clone().requires_grad_()
        z, a = block(xs, au)
        (z.square().mean() + a.sum()).backward()
        grads.append((z.detach(), xs.grad, au.grad, block.theta.weight.grad,
                      block.W_z[1].running_mean.clone()))
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)


@torch.no_grad()
def test_visual_only_form_has_no_shortcut_and_returns_zero_audio():
    block = _randomised_block().double().eval()
    x = torch.randn(1, 256, 5, 3, 3, dtype=torch.float64)
    z_fast, a = block(x)
    block.mode = "literal"
    z_lit, _ = block(x)
    assert a == 0
    torch.testing.assert_close(z_fast, z_lit, rtol=0, atol=0)


@torch.no_grad()
@pytest.mark.parametrize("mode", ["fast", "literal"])
def test_frames_interact_only_within_their_5_frame_group(mode):
    block = _randomised_block(audio_bias=False).double().eval()
    block.mode = mode
    feat = torch.randn(10, 256, 3, 3, dtype=torch.float64)
    audio = torch.rand(10, 128, dtype=torch.float64)
    z, _ = block.forward_frames(feat, audio)
    changed = feat.clone()
    changed[9] += 1.0  # frame 9 belongs to the second group (frames 5..9)
    z2, _ = block.forward_frames(changed, audio)
    assert torch.equal(z2[:5], z[:5])
    assert float((z2[5:9] - z[5:9]).abs().max()) > 1e-6


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="TPAVI mode"):
        TPAVIModule(256, mode="quadratic")
    with pytest.raises(ValueError, match="TPAVI mode"):
        avs_model.build("s4_pvt").set_tpavi_mode("slow")


# -- the whole AVSS model with padding that does not fill whole 5-frame groups -------------

SIZE = 64  # nothing in the model hard-codes 224; a small input keeps these tests fast


@pytest.fixture(scope="module")
def avss_model():
    keys = SHARED / "spec" / "keys" / "avss_resnet50.txt"
    if not keys.is_file():
        pytest.skip(f"key listings not found under {SHARED} (set AVS_SHARED)")
    sys.path.insert(0, str(SHARED / "tools"))
    from reference_weights import make_state_dict

    model = avs_model.build("avss_resnet50")
    model.load_state_dict(make_state_dict(keys, seed=21), strict=True)
    return model


def _padded_batch(seed: int = 0):
    """15 frames = 3 TPAVI groups: a full group, a group with 2 real + 3 padded frames, and
    a group of padding only.  Padded frames and audio are zero as the official loader and
    test loop make them."""
    g = torch.Generator().manual_seed(seed)
    flags = torch.tensor([1.0] * 5 + [1.0, 1.0, 0.0, 0.0, 0.0] + [0.0] * 5)
    frames = torch.randn(15, 3, SIZE, SIZE, generator=g) * flags.view(-1, 1, 1, 1)
    audio = torch.rand(15, 128, generator=g) * flags.view(-1, 1)
    return frames, audio, flags


def _assert_close_to_scale(got: torch.Tensor, want: torch.Tensor, rel: float) -> None:
    """Max |difference| within ``rel`` times the largest magnitude, frame by frame (float32
    rounding is relative to the values in play, which the flags below scale up)."""
    for i, (g, w) in enumerate(zip(got, want)):
        scale = max(float(w.abs().max()), 1.0)
        err = float((g - w).abs().max())
        assert err <= rel * scale, f"item {i}: max |diff| {err:.3g} at scale {scale:.3g}"


def _run(model, frames, audio, flags, mode):
    model.set_tpavi_mode(mode)
    with torch.inference_mode():
        return model(frames, audio, flags)


def test_padded_frames_give_exactly_zero_outputs(avss_model):
    frames, audio, flags = _padded_batch()
    pad = flags == 0
    for mode in ("fast", "literal"):
        pred, feats, audio_feats = _run(avss_model, frames, audio, flags, mode)
        assert pred.shape == (15, 71, SIZE, SIZE)
        assert torch.count_nonzero(pred[pad]) == 0, mode
        assert torch.count_nonzero(pred[~pad]) > 0, mode
        for f in feats:
            assert torch.count_nonzero(f[pad]) == 0, mode
            assert float(f.min()) >= 0.0  # rectified in place by the decoder, as upstream
        for a in audio_feats:  # align_channel has no bias in AVSS and padded audio is 0
            assert a.shape == (3, 5, 256)
            assert torch.count_nonzero(a.reshape(15, 256)[pad]) == 0, mode


def test_fast_and_literal_models_agree_with_partial_padding(avss_model):
    frames, audio, flags = _padded_batch()
    fast = _run(avss_model, frames, audio, flags, "fast")
    literal = _run(avss_model, frames, audio, flags, "literal")
    torch.testing.assert_close(fast[0], literal[0], rtol=0, atol=1e-4)
    for f, g in zip(fast[1] + fast[2], literal[1] + literal[2]):
        torch.testing.assert_close(f, g, rtol=0, atol=1e-4)


@pytest.mark.parametrize("mode", ["fast", "literal"])
def test_real_frames_ignore_the_pictures_of_padded_frames(avss_model, mode):
    frames, audio, flags = _padded_batch()
    pred = _run(avss_model, frames, audio, flags, mode)[0]
    noisy = frames.clone()
    pad = flags == 0
    noisy[pad] = torch.randn(int(pad.sum()), 3, SIZE, SIZE) * 3
    pred_noisy = _run(avss_model, noisy, audio, flags, mode)[0]
    assert torch.equal(pred_noisy, pred)


@pytest.mark.parametrize("mode", ["fast", "literal"])
def test_padded_audio_still_reaches_real_frames_of_its_group_as_upstream(avss_model, mode):
    # The official model multiplies features by the flag but not the audio; the official
    # loop zeroes padded audio itself.  A faithful port keeps that behaviour.
    frames, audio, flags = _padded_batch()
    pred = _run(avss_model, frames, audio, flags, mode)[0]
    loud = audio.clone()
    loud[7:10] = torch.rand(3, 128) * 2  # padded frames of the second group
    pred_loud = _run(avss_model, frames, loud, flags, mode)[0]
    assert torch.equal(pred_loud[:5], pred[:5])  # other group: untouched
    assert float((pred_loud[5:7] - pred[5:7]).abs().max()) > 1e-4
    assert torch.count_nonzero(pred_loud[7:]) == 0


def _spec_reference(model, frames, audio, flags):
    """Spec §9.2 written out: the flag multiplies the four neck outputs, the four TPAVI
    outputs, the four decoder outputs and the logits (13 places)."""
    m = flags.view(-1, 1, 1, 1)
    feats = [neck(x) * m for neck, x in zip(model.necks, model.backbone_features(frames))]
    outs = []
    for block, f in zip(model.tpavi_blocks, feats):
        block.mode = "literal"
        outs.append(block.forward_frames(f, audio)[0] * m)
    d = model.path4(outs[3]) * m
    d = model.path3(d, outs[2]) * m
    d = model.path2(d, outs[1]) * m
    d = model.path1(d, outs[0]) * m
    return model.output_conv(d) * m


def test_every_flag_multiplication_is_applied(avss_model):
    # AVSBench flags are 0/1, which hides most of the 13 multiplications; flags of 0.5 and
    # 2 make each one visible in the output.
    frames, audio, _ = _padded_batch()
    flags = torch.tensor([1.0, 0.5, 2.0, 1.0, 1.0] + [1.0, 0.5, 0.0, 0.0, 0.0] + [0.0] * 5)
    for mode in ("literal", "fast"):
        avss_model.set_tpavi_mode("literal")
        with torch.inference_mode():
            want = _spec_reference(avss_model, frames, audio, flags)
        pred = _run(avss_model, frames, audio, flags, mode)[0]
        _assert_close_to_scale(pred, want, rel=1e-5)


def test_s4_models_refuse_flags_and_need_whole_groups():
    model = avs_model.build("s4_pvt")
    frames, audio = torch.zeros(5, 3, SIZE, SIZE), torch.zeros(5, 128)
    with pytest.raises(ValueError, match="no frame flags"):
        model(frames, audio, torch.ones(5))
    with pytest.raises(ValueError, match="multiple of 5"):
        model(frames[:4], audio[:4])
    with pytest.raises(ValueError, match="one 128-d feature per frame"):
        model(frames, audio[:3])


def test_fast_path_supports_training_gradients(avss_model):
    # A later fine-tuning loop trains through the fast path: no in-place autograd errors,
    # and the gradients match the official order.
    frames, audio, flags = _padded_batch()
    frames, audio, flags = frames[5:10], audio[5:10], flags[5:10]  # 2 real, 3 padded
    grads = {}
    for mode in ("fast", "literal"):
        model = avs_model.build("avss_resnet50", tpavi_mode=mode)
        model.load_state_dict(avss_model.state_dict())
        model.train()
        pred, feats, audio_feats = model(frames, audio, flags)
        loss = pred.square().mean() + sum(f.mean() for f in feats) + \
            sum(a.square().mean() for a in audio_feats)
        loss.backward()
        grads[mode] = {n: p.grad.clone() for n, p in model.named_parameters()
                       if p.grad is not None}
    assert grads["fast"].keys() == grads["literal"].keys()
    for name in ("output_conv.4.weight", "tpavi_b1.theta.weight", "tpavi_b4.phi.weight",
                 "conv1.conv2d_list.3.weight", "resnet.conv1.weight"):
        fast, literal = grads["fast"][name], grads["literal"][name]
        assert float(literal.abs().max()) > 0, name
        _assert_close_to_scale(fast.flatten()[None], literal.flatten()[None], rel=1e-3)
