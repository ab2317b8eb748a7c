"""Face preprocessing shared by training and inference (golden outputs on fixed inputs)."""

import numpy as np
import pytest

from fer_core.data.face_crops import box_iou, crop_face, points_from_crop, points_to_crop, square_box, to_gray


def _gradient(h=100, w=160):
    return (np.add.outer(np.arange(h), np.arange(w)) % 256).astype(np.uint8)


def test_square_box_grows_by_margin_around_the_centre():
    assert square_box((10, 20, 40, 20), margin=0.25) == (0.0, 0.0, 60.0, 60.0)


def test_crop_face_golden():
    crop = crop_face(_gradient(), (40, 30, 48, 48), 48)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert crop[0, 0] == 70 and crop[47, 47] == 164 and crop[10, 20] == 100


def test_crop_outside_the_frame_replicates_the_border():
    crop = crop_face(_gradient(), (-20, -20, 40, 40), 20)
    assert crop.shape == (20, 20) and crop[0, 0] == 0


def test_points_round_trip_through_the_crop():
    box, points = (37, 21, 50, 64), np.array([[50.0, 40.0], [80.5, 70.25]])
    inside = points_to_crop(points, box, 96, margin=0.15)
    assert np.allclose(points_from_crop(inside, box, 96, margin=0.15), points, atol=1e-4)


@pytest.mark.parametrize("image", [
    np.full((8, 8), 7, np.uint8), np.full((8, 8, 1), 7, np.uint8), np.full((8, 8, 3), 7, np.uint8),
    np.full((8, 8, 4), 7, np.uint8), np.full((8, 8), 7 * 257, np.uint16), np.full((8, 8), 7 / 255, np.float32)])
def test_to_gray_accepts_common_layouts(image):
    gray = to_gray(image)
    assert gray.shape == (8, 8) and gray.dtype == np.uint8 and int(gray[0, 0]) == 7


def test_box_iou():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
