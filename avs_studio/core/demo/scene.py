"""Synthetic audio-visual scenes where the sound decides the segmentation.

Each object kind has its own look (shape and colour) and its own sound (a tone, a chirp,
noise bursts, a harmonic stack, a pulse train, a warble). Objects move and bounce; each
is *sounding* only in some seconds, and only the sounding objects belong to the mask of
a frame, so a model must listen to tell the answer. Everything is deterministic per seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ObjectKind:
    """A kind of object: how it looks, how it sounds, and its S4 category / AVSS class."""

    name: str
    shape: str
    colour: tuple[int, int, int]
    s4_category: str
    avss_class: str


KINDS: tuple[ObjectKind, ...] = (
    ObjectKind("tone", "disc", (222, 60, 50), "ambulance_siren", "emergency-car"),
    ObjectKind("chirp", "triangle", (60, 190, 70), "mynah_bird_singing", "bird"),
    ObjectKind("bursts", "square", (50, 90, 225), "typing_on_computer_keyboard", "keyboard"),
    ObjectKind("harmonic", "ring", (235, 200, 40), "playing_violin", "violin"),
    ObjectKind("pulses", "diamond", (200, 70, 205), "helicopter", "helicopter"),
    ObjectKind("warble", "cross", (40, 200, 215), "female_singing", "woman"),
)
KIND_BY_NAME = {k.name: k for k in KINDS}


@dataclass
class SceneObject:
    """One moving object: kind, start position/velocity (in units of frame height), size."""

    kind: ObjectKind
    x0: float
    y0: float
    vx: float
    vy: float
    radius: float
    sounding: np.ndarray  # bool per second
    gain: float = 1.0
    shade: float = 0.0

    def position(self, t: float, aspect: float) -> tuple[float, float]:
        """Centre at time ``t`` in (x, y) units of frame height; bounces off the borders."""
        r = self.radius
        return (_bounce(self.x0 + self.vx * t, r, aspect - r), _bounce(self.y0 + self.vy * t, r, 1.0 - r))


def _bounce(p: float, lo: float, hi: float) -> float:
    span = hi - lo
    if span <= 0:
        return (lo + hi) / 2
    q = (p - lo) % (2 * span)
    return lo + (q if q <= span else 2 * span - q)


@dataclass
class Scene:
    """A synthetic clip: background, objects, length, frame rate, native size."""

    seconds: int
    fps: float
    width: int
    height: int
    objects: list[SceneObject]
    background: tuple[np.ndarray, np.ndarray]
    seed: int
    texture_seed: int = 0
    _texture: np.ndarray | None = field(default=None, repr=False)

    @property
    def aspect(self) -> float:
        """Width / height of the native frame."""
        return self.width / self.height

    # ---------------------------------------------------------------- visuals
    def object_map(self, t: float, size: tuple[int, int]) -> np.ndarray:
        """Index of the visible object (0-based; -1 for background) at each pixel, int16 ``[H, W]``.

        Geometry is in units of the native frame height, so any output ``size`` shows the
        same scene (a 224 x 224 mask matches the native frame resized to 224 x 224).
        """
        w, h = size
        xs = (np.arange(w) + 0.5) / w * self.aspect
        ys = (np.arange(h) + 0.5) / h
        gx, gy = np.meshgrid(xs, ys)
        out = np.full((h, w), -1, dtype=np.int16)
        for i, obj in enumerate(self.objects):
            cx, cy = obj.position(t, self.aspect)
            inside = _shape_mask(obj.kind.shape, gx - cx, gy - cy, obj.radius, t)
            out[inside] = i
        return out

    def render(self, t: float, size: tuple[int, int] | None = None) -> np.ndarray:
        """RGB uint8 frame at time ``t`` (native size unless ``size``)."""
        w, h = size or (self.width, self.height)
        u = (np.arange(w) + 0.5) / w
        wave = 18.0 * np.sin(2 * np.pi * (u * 1.5 + 0.05 * t))  # a slow drift, per column
        img = self._backdrop(w, h) + wave[None, :, None]
        omap = self.object_map(t, (w, h))
        for i, obj in enumerate(self.objects):
            sel = omap == i
            if not sel.any():
                continue
            col = np.array(obj.kind.colour, dtype=np.float64) * (1.0 + obj.shade)
            # light from the top-left so objects look solid, not flat stickers
            cx, cy = obj.position(t, self.aspect)
            yy, xx = np.nonzero(sel)
            dx = (xx + 0.5) / w * self.aspect - cx
            dy = (yy + 0.5) / h - cy
            light = 1.0 - 0.2 * (dx + dy) / max(obj.radius, 1e-3)
            img[yy, xx] = col[None, :] * light[:, None]
        return np.clip(img, 0, 255).astype(np.uint8)

    def _backdrop(self, w: int, h: int) -> np.ndarray:
        """The static part of the background (gradient + texture), cached per size."""
        if self._texture is None or self._texture.shape[:2] != (h, w):
            top, bottom = self.background
            v = ((np.arange(h) + 0.5) / h)[:, None, None]
            grad = top * (1 - v) + bottom * v
            noise = np.random.default_rng(self.texture_seed).normal(0.0, 4.0, size=(h, w, 1))
            self._texture = (grad + noise).astype(np.float32)
        return self._texture

    def sounding_map(self, t: float, size: tuple[int, int]) -> np.ndarray:
        """Visible object index where that object sounds at ``t``, else -1."""
        omap = self.object_map(t, size)
        second = min(int(t), self.seconds - 1)
        out = np.full_like(omap, -1)
        for i, obj in enumerate(self.objects):
            if obj.sounding[second]:
                out[omap == i] = i
        return out

    def binary_mask(self, t: float, size: tuple[int, int]) -> np.ndarray:
        """uint8 {0,1}: the pixels of sounding objects at ``t``."""
        return (self.sounding_map(t, size) >= 0).astype(np.uint8)

    def label_mask(self, t: float, size: tuple[int, int], class_index: dict[str, int]) -> np.ndarray:
        """Class-index map (AVSS): each sounding object's class, background 0."""
        smap = self.sounding_map(t, size)
        out = np.zeros(smap.shape, dtype=np.uint8)
        for i, obj in enumerate(self.objects):
            out[smap == i] = class_index[obj.kind.avss_class]
        return out

    # ---------------------------------------------------------------- audio
    def audio(self, sample_rate: int = 44100, *, stereo: bool = True) -> np.ndarray:
        """The soundtrack: each object's sound in its sounding seconds, panned by position.

        float32 ``[S, 2]`` (or ``[S, 1]``) in [-1, 1].
        """
        n = int(round(self.seconds * sample_rate))
        t = np.arange(n) / sample_rate
        rng = np.random.default_rng(self.seed + 7919)
        mix = np.zeros((n, 2), dtype=np.float64)
        fade = int(0.015 * sample_rate)
        for obj in self.objects:
            gate = _gate(obj.sounding, sample_rate, n, fade)
            if not gate.any():
                continue
            sig = _sound(obj.kind.name, t, sample_rate, rng) * gate * obj.gain
            x = np.array([obj.position(ti, self.aspect)[0] for ti in np.arange(self.seconds) + 0.5])
            pan = np.repeat(np.clip(x / self.aspect, 0, 1), sample_rate)[:n]
            pan = np.pad(pan, (0, n - len(pan)), mode="edge")
            mix[:, 0] += sig * np.cos(pan * np.pi / 2) * np.sqrt(2)
            mix[:, 1] += sig * np.sin(pan * np.pi / 2) * np.sqrt(2)
        mix += rng.normal(0, 0.002, size=mix.shape)  # a little room noise; silence is never digital
        peak = np.abs(mix).max()
        if peak > 0.95:
            mix *= 0.95 / peak
        out = mix.astype(np.float32)
        return out if stereo else out.mean(axis=1, keepdims=True)


