"""``python -m fer_core predict``: emotions and keypoints of the faces in images, folders and videos."""

import argparse
import json
import os
import sys
from pathlib import Path

import cv2

from fer_core.errors import FerStudioError, ImageError, ModelError, file_problem
from fer_core.inference.analysis import PHOTO_ANALYSIS, VIDEO_ANALYSIS
from fer_core.inference.detection import DETECTORS

# Every detector but the tracking one, which follows a single stream.
PREDICT_DETECTORS = tuple(name for name in DETECTORS if name != "haar-track")

HELP = "find faces in images, folders or videos and predict their emotion and keypoints"

DESCRIPTION = """\
Detects the faces in each input and predicts their emotion (and facial
keypoints, when a keypoint model is available).

Inputs: image files, video files (by suffix: .mp4 .avi .mov .mkv .webm .m4v
.mpg .mpeg) and folders (their images and videos, not recursive).

Output: one line per image (or per video) on stdout; with --json one JSON
object per image, or per processed frame of a video:
  {"path": ..., "detector": {"name": ..., "detect_size": ..., "flip_tta": ...,
   "align": ..., "smoothing": ..., "face_mesh": ...},
   "models": {"emotion": FILE, "keypoints": FILE},
   "faces": [{"box": [x, y, w, h], "label": NAME, "probs": {NAME: p},
   "keypoints": {NAME: [x, y]}, "roll": DEGREES}]}
(image lines also have "width", "height", "original_width" and
"original_height"; video lines "frame" and "time_s" and each face's
"track_id"). With --out DIR: annotated images (and DIR/NAME.json), and for
videos an annotated DIR/NAME.mp4 and a per-face DIR/NAME.csv.

Photos are analysed exactly as the app's Photo page analyses them (the same
settings, fer_core.inference.analysis.PHOTO_ANALYSIS, and the same decoding: a
photo over 4 megapixels is analysed at an integer fraction of its size, which
"width" and "height" give): BlazeFace, each face turned so that its eyes are
level before the models, and flip test-time augmentation. Videos are analysed
as the Video page analyses them (flip TTA off, labels smoothed over 5 frames).

Models: --model defaults to assets/models/emotion.keras; a .tflite file beside
a .keras model is used when present (LiteRT, no TensorFlow needed); "models"
names the files that ran.

Bad inputs: an input that cannot be read (not an image, truncated, empty, too
large, ...) is reported as "error: PATH: reason" on stderr and the others are
still processed. Exit status: 0 if every input was processed, 1 if some input
failed, 2 for a usage or model error."""

SAVE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def add_parser(subparsers):
    """Registers the ``predict`` subcommand."""
    parser = subparsers.add_parser("predict", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files, video files or folders")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image / video frame")
    parser.add_argument("--out", metavar="DIR", help="write annotated images / videos (and JSON / CSV) here")
    parser.add_argument("--detector", choices=PREDICT_DETECTORS, default=None,
                        help=f"face detector (default {PHOTO_ANALYSIS.detector}: MediaPipe's BlazeFace, short and full "
                             "range; blazeface-fast runs the full-range model only when needed; haar, lbp and mtcnn "
                             "are the older ones); none: each image is one face crop (e.g. FER2013, CK+)")
    parser.add_argument("--detect-size", type=int, default=None, metavar="PX",
                        help=f"longest side haar, lbp and mtcnn work at (default {PHOTO_ANALYSIS.detect_size}; "
                             "smaller is faster, larger finds smaller faces; BlazeFace has fixed input sizes)")
    parser.add_argument("--no-align", action="store_true",
                        help="do not turn faces upright (eyes level) before the models (BlazeFace and MTCNN give "
                             "the eyes)")
    parser.add_argument("--mesh", action="store_true",
                        help="add each face's 468-point face mesh (MediaPipe's face landmark model) to the JSON "
                             "and the annotated images")
    parser.add_argument("--model", metavar="FILE",
                        help="emotion model, .keras or .tflite (default assets/models/emotion.keras)")
    parser.add_argument("--keypoint-model", metavar="FILE",
                        help="keypoint model, .keras or .tflite (default assets/models/keypoints.keras, "
                             "skipped if absent)")
    parser.add_argument("--no-emotion", action="store_true", help="do not classify emotions")
    parser.add_argument("--no-keypoints", action="store_true", help="do not predict keypoints")
    parser.add_argument("--keras", action="store_true", help="run the .keras models even where a .tflite exists")
    parser.add_argument("--every", type=int, default=1, metavar="N", help="video: process one frame in N")
    parser.add_argument("--max-frames", type=int, metavar="N", help="video: stop after N processed frames")
    parser.add_argument("--smoothing", type=int, default=None, metavar="N",
                        help=f"video: average each tracked face's probabilities over N frames (default "
                             f"{VIDEO_ANALYSIS.smoothing}; 1 = off)")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                        help="classify each face and its mirror image and average the two (flip test-time "
                             "augmentation: more accurate, twice the classifier's time); default: on for photos, "
                             "off for videos, as in the app")
    parser.set_defaults(func=run)
    return parser


