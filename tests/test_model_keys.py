"""A user loading an official AVSBench checkpoint needs our modules to carry exactly the
official state-dict entries: same names, order, shapes and dtypes (spec/keys/*.txt)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import avs_studio.model as avs_model


def _shared() -> Path:
    """$AVS_SHARED, ../shared, or the fixtures bundled in tests/fixtures (tests/reference.py)."""
    from reference import shared_root

    return shared_root()


SHARED = _shared()
KEYS = SHARED / "spec" / "keys"
if not (KEYS / "vggish.txt").is_file():
    pytest.skip(f"shared spec folder not found at {SHARED} (set AVS_SHARED)",
                allow_module_level=True)
sys.path.insert(0, str(SHARED / "tools"))
from reference_weights import make_state_dict, parse_listing  # noqa: E402

NAMES = [*avs_model.VARIANTS, "vggish"]


def _build_meta(name: str) -> torch.nn.Module:
    # Keys, shapes and dtypes do not need real storage: build on the meta device.
    with torch.device("meta"):
        return avs_model.build_vggish() if name == "vggish" else avs_model.build(name)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_matches_official_listing_line_by_line(name):
    listing = parse_listing(KEYS / f"{name}.txt")
    ours = [(k, tuple(v.shape), str(v.dtype).removeprefix("torch."))
            for k, v in _build_meta(name).state_dict().items()]
    for i, (got, want) in enumerate(zip(ours, listing)):
        assert got == want, f"{name}: entry {i} is {got}, the official listing has {want}"
    assert len(ours) == len(listing), f"{name}: {len(ours)} entries, official {len(listing)}"


@pytest.mark.parametrize("name", NAMES)
def test_recipe_weights_load_strictly(name):
    sd = make_state_dict(KEYS / f"{name}.txt", seed=11)
    model = _build_meta(name)
    result = model.load_state_dict(sd, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    some_key = next(iter(sd))
    assert torch.equal(model.state_dict()[some_key], sd[some_key])


def test_s4_and_ms3_share_their_keys_and_avss_differs_only_where_the_spec_says():
    s4 = _build_meta("s4_pvt").state_dict()
    ms3 = _build_meta("ms3_pvt").state_dict()
    avss = _build_meta("avss_pvt").state_dict()
    assert list(s4) == list(ms3)
    assert set(s4) - set(avss) == {f"tpavi_b{i}.align_channel.bias" for i in range(1, 5)}
    assert set(avss) <= set(s4)
    assert avss["output_conv.4.weight"].shape[0] == 71
    assert s4["output_conv.4.weight"].shape[0] == 1


def test_setting_helpers_name_every_variant():
    from avs_studio.core.setting import Setting

    for name in avs_model.VARIANTS:
        setting = avs_model.setting_of(name)
        backbone = avs_model.backbone_of(name)
        assert avs_model.variant_name(setting, backbone) == name
        assert name.startswith(setting.value)
    assert avs_model.setting_of("avss_pvt") is Setting.AVSS
    with pytest.raises(ValueError, match="unknown model variant"):
        avs_model.setting_of("s4_vit")
    with pytest.raises(ValueError, match="unknown model variant"):
        avs_model.build("avss_vgg")


def test_importing_the_model_package_is_cheap_and_qt_free():
    import subprocess

    code = ("import sys, avs_studio.model as m; "
            "assert 'PySide6' not in sys.modules; "
            "print('torch' in sys.modules); m.build; "
            "assert 'PySide6' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False", "importing avs_studio.model should not load torch"
