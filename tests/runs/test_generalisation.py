"""In-distribution against cross-dataset accuracy: the table, its ensemble row and the rank correlation."""

import numpy as np
import pytest

from fer_core.runs.generalisation import ENSEMBLE, accuracy, rank_correlation

FER2013 = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def row(name, val, check, label_names=FER2013):
    return {"name": name, "label_names": label_names, "val": val, "test": val, "check": check}


def test_accuracy_is_the_share_of_rows_whose_top_class_is_the_label():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert accuracy(probabilities, [0, 1, 1, 1]) == 0.75
    assert accuracy(np.zeros((0, 2)), []) == 0.0


def test_rank_correlation_over_single_models_with_the_same_labels():
    rows = [row("a", 0.70, 0.60), row("b", 0.71, 0.58), row("c", 0.72, 0.55),
            row("ferplus", 0.60, 0.90, label_names=FER2013 + ["contempt"]), row(f"{ENSEMBLE} (3)", 0.99, 0.99)]
    assert rank_correlation(rows) == pytest.approx(-1.0)  # the better on validation, the worse on the check
    assert rank_correlation(rows[:2]) is None
    assert rank_correlation([row("a", 0.1, 0.1), row("b", 0.2, 0.3), row("c", 0.3, 0.2)]) == pytest.approx(0.5)


def test_the_table_scores_each_model_and_their_average_on_the_known_classes_of_ckplus48(tmp_path_factory, data_root):
    from fer_core.data import load_dataset
    from fer_core.inference.batch import predict_dataset
    from fer_core.inference.runtime import load_model_runner
    from fer_core.runs.evaluation import relabel
    from fer_core.runs.generalisation import generalisation_table
    from tests.inference_models import tiny_models

    models = tiny_models(tmp_path_factory)
    paths = {"float": models["emotion_tflite"], "int8": models["emotion_int8"]}
    rows = generalisation_table(paths, data="fer2013", check="ckplus48")
    assert [r["name"] for r in rows] == ["float", "int8", f"{ENSEMBLE} (2)"]
    for r in rows:
        assert r["check_n"] == 927 and r["check_excluded"] == {"contempt": 54}
        assert all(0.0 <= r[key] <= 1.0 for key in ("val", "test", "check"))
    ck = relabel(load_dataset("ckplus48").subset("all").labelled(), FER2013)
    outputs = [predict_dataset(load_model_runner(path, prefer_tflite=False), ck) for path in paths.values()]
    assert rows[0]["check"] == accuracy(outputs[0], ck.labels)
    assert rows[2]["check"] == accuracy((outputs[0] + outputs[1]) / 2, ck.labels)