# ---------------------------------------------------------------- inputs

def expand_inputs(paths):
    """Turns the command's paths into (path, kind) pairs, kind "image" or "video".

    Folders give their image and video files (sorted, not recursive); files are
    taken as given (video by suffix, anything else is tried as an image).
    """
    from fer_core.inference.imageio import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    inputs = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.iterdir()):
                suffix = child.suffix.lower()
                if child.is_file() and suffix in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
                    inputs.append((child, "video" if suffix in VIDEO_SUFFIXES else "image"))
        else:
            inputs.append((path, "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"))
    return inputs


def output_folder(text):
    """The ``--out`` folder, made when it is missing.

    Raises:
        FerStudioError: a file is there, or the folder cannot be made or written to.
    """
    out_dir = Path(text)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise FerStudioError(f"--out {text}: {file_problem(out_dir) or 'a file'} is there, not a folder") from None
    except OSError as error:
        raise FerStudioError(f"--out {text}: cannot make this folder ({error.strerror or error})") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise FerStudioError(f"--out {text}: this folder cannot be written to")
    return out_dir


def output_path(out_dir, path, suffix, used):
    """A file in ``out_dir`` named after ``path`` with ``suffix``, unique within this run."""
    stem, candidate, n = path.stem, out_dir / f"{path.stem}{suffix}", 1
    while candidate in used:
        candidate = out_dir / f"{stem}_{n}{suffix}"
        n += 1
    used.add(candidate)
    return candidate


# ---------------------------------------------------------------- models

def load_models(args):
    """Builds the emotion classifier and keypoint regressor the arguments ask for (either may be None)."""
    from fer_core.inference.runtime import EmotionClassifier, KeypointRegressor, default_model_path, shipped_model_exists

    prefer_tflite = not args.keras
    emotion = keypoints = None
    if not args.no_emotion:
        if args.model is None and not shipped_model_exists("emotion"):
            raise ModelError(f"no emotion model at {default_model_path('emotion')} yet: "
                             "pass --model FILE (or --no-emotion)")
        emotion = EmotionClassifier.from_path(args.model or default_model_path("emotion"), prefer_tflite)
    if not args.no_keypoints:
        if args.keypoint_model is not None:
            keypoints = KeypointRegressor.from_path(args.keypoint_model, prefer_tflite)
        elif shipped_model_exists("keypoints"):
            keypoints = KeypointRegressor.from_path(default_model_path("keypoints"), prefer_tflite)
    return emotion, keypoints


def analysis_settings(args):
    """The photos' and the videos' ``AnalysisSettings``: the app's defaults (``PHOTO_ANALYSIS``,
    ``VIDEO_ANALYSIS``) with the options given on the command line."""
    changes = {"detector": args.detector, "detect_size": args.detect_size, "flip_tta": args.tta,
               "align": False if args.no_align else None, "face_mesh": True if args.mesh else None}
    return PHOTO_ANALYSIS.with_changes(**changes), VIDEO_ANALYSIS.with_changes(**changes, smoothing=args.smoothing)


# ---------------------------------------------------------------- per input

def describe(results):
    """One-line summary of a frame's faces, e.g. "1 face: happy 87% at [10, 20, 96, 96]"."""
    if not results:
        return "no face"
    parts = []
    for result in results:
        what = f"{result.label} {100 * result.score:.0f}%" if result.label else "face"
        parts.append(f"{what} at {list(result.box)}")
    count = f"{len(results)} face{'s' if len(results) > 1 else ''}"
    return f"{count}: " + "; ".join(parts)


