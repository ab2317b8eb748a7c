"""BlazeFace (fer_core.inference.blazeface): the pure steps on synthetic inputs, then the detector on
real faces (goldens), then what the rest of the project relies on (names, no TensorFlow)."""

import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest

from fer_core.config import PROJECT_ROOT
from fer_core.data.face_crops import box_iou
from fer_core.inference.blazeface import (BLAZEFACE_LANDMARKS, FULL_RANGE, SHORT_RANGE, BlazeFaceDetector,
                                          decode_boxes, decode_candidates, eye_line_angle, from_letterbox,
                                          halve_down, haar_framed_boxes, letterbox, letterbox_geometry, sigmoid,
                                          ssd_anchors, to_letterbox, weighted_nms)
from fer_core.inference.detection import (BLAZEFACE_MODELS, DETECTORS, Detection, correct_box, detect_faces,
                                          get_detector, make_detector)
from tests.inference_models import astronaut_bgr

# Goldens: what the "blazeface" detector (both models) gives on fixed images, with tolerances (box
# +-3 px, keypoints +-2 px, score +-0.02). They move when the vendored models, the letterbox (halving,
# interpolation, border), the decoding, the suppression or the box corrections (ModelSpec.box_correction,
# scripts/calibrate_blazeface_box.py) change, or with OpenCV's or LiteRT's arithmetic; the failing
# assertion prints the new values.
GOLDEN_ASTRONAUT = {  # scikit-image's astronaut, 512x512 (Haar's box there: (174, 64, 101, 101))
    "box": (173, 62, 107, 107), "score": 0.923,
    "points": [(203.6, 101.1), (247.9, 108.2), (222.0, 125.6), (219.1, 145.9), (177.8, 108.8), (271.2, 123.2)]}
GOLDEN_LFW_FACE = {  # scikit-image's first LFW face, scaled to 100x100 and framed to 160x160
    "box": (28, 25, 93, 93), "score": 0.735,
    "points": [(60.8, 63.7), (97.0, 63.7), (82.2, 84.6), (80.2, 101.9), (36.5, 69.6), (110.1, 69.7)]}


@pytest.fixture(scope="module")
def astronaut():
    return astronaut_bgr()


@pytest.fixture(scope="module")
def detector():
    return make_detector("blazeface")


def lfw_framed():
    from scripts.face_sets import lfw_framed as frames

    return frames()


def assert_golden(detection, golden):
    found = {"box": detection.box, "score": round(detection.score, 3),
             "points": [tuple(round(float(v), 1) for v in p) for p in detection.landmarks]}
    assert np.allclose(detection.box, golden["box"], atol=3), found
    assert detection.score == pytest.approx(golden["score"], abs=0.02), found
    assert np.allclose(detection.landmarks, golden["points"], atol=2), found


# ---------------------------------------------------------------- anchors and decoding

def test_anchor_counts_are_896_and_2304():
    short = ssd_anchors(SHORT_RANGE.input_size, SHORT_RANGE.layers)
    full = ssd_anchors(FULL_RANGE.input_size, FULL_RANGE.layers)
    assert short.shape == (896, 2) and SHORT_RANGE.anchor_count == 896
    assert full.shape == (2304, 2) and FULL_RANGE.anchor_count == 2304


def test_anchors_go_row_by_row_with_every_anchor_of_a_cell_in_turn():
    short = ssd_anchors(128, ((8, 2), (16, 6)))
    # 16x16 grid, 2 per cell: anchors 0 and 1 share the first cell, anchor 2 is the next cell to the right
    assert short[0] == pytest.approx((0.5 / 16, 0.5 / 16)) and short[1] == pytest.approx(short[0])
    assert short[2] == pytest.approx((1.5 / 16, 0.5 / 16))
    assert short[32] == pytest.approx((0.5 / 16, 1.5 / 16))  # second row
    # then the 8x8 grid, 6 per cell, from anchor 512
    assert short[512] == pytest.approx((0.5 / 8, 0.5 / 8)) and short[517] == pytest.approx((0.5 / 8, 0.5 / 8))
    assert short[518] == pytest.approx((1.5 / 8, 0.5 / 8))
    assert short[-1] == pytest.approx((7.5 / 8, 7.5 / 8))
    full = ssd_anchors(192, ((4, 1),))
    assert full[0] == pytest.approx((0.5 / 48, 0.5 / 48)) and full[48] == pytest.approx((0.5 / 48, 1.5 / 48))


