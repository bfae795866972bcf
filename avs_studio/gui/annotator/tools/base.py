"""What every tool shares, and what a tool needs from its host."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QCursor, QKeyEvent, QMouseEvent

if TYPE_CHECKING:
    import numpy as np

    from avs_studio.core.project.edits import Command
    from avs_studio.core.project.painting import StrokeBuilder
    from avs_studio.gui.annotator.canvas import FrameCanvas


class ToolHost(Protocol):
    """The window a tool works for (the annotator)."""

    canvas: FrameCanvas

    @property
    def brush_radius(self) -> float:
        """Brush and eraser radius in image pixels."""

    def begin_stroke(self, x: float, y: float, *, erase: bool) -> tuple[StrokeBuilder, tuple[int, int, int]] | None:
        """A stroke builder on the object to paint (the selected one, or a new one) and its
        colour; None (after telling the user why) when nothing can be painted."""

    def commit(self, command: Command | None, *, select: int | None = None) -> bool:
        """Apply ``command`` to the current clip (None: nothing changed); True on success."""

    def commit_polygon(self, points: list[tuple[float, float]], *, erase: bool = False) -> bool:
        """Fill (or erase) a polygon (image coordinates) into the selected or a new object."""

    def commit_fill(self, x: float, y: float) -> bool:
        """Flood-fill the region around image point ``(x, y)`` into the selected or a new object."""

    def select_object(self, instance_id: int | None) -> None:
        """Select an object of the current frame (None: no selection)."""

    def outline_target(self) -> tuple[int, np.ndarray] | None:
        """``(instance id, mask)`` of the object whose outline may be edited (the selected
        one, when it is in the frame and not locked); None (after saying why) otherwise."""

    def commit_outline(self, instance_id: int, mask: np.ndarray) -> bool:
        """Replace an object's mask by an edited outline's (one undo step); True on success."""

    def assist_begin(self) -> bool:
        """The click tool starts or continues segmenting the selected (or a new) object;
        False (after telling the user why) when nothing can be edited."""

    def assist_update(self, prompt) -> None:
        """Segment with ``prompt`` (in the background) and preview the mask."""

    def assist_commit(self) -> bool:
        """Commit the previewed mask as one command."""

    def assist_cancel(self) -> None:
        """Drop the click tool's preview."""


def image_point(scene: QPointF) -> tuple[float, float]:
    """Scene position -> the core's image coordinates (pixel centres at integers)."""
    return scene.x() - 0.5, scene.y() - 0.5


class Tool:
    """Base class: ignores everything; subclasses override what they use."""

    name = ""
    title = ""
    icon = ""
    shortcut = ""
    tip = ""

    def __init__(self, host: ToolHost) -> None:
        self.host = host

    @property
    def canvas(self) -> FrameCanvas:
        """The canvas the tool works on."""
        return self.host.canvas

    @property
    def cursor(self) -> QCursor:
        """The pointer shape over the canvas."""
        return QCursor(Qt.CursorShape.CrossCursor)

    def activate(self) -> None:
        """Called when the tool becomes current."""

    def deactivate(self) -> None:
        """Called when another tool becomes current (drop any unfinished input)."""

    def press(self, pos: QPointF, event: QMouseEvent) -> bool:
        """Left button pressed at scene ``pos``; True if handled."""
        return False

    def move(self, pos: QPointF, event: QMouseEvent) -> bool:
        """Pointer moved (buttons may be down); True if handled."""
        return False

    def release(self, pos: QPointF, event: QMouseEvent) -> bool:
        """Left button released; True if handled."""
        return False

    def double_click(self, pos: QPointF, event: QMouseEvent) -> bool:
        """Left button double-clicked; True if handled."""
        return False

    def wants_key(self, event: QKeyEvent) -> bool:
        """True for keys the tool needs even when a window shortcut uses them."""
        return False

    def key(self, event: QKeyEvent) -> bool:
        """A key pressed while the canvas has the focus; True if handled."""
        return False

    def reset(self) -> None:
        """Forget unfinished input (the frame or clip changed)."""
