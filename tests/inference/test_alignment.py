"""Aligned crops: a face turned upright by its roll before the models (fer_core.data.face_crops.aligned_crop,
FacePipeline(align=True)), and its keypoints turned back into the frame."""

import cv2
import numpy as np
import pytest

from fer_core.data.face_crops import crop_face, invert_affine, points_to_crop, transform_points
from fer_core.inference.analysis import PHOTO_ANALYSIS
from fer_core.inference.detection import Detection
from fer_core.inference.pipeline import FacePipeline
from fer_core.inference.runtime import EmotionClassifier, KeypointRegressor, default_model_path, shipped_model_exists
from tests.inference_models import astronaut_bgr, tiny_models

# The astronaut photo turned about her face's centre (counter-clockwise as shown for positive angles).
FACE_CENTRE = (224.5, 113.5)
ANGLES = (-30, -20, 20, 30)
# The shipped models on the upright astronaut through the photo settings (BlazeFace, aligned, flip TTA).
# Update when assets/models changes: the failing assertion prints the new values (after the model's output
# adjustment, as the app shows them).
GOLDEN_UPRIGHT = {"label": "happy", "probs": [0.013, 0.022, 0.012, 0.895, 0.015, 0.02, 0.022]}

needs_shipped = pytest.mark.skipif(not (shipped_model_exists("emotion") and shipped_model_exists("keypoints")),
                                   reason="no shipped models yet (assets/models)")


def turned(image, angle):
    """(the image turned by ``angle`` degrees about the face's centre, edges replicated; its 2x3 matrix)."""
    matrix = cv2.getRotationMatrix2D(FACE_CENTRE, angle, 1.0)
    return cv2.warpAffine(image, matrix, image.shape[1::-1], flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE), matrix


@pytest.fixture(scope="module")
def shipped():
    return (EmotionClassifier.from_path(default_model_path("emotion")),
            KeypointRegressor.from_path(default_model_path("keypoints")))


@needs_shipped
def test_a_rotated_face_is_found_and_labelled_as_the_upright_one(shipped):
    astronaut = astronaut_bgr()
    pipeline = PHOTO_ANALYSIS.pipeline(*shipped)
    upright, = pipeline(astronaut)
    now = {"label": upright.label, "probs": [round(p, 3) for p in upright.probabilities.values()]}
    assert now["label"] == GOLDEN_UPRIGHT["label"], f"record GOLDEN_UPRIGHT = {now!r}"
    np.testing.assert_allclose(now["probs"], GOLDEN_UPRIGHT["probs"], atol=0.01, err_msg=f"now {now!r}")
    probs = np.array(list(upright.probabilities.values()))
    for angle in ANGLES:
        image, matrix = turned(astronaut, angle)
        face, = pipeline(image)
        assert face.roll is not None and face.label == upright.label, angle
        np.testing.assert_allclose(list(face.probabilities.values()), probs, atol=0.03, err_msg=f"{angle} degrees")
        back = transform_points(face.keypoints, invert_affine(matrix))  # into the upright photo
        assert np.linalg.norm(back - upright.keypoints, axis=1).mean() < 0.03 * upright.box[2], angle


@needs_shipped
def test_without_alignment_keypoints_of_a_face_turned_30_degrees_miss(shipped):
    astronaut = astronaut_bgr()
    aligned, plain = PHOTO_ANALYSIS.pipeline(*shipped), PHOTO_ANALYSIS.with_changes(align=False).pipeline(*shipped)
    reference, = aligned(astronaut)
    for angle in (-30, 30):
        image, matrix = turned(astronaut, angle)
        errors = [np.linalg.norm(transform_points(pipeline(image)[0].keypoints, invert_affine(matrix))
                                 - reference.keypoints, axis=1).mean() for pipeline in (aligned, plain)]
        assert errors[1] > 3 * errors[0] and errors[1] > 0.05 * reference.box[2], (angle, errors)


class FixedDetector:
    """Returns one face with the given box and eyes, whatever the frame."""

    def __init__(self, box, eyes):
        self.detection = Detection(box, 1.0, np.array(eyes, np.float32), ("right_eye", "left_eye"))

    def detect(self, image):
        return [self.detection]


def test_the_pipeline_turns_crops_by_the_roll_and_keypoints_back(tmp_path_factory):
    models = tiny_models(tmp_path_factory)
    emotion = EmotionClassifier.from_path(models["emotion_tflite"])
    keypoints = KeypointRegressor.from_path(models["keypoints_tflite"])
    astronaut = astronaut_bgr()
    box = (174, 64, 101, 101)
    level = FixedDetector(box, [(200, 100), (250, 100)])
    rolled = FixedDetector(box, [(200, 100), (250, 120)])  # roll atan(20 / 50) = 21.8 degrees
    assert rolled.detection.roll_degrees == pytest.approx(np.degrees(np.arctan2(20, 50)))
    face, = FacePipeline(level, emotion, keypoints)(astronaut)
    plain, = FacePipeline(rolled, emotion, keypoints, align=False)(astronaut)
    aligned, = FacePipeline(rolled, emotion, keypoints)(astronaut)
    assert face.roll == 0 and plain.roll is None and aligned.roll == pytest.approx(21.8, abs=0.05)
    # a level face and an unaligned one are cut as crop_face cuts them
    np.testing.assert_allclose(list(face.probabilities.values()), list(plain.probabilities.values()), atol=1e-6)
    np.testing.assert_allclose(face.keypoints, plain.keypoints, atol=1e-4)
    expected = emotion.predict(astronaut, [box], angles=[aligned.roll])[0]
    np.testing.assert_allclose(list(aligned.probabilities.values()), expected, atol=1e-6)
    crops, matrices = keypoints.aligned_crops(astronaut, [box], [aligned.roll])
    in_crop = keypoints.predict_crops(crops)[0]
    np.testing.assert_allclose(aligned.keypoints, transform_points(in_crop, invert_affine(matrices[0])), atol=1e-4)
    assert np.abs(aligned.keypoints - plain.keypoints).max() > 1.0  # the points came back turned


def test_the_crop_matrix_without_an_angle_is_points_to_crop():
    from fer_core.data.face_crops import aligned_crop

    astronaut = astronaut_bgr()
    for box, size, margin in (((174, 64, 101, 101), 48, 0.0), ((37.4, 21.6, 50, 64), 96, 0.15), ((-20, -10, 60, 60), 48, 0.1)):
        crop, matrix = aligned_crop(cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY), box, size, margin)
        np.testing.assert_array_equal(crop, crop_face(astronaut, box, size, margin))
        points = np.array([[180.0, 70.0], [250.5, 130.25]])
        np.testing.assert_allclose(transform_points(points, matrix), points_to_crop(points, box, size, margin), atol=1e-4)
