"""Training crops, augmentation and box proposals (numpy + OpenCV; boxes as in ``edge_tracker.geometry``).

Every crop is cut with ``crop_square`` (mean-colour padding), the crop the trackers cut at run time,
and the target box in the crop is computed exactly with ``box_to_crop`` (then mirrored with the crop
when it is flipped). Crops are returned as ``[3, S, S]`` uint8 RGB, the networks' channel order;
the objectives convert them to float 0..255 on the training device (a quarter of the bytes through
the data-loader queues and the host-to-device copy).

SiamFC pairs (Bertinetto et al. 2016; siamfc-pytorch): each frame is cropped around its own target,
the template with side ``z = sqrt((w + p)(h + p))``, ``p = context * (w + h)``, resized to 127, the
search region with side ``z * 255 / 127`` resized to 255, so the target has the same scale in both.
Augmentation: the search crop is shifted by up to ``max_shift`` crop pixels and rescaled by up to
``max_scale`` (SiamFC's "stretch"), brightness jitter per image, occasional grayscale and a horizontal
flip, both applied to the pair jointly.

ATOM pairs (pytracking ``ATOMProcessing`` with the settings of ``ltr/train_settings/bbreg/atom.py``):
a square of side ``5 sqrt(w h)`` of a jittered box resized to 288. The jittered box's size is the
true size times ``exp(N(0, 1) * scale_jitter)`` per axis, its centre the true centre plus
``(U(0, 1) - 0.5) * center_jitter * sqrt(jittered area)`` per axis; the reference (train) frame has
no jitter (target centred), the test frame ``center_jitter = 4.5``, ``scale_jitter = 0.5``.
Proposals: 16 per test frame, each the true box with Gaussian noise of std ``s * sqrt(w h)`` on
centre and size, ``s`` drawn from (0.01, 0.05, 0.1, 0.2, 0.3), redrawn with 0.9 x the noise until its
IoU with the true box exceeds 0.1 (pytracking ``perturb_box``, without its rounding to whole pixels).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from edge_tracker.geometry import box_iou as geometry_box_iou
from training import augment as augment_lib
from edge_tracker.geometry import box_to_crop, crop_square
from edge_tracker.preprocess.geometry import (
    ATOM_SAMPLE_SIZE,
    ATOM_SEARCH_AREA_SCALE,
    SIAMFC_CONTEXT,
    SIAMFC_EXEMPLAR_SIZE,
    SIAMFC_INSTANCE_SIZE,
    atom_sample_window,
    siamfc_template_side,
)


@dataclass(frozen=True)
class SiamCropParams:
    """How SiamFC training pairs are cut and augmented."""

    template_size: int = SIAMFC_EXEMPLAR_SIZE  # template crop side, px (SiamFC training size, 127)
    search_size: int = SIAMFC_INSTANCE_SIZE  # search crop side, px (255)
    context: float = SIAMFC_CONTEXT  # context margin p = context * (w + h), SiamFC's 0.5
    max_shift: float = 8.0  # search-crop translation, uniform in +-this many crop px per axis
    max_scale: float = 0.05  # search-crop scale, uniform in 1 +- this (SiamFC's stretch 0.05)
    brightness: float = 0.2  # brightness gain per image, uniform in 1 +- this (pytracking's 0.2)
    gray_probability: float = 0.1  # chance the pair is converted to grayscale
    flip_probability: float = 0.5  # chance the pair is mirrored left-right
    # Tracking augmentations (training.augment); off here, on in the recipes' "tracking" preset
    # (TRACKING_SIAM below; docs/training.md says why each value).
    aspect_jitter: float = 0.0  # search crop stretched x exp(u), y exp(-u), u ~ U(+-this)
    blur_probability: float = 0.0  # chance the search crop gets a motion blur
    blur_max_length: int = 9  # motion-blur line length, odd, uniform in 3..this px
    colour: float = 0.0  # per-channel gain of the search crop, uniform in 1 +- this
    negative_probability: float = 0.0  # chance the pair is a negative (no target in the search crop)
    distractor_fraction: float = 0.5  # of the negatives: search crop from another sequence (else same frame)


@dataclass(frozen=True)
class AtomCropParams:
    """How ATOM training pairs are cut and augmented, and how proposals are drawn (pytracking's values)."""

    sample_size: int = ATOM_SAMPLE_SIZE  # crop side, px (18 x 16)
    search_area_factor: float = ATOM_SEARCH_AREA_SCALE  # crop side = this * sqrt(jittered w * h)
    center_jitter: float = 4.5  # test-frame centre jitter, x sqrt(jittered area) (train frame: 0)
    scale_jitter: float = 0.5  # test-frame log-size jitter std per axis (train frame: 0)
    num_proposals: int = 16  # proposals per test frame
    proposal_sigmas: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.3)  # noise std, x sqrt(w * h)
    proposal_min_iou: float = 0.1  # proposals are redrawn until their IoU exceeds this
    brightness: float = 0.2  # brightness gain per image, uniform in 1 +- this
    gray_probability: float = 0.05  # chance the pair is converted to grayscale
    # Tracking augmentations of the test crop (training.augment); off here, on in TRACKING_ATOM.
    aspect_jitter: float = 0.0  # test crop stretched x exp(u), y exp(-u), u ~ U(+-this)
    blur_probability: float = 0.0  # chance the test crop gets a motion blur
    blur_max_length: int = 9  # motion-blur line length, odd, uniform in 3..this px
    colour: float = 0.0  # per-channel gain of the test crop, uniform in 1 +- this
    hard_negative_proposals: int = 0  # of num_proposals: boxes elsewhere in the crop, IoU <= 0.1 (same frame)
    negative_probability: float = 0.0  # chance the test crop comes from another sequence (all IoUs 0)