def _gate(sounding: np.ndarray, sr: int, n: int, fade: int) -> np.ndarray:
    g = np.repeat(sounding.astype(np.float64), sr)[:n]
    g = np.pad(g, (0, n - len(g)), mode="edge")
    if fade > 1:
        win = np.hanning(2 * fade + 1)
        win /= win.sum()
        g = np.convolve(g, win, mode="same")
    return g


def _sound(kind: str, t: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A kind's characteristic sound, RMS about 0.12."""
    if kind == "tone":
        s = np.sin(2 * np.pi * 700 * t)
    elif kind == "chirp":
        period = 0.25
        ph = (t % period) / period
        f0, f1 = 600.0, 2400.0
        k = np.log(f1 / f0)
        phase = 2 * np.pi * f0 * period * (np.exp(k * ph) - 1) / k
        s = np.sin(phase) * np.sin(np.pi * ph) ** 0.5
    elif kind == "bursts":
        noise = rng.normal(0, 1, size=t.shape)
        noise = np.diff(noise, prepend=0.0) * 0.6  # tilt towards high frequencies
        s = noise * ((t * 8) % 1 < 0.45)
    elif kind == "harmonic":
        s = sum(np.sin(2 * np.pi * 196 * h * t) / h for h in range(1, 9)) / 1.6
    elif kind == "pulses":
        ph = (t * 18) % 1
        s = np.exp(-ph * 25) * np.sin(2 * np.pi * 140 * t) * 2.2
    elif kind == "warble":
        s = np.sin(2 * np.pi * 1000 * t + 30 * np.sin(2 * np.pi * 5 * t))
    else:
        raise ValueError(f"unknown sound kind {kind!r}")
    rms = np.sqrt(np.mean(s**2)) or 1.0
    return s / rms * 0.12


def _shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, r: float, t: float) -> np.ndarray:
    if shape == "disc":
        return dx**2 + dy**2 <= r**2
    if shape == "square":
        return (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= r * 1.1
    if shape == "ring":
        d2 = dx**2 + dy**2
        return (d2 <= r**2) & (d2 >= (0.5 * r) ** 2)
    if shape == "triangle":
        # upward triangle inscribed in the circle of radius r
        return (dy <= 0.5 * r) & (dy >= -r + 1.732 * np.abs(dx) * 0.95)
    if shape == "cross":
        a = (np.abs(dx) <= r * 0.32) & (np.abs(dy) <= r)
        b = (np.abs(dy) <= r * 0.32) & (np.abs(dx) <= r)
        return a | b
    raise ValueError(f"unknown shape {shape!r}")


def make_scene(
    rng: np.random.Generator,
    *,
    seconds: int,
    kinds: list[ObjectKind],
    sounding: list[np.ndarray],
    fps: float = 25.0,
    size: tuple[int, int] = (320, 240),
) -> Scene:
    """A scene with one object per entry of ``kinds``, sounding as ``sounding`` says."""
    w, h = size
    aspect = w / h
    objects = []
    for kind, snd in zip(kinds, sounding):
        r = float(rng.uniform(0.13, 0.2))
        speed = float(rng.uniform(0.03, 0.12))
        angle = float(rng.uniform(0, 2 * np.pi))
        objects.append(
            SceneObject(
                kind=kind,
                x0=float(rng.uniform(r, aspect - r)),
                y0=float(rng.uniform(r, 1 - r)),
                vx=speed * np.cos(angle),
                vy=speed * np.sin(angle),
                radius=r,
                sounding=np.asarray(snd, dtype=bool),
                gain=float(rng.uniform(0.7, 1.2)),
                shade=float(rng.uniform(-0.12, 0.08)),
            )
        )
    top = rng.uniform(40, 200, size=3)
    bottom = rng.uniform(40, 200, size=3)
    return Scene(
        seconds=seconds,
        fps=fps,
        width=w,
        height=h,
        objects=objects,
        background=(top, bottom),
        seed=int(rng.integers(0, 2**31 - 1)),
        texture_seed=int(rng.integers(0, 2**31 - 1)),
    )
