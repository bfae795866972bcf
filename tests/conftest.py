"""Shared test set-up: headless Qt, the spec folder, and small synthetic demo datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("AVS_STUDIO_AUDIO", "null")  # tests never open a sound card

REPO = Path(__file__).resolve().parents[1]


def pytest_sessionstart(session):
    """In CI the full spec fixtures must be found: a wrong path must fail, not fall back."""
    from reference import external_root

    if os.environ.get("AVS_REQUIRE_SPEC"):
        root = external_root()
        if root is None or not (root / "spec").is_dir():
            raise pytest.UsageError(f"AVS_REQUIRE_SPEC is set but {root or REPO.parent / 'shared'}/spec "
                                    "does not exist")  # fmt: skip


@pytest.fixture(scope="session")
def shared() -> Path:
    """A folder laid out like ``shared/`` (``spec/``, ``tools/``): the shared folder beside the
    checkout ($AVS_SHARED), or the compact copy in tests/fixtures (see tests/reference.py)."""
    from reference import shared_root

    return shared_root()


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """Builds small demo datasets once per session: ``demo_root(setting, clips=6, seed=0)``."""
    from avs_studio.core.demo.dataset import write_demo_dataset

    base = tmp_path_factory.mktemp("demo")
    cache: dict = {}

    def make(setting: str = "s4", clips: int = 6, seed: int = 0, size=(160, 120)) -> Path:
        key = (setting, clips, seed, tuple(size))
        if key not in cache:
            out = base / f"{setting}-{clips}-{seed}-{size[0]}x{size[1]}"
            cache[key] = write_demo_dataset(out, setting, clips, seed, size=size)
        return cache[key]

    return make


@pytest.fixture(autouse=True)
def _app_windows(request):
    """GUI tests get the window registry the app fills at start-up (``make_app``), so that the
    annotator and the review window can open each other as they do in the app."""
    if {"qtbot", "qapp"} & set(request.fixturenames):
        from avs_studio.gui.app import register_windows

        register_windows()


def downgrade_to_schema_1(path) -> None:
    """Turn a project file written by this version into the file schema 1 wrote: the columns
    later schemas added are dropped (SQLite appends added columns, so what remains is the
    v1 layout) and the version marks say 1. Tests of migrations start from such a file."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        for table, column in (("clips", "object_order"), ("objects", "sounding"),
                              ("objects", "sounding_checked")):  # fmt: skip
            if column in [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]:
                conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("PRAGMA user_version = 1")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        conn.commit()
    finally:
        conn.close()
