"""python -m fer_core submit: Kaggle's RowId,Location file from a test.csv made here in Kaggle's format."""

import numpy as np
import pandas as pd
import pytest

from fer_core.cli import main
from fer_core.config import KEYPOINT_COLUMNS


@pytest.fixture()
def kaggle_files(tmp_path, data_root):
    """Three faces of the keypoint set's test split as Kaggle's test.csv, and the real lookup rows of ImageIds 1-3."""
    from fer_core.data import load_dataset

    faces = load_dataset("keypoints").subset("test")
    pick = [0, 5, 9]
    test_csv = tmp_path / "test.csv"
    pd.DataFrame({"ImageId": [1, 2, 3], "Image": [" ".join(map(str, faces.images[i].ravel())) for i in pick]}
                 ).to_csv(test_csv, index=False)
    lookup = pd.read_csv(data_root / "facial_keypoints" / "IdLookupTable.csv")
    lookup_csv = tmp_path / "IdLookupTable.csv"
    lookup[lookup["ImageId"] <= 3].to_csv(lookup_csv, index=False)
    return test_csv, lookup_csv, lookup[lookup["ImageId"] <= 3], faces.keypoints[pick].reshape(3, -1)


def test_submission_gives_every_lookup_row_a_clipped_coordinate_near_the_truth(kaggle_files, tmp_path):
    test_csv, lookup_csv, lookup, truth = kaggle_files
    out = tmp_path / "submission.csv"
    assert main(["submit", "--images", str(test_csv), "--lookup", str(lookup_csv), "--out", str(out)]) == 0
    submission = pd.read_csv(out)
    assert list(submission.columns) == ["RowId", "Location"]
    assert submission["RowId"].tolist() == lookup["RowId"].tolist()
    assert submission["Location"].between(0, 96).all()
    expected = [truth[image - 1, KEYPOINT_COLUMNS.index(name)] for image, name in
                zip(lookup["ImageId"], lookup["FeatureName"])]
    assert np.sqrt(np.mean((submission["Location"] - expected) ** 2)) < 5.0  # the shipped model: about 1.7 px


def test_a_lookup_row_for_a_missing_image_is_an_error(kaggle_files, tmp_path, capsys):
    test_csv, lookup_csv, lookup, _ = kaggle_files
    lookup.assign(ImageId=lookup["ImageId"] + 1).to_csv(lookup_csv, index=False)
    assert main(["submit", "--images", str(test_csv), "--lookup", str(lookup_csv), "--out", str(tmp_path / "s.csv")]) == 2
    assert "not in the test images, the first ImageId 4" in capsys.readouterr().err


def test_clipping_to_the_image():
    from fer_core.data.kaggle_submission import submission

    lookup = pd.DataFrame({"RowId": [1, 2], "ImageId": [7, 7], "FeatureName": ["left_eye_center_x", "nose_tip_y"]})
    points = np.zeros((1, 30))
    points[0, 0], points[0, KEYPOINT_COLUMNS.index("nose_tip_y")] = -3.0, 101.0
    assert submission(np.array([7]), points, lookup)["Location"].tolist() == [0.0, 96.0]
