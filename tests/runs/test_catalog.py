"""The model picker's catalog: shipped models and run records with weights, by kind, the default first."""

import json
import shutil

from fer_core.runs.catalog import model_catalog, runtime_description
from fer_core.runs.records import RunRecord
from tests.inference_models import tiny_models


def test_catalog_lists_the_default_first_and_says_which_file_runs(tmp_path_factory, tmp_path):
    models = tiny_models(tmp_path_factory)
    shipped = tmp_path / "models"
    shipped.mkdir()
    for stem, source in (("emotion", "emotion_keras"), ("emotion_ferplus", "emotion_keras"), ("keypoints", "keypoints_keras")):
        shutil.copyfile(models[source], shipped / f"{stem}.keras")
        info = json.loads((models[source].parent / "model_info.json").read_text())
        (shipped / f"{stem}.model_info.json").write_text(json.dumps(info))
    shutil.copyfile(models["emotion_int8"], shipped / "emotion_ferplus_int8.tflite")
    (shipped / "emotion_ferplus.model_info.json").write_text(json.dumps(
        {**json.loads((shipped / "emotion.model_info.json").read_text()), "runtime_tflite": "emotion_ferplus_int8.tflite"}))
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    shutil.copyfile(models["emotion_keras"], run / "model.keras")
    (run / "model_info.json").write_text((models["emotion_keras"].parent / "model_info.json").read_text())
    (run / "config.json").write_text(json.dumps({"model": "tiny", "data": "fer2013"}))
    weightless = tmp_path / "runs" / "r2"
    weightless.mkdir()
    (weightless / "model_info.json").write_text((run / "model_info.json").read_text())

    emotion = model_catalog("emotion", shipped, [RunRecord.load(run), RunRecord.load(weightless)])
    assert [(c.name, c.default, c.source) for c in emotion] == [
        ("emotion", True, "shipped"), ("emotion_ferplus", False, "shipped"), ("run: runs/r1", False, "run record")]
    assert emotion[1].runtime == "emotion_ferplus_int8.tflite (LiteRT int8)"
    assert emotion[2].runtime == "model.keras (Keras, loads TensorFlow)"
    assert "(default)" in emotion[0].label and emotion[0].label.endswith("runs emotion.keras (Keras, loads TensorFlow)")
    assert [c.name for c in model_catalog("keypoints", shipped)] == ["keypoints"]
    assert runtime_description(shipped / "emotion_ferplus.keras") == "emotion_ferplus_int8.tflite (LiteRT int8)"
