"""train --strategy multi-worker: MultiWorkerMirroredStrategy over the cluster in TF_CONFIG.

Two worker processes on this machine (loopback ports) train one short run together; the chief
(worker 0) writes a run record of the same shape as a one-process run's.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fer_core.errors import RunError
from fer_core.training.loop import multi_worker_role

ROOT = Path(__file__).resolve().parents[2]
RUN_FILES = {"config.json", "state.json", "history.csv", "model.keras", "model_info.json", "metrics.json",
             "predictions.csv", "summary.txt", "tensorboard", "checkpoints"}


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_config(ports, index, task="worker"):
    return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": task, "index": index}})


def test_the_chief_is_worker_0_or_the_chief_task():
    assert multi_worker_role({"TF_CONFIG": tf_config([1, 2], 0)}) == ("worker", 0, True)
    assert multi_worker_role({"TF_CONFIG": tf_config([1, 2], 1)}) == ("worker", 1, False)
    with_chief = json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "worker", "index": 0}})
    assert multi_worker_role({"TF_CONFIG": with_chief})[2] is False
    with pytest.raises(RunError, match="needs TF_CONFIG"):
        multi_worker_role({})
    with pytest.raises(RunError, match="does not describe"):
        multi_worker_role({"TF_CONFIG": tf_config([1], 3)})


def test_two_workers_write_one_run_record_shaped_like_a_one_worker_run(tmp_path, data_root):
    from fer_core.runs.recording import train_run
    from fer_core.training.loop import TrainConfig

    args = ["--model", "mini_xception", "--data", "fer2013-sample", "--epochs", "2", "--limit", "64"]
    ports = free_ports(2)
    workers = [subprocess.Popen([sys.executable, "-m", "fer_core", "train", "--strategy", "multi-worker", *args,
                                 "--run-dir", str(tmp_path / "together")], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "TF_CONFIG": tf_config(ports, i), "PYTHONPATH": str(ROOT)})
               for i in range(2)]
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    train_run(TrainConfig(model="mini_xception", data="fer2013-sample", epochs=2, limit=64), tmp_path / "alone",
              verbose=0)

    together, alone = tmp_path / "together", tmp_path / "alone"
    assert RUN_FILES <= {p.name for p in together.iterdir()}
    assert {p.name for p in together.iterdir()} == {p.name for p in alone.iterdir()}
    history = [(together / "history.csv").read_text().splitlines(), (alone / "history.csv").read_text().splitlines()]
    assert history[0][0] == history[1][0] and len(history[0]) == len(history[1]) == 3
    metrics = [json.loads((folder / "metrics.json").read_text()) for folder in (together, alone)]
    assert set(metrics[0]) == set(metrics[1]) and metrics[0]["n"] == metrics[1]["n"] == 64
    assert json.loads((together / "config.json").read_text())["strategy"] == "multi-worker"
    assert json.loads(outputs[0].strip().splitlines()[-1])["n"] == 64  # the chief reports the test figures
