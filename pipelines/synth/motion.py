"""Renders short clips of a textured shape moving over a noisy background.

Each class is a :class:`Motion`: a shape family and a movement. A class and its *reverse* show
the same random clip played backwards, so the set of frames of a "Swiping Left" clip has exactly
the distribution of a "Swiping Right" clip's: only the order of the frames tells them apart, as in
the real datasets' temporal pairs. Start position, size, colour, speed and background are drawn
per clip so clips cannot be memorised.
"""

from __future__ import annotations

import dataclasses

import numpy as np

SHAPES = ("disc", "two_discs", "square", "two_squares", "bar", "striped_disc", "four_dots")
MOVEMENTS = (
    "right",  # reversed: left
    "down",  # reversed: up
    "grow",  # reversed: shrink
    "rotate_cw",  # reversed: counterclockwise
    "roll",  # stripes scroll down inside the shape; reversed: up
    "shake",  # side-to-side oscillation (symmetric in time)
    "still",
    "flicker",
    "absent",  # background only
    "wander",  # random walk
)


@dataclasses.dataclass(frozen=True)
class Motion:
    """A class of clips: ``shape`` doing ``movement``, played backwards when ``reverse``."""

    shape: str
    movement: str
    reverse: bool = False


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A dim, smooth colour gradient with static noise (float32 ``[H, W, 3]`` in 0-255)."""
    corners = rng.uniform(10, 90, size=(2, 2, 3))
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    top = corners[0, 0] * (1 - x) + corners[0, 1] * x
    bottom = corners[1, 0] * (1 - x) + corners[1, 1] * x
    gradient = top * (1 - y) + bottom * y
    return (gradient + rng.normal(0, 12, size=(height, width, 3))).astype(np.float32)


def _trajectory(
    rng: np.random.Generator, movement: str, t: np.ndarray, size: float, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame centre x, centre y, scale, angle and stripe phase for ``movement``."""
    n = len(t)
    margin_x, margin_y = size * 1.2, size * 1.2
    cx = np.full(n, rng.uniform(margin_x, width - margin_x))
    cy = np.full(n, rng.uniform(margin_y, height - margin_y))
    scale = np.ones(n)
    angle = np.full(n, rng.uniform(0, np.pi))
    phase = np.full(n, rng.uniform(0, 2 * np.pi))
    if movement == "right":
        travel = rng.uniform(0.35, 0.6) * (width - 2 * margin_x)
        start = rng.uniform(margin_x, width - margin_x - travel)
        cx = start + travel * t
    elif movement == "down":
        travel = rng.uniform(0.5, 0.9) * max(height - 2 * margin_y, 1.0)
        start = rng.uniform(margin_y, height - margin_y - travel)
        cy = start + travel * t
    elif movement == "grow":
        scale = np.exp(np.log(rng.uniform(0.35, 0.5)) * (1 - t))
    elif movement == "rotate_cw":
        angle = angle + rng.uniform(0.6, 1.0) * np.pi * t
    elif movement == "roll":
        phase = phase + rng.uniform(2.0, 3.0) * 2 * np.pi * t
    elif movement == "shake":
        cx = cx + size * 0.6 * np.sin(2 * np.pi * rng.uniform(2.0, 3.0) * t)
    elif movement == "wander":
        steps = rng.normal(0, size * 0.15, size=(2, n)).cumsum(axis=1)
        cx = np.clip(cx + steps[0], margin_x, width - margin_x)
        cy = np.clip(cy + steps[1], margin_y, height - margin_y)
    return cx, cy, scale, angle, phase


def _parts(shape: str, size: float) -> list[tuple[str, float, float, float]]:
    """The primitives of a shape: (kind, offset along the shape's axis, across, radius)."""
    small = size * 0.45
    if shape == "two_discs":
        return [("disc", -small * 1.3, 0, small), ("disc", small * 1.3, 0, small)]
    if shape == "two_squares":
        return [("square", -small * 1.3, 0, small), ("square", small * 1.3, 0, small)]
    if shape == "four_dots":
        dot = size * 0.3
        return [("disc", (i - 1.5) * dot * 2.2, 0, dot) for i in range(4)]
    if shape == "bar":
        return [("bar", 0, 0, size)]
    if shape == "square":
        return [("square", 0, 0, size * 0.85)]
    return [("disc", 0, 0, size)]


def render_clip(
    motion: Motion, rng: np.random.Generator, num_frames: int, height: int, width: int
) -> np.ndarray:
    """Renders one clip of ``motion``.

    Returns:
        uint8 ``[num_frames, height, width, 3]``.
    """
    background = _background(rng, height, width)
    size = rng.uniform(0.16, 0.24) * min(height, width) * 1.2
    colour = rng.uniform(0, 1, size=3)
    colour = 150 + 105 * colour / colour.max()
    stripe_period = rng.uniform(0.45, 0.7) * size
    t = np.linspace(0.0, 1.0, num_frames)
    cx, cy, scale, angle, phase = _trajectory(rng, motion.movement, t, size, height, width)
    flicker = rng.uniform(0, 1, size=num_frames) < 0.5
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for i in range(num_frames):
        image = background + rng.normal(0, 6, size=background.shape).astype(np.float32)
        visible = motion.movement != "absent" and not (motion.movement == "flicker" and flicker[i])
        if visible:
            cos, sin = np.cos(angle[i]), np.sin(angle[i])
            for kind, along, across, radius in _parts(motion.shape, size * scale[i]):
                px = cx[i] + along * cos - across * sin
                py = cy[i] + along * sin + across * cos
                u = (x - px) * cos + (y - py) * sin
                v = -(x - px) * sin + (y - py) * cos
                if kind == "disc":
                    mask = u**2 + v**2 <= radius**2
                elif kind == "square":
                    mask = np.maximum(np.abs(u), np.abs(v)) <= radius
                else:
                    mask = (np.abs(u) <= radius) & (np.abs(v) <= radius * 0.35)
                stripes = 0.7 + 0.3 * np.sin(2 * np.pi * v / stripe_period + phase[i])
                image[mask] = (colour * stripes[mask][:, None]).astype(np.float32)
        frames[i] = np.clip(image, 0, 255).astype(np.uint8)
    return frames[::-1].copy() if motion.reverse else frames
