"""Opening a clip in a worker: frames, thumbnails with their objects, audio, frame rate.

Everything slow happens off the GUI thread: the frames decode in the worker while a second
thread reads the audio and the video's frame rate and a third decodes the objects' masks
into the window's :class:`MaskCache`, so putting the clip on screen is quick.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

from avs_studio.core.errors import AVSError
from avs_studio.core.project.project import Project
from avs_studio.core.project.records import ClipRecord
from avs_studio.gui.common.qimage import FillLayer, blend_objects, mask_box, object_colour

THUMB_SIZE = (128, 96)  # thumbnails of the frame strip (fit inside)


@dataclass
class LoadedClip:
    """A clip decoded by the open worker: frames, thumbnails, audio, what the player needs."""

    record: ClipRecord
    images: list[QImage]
    thumbs: list[np.ndarray]
    audio: np.ndarray | None = None
    rate: int = 16000
    video_path: Path | None = None
    offset: float = 0.0
    fps: float = 25.0
    notes: list[str] = field(default_factory=list)
    overlays: list[np.ndarray] = field(default_factory=list)  # thumbnails with their objects
    frames: list[np.ndarray] = field(default_factory=list, repr=False)  # the memory of ``images``
    objects: list = field(default_factory=list, repr=False)  # ObjectRecords by frame, as loaded


class MaskCache:
    """Decoded object masks, least recently used dropped first (thread-safe).

    Keyed by the object's frame, instance and RLE, so an edited object is decoded again
    and an unchanged one never is: switching frames back and forth costs no decoding.
    """

    def __init__(self, max_bytes: int = 192 << 20) -> None:
        import threading
        from collections import OrderedDict

        self._lock = threading.Lock()
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self.max_bytes = max_bytes

    def mask(self, obj) -> np.ndarray:
        """The decoded (read-only) mask of an ``ObjectRecord``."""
        key = (obj.clip_id, obj.frame, obj.instance_id, obj.rle)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        m = obj.mask
        with self._lock:
            self._items[key] = m
            self._bytes += m.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes
        return m

    def put(self, obj, mask: np.ndarray) -> None:
        """Remember the mask of an ``ObjectRecord`` known already (a proposal just added)."""
        m = np.asarray(mask, dtype=np.uint8)
        m.setflags(write=False)
        key = (obj.clip_id, obj.frame, obj.instance_id, obj.rle)
        with self._lock:
            if key not in self._items:
                self._items[key] = m
                self._bytes += m.nbytes

    def clear(self) -> None:
        """Forget everything (another project)."""
        with self._lock:
            self._items.clear()
            self._bytes = 0


def thumbnail_with_objects(thumb: np.ndarray, objects, masks: MaskCache, *, binary: bool) -> np.ndarray:
    """A frame's thumbnail with its objects blended in (masks shrunk with NEAREST)."""
    import cv2

    th, tw = thumb.shape[:2]
    layers = []
    for o in objects:
        m = masks.mask(o)
        # The store's masks are Fortran-ordered: resize the (C-ordered) transpose, no copy.
        small = cv2.resize(m.T, (th, tw), interpolation=cv2.INTER_NEAREST).T if m.flags.f_contiguous and \
            not m.flags.c_contiguous else cv2.resize(np.ascontiguousarray(m), (tw, th), interpolation=cv2.INTER_NEAREST)
        layers.append(FillLayer(small, object_colour(o.label, o.instance_id, binary=binary), o.provenance.is_proposal,
                                dimmed=not o.sounding))  # fmt: skip
    return blend_objects(thumb, layers, 0.6)


def _wrap_rgb(rgb: np.ndarray) -> QImage:
    """A QImage over a C-contiguous RGB array's memory (the array must outlive the image)."""
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)


