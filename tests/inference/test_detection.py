import cv2
import numpy as np
import pytest

from fer_core.data.face_crops import box_iou
from fer_core.inference.detection import (DEFAULT_DETECTOR, LBP_BOX_CORRECTION, MTCNN_LANDMARKS, HaarFaceDetector,
                                         LBPFaceDetector, correct_box, detect_faces, detector_options, get_detector,
                                         make_detector, scale_box, working_scale, working_size_of)
from fer_core.errors import ImageError
from tests.inference_models import astronaut_bgr

# The astronaut's face (Eileen Collins) in the 512x512 photo: roughly x 170-275, y 60-170.
FACE_CENTRE = (225, 113)


@pytest.fixture(scope="module")
def astronaut():
    return astronaut_bgr()


def assert_is_astronaut_face(box, scale=1.0):
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    assert abs(cx - FACE_CENTRE[0] * scale) < 15 * scale and abs(cy - FACE_CENTRE[1] * scale) < 15 * scale, box
    assert 75 * scale < w < 125 * scale and w == h, box


# ---------------------------------------------------------------- pure helpers

def test_working_scale_never_upscales():
    assert working_scale((480, 640, 3), 320) == 0.5
    assert working_scale((100, 50), 320) == 1.0
    assert working_scale((1000, 4000), None) == 1.0


def test_scale_box_maps_back_and_clips():
    assert scale_box((10, 20, 30, 40), 0.5, (480, 640)) == (20, 40, 60, 80)
    assert scale_box((300, 220, 40, 40), 0.5, (480, 640)) == (600, 440, 40, 40)
    assert scale_box((-5, -5, 20, 20), 1.0, (100, 100)) == (0, 0, 15, 15)


def test_correct_box_moves_the_centre_and_scales_the_sides():
    assert correct_box((10, 20, 30, 40), None) == (10, 20, 30, 40)
    assert correct_box((10, 20, 100, 100), (0.0, 0.0, 1.0)) == (10, 20, 100, 100)
    # centre (60, 70) moves by (0.1, -0.2) sides = (10, -20); sides x1.2 = 120
    assert correct_box((10, 20, 100, 100), (0.1, -0.2, 1.2)) == pytest.approx((10, -10, 120, 120))


# ---------------------------------------------------------------- Haar

def test_haar_finds_the_astronauts_face(astronaut):
    boxes = detect_faces(astronaut, "haar")
    assert len(boxes) == 1
    assert_is_astronaut_face(boxes[0])
    assert all(isinstance(v, int) for v in boxes[0])


@pytest.mark.parametrize("working_size", [None, 640, 480, 320])
def test_working_resolution_gives_the_same_face(astronaut, working_size):
    boxes = detect_faces(astronaut, HaarFaceDetector(working_size=working_size))
    assert len(boxes) == 1
    assert_is_astronaut_face(boxes[0])


def test_boxes_are_in_full_frame_pixels(astronaut):
    big = cv2.resize(astronaut, (1536, 1536), interpolation=cv2.INTER_LINEAR)
    boxes = detect_faces(big, "haar")  # detected at 320 pixels, mapped back x4.8
    assert len(boxes) == 1
    assert_is_astronaut_face(boxes[0], scale=3.0)


def test_gray_and_bgra_frames(astronaut):
    reference = detect_faces(astronaut, "haar")[0]
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA)
    for frame in (gray, gray[:, :, None], bgra):
        boxes = detect_faces(frame, "haar")
        assert len(boxes) == 1 and box_iou(boxes[0], reference) > 0.9


@pytest.mark.parametrize("shape", [(1, 1, 3), (10, 10, 3), (23, 500, 3), (480, 640, 3)])
def test_no_face_in_tiny_or_blank_frames(shape):
    assert detect_faces(np.full(shape, 127, np.uint8), "haar") == []


def test_no_face_in_noise():
    rng = np.random.default_rng(0)
    assert detect_faces(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), "haar") == []


def lfw_hits(detector):
    """(faces found among LFW's 100 faces, faces found among its 100 non-faces), on
    100x100 images framed with a 30-pixel border."""
    from skimage import data

    images = (data.lfw_subset() * 255).astype(np.uint8)  # 100 faces, then 100 non-faces, 25x25
    framed = [cv2.copyMakeBorder(cv2.resize(image, (100, 100)), 30, 30, 30, 30, cv2.BORDER_REPLICATE)
              for image in images]
    found = [bool(detector.detect(image)) for image in framed]
    return sum(found[:100]), sum(found[100:])


@pytest.mark.parametrize("detector_class", [HaarFaceDetector, LBPFaceDetector])
def test_lfw_faces_found_and_non_faces_not(detector_class):
    faces, false_alarms = lfw_hits(detector_class(working_size=None))
    assert faces >= 85
    assert false_alarms <= 2


# ---------------------------------------------------------------- LBP

