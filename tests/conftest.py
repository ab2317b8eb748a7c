"""Shared test fixtures: real data from FER_DATA_DIR, a private cache folder per test session."""

import os
from pathlib import Path

import pytest

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
    from fer_core.datasets import load_dataset

    return load_dataset("fer2013")


@pytest.fixture(scope="session")
def keypoint_data(data_root):
    from fer_core.datasets import load_dataset

    return load_dataset("keypoints")
