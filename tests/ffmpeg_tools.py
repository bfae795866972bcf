"""The ffmpeg command line as a test oracle: make odd media files and read them as the
official preprocessing does.

The official S4/MS3 preprocessing reads a clip with ``imageio.get_reader(path, 'ffmpeg')``,
i.e. ``ffmpeg -i CLIP -f image2pipe -pix_fmt rgb24 -vcodec rawvideo -``, and takes the frame
rate imageio parses from the output stream's banner line. :func:`official_frames` runs that
same command, so a test can compare our sampled frames with what the official script would
have picked, pixel for pixel. CI installs Debian's ``ffmpeg`` (5.1, whose demuxers and
``-vsync cfr`` behave as the 4.x of the official runs on these files).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

_FPS = re.compile(r"Output #0.*?Stream #0:0.*?, ([\d.]+) fps", re.S)


def require_ffmpeg() -> str:
    """The ffmpeg executable; the test fails (it must run in CI) when there is none."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.fail("the ffmpeg command line is needed for this test (apt install ffmpeg; .ci/run does)")
    return exe


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly; a failure shows its message."""
    cmd = [require_ffmpeg(), "-v", "error", "-y", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed: {done.stderr[-800:]}")


def official_frames(path: Path, width: int, height: int, *, passthrough: bool = False) -> tuple[np.ndarray, float]:
    """Every frame the official reader sees (``[N, H, W, 3]`` RGB) and the fps it reads.

    ``passthrough`` gives the decoder's frames one each, in the order it outputs them
    (presentation order), instead of the official constant-rate sequence.
    """
    sync = ["-vsync", "passthrough"] if passthrough else []
    cmd = [require_ffmpeg(), "-i", str(path), *sync, "-f", "image2pipe", "-pix_fmt", "rgb24",
           "-vcodec", "rawvideo", "-"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True)
    if done.returncode != 0:
        raise AssertionError(done.stderr.decode(errors="replace")[-800:])
    fps = _FPS.search(done.stderr.decode(errors="replace"))
    assert fps, "ffmpeg printed no output frame rate"
    frames = np.frombuffer(done.stdout, np.uint8).reshape(-1, height, width, 3)
    return frames, float(fps.group(1))


def official_picks(path: Path, width: int, height: int, seconds: int = 5) -> list[np.ndarray]:
    """The frames ``preprocess_s4.py`` keeps: ``int(s*fi + 15/16*fi)`` of the reader's frames."""
    frames, fps = official_frames(path, width, height)
    fi = int(round(fps))
    return [frames[min(int(s * fi + (15 / 16) * fi), len(frames) - 1)] for s in range(seconds)]
