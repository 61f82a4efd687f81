"""Where each tracker cuts its crops (geometry) and the object that cuts them (preprocessor).

- ``geometry``: the crop windows of every tracker (SiamFC template and search scales, ATOM samples),
  the crop sizes the graphs take, and the classifier's response-grid side: one function each, called
  by tracking, training and calibration alike, so all three see the same crops.
- ``preprocessor``: the seam between a frame and a network input. ``OpenCVPreprocessor`` (numpy and
  OpenCV on the host) is the implementation today and the twin a GPU kernel is checked against.
"""

from edge_tracker.preprocess.geometry import (
    ATOM_SAMPLE_SIZE,
    ATOM_SEARCH_AREA_SCALE,
    SIAMFC_CONTEXT,
    SIAMFC_EXEMPLAR_SIZE,
    SIAMFC_INSTANCE_SIZE,
    SIAMFC_SEARCH_SIZE,
    SIAMFC_TEMPLATE_SIZE,
    CropWindow,
    atom_sample_window,
    response_grid_side,
    siamfc_scale_factors,
    siamfc_search_windows,
    siamfc_template_side,
    siamfc_template_window,
)
from edge_tracker.preprocess.preprocessor import OpenCVPreprocessor, Preprocessor

__all__ = ["ATOM_SAMPLE_SIZE", "ATOM_SEARCH_AREA_SCALE", "SIAMFC_CONTEXT", "SIAMFC_EXEMPLAR_SIZE",
           "SIAMFC_INSTANCE_SIZE", "SIAMFC_SEARCH_SIZE", "SIAMFC_TEMPLATE_SIZE", "CropWindow",
           "OpenCVPreprocessor", "Preprocessor", "atom_sample_window", "response_grid_side",
           "siamfc_scale_factors", "siamfc_search_windows", "siamfc_template_side", "siamfc_template_window"]
