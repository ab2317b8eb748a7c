"""Calibrated confidence: temperature scaling (Guo et al. 2017), expected calibration error and
reliability bins, on plain probability arrays (NumPy and SciPy; no TensorFlow).

A classifier's softmax says "90% happy" more often than it is right 90% of the time. Temperature
scaling divides the log-probabilities by one number T, fitted on the validation split by
minimising the negative log-likelihood; the ranking of classes (and so the accuracy) does not
change, only how sure the model says it is. ECE is measured on the test split before and after.
Applying a fitted temperature is inference's business (``fer_core.inference.confidence``).
"""

import numpy as np

from fer_core.inference.confidence import apply_temperature, correct_prior

# Bins of the expected calibration error and the reliability diagram (equal-width confidence bins).
ECE_BINS = 15
# The temperature is searched in this range (T < 1 sharpens, T > 1 softens).
TEMPERATURE_RANGE = (0.05, 20.0)
# The prior-correction powers tried (0: none, 1: the training prior removed entirely).
PRIOR_POWERS = tuple(np.round(np.arange(0.0, 1.0001, 0.05), 2))


def negative_log_likelihood(probabilities, labels):
    """Mean -log p(true class) over the samples."""
    picked = np.asarray(probabilities)[np.arange(len(labels)), np.asarray(labels)]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))


def fit_temperature(probabilities, labels):
    """The temperature that minimises the negative log-likelihood of the labels.

    Arguments:
        probabilities: array (N, C) of a model's probabilities on the validation split.
        labels: int array (N,) of the true classes.

    Returns:
        T (float) in ``TEMPERATURE_RANGE``.
    """
    from scipy.optimize import minimize_scalar

    if len(labels) == 0:
        raise ValueError("fitting a temperature needs at least one labelled sample")
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(apply_temperature(probabilities, np.exp(log_t)), labels),
        bounds=tuple(np.log(TEMPERATURE_RANGE)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


def reliability_bins(probabilities, labels, bins=ECE_BINS):
    """Confidence against accuracy in equal-width bins of the top class's probability.

    Returns:
        list of {"low", "high", "count", "confidence", "accuracy"} per bin (confidence and accuracy
        are None for an empty bin).
    """
    probabilities = np.asarray(probabilities)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        count = int(inside.sum())
        rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": count,
                     "confidence": float(confidence[inside].mean()) if count else None,
                     "accuracy": float(correct[inside].mean()) if count else None})
    return rows


def expected_calibration_error(probabilities, labels, bins=ECE_BINS):
    """ECE: the mean gap between confidence and accuracy over the bins, weighted by their counts."""
    rows = reliability_bins(probabilities, labels, bins)
    total = sum(row["count"] for row in rows)
    if total == 0:
        return 0.0
    return float(sum(row["count"] * abs(row["confidence"] - row["accuracy"]) for row in rows if row["count"]) / total)


def calibration_report(val_probabilities, val_labels, test_probabilities, test_labels, bins=ECE_BINS):
    """Temperature fitted on the validation split; ECE and reliability on the test split before and after.

    Returns:
        {"temperature", "bins", "ece_before", "ece_after", "nll_before", "nll_after",
         "reliability_before", "reliability_after"} (the last two from ``reliability_bins``).
    """
    temperature = fit_temperature(val_probabilities, val_labels)
    calibrated = apply_temperature(test_probabilities, temperature)
    return {
        "temperature": temperature,
        "bins": bins,
        "ece_before": expected_calibration_error(test_probabilities, test_labels, bins),
        "ece_after": expected_calibration_error(calibrated, test_labels, bins),
        "nll_before": negative_log_likelihood(test_probabilities, test_labels),
        "nll_after": negative_log_likelihood(calibrated, test_labels),
        "reliability_before": reliability_bins(test_probabilities, test_labels, bins),
        "reliability_after": reliability_bins(calibrated, test_labels, bins),
    }


def macro_f1(probabilities, labels, classes):
    """Macro-averaged F1 of the argmax over the classes present in ``labels``."""
    from sklearn.metrics import f1_score

    present = np.unique(labels)
    return float(f1_score(labels, np.asarray(probabilities).argmax(axis=1), labels=present, average="macro",
                          zero_division=0)) if len(present) and classes else 0.0


def fit_prior_power(probabilities, labels, class_prior, powers=PRIOR_POWERS):
    """The prior-correction power that gives the best macro-F1 on the validation split.

    Macro-F1 weighs every class alike, so the power chosen is the one at which the model stops
    favouring the classes that were frequent in training; ties go to the smaller power.

    Arguments:
        probabilities: array (N, C) of a model's probabilities on the validation split.
        labels: int array (N,) of the true classes.
        class_prior: the training split's class shares (C,).
        powers: the powers tried.

    Returns:
        (power, {power: macro-F1}) with the scores of every power tried.
    """
    classes = probabilities.shape[1]
    scores = {float(power): macro_f1(correct_prior(probabilities, class_prior, power), labels, classes)
              for power in powers}
    best = max(scores.values())
    return min(power for power, score in scores.items() if score >= best - 1e-12), scores


def fit_output_adjustment(probabilities, labels, class_prior):
    """The ``output_adjustment`` of a classifier's info file, fitted on its validation split.

    First the prior-correction power (``fit_prior_power``), then the temperature of the corrected
    probabilities (``fit_temperature``).

    Returns:
        {"class_prior": [...], "prior_power", "temperature", "val_macro_f1": {power: score}}.
    """
    power, scores = fit_prior_power(probabilities, labels, class_prior)
    corrected = correct_prior(probabilities, class_prior, power)
    return {"class_prior": [float(v) for v in class_prior], "prior_power": power,
            "temperature": fit_temperature(corrected, labels), "val_macro_f1": scores}
