"""Stage 2, prepare: a clip's model inputs from its task (in a worker): resolve, decode, log-mel."""

from __future__ import annotations

from avs_studio.model.inputs import ClipInputs, prepare_clip
from avs_studio.model.prefetch import Prepared, guarded_prepare
from avs_studio.model.propose.discover import ClipTask


def prepare_task(task: ClipTask) -> Prepared:
    """Worker entry point: resolve the task and prepare its inputs; failures are returned."""

    def make() -> ClipInputs:
        clip = task.resolve()
        try:
            return prepare_clip(clip)
        finally:
            close = getattr(clip, "close", None)
            if task.kind != "clip" and callable(close):
                close()

    return guarded_prepare(task, make)
