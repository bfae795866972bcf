"""Stage 3, infer: prepared clips through the engine, batch by batch.

Every executor feeds the model through :class:`Batcher`, so that the same clips meet the
same checks and batches wherever the model runs (the local process or a Ray actor).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from avs_studio.core.errors import AVSError

if TYPE_CHECKING:  # pragma: no cover
    from avs_studio.model.engine import ClipScores, Engine
    from avs_studio.model.inputs import ClipInputs
    from avs_studio.model.propose.discover import ClipTask


class Batcher:
    """Collects prepared clips into batches of ``engine.batch_clips`` and runs each full batch.

    :meth:`check` refuses inputs the model cannot take (the clip fails, the run goes on);
    :meth:`add` returns the scores of a batch when it fills, :meth:`flush` the rest.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._inputs: list[ClipInputs] = []
        self._tasks: dict[str, ClipTask] = {}

    def check(self, inputs: ClipInputs) -> str | None:
        """Why the model cannot take ``inputs``, or None."""
        try:
            self.engine.check_inputs(inputs)
        except AVSError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def add(self, task: ClipTask, inputs: ClipInputs) -> list[tuple[ClipTask, ClipScores]]:
        """Queue one clip; run the batch when it is full."""
        self._inputs.append(inputs)
        self._tasks[inputs.clip_id] = task
        return self.flush() if len(self._inputs) >= self.engine.batch_clips else []

    def flush(self) -> list[tuple[ClipTask, ClipScores]]:
        """Run what is queued (a partial batch at the end of the run)."""
        if not self._inputs:
            return []
        scores = self.engine.run(self._inputs)
        self._inputs = []
        return [(self._tasks.pop(s.clip_id), s) for s in scores]

    @property
    def pending(self) -> int:
        """Clips queued and not yet run."""
        return len(self._inputs)
