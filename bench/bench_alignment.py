"""What turning faces upright (eyes level) before the models does: keypoint error and emotion accuracy.

Usage (from the repository root):

    FER_DATA_DIR=../shared/data .venv/bin/python bench/bench_alignment.py [--sections keypoints rotated]
        [--limit N] [--json out.json]

Sections (both by default):

    keypoints  the keypoint set's test frames (630 whole frames, identity-disjoint from training), as in
               bench/bench_detection.py: the shipped keypoint model (its .tflite through LiteRT) placed by
               BlazeFace's box, its crop cut as it is ("not aligned") or turned by the detection's roll
               so that the eyes are level ("aligned", the points turned back into the frame); RMSE of the
               15 Kaggle keypoints in pixels of the 96x96 crop of the dataset's own box (the model card's
               unit), on all frames and on the frames Haar finds too (Haar's RMSE beside it: Haar gives no
               eyes, so it is never aligned).
    rotated    faces rotated on purpose: FER2013 PrivateTest (3,589) and CK+48 (all 981; contempt, which
               the model does not know, left out: 927), each 48x48 face scaled up 3x (bilinear) to 144 px,
               put in a 288x288 canvas with its edges replicated, and rotated about the centre by 0, +-10,
               +-20 and +-30 degrees (counter-clockwise as shown for positive angles, borders replicated);
               BlazeFace ("blazeface", the default) finds the face (the detection holding the centre), and
               the shipped emotion model (assets/models/emotion_int8.tflite through LiteRT, no flip TTA)
               labels the crop of its box as it is and turned upright by its roll; a missed face counts as
               wrong in both. "upright 48x48" is the model on the original images (its training framing).

In both sections "aligned >=T" turns a face only when BlazeFace's roll is at least T degrees (the
others are cut as they are): the figures for each T come from the same detections.

Labels are compared by name (CK+48's anger -> angry, sadness -> sad). Figures depend on the data
and the models only, not on the CPU.
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_detection import crop_scale, face_at, finish, rmse  # noqa: E402
from fer_core.data.keypoints import ibug68_to_kaggle15, landmark_box, landmark_extent  # noqa: E402
from fer_core.inference.detection import make_detector  # noqa: E402
from scripts.face_sets import keypoint_frames  # noqa: E402

SECTIONS = ("keypoints", "rotated")
ANGLES = (0, -10, 10, -20, 20, -30, 30)
# "aligned from T": a face is turned upright only when its roll is at least T degrees (0: always).
THRESHOLDS = (0, 5, 10, 15)
UPSCALE = 3  # 48 -> 144 px
CANVAS = 288


# ---------------------------------------------------------------- keypoints

def bench_keypoints(limit=None):
    from fer_core.inference.runtime import KeypointRegressor, default_model_path

    regressor = KeypointRegressor.from_path(default_model_path("keypoints"))
    blazeface, haar = make_detector("blazeface"), make_detector("haar")
    frames = keypoint_frames("test", limit)
    errors = {"dataset box": {}, "blazeface, not aligned": {}, "haar": {},
              **{aligned_name(t): {} for t in THRESHOLDS}}
    rolls = []
    for index, (path, points68) in enumerate(frames):
        image = cv2.imread(str(path))
        truth = ibug68_to_kaggle15(points68)
        scale = crop_scale(points68)
        centre = landmark_extent(points68)[:2]
        errors["dataset box"][index] = (regressor.predict(image, [landmark_box(points68)])[0] - truth) * scale
        face = face_at(blazeface.detect(image), centre)
        if face is not None:
            rolls.append(face.roll_degrees)
            plain = errors["blazeface, not aligned"][index] = (regressor.predict(image, [face.box])[0] - truth) * scale
            turned = (regressor.predict(image, [face.box], [face.roll_degrees])[0] - truth) * scale
            for threshold in THRESHOLDS:
                errors[aligned_name(threshold)][index] = turned if abs(face.roll_degrees) >= threshold else plain
        face = face_at(haar.detect(image), centre)
        if face is not None:
            errors["haar"][index] = (regressor.predict(image, [face.box])[0] - truth) * scale
    print(f"\nkeypoint set, test frames ({len(frames)}): the shipped keypoint model's RMSE (px of the 96x96 crop) "
          f"through each box; BlazeFace's faces roll {np.median(np.abs(rolls)):.1f} degrees (median |roll|), "
          f"{np.mean(np.abs(rolls) > 10) * 100:.0f}% over 10")
    results = {"frames": len(frames), "median_abs_roll": float(np.median(np.abs(rolls)))}
    haar = errors["haar"]
    for name, found in errors.items():
        both = sorted(set(found) & set(haar))
        row = {"found": len(found), "rmse": rmse(np.stack(list(found.values()))),
               "frames_with_haar": len(both), "rmse_with_haar": rmse(np.stack([found[i] for i in both])),
               "haar_rmse_there": rmse(np.stack([haar[i] for i in both]))}
        results[name] = row
        print(f"  {name:<32} found {row['found']:3d}   RMSE {row['rmse']:.3f}   on the {len(both)} frames Haar "
              f"finds: {row['rmse_with_haar']:.3f} (Haar {row['haar_rmse_there']:.3f})")
    return results


def aligned_name(threshold):
    return "blazeface, aligned" + (f" from {threshold} deg" if threshold else "")


# ---------------------------------------------------------------- rotated faces

def rotated_canvas(face48, angle):
    """A 48x48 face scaled up, framed with its edges replicated and rotated by ``angle`` degrees."""
    side = 48 * UPSCALE
    face = cv2.resize(face48, (side, side), interpolation=cv2.INTER_LINEAR)
    pad = (CANVAS - side) // 2
    canvas = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    matrix = cv2.getRotationMatrix2D((CANVAS / 2.0, CANVAS / 2.0), float(angle), 1.0)
    return cv2.warpAffine(canvas, matrix, (CANVAS, CANVAS), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def rotated_sets(limit=None):
    """{name: (48x48 images, labels in the shipped model's label space)}."""
    from fer_core.data import load_dataset
    from fer_core.inference.runtime import EmotionClassifier, default_model_path
    from fer_core.runs.evaluation import relabel

    label_names = EmotionClassifier.from_path(default_model_path("emotion")).label_names
    sets = {}
    for name, dataset in (("FER2013 PrivateTest", load_dataset("fer2013").subset("PrivateTest")),
                          ("CK+48", load_dataset("ckplus48").subset("all"))):
        dataset = relabel(dataset, label_names)
        images, labels = dataset.images, dataset.labels
        sets[name] = (images[:limit], labels[:limit]) if limit else (images, labels)
    return sets


def bench_rotated(limit=None):
    from fer_core.inference.runtime import EmotionClassifier, default_model_path

    emotion = EmotionClassifier.from_path(default_model_path("emotion"))  # the int8 file the app runs
    detector = make_detector("blazeface")
    centre = (CANVAS / 2.0, CANVAS / 2.0)
    results = {"model": str(emotion.runner.path.relative_to(REPO))}
    print(f"\nrotated faces: accuracy of {results['model']} (LiteRT, no flip TTA) on faces BlazeFace finds in "
          f"rotated {CANVAS}x{CANVAS} canvases, the crop as it is and turned upright (misses count as wrong)")
    for set_name, (images, labels) in rotated_sets(limit).items():
        upright = float(np.mean(np.argmax(emotion.predict_crops(images), axis=1) == labels) * 100)
        rows = {"upright 48x48": upright}
        print(f"  {set_name} ({len(images)} faces; upright 48x48: {upright:.2f}%)")
        print(f"    {'angle':>6} {'found':>7} {'not aligned':>12} "
              + " ".join(f"{'aligned' + (f' >={t}' if t else ''):>12}" for t in THRESHOLDS) + f" {'|roll error|':>13}")
        for angle in ANGLES:
            plain, turned, right_labels, rolls, roll_errors = [], [], [], [], []
            for image, label in zip(images, labels):
                canvas = rotated_canvas(image, angle)
                face = face_at(detector.detect(canvas), centre)
                if face is None:
                    continue
                plain.append(emotion.crop_faces(canvas, [face.box])[0])
                turned.append(emotion.crop_faces(canvas, [face.box], [face.roll_degrees])[0])
                right_labels.append(label)
                rolls.append(abs(face.roll_degrees))
                roll_errors.append(abs(face.roll_degrees + angle))  # cv2 turns counter-clockwise: roll -angle
            right_labels, rolls = np.array(right_labels), np.array(rolls)
            if len(right_labels):
                hits_plain = np.argmax(emotion.predict_crops(np.stack(plain)), axis=1) == right_labels
                hits_turned = np.argmax(emotion.predict_crops(np.stack(turned)), axis=1) == right_labels
            else:
                hits_plain = hits_turned = np.zeros(0, bool)
            row = {"found": len(right_labels), "total": len(images),
                   "accuracy_not_aligned": 100.0 * hits_plain.sum() / len(images),
                   "median_abs_roll_error": float(np.median(roll_errors)) if roll_errors else None}
            for threshold in THRESHOLDS:
                hits = np.where(rolls >= threshold, hits_turned, hits_plain)
                row[f"accuracy_aligned_from_{threshold}"] = 100.0 * hits.sum() / len(images)
            rows[str(angle)] = row
            print(f"    {angle:>+6d} {100.0 * row['found'] / len(images):6.1f}% {row['accuracy_not_aligned']:11.2f}% "
                  + " ".join(f"{row[f'accuracy_aligned_from_{t}']:11.2f}%" for t in THRESHOLDS)
                  + f"  {row['median_abs_roll_error'] or 0:10.1f} deg")
        for threshold in THRESHOLDS:
            key = f"accuracy_aligned_from_{threshold}"
            rows[f"mean_change_{threshold}"] = float(np.mean([rows[str(a)][key] - rows[str(a)]["accuracy_not_aligned"]
                                                              for a in ANGLES]))
        print("    mean change over the angles: " + ", ".join(
            f"aligned{f' >={t}' if t else ''} {rows[f'mean_change_{t}']:+.2f}" for t in THRESHOLDS))
        results[set_name] = rows
    return results


# ---------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--limit", type=int, help="first N images of each set (a quick look)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    results = {}
    started = time.perf_counter()
    if "keypoints" in args.sections:
        results["keypoints"] = bench_keypoints(args.limit)
    if "rotated" in args.sections:
        results["rotated"] = bench_rotated(args.limit)
    finish(results, started, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
