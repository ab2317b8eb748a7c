"""What is wrong in a dataset: duplicates, leaks between splits, conflicting labels, blank images, and
(for FER2013) the label noise that FER+'s ten annotators reveal.

Pure NumPy and OpenCV on a loaded ``Dataset``; the numbers are those of ``python -m fer_core audit``
and the Dataset browser's Audit tab.

- Exact duplicates: the MD5 of an image's pixels.
- Near duplicates: a 64-bit perceptual hash (pHash: the signs of the 8x8 lowest DCT frequencies of
  the image at 32x32 against their median) within ``NEAR_DUPLICATE_BITS`` bits, exact copies and
  blank images left out. Candidate pairs come from the hash's 5 bands: two hashes within 4 bits
  agree exactly on at least one band (pigeonhole), so no pair is missed.
- Blank: every pixel the same value.
"""

from collections import Counter, defaultdict

import cv2
import numpy as np

from fer_core.config import CLASSIFICATION

# Near duplicates: at most this many of the 64 perceptual-hash bits differ (and the pixels are not identical).
NEAR_DUPLICATE_BITS = 4
_BANDS = ((0, 13), (13, 26), (26, 39), (39, 52), (52, 64))


# ---------------------------------------------------------------- pure functions

def pixel_hashes(images):
    """MD5 hex digest of each image's pixels (shape and dtype included)."""
    import hashlib

    return np.array([hashlib.md5(f"{image.shape}{image.dtype}".encode() + image.tobytes()).hexdigest()
                     for image in images])


def perceptual_hashes(images):
    """64-bit pHash of each image (uint64): the 8x8 lowest DCT frequencies at 32x32 against their median."""
    out = np.empty(len(images), np.uint64)
    weights = (np.uint64(1) << np.arange(64, dtype=np.uint64))
    for i, image in enumerate(images):
        small = cv2.resize(image.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
        low = cv2.dct(small)[:8, :8].ravel()
        bits = (low > np.median(low[1:])).astype(np.uint64)
        out[i] = np.sum(bits * weights, dtype=np.uint64)
    return out


def duplicate_groups(keys):
    """Index arrays of the samples that share a key, one per key held by two or more samples."""
    members = defaultdict(list)
    for index, key in enumerate(keys):
        members[key].append(index)
    return [np.array(group) for group in members.values() if len(group) > 1]


def blank_mask(images):
    """True for the images whose pixels all have one value."""
    flat = images.reshape(len(images), -1)
    return (flat == flat[:, :1]).all(axis=1)


def hamming(a, b):
    """Number of differing bits between uint64 arrays."""
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)


def near_duplicate_pairs(phashes, exact_keys, skip=None, max_bits=NEAR_DUPLICATE_BITS):
    """Pairs of samples whose perceptual hashes differ by 1..``max_bits`` bits but whose pixels differ.

    Arguments:
        phashes: uint64 array (N,) from ``perceptual_hashes``.
        exact_keys: array (N,) of pixel hashes (pairs with equal keys are exact duplicates, left out).
        skip: bool array (N,) of samples to leave out (e.g. blank images, which all hash alike).
        max_bits: the largest Hamming distance that counts (at most 4: see the module's docstring).

    Returns:
        int array (P, 2) of index pairs (i < j), sorted.
    """
    if max_bits > len(_BANDS) - 1:
        raise ValueError(f"max_bits must be at most {len(_BANDS) - 1} for {len(_BANDS)} bands")
    keep = np.flatnonzero(~skip) if skip is not None else np.arange(len(phashes))
    candidates = set()
    for low, high in _BANDS:
        band = (phashes[keep] >> np.uint64(low)) & np.uint64((1 << (high - low)) - 1)
        for group in duplicate_groups(band.tolist()):
            members = keep[group]
            first, second = np.triu_indices(len(members), 1)
            candidates.update(zip(members[first].tolist(), members[second].tolist()))
    if not candidates:
        return np.zeros((0, 2), np.int64)
    pairs = np.array(sorted(candidates), np.int64)
    distance = hamming(phashes[pairs[:, 0]], phashes[pairs[:, 1]])
    near = (distance <= max_bits) & (exact_keys[pairs[:, 0]] != exact_keys[pairs[:, 1]])
    return pairs[near]


