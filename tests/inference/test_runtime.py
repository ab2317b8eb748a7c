import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from fer_core import config
from fer_core.errors import ModelError
from fer_core.inference.runtime import (EmotionClassifier, KerasModel, KeypointRegressor, LiteRTModel,
                              dequantize, infer_model_info, load_model_runner, model_info_candidates,
                              quantize, read_info_file)
from tests.inference_models import astronaut_bgr, tiny_models

REPO = Path(__file__).resolve().parents[2]
ASTRONAUT_FACE = (177, 67, 96, 96)  # what Haar finds on the astronaut (see test_detection)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models(tmp_path_factory)


@pytest.fixture(scope="module")
def crops():
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, (5, 48, 48), dtype=np.uint8)


# ---------------------------------------------------------------- pure helpers

def test_quantize_round_trip_and_clipping():
    x = np.array([0.0, 100.0, 255.0, 1000.0, -1000.0], np.float32)
    q = quantize(x, 1.0, -128, np.int8)
    assert q.dtype == np.int8
    assert q.tolist() == [-128, -28, 127, 127, -128]
    assert dequantize(q[:3], 1.0, -128).tolist() == [0.0, 100.0, 255.0]


def test_info_candidates_strip_variant_suffix(tmp_path):
    names = [p.name for p in model_info_candidates(tmp_path / "emotion_int8.tflite")]
    assert names == ["emotion_int8.model_info.json", "emotion.model_info.json", "model_info.json"]


def test_per_model_info_file_wins_over_folder_file(tmp_path):
    (tmp_path / "model_info.json").write_text(json.dumps({"task": "keypoints"}))
    (tmp_path / "emotion.model_info.json").write_text(json.dumps({"task": "classification"}))
    assert read_info_file(tmp_path / "emotion_int8.tflite")["task"] == "classification"
    assert read_info_file(tmp_path / "keypoints.tflite")["task"] == "keypoints"


