"""The annotator's assistance: the click tool's segmenter, propagation across the sampled
frames, "copy from previous frame" and "refine proposal".

:class:`AssistMixin` is mixed into :class:`~avs_studio.gui.annotator.window.AnnotatorWindow`
beside the editing half. Every segmentation, embedding and propagation runs in the window's
workers; the GUI thread only shows previews and applies the finished commands (one undo
step each: a committed click result, one propagation, one copy). The segmenter is the
built-in one unless the preferences name a SAM-family ONNX pair (Assist menu); then the
sampled frames' embeddings are computed in the background when a clip opens.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QFileDialog

from avs_studio.core.assist.classical import ClassicalSegmenter
from avs_studio.core.assist.prompt import AssistUnavailable, Prompt, Segmenter, proposal_prompt
from avs_studio.core.assist.propagate import PROPAGATION_MODEL, PropagationResult
from avs_studio.core.project.edits import AddObject, Command, Composite, RejectProposal, ReplaceMask
from avs_studio.core.project.records import Provenance
from avs_studio.gui.annotator.canvas import CanvasObject

COPY_MODEL = "copy of the previous frame"


@dataclass
class ClickEdit:
    """One object being segmented by clicks on one frame (until Enter or Esc)."""

    clip_id: str
    frame: int
    instance_id: int
    label: int
    colour: tuple[int, int, int]
    prior: np.ndarray | None  # the object's mask on this frame when the edit began
    mask: np.ndarray | None = None
    state: Any = None
    commit_pending: bool = False
    busy: bool = False


class Segmenters:
    """The segmenter the preferences name, loaded once (in a worker: a SAM pair takes seconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._segmenter: Segmenter | None = None
        self.builtin = ClassicalSegmenter()
        self.run_lock = threading.Lock()  # one segmentation at a time: two would share 2 cores

    def get(self, backend: str, encoder: str, decoder: str) -> Segmenter:
        """The segmenter for these preferences (an AssistUnavailable says why SAM cannot run)."""
        if backend != "sam":
            return self.builtin
        key = (backend, encoder, decoder)
        with self._lock:
            if self._key != key or self._segmenter is None:
                from avs_studio.core.assist.sam import SamSegmenter

                if not encoder or not decoder:
                    raise AssistUnavailable("no SAM model files are chosen (Assist ▸ Choose SAM Model Files…)")
                self._segmenter = SamSegmenter.from_files(encoder, decoder)
                self._key = key
            return self._segmenter

    def loaded(self) -> Segmenter | None:
        """The SAM segmenter if one is loaded."""
        return self._segmenter


class AssistMixin:
    """Assisted annotation (mixed into the annotator window)."""

    # ================================================================== set-up (called by the window)
    def _build_assist_actions(self) -> None:
        self.segmenters = Segmenters()
        self.click_edit: ClickEdit | None = None
        self.last_propagation: tuple | None = None  # (result, frames kept, frames skipped)
        self._sam_failed: str | None = None
        a = self._action
        a("refine_proposal", self.refine_proposal, icon_name="click")
        a("propagate", lambda: self.propagate_selected("both"), icon_name="propagate")
        a("propagate_forward", lambda: self.propagate_selected("forward"))
        a("propagate_backward", lambda: self.propagate_selected("backward"))
        a("copy_previous", self.copy_from_previous)

    def _build_assist_menu(self, menubar) -> None:
        ids = self.actions_by_id
        m = menubar.addMenu("A&ssist")
        for sid in ("tool_click", "refine_proposal", None, "propagate", "propagate_forward", "propagate_backward",
                    "copy_previous"):  # fmt: skip
            m.addSeparator() if sid is None else m.addAction(ids[sid])
        m.addSeparator()
        self.refine_propagation_action = QAction("Refine Propagated Masks with the Segmenter", self)
        self.refine_propagation_action.setCheckable(True)
        self.refine_propagation_action.setChecked(self.prefs.refine_propagation)
        self.refine_propagation_action.setStatusTip("Snap each propagated mask to the frame's edges with the click tool's segmenter")
        self.refine_propagation_action.toggled.connect(lambda on: setattr(self.prefs, "refine_propagation", on))
        m.addAction(self.refine_propagation_action)
        m.addSeparator()
        group = QActionGroup(self)
        self.builtin_action = QAction("Built-in Segmenter (GrabCut, no model)", self)
        self.sam_action = QAction("SAM-family Model (ONNX files)", self)
        for act, backend in ((self.builtin_action, "builtin"), (self.sam_action, "sam")):
            act.setCheckable(True)
            act.setChecked(self.prefs.assist_backend == backend)
            act.triggered.connect(lambda _=False, b=backend: self.set_assist_backend(b))
            group.addAction(act)
            m.addAction(act)
        choose = m.addAction("Choose SAM Model Files…")
        choose.triggered.connect(lambda: self._guarded(self.choose_sam_files))
        from avs_studio.core.assist.sam import onnxruntime_status

        missing = onnxruntime_status()
        if missing:  # the app works without ONNX Runtime; say why SAM cannot be chosen
            for act in (self.sam_action, choose):
                act.setEnabled(False)
                act.setToolTip(missing)
                act.setStatusTip(missing)
            self.sam_action.setText("SAM-family Model (needs ONNX Runtime)")
        self.assist_menu = m

    # ================================================================== the segmenter
    def set_assist_backend(self, backend: str) -> None:
        """Use the built-in segmenter ("builtin") or the SAM pair of the preferences ("sam")."""
        if backend == "sam" and not (self.prefs.sam_encoder and self.prefs.sam_decoder):
            self.choose_sam_files()
            return
        self.prefs.assist_backend = backend
        self._sam_failed = None
        self.builtin_action.setChecked(backend != "sam")
        self.sam_action.setChecked(backend == "sam")
        title = "the built-in segmenter" if backend != "sam" else "the SAM model (loading in the background…)"
        self.statusBar().showMessage(f"Click to mask now uses {title}", 5000)
        self._assist_clip_opened()

    def choose_sam_files(self) -> None:
        """Assist ▸ Choose SAM Model Files…: the encoder, then the decoder (nothing is downloaded)."""
        start = self.prefs.sam_encoder or self.prefs.last_folder
        enc, _ = QFileDialog.getOpenFileName(self, "SAM encoder (.onnx)", start, "ONNX models (*.onnx)")
        if not enc:
            return
        dec, _ = QFileDialog.getOpenFileName(self, "SAM decoder (.onnx)", enc, "ONNX models (*.onnx)")
        if not dec:
            return
        self.prefs.sam_encoder, self.prefs.sam_decoder = enc, dec
        self.set_assist_backend("sam")

    def _segmenter(self) -> Segmenter:
        """The segmenter to use now (in a worker); SAM that fails falls back to the built-in one."""
        p = self.prefs
        if p.assist_backend == "sam" and self._sam_failed is None:
            try:
                return self.segmenters.get("sam", p.sam_encoder, p.sam_decoder)
            except AssistUnavailable as exc:
                self._sam_failed = str(exc)
        return self.segmenters.builtin

    def _report_sam_failure(self) -> None:
        if self._sam_failed and not getattr(self, "_sam_failure_shown", False):
            self._sam_failure_shown = True
            self.show_error(f"{self._sam_failed}\n\nThe built-in segmenter is used instead.", "SAM model unavailable")

    def _assist_clip_opened(self) -> None:
        """A clip opened: compute its sampled frames' SAM embeddings in the background."""
        if self.loaded is None or self.prefs.assist_backend != "sam" or self._sam_failed is not None:
            return
        frames, clip_id, first = list(self.loaded.frames), self.clip_id, self.frame_index

        def job(progress, cancel) -> int:
            seg = self._segmenter()
            if seg is self.segmenters.builtin:
                return 0
            order = [first] + [k for k in range(len(frames)) if k != first]
            for i, k in enumerate(order):
                cancel.raise_if_cancelled()
                progress(i, len(order), f"embedding frame {k + 1}")
                seg.prepare(frames[k], (clip_id, k))
            return len(order)

        def done(n: int) -> None:
            self._report_sam_failure()
            if n:
                self.statusBar().showMessage(f"SAM: the {n} sampled frames are ready for clicks", 4000)

        self.jobs.run("embed", job, done, "Embedding frames…", on_failed=lambda m: self.statusBar().showMessage(m, 8000),
                      quiet=True)  # fmt: skip

    # ================================================================== the click tool (ToolHost)
    def assist_begin(self) -> bool:
        """A click or box starts (or continues) segmenting the selected or a new object."""
        if self.click_edit is not None and self.click_edit.frame == self.frame_index and \
                self.click_edit.clip_id == self.clip_id:  # fmt: skip
            return True
        if not self._can_edit():
            return False
        target = self._target()
        if target is None:  # a new AVSS object and no class chosen
            return False
        inst, label, colour = target
        if label is None:
            label = self.session.store.label_of(inst)
        if label is None:
            label = 1 if self.project.setting.is_binary else None
        if label is None:
            self.statusBar().showMessage("Choose a label for the new object first (Ctrl+L)", 5000)
            return False
        obj = self.session.store.object(self.frame_index, inst)
        prior = None if obj is None else np.asarray(self.masks.mask(obj), bool)
        self.click_edit = ClickEdit(self.clip_id, self.frame_index, inst, int(label), colour, prior)
        return True

    def assist_update(self, prompt: Prompt) -> None:
        """Segment with ``prompt`` in a worker; the preview follows when it is done."""
        if self.click_edit is None and not self.assist_begin():
            return
        edit = self.click_edit
        if prompt.prior is None and edit.prior is not None:
            prompt = Prompt(prompt.clicks, prompt.box, edit.prior)
        image = self.loaded.frames[edit.frame]
        key, state = (edit.clip_id, edit.frame), edit.state
        edit.busy = True

        def job(progress, cancel):
            with self.segmenters.run_lock:
                cancel.raise_if_cancelled()  # a newer click superseded this one while it waited
                seg = self._segmenter()
                return seg.segment(image, prompt, state=state, key=key)

        def done(result) -> None:
            self._report_sam_failure()
            if self.click_edit is not edit:
                return
            edit.busy = False
            edit.mask, edit.state = result.mask, result.state
            for note in result.notes:
                self.statusBar().showMessage(note, 6000)
            self._assist_preview()
            if edit.commit_pending:
                self.assist_commit()

        def failed(message: str) -> None:
            edit.busy = False
            self.show_error(message, "Click to mask")

        self.jobs.run("click", job, done, "Segmenting…", on_failed=failed, quiet=True)

    def _assist_preview(self) -> None:
        edit = self.click_edit
        if edit is None or edit.mask is None or self.frame_index != edit.frame:
            return
        binary = self.project.setting.is_binary
        name = "sounding object" if binary else self.project.labels.name(edit.label)
        objs = [o for o in self.canvas.objects if o.instance_id != edit.instance_id]
        objs.append(CanvasObject(edit.instance_id, edit.label, name, edit.mask.astype(np.uint8), edit.colour))
        self.canvas.set_objects(objs, edit.instance_id, binary=binary)

    def assist_commit(self) -> bool:
        """Enter: the previewed mask becomes one command (after the click in flight, if any)."""
        edit = self.click_edit
        if edit is None:
            return False
        if edit.busy:
            edit.commit_pending = True  # committed as soon as the last click's mask arrives
            return True
        edit.commit_pending = False
        if edit.mask is None or not edit.mask.any():
            self.statusBar().showMessage("Nothing to commit: the mask is empty (click inside the object)", 5000)
            return False
        if edit.clip_id != self.clip_id or edit.frame != self.frame_index:
            self.assist_cancel()
            return False
        exists = self.session.store.object(edit.frame, edit.instance_id) is not None
        # the annotator's own work: a proposal corrected so becomes theirs (by_hand)
        inner: Command = (ReplaceMask(edit.frame, edit.instance_id, edit.mask.astype(np.uint8), by_hand=True) if exists
                          else AddObject(edit.frame, edit.instance_id, edit.label, edit.mask.astype(np.uint8)))  # fmt: skip
        self.click_edit = None
        tool = self.tools.get("click")
        if tool is not None:
            tool.prompt = Prompt()
            tool._redraw()
        ok = self.commit(Composite([inner], "Click to mask"), select=edit.instance_id)
        if ok:
            self._repropagate_after(edit.instance_id, edit.frame)
        return ok

    def assist_cancel(self) -> None:
        """Esc (or another frame, tool or object): drop the clicks and the preview."""
        if self.click_edit is None:
            return
        self.click_edit = None
        self.jobs.cancel("click")
        self.refresh_objects()

    def refine_proposal(self) -> None:
        """Turn the selected object (a proposal, typically) into clicks for the segmenter;
        the click tool shows the result, Enter commits it."""
        if not self._can_edit():
            return
        inst = self.selected
        obj = self.session.store.object(self.frame_index, inst) if inst is not None else None
        if obj is None:
            props = [o for o in self.session.objects(self.frame_index) if o.provenance.is_proposal]
            obj = props[0] if len(props) == 1 else None
        if obj is None:
            self.statusBar().showMessage("Select the proposal (or object) of this frame to refine", 5000)
            return
        mask = np.asarray(self.masks.mask(obj), bool)
        prob = self.prob_maps.get(self.clip_id, {}).get((obj.instance_id, self.frame_index))
        prompt = proposal_prompt(mask, probability=prob)
        if prompt.empty:
            return
        self.select_object(obj.instance_id)
        self.set_tool("click")
        self.click_edit = None
        if not self.assist_begin():
            return
        self.tools["click"].start(prompt)

    # ================================================================== propagation
    def _object_here(self) -> int | None:
        """The object propagation works on: the selected one, or the frame's only object."""
        if self.session is None:
            return None
        if self.selected is not None and self._in_frame(self.selected):
            return self.selected
        objs = self.session.objects(self.frame_index)
        return objs[0].instance_id if len(objs) == 1 else None

    def propagate_selected(self, direction: str = "both", *, source: int | None = None,
                           instance_id: int | None = None) -> bool:  # fmt: skip
        """Propose the object's mask of this frame on the other sampled frames (forward,
        backward or both), as proposals; each walk stops before a frame where the object is
        annotated already (an accepted or hand-made mask is never overwritten)."""
        if not self._can_edit():
            return False
        inst = instance_id if instance_id is not None else self._object_here()
        k = self.frame_index if source is None else source
        if inst is None or self.session.store.object(k, inst) is None:
            self.statusBar().showMessage("Select the object to propagate (on a frame where it has a mask)", 5000)
            return False
        if self.jobs.busy("propagate"):
            self.statusBar().showMessage("A propagation is running (wait, or Cancel it)", 4000)
            return False
        store = self.session.store
        n = self.loaded.record.num_frames
        walks = {"forward": [range(k + 1, n)], "backward": [range(k - 1, -1, -1)],
                 "both": [range(k + 1, n), range(k - 1, -1, -1)]}[direction]  # fmt: skip
        targets: list[int] = []
        kept: list[int] = []
        for walk in walks:
            for j in walk:
                obj = store.object(j, inst)
                if obj is not None and not obj.provenance.is_proposal:
                    kept.append(j)
                    break
                targets.append(j)
        if not targets:
            where = f" (frame {kept[0] + 1} is annotated already)" if kept else ""
            self.statusBar().showMessage(f"Nothing to propagate to{where}", 5000)
            return False
        mask = np.asarray(store.mask(k, inst), bool).copy()
        label = store.label_of(inst) or 1
        clip = self.project.clip(self.clip_id)
        from avs_studio.core.assist.frames import ClipFrames

        frames = ClipFrames.for_clip(clip, sampled=list(self.loaded.frames))
        refine = self.prefs.refine_propagation
        clip_id = self.clip_id

        def job(progress, cancel) -> PropagationResult:
            from avs_studio.core.assist.propagate import propagate

            try:
                seg = self._segmenter() if refine else None
                return propagate(frames, k, mask, targets, refine=seg, progress=progress, cancel=cancel)
            finally:
                frames.close()
                clip.close()

        def done(result: PropagationResult) -> None:
            if self.clip_id == clip_id:
                self._apply_propagation(inst, label, result, kept)

        self.run_job("propagate", job, done, f"Propagating object {inst}…")
        return True

    def _proposal_commands(self, inst: int, label: int, masks: dict[int, tuple[np.ndarray, float | None]],
                           model: str) -> tuple[list[Command], list[int]]:  # fmt: skip
        """Commands that put ``masks`` (by frame) as proposals of object ``inst``, replacing
        its pending proposals there; frames where it is annotated are skipped (returned)."""
        store = self.session.store
        cmds: list[Command] = []
        skipped: list[int] = []
        for f, (m, conf) in sorted(masks.items()):
            obj = store.object(f, inst)
            if obj is not None and not obj.provenance.is_proposal:
                skipped.append(f)
                continue
            if obj is not None:
                cmds.append(RejectProposal(inst, f))
            cmds.append(AddObject(f, inst, label, np.asarray(m, np.uint8), Provenance.proposal(model, "", conf)))
        return cmds, skipped

    def _apply_propagation(self, inst: int, label: int, result: PropagationResult, kept: list[int]) -> None:
        if self.session is None:
            return
        masks = {p.frame: (p.mask, p.confidence) for p in result.frames}
        cmds, skipped = self._proposal_commands(inst, label, masks, PROPAGATION_MODEL)
        parts = [result.summary()]
        if kept:
            parts.append(f"stopped before frame(s) {', '.join(str(j + 1) for j in sorted(kept))}: annotated already")
        if skipped:
            parts.append(f"kept the annotation on frame(s) {', '.join(str(j + 1) for j in skipped)}")
        parts += result.notes
        if cmds:
            frames = sorted(masks)
            self._commit_all(Composite(cmds, f"Propagate object {inst}"), frames, select=inst)
        self.statusBar().showMessage("Propagation: " + "; ".join(parts), 10000)
        self.last_propagation = (result, kept, skipped)

    def _repropagate_after(self, inst: int, frame: int) -> None:
        """A correction on a frame whose later frames hold this object's propagated
        proposals proposes them again from the corrected frame."""
        if self.session is None:
            return
        later = [o for o in self.session.store.objects() if o.instance_id == inst and o.frame > frame
                 and o.provenance.is_proposal and o.provenance.model == PROPAGATION_MODEL]  # fmt: skip
        if later:
            self.propagate_selected("forward", source=frame, instance_id=inst)

    # ================================================================== copy from the previous frame
    def copy_from_previous(self) -> bool:
        """The selected object's mask (or every object's) of the previous sampled frame,
        proposed on this frame: the trivial propagation, for objects that do not move."""
        if not self._can_edit():
            return False
        k = self.frame_index
        if k == 0:
            self.statusBar().showMessage("The first frame has no previous frame", 4000)
            return False
        store = self.session.store
        source = [o for o in store.objects(k - 1) if self.selected is None or o.instance_id == self.selected]
        if not source:
            self.statusBar().showMessage(f"Frame {k} has no object to copy", 4000)
            return False
        cmds: list[Command] = []
        skipped: list[int] = []
        for o in source:
            more, skip = self._proposal_commands(o.instance_id, o.label, {k: (self.masks.mask(o), None)}, COPY_MODEL)
            cmds += more
            skipped += [o.instance_id] * len(skip)
        if skipped:
            names = ", ".join(f"#{i}" for i in skipped)
            self.statusBar().showMessage(f"Kept this frame's own mask of object(s) {names} (not copied over)", 6000)
        if not cmds:
            return False
        select = source[0].instance_id if len(source) == 1 else None
        return self._commit_all(Composite(cmds, f"Copy from frame {k}"), [k], select=select)
