"""Where FER Studio finds data and keeps caches, and the label vocabularies.

Constants, the project's paths and every ``FER_*`` environment variable's reader; nothing heavy is imported here.
"""

import os
from pathlib import Path

from fer_core.errors import RunError

# The two tasks a model or dataset can have.
CLASSIFICATION = "classification"
KEYPOINTS = "keypoints"

# The repository root, and the assets the project ships (models, detectors, run records).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = PROJECT_ROOT / "assets"
DEFAULT_RUN_ROOTS = ("assets/runs", "runs")

# FER2013's label map (the Kaggle competition order).
FER2013_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# FER+ vote columns, in the file's order. The last two are not emotions.
FERPLUS_VOTE_COLUMNS = (
    "neutral", "happiness", "surprise", "sadness", "anger",
    "disgust", "fear", "contempt", "unknown", "NF",
)
FERPLUS_EMOTIONS = FERPLUS_VOTE_COLUMNS[:8]

# The same emotion under other datasets' names (FER+, CK+48 folders), for evaluating
# a model on a dataset whose label names differ from its own.
EMOTION_SYNONYMS = {"angry": "anger", "happy": "happiness", "sad": "sadness"}


def canonical_emotion(name):
    """Returns FER2013's name for an emotion label (``anger`` -> ``angry``; others unchanged)."""
    reverse = {v: k for k, v in EMOTION_SYNONYMS.items()}
    return reverse.get(name.lower(), name.lower())

# The 15 Kaggle facial keypoints, in Kaggle's column order. "left" is the
# subject's left, which is on the image's right in a frontal face.
KEYPOINT_NAMES = (
    "left_eye_center", "right_eye_center",
    "left_eye_inner_corner", "left_eye_outer_corner",
    "right_eye_inner_corner", "right_eye_outer_corner",
    "left_eyebrow_inner_end", "left_eyebrow_outer_end",
    "right_eyebrow_inner_end", "right_eyebrow_outer_end",
    "nose_tip",
    "mouth_left_corner", "mouth_right_corner",
    "mouth_center_top_lip", "mouth_center_bottom_lip",
)
KEYPOINT_COLUMNS = tuple(f"{name}_{axis}" for name in KEYPOINT_NAMES for axis in ("x", "y"))


def _mirror_index(name):
    if name.startswith("left_"):
        return KEYPOINT_NAMES.index("right_" + name[len("left_"):])
    if name.startswith("right_"):
        return KEYPOINT_NAMES.index("left_" + name[len("right_"):])
    if name == "mouth_left_corner":
        return KEYPOINT_NAMES.index("mouth_right_corner")
    if name == "mouth_right_corner":
        return KEYPOINT_NAMES.index("mouth_left_corner")
    return KEYPOINT_NAMES.index(name)


# KEYPOINT_FLIP_ORDER[i] is the keypoint that point i becomes in a horizontally flipped image.
KEYPOINT_FLIP_ORDER = tuple(_mirror_index(name) for name in KEYPOINT_NAMES)

# The model zoo's names (built by fer_core.training.zoo, which imports TensorFlow).
MODEL_NAMES = ("lenet5", "emotion_cnn", "vgg_fer", "mini_xception", "resnet10", "resnet18",
               "keypoint_cnn", "keypoint_xception")

KEYPOINT_INPUT_SIZE = 96
EMOTION_INPUT_SIZE = 48

# Training images (a fixed random choice) that measure each soup candidate's batch-norm statistics.
SOUP_BATCH_NORM_IMAGES = 8192

# A run record's model card (``python -m fer_core card``); removed when the run's test figures are rewritten.
MODEL_CARD_FILENAME = "model_card.md"

# Random erasing's rectangle (fer_core.data.augment and tools/train_on_accelerator.py): each side 10%-50% of the image's.
ERASE_SIDE_RANGE = (0.1, 0.5)

# Training jobs the dashboard may run at once, unless FER_MAX_JOBS says otherwise (fer_core.runs.jobs).
DEFAULT_MAX_JOBS = 1


def data_dir():
    """Returns the dataset root: ``$FER_DATA_DIR``, or ``./data``."""
    return Path(os.environ.get("FER_DATA_DIR") or "data").expanduser()


def run_roots():
    """Returns the folders holding run records: ``$FER_RUN_ROOTS`` (``:``-separated) or assets/runs and runs."""
    explicit = os.environ.get("FER_RUN_ROOTS")
    if explicit:
        return [Path(p).expanduser() for p in explicit.split(os.pathsep) if p]
    return [PROJECT_ROOT / root for root in DEFAULT_RUN_ROOTS]


def models_dir():
    """Returns the folder of shipped models: ``$FER_MODELS_DIR`` or assets/models."""
    explicit = os.environ.get("FER_MODELS_DIR")
    return Path(explicit).expanduser() if explicit else ASSETS_DIR / "models"


def max_jobs():
    """Returns how many training jobs the dashboard may run at once: ``$FER_MAX_JOBS`` (0 = none), or 1.

    Raises:
        RunError: the variable is not a whole number of 0 or more.
    """
    text = os.environ.get("FER_MAX_JOBS", "").strip()
    if not text:
        return DEFAULT_MAX_JOBS
    if not text.isdecimal() or not text.isascii():
        raise RunError(f"FER_MAX_JOBS={text!r}: expected a whole number of jobs (0: no training "
                       "from the dashboard)")
    return int(text)


def cache_dir():
    """Returns the cache folder: ``$FER_CACHE_DIR``, or ``~/.cache/fer-studio``.

    Caches never go beside the data (which may be read-only or shared).
    """
    explicit = os.environ.get("FER_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fer-studio"
