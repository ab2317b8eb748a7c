"""Detection benchmark: Haar, LBP and BlazeFace on real faces, side by side, in one run.

Usage (from the repository root):

    FER_DATA_DIR=../shared/data .venv/bin/python bench/bench_detection.py [--sections ...] [--repeat 200] [--json out.json]

Sections (all by default):

    lfw        scikit-image's LFW subset (100 faces, 100 non-faces, 25x25, each scaled to 100x100 and
               framed with a 30-pixel replicated border as tests/inference/test_detection.py does):
               faces found, and false alarms (any detection) on the non-faces.
    fer        FER2013 PrivateTest (3,589 faces) scaled up to 192x192 (bilinear), the face filling the
               frame: found = a detection whose box holds the image centre; then the shipped emotion
               model's accuracy on the faces cut from each detector's box (a missed face counts as
               wrong), beside its accuracy on the whole images, the framing it was trained on.
    keypoints  the keypoint set's test frames (630 whole frames, identity-disjoint from training;
               fer_core.data.keypoints): found = a detection whose box holds the centre of the
               annotated face; then the end-to-end error of the shipped keypoint model
               (assets/models/keypoints.keras, run from its .tflite by LiteRT) placed by each
               detector's box: RMSE of the 15 Kaggle keypoints, in pixels of the 96x96 crop of the
               dataset's own box (the unit of the model card's 1.651 px), on each detector's own
               finds and, paired, on the frames Haar found too; "dataset box" is the model on the
               crops it was tested on.
    sweep      the astronaut's face (scripts/face_sets.sweep_frame) 24 to 400 pixels wide in a
               640x480 frame, rolled -40 to +40 degrees: found = a detection holding the face centre
               with a side within 0.5x-2x of the face's; prints the grid and each detector's range.
    mixed      two faces in one frame, a near one (a third of the frame's height) and a far one 24 to
               160 pixels wide, in frames of 640x480, 1024x768 and 1280x720
               (scripts/face_sets.two_face_frame): which far faces each detector finds beside the
               near one (the cost of running the full-range model only when the short-range one
               finds nothing, "blazeface-fast"), and its median ms per frame there.
    speed      detect() on a 640x480 frame with one face (bench/bench_inference.py's frame), median
               ms over --repeat calls, wall clock and CPU time (every thread's), the detectors
               taking turns in blocks in the same process as in bench_inference.time_calls, with
               each one's ratio to Haar's time in the same run; "blazeface, 2 threads" is
               "blazeface" with two LiteRT threads per model instead of one.

Detectors are built as the app builds them (``make_detector(name)``: Haar and LBP at a working size
of 320; BlazeFace with ``blazeface.BLAZEFACE_THREADS`` LiteRT threads per model). Compare ratios,
not absolute times, across machines.
"""

import argparse
import json
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

from fer_core.config import KEYPOINT_INPUT_SIZE  # noqa: E402
from fer_core.data.face_crops import KEYPOINT_MARGIN  # noqa: E402
from fer_core.data.keypoints import ibug68_to_kaggle15, landmark_box, landmark_extent  # noqa: E402
from fer_core.inference.detection import make_detector  # noqa: E402
from scripts.face_sets import (astronaut_bgr, fer2013_labels, fer2013_upscaled, keypoint_frames, lfw_framed,  # noqa: E402
                               sweep_frame, two_face_frame)

DETECTORS = ("haar", "lbp", "blazeface", "blazeface-fast", "blazeface-short", "blazeface-full")
SECTIONS = ("lfw", "fer", "keypoints", "sweep", "mixed", "speed")
MIXED_FRAMES = ((480, 640), (768, 1024), (720, 1280))
MIXED_SIZES = (24, 32, 40, 48, 56, 64, 80, 100, 128, 160)
SWEEP_SIZES = (24, 32, 40, 48, 56, 64, 80, 100, 128, 160, 200, 256, 320, 400)
SWEEP_ROLLS = tuple(range(-40, 41, 10))


def contains(box, point):
    """True when (x, y) ``point`` lies inside the (x, y, w, h) ``box``."""
    x, y, w, h = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def face_at(detections, point):
    """The detection whose box holds ``point`` with its centre nearest to it, or None."""
    inside = [d for d in detections if contains(d.box, point)]
    return min(inside, key=lambda d: np.hypot(d.box[0] + d.box[2] / 2 - point[0], d.box[1] + d.box[3] / 2 - point[1]),
               default=None)


