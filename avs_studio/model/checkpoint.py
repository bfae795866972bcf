"""Loading official AVSBench checkpoints (and VGGish weights) safely, spec §13.

* Files are read with ``torch.load(weights_only=True, map_location="cpu")``: only tensors
  and plain containers are unpickled; a pickle that names any other callable (a "hostile"
  checkpoint) is refused before anything runs.
* Accepted containers: a plain state dict (what the official ``train.py`` saves), or one
  wrapped as ``{"state_dict": ...}``, ``{"model": ...}`` or ``{"model_state_dict": ...}``;
  ``module.`` prefixes (``DataParallel``) are removed.
* The variant is read from the keys: ``resnet.*`` vs ``encoder_backbone.*`` gives the
  backbone; a bias-free ``align_channel`` with a 71-channel ``output_conv.4`` is AVSS, a
  biased one with 1 channel is S4/MS3.  **S4 and MS3 cannot be told apart**: they are the
  same code with the same keys, so detection answers ``s4_*``; pass ``name="ms3_*"`` to label
  the model MS3 (it computes exactly the same function).
* Loading is strict: every missing, unexpected or reshaped entry is an error.  The one
  tolerance is torch's own: a BatchNorm ``num_batches_tracked`` counter absent from the file
  is set to 0 (it plays no part in inference).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from avs_studio.core.errors import AVSError
from avs_studio.model.avs_model import VARIANTS, AVSModel, split_variant
from avs_studio.model.vggish import VGGish

WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
_PREFIX = "module."
_SHOW = 5  # how many offending keys an error message lists


class CheckpointError(AVSError):
    """A weights file that cannot be used: unreadable, unsafe, or for another model."""


# -- reading --------------------------------------------------------------------------------

def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a plain ``{key: tensor}`` dict (unwrapped, unprefixed).

    Raises CheckpointError for a missing, unreadable, corrupt or unsafe file, or for a file
    that does not hold a state dict.
    """
    path = Path(path)
    return state_dict_of(read_checkpoint_object(path), path)


def read_checkpoint_object(path: str | os.PathLike) -> object:
    """``torch.load(weights_only=True)`` of a file, every failure a clear CheckpointError.

    Only tensors, plain containers, strings and numbers can come back: a pickle that
    names any other global is refused before it can run.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    other = what_file_is(head)
    if other is not None:  # say what it is, not what the unpickler tripped on
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint: it is {other}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise _unpickling_error(path, exc) from None
    except (RuntimeError, EOFError, KeyError, ValueError, TypeError, AttributeError,
            IndexError, UnicodeDecodeError, zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint (truncated, corrupt or not a "
            f"checkpoint at all): {_first_line(exc)}") from None


_MAGIC = (
    (b"RIFF", "a RIFF file (a WAV or AVI?)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"SQLite format 3\x00", "an SQLite database (an AVS Studio project?)"),
    (b"\x93NUMPY", "a NumPy array file (.npy)"),
    (b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
)


def what_file_is(head: bytes) -> str | None:
    """What the first bytes of a file say it is, when it is clearly not something ``torch.save``
    writes (a zip archive, or a pickle of protocol 2 or later); None for those, or when unsure."""
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):
        return None  # torch.save's zip format, or its legacy pickle format
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if head[4:8] == b"ftyp":
        return "an MP4/QuickTime video"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    if text.lstrip().startswith(("{", "[")):
        return "a JSON or other text file"
    if first.count(",") >= 1 and len(first) < 1000:
        return f"a CSV text file (first line {first[:60]!r})"
    return f"a text file (first line {first[:60]!r})"


def _unpickling_error(path: Path, exc: Exception) -> CheckpointError:
    text = str(exc)
    at = text.lower().find("unsupported global")
    if at >= 0:
        words = text[at + len("unsupported global"):].split()
        what = words[0] if words else "an unknown callable"
        return CheckpointError(
            f"refusing to load {path}: it contains Python objects other than tensors "
            f"(it refers to {what}), and unpickling them could run arbitrary code. Only "
            f"plain weight files (state dicts of tensors) are accepted.")
    return CheckpointError(
        f"{path} is not a readable PyTorch checkpoint (corrupt, truncated, or not a "
        f"checkpoint at all); the safe loader reports: {_weights_only_reason(text)}")


def _weights_only_reason(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("Weights only load failed", "Please file",
                                         "Check the documentation", "WeightsUnpickler")) \
                and "weights_only" not in line:
            return line
    return _first_line(text)


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def state_dict_of(obj: object, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict inside what :func:`read_checkpoint_object` read from ``path``
    (unwrapped, unprefixed); CheckpointError when it holds none."""
    path = Path(path)
    for _ in range(3):  # e.g. {"model": {"state_dict": {...}}}
        if not isinstance(obj, Mapping):
            break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict of "
                              f"tensors")
    if not obj:
        raise CheckpointError(f"{path} holds an empty state dict")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f"{path} is not a state dict of tensors: entries such as "
            f"{', '.join(map(repr, bad[:_SHOW]))} are not tensors (known wrappers: "
            f"{', '.join(WRAPPER_KEYS)})")
    return _strip_prefix(dict(obj))