def siam_pair(template_frame: np.ndarray, template_box, search_frame: np.ndarray, search_box,
              rng: np.random.Generator, params: SiamCropParams = SiamCropParams(),
              augment: bool = True, other: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None
              ) -> dict[str, np.ndarray]:
    """One SiamFC training pair, positive or (with ``params.negative_probability``) negative.

    Args:
        template_frame, search_frame: ``[H, W, 3]`` uint8 BGR frames.
        template_box, search_box: xywh target boxes in those frames, px.
        rng: the sample's generator (all random draws come from it).
        augment: False gives the plain centred crops (no shift, scale, colour, flip or negatives).
        other: ``() -> (frame, box)`` of another sequence, drawn from ``rng`` when called: the source
            of distractor negatives (without it every negative is a same-frame hard negative).

    Returns:
        ``template`` ``[3, 127, 127]`` and ``search`` ``[3, 255, 255]`` uint8 RGB,
        ``template_box`` and ``search_box`` ``[4]`` float32 xywh in crop px (for a negative, the
        box the tracker would hold: the template's target size at the search-crop centre, or the
        distractor's box), ``negative`` float32 1 when the search crop holds no target.
    """
    zt, st = params.template_size, params.search_size
    z_center = _center(template_box)
    z_side = siamfc_template_side(template_box, params.context)
    negative = augment and params.negative_probability > 0 and rng.random() < params.negative_probability
    kind = "positive"
    if negative:
        kind = "distractor" if other is not None and rng.random() < params.distractor_fraction else "same-frame"
        if kind == "distractor":
            search_frame, search_box = other()
        else:
            away = _far_center(template_box, z_side * st / zt, template_frame.shape, rng)
            if away is None:  # the target fills the frame: no room for a hard negative
                kind = "positive"
            else:  # the template's own frame, a region whose crop does not hold the target's centre
                w, h = float(template_box[2]), float(template_box[3])
                search_frame, search_box = template_frame, np.array([away[0] - w / 2.0, away[1] - h / 2.0, w, h])
    x_side = siamfc_template_side(search_box, params.context) * st / zt
    x_center = _center(search_box)
    if augment:
        x_side *= rng.uniform(1.0 - params.max_scale, 1.0 + params.max_scale)
        shift = rng.uniform(-params.max_shift, params.max_shift, size=2) * x_side / st
        x_center = (x_center[0] + shift[0], x_center[1] + shift[1])
    template = crop_square(template_frame, z_center, z_side, zt)
    search = crop_square(search_frame, x_center, x_side, st)
    z_box = box_to_crop(template_box, z_center, z_side, zt)
    x_box = box_to_crop(search_box, x_center, x_side, st)
    if augment:
        search, x_box = _tracking_augment(search, x_box, rng, params)
        template, search = _brighten(template, rng, params.brightness), _brighten(search, rng, params.brightness)
        if rng.random() < params.gray_probability:
            template, search = _gray(template), _gray(search)
        if rng.random() < params.flip_probability:
            template, z_box = _flip(template, z_box)
            search, x_box = _flip(search, x_box)
    return {"template": _to_chw_rgb(template), "search": _to_chw_rgb(search),
            "template_box": z_box.astype(np.float32), "search_box": x_box.astype(np.float32),
            "negative": np.float32(kind != "positive")}


