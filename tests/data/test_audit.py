"""The dataset audit (fer_core.data.audit, python -m fer_core audit): its counts on the real FER2013 CSV,
set against counts made here independently from the CSV text, and its parts on synthetic data."""

import gzip
import hashlib
import json

import cv2
import numpy as np
import pandas as pd

from fer_core.cli import main
from fer_core.data.audit import (blank_mask, duplicate_groups, label_disagreement, near_duplicate_pairs,
                                 perceptual_hashes, pixel_hashes)


def independent_counts(data_root):
    """Duplicate, leak, conflict and blank counts from fer2013.csv's pixel strings, without fer_core."""
    path = next(p for p in [data_root / "fer2013" / "fer2013.csv", data_root / "fer2013" / "fer2013.csv.gz"]
                if p.exists())
    frame = pd.read_csv(gzip.open(path, "rt") if path.suffix == ".gz" else path)
    frame["key"] = [hashlib.sha1(" ".join(p.split()).encode()).hexdigest() for p in frame["pixels"]]
    groups = frame.groupby("key")
    sizes = groups.size()
    duplicated = sizes[sizes > 1].index
    training = set(frame.loc[frame["Usage"] == "Training", "key"])
    return {
        "exact_duplicate_groups": len(duplicated),
        "conflicting_label_groups": int((groups["emotion"].nunique()[duplicated] > 1).sum()),
        "test_rows_with_training_copy": {usage: int(frame.loc[frame["Usage"] == usage, "key"].isin(training).sum())
                                         for usage in ("PublicTest", "PrivateTest")},
        "blank_images": int(sum(len(set(p.split())) == 1 for p in frame["pixels"])),
    }


def test_audit_of_fer2013_agrees_with_an_independent_count_of_the_csv(data_root, capsys):
    assert main(["audit", "fer2013", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = independent_counts(data_root)
    assert {key: report[key] for key in expected} == expected
    assert expected["exact_duplicate_groups"] == 1516 and expected["blank_images"] == 12  # the counts
    noise = report["label_noise"]
    assert noise["rows_with_votes"] > 35000 and list(noise["pairs"])[0] == "sad -> neutral"
    assert sum(noise["pairs"].values()) == noise["label_differs_from_majority"]
    assert report["near_duplicate_pairs"]["within_split"] > 0


def test_exact_and_near_duplicates_and_blanks_on_synthetic_images():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (48, 48)).astype(np.float32), (0, 0), 4)
    smooth = cv2.normalize(smooth, None, 20, 230, cv2.NORM_MINMAX).astype(np.uint8)  # blobs, like a face's shading
    images = np.stack([
        base, base.copy(),                                             # 0, 1: exact copies
        smooth, np.clip(smooth.astype(int) + 3, 0, 255).astype(np.uint8),  # 2, 3: a brightened near copy
        np.full((48, 48), 7, np.uint8), np.full((48, 48), 9, np.uint8),  # 4, 5: blank
        rng.integers(0, 256, (48, 48), dtype=np.uint8),                # 6: unrelated
    ])
    keys = pixel_hashes(images)
    assert [g.tolist() for g in duplicate_groups(keys)] == [[0, 1]]
    blank = blank_mask(images)
    assert blank.tolist() == [False, False, False, False, True, True, False]
    pairs = near_duplicate_pairs(perceptual_hashes(images), keys, skip=blank)
    assert pairs.tolist() == [[2, 3]]  # not the exact copies, not the blanks, not the unrelated image


def test_label_disagreement_is_the_vote_share_of_each_label():
    votes = np.array([[0.9, 0.1, 0.0], [0.2, 0.0, 0.8], [0.0, 0.0, 0.0]])
    agreement, majority = label_disagreement(np.array([0, 0, 1]), ("angry", "happy"), votes,
                                             ("anger", "happiness", "neutral"))
    assert np.allclose(agreement[:2], [0.9, 0.2]) and np.isnan(agreement[2])
    assert majority.tolist() == [0, 2, -1]
