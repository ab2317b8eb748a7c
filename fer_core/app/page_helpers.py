"""Pure helpers shared by the dashboard pages: no Streamlit, no TensorFlow.

Texts of the empty states, label colours, safe folder paths under
FER_DATA_DIR, thumbnails as data URIs, keypoints drawn on faces, and the join
of run predictions to dataset images by id.
"""

import base64
import html
from pathlib import Path

import numpy as np

from fer_core.config import MODEL_NAMES, data_dir

# The dashboard's pages by section: app.py builds the navigation from this, in this order.
# Each page: (file, title, icon, what the home page says of it). The URL path comes from the file name.
PAGE_SECTIONS = (
    ("Use a model", (
        ("pages/1_Live_webcam.py", "Live webcam", ":material/videocam:",
         "expressions and keypoints on your camera, live"),
        ("pages/2_Photo.py", "Photo", ":material/photo:", "upload a photo: faces found, expressions and keypoints drawn"),
        ("pages/6_Video.py", "Video", ":material/movie:",
         "upload a video: every face numbered and followed, an annotated video, timelines and a CSV"),
    )),
    ("Data", (
        ("pages/3_Dataset_browser.py", "Dataset browser", ":material/grid_view:",
         "FER2013, FER+, CK+48, keypoints or any folder: sample grid, label counts, embeddings"),
    )),
    ("Training", (
        ("pages/4_Training_runs.py", "Training runs", ":material/monitoring:",
         "curves, confusion matrix, confident mistakes; start a new run"),
        ("pages/5_Compare_runs.py", "Compare runs", ":material/compare_arrows:",
         "several runs side by side: curves, metrics, confusion difference, config"),
    )),
)

EXAMPLE_TRAIN = "python -m fer_core train --model mini_xception --data fer2013 --epochs 60 --run-dir runs/mx"
QUICK_TRAIN = ("python -m fer_core train --model mini_xception --data fer2013-sample --epochs 3 "
               "--limit 256 --run-dir runs/quick")
# The Photo and Live pages' switch for flip test-time augmentation (``FacePipeline(flip_tta=...)``).
FLIP_TTA_LABEL = "Average with the mirrored face"
FLIP_TTA_HELP = ("Flip test-time augmentation: each face is classified as it is and mirrored, and the two results "
                 "are averaged. More accurate (see the model card), at twice the classifier's time.")

# The face detectors the inference pages offer, in their order (the first is a page's default), and what
# each is (a detector the installed fer_core.inference.detection does not know is left out: ``detector_options``).
DETECTOR_HELP = {
    "blazeface": ("MediaPipe's BlazeFace through LiteRT, its short- and full-range models on every image: close, "
                  "small, tilted and tight faces (the default for photos and videos)"),
    "blazeface-fast": ("BlazeFace's short-range model, and its full-range one only when that finds no face or the "
                       "frame is larger than 640 px: a third of blazeface's time on a webcam's 640x480 frame, "
                       "missing only a far face under about 80 px beside a nearer one (the live default)"),
    "blazeface-short": "BlazeFace's short-range model alone: faces within about 2 m of the camera",
    "haar-track": "OpenCV Haar every 10 frames, in between a search around the last faces",
    "haar": "OpenCV's Haar cascade (misses faces that fill the frame, and tilted ones)",
    "lbp": "OpenCV's LBP cascade, about 3x faster than haar",
    "mtcnn": "slower; loads TensorFlow",
    "none": "the whole image is one face (for face crops)",
}
STREAM_DETECTORS = ("blazeface-fast", "blazeface-short", "blazeface", "haar-track", "haar", "lbp", "mtcnn")  # Live
PHOTO_DETECTORS = ("blazeface", "haar", "lbp", "mtcnn", "none")
VIDEO_DETECTORS = ("blazeface", "blazeface-fast", "haar", "haar-track", "lbp", "mtcnn")
# The Photo, Live and Video pages' switch for the 468-point face mesh (off by default).
FACE_MESH_LABEL = "Face mesh"
FACE_MESH_HELP = ("Draws MediaPipe's 468-point face mesh on each face (its face landmark model through LiteRT, "
                  "one run per face).")


def detector_options(names):
    """The detectors of ``names`` that ``fer_core.inference.detection`` can make, in that order."""
    from fer_core.inference.detection import DETECTORS

    return [name for name in names if name in DETECTORS]


def detector_help(names):
    """One help text for a detector picker: "haar: ... lbp: ..." for each of ``names``."""
    return " ".join(f"{name}: {DETECTOR_HELP[name]}." for name in names)


