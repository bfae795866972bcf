"""Assisted annotation without Qt: the built-in click segmenter, "refine proposal", the
simulated annotator, propagation through the frames between sampled frames, the cache."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from avs_studio.core.assist.cache import EmbeddingCache
from avs_studio.core.assist.classical import ClassicalSegmenter
from avs_studio.core.assist.frames import ClipFrames
from avs_studio.core.assist.prompt import AssistError, Click, Prompt, proposal_prompt
from avs_studio.core.assist.propagate import FlowTracker, propagate
from avs_studio.core.assist.simulate import brush_step, interactions_to, iou, next_click

# ---------------------------------------------------------------------- test pictures


def texture(rng, h: int, w: int, palette, cell: int) -> np.ndarray:
    """A blotchy texture of ``palette`` colours (cells of ``cell`` pixels, smoothed, noisy)."""
    idx = rng.integers(0, len(palette), (h // cell + 2, w // cell + 2))
    small = np.asarray(palette, np.float32)[idx]
    big = cv2.resize(small, (w + 2 * cell, h + 2 * cell), interpolation=cv2.INTER_CUBIC)[:h, :w]
    return np.clip(big + rng.normal(0, 6, big.shape), 0, 255)


BACKGROUND = [(70, 110, 60), (120, 150, 80), (90, 80, 50), (150, 140, 110)]
# the object shares one colour (the dark brown) with the background
OBJECT = [(200, 90, 60), (230, 180, 120), (90, 80, 50)]


def textured_scene(seed: int, h: int = 240, w: int = 320) -> tuple[np.ndarray, np.ndarray]:
    """A textured blob (an ellipse and a disc) on a textured background, and its mask."""
    rng = np.random.default_rng(seed)
    bg = texture(rng, h, w, BACKGROUND, 6)
    obj = texture(rng, h, w, OBJECT, 4)
    m = np.zeros((h, w), np.uint8)
    cx, cy = rng.uniform(0.35 * w, 0.65 * w), rng.uniform(0.35 * h, 0.65 * h)
    cv2.ellipse(m, (int(cx), int(cy)), (int(rng.uniform(0.12, 0.22) * w), int(rng.uniform(0.12, 0.22) * h)),
                rng.uniform(0, 180), 0, 360, 1, -1)  # fmt: skip
    cv2.circle(m, (int(cx + rng.uniform(-0.12, 0.12) * w), int(cy + rng.uniform(-0.12, 0.12) * h)),
               int(rng.uniform(0.05, 0.09) * w), 1, -1)  # fmt: skip
    return np.where(m[..., None] > 0, obj, bg).astype(np.uint8), m > 0


def deepest(mask: np.ndarray) -> Click:
    d = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    r, c = np.unravel_index(int(np.argmax(d)), d.shape)
    return Click(float(c), float(r))


# ---------------------------------------------------------------------- the click segmenter


def test_one_click_inside_a_textured_object_finds_it():
    """The annotator clicks once in the middle of a textured object on a textured background
    (they even share a colour): the built-in segmenter outlines it."""
    seg = ClassicalSegmenter()
    scores = []
    for seed in range(6):
        img, truth = textured_scene(seed)
        scores.append(iou(seg.segment(img, Prompt(clicks=(deepest(truth),))).mask, truth))
    assert min(scores) > 0.85, scores
    assert np.median(scores) > 0.95, scores


def test_a_negative_click_takes_a_neighbour_away():
    """A click on a square that touches a disc of another colour may take both; a negative
    click on the disc takes the disc away (it floods its own region), leaving the square."""
    h, w = 200, 260
    rng = np.random.default_rng(3)
    img = texture(rng, h, w, BACKGROUND, 8).astype(np.uint8)
    square = np.zeros((h, w), bool)
    square[60:140, 50:130] = True
    disc = np.zeros((h, w), np.uint8)
    cv2.circle(disc, (165, 100), 40, 1, -1)
    disc = disc.astype(bool) & ~square
    img[square] = (40, 90, 220)
    img[disc] = (220, 60, 50)
    seg = ClassicalSegmenter()
    prompt = Prompt(clicks=(Click(90, 100),))
    first = seg.segment(img, prompt)
    second = seg.segment(img, prompt.with_click(Click(175, 100, positive=False)), state=first.state)
    assert iou(second.mask, square) > 0.95
    assert not second.mask[disc].any()


def test_a_box_alone_segments_the_object_in_it():
    img, truth = textured_scene(4)
    rows, cols = np.flatnonzero(truth.any(axis=1)), np.flatnonzero(truth.any(axis=0))
    box = (cols[0] - 4, rows[0] - 4, cols[-1] + 4, rows[-1] + 4)
    mask = ClassicalSegmenter().segment(img, Prompt().with_box(box)).mask
    assert iou(mask, truth) > 0.9
    assert not mask[: rows[0] - 5].any()  # nothing outside the box


def test_large_frames_are_cut_small_and_refined_at_full_resolution():
    """On a 1280x720 frame the cut runs on a shrunk crop; the outline still lands on the
    object's edge at full resolution (a one-pixel error all round would cost ~2%)."""
    img, truth = textured_scene(2, h=720, w=1280)
    seg = ClassicalSegmenter()
    mask = seg.segment(img, Prompt(clicks=(deepest(truth),))).mask
    assert iou(mask, truth) > 0.95
    no_refine = ClassicalSegmenter(refine=False).segment(img, Prompt(clicks=(deepest(truth),))).mask
    assert iou(mask, truth) >= iou(no_refine, truth) - 0.002


