"""Crops on the GPU: ``crop_resize.cu`` (one launch for all windows of a call), its pycuda driver, its numpy twin.

- ``crop_resize.cu``: crop + bilinear resize (cv2.warpAffine INTER_LINEAR's pixel-centre mapping)
  + mean-padded borders + BGR -> RGB + HWC uint8 -> NCHW float32.
- :class:`~edge_tracker.preprocess.cuda.preprocessor.CudaPreprocessor`: the second implementation
  of the preprocessing seam (pycuda, imported when it first runs).
- :func:`~edge_tracker.preprocess.cuda.reference.crop_reference`: the kernel's arithmetic in numpy,
  bit for bit; checked in CI against ``OpenCVPreprocessor`` on real frames, and on a GPU against
  the kernel.
"""

from edge_tracker.preprocess.cuda.preprocessor import KERNEL_SOURCE, CudaPreprocessor
from edge_tracker.preprocess.cuda.reference import (
    KernelTwinPreprocessor,
    crop_reference,
    window_params,
)

__all__ = ["KERNEL_SOURCE", "CudaPreprocessor", "KernelTwinPreprocessor", "crop_reference", "window_params"]
