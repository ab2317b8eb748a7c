"""The one in-memory form that every dataset is loaded into, and split helpers."""

from dataclasses import dataclass, field, replace

import numpy as np

from fer_core.config import CLASSIFICATION, KEYPOINTS

# The split name that means every sample of a dataset.
ALL_SPLITS = "all"


@dataclass(frozen=True)
class Dataset:
    """Images with their labels, split names and stable ids.

    Attributes:
        name: dataset name as given to ``load_dataset``.
        task: ``"classification"`` or ``"keypoints"``.
        images: uint8 array (N, H, W), grayscale.
        labels: int64 array (N,); -1 where a sample has no usable label.
        label_names: class names, indexed by label.
        splits: array (N,) of split names.
        split_names: split names in their natural order.
        ids: array (N,) of stable sample ids (e.g. ``fer2013:35886``).
        role_splits: which split plays which role: {"train": .., "val": .., "test": ..}.
        keypoints: float32 (N, 15, 2) in image pixels, NaN where missing; or None.
        soft_labels: float32 (N, C) label distribution (FER+ votes); or None.
        groups: array (N,) of group ids (subject, identity) for group-aware splits; or None.
        source: the file or folder it was read from.
    """

    name: str
    task: str
    images: np.ndarray
    labels: np.ndarray
    label_names: tuple
    splits: np.ndarray
    split_names: tuple
    ids: np.ndarray
    role_splits: dict = field(default_factory=dict)
    keypoints: np.ndarray = None
    soft_labels: np.ndarray = None
    groups: np.ndarray = None
    source: str = ""

    def __len__(self):
        return len(self.images)

    @property
    def image_size(self):
        """(height, width) of the images."""
        return tuple(self.images.shape[1:3])

    def select(self, mask_or_index):
        """Returns the samples picked by a boolean mask or an index array."""
        pick = lambda a: None if a is None else a[mask_or_index]  # noqa: E731
        return replace(
            self,
            images=self.images[mask_or_index],
            labels=self.labels[mask_or_index],
            splits=self.splits[mask_or_index],
            ids=self.ids[mask_or_index],
            keypoints=pick(self.keypoints),
            soft_labels=pick(self.soft_labels),
            groups=pick(self.groups),
        )

    def subset(self, split):
        """Returns the samples of one split, by its name or its role (train/val/test); ``"all"``
        (``ALL_SPLITS``) returns every sample, e.g. to use a whole dataset as a cross-dataset check."""
        if split == ALL_SPLITS and ALL_SPLITS not in self.split_names:
            return self
        name = self.role_splits.get(split, split)
        if name not in self.split_names:
            choices = ", ".join(list(self.split_names) + sorted(self.role_splits) + [ALL_SPLITS])
            raise ValueError(f"{self.name} has no split {split!r}; choose one of: {choices}")
        return self.select(self.splits == name)

    def labelled(self):
        """Returns the samples that have a usable label (classification) or keypoints."""
        if self.task == KEYPOINTS:
            return self
        return self.select(self.labels >= 0)

    def summary(self):
        """Returns {"splits": {SPLIT: {"total": N, "labels": {NAME: N}}}}.

        Samples without a usable label are counted under "unlabelled" when there are any.
        """
        out = {}
        for split in self.split_names:
            labels = self.labels[self.splits == split]
            entry = {"total": int(len(labels))}
            if self.task == CLASSIFICATION:
                counts = np.bincount(labels[labels >= 0], minlength=len(self.label_names))
                entry["labels"] = {n: int(c) for n, c in zip(self.label_names, counts)}
                if (labels < 0).any():
                    entry["unlabelled"] = int((labels < 0).sum())
            else:
                entry["labels"] = {}
            if self.groups is not None:
                entry["groups"] = int(len(np.unique(self.groups[self.splits == split])))
            out[split] = entry
        return {"splits": out}


def group_split(groups, fractions=(0.7, 0.15, 0.15), names=("train", "val", "test"), seed=0):
    """Assigns whole groups to splits, so that no group is in two splits.

    Arguments:
        groups: array (N,) of group ids (identities, subjects).
        fractions: share of the groups per split.
        names: split names.
        seed: seed of the shuffle of groups.

    Returns:
        array (N,) of split names.
    """
    unique = np.unique(groups)
    order = np.random.default_rng(seed).permutation(len(unique))
    bounds = np.round(np.cumsum(fractions) / np.sum(fractions) * len(unique)).astype(int)
    split_of_group = np.empty(len(unique), dtype=object)
    start = 0
    for name, stop in zip(names, bounds):
        split_of_group[order[start:stop]] = name
        start = stop
    lookup = dict(zip(unique, split_of_group))
    return np.array([lookup[g] for g in groups], dtype=object).astype(str)


def group_kfold_splits(groups, fold, folds=5, seed=0):
    """Subject-independent k-fold: fold ``fold`` is the test split, the next one validation.

    Groups are dealt to folds in a seeded random order with scikit-learn's
    ``GroupKFold(shuffle=True)`` so every group lands in exactly one fold.

    Arguments:
        groups: array (N,) of group ids.
        fold: index of the test fold, 0 <= fold < folds.
        folds: number of folds (>= 3).
        seed: shuffle seed.

    Returns:
        array (N,) with "train", "val" or "test".
    """
    from sklearn.model_selection import GroupKFold

    if folds < 3:
        raise ValueError("folds must be at least 3 (train, val and test)")
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in 0..{folds - 1}, got {fold}")
    fold_of = np.empty(len(groups), dtype=int)
    splitter = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (_, test_index) in enumerate(splitter.split(np.zeros(len(groups)), groups=groups)):
        fold_of[test_index] = k
    out = np.full(len(groups), "train", dtype=object)
    out[fold_of == fold] = "test"
    out[fold_of == (fold + 1) % folds] = "val"
    return out.astype(str)
