"""Measures how each BlazeFace model's face box sits relative to the Haar cascade's.

The emotion and keypoint models are trained on crops that match Haar boxes (FER2013's crops look
like them; the keypoint crops are cut from ``fer_core.data.keypoints.landmark_box``, fitted to Haar's
boxes by calibrate_keypoint_box.py). BlazeFace frames a face differently (a tighter box, lower on
the face), so each model's box is mapped onto Haar's with three constants, as
scripts/calibrate_lbp_box.py does for LBP: the centre offset (dx, dy), in the face's own axes (x
along the eye line), and the scale, in units of the model's box side sqrt(w * h)
(``blazeface.haar_framed_boxes``). This script fits them (medians) on real faces that Haar and the
model both find (one face each, overlapping): the keypoint set's training frames (never its
validation or test frames), scikit-image's LFW faces and the astronaut.

It prints the constants, the IoU with Haar of the model's own square box and of the corrected one,
and, on the keypoint set's validation frames, the IoU with the crops the keypoint model was trained
on (``landmark_box``) of Haar's box and of the corrected box. bench/bench_detection.py measures what
the framing is for: the keypoint model's error placed by each detector's box, on the test frames.

    FER_DATA_DIR=../shared/data .venv/bin/python -m scripts.calibrate_blazeface_box [LIMIT]   (from the repository root)
"""

import sys

import cv2
import numpy as np

from fer_core.data.face_crops import box_iou
from fer_core.data.keypoints import landmark_box, landmark_extent
from fer_core.inference.blazeface import MODEL_SPECS, BlazeFaceDetector, eye_line_angle, haar_framed_boxes, weighted_nms
from fer_core.inference.detection import HaarFaceDetector, to_bgr
from scripts.face_sets import astronaut_bgr, keypoint_frames, lfw_framed


def model_faces(detector, spec, image_bgr):
    """One model's faces on a frame as it frames them, after suppression.

    Returns:
        list of (centre box (cx, cy, w, h), points (6, 2)).
    """
    rgb = cv2.cvtColor(to_bgr(image_bgr), cv2.COLOR_BGR2RGB)
    centres, points, scores = detector.raw_candidates(spec, rgb)
    boxes = haar_framed_boxes(centres, points, None)
    # Blend the centre boxes with the points: two more rows, (cx, cy) and (w, h).
    extended = np.concatenate([points, centres.reshape(-1, 2, 2)], axis=1)
    _, blended, _ = weighted_nms(boxes, extended, scores, detector.nms_iou)
    return [(face[6:].ravel(), face[:6]) for face in blended]


def offsets(pairs):
    """(dx, dy, scale) of each ((centre box, points), Haar box) pair: the Haar box centre's offset
    from the model's box centre in the face's axes, and its side, in model box sides."""
    rows = []
    for ((cx, cy, w, h), points), (hx, hy, hw, hh) in pairs:
        side = np.sqrt(w * h)
        delta_x, delta_y = (hx + hw / 2 - cx) / side, (hy + hh / 2 - cy) / side
        angle = eye_line_angle(points)
        cos, sin = np.cos(angle), np.sin(angle)
        rows.append((delta_x * cos + delta_y * sin, -delta_x * sin + delta_y * cos, hw / side))
    return np.array(rows)


def framed(face, correction):
    """The (x, y, side, side) box of a (centre box, points) face with a correction (None: as found)."""
    return tuple(haar_framed_boxes([face[0]], [face[1]], correction)[0])


def one_face(detector, spec, haar, image):
    """(model face, Haar box) when each finds exactly one face and they overlap, else None."""
    haar_boxes = [d.box for d in haar.detect(image)]
    faces = model_faces(detector, spec, image)
    if len(haar_boxes) != 1 or len(faces) != 1 or box_iou(haar_boxes[0], framed(faces[0], None)) < 0.3:
        return None
    return faces[0], haar_boxes[0]


def face_holding(faces, point):
    """The face whose model box holds ``point``, nearest first, or None."""
    inside = [f for f in faces if abs(f[0][0] - point[0]) <= f[0][2] / 2 and abs(f[0][1] - point[1]) <= f[0][3] / 2]
    return min(inside, key=lambda f: np.hypot(f[0][0] - point[0], f[0][1] - point[1]), default=None)


def main(limit=1500):
    haar = HaarFaceDetector(working_size=None, scale_factor=1.1, min_neighbors=5)
    sources = {"keypoint training frames": [cv2.imread(str(path)) for path, _ in keypoint_frames("train", limit)],
               "LFW faces": lfw_framed()[:100],
               "astronaut": [astronaut_bgr()]}
    validation = [(cv2.imread(str(path)), points) for path, points in keypoint_frames("val")]
    for name, spec in MODEL_SPECS.items():
        detector = BlazeFaceDetector(models=(name,))
        pairs, counts = [], {}
        for source, images in sources.items():
            found = [one_face(detector, spec, haar, image) for image in images if image is not None]
            pairs += [pair for pair in found if pair is not None]
            counts[source] = f"{sum(pair is not None for pair in found)} of {len(images)}"
        correction = tuple(float(v) for v in np.median(offsets(pairs), axis=0))
        own = [box_iou(framed(face, None), box) for face, box in pairs]
        fitted = [box_iou(framed(face, correction), box) for face, box in pairs]
        print(f"{spec.filename}: faces found by both: {len(pairs)} ({', '.join(f'{s} {c}' for s, c in counts.items())})")
        print(f"  box_correction=({correction[0]:.3f}, {correction[1]:.3f}, {correction[2]:.3f})  # dx, dy, scale")
        print(f"  IoU with Haar: median {np.median(own):.3f} as found, {np.median(fitted):.3f} corrected "
              f"(10th percentile {np.percentile(own, 10):.3f} -> {np.percentile(fitted, 10):.3f})")
        truth_haar, truth_model = [], []
        for image, points in validation:
            centre, truth = landmark_extent(points)[:2], landmark_box(points)
            face = face_holding(model_faces(detector, spec, image), centre)
            haar_box = [d.box for d in haar.detect(image) if box_iou(d.box, truth) > 0.3]
            if face is not None and haar_box:
                truth_haar.append(box_iou(haar_box[0], truth))
                truth_model.append(box_iou(framed(face, correction), truth))
        print(f"  keypoint validation frames found by both ({len(truth_model)} of {len(validation)}): IoU with the "
              f"keypoint model's training box: median {np.median(truth_model):.3f} corrected, Haar's {np.median(truth_haar):.3f}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
