"""A user running our models gets the official AVSBench outputs: every variant reproduces
the logits the official code computed (spec/reference/<model>/), within the fixtures'
tolerances, in both TPAVI evaluation orders; VGGish reproduces the official embedding.

Wall time on an idle 2-core CPU: about 50 s (the AVSS fixtures are 20 frames with 71
output channels each).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import avs_studio.model as avs_model


def _shared() -> Path:
    """$AVS_SHARED, ../shared, or the fixtures bundled in tests/fixtures (tests/reference.py)."""
    from reference import shared_root

    return shared_root()


SHARED = _shared()
REF = SHARED / "spec" / "reference"
if not (REF / "vggish" / "meta.json").is_file():
    pytest.skip(f"reference fixtures not found under {SHARED} (set AVS_SHARED)",
                allow_module_level=True)
sys.path.insert(0, str(SHARED / "tools"))
from check_reference import Report, check_model_pred  # noqa: E402
from reference_weights import make_state_dict, state_dict_digest  # noqa: E402


def _meta(folder: str) -> dict:
    return json.loads((REF / folder / "meta.json").read_text())


def _inputs(folder: str) -> list[torch.Tensor]:
    files = _meta(folder)["inputs"]["files"]
    names = ["frames", "audio"] + (["flag"] if "flag" in files else [])
    return [torch.from_numpy(np.load(REF / folder / files[k]["file"])) for k in names]


@pytest.fixture(scope="module")
def recipe():
    """Recipe state dicts, built once per (listing, seed) while they are in use."""

    @functools.lru_cache(maxsize=2)
    def weights(listing: str, seed: int):
        return make_state_dict(SHARED / listing, seed)

    yield weights
    weights.cache_clear()


def _fixture_model(name: str, folder: str, recipe, mode: str = "fast"):
    """Model `name` with the weights of fixture `folder` (the weights digest checked)."""
    meta = _meta(folder)
    sd = recipe(meta["weights"]["listing"], meta["weights"]["seed"])
    # The recipe must give exactly the weights the official run used.
    assert state_dict_digest(sd) == meta["weights"]["digest"], f"{folder}: recipe digest differs"
    model = avs_model.build(name, tpavi_mode=mode)
    model.load_state_dict(sd, strict=True)
    return model.eval()


def _assert_matches_fixture(folder: str, pred: torch.Tensor) -> None:
    report = Report(strict=True)
    check_model_pred(REF / folder, pred.numpy(), report)
    details = "\n".join(" ".join(row) for row in report.rows)
    assert report.rows and not report.failed, f"{folder}:\n{details}"


def _assert_side_outputs_match(folder: str, feats, audio_feats) -> None:
    """The feature maps and audio features returned for the AVM loss: shapes, and summary
    statistics recorded from the official run (feature maps are ReLU'd in place by the
    official decoder, so they must be >= 0)."""
    stats = _meta(folder)["debug_stats"]
    for kind, tensors in (("feature_map_list", feats), ("a_fea_list", audio_feats)):
        for i, t in enumerate(tensors):
            want = stats[f"returned.{kind}[{i}]"]
            assert list(t.shape) == want["shape"], f"{kind}[{i}] shape"
            t64 = t.double()
            for stat, got in (("mean", t64.mean()), ("std", t64.std()), ("min", t64.min()),
                              ("max", t64.max())):
                assert abs(float(got) - want[stat]) <= 1e-3, \
                    f"{folder}: returned {kind}[{i}] {stat} {float(got)} != {want[stat]}"


def _run(model, folder: str):
    with torch.inference_mode():
        return model(*_inputs(folder))


# (variant, fixture folder): S4 and MS3 are the same code, so s4_pvt / ms3_resnet50 are
# checked with the ms3_pvt / s4_resnet50 fixtures under their own names.
# Only the fixtures that are here: the bundled copy (tests/fixtures) holds the S4/MS3 ones,
# the shared folder all of them (the AVSS ones are 21 MB).
FAST_CASES = [(name, folder) for name, folder in [
    ("s4_resnet50", "s4_resnet50"),
    ("ms3_resnet50", "s4_resnet50"),
    ("ms3_pvt", "ms3_pvt"),
    ("s4_pvt", "ms3_pvt"),
    ("avss_pvt", "avss_pvt"),
    ("avss_resnet50", "avss_resnet50"),
] if (REF / folder / "meta.json").is_file()]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "folder"), FAST_CASES)
def test_default_fast_model_reproduces_official_logits(name, folder, recipe):
    # As the engine runs it: fast order, channels-last convolutions, inference mode.
    model = _fixture_model(name, folder, recipe).to_channels_last()
    assert model.tpavi_mode == "fast"
    pred, feats, audio_feats = _run(model, folder)
    _assert_matches_fixture(folder, pred)
    _assert_side_outputs_match(folder, feats, audio_feats)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "folder"), [("s4_resnet50", "s4_resnet50"),
                                               ("ms3_pvt", "ms3_pvt")])
def test_literal_official_order_reproduces_official_logits(name, folder, recipe):
    model = _fixture_model(name, folder, recipe, mode="literal")
    pred, feats, audio_feats = _run(model, folder)
    _assert_matches_fixture(folder, pred)
    _assert_side_outputs_match(folder, feats, audio_feats)
    # Switching the same model to the fast order (plain NCHW layout here) changes only
    # float rounding.
    fast_pred = _run(model.set_tpavi_mode("fast"), folder)[0]
    assert float((fast_pred - pred).abs().max()) < 1e-4


def test_vggish_reproduces_official_embedding():
    meta = _meta("vggish")
    sd = make_state_dict(SHARED / meta["weights"]["listing"], meta["weights"]["seed"])
    assert state_dict_digest(sd) == meta["weights"]["digest"]
    model = avs_model.build_vggish()
    model.load_state_dict(sd, strict=True)
    logmel = torch.from_numpy(np.load(REF / "vggish" / meta["inputs"]["logmel"]["file"]))
    with torch.inference_mode():
        emb = model(logmel)
    want = np.load(REF / "vggish" / meta["outputs"]["embedding"]["file"])
    assert emb.shape == want.shape
    assert float(np.abs(emb.numpy() - want).max()) <= meta["tolerance"]["embedding_max_abs"]
    assert float(emb.min()) >= 0.0  # the embedding ends in a ReLU, no PCA


def test_vggish_rejects_examples_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"\[n, 1, 96, 64\]"):
        avs_model.build_vggish()(torch.zeros(2, 1, 64, 96))
