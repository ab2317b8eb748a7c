"""fer_core.app.photo (decode, analyse, downloads, chart) and fer_core.app.resources (which models the pages run)."""

import json

import cv2
import numpy as np
import pytest

from fer_core.errors import ImageError
from fer_core.app.photo import analyse_photo, decode_photo, download_name, encode_png, probability_figure
from fer_core.inference.pipeline import FacePipeline
from fer_core.inference.runtime import default_model_path
from fer_core.app.resources import configured_model_path, load_face_models
from tests.inference_models import astronaut_bgr, tiny_models


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    paths = tiny_models(tmp_path_factory)
    return load_face_models(paths["emotion_keras"], paths["keypoints_keras"])


@pytest.fixture(scope="module")
def astronaut_png():
    return encode_png(astronaut_bgr())


def test_decode_photo_accepts_images_and_refuses_the_rest_in_one_line(astronaut_png):
    assert decode_photo("a.png", astronaut_png).shape == (512, 512, 3)
    assert decode_photo("sample", astronaut_bgr()).shape == (512, 512, 3)
    jpeg = cv2.imencode(".jpg", astronaut_bgr())[1].tobytes()
    cases = {b"hello, not a picture": "notes.png: not an image file",
             jpeg[: len(jpeg) // 3]: "cut.jpg: cannot decode image",
             b"": "empty.png: empty file"}
    for (data, message), name in zip(cases.items(), ("notes.png", "cut.jpg", "empty.png")):
        with pytest.raises(ImageError, match=message) as error:
            decode_photo(name, data)
        assert "\n" not in str(error.value)
    with pytest.raises(ImageError, match=r"big.png: 1.0 MB, over the 0 MB limit"):
        decode_photo("big.png", b"x" * 1048576, max_bytes=1000)


def test_analyse_photo_finds_classifies_and_draws_the_face(models, astronaut_png):
    pipeline = FacePipeline("haar", models.emotion, models.keypoints)
    analysis = analyse_photo("astronaut.png", astronaut_png, pipeline)
    (face,) = analysis.results
    assert face.label in models.label_names and face.keypoints.shape == (15, 2)
    data = json.loads(json.dumps(analysis.to_json()))
    assert data["image"] == "astronaut.png" and (data["width"], data["height"]) == (512, 512)
    assert data["faces"][0]["label"] == face.label and "nose_tip" in data["faces"][0]["keypoints"]
    png = cv2.imdecode(np.frombuffer(analysis.png_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(png, analysis.annotated) and not np.array_equal(png, analysis.image)
    plain = analyse_photo("astronaut.png", astronaut_png, pipeline, draw_keypoints=False)
    assert plain.results[0].keypoints is not None  # kept in the JSON, not drawn
    assert not np.array_equal(plain.annotated, analysis.annotated)


def test_probability_figure_puts_the_top_class_on_top(models):
    pipeline = FacePipeline("haar", models.emotion, None)
    (face,) = pipeline(astronaut_bgr())
    figure = probability_figure(face)
    bars = figure.data[0]
    assert list(bars.y)[-1] == face.label and list(bars.x) == sorted(bars.x)
    assert figure.layout.title.text.startswith(face.label)


def test_download_name():
    assert download_name("me.jpg", "_annotated.png") == "me_annotated.png"
    assert download_name("noext", "_faces.json") == "noext_faces.json"


def test_model_paths_come_from_the_environment_or_the_shipped_defaults(tmp_path):
    assert configured_model_path("emotion", environ={}) == default_model_path("emotion")
    assert configured_model_path("keypoints", environ={"FER_KEYPOINT_MODEL": str(tmp_path / "k.tflite")}) \
        == tmp_path / "k.tflite"


def test_missing_or_broken_models_give_a_note_not_an_error(tmp_path, models):
    broken = tmp_path / "emotion.tflite"
    broken.write_bytes(b"not a model")
    loaded = load_face_models(tmp_path / "nothing.keras", broken)
    assert loaded.emotion is None and loaded.keypoints is None and loaded.label_names == ()
    assert "No emotion model at" in loaded.notes["emotion"] and "python -m fer_core train" in loaded.notes["emotion"]
    assert "could not be loaded" in loaded.notes["keypoints"]
    assert models.notes == {} and models.emotion.backend == "litert"  # the .tflite beside the .keras
