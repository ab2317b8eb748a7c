"""What the dashboard's pages share, loaded once per server process: models, detectors, datasets.

The inference pages (Live webcam, Photo, Video) run the emotion and keypoint models picked in their
sidebar (``model_picker``) from ``fer_core.runs.catalog.model_catalog``: the shipped models and every
run record that has its weights. The default is the model named by ``FER_EMOTION_MODEL`` /
``FER_KEYPOINT_MODEL`` when set, else the shipped one (``model_options``). A missing model
is not an error for the pages: ``load_face_models`` returns None in its place
with a one-line explanation (how to train and export one), and the pages show it.
``cached_face_models`` loads each model once per server process (``st.cache_resource``) for all pages
and sessions; detectors are shared the same way by ``AnalysisSettings.shared_detector``
(``fer_core.inference.analysis``), which ``predict`` uses too.

Nothing here imports TensorFlow (a ``.tflite`` model is run by LiteRT), unless a user picks a run
record's ``model.keras``, which runs through Keras.
"""

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import streamlit as st

from fer_core.data import load_dataset
from fer_core.errors import FerStudioError
from fer_core.inference.runtime import (EmotionClassifier, KeypointRegressor, default_model_path, read_info_file,
                                        tflite_path_for)
from fer_core.runs.catalog import ModelChoice, model_catalog, runtime_description
from fer_core.runs.records import load_runs

MODEL_ENV = {"emotion": "FER_EMOTION_MODEL", "keypoints": "FER_KEYPOINT_MODEL"}
MISSING_RUNTIME = "no file: missing"  # a picker's configured model that is not there

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


def model_options(kind, catalog, environ=None):
    """The choices of a page's model picker: the catalog, with the configured model as the default, first.

    The configured model (``configured_model_path``: ``FER_EMOTION_MODEL`` / ``FER_KEYPOINT_MODEL``,
    else the shipped one) is the default. When it is not in the catalog (a file elsewhere, or
    missing) it is added, so that the page loads it and explains what is wrong with it.

    Arguments:
        kind: "emotion" or "keypoints".
        catalog: ``ModelChoice`` list (``model_catalog(kind, ...)``).
        environ: the environment to read (default ``os.environ``).

    Returns:
        list of ``ModelChoice``, exactly one of them the default, first.
    """
    configured = configured_model_path(kind, environ)
    environ = os.environ if environ is None else environ
    target = configured.resolve()
    choices = [replace(choice, default=Path(choice.path).resolve() == target) for choice in catalog]
    if not any(choice.default for choice in choices):
        source = f"${MODEL_ENV[kind]}" if (environ.get(MODEL_ENV[kind]) or "").strip() else "shipped"
        runtime = runtime_description(configured) if model_file_exists(configured) else MISSING_RUNTIME
        dataset = (read_info_file(configured) or {}).get("dataset", "") if model_file_exists(configured) else ""
        choices.append(ModelChoice(configured, configured.stem, kind, source, True, dataset, runtime))
    return sorted(choices, key=lambda choice: not choice.default)


def picker_label(choice):
    """A choice as a (narrow) picker shows it: "emotion (default) — fer2013, LiteRT int8"; the file that runs
    is said under the picker."""
    how = choice.runtime.partition("(")[2].rstrip(")") or choice.runtime
    return f"{choice.name}{' (default)' if choice.default else ''} — {choice.dataset or 'dataset unknown'}, {how}"


def picker_labels(choices):
    """{label: choice} for a picker, in order; a label two choices share gets the model's path added."""
    labels = [picker_label(choice) for choice in choices]
    return {(label if labels.count(label) == 1 else f"{label} ({choice.path})"): choice
            for label, choice in zip(labels, choices)}


def model_modified(path):
    """The modification time of the file that runs for a model path (its ``.tflite`` when there is one), or None."""
    path = Path(path)
    runs = (tflite_path_for(path) if path.suffix == ".keras" else None) or path
    return runs.stat().st_mtime if runs.is_file() else None


# ---------------------------------------------------------------- named entry point

