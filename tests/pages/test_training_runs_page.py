"""The Training runs page's jobs (Streamlit's AppTest): bounded form numbers, a refused start shown as an
error, Stop for a running job and Resume for a stopped one. Run records are written here, no training runs."""

import json
import sys

import pytest

from fer_core.runs import jobs
from tests.pages.test_app_pages import RUNS, open_page, pick_run, texts as shown


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


def test_the_form_is_bounded_and_a_job_that_cannot_run_is_not_started(runs, monkeypatch):
    started = []
    monkeypatch.setattr(jobs, "start_training", lambda argv, run_dir: started.append(argv) or 4242)
    at = open_runs_page()
    assert [(at.number_input(key=k).min, at.number_input(key=k).max) for k in ("new_epochs", "new_limit",
                                                                                "new_batch_size")] == [
        jobs.LIMITS["epochs"], jobs.LIMITS["limit"], jobs.LIMITS["batch_size"]]
    at.selectbox(key="new_model").set_value("keypoint_cnn")
    at.selectbox(key="new_data").set_value("fer2013-sample")
    next(b for b in at.button if "Start training" in b.label).click()
    at.run()
    assert "keypoint_cnn is a keypoints model but fer2013-sample is a classification dataset" in shown(at)
    assert "Started" not in shown(at) and not started
    monkeypatch.setenv("FER_MAX_JOBS", "0")
    at.selectbox(key="new_model").set_value("mini_xception")
    next(b for b in at.button if "Start training" in b.label).click()
    at.run()
    assert "training from the dashboard is off" in shown(at) and not started


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
