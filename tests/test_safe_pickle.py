"""User stories for reading official log-mel pickles safely (safe_pickle, load_logmel_pickle)."""

from __future__ import annotations

import builtins
import io
import json
import os
import pickle
import subprocess
import sys
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from avs_studio.core.audio import logmel as audio
from avs_studio.core.audio import pickles as safe_pickle
from avs_studio.core.errors import AudioError, FormatError

SHAPE = (5, 1, 96, 64)


def _official_tensor(seed: int = 0) -> torch.Tensor:
    # The official script pickles torch.tensor(examples, requires_grad=True)[:, None].float().
    rng = np.random.default_rng(seed)
    examples = rng.normal(-2.0, 1.5, size=(5, 96, 64))
    return torch.tensor(examples, requires_grad=True)[:, None, :, :].float()


def _dump(path: Path, obj: object, protocol: int) -> Path:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


def _write_marker(path: str) -> None:
    """What a malicious pickle would like to run."""
    Path(path).write_text("pwned")


class _Reduce:
    """Pickles as a call of ``fn(*args)``: the shape of every code-running pickle."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def _legacy_stream(main: object) -> bytes:
    """A legacy torch.save stream (what torch.storage._load_from_bytes parses) holding ``main``."""
    buf = io.BytesIO()
    header = {
        "protocol_version": 1001,
        "little_endian": True,
        "type_sizes": {"short": 2, "int": 4, "long": 4},
    }
    for obj in (0x1950A86A20F9469CFC6C, 1001, header, main, []):
        pickle.dump(obj, buf, protocol=2)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Official files load


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_official_torch_pickle_loads_in_every_protocol(tmp_path, protocol):
    t = _official_tensor(protocol)
    assert t.requires_grad
    path = _dump(tmp_path / "clip.pkl", t, protocol)
    arr = audio.load_logmel_pickle(path)
    assert arr.dtype == np.float32 and arr.shape == SHAPE
    np.testing.assert_array_equal(arr, t.detach().numpy())


def test_log_mels_of_a_wav_survive_the_official_pickle_round_trip(tmp_path, shared):
    # What preprocess_s4.py does: wav -> [5,1,96,64] -> pickle.dump; we read it back unchanged.
    wav = shared / "spec" / "reference" / "logmel" / "mono16k_3s.wav"
    if not wav.is_file():
        pytest.skip(f"AVSBench log-mel fixture {wav} not found")
    examples = audio.with_channel_axis(audio.log_mel_from_wav(wav, layout="s4"))
    tensor = torch.tensor(examples.astype(np.float64), requires_grad=True).float()
    path = _dump(tmp_path / "video.pkl", tensor, 4)
    np.testing.assert_array_equal(audio.load_logmel_pickle(path), examples)


def test_loading_never_imports_torch(tmp_path):
    path = _dump(tmp_path / "clip.pkl", _official_tensor(), 4)
    code = (
        "import sys; from avs_studio.core.audio.logmel import load_logmel_pickle; "
        f"a = load_logmel_pickle({str(path)!r}); "
        "assert 'torch' not in sys.modules, 'torch was imported'; print(a.shape)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(5, 1, 96, 64)"


def test_strided_and_offset_tensors_are_rebuilt_correctly(tmp_path):
    base = torch.arange(7 * 96 * 128, dtype=torch.float32).reshape(7, 1, 96, 128)
    view = base[1:6, :, :, ::2]  # storage offset and a stride of 2 on the last axis
    assert view.storage_offset() > 0 and not view.is_contiguous()
    path = _dump(tmp_path / "view.pkl", view, 2)
    np.testing.assert_array_equal(audio.load_logmel_pickle(path), view.numpy())
    swapped = torch.arange(24.0).reshape(4, 6).t()
    path = _dump(tmp_path / "t.pkl", swapped, 3)
    np.testing.assert_array_equal(safe_pickle.load_numeric_pickle(path), swapped.numpy())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_other_float_tensors_become_float32(tmp_path, dtype):
    t = _official_tensor().to(dtype)
    path = _dump(tmp_path / "x.pkl", t, 4)
    np.testing.assert_array_equal(audio.load_logmel_pickle(path), t.float().detach().numpy())


@pytest.mark.parametrize("zip_format", [True, False])
def test_torch_save_files_load_too(tmp_path, zip_format):
    t = _official_tensor(9)
    path = tmp_path / "saved.pt"
    torch.save(t, path, _use_new_zipfile_serialization=zip_format)
    np.testing.assert_array_equal(audio.load_logmel_pickle(path), t.detach().numpy())


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_array_pickles_load(tmp_path, protocol):
    rng = np.random.default_rng(protocol)
    arrays = [
        rng.normal(size=SHAPE).astype(np.float32),
        np.asfortranarray(rng.normal(size=SHAPE)),
        rng.normal(size=SHAPE).astype(">f8"),
    ]
    for i, a in enumerate(arrays):
        path = _dump(tmp_path / f"a{i}.pkl", a, protocol)
        got = audio.load_logmel_pickle(path)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, a.astype(np.float32))


# ---------------------------------------------------------------------------------------------
# Malicious or broken files are refused


MALICIOUS = {
    "os.system": lambda marker: _Reduce(os.system, (f"echo pwned > {marker}",)),
    "builtins.exec": lambda marker: _Reduce(
        builtins.exec, (f"open({str(marker)!r}, 'w').write('pwned')",)
    ),
    "builtins.eval": lambda marker: _Reduce(
        builtins.eval, (f"open({str(marker)!r}, 'w').write('pwned')",)
    ),
    "local function": lambda marker: _Reduce(_write_marker, (str(marker),)),
    "inside a tensor": lambda marker: _Reduce(
        torch._utils._rebuild_tensor_v2,
        (
            _Reduce(_write_marker, (str(marker),)),
            0,
            SHAPE,
            (6144, 6144, 64, 1),
            False,
            OrderedDict(),
        ),
    ),
    "inside torch storage bytes": lambda marker: _Reduce(
        torch.storage._load_from_bytes, (_legacy_stream(_Reduce(os.system, (f"touch {marker}",))),)
    ),
}


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("kind", sorted(MALICIOUS))
def test_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path, kind, protocol):
    marker = tmp_path / "marker.txt"
    path = _dump(tmp_path / "evil.pkl", MALICIOUS[kind](marker), protocol)
    with pytest.raises(AudioError, match="it would run code") as err:
        audio.load_logmel_pickle(path)
    assert "refusing to load" in str(err.value) and "evil.pkl" in str(err.value)
    assert not marker.exists()


def test_refusal_names_the_global(tmp_path):
    marker = tmp_path / "m"
    path = _dump(tmp_path / "evil.pkl", MALICIOUS["local function"](marker), 4)
    with pytest.raises(AudioError, match=r"_write_marker"):
        audio.load_logmel_pickle(path)
    # The generic reader raises FormatError unless told otherwise.
    with pytest.raises(FormatError, match="it would run code"):
        safe_pickle.load_numeric_pickle(path)


def test_tensor_reaching_past_its_storage_is_refused(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated, still what torch pickles
        small = torch.zeros(100).storage()
    bogus = _Reduce(
        torch._utils._rebuild_tensor_v2,
        (small, 0, SHAPE, (6144, 6144, 64, 1), False, OrderedDict()),
    )
    path = _dump(tmp_path / "oob.pkl", bogus, 4)
    with pytest.raises(AudioError, match="past the end of its storage"):
        audio.load_logmel_pickle(path)


def test_broken_or_wrong_files_are_refused_with_the_reason(tmp_path):
    good = pickle.dumps(_official_tensor(), protocol=4)
    cases = {
        "truncated.pkl": (good[: len(good) // 2], "not a readable pickle"),
        "empty.pkl": (b"", "empty"),
        "dict.pkl": (pickle.dumps({"a": 1}), "holds a dict"),
        "shape.pkl": (pickle.dumps(np.zeros((5, 96, 64), np.float32)), r"shape \[5, 96, 64\]"),
        "nan.pkl": (pickle.dumps(np.full(SHAPE, np.nan, np.float32)), "NaN"),
        "objects.pkl": (pickle.dumps(np.array([None, 1], dtype=object)), "not numeric"),
        "text.pkl": (b"hello, I am not a pickle\n", "not a readable pickle"),
    }
    for name, (blob, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(blob)
        with pytest.raises(AudioError, match=message) as err:
            audio.load_logmel_pickle(path)
        assert name in str(err.value), name
    with pytest.raises(AudioError, match="not found"):
        audio.load_logmel_pickle(tmp_path / "missing.pkl")
    # Other shapes are fine when the caller says so.
    path = _dump(tmp_path / "any.pkl", torch.ones(2, 3), 4)
    assert audio.load_logmel_pickle(path, expect_shape=None).shape == (2, 3)


def test_json_and_other_plain_data_are_not_arrays(tmp_path):
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1.0, 2.0, json.dumps({"x": 1})]))
    with pytest.raises(AudioError, match="holds a list"):
        audio.load_logmel_pickle(path)


def test_damaged_files_fail_cleanly(tmp_path):
    # Random byte damage in the opcode region of real files: each load either gives an array or a
    # clear AudioError, never another exception, a crash or a huge allocation.
    t = _official_tensor(4)
    buf = io.BytesIO()
    torch.save(t, buf, _use_new_zipfile_serialization=False)
    originals = [pickle.dumps(t, protocol=p) for p in (2, 4, 5)]
    originals += [pickle.dumps(t.detach().numpy(), protocol=p) for p in (2, 5)] + [buf.getvalue()]
    rng = np.random.default_rng(11)
    outcomes = {"array": 0, "refused": 0}
    for i in range(600):
        blob = bytearray(originals[i % len(originals)])
        for _ in range(int(rng.integers(1, 4))):
            blob[int(rng.integers(0, 600))] = int(rng.integers(0, 256))
        try:
            safe_pickle.loads_numeric_pickle(bytes(blob), error=AudioError)
            outcomes["array"] += 1
        except AudioError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100
