"""Class-folder datasets: CK+48 with subject-independent folds, split layouts, unreadable images."""

import cv2
import numpy as np
import pytest

from fer_core.data import load_dataset
from fer_core.data.folders import load_folder, subject_of
from fer_core.errors import DatasetError


def _image_folder(root, layout):
    """Writes small generated PNGs: layout maps relative folder -> number of images."""
    rng = np.random.default_rng(0)
    for folder, count in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            cv2.imwrite(str(root / folder / f"S{100 + i:03d}_001_{i:08d}.png"),
                        rng.integers(0, 255, (64, 64), dtype=np.uint8))
    return root


def test_ckplus48_has_981_images_and_subject_disjoint_folds(data_root):
    seen_test = set()
    for fold in range(10):
        ck = load_dataset("ckplus48", fold=fold, folds=10)
        assert len(ck) == 981 and ck.images.shape[1:] == (48, 48)
        assert ck.label_names == ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
        subjects = {s: set(ck.groups[ck.splits == s]) for s in ("train", "val", "test")}
        assert not subjects["train"] & subjects["test"]
        assert not subjects["train"] & subjects["val"]
        assert not subjects["val"] & subjects["test"]
        seen_test |= set(ck.ids[ck.splits == "test"])
    assert len(seen_test) == 981, "every image is tested in exactly one fold"
    assert np.bincount(ck.labels).tolist() == [135, 54, 177, 75, 207, 84, 249]


def test_subject_of_reads_ck_names():
    assert subject_of("S010_004_00000017.png") == "S010"
    assert subject_of("face_12.jpg") == "face_12"


def test_split_layout_is_read_and_validation_carved_from_train(tmp_path):
    root = _image_folder(tmp_path / "export", {"train/happy": 20, "train/sad": 10, "test/happy": 4, "test/sad": 3})
    data = load_folder(root, image_size=48)
    assert data.split_names == ("train", "val", "test")
    assert (data.splits == "test").sum() == 7
    assert (data.splits == "val").sum() == 3 and (data.splits == "train").sum() == 27
    assert data.images.shape == (37, 48, 48)


def test_folder_name_resolves_under_data_dir(tmp_path, monkeypatch):
    _image_folder(tmp_path / "mine", {"happy": 12, "sad": 12})
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path))
    data = load_dataset("folder:mine", folds=3)
    assert len(data) == 24 and set(data.split_names) == {"train", "val", "test"}


def test_unreadable_image_is_named(tmp_path):
    root = _image_folder(tmp_path / "bad", {"happy": 3})
    (root / "happy" / "broken.png").write_bytes(b"not an image at all")
    with pytest.raises(DatasetError, match=r"broken\.png: unreadable image"):
        load_folder(root)


def test_empty_or_missing_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        load_folder(tmp_path / "empty")
    with pytest.raises(DatasetError, match="folder not found"):
        load_folder(tmp_path / "nowhere")


def test_fewer_subjects_than_folds_is_a_dataset_error(tmp_path):
    root = _image_folder(tmp_path / "few", {"happy": 4, "sad": 4})  # subjects S100..S103
    with pytest.raises(DatasetError) as error:
        load_folder(root, folds=10)
    assert str(error.value).startswith(f"{root}: 4 subject(s) for 10 folds: a subject-independent split")
    assert "\n" not in str(error.value)
    assert len(load_folder(root, folds=4)) == 8


def test_links_out_of_the_data_folder_are_refused(tmp_path, monkeypatch):
    data, outside = tmp_path / "data", tmp_path / "outside"
    _image_folder(outside, {"sad": 3})
    _image_folder(data / "other", {"sad": 3})
    monkeypatch.setenv("FER_DATA_DIR", str(data))
    leaky = _image_folder(data / "leaky", {"happy": 3})
    (leaky / "sad").symlink_to(outside / "sad", target_is_directory=True)
    with pytest.raises(DatasetError, match=rf"leaky/sad: a link that leads out of {data.resolve()} \(refused"):
        load_dataset("folder:leaky", folds=3)
    linked = _image_folder(data / "linked", {"happy": 3})
    (linked / "sad").symlink_to(data / "other" / "sad", target_is_directory=True)  # inside FER_DATA_DIR: fine
    assert load_dataset("folder:linked", folds=3).label_names == ("happy", "sad")
    one_file = _image_folder(data / "one-file", {"happy": 3, "sad": 3})
    (one_file / "sad" / "S200_001_00000001.png").symlink_to(next((outside / "sad").iterdir()))
    with pytest.raises(DatasetError, match=r"S200_001_00000001\.png: a link that leads out of"):
        load_dataset("folder:one-file", folds=3)
    split = _image_folder(data / "split", {"train/happy": 3, "train/sad": 3})
    (split / "test").mkdir()
    (split / "test" / "sad").symlink_to(outside / "sad", target_is_directory=True)
    with pytest.raises(DatasetError, match=r"test/sad: a link that leads out of"):
        load_dataset("folder:split")


def test_a_folder_outside_the_data_dir_reads_only_under_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path / "data"))
    _image_folder(tmp_path / "elsewhere", {"sad": 3})
    mine = _image_folder(tmp_path / "mine", {"happy": 3})
    assert len(load_dataset(f"folder:{mine}", folds=3)) == 3  # the command line may name any folder
    (mine / "sad").symlink_to(tmp_path / "elsewhere" / "sad", target_is_directory=True)
    with pytest.raises(DatasetError, match=rf"a link that leads out of {mine.resolve()}"):
        load_dataset(f"folder:{mine}", folds=3)
