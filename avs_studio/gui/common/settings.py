"""Preferences and window state, kept in QSettings.

``AVS_STUDIO_SETTINGS`` names an INI file to use instead of the user's settings; tests
point it at a temporary file so they never read or change the user's preferences.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

ORGANISATION = "AVS Studio"
APPLICATION = "AVS Studio"
RECENT_MAX = 8


def open_settings() -> QSettings:
    """The settings store: ``$AVS_STUDIO_SETTINGS`` (an INI file) or the user's own."""
    path = os.environ.get("AVS_STUDIO_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(ORGANISATION, APPLICATION)


class Preferences:
    """Typed access to the few preferences the annotator keeps between sessions."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.qs = settings or open_settings()

    # ------------------------------------------------------------------ helpers
    def _get(self, key: str, default, kind=str):
        value = self.qs.value(key, default)
        if value is None:
            return default
        try:
            if kind is bool:
                return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
            return kind(value)
        except (TypeError, ValueError):
            return default

    def _set(self, key: str, value) -> None:
        self.qs.setValue(key, value)

    # ------------------------------------------------------------------ values
    @property
    def annotator(self) -> str:
        """Whom edits are recorded for (defaults to the login name)."""
        from avs_studio.core.project.lock import current_user

        return self._get("annotator", "") or current_user()

    @annotator.setter
    def annotator(self, name: str) -> None:
        self._set("annotator", name.strip())

    @property
    def brush_radius(self) -> float:
        """Brush and eraser radius in image pixels."""
        return max(1.0, self._get("tools/brush_radius", 12.0, float))

    @brush_radius.setter
    def brush_radius(self, value: float) -> None:
        self._set("tools/brush_radius", float(value))

    @property
    def opacity(self) -> float:
        """Overlay fill opacity in [0, 1]."""
        return min(1.0, max(0.0, self._get("view/opacity", 0.5, float)))

    @opacity.setter
    def opacity(self, value: float) -> None:
        self._set("view/opacity", float(value))

    @property
    def loop_window(self) -> bool:
        """Whether "Play window" loops."""
        return self._get("play/loop_window", False, bool)

    @loop_window.setter
    def loop_window(self, value: bool) -> None:
        self._set("play/loop_window", bool(value))

    def checkpoint(self, setting: str) -> str:
        """The model file configured for a setting ('' = the shipped demo model)."""
        return self._get(f"model/checkpoint_{setting}", "")

    def set_checkpoint(self, setting: str, path: str) -> None:
        """Configure (or with '' forget) the model file of a setting."""
        self._set(f"model/checkpoint_{setting}", path)

    def vggish(self) -> str:
        """VGGish weights for official checkpoints ('' if not configured)."""
        return self._get("model/vggish", "")

    def set_vggish(self, path: str) -> None:
        """Configure the VGGish weights file."""
        self._set("model/vggish", path)

    @property
    def device(self) -> str:
        """Where proposals run: auto, cpu, cuda or mps."""
        return self._get("model/device", "auto")

    @device.setter
    def device(self, value: str) -> None:
        self._set("model/device", value)

    @property
    def assist_backend(self) -> str:
        """The click tool's segmenter: "builtin" (GrabCut) or "sam" (the ONNX pair below)."""
        value = self._get("assist/backend", "builtin")
        return value if value in ("builtin", "sam") else "builtin"

    @assist_backend.setter
    def assist_backend(self, value: str) -> None:
        self._set("assist/backend", value)

    @property
    def sam_encoder(self) -> str:
        """The SAM-family encoder file ('' = none chosen; nothing is ever downloaded)."""
        return self._get("assist/sam_encoder", "")

    @sam_encoder.setter
    def sam_encoder(self, path: str) -> None:
        self._set("assist/sam_encoder", str(path))

    @property
    def sam_decoder(self) -> str:
        """The SAM-family decoder file paired with :attr:`sam_encoder`."""
        return self._get("assist/sam_decoder", "")

    @sam_decoder.setter
    def sam_decoder(self, path: str) -> None:
        self._set("assist/sam_decoder", str(path))

    @property
    def refine_propagation(self) -> bool:
        """Whether propagated masks are snapped to each frame with the click tool's segmenter."""
        return self._get("assist/refine_propagation", True, bool)

    @refine_propagation.setter
    def refine_propagation(self, value: bool) -> None:
        self._set("assist/refine_propagation", bool(value))

    @property
    def last_folder(self) -> str:
        """The folder of the last file dialog."""
        return self._get("paths/last_folder", str(Path.home()))

    @last_folder.setter
    def last_folder(self, folder: str) -> None:
        self._set("paths/last_folder", str(folder))

    # ------------------------------------------------------------------ recent projects
    def recent(self) -> list[str]:
        """Recently opened projects, most recent first (existing files only)."""
        items = self.qs.value("recent/projects", []) or []
        if isinstance(items, str):
            items = [items]
        return [p for p in items if Path(p).is_file()][:RECENT_MAX]

    def add_recent(self, path: str | os.PathLike[str]) -> None:
        """Put a project at the top of the recent list."""
        p = str(Path(path).resolve())
        items = [x for x in self.recent() if x != p]
        self._set("recent/projects", [p, *items][:RECENT_MAX])

    def sync(self) -> None:
        """Write pending changes to disk."""
        self.qs.sync()
