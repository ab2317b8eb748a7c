"""Evaluation metrics on plain arrays (scikit-learn); no TensorFlow.

Classification: accuracy, per-class precision/recall/F1, macro-F1, confusion
matrix. Keypoints: RMSE in pixels overall and per keypoint (missing points
ignored), and the error normalised by the inter-ocular distance.
"""

import numpy as np

from fer_core.config import KEYPOINT_NAMES


def classification_metrics(y_true, y_pred, label_names):
    """Returns {"accuracy", "macro_f1", "n", "per_class": {name: {precision, recall, f1, support}},
    "confusion_matrix": [[...]] (rows = true label, columns = predicted)}."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = np.arange(len(label_names))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    present = support > 0
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "n": int(len(y_true)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(label_names, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def keypoint_metrics(true_points, pred_points):
    """RMSE of keypoints in pixels.

    Arguments:
        true_points: (N, 15, 2), NaN where missing.
        pred_points: (N, 15, 2).

    Returns:
        {"rmse", "n", "per_keypoint": {name: rmse}, "nme_interocular": mean error / eye distance}.
    """
    true_points = np.asarray(true_points, np.float64).reshape(-1, len(KEYPOINT_NAMES), 2)
    pred_points = np.asarray(pred_points, np.float64).reshape(-1, len(KEYPOINT_NAMES), 2)
    sq = (true_points - pred_points) ** 2  # NaN where missing
    per_point = np.sqrt(np.nanmean(sq, axis=(0, 2)))
    out = {
        "rmse": float(np.sqrt(np.nanmean(sq))),
        "n": int(len(true_points)),
        "per_keypoint": {name: float(v) for name, v in zip(KEYPOINT_NAMES, per_point)},
    }
    eyes = np.linalg.norm(true_points[:, 0] - true_points[:, 1], axis=1)
    distance = np.sqrt(sq.sum(axis=2))  # Euclidean error per point
    usable = np.isfinite(eyes) & (eyes > 0)
    if usable.any():
        out["nme_interocular"] = float(np.nanmean(distance[usable] / eyes[usable, None]))
    return out