def _sound_and_rate(project: Project, clip_id: str, rec: ClipRecord) -> tuple:
    """The clip's audio and its video's frame rate (run beside the frame decoding)."""
    notes, audio, rate, video, fps = [], None, 16000, None, 25.0
    with project.clip(clip_id) as clip:
        try:
            samples, rate = clip.audio()
            audio = np.asarray(samples, dtype=np.float32)
        except AVSError as exc:
            notes.append(f"no sound: {exc}")
        if clip.video_path is not None and Path(clip.video_path).is_file():
            video = Path(clip.video_path)
            with contextlib.suppress(AVSError):
                from avs_studio.core.media.probe import probe

                info = probe(video, count_frames=False)
                if info.video is not None and info.video.avg_fps:
                    fps = float(info.video.avg_fps)
    return audio, int(rate), video, fps, notes


def prerender(objects_by_frame: list, masks: MaskCache, *, binary: bool, alpha: int):
    """Every frame's base layer and outlines as the canvas draws them with nothing selected,
    so that the first visit of a frame costs no drawing on the GUI thread."""
    from avs_studio.gui.annotator.canvas import (
        Prerendered,
        base_layer_key,
        outline_path,
        render_base_layer,
    )

    out = Prerendered()
    for objs in objects_by_frame:
        layers = []
        for o in objs:
            m = masks.mask(o)
            box = mask_box(m)
            layers.append(FillLayer(m, object_colour(o.label, o.instance_id, binary=binary),
                                    o.provenance.is_proposal, box, dimmed=not o.sounding))  # fmt: skip
            if box is not None:
                out.paths.append((m, outline_path(m, box)))
        if layers:
            shape = layers[0].mask.shape[:2]
            out.layers.append((base_layer_key(shape, layers, alpha), render_base_layer(shape, layers, alpha)))
    return out


def load_clip_job(project: Project, clip_id: str, masks: MaskCache):
    """The worker job that decodes a clip: frames, thumbnails with objects, audio, frame rate.

    The audio and the video's frame rate are read in a second thread while the frames
    decode (FFmpeg releases the interpreter), and the objects' masks are decoded here, so
    the GUI thread only puts the results on screen.
    """

    def job(progress, cancel) -> LoadedClip:
        from concurrent.futures import ThreadPoolExecutor

        import cv2

        rec = project.clip_record(clip_id)
        if rec.media_missing:
            raise AVSError(
                f"{clip_id}: its media are missing ({rec.key_file}); the clip is kept in the project. "
                "Relink it (avs-studio project relink) and open it again"
            )
        def decode_masks() -> list:
            objects = [project.frame_objects(clip_id, k) for k in range(rec.num_frames)]
            for objs in objects:
                for o in objs:
                    masks.mask(o)
            return objects

        with ThreadPoolExecutor(2) as pool:
            side = pool.submit(_sound_and_rate, project, clip_id, rec)
            decoded = pool.submit(decode_masks)
            with project.clip(clip_id) as clip:
                frames = [np.ascontiguousarray(f, dtype=np.uint8) for f in clip.frames()]
            cancel.raise_if_cancelled()
            progress(1, 3, "frames")
            # The images share the arrays' memory (kept in LoadedClip.frames): no copies.
            images = [_wrap_rgb(f) for f in frames]
            thumbs = []
            for f in frames:
                h, w = f.shape[:2]
                scale = min(THUMB_SIZE[0] / w, THUMB_SIZE[1] / h)
                thumbs.append(cv2.resize(f, (max(1, round(w * scale)), max(1, round(h * scale))),
                                         interpolation=cv2.INTER_AREA))  # fmt: skip
            out = LoadedClip(rec, images, thumbs, frames=frames)
            binary = project.setting.is_binary
            out.objects = decoded.result()
            for k, objs in enumerate(out.objects):
                out.overlays.append(thumbnail_with_objects(thumbs[k], objs, masks, binary=binary))
            progress(2, 3, "audio")
            out.audio, out.rate, out.video_path, out.fps, out.notes = side.result()
        out.offset = rec.start if rec.source == "video" else 0.0
        progress(3, 3, "")
        return out

    return job
