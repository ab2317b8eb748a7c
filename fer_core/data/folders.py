"""Image folders with one sub-folder per class: CK+48, and exports such as FER2013's
``train/<emotion>/*.jpg``.

Two layouts are recognised:
- ``ROOT/<class>/*.png``: one pool of images, split subject-independently into
  train/val/test by k-fold over the subject ids in the file names (CK+ names
  are ``S<subject>_<sequence>_<frame>.png``; other names are their own group);
- ``ROOT/<split>/<class>/*.jpg``: the splits are the top folders (``train``,
  ``test``, and ``val``/``validation`` if present; without one, a seeded 10% of
  the training images becomes the validation split).

Everything read must lie under the dataset's bound (``within``: FER_DATA_DIR for a
folder under it, see ``fer_core.data.registry``; else the folder itself): a class
folder or image that is a symbolic link leading out of it is refused.
"""

import re
from pathlib import Path

import cv2
import numpy as np

from fer_core.errors import DatasetError
from fer_core.config import CLASSIFICATION
from fer_core.data.base import Dataset, group_kfold_splits
from fer_core.data.cache import cached

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm"}
SPLIT_FOLDERS = {"train": "train", "training": "train", "val": "val", "valid": "val",
                 "validation": "val", "test": "test", "testing": "test"}
CK_SUBJECT = re.compile(r"^(S\d+)_")


def subject_of(filename):
    """Returns the CK+ subject id (``S010``) of a file name, or the name itself."""
    match = CK_SUBJECT.match(Path(filename).name)
    return match.group(1) if match else Path(filename).stem


def read_any(path, flags=cv2.IMREAD_GRAYSCALE):
    """Reads an image file with OpenCV (grayscale by default).

    Raises:
        DatasetError: naming the file, when it is missing or cannot be decoded.
    """
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise DatasetError(f"cannot read image ({exc.strerror})", path) from None
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise DatasetError("unreadable image (not a decodable image file)", path)
    return image


def read_gray(path, size):
    """Reads an image file as grayscale, resized with cv2.resize to size x size."""
    image = read_any(path)
    if image.shape != (size, size):
        interpolation = cv2.INTER_AREA if max(image.shape) > size else cv2.INTER_LINEAR
        image = cv2.resize(image, (size, size), interpolation=interpolation)
    return image


def _class_folders(root, bound):
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for folder in folders:
        check_inside(folder, bound)
    return folders


def _images_in(folder, bound):
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    for image in images:
        if image.is_symlink():  # a plain file lies where its (checked) folder does
            check_inside(image, bound)
    return images


def check_inside(path, bound):
    """Refuses a path whose real location (symbolic links followed) is not under ``bound``.

    Arguments:
        path: a folder or file of a dataset.
        bound: the resolved folder everything must lie under.

    Raises:
        DatasetError: naming the path, e.g. "happy: a link that leads out of /data (refused)".
    """
    resolved = Path(path).resolve()
    if resolved != bound and bound not in resolved.parents:
        raise DatasetError(f"a link that leads out of {bound} (refused: a dataset reads only files under it)",
                           path)


def scan_folder(root, within=None):
    """Lists the images of a class-folder dataset.

    Arguments:
        root: the dataset folder.
        within: the folder everything read must lie under (symbolic links followed); default ``root``.

    Returns:
        (files, class names, class index per file, split folder per file or None)

    Raises:
        DatasetError: no such folder, no images, or a link leading out of ``within``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError("folder not found", root)
    bound = Path(within if within is not None else root).resolve()
    check_inside(root, bound)
    top = _class_folders(root, bound)
    split_layout = bool(top) and all(p.name.lower() in SPLIT_FOLDERS for p in top)
    groups = [(SPLIT_FOLDERS[p.name.lower()], p) for p in top] if split_layout else [(None, root)]
    entries = []
    for split, folder in groups:
        for class_folder in (_class_folders(folder, bound) if split_layout else top):
            entries.extend((split, class_folder.name, f) for f in _images_in(class_folder, bound))
    if not entries:
        raise DatasetError("no images found: expected ROOT/<class>/*.png or ROOT/<split>/<class>/*.jpg", root)
    names = tuple(sorted({name for _, name, _ in entries}))
    files = [f for _, _, f in entries]
    labels = np.array([names.index(name) for _, name, _ in entries], dtype=np.int64)
    splits = [s for s, _, _ in entries] if split_layout else None
    return files, names, labels, splits


def check_subjects(groups, folds, root):
    """Refuses a pool layout with fewer subjects than folds (each fold needs one subject at least).

    Raises:
        DatasetError: e.g. "ROOT: 4 subjects for 10 folds: ...".
    """
    subjects = len(set(np.asarray(groups).tolist()))
    if subjects < folds:
        raise DatasetError(
            f"{subjects} subject(s) for {folds} folds: a subject-independent split puts each subject in one fold, "
            f"so it needs {folds} subjects at least (CK+ file names S<subject>_... name the subject; any other "
            "file is its own). Add images, or use ROOT/train|val|test/<class>/ folders", root)


def load_folder(root, name=None, image_size=48, fold=0, folds=10, seed=0, within=None):
    """Loads a class-folder dataset.

    Arguments:
        root: the dataset folder.
        name: dataset name to record (default ``folder:<root>``).
        image_size: images are resized to image_size x image_size.
        fold, folds, seed: the subject-independent k-fold split of a pool layout
            (fold ``fold`` is test, the next one validation).
        within: the folder everything read must lie under (symbolic links followed); default ``root``.

    Returns:
        Dataset with ``groups`` set to the subject ids.

    Raises:
        DatasetError: see ``scan_folder``; an unreadable image; fewer subjects than folds.
    """
    root = Path(root)
    files, names, labels, split_folders = scan_folder(root, within)
    relative = np.array([str(f.relative_to(root)) for f in files])

    def build():
        return {"images": np.stack([read_gray(f, image_size) for f in files])}

    images = cached(f"folder{image_size}", [root], build)["images"]
    groups = np.array([subject_of(f) for f in files])
    if split_folders is None:
        check_subjects(groups, folds, root)
        splits = group_kfold_splits(groups, fold, folds, seed)
    else:
        splits = np.array(split_folders, dtype=object).astype(str)
        if "val" not in set(splits):
            train = np.flatnonzero(splits == "train")
            rng = np.random.default_rng(seed)
            splits[rng.choice(train, size=max(1, len(train) // 10), replace=False)] = "val"
    split_names = tuple(s for s in ("train", "val", "test") if s in set(splits))
    name = name or f"folder:{root}"
    return Dataset(
        name=name,
        task=CLASSIFICATION,
        images=images,
        labels=labels,
        label_names=names,
        splits=splits,
        split_names=split_names,
        ids=np.char.add(f"{Path(root).name}:", relative),
        role_splits={role: role for role in split_names},
        groups=groups,
        source=str(root),
    )