def encode(box, points, anchor, size):
    """The raw output row that a model would give for a box (cx, cy, w, h) and six points at an anchor,
    all in units of the input side."""
    cx, cy, w, h = box
    raw = [(cx - anchor[0]) * size, (cy - anchor[1]) * size, w * size, h * size]
    for x, y in points:
        raw += [(x - anchor[0]) * size, (y - anchor[1]) * size]
    return np.array(raw, np.float32)


def test_a_raw_output_that_encodes_a_known_box_decodes_to_it():
    anchors = ssd_anchors(128, SHORT_RANGE.layers)
    box = (0.40, 0.55, 0.30, 0.32)
    points = [(0.33, 0.50), (0.47, 0.50), (0.40, 0.56), (0.40, 0.63), (0.27, 0.52), (0.53, 0.52)]
    raw = encode(box, points, anchors[600], 128)[None]
    decoded = decode_boxes(raw, anchors[600:601], 128)[0]
    assert decoded[:4] == pytest.approx(box, abs=1e-6)
    assert decoded[4:].reshape(6, 2) == pytest.approx(np.array(points), abs=1e-6)


def test_decode_candidates_keeps_the_anchors_over_the_threshold_in_input_pixels():
    anchors = ssd_anchors(192, FULL_RANGE.layers)
    raw = np.zeros((2304, 16), np.float32)
    logits = np.full(2304, -8.0, np.float32)
    box = (0.5, 0.25, 0.125, 0.125)
    raw[1000] = encode(box, [(0.5, 0.25)] * 6, anchors[1000], 192)
    logits[1000] = 2.0  # score 0.88
    logits[5] = np.log(0.55 / 0.45)  # score 0.55: under full range's 0.6
    centres, points, scores = decode_candidates(raw, logits, anchors, 192, FULL_RANGE.min_score)
    assert centres == pytest.approx(np.array([[96.0, 48.0, 24.0, 24.0]]), abs=1e-4)
    assert points.shape == (1, 6, 2) and points[0, 3] == pytest.approx((96.0, 48.0), abs=1e-4)
    assert scores == pytest.approx([1 / (1 + np.exp(-2.0))])
    assert len(decode_candidates(raw, logits, anchors, 192, 0.5)[2]) == 2


def test_scores_are_clipped_sigmoids():
    with np.errstate(over="raise"):
        assert sigmoid([-1e6, 0.0, 1e6]) == pytest.approx([0.0, 0.5, 1.0])
    assert sigmoid([-100.0])[0] > 0.0


# ---------------------------------------------------------------- letterbox

@pytest.mark.parametrize("shape, border", [((480, 640), 0.0), ((640, 480), 0.0), ((480, 640), 0.2),
                                            ((100, 100), 0.0), ((37, 301), 0.1)])
def test_letterbox_round_trip(shape, border):
    geometry = letterbox_geometry(shape, 128, border)
    points = np.array([[0.0, 0.0], [shape[1], shape[0]], [shape[1] / 3, shape[0] / 2]])
    assert from_letterbox(to_letterbox(points, geometry), geometry) == pytest.approx(points)
    inside = to_letterbox(points[:2], geometry)
    assert (inside >= 0).all() and (inside <= 128).all()
    # centred, with the border on both sides of the longest side
    assert (inside[0] + inside[1]) / 2 == pytest.approx((64, 64), abs=0.5)
    assert max(inside[1] - inside[0]) == pytest.approx(128 / (1 + 2 * border), abs=1)


@pytest.mark.parametrize("shape, border", [((480, 640, 3), 0.0), ((480, 640, 3), 0.2), ((1080, 1920, 3), 0.0),
                                            ((160, 160, 3), 0.2), ((301, 37, 3), 0.0)])
