"""A damaged video is a MediaError naming the file, never an AttributeError from deep inside
the probe: a bit flip in the MP4 header that renames the video codec (``avc1`` -> ``avX1``)
leaves PyAV a stream without a codec context, which ``info`` and ``project add`` used to
trip over."""

from __future__ import annotations

from pathlib import Path

import pytest

from avs_studio.cli import parser as cli
from avs_studio.core.errors import MediaError
from avs_studio.core.media.decode import open_media, probe
from avs_studio.core.project.project import Project


@pytest.fixture
def unknown_codec(demo_root, tmp_path) -> Path:
    src = sorted(demo_root("s4", 6, 0).rglob("*.mp4"))[0].read_bytes()
    assert src.count(b"avc1") >= 1
    path = tmp_path / "flipped.mp4"
    path.write_bytes(src.replace(b"avc1", b"avX1"))  # one changed byte per occurrence
    return path


def test_the_probe_gives_a_media_error(unknown_codec):
    with pytest.raises(MediaError, match="flipped.mp4.*codec"):
        probe(unknown_codec)
    with pytest.raises(MediaError, match="flipped.mp4"):
        open_media(unknown_codec)


def test_info_and_project_add_refuse_it_in_one_line(unknown_codec, tmp_path, capsys):
    assert cli.main(["-q", "info", str(unknown_codec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: flipped.mp4") and "Traceback" not in err
    project = tmp_path / "p.avsproj"
    with Project.create(project, "s4"):
        pass
    assert cli.main(["-q", "project", "add", str(project), str(unknown_codec)]) == 2
    err = capsys.readouterr().err
    assert "flipped.mp4" in err and "codec" in err and "Traceback" not in err
    with Project.open(project, readonly=True) as p:
        assert len(p) == 0