# ---------------------------------------------------------------- sections

def bench_lfw(detectors):
    images = lfw_framed()
    results = {}
    print("\nLFW subset (100 faces, 100 non-faces, framed to 160x160): faces found, false alarms")
    for name, detector in detectors.items():
        found = [bool(detector.detect(image)) for image in images]
        results[name] = {"faces_found": sum(found[:100]), "false_alarms": sum(found[100:])}
        print(f"  {name:<16} {sum(found[:100]):3d} / 100 faces   {sum(found[100:]):3d} / 100 false alarms")
    return results


def bench_fer(detectors, limit=None):
    from fer_core.inference.runtime import EmotionClassifier, default_model_path

    images = fer2013_upscaled("PrivateTest", 192, limit)
    labels, label_names = fer2013_labels("PrivateTest", limit)
    emotion = EmotionClassifier.from_path(default_model_path("emotion"))  # the file the app runs
    index = {name: i for i, name in enumerate(emotion.label_names)}
    truth = np.array([index.get(label_names[label], -1) for label in labels])

    def accuracy(boxes):
        """Accuracy of the shipped emotion model on the faces cut from these boxes (None: missed, wrong)."""
        right = [box is not None and int(np.argmax(emotion.predict(image, [box])[0])) == label
                 for image, box, label in zip(images, boxes, truth)]
        return 100.0 * float(np.mean(right))

    whole = accuracy([(0, 0, 192, 192)] * len(images))
    results = {"whole image": {"emotion_accuracy": whole}}
    print(f"\nFER2013 PrivateTest scaled to 192x192 ({len(images)} faces filling the frame): found, and the "
          f"shipped emotion model's accuracy through each box (a missed face counts as wrong; "
          f"the whole image, as it was trained: {whole:.2f}%)")
    for name, detector in detectors.items():
        boxes = []
        for image in images:
            face = face_at(detector.detect(image), (96, 96))
            boxes.append(None if face is None else face.box)
        found = sum(box is not None for box in boxes)
        results[name] = {"found": found, "total": len(images), "percent": 100.0 * found / len(images),
                         "emotion_accuracy": accuracy(boxes)}
        print(f"  {name:<16} {100.0 * found / len(images):5.1f}%  ({found} of {len(images)})   "
              f"emotion accuracy {results[name]['emotion_accuracy']:.2f}%")
    return results


def crop_scale(points68):
    """Frame pixels -> pixels of the dataset's 96x96 crop of that face (its ``landmark_box``)."""
    side = landmark_box(points68)[2] * (1.0 + 2.0 * KEYPOINT_MARGIN)
    return KEYPOINT_INPUT_SIZE / side


def rmse(errors):
    """Root mean square of an array of (x, y) errors, over coordinates."""
    return float(np.sqrt(np.mean(np.square(errors)))) if len(errors) else float("nan")


def bench_keypoints(detectors, limit=None):
    from fer_core.inference.runtime import KeypointRegressor, default_model_path

    regressor = KeypointRegressor.from_path(default_model_path("keypoints"))
    frames = keypoint_frames("test", limit)
    errors = {name: {} for name in ["dataset box", *detectors]}
    for index, (path, points68) in enumerate(frames):
        image = cv2.imread(str(path))
        truth = ibug68_to_kaggle15(points68)
        scale = crop_scale(points68)
        boxes = {"dataset box": landmark_box(points68)}
        centre = landmark_extent(points68)[:2]
        for name, detector in detectors.items():
            face = face_at(detector.detect(image), centre)
            if face is not None:
                boxes[name] = face.box
        for name, box in boxes.items():
            errors[name][index] = (regressor.predict(image, [box])[0] - truth) * scale
    results = {}
    print(f"\nkeypoint set, test frames ({len(frames)}): found, and the shipped keypoint model's RMSE (px of "
          f"the 96x96 crop) placed by each box: on its own finds, and on the frames Haar found too (Haar's beside it)")
    haar = errors.get("haar", {})
    for name, found in errors.items():
        own = rmse(np.stack(list(found.values()))) if found else float("nan")
        both = sorted(set(found) & set(haar))
        paired = {"frames": len(both), "rmse": rmse(np.stack([found[i] for i in both])) if both else float("nan"),
                  "rmse_haar": rmse(np.stack([haar[i] for i in both])) if both else float("nan")}
        results[name] = {"found": len(found), "total": len(frames), "percent": 100.0 * len(found) / len(frames),
                         "rmse_own_finds": own, "with_haar": paired}
        line = f"  {name:<16} found {100.0 * len(found) / len(frames):5.1f}% ({len(found):3d})   RMSE {own:.3f}"
        if haar and name != "haar":
            line += f"   on the {len(both)} Haar found too: {paired['rmse']:.3f} (Haar {paired['rmse_haar']:.3f})"
        print(line)
    return results


