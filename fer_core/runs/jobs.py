"""Training runs started from the dashboard: ``python -m fer_core train ...`` in the background.

The process runs in its own session (``start_new_session``), so it outlives a
Streamlit rerun and is not killed with the page. It writes a normal run record;
``job.json`` beside it records the command and the process id, and ``train.log``
its output. Progress is read from the run record (state.json / history.csv).
"""

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from fer_core.config import PROJECT_ROOT, run_roots

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def train_command(model, data, run_dir, epochs=30, limit=0, batch_size=None, python=None, extra=()):
    """The argv of a training run.

    Arguments:
        model: zoo model name.
        data: dataset name.
        run_dir: the run record folder.
        epochs: epochs.
        limit: samples per split (0 = all).
        batch_size: batch size (None = the default).
        python: interpreter (default: this one).
        extra: more command-line options, as strings.

    Returns:
        list of strings.
    """
    argv = [python or sys.executable, "-m", "fer_core", "train", "--model", model, "--data", data,
            "--epochs", str(int(epochs)), "--run-dir", str(run_dir)]
    if limit:
        argv += ["--limit", str(int(limit))]
    if batch_size:
        argv += ["--batch-size", str(int(batch_size))]
    return argv + [str(e) for e in extra]


def command_text(argv):
    """The argv as one shell line, ``python -m fer_core ...`` (the interpreter shortened to python)."""
    return shlex.join(["python"] + list(argv[1:]))


def new_run_dir(name, root=None):
    """The folder for a new run called ``name`` under ``runs/`` (the last run root).

    Raises:
        ValueError: the name is not a plain folder name, or that run exists already.
    """
    if not SAFE_NAME.match(name or ""):
        raise ValueError("run name: letters, digits, '.', '_' and '-' only (at most 80)")
    root = Path(root) if root is not None else run_roots()[-1]
    path = root / name
    if path.exists() and any(path.iterdir()):
        raise ValueError(f"{path} already exists; choose another run name")
    return path


def start_training(argv, run_dir, env=None):
    """Starts a training process in the background.

    Arguments:
        argv: the command (see ``train_command``).
        run_dir: its run record folder (job.json and train.log go there).
        env: environment (default: this process's).

    Returns:
        the process id.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "train.log", "ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=env, cwd=PROJECT_ROOT)
    job = {"pid": process.pid, "argv": list(argv), "started": time.time()}
    (run_dir / "job.json").write_text(json.dumps(job, indent=2) + "\n", encoding="utf-8")
    return process.pid


def process_alive(pid):
    """True while the process exists and is not a zombie."""
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    try:
        status = Path(f"/proc/{int(pid)}/stat").read_text().split(")")[-1].split()[0]
        return status != "Z"
    except (OSError, IndexError):
        return True


def job_running(record):
    """True when the run was started from the dashboard and its process is still alive."""
    return bool(record.job) and process_alive(record.job.get("pid"))


def log_tail(run_dir, lines=15):
    """The last lines of train.log ("" when there is none)."""
    try:
        text = (Path(run_dir) / "train.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])