def test_bad_info_file_is_a_model_error(tmp_path):
    (tmp_path / "model_info.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        read_info_file(tmp_path / "m.keras")


def test_infer_info_without_file():
    assert infer_model_info(None, 96, 30).task == "keypoints"
    info = infer_model_info(None, 48, 7)
    assert info.task == "classification" and info.label_names == config.FER2013_EMOTIONS
    with pytest.raises(ModelError, match="8 classes but has 7 label names"):
        infer_model_info(None, 48, 8)
    with pytest.raises(ModelError, match="input size 64"):
        infer_model_info({"input_size": 64}, 48, 7)
    custom = infer_model_info({"label_names": ["a", "b"], "margin": 0.1}, 48, 2)
    assert custom.label_names == ("a", "b") and custom.margin == 0.1


# ---------------------------------------------------------------- loading

def test_missing_and_invalid_model_files(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        load_model_runner(tmp_path / "nothing.keras")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"this is not a flatbuffer")
    with pytest.raises(ModelError, match="not a valid TFLite model"):
        LiteRTModel(bad)


def test_keras_path_prefers_sibling_tflite(models):
    assert load_model_runner(models["emotion_keras"]).backend == "litert"
    assert load_model_runner(models["emotion_keras"], prefer_tflite=False).backend == "keras"


def test_wrong_task_is_refused(models):
    with pytest.raises(ModelError, match="keypoints model, not a classification model"):
        EmotionClassifier.from_path(models["keypoints_tflite"])


def test_loading_tflite_does_not_import_tensorflow(models):
    code = (
        "import sys, numpy as np\n"
        "from fer_core.inference.runtime import EmotionClassifier, KeypointRegressor\n"
        f"e = EmotionClassifier.from_path({str(models['emotion_int8'])!r})\n"
        f"k = KeypointRegressor.from_path({str(models['keypoints_tflite'])!r})\n"
        "from fer_core.inference.pipeline import FacePipeline\n"
        "frame = np.zeros((120, 160, 3), np.uint8)\n"
        "FacePipeline('haar', e, k)(frame)\n"
        "e.predict(frame, [(10, 10, 50, 50)]); k.predict(frame, [(10, 10, 50, 50)])\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


# ---------------------------------------------------------------- outputs

def test_tflite_float_matches_keras(models, crops):
    keras_probs = EmotionClassifier.from_path(models["emotion_keras"], prefer_tflite=False).predict_crops(crops)
    lite = EmotionClassifier.from_path(models["emotion_tflite"])
    assert lite.backend == "litert"
    lite_probs = lite.predict_crops(crops)
    assert lite_probs.shape == (5, 7)
    np.testing.assert_allclose(lite_probs, keras_probs, atol=1e-5)
    np.testing.assert_allclose(lite_probs.sum(axis=1), 1.0, atol=1e-5)


def test_tflite_int8_is_close_to_keras(models, crops):
    keras_probs = models["emotion_model"].predict_on_batch(crops.astype(np.float32)[..., None])
    int8 = EmotionClassifier.from_path(models["emotion_int8"])
    assert int8.runner.quantized
    probs = int8.predict_crops(crops)
    assert probs.dtype == np.float32
    assert np.abs(probs - keras_probs).max() < 0.05


def test_keypoints_tflite_and_int8_match_keras(models):
    rng = np.random.default_rng(6)
    crops96 = rng.integers(0, 256, (3, 96, 96), dtype=np.uint8)
    expected = models["keypoints_model"].predict_on_batch(crops96.astype(np.float32)[..., None])
    expected = expected.reshape(3, 15, 2)
    points = KeypointRegressor.from_path(models["keypoints_tflite"]).predict_crops(crops96)
    assert points.shape == (3, 15, 2)
    np.testing.assert_allclose(points, expected, atol=1e-3)
    points8 = KeypointRegressor.from_path(models["keypoints_int8"]).predict_crops(crops96)
    spread = float(np.ptp(expected))
    assert np.abs(points8 - expected).max() < 0.05 * spread + 0.5


def test_batch_sizes_change_and_match_single_runs(models, crops):
    lite = EmotionClassifier.from_path(models["emotion_tflite"])
    one_by_one = np.concatenate([lite.predict_crops(crops[i:i + 1]) for i in range(len(crops))])
    np.testing.assert_allclose(lite.predict_crops(crops), one_by_one, atol=1e-6)
    np.testing.assert_allclose(lite.predict_crops(crops[:2]), one_by_one[:2], atol=1e-6)
    assert lite.predict_crops(np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)


def test_flip_tta_averages_each_crop_with_its_mirror_in_one_call(models, crops):
    lite = EmotionClassifier.from_path(models["emotion_tflite"])
    mirrored = crops[:, :, ::-1]
    expected = (lite.predict_crops(crops) + lite.predict_crops(mirrored)) / 2
    calls = []
    run = lite.runner.run
    lite.runner.run = lambda batch: calls.append(len(batch)) or run(batch)
    averaged = lite.predict_crops(crops, flip_tta=True)
    assert calls == [2 * len(crops)]
    np.testing.assert_allclose(averaged, expected, atol=1e-6)
    np.testing.assert_allclose(lite.predict_crops(mirrored, flip_tta=True), averaged, atol=1e-6)  # mirror-blind
    assert np.abs(averaged - lite.predict_crops(crops)).max() > 1e-3  # the tiny model is not symmetric
    np.testing.assert_allclose(averaged.sum(axis=1), 1.0, atol=1e-5)
    assert lite.predict_crops(np.zeros((0, 48, 48), np.uint8), flip_tta=True).shape == (0, 7)


def test_keypoints_are_mapped_to_frame_pixels(models):
    frame = astronaut_bgr()
    regressor = KeypointRegressor.from_path(models["keypoints_tflite"])
    in_crop = regressor.predict_crops(regressor.crop_faces(frame, [ASTRONAUT_FACE]))[0]
    in_frame = regressor.predict(frame, [ASTRONAUT_FACE])[0]
    # margin 0.15 of a 96-pixel box: a 124.8-pixel square (rounded to 125) centred on the box,
    # whose corner 225 - 62.4 = 162.6 (x) and 115 - 62.4 = 52.6 (y) rounds to (163, 53).
    origin = np.array([163.0, 53.0])
    np.testing.assert_allclose(in_frame, in_crop * (125 / 96) + origin, atol=0.6)


def test_keras_fallback_from_in_memory_model(models, crops):
    classifier = EmotionClassifier.from_keras(models["emotion_model"])
    assert classifier.backend == "keras"
    assert classifier.label_names == config.FER2013_EMOTIONS
    assert isinstance(classifier.runner, KerasModel)
    assert classifier.predict_crops(crops).shape == (5, 7)


def test_concurrent_threads_give_the_same_answers(models):
    classifier = EmotionClassifier.from_path(models["emotion_tflite"])
    rng = np.random.default_rng(7)
    batches = [rng.integers(0, 256, (n, 48, 48), dtype=np.uint8) for n in (1, 2, 3, 4) * 4]
    expected = [classifier.predict_crops(b) for b in batches]
    results = [None] * len(batches)

    def work(i):
        for _ in range(20):
            results[i] = classifier.predict_crops(batches[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_describe_cpu_names_the_cpu_and_the_features_that_set_its_speed():
    from fer_core.inference.runtime import describe_cpu

    cpuinfo = ("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx fma avx2 bmi2\n\n"
               "processor\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx fma avx2 bmi2\n")
    assert describe_cpu(cpuinfo, 2) == "AMD EPYC, 2 cores, avx2 fma"
    intel = "model name : Intel Xeon\nflags : avx2 fma avx512f avx512_vnni amx_int8\n"
    assert describe_cpu(intel, 4) == "Intel Xeon, 4 cores, avx2 fma avx512f avx512_vnni amx_int8"
    assert describe_cpu("", 1) == "unknown CPU, 1 core, no AVX2"
