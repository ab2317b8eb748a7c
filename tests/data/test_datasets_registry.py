"""Datasets by name: discovery under FER_DATA_DIR and clear errors when things are missing."""

import pytest

from fer_core.data import find_datasets, load_dataset
from fer_core.errors import DatasetError


def test_find_datasets_lists_the_shared_data(data_root):
    found = find_datasets(data_root)
    assert {"fer2013", "ferplus", "ckplus48", "keypoints"} <= set(found)
    assert "facial_keypoints" not in found  # Kaggle's training.csv is not in the shared data


def test_missing_data_dir_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match="data folder not found; set FER_DATA_DIR"):
        load_dataset("fer2013")
    assert find_datasets() == {}


def test_absent_dataset_and_unknown_name(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="put fer2013.csv"):
        load_dataset("fer2013")
    with pytest.raises(DatasetError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet")


def test_subset_by_role_and_bad_split(data_root):
    sample = load_dataset("fer2013-sample")
    assert len(sample.subset("train")) == 800 and len(sample.subset("PublicTest")) == 100
    with pytest.raises(ValueError, match="has no split 'Validation'"):
        sample.subset("Validation")


def test_a_folder_dataset_that_is_a_symlink_loop_or_a_device_is_named(tmp_path):
    import pytest

    from fer_core.data import load_dataset
    from fer_core.errors import DatasetError

    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(DatasetError, match="a symlink loop"):
        load_dataset(f"folder:{tmp_path / 'a'}")
    with pytest.raises(DatasetError, match="character device"):
        load_dataset("folder:/dev/null")
