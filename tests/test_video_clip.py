"""A segment of a plain video is a clip like any other, and its audio is the official one."""

from __future__ import annotations

import numpy as np
import pytest

from avs_studio.core.datasets import open_dataset
from avs_studio.core.errors import MediaError
from avs_studio.core.media.video_clip import VideoClip
from avs_studio.core.project.project import Project


def test_a_video_clip_and_its_project_clip_give_the_same_model_inputs(demo_root, tmp_path):
    video = open_dataset(demo_root("s4", 6, 0)).clips("test")[0].video_path
    with VideoClip(video, "s4") as clip:
        assert clip.num_frames == 5 and clip.annotated == ()
        assert [round(t, 2) for t in clip.frame_times()] == [0.92, 1.92, 2.92, 3.92, 4.92]
        mel = clip.log_mel()
        frames, flags = clip.model_frames()
    assert mel.shape == (5, 96, 64) and frames.shape == (5, 3, 224, 224) and flags.all()
    with Project.create(tmp_path / "p.avsproj", "s4") as project:
        record = project.add_video(video, seconds=5)
        pclip = project.clip(record.clip_id)
        assert np.array_equal(pclip.log_mel(), mel)  # both from the official 16 kHz WAV
        assert np.array_equal(pclip.model_frames()[0], frames)


def test_a_video_too_short_for_the_segment_is_refused(demo_root):
    video = open_dataset(demo_root("s4", 6, 0)).clips("test")[0].video_path
    with pytest.raises(MediaError, match="needs"):
        VideoClip(video, "avss", start=2.0, seconds=10)
