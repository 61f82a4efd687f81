import numpy as np
import pytest

from edge_tracker.errors import InputError
from edge_tracker.geometry import box_center, box_to_crop, crop_square, to_nchw


def test_crop_maps_pixel_centres_to_pixel_centres():
    image = np.zeros((50, 60, 3), np.uint8)
    image[20, 30] = 255  # covers [30, 31) x [20, 21)
    # 1:1 crop of a 10 px square centred on (30, 20): crop pixel u samples x = 25 + u + 0.5
    crop = crop_square(image, (30.0, 20.0), 10, 10)
    assert crop[5, 5, 0] == 255 and crop[4, 4, 0] == 0 and crop[6, 6, 0] == 0
    # scale 2x: the bright pixel covers crop pixels 10..11 of a 20 px crop of the same region
    crop2 = crop_square(image, (30.0, 20.0), 10, 20, interpolation=0)  # nearest
    assert crop2[10, 10, 0] == 255 and crop2[11, 11, 0] == 255 and crop2[9, 9, 0] == 0


def test_outside_is_padded_with_the_mean_or_the_given_value():
    image = np.full((20, 20, 3), 100, np.uint8)
    image[:10] = 200
    crop = crop_square(image, (0.0, 0.0), 20, 20)  # three quarters outside the image
    np.testing.assert_allclose(crop[0, 0], image.reshape(-1, 3).mean(0))
    crop = crop_square(image, (0.0, 0.0), 20, 20, pad_value=(1, 2, 3))
    np.testing.assert_allclose(crop[0, 0], [1, 2, 3])
    np.testing.assert_allclose(crop[15, 15], [200, 200, 200])


def test_box_to_crop_is_consistent_with_crop_square():
    box = np.array([12.0, 8.0, 6.0, 4.0])
    centre = box_center(box)
    assert centre == (15.0, 10.0)
    mapped = box_to_crop(box, centre, side=24.0, out_size=48)
    np.testing.assert_allclose(mapped, [24 - 6, 24 - 4, 12, 8])


def test_bad_side_is_refused():
    with pytest.raises(InputError, match="positive"):
        crop_square(np.zeros((4, 4, 3), np.uint8), (2, 2), 0, 8)


def test_to_nchw_flips_bgr_to_rgb():
    crop = np.zeros((2, 2, 3), np.float32)
    crop[..., 0] = 1  # blue in BGR
    out = to_nchw(crop)
    assert out.shape == (1, 3, 2, 2) and out[0, 2].sum() == 4 and out[0, 0].sum() == 0
