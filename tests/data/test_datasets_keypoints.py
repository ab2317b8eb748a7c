"""Keypoint datasets: the 68-point set as identity-disjoint crops, and Kaggle's training.csv format."""

import numpy as np
import pandas as pd
import pytest

from fer_core.config import KEYPOINT_COLUMNS, KEYPOINT_FLIP_ORDER, KEYPOINT_NAMES
from fer_core.data.keypoints import ibug68_to_kaggle15, landmark_box, load_kaggle_keypoints
from fer_core.data.face_crops import box_iou
from fer_core.errors import DatasetError


def test_keypoint_set_counts_and_identity_disjoint_splits(keypoint_data):
    data = keypoint_data
    assert len(data) == 4232
    assert data.images.shape == (4232, 96, 96) and data.keypoints.shape == (4232, 15, 2)
    groups = {s: set(data.groups[data.splits == s]) for s in data.split_names}
    assert not groups["train"] & groups["val"]
    assert not groups["train"] & groups["test"]
    assert not groups["val"] & groups["test"]
    assert sum(len(g) for g in groups.values()) == 347
    sizes = {s: int((data.splits == s).sum()) for s in data.split_names}
    assert 0.6 < sizes["train"] / 4232 < 0.8 and sizes["test"] > 400


def test_crops_hold_the_face_with_subject_left_on_image_right(keypoint_data):
    points = keypoint_data.keypoints
    assert np.isfinite(points).all()
    inside = (points >= 0) & (points < 96)
    assert inside.all(axis=(1, 2)).mean() > 0.99
    left_eye, right_eye = points[:, 0], points[:, 1]
    assert (left_eye[:, 0] > right_eye[:, 0]).mean() > 0.99
    eye_distance = np.linalg.norm(left_eye - right_eye, axis=1)
    assert 20 < np.median(eye_distance) < 45, "faces fill the crop like a detector crop does"


def test_mapping_reproduces_kaggle15_csv(data_root):
    """The 68->15 mapping matches the dataset's own derived kaggle15.csv (golden values)."""
    raw = pd.read_csv(data_root / "keypoints" / "training_frames_keypoints.csv")
    derived = pd.read_csv(data_root / "keypoints" / "kaggle15.csv")
    derived = derived[derived.split == "training"].set_index("image")
    mapped = ibug68_to_kaggle15(raw.iloc[:, 1:].to_numpy(float).reshape(-1, 68, 2)).reshape(-1, 30)
    expected = derived.loc[raw.iloc[:, 0], list(KEYPOINT_COLUMNS)].to_numpy()
    assert np.abs(mapped - expected).max() < 1e-3


def test_flip_order_swaps_left_and_right():
    names = [KEYPOINT_NAMES[i] for i in KEYPOINT_FLIP_ORDER]
    assert names[0] == "right_eye_center" and names[1] == "left_eye_center"
    assert names[KEYPOINT_NAMES.index("nose_tip")] == "nose_tip"
    assert names[KEYPOINT_NAMES.index("mouth_left_corner")] == "mouth_right_corner"
    assert sorted(KEYPOINT_FLIP_ORDER) == list(range(15))


def test_landmark_box_is_square_around_the_face():
    points = np.zeros((68, 2))
    points[:17, 0] = np.linspace(100, 200, 17)   # jaw from x=100 to 200
    points[:17, 1] = np.linspace(150, 250, 17)
    points[17:27] = [[150, 120]] * 10            # brows at y=120
    x, y, w, h = landmark_box(points)
    # Outline spans x 100..200 and y 120..250: extent 130, centre (150, 185); the fitted
    # constants move the centre up (Haar boxes start above the brows) and grow the side.
    assert w == h == pytest.approx(1.14 * 130)
    assert x + w / 2 == pytest.approx(150 - 0.007 * 130)
    assert y + h / 2 == pytest.approx(185 - 0.183 * 130)
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)


def _kaggle_csv(path, rows):
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return path


def _kaggle_row(missing=(), pixels=96 * 96):
    row = {c: 30.0 + i for i, c in enumerate(KEYPOINT_COLUMNS)}
    for c in missing:
        row[c] = np.nan
    row["Image"] = " ".join(["128"] * pixels)
    return row


def test_kaggle_training_csv_keeps_missing_points_as_nan(tmp_path):
    rows = [_kaggle_row() for _ in range(8)] + [_kaggle_row(missing=KEYPOINT_COLUMNS[4:])] * 2
    data = load_kaggle_keypoints(_kaggle_csv(tmp_path / "training.csv", rows))
    assert data.images.shape == (10, 96, 96) and data.task == "keypoints"
    assert np.isnan(data.keypoints).any(axis=(1, 2)).sum() == 2
    assert data.keypoints[0, 0].tolist() == [30.0, 31.0]


def test_kaggle_csv_errors(tmp_path):
    with pytest.raises(DatasetError, match=r"row 1 \(line 3\): wrong pixel count: expected 9216 values \(96x96\), got 100"):
        load_kaggle_keypoints(_kaggle_csv(tmp_path / "a.csv", [_kaggle_row(), _kaggle_row(pixels=100)]))
    frame = pd.DataFrame([_kaggle_row()]).drop(columns=["nose_tip_x"])
    frame.to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DatasetError, match=r"missing column\(s\) nose_tip_x"):
        load_kaggle_keypoints(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_text("")
    with pytest.raises(DatasetError, match="file is empty"):
        load_kaggle_keypoints(tmp_path / "c.csv")