def test_a_pixel_lands_where_the_letterbox_geometry_says(shape, border):
    frame = np.zeros(shape, np.uint8)
    x, y = shape[1] * 2 // 5, shape[0] * 3 // 5
    cv2.circle(frame, (x, y), max(2, max(shape) // 40), (255, 255, 255), -1)
    canvas, geometry = letterbox(frame, 192, border)
    assert canvas.shape == (192, 192, 3)
    expected = to_letterbox([x + 0.5, y + 0.5], geometry)  # the dot's centre, pixel edges at 0
    ys, xs = np.nonzero(canvas[:, :, 0] > 128)
    assert (xs.mean() + 0.5, ys.mean() + 0.5) == pytest.approx(tuple(expected), abs=1.0)


def test_letterbox_repeats_the_frames_edges_outside_it():
    frame = np.zeros((50, 200, 3), np.uint8)
    frame[0] = 200  # the top row
    canvas, (_, _, offset_x, offset_y) = letterbox(frame, 128)
    assert offset_x == 0 and offset_y > 0
    assert canvas[offset_y, 0, 0] > 100
    assert (canvas[:offset_y] == canvas[offset_y]).all(), "above the frame: its top row repeated"
    assert (canvas[-2:] == 0).all()


def test_halve_down_halves_while_the_image_stays_large_enough():
    image = np.arange(641 * 481 * 3, dtype=np.uint64).astype(np.uint8).reshape(481, 641, 3)
    halved, factor = halve_down(image, 128)
    assert factor == 0.25 and halved.shape == (120, 160, 3)
    same, factor = halve_down(image, 400)
    assert same is image and factor == 1.0
    small, factor = halve_down(np.zeros((4, 4), np.uint8), 1)
    assert small.shape == (1, 1) and factor == 0.25


# ---------------------------------------------------------------- suppression and framing

def test_weighted_nms_blends_overlapping_candidates_by_score():
    boxes = np.array([[0, 0, 10, 10], [2, 0, 10, 10], [50, 50, 10, 10]], np.float64)
    points = np.array([[[0, 0]], [[4, 0]], [[50, 50]]], np.float64)
    scores = np.array([0.9, 0.6, 0.7])
    kept_boxes, kept_points, kept_scores = weighted_nms(boxes, points, scores, 0.3)
    assert kept_scores == pytest.approx([0.9, 0.7])
    assert kept_boxes[0] == pytest.approx([0.8, 0, 10, 10])  # (0 * 0.9 + 2 * 0.6) / 1.5
    assert kept_points[0, 0] == pytest.approx([1.6, 0])
    assert kept_boxes[1] == pytest.approx([50, 50, 10, 10])
    empty = weighted_nms(np.zeros((0, 4)), np.zeros((0, 6, 2)), np.zeros(0))
    assert [a.shape for a in empty] == [(0, 4), (0, 6, 2), (0,)]


def level_points(cx, cy, eye_gap):
    """Six keypoints of an upright face: eyes level around (cx, cy)."""
    return np.array([[cx - eye_gap / 2, cy], [cx + eye_gap / 2, cy], [cx, cy + 10], [cx, cy + 20],
                     [cx - eye_gap, cy], [cx + eye_gap, cy]], np.float64)


def test_haar_framing_of_a_level_face_is_correct_box_of_the_models_box():
    centre_box = (100.0, 80.0, 40.0, 40.0)
    points = level_points(100, 75, 16)[None]
    assert haar_framed_boxes([centre_box], points, None)[0] == pytest.approx([80, 60, 40, 40])
    framed = haar_framed_boxes([centre_box], points, (0.05, -0.1, 1.2))[0]
    assert framed == pytest.approx(correct_box((80, 60, 40, 40), (0.05, -0.1, 1.2)))


def test_haar_framing_moves_the_centre_along_the_face_for_a_rolled_face():
    centre_box = (100.0, 80.0, 40.0, 40.0)
    points = level_points(100, 80, 16)
    rolled = points.copy()
    rolled[:, 0], rolled[:, 1] = 100 - (points[:, 1] - 80), 80 + (points[:, 0] - 100)  # 90 degrees
    assert eye_line_angle(rolled) == pytest.approx(np.pi / 2)
    x, y, side, _ = haar_framed_boxes([centre_box], rolled[None], (0.0, -0.1, 1.0))[0]
    # "up the face" is now +x in the image: the centre moves 0.1 of the side to the right, not up; the
    # side is BlazeFace's divided by the cosine of the roll, capped at 45 degrees (ROLL_SIZE_LIMIT)
    assert side == pytest.approx(40 * np.sqrt(2))
    assert (x + side / 2, y + side / 2) == pytest.approx((100 + 4 * np.sqrt(2), 80))


def test_haar_framing_undoes_the_shrinking_of_blazefaces_box_with_the_roll():
    centre_box = (100.0, 80.0, 40.0 * np.cos(np.radians(30)), 40.0 * np.cos(np.radians(30)))
    points = level_points(100, 80, 16)
    turn = np.radians(30)
    offsets = points - (100, 80)
    rolled = (100, 80) + offsets @ np.array([[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]])
    assert np.degrees(eye_line_angle(rolled)) == pytest.approx(30)
    assert haar_framed_boxes([centre_box], rolled[None], (0.0, 0.0, 1.0))[0] == pytest.approx([80, 60, 40, 40])


# ---------------------------------------------------------------- the detector on real faces

def test_golden_astronaut(detector, astronaut):
    detections = detector.detect(astronaut)
    assert len(detections) == 1
    assert detections[0].landmark_names == BLAZEFACE_LANDMARKS
    assert_golden(detections[0], GOLDEN_ASTRONAUT)
    haar_box = detect_faces(astronaut, "haar")[0]
    assert box_iou(detections[0].box, haar_box) > 0.8, "framed like Haar's box"


def test_golden_lfw_face(detector):
    detections = detector.detect(lfw_framed()[0])
    assert len(detections) == 1
    assert_golden(detections[0], GOLDEN_LFW_FACE)


def test_keypoints_sit_where_a_face_has_them(detector, astronaut):
    face = detector.detect(astronaut)[0]
    x, y, w, h = face.box
    right_eye, left_eye = face.eyes
    nose, mouth = face.landmark("nose_tip"), face.landmark("mouth_centre")
    assert x < right_eye[0] < left_eye[0] < x + w, "the subject's right eye is on the image's left"
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1] < y + h
    assert face.landmark("right_ear")[0] < right_eye[0] and face.landmark("left_ear")[0] > left_eye[0]
    with pytest.raises(KeyError, match="no landmark 'chin'"):
        face.landmark("chin")


def test_rotating_by_roll_degrees_levels_the_eyes(detector, astronaut):
    face = detector.detect(astronaut)[0]
    assert 5 < face.roll_degrees < 15  # she tilts her head
    centre = tuple(float(v) for v in face.eyes.mean(axis=0))
    level = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D(centre, face.roll_degrees, 1.0), (512, 512))
    assert abs(detector.detect(level)[0].roll_degrees) < 4  # BlazeFace's eyes are good to a few degrees


