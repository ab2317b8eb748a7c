"""fer_core.runs.jobs: the dashboard's training jobs. At most FER_MAX_JOBS run at once however the
clicks come, a job is checked before it starts, Stop ends its process group, and a run whose
process is gone is "stopped" and resumed with train --resume. No training runs here: the jobs are
processes that sleep."""

import json
import os
import sys
import threading
import time

import pytest

from fer_core.errors import RunError
from fer_core.runs import jobs
from fer_core.runs.records import RunRecord

# A job's process that sleeps, with a child process (as a training run's helpers would be) whose pid it writes.
SLEEPER = ("import subprocess, sys, time\n"
           "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
           "open(sys.argv[1], 'w').write(str(child.pid))\n"
           "time.sleep(120)\n")
FOUND = {"fer2013-sample": "x", "keypoints": "y"}  # datasets as find_datasets gives them


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """An empty run root for new runs; jobs' processes are killed at the end."""
    root = tmp_path / "runs"
    monkeypatch.setenv("FER_RUN_ROOTS", str(root))
    monkeypatch.delenv("FER_MAX_JOBS", raising=False)
    monkeypatch.setattr("fer_core.data.find_datasets", lambda root=None: FOUND)
    yield root
    for path in root.glob("*/job.json"):
        jobs.stop_job(path.parent, timeout=0)


@pytest.fixture
def sleeping_jobs(monkeypatch):
    """start_job starts a sleeping process instead of ``python -m fer_core train``."""
    monkeypatch.setattr(jobs, "train_command", lambda model, data, run_dir, **_: [
        sys.executable, "-c", SLEEPER, str(run_dir / "child.pid")])


def _start(name, **numbers):
    return jobs.start_job("mini_xception", "fer2013-sample", name, **{"epochs": 3, "limit": 64, **numbers})


