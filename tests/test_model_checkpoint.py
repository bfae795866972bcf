"""A user opens a weights file: official AVSBench checkpoints in every container the wild
uses load strictly into the right variant; anything else is refused with a clear message,
and a hostile pickle runs no code."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict

import pytest
import torch

import avs_studio.model as avs_model
from avs_studio.core.errors import AVSError
from avs_studio.model.checkpoint import CheckpointError


def _cheap_state_dict(name: str) -> OrderedDict:
    """The exact keys/shapes/dtypes of a variant, every tensor a view of one shared zero
    storage, so that torch.save writes one storage (a few MB) instead of ~400 MB."""
    with torch.device("meta"):
        template = (avs_model.build_vggish() if name == "vggish"
                    else avs_model.build(name)).state_dict()
    largest = max(t.numel() for t in template.values() if t.is_floating_point())
    pool = torch.zeros(largest)
    sd = OrderedDict()
    for key, t in template.items():
        if t.is_floating_point():
            sd[key] = pool[: t.numel()].view(t.shape)
        else:
            sd[key] = torch.zeros(t.shape, dtype=t.dtype)
    return sd


@pytest.fixture(scope="module")
def pvt_s4_sd():
    return _cheap_state_dict("s4_pvt")


def _save(obj, path) -> str:
    torch.save(obj, path)
    return str(path)


@pytest.mark.parametrize("name", avs_model.VARIANTS)
def test_every_variant_is_recognised_from_its_keys(name, tmp_path):
    path = _save(_cheap_state_dict(name), tmp_path / "weights.pth")
    model = avs_model.load(path)
    # S4 and MS3 are the same code with the same keys: detection answers S4.
    assert model.variant == name.replace("ms3_", "s4_")
    assert not model.training
    explicit = avs_model.load(path, name=name)
    assert explicit.variant == name
    assert explicit.setting == avs_model.setting_of(name)


def test_a_real_checkpoint_round_trips_with_its_values(tmp_path):
    model = avs_model.build("avss_resnet50")
    with torch.no_grad():
        model.tpavi_b2.W_z[1].running_var.fill_(3.0)
    model.tpavi_b2.W_z[1].num_batches_tracked.fill_(7)
    path = _save(model.state_dict(), tmp_path / "AVSS_resnet_miou_best.pth")
    loaded = avs_model.load(path, tpavi_mode="literal")
    assert loaded.variant == "avss_resnet50" and loaded.tpavi_mode == "literal"
    want = model.state_dict()
    got = loaded.state_dict()
    assert list(got) == list(want)
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert all(p.requires_grad and p.device.type == "cpu" for p in loaded.parameters())
    os.remove(path)  # ~370 MB; do not keep it in pytest's retained temp folders


@pytest.mark.parametrize("wrap", [
    lambda sd: {"state_dict": sd, "epoch": 12},
    lambda sd: {"model": sd, "optimizer": {"lr": 1e-4}},
    lambda sd: {"model_state_dict": sd},
    lambda sd: OrderedDict(("module." + k, v) for k, v in sd.items()),
    lambda sd: {"state_dict": OrderedDict(("module." + k, v) for k, v in sd.items())},
], ids=["state_dict", "model", "model_state_dict", "module-prefix", "wrapped+prefix"])
def test_wrapped_and_dataparallel_checkpoints_load(wrap, pvt_s4_sd, tmp_path):
    path = _save(wrap(pvt_s4_sd), tmp_path / "wrapped.pt")
    assert avs_model.load(path).variant == "s4_pvt"


def test_half_precision_weights_are_loaded_as_float32(pvt_s4_sd, tmp_path):
    half = OrderedDict((k, v.half() if v.is_floating_point() else v)
                       for k, v in pvt_s4_sd.items())
    model = avs_model.load(_save(half, tmp_path / "half.pt"))
    assert all(p.dtype == torch.float32 for p in model.parameters())


class _Hostile:
    """Unpickling this would create a file (a harmless stand-in for any payload)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _HostileOpen:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("payload", [_Hostile, _HostileOpen])