def uncertain_rule(calibrated):
    """When a face's answer is called uncertain, in words (``FaceResult.uncertain``)."""
    from fer_core.inference.confidence import UNCERTAIN_MARGIN

    return (f"its two most probable emotions are within {100 * UNCERTAIN_MARGIN:.0f} percentage points of each "
            f"other{' (after calibration)' if calibrated else ''}")


def confidence_note(calibrated):
    """What the percentages shown are, and what "uncertain" means (Photo and Video pages).

    Arguments:
        calibrated: whether the emotion model's info file has an ``output_adjustment``
            (``EmotionClassifier.adjustment is not None``).
    """
    what = ("Percentages are calibrated: corrected for how often each emotion was seen in training and "
            "softened or sharpened by a temperature, both fitted on the validation split (the model's info "
            "file)." if calibrated else
            "Percentages are the model's own outputs: its info file has no calibration (`python -m fer_core "
            "calibrate`).")
    return f"{what} A face is *uncertain* when {uncertain_rule(calibrated)}."


def analysis_settings(emotion_runtime, keypoints_runtime, settings, detector=None, calibrated=False):
    """The line under a result that says what produced it.

    Arguments:
        emotion_runtime: the file that ran and how (``ModelChoice.runtime``), or None without an emotion model.
        keypoints_runtime: the same for the keypoint model, or None when keypoints were off.
        settings: the ``fer_core.inference.analysis.AnalysisSettings`` the pipeline was built from.
        detector: the detector instance that ran (for a cascade's working size), else the settings' own.
        calibrated: whether the probabilities were calibrated (``EmotionClassifier.adjustment``).

    Returns:
        e.g. "Emotion: emotion_int8.tflite (LiteRT int8), calibrated · keypoints: keypoints.tflite
        (LiteRT float32) · detector: blazeface · faces turned upright (eyes level) · flip TTA on"
        (``AnalysisSettings.describe`` after the models).
    """
    parts = [f"Emotion: {emotion_runtime}{', calibrated' if calibrated else ''}" if emotion_runtime
             else "No emotion model"]
    if keypoints_runtime:
        parts.append(f"keypoints: {keypoints_runtime}")
    parts.append(settings.describe(detector, emotion=bool(emotion_runtime)))
    return " · ".join(parts)


def label_text(labels, label_names):
    """Label names of int labels; "(none)" where the label is -1 or there are no names."""
    names = np.array(list(label_names) + ["(none)"], dtype=object)
    labels = np.asarray(labels)
    return names[np.where((labels >= 0) & (labels < len(label_names)), labels, len(label_names))].astype(str)


def no_data_message(root=None):
    """Markdown telling where to put the datasets and how to point FER_DATA_DIR at them."""
    root = Path(root) if root is not None else data_dir()
    state = "does not exist" if not root.is_dir() else "holds no dataset FER Studio knows"
    return (
        f"**No dataset found.** `FER_DATA_DIR` is `{root}`, which {state}.\n\n"
        "Put Kaggle's `fer2013.csv` (or `fer2013.csv.gz`) in `FER_DATA_DIR/fer2013/`, "
        "the FER+ `fer2013new.csv` in `FER_DATA_DIR/ferplus/`, CK+48 class folders in "
        "`FER_DATA_DIR/ckplus48/CK+48/`, and the keypoint set in `FER_DATA_DIR/keypoints/`. "
        "Then start the app with the folder set, e.g.\n\n"
        "```bash\nFER_DATA_DIR=/path/to/data make run\n```\n"
        "`python -m fer_core datasets` lists what is found."
    )


def no_runs_message(roots):
    """Markdown telling how to make a first run record."""
    where = ", ".join(f"`{r}`" for r in roots)
    return (
        f"**No training run found** under {where}.\n\n"
        "Train one (a few seconds on the 1,000-row sample, about 70 s per FER2013 epoch on a CPU):\n\n"
        f"```bash\n{QUICK_TRAIN}\n{EXAMPLE_TRAIN}\n```\n"
        "or start one from the **Training runs** page."
    )


def no_models_message(folder):
    """Markdown for when no shipped model is present."""
    return (
        f"**No shipped model yet** in `{folder}`. The emotion and keypoint models go to "
        "`assets/models/emotion.keras` and `assets/models/keypoints.keras`, each with a `.tflite` "
        "companion, an info JSON and a model card beside it. Ship a finished run with\n\n"
        "```bash\npython -m fer_core ship --run runs/mx --name emotion\n```"
    )


