"""How many threads the libraries under the core may start, per process.

Two defaults that suit one interactive process hurt a pool of decoding workers:

* NumPy's OpenBLAS starts a thread per core and, after each call, those threads spin for a
  while before they sleep. The core makes only small matrix products (the mel filterbank,
  a few colour conversions), which gain nothing from threads, but the spinning costs CPU
  time: on 2 cores, preparing a 5-s clip took 116 ms of CPU with the default and 50 ms with
  one BLAS thread (and less wall time too). With N worker processes on C cores the waste
  is N x C spinning threads. :func:`limit_numpy_blas` sets one BLAS thread.
* FFmpeg's decoders use frame threads (one per core) when asked for ``AUTO`` threading:
  good for a single viewer decoding 1080p, wasted work when every core already runs a
  worker. :func:`set_decoder_threads` sets the count that :mod:`media` gives each decoder.

Neither touches torch's own threads (OpenMP), which the engine sets.
"""

from __future__ import annotations

import os

_decoder_threads = 0  # 0: FFmpeg picks (one per core)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def set_decoder_threads(count: int) -> None:
    """Threads per video decoder from now on: ``0`` lets FFmpeg choose, ``1`` disables threading."""
    global _decoder_threads
    if int(count) < 0:
        raise ValueError(f"decoder threads must be >= 0, got {count}")
    _decoder_threads = int(count)


def decoder_threads() -> int:
    """The count :func:`set_decoder_threads` set (``0``: FFmpeg chooses)."""
    return _decoder_threads


def limit_numpy_blas(threads: int = 1) -> bool:
    """Cap the threads of NumPy's BLAS (and of any other BLAS loaded by now, such as the
    OpenBLAS an OpenCV wheel brings) for the rest of the process; False when it cannot.

    Uses threadpoolctl, which finds the BLAS libraries loaded (whatever their builds name
    their symbols) and leaves other thread pools, torch's OpenMP among them, alone.
    """
    try:
        import numpy  # noqa: F401  (the BLAS must be loaded to be found)
        from threadpoolctl import threadpool_limits
    except ImportError:
        return False
    threadpool_limits(limits=int(threads), user_api="blas")
    return True


def configure_worker(workers: int) -> None:
    """Settings for one of ``workers`` decoding processes sharing this machine's cores."""
    limit_numpy_blas(1)
    set_decoder_threads(max(1, usable_cpus() // max(1, int(workers))))
