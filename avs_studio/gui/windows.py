"""The window registry: how one window opens another without importing it.

The annotator opens the review window (File > Review Predictions) and the review window opens
the annotator (Fix Ground Truth). Each asks the registry for a window *kind*; the application
(:func:`avs_studio.gui.app.register_windows`) tells the registry which class makes each kind.
So neither window package imports the other, and the GUI has no import ring.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QMainWindow

_FACTORIES: dict[str, Callable[..., QMainWindow]] = {}


def register(kind: str, factory: Callable[..., QMainWindow]) -> None:
    """Make windows of ``kind`` ("annotator", "review") with ``factory(**options)``."""
    _FACTORIES[kind] = factory


def create(kind: str, **options: Any) -> QMainWindow:
    """A new window of ``kind``, made by the registered factory with ``options``."""
    try:
        factory = _FACTORIES[kind]
    except KeyError:
        raise LookupError(f"no {kind} window is registered (avs_studio.gui.app.register_windows "
                          "registers the app's windows)") from None
    return factory(**options)
