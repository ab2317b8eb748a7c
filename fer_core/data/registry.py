"""Datasets by name, all loaded into one in-memory form (``Dataset``).

Names (files are looked up under ``FER_DATA_DIR``):
- ``fer2013``: ``fer2013/fer2013.csv[.gz]`` (or ``fer2013.csv[.gz]`` at the top);
- ``fer2013-sample``: ``fer2013/fer2013_sample1000.csv`` (1,000 rows, for quick runs);
- ``ferplus``: ``ferplus/fer2013new.csv`` joined with fer2013 by row;
- ``ckplus48``: ``ckplus48/CK+48/<class>/*.png``, subject-independent folds;
- ``keypoints``: the 68-point set in ``keypoints/``, 15 Kaggle points on 96x96 crops;
- ``facial_keypoints``: Kaggle's ``facial_keypoints/training.csv``, if present;
- ``folder:PATH``, ``fer2013-csv:PATH``, ``kaggle-keypoints:PATH``: any folder or file
  in those formats (a relative PATH is taken under FER_DATA_DIR first).
"""

from pathlib import Path

from fer_core.config import data_dir
from fer_core.data.fer2013 import load_fer2013, load_ferplus
from fer_core.data.folders import load_folder
from fer_core.data.keypoints import load_kaggle_keypoints, load_keypoints68
from fer_core.errors import DatasetError, file_problem

DATASET_NAMES = ("fer2013", "fer2013-sample", "ferplus", "ckplus48", "keypoints", "facial_keypoints")
PREFIXES = ("folder:", "fer2013-csv:", "kaggle-keypoints:")


def _first_existing(candidates):
    return next((p for p in candidates if p.exists()), None)


def dataset_path(name, root=None):
    """Returns the file or folder a named dataset is read from, or None when absent."""
    root = Path(root) if root is not None else data_dir()
    candidates = {
        "fer2013": [root / "fer2013" / "fer2013.csv", root / "fer2013" / "fer2013.csv.gz",
                    root / "fer2013.csv", root / "fer2013.csv.gz"],
        "fer2013-sample": [root / "fer2013" / "fer2013_sample1000.csv"],
        "ferplus": [root / "ferplus" / "fer2013new.csv", root / "fer2013new.csv"],
        "ckplus48": [root / "ckplus48" / "CK+48", root / "CK+48"],
        "keypoints": [root / "keypoints" / "training_frames_keypoints.csv"],
        "facial_keypoints": [root / "facial_keypoints" / "training.csv", root / "training.csv"],
    }[name]
    found = _first_existing(candidates)
    if name == "keypoints" and found is not None:
        return found.parent
    if name == "ferplus" and dataset_path("fer2013", root) is None:
        return None
    return found


def find_datasets(root=None):
    """Returns {name: path} for the named datasets present under FER_DATA_DIR (or ``root``)."""
    root = Path(root) if root is not None else data_dir()
    if not root.is_dir():
        return {}
    found = {name: dataset_path(name, root) for name in DATASET_NAMES}
    return {name: path for name, path in found.items() if path is not None}


def data_bound(path, root=None):
    """The folder a class-folder dataset may read under: FER_DATA_DIR when the dataset's folder
    lies under it (its class folders may link elsewhere in it), else the dataset's folder itself."""
    root = (Path(root) if root is not None else data_dir()).resolve()
    resolved = Path(path).resolve()
    return root if resolved == root or root in resolved.parents else resolved


def _resolve_user_path(text):
    path = Path(text).expanduser()
    if not path.is_absolute() and (data_dir() / path).exists():
        return data_dir() / path
    return path


def load_dataset(name, fold=0, folds=10, image_size=48):
    """Loads a dataset by name.

    Arguments:
        name: one of DATASET_NAMES, or ``folder:PATH``, ``fer2013-csv:PATH``,
            ``kaggle-keypoints:PATH``.
        fold, folds: the subject-independent k-fold split of CK+48 and other
            pool-layout folders (fold ``fold`` is test).
        image_size: side to which folder images are resized.

    Returns:
        Dataset.

    Raises:
        DatasetError: unknown name, FER_DATA_DIR missing, dataset absent or malformed.
    """
    for prefix, loader in (("folder:", None), ("fer2013-csv:", load_fer2013),
                           ("kaggle-keypoints:", load_kaggle_keypoints)):
        if name.startswith(prefix):
            path = _resolve_user_path(name[len(prefix):])
            if loader is None:
                if not path.is_dir():  # before resolving it: a symlink loop cannot be resolved
                    problem = file_problem(path, missing="folder not found")
                    raise DatasetError("a file, not a folder" if problem is None else problem, path)
                return load_folder(path, name=name, image_size=image_size, fold=fold, folds=folds,
                                   within=data_bound(path))
            return loader(path, name=name)
    if name not in DATASET_NAMES:
        raise DatasetError(
            f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}, "
            f"or folder:PATH, fer2013-csv:PATH, kaggle-keypoints:PATH")
    root = data_dir()
    if not root.is_dir():
        raise DatasetError(
            "data folder not found; set FER_DATA_DIR to the folder holding fer2013/, ckplus48/, "
            "keypoints/ (default ./data)", root)
    path = dataset_path(name, root)
    if path is None:
        hint = {"fer2013": "put fer2013.csv (or .csv.gz) in FER_DATA_DIR/fer2013/",
                "fer2013-sample": "put fer2013_sample1000.csv in FER_DATA_DIR/fer2013/",
                "ferplus": "put fer2013new.csv in FER_DATA_DIR/ferplus/ and fer2013.csv in FER_DATA_DIR/fer2013/",
                "ckplus48": "put the CK+48 class folders in FER_DATA_DIR/ckplus48/CK+48/",
                "keypoints": "put the 68-point keypoint set in FER_DATA_DIR/keypoints/",
                "facial_keypoints": "put Kaggle's training.csv in FER_DATA_DIR/facial_keypoints/"}[name]
        raise DatasetError(f"dataset {name!r} not found: {hint}", root)
    if name in ("fer2013", "fer2013-sample"):
        return load_fer2013(path, name=name)
    if name == "ferplus":
        return load_ferplus(path, dataset_path("fer2013", root))
    if name == "ckplus48":
        return load_folder(path, name=name, image_size=image_size, fold=fold, folds=folds,
                           within=data_bound(path, root))
    if name == "keypoints":
        return load_keypoints68(path, name=name)
    return load_kaggle_keypoints(path, name=name)
