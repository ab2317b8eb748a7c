"""Inference benchmark: FER Studio's pipeline stage by stage, side by side with the ``fer`` package.

Usage (from the repository root):

    .venv/bin/python bench/bench_inference.py [--repeat 50] [--json results.json]

Frames are 640x480, built from scikit-image's astronaut photo (public domain):
one face, and three faces (her face pasted three times). Each measurement is the
median over ``--repeat`` runs after a warm-up; ours and ``fer``'s take turns in
blocks on the same frames in the same process, so they share the machine's
conditions. Compare ratios, not absolute figures, across machines. Per frame, the
median wall-clock time is given with the median CPU time of the process (all its
threads): on a loaded machine the wall clock also counts the waits for a core.

The first pipeline is the default one, ``FacePipeline()``: BlazeFace (short and full
range), each face turned upright by its roll before the emotion and keypoint models;
then the photo settings (the same with flip TTA, as the Photo page and ``predict``
run photos), the live ones (``blazeface-fast``), the default without alignment, and
the older cascades. Then detection alone on the one-face frame (the issue's 1.5 ms
target), and the optional face mesh's time per face.

A last block times a 30-frame clip of a moving face, mean per frame, with full
Haar detection on every frame and with the tracking detector (full detection
every 10 frames, a search around the previous face in between).

bench/bench_detection.py compares the detectors on real faces too.

Models: assets/models/emotion.keras and keypoints.keras (their .tflite files)
when present; otherwise untrained ``mini_xception`` / ``keypoint_xception`` from
``fer_core.training.zoo`` are exported to a temporary folder (speed does not depend
on the weights). ``--emotion-model`` / ``--keypoint-model`` pick others.

The ``fer`` column needs the ``fer`` package without its heavy dependencies.
Install it apart from the project's environment (``fer`` imports ``pkg_resources``,
which setuptools 81 and later no longer carry):

    .venv/bin/pip install --no-deps --target ~/.cache/fer-studio/bench/fer-pkg fer "setuptools<81"

(the script also finds ``fer`` when it is importable normally). Without it,
that column is skipped.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fer_core.config import cache_dir  # noqa: E402
from fer_core.inference.analysis import LIVE_ANALYSIS, PHOTO_ANALYSIS  # noqa: E402
from fer_core.inference.detection import (HaarFaceDetector, LBPFaceDetector, TrackingFaceDetector,  # noqa: E402
                                          make_detector)
from fer_core.inference.face_mesh import FaceMesh  # noqa: E402
from fer_core.inference.pipeline import FacePipeline  # noqa: E402
from fer_core.inference.runtime import (EmotionClassifier, KeypointRegressor, default_model_path,  # noqa: E402
                              shipped_model_exists)

FER_TARGET = cache_dir() / "bench" / "fer-pkg"
FER_PIPELINE = "fer: Haar + emotion (TFLite)"
DEFAULT_PIPELINE = "ours: default (BlazeFace, aligned) + e + k"
FER_INSTALL = f"{sys.executable} -m pip install --no-deps --target {FER_TARGET} fer"


# ---------------------------------------------------------------- frames

def astronaut_bgr():
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def make_frames():
    """Returns {"1 face": frame, "3 faces": frame}, both 640x480 BGR."""
    astronaut = astronaut_bgr()
    one = np.full((480, 640, 3), 90, np.uint8)
    one[:, 80:560] = cv2.resize(astronaut, (480, 480), interpolation=cv2.INTER_AREA)
    three = np.full((480, 640, 3), 90, np.uint8)
    face = astronaut[40:200, 150:310]
    for x in (20, 240, 460):
        three[150:310, x:x + 160] = face
    return {"1 face": one, "3 faces": three}


def moving_face_clip(frame, count=30, step=4):
    """Frames of a face drifting right and back by ``step`` pixels a frame (a video clip)."""
    clip = []
    for t in range(count):
        dx = step * (t if t < count // 2 else count - t)
        clip.append(np.roll(frame, dx - step * count // 4, axis=1))
    return clip


# ---------------------------------------------------------------- models

def prepare_models(emotion_path, keypoint_path, workdir):
    """Returns (emotion .keras/.tflite path, its int8 .tflite or None, keypoint path)."""
    if emotion_path is None and shipped_model_exists("emotion"):
        emotion_path = default_model_path("emotion")
    if keypoint_path is None and shipped_model_exists("keypoints"):
        keypoint_path = default_model_path("keypoints")
    int8_path = None
    if emotion_path is not None:
        candidate = Path(emotion_path).with_name(Path(emotion_path).stem + "_int8.tflite")
        int8_path = candidate if candidate.is_file() else None
    if emotion_path is None or keypoint_path is None:
        from fer_core.training.export import convert_to_tflite
        from fer_core.training.zoo import build_model

        rng = np.random.default_rng(0)
        if emotion_path is None:
            print("no shipped emotion model: using an untrained mini_xception (same speed)")
            model = build_model("mini_xception", input_shape=(48, 48, 1), num_classes=7)
            emotion_path = workdir / "emotion.tflite"
            emotion_path.write_bytes(convert_to_tflite(model))
            int8_path = workdir / "emotion_int8.tflite"
            int8_path.write_bytes(convert_to_tflite(
                model, int8=True, representative_images=rng.integers(0, 256, (50, 48, 48), dtype=np.uint8)))
        if keypoint_path is None:
            print("no shipped keypoint model: using an untrained keypoint_xception (same speed)")
            model = build_model("keypoint_xception", input_shape=(96, 96, 1))
            keypoint_path = workdir / "keypoints.tflite"
            keypoint_path.write_bytes(convert_to_tflite(model))
    return Path(emotion_path), int8_path, Path(keypoint_path)


def load_fer():
    """Imports the ``fer`` package (normally, or from the bench's own folder); None if missing."""
    try:
        from fer.fer import FER
    except ImportError:
        if not FER_TARGET.is_dir():
            return None
        sys.path.insert(0, str(FER_TARGET))
        try:
            from fer.fer import FER
        except ImportError as error:
            print(f"fer found in {FER_TARGET} but cannot be imported: {error} (see this script's docstring)")
            return None
    import logging

    logging.getLogger("fer").setLevel(logging.WARNING)
    return FER


# ---------------------------------------------------------------- timing

def median_ms(samples):
    return 1000.0 * statistics.median(samples)


def time_calls(functions, repeat, warmup=5, rounds=5, cpu=None):
    """Times each function in blocks, taking turns, so all share the machine's conditions.

    Each round runs every function ``repeat / rounds`` times in a row (blocks, not
    interleaved calls: a runtime's idle worker threads would otherwise slow the
    next one down).

    Arguments:
        cpu: a dict to fill with {name: median CPU milliseconds} (the process's, all threads), or None.

    Returns:
        {name: median wall-clock milliseconds}.
    """
    for function in functions.values():
        for _ in range(warmup):
            function()
    samples = {name: [] for name in functions}
    cpu_samples = {name: [] for name in functions}
    per_block = max(1, repeat // rounds)
    for _ in range(rounds):
        for name, function in functions.items():
            for _ in range(per_block):
                start, start_cpu = time.perf_counter(), time.process_time()
                function()
                samples[name].append(time.perf_counter() - start)
                cpu_samples[name].append(time.process_time() - start_cpu)
    if cpu is not None:
        cpu.update({name: median_ms(values) for name, values in cpu_samples.items()})
    return {name: median_ms(values) for name, values in samples.items()}


def fer_ratio(times, name):
    """ "   fer is N.Nx slower" for one of our rows of ``times`` when fer was timed too, else ""."""
    fer_ms = times.get(FER_PIPELINE)
    if fer_ms is None or name.startswith("fer"):
        return ""
    return f"   fer is {fer_ms / times[name]:.1f}x slower"


def stage_medians(pipeline, frame, repeat):
    """Median per-stage milliseconds of a pipeline over ``repeat`` calls."""
    stages = {}
    for _ in range(repeat):
        pipeline(frame)
        for stage, seconds in pipeline.timings.items():
            stages.setdefault(stage, []).append(seconds)
    return {stage: median_ms(values) for stage, values in stages.items()}


# ---------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=50, help="timed runs per measurement (median)")
    parser.add_argument("--emotion-model", help="emotion model (.keras with .tflite beside it, or .tflite)")
    parser.add_argument("--keypoint-model", help="keypoint model (.keras or .tflite)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="fer-bench-"))
    emotion_path, int8_path, keypoint_path = prepare_models(args.emotion_model, args.keypoint_model, workdir)
    emotion = EmotionClassifier.from_path(emotion_path)  # the file the app runs (ship --runtime)
    float_path = emotion_path.with_suffix(".tflite")
    emotion32 = EmotionClassifier.from_path(float_path if float_path.is_file() else emotion_path)
    emotion8 = EmotionClassifier.from_path(int8_path) if int8_path else None
    keypoints = KeypointRegressor.from_path(keypoint_path)
    frames = make_frames()

    FER = load_fer()
    fer = None
    if FER is None:
        print(f"the fer package is missing: its column is skipped. To compare, run:\n  {FER_INSTALL}")
    else:
        fer = FER(mtcnn=False)  # its defaults: Haar at full resolution + quantized TFLite classifier

    print(f"models: emotion {emotion.runner.path} ({emotion.backend}), "
          f"keypoints {keypoints.runner.path} ({keypoints.backend}), "
          f"which the pipelines below run; repeat {args.repeat}, median ms")
    results = {"repeat": args.repeat, "emotion_model": str(emotion_path), "keypoint_model": str(keypoint_path)}

    # Classifier alone, one face.
    crop48 = emotion.crop_faces(frames["1 face"], [(240, 60, 100, 100)])
    calls = {"ours float32 (LiteRT)": lambda: emotion32.predict_crops(crop48)}
    if emotion8 is not None:
        calls["ours int8 (LiteRT)"] = lambda: emotion8.predict_crops(crop48)
        calls["ours int8 + flip TTA"] = lambda: emotion8.predict_crops(crop48, flip_tta=True)
    if fer is not None:
        fer_face = np.zeros((1, 64, 64), np.float32)
        calls["fer (TFLite, quantized)"] = lambda: fer._classify_emotions(fer_face)
    classifier = time_calls(calls, args.repeat * 4)
    results["classifier_ms_per_face"] = classifier
    print("\nclassifier, ms per face (batch of 1)")
    for name, ms in classifier.items():
        print(f"  {name:<26} {ms:7.3f}")
    if emotion8 is not None:
        print(f"  flip TTA / int8: {classifier['ours int8 + flip TTA'] / classifier['ours int8 (LiteRT)']:.1f}x")
    if fer is not None:
        for ours in ("ours float32 (LiteRT)", "ours int8 (LiteRT)"):
            if ours in classifier:
                print(f"  fer / {ours}: {classifier['fer (TFLite, quantized)'] / classifier[ours]:.1f}x")

    # Whole pipelines per frame; the first is the default one.
    pipelines = {
        DEFAULT_PIPELINE: FacePipeline(make_detector("blazeface"), emotion, keypoints),
        "ours: photo settings (default + flip TTA)": PHOTO_ANALYSIS.pipeline(emotion, keypoints,
                                                                            detector=make_detector("blazeface")),
        "ours: live (blazeface-fast, aligned) + e + k": FacePipeline(make_detector(LIVE_ANALYSIS.detector), emotion,
                                                                     keypoints),
        "ours: BlazeFace, not aligned + e + k": FacePipeline(make_detector("blazeface"), emotion, keypoints,
                                                              align=False),
        "ours: BlazeFace short + e + k": FacePipeline(make_detector("blazeface-short"), emotion, keypoints),
        "ours: Haar@320 + emotion + keypoints": FacePipeline(HaarFaceDetector(working_size=320), emotion, keypoints),
        "ours: LBP@320 + emotion + keypoints": FacePipeline(LBPFaceDetector(working_size=320), emotion, keypoints),
        "ours: Haar@640 + emotion + keypoints": FacePipeline(HaarFaceDetector(working_size=640), emotion, keypoints),
    }
    results["frames"] = {}
    for frame_name, frame in frames.items():
        calls = {name: (lambda p=pipeline: p(frame)) for name, pipeline in pipelines.items()}
        if fer is not None:
            calls[FER_PIPELINE] = lambda: fer.detect_emotions(frame)
        faces = {name: len(pipeline(frame)) for name, pipeline in pipelines.items()}
        if fer is not None:
            faces[FER_PIPELINE] = len(fer.detect_emotions(frame))
        cpu = {}
        totals = time_calls(calls, args.repeat, cpu=cpu)
        stages = stage_medians(next(iter(pipelines.values())), frame, args.repeat)
        results["frames"][frame_name] = {"ms_per_frame": totals, "cpu_ms_per_frame": cpu, "faces_found": faces,
                                         "stages_ms_default_pipeline": stages,
                                         "fer_over_ours": {name: totals[FER_PIPELINE] / ms for name, ms in totals.items()}
                                         if FER_PIPELINE in totals else {}}
        print(f"\n640x480 frame, {frame_name}: ms per frame, wall clock and CPU (faces found)")
        for name, ms in totals.items():
            print(f"  {name:<44} {ms:7.2f} wall {cpu[name]:7.2f} CPU ({faces[name]}){fer_ratio(totals, name)}")
        print("  stages of the first (default) pipeline: "
              + ", ".join(f"{stage} {ms:.2f}" for stage, ms in stages.items()))

    # Detection alone on the one-face frame, and the face mesh per face.
    frame = frames["1 face"]
    detectors = {name: make_detector(name) for name in ("blazeface", "blazeface-fast", "blazeface-short")}
    detectors["haar@320"] = HaarFaceDetector(working_size=320)
    detectors["lbp@320"] = LBPFaceDetector(working_size=320)
    calls = {name: (lambda d=detector: d.detect(frame)) for name, detector in detectors.items()}
    if fer is not None:
        calls["fer's detector (Haar, full size)"] = lambda: fer.find_faces(frame)
    cpu = {}
    detection = time_calls(calls, args.repeat * 2, cpu=cpu)
    results["detection_ms"] = {"wall": detection, "cpu": cpu}
    print("\ndetection alone, 640x480 frame with one face: median ms per call, wall clock and CPU")
    for name, ms in detection.items():
        print(f"  {name:<34} {ms:7.3f} wall {cpu[name]:7.3f} CPU")
    mesh = FaceMesh()
    face = detectors["blazeface"].detect(frame)[0]
    three = frames["3 faces"]
    faces3 = detectors["blazeface"].detect(three)
    calls = {"1 face": lambda: mesh.predict(frame, [face.box], [face.roll_degrees]),
             "3 faces": lambda: mesh.predict(three, [d.box for d in faces3], [d.roll_degrees for d in faces3])}
    cpu = {}
    meshes = time_calls(calls, args.repeat * 2, cpu=cpu)
    per_face = {"wall": meshes["1 face"], "cpu": cpu["1 face"],
                "wall_3_faces_per_face": meshes["3 faces"] / max(1, len(faces3)),
                "cpu_3_faces_per_face": cpu["3 faces"] / max(1, len(faces3))}
    results["face_mesh_ms_per_face"] = per_face
    print(f"\nface mesh (468 points, LiteRT, crop included): {per_face['wall']:.3f} ms wall, {per_face['cpu']:.3f} ms "
          f"CPU per face on the one-face frame; {per_face['wall_3_faces_per_face']:.3f} ms wall per face on the "
          f"{len(faces3)}-face frame")

    # Video: a moving face, frame after frame; mean per frame over the whole clip, so the
    # periodic full detections of the tracking detector are counted.
    clip = moving_face_clip(frames["1 face"])
    video = {"ours: live (blazeface-fast) every frame + emotion + keypoints":
             FacePipeline(make_detector(LIVE_ANALYSIS.detector), emotion, keypoints),
             "ours: Haar@320 every frame + emotion + keypoints":
             FacePipeline(HaarFaceDetector(working_size=320), emotion, keypoints),
             "ours: Haar tracking (full every 10) + emotion + keypoints":
             FacePipeline(TrackingFaceDetector(redetect_every=10, working_size=320), emotion, keypoints)}
    calls = {name: (lambda p=pipeline: [p(f) for f in clip]) for name, pipeline in video.items()}
    if fer is not None:
        calls[FER_PIPELINE] = lambda: [fer.detect_emotions(f) for f in clip]
    per_clip = time_calls(calls, max(5, args.repeat // 5), warmup=1)
    per_frame = {name: ms / len(clip) for name, ms in per_clip.items()}
    results["video_ms_per_frame"] = per_frame
    print(f"\nvideo, {len(clip)} frames of 640x480 with one moving face: mean ms per frame")
    for name, ms in per_frame.items():
        print(f"  {name:<58} {ms:7.2f}{fer_ratio(per_frame, name)}")

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