def atom_pair(train_frame: np.ndarray, train_box, test_frame: np.ndarray, test_box,
              rng: np.random.Generator, params: AtomCropParams = AtomCropParams(),
              augment: bool = True, other: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None
              ) -> dict[str, np.ndarray]:
    """One ATOM training pair: reference crop, test crop, proposals and their true IoUs.

    With ``params.negative_probability`` (and ``other`` given) the test crop comes from another
    sequence, cut around its target: a distractor, every proposal's true IoU is 0.

    Returns:
        ``train_image``, ``test_image`` ``[3, 288, 288]`` uint8 RGB; ``train_box``, ``test_box``
        ``[4]`` float32 xywh in crop px; ``proposals`` ``[16, 4]`` float32 xywh in test-crop px;
        ``proposal_iou`` ``[16]`` float32, IoU of each proposal with the target (0..1; 0 for a
        distractor); ``negative`` float32 1 for a distractor pair.
    """
    size = params.sample_size
    negative = (augment and other is not None and params.negative_probability > 0
                and rng.random() < params.negative_probability)
    if negative:
        test_frame, test_box = other()
    train_center, train_side = _jittered_region(train_box, 0.0, 0.0, rng, params.search_area_factor)
    if augment:
        test_center, test_side = _jittered_region(test_box, params.center_jitter, params.scale_jitter, rng,
                                                  params.search_area_factor)
    else:
        test_center, test_side = _jittered_region(test_box, 0.0, 0.0, rng, params.search_area_factor)
    train_image = crop_square(train_frame, train_center, train_side, size)
    test_image = crop_square(test_frame, test_center, test_side, size)
    train_crop_box = box_to_crop(train_box, train_center, train_side, size)
    test_crop_box = box_to_crop(test_box, test_center, test_side, size)
    if augment:
        test_image, test_crop_box = _tracking_augment(test_image, test_crop_box, rng, params)
        train_image = _brighten(train_image, rng, params.brightness)
        test_image = _brighten(test_image, rng, params.brightness)
        if rng.random() < params.gray_probability:
            train_image, test_image = _gray(train_image), _gray(test_image)
    proposals = np.zeros((params.num_proposals, 4), np.float32)
    ious = np.zeros(params.num_proposals, np.float32)
    far = min(params.hard_negative_proposals, params.num_proposals - 1) if augment else 0
    for i in range(params.num_proposals):
        box = None
        if i >= params.num_proposals - far:  # hard negatives: background of the same crop
            w, h = (float(v) * rng.uniform(0.7, 1.3) for v in test_crop_box[2:])
            box = augment_lib.far_box(test_crop_box, (w, h), (size, size), rng, params.proposal_min_iou)
        if box is None:
            proposals[i], ious[i] = perturb_box(test_crop_box, rng, params.proposal_sigmas,
                                                params.proposal_min_iou)
        else:
            proposals[i], ious[i] = box, box_iou(test_crop_box, box)
    if negative:
        ious[:] = 0.0
    return {"train_image": _to_chw_rgb(train_image), "test_image": _to_chw_rgb(test_image),
            "train_box": train_crop_box.astype(np.float32), "test_box": test_crop_box.astype(np.float32),
            "proposals": proposals, "proposal_iou": ious, "negative": np.float32(negative)}