@pytest.mark.parametrize("roll", [-40, 40])
def test_a_rolled_face_is_found_with_its_roll(detector, roll):
    from scripts.face_sets import sweep_frame

    frame, centre = sweep_frame(150, roll)
    detections = [d for d in detector.detect(frame) if box_iou(d.box, (centre[0] - 75, centre[1] - 75, 150, 150)) > 0.4]
    assert len(detections) == 1
    # sweep_frame rolls counter-clockwise as shown: the eye line turns by -roll in image terms (y down);
    # BlazeFace's eye keypoints are coarser on strongly rolled faces (about 10 degrees off at -40)
    assert detections[0].roll_degrees == pytest.approx(9.1 - roll, abs=12)
    assert np.sign(detections[0].roll_degrees - 9.1) == -np.sign(roll)


def test_boxes_and_keypoints_are_in_frame_pixels(detector, astronaut):
    reference = detector.detect(astronaut)[0]
    big = cv2.resize(astronaut, (1536, 1536), interpolation=cv2.INTER_LINEAR)
    found = detector.detect(big)
    assert len(found) == 1
    assert np.allclose(found[0].box, np.array(reference.box) * 3, atol=9)
    assert np.allclose(found[0].landmarks, reference.landmarks * 3, atol=6)


def test_gray_and_bgra_frames(detector, astronaut):
    reference = detector.detect(astronaut)[0].box
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    for frame in (gray, gray[:, :, None], cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA)):
        found = detector.detect(frame)
        assert len(found) == 1 and box_iou(found[0].box, reference) > 0.85


