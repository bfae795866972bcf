"""AVS Studio model files and where systems come from.

- **official**: VGGish + one of the six TPAVI variants, from the official checkpoint files
  (``load_system(model=PATH, vggish=PATH)``);
- **AVS Studio models** (the shipped demo models, and models trained or fine-tuned with
  ``avs-studio train``): one file holding the architecture description and the weights of
  both parts, readable with ``torch.load(weights_only=True)`` (plain dicts, strings,
  numbers and tensors only; no pickled classes).

Integrity. An AVS Studio model file carries ``digest``, the SHA-256 of its tensors (names,
dtypes, shapes and bytes, :func:`tensors_digest`); loading recomputes it and refuses a file
whose weights do not match (a flipped bit in a weight changes the model silently otherwise).
A file without a digest (written before AVS Studio wrote one) is still read -- the models a
user trained then would otherwise be lost -- but only when every weight is finite, and the
system says so (``info.extra["integrity"]``, shown by the CLI). Official checkpoints carry no
digest; their weights must all be finite.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from avs_studio.core.setting import Setting
from avs_studio.model.checkpoint import CheckpointError, check_finite
from avs_studio.model.demo_model import ARCH, build_demo_system
from avs_studio.model.system import AVSSystem, SystemInfo, file_hash

FILE_FORMAT = "avs-studio-model"
FILE_VERSION = 1
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def demo_model_path(setting: Setting | str) -> Path:
    """The shipped demo model of a setting: ``models/demo_<setting>.pt``."""
    return MODELS_DIR / f"demo_{Setting.parse(setting).value}.pt"


def is_studio_file(obj: Any) -> bool:
    """True for the dict an AVS Studio model file holds."""
    return isinstance(obj, dict) and obj.get("format") == FILE_FORMAT


def tensors_digest(parts: Mapping[str, Mapping[str, torch.Tensor]]) -> str:
    """``sha256:<hex>`` of named state dicts: every tensor's part, name, dtype, shape and bytes,
    in sorted order (so it does not depend on how the file was written)."""
    h = hashlib.sha256()
    for part in sorted(parts):
        for key in sorted(parts[part]):
            t = parts[part][key].detach().cpu().contiguous()
            h.update(f"{part}/{key}|{t.dtype}|{tuple(t.shape)}\n".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return f"sha256:{h.hexdigest()}"


def save_system(path: str | os.PathLike[str], system: AVSSystem, *, config: dict, card: dict | None = None) -> None:
    """Write an AVS Studio model file atomically (architecture config + both state dicts + digest)."""
    from avs_studio.core.fsutil import atomic_path

    parts = {
        "audio_encoder": {k: v.detach().cpu() for k, v in system.audio_encoder.state_dict().items()},
        "avs": {k: v.detach().cpu() for k, v in system.avs.state_dict().items()},
    }
    payload = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "arch": system.info.arch,
        "setting": system.setting.value,
        "name": system.info.name,
        "config": config,
        "card": card or {},
        **parts,
        "digest": tensors_digest(parts),
    }
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)


def load_system(
    model: str | os.PathLike[str] | None = None,
    *,
    vggish: str | os.PathLike[str] | None = None,
    setting: Setting | str | None = None,
    name: str | None = None,
    tpavi_mode: str = "fast",
) -> AVSSystem:
    """Load what the engine runs.

    - ``model=None``: the shipped demo model of ``setting`` (default S4);
    - an AVS Studio model file: its own architecture and audio encoder;
    - an official checkpoint: the TPAVI variant (detected, or ``name``) plus VGGish from
      ``vggish`` (required: the official models were trained on VGGish embeddings).
    Never unpickles arbitrary objects; errors are :class:`CheckpointError`.
    """
    if model is None:
        path = demo_model_path(setting or Setting.S4)
        if not path.is_file():
            raise CheckpointError(f"the demo model {path} is missing from this installation")
        model = path
    path = Path(model)
    from avs_studio.model.checkpoint import read_checkpoint_object

    raw = read_checkpoint_object(path)
    if is_studio_file(raw):
        return studio_system(path, raw, setting)
    from avs_studio.model import setting_of
    from avs_studio.model.checkpoint import load as load_official
    from avs_studio.model.checkpoint import load_vggish, state_dict_of

    sd = state_dict_of(raw, path)
    del raw
    avs = load_official(path, name=name, tpavi_mode=tpavi_mode, state_dict=sd)
    del sd
    st = setting_of(avs.variant)
    if name is None and st is Setting.S4 and setting is not None and Setting.parse(setting) is Setting.MS3:
        # S4 and MS3 checkpoints have the same keys and code: detection can only say s4_*
        avs.variant, avs.setting, st = f"ms3_{avs.backbone}", Setting.MS3, Setting.MS3
    if setting is not None and Setting.parse(setting) is not st:
        raise CheckpointError(
            f"{path.name} is {_an(st)} model, not {_an(Setting.parse(setting))} model"
        )
    if vggish is None:
        raise CheckpointError(
            f"{path.name} is an official {avs.variant} checkpoint; it needs the VGGish weights the "
            "official code uses (vggish-10086976.pth): pass --vggish PATH"
        )
    audio = load_vggish(vggish)
    info = SystemInfo(st, "official", avs.variant, file_hash(path), str(path), {"vggish": str(vggish)})
    return AVSSystem(audio, avs, info).eval()


def studio_system(path: Path, raw: dict, setting: Setting | str | None = None) -> AVSSystem:
    """The system an AVS Studio model file holds, from what ``read_checkpoint_object(path)``
    returned (so that a caller that has read the file does not read it again)."""
    if raw.get("version") != FILE_VERSION:
        raise CheckpointError(f"{path}: AVS Studio model format version {raw.get('version')} is not supported")
    parts = {}
    for part in ("audio_encoder", "avs"):
        sd = raw.get(part)
        if not isinstance(sd, dict) or not sd or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()
        ):
            raise CheckpointError(f"{path}: damaged AVS Studio model file ('{part}' is not a set of weights)")
        parts[part] = sd
    integrity = _check_digest(path, raw.get("digest"), parts)
    arch, config, card = raw.get("arch"), raw.get("config", {}), raw.get("card", {})
    if not isinstance(config, dict) or not isinstance(card, dict):
        raise CheckpointError(f"{path}: damaged AVS Studio model file (its config or card is not a mapping)")
    try:
        st = Setting.parse(raw.get("setting", "s4"))
    except ValueError as exc:
        raise CheckpointError(f"{path}: damaged AVS Studio model file ({exc})") from None
    if setting is not None and Setting.parse(setting) is not st:
        raise CheckpointError(
            f"{path.name} is {_an(st)} model, not {_an(Setting.parse(setting))} model"
        )
    builders = _studio_builders()
    if not isinstance(arch, str) or arch not in builders:
        raise CheckpointError(f"{path}: unknown architecture {arch!r}")
    try:
        system = builders[arch](st, dict(config))
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: its {arch} config cannot be built ({exc})"[:600]) from None
    for part in ("audio_encoder", "avs"):
        try:
            getattr(system, part).load_state_dict(parts[part], strict=True)
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: weights do not fit the {arch} architecture ({exc})"[:600]) from None
    system.info = SystemInfo(st, arch, str(raw.get("name", path.stem)), file_hash(path), str(path),
                             {"card": card, "config": config, "integrity": integrity})  # fmt: skip
    return system.eval()


def _check_digest(path: Path, digest: object, parts: dict[str, dict[str, torch.Tensor]]) -> str:
    """Compare the file's digest with its tensors: ``"verified"``, or ``"no digest"`` for a file
    written before AVS Studio wrote one (then every weight must at least be finite)."""
    if digest is None:
        for sd in parts.values():
            check_finite(sd, path)
        return "no digest"
    if not isinstance(digest, str) or digest != tensors_digest(parts):
        raise CheckpointError(
            f"{path}: damaged AVS Studio model file: its weights do not match the digest it carries "
            "(a changed or flipped byte); use an intact copy"
        )
    for sd in parts.values():
        check_finite(sd, path)
    return "verified"


def _studio_builders() -> dict:
    """Architectures an AVS Studio model file may name -> builder(setting, config) -> AVSSystem."""
    return {"official": _official_builder, ARCH: build_demo_system}


def _official_builder(setting: Setting, config: dict) -> AVSSystem:
    """A fine-tuned official variant saved by ``avs-studio train`` (VGGish included)."""
    from avs_studio.model import build, build_vggish

    variant = config.get("variant")
    if not variant:
        raise CheckpointError("an 'official' AVS Studio model file must name its variant")
    info = SystemInfo(setting, "official", variant)
    return AVSSystem(build_vggish(), build(variant, config.get("tpavi_mode", "fast")), info)


def _an(setting: Setting) -> str:
    """'an S4', 'an MS3', 'an AVSS' (each name is read letter by letter)."""
    return f"an {setting.value.upper()}"