def test_lbp_frames_the_astronauts_face_like_haar(astronaut):
    boxes = detect_faces(astronaut, "lbp")
    assert len(boxes) == 1
    assert_is_astronaut_face(boxes[0])
    assert box_iou(boxes[0], detect_faces(astronaut, "haar")[0]) > 0.8


def test_lbp_finds_nothing_in_blank_or_noise():
    rng = np.random.default_rng(0)
    assert detect_faces(np.full((480, 640, 3), 127, np.uint8), "lbp") == []
    assert detect_faces(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), "lbp") == []


def test_lbp_boxes_are_corrected_onto_haars_framing(monkeypatch, astronaut):
    plain = detect_faces(astronaut, LBPFaceDetector(working_size=None))[0]
    raw_side = plain[2] / LBP_BOX_CORRECTION[2]  # the cascade's own box side, before the shipped correction
    monkeypatch.setattr(LBPFaceDetector, "box_correction", (0.1, 0.0, 1.5))
    moved = detect_faces(astronaut, LBPFaceDetector(working_size=None))[0]
    assert moved[2] == pytest.approx(raw_side * 1.5, abs=2)
    assert moved[0] + moved[2] / 2 == pytest.approx(plain[0] + plain[2] / 2 + 0.1 * raw_side, abs=2)


def test_bad_frames_raise_image_errors():
    with pytest.raises(ImageError, match="uint8"):
        detect_faces(np.zeros((50, 50), np.float32))
    with pytest.raises(ImageError, match="shape"):
        detect_faces(np.zeros((50, 50, 2), np.uint8))
    with pytest.raises(ImageError, match="no pixels"):
        detect_faces(np.zeros((0, 50, 3), np.uint8))


def test_whole_image_detector_for_face_crops():
    crop = np.zeros((48, 40), np.uint8)
    assert detect_faces(crop, "none") == [(0, 0, 40, 48)]
    assert detect_faces(crop, "haar") == []  # Haar cannot find a face that fills the image


def test_detector_lookup():
    assert get_detector() is get_detector(DEFAULT_DETECTOR)
    assert get_detector("haar") is get_detector("haar")
    own = HaarFaceDetector()
    assert get_detector(own) is own
    with pytest.raises(ValueError, match="unknown detector 'dlib'"):
        make_detector("dlib")


def test_shared_detectors_are_one_per_name_and_working_size_and_a_tracker_is_new_each_time():
    assert get_detector("haar", working_size=320) is get_detector("haar", working_size=320)
    assert get_detector("haar", working_size=320) is not get_detector("haar", working_size=640)
    assert get_detector("lbp", working_size=320).working_size == 320
    first, second = get_detector("haar-track", working_size=320), get_detector("haar-track", working_size=320)
    assert first is not second and working_size_of(first) == 320  # it follows one stream, at the size asked
    assert working_size_of(get_detector("none")) is None


def test_detector_options_give_a_working_size_only_to_the_detectors_that_scale_frames_down():
    assert detector_options("haar", 640) == detector_options("mtcnn", 640) == {"working_size": 640}
    assert detector_options("haar-track", 320) == {"working_size": 320}
    assert detector_options("blazeface", 640) == detector_options("none", 640) == {}
    assert detector_options("haar", None) == {}


# ---------------------------------------------------------------- MTCNN (imports TensorFlow: a few seconds)

def test_mtcnn_finds_the_face_and_landmarks(astronaut):
    detector = make_detector("mtcnn")
    detections = detector.detect(astronaut)
    assert len(detections) == 1
    face = detections[0]
    assert face.score > 0.9
    x, y, w, h = face.box
    assert abs(x + w / 2 - FACE_CENTRE[0]) < 20 and abs(y + h / 2 - FACE_CENTRE[1]) < 25, face.box
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert face.landmark_names == MTCNN_LANDMARKS
    assert x < left_eye[0] < right_eye[0] < x + w  # mtcnn names the eyes as seen in the image
    assert face.eyes == pytest.approx(np.stack([left_eye, right_eye]))  # the subject's right eye first, as BlazeFace
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1]) < y + h
    assert detect_faces(astronaut, detector) == [face.box]


def test_tracking_detector_follows_a_moving_face_with_few_full_detections():
    from fer_core.inference.detection import HaarFaceDetector, TrackingFaceDetector

    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, 80:560] = cv2.resize(astronaut_bgr(), (480, 480))
    full, tracker = HaarFaceDetector(), TrackingFaceDetector(redetect_every=10)
    for t in range(20):
        moved = np.roll(frame, 4 * t, axis=1)
        reference = full.detect(moved)[0].box
        tracked = tracker.detect(moved)
        assert len(tracked) == 1 and box_iou(tracked[0].box, reference) > 0.7
    assert tracker.full_detections == 2
    blank = np.full((480, 640, 3), 90, np.uint8)
    assert tracker.detect(blank) == [] and tracker.full_detections == 3, "a lost face triggers a full detection"