def _strip_prefix(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    while sd and all(k.startswith(_PREFIX) for k in sd):
        sd = {k[len(_PREFIX):]: v for k, v in sd.items()}
    return sd


def check_finite(sd: Mapping[str, torch.Tensor], source: object) -> None:
    """CheckpointError when a floating-point weight is NaN or infinite: an official checkpoint
    carries no digest, but a flipped exponent bit shows up as a non-finite weight."""
    for key, t in sd.items():
        if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{source}: weight {key} holds NaN or infinite values; the file is "
                                  "damaged (or the training diverged)")  # fmt: skip


# -- variant detection ----------------------------------------------------------------------

def _looks_like_vggish(sd: Mapping[str, torch.Tensor]) -> bool:
    return "features.0.weight" in sd and "embeddings.0.weight" in sd


def detect_variant(sd: Mapping[str, torch.Tensor]) -> str:
    """The variant name of an AVS state dict (``s4_*`` for S4/MS3, see the module doc)."""
    has_resnet = any(k.startswith("resnet.") for k in sd)
    has_pvt = any(k.startswith("encoder_backbone.") for k in sd)
    if has_resnet and has_pvt:
        raise CheckpointError("the checkpoint holds both 'resnet.*' and "
                              "'encoder_backbone.*' weights; it is not an AVSBench model")
    if not (has_resnet or has_pvt):
        if _looks_like_vggish(sd):
            raise CheckpointError("this is a VGGish audio-encoder weights file, not an AVS "
                                  "model checkpoint; load it as the audio encoder")
        raise CheckpointError(
            "not an AVSBench TPAVI model checkpoint: no 'resnet.*' or 'encoder_backbone.*' "
            f"keys (first keys: {', '.join(list(sd)[:_SHOW])})")
    backbone = "resnet50" if has_resnet else "pvt"
    head = sd.get("output_conv.4.weight")
    if head is None or head.dim() != 4:
        raise CheckpointError("not a complete AVSBench model checkpoint: the output head "
                              "'output_conv.4.weight' is missing")
    audio_bias = "tpavi_b1.align_channel.bias" in sd
    classes = int(head.shape[0])
    if not audio_bias and classes == 71:
        return f"avss_{backbone}"
    if audio_bias and classes == 1:
        return f"s4_{backbone}"
    raise CheckpointError(
        f"inconsistent AVSBench checkpoint: the TPAVI audio projection "
        f"{'has' if audio_bias else 'has no'} bias (S4/MS3 have one, AVSS has none) but "
        f"the output head has {classes} channel(s) (S4/MS3: 1, AVSS: 71)")


def _family(name: str) -> str:
    setting, _ = split_variant(name)
    return "AVSS" if setting.value == "avss" else "S4/MS3"


def _describe(name: str) -> str:
    _, backbone = split_variant(name)
    return f"{_family(name)} {'ResNet-50' if backbone == 'resnet50' else 'PVT-v2-b5'}"


# -- loading --------------------------------------------------------------------------------