@pytest.mark.parametrize("container", ["torch.save", "raw pickle"])
def test_a_hostile_pickle_runs_no_code_and_is_refused(payload, container, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    if container == "torch.save":
        torch.save({"state_dict": {"w": torch.zeros(3)}, "extra": payload(str(marker))}, path)
    else:
        with open(path, "wb") as f:  # protocol 2: the safe loader reaches the callable
            pickle.dump({"extra": payload(str(marker))}, f, protocol=2)
    for loader in (avs_model.load, avs_model.load_vggish):
        with pytest.raises(CheckpointError, match="refusing to load") as info:
            loader(path)
        assert isinstance(info.value, AVSError)
    assert not marker.exists(), "loading the checkpoint executed code"


def test_a_hostile_torch_file_names_the_callable(tmp_path):
    marker = tmp_path / "pwned"
    path = _save({"w": torch.zeros(2), "x": _Hostile(str(marker))}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"refusing to load .*system.*arbitrary code"):
        avs_model.load(path)
    assert not marker.exists()


def test_a_truncated_checkpoint_is_reported_as_corrupt(pvt_s4_sd, tmp_path):
    path = tmp_path / "cut.pth"
    torch.save(pvt_s4_sd, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        avs_model.load(path)


@pytest.mark.parametrize("content", [os.urandom(4096), b"hello\nthis is a note\n",
                                     b"PK\x03\x04garbage", b"\x80\x02garbage"],
                         ids=["random-bytes", "text", "fake-zip", "fake-pickle"])
def test_files_that_are_not_checkpoints_are_refused(content, tmp_path):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        avs_model.load(path)


def test_empty_and_missing_files_are_refused(tmp_path):
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        avs_model.load(empty)
    with pytest.raises(CheckpointError, match="does not exist"):
        avs_model.load(tmp_path / "nowhere.pth")
    with pytest.raises(CheckpointError, match="does not exist or is not a file"):
        avs_model.load(tmp_path)


@pytest.mark.parametrize(("obj", "message"), [
    ([1, 2, 3], "holds a list"),
    ({"epoch": 3, "lr": 0.1}, "not a state dict of tensors"),
    ({}, "empty state dict"),
    ({"encoder.weight": torch.zeros(2)}, "not an AVSBench TPAVI model checkpoint"),
])
def test_readable_files_without_an_avs_state_dict_are_refused(obj, message, tmp_path):
    with pytest.raises(CheckpointError, match=message):
        avs_model.load(_save(obj, tmp_path / "x.pt"))


def test_a_checkpoint_of_another_variant_is_refused_by_name(pvt_s4_sd, tmp_path):
    path = _save(pvt_s4_sd, tmp_path / "s4.pth")
    with pytest.raises(CheckpointError, match=r"S4/MS3 PVT-v2-b5 model, not the requested "
                                              r"avss_pvt"):
        avs_model.load(path, name="avss_pvt")
    with pytest.raises(CheckpointError, match="not the requested s4_resnet50"):
        avs_model.load(path, name="s4_resnet50")
    with pytest.raises(CheckpointError, match="unknown model variant"):
        avs_model.load(path, name="s4_vit")


def test_vggish_and_model_files_are_not_confused(pvt_s4_sd, tmp_path):
    vgg_path = _save(_cheap_state_dict("vggish"), tmp_path / "vggish-10086976.pth")
    with pytest.raises(CheckpointError, match="VGGish"):
        avs_model.load(vgg_path)
    assert avs_model.load_vggish(vgg_path).embeddings[4].out_features == 128
    with pytest.raises(CheckpointError, match="AVS model checkpoint, not VGGish"):
        avs_model.load_vggish(_save(pvt_s4_sd, tmp_path / "model.pth"))


def test_missing_keys_are_listed(pvt_s4_sd, tmp_path):
    sd = OrderedDict(pvt_s4_sd)
    del sd["path4.resConfUnit1.conv1.weight"]
    del sd["encoder_backbone.block3.17.attn.kv.bias"]
    with pytest.raises(CheckpointError) as info:
        avs_model.load(_save(sd, tmp_path / "m.pth"))
    text = str(info.value)
    assert "2 missing key(s)" in text
    assert "path4.resConfUnit1.conv1.weight" in text
    assert "encoder_backbone.block3.17.attn.kv.bias" in text


def test_unexpected_keys_are_listed(pvt_s4_sd, tmp_path):
    sd = OrderedDict(pvt_s4_sd)
    sd["encoder_backbone.head.weight"] = torch.zeros(1000, 512)
    with pytest.raises(CheckpointError, match=r"1 unexpected key\(s\), e.g. "
                                              r"encoder_backbone.head.weight"):
        avs_model.load(_save(sd, tmp_path / "u.pth"))


def test_reshaped_tensors_are_listed(pvt_s4_sd, tmp_path):
    sd = OrderedDict(pvt_s4_sd)
    sd["conv4.conv2d_list.2.weight"] = torch.zeros(256, 512, 1, 1)
    with pytest.raises(CheckpointError, match=r"wrong shape.*conv4.conv2d_list.2.weight "
                                              r"\[256, 512, 1, 1\] \(expected "
                                              r"\[256, 512, 3, 3\]\)"):
        avs_model.load(_save(sd, tmp_path / "r.pth"))


def test_inconsistent_head_and_audio_projection_are_refused(pvt_s4_sd, tmp_path):
    sd = OrderedDict(pvt_s4_sd)
    sd["output_conv.4.weight"] = torch.zeros(71, 32, 1, 1)
    sd["output_conv.4.bias"] = torch.zeros(71)
    with pytest.raises(CheckpointError, match="inconsistent AVSBench checkpoint"):
        avs_model.load(_save(sd, tmp_path / "i.pth"))


def test_a_missing_batchnorm_counter_is_tolerated_like_torch_does(tmp_path):
    sd = _cheap_state_dict("s4_resnet50")
    del sd["resnet.bn1.num_batches_tracked"]
    model = avs_model.load(_save(sd, tmp_path / "old.pth"))
    assert int(model.resnet.bn1.num_batches_tracked) == 0


def test_the_engine_loads_an_official_checkpoint_with_its_vggish(pvt_s4_sd, tmp_path):
    """``load_system`` (what propose and the annotator call) on a wrapped, DataParallel
    official file: the variant from the keys, MS3 when asked for, VGGish required."""
    from avs_studio.model.model_files import load_system

    wrapped = {"state_dict": OrderedDict(("module." + k, v) for k, v in pvt_s4_sd.items())}
    path = _save(wrapped, tmp_path / "MS3_pvt_best.pth")
    vggish = _save(_cheap_state_dict("vggish"), tmp_path / "vggish.pth")
    system = load_system(path, vggish=vggish)
    assert system.info.arch == "official" and system.info.name == "s4_pvt"
    assert system.info.extra["vggish"] == vggish
    assert load_system(path, vggish=vggish, setting="ms3").info.name == "ms3_pvt"
    with pytest.raises(CheckpointError, match="needs the VGGish weights"):
        load_system(path)
    with pytest.raises(CheckpointError, match="not an AVSS model"):
        load_system(path, vggish=vggish, setting="avss")
