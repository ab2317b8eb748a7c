"""Sample-level inspection: hardness, mistakenness, confusion cells and the label-noise table."""

import numpy as np
import pandas as pd
import pytest

from fer_core.data import Dataset
from fer_core.runs.inspection import (answer_confidences, confusion_cell, hardness, label_noise_table, mistakenness,
                                      noise_pairs, predicted_keypoints, prediction_calibration, sort_order,
                                      worst_keypoint_faces)

P = np.array([[0.98, 0.01, 0.01], [1 / 3, 1 / 3, 1 / 3], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])
LABELS = np.array([0, 2, 2, 0])


def test_hardness_is_normalised_entropy():
    assert hardness(P)[1] == pytest.approx(1.0) and hardness(P)[0] < 0.15 < hardness(P)[3]
    assert hardness(np.eye(3))[0] == pytest.approx(0.0, abs=1e-6)


def test_mistakenness_is_the_confidence_of_wrong_answers_only():
    assert mistakenness(P, LABELS).tolist() == pytest.approx([0.0, 1 / 3, 0.8, 0.0])
    assert mistakenness(P, np.array([-1, -1, -1, -1])).tolist() == [0.0] * 4


def test_sort_orders():
    assert sort_order("mistakenness", P, LABELS).tolist()[:2] == [2, 1]
    assert sort_order("hardness", P).tolist()[0] == 1
    assert sort_order("confidence", P).tolist()[0] == 0
    with pytest.raises(ValueError, match="needs the labels"):
        sort_order("mistakenness", P)


def test_a_confusion_cell_lists_its_faces_most_confident_first():
    predictions = pd.DataFrame({"id": ["a", "b", "c", "d"], "label": ["sad", "sad", "sad", "happy"],
                                "predicted": ["neutral", "neutral", "sad", "neutral"],
                                "confidence": [0.5, 0.9, 0.7, 0.99]})
    assert confusion_cell(predictions, "sad", "neutral")["id"].tolist() == ["b", "a"]
    assert confusion_cell(predictions, "happy", "sad").empty


def test_a_runs_calibration_from_its_predictions_matches_its_probabilities_to_the_labels_by_name():
    from fer_core.runs.calibration import expected_calibration_error, reliability_bins

    # FER2013's names in the p_ columns, a dataset spelling them its own way; one label the model does not know.
    labelled = pd.DataFrame({"id": list("abcde"), "label": ["anger", "happy", "happy", "anger", "contempt"],
                             "predicted": ["angry", "happy", "angry", "angry", "happy"],
                             "confidence": [0.9, 0.6, 0.7, 0.55, 0.8],
                             "p_angry": [0.9, 0.4, 0.7, 0.55, 0.2], "p_happy": [0.1, 0.6, 0.3, 0.45, 0.8]})
    report = prediction_calibration(labelled)
    probabilities = labelled[["p_angry", "p_happy"]].to_numpy()[:4]
    labels = np.array([0, 1, 1, 0])
    assert report["n"] == 4 and report["ece"] == pytest.approx(expected_calibration_error(probabilities, labels))
    assert report["reliability"] == reliability_bins(probabilities, labels)
    assert prediction_calibration(labelled.drop(columns=["p_angry", "p_happy"])) is None
    answers = answer_confidences(labelled)
    assert answers["right"].tolist() == [0.6] and answers["wrong"].tolist() == [0.9, 0.7, 0.55, 0.8]  # by exact name


def test_a_keypoint_runs_worst_faces_and_their_predicted_points():
    from fer_core.config import KEYPOINT_COLUMNS

    frame = pd.DataFrame({"id": ["a", "b", "c"], "rmse_px": [1.0, np.nan, 4.0],
                          **{f"pred_{c}": [i, 100 + i, 200 + i] for i, c in enumerate(KEYPOINT_COLUMNS)}})
    worst = worst_keypoint_faces(frame, 2)
    assert worst["id"].tolist() == ["c", "a"]  # a face without an error goes last
    points = predicted_keypoints(worst)
    assert points.shape == (2, 15, 2) and points[0, 0].tolist() == [200, 201] and points[1, 14].tolist() == [28, 29]


def test_label_noise_table_ranks_the_least_supported_labels_first():
    names = ("angry", "sad", "neutral")
    dataset = Dataset(name="f", task="classification", images=np.zeros((4, 48, 48), np.uint8),
                      labels=np.array([1, 1, 0, -1]), label_names=names, splits=np.array(["Training"] * 4),
                      split_names=("Training",), ids=np.array(["f:0", "f:1", "f:2", "f:3"]))
    votes = np.array([[0.0, 0.2, 0.8], [0.0, 0.9, 0.1], [0.7, 0.0, 0.3], [0.5, 0.5, 0.0]])
    model = np.array([[0.1, 0.2, 0.7], [0.1, 0.8, 0.1], [0.6, 0.2, 0.2], [0.3, 0.3, 0.4]])
    table = label_noise_table(dataset, votes, ("anger", "sadness", "neutral"), model)
    assert table["id"].tolist() == ["f:0", "f:2", "f:1"]  # the unlabelled row is left out
    first = table.iloc[0]
    assert (first["label"], first["annotators"], first["model"]) == ("sad", "neutral", "neutral")
    assert first["label_votes"] == pytest.approx(0.2) and first["model_label_p"] == pytest.approx(0.2)
    pairs = noise_pairs(table)
    assert pairs.to_dict("records") == [{"label": "sad", "annotators": "neutral", "count": 1}]
