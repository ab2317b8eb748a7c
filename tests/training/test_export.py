import argparse
import os
from pathlib import Path

import numpy as np
import pytest

from fer_core.commands import export as export_command
from fer_core.errors import ModelError
from fer_core.training.export import (classification_scores, keypoint_rmse, resize_images, sample_indices,
                             scale_keypoints)
from fer_core.inference.runtime import EmotionClassifier, LiteRTModel
from tests.inference_models import tiny_models

DATA = Path(os.environ.get("FER_DATA_DIR") or Path(__file__).resolve().parents[3] / "shared" / "data")
needs_data = pytest.mark.skipif(not (DATA / "fer2013").is_dir(), reason=f"no datasets at {DATA} (set FER_DATA_DIR)")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models(tmp_path_factory)


@pytest.fixture
def data_env(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("FER_DATA_DIR", str(DATA))
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "fer-cache"))


# ---------------------------------------------------------------- pure helpers

def test_scores():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert classification_scores(probs, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    assert classification_scores(probs, np.array([0, -1, 1])) == pytest.approx(0.5)
    predicted = np.zeros((2, 30), np.float32)
    target = np.zeros((2, 15, 2), np.float32)
    target[0, 0, 0] = 3.0
    target[1] = np.nan
    assert keypoint_rmse(predicted, target) == pytest.approx(np.sqrt(9 / 30))


def test_resizing_and_sampling():
    images = np.zeros((3, 48, 48), np.uint8)
    assert resize_images(images, 48) is images
    assert resize_images(images, 64).shape == (3, 64, 64)
    points = scale_keypoints(np.full((1, 15, 2), 10.0, np.float32), (100, 50), 96)
    assert points[0, 0].tolist() == pytest.approx([19.2, 9.6])
    picked = sample_indices(100, 10, seed=0)
    assert len(set(picked)) == 10 and list(picked) == sorted(picked)
    assert list(sample_indices(5, 10)) == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------- export

def test_int8_export_without_dataset_is_refused(models, tmp_path):
    bare = tmp_path / "bare.keras"
    bare.write_bytes(models["emotion_keras"].read_bytes())  # no model_info.json beside it
    with pytest.raises(ModelError, match="int8 export needs calibration images"):
        export_command.run(argparse.Namespace(model=str(bare), out=str(tmp_path / "x.tflite"), int8=True,
                                              dataset=None, calibration_count=10, eval_limit=None, no_eval=False))


def test_export_refuses_tflite_input(models, tmp_path):
    from fer_core.training.export import export_model

    with pytest.raises(ModelError, match="already a TFLite model"):
        export_model(models["emotion_tflite"], tmp_path / "x.tflite")


def test_float_export_without_dataset_is_not_scored(models, tmp_path):
    from fer_core.training.export import export_model

    bare = tmp_path / "bare.keras"
    bare.write_bytes(models["emotion_keras"].read_bytes())
    report = export_model(bare, tmp_path / "bare.tflite")
    assert report.metric is None and "no dataset known" in report.note
    assert LiteRTModel(tmp_path / "bare.tflite").output_size == 7


@needs_data
def test_cli_export_float_and_int8_scores_both_models(models, tmp_path, data_env, capsys):
    parser = argparse.ArgumentParser()
    export_command.add_parser(parser.add_subparsers())
    for extra, name in (([], "float.tflite"), (["--int8"], "int8.tflite")):
        out = tmp_path / name
        args = parser.parse_args(["export", "--model", str(models["emotion_keras"]), "--out", str(out),
                                  "--dataset", "fer2013-sample", "--calibration-count", "50", *extra])
        assert args.func(args) == 0
        text = capsys.readouterr().out
        assert f"wrote {out}" in text and "size: keras" in text
        assert "test accuracy on 100 samples: keras" in text
        runner = LiteRTModel(out)
        assert runner.quantized == bool(extra)
    assert (tmp_path / "int8.tflite").stat().st_size < (tmp_path / "float.tflite").stat().st_size


@needs_data
def test_export_report_numbers(models, tmp_path, data_env):
    from fer_core.training.export import export_model

    report = export_model(models["emotion_keras"], tmp_path / "e.tflite", dataset="fer2013-sample")
    assert report.metric == "accuracy" and report.test_count == 100
    assert report.tflite_score == pytest.approx(report.keras_score, abs=0.011)
    assert report.agreement >= 0.99
    int8 = export_model(models["emotion_keras"], tmp_path / "e8.tflite", int8=True, dataset="fer2013-sample",
                        calibration_count=100)
    assert int8.int8 and int8.agreement >= 0.8
    assert EmotionClassifier.from_path(tmp_path / "e8.tflite").runner.quantized


@needs_data
def test_keypoint_export_reports_rmse(models, tmp_path, data_env):
    from fer_core.training.export import export_model

    report = export_model(models["keypoints_keras"], tmp_path / "k.tflite", eval_limit=64)
    assert report.metric == "rmse" and report.test_count == 64
    assert report.tflite_score == pytest.approx(report.keras_score, rel=1e-3)
    assert any("rmse" in line and " px" in line for line in report.lines())


def test_reuse_keeps_a_file_exported_earlier_and_only_scores_it(tmp_path_factory, tmp_path, data_root):
    import shutil

    from fer_core.commands.ship import exported_from
    from fer_core.storage import file_sha256
    from fer_core.training.export import export_model

    models = tiny_models(tmp_path_factory)
    kept = tmp_path / "emotion_int8.tflite"
    shutil.copyfile(models["emotion_tflite"], kept)  # stands for an int8 file calibrated on another CPU
    export_model(models["emotion_keras"], kept, int8=True, evaluate=False, reuse=True)
    assert kept.read_bytes() == models["emotion_tflite"].read_bytes()
    export_model(models["emotion_keras"], kept, int8=True, evaluate=False, dataset="fer2013-sample")
    assert kept.read_bytes() != models["emotion_tflite"].read_bytes()  # without reuse: exported again

    log = [{"files": {"emotion.keras": file_sha256(models["emotion_keras"]), kept.name: file_sha256(kept)}}]
    assert exported_from(log, models["emotion_keras"], kept)
    assert not exported_from(log, models["emotion_keras"], models["emotion_tflite"])
    assert not exported_from([], models["emotion_keras"], kept)
