"""Looking for what is wrong, sample by sample: confusion-matrix cells, hardness and mistakenness as
sort keys, how well a run's confidence matches its accuracy, the worst faces of a keypoint run, and
FER2013's label noise against the ten FER+ annotators' votes.

Pure NumPy and pandas on a model's probabilities (a run's ``predictions.csv`` or outputs computed
by a page) and a dataset's labels; nothing here runs a model.
"""

import numpy as np
import pandas as pd

from fer_core.config import KEYPOINT_COLUMNS, canonical_emotion
from fer_core.runs.calibration import ECE_BINS, expected_calibration_error, reliability_bins

# Sort keys of a sample grid, with what each means.
SORT_KEYS = {
    "mistakenness": "confident and wrong first: the model's confidence in its answer where it differs from the label",
    "hardness": "most uncertain first: the entropy of the model's probabilities (0 sure, 1 all classes alike)",
    "confidence": "surest first: the probability of the model's answer",
}


# ---------------------------------------------------------------- pure functions on arrays

def hardness(probabilities):
    """Entropy of each row of probabilities, divided by log(C): 0 for a sure answer, 1 for a uniform one."""
    p = np.clip(np.asarray(probabilities, np.float64), 1e-12, 1.0)
    return (-(p * np.log(p)).sum(axis=1) / np.log(p.shape[1])).astype(np.float32)


def mistakenness(probabilities, labels):
    """How confidently a model is wrong: the probability of its answer where the answer is not the label, else 0.

    Arguments:
        probabilities: array (N, C); labels: int array (N,) in the same class order (-1: no label, 0 out).
    """
    probabilities = np.asarray(probabilities)
    predicted = probabilities.argmax(axis=1)
    wrong = (predicted != labels) & (np.asarray(labels) >= 0)
    return np.where(wrong, probabilities.max(axis=1), 0.0).astype(np.float32)


def sort_order(key, probabilities, labels=None):
    """Sample indices in the order of a ``SORT_KEYS`` key, highest first (stable).

    Raises:
        ValueError: an unknown key, or mistakenness without labels.
    """
    if key == "hardness":
        score = hardness(probabilities)
    elif key == "confidence":
        score = np.asarray(probabilities).max(axis=1)
    elif key == "mistakenness":
        if labels is None:
            raise ValueError("mistakenness needs the labels")
        score = mistakenness(probabilities, labels)
    else:
        raise ValueError(f"unknown sort key {key!r}; choose one of {', '.join(SORT_KEYS)}")
    return np.argsort(-score, kind="stable")


# ---------------------------------------------------------------- run predictions

def probability_columns(predictions):
    """The ``p_CLASS`` columns of a classification run's predictions, in class order."""
    return [column for column in predictions.columns if column.startswith("p_")]


def confusion_cell(predictions, true_label, predicted_label):
    """The samples of one confusion-matrix cell, most confident first.

    Arguments:
        predictions: a run's predictions joined to their labels (``records.with_true_labels``:
            id, label, predicted, confidence, p_...).
        true_label, predicted_label: the cell's row and column (class names).

    Returns:
        DataFrame of the cell's rows, highest confidence first.
    """
    cell = predictions[(predictions["label"] == true_label) & (predictions["predicted"] == predicted_label)]
    return cell.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)


def answer_confidences(predictions):
    """The confidence of the right and of the wrong answers of a run joined to its labels.

    Returns:
        {"right": float array, "wrong": float array}.
    """
    right = (predictions["label"] == predictions["predicted"]).to_numpy()
    confidence = predictions["confidence"].to_numpy(np.float64)
    return {"right": confidence[right], "wrong": confidence[~right]}


