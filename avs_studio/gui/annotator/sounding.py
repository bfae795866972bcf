"""The annotator's sounding lanes: which object sounds in which frame, decided by a person.

:class:`SoundingMixin` is part of :class:`~avs_studio.gui.annotator.window.AnnotatorWindow`:
it fills the timeline's object lanes from the clip's objects
(:func:`~avs_studio.core.sounding.object_lanes`: presence, the sounding flag, whether it
was decided, the model's hint) and turns the keys and clicks into
:class:`~avs_studio.core.project.edits.SetSounding` commands on the undo stack:

- S (or a click on a lane's cell, or the Sound box of the object list) toggles whether
  the selected object sounds in the current frame;
- Shift+S confirms every object of the frame as its lane shows it;
- D jumps to the next frame that needs a decision (defined in
  :mod:`avs_studio.core.sounding`) and selects the undecided object.
"""

from __future__ import annotations

import numpy as np

from avs_studio.core.errors import AVSError
from avs_studio.core.project.edits import SetSounding
from avs_studio.core.sounding import ObjectLane, next_decision, object_lanes
from avs_studio.gui.common.lanes import LaneView
from avs_studio.gui.common.qimage import object_colour

_COVERAGE_ITEMS = 4096  # cached overlaps between an object and a model's object


class SoundingMixin:
    """Sounding lanes and decisions (mixed into the annotator window)."""

    def _build_sounding(self) -> None:
        self._coverage_cache: dict[tuple[bytes, bytes], float] = {}
        self._lanes_key: tuple | None = None
        self._lanes_cache: list[ObjectLane] = []
        if self.timeline is not None:
            self.timeline.laneClicked.connect(self._on_lane_clicked)
        self.objects.soundingToggled.connect(self._on_sounding_box)
        a = self._action
        a("toggle_sounding", self.toggle_sounding, icon_name="lanes")
        a("confirm_sounding", self.confirm_sounding)
        a("next_decision", self.next_decision, icon_name="next")

    def _sounding_menu(self, menu) -> None:
        menu.addSeparator()
        for sid in ("toggle_sounding", "confirm_sounding", "next_decision"):
            menu.addAction(self.actions_by_id[sid])

    # ------------------------------------------------------------------ the lanes
    def _coverage(self, obj, other) -> float:
        key = (obj.rle, other.rle)
        found = self._coverage_cache.get(key)
        if found is None:
            a = np.asarray(self.masks.mask(obj), dtype=bool)
            n = int(np.count_nonzero(a))
            found = 0.0 if n == 0 else int(np.count_nonzero(a & np.asarray(self.masks.mask(other), bool))) / n
            if len(self._coverage_cache) > _COVERAGE_ITEMS:
                self._coverage_cache.clear()
            self._coverage_cache[key] = found
        return found

    def _probabilities(self) -> dict[int, np.ndarray]:
        """The model's probability map of each frame, where this session still holds one."""
        maps = self.prob_maps.get(self.clip_id, {}) if self.clip_id is not None else {}
        out: dict[int, np.ndarray] = {}
        for (_inst, frame), p in maps.items():
            out[frame] = p if frame not in out else np.maximum(out[frame], p)
        return out

    def current_lanes(self) -> list[ObjectLane]:
        """The lanes of the open clip (recomputed only when its objects changed)."""
        if self.session is None or self.loaded is None:
            return []
        objs = self.session.store.objects()
        probs = self._probabilities()
        key = (self.clip_id, tuple(sorted(probs)), tuple(id(p) for _, p in sorted(probs.items())),
               tuple((o.frame, o.instance_id, o.rle, o.sounding, o.sounding_checked, o.provenance.kind,
                      o.provenance.confidence) for o in objs))  # fmt: skip
        if key != self._lanes_key:
            self._lanes_cache = object_lanes(objs, len(self.loaded.images), mask_of=self.masks.mask,
                                             probabilities=probs, coverage=self._coverage)  # fmt: skip
            self._lanes_key = key
        return self._lanes_cache

    def refresh_lanes(self) -> None:
        """Redraw the timeline's object lanes from the project."""
        if self.timeline is None:
            return
        if self.session is None or self.project is None:
            self.timeline.set_lanes([])
            return
        binary = self.project.setting.is_binary
        views = []
        for lane in self.current_lanes():
            name = f"#{lane.instance_id}" + ("" if binary else f" {self.project.labels.name(lane.label)}")
            views.append(LaneView(lane.instance_id, f"#{lane.instance_id}",
                                  object_colour(lane.label, lane.instance_id, binary=binary), lane.cells, name))  # fmt: skip
        self.timeline.set_lanes(views, self.selected)

    # ------------------------------------------------------------------ decisions
    def _apply_sounding(self, command: SetSounding) -> bool:
        if not self._can_edit():
            return False
        try:
            self.session.apply(command)
        except AVSError as exc:
            self.show_error(str(exc), "The edit was not made")
            return False
        self._after_edit([item[0] for item in command.items])
        self.statusBar().showMessage(command.description, 3000)
        return True

    def toggle_sounding(self) -> bool:
        """S: the selected object sounds in this frame, or is silent (one undoable command)."""
        if self.session is None:
            return False
        obj = self.session.store.object(self.frame_index, self.selected) if self.selected is not None else None
        if obj is None:
            self.statusBar().showMessage("Select an object of this frame to mark it sounding or silent", 4000)
            return False
        return self._apply_sounding(SetSounding([(self.frame_index, obj.instance_id)], not obj.sounding))

    def confirm_sounding(self) -> bool:
        """Shift+S: every object of this frame (but pending proposals) is decided as it is."""
        if self.session is None:
            return False
        items = [(self.frame_index, o.instance_id) for o in self.session.objects(self.frame_index)
                 if not o.provenance.is_proposal]  # fmt: skip
        if not items:
            self.statusBar().showMessage("No object in this frame to confirm", 3000)
            return False
        return self._apply_sounding(SetSounding(items, None))

    def next_decision(self) -> tuple[int, int] | None:
        """D: go to the next frame with an undecided object and select it; None when all is decided."""
        if self.loaded is None or self.session is None:
            return None
        found = next_decision(self.current_lanes(), self.frame_index, len(self.loaded.images))
        if found is None:
            self.statusBar().showMessage("Every object's sounding is decided in this clip", 5000)
            return None
        k, inst = found
        if k != self.frame_index:
            self.show_frame(k)
        self.select_object(inst)
        lane = next(lane for lane in self.current_lanes() if lane.instance_id == inst)
        cell = lane.cells[k]
        hint = "" if cell.hint is None else f"; the model's hint {cell.hint:.2f} says {'sounding' if cell.hint >= 0.5 else 'silent'}"
        state = "sounding" if cell.sounding else "silent"
        self.statusBar().showMessage(f"Frame {k + 1}, object #{inst}: marked {state}, not decided yet{hint} "
                                     "(S toggles, Shift+S confirms the frame)", 8000)  # fmt: skip
        return found

    def _on_sounding_box(self, instance_id: int) -> None:
        self.select_object(instance_id)
        if not self.toggle_sounding():
            self.refresh_objects()  # put the box back as the project has it

    def _on_lane_clicked(self, instance_id: int, frame: int) -> None:
        """A lane's title selects its object; a cell goes to that frame and toggles the object there."""
        if self.loaded is None:
            return
        if frame >= 0 and frame != self.frame_index:
            if self.player is not None and self.player.state == "playing":
                self.player.pause()
            self.show_frame(frame)
        self.select_object(instance_id)
        if frame >= 0 and self.session is not None and self.session.store.object(frame, instance_id) is not None:
            self.toggle_sounding()
