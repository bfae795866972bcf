"""The annotator's editing: tools, commands, undo/redo, proposals, thresholds, statuses.

:class:`EditingMixin` is one half of :class:`~avs_studio.gui.annotator.window.AnnotatorWindow`
(the window's layout, clips and playback are the other): it is the tools' host
(:class:`~avs_studio.gui.annotator.tools.ToolHost`) and turns every user decision into one project
command on the current clip's session.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from avs_studio.core.errors import AVSError
from avs_studio.core.project.edits import (
    AcceptProposal,
    Command,
    Composite,
    DeleteObject,
    RejectProposal,
    ReplaceMask,
    SetAnnotated,
    SetLabel,
    SetStatus,
)
from avs_studio.core.project.project import Project
from avs_studio.core.proposals import plan_proposals
from avs_studio.gui.annotator.proposals import (
    ClipProposal,
    ProposeSummary,
    propose_job,
)
from avs_studio.gui.common.qimage import object_colour

PROB_MAP_CLIPS = 12  # clips whose proposal probabilities stay in memory (a 1080p frame: 2 MB)


def _checkpoint_project(project: Project) -> None:
    """Fold the write-ahead log into the project file (Ctrl+S); edits are committed already."""
    project.checkpoint()


class EditingMixin:
    """Editing the current clip (mixed into the annotator window)."""

    # ================================================================== tools (ToolHost)
    def set_tool(self, name: str) -> None:
        """Make ``name`` (select, brush, eraser, polygon, fill, outline) the current tool."""
        tool = self.tools[name]
        self.actions_by_id[f"tool_{name}"].setChecked(True)
        self.canvas.set_tool(tool)
        self.statusBar().showMessage(f"{tool.title}: {tool.tip}", 6000)

    @property
    def brush_radius(self) -> float:
        """Brush and eraser radius (image pixels)."""
        return float(self.radius_spin.value())

    def set_brush_radius(self, radius: float) -> None:
        """Change the brush and eraser radius."""
        self.radius_spin.setValue(max(1.0, min(400.0, round(radius))))

    def _on_radius(self, _value: float) -> None:
        tool = self.canvas.tool
        if hasattr(tool, "update_radius"):
            tool.update_radius()

    def _on_opacity(self, value: int) -> None:
        self.canvas.set_opacity(value / 100.0)

    def _finish_tools(self, *, keep_polygon: bool = False) -> None:
        for name, tool in self.tools.items():
            if keep_polygon and name == "polygon":
                continue
            tool.reset()

    def _can_edit(self) -> bool:
        if self.session is None or self.project is None:
            self.statusBar().showMessage("Open a clip first", 4000)
            return False
        if self.project.readonly:
            self.statusBar().showMessage("The project is open read-only: nothing can be changed", 6000)
            return False
        if self.jobs.busy("import"):
            self.statusBar().showMessage("Wait for the import to finish", 4000)
            return False
        if self._video_at is not None:
            # The video between two sampled frames is shown: only sampled frames are annotated.
            k = self._nearest_frame(self._video_at)
            self.show_frame(k)
            self.statusBar().showMessage(f"Back on sampled frame {k + 1}: only sampled frames are annotated", 5000)
            return False
        return True

    def _target(self, *, ask: bool = True) -> tuple[int, int | None, tuple[int, int, int]] | None:
        """The object the brush, polygon and fill work on: the selected one, or a new one.

        A new AVSS object needs a class: asked when the clip has none chosen yet (``ask``);
        None when there is none (cancelled, or not asked).
        """
        binary = self.project.setting.is_binary
        if self.selected is not None:
            label = self.session.store.label_of(self.selected)
            if label is not None:
                return self.selected, None, object_colour(label, self.selected, binary=binary)
        inst = self.session.next_instance_id()
        label = self.new_object_label
        if label is None and not binary:
            label = self.ask_new_object_label() if ask else None
            if label is None:
                self.statusBar().showMessage("Choose the class of the new object first (Ctrl+L)", 5000)
                return None
        return inst, None if binary else label, object_colour(label or 1, inst, binary=binary)

    def begin_stroke(self, x: float, y: float, *, erase: bool):
        """ToolHost: a stroke builder on the object to paint or erase, and its colour."""
        if not self._can_edit():
            return None
        binary = self.project.setting.is_binary
        if erase:
            inst = self.selected if self.selected is not None and self._in_frame(self.selected) else None
            if inst is None:
                inst = self.canvas.object_at(x, y)
            if inst is None:
                self.statusBar().showMessage("Select the object to erase from (or start on it)", 5000)
                return None
            if self.refuse_locked(inst):
                return None
            if inst != self.selected:
                self.select_object(inst)
            label = self.session.store.label_of(inst) or 1
            builder = self.session.stroke(self.frame_index, inst, radius=self.brush_radius, erase=True)
            return builder, object_colour(label, inst, binary=binary)
        if self.new_object_label is None and self._target(ask=False) is None:
            # A class is asked first; the press that asked is not a stroke (its release went
            # to the question), the next one paints.
            if self.ask_new_object_label() is not None:
                self.statusBar().showMessage("New objects get this class: paint now", 4000)
            return None
        inst, label, colour = self._target()
        if self.refuse_locked(inst):
            return None
        if self.selected != inst:
            self.select_object(None)  # the preview layer must be empty for a new object
        builder = self.session.stroke(self.frame_index, inst, radius=self.brush_radius, label=label,
                                      behind=self.tool_options.paint_behind,
                                      protect=self.protect_mask(exclude=inst))  # fmt: skip
        return builder, colour

    def _in_frame(self, instance_id: int) -> bool:
        return self.session.store.object(self.frame_index, instance_id) is not None

    def commit(self, command: Command | None, *, select: int | None = None, slot: bool = True) -> bool:
        """ToolHost: apply a command to the current clip; refresh what it changed."""
        if command is None:
            self.refresh_objects()  # drop a preview that changed nothing
            return False
        if not self._can_edit():
            self.refresh_objects()
            return False
        k = self.frame_index
        if slot and command.changes_masks and k not in self.session.store.annotated():
            command = Composite([command, SetAnnotated([k])], command.description)
        try:
            self.session.apply(command)
        except AVSError as exc:
            self.refresh_objects()
            self.show_error(str(exc), "The edit was not made")
            return False
        if select is not None:
            self.selected = select
        self._after_edit([k])
        return True

    def commit_polygon(self, points: list[tuple[float, float]], *, erase: bool = False) -> bool:
        """ToolHost: fill (or erase) a polygon into the selected or a new object."""
        if not self._can_edit():
            return False
        if erase:
            if self.selected is None:
                self.statusBar().showMessage("Select the object to cut the polygon out of", 5000)
                return False
            if self.refuse_locked(self.selected):
                return False
            return self._apply_builder(lambda: self.session.polygon(self.frame_index, self.selected, points, erase=True),
                                       self.selected)  # fmt: skip
        target = self._target()
        if target is None:
            return False
        inst, label, _ = target
        if self.refuse_locked(inst):
            return False
        behind = self.tool_options.paint_behind
        protect = self.protect_mask(exclude=inst)
        return self._apply_builder(lambda: self.session.polygon(self.frame_index, inst, points, label=label,
                                                                behind=behind, protect=protect), inst)  # fmt: skip

    def commit_fill(self, x: float, y: float) -> bool:
        """ToolHost: magic wand -- fill the region of similar colour around ``(x, y)``, bounded by
        other objects, into the selected or a new object."""
        if not self._can_edit():
            return False
        target = self._target()
        if target is None:
            return False
        inst, label, _ = target
        if self.refuse_locked(inst):
            return False
        image = self.loaded.frames[self.frame_index] if self.loaded.frames else None
        tolerance = self.tool_options.wand_tolerance
        # Bounded by every object (locked or not): a fill never changes another object's pixels.
        ok = self._apply_builder(lambda: self.session.flood_fill(self.frame_index, inst, x, y, label=label,
                                                                 image=image, tolerance=tolerance), inst)  # fmt: skip
        if not ok:
            self.statusBar().showMessage("Nothing to fill there (the click is on another object)", 4000)
        return ok

    def _apply_builder(self, build: Callable[[], Command | None], select: int) -> bool:
        try:
            command = build()
        except AVSError as exc:
            self.show_error(str(exc), "The edit was not made")
            return False
        return self.commit(command, select=select)

    def _after_edit(self, frames: list[int] | None) -> None:
        self.refresh_objects()
        self.refresh_thumbnails(frames)
        rec = self.loaded.record
        self.clip_list.update_clip(rec)
        self._update_clip_panel()
        self._update_header()
        self._update_undo_actions()

    # ------------------------------------------------------------------ edit commands
    def undo(self) -> None:
        """Undo the current clip's last edit."""
        if self.session is None or self.project.readonly:
            return
        self._finish_tools()
        what = self.session.undo()
        if what:
            self.statusBar().showMessage(f"Undid: {what}", 4000)
        self._after_edit(None)

    def redo(self) -> None:
        """Redo the current clip's last undone edit."""
        if self.session is None or self.project.readonly:
            return
        self._finish_tools()
        what = self.session.redo()
        if what:
            self.statusBar().showMessage(f"Redid: {what}", 4000)
        self._after_edit(None)

    def delete_selected(self) -> None:
        """Delete the selected object from this frame."""
        if self.selected is None or self.session is None or not self._in_frame(self.selected):
            return
        if self.refuse_locked(self.selected):
            return
        inst = self.selected
        if self.commit(DeleteObject(inst, self.frame_index), slot=False):
            self.selected = None
            self.refresh_objects()

    def choose_label(self, label: int) -> None:
        """The label picker: relabel the selected object (every frame), or set the label of new ones."""
        if self.session is None or self.selected is None or self.session.store.label_of(self.selected) is None:
            self.set_new_object_label(label)
            self.statusBar().showMessage(f"New objects get the label “{self.project.labels.name(label)}”", 4000)
            return
        if self.session.store.label_of(self.selected) == label:
            return
        if self.commit(SetLabel(self.selected, label), slot=False):
            self.refresh_thumbnails(None)

    # ================================================================== proposals
    def propose_current(self) -> None:
        """Run the model on the current clip."""
        if self.clip_id is not None:
            self.propose([self.clip_id])

    def propose_selected(self) -> None:
        """Run the model on every clip selected in the list."""
        self.propose(self.clip_list.selected_ids())

    def propose(self, clip_ids: list[str]) -> None:
        """Run the model on ``clip_ids`` in the background, one after the other."""
        if self.project is None or not clip_ids:
            return
        if self.project.readonly:
            self.show_error("The project is open read-only: proposals cannot be added")
            return
        if self.jobs.busy("propose"):
            self.statusBar().showMessage("Proposals are running already (Cancel them first)", 5000)
            return
        options = self._propose_options(list(clip_ids))
        if options is None:
            return
        self._proposing_with = options
        st = self.project.setting.value
        job = propose_job(self.project, list(clip_ids), self.models, threshold=0.5,
                          checkpoint=self.prefs.checkpoint(st), vggish=self.prefs.vggish(), device=self.prefs.device)  # fmt: skip
        what = clip_ids[0] if len(clip_ids) == 1 else f"{len(clip_ids)} clips"
        self.run_job("propose", job, self._on_proposals_done, f"Proposing {what}…", on_item=self._on_proposal,
                     on_failed=lambda msg: self.show_error(msg, "No proposals"))  # fmt: skip

    def _on_proposal(self, proposal: ClipProposal) -> None:
        """One clip's proposals arrived from the worker: add them as one command."""
        if self.project is None or proposal.clip_id not in self.project:
            return
        current = proposal.clip_id == self.clip_id
        session = self.project.session(proposal.clip_id, user=self.prefs.annotator, auto_status=False)
        try:
            plan = plan_proposals(session.store, proposal, getattr(self, "_proposing_with", None))
            if plan.command is not None:
                session.apply(plan.command)
        except AVSError as exc:
            self.show_error(f"{proposal.clip_id}: the proposals were not added ({exc})")
            return
        maps, masks = plan.maps, plan.masks
        if current:  # the masks are known: no need to decode them again to draw them
            for o in session.store.objects():
                m = masks.get((o.instance_id, o.frame))
                if m is not None:
                    self.masks.put(o, m)
        self.prob_maps[proposal.clip_id] = maps  # the new proposals replaced the old ones
        for inst, _ in maps:
            self.thresholds[(proposal.clip_id, inst)] = proposal.threshold
        self.prob_maps.move_to_end(proposal.clip_id)
        while len(self.prob_maps) > PROB_MAP_CLIPS:
            self.prob_maps.popitem(last=False)
        rec = self.project.clip_record(proposal.clip_id)
        self.clip_list.update_clip(rec)
        if current:  # select the first proposal of the frame and redraw once
            self._finish_tools()
            self.selected = next((o.instance_id for o in self.session.objects(self.frame_index)
                                  if o.provenance.is_proposal), None)  # fmt: skip
            self._after_edit(None)
        self.statusBar().showMessage(plan.line(), 8000)

    def _on_proposals_done(self, summary: ProposeSummary) -> None:
        if summary.failures:
            lines = "\n".join(f"• {f.item}: {f.error}" for f in summary.failures[:12])
            self.show_error(f"{len(summary.done)} clip(s) proposed; {len(summary.failures)} failed:\n{lines}", "Proposals")

    def _selected_proposal(self) -> int | None:
        if self.selected is None or self.session is None:
            return None
        obj = self.session.store.object(self.frame_index, self.selected)
        if obj is not None and obj.provenance.is_proposal:
            return self.selected
        if any(o.provenance.is_proposal for o in self.session.store.objects() if o.instance_id == self.selected):
            return self.selected
        return None

    def _proposal_frames(self, inst: int) -> list[int]:
        return [o.frame for o in self.session.store.objects() if o.instance_id == inst and o.provenance.is_proposal]

    def accept_selected(self) -> None:
        """Accept the selected proposal in every frame it is proposed in."""
        inst = self._selected_proposal()
        if inst is None:
            self.statusBar().showMessage("Select a proposal to accept", 4000)
            return
        frames = self._proposal_frames(inst)
        self._commit_all(AcceptProposal(inst), frames, select=inst)

    def reject_selected(self) -> None:
        """Reject (remove) the selected proposal in every frame."""
        inst = self._selected_proposal()
        if inst is None:
            self.statusBar().showMessage("Select a proposal to reject", 4000)
            return
        if self._commit_all(RejectProposal(inst), self._proposal_frames(inst), slot=False):
            self.selected = None
            self.refresh_objects()

    def _frame_proposals(self) -> list[int]:
        if self.session is None:
            return []
        return [o.instance_id for o in self.session.objects(self.frame_index) if o.provenance.is_proposal]

    def accept_frame(self) -> None:
        """Accept every proposal of this frame."""
        ids = self._frame_proposals()
        if ids:
            k = self.frame_index
            self._commit_all(Composite([AcceptProposal(i, k) for i in ids], "Accept the frame's proposals"), [k])

    def reject_frame(self) -> None:
        """Reject every proposal of this frame."""
        ids = self._frame_proposals()
        if ids:
            k = self.frame_index
            self._commit_all(Composite([RejectProposal(i, k) for i in ids], "Reject the frame's proposals"), [k],
                             slot=False)  # fmt: skip

    def _commit_all(self, command: Command, frames: list[int], *, select: int | None = None, slot: bool = True) -> bool:
        """Apply a command that touches several frames (slots added for those without one)."""
        if not self._can_edit():
            return False
        missing = sorted(set(frames) - set(self.session.store.annotated())) if slot else []
        if missing:
            command = Composite([command, SetAnnotated(missing)], command.description)
        try:
            self.session.apply(command)
        except AVSError as exc:
            self.show_error(str(exc), "The edit was not made")
            return False
        if select is not None:
            self.selected = select
        self._after_edit(None)
        return True

    # ------------------------------------------------------------------ threshold
    def _threshold_target(self) -> tuple[int, dict[int, np.ndarray]] | None:
        """The selected binary proposal and its probability maps by frame, if it has them."""
        inst = self._selected_proposal()
        if inst is None or self.project is None or not self.project.setting.is_binary:
            return None
        maps = self.prob_maps.get(self.clip_id, {})
        frames = {f: maps[(inst, f)] for f in self._proposal_frames(inst) if (inst, f) in maps}
        return (inst, frames) if frames else None

    def _update_threshold(self) -> None:
        target = self._threshold_target()
        self.objects.set_threshold_enabled(target is not None)
        if target is not None:  # the slider shows the threshold that shaped this proposal
            self.objects.set_threshold(self.thresholds.get((self.clip_id, target[0]), 0.5))

    def _preview_threshold(self, t: float) -> None:
        target = self._threshold_target()
        if target is None:
            return
        inst, maps = target
        p = maps.get(self.frame_index)
        if p is not None:
            self.canvas.preview_mask(inst, (p > round(t * 255)).astype(np.uint8))

    def apply_threshold(self, t: float) -> None:
        """Reshape the selected binary proposal in every frame: probability above ``t``."""
        target = self._threshold_target()
        if target is None:
            return
        inst, maps = target
        level = round(t * 255)
        cmds: list[Command] = [ReplaceMask(f, inst, (p > level).astype(np.uint8)) for f, p in sorted(maps.items())]
        key = (self.clip_id, inst)
        before = self.thresholds.get(key)
        self.thresholds[key] = t  # before the commit: its refresh puts the slider at the stored value
        if not self._commit_all(Composite(cmds, f"Threshold {t:.2f}"), [], select=inst, slot=False):
            if before is None:
                self.thresholds.pop(key, None)
            else:
                self.thresholds[key] = before
            self._update_threshold()

    # ================================================================== the clip's status
    def _update_clip_panel(self) -> None:
        if self.loaded is None:
            return
        rec = self.loaded.record
        i = self.status_combo.findData(rec.status)
        self.status_combo.setCurrentIndex(max(0, i))
        if not self.comment_edit.hasFocus():
            self.comment_edit.setText(rec.comment)

    def _set_status(self, status: str, *, comment: str | None = None, description: str | None = None,
                    check_open: bool = True) -> bool:  # fmt: skip
        """Set the clip's status; marking it done or reviewed first resolves its open proposals
        as the user says (``check_open``), or does nothing when the user goes back to them."""
        if not self._can_edit():
            return False
        cmd: Command = SetStatus(status, comment=comment, annotator=self.prefs.annotator)
        resolve: list[Command] = []
        if check_open and status in ("done", "reviewed"):
            resolve = self._resolve_open_proposals()  # never drop open proposals silently
            if resolve is None:
                self._update_clip_panel()
                return False
            if resolve:
                cmd = Composite([*resolve, cmd], description or cmd.description)
        if description:
            cmd = Composite([cmd], description)
        try:
            self.session.apply(cmd)
        except AVSError as exc:
            self.show_error(str(exc))
            return False
        self.loaded.record = self.project.clip_record(self.clip_id)
        self.clip_list.update_clip(self.loaded.record)
        if resolve:
            self.refresh_objects()
        self.refresh_thumbnails(None)
        self._update_clip_panel()
        self._update_header()
        self._update_undo_actions()
        return True

    def _on_status_chosen(self, index: int) -> None:
        status = self.status_combo.itemData(index)
        if self.loaded is not None and status != self.record.status:
            self._set_status(status)

    def _on_comment(self) -> None:
        if self.loaded is None or self.project is None or self.project.readonly:
            return
        text = self.comment_edit.text().strip()
        rec = self.record
        if text != rec.comment:
            self._set_status(rec.status, comment=text, description="Edit the comment", check_open=False)

    def _on_annotator(self) -> None:
        name = self.annotator_edit.text().strip()
        if name and name != self.prefs.annotator:
            self.prefs.annotator = name
            if self.project is not None and self.clip_id is not None:
                self.session = self.project.session(self.clip_id, user=name)
            self.statusBar().showMessage(f"Edits are now recorded for {name}", 4000)

    def mark_done(self) -> None:
        """Mark the clip done and open the next clip that is not done."""
        if self.loaded is None:
            return
        self._finish_tools()
        if not self._set_status("done", comment=self.comment_edit.text().strip()):
            return
        nxt = self.clip_list.next_matching(self.clip_id, lambda r: r.status not in ("done", "reviewed"))
        if nxt is None:
            self.statusBar().showMessage("Every clip is done", 8000)
            return
        self.clip_list.set_current(nxt, emit=False)
        self.open_clip(nxt)

    def save(self) -> None:
        """Ctrl+S: every edit is saved already; fold the journal into the file and say so."""
        if self.project is None or self.project.readonly:
            return
        self.comment_edit.clearFocus()
        _checkpoint_project(self.project)
        self.statusBar().showMessage("Saved — every edit is written to the project file as it is made", 5000)
