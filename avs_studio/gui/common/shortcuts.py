"""Every keyboard shortcut of the annotator, in one table: the window binds its actions
from it and the Help menu's shortcuts sheet is rendered from it, so the two never differ.

Standard keys (Ctrl+Z, Ctrl+Shift+Z, Ctrl+S, Ctrl+O...) follow the platform's conventions
through :class:`QKeySequence.StandardKey` where Qt has one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence


@dataclass(frozen=True)
class Shortcut:
    """One command: its id (the window's action name), group, title, keys, and what it does."""

    id: str
    group: str
    title: str
    keys: tuple[str, ...]
    help: str
    standard: QKeySequence.StandardKey | None = None
    #: Shown as its own row of the sheet (False for the 2nd..9th of a family shown as one row).
    in_sheet: bool = True
    #: What the sheet shows in the keys column instead of the keys ("1 … 9").
    display: str = ""

    def sequences(self) -> list[QKeySequence]:
        """The key sequences to bind: ours first, then the platform's other standard ones."""
        seqs = [QKeySequence(k) for k in self.keys]
        if self.standard is not None:
            for seq in QKeySequence.keyBindings(self.standard):
                if seq not in seqs:
                    seqs.append(seq)
        return seqs

    def action(self, parent: QObject, *, icon_name: str = "", checkable: bool = False) -> QAction:
        """A new (unconnected) QAction for this command: title, keys, tooltip, status tip."""
        from avs_studio.gui.common.qimage import icon

        act = QAction(self.title, parent)
        act.setObjectName(self.id)
        act.setShortcuts(self.sequences())
        act.setToolTip(f"{self.title} ({self.key_text()})")
        act.setStatusTip(self.help)
        act.setCheckable(checkable)
        if icon_name:
            act.setIcon(icon(icon_name))
        return act

    def key_text(self) -> str:
        """Keys as the sheet shows them: "Ctrl+Z", "Ctrl+Shift+Z or Ctrl+Y"."""
        if self.display:
            return self.display
        texts = [QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in self.keys]
        return " or ".join(dict.fromkeys(t for t in texts if t))


SK = QKeySequence.StandardKey

SHORTCUTS: tuple[Shortcut, ...] = (
    # File
    Shortcut("new_project", "File", "New Project…", ("Ctrl+N",), "Create an empty project file", SK.New),
    Shortcut("open_project", "File", "Open Project…", ("Ctrl+O",), "Open a project file", SK.Open),
    Shortcut("save", "File", "Save", ("Ctrl+S",),
             "Every edit is saved the moment it is made; Save also folds the journal into the project "
             "file and says so", SK.Save),  # fmt: skip
    Shortcut("add_videos", "File", "Add Videos…", ("Ctrl+Shift+O",), "Add video files as clips"),
    Shortcut("add_segment", "File", "Add Segment from Long Video…", ("Ctrl+Shift+L",),
             "Pick a 5 s or 10 s segment of a long video while listening, and add it as a clip"),
    Shortcut("export", "File", "Export…", ("Ctrl+E",), "Export to AVSBench S4/MS3/AVSS, COCO or PNG masks"),
    Shortcut("import_masks", "File", "Import Masks…", ("Ctrl+I",), "Import COCO, PNG or AVSBench masks"),
    Shortcut("quit", "File", "Quit", ("Ctrl+Q",), "Close the window", SK.Quit),
    # Edit
    Shortcut("undo", "Edit", "Undo", ("Ctrl+Z",), "Undo the last edit of this clip", SK.Undo),
    Shortcut("redo", "Edit", "Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo the last undone edit", SK.Redo),
    Shortcut("delete_object", "Edit", "Delete Object", ("Del",), "Delete the selected object from this frame"),
    Shortcut("new_object", "Edit", "New Object", ("N",), "Deselect, so the next stroke starts a new object"),
    Shortcut("deselect", "Edit", "Deselect", ("Esc",), "Clear the selection (Esc also cancels a polygon)"),
    Shortcut("choose_label", "Edit", "Choose Label…", ("Ctrl+L",), "Search the AVSS classes (relabels the selection)"),
    Shortcut("raise_object", "Edit", "Raise Object", ("Ctrl+]",),
             "Move the selected object up the clip's order: where objects overlap, the one on top is exported"),
    Shortcut("lower_object", "Edit", "Lower Object", ("Ctrl+[",), "Move the selected object down the clip's order"),
    # Tools
    Shortcut("tool_select", "Tools", "Select", ("V",), "Click an object to select it"),
    Shortcut("tool_brush", "Tools", "Brush", ("B",), "Paint the selected object (a new one when none is selected)"),
    Shortcut("tool_eraser", "Tools", "Eraser", ("E",), "Erase from the selected object"),
    Shortcut("tool_polygon", "Tools", "Polygon", ("P",),
             "Click vertices, drag them, click the first to close; Enter or double-click commits, "
             "Shift+Enter erases, Backspace removes a vertex, Esc cancels"),  # fmt: skip
    Shortcut("tool_fill", "Tools", "Flood Fill", ("F",),
             "Magic wand: fill the connected region of similar colour under the click (tolerance in the "
             "tool options), bounded by other objects"),  # fmt: skip
    Shortcut("tool_outline", "Tools", "Edit Outline", ("Shift+P",),
             "Edit the selected object's outline as a polygon: drag vertices, click an edge to add one, "
             "Shift+click (or Del after touching one) removes one; Enter commits (one undo step), Esc cancels"),
    Shortcut("tool_click", "Tools", "Click to Mask", ("C",),
             "Click the object (Shift+click or right click: not the object) or drag a box: the mask follows "
             "each click; Enter commits (one undo step), Backspace takes a click back, Esc cancels"),  # fmt: skip
    Shortcut("brush_smaller", "Tools", "Smaller Brush", ("[",), "Brush and eraser radius -20%"),
    Shortcut("brush_larger", "Tools", "Larger Brush", ("]",), "Brush and eraser radius +25%"),
    # Labels
    *(Shortcut(f"recent_label_{n}", "Labels", "Recent Class 1-9", (str(n),),
               "Give the selected object (or the next new one) the class on that number of the recent row "
               "(AVSS)", in_sheet=n == 1, display="1 … 9") for n in range(1, 10)),
    # Sounding
    Shortcut("toggle_sounding", "Sounding", "Toggle Sounding", ("S",),
             "Mark the selected object silent (or sounding again) in this frame: a silent object keeps its "
             "mask but is left out of the frame's AVS mask and of every export"),
    Shortcut("confirm_sounding", "Sounding", "Confirm Sounding", ("Shift+S",),
             "Record that every object of this frame sounds (or not) as its lane shows: the frame needs no "
             "decision any more"),
    Shortcut("next_decision", "Sounding", "Next Decision", ("D",),
             "Jump to the next frame with an object whose sounding nobody decided yet (disagreeing model "
             "hints first within a frame) and select it"),
    # View
    Shortcut("zoom_in", "View", "Zoom In", ("Ctrl++", "Ctrl+="), "Zoom in (also Ctrl+wheel)", SK.ZoomIn),
    Shortcut("zoom_out", "View", "Zoom Out", ("Ctrl+-",), "Zoom out (also Ctrl+wheel)", SK.ZoomOut),
    Shortcut("zoom_fit", "View", "Fit", ("Ctrl+0",), "Fit the frame in the window"),
    Shortcut("zoom_actual", "View", "Actual Size", ("Ctrl+1",), "One frame pixel per screen pixel"),
    Shortcut("toggle_objects", "View", "Show Objects", ("H",), "Show or hide every object overlay"),
    Shortcut("show_exported", "View", "Show as Exported", ("X",),
             "Show the frame's mask exactly as the export writes it: the objects composed in their order, "
             "proposals left out"),  # fmt: skip
    Shortcut("opacity_up", "View", "More Opaque", ("O",), "Overlay opacity +10%"),
    Shortcut("opacity_down", "View", "More Transparent", ("Shift+O",), "Overlay opacity -10%"),
    # Playback
    Shortcut("play", "Playback", "Play / Pause", ("Space",),
             "Play the clip with its sound (on the canvas: tap Space; hold Space and drag to pan)"),
    Shortcut("play_window", "Playback", "Play Frame's Audio Window", ("W",),
             "Play the audio the current sampled frame is paired with"),
    Shortcut("loop_window", "Playback", "Loop Window", ("Shift+W",), "Loop the frame's audio window"),
    # Frames and clips
    Shortcut("prev_frame", "Frames and clips", "Previous Frame", ("Left",), "Step to the previous sampled frame"),
    Shortcut("next_frame", "Frames and clips", "Next Frame", ("Right",), "Step to the next sampled frame"),
    Shortcut("prev_clip", "Frames and clips", "Previous Clip", ("PgUp",), "Open the previous clip of the list"),
    Shortcut("next_clip", "Frames and clips", "Next Clip", ("PgDown",), "Open the next clip of the list"),
    Shortcut("mark_done", "Frames and clips", "Mark Done and Next", ("Ctrl+Return", "Ctrl+Enter"),
             "Mark the clip done and open the next clip that is not done"),
    # Proposals
    Shortcut("propose", "Proposals", "Propose This Clip", ("Ctrl+P",),
             "Run the model on this clip in the background (the shipped demo model unless one is configured)"),
    Shortcut("propose_selected", "Proposals", "Propose Selected Clips", ("Ctrl+Shift+P",),
             "Run the model on every clip selected in the list, one after the other"),
    Shortcut("accept", "Proposals", "Accept Proposal", ("A",), "Accept the selected proposal (in every frame)"),
    Shortcut("accept_frame", "Proposals", "Accept Frame", ("Shift+A",), "Accept every proposal of this frame"),
    Shortcut("reject", "Proposals", "Reject Proposal", ("R",), "Reject the selected proposal (in every frame)"),
    Shortcut("reject_frame", "Proposals", "Reject Frame", ("Shift+R",), "Reject every proposal of this frame"),
    # Assist
    Shortcut("refine_proposal", "Assist", "Refine Proposal", ("Shift+C",),
             "Turn the selected proposal into clicks for the click tool (its core inside, a ring outside)"),
    Shortcut("propagate", "Assist", "Propagate", ("T",),
             "Propose the selected object's mask on the other sampled frames, through the video between them"),
    Shortcut("propagate_forward", "Assist", "Propagate Forward", ("Shift+T",),
             "Propose the selected object's mask on the following sampled frames"),
    Shortcut("propagate_backward", "Assist", "Propagate Backward", ("Alt+T",),
             "Propose the selected object's mask on the earlier sampled frames"),
    Shortcut("copy_previous", "Assist", "Copy from Previous Frame", ("Ctrl+D",),
             "Propose the previous frame's mask of the selected object (or of every object) on this frame"),
    # Help
    Shortcut("shortcuts", "Help", "Keyboard Shortcuts", ("F1",), "This sheet"),
)

BY_ID = {s.id: s for s in SHORTCUTS}
_ANNOTATOR_NOTES = (
    "<p><b>Mouse:</b> Ctrl+wheel zooms around the pointer; the middle button, or Space held "
    "down, drags the view. <b>Saving:</b> there is nothing to lose: every edit is written to "
    "the project file as one transaction the moment it is made (the undo history too), so a "
    "crash loses at most the stroke in progress.</p>"
)


def sheet_html(shortcuts: Sequence[Shortcut] = SHORTCUTS, notes: str = _ANNOTATOR_NOTES) -> str:
    """A shortcuts sheet as HTML (Help > Keyboard Shortcuts): the table of ``shortcuts`` by
    group, then ``notes`` (HTML). The defaults are the annotator's."""
    rows = []
    group = None
    for s in shortcuts:
        if not s.in_sheet:
            continue
        if s.group != group:
            group = s.group
            rows.append(f"<tr><td colspan='3' class='group'>{_esc(group)}</td></tr>")
        rows.append(
            f"<tr><td class='keys'>{_esc(s.key_text())}</td><td class='title'>{_esc(s.title)}</td>"
            f"<td>{_esc(s.help)}</td></tr>"
        )
    style = (
        "<style>table{border-collapse:collapse;} td{padding:3px 10px;vertical-align:top;}"
        " td.group{padding-top:12px;font-weight:bold;font-size:110%;color:#8ab4f8;}"
        " td.keys{font-family:monospace;white-space:nowrap;color:#ffd60a;} td.title{white-space:nowrap;}</style>"
    )
    return f"<html><head>{style}</head><body><table>{''.join(rows)}</table>{notes}</body></html>"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