def sweep_found(detection_list, centre, face_side):
    return any(contains(d.box, centre) and 0.5 * face_side <= d.box[2] <= 2.0 * face_side for d in detection_list)


def covered_range(values, found):
    """The longest run of consecutive ``values`` where ``found`` holds, as (first, last), or None."""
    best, start = None, None
    for i, ok in enumerate(list(found) + [False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            if best is None or i - start > best[1] - best[0] + 1:
                best = (start, i - 1)
            start = None
    return None if best is None else (values[best[0]], values[best[1]])


def span_text(span, unit=""):
    """ "A-B unit" for a (first, last) range, "none" for None."""
    return "none" if span is None else f"{span[0]}-{span[1]}{unit}"


def bench_sweep(detectors):
    astronaut = astronaut_bgr()
    frames = {(size, roll): sweep_frame(size, roll, astronaut) for size in SWEEP_SIZES for roll in SWEEP_ROLLS}
    results = {}
    print(f"\nsweep: the astronaut's face {SWEEP_SIZES[0]}-{SWEEP_SIZES[-1]} px wide in a 640x480 frame, "
          f"rolled {SWEEP_ROLLS[0]} to {SWEEP_ROLLS[-1]} degrees (rows: size, columns: roll; # found)")
    for name, detector in detectors.items():
        grid = np.array([[sweep_found(detector.detect(frames[size, roll][0]), frames[size, roll][1], size)
                          for roll in SWEEP_ROLLS] for size in SWEEP_SIZES])
        upright = covered_range(SWEEP_SIZES, grid[:, SWEEP_ROLLS.index(0)])
        rolls = {size: covered_range(SWEEP_ROLLS, grid[i]) for i, size in enumerate(SWEEP_SIZES)}
        all_rolls = covered_range(SWEEP_SIZES, grid.all(axis=1))
        results[name] = {"grid": grid.astype(int).tolist(), "sizes_upright": upright,
                         "rolls_by_size": {str(k): v for k, v in rolls.items()}, "sizes_all_rolls": all_rolls,
                         "found": int(grid.sum()), "total": int(grid.size)}
        print(f"  {name}: upright sizes {span_text(upright, ' px')}; every roll at sizes {span_text(all_rolls, ' px')}; "
              f"{int(grid.sum())} of {grid.size} found")
        print("      size " + " ".join(f"{roll:>4d}" for roll in SWEEP_ROLLS) + "   rolls found")
        for i, size in enumerate(SWEEP_SIZES):
            span = rolls[size]
            print(f"      {size:4d} " + " ".join(f"{'#' if ok else '.':>4s}" for ok in grid[i])
                  + (f"   {span[0]}..{span[1]}" if span else "   -"))
    return results


def bench_mixed(detectors, repeat):
    astronaut = astronaut_bgr()
    results = {}
    print(f"\nmixed: a near face (a third of the frame's height) and a far one {MIXED_SIZES[0]}-{MIXED_SIZES[-1]} px "
          f"wide in one frame: far faces found beside the near one (# found), and median ms per frame")
    for shape in MIXED_FRAMES:
        frames = {size: two_face_frame(shape, size, astronaut) for size in MIXED_SIZES}
        print(f"  {shape[1]}x{shape[0]}: far face " + " ".join(f"{size:>4d}" for size in MIXED_SIZES) + "     ms")
        for name, detector in detectors.items():
            row = []
            for size, (frame, near, far) in frames.items():
                found = detector.detect(frame)
                row.append(sweep_found(found, near[:2], near[2]) and sweep_found(found, far[:2], far[2]))
            frame = frames[MIXED_SIZES[len(MIXED_SIZES) // 2]][0]
            ms = time_both({name: lambda d=detector: d.detect(frame)}, max(10, repeat // 10), warmup=3, rounds=1)[name]
            results.setdefault(f"{shape[1]}x{shape[0]}", {})[name] = {
                "both_found": dict(zip(MIXED_SIZES, map(bool, row))), "ms_wall": ms[0], "ms_cpu": ms[1]}
            print(f"    {name:<16}        " + " ".join(f"{'#' if ok else '.':>4s}" for ok in row)
                  + f"   {ms[0]:6.2f} wall {ms[1]:6.2f} CPU")
    return results


def time_both(functions, repeat, warmup=20, rounds=5):
    """Median wall-clock and CPU milliseconds per call of each function, the functions taking turns
    in blocks as bench_inference.time_calls does (so all share the machine's conditions).

    CPU time is the process's (every thread's) time: on a busy machine it rises less than the
    wall clock, which counts the waits for a core too.

    Returns:
        {name: (wall ms, cpu ms)}.
    """
    for function in functions.values():
        for _ in range(warmup):
            function()
    samples = {name: ([], []) for name in functions}
    per_block = max(1, repeat // rounds)
    for _ in range(rounds):
        for name, function in functions.items():
            for _ in range(per_block):
                wall, cpu = time.perf_counter(), time.process_time()
                function()
                samples[name][0].append(time.perf_counter() - wall)
                samples[name][1].append(time.process_time() - cpu)
    return {name: (1000 * float(np.median(w)), 1000 * float(np.median(c))) for name, (w, c) in samples.items()}


def bench_speed(detectors, repeat):
    from bench_inference import make_frames

    frame = make_frames()["1 face"]
    if "blazeface" in detectors:  # the same with two LiteRT threads per model
        from fer_core.inference.blazeface import BlazeFaceDetector

        detectors = {**detectors, "blazeface, 2 threads": BlazeFaceDetector(num_threads=2)}
    faces = {name: len(detector.detect(frame)) for name, detector in detectors.items()}
    calls = {name: (lambda d=detector: d.detect(frame)) for name, detector in detectors.items()}
    times = time_both(calls, repeat)
    print(f"\nspeed: detect() on a 640x480 frame with one face, median ms per call over {repeat} calls "
          f"(wall clock, CPU time of all threads; faces found)")
    reference = times.get("haar")
    for name, (wall, cpu) in times.items():
        ratio = (f"   Haar / this: {reference[0] / wall:.1f}x wall, {reference[1] / cpu:.1f}x CPU"
                 if reference and name != "haar" else "")
        print(f"  {name:<21} {wall:7.3f} ms wall {cpu:7.3f} ms CPU ({faces[name]}){ratio}")
    return {"ms_wall": {n: t[0] for n, t in times.items()}, "ms_cpu": {n: t[1] for n, t in times.items()},
            "faces": faces,
            "haar_over_wall": {n: reference[0] / t[0] for n, t in times.items()} if reference else {},
            "haar_over_cpu": {n: reference[1] / t[1] for n, t in times.items()} if reference else {}}


# ---------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--detectors", nargs="+", choices=DETECTORS, default=list(DETECTORS))
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per detector (speed; median)")
    parser.add_argument("--limit", type=int, help="first N images of the FER2013 and keypoint sets (a quick look)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    from fer_core.inference.runtime import cpu_description

    detectors = {name: make_detector(name) for name in args.detectors}
    print(f"CPU: {cpu_description()}")
    results = {"cpu": cpu_description()}
    started = time.perf_counter()
    for section in args.sections:
        if section == "lfw":
            results["lfw"] = bench_lfw(detectors)
        elif section == "fer":
            results["fer2013_192"] = bench_fer(detectors, args.limit)
        elif section == "keypoints":
            results["keypoints"] = bench_keypoints(detectors, args.limit)
        elif section == "sweep":
            results["sweep"] = bench_sweep(detectors)
        elif section == "mixed":
            results["mixed"] = bench_mixed(detectors, args.repeat)
        elif section == "speed":
            results["speed"] = bench_speed(detectors, args.repeat)
    finish(results, started, args.json)
    return 0


def finish(results, started, json_path=None):
    """Prints how long a bench took and writes its figures to ``json_path`` when given."""
    print(f"\n({time.perf_counter() - started:.0f} s)")
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {json_path}")


if __name__ == "__main__":
    sys.exit(main())
