"""fer_core.app.resources: which emotion and keypoint models the inference pages offer, and which by default."""

import json
import os

from fer_core.app.resources import MISSING_RUNTIME, load_face_models, model_modified, model_options, picker_labels
from fer_core.runs.catalog import model_catalog


def shipped(folder, name, task, dataset):
    """A shipped model as `ship` leaves it: NAME.keras, NAME.tflite and the info file."""
    (folder / f"{name}.keras").write_bytes(b"k")
    (folder / f"{name}.tflite").write_bytes(b"t")
    (folder / f"{name}.model_info.json").write_text(json.dumps({"task": task, "dataset": dataset}))
    return folder / f"{name}.keras"


def test_the_shipped_model_is_the_default_unless_the_environment_names_another(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("FER_MODELS_DIR", str(models))
    emotion = shipped(models, "emotion", "classification", "fer2013")
    other = shipped(models, "emotion_ferplus", "classification", "ferplus")
    catalog = model_catalog("emotion", models)

    choices = model_options("emotion", catalog, environ={})
    assert [(c.path, c.default) for c in choices] == [(emotion, True), (other, False)]

    choices = model_options("emotion", catalog, environ={"FER_EMOTION_MODEL": str(other)})  # one of the list
    assert [(c.path, c.default) for c in choices] == [(other, True), (emotion, False)]

    elsewhere = shipped(tmp_path, "mine", "classification", "ckplus48")  # not in the list: added, first
    choices = model_options("emotion", catalog, environ={"FER_EMOTION_MODEL": str(elsewhere)})
    assert [(c.path, c.default) for c in choices] == [(elsewhere, True), (emotion, False), (other, False)]
    assert (choices[0].source, choices[0].dataset, choices[0].runtime) == \
        ("$FER_EMOTION_MODEL", "ckplus48", "mine.tflite (LiteRT float32)")

    gone = tmp_path / "gone.keras"
    (choice, *_), = [model_options("emotion", catalog, environ={"FER_EMOTION_MODEL": str(gone)})]
    assert (choice.path, choice.default, choice.runtime) == (gone, True, MISSING_RUNTIME)


def test_with_nothing_shipped_the_default_is_the_missing_shipped_path(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path))
    (choice,) = model_options("keypoints", model_catalog("keypoints", tmp_path), environ={})
    assert choice.path == tmp_path / "keypoints.keras" and choice.source == "shipped"
    assert choice.default and choice.runtime == MISSING_RUNTIME


def test_models_load_through_the_given_loader_and_their_version_is_the_file_that_runs(tmp_path):
    calls = []
    models = load_face_models(tmp_path / "e.keras", tmp_path / "k.keras",
                              load=lambda kind, path: calls.append((kind, path)) or (None, f"no {kind}"))
    assert calls == [("emotion", tmp_path / "e.keras"), ("keypoints", tmp_path / "k.keras")]
    assert models.notes == {"emotion": "no emotion", "keypoints": "no keypoints"}
    keras = shipped(tmp_path, "emotion", "classification", "fer2013")
    os.utime(keras.with_suffix(".tflite"), (1000, 1000))
    assert model_modified(keras) == 1000  # a new .tflite beside the same .keras is a new version
    assert model_modified(tmp_path / "none.keras") is None


def test_picker_labels_are_unique(tmp_path):
    first = shipped(tmp_path, "emotion", "classification", "fer2013")
    (tmp_path / "copy").mkdir()
    second = shipped(tmp_path / "copy", "emotion", "classification", "fer2013")
    catalog = model_catalog("emotion", tmp_path) + model_catalog("emotion", tmp_path / "copy")
    labels = picker_labels(catalog)  # two shipped folders: the same label twice
    assert list(labels) == [f"emotion (default) — fer2013, LiteRT float32 ({first})",
                            f"emotion (default) — fer2013, LiteRT float32 ({second})"]
    assert list(picker_labels(catalog[:1])) == ["emotion (default) — fer2013, LiteRT float32"]
    gone = model_options("emotion", [], environ={"FER_EMOTION_MODEL": str(tmp_path / "gone.keras")})
    assert list(picker_labels(gone)) == ["gone (default) — dataset unknown, no file: missing"]
