"""The built-in demo the app opens on first start: datasets and projects in the user cache.

The datasets are written by :mod:`avs_studio.core.demo` (a core job: no Qt here); this module
only knows where the app keeps them and builds what is missing.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from avs_studio.core.setting import Setting

DEMO_SETTINGS = (("s4", 12), ("ms3", 8), ("avss", 8))
DEMO_SEED = 2024


def demo_dir() -> Path:
    """Where the built-in demo datasets live ($AVS_STUDIO_DEMO_DIR or the user cache)."""
    env = os.environ.get("AVS_STUDIO_DEMO_DIR")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "avs-studio" / "demo-v1"


def ensure_demo_dataset(setting: str, progress, cancel) -> Path:
    """Build the demo dataset of ``setting`` if it is missing (a core job); return its root."""
    from avs_studio.core.demo.dataset import SUBFOLDER, write_demo_dataset

    st = Setting.parse(setting)
    n = dict(DEMO_SETTINGS)[st.value]
    dest = demo_dir() / SUBFOLDER[st]
    if not dest.exists():
        write_demo_dataset(demo_dir(), st, n, seed=DEMO_SEED,
                           progress=lambda d, t, m="": progress(d, t, f"{st.value}: {m}"), cancel=cancel)  # fmt: skip
    return dest


def ensure_demo(progress, cancel) -> list[Path]:
    """Build the demo datasets that are missing (a core job); return the dataset roots."""
    return [ensure_demo_dataset(s, progress, cancel) for s, _ in DEMO_SETTINGS]


def demo_project_path(setting: str) -> Path:
    """The demo project of ``setting`` (beside the demo datasets)."""
    return demo_dir() / f"demo-{Setting.parse(setting).value}.avsproj"


def ensure_demo_project(setting: str, progress, cancel) -> Path:
    """The demo project of ``setting``, created once from its demo dataset (clips to annotate,
    their ground truth left out so the annotator starts from nothing)."""
    from avs_studio.core.project.project import Project

    path = demo_project_path(setting)
    if path.exists():
        return path
    root = ensure_demo_dataset(setting, progress, cancel)
    partial = path.with_name(path.name + ".partial")
    for p in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        p.unlink(missing_ok=True)
    progress(0, 0, "creating the demo project…")
    with Project.create(partial, setting, name=f"{Setting.parse(setting).value.upper()} demo") as project:
        project.add_clips_from_dataset(root, with_masks=False, progress=progress, cancel=cancel)
    os.replace(partial, path)
    with contextlib.suppress(OSError):
        Path(f"{partial}.lock").unlink()
    return path
