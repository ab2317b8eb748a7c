"""fer_core.app.run_views: the Training runs and Compare runs pages' figures as people read them (percent,
thousands separators, n/a, pixels), a confusion matrix whose cells can be clicked, the faces of a cell and a
keypoint run's worst faces as sheets, curves in their units, and model cards' headings demoted."""

import json

import numpy as np
import pandas as pd
import pytest

from fer_core.app import run_views as views
from fer_core.config import KEYPOINT_COLUMNS
from fer_core.data import Dataset
from fer_core.runs.records import RunRecord, per_class_table

NAMES = ("anger", "contempt", "happy")
# Rows true, columns predicted: no contempt face in the test split, and the model never answered contempt.
MATRIX = [[1200, 0, 34], [0, 0, 0], [5, 0, 2000]]
PER_CLASS = {"anger": {"precision": 0.9959, "recall": 0.9724, "f1": 0.984, "support": 1234},
             "contempt": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
             "happy": {"precision": 0.9833, "recall": 0.9975, "f1": 0.9903, "support": 2005}}


def record(folder, task="classification", metrics=None, info=None, card=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model": "lenet5", "data": "ckplus48"}))
    (folder / "model_info.json").write_text(json.dumps({"task": task, "params": 4774791, **(info or {})}))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    if card is not None:
        (folder / "model_card.md").write_text(card)
    return RunRecord.load(folder)


def test_scores_are_percent_and_a_class_absent_from_the_test_split_is_not_available():
    rows = per_class_table({"per_class": PER_CLASS, "confusion_matrix": MATRIX})
    assert rows[1] == {"class": "contempt", "precision": None, "recall": None, "f1": None, "support": 0}
    shown = views.per_class_display(rows)
    assert shown.to_dict("records") == [
        {"class": "anger", "precision": "99.59%", "recall": "97.24%", "F1": "98.40%", "support": "1,234"},
        {"class": "contempt", "precision": "n/a", "recall": "n/a", "F1": "n/a", "support": "0"},
        {"class": "happy", "precision": "98.33%", "recall": "99.75%", "F1": "99.03%", "support": "2,005"}]
    figure = views.per_class_percent_figure(rows)
    assert [bar.text[1] for bar in figure.data] == ["n/a"] * 3 and figure.data[1].y[0] == pytest.approx(97.24)


def test_a_class_never_answered_has_no_precision_but_its_recall_is_zero():
    rows = per_class_table({"per_class": {"a": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 3},
                                          "b": {"precision": 0.5, "recall": 1.0, "f1": 0.67, "support": 3}},
                            "confusion_matrix": [[0, 3], [0, 3]]})
    assert rows[0] == {"class": "a", "precision": None, "recall": 0.0, "f1": 0.0, "support": 3}


def test_headlines_caption_and_comparison_are_written_one_way(tmp_path):
    run = record(tmp_path / "runs" / "c", metrics={"accuracy": 0.68382, "macro_f1": 0.5724, "per_class": PER_CLASS})
    assert views.headline_items(run) == [("test accuracy", "68.38%"), ("test macro-F1", "57.24%")]
    assert views.run_caption(run) == ("`runs/c`: lenet5 on ckplus48; 4,774,791 parameters; no model file (run "
                                      "records keep no weights)")
    keypoints = record(tmp_path / "runs" / "k", "keypoints", {"rmse": 1.82748, "nme_interocular": 0.0845})
    assert views.headline_items(keypoints) == [("test RMSE", "1.827 px"), ("test NME (inter-ocular)", "8.45%")]
    from fer_core.runs.comparison import comparison_table

    table = comparison_table([run, keypoints])
    shown = views.comparison_display(table)
    assert shown["parameters"].tolist() == ["4,774,791", "4,774,791"]
    assert shown["accuracy (%)"].tolist() == ["68.38", "n/a"] and shown["RMSE (px)"].tolist() == ["n/a", "1.827"]
    assert views.latency_notes(table) == []  # neither measured a time
    timed = pd.DataFrame({"run": ["a", "b", "c"], "ms per face measured with": ["Keras on X", None, "Keras on X"]})
    assert views.latency_notes(timed) == ["Keras on X (a, c)"]


