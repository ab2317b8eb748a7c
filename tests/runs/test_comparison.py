"""Comparing runs: the default selection, short names, readable columns, per-class deltas, curves by task."""

import json
import os
import time

import pandas as pd
import pytest

from fer_core.runs.comparison import (comparison_table, curves_by_task, default_selection, latency,
                                      per_class_deltas, run_colors, short_names)
from fer_core.runs.records import RunRecord


def write_run(folder, data, task, per_class=None, rmse=None, stamp=0.0):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model": "m", "data": data}))
    (folder / "model_info.json").write_text(json.dumps({"task": task, "params": 1000,
                                                          "label_names": list(per_class or [])}))
    metrics = {"n": 10, "ms_per_face": 1.5}
    if per_class:
        metrics.update(accuracy=0.5, macro_f1=0.4, per_class=per_class)
    else:
        metrics.update(rmse=rmse)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "history.csv").write_text("epoch,loss,val_loss\n1,1.0,1.1\n")
    for path in folder.iterdir():
        os.utime(path, (stamp, stamp))
    return RunRecord.load(folder)


def classes(recall_angry, recall_happy):
    return {"angry": {"precision": 0.5, "recall": recall_angry, "f1": recall_angry, "support": 5},
            "happy": {"precision": 0.5, "recall": recall_happy, "f1": recall_happy, "support": 5}}


def test_default_selection_is_the_latest_runs_of_one_task_and_dataset(tmp_path):
    now = time.time()
    old = write_run(tmp_path / "a" / "old", "fer2013", "classification", classes(0.5, 0.5), stamp=now - 300)
    new = write_run(tmp_path / "a" / "new", "fer2013", "classification", classes(0.6, 0.5), stamp=now - 100)
    keypoints = write_run(tmp_path / "a" / "kp", "keypoints", "keypoints", rmse=1.7, stamp=now - 200)
    other = write_run(tmp_path / "a" / "ck", "ckplus48", "classification", classes(0.6, 0.5), stamp=now - 50)
    assert [r.label for r in default_selection([old, new, keypoints, other])] == [other.label]
    assert [r.path.name for r in default_selection([old, new, keypoints])] == ["new", "old"]


def test_short_names_are_distinct():
    assert short_names(["assets/runs/x", "runs/y"]) == {"assets/runs/x": "x", "runs/y": "y"}
    assert short_names(["assets/runs/x", "runs/x"]) == {"assets/runs/x": "runs/x", "runs/x": "runs/x"}


def test_comparison_table_has_units_and_says_how_latency_was_measured(tmp_path):
    a = write_run(tmp_path / "a", "fer2013", "classification", classes(0.5, 0.5))
    k = write_run(tmp_path / "k", "keypoints", "keypoints", rmse=1.65)
    table = comparison_table([a, k])
    assert {"accuracy (%)", "RMSE (px)", "ms per face", "ms per face measured with"} <= set(table.columns)
    assert table.loc[0, "accuracy (%)"] == 50.0 and pd.isna(table.loc[0, "RMSE (px)"])
    assert table.loc[0, "ms per face measured with"] == "Keras predict_on_batch, CPU not recorded"
    assert table.loc[0, "macro-F1 (%)"] == 40.0


def test_ms_per_face_is_the_time_of_the_cpu_it_names(tmp_path):
    a = write_run(tmp_path / "a", "fer2013", "classification", classes(0.5, 0.5))  # metrics.json: 1.5 ms, CPU unknown
    info = json.loads((a.path / "model_info.json").read_text())
    info["latency_by_cpu"] = [
        {"cpu": "Intel Xeon, 8 cores, avx2", "ms_per_face": {"Keras predict_on_batch": 9.0}},
        {"cpu": "AMD EPYC, 2 cores, avx512f", "ms_per_face": {"LiteRT int8": 0.4, "Keras predict_on_batch": 2.868}}]
    (a.path / "model_info.json").write_text(json.dumps(info))
    a = RunRecord.load(a.path)
    assert latency(a) == (2.868, "Keras predict_on_batch on AMD EPYC, 2 cores, avx512f")  # the latest CPU's Keras time
    table = comparison_table([a])
    assert table.loc[0, "ms per face"] == 2.868
    assert table.loc[0, "ms per face measured with"] == "Keras predict_on_batch on AMD EPYC, 2 cores, avx512f"


def test_runs_get_distinct_colours():
    colors = run_colors([f"run{i}" for i in range(20)])
    assert len(set(colors.values())) == 20 and run_colors(["x", "y"]) == {"x": colors["run0"], "y": colors["run1"]}


def test_per_class_deltas_match_classes_by_name(tmp_path):
    a = write_run(tmp_path / "a", "fer2013", "classification", classes(0.5, 0.9))
    b = write_run(tmp_path / "b", "ferplus", "classification",
                  {"anger": {"precision": 1, "recall": 0.7, "f1": 0.6, "support": 5}})
    deltas = per_class_deltas(a, b)
    assert deltas["class"].tolist() == ["angry"] and deltas.loc[0, "recall change"] == pytest.approx(0.2)
    k = write_run(tmp_path / "k", "keypoints", "keypoints", rmse=1.0)
    with pytest.raises(ValueError, match="no per-class"):
        per_class_deltas(a, k)


def test_curves_of_different_tasks_are_kept_apart(tmp_path):
    from fer_core.runs.records import curves_table

    a = write_run(tmp_path / "a", "fer2013", "classification", classes(0.5, 0.5))
    k = write_run(tmp_path / "k", "keypoints", "keypoints", rmse=1.0)
    groups = curves_by_task(curves_table([a, k]), [a, k])
    assert set(groups) == {"classification", "keypoints"}
    assert set(groups["keypoints"]["run"]) == {k.label}
