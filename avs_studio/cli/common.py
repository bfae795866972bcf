"""Pieces every ``avs-studio`` subcommand shares: progress bars, exit codes, argument types."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

from avs_studio.core.jobs import CancelToken, Progress

EXIT_USER_ERROR = 2
#: A batch finished, but some items were bad and were skipped (they are listed).
EXIT_PARTIAL = 3
EXIT_INTERRUPTED = 130


@contextlib.contextmanager
def progress_bar(desc: str, unit: str = "it", *, quiet: bool = False) -> Iterator[Progress]:
    """A tqdm bar (to stderr) driven by the core's ``progress(done, total, message)`` calls."""
    if quiet:
        yield lambda done, total, message="": None
        return
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False)

    def update(done: int, total: int | None, message: str = "") -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.n = done
        if message:
            bar.set_postfix_str(message[-30:], refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


def parse_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` -> (width, height), for argparse."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if w < 16 or h < 16 or w > 4096 or h > 4096:
        raise argparse.ArgumentTypeError("size must be between 16 and 4096 pixels per side")
    return w, h


def logmel_pickle_writer():
    """The official ``audio_log_mel/*.pkl`` writer (a pickled torch tensor), or None without torch."""
    try:
        from avs_studio.model.official_io import save_logmel_pickle
    except ImportError:
        print("note: torch is not installed, so audio_log_mel/*.pkl files are not written", file=sys.stderr)
        return None
    return save_logmel_pickle


@contextlib.contextmanager
def stop_on_ctrl_c(token: CancelToken) -> Iterator[None]:
    """First Ctrl-C: cancel after the current batch; the second: KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        print("\nstopping after the current batch (Ctrl-C again to abort now)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)