def label_disagreement(labels, label_names, votes, vote_names):
    """How much ten annotators disagree with each sample's label (FER2013 labels against FER+ votes).

    Arguments:
        labels: int array (N,) of the dataset's labels (-1: none).
        label_names: their names.
        votes: float array (N, K) of vote shares (FER+'s soft labels; rows of zeros: no usable votes).
        vote_names: the K vote names (matched to label names by emotion name).

    Returns:
        (agreement, majority): the share of votes for each sample's own label (NaN where it has no
        label or no votes), and the index into ``vote_names`` of the votes' majority (-1: no votes).
    """
    from fer_core.config import canonical_emotion

    column = {canonical_emotion(name): k for k, name in enumerate(vote_names)}
    label_column = np.array([column.get(canonical_emotion(name), -1) for name in label_names])
    has_votes = votes.sum(axis=1) > 0
    own = np.where(labels >= 0, label_column[np.maximum(labels, 0)], -1)
    agreement = np.full(len(labels), np.nan)
    valid = (own >= 0) & has_votes
    agreement[valid] = votes[np.flatnonzero(valid), own[valid]]
    majority = np.where(has_votes, votes.argmax(axis=1), -1)
    return agreement, majority


# ---------------------------------------------------------------- the audit

def audit_dataset(dataset, votes=None, vote_names=None):
    """Everything ``python -m fer_core audit`` reports about a dataset.

    Arguments:
        dataset: a loaded ``Dataset``.
        votes, vote_names: FER+-style vote shares (N, K) for the same rows and their names, to count
            the label noise they reveal (``label_noise``); None to skip.

    Returns:
        a JSON-ready dict: ``samples``, ``per_split`` {split: {class: count}},
        ``exact_duplicate_groups``, ``rows_in_exact_duplicate_groups``, ``duplicate_groups_across_splits``,
        ``test_rows_with_training_copy`` {split: count} (every split but the training one),
        ``conflicting_label_groups``, ``blank_images``, ``near_duplicate_pairs`` {"within_split",
        "across_splits"} (with ``near_duplicate_max_bits``), and with votes ``label_noise``.
    """
    keys = pixel_hashes(dataset.images)
    groups = duplicate_groups(keys)
    blank = blank_mask(dataset.images)
    near = near_duplicate_pairs(perceptual_hashes(dataset.images), keys, skip=blank)
    splits = np.asarray(dataset.splits)
    train_split = dataset.role_splits.get("train")
    training_keys = set(keys[splits == train_split]) if train_split else set()
    classification = dataset.task == CLASSIFICATION
    report = {
        "dataset": dataset.name,
        "samples": int(len(dataset)),
        "per_split": {split: _class_counts(dataset, splits == split) if classification
                      else {"samples": int((splits == split).sum())} for split in dataset.split_names},
        "exact_duplicate_groups": len(groups),
        "rows_in_exact_duplicate_groups": int(sum(len(g) for g in groups)),
        "duplicate_groups_across_splits": int(sum(len(set(splits[g])) > 1 for g in groups)),
        "test_rows_with_training_copy": {split: int(sum(k in training_keys for k in keys[splits == split]))
                                         for split in dataset.split_names if split != train_split},
        "conflicting_label_groups": int(sum(len(set(dataset.labels[g][dataset.labels[g] >= 0])) > 1
                                            for g in groups)) if classification else 0,
        "blank_images": int(blank.sum()),
        "near_duplicate_max_bits": NEAR_DUPLICATE_BITS,
        "near_duplicate_pairs": {"within_split": int((splits[near[:, 0]] == splits[near[:, 1]]).sum()),
                                 "across_splits": int((splits[near[:, 0]] != splits[near[:, 1]]).sum())},
    }
    if votes is not None and classification:
        report["label_noise"] = label_noise(dataset, votes, vote_names)
    return report


def _class_counts(dataset, mask):
    labels = dataset.labels[mask]
    counts = {name: int((labels == k).sum()) for k, name in enumerate(dataset.label_names)}
    return {**counts, "(none)": int((labels < 0).sum())} if (labels < 0).any() else counts


def label_noise(dataset, votes, vote_names):
    """Counts of the samples whose label the annotators' majority does not share, by class pair.

    Returns:
        {"rows_with_votes", "label_differs_from_majority", "pairs": {"LABEL -> MAJORITY": count}}
        (pairs sorted by count, largest first).
    """
    agreement, majority = label_disagreement(dataset.labels, dataset.label_names, votes, vote_names)
    from fer_core.config import canonical_emotion

    counted = (dataset.labels >= 0) & (majority >= 0)
    names = [canonical_emotion(n) for n in dataset.label_names]
    vote_canonical = [canonical_emotion(n) for n in vote_names]
    pairs = Counter()
    for label, top in zip(dataset.labels[counted], majority[counted]):
        if names[label] != vote_canonical[top]:
            pairs[f"{dataset.label_names[label]} -> {vote_names[top]}"] += 1
    return {"rows_with_votes": int(counted.sum()), "label_differs_from_majority": int(sum(pairs.values())),
            "mean_vote_share_for_label": float(np.nanmean(agreement)) if np.isfinite(agreement).any() else None,
            "pairs": dict(pairs.most_common())}
