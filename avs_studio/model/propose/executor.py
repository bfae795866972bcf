"""Stage 3-4's run loop behind one interface: an executor carries the clips still to do through
prepare -> infer -> write and tells the job each clip's outcome as it finishes.

The local executor (:mod:`avs_studio.model.propose.local`: decoding processes on this machine,
the model in this process) is the default; a cluster executor runs the same stages
elsewhere. Every executor writes a clip with :func:`avs_studio.model.propose.write.write_clip`
and reports through :class:`Outcomes`, so the output folder and the report do not depend on
which one ran.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from avs_studio.core.jobs import CancelToken, ItemFailure, Progress

if TYPE_CHECKING:  # pragma: no cover
    from avs_studio.model.engine import Engine
    from avs_studio.model.propose.discover import ClipTask
    from avs_studio.model.propose.report import ProposeReport


@dataclass
class RunSpec:
    """What an executor is asked to do: the output folder, the outputs per clip (``kinds``),
    the engine the driver built, and the decoding options (``workers`` None = the executor's
    default, ``backend`` "process" or "thread", ``max_ahead`` prepared clips in flight)."""

    out: Path
    kinds: list[str]
    engine: Engine
    workers: int | None = None
    backend: str = "process"
    max_ahead: int | None = None


@dataclass
class RunStats:
    """Where an executor's time went (``timings``, seconds), how its decoding went
    (``prefetch``: workers, clips in flight at most, worker restarts, ...), and what the
    report should tell about the run (``notes``: a cluster's layout, why it stopped)."""

    timings: dict[str, float] = field(default_factory=dict)
    prefetch: dict[str, int] = field(default_factory=dict)
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)


class Outcomes:
    """The job's side of a run: each clip's outcome recorded in the report, with progress.

    Executors call :meth:`done` and :meth:`failed` from the thread that called
    :meth:`Executor.run`, one call per clip, in the order clips finish.
    """

    def __init__(self, report: ProposeReport, progress: Progress) -> None:
        self.report = report
        self.progress = progress
        # Clips skipped as done and entries refused at discovery count as handled already.
        self.handled = len(report.skipped) + len(report.failures)
        progress(self.handled, report.total, "")

    def done(self, task: ClipTask) -> None:
        """``task``'s outputs and marker are written."""
        self.report.done.append(task.clip_id)
        self._step(task.clip_id)

    def failed(self, task: ClipTask, error: str) -> None:
        """``task`` could not be prepared, run or written: nothing of it is left half-written."""
        self.report.failures.append(ItemFailure(task.clip_id, error, task.source))
        self._step(task.clip_id)

    def _step(self, clip_id: str) -> None:
        self.handled += 1
        # The message ends with the failures so far: a progress bar that shows its tail
        # keeps them in view.
        failed = len(self.report.failures)
        self.progress(self.handled, self.report.total, f"{clip_id}, {failed} failed" if failed else clip_id)


class Executor(ABC):
    """Runs prepare -> infer -> write over ``todo``; see the module docstring."""

    #: Shown in reports ("local", "ray").
    name: str = ""

    @abstractmethod
    def run(self, todo: list[ClipTask], spec: RunSpec, outcomes: Outcomes,
            cancel: CancelToken | None) -> RunStats:  # fmt: skip
        """Carry every clip of ``todo`` to an outcome (or stop early when ``cancel`` is set:
        clips finished so far are whole, the others are left for the next run)."""
