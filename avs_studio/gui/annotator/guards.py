"""What keeps the annotator from dropping work silently (a mixin of the annotator window).

- **Done with open proposals.** Marking a clip done (Ctrl+Enter, or the status box) while
  proposals are neither accepted nor rejected would drop them from the export: the window
  lists them (frame, object) and asks -- accept them all, reject them all, or go back.
- **A new round of proposals.** Proposing a clip that has objects asks how the new
  proposals join them (:class:`~avs_studio.core.proposals.ProposeOptions`): replace or keep
  the open proposals, leave out those that duplicate the annotator's objects (IoU).
  Accepted objects are always kept.
- **The class of a new object.** S4/MS3 objects are the clip's sounding object (its
  category); an AVSS object's class is asked the first time a clip needs one (Ctrl+L picks
  it ahead), never taken from another clip. The tool options beside the brush show what
  the next stroke paints.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QVBoxLayout,
)

from avs_studio.core.project.edits import AcceptProposal, Command, RejectProposal
from avs_studio.core.project.records import OpenProposal
from avs_studio.core.proposals import DEFAULT_IOU, ProposeOptions
from avs_studio.gui.annotator.tools.options import ToolOptions
from avs_studio.gui.common.qimage import object_colour

OPEN_SHOWN = 12  # open proposals listed in the question (the rest are counted)


# ---------------------------------------------------------------------- the questions (patched in tests)


def describe_open_proposals(proposals: list[OpenProposal], shown: int = OPEN_SHOWN) -> str:
    """The open proposals of a clip as lines: "frame 2: object #3 guitar (81%)"."""
    lines = [f"• {p}" for p in proposals[:shown]]
    if len(proposals) > shown:
        lines.append(f"• … and {len(proposals) - shown} more")
    return "\n".join(lines)


def ask_open_proposals(parent, clip_id: str, proposals: list[OpenProposal]) -> str:
    """Ask what to do with a clip's open proposals before it is marked done.

    Returns ``"accept"``, ``"reject"`` or ``"cancel"`` (go back and look at them).
    """
    box = QMessageBox(QMessageBox.Icon.Question, "Open proposals",
                      f"{clip_id} has {len(proposals)} proposal(s) nobody accepted or rejected. The export "
                      "leaves proposals out, so marking the clip done now would drop them:\n\n"
                      f"{describe_open_proposals(proposals)}", parent=parent)  # fmt: skip
    accept = box.addButton("Accept All and Mark Done", QMessageBox.ButtonRole.AcceptRole)
    reject = box.addButton("Reject All and Mark Done", QMessageBox.ButtonRole.DestructiveRole)
    back = box.addButton("Go Back", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(back)
    box.exec()
    return {id(accept): "accept", id(reject): "reject"}.get(id(box.clickedButton()), "cancel")


def ask_propose_options(parent, what: str, proposals: int, objects: int) -> ProposeOptions | None:
    """Ask how a new round of proposals joins the objects of the clips (None: do not propose)."""
    dlg = QDialog(parent)
    dlg.setWindowTitle("Propose again")
    text = QLabel(f"{what} has {objects} object(s) of yours and {proposals} open proposal(s). Your objects "
                  "(accepted, drawn, imported) are kept as they are.")  # fmt: skip
    text.setWordWrap(True)
    replace = QCheckBox("Replace the open proposals (untick to keep them beside the new ones)")
    replace.setChecked(True)
    skip = QCheckBox("Leave out proposals that duplicate one of your objects of the same class")
    skip.setChecked(True)
    iou = QDoubleSpinBox()
    iou.setRange(0.05, 1.0)
    iou.setSingleStep(0.05)
    iou.setValue(DEFAULT_IOU)
    iou.setToolTip("Overlap (intersection over union) from which a proposal counts as a duplicate")
    skip.toggled.connect(iou.setEnabled)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Propose")
    buttons.accepted.connect(dlg.accept)
    buttons.rejected.connect(dlg.reject)
    form = QFormLayout()
    form.addRow(replace)
    form.addRow(skip)
    form.addRow("Duplicate from IoU", iou)
    lay = QVBoxLayout(dlg)
    lay.addWidget(text)
    lay.addLayout(form)
    lay.addWidget(buttons)
    if dlg.exec() != QDialog.DialogCode.Accepted:
        return None
    return ProposeOptions(replace_open=replace.isChecked(), skip_duplicates=skip.isChecked(), iou=iou.value())


def ask_class(parent, names: list[str], first: list[str]) -> str | None:
    """Ask the class of a new object (the clip's sounding classes ``first``); None: cancelled."""
    items = first + [n for n in names if n not in first]
    name, ok = QInputDialog.getItem(parent, "Class of the new object",
                                    "The new object's class (Ctrl+L chooses it ahead of painting):",
                                    items, 0, True)  # fmt: skip
    return name if ok and name in names else None


# ---------------------------------------------------------------------- the mixin


class GuardsMixin:
    """Asks before work would be dropped (mixed into the annotator window)."""

    def _build_tool_options(self, toolbar) -> None:
        """Add the tool options to the tools toolbar (called while the window builds it)."""
        self.tool_options = ToolOptions()
        toolbar.addWidget(self.tool_options)
        self._new_label: tuple[str | None, int | None] = (None, None)  # (clip, label) for new objects
        self.labels.searchFinished.connect(self._back_to_canvas)

    def _back_to_canvas(self) -> None:
        # After Ctrl+L and Enter the keys are the canvas's again (A, R, B... are not typed).
        self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    # ------------------------------------------------------------------ the class of new objects
    @property
    def new_object_label(self) -> int | None:
        """The label the next new object gets: S4/MS3 the sounding object; AVSS the class
        chosen for this clip (None: it will be asked)."""
        if self.project is None:
            return None
        if self.project.setting.is_binary:
            return 1
        clip, label = self._new_label
        return label if clip == self.clip_id else None

    def set_new_object_label(self, label: int | None) -> None:
        """Make ``label`` the class of the clip's next new objects."""
        self._new_label = (self.clip_id, label)
        self.update_tool_target()

    def ask_new_object_label(self) -> int | None:
        """Ask the class of a new AVSS object (the clip's sounding classes first)."""
        labels = self.project.labels
        names = [labels.name(i) for i in range(1, len(labels))]
        a_obj = f"_{self.loaded.record.a_obj}_" if self.loaded is not None else "__"
        first = sorted((n for n in names if f"_{n}_" in a_obj), key=a_obj.index)
        name = ask_class(self, names, first)
        if name is None:
            return None
        self.set_new_object_label(labels.index(name))
        return self.new_object_label

    def update_tool_target(self) -> None:
        """Show beside the brush what the next stroke paints (the selected object, or a new one)."""
        if not hasattr(self, "tool_options"):
            return
        if self.project is None or self.session is None:
            self.tool_options.set_target("", None)
            return
        binary = self.project.setting.is_binary
        labels = self.project.labels
        if self.selected is not None and (label := self.session.store.label_of(self.selected)) is not None:
            name = "sounding object" if binary else labels.name(label)
            self.tool_options.set_target(f"Paints #{self.selected} {name}",
                                         object_colour(label, self.selected, binary=binary))  # fmt: skip
            return
        label = self.new_object_label
        if not binary:  # the class list shows the class a new object gets (none: asked)
            self.labels.set_current(label or 0)
        if binary:
            category = self.loaded.record.category if self.loaded is not None else ""
            text = "New: sounding object" + (f" ({category})" if category else "")
            self.tool_options.set_target(text, object_colour(1, self.session.next_instance_id(), binary=True))
        elif label is None:
            self.tool_options.set_target("New: class asked (Ctrl+L)", None)
        else:
            self.tool_options.set_target(f"New: {labels.name(label)}", object_colour(label, 1, binary=False))

    def _object_hint(self) -> str:
        """The line under the object list: what painting does in this frame."""
        present = {o.instance_id for o in self.canvas.objects}
        if self.selected is not None and self.selected not in present:
            return f"Painting adds object #{self.selected} to this frame (N starts a new object)."
        if not present:
            return "No objects yet: paint one, draw a polygon, or Propose (Ctrl+P)."
        return ""

    def _selection_changed(self) -> None:
        """The selection or the frame changed: the hint and the brush's target follow."""
        self.objects.set_hint(self._object_hint())
        self.update_tool_target()

    # ------------------------------------------------------------------ done with open proposals
    def _resolve_open_proposals(self) -> list[Command] | None:
        """Commands that resolve the clip's open proposals as the user chooses ([] when there
        are none); None when the user goes back to them."""
        open_ = self.project.open_proposals(self.clip_id)
        if not open_:
            return []
        choice = ask_open_proposals(self, self.clip_id, open_)
        if choice == "cancel":
            self.statusBar().showMessage(f"Not marked done: {len(open_)} open proposal(s) to accept or reject "
                                         f"(first: {open_[0]})", 8000)  # fmt: skip
            return None
        ids = sorted({p.instance_id for p in open_})
        return [AcceptProposal(i) if choice == "accept" else RejectProposal(i) for i in ids]

    # ------------------------------------------------------------------ a new round of proposals
    def _propose_options(self, clip_ids: list[str]) -> ProposeOptions | None:
        """How new proposals join the clips' objects: asked when the clips have any."""
        proposals = objects = 0
        for cid in clip_ids:
            counts = self.project.object_counts(cid)
            proposals += counts.pop("proposal", 0)
            objects += sum(counts.values())
        if not proposals and not objects:
            return ProposeOptions()
        what = clip_ids[0] if len(clip_ids) == 1 else f"{len(clip_ids)} clips"
        return ask_propose_options(self, what, proposals, objects)
