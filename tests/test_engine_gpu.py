"""The GPU path: on a CUDA machine the models give the official logits (fp32), the CPU's
logits, and the engine proposes the CPU's masks (fp32, and bf16 / fp16 autocast).

Skipped where torch sees no CUDA GPU (CI, laptops); the CPU paths are covered everywhere
else. Run on a GPU machine with ``python -m pytest tests/test_engine_gpu.py``.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from reference import shared_root

import avs_studio.model as avs_model
from avs_studio.core.datasets import open_dataset
from avs_studio.model.engine import Engine
from avs_studio.model.inputs import prepare_clip

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")

SHARED = shared_root()
REF = SHARED / "spec" / "reference"


def _fixture(name: str, folder: str):
    if not (REF / folder / "meta.json").is_file():
        pytest.skip(f"reference fixtures not found under {SHARED}")
    import json

    sys.path.insert(0, str(SHARED / "tools"))
    from reference_weights import make_state_dict

    meta = json.loads((REF / folder / "meta.json").read_text())
    model = avs_model.build(name)
    model.load_state_dict(make_state_dict(SHARED / meta["weights"]["listing"],
                                          meta["weights"]["seed"]), strict=True)
    files = meta["inputs"]["files"]
    names = ["frames", "audio"] + (["flag"] if "flag" in files else [])
    inputs = [torch.from_numpy(np.load(REF / folder / files[k]["file"])) for k in names]
    return model.eval(), inputs


@pytest.mark.parametrize(("name", "folder"), [("s4_resnet50", "s4_resnet50")])
def test_fp32_on_the_gpu_reproduces_the_official_logits(name, folder):
    sys.path.insert(0, str(SHARED / "tools"))
    from check_reference import Report, check_model_pred

    model, inputs = _fixture(name, folder)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = model.cuda().to_channels_last()
    with torch.inference_mode():
        pred = model(*[t.cuda() for t in inputs])[0].float().cpu()
    report = Report(strict=True)
    check_model_pred(REF / folder, pred.numpy(), report)
    assert report.rows and not report.failed, "\n".join(" ".join(r) for r in report.rows)


def test_avss_pvt_on_the_gpu_gives_the_cpu_logits():
    """The CPU path reproduces the official AVSS logits (test_model_reference); the GPU must
    give the same numbers: recipe weights, a 10-frame clip and a padded 5-frame clip."""
    listing = SHARED / "spec" / "keys" / "avss_pvt.txt"
    if not listing.is_file():
        pytest.skip(f"key listings not found under {SHARED}")
    sys.path.insert(0, str(SHARED / "tools"))
    from reference_weights import make_state_dict

    model = avs_model.build("avss_pvt")
    model.load_state_dict(make_state_dict(listing, 5), strict=True)
    model.eval()
    g = torch.Generator().manual_seed(3)
    flags = torch.ones(20)
    flags[15:] = 0
    frames = torch.randn(20, 3, 224, 224, generator=g) * flags.view(-1, 1, 1, 1)
    audio = torch.rand(20, 128, generator=g) * flags.view(-1, 1)
    with torch.inference_mode():
        cpu = model.to_channels_last()(frames, audio, flags)[0]
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        gpu = model.cuda()(frames.cuda(), audio.cuda(), flags.cuda())[0].float().cpu()
    scale = float(cpu.abs().max())
    assert float((gpu - cpu).abs().max()) <= 1e-4 * max(1.0, scale)
    assert float((gpu.argmax(1) == cpu.argmax(1)).float().mean()) > 0.999
    assert gpu[flags == 0].abs().max() == 0  # padded steps stay all-zero


def test_the_engine_proposes_the_same_masks_on_gpu_and_cpu(demo_root):
    from avs_studio.model.model_files import demo_model_path, load_system

    if not demo_model_path("s4").is_file():
        pytest.skip("the shipped demo model is not installed")
    clips = open_dataset(demo_root("s4", 6, 0)).clips()[:2]
    inputs = [prepare_clip(c) for c in clips]
    cpu = Engine(load_system(None, setting="s4"), device="cpu", batch_clips=2).run(inputs)
    # fp32 differs from the CPU by float rounding only; bf16 keeps 8 bits of mantissa, so a
    # pixel whose logit is within about 1 % of 0 may flip: a trained model has few of them.
    for precision, bound in (("fp32", 0.9999), ("bf16", 0.995), ("fp16", 0.999)):
        gpu = Engine(load_system(None, setting="s4"), device="cuda", precision=precision,
                     batch_clips=2).run(inputs)
        assert gpu[0].logits.shape == cpu[0].logits.shape
        for a, b in zip(cpu, gpu):
            agree = float((a.masks() == b.masks()).mean())
            assert agree > bound, (precision, agree)
