"""Run core jobs off the GUI thread, with progress and cancel.

A job is a plain callable ``fn(progress, cancel) -> result`` (the core's convention); a job
that hands over results one by one (proposals of many clips) takes a third argument,
``deliver(item)``. A :class:`JobWorker` runs it in a Qt thread pool and reports back
through signals, which Qt delivers on the GUI thread. :class:`JobBar` is the status-bar
face of the jobs a window runs: one progress bar, a message and a Cancel button.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from avs_studio.core.errors import AVSError, Cancelled
from avs_studio.core.jobs import CancelToken, Progress


class JobSignals(QObject):
    """Signals of one job: progress(done, total, message), item(obj), finished(result),
    failed(message), cancelled()."""

    progress = Signal(int, int, str)
    item = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()


class JobWorker(QRunnable):
    """A cancellable job for ``QThreadPool``.

    ``deliver=True`` calls ``fn(progress, cancel, deliver)``; each ``deliver(obj)`` emits
    :attr:`JobSignals.item` (handled on the GUI thread, in order).
    """

    def __init__(self, fn: Callable[..., Any], *, deliver: bool = False) -> None:
        super().__init__()
        self.fn = fn
        self.token = CancelToken()
        self.signals = JobSignals()
        self.with_deliver = deliver
        self.setAutoDelete(True)  # the pool owns the C++ side; Python keeps only .token and .signals

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self.token.cancelled

    def run(self) -> None:
        def progress(done: int, total: int | None, message: str = "") -> None:
            self.signals.progress.emit(int(done), int(total if total is not None else 0), message)

        try:
            if self.with_deliver:
                result = self.fn(progress, self.token, self.signals.item.emit)
            else:
                result = self.fn(progress, self.token)
        except Cancelled:
            self._emit(self.signals.cancelled)
        except AVSError as exc:
            self._emit(self.signals.failed, str(exc))
        except MemoryError:
            self._emit(self.signals.failed, "out of memory: the job was stopped and nothing was changed")
        except Exception as exc:  # the GUI must never die because a worker crashed
            self._emit(self.signals.failed, f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=4)}")
        else:
            self._emit(self.signals.finished, result)

    @staticmethod
    def _emit(signal, *args) -> None:
        # The window may be gone (closed while the job ran): nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            signal.emit(*args)


def start(worker: JobWorker, pool: QThreadPool | None = None) -> JobWorker:
    """Start ``worker`` in ``pool`` (default: the global pool) and return it."""
    (pool or QThreadPool.globalInstance()).start(worker)
    return worker


class JobBar(QWidget):
    """The jobs of a window: each runs in the window's pool; the bar shows the latest one.

    ``run(kind, fn, on_done, message)`` starts a job of ``kind`` ("open", "propose",
    "export"...). One job per kind: the caller decides whether a second waits, replaces
    or is refused (:meth:`busy`). ``quiet=True`` jobs (opening a clip) do not take the bar.
    """

    #: Emitted when the last running job ended (tests and screenshots wait for it).
    idle = Signal()

    def __init__(self, parent=None, *, threads: int = 4) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max(2, threads))
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setFixedWidth(220)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_shown)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel_button)
        self._jobs: dict[str, JobWorker] = {}
        self._shown: str | None = None
        self._messages: dict[str, str] = {}
        self.started_at: dict[str, float] = {}
        self.setVisible(False)

    # ------------------------------------------------------------------ state
    def busy(self, kind: str | None = None) -> bool:
        """True while a job (of ``kind``) runs."""
        return bool(self._jobs) if kind is None else kind in self._jobs

    @property
    def is_idle(self) -> bool:
        """True when no job runs."""
        return not self._jobs

    def job(self, kind: str) -> JobWorker | None:
        """The running job of ``kind``."""
        return self._jobs.get(kind)

    # ------------------------------------------------------------------ running
    def run(self, kind: str, fn: Callable[..., Any], on_done: Callable[[Any], None], message: str, *,
            on_failed: Callable[[str], None] | None = None, on_item: Callable[[Any], None] | None = None,
            on_cancelled: Callable[[], None] | None = None, quiet: bool = False) -> JobWorker:  # fmt: skip
        """Start ``fn`` as the job of ``kind``; a running job of that kind is cancelled first."""
        old = self._jobs.get(kind)
        if old is not None:
            old.cancel()
        worker = JobWorker(fn, deliver=on_item is not None)
        self._jobs[kind] = worker
        self._messages[kind] = message
        self.started_at[kind] = time.perf_counter()
        if not quiet:
            self._show(kind)
            self.bar.setRange(0, 0)
        s = worker.signals
        s.progress.connect(lambda d, t, m: self._progress(kind, worker, d, t, m))
        if on_item is not None:
            s.item.connect(lambda obj: None if self._jobs.get(kind) is not worker else on_item(obj))
        s.finished.connect(lambda r: self._end(kind, worker, lambda: on_done(r)))
        s.failed.connect(lambda msg: self._end(kind, worker, (lambda: on_failed(msg)) if on_failed else None))
        s.cancelled.connect(lambda: self._end(kind, worker, on_cancelled))
        self.pool.start(worker)
        return worker

    def cancel(self, kind: str) -> None:
        """Ask the job of ``kind`` to stop."""
        w = self._jobs.get(kind)
        if w is not None:
            w.cancel()
            if kind == self._shown:
                self.label.setText(f"{self._messages.get(kind, '')} stopping…")

    def cancel_shown(self) -> None:
        """The Cancel button: stop the job the bar shows."""
        if self._shown is not None:
            self.cancel(self._shown)

    def cancel_all(self) -> None:
        """Ask every job to stop."""
        for kind in list(self._jobs):
            self.cancel(kind)

    def wait(self, msecs: int = 10000) -> bool:
        """Block until the pool is empty (closing the window)."""
        return self.pool.waitForDone(msecs)

    # ------------------------------------------------------------------ signals
    def _show(self, kind: str) -> None:
        self._shown = kind
        self.label.setText(self._messages.get(kind, ""))
        self.setVisible(True)

    def _progress(self, kind: str, worker: JobWorker, done: int, total: int, text: str) -> None:
        if self._jobs.get(kind) is not worker or kind != self._shown:
            return
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
        if text and not worker.cancelled:
            self.label.setText(f"{self._messages.get(kind, '')} {text}")

    def _end(self, kind: str, worker: JobWorker, then: Callable[[], None] | None) -> None:
        current = self._jobs.get(kind) is worker
        if current:
            del self._jobs[kind]
            if kind == self._shown:
                self._shown = None
                others = [k for k in self._jobs if k != "open"]
                if others:
                    self._show(others[-1])
                else:
                    self.setVisible(False)
        try:
            if current and then is not None:
                then()
        finally:
            if not self._jobs:
                self.idle.emit()


Job = Callable[[Progress, CancelToken], Any]
