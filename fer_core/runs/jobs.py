"""Training runs started from the dashboard: ``python -m fer_core train ...`` in the background.

The process runs in its own session (``start_new_session``), so it outlives a Streamlit rerun and
is not killed with the page; it leads its own process group, which ``stop_job`` terminates. It
writes a normal run record; ``job.json`` beside it records the command, the process id and the
process's start time, and ``train.log`` its output. Progress is read from the run record
(state.json / history.csv); a run whose process is gone before it finished is ``stopped``, and
``resume_job`` starts ``train --resume`` for it. A process that ended with an error (its exit status,
recorded in job.json by a thread of the dashboard that started it, or else train.log's last error
line) makes the run ``failed``, with that error (``job_error``).

At most ``config.max_jobs()`` jobs (``FER_MAX_JOBS``, default 1) run at once: a job is counted and
started under one lock, so that clicks that come together cannot start more. A job is checked
before it starts (``check_job``: model, dataset, their tasks, numbers within ``LIMITS``), and a
process that fails at once is reported as an error, not as started.
"""

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from fer_core.config import CLASSIFICATION, KEYPOINTS, MODEL_NAMES, PROJECT_ROOT, max_jobs, run_roots
from fer_core.errors import RunError, printable
from fer_core.storage import LockHeldError, exclusive_lock, write_json_atomic

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
# What a dashboard job may ask for, (least, most): a CPU trains a FER2013 epoch in minutes, so a
# hundred epochs is a day's work; a split never has more than 30,000 samples here (0 = all of it).
LIMITS = {"epochs": (1, 100), "limit": (0, 30_000), "batch_size": (8, 512)}
# The named datasets whose samples are keypoints (fer_core.data.registry); the others are classifications.
KEYPOINT_DATASETS = ("keypoints", "facial_keypoints")
# How long a new job is watched for a failure at once (a bad option, a crash on import).
STARTUP_SECONDS = 2.0
# How long a stopped job has to end after SIGTERM before its process group is killed.
STOP_SECONDS = 10.0
JOBS_LOCK = ".jobs.lock"
# A line of train.log that says why the process failed: the CLI's "error: ..." (its own and argparse's
# "python -m fer_core train: error: ...") or the last line of a traceback ("ValueError: ...").
ERROR_LINE = re.compile(r"(?:^|: )error: .+|^[A-Za-z_][\w.]*(?:Error|Exception): .+")
INTERRUPTED = 130  # train's exit status on SIGTERM or Ctrl-C: stopped, not failed