def load_face_models(emotion_path=None, keypoints_path=None, load=load_model):
    """Loads the emotion and keypoint models the pages run (``.tflite`` preferred).

    Arguments:
        emotion_path: the emotion model; default ``configured_model_path("emotion")``.
        keypoints_path: the keypoint model; default ``configured_model_path("keypoints")``.
        load: loads one model, ``load(kind, path) -> (model or None, note or None)`` (``load_model``;
            the pages pass a cached one).

    Returns:
        ``FaceModels`` (a missing model is None, with a note).
    """
    emotion_path = Path(emotion_path) if emotion_path else configured_model_path("emotion")
    keypoints_path = Path(keypoints_path) if keypoints_path else configured_model_path("keypoints")
    models = FaceModels(emotion_path=emotion_path, keypoints_path=keypoints_path)
    models.emotion, note = load("emotion", emotion_path)
    if note:
        models.notes["emotion"] = note
    models.keypoints, note = load("keypoints", keypoints_path)
    if note:
        models.notes["keypoints"] = note
    return models


@st.cache_resource(show_spinner="Loading the model...", max_entries=8)
def cached_model(kind, path, modified):
    """``load_model(kind, path)``, once per server process and file version (``modified``: ``model_modified``)."""
    return load_model(kind, Path(path))


def cached_face_models(emotion_path=None, keypoints_path=None):
    """``load_face_models``, each model loaded once per server process (shared by the pages and sessions)."""
    return load_face_models(emotion_path, keypoints_path,
                            load=lambda kind, path: cached_model(kind, str(path), model_modified(path)))


@st.cache_resource(ttl=30, show_spinner=False)
def cached_model_options(kind):
    """``model_options`` of the shipped models and run records, read again at most every 30 s."""
    return model_options(kind, model_catalog(kind, run_records=load_runs()))


MODEL_PICKER = {"emotion": ("Emotion model", "Classifies each face's expression."),
                "keypoints": ("Keypoint model", "Places the 15 facial keypoints.")}


def model_picker(page):
    """The sidebar's emotion and keypoint model pickers; loads the models picked.

    Each picker lists the shipped models and the run records that have weights, the default
    marked and first, and says under it which file runs and how (LiteRT float32 / int8, or Keras,
    which loads TensorFlow).

    Arguments:
        page: a short name of the page, for the widgets' keys (each page keeps its own choice).

    Returns:
        (``FaceModels``, {kind: the ``ModelChoice`` picked}).
    """
    picked = {}
    for kind, (title, purpose) in MODEL_PICKER.items():
        choices = picker_labels(cached_model_options(kind))  # labels as options: widget state survives reruns
        label = st.selectbox(title, list(choices), key=f"{page}-{kind}-model",
                            help=f"{purpose} Shipped models (assets/models) run through LiteRT; a run record's "
                                 f"model.keras runs through Keras, which loads TensorFlow (slower to start). "
                                 f"The default is ${MODEL_ENV[kind]} when set, else the shipped model.")
        picked[kind] = choices[label]
        st.caption(f"Runs `{picked[kind].runtime}`" if picked[kind].runtime != MISSING_RUNTIME
                   else f"`{picked[kind].path}` is missing")
    return cached_face_models(picked["emotion"].path, picked["keypoints"].path), picked


def inference_sidebar(page, title, detectors):
    """The sidebar of an inference page: its settings, the face detector first, above the model pickers.

    Arguments:
        page: a short name of the page (widget keys).
        title: the settings' heading ("Photo settings").
        detectors: the detector names the page offers (``page_helpers.PHOTO_DETECTORS``, ...).

    Returns:
        (``FaceModels``, {kind: ``ModelChoice``}, the detector's name, the settings' container: the
        page adds its own switches there, under the detector, once it knows which models loaded).
    """
    from fer_core.app.page_helpers import detector_help, detector_options

    with st.sidebar:
        st.subheader(title)
        settings = st.container()
        st.subheader("Models")
        models, picked = model_picker(page)
    with settings:
        names = detector_options(detectors)
        detector_name = st.selectbox("Face detector", names, help=detector_help(names))
    return models, picked, detector_name, settings


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
