"""Tiny, deterministic models for the inference tests (built once per test session).

The weights come from a seeded NumPy generator, not from Keras initializers, so
the outputs (and the golden numbers pinned on them) do not depend on the Keras
version's random streams.
"""

import json
import os

import cv2
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_CACHE = {}


def astronaut_bgr():
    """scikit-image's astronaut photo (512x512, public domain) as BGR uint8."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def _tiny_model(input_size, outputs, softmax, seed):
    import keras

    inputs = keras.Input((input_size, input_size, 1))
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(outputs, activation="softmax" if softmax else None)(x)
    model = keras.Model(inputs, x)
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0.0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()]
    if not softmax:
        weights[-1] = np.full(outputs, input_size / 2.0, np.float32)  # points near the crop centre
        weights[-2] *= 20.0
    model.set_weights(weights)
    return model


def _convert(model, int8, calibration):
    from fer_core.training.export import convert_to_tflite

    return convert_to_tflite(model, int8=int8, representative_images=calibration)


def _calibration_crops(size, count=40):
    """Calibration images: crops of the astronaut plus noise."""
    rng = np.random.default_rng(1)
    gray = cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2GRAY)
    crops = []
    for _ in range(count):
        side = int(rng.integers(60, 300))
        x, y = (int(v) for v in rng.integers(0, 512 - side, 2))
        crops.append(cv2.resize(gray[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(crops)


def tiny_models(tmp_path_factory):
    """Builds (once per session) and returns a dict of model paths.

    Keys: "emotion_keras", "emotion_tflite", "emotion_int8", "keypoints_keras",
    "keypoints_tflite", "keypoints_int8", "dir_emotion", "dir_keypoints".
    Each model sits in its own folder with its ``model_info.json``.
    """
    if _CACHE:
        return _CACHE
    root = tmp_path_factory.mktemp("tiny_models")
    specs = {
        "emotion": dict(input_size=48, outputs=7, softmax=True, seed=0,
                        info={"task": "classification", "label_names": ["angry", "disgust", "fear", "happy",
                                                                          "sad", "surprise", "neutral"],
                              "input_size": 48, "margin": 0.0, "dataset": "fer2013"}),
        "keypoints": dict(input_size=96, outputs=30, softmax=False, seed=1,
                          info={"task": "keypoints", "label_names": [], "input_size": 96, "margin": 0.15,
                                "dataset": "keypoints"}),
    }
    for name, spec in specs.items():
        folder = root / name
        folder.mkdir()
        model = _tiny_model(spec["input_size"], spec["outputs"], spec["softmax"], spec["seed"])
        keras_path = folder / f"{name}.keras"
        model.save(keras_path)
        (folder / "model_info.json").write_text(json.dumps(spec["info"]))
        (folder / f"{name}.tflite").write_bytes(_convert(model, False, None))
        (folder / f"{name}_int8.tflite").write_bytes(
            _convert(model, True, _calibration_crops(spec["input_size"])))
        _CACHE[f"{name}_keras"] = keras_path
        _CACHE[f"{name}_tflite"] = folder / f"{name}.tflite"
        _CACHE[f"{name}_int8"] = folder / f"{name}_int8.tflite"
        _CACHE[f"dir_{name}"] = folder
        _CACHE[f"{name}_model"] = model
    return _CACHE
