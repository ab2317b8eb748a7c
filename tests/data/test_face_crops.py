"""Face preprocessing shared by training and inference (golden outputs on fixed inputs)."""

import numpy as np
import pytest

import cv2

from fer_core.data.face_crops import (aligned_crop, box_iou, crop_face, crop_matrix, invert_affine,
                                     points_to_crop, square_box, to_gray, transform_points)


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
    # crop pixels go back to the frame through the inverse of the crop's matrix (KeypointRegressor.predict)
    box, points = (37, 21, 50, 64), np.array([[50.0, 40.0], [80.5, 70.25]])
    inside = points_to_crop(points, box, 96, margin=0.15)
    back = transform_points(inside, invert_affine(crop_matrix(box, 96, margin=0.15)))
    assert np.allclose(back, points, atol=1e-3)


@pytest.mark.parametrize("image", [
    np.full((8, 8), 7, np.uint8), np.full((8, 8, 1), 7, np.uint8), np.full((8, 8, 3), 7, np.uint8),
    np.full((8, 8, 4), 7, np.uint8), np.full((8, 8), 7 * 257, np.uint16), np.full((8, 8), 7 / 255, np.float32)])
def test_to_gray_accepts_common_layouts(image):
    gray = to_gray(image)
    assert gray.shape == (8, 8) and gray.dtype == np.uint8 and int(gray[0, 0]) == 7


def test_box_iou():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0


def _disc(h=200, w=240):
    """A gray frame with a bright disc at (80, 60) and a dark one at (150, 120): points easy to find again."""
    image = np.full((h, w), 128, np.uint8)
    cv2.circle(image, (80, 60), 6, 255, -1)
    cv2.circle(image, (150, 120), 6, 0, -1)
    return image


@pytest.mark.parametrize("angle", [None, 0.0, 17.0, -35.0, 90.0])
def test_points_round_trip_through_an_aligned_crop(angle):
    box, points = (60, 40, 110, 100), np.array([[80.0, 60.0], [150.5, 120.25], [10.0, -5.0]])
    _, matrix = aligned_crop(_gradient(), box, 96, 0.15, angle)
    inside = transform_points(points, matrix)
    np.testing.assert_allclose(transform_points(inside, invert_affine(matrix)), points, atol=1e-3)
    np.testing.assert_allclose(matrix, crop_matrix(box, 96, 0.15, angle))


def test_crop_matrix_turns_about_the_box_centre_as_cv2_does():
    box, size = (60, 40, 110, 100), 96
    x, y, side, _ = square_box(box)
    centre = np.array([[x + side / 2, y + side / 2]])
    for angle in (0.0, 25.0, -60.0):
        matrix = crop_matrix(box, size, 0.0, angle)
        np.testing.assert_allclose(transform_points(centre, matrix), [[size / 2, size / 2]], atol=1e-4)
        scale = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
        assert scale == pytest.approx(size / side)
        expected = cv2.getRotationMatrix2D(tuple(centre[0]), angle, 1.0)[:, :2] * (size / side)
        np.testing.assert_allclose(matrix[:, :2], expected, atol=1e-9)


@pytest.mark.parametrize("angle", [20.0, -30.0])
def test_an_aligned_crop_of_a_turned_frame_is_the_upright_crop(angle):
    frame = _disc()
    box = (55, 35, 120, 120)
    x, y, side, _ = square_box(box)
    centre = (x + side / 2, y + side / 2)
    turn = cv2.getRotationMatrix2D(centre, -angle, 1.0)  # the frame turned the other way
    rolled = cv2.warpAffine(frame, turn, frame.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    upright = crop_face(frame, box, 48)
    crop, matrix = aligned_crop(rolled, box, 48, 0.0, angle)
    assert np.abs(crop.astype(int) - upright).mean() < 3.0
    # the discs' centres, moved with the frame, land where they are in the upright crop
    moved = transform_points([[80.0, 60.0], [150.0, 120.0]], turn)
    np.testing.assert_allclose(transform_points(moved, matrix), points_to_crop([[80, 60], [150, 120]], box, 48),
                               atol=0.3)
    bright = np.unravel_index(np.argmax(cv2.GaussianBlur(crop, (5, 5), 0)), crop.shape)[::-1]
    assert np.hypot(*(np.array(bright) - points_to_crop([[80, 60]], box, 48)[0])) < 1.5


def test_an_aligned_crop_keeps_colour_and_replicates_the_border():
    colour = np.dstack([_gradient(), _gradient() // 2, np.full((100, 160), 9, np.uint8)])
    crop, _ = aligned_crop(colour, (-30, -30, 80, 80), 32, 0.0, 15.0)
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    assert (crop[..., 2] == 9).all()  # a constant channel stays constant: no black corners outside the frame