def predict_image(path, pipeline, args, out_dir, used):
    """Processes one image file as the Photo page does (``analyse_photo``); prints its line; writes its outputs."""
    from fer_core.app.photo import analyse_photo
    from fer_core.inference.imageio import read_bytes
    from fer_core.inference.overlay import draw_results

    analysis = analyse_photo(str(path), read_bytes(path), pipeline, display=False, max_bytes=None, min_side=1)
    results = analysis.results
    record = {"path": str(path), **{key: value for key, value in analysis.to_json().items() if key != "image"}}
    if out_dir is not None:
        suffix = path.suffix.lower() if path.suffix.lower() in SAVE_SUFFIXES else ".png"
        target = output_path(out_dir, path, suffix, used)
        if not cv2.imwrite(str(target), draw_results(analysis.image, results)):
            raise ImageError(f"{target}: cannot write the annotated image")
        target.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record) if args.json else f"{path}: {describe(results)}", flush=True)


def predict_video(path, pipeline, args, out_dir, used):
    """Processes one video file; prints per-frame JSON or a summary; writes video and CSV."""
    from fer_core.inference.analysis import analysis_record
    from fer_core.inference.overlay import draw_results
    from fer_core.inference.pipeline import results_to_json
    from fer_core.inference.video import VideoOutputs, iter_video_frames, open_video

    capture, fps, _ = open_video(path)
    capture.release()
    video_path = csv_path = None
    if out_dir is not None:
        video_path = output_path(out_dir, path, ".mp4", used)
        csv_path = output_path(out_dir, path, ".csv", used)
    pipeline.reset()
    made_by = analysis_record(pipeline)
    frames, faces, labels = 0, 0, {}
    with VideoOutputs(video_path, csv_path, fps / max(1, args.every), pipeline.label_names,
                      pipeline.keypoints is not None) as outputs:
        for index, time_s, frame in iter_video_frames(path, every=max(1, args.every), max_frames=args.max_frames):
            results = pipeline(frame)
            annotated = draw_results(frame, results) if video_path is not None else None
            outputs.write(index, time_s, results, annotated)
            frames += 1
            faces += len(results)
            for result in results:
                labels[result.label] = labels.get(result.label, 0) + 1
            if args.json:
                print(json.dumps({"path": str(path), "frame": index, "time_s": round(time_s, 3), **made_by,
                                  **results_to_json(results)}), flush=True)
    if not args.json:
        common = ", ".join(f"{label} {count}" for label, count in sorted(labels.items(), key=lambda kv: -kv[1])
                           if label is not None)
        print(f"{path}: {frames} frames, {faces} faces" + (f" ({common})" if common else ""), flush=True)


def run(args):
    """Runs predictions over all inputs; returns 0, or 1 if some input failed."""
    if args.every < 1:
        raise FerStudioError("--every must be at least 1")
    out_dir = output_folder(args.out) if args.out else None
    emotion, keypoints = load_models(args)
    photo_settings, video_settings = analysis_settings(args)
    detector = photo_settings.make_detector()  # the same for both: they differ in TTA and smoothing only
    image_pipeline = photo_settings.pipeline(emotion, keypoints, detector=detector)
    video_pipeline = video_settings.pipeline(emotion, keypoints, detector=detector, track=True)

    inputs = expand_inputs(args.paths)
    if not inputs:
        raise FerStudioError("no image or video found in the given paths")
    failed, used = 0, set()
    for path, kind in inputs:
        try:
            problem = file_problem(path)
            if problem:  # "a symlink loop", "not a regular file (a character device)", ...
                raise ImageError(f"{path}: {problem}")
            if kind == "video":
                predict_video(path, video_pipeline, args, out_dir, used)
            else:
                predict_image(path, image_pipeline, args, out_dir, used)
        except ImageError as error:
            failed += 1
            message = str(error) if str(error).startswith(str(path)) else f"{path}: {error}"
            print(f"error: {message}", file=sys.stderr, flush=True)
            if args.json:
                print(json.dumps({"path": str(path), "error": message}), flush=True)
    if failed:
        print(f"{failed} of {len(inputs)} inputs failed", file=sys.stderr)
    return 1 if failed else 0