def test_an_object_larger_than_the_first_guess_is_found_whole():
    """The first crop guesses an object of a third of the frame; a bigger one runs into the
    crop's border and the segmenter widens the crop."""
    h, w = 240, 320
    rng = np.random.default_rng(7)
    img = texture(rng, h, w, BACKGROUND, 6).astype(np.uint8)
    truth = np.zeros((h, w), np.uint8)
    cv2.ellipse(truth, (160, 120), (140, 100), 0, 0, 360, 1, -1)
    truth = truth > 0
    img[truth] = texture(rng, h, w, OBJECT[:2], 4).astype(np.uint8)[truth]
    mask = ClassicalSegmenter().segment(img, Prompt(clicks=(Click(160, 120),))).mask
    assert iou(mask, truth) > 0.9


def test_empty_prompts_and_bad_priors():
    img, _ = textured_scene(0)
    seg = ClassicalSegmenter()
    res = seg.segment(img, Prompt(clicks=(Click(10, 10, positive=False),)))
    assert not res.mask.any() and res.notes
    with pytest.raises(AssistError, match="prior mask"):
        seg.segment(img, Prompt(clicks=(Click(10, 10),), prior=np.zeros((5, 5), bool)))
    with pytest.raises(AssistError, match="RGB uint8"):
        seg.segment(img.astype(np.float32), Prompt(clicks=(Click(10, 10),)))


def test_a_correction_on_a_prior_keeps_the_rest_of_it():
    """A prior (a proposal, a propagated mask) that spilled onto the background: one negative
    click in the spill removes it and keeps the object."""
    img, truth = textured_scene(5)
    spill = np.zeros_like(truth)
    rows, cols = np.flatnonzero(truth.any(axis=1)), np.flatnonzero(truth.any(axis=0))
    spill[rows[0] : rows[-1], cols[-1] : min(cols[-1] + 40, truth.shape[1])] = True
    prior = truth | spill
    extra = spill & ~truth
    click = deepest(extra)
    res = ClassicalSegmenter().segment(img, Prompt(clicks=(Click(click.x, click.y, False),), prior=prior))
    assert iou(res.mask, truth) > 0.9
    assert iou(prior, truth) < 0.85  # the correction was needed


# ---------------------------------------------------------------------- refine proposal


