"""The Training runs page (Streamlit's AppTest). Its jobs: bounded form numbers, a refused start shown as an
error, a new run followed and its late failure shown with the error, Stop for a running job and Resume for a
stopped one (run records are written here, no training runs). Its views of committed run records: a
confusion-matrix cell's faces (picked, or clicked on the matrix), calibration, n/a for a class absent from the
test split, a keypoint run's curves in pixels on a log scale and its worst faces."""

import json
import sys
import time

import pytest

from fer_core.runs import jobs
from tests.pages.test_app_pages import (
    RUNS, chart_spec, committed_runs, ok, open_page, open_runs_tab, pick_run, plotly_keys, table_with, texts as shown,
)


@pytest.fixture
def runs(monkeypatch, tmp_path, data_root):
    """Real data, an empty run root, no shipped models; the jobs' processes are killed at the end."""
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("FER_DATA_DIR", str(data_root))
    monkeypatch.setenv("FER_RUN_ROOTS", str(root))
    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path / "no-models"))
    monkeypatch.delenv("FER_MAX_JOBS", raising=False)
    yield root
    for path in root.glob("*/job.json"):
        jobs.stop_job(path.parent, timeout=0)


def unfinished_run(folder, epochs_done=1):
    """A run record of a run started from the dashboard that has not finished (no metrics.json)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model": "mini_xception", "data": "fer2013-sample", "epochs": 3}))
    (folder / "state.json").write_text(json.dumps({"epoch": epochs_done}))
    (folder / "history.csv").write_text("epoch,loss,val_loss\n1,2.0,2.1\n")
    return folder


def open_runs_page(run=None):
    at = open_page(RUNS)
    return pick_run(at, run) if run else at


def start_button(at):
    return next(b for b in at.button if "Start training" in b.label)


def test_the_form_is_bounded_and_a_job_that_cannot_run_is_not_started(runs, monkeypatch):
    started = []
    monkeypatch.setattr(jobs, "start_training", lambda argv, run_dir: started.append(argv) or 4242)
    at = open_runs_tab(open_runs_page(), "Start a new run")
    assert [(at.number_input(key=k).min, at.number_input(key=k).max) for k in ("new_epochs", "new_limit",
                                                                                "new_batch_size")] == [
        jobs.LIMITS["epochs"], jobs.LIMITS["limit"], jobs.LIMITS["batch_size"]]
    at.selectbox(key="new_model").set_value("keypoint_cnn")
    at.selectbox(key="new_data").set_value("fer2013-sample")
    start_button(at).click()
    at.run()
    assert "keypoint_cnn is a keypoints model but fer2013-sample is a classification dataset" in shown(at)
    assert "Started" not in shown(at) and not started and not any(runs.iterdir())
    assert at.session_state["runs_tab"] == "Start a new run"
    monkeypatch.setenv("FER_MAX_JOBS", "0")
    at.selectbox(key="new_model").set_value("mini_xception")
    start_button(at).click()
    at.run()
    assert "training from the dashboard is off" in shown(at) and not started


def test_a_new_run_is_followed_and_its_late_failure_shown_with_the_error(runs, monkeypatch):
    """A process that fails after the startup window: the page shows the new run at once, then its error."""
    go = runs / "go"  # the process fails once the test has seen it running, however slow the machine
    script = (f"import os, sys, time; print('loading')\nwhile not os.path.exists({str(go)!r}): time.sleep(0.05)\n"
              "sys.exit('error: the dataset is broken')")
    monkeypatch.setattr(jobs, "train_command", lambda model, data, run_dir, epochs=1, **_: [
        sys.executable, "-c", script, "--model", model, "--data", data, "--epochs", str(epochs), "--run-dir",
        str(run_dir)])
    at = open_runs_tab(open_runs_page(), "Start a new run")
    assert "The defaults are a **smoke test**: 3 epochs on 256 samples per split" in shown(at)
    at.selectbox(key="new_data").set_value("fer2013-sample")
    at.text_input(key="new_name").set_value("late")
    start_button(at).click()
    ok(at)
    assert at.session_state["runs_tab"] == "Run record" and at.selectbox(key="run").value == "runs/late"
    assert "Started (process" in shown(at) and "starting: epoch 0 of 3" in str(at.get("progress")[0].proto)
    go.touch()
    deadline = time.time() + 30
    while "exit_code" not in json.loads((runs / "late" / "job.json").read_text()) and time.time() < deadline:
        time.sleep(0.1)
    ok(at)
    assert "failed: epoch 0 of 3" in str(at.get("progress")[0].proto)
    assert "The training process failed: error: the dataset is broken" in [e.value for e in at.error]
    assert "Started" not in shown(at)


def test_a_running_job_can_be_stopped(runs):
    run_dir = unfinished_run(runs / "running")
    pid = jobs.start_training([sys.executable, "-c", "import time; time.sleep(120)"], run_dir)
    at = open_runs_page("running")
    assert "in progress: epoch 1 of 3 (process running)" in str(at.get("progress")[0].proto)
    assert [b.label for b in at.button if b.label in ("Stop", "Resume")] == ["Stop"]
    next(b for b in at.button if b.label == "Stop").click()
    at.run()
    assert "Stopped. Resume goes on from the last finished epoch." in shown(at)
    assert not jobs.process_alive(pid)


def test_a_stopped_run_shows_as_stopped_and_can_be_resumed(runs, monkeypatch):
    run_dir = unfinished_run(runs / "died")
    (run_dir / "job.json").write_text(json.dumps({"pid": 2 ** 22 + 1, "argv": []}))  # its process is gone
    started = []
    monkeypatch.setattr(jobs, "start_training", lambda argv, folder: started.append((argv, folder)) or 4244)
    at = open_runs_page("died")
    assert "stopped: epoch 1 of 3" in str(at.get("progress")[0].proto)
    assert "The training process has ended before the run finished" in shown(at)
    next(b for b in at.button if b.label == "Resume").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    [(argv, folder)] = started
    assert folder == run_dir and argv[-1] == "--resume" and argv[argv.index("--run-dir") + 1] == str(run_dir)
    assert "Resumed (process 4244)" in shown(at)


@pytest.fixture
def committed(monkeypatch, tmp_path, data_root):
    """Copies of committed run records (without weights) as the only run root, real data."""
    root = committed_runs(tmp_path / "runs", "lenet5-ckplus48", "keypoint_cnn-keypoints")
    monkeypatch.setenv("FER_DATA_DIR", str(data_root))
    monkeypatch.setenv("FER_RUN_ROOTS", str(root))
    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path / "no-models"))
    return root


def test_a_confusion_cells_faces_calibration_and_a_class_absent_from_the_test_split(committed):
    from fer_core.app.run_views import score_text
    from fer_core.data import load_dataset
    from fer_core.runs.inspection import confusion_cell, prediction_calibration
    from fer_core.runs.records import RunRecord, with_true_labels

    record = RunRecord.load(committed / "lenet5-ckplus48")
    dataset = load_dataset("ckplus48")
    labelled = with_true_labels(record.predictions(), dataset.ids, dataset.labels, dataset.label_names)
    at = open_runs_page("lenet5-ckplus48")
    per_class = table_with(at, "precision").set_index("class")
    assert per_class.loc["contempt"].tolist() == ["n/a", "n/a", "n/a", "0"]  # no contempt face in this fold
    assert per_class.loc["happy", "recall"] == "100.00%"
    assert [(m.label, m.value) for m in at.metric] == [("test accuracy", "68.38%"), ("test macro-F1", "57.24%")]

    def cell_ids():
        return table_with(at, "#")["id"].tolist()

    # First the most confused pair; then any cell picked beside the matrix, or clicked on it.
    assert (at.selectbox(key="cell_true").value, at.selectbox(key="cell_predicted").value) == ("anger", "sadness")
    assert cell_ids() == confusion_cell(labelled, "anger", "sadness")["id"].tolist() and cell_ids()
    at.selectbox(key="cell_true").set_value("happy")
    at.selectbox(key="cell_predicted").set_value("happy")
    ok(at)
    happy = confusion_cell(labelled, "happy", "happy")
    assert cell_ids() == happy["id"].tolist() and len(happy) == 24  # golden: happy's support, recall 100%
    assert table_with(at, "#")["confidence"].tolist() == [score_text(c) for c in happy["confidence"]]
    # A click on the matrix selects the invisible marker of a cell: x its predicted class, y its true class.
    at.session_state["confusion"] = {"selection": {"points": [{"x": "fear", "y": "disgust"}], "point_indices": [17],
                                                   "box": [], "lasso": []}}
    ok(at)
    assert (at.selectbox(key="cell_true").value, at.selectbox(key="cell_predicted").value) == ("disgust", "fear")
    assert cell_ids() == confusion_cell(labelled, "disgust", "fear")["id"].tolist() and len(cell_ids()) == 5
    frame = chart_spec(at, "confusion")["layout"]["shapes"][0]
    assert (frame["x0"], frame["y0"]) == (2.5, 1.5)  # the clicked cell is framed: column fear, row disgust
    at.selectbox(key="cell_predicted").set_value("surprise")  # the pickers still work after a click
    ok(at)
    assert "No disgust face of the test split was called surprise." in shown(at)

    own = prediction_calibration(labelled)
    assert f"calibration error (ECE, 15 bins) of the model's own probabilities: {score_text(own['ece'])}" in shown(at)
    assert "keeps no model.keras" in shown(at) and {"reliability", "confidence_histogram"} <= set(plotly_keys(at))
    histogram = chart_spec(at, "confidence_histogram")
    right = int((labelled["label"] == labelled["predicted"]).sum())
    assert [t["name"] for t in histogram["data"]] == [f"right ({right})", f"wrong ({len(labelled) - right})"]
    assert [m.value.splitlines()[0] for m in at.expander[0].markdown] == ["### Model card: lenet5-ckplus48"]


def test_a_keypoint_runs_curves_in_pixels_and_its_worst_faces(committed):
    import pandas as pd

    at = open_runs_page("keypoint_cnn-keypoints")
    assert [(m.label, m.value) for m in at.metric] == [("test RMSE", "1.827 px"), ("test NME (inter-ocular)", "8.45%")]
    assert at.toggle(key="log_scale_keypoints").value is True  # on by default for keypoints
    rmse = chart_spec(at, "curve_rmse")["layout"]["yaxis"]
    assert rmse["title"]["text"] == "RMSE (px), log scale" and rmse["type"] == "log"
    assert chart_spec(at, "curve_loss")["layout"]["yaxis"]["title"]["text"] == "loss: MSE (px²), log scale"
    at.toggle(key="log_scale_keypoints").set_value(False)
    ok(at)
    assert chart_spec(at, "curve_rmse")["layout"]["yaxis"]["type"] == "linear"
    per_keypoint = table_with(at, "keypoint")
    assert len(per_keypoint) == 15 and per_keypoint["RMSE"][0] == "2.321 px"  # the worst keypoint first
    predictions = pd.read_csv(committed / "keypoint_cnn-keypoints" / "predictions.csv")
    worst = predictions.sort_values("rmse_px", ascending=False)
    table = table_with(at, "#")
    assert table["id"].tolist() == worst["id"].head(16).tolist()
    assert table["RMSE"][0] == f"{worst['rmse_px'].iloc[0]:.2f} px"
    [sheet] = at.get("image")
    assert "green: true points" in str(sheet.proto)
