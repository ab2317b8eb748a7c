"""fer_core.runs.records and fer_core.runs.jobs: run records read tolerantly, comparisons, background training."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from fer_core.errors import RunError
from fer_core.runs import jobs
from fer_core.runs.records import (
    RunRecord, compare_runs, confusion_difference, config_diff, curves_table, drop_empty_columns, find_runs,
    earlier_runs, most_confident_mistakes, normalize_rows, per_class_table, progress, shipped_models, with_true_labels,
)

LABELS = ["a", "b"]


def write_run(folder, config=None, metrics=None, history=None, predictions=None, info=None, state=None):
    """A fabricated run record (only the files given)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, obj in (("config.json", config), ("metrics.json", metrics), ("model_info.json", info),
                      ("state.json", state)):
        if obj is not None:
            (folder / name).write_text(json.dumps(obj))
    if history is not None:
        (folder / "history.csv").write_text(history)
    if predictions is not None:
        (folder / "predictions.csv").write_text(predictions)
    return folder


def classification_run(folder, matrix, lr=0.001, epochs=2):
    matrix = np.asarray(matrix)
    return write_run(
        folder,
        config={"model": "lenet5", "data": "toy", "epochs": epochs, "learning_rate": lr, "extra": {"note": "x"}},
        info={"task": "classification", "label_names": LABELS, "params": 1234},
        state={"epoch": 2, "best_epoch": 2},
        metrics={"accuracy": float(np.trace(matrix) / matrix.sum()), "macro_f1": 0.5, "n": int(matrix.sum()),
                 "per_class": {"a": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
                               "b": {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1}},
                 "confusion_matrix": matrix.tolist(), "ms_per_face": 0.8},
        history="epoch,accuracy,loss,val_accuracy,val_loss,lr,seconds\n1,0.5,1.0,0.4,1.2,0.001,3\n2,0.7,0.8,0.6,1.0,0.001,3\n",
        predictions="id,predicted,confidence\nt:0,a,0.9\nt:1,b,0.8\nt:2,b,0.7\nt:3,a,0.95\nt:4,b,0.6\n",
    )


@pytest.fixture
def two_runs(tmp_path):
    first = RunRecord.load(classification_run(tmp_path / "runs" / "r1", [[8, 2], [1, 9]]))
    second = RunRecord.load(classification_run(tmp_path / "runs" / "r2", [[5, 5], [0, 10]], lr=0.01))
    return first, second


def test_record_of_a_finished_run(two_runs):
    record = two_runs[0]
    assert record.finished and record.status == "finished"
    assert record.label == "runs/r1" and record.model_name == "lenet5" and record.dataset_name == "toy"
    assert record.label_names == ("a", "b") and record.task == "classification"
    assert record.params == 1234 and record.ms_per_face == 0.8
    assert record.history["epoch"].tolist() == [1, 2]
    assert record.confusion_matrix.tolist() == [[8, 2], [1, 9]]
    assert record.headline() == {"accuracy": 0.85, "macro_f1": 0.5}
    assert progress(record) == (2, 2, 1.0)


def test_record_of_a_run_in_progress(tmp_path):
    starting = RunRecord.load(write_run(tmp_path / "starting", config={"model": "lenet5", "data": "toy", "epochs": 4}))
    assert starting.status == "starting" and not starting.finished
    assert starting.history.empty and starting.predictions() is None and starting.confusion_matrix is None
    assert starting.model_path is None and starting.model_size_bytes is None and starting.headline() == {}
    assert progress(starting) == (0, 4, 0.0)
    running = RunRecord.load(write_run(
        tmp_path / "running", config={"epochs": 4}, state={"epoch": 1},
        history="epoch,loss,val_loss\n1,2.0,2.5\n"))
    assert running.status == "in progress" and progress(running) == (1, 4, 0.25)
    (running.path / "metrics.json").write_text('{"acc')  # half written: read as not there yet
    assert RunRecord.load(running.path).metrics is None


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        RunRecord.load(tmp_path / "nope")


