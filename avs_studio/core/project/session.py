"""Editing one clip: apply commands, undo and redo, with every step committed at once.

``session.apply(cmd)`` runs the command and records it in the clip's undo history in ONE
transaction (the autosave): a crash loses at most the command in flight. The history is
the ``history`` table itself, not a copy in memory, so it survives closing the clip or the
program: the last :data:`HISTORY_LIMIT` commands of each clip can be undone after a reopen.
Rows with ``undone = 1`` form the redo stack; a new command clears it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from avs_studio.core.project.edits import (
    AcceptProposal,
    Command,
    Composite,
    SetStatus,
    decode_command,
    encode_command,
)
from avs_studio.core.project.painting import WAND_TOLERANCE, StrokeBuilder, flood_fill, polygon_fill
from avs_studio.core.project.records import ObjectRecord
from avs_studio.core.project.store import ClipStore, now_iso

if TYPE_CHECKING:
    from avs_studio.core.project.project import Project

#: Commands of each clip kept for undo (older ones are forgotten at the next commit).
HISTORY_LIMIT = 200
#: A mask edit on a clip in one of these states moves it to "in progress" (in the same command).
_AUTO_PROGRESS_FROM = ("new", "proposed")


class ClipSession:
    """The undo stack of one open clip and the one way to change that clip.

    Get one from :meth:`Project.session`. ``auto_status`` moves a ``new`` or ``proposed``
    clip to ``in_progress`` with its first mask edit (undone together with that edit).
    """

    def __init__(self, project: Project, store: ClipStore, *, auto_status: bool = True) -> None:
        self.project = project
        self.store = store
        self.auto_status = auto_status

    @property
    def clip_id(self) -> str:
        """The clip this session edits."""
        return self.store.clip_id

    @property
    def user(self) -> str:
        """Who the edits are recorded for."""
        return self.store.user

    # ------------------------------------------------------------------ changing
    def apply(self, command: Command) -> None:
        """Do ``command``, record it, clear the redo stack and commit, all or nothing.

        A model proposal the command edits by hand (brush, eraser, polygon, fill in it)
        becomes the annotator's object in the same step, as an edited prediction does in
        CVAT or X-AnyLabeling: accepted in the frame edited, so the export keeps the edit.
        Undo takes both back.
        """
        store = self.store
        with store.store.write(f"'{command.description}'") as conn:
            edited = [AcceptProposal(inst, frame) for frame, inst in command.hand_edited()
                      if (obj := store.object(frame, inst)) is not None and obj.provenance.is_proposal]  # fmt: skip
            if edited:
                command = Composite([command, *edited], command.description)
            if self.auto_status and command.changes_masks and store.status()[0] in _AUTO_PROGRESS_FROM:
                command = Composite([command, SetStatus("in_progress")], command.description)
            command.do(store)
            text, blob = encode_command(command)
            conn.execute("DELETE FROM history WHERE clip=? AND undone=1", (store.rowid,))
            conn.execute(
                "INSERT INTO history(clip, undone, description, command, data, user, at) "
                "VALUES (?, 0, ?, ?, ?, ?, ?)",
                (store.rowid, command.description, text, blob, store.user, now_iso()),
            )
            conn.execute(
                "DELETE FROM history WHERE clip=? AND undone=0 AND id <= ("
                " SELECT id FROM history WHERE clip=? AND undone=0 ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (store.rowid, store.rowid, HISTORY_LIMIT),
            )
            store.touch()

    def undo(self) -> str | None:
        """Undo the last command; return its description (None if there is nothing to undo)."""
        store = self.store
        with store.store.write("the undo") as conn:
            row = conn.execute(
                "SELECT id, description, command, data FROM history WHERE clip=? AND undone=0 "
                "ORDER BY id DESC LIMIT 1",
                (store.rowid,),
            ).fetchone()
            if row is None:
                return None
            decode_command(row["command"], row["data"]).undo(store)
            conn.execute("UPDATE history SET undone=1 WHERE id=?", (row["id"],))
            store.touch()
        return row["description"]

    def redo(self) -> str | None:
        """Redo the last undone command; return its description (None if none)."""
        store = self.store
        with store.store.write("the redo") as conn:
            row = conn.execute(
                "SELECT id, description, command, data FROM history WHERE clip=? AND undone=1 "
                "ORDER BY id ASC LIMIT 1",
                (store.rowid,),
            ).fetchone()
            if row is None:
                return None
            cmd = decode_command(row["command"], row["data"])
            cmd.do(store)
            text, blob = encode_command(cmd)
            conn.execute("UPDATE history SET undone=0, command=?, data=? WHERE id=?", (text, blob, row["id"]))
            store.touch()
        return row["description"]

    # ------------------------------------------------------------------ the stacks
    def _top(self, undone: int) -> str | None:
        order = "DESC" if undone == 0 else "ASC"
        row = self.store.store.query_one(
            f"SELECT description FROM history WHERE clip=? AND undone=? ORDER BY id {order} LIMIT 1",
            (self.store.rowid, undone),
        )
        return None if row is None else row[0]

    @property
    def can_undo(self) -> bool:
        """True when there is a command to undo."""
        return self._top(0) is not None

    @property
    def can_redo(self) -> bool:
        """True when there is an undone command to redo."""
        return self._top(1) is not None

    @property
    def undo_description(self) -> str | None:
        """Description of the command :meth:`undo` would revert ("Brush stroke")."""
        return self._top(0)

    @property
    def redo_description(self) -> str | None:
        """Description of the command :meth:`redo` would repeat."""
        return self._top(1)

    def undo_text(self) -> str:
        """Menu text: "Undo Brush stroke" (or plain "Undo" when there is nothing)."""
        d = self.undo_description
        return f"Undo {d}" if d else "Undo"

    def redo_text(self) -> str:
        """Menu text: "Redo Brush stroke" (or plain "Redo")."""
        d = self.redo_description
        return f"Redo {d}" if d else "Redo"

    def history(self) -> list[tuple[str, bool]]:
        """``(description, undone)`` of the recorded commands, oldest first."""
        rows = self.store.store.query(
            "SELECT description, undone FROM history WHERE clip=? ORDER BY id", (self.store.rowid,)
        )
        return [(r[0], bool(r[1])) for r in rows]

    # ------------------------------------------------------------------ reading
    def objects(self, frame: int) -> list[ObjectRecord]:
        """Objects of one frame in paint order: bottom first, as the export composes them."""
        return self.store.objects(frame)

    def object_order(self) -> list[int]:
        """Every object of the clip, bottom to top."""
        return self.store.object_order()

    def label_mask(self, frame: int, *, include_proposals: bool = False) -> np.ndarray:
        """Class-index map of one frame (see :meth:`Project.label_mask`)."""
        return self.project.label_mask(self.clip_id, frame, include_proposals=include_proposals)

    def binary_mask(self, frame: int, *, include_proposals: bool = False) -> np.ndarray:
        """Union of the objects of one frame (see :meth:`Project.binary_mask`)."""
        return self.project.binary_mask(self.clip_id, frame, include_proposals=include_proposals)

    def next_instance_id(self) -> int:
        """An instance id not used in this clip yet."""
        return self.store.next_instance_id()

    # ------------------------------------------------------------------ tools -> commands
    def stroke(self, frame: int, instance_id: int, *, radius: float, erase: bool = False,
               label: int | None = None, behind: bool = False,
               protect: np.ndarray | None = None) -> StrokeBuilder:  # fmt: skip
        """Start a brush (or eraser) stroke; ``finish()`` it and :meth:`apply` the result.

        ``behind`` paints behind the other objects (their pixels stay theirs); ``protect``:
        pixels the brush must not claim (the locked objects' pixels).
        """
        return StrokeBuilder(self.store, frame, instance_id, radius=radius, erase=erase, label=label,
                             behind=behind, protect=protect)  # fmt: skip

    def polygon(self, frame: int, instance_id: int, points, *, erase: bool = False,
                label: int | None = None, behind: bool = False,
                protect: np.ndarray | None = None) -> Command | None:  # fmt: skip
        """A polygon fill (or erase) command, not yet applied (``behind``, ``protect`` as for
        :meth:`stroke`)."""
        return polygon_fill(self.store, frame, instance_id, points, erase=erase, label=label,
                            behind=behind, protect=protect)  # fmt: skip

    def flood_fill(self, frame: int, instance_id: int, x: float, y: float, *,
                   bounded_by: str = "objects", label: int | None = None, image: np.ndarray | None = None,
                   tolerance: float = WAND_TOLERANCE) -> Command | None:  # fmt: skip
        """A flood-fill command, not yet applied (a magic wand when the frame ``image`` is given)."""
        return flood_fill(self.store, frame, instance_id, x, y, bounded_by=bounded_by, label=label,
                          image=image, tolerance=tolerance)  # fmt: skip