def resolve_data_folder(text, root=None):
    """A folder typed by the user, accepted only when it lies under FER_DATA_DIR.

    Arguments:
        text: an absolute path, or a path relative to FER_DATA_DIR.
        root: the data root (default ``data_dir()``).

    Returns:
        the resolved Path (symbolic links followed).

    Raises:
        ValueError: empty, outside the data root, or not a folder.
    """
    root = (Path(root) if root is not None else data_dir()).expanduser().resolve()
    text = (text or "").strip()
    if not text:
        raise ValueError("type a folder under FER_DATA_DIR")
    path = Path(text).expanduser()
    path = (path if path.is_absolute() else root / path).resolve()
    if path != root and root not in path.parents:
        raise ValueError(f"{text}: only folders under FER_DATA_DIR ({root}) can be opened")
    if not path.is_dir():
        raise ValueError(f"{text}: not a folder")
    return path


def markdown_table(rows):
    """A list of dicts as a markdown table (header from the first row's keys; None shown as —)."""
    if not rows:
        return ""
    keys = list(rows[0])
    cell = lambda v: "—" if v is None else str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(cell(row.get(k)) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def format_score(value, percent=False):
    """0.68821 -> '68.82%' (percent) or 1.65083 -> '1.651'; None -> '—'."""
    if value is None:
        return "—"
    return f"{100 * value:.2f}%" if percent else f"{value:.3f}"


def format_bytes(size):
    """1234567 -> '1.2 MB'; None -> '—'."""
    if size is None:
        return "—"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000


def thumbnail_uri(image, side=64):
    """A grayscale or RGB uint8 image as a ``data:image/png;base64`` URI, resized to ``side``."""
    import cv2

    if image.shape[0] != side:
        image = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA if image.shape[0] > side
                           else cv2.INTER_NEAREST)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", image)
    return "data:image/png;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def embedding_hover_texts(ids, labels, predicted=None):
    """The embedding view's hover text per sample: id, label (and prediction), HTML-escaped.

    Plotly renders tags in hover text, and ids and labels come from file and folder names.

    Arguments:
        ids: (N,) sample ids.
        labels: (N,) label names.
        predicted: optional (N,) predicted label names.

    Returns:
        list of N strings, e.g. "ck:happy/S010_1.png<br>label happy<br>predicted sad".
    """
    texts = []
    for i, (sample_id, label) in enumerate(zip(ids, labels)):
        text = f"{html.escape(str(sample_id))}<br>label {html.escape(str(label))}"
        if predicted is not None:
            text += f"<br>predicted {html.escape(str(predicted[i]))}"
        texts.append(text)
    return texts


def thumbnails_html(uris, titles, width=56):
    """``<img>`` tags of thumbnails, each titled with its (HTML-escaped) sample id.

    Arguments:
        uris: data URIs of the thumbnails.
        titles: the text each shows on hover (file names: escaped, never markup).
        width: shown width in pixels.

    Returns:
        str of space-separated ``<img>`` tags.
    """
    return " ".join(f'<img src="{html.escape(str(uri))}" title="{html.escape(str(title))}" width="{int(width)}">'
                    for uri, title in zip(uris, titles))


def draw_keypoints(image, keypoints, side=288, predicted=None):
    """A face with its keypoints drawn (green; predicted ones red), enlarged.

    Arguments:
        image: uint8 (H, W) grayscale face.
        keypoints: (15, 2) in the image's pixels, NaN where missing.
        side: output side in pixels.
        predicted: optional (15, 2) predictions in the same pixels.

    Returns:
        uint8 RGB (side, side, 3).
    """
    import cv2

    scale = side / image.shape[0]
    canvas = cv2.cvtColor(cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR), cv2.COLOR_GRAY2RGB)
    for points, color in ((keypoints, (60, 220, 60)), (predicted, (235, 60, 60))):
        if points is None:
            continue
        for x, y in np.asarray(points, np.float64).reshape(-1, 2):
            if np.isfinite(x) and np.isfinite(y):
                cv2.circle(canvas, (int(round(x * scale)), int(round(y * scale))), max(2, side // 96), color, -1,
                           cv2.LINE_AA)
    return canvas


def indices_of_ids(dataset_ids, wanted_ids):
    """Positions of ``wanted_ids`` in ``dataset_ids``; -1 where an id is not in the dataset."""
    lookup = {sample_id: i for i, sample_id in enumerate(np.asarray(dataset_ids).tolist())}
    return np.array([lookup.get(i, -1) for i in wanted_ids], dtype=np.int64)


def model_choices(records, shipped):
    """{display name: model path} of the models that can embed faces: run records' model.keras
    and the shipped ``*.keras``."""
    choices = {}
    for model in shipped:
        choices[f"shipped: {model['name']}"] = Path(model["path"])
    for record in records:
        if record.model_path is not None:
            choices[f"run: {record.label}"] = record.model_path
    return choices


def zoo_models():
    """The model zoo's names (for the new-run form)."""
    return list(MODEL_NAMES)
