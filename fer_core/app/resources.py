"""What the dashboard's pages share, loaded once per server process: models, detectors, datasets.

The models come from environment variables when set (``FER_EMOTION_MODEL``,
``FER_KEYPOINT_MODEL``), else from the shipped ``assets/models``. A missing model
is not an error for the pages: ``load_face_models`` returns None in its place
with a one-line explanation (how to train and export one), and the pages show it.
``cached_face_models`` and ``cached_detector`` are the same, loaded once per server
process (``st.cache_resource``) for all pages and sessions.

Nothing here imports TensorFlow (a ``.tflite`` model is run by LiteRT).
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from fer_core.data import load_dataset
from fer_core.errors import FerStudioError
from fer_core.inference.detection import make_detector
from fer_core.inference.runtime import EmotionClassifier, KeypointRegressor, default_model_path

MODEL_ENV = {"emotion": "FER_EMOTION_MODEL", "keypoints": "FER_KEYPOINT_MODEL"}

HOW_TO_SHIP = {
    "emotion": ("train one with `python -m fer_core train --model mini_xception --data fer2013 "
                "--run-dir runs/mx`, then `python -m fer_core ship --run runs/mx --name emotion`"),
    "keypoints": ("train one with `python -m fer_core train --model keypoint_xception --data keypoints "
                  "--run-dir runs/kp`, then `python -m fer_core ship --run runs/kp --name keypoints`"),
}


@dataclass
class FaceModels:
    """The models an inference page runs, and what to tell the user about them.

    Attributes:
        emotion: an ``EmotionClassifier``, or None.
        keypoints: a ``KeypointRegressor``, or None.
        emotion_path: where the emotion model was looked for.
        keypoints_path: where the keypoint model was looked for.
        notes: {kind: one-line message} for each model that could not be loaded.
    """

    emotion: object = None
    keypoints: object = None
    emotion_path: Path = None
    keypoints_path: Path = None
    notes: dict = field(default_factory=dict)

    @property
    def label_names(self):
        return self.emotion.label_names if self.emotion is not None else ()


# ---------------------------------------------------------------- pure helpers

def configured_model_path(kind, environ=None):
    """Where the model of a kind is: ``$FER_EMOTION_MODEL`` / ``$FER_KEYPOINT_MODEL``, else the shipped one.

    Arguments:
        kind: "emotion" or "keypoints".
        environ: the environment to read (default ``os.environ``).

    Returns:
        ``Path`` (a ``.keras`` or ``.tflite`` file; it may not exist).
    """
    environ = os.environ if environ is None else environ
    value = (environ.get(MODEL_ENV[kind]) or "").strip()
    return Path(value).expanduser() if value else Path(default_model_path(kind))


def model_file_exists(path):
    """True when a model path, or the ``.tflite`` beside a ``.keras`` path, is a file."""
    path = Path(path)
    return path.is_file() or (path.suffix == ".keras" and path.with_suffix(".tflite").is_file())


def missing_model_note(kind, path):
    """The one-line empty-state message for a model that is not there."""
    return f"No {kind} model at `{path}` (none shipped yet?): {HOW_TO_SHIP[kind]}."


def load_model(kind, path):
    """Loads one model, or explains why not.

    Arguments:
        kind: "emotion" or "keypoints".
        path: the model file.

    Returns:
        (model or None, note or None).
    """
    if not model_file_exists(path):
        return None, missing_model_note(kind, path)
    model_class = EmotionClassifier if kind == "emotion" else KeypointRegressor
    try:
        return model_class.from_path(path), None
    except FerStudioError as error:
        return None, f"The {kind} model could not be loaded: {error}"


# ---------------------------------------------------------------- named entry point

def load_face_models(emotion_path=None, keypoints_path=None):
    """Loads the emotion and keypoint models the pages run (``.tflite`` preferred).

    Arguments:
        emotion_path: the emotion model; default ``configured_model_path("emotion")``.
        keypoints_path: the keypoint model; default ``configured_model_path("keypoints")``.

    Returns:
        ``FaceModels`` (a missing model is None, with a note).
    """
    emotion_path = Path(emotion_path) if emotion_path else configured_model_path("emotion")
    keypoints_path = Path(keypoints_path) if keypoints_path else configured_model_path("keypoints")
    models = FaceModels(emotion_path=emotion_path, keypoints_path=keypoints_path)
    models.emotion, note = load_model("emotion", emotion_path)
    if note:
        models.notes["emotion"] = note
    models.keypoints, note = load_model("keypoints", keypoints_path)
    if note:
        models.notes["keypoints"] = note
    return models


@st.cache_resource(show_spinner="Loading the models...")
def cached_face_models():
    """``load_face_models()``, once per server process (shared by the pages)."""
    return load_face_models()


@st.cache_resource(show_spinner="Loading the face detector...")
def cached_detector(name):
    """``make_detector(name)``, once per server process (detectors are thread-safe)."""
    return make_detector(name)


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=4)
def cached_dataset(name, fold=0, folds=10):
    """``load_dataset(name, fold=fold, folds=folds)``, once per server process (shared by the pages)."""
    return load_dataset(name, fold=fold, folds=folds)


@st.cache_resource(show_spinner="Loading the model (TensorFlow)…", max_entries=3)
def cached_keras_model(path, modified):
    """``load_keras_model(path)``, once per file version (``modified``: its modification time)."""
    from fer_core.inference.runtime import load_keras_model

    return load_keras_model(path)


def use_app_navigation():
    """Runs the page under app.py's navigation (Home, sections), not Streamlit's ``pages/`` folder mode.

    With a ``pages/`` folder beside app.py, a new Streamlit server starts in its older multipage
    mode and leaves it only when a run calls ``st.navigation``. If the first visit after the start
    opens a page's URL (a bookmark), the page runs without app.py: no Home, no sections, for every
    session. Called first thing on a page, this leaves that mode and runs again: app.py, then
    the same page (Streamlit finds pages by URL path in both modes).
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False  # what st.navigation itself sets
        st.rerun()


def detector_for_stream(name):
    """The detector for one video stream: a new tracking detector (it follows one stream),
    or the shared instance of a stateless one."""
    return make_detector(name) if name == "haar-track" else cached_detector(name)
