"""Metrics on fixed inputs (golden values computed by hand)."""

import numpy as np
import pytest

from fer_core.runs.metrics import classification_metrics, keypoint_metrics


def test_classification_metrics_golden():
    m = classification_metrics(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), ("a", "b", "c"))
    assert m["accuracy"] == pytest.approx(3 / 5) and m["n"] == 5
    assert m["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3) and m["per_class"]["b"]["recall"] == 1.0
    assert m["per_class"]["c"]["f1"] == 0.0
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_absent_classes_do_not_drag_macro_f1():
    m = classification_metrics(np.array([0, 1]), np.array([0, 1]), ("a", "b", "c"))
    assert m["macro_f1"] == 1.0 and m["per_class"]["c"]["support"] == 0


def test_keypoint_metrics_golden():
    truth = np.zeros((2, 15, 2))
    truth[:, 0] = [60, 40]
    truth[:, 1] = [40, 40]          # eyes 20 px apart
    pred = truth.copy()
    pred[0, 10] += [3, 4]           # nose 5 px off in one face
    truth[1, 14] = np.nan           # a missing point is ignored
    pred[1, 14] = 1000
    m = keypoint_metrics(truth, pred)
    assert m["rmse"] == pytest.approx(np.sqrt((9 + 16) / (2 * 30 - 2)))
    assert m["per_keypoint"]["nose_tip"] == pytest.approx(np.sqrt(25 / 4))
    assert m["per_keypoint"]["mouth_center_bottom_lip"] == 0.0
    assert m["nme_interocular"] == pytest.approx((5 / 20) / (30 - 1))