def prediction_calibration(predictions, bins=ECE_BINS):
    """Reliability and ECE of a run's own probabilities (predictions.csv's ``p_`` columns, before any
    output adjustment) on its test split; a run record without weights can still be judged so.

    Arguments:
        predictions: the run's predictions joined to their labels (``records.with_true_labels``).
        bins: equal-width confidence bins.

    Returns:
        {"ece", "reliability" (``calibration.reliability_bins``), "n"}, or None without ``p_`` columns
        or without a labelled row of the model's classes. Labels are matched to the classes by emotion name.
    """
    columns = probability_columns(predictions)
    if not columns or predictions.empty:
        return None
    classes = {canonical_emotion(column[2:]): i for i, column in enumerate(columns)}
    labels = predictions["label"].map(lambda name: classes.get(canonical_emotion(str(name)), -1)).to_numpy()
    known = labels >= 0
    if not known.any():
        return None
    probabilities = predictions.loc[known, columns].to_numpy(np.float64)
    return {"ece": expected_calibration_error(probabilities, labels[known], bins),
            "reliability": reliability_bins(probabilities, labels[known], bins), "n": int(known.sum())}


# ---------------------------------------------------------------- keypoint runs

def worst_keypoint_faces(predictions, count=24):
    """The faces of a keypoint run's test split with the largest error (``rmse_px``), worst first.

    Returns:
        DataFrame of at most ``count`` rows of predictions.csv.
    """
    ranked = predictions.sort_values("rmse_px", ascending=False, kind="stable", na_position="last")
    return ranked.head(count).reset_index(drop=True)


def predicted_keypoints(predictions):
    """The ``pred_`` columns of a keypoint run's predictions as float32 (N, 15, 2) pixels of the face crop."""
    columns = [f"pred_{column}" for column in KEYPOINT_COLUMNS]
    return predictions[columns].to_numpy(np.float32).reshape(len(predictions), -1, 2)


# ---------------------------------------------------------------- label noise (FER2013 against FER+)

def label_noise_table(dataset, votes, vote_names, probabilities=None):
    """Each labelled sample's label beside its annotators' votes (and a model's probabilities).

    Arguments:
        dataset: a classification ``Dataset`` (FER2013).
        votes: float array (N, K) of vote shares for the same rows (FER+'s ``soft_labels``; zeros: none).
        vote_names: the K vote names (matched to the dataset's label names by emotion name).
        probabilities: optional array (N, C) of a model's probabilities in the dataset's class order
            (out-of-sample only where the model did not train on the row: its test splits).

    Returns:
        DataFrame with id, split, label, annotators (their majority), label_votes (the share of
        votes for the row's own label), the vote shares (``votes_NAME``) and, with probabilities,
        model (its answer) and model_label_p (its probability for the row's label); sorted by
        label_votes, least supported labels first. Rows without a label or without votes are left out.
    """
    from fer_core.data.audit import label_disagreement

    agreement, majority = label_disagreement(dataset.labels, dataset.label_names, votes, vote_names)
    keep = np.flatnonzero(np.isfinite(agreement))
    names = np.array(dataset.label_names, dtype=object)
    table = pd.DataFrame({
        "id": dataset.ids[keep], "split": dataset.splits[keep], "label": names[dataset.labels[keep]],
        "annotators": np.array(vote_names, dtype=object)[majority[keep]], "label_votes": agreement[keep],
    })
    for k, name in enumerate(vote_names):
        table[f"votes_{name}"] = votes[keep, k]
    if probabilities is not None:
        probabilities = np.asarray(probabilities)[keep]
        table["model"] = names[probabilities.argmax(axis=1)]
        table["model_label_p"] = probabilities[np.arange(len(keep)), dataset.labels[keep]]
    return table.sort_values("label_votes", kind="stable").reset_index(drop=True)


def noise_pairs(table):
    """Counts of (label, annotators' majority) pairs that disagree by name, largest first.

    Returns:
        DataFrame with label, annotators, count.
    """
    differs = table["label"].map(canonical_emotion) != table["annotators"].map(canonical_emotion)
    counts = table[differs].groupby(["label", "annotators"]).size().rename("count").reset_index()
    return counts.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)
