"""fer_core.inference.saliency: occlusion and Grad-CAM maps, on known toy models and on the astronaut."""

import shutil

import numpy as np
import pytest

from fer_core.errors import ModelError
from fer_core.inference.runtime import EmotionClassifier
from fer_core.inference.saliency import (explain_face, grad_cam, keras_path_for, last_conv_layer_name, map_to_image,
                               normalise_map, occlusion_saliency, overlay_heatmap)
from tests.inference_models import astronaut_bgr, tiny_models

SIZE = 48


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models(tmp_path_factory)


@pytest.fixture(scope="module")
def astronaut():
    return astronaut_bgr()


def top_left_crop():
    """A dark crop with a bright square in its top-left quadrant."""
    crop = np.full((SIZE, SIZE), 20, np.uint8)
    crop[4:20, 4:20] = 230
    return crop


def test_normalise_map():
    values = normalise_map(np.array([[-1.0, 0.0], [1.0, 3.0]]))
    assert values.dtype == np.float32 and values.max() == 1.0 and values.min() == 0.0
    assert values[1, 0] == pytest.approx(1 / 3)
    assert not normalise_map(np.full((4, 4), -2.0)).any()


def test_occlusion_finds_the_region_a_known_model_looks_at():
    def predict_crops(crops):  # class 0 = brightness of the top-left quadrant
        score = np.asarray(crops, np.float32)[:, :24, :24].mean(axis=(1, 2)) / 255.0
        return np.stack([score, 1.0 - score], axis=1)

    saliency = occlusion_saliency(predict_crops, top_left_crop(), class_index=0)
    assert saliency.shape == (SIZE, SIZE) and saliency.max() == 1.0 and saliency.min() >= 0.0
    y, x = np.unravel_index(np.argmax(saliency), saliency.shape)
    assert 4 <= x < 20 and 4 <= y < 20
    assert not saliency[24:, 24:].any()  # the model never looks there


def test_grad_cam_finds_the_region_a_known_model_looks_at():
    import keras

    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(1, 1, activation="relu", name="features")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.set_weights([np.ones((1, 1, 1, 1)), np.zeros(1), np.array([[4.0, -4.0]]), np.zeros(2)])
    assert last_conv_layer_name(model) == "features"
    cam = grad_cam(model, top_left_crop(), class_index=0)
    assert cam.shape == (SIZE, SIZE) and cam.max() == pytest.approx(1.0) and cam.min() >= 0.0
    y, x = np.unravel_index(np.argmax(cam), cam.shape)
    assert 4 <= x < 20 and 4 <= y < 20
    assert cam[30:, 30:].max() < 0.2
    assert not grad_cam(model, top_left_crop(), class_index=1).any()  # brightness only lowers class 1


def test_last_conv_layer_of_the_zoo_models():
    from fer_core.training.zoo import build_model

    assert last_conv_layer_name(build_model("mini_xception")) == "class_maps"


@pytest.mark.parametrize("method,model_key", [("occlusion", "emotion_tflite"), ("grad-cam", "emotion_int8")])
def test_explain_face_on_the_astronaut(models, astronaut, method, model_key):
    from fer_core.inference.detection import detect_faces

    classifier = EmotionClassifier.from_path(models[model_key])
    (box,) = detect_faces(astronaut)
    saliency = explain_face(classifier, astronaut, box, method)
    probabilities = classifier.predict(astronaut, [box])[0]
    assert saliency.class_index == int(np.argmax(probabilities))
    assert saliency.label == classifier.label_names[saliency.class_index] and saliency.method == method
    assert saliency.crop_map.shape == saliency.crop.shape == (SIZE, SIZE)
    assert saliency.crop_map.min() >= 0.0 and saliency.crop_map.max() == pytest.approx(1.0)
    full = saliency.image_map(astronaut.shape)
    assert full.shape == astronaut.shape[:2]
    y, x = np.unravel_index(np.argmax(full), full.shape)
    bx, by, bw, bh = box
    assert bx <= x < bx + bw and by <= y < by + bh  # the peak is on the face
    assert not full[:, : bx].any() and not full[by + bh:, :].any()  # nothing outside it


def test_grad_cam_needs_a_keras_model(models, astronaut, tmp_path):
    lonely = tmp_path / "emotion.tflite"
    shutil.copy(models["emotion_tflite"], lonely)
    shutil.copy(models["dir_emotion"] / "model_info.json", tmp_path / "model_info.json")
    assert keras_path_for(lonely) is None
    assert keras_path_for(models["emotion_int8"]) == models["emotion_keras"]
    classifier = EmotionClassifier.from_path(lonely)
    with pytest.raises(ModelError, match="occlusion"):
        explain_face(classifier, astronaut, (174, 64, 101, 101), "grad-cam")
    with pytest.raises(ValueError, match="unknown saliency method"):
        explain_face(classifier, astronaut, (174, 64, 101, 101), "magic")


def test_map_to_image_clips_a_face_at_the_border():
    full = map_to_image(np.ones((SIZE, SIZE)), (100, 120, 3), box=(-20, 60, 60, 60))
    assert full.shape == (100, 120)
    assert full[60:, :40].all() and not full[:60].any() and not full[:, 40:].any()


def test_overlay_heatmap():
    crop = top_left_crop()
    shown = overlay_heatmap(crop, normalise_map(crop.astype(float)), size=96)
    assert shown.shape == (96, 96, 3) and shown.dtype == np.uint8
    assert shown[20, 20, 2] > shown[80, 80, 2]  # red (hot) where the map is high