_starting = threading.Lock()  # the dashboard's sessions are threads of one process
_job_files = threading.Lock()  # job.json is rewritten by Stop and by the thread that sees its process end


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
        RunError: the name is not a plain folder name, or that run exists already.
    """
    if not SAFE_NAME.match(name or ""):
        raise RunError("run name: letters, digits, '.', '_' and '-' only (at most 80)")
    root = Path(root) if root is not None else run_roots()[-1]
    path = root / name
    if path.exists() and any(path.iterdir()):
        raise RunError(f"{path} already exists; choose another run name")
    return path


def check_job(model, data, epochs, limit, batch_size, datasets=None):
    """Checks what a dashboard job asks for, before anything starts.

    Arguments:
        model: zoo model name.
        data: dataset name.
        epochs, limit, batch_size: the numbers, within ``LIMITS``.
        datasets: the datasets that can be trained on (default: those found under FER_DATA_DIR).

    Raises:
        RunError: an unknown model, a dataset not found, a keypoint model with a classification
            dataset (or the other way round), or a number out of bounds.
    """
    if model not in MODEL_NAMES:
        raise RunError(f"unknown model {printable(model)!r}; choose one of {', '.join(MODEL_NAMES)}")
    if datasets is None:
        from fer_core.data import find_datasets

        datasets = find_datasets()
    if data not in datasets:
        raise RunError(f"dataset {printable(data)!r} is not found under FER_DATA_DIR; found: "
                       f"{', '.join(datasets) or 'none'}")
    model_task = KEYPOINTS if model.startswith("keypoint") else CLASSIFICATION
    data_task = KEYPOINTS if data in KEYPOINT_DATASETS else CLASSIFICATION
    if model_task != data_task:
        raise RunError(f"{model} is a {model_task} model but {data} is a {data_task} dataset")
    for name, value in (("epochs", epochs), ("limit", limit), ("batch_size", batch_size)):
        least, most = LIMITS[name]
        if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
            raise RunError(f"{name.replace('_', ' ')} {value!r}: a whole number from {least:,} to {most:,}")


def start_job(model, data, name, epochs=3, limit=0, batch_size=64, root=None):
    """Checks and starts a new training run in the background, if a job slot is free.

    Arguments:
        model, data: zoo model and dataset names.
        name: the run's folder name under ``root``.
        epochs, limit, batch_size: as for ``train_command``, within ``LIMITS``.
        root: where the run goes (default: the last run root, ``runs/``).

    Returns:
        (run_dir, argv, pid).

    Raises:
        RunError: see ``check_job``, ``new_run_dir``; ``max_jobs()`` jobs are running already;
            the process failed at once.
    """
    check_job(model, data, epochs, limit, batch_size)
    with _job_slot(root):
        run_dir = new_run_dir(name, root)
        argv = train_command(model, data, run_dir, epochs=epochs, limit=limit, batch_size=batch_size)
        try:
            return run_dir, argv, start_training(argv, run_dir)
        except RunError:
            if not (run_dir / "config.json").exists():  # not a run yet: the name stays free
                shutil.rmtree(run_dir, ignore_errors=True)
            raise


def resume_command(run_dir, python=None):
    """The argv that resumes a run (``train --resume``) from its config.json.

    Raises:
        RunError: the folder holds no config.json.
    """
    config = _read_json(Path(run_dir) / "config.json")
    if not config or not config.get("model") or not config.get("data"):
        raise RunError(f"{run_dir}: nothing to resume (no config.json)")
    return train_command(config["model"], config["data"], run_dir, epochs=config.get("epochs") or 1,
                         python=python, extra=["--resume"])


def resume_job(run_dir, root=None):
    """Starts ``train --resume`` for a stopped run, if a job slot is free (its output goes on in train.log).

    Arguments:
        run_dir: the run record folder.
        root: the folder whose jobs lock is used (default: the last run root).

    Returns:
        (argv, pid).

    Raises:
        RunError: the run is finished or still running, has no config.json, ``max_jobs()`` jobs are
            running already, or the process failed at once.
    """
    run_dir = Path(run_dir)
    if (run_dir / "metrics.json").exists():
        raise RunError(f"{run_dir} is finished; there is nothing to resume")
    if job_alive(_read_json(run_dir / "job.json") or {}):
        raise RunError(f"{run_dir} is still being trained")
    argv = resume_command(run_dir)
    with _job_slot(root):
        return argv, start_training(argv, run_dir)


def running_jobs(roots=None):
    """The run folders (under the run roots, two levels deep) whose dashboard job is running."""
    found = []
    for root in (run_roots() if roots is None else roots):
        for path in sorted(Path(root).glob("*/job.json")) + sorted(Path(root).glob("*/*/job.json")):
            if job_alive(_read_json(path) or {}):
                found.append(path.parent)
    return found


@contextlib.contextmanager
def _job_slot(root=None):
    """Holds the right to start one job: raises RunError when ``max_jobs()`` are running or another is starting."""
    limit = max_jobs()
    if limit == 0:
        raise RunError("training from the dashboard is off (FER_MAX_JOBS=0); use python -m fer_core train")
    root = Path(root) if root is not None else run_roots()[-1]
    if not _starting.acquire(timeout=STARTUP_SECONDS + 5):
        raise RunError("another training job is being started; try again in a moment")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(root / JOBS_LOCK):
            running = running_jobs(list(dict.fromkeys([*run_roots(), root])))
            if len(running) >= limit:
                names = ", ".join(p.name for p in running)
                raise RunError(f"{len(running)} training job{'s' if len(running) > 1 else ''} running ({names}); "
                               f"at most {limit} at once (FER_MAX_JOBS): stop one or wait for it to finish")
            yield
    except LockHeldError:
        raise RunError("another training job is being started; try again in a moment") from None
    except OSError as error:
        raise RunError(f"{root}: cannot start a job there ({error.strerror or error})") from None
    finally:
        _starting.release()


def start_training(argv, run_dir, env=None):
    """Starts a training process in the background.

    Arguments:
        argv: the command (see ``train_command``).
        run_dir: its run record folder (job.json and train.log go there).
        env: environment (default: this process's).

    Returns:
        the process id.

    Raises:
        RunError: the process cannot be started, or it ended with an error within ``STARTUP_SECONDS``
            (its last line of output says why).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with open(run_dir / "train.log", "ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True, env=env, cwd=PROJECT_ROOT)
    except OSError as error:
        raise RunError(f"cannot start {command_text(argv)} ({error.strerror or error})") from None
    job = {"pid": process.pid, "start_ticks": _start_ticks(process.pid), "argv": list(argv), "started": time.time()}
    (run_dir / "job.json").write_text(json.dumps(job, indent=2) + "\n", encoding="utf-8")
    try:
        code = process.wait(STARTUP_SECONDS)
    except subprocess.TimeoutExpired:
        threading.Thread(target=_record_exit, args=(process, run_dir), daemon=True,
                         name=f"job-{process.pid}").start()
        return process.pid
    if code:
        last = (log_tail(run_dir, 1) or f"exit status {code}").strip()
        raise RunError(f"the training process ended at once: {printable(last)}")
    return process.pid


def _record_exit(process, run_dir):
    """Waits for a job's process and records its exit status in job.json (``exit_code``, ``ended``)."""
    code = process.wait()
    with _job_files:
        path = Path(run_dir) / "job.json"
        job = _read_json(path) or {}
        if job.get("pid") == process.pid:
            job.update(exit_code=code, ended=time.time())
            write_json_atomic(path, job)


def error_line(log):
    """The last line of a log that says why a command failed (``ERROR_LINE``), or None."""
    for line in reversed(log.splitlines()):
        found = ERROR_LINE.search(line.strip())
        if found:
            return found.group(0).removeprefix(": ")
    return None


def job_error(run_dir, job=None):
    """Why a dashboard job's process failed, or None: still running, stopped (from the page, or
    interrupted), ended well, or no job.

    The exit status recorded in job.json decides when the dashboard saw the process end; where it
    did not (it was restarted meanwhile), an error line in train.log does.

    Arguments:
        run_dir: the run record folder.
        job: its job.json as a dict (default: read here).

    Returns:
        str: train.log's error line, else "exit status N" or "ended by signal N"; or None.
    """
    job = _read_json(Path(run_dir) / "job.json") or {} if job is None else job
    code = job.get("exit_code")
    if not job or job.get("stopped") or code in (0, INTERRUPTED) or job_alive(job):
        return None
    line = error_line(log_tail(run_dir, 40))
    if line is None and code is None:
        return None  # ended without a word (killed from outside while the dashboard was not watching)
    if line is None:
        line = f"ended by signal {-code}" if code < 0 else f"exit status {code}"
    return printable(line)


def _start_ticks(pid):
    """When a process started (clock ticks since boot, /proc/PID/stat), or None where /proc is not there."""
    try:
        return int(Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[-1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


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


def job_alive(job):
    """True while the process of a job.json is running: its pid is alive and, where job.json
    recorded it, started when the job did (not a later process that got the same pid)."""
    if not job or not process_alive(job.get("pid")):
        return False
    recorded = job.get("start_ticks")
    return recorded is None or _start_ticks(job["pid"]) in (None, recorded)


def job_running(record):
    """True when the run was started from the dashboard and its process is still alive."""
    return bool(record.job) and job_alive(record.job)


def stop_job(run_dir, timeout=STOP_SECONDS):
    """Stops a dashboard job: SIGTERM to its process group, SIGKILL to what is left after ``timeout``.

    ``train`` ends on SIGTERM as on Ctrl-C; state.json keeps the last finished epoch, so the run
    can be resumed (``resume_job``). job.json records when it was stopped.

    Arguments:
        run_dir: the run record folder.
        timeout: seconds the process has to end after SIGTERM.

    Returns:
        True if a running job was stopped, False if none was running.

    Raises:
        RunError: the process cannot be signalled (another user's), or no longer leads its process group.
    """
    path = Path(run_dir) / "job.json"
    job = _read_json(path) or {}
    if not job_alive(job):
        return False
    pid = int(job["pid"])
    try:
        if os.getpgid(pid) != pid:
            raise RunError(f"process {pid} of {run_dir} no longer leads its process group; stop it by hand")
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # whatever of the group is left
    except ProcessLookupError:
        pass
    except PermissionError:
        raise RunError(f"process {pid} of {run_dir} cannot be stopped from here (permission denied)") from None
    with _job_files:
        job = {**(_read_json(path) or job), "stopped": time.time()}
        write_json_atomic(path, job)
    return True


def log_tail(run_dir, lines=15):
    """The last lines of train.log ("" when there is none)."""
    try:
        text = (Path(run_dir) / "train.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


def _read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None

