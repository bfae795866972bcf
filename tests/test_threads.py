"""Thread caps for decoding workers: one BLAS thread, a share of the cores for FFmpeg."""

from __future__ import annotations

import numpy as np
import pytest

from avs_studio.core import threads
from avs_studio.core.media.decode import open_media
from avs_studio.model.prefetch import Prepared, iter_prepared


def _blas_threads() -> int:
    from threadpoolctl import threadpool_info

    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def report_worker_threads(item: int) -> Prepared:
    """Runs in a decoding worker: what the worker's initializer set."""
    return Prepared(item, error=f"{_blas_threads()},{threads.decoder_threads()}")


def test_a_decoding_worker_keeps_to_its_share_of_the_cores():
    got = list(iter_prepared([0], workers=2, prepare=report_worker_threads))
    blas, decoder = (int(x) for x in got[0].error.split(","))
    assert blas == 1
    assert decoder == max(1, threads.usable_cpus() // 2)


def test_frames_do_not_depend_on_the_decoder_threads(demo_root):
    video = next(iter(sorted(demo_root("s4", 1, 0).rglob("*.mp4"))))
    before = threads.decoder_threads()
    try:
        decoded = {}
        for count in (0, 1, 3):
            threads.set_decoder_threads(count)
            with open_media(video) as m:
                decoded[count] = [m.frame_at(t) for t in (0.5, 2.5, 4.9)]
        for count in (1, 3):
            for a, b in zip(decoded[0], decoded[count]):
                np.testing.assert_array_equal(a, b)
    finally:
        threads.set_decoder_threads(before)


def test_decoder_threads_must_not_be_negative():
    with pytest.raises(ValueError, match=">= 0"):
        threads.set_decoder_threads(-1)
