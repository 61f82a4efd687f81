"""Procedural tracking sequences: textured objects moving over textured backgrounds.

Used for tests, smoke training, pretraining (SiamFC template/search pairs, ATOM's IoU predictor)
and for a demo clip that needs no downloaded data. numpy + OpenCV only, and deterministic: the same
``seed`` and config give byte-identical frames and boxes (every random draw comes from a
``np.random.default_rng`` built from the seed; no global RNG state is read or changed).

A sequence renders, per frame and in this order:

1. the **background**: a procedural texture (fractal value noise, stripes, checker, blobs, or a
   constant colour) larger than the frame, seen through a slowly drifting camera window;
2. the **distractors** (0..``distractors_max``): objects with textures of the target's kind and
   a jittered copy of its palette, each with its own motion, drawn *behind* the target;
3. the **target**: a random shape (ellipse, rounded rectangle, star-shaped polygon) with its own
   texture and a shaded rim, moved by a smooth random velocity that bounces off the borders,
   with a log-scale random walk, a constant rotation speed and an aspect-ratio random walk; with
   ``leave_frames`` > 0 it also leaves the view wholly for that many frames and comes back
   (:func:`~edge_tracker.datasets.synthetic.motion.leave_and_return`);
4. the **occluder** (with probability ``occlusion_probability``): an object on a straight line
   that crosses the target's path mid-sequence, drawn *in front of* the target;
5. **motion blur** (with probability ``motion_blur_probability`` per sequence): each moving
   object's layer is smeared along its own per-frame displacement;
6. **illumination**: a global gain/offset drift and a rotating linear light gradient;
7. **camera noise**: additive Gaussian noise and, optionally, a JPEG round trip.

**Ground-truth box** (the convention of ``edge_tracker.geometry``: float ``x, y, w, h``, 0-based,
``(x, y)`` the top-left corner, pixel ``(c, r)`` covering ``[c, c+1) x [r, r+1)``): the
axis-aligned bounding box of the part of the target that lies inside the frame ``[0, W] x [0, H]``,
computed exactly: the target's outline polygon, after its scale, aspect change, rotation and
sub-pixel translation, is clipped to the frame rectangle and the box bounds what remains. It is the
target's extent whether visible or hidden by the occluder (occlusion does not shrink it), and it
ignores the motion-blur smear. The mask that is composited is the area coverage of the same
polygon, so the box agrees with the rendered pixels to within one pixel.

**Visible fraction**: ``visible[t]`` = (share of the target's area that lies inside the frame) x
(share of its in-frame area not covered by the occluder), each measured on the rasterised masks;
1.0 exactly when the target is wholly inside the frame and not overlapped by the occluder.

CLI: ``python -m edge_tracker.datasets.synthetic OUT_DIR --count N --seed S --frames F [--video]``
writes GOT-10k style folders ``OUT_DIR/synthetic_0000/`` (``00000001.jpg ...``,
``groundtruth.txt``, ``absence.label``, ``cover.label``) and ``OUT_DIR/list.txt``.

Modules, one job each: :mod:`.config` (:class:`SyntheticConfig` and its validation),
:mod:`.textures` (palettes, fractal noise, :func:`make_texture`), :mod:`.shapes` (outlines,
sprites, polygon clipping, :func:`rasterise`), :mod:`.render` (layers, compositing, blur kernels,
lighting and camera noise), :mod:`.motion` (bounded walks, tracks, the occluder, the camera path),
:mod:`.scene` (the scene, :class:`SyntheticSequence`, :func:`generate_sequence`, the demo clip) and
:mod:`.cli`. The names below are re-exported so ``from edge_tracker.datasets.synthetic import X``
works for every public ``X``.
"""

from edge_tracker.datasets.synthetic.cli import build_parser, main
from edge_tracker.datasets.synthetic.config import BACKGROUNDS, SHAPES, TEXTURES, SyntheticConfig
from edge_tracker.datasets.synthetic.motion import bounded_walk, leave_and_return, simulate_track
from edge_tracker.datasets.synthetic.render import gaussian_noise, render_sprite
from edge_tracker.datasets.synthetic.scene import SyntheticSequence, demo_clip, demo_config, generate_sequence
from edge_tracker.datasets.synthetic.shapes import clip_polygon, make_sprite, random_outline, rasterise
from edge_tracker.datasets.synthetic.textures import (
    apply_palette,
    fractal_noise,
    jitter_palette,
    make_texture,
    random_palette,
)

__all__ = [
    "BACKGROUNDS", "SHAPES", "TEXTURES", "SyntheticConfig", "SyntheticSequence", "apply_palette",
    "bounded_walk", "build_parser", "clip_polygon", "demo_clip", "demo_config", "fractal_noise",
    "gaussian_noise", "generate_sequence", "jitter_palette", "leave_and_return", "main", "make_sprite", "make_texture",
    "random_outline", "random_palette", "rasterise", "render_sprite", "simulate_track",
]
