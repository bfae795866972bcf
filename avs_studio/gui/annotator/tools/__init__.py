"""Canvas tools: each turns pointer input into one project command (or a selection).

A tool gets scene positions from :class:`~avs_studio.gui.annotator.canvas.FrameCanvas` and asks its
host (the annotator window, see :class:`ToolHost`) for what it needs: the stroke builder
of the current frame, where to commit the command, which object is selected.
"""

from __future__ import annotations

from avs_studio.gui.annotator.tools.base import Tool, ToolHost
from avs_studio.gui.annotator.tools.brush import BrushTool, EraserTool
from avs_studio.gui.annotator.tools.click import ClickTool
from avs_studio.gui.annotator.tools.fill import FillTool
from avs_studio.gui.annotator.tools.outline import OutlineTool
from avs_studio.gui.annotator.tools.polygon import PolygonTool
from avs_studio.gui.annotator.tools.select import SelectTool

__all__ = ["BrushTool", "ClickTool", "EraserTool", "FillTool", "OutlineTool", "PolygonTool", "SelectTool", "Tool",
           "ToolHost", "make_tools"]


def make_tools(host: ToolHost) -> dict[str, Tool]:
    """One of each tool, by name, in toolbar order."""
    tools = [SelectTool(host), BrushTool(host), EraserTool(host), PolygonTool(host), FillTool(host),
             OutlineTool(host), ClickTool(host)]
    return {t.name: t for t in tools}