def _wait_for(condition, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_clicks_that_come_together_start_one_job(runs, sleeping_jobs, monkeypatch):
    results = []

    def click(i):
        try:
            results.append(_start(f"run-{i}"))
        except RunError as error:
            results.append(error)

    threads = [threading.Thread(target=click, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    started = [r for r in results if not isinstance(r, RunError)]
    refused = [str(r) for r in results if isinstance(r, RunError)]
    assert len(started) == 1 and len(refused) == 3
    assert all("at most 1 at once (FER_MAX_JOBS)" in message for message in refused), refused
    assert jobs.running_jobs() == [started[0][0]]
    assert sorted(p.name for p in runs.iterdir() if p.is_dir()) == [started[0][0].name], "refused runs make no folder"
    monkeypatch.setenv("FER_MAX_JOBS", "2")
    _start("second")
    with pytest.raises(RunError, match="2 training jobs running"):
        _start("third")


def test_stop_ends_the_job_and_its_children_and_the_run_is_then_stopped_and_resumable(runs, monkeypatch):
    run_dir = runs / "r"
    pid = jobs.start_training([sys.executable, "-c", SLEEPER, str(run_dir / "child.pid")], run_dir)
    assert _wait_for(lambda: (run_dir / "child.pid").is_file() and (run_dir / "child.pid").read_text())
    child = int((run_dir / "child.pid").read_text())
    (run_dir / "config.json").write_text(json.dumps({"model": "mini_xception", "data": "fer2013-sample", "epochs": 3}))
    (run_dir / "state.json").write_text(json.dumps({"epoch": 1}))
    record = RunRecord.load(run_dir)
    assert jobs.job_running(record) and record.status == "in progress"
    with pytest.raises(RunError, match="still being trained"):
        jobs.resume_job(run_dir)

    assert jobs.stop_job(run_dir) is True
    assert not jobs.process_alive(pid) and _wait_for(lambda: not jobs.process_alive(child), 5)
    record = RunRecord.load(run_dir)
    assert not jobs.job_running(record) and record.status == "stopped" and record.job["stopped"]
    assert jobs.stop_job(run_dir) is False, "nothing left to stop"

    started = []
    monkeypatch.setattr(jobs, "start_training", lambda argv, folder: started.append((argv, folder)) or 4243)
    argv, new_pid = jobs.resume_job(run_dir)
    assert new_pid == 4243 and started == [(argv, run_dir)]
    assert argv[1:] == ["-m", "fer_core", "train", "--model", "mini_xception", "--data", "fer2013-sample",
                        "--epochs", "3", "--run-dir", str(run_dir), "--resume"]


def test_a_finished_run_is_not_stopped_and_cannot_be_resumed(runs):
    run_dir = runs / "done"
    run_dir.mkdir(parents=True)
    (run_dir / "job.json").write_text(json.dumps({"pid": 2 ** 22 + 1, "argv": []}))  # a pid that is not there
    (run_dir / "metrics.json").write_text(json.dumps({"accuracy": 0.5}))
    assert RunRecord.load(run_dir).status == "finished"
    with pytest.raises(RunError, match="is finished"):
        jobs.resume_job(run_dir)


@pytest.mark.parametrize("model, data, numbers, message", [
    ("nonet", "fer2013-sample", {}, "unknown model 'nonet'"),
    ("mini_xception", "fer2013", {}, "dataset 'fer2013' is not found under FER_DATA_DIR"),
    ("keypoint_cnn", "fer2013-sample", {}, "keypoint_cnn is a keypoints model but fer2013-sample is a classification"),
    ("mini_xception", "keypoints", {}, "is a classification model but keypoints is a keypoints dataset"),
    ("mini_xception", "fer2013-sample", {"epochs": 500}, "epochs 500: a whole number from 1 to 100"),
    ("mini_xception", "fer2013-sample", {"limit": 1_000_000}, "limit 1000000: a whole number from 0 to 30,000"),
    ("mini_xception", "fer2013-sample", {"batch_size": 4}, "batch size 4: a whole number from 8 to 512"),
    ("mini_xception", "fer2013-sample", {"epochs": 2.5}, "epochs 2.5"),
])
def test_a_job_that_cannot_run_is_refused_before_it_starts(runs, model, data, numbers, message):
    numbers = {"epochs": 3, "limit": 64, "batch_size": 64, **numbers}
    with pytest.raises(RunError, match=message):
        jobs.start_job(model, data, "refused", **numbers)
    assert not runs.exists() or not any(runs.iterdir())


def test_the_tasks_of_models_agree_with_the_zoo():
    from fer_core.config import MODEL_NAMES
    from fer_core.training.zoo import model_task

    for model in MODEL_NAMES:
        data = "keypoints" if model_task(model) == "keypoints" else "fer2013-sample"
        jobs.check_job(model, data, 1, 0, 64, datasets=FOUND)


def test_a_process_that_fails_at_once_is_an_error_not_a_start(runs, monkeypatch):
    monkeypatch.setattr(jobs, "train_command", lambda *a, **k: [
        sys.executable, "-c", "import sys; print('loading'); sys.exit('error: dataset is broken')"])
    with pytest.raises(RunError, match="ended at once: error: dataset is broken"):
        _start("broken")
    assert not (runs / "broken").exists(), "the name stays free"


def test_fer_max_jobs(runs, sleeping_jobs, monkeypatch):
    monkeypatch.setenv("FER_MAX_JOBS", "0")
    with pytest.raises(RunError, match="training from the dashboard is off"):
        _start("off")
    monkeypatch.setenv("FER_MAX_JOBS", "two")
    with pytest.raises(RunError, match="FER_MAX_JOBS='two': expected a whole number"):
        _start("bad")


def test_a_job_is_not_alive_when_its_pid_belongs_to_a_later_process():
    me = {"pid": os.getpid(), "start_ticks": jobs._start_ticks(os.getpid())}
    assert jobs.job_alive(me)
    assert not jobs.job_alive({**me, "start_ticks": me["start_ticks"] - 1})
    assert not jobs.job_alive({}) and not jobs.job_alive({"pid": None})


def test_a_job_that_fails_after_it_has_started_is_a_failed_run_with_its_error(runs, monkeypatch):
    """A failure after the startup window (keypoint_cnn on fer2013 used to die in 5 s, its error only in
    train.log, before config.json): the run is listed, failed, with the error, and the model it was."""
    from fer_core.runs.records import find_runs

    script = ("import sys, time; print('loading the dataset'); time.sleep(2.5); "
              "sys.exit('error: fer2013: no keypoints in this dataset')")
    monkeypatch.setattr(jobs, "train_command", lambda model, data, run_dir, **_: [
        sys.executable, "-c", script, "--model", model, "--data", data, "--run-dir", str(run_dir)])
    run_dir, _, pid = _start("late")
    assert RunRecord.load(run_dir).status == "starting"
    assert _wait_for(lambda: "exit_code" in json.loads((run_dir / "job.json").read_text()), 30)
    assert not jobs.process_alive(pid) and json.loads((run_dir / "job.json").read_text())["exit_code"] == 1
    assert find_runs() == [run_dir], "a run that failed before config.json is still listed"
    record = RunRecord.load(run_dir)
    assert record.status == "failed" and record.error == "error: fer2013: no keypoints in this dataset"
    assert (record.model_name, record.dataset_name) == ("mini_xception", "fer2013-sample")


@pytest.mark.parametrize("job, log, error", [
    ({"exit_code": 2}, "loading\nerror: dataset is broken\n", "error: dataset is broken"),
    ({"exit_code": 1}, "Traceback (most recent call last):\n  File x\nValueError: bad shape\n", "ValueError: bad shape"),
    ({}, "python -m fer_core train: error: argument --epochs: invalid int value\n",
     "error: argument --epochs: invalid int value"),  # the dashboard was restarted: train.log decides
    ({"exit_code": -9}, "epoch 3\n", "ended by signal 9"),  # killed (out of memory)
    ({"exit_code": 130}, "interrupted\n", None),  # SIGTERM from outside: stopped, resumable
    ({}, "epoch 3\n", None),  # gone without a word while nobody watched: stopped
    ({"exit_code": 2, "stopped": 1.0}, "error: x\n", None),  # Stop on the page
    ({"exit_code": 0}, "error: a warning that looked like one\n", None),
])
def test_why_a_job_failed(tmp_path, job, log, error):
    (tmp_path / "train.log").write_text(log)
    job = {"pid": 2 ** 22 + 1, "argv": [], **job}  # a pid that is not there
    (tmp_path / "job.json").write_text(json.dumps(job))
    assert jobs.job_error(tmp_path) == error
    (tmp_path / "config.json").write_text(json.dumps({"model": "lenet5", "data": "ckplus48", "epochs": 2}))
    assert RunRecord.load(tmp_path).status == ("failed" if error else "stopped")