def test_find_runs_lists_run_folders_by_root(tmp_path):
    write_run(tmp_path / "assets" / "x", config={})
    write_run(tmp_path / "runs" / "b", config={})
    write_run(tmp_path / "runs" / "a", state={})
    write_run(tmp_path / "runs" / "group" / "c", metrics={})
    (tmp_path / "runs" / "empty").mkdir()
    (tmp_path / "runs" / "a" / "checkpoints").mkdir()
    found = find_runs([tmp_path / "assets", tmp_path / "runs", tmp_path / "missing"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["assets/x", "runs/a", "runs/b", "runs/group/c"]


def test_find_runs_reads_fer_run_roots(tmp_path, monkeypatch):
    write_run(tmp_path / "one" / "r", config={})
    write_run(tmp_path / "two" / "s", config={})
    monkeypatch.setenv("FER_RUN_ROOTS", f"{tmp_path / 'one'}:{tmp_path / 'two'}")
    assert [p.name for p in find_runs()] == ["r", "s"]


def test_compare_runs_golden(two_runs):
    rows = compare_runs(two_runs)
    assert rows[1] == {"run": "runs/r2", "model": "lenet5", "dataset": "toy", "status": "finished", "epochs": 2,
                       "accuracy": 0.75, "macro_f1": 0.5, "rmse": None, "params": 1234, "model_size_mb": None,
                       "ms_per_face": 0.8}
    assert "rmse" not in drop_empty_columns(rows)[0] and "accuracy" in drop_empty_columns(rows)[0]


def test_confusion_difference_golden(two_runs):
    names, difference = confusion_difference(*two_runs)
    assert names == ("a", "b")
    np.testing.assert_allclose(difference, [[-0.3, 0.3], [-0.1, 0.1]])
    _, counts = confusion_difference(*two_runs, normalize=False)
    assert counts.tolist() == [[-3, 3], [-1, 1]]
    np.testing.assert_allclose(normalize_rows([[1, 3], [0, 0]]), [[0.25, 0.75], [0, 0]])


def test_confusion_difference_needs_same_labels(tmp_path, two_runs):
    other = classification_run(tmp_path / "other", [[1, 0], [0, 1]])
    info = json.loads((other / "model_info.json").read_text())
    (other / "model_info.json").write_text(json.dumps({**info, "label_names": ["x", "y"]}))
    with pytest.raises(ValueError, match="label sets differ"):
        confusion_difference(two_runs[0], RunRecord.load(other))
    unfinished = RunRecord.load(write_run(tmp_path / "u", config={}))
    with pytest.raises(ValueError, match="no confusion matrix"):
        confusion_difference(two_runs[0], unfinished)


def test_config_diff(two_runs):
    assert config_diff(two_runs) == [{"key": "learning_rate", "runs/r1": 0.001, "runs/r2": 0.01}]
    full = config_diff(two_runs, only_different=False)
    assert {"key": "extra.note", "runs/r1": "x", "runs/r2": "x"} in full


def test_curves_table_and_per_class(two_runs):
    curves = curves_table(two_runs)
    assert len(curves) == 2 * 2 * 2 * 2  # runs x metrics x splits x epochs
    assert set(curves["metric"]) == {"accuracy", "loss"} and set(curves["split"]) == {"train", "val"}
    val = curves[(curves["run"] == "runs/r1") & (curves["metric"] == "accuracy") & (curves["split"] == "val")]
    assert val["value"].tolist() == [0.4, 0.6]
    rows = per_class_table(two_runs[0].metrics)
    assert rows[0] == {"class": "a", "precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}


def test_most_confident_mistakes_join_the_labels_by_id(two_runs):
    predictions = two_runs[0].predictions()
    assert "label" not in predictions.columns, "run records keep no labels"
    # The dataset in another order, with a sample the run never saw, and t:4 without a usable label.
    labelled = with_true_labels(predictions, ["x:9", "t:3", "t:2", "t:1", "t:0", "t:4"], [0, 1, 1, 0, 0, -1], LABELS)
    assert labelled["id"].tolist() == ["t:0", "t:1", "t:2", "t:3"]
    assert labelled["label"].tolist() == ["a", "a", "b", "b"]
    mistakes = most_confident_mistakes(labelled, count=2)
    assert mistakes["id"].tolist() == ["t:3", "t:1"] and mistakes["label"].tolist() == ["b", "a"]


def test_shipped_models_reads_cards(tmp_path):
    assert shipped_models(tmp_path / "none") == []
    (tmp_path / "emotion.keras").write_bytes(b"x" * 10)
    (tmp_path / "emotion.tflite").write_bytes(b"y")
    (tmp_path / "emotion.json").write_text(json.dumps({"dataset": "fer2013", "metrics": {"accuracy": 0.66}}))
    run = classification_run(tmp_path / "run", [[1, 1], [0, 2]])
    (tmp_path / "keypoints.keras").write_bytes(b"z")
    (tmp_path / "keypoints.model_info.json").write_text(json.dumps({"task": "keypoints", "run": str(run)}))
    (tmp_path / "keypoints.md").write_text("# Model card: keypoints")
    emotion, keypoints = sorted(shipped_models(tmp_path), key=lambda m: m["name"])
    assert emotion["size_bytes"] == 10 and emotion["accuracy"] == 0.66 and emotion["tflite"].name == "emotion.tflite"
    assert emotion["card_markdown"] is None and keypoints["card_markdown"].name == "keypoints.md"
    assert keypoints["accuracy"] == 0.75 and keypoints["tflite"] is None and keypoints["card"]["task"] == "keypoints"
    # ship --runtime int8 names the file inference runs
    (tmp_path / "keypoints_int8.tflite").write_bytes(b"q")
    (tmp_path / "keypoints.model_info.json").write_text(json.dumps({"task": "keypoints",
                                                                    "runtime_tflite": "keypoints_int8.tflite"}))
    keypoints = [m for m in shipped_models(tmp_path) if m["name"] == "keypoints"][0]
    assert keypoints["tflite"].name == "keypoints_int8.tflite"


def test_trained_run_record(trained_run):
    record = RunRecord.load(trained_run)
    assert record.finished and record.model_path is not None and record.model_size_bytes > 10_000
    assert record.params == 58423 and len(record.label_names) == 7
    assert record.confusion_matrix.shape == (7, 7) and record.confusion_matrix.sum() == record.metrics["n"]
    assert len(record.history) == 1 and len(record.predictions()) == record.metrics["n"]
    assert "features" in record.summary_text


def test_runs_module_does_not_import_tensorflow():
    code = ("import sys, fer_core.runs.records, fer_core.app.page_helpers, fer_core.data.sprites, fer_core.app.charts, fer_core.data.projector, "
            "fer_core.runs.jobs, fer_core.inference.embedding; print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_train_command_and_run_dir(tmp_path):
    argv = jobs.train_command("lenet5", "fer2013-sample", tmp_path / "r", epochs=2, limit=64, batch_size=32,
                              python="py")
    assert argv == ["py", "-m", "fer_core", "train", "--model", "lenet5", "--data", "fer2013-sample", "--epochs",
                    "2", "--run-dir", str(tmp_path / "r"), "--limit", "64", "--batch-size", "32"]
    assert jobs.command_text(argv).startswith("python -m fer_core train --model lenet5")
    assert jobs.new_run_dir("ok-1", tmp_path) == tmp_path / "ok-1"
    for bad in ("", "../x", "a/b", "-x"):
        with pytest.raises(RunError, match="run name: letters, digits"):
            jobs.new_run_dir(bad, tmp_path)


def test_start_training_runs_in_background(tmp_path):
    run_dir = tmp_path / "job"
    pid = jobs.start_training([sys.executable, "-c", "print('hello from the job')"], run_dir)
    record = RunRecord.load(run_dir)
    assert record.job["pid"] == pid
    for _ in range(100):
        if not jobs.process_alive(pid):
            break
        time.sleep(0.05)
    assert not jobs.job_running(RunRecord.load(run_dir))
    assert "hello from the job" in jobs.log_tail(run_dir)


def test_keypoint_run_headline_and_comparison(tmp_path, two_runs):
    record = RunRecord.load(write_run(
        tmp_path / "kp", config={"model": "keypoint_cnn", "data": "keypoints", "epochs": 3},
        info={"task": "keypoints", "params": 99}, state={"epoch": 3},
        metrics={"rmse": 2.5, "nme_interocular": 0.07, "n": 10, "per_keypoint": {"nose_tip": 2.0}},
        history="epoch,loss,rmse,val_loss,val_rmse\n1,9,3,8,2.9\n"))
    assert record.task == "keypoints" and record.headline() == {"rmse": 2.5, "nme_interocular": 0.07}
    assert record.confusion_matrix is None and record.label_names == ()
    rows = drop_empty_columns(compare_runs([two_runs[0], record]))
    assert [r["rmse"] for r in rows] == [None, 2.5] and [r["accuracy"] for r in rows] == [0.85, None]
    assert set(curves_table([record])["metric"]) == {"loss", "rmse"}


def test_run_labels(tmp_path):
    from fer_core.runs.records import PROJECT_ROOT, run_label

    assert run_label(tmp_path / "runs" / "x") == "runs/x"
    assert run_label(PROJECT_ROOT / "assets" / "runs" / "y") == "assets/runs/y"


def test_earlier_runs_follow_init_from_back_to_the_first_run(tmp_path):
    first = {"model": "resnet10", "data": "fer2013"}
    second = {**first, "init_from": str(tmp_path / "a" / "model.keras")}
    third = {**first, "init_from": str(tmp_path / "b" / "model.keras")}
    write_run(tmp_path / "a", config=first)
    write_run(tmp_path / "b", config=second)
    assert earlier_runs(third) == [(first, tmp_path / "a"), (second, tmp_path / "b")]
    assert earlier_runs(first) == []
    assert earlier_runs({**first, "init_from": str(tmp_path / "shipped.keras")}) == [], "not a run: no lineage"


def test_earlier_runs_include_teachers_once_each_before_their_students(tmp_path):
    first = {"model": "resnet10", "data": "fer2013"}
    second = {**first, "init_from": str(tmp_path / "a" / "model.keras")}
    write_run(tmp_path / "a", config=first)
    write_run(tmp_path / "b", config=second)
    student = {**first, "init_from": str(tmp_path / "b" / "model.keras"),
               "teachers": [str(tmp_path / "a" / "model.keras"), str(tmp_path / "b" / "model.keras")]}
    assert earlier_runs(student) == [(first, tmp_path / "a"), (second, tmp_path / "b")]
    taught_only = {**first, "teachers": [str(tmp_path / "b" / "model.keras")]}
    assert earlier_runs(taught_only) == [(first, tmp_path / "a"), (second, tmp_path / "b")]