@pytest.mark.parametrize("shape", [(1, 1, 3), (10, 10, 3), (23, 500, 3), (480, 640, 3)])
def test_no_face_in_tiny_or_blank_frames(detector, shape):
    assert detector.detect(np.full(shape, 127, np.uint8)) == []


def test_no_face_in_noise(detector):
    rng = np.random.default_rng(0)
    assert detector.detect(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) == []


def test_faces_that_fill_the_frame_are_found_by_the_bordered_retry(fer2013):
    # FER2013's first 400 PrivateTest faces (48x48, the face filling the image), scaled to 192 as
    # scripts/face_sets.fer2013_upscaled does for bench/bench_detection.py
    faces = [cv2.resize(face, (192, 192), interpolation=cv2.INTER_LINEAR)
             for face in fer2013.subset("PrivateTest").images[:400]]

    def found(detector):
        return sum(any(x <= 96 <= x + w and y <= 96 <= y + h for x, y, w, h in detect_faces(face, detector))
                   for face in faces)

    once = found(BlazeFaceDetector(models=("short",), tight_face_border=None))
    with_retry = found(make_detector("blazeface-short"))
    assert with_retry >= 0.95 * len(faces) and with_retry >= once + 8, (once, with_retry)  # 373 -> 388 of 400


def test_lfw_faces_found_and_non_faces_not(detector):
    found = [bool(detector.detect(image)) for image in lfw_framed()]
    assert sum(found[:100]) >= 99, "faces found"
    assert sum(found[100:]) == 0, "false alarms on non-faces"


def test_small_faces_need_the_full_range_model(astronaut):
    from scripts.face_sets import sweep_frame

    frame, (cx, cy) = sweep_frame(48, 0, astronaut)  # 48 px in a 640x480 frame
    assert make_detector("blazeface-short").detect(frame) == []
    for name in ("blazeface-full", "blazeface"):
        found = make_detector(name).detect(frame)
        assert len(found) == 1 and box_iou(found[0].box, (cx - 24, cy - 24, 48, 48)) > 0.5, name


def test_threads_share_one_detector(detector, astronaut):
    expected = detector.detect(astronaut)[0].box
    results = []
    threads = [threading.Thread(target=lambda: results.append([d.box for d in detector.detect(astronaut)]))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[expected]] * 4


# ---------------------------------------------------------------- names, files, imports

def test_detector_names():
    assert set(BLAZEFACE_MODELS) <= set(DETECTORS)
    assert make_detector("blazeface").name == "blazeface"
    assert [s.name for s in make_detector("blazeface-short").specs] == ["short"]
    assert [s.name for s in make_detector("blazeface-full", working_size=640).specs] == ["full"]
    assert get_detector("blazeface") is get_detector("blazeface")
    with pytest.raises(ValueError, match="unknown BlazeFace model"):
        BlazeFaceDetector(models=("long",))


def test_detections_without_landmarks_have_no_eyes():
    plain = Detection((0, 0, 10, 10))
    assert plain.eyes is None and plain.roll_degrees is None and plain.landmark_names is None
    tilted = Detection((0, 0, 10, 10), landmarks=np.array([[0, 0], [10, 10]], np.float32), landmark_names=("a", "b"))
    assert tilted.roll_degrees == pytest.approx(45.0)
    assert tilted.landmark("b") == pytest.approx((10, 10))


def test_vendored_models_have_their_checksums():
    from scripts.extract_detectors import DETECTORS_DIR, FILES, check_file

    for name, (_, size, digest) in FILES.items():
        assert check_file(DETECTORS_DIR / name, size, digest) is None, name
    assert (DETECTORS_DIR / "LICENSE-mediapipe").read_text().lstrip().startswith("Apache License")
    notice = (DETECTORS_DIR / "NOTICE").read_text()
    assert "mediapipe 0.10.14" in notice and all(digest in notice for _, _, digest in FILES.values())


def test_the_blazeface_path_imports_no_tensorflow():
    code = ("import sys\n"
            "from fer_core.inference.detection import make_detector\n"
            "from tests.inference_models import astronaut_bgr\n"
            "found = make_detector('blazeface').detect(astronaut_bgr())\n"
            "assert len(found) == 1, found\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
            "assert not heavy, heavy[:5]\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]