def _tracking_augment(crop: np.ndarray, box: np.ndarray, rng: np.random.Generator, params
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Aspect stretch, motion blur and colour gains of ``params`` (each drawn only when on)."""
    if params.aspect_jitter > 0:
        u = rng.uniform(-params.aspect_jitter, params.aspect_jitter)
        crop, box = augment_lib.stretch(crop, box, math.exp(u), math.exp(-u))
    if params.blur_probability > 0 and rng.random() < params.blur_probability:
        length = int(rng.integers(1, params.blur_max_length // 2 + 1)) * 2 + 1  # 3, 5, ..., max
        crop = augment_lib.motion_blur(crop, length, rng.uniform(0.0, math.pi))
    if params.colour > 0:
        crop = augment_lib.colour_gains(crop, rng.uniform(1.0 - params.colour, 1.0 + params.colour, size=3))
    return crop, box


def _far_center(box, side: float, shape, rng: np.random.Generator, tries: int = 50
                ) -> tuple[float, float] | None:
    """A point of the frame at which a ``side`` px square would not hold ``box``'s centre (None: none found)."""
    height, width = shape[:2]
    cx, cy = _center(box)
    for _ in range(tries):
        x, y = rng.uniform(0.0, width), rng.uniform(0.0, height)
        if max(abs(x - cx), abs(y - cy)) > side / 2.0:
            return x, y
    return None


def perturb_box(box, rng: np.random.Generator, sigma_factors=(0.01, 0.05, 0.1, 0.2, 0.3),
                min_iou: float = 0.1, tries: int = 100) -> tuple[np.ndarray, float]:
    """A Gaussian perturbation of an xywh ``box`` with IoU > ``min_iou`` (pytracking's ``perturb_box``).

    One noise level ``s`` is drawn from ``sigma_factors``; centre and size get Gaussian noise of std
    ``s * sqrt(w h)``; a width or height <= 1 px is replaced by 0.15..0.5 of the true one. A draw
    whose IoU is too low is redrawn with 0.9 x the noise, at most ``tries`` times (the last draw is
    returned then, with its real IoU).

    Returns:
        ``(box [4] float64 xywh, IoU with the input box)``.
    """
    x, y, w, h = (float(v) for v in box)
    cx, cy = x + w / 2.0, y + h / 2.0
    std = math.sqrt(w * h) * float(sigma_factors[int(rng.integers(len(sigma_factors)))])
    candidate, overlap = np.array([x, y, w, h]), 1.0
    for _ in range(tries):
        px, py = rng.normal(cx, std), rng.normal(cy, std)
        pw, ph = rng.normal(w, std), rng.normal(h, std)
        if pw <= 1.0:
            pw = w * rng.uniform(0.15, 0.5)
        if ph <= 1.0:
            ph = h * rng.uniform(0.15, 0.5)
        candidate = np.array([px - pw / 2.0, py - ph / 2.0, pw, ph])
        overlap = box_iou(box, candidate)
        if overlap > min_iou:
            break
        std *= 0.9
    return candidate, overlap


def box_iou(a, b) -> float:
    """Intersection over union of two xywh boxes (``edge_tracker.geometry.box_iou``) as a float."""
    return float(geometry_box_iou(a, b))


def _center(box) -> tuple[float, float]:
    return float(box[0]) + float(box[2]) / 2.0, float(box[1]) + float(box[3]) / 2.0


def _jittered_region(box, center_jitter: float, scale_jitter: float, rng: np.random.Generator,
                     area_factor: float) -> tuple[tuple[float, float], float]:
    """Centre and side of the crop around a jittered copy of ``box`` (pytracking ``_get_jittered_box``)."""
    size = np.array([float(box[2]), float(box[3])])
    center = np.array(_center(box))
    if scale_jitter > 0:
        size = size * np.exp(rng.normal(size=2) * scale_jitter)
    if center_jitter > 0:
        center = center + math.sqrt(size[0] * size[1]) * center_jitter * (rng.random(2) - 0.5)
    window = atom_sample_window(center, size, area_factor)  # the crop the tracker cuts around that box
    return window.center, window.side


def _brighten(crop: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    return crop * np.float32(rng.uniform(1.0 - amount, 1.0 + amount))


def _gray(crop: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(np.clip(crop, 0, 255).astype(np.float32), cv2.COLOR_BGR2GRAY)
    return np.repeat(gray[:, :, None], 3, axis=2)


def _flip(crop: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror a crop left-right; crop px ``u`` -> ``S - u``, so ``x -> S - x - w``."""
    flipped = np.ascontiguousarray(crop[:, ::-1])
    box = box.copy()
    box[0] = crop.shape[1] - box[0] - box[2]
    return flipped, box


def _to_chw_rgb(crop: np.ndarray) -> np.ndarray:
    """``[S, S, 3]`` float BGR -> ``[3, S, S]`` uint8 RGB."""
    rgb = np.clip(np.rint(crop[:, :, ::-1]), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))
