"""Long work as cancellable jobs that report progress.

A job is a plain function that takes a :class:`Progress` callback and a
:class:`CancelToken`. The CLI wraps the callback in a progress bar, the GUI in a worker
signal; neither holds logic the other lacks. Batches over many items report bad items
in a :class:`BatchReport` and carry on with the rest.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from avs_studio.core.errors import AVSError, Cancelled

T = TypeVar("T")
R = TypeVar("R")


class Progress(Protocol):
    """Called as ``progress(done, total, message)``; ``total`` may be None if unknown."""

    def __call__(self, done: int, total: int | None, message: str = "") -> None: ...


def no_progress(done: int, total: int | None, message: str = "") -> None:
    """A progress callback that ignores everything."""


class CancelToken:
    """A thread-safe flag a job polls between units of work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the job was asked to stop."""
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


@dataclass
class ItemFailure:
    """One item of a batch that could not be processed."""

    item: str
    error: str
    detail: str = ""


@dataclass
class BatchReport(Generic[R]):
    """What a batch did: results of the good items, failures of the bad ones."""

    results: list[R] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)
    skipped: int = 0
    cancelled: bool = False

    @property
    def ok(self) -> int:
        """Number of items that succeeded."""
        return len(self.results)

    def summary(self, noun: str = "items") -> str:
        """One line for the end of a CLI command."""
        one = noun[:-1] if self.ok == 1 and noun.endswith("s") else noun  # "1 clip done"
        parts = [f"{self.ok} {one} done"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        if self.failures:
            parts.append(f"{len(self.failures)} failed")
        if self.cancelled:
            parts.append("cancelled")
        return ", ".join(parts)


def run_batch(
    items: Iterable[T],
    work: Callable[[T], R],
    *,
    name: Callable[[T], str] = str,
    total: int | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    skip: type[Exception] | tuple[type[Exception], ...] = (),
    report: BatchReport[R] | None = None,
) -> BatchReport[R]:
    """Apply ``work`` to each item; record user-facing errors per item and go on.

    :class:`AVSError` and ``OSError``/``ValueError`` from one item become an
    :class:`ItemFailure`; exceptions of the ``skip`` types count the item as skipped; a
    cancel request stops before the next item and marks the report ``cancelled``.
    Programming errors of other types still propagate. Results go into ``report`` (a
    fresh :class:`BatchReport` unless a subclass instance is given).
    """
    if report is None:
        report = BatchReport()
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    progress(0, total, "")
    for done, item in enumerate(items, start=1):
        if cancel is not None and cancel.cancelled:
            report.cancelled = True
            break
        label = name(item)
        try:
            report.results.append(work(item))
        except skip:
            report.skipped += 1
        except Cancelled:
            report.cancelled = True
            break
        except (AVSError, OSError, ValueError) as exc:
            report.failures.append(
                ItemFailure(label, f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=3))
            )
        progress(done, total, label)
    return report