def test_refine_proposal_turns_a_proposal_into_clicks_and_a_prior():
    img, truth = textured_scene(1)
    proposal = cv2.dilate(truth.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0  # a bit too fat
    prompt = proposal_prompt(proposal)
    assert prompt.positives and prompt.negatives and prompt.prior is not None
    assert all(proposal[int(c.y), int(c.x)] for c in prompt.positives)
    assert not any(proposal[int(c.y), int(c.x)] for c in prompt.negatives)
    refined = ClassicalSegmenter().segment(img, prompt).mask
    assert iou(refined, truth) > iou(proposal, truth) + 0.05
    assert proposal_prompt(np.zeros_like(truth)).empty


def test_refine_proposal_prefers_the_confident_core():
    mask = np.zeros((100, 100), bool)
    mask[20:80, 10:90] = True
    prob = np.zeros((100, 100), np.float32)
    prob[mask] = 0.55
    prob[30:70, 60:85] = 0.95  # the model is sure only of the right part
    prompt = proposal_prompt(mask, probability=prob)
    assert all(c.x >= 60 for c in prompt.positives)


# ---------------------------------------------------------------------- the simulated annotator


def test_the_robot_clicks_the_largest_error_at_its_deepest_point():
    truth = np.zeros((60, 80), bool)
    truth[10:50, 10:40] = True  # 40 x 30 miss
    pred = np.zeros_like(truth)
    pred[20:30, 50:70] = True  # a 10 x 20 false positive
    click = next_click(pred, truth)
    assert click.positive and 10 <= click.y < 50 and 10 <= click.x < 40
    # the deepest points of a 30-wide, 40-high miss: its centre column, 15 px from the sides
    assert abs(click.x - 24.5) <= 1 and 24 <= click.y <= 35
    pred |= truth
    click = next_click(pred, truth)
    assert not click.positive and 50 <= click.x < 70
    assert next_click(truth, truth) is None


def test_brush_only_needs_many_strokes_and_is_capped():
    truth = np.zeros((100, 100), bool)
    cv2.circle(truth.view(np.uint8), (50, 50), 35, 1, -1)
    n, quality, _ = interactions_to(truth, brush_step(6), cap=20)
    assert n == 20 and quality < 0.9
    n, quality, _ = interactions_to(truth, brush_step(34), cap=20)
    assert 1 <= n < 20 and quality >= 0.9


# ---------------------------------------------------------------------- propagation


class MovingDisc(ClipFrames):
    """Five sampled frames one second apart of a textured disc moving ``speed`` px/s over a
    textured background, with 24 video frames between each pair (25 fps)."""

    def __init__(self, speed: float, *, video: bool = True, h: int = 240, w: int = 360) -> None:
        self.h, self.w, self.speed = h, w, speed
        rng = np.random.default_rng(11)
        self.bg = texture(rng, h, w, BACKGROUND, 5).astype(np.uint8)
        self.tex = texture(rng, h, w + 400, OBJECT, 4).astype(np.uint8)
        self.video_on = video
        super().__init__([self.render(25 * k)[0] for k in range(5)], 5)

    @property
    def has_video(self) -> bool:  # type: ignore[override]
        return self.video_on

    def render(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        dx = self.speed * i / 25.0
        mask = np.zeros((self.h, self.w), np.uint8)
        cv2.circle(mask, (int(round(60 + dx)), self.h // 2), 40, 1, -1)
        shift = int(round(dx))
        tex = self.tex[:, 400 - shift : 400 - shift + self.w]  # the texture moves with the disc
        img = np.where(mask[..., None] > 0, tex, self.bg)
        return img, mask > 0

    def between(self, k0: int, k1: int) -> list[np.ndarray]:
        if not self.video_on:
            return []
        lo, hi = sorted((k0, k1))
        out = [self.render(i)[0] for i in range(25 * lo + 1, 25 * hi)]
        return out if k1 > k0 else out[::-1]


def test_propagation_through_the_video_follows_a_fast_object_direct_flow_loses_it():
    """A textured disc moves 60 px per second: flow straight from one sampled frame to the
    next loses it; walking through the decoded frames between them follows it."""
    clip = MovingDisc(60.0)
    start = clip.render(0)[1]
    chained = propagate(clip, 0, start, [1, 2, 3, 4])
    direct = propagate(MovingDisc(60.0, video=False), 0, start, [1, 2, 3, 4])
    truth = {k: clip.render(25 * k)[1] for k in range(5)}
    chained_iou = [iou(p.mask, truth[p.frame]) for p in chained.frames]
    # direct flow either follows it badly or, failing to follow it at all, says it is lost
    direct_iou = [iou(p.mask, truth[p.frame]) for p in direct.frames] + [0.0] * (4 - len(direct.frames))
    assert len(chained_iou) == 4 and min(chained_iou) > 0.9, chained_iou
    assert np.mean(direct_iou) < 0.6 and (direct.lost or direct.frames), (direct_iou, direct.lost)
    assert all(not p.direct for p in chained.frames)
    assert direct.notes and "no video" in direct.notes[0]
    assert chained.frames[0].steps < 25  # slow motion is not stepped frame by frame


def test_propagation_goes_backwards_too_and_a_correction_restarts_from_there():
    clip = MovingDisc(40.0)
    truth = {k: clip.render(25 * k)[1] for k in range(5)}
    res = propagate(clip, 2, truth[2], [0, 1, 3, 4])
    assert [p.frame for p in res.frames] == [0, 1, 3, 4]
    assert all(iou(p.mask, truth[p.frame]) > 0.9 for p in res.frames)
    # a correction on frame 3 (here: the truth) proposes frame 4 from frame 3
    again = propagate(clip, 3, truth[3], [4])
    assert again.source == 3 and again.frames[0].steps >= 1
    assert iou(again.frames[0].mask, truth[4]) > 0.9


def test_an_object_that_leaves_is_reported_lost():
    clip = MovingDisc(40.0)
    tiny = np.zeros((clip.h, clip.w), bool)
    res = propagate(clip, 0, tiny, [1, 2])
    assert res.frames == [] and res.lost == [1]
    assert "lost" in res.summary()


def test_propagation_refined_by_the_segmenter_snaps_to_edges():
    clip = MovingDisc(30.0)
    truth = {k: clip.render(25 * k)[1] for k in range(5)}
    rough = cv2.erode(truth[0].astype(np.uint8), np.ones((7, 7), np.uint8)) > 0  # 3 px too small
    plain = propagate(clip, 0, rough, [1])
    refined = propagate(clip, 0, rough, [1], refine=ClassicalSegmenter())
    assert refined.frames[0].refined
    assert iou(refined.frames[0].mask, truth[1]) > iou(plain.frames[0].mask, truth[1])


def test_a_shot_change_ends_the_walk():
    """After a cut to another shot nothing of the object can be followed: it is reported
    lost there, and nothing is proposed on that frame or after it."""
    clip = MovingDisc(20.0)
    rng = np.random.default_rng(99)
    other = (texture(rng, clip.h, clip.w, [(20, 20, 200), (240, 240, 240)], 3)).astype(np.uint8)
    real_between = clip.between

    def between(k0, k1):
        frames = real_between(k0, k1)
        if (k0, k1) == (1, 2):
            frames[12:] = [other] * len(frames[12:])  # the shot changes half-way
        return frames

    clip.between = between
    clip._sampled = [*clip._sampled[:2], other, other, other]
    res = propagate(clip, 0, clip.render(0)[1], [1, 2, 3, 4])
    assert [p.frame for p in res.frames] == [1] and res.lost == [2]
    assert "lost on frame(s) 3" in res.summary()


def test_flow_tracker_keeps_holes():
    """A ring stays a ring (the hole moves with it)."""
    h, w = 160, 240
    rng = np.random.default_rng(5)
    bg = texture(rng, h, w, BACKGROUND, 5).astype(np.uint8)
    tex = texture(rng, h, w, OBJECT, 4).astype(np.uint8)

    def ring(dx: int) -> tuple[np.ndarray, np.ndarray]:
        m = np.zeros((h, w), np.uint8)
        cv2.circle(m, (80 + dx, 80), 45, 1, -1)
        cv2.circle(m, (80 + dx, 80), 18, 0, -1)
        img = np.where(m[..., None] > 0, np.roll(tex, dx, axis=1), bg)
        return img, m > 0

    frames = [ring(d)[0] for d in range(2, 22, 2)]
    out, share, steps = FlowTracker().walk(ring(0)[1], ring(0)[0], frames)
    truth = ring(20)[1]
    assert iou(out, truth) > 0.9 and not out[80, 100]  # the hole's centre, moved
    assert 0 < share <= 1 and steps >= 1


def sliding_disc(h: int = 160, w: int = 240):
    """``scene(dx)``: a textured disc moved ``dx`` px right over a textured background, and its mask."""
    rng = np.random.default_rng(7)
    bg = texture(rng, h, w, BACKGROUND, 5).astype(np.uint8)
    tex = texture(rng, h, w, OBJECT, 4).astype(np.uint8)

    def scene(dx: int) -> tuple[np.ndarray, np.ndarray]:
        m = np.zeros((h, w), np.uint8)
        cv2.circle(m, (90 + dx, 80), 40, 1, -1)
        return np.where(m[..., None] > 0, np.roll(tex, dx, axis=1), bg), m > 0

    return scene


def backward_tracks_off(monkeypatch, *, share: float, by: float) -> None:
    """The flow forwards stays right, but for ``share`` of the tracked points the flow
    backwards (the check, every second tracking call) lands ``by`` px away from where they
    started: as where the object is occluded or flickers."""
    real = cv2.calcOpticalFlowPyrLK
    calls = {"n": 0}

    def lk(prev, cur, pts, nxt, *args, **kw):
        out, status, err = real(prev, cur, pts, nxt, *args, **kw)
        calls["n"] += 1
        if calls["n"] % 2 == 0:
            out = out.copy()
            out[: int(round(len(out) * share)), 0, 0] += by
        return out, status, err

    monkeypatch.setattr(cv2, "calcOpticalFlowPyrLK", lk)


def test_tracks_whose_backward_flow_does_not_come_back_are_dropped_and_lower_the_confidence(monkeypatch):
    """The forward-backward check alone. A textured disc moves 4 px: every point agrees
    (confidence 1). When 40 % of the points' backward tracks end 3 px from where they started,
    those points are dropped: the disc is still followed by the others and the proposal's
    confidence falls to the share that came back. A track back within a pixel is kept; with
    the check off nothing is dropped; when no track comes back the object is lost."""
    scene = sliding_disc()
    (start, mask), (moved, truth) = scene(0), scene(4)

    def walk(**kw):
        out, share, _ = FlowTracker(**kw).walk(mask, start, [moved])
        return out, share

    out, share = walk()
    assert iou(out, truth) > 0.95 and share > 0.95
    with monkeypatch.context() as m:
        backward_tracks_off(m, share=0.4, by=3.0)
        out, share = walk()
    assert iou(out, truth) > 0.95  # the 60 % that came back carry the motion
    assert 0.5 < share < 0.65  # and the confidence says how many did
    with monkeypatch.context() as m:
        backward_tracks_off(m, share=0.4, by=0.5)  # back within a pixel: kept
        assert walk()[1] > 0.95
    with monkeypatch.context() as m:
        backward_tracks_off(m, share=0.4, by=3.0)
        assert walk(check=False)[1] > 0.95  # the check is what dropped them
    with monkeypatch.context() as m:
        backward_tracks_off(m, share=1.0, by=3.0)
        out, share = walk()
    assert not out.any() and share == 0.0  # nothing came back: lost, no proposal
    # through propagate(): the proposal carries that confidence; frame 3 after the loss is not proposed
    frames = ClipFrames([start, moved, scene(8)[0]], 3)
    with monkeypatch.context() as m:
        backward_tracks_off(m, share=0.4, by=3.0)
        res = propagate(frames, 0, mask, [1, 2])
    assert [p.frame for p in res.frames] == [1, 2]
    assert all(0.5 < p.confidence < 0.65 for p in res.frames), [p.confidence for p in res.frames]
    assert iou(res.frames[1].mask, scene(8)[1]) > 0.9
    with monkeypatch.context() as m:
        backward_tracks_off(m, share=1.0, by=3.0)
        res = propagate(frames, 0, mask, [1, 2])
    assert res.frames == [] and res.lost == [1]


def test_clip_frames_decode_the_video_between_sampled_frames(tmp_path):
    """Real video: the frames between two sampled frames come from one forward decode, at the
    sampled frames' size, in walking order (reversed backwards)."""
    from avs_studio.core.media.writer import write_video

    frames = []
    for i in range(50):
        f = np.zeros((64, 96, 3), np.uint8)
        f[:, : 2 * i % 96] = 200  # a bar that grows: frame i is recognisable
        frames.append(f)
    video = tmp_path / "bar.mp4"
    write_video(video, iter(frames), 25.0)
    sampled = [cv2.resize(frames[i], (48, 32)) for i in (10, 35)]
    clip = ClipFrames(sampled, 2, video=video, video_times=[10 / 25, 35 / 25])
    with clip:
        fwd = clip.between(0, 1)
        back = clip.between(1, 0)
    assert len(fwd) == 24 and fwd[0].shape == (32, 48, 3)
    widths = [int((f[16, :, 0] > 100).sum()) for f in fwd]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    assert [int((f[16, :, 0] > 100).sum()) for f in back] == widths[::-1]
    assert not ClipFrames(sampled, 2).has_video and ClipFrames(sampled, 2).between(0, 1) == []


# ---------------------------------------------------------------------- the embedding cache


def test_embedding_cache_is_bounded_and_least_recently_used_goes_first():
    cache = EmbeddingCache(max_items=3, max_bytes=10_000)
    for k in range(4):
        cache.get(k, lambda k=k: np.zeros(100, np.float32))
    assert cache.keys() == [1, 2, 3]
    cache.get(1, lambda: pytest.fail("cached values are not computed again"))
    assert cache.keys() == [2, 3, 1]
    cache.put("big", np.zeros(2000, np.float32))  # 8000 bytes: the count bound drops key 2
    assert cache.keys() == [3, 1, "big"] and cache.bytes == 8800
    cache.put("bigger", np.zeros(2000, np.float32))  # now the byte bound drops everything else
    assert cache.keys() == ["bigger"] and cache.bytes == 8000


def test_embedding_cache_computes_a_key_once_for_two_threads():
    cache = EmbeddingCache()
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return np.ones(4)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("frame", slow))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 2
