"""Readers for the standard single-object-tracking dataset layouts.

Every reader returns a :class:`Sequence`: the sorted frame files and one box per frame in the
project's box convention (see :mod:`edge_tracker.geometry`): float64 ``x, y, w, h`` in pixels,
0-based, ``(x, y)`` the top-left corner, pixel ``(c, r)`` covering ``[c, c+1) x [r, r+1)``. A frame
whose annotation says the target is absent (or has no annotation, as in test splits that publish
only the first box) has a row of NaN.

Conventions of the files, and the conversion done here, per layout:

- ``otb``: ``groundtruth_rect.txt`` (``groundtruth_rect.<k>.txt`` for the two-target sequences) +
  ``img/*.jpg``. ``x, y, w, h`` 1-based (OTB's MATLAB toolkit) -> x and y minus 1.
- ``dtb70``: the OTB files and convention (DTB70 reuses the OTB toolkit) -> x and y minus 1. Auto
  detection cannot tell DTB70 from OTB and reports ``otb``; the conversion is the same.
- ``vot``: ``groundtruth.txt`` + frames in ``color/``, ``imgs/``, ``img/`` or the folder itself;
  optional per-frame ``*.tag`` files. A polygon ``x1,y1,...,x4,y4`` (usually the 4 corners of a
  rotated box) or a rectangle ``x, y, w, h``, 1-based (the legacy MATLAB toolkit) -> the polygon's
  axis-aligned bounding box (min/max of the corners), x and y minus 1. A VOT2020 mask
  ``m x0,y0,w,h,rle...`` holds 0-based pixel indices -> the bounding box of its set pixels
  (``w`` = number of columns spanned), unchanged.
- ``uav123``: a dataset root with ``anno/[<subset>/]<name>.txt`` and
  ``data_seq/[<subset>/]<name>/*.jpg`` (subsets UAV123, UAV123_10fps, UAV20L). ``x, y, w, h``
  1-based (OTB-derived toolkit) -> x and y minus 1.
- ``uavdt``: a dataset root with ``anno/<name>_gt.txt`` and ``<name>/img000001.jpg ...`` (the
  UAV-benchmark-S frames next to the SOT annotation). ``x, y, w, h`` 1-based (OTB-derived toolkit)
  -> x and y minus 1.
- ``got10k``: ``groundtruth.txt`` + ``00000001.jpg``... in the sequence folder; optional
  ``absence.label``, ``cover.label``, ``meta_info.ini``; a split folder has ``list.txt``.
  ``x, y, w, h`` 0-based (the GOT-10k toolkit computes IoU on the values as they are) -> unchanged.
- ``lasot``: ``<class>/<class>-<n>/groundtruth.txt`` + ``img/``, ``full_occlusion.txt``,
  ``out_of_view.txt``, ``nlp.txt``. ``x, y, w, h`` 1-based (OTB-derived MATLAB toolkit) -> x and y
  minus 1.
- ``trackingnet``: ``TRAIN_k/anno/<name>.txt`` + ``TRAIN_k/frames/<name>/0.jpg, 1.jpg, ...``
  (numeric order). ``x, y, w, h`` 0-based -> unchanged.

Absent markers (-> NaN row): a line of four ``NaN`` (UAV123, VOT-LT) or ``0,0,0,0`` (any layout);
frames flagged by ``absence.label`` (GOT-10k) or ``full_occlusion.txt`` / ``out_of_view.txt``
(LaSOT); frames after the first when the file holds only the first box (GOT-10k and TrackingNet
test splits). Any other box with a width or height <= 0 is an error.

Quirks handled: separators comma, tab or spaces, mixed; float values; a last line without a
newline; blank trailing lines; a byte-order mark; CRLF line ends. Frames are sorted in natural
(numeric) order: ``1.jpg, 2.jpg, 10.jpg``.

Frame and box counts must agree. The one documented exception is OTB: a few sequences use only a
range of the frames in ``img/`` (David 300-770, Football1 1-74, Freeman3 1-460, Freeman4 1-283,
Diving 1-215, as in the OTB toolkit's sequence configuration); there the frames whose number lies in
the range are taken. UAV123 sequences split into parts (``bird1_1``...) share one frame folder;
pass ``frame_range`` (from UAV123's ``configSeqs.m``) to :func:`load_uav123` for those.

Every problem with the files raises :class:`edge_tracker.errors.InputError` naming the file (and
the line, for annotation text); reading never fails with a bare ``ValueError`` or ``IndexError``.

Modules: :mod:`.base` (:class:`Sequence`, annotation parsing, frame listing and natural sort),
one per layout family (:mod:`.otb` for OTB and DTB70, :mod:`.vot`, :mod:`.uav` for UAV123 and
UAVDT roots, :mod:`.large_scale` for GOT-10k, LaSOT and TrackingNet) and :mod:`.layouts` (layout
detection, :func:`load_sequence`, :class:`Dataset`, :func:`load_dataset`). The public names are
re-exported here, so ``from edge_tracker.datasets.readers import X`` works for each of them.
"""

from edge_tracker.datasets.readers.base import IMAGE_EXTENSIONS, Sequence, list_frames, natural_key
from edge_tracker.datasets.readers.large_scale import load_got10k, load_lasot, load_trackingnet
from edge_tracker.datasets.readers.layouts import (
    SUPPORTED_LAYOUTS,
    Dataset,
    detect_layout,
    load_dataset,
    load_sequence,
)
from edge_tracker.datasets.readers.otb import OTB_FRAME_RANGES, load_dtb70, load_otb
from edge_tracker.datasets.readers.uav import load_uav123, load_uavdt
from edge_tracker.datasets.readers.vot import load_vot

__all__ = [
    "Dataset", "IMAGE_EXTENSIONS", "OTB_FRAME_RANGES", "SUPPORTED_LAYOUTS", "Sequence", "detect_layout",
    "list_frames", "load_dataset", "load_dtb70", "load_got10k", "load_lasot", "load_otb", "load_sequence",
    "load_trackingnet", "load_uav123", "load_uavdt", "load_vot", "natural_key",
]
