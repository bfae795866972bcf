"""Run core jobs off the GUI thread, with progress and cancel.

A job is a plain callable ``fn(progress, cancel) -> result`` (the core's convention). A
:class:`JobWorker` runs it in Qt's global thread pool and reports back through signals,
which Qt delivers on the GUI thread.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ..core.errors import AVSError, Cancelled
from ..core.jobs import CancelToken, Progress


class JobSignals(QObject):
    """Signals of one job: progress(done, total, message), finished(result), failed(message)."""

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()


class JobWorker(QRunnable):
    """A cancellable job for ``QThreadPool``."""

    def __init__(self, fn: Callable[[Progress, CancelToken], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.token = CancelToken()
        self.signals = JobSignals()
        self.setAutoDelete(True)

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self.token.cancel()

    def run(self) -> None:
        def progress(done: int, total: int | None, message: str = "") -> None:
            self.signals.progress.emit(int(done), int(total if total is not None else 0), message)

        try:
            result = self.fn(progress, self.token)
        except Cancelled:
            self.signals.cancelled.emit()
        except AVSError as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:  # the GUI must never die because a worker crashed
            self.signals.failed.emit(f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=4)}")
        else:
            self.signals.finished.emit(result)


def start(worker: JobWorker, pool: QThreadPool | None = None) -> JobWorker:
    """Start ``worker`` in ``pool`` (default: the global pool) and return it."""
    (pool or QThreadPool.globalInstance()).start(worker)
    return worker
