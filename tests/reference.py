"""Where the tests find the reference fixtures of the official AVSBench code.

``$AVS_SHARED`` (or ``../shared`` beside the checkout) when it is there: the full set. Else the
compact copy bundled in ``tests/fixtures/reference/`` (log-mel, metrics, VGGish, the S4
ResNet-50 and MS3 PVT model fixtures, the key listings and the two spec tools; see the
README there), extracted once into a cache folder and checked against its SHA-256 sums. So a
fresh clone checks fidelity too; only the fixtures that are not bundled (the AVSS models) need
the shared folder, and tests over them are collected only when it is there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUNDLE = Path(__file__).resolve().parent / "fixtures" / "reference"


def external_root() -> Path | None:
    """``$AVS_SHARED``, or ``../shared`` when it holds the spec; None otherwise."""
    env = os.environ.get("AVS_SHARED")
    if env:
        return Path(env)
    beside = REPO.parent / "shared"
    return beside if (beside / "spec").is_dir() else None


@cache
def shared_root() -> Path:
    """A folder laid out like ``shared/``: ``spec/keys``, ``spec/reference/<name>``, ``tools``."""
    return external_root() or bundled_root()


def _sums() -> dict[str, str]:
    out = {}
    for line in (BUNDLE / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        out[name] = digest
    return out


@cache
def bundled_root() -> Path:
    """The bundled fixtures, extracted (once per content) under the temporary folder."""
    sums = _sums()
    key = hashlib.sha256("".join(f"{n}{d}" for n, d in sorted(sums.items())).encode()).hexdigest()[:16]
    root = Path(tempfile.gettempdir()) / f"avs-studio-fixtures-{key}"
    if (root / "complete").is_file():
        return root
    for name, digest in sums.items():
        got = hashlib.sha256((BUNDLE / name).read_bytes()).hexdigest()
        if got != digest:
            raise RuntimeError(f"tests/fixtures/reference/{name} is damaged (SHA-256 {got}, expected {digest})")
    work = Path(tempfile.mkdtemp(prefix="avs-studio-fixtures-", dir=root.parent))
    try:
        (work / "spec" / "reference").mkdir(parents=True)
        for name in sorted(sums):
            if not name.endswith(".tar.xz"):
                continue
            dest = work if name == "keys.tar.xz" else work / "spec" / "reference"
            with tarfile.open(BUNDLE / name) as tar:
                tar.extractall(dest, filter="data")
        shutil.copytree(BUNDLE / "tools", work / "tools")
        (work / "complete").write_text("ok")
        try:
            os.replace(work, root)
        except OSError:  # another test process got there first
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return root


def has_reference(name: str) -> bool:
    """True when the fixture folder ``spec/reference/<name>`` is available."""
    return (shared_root() / "spec" / "reference" / name / ("meta.json" if name not in ("logmel", "metrics")
                                                            else "cases.json")).is_file()
