"""Read numeric arrays from pickles without running code from the file and without torch.

A pickle is a small program: unpickling it with :mod:`pickle` may import any module and call
any function named in the file. Dataset files (the official S4/MS3 ``audio_log_mel/*.pkl``) come
from the internet, so they are read here with a restricted unpickler whose ``find_class`` never
imports anything: it hands out our own reconstructors for the handful of globals that pickled
numpy arrays and torch tensors need, and refuses every other name.

Understood layouts (all rebuilt as :class:`numpy.ndarray`):

* a plain pickle of a numpy array (any protocol, numpy 1.x and 2.x module names);
* a plain pickle of a torch tensor (what ``pickle.dump(tensor)`` writes): the tensor is rebuilt
  by ``torch._utils._rebuild_tensor_v2`` from a storage that ``torch.storage._load_from_bytes``
  loads from a nested ``torch.save`` stream (the legacy non-zip format; the zip format is
  accepted too), which is parsed with the same restrictions;
* a ``torch.save`` file of a tensor (zip format, or the legacy stream).
"""

from __future__ import annotations

import io
import math
import os
import pickle
import pickletools
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from avs_studio.core.errors import AVSError, FormatError
from avs_studio.core.fsutil import read_user_bytes

__all__ = ["load_numeric_pickle", "loads_numeric_pickle"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # first object of a legacy torch.save stream
_LEGACY_PROTOCOL = 1001
_MAX_NESTING = 3  # torch storages nest one level; deeper is not a real file
_MAX_ELEMENTS = 1 << 26  # 256 MiB of float32: an official log-mel file has 30,720
_MAX_FILE_BYTES = 1 << 30

_TORCH_STORAGE_DTYPES = {
    "FloatStorage": "f4",
    "DoubleStorage": "f8",
    "HalfStorage": "f2",
    "BFloat16Storage": "bf16",  # numpy has no bfloat16: kept as raw uint16, widened at the end
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "b1",
}

_NUMERIC_KINDS = frozenset("biufc")


class _Refused(Exception):
    """The pickle names a global outside the allow-list (it would run code)."""


class _Corrupt(Exception):
    """The pickle is well-formed Python but not a numeric array we can rebuild."""


class _Unreadable(Exception):
    """The bytes are not a complete pickle (truncated, damaged, or something else)."""


# --------------------------------------------------------------------------------------------
# Stand-ins for the objects the pickle builds. Each defines __setstate__ so that pickle's BUILD
# opcode can only ever reach code written here.


class _StorageType:
    __slots__ = ("name", "code")

    def __init__(self, name: str, code: str) -> None:
        self.name = name
        self.code = code

    def __setstate__(self, state: object) -> None:
        raise _Corrupt("unexpected state for a torch storage type")


class _Storage:
    __slots__ = ("code", "numel", "data", "big_endian")

    def __init__(self, code: str, numel: int, big_endian: bool) -> None:
        self.code = code
        self.numel = numel
        self.big_endian = big_endian
        self.data: np.ndarray | None = None

    @property
    def raw_dtype(self) -> np.dtype:
        dt = np.dtype("u2" if self.code == "bf16" else self.code)
        return dt.newbyteorder(">" if self.big_endian else "<")

    def fill(self, raw: bytes) -> None:
        dt = self.raw_dtype
        if len(raw) != self.numel * dt.itemsize:
            raise _Corrupt(f"storage holds {len(raw)} bytes, expected {self.numel * dt.itemsize}")
        self.data = np.frombuffer(raw, dtype=dt)

    def __setstate__(self, state: object) -> None:
        raise _Corrupt("unexpected state for a torch storage")


class _Tensor:
    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage = storage
        self.offset = offset
        self.size = size
        self.stride = stride

    def to_numpy(self) -> np.ndarray:
        st = self.storage
        if st.data is None:
            raise _Corrupt("a tensor refers to a storage whose data is missing")
        size, stride, offset = self.size, self.stride, self.offset
        numel = math.prod(size)
        if numel > _MAX_ELEMENTS:
            raise _Corrupt(f"tensor of {numel} elements is too large")
        src = st.data
        if numel == 0:
            out = np.empty(size, dtype=src.dtype)
        else:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= src.size:
                raise _Corrupt("tensor view reaches past the end of its storage")
            # Bounds checked above (offset, sizes and strides are non-negative), so the strided
            # view stays inside the buffer.
            view = np.lib.stride_tricks.as_strided(
                src[offset:],
                shape=size,
                strides=tuple(s * src.itemsize for s in stride),
                writeable=False,
            )
            out = np.array(view)
        if st.code == "bf16":
            out = (out.astype(np.uint32) << 16).view(np.float32)
        return out.astype(out.dtype.newbyteorder("="), copy=False)

    def __setstate__(self, state: object) -> None:
        raise _Corrupt("unexpected state for a tensor")


class _NdarrayType:
    """Stands for ``numpy.ndarray`` as the first argument of ``_reconstruct``."""

    __slots__ = ()

    def __setstate__(self, state: object) -> None:
        raise _Corrupt("unexpected state for numpy.ndarray")


_NDARRAY = _NdarrayType()


class _DType:
    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype

    def __setstate__(self, state: object) -> None:
        # numpy's dtype state: (version, byteorder, subarray, names, fields, elsize, align, flags)
        if not isinstance(state, tuple) or len(state) < 2:
            raise _Corrupt("malformed numpy dtype state")
        order = state[1]
        if len(state) >= 5 and (state[2] is not None or state[3] is not None):
            raise _Corrupt("structured numpy dtypes are not numeric arrays")
        if order in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(order)
        elif order not in ("|", "="):
            raise _Corrupt(f"malformed numpy byte order {order!r}")


class _Array:
    __slots__ = ("array",)

    def __init__(self, array: np.ndarray | None = None) -> None:
        self.array = array

    def __setstate__(self, state: object) -> None:
        # ndarray state: ([version,] shape, dtype, is_fortran, raw bytes)
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _Corrupt("malformed numpy array state")
        shape, dtype, fortran, raw = state[-4:]
        self.array = _array_from_bytes(raw, dtype, shape, "F" if fortran else "C")


def _as_int_tuple(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        raise _Corrupt(f"malformed {what}: {value!r}")
    return tuple(value)


def _array_from_bytes(raw: object, dtype: object, shape: object, order: object) -> np.ndarray:
    if not isinstance(dtype, _DType):
        raise _Corrupt("array without a numeric dtype")
    if isinstance(raw, str):  # Python 2 pickles, decoded as latin-1
        raw = raw.encode("latin-1")
    if not isinstance(raw, (bytes, bytearray)):
        raise _Corrupt("array data is not raw bytes (object arrays are refused)")
    shp = _as_int_tuple(shape, "array shape")
    numel = math.prod(shp)
    if numel > _MAX_ELEMENTS or len(raw) != numel * dtype.dtype.itemsize:
        raise _Corrupt("array data does not match its shape and dtype")
    if order not in ("C", "F"):
        raise _Corrupt(f"malformed array order {order!r}")
    arr = np.frombuffer(bytes(raw), dtype=dtype.dtype).reshape(shp, order=order)
    return arr.astype(arr.dtype.newbyteorder("="))


# --------------------------------------------------------------------------------------------
# Safe reconstructors handed out by find_class in place of the real globals.


def _np_dtype(obj: object, align: object = False, copy: object = False) -> _DType:
    if not isinstance(obj, str) or len(obj) > 8:
        raise _Corrupt(f"unsupported numpy dtype {obj!r}")
    try:
        dt = np.dtype(obj)
    except TypeError:
        raise _Corrupt(f"unsupported numpy dtype {obj!r}") from None
    if dt.kind not in _NUMERIC_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise _Corrupt(f"numpy dtype {obj!r} is not numeric")
    return _DType(dt)


def _np_reconstruct(subtype: object, shape: object, dtype_code: object) -> _Array:
    if subtype is not _NDARRAY:
        raise _Corrupt("only plain numpy arrays are supported")
    return _Array()


def _np_frombuffer(buf: object, dtype: object, shape: object, order: object) -> _Array:
    return _Array(_array_from_bytes(buf, dtype, shape, order))


def _latin1_encode(text: object, encoding: object = "utf-8") -> bytes:
    # Protocols 0-2 store bytes as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Corrupt("unexpected use of _codecs.encode")
    return text.encode("latin-1")


def _ordered_dict(*args: object) -> OrderedDict:
    # Only the tensor's (empty) backward-hook table is built this way.
    if args:
        raise _Corrupt("unexpected OrderedDict arguments")
    return OrderedDict()


def _rebuild_tensor_v2(
    storage: object,
    storage_offset: object,
    size: object,
    stride: object,
    requires_grad: object = False,
    backward_hooks: object = None,
    metadata: object = None,
) -> _Tensor:
    if not isinstance(storage, _Storage):
        raise _Corrupt("tensor without a storage")
    (offset,) = _as_int_tuple((storage_offset,), "storage offset")
    shp = _as_int_tuple(size, "tensor size")
    strd = _as_int_tuple(stride, "tensor stride")
    if len(shp) != len(strd):
        raise _Corrupt("tensor size and stride differ in length")
    return _Tensor(storage, offset, shp, strd)


class _Loader:
    """One parse of one file: knows the nesting depth and builds the allow-list for it."""

    def __init__(self, depth: int) -> None:
        if depth > _MAX_NESTING:
            raise _Corrupt("torch storages nested too deeply")
        self.depth = depth
        storage_types = {
            ("torch", name): _StorageType(name, code)
            for name, code in _TORCH_STORAGE_DTYPES.items()
        }
        self.allowed: dict[tuple[str, str], object] = {
            ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
            ("numpy.core.numeric", "_frombuffer"): _np_frombuffer,
            ("numpy._core.numeric", "_frombuffer"): _np_frombuffer,
            ("numpy", "ndarray"): _NDARRAY,
            ("numpy", "dtype"): _np_dtype,
            ("_codecs", "encode"): _latin1_encode,
            ("collections", "OrderedDict"): _ordered_dict,
            ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
            ("torch.storage", "_load_from_bytes"): self._load_from_bytes,
            **storage_types,
        }

    def load_pickle(
        self, stream: io.BytesIO, persistent: Callable[[object], Any] | None = None
    ) -> object:
        """Unpickle one object from ``stream`` (which may hold several pickles in a row)."""
        # Walk the opcodes first without executing them: a length field larger than the data
        # (e.g. a forged BYTEARRAY8) is refused here instead of making pickle allocate it.
        start = stream.tell()
        try:
            for _ in pickletools.genops(stream):
                pass
        except ValueError as e:
            raise _Unreadable(str(e)) from None
        stream.seek(start)
        return self._unpickler(stream, persistent).load()

    def _unpickler(
        self, stream: io.BytesIO, persistent: Callable[[object], Any] | None
    ) -> pickle.Unpickler:
        allowed = self.allowed

        class _Restricted(pickle.Unpickler):
            def find_class(self, module: str, name: str) -> Any:
                found = allowed.get((module, name))
                if found is None:
                    raise _Refused(f"{module}.{name}")
                return found

            def persistent_load(self, pid: object) -> Any:
                if persistent is None:
                    raise _Corrupt("unexpected persistent reference in a plain pickle")
                return persistent(pid)

        return _Restricted(stream, encoding="latin-1")

    def _load_from_bytes(self, data: object) -> _Storage:
        if not isinstance(data, (bytes, bytearray)):
            raise _Corrupt("torch storage bytes expected")
        obj = _Loader(self.depth + 1).load_any(bytes(data))
        if not isinstance(obj, _Storage):
            raise _Corrupt("nested torch stream does not hold a storage")
        return obj

    def load_any(self, data: bytes) -> object:
        if data[:4] == b"PK\x03\x04":
            return self._load_zip(data)
        stream = io.BytesIO(data)
        first = self.load_pickle(stream)
        if isinstance(first, int) and not isinstance(first, bool) and first == _LEGACY_MAGIC:
            return self._load_legacy_rest(stream)
        return first

    def _load_legacy_rest(self, stream: io.BytesIO) -> object:
        if self.load_pickle(stream) != _LEGACY_PROTOCOL:
            raise _Corrupt("unknown legacy torch.save protocol version")
        sys_info = self.load_pickle(stream)
        if not isinstance(sys_info, dict):
            raise _Corrupt("malformed legacy torch.save header")
        big_endian = not sys_info.get("little_endian", True)
        storages: dict[str, _Storage] = {}

        def persistent(pid: object) -> _Storage:
            if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
                raise _Corrupt(f"unsupported persistent reference {pid!r}")
            _, stype, key, _location, numel, view = pid
            if not isinstance(stype, _StorageType) or not isinstance(key, str):
                raise _Corrupt("malformed storage reference")
            if view is not None:
                raise _Corrupt("storage views (torch < 0.4 files) are not supported")
            (n,) = _as_int_tuple((numel,), "storage size")
            st = storages.get(key)
            if st is None:
                st = storages[key] = _Storage(stype.code, n, big_endian)
            return st

        main = self.load_pickle(stream, persistent)
        keys = self.load_pickle(stream)
        if not isinstance(keys, list):
            raise _Corrupt("malformed legacy storage list")
        for key in keys:
            st = storages.get(key) if isinstance(key, str) else None
            if st is None:
                raise _Corrupt(f"legacy stream lists unknown storage {key!r}")
            head = stream.read(8)
            if len(head) != 8:
                raise _Corrupt("legacy stream ends early")
            n = int.from_bytes(head, "big" if big_endian else "little", signed=True)
            if n != st.numel:
                raise _Corrupt("legacy storage size does not match its reference")
            st.fill(stream.read(n * st.raw_dtype.itemsize))
        return main

    def _load_zip(self, data: bytes) -> object:
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as e:
            raise _Corrupt(f"not a torch.save archive: {e}") from None
        with zf:
            pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pkls) != 1:
                raise _Corrupt("torch.save archive without a single data.pkl")
            prefix = pkls[0][: -len("data.pkl")]
            big_endian = False
            if prefix + "byteorder" in zf.namelist():
                big_endian = zf.read(prefix + "byteorder").strip() == b"big"
            storages: dict[str, _Storage] = {}

            def persistent(pid: object) -> _Storage:
                if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
                    raise _Corrupt(f"unsupported persistent reference {pid!r}")
                _, stype, key, _location, numel = pid
                if not isinstance(stype, _StorageType) or not isinstance(key, str):
                    raise _Corrupt("malformed storage reference")
                if key in storages:
                    return storages[key]
                (n,) = _as_int_tuple((numel,), "storage size")
                st = _Storage(stype.code, n, big_endian)
                name = f"{prefix}data/{key}"
                try:
                    info = zf.getinfo(name)
                except KeyError:
                    raise _Corrupt(f"archive lacks storage {key!r}") from None
                # torch stores entries uncompressed: a larger one is a decompression bomb.
                if info.file_size != n * st.raw_dtype.itemsize or info.file_size > len(data):
                    raise _Corrupt(f"storage {key!r} has the wrong size")
                st.fill(zf.read(name))
                storages[key] = st
                return st

            with zf.open(pkls[0]) as fh:
                return self.load_pickle(io.BytesIO(fh.read(len(data))), persistent)


def _finish(obj: object) -> np.ndarray:
    if isinstance(obj, _Tensor):
        return obj.to_numpy()
    if isinstance(obj, _Array) and obj.array is not None:
        return obj.array
    raise _Corrupt(f"it holds a {type(obj).__name__}, not an array or tensor")


def loads_numeric_pickle(
    data: bytes, *, source: str = "pickle", error: type[AVSError] = FormatError
) -> np.ndarray:
    """Rebuild the numpy array or torch tensor pickled in ``data`` as a numpy array.

    Never imports torch and never calls anything named in the data except the allow-listed
    reconstructors. A pickle naming any other global raises ``error`` ("refusing to load
    <source>: it would run code: module.name"); anything unreadable raises ``error`` too.
    """
    try:
        return _finish(_Loader(0).load_any(bytes(data)))
    except _Refused as e:
        raise error(f"refusing to load {source}: it would run code: {e}") from None
    except _Corrupt as e:
        raise error(f"{source} is not a numeric array pickle: {e}") from None
    except _Unreadable as e:
        raise error(f"{source} is not a readable pickle (damaged or truncated: {e})") from None
    except RecursionError:
        raise error(f"{source} is not a numeric array pickle: it is too deeply nested") from None
    except MemoryError:
        raise error(f"{source} is not a numeric array pickle: it is too large") from None
    except Exception as e:  # truncated or garbled pickles raise all kinds of errors
        raise error(f"{source} is not a readable pickle ({type(e).__name__}: {e})") from None


def load_numeric_pickle(
    path: str | os.PathLike[str], *, error: type[AVSError] = FormatError
) -> np.ndarray:
    """Read a numeric array from the pickle (or ``torch.save`` file) at ``path`` safely.

    See :func:`loads_numeric_pickle`; errors name the file.
    """
    p = Path(path)
    # A regular file only (a FIFO would block), at most _MAX_FILE_BYTES.
    data = read_user_bytes(p, error, "pickle file", _MAX_FILE_BYTES)
    if not data:
        raise error(f"{p} is empty (0 bytes)")
    return loads_numeric_pickle(data, source=str(p), error=error)
