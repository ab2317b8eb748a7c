"""Facial keypoint datasets, as 96x96 grayscale face crops with the 15 Kaggle keypoints.

Two sources:
- the 68-point set in ``FER_DATA_DIR/keypoints`` (Udacity P1, YouTube Faces
  frames): its official test split shares every identity with training, so
  the annotated faces of both are pooled and re-split by identity into
  train/val/test with a fixed seed. Each face is cropped from a box computed
  from its landmarks and fitted to where OpenCV's Haar detector puts its box
  (``scripts/calibrate_keypoint_box.py``), with the same margin and resize as
  at inference (``fer_core.data.face_crops``);
- the Kaggle Facial Keypoints ``training.csv`` format: 30 coordinate columns
  and ``Image`` (96*96 grey values); missing points are NaN and are masked
  out of the loss.
"""

from pathlib import Path

import numpy as np

from fer_core.config import KEYPOINT_COLUMNS, KEYPOINT_INPUT_SIZE, KEYPOINT_NAMES, KEYPOINTS
from fer_core.errors import DatasetError, file_problem
from fer_core.data.face_crops import KEYPOINT_MARGIN, crop_face, points_to_crop
from fer_core.data.base import Dataset, group_split
from fer_core.data.cache import cached

# 15 Kaggle keypoints from iBUG-68 indices (0-based); tuples are averaged.
IBUG68_TO_KAGGLE = {
    "left_eye_center": (42, 43, 44, 45, 46, 47),
    "right_eye_center": (36, 37, 38, 39, 40, 41),
    "left_eye_inner_corner": (42,),
    "left_eye_outer_corner": (45,),
    "right_eye_inner_corner": (39,),
    "right_eye_outer_corner": (36,),
    "left_eyebrow_inner_end": (22,),
    "left_eyebrow_outer_end": (26,),
    "right_eyebrow_inner_end": (21,),
    "right_eyebrow_outer_end": (17,),
    "nose_tip": (30,),
    "mouth_left_corner": (54,),
    "mouth_right_corner": (48,),
    "mouth_center_top_lip": (51,),
    "mouth_center_bottom_lip": (57,),
}

# Where Haar's face box sits relative to the landmarks, in units of the landmark
# extent (fitted by scripts/calibrate_keypoint_box.py on the training images).
BOX_CENTER_DX = -0.007
BOX_CENTER_DY = -0.183
BOX_SCALE = 1.140

SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = (0.7, 0.15, 0.15)
SPLIT_SEED = 0


def ibug68_to_kaggle15(points):
    """Maps 68 iBUG landmarks to the 15 Kaggle keypoints.

    Arguments:
        points: array (..., 68, 2).

    Returns:
        float32 array (..., 15, 2), in KEYPOINT_NAMES order.
    """
    points = np.asarray(points, dtype=np.float64)
    return np.stack(
        [points[..., list(IBUG68_TO_KAGGLE[name]), :].mean(axis=-2) for name in KEYPOINT_NAMES],
        axis=-2).astype(np.float32)


def landmark_extent(points):
    """Returns (cx, cy, extent): the centre and size of the face outline (jaw and brows)."""
    outline = np.asarray(points, dtype=np.float64)[:27]
    (x0, y0), (x1, y1) = outline.min(axis=0), outline.max(axis=0)
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, max(x1 - x0, y1 - y0)


def landmark_box(points):
    """Returns the (x, y, w, h) box the Haar detector would give for these 68 landmarks."""
    cx, cy, extent = landmark_extent(points)
    side = BOX_SCALE * extent
    cx, cy = cx + BOX_CENTER_DX * extent, cy + BOX_CENTER_DY * extent
    return (cx - side / 2.0, cy - side / 2.0, side, side)


def _read_68(csv_path):
    import pandas as pd

    problem = file_problem(csv_path, missing="file not found")
    if problem:
        raise DatasetError(problem, csv_path)
    frame = pd.read_csv(csv_path)
    if frame.shape[1] != 1 + 136:
        raise DatasetError(f"expected an image name column and 136 coordinate columns, got {frame.shape[1]} columns", csv_path)
    points = frame.iloc[:, 1:].to_numpy(np.float64).reshape(-1, 68, 2)
    bad = np.flatnonzero(~np.isfinite(points).all(axis=(1, 2)))
    if len(bad):
        raise DatasetError("missing or non-numeric coordinate", csv_path, int(bad[0]))
    return frame.iloc[:, 0].astype(str).to_numpy(), points


def _crop_keypoint_faces(root, rows):
    from fer_core.data.folders import read_any

    images, keypoints = [], []
    for folder, name, points in rows:
        image = read_any(root / folder / name)
        box = landmark_box(points)
        images.append(crop_face(image, box, KEYPOINT_INPUT_SIZE, KEYPOINT_MARGIN))
        keypoints.append(points_to_crop(ibug68_to_kaggle15(points), box, KEYPOINT_INPUT_SIZE, KEYPOINT_MARGIN))
    return {"images": np.stack(images), "keypoints": np.stack(keypoints)}


