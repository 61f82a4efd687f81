"""How things move: bounded random walks, object tracks, the occluder's crossing and the camera path.

Positions are continuous frame pixels, speeds px/frame, angles degrees (clockwise positive).
Every function draws only from the ``rng`` it is given, in a fixed order (part of determinism).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge_tracker.datasets.synthetic.config import SyntheticConfig
from edge_tracker.datasets.synthetic.shapes import _affine, _polygon_bounds, _Sprite


def bounded_walk(rng: np.random.Generator, n: int, step_std: float, low: float, high: float,
                 momentum: float = 0.9) -> np.ndarray:
    """A smooth random walk ``[n]`` starting at 0 and reflected into ``[low, high]`` (low <= 0 <= high).

    ``v = momentum * v + N(0, step_std)``, ``x += v``; on reaching a limit the walk reflects and
    its velocity flips. ``step_std == 0`` gives all zeros (and draws nothing).
    """
    out = np.zeros(n, np.float64)
    if step_std <= 0 or n < 2:
        return out
    kicks = rng.normal(0.0, step_std, n)
    x = v = 0.0
    for t in range(1, n):
        v = momentum * v + kicks[t]
        x += v
        if x > high:
            x, v = 2 * high - x, -abs(v)
        if x < low:
            x, v = 2 * low - x, abs(v)
        x = min(max(x, low), high)
        out[t] = x
    return out


@dataclass
class _Track:
    """Per-frame state of one object: centre (frame continuous px), scale, aspect factor, angle."""

    centre: np.ndarray  # [N, 2]
    scale: np.ndarray  # [N]
    aspect: np.ndarray  # [N] multiplies w/h of the base shape
    angle: np.ndarray  # [N] degrees

    def matrix(self, t: int) -> np.ndarray:
        return _affine((self.centre[t, 0], self.centre[t, 1]), self.scale[t], self.aspect[t], self.angle[t])

    def velocity(self, t: int) -> tuple[float, float]:
        """Displacement into frame ``t`` (out of frame 0 for t = 0), px."""
        if len(self.centre) < 2:
            return 0.0, 0.0
        a, b = (t - 1, t) if t > 0 else (0, 1)
        d = self.centre[b] - self.centre[a]
        return float(d[0]), float(d[1])


def _centre_limits(extent: tuple[float, float], size: float, frame: float,
                   outside: float) -> tuple[float, float]:
    """Range of the centre along one axis so at most ``outside`` x the box size leaves the frame."""
    low_offset, high_offset = extent
    low = -low_offset - outside * size
    high = frame - high_offset + outside * size
    if low > high:  # larger than the frame: keep it centred
        low = high = (low + high) / 2.0
    return low, high


def simulate_track(rng: np.random.Generator, sprite: _Sprite, cfg: SyntheticConfig, *,
                   avoid: np.ndarray | None = None) -> _Track:
    """Smooth random motion bouncing off the borders, with the configured deformations.

    Velocity: ``v += N(0, acceleration_std)`` per axis each frame, its magnitude clamped to
    ``[speed_min, speed_max]``. The centre reflects off limits that let at most ``max_outside``
    of the current box leave the frame (frame 0 starts wholly inside). ``avoid``: an xywh box
    that the object's frame-0 box should not overlap (tried 50 times).
    """
    n, width, height = cfg.num_frames, cfg.width, cfg.height
    log_scale = bounded_walk(rng, n, cfg.scale_step_std, math.log(cfg.scale_min), math.log(cfg.scale_max))
    limit = math.log(cfg.aspect_change_max)
    log_aspect = bounded_walk(rng, n, cfg.aspect_step_std, -limit, limit)
    spin = rng.uniform(-cfg.rotation_speed_max, cfg.rotation_speed_max)
    scale, aspect = np.exp(log_scale), np.exp(log_aspect)
    angle = spin * np.arange(n, dtype=np.float64)
    extents = []
    for t in range(n):
        pts = sprite.outline @ _affine((0.0, 0.0), scale[t], aspect[t], angle[t])[:, :2].T
        extents.append(_polygon_bounds(pts))

    x_lim = _centre_limits((extents[0][0], extents[0][2]), 0, width, 0.0)
    y_lim = _centre_limits((extents[0][1], extents[0][3]), 0, height, 0.0)
    position = np.array([rng.uniform(*x_lim), rng.uniform(*y_lim)])
    if avoid is not None:
        for _ in range(50):
            box = (position[0] + extents[0][0], position[1] + extents[0][1],
                   extents[0][2] - extents[0][0], extents[0][3] - extents[0][1])
            if not _boxes_overlap(box, avoid, margin=4.0):
                break
            position = np.array([rng.uniform(*x_lim), rng.uniform(*y_lim)])
    heading = rng.uniform(0, 2 * math.pi)
    velocity = rng.uniform(cfg.speed_min, cfg.speed_max) * np.array([math.cos(heading), math.sin(heading)])
    accel = rng.normal(0.0, cfg.acceleration_std, (n, 2)) if cfg.acceleration_std > 0 else np.zeros((n, 2))
    centre = np.zeros((n, 2))
    centre[0] = position
    for t in range(1, n):
        velocity = velocity + accel[t]
        speed = float(np.hypot(*velocity))
        if speed > 0:
            velocity *= min(max(speed, cfg.speed_min), cfg.speed_max) / speed
        elif cfg.speed_min > 0:
            velocity = np.array([cfg.speed_min, 0.0])
        position = position + velocity
        x0, y0, x1, y1 = extents[t]
        for axis, (low_off, high_off, size, frame) in enumerate(((x0, x1, x1 - x0, width), (y0, y1, y1 - y0, height))):
            low, high = _centre_limits((low_off, high_off), size, frame, cfg.max_outside)
            if position[axis] < low:
                position[axis], velocity[axis] = 2 * low - position[axis], abs(velocity[axis])
            if position[axis] > high:
                position[axis], velocity[axis] = 2 * high - position[axis], -abs(velocity[axis])
            position[axis] = min(max(position[axis], low), high)
        centre[t] = position
    return _Track(centre, scale, aspect, angle)


def leave_and_return(track: _Track, sprite: _Sprite, cfg: SyntheticConfig) -> _Track:
    """``track`` with an excursion out of the view (``cfg.leave_frames`` > 0), else ``track`` itself.

    From frame ``t0 = round(leave_at * N)`` the target moves straight through the nearest border at
    ``leave_speed`` px/frame until wholly outside, stays outside for ``leave_frames`` frames (its
    ground-truth rows are NaN there), and comes back the same way, shifted along that border by
    ``return_shift`` x the border's length (towards the frame's middle). Scale, aspect and angle
    hold their ``t0`` values meanwhile. Afterwards the original motion resumes from frame ``t0``
    (later frames are the original ones delayed by the excursion, moved by the shift and kept
    within ``max_outside`` of the frame); frames past ``N`` are dropped. Draws nothing from any
    random stream, so the rest of the sequence is what it was without the excursion.
    """
    n, width, height = cfg.num_frames, cfg.width, cfg.height
    if cfg.leave_frames <= 0 or n < 2:
        return track
    t0 = min(max(1, round(cfg.leave_at * n)), n - 1)

    def extent(t: int) -> tuple[float, float, float, float]:
        return _polygon_bounds(sprite.outline @ _affine((0.0, 0.0), track.scale[t], track.aspect[t],
                                                        track.angle[t])[:, :2].T)

    x0, y0, x1, y1 = extent(t0)
    px, py = track.centre[t0]
    # distance to travel until wholly outside, per border: left, right, top, bottom
    exits = ((px + x1, 0, -1.0), (width - (px + x0), 0, 1.0), (py + y1, 1, -1.0), (height - (py + y0), 1, 1.0))
    distance, axis, sign = min(exits, key=lambda e: e[0])
    distance = max(distance, 0.0) + 1.0  # one pixel beyond, so the outline is clear of the border
    direction = np.zeros(2)
    direction[axis] = sign
    across = 1 - axis
    side = (width, height)[across]
    low, high = _centre_limits(((x0, y0)[across], (x1, y1)[across]), 0.0, side, 0.0)
    towards_middle = 1.0 if track.centre[t0, across] < side / 2 else -1.0
    shift = np.zeros(2)
    shift[across] = min(max(track.centre[t0, across] + towards_middle * cfg.return_shift * side, low),
                        high) - track.centre[t0, across]

    travel = max(1, math.ceil(distance / cfg.leave_speed))  # frames to go out (the last one is outside)
    start = track.centre[t0]
    path = [start + direction * cfg.leave_speed * i for i in range(1, travel)]
    out_from, out_to = start + direction * distance, start + shift + direction * distance
    path += [out_from + (out_to - out_from) * (i / max(cfg.leave_frames - 1, 1)) for i in range(cfg.leave_frames)]
    path += [start + shift + direction * cfg.leave_speed * (travel - j) for j in range(1, travel)]
    excursion = len(path)

    centre, scale = track.centre.copy(), track.scale.copy()
    aspect, angle = track.aspect.copy(), track.angle.copy()
    for t in range(t0 + 1, n):
        k = t - t0 - 1
        if k < excursion:
            centre[t], source = path[k], t0
        else:
            source = t - excursion - 1
            centre[t] = track.centre[source] + shift
            bx0, by0, bx1, by1 = extent(source)
            for dim, (lo_off, hi_off, frame) in enumerate(((bx0, bx1, width), (by0, by1, height))):
                lo, hi = _centre_limits((lo_off, hi_off), hi_off - lo_off, frame, cfg.max_outside)
                centre[t, dim] = min(max(centre[t, dim], lo), hi)
        scale[t], aspect[t], angle[t] = track.scale[source], track.aspect[source], track.angle[source]
    return _Track(centre, scale, aspect, angle)


def _boxes_overlap(a, b, margin: float = 0.0) -> bool:
    return (a[0] < b[0] + b[2] + margin and b[0] < a[0] + a[2] + margin
            and a[1] < b[1] + b[3] + margin and b[1] < a[1] + a[3] + margin)


def _occluder_track(rng: np.random.Generator, sprite: _Sprite, target_sprite: _Sprite, target: _Track,
                    cfg: SyntheticConfig) -> _Track:
    """A straight path that puts the occluder over the target at a frame in 25..75% of the sequence.

    At that frame the occluder's centre is within a quarter of the target's shorter half side of
    the target's centre (both shapes contain their centres, so they overlap); its speed is raised
    where needed so that it starts clear of the target at frame 0.
    """
    n = cfg.num_frames
    low = min(max(1, n // 4), n - 1)  # never frame 0 unless there is no other
    t_cross = int(rng.integers(low, max(low, (3 * n) // 4) + 1))
    tx0, ty0, tx1, ty1 = _polygon_bounds(target_sprite.outline)
    reach = 0.25 * min(tx1 - tx0, ty1 - ty0) / 2.0 * target.scale[t_cross] * rng.uniform(0.0, 1.0)
    angle = rng.uniform(0, 2 * math.pi)
    meet = target.centre[t_cross] + reach * np.array([math.cos(angle), math.sin(angle)])
    heading = rng.uniform(0, 2 * math.pi)
    direction = np.array([math.cos(heading), math.sin(heading)])
    speed = rng.uniform(cfg.occluder_speed_min, cfg.occluder_speed_max)
    # Bounding radii: the target's at its largest possible scale and stretch, the occluder's.
    target_radius = (math.hypot(max(-tx0, tx1), max(-ty0, ty1)) * target.scale[0]
                     * cfg.scale_max * math.sqrt(cfg.aspect_change_max))
    ox0, oy0, ox1, oy1 = _polygon_bounds(sprite.outline)
    radius = target_radius + math.hypot(max(-ox0, ox1), max(-oy0, oy1)) + 2.0
    if t_cross > 0:
        # Clear at frame 0: |meet - speed * t_cross * direction - target_0| >= radius.
        d = meet - target.centre[0]
        along = float(d @ direction)
        disc = along ** 2 - float(d @ d) + radius ** 2
        if disc > 0:
            speed = max(speed, (along + math.sqrt(disc)) / t_cross)
    spin = rng.uniform(-cfg.rotation_speed_max, cfg.rotation_speed_max)
    frames = np.arange(n, dtype=np.float64)
    centre = meet + speed * (frames - t_cross)[:, None] * direction
    return _Track(centre, np.ones(n), np.ones(n), float(rng.uniform(0, 360)) + spin * frames)


def _camera_path(rng: np.random.Generator, n: int, speed_max: float, margin: int) -> np.ndarray:
    """Background window offset ``[n, 2]`` within ``[0, 2*margin]``: constant speed, bounces at the ends."""
    path = np.full((n, 2), float(margin))
    if speed_max <= 0 or margin == 0:
        return path
    heading = rng.uniform(0, 2 * math.pi)
    velocity = rng.uniform(0, speed_max) * np.array([math.cos(heading), math.sin(heading)])
    position = np.array([float(margin), float(margin)]) + rng.uniform(-margin / 2, margin / 2, 2)
    for t in range(n):
        path[t] = position
        position = position + velocity
        for axis in range(2):
            if position[axis] < 0:
                position[axis], velocity[axis] = -position[axis], abs(velocity[axis])
            if position[axis] > 2 * margin:
                position[axis], velocity[axis] = 4 * margin - position[axis], -abs(velocity[axis])
    return path
