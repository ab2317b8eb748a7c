"""Shared test fixtures: real data from FER_DATA_DIR, a private cache folder per test session."""

import os
from pathlib import Path

import pytest

import fer_core  # noqa: F401  (first: loads aiortc's SRTP library before any test imports TensorFlow)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _data_root():
    return Path(os.environ.get("FER_DATA_DIR") or "data")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Each test session starts with an empty FER_CACHE_DIR, so parsing is tested for real."""
    previous = os.environ.get("FER_CACHE_DIR")
    os.environ["FER_CACHE_DIR"] = str(tmp_path_factory.mktemp("fer-cache"))
    yield
    if previous is None:
        os.environ.pop("FER_CACHE_DIR", None)
    else:
        os.environ["FER_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def data_root():
    """The real datasets (FER_DATA_DIR, which CI points at ../shared/data)."""
    root = _data_root()
    if not (root / "fer2013").is_dir():
        pytest.skip(f"real data not found under FER_DATA_DIR={root} (set it to ../shared/data)")
    return root


@pytest.fixture(scope="session")
def fer2013(data_root):
    from fer_core.data import load_dataset

    return load_dataset("fer2013")


@pytest.fixture(scope="session")
def keypoint_data(data_root):
    from fer_core.data import load_dataset

    return load_dataset("keypoints")


# --- Dashboard (data and runs pages) fixtures -------------------------------------------------


@pytest.fixture(scope="session")
def trained_run(data_root, tmp_path_factory):
    """A real, finished run record: mini-Xception, 1 epoch on 64 faces of the FER2013 sample."""
    from fer_core.runs.recording import train_run
    from fer_core.training.loop import TrainConfig

    run_dir = tmp_path_factory.mktemp("dashboard-runs") / "runs" / "mx-sample"
    train_run(TrainConfig(model="mini_xception", data="fer2013-sample", epochs=1, limit=64), run_dir, verbose=0)
    return run_dir


@pytest.fixture(scope="session")
def trained_run_roots(trained_run):
    """FER_RUN_ROOTS for the pages: the trained run, a copy with another config ("mx-sample-lr"),
    and a copy stopped before evaluation ("mx-in-progress": no metrics.json, no predictions.csv)."""
    import json
    import shutil

    runs = trained_run.parent
    variant = runs / "mx-sample-lr"
    if not variant.exists():
        shutil.copytree(trained_run, variant, ignore=shutil.ignore_patterns("checkpoints", "tensorboard"))
        config = json.loads((variant / "config.json").read_text())
        config.update(learning_rate=0.01, batch_size=32)
        (variant / "config.json").write_text(json.dumps(config))
    in_progress = runs / "mx-in-progress"
    if not in_progress.exists():
        shutil.copytree(trained_run, in_progress, ignore=shutil.ignore_patterns(
            "checkpoints", "tensorboard", "metrics.json", "predictions.csv"))
        config = json.loads((in_progress / "config.json").read_text())
        config.update(epochs=5)
        (in_progress / "config.json").write_text(json.dumps(config))
    return str(runs)