def test_model_card_headings_are_demoted_but_not_code():
    card = "# Model card: x\n\nText # not a heading\n\n## Results\n```bash\n# a shell comment\n```\n###### deep\n"
    assert views.demote_headings(card) == ("### Model card: x\n\nText # not a heading\n\n#### Results\n```bash\n"
                                           "# a shell comment\n```\n###### deep\n")


def test_the_confusion_matrix_cells_can_be_clicked():
    figure = views.confusion_cell_figure(MATRIX, NAMES, normalized=False, chosen=("anger", "happy"))
    heat, markers = figure.data
    assert list(heat.text[0]) == ["1,200", "0", "34"]  # counts with thousands separators
    assert len(markers.x) == 9 and (markers.y[2], markers.x[2]) == ("anger", "happy")  # one marker a cell
    assert figure.layout.clickmode == "event+select"
    [frame] = figure.layout.shapes
    assert (frame.x0, frame.x1, frame.y0, frame.y1) == (1.5, 2.5, -0.5, 0.5)  # column happy, row anger
    normalized = views.confusion_cell_figure(MATRIX, NAMES, normalized=True)
    assert list(normalized.data[0].text[0]) == ["97.2%", "0.0%", "2.8%"] and normalized.data[0].z[0][0] == pytest.approx(
        100 * 1200 / 1234)
    # Streamlit's selection: points with x (predicted) and y (true); the last click counts.
    points = [{"x": "happy", "y": "anger", "point_index": 2}, {"x": "anger", "y": "happy", "point_index": 6}]
    assert views.clicked_cell(points, NAMES) == ("happy", "anger")
    assert views.clicked_cell([], NAMES) is None and views.clicked_cell([{"x": 3, "y": 1}], NAMES) is None
    assert views.most_confused_cell(MATRIX, NAMES) == ("anger", "happy")
    assert views.most_confused_cell(np.diag([3, 1, 2]), NAMES) == ("anger", "anger")


def faces(count, side=48):
    return np.stack([np.full((side, side), 20 * i, np.uint8) for i in range(count)])


def test_a_cells_faces_are_numbered_most_confident_first_with_their_ids():
    from fer_core.runs.inspection import confusion_cell

    dataset = Dataset(name="toy", task="classification", images=faces(4), labels=np.array([0, 0, 2, 0]),
                      splits=np.array(["test"] * 4), ids=np.array(["t:0", "t:1", "t:2", "t:3"]),
                      label_names=NAMES, split_names=("test",))
    labelled = pd.DataFrame({"id": ["t:3", "t:1", "t:0", "x:9"], "label": ["anger"] * 4,
                             "predicted": ["happy", "happy", "anger", "happy"], "confidence": [0.6, 0.95, 0.9, 0.99]})
    cell = confusion_cell(labelled, "anger", "happy")
    sheet, table = views.cell_sheet(dataset, cell, columns=10, side=84)
    assert table.to_dict("records") == [{"#": 1, "id": "t:1", "confidence": "95.00%"},
                                        {"#": 2, "id": "t:3", "confidence": "60.00%"}]  # x:9 is not in the dataset
    assert sheet.shape == (4 + 84 + 4, 10 * 88 + 4, 3)
    empty_sheet, empty = views.cell_sheet(dataset, cell[cell["id"] == "x:9"])
    assert empty_sheet is None and empty.empty