def load_into(model: nn.Module, sd: Mapping[str, torch.Tensor], *, source: str = "checkpoint",
              assign: bool = False) -> nn.Module:
    """Strictly load ``sd`` into ``model``; clear CheckpointError on any key/shape mismatch.

    With ``assign=True`` the tensors become the model's parameters (for a model built on
    the meta device); floating tensors are converted to the model's dtype first.
    """
    target = model.state_dict(keep_vars=True)
    sd = dict(sd)
    for key in target:
        if key not in sd and key.endswith("num_batches_tracked"):
            sd[key] = torch.zeros((), dtype=torch.long)
    missing = [k for k in target if k not in sd]
    unexpected = [k for k in sd if k not in target]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s), e.g. {', '.join(missing[:_SHOW])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s), e.g. "
                        f"{', '.join(unexpected[:_SHOW])}")
    reshaped = [f"{k} {list(sd[k].shape)} (expected {list(v.shape)})"
                for k, v in target.items() if k in sd and sd[k].shape != v.shape]
    if reshaped:
        problems.append(f"{len(reshaped)} tensor(s) of the wrong shape, e.g. "
                        f"{'; '.join(reshaped[:_SHOW])}")
    if problems:
        raise CheckpointError(f"{source} does not fit the {getattr(model, 'variant', '')} "
                              f"model: " + "; ".join(problems))
    converted = {}
    for key, value in sd.items():
        ref = target[key]
        if value.dtype != ref.dtype and \
                value.is_floating_point() != ref.is_floating_point():
            raise CheckpointError(f"{source}: {key} has dtype {value.dtype}, expected "
                                  f"{ref.dtype}")
        converted[key] = value.to(ref.dtype) if value.dtype != ref.dtype else value
    try:
        model.load_state_dict(converted, strict=True, assign=assign)
    except RuntimeError as exc:  # the checks above should already catch what it would
        raise CheckpointError(f"{source} does not fit the model: {_first_line(exc)}") from None
    if assign and any(t.is_meta for t in model.state_dict().values()):
        raise CheckpointError(f"{source} left some model tensors without values")
    return model


def load(path: str | os.PathLike, name: str | None = None,
         tpavi_mode: str = "fast", *, state_dict: Mapping[str, torch.Tensor] | None = None
         ) -> AVSModel:
    """Load an AVSBench TPAVI checkpoint into the matching model, in eval mode.

    ``name`` (one of VARIANTS) is detected from the keys when omitted; S4 and MS3 share
    their keys, so detection gives ``s4_*`` (the same function as ``ms3_*``).  A given name
    must agree with the file's backbone and family (S4/MS3 vs AVSS).  ``state_dict``: the
    file's state dict when the caller has read it already (the file is not read again).
    """
    if name is not None and name not in VARIANTS:
        raise CheckpointError(f"unknown model variant {name!r}: expected one of "
                              f"{', '.join(VARIANTS)}")
    sd = read_state_dict(path) if state_dict is None else state_dict
    check_finite(sd, path)
    detected = detect_variant(sd)
    if name is None:
        name = detected
    elif split_variant(name)[1] != split_variant(detected)[1] or \
            _family(name) != _family(detected):
        raise CheckpointError(f"{path} holds an {_describe(detected)} model, not the "
                              f"requested {name} ({_describe(name)})")
    with torch.device("meta"):
        model = AVSModel(name, tpavi_mode=tpavi_mode)
    load_into(model, sd, source=str(path), assign=True)
    return model.eval()


def load_vggish(path: str | os.PathLike) -> VGGish:
    """Load VGGish weights (``vggish-10086976.pth`` layout: ``features.*``,
    ``embeddings.*``) strictly into the audio encoder, in eval mode."""
    sd = read_state_dict(path)
    check_finite(sd, path)
    if not _looks_like_vggish(sd):
        if any(k.startswith(("resnet.", "encoder_backbone.")) for k in sd):
            raise CheckpointError(f"{path} is an AVS model checkpoint, not VGGish weights")
        raise CheckpointError(f"{path} does not hold VGGish weights (no 'features.0.weight' "
                              f"/ 'embeddings.0.weight'; first keys: "
                              f"{', '.join(list(sd)[:_SHOW])})")
    with torch.device("meta"):
        model = VGGish()
    load_into(model, sd, source=str(path), assign=True)
    return model.eval()