def load_keypoints68(root, name="keypoints"):
    """Loads the 68-point set as identity-disjoint 96x96 crops with 15 Kaggle keypoints.

    Arguments:
        root: the ``keypoints`` folder (``training/``, ``test/`` and their CSVs).

    Returns:
        Dataset (task "keypoints"), splits train/val/test, ``groups`` = identity.
    """
    root = Path(root)
    rows = []
    for folder, csv_name in (("training", "training_frames_keypoints.csv"), ("test", "test_frames_keypoints.csv")):
        names, points = _read_68(root / csv_name)
        rows.extend((folder, n, p) for n, p in zip(names, points))
    sources = [root / "training_frames_keypoints.csv", root / "test_frames_keypoints.csv"]
    arrays = cached("keypoints68", sources, lambda: _crop_keypoint_faces(root, rows))
    identities = np.array([n.rsplit("_", 1)[0] for _, n, _ in rows])
    return Dataset(
        name=name,
        task=KEYPOINTS,
        images=arrays["images"],
        labels=np.full(len(rows), -1, dtype=np.int64),
        label_names=(),
        splits=group_split(identities, SPLIT_FRACTIONS, SPLITS, SPLIT_SEED),
        split_names=SPLITS,
        ids=np.array([f"keypoints:{folder}/{n}" for folder, n, _ in rows]),
        role_splits={s: s for s in SPLITS},
        keypoints=arrays["keypoints"],
        groups=identities,
        source=str(root),
    )


def parse_kaggle_images(texts, path):
    """Kaggle keypoint images from their ``Image`` column: 96x96 space-separated grey levels per row.

    Arguments:
        texts: the column (a sequence of strings).
        path: the file they come from (for error messages).

    Returns:
        uint8 array (N, 96, 96).

    Raises:
        DatasetError: a row with a value that is not an integer in 0-255 or not 9,216 of them.
    """
    side = KEYPOINT_INPUT_SIZE
    images = np.empty((len(texts), side, side), dtype=np.uint8)
    for row, text in enumerate(map(str, texts)):
        try:
            values = np.array(text.split(), dtype=np.int64)
        except ValueError:
            raise DatasetError("Image holds a value that is not an integer", path, row) from None
        if values.size != side * side:
            raise DatasetError(f"wrong pixel count: expected {side * side} values (96x96), got {values.size}", path, row)
        if values.min() < 0 or values.max() > 255:
            raise DatasetError("pixel values must lie in 0-255", path, row)
        images[row] = values.reshape(side, side)
    return images


def load_kaggle_keypoints(path, name="facial_keypoints", seed=SPLIT_SEED):
    """Loads Kaggle Facial Keypoints ``training.csv`` (30 coordinate columns and ``Image``).

    Rows have no identity, so train/val/test are a seeded 80/10/10 split of rows.
    Missing coordinates stay NaN (the keypoint loss masks them).
    """
    import pandas as pd

    path = Path(path)
    problem = file_problem(path, missing="file not found")
    if problem:
        raise DatasetError(problem, path)
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DatasetError("file is empty", path) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot parse CSV ({str(exc).splitlines()[0]})", path) from None
    missing = [c for c in (*KEYPOINT_COLUMNS, "Image") if c not in frame.columns]
    if missing:
        raise DatasetError(f"missing column(s) {', '.join(missing)}", path)
    if frame.empty:
        raise DatasetError("no data rows after the header", path)
    images = parse_kaggle_images(frame["Image"], path)
    coords = frame[list(KEYPOINT_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    bad = np.flatnonzero(coords.isna().to_numpy() & frame[list(KEYPOINT_COLUMNS)].notna().to_numpy())
    if len(bad):
        raise DatasetError("a coordinate is not a number", path, int(bad[0] // len(KEYPOINT_COLUMNS)))
    keypoints = coords.to_numpy(np.float32).reshape(-1, len(KEYPOINT_NAMES), 2)
    n = len(frame)
    order = np.random.default_rng(seed).permutation(n)
    splits = np.empty(n, dtype=object)
    cut1, cut2 = int(0.8 * n), int(0.9 * n)
    splits[order[:cut1]], splits[order[cut1:cut2]], splits[order[cut2:]] = "train", "val", "test"
    return Dataset(
        name=name,
        task=KEYPOINTS,
        images=images,
        labels=np.full(n, -1, dtype=np.int64),
        label_names=(),
        splits=splits.astype(str),
        split_names=SPLITS,
        ids=np.char.add("kaggle:", np.arange(n).astype(str)),
        role_splits={s: s for s in SPLITS},
        keypoints=keypoints,
        source=str(path),
    )