def test_a_keypoint_runs_worst_faces_show_true_and_predicted_points(tmp_path):
    from fer_core.runs.inspection import worst_keypoint_faces

    truth = np.full((3, 15, 2), 48.0, np.float32)
    dataset = Dataset(name="kp", task="keypoints", images=faces(3, 96), labels=np.full(3, -1),
                      splits=np.array(["test"] * 3), ids=np.array(["k:0", "k:1", "k:2"]), label_names=(),
                      split_names=("test",), keypoints=truth)
    predictions = pd.DataFrame({"id": ["k:0", "k:1", "k:2"], "rmse_px": [1.0, 7.25, 3.0],
                                **{f"pred_{c}": [10.0, 20.0, 30.0] for c in KEYPOINT_COLUMNS}})
    sheet, table = views.keypoint_gallery(dataset, worst_keypoint_faces(predictions, 2), columns=8, side=144)
    assert table.to_dict("records") == [{"#": 1, "id": "k:1", "RMSE": "7.25 px"}, {"#": 2, "id": "k:2", "RMSE": "3.00 px"}]
    first = sheet[4:4 + 144, 4:4 + 144]
    green, red = (60, 220, 60), (235, 60, 60)
    assert (first[72, 72] == green).all()  # the true point at (48, 48) of the 96 px face, scaled by 1.5
    assert (first[30, 30] == red).all()  # the predicted one at (20, 20)
    assert views.per_keypoint_display({"per_keypoint": {"nose_tip": 2.193, "left_eye_center": 1.2}}).to_dict(
        "records") == [{"keypoint": "nose_tip", "RMSE": "2.193 px"}, {"keypoint": "left_eye_center", "RMSE": "1.200 px"}]


def test_curves_are_drawn_in_their_units_with_an_optional_log_scale():
    history = pd.DataFrame({"epoch": [1, 2], "accuracy": [0.5, 0.6], "val_accuracy": [0.4, 0.55],
                            "loss": [99.0, 3.0], "rmse": [9.9, 1.7], "val_rmse": [8.5, 1.8]})
    accuracy = views.run_curves_figure(history, "accuracy", "classification")
    assert list(accuracy.data[1].y) == pytest.approx([40, 55]) and accuracy.layout.yaxis.title.text == "accuracy (%)"
    rmse = views.run_curves_figure(history, "rmse", "keypoints", log_scale=True)
    assert rmse.layout.yaxis.type == "log" and rmse.layout.yaxis.title.text == "RMSE (px), log scale"
    assert views.metric_axis("loss", "keypoints") == ("loss: MSE (px²)", 1.0)


def test_overlaid_curves_use_short_names_and_distinct_colours():
    from fer_core.runs.comparison import run_colors

    curves = pd.DataFrame({"run": ["assets/runs/a", "assets/runs/a", "runs/b", "runs/b"], "epoch": [1, 2, 1, 2],
                           "metric": "accuracy", "split": "val", "value": [0.5, 0.6, 0.4, 0.7]})
    names = {"assets/runs/a": "a", "runs/b": "b"}
    colors = run_colors(["a", "b"])
    figure = views.overlaid_runs_figure(curves, "accuracy", "val", "classification", names, colors)
    assert [t.name for t in figure.data] == ["a", "b"] and figure.data[0].line.color != figure.data[1].line.color
    assert figure.layout.showlegend is True and list(figure.data[1].y) == pytest.approx([40, 70])


def test_per_class_changes_and_calibration_figures():
    deltas = pd.DataFrame({"class": ["angry", "happy"], "recall change": [0.031, -0.01], "F1 change": [0.0, 0.02]})
    figure = views.per_class_delta_figure(deltas, "a", "b")
    assert list(figure.data[0].text) == ["+3.1", "-1.0"] and "b minus a" in figure.layout.title.text
    bins = [{"low": 0.0, "high": 0.5, "count": 0, "confidence": None, "accuracy": None},
            {"low": 0.5, "high": 1.0, "count": 4, "confidence": 0.8, "accuracy": 0.5}]
    reliability = views.reliability_figure(bins, bins, 0.3, 0.1)
    assert [t.name for t in reliability.data][1:] == ["model's own, ECE 30.00%", "adjusted (prior and temperature), "
                                                                                 "ECE 10.00%"]
    assert list(reliability.data[1].x) == pytest.approx([80]) and list(reliability.data[1].y) == pytest.approx([50])
    labelled = pd.DataFrame({"label": ["a", "a", "b"], "predicted": ["a", "b", "b"], "confidence": [0.9, 0.7, 0.6]})
    histogram = views.confidence_histogram_figure(labelled)
    assert [t.name for t in histogram.data] == ["right (2)", "wrong (1)"] and list(histogram.data[1].x) == [70.0]
