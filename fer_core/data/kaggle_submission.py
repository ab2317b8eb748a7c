"""Kaggle's Facial Keypoints Detection submission format (seed 002's last step).

Kaggle's ``test.csv`` holds ``ImageId,Image`` (96x96 grey faces as space-separated values); its
``IdLookupTable.csv`` (``RowId,ImageId,FeatureName,Location``) names the keypoint coordinates each
row of the submission must give; the submission is ``RowId,Location``.
"""

from pathlib import Path

import numpy as np

from fer_core.config import KEYPOINT_COLUMNS, KEYPOINT_INPUT_SIZE
from fer_core.data.keypoints import parse_kaggle_images
from fer_core.errors import DatasetError


def _read_csv(path, columns):
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DatasetError("file not found", path)
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DatasetError("file is empty", path) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot parse CSV ({str(exc).splitlines()[0]})", path) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DatasetError(f"missing column(s) {', '.join(missing)}", path)
    return frame


def read_test_images(path):
    """Kaggle's ``test.csv``: (image ids int array (N,), uint8 images (N, 96, 96))."""
    frame = _read_csv(path, ("ImageId", "Image"))
    ids = frame["ImageId"].to_numpy()
    if frame["ImageId"].duplicated().any():
        raise DatasetError(f"ImageId {ids[frame['ImageId'].duplicated().to_numpy()][0]} occurs twice", path)
    return ids.astype(np.int64), parse_kaggle_images(frame["Image"], path)


def read_lookup(path):
    """Kaggle's ``IdLookupTable.csv`` as a DataFrame (RowId, ImageId, FeatureName)."""
    frame = _read_csv(path, ("RowId", "ImageId", "FeatureName"))
    unknown = sorted(set(frame["FeatureName"]) - set(KEYPOINT_COLUMNS))
    if unknown:
        raise DatasetError(f"unknown FeatureName {unknown[0]!r}", path)
    return frame


def submission(image_ids, keypoints, lookup):
    """The rows of a submission: each lookup row's coordinate, clipped to the 96x96 image.

    Arguments:
        image_ids: int array (N,) of the test images' ids.
        keypoints: float array (N, 30) of their coordinates in Kaggle's column order
            (``config.KEYPOINT_COLUMNS``), in pixels of the 96x96 image.
        lookup: the ``read_lookup`` table.

    Returns:
        DataFrame with RowId and Location.

    Raises:
        DatasetError: the lookup table names an image that is not among the test images.
    """
    import pandas as pd

    row_of = {int(image_id): row for row, image_id in enumerate(image_ids)}
    missing = sorted(set(lookup["ImageId"].astype(int)) - set(row_of))
    if missing:
        raise DatasetError(f"the lookup table names {len(missing)} image(s) not in the test images, "
                           f"the first ImageId {missing[0]}")
    rows = lookup["ImageId"].astype(int).map(row_of).to_numpy()
    columns = lookup["FeatureName"].map({name: k for k, name in enumerate(KEYPOINT_COLUMNS)}).to_numpy()
    location = np.clip(np.asarray(keypoints, np.float64)[rows, columns], 0.0, float(KEYPOINT_INPUT_SIZE))
    return pd.DataFrame({"RowId": lookup["RowId"].to_numpy(), "Location": location})
