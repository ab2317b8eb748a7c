"""Calibrated confidence: temperature scaling (Guo et al. 2017), expected calibration error and
reliability bins, on plain probability arrays (NumPy and SciPy; no TensorFlow).

A classifier's softmax says "90% happy" more often than it is right 90% of the time. Temperature
scaling divides the log-probabilities by one number T, fitted on the validation split by
minimising the negative log-likelihood; the ranking of classes (and so the accuracy) does not
change, only how sure the model says it is. ECE is measured on the test split before and after.
Applying a fitted temperature is inference's business (``fer_core.inference.confidence``).
"""

import numpy as np

from fer_core.inference.confidence import adjust_probabilities, apply_temperature, correct_prior

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


def calibration_report(val_probabilities, val_labels, test_probabilities, test_labels, class_prior=None,
                       prior_power=0.0, bins=ECE_BINS):
    """The model's calibration on the test split before and after its output adjustment.

    The adjustment is the prior correction (``class_prior`` to ``prior_power``; none by default)
    and then a temperature fitted on the corrected validation probabilities.

    Returns:
        {"temperature", "bins", "ece_before", "ece_after", "nll_before", "nll_after",
         "reliability_before", "reliability_after"}: "before" is the model's own probabilities,
        "after" the adjusted ones (the last two from ``reliability_bins``).
    """
    def corrected(probabilities):
        return correct_prior(probabilities, class_prior, prior_power) if class_prior is not None else probabilities

    temperature = fit_temperature(corrected(val_probabilities), val_labels)
    adjusted = apply_temperature(corrected(test_probabilities), temperature)
    return {
        "temperature": temperature,
        "bins": bins,
        "ece_before": expected_calibration_error(test_probabilities, test_labels, bins),
        "ece_after": expected_calibration_error(adjusted, test_labels, bins),
        "nll_before": negative_log_likelihood(test_probabilities, test_labels),
        "nll_after": negative_log_likelihood(adjusted, test_labels),
        "reliability_before": reliability_bins(test_probabilities, test_labels, bins),
        "reliability_after": reliability_bins(adjusted, test_labels, bins),
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


def calibrate_model(model_path, data, runner=None, fold=None, folds=None):
    """Fits a classifier's ``output_adjustment`` on its validation split and measures it on the test split.

    Arguments:
        model_path: a ``.keras`` or ``.tflite`` classifier with its info file.
        data: the dataset it was trained on (its train split gives the class prior: the mean of the
            soft labels where there are some, as FER+'s votes, else the label shares).
        runner: the model already loaded (``runtime.load_model_runner``); default: loaded here.
        fold, folds: k-fold split of folder datasets (default: from the info file).

    The prior-correction power is chosen first (``fit_prior_power``), then the temperature of the
    corrected probabilities (``calibration_report``).

    Returns:
        {"output_adjustment": {"class_prior", "prior_power", "temperature", "val_macro_f1"},
         "calibration": the test split's ``calibration_report`` (the model's own probabilities
         against the adjusted ones), "test_accuracy_raw", "test_accuracy_adjusted", "val_split",
         "test_split", "n"}.
    """
    from fer_core.data import load_dataset
    from fer_core.errors import DatasetError
    from fer_core.inference.batch import predict_dataset
    from fer_core.inference.runtime import load_model_runner
    from fer_core.runs.evaluation import model_info, relabel

    info = model_info(model_path)
    runner = runner or load_model_runner(model_path, prefer_tflite=False)
    names = info.get("label_names")
    fold = info.get("fold", 0) if fold is None else fold
    folds = info.get("folds", 10) if folds is None else folds
    dataset = load_dataset(data, fold=fold, folds=folds)
    train, val, test = (dataset.subset(role).labelled() for role in ("train", "val", "test"))
    prior = (train.soft_labels.mean(axis=0) if train.soft_labels is not None
             else np.bincount(train.labels, minlength=len(train.label_names)) / max(len(train), 1))
    for role, split in (("validation", val), ("test", test)):
        if len(split) == 0:
            raise DatasetError(f"{data}: its {role} split has no labelled images to calibrate on")
    if names and tuple(names) != tuple(train.label_names):
        raise ValueError(f"{model_path}: its classes are not those of {data}; calibrate it on its own dataset")
    val, test = relabel(val, names or train.label_names), relabel(test, names or train.label_names)
    val_p, test_p = predict_dataset(runner, val), predict_dataset(runner, test)
    power, scores = fit_prior_power(val_p, val.labels, prior)
    report = calibration_report(val_p, val.labels, test_p, test.labels, prior, power)
    adjustment = {"class_prior": [float(v) for v in prior], "prior_power": power,
                  "temperature": report["temperature"], "val_macro_f1": scores}
    adjusted = adjust_probabilities(test_p, adjustment)
    return {"output_adjustment": adjustment, "calibration": report,
            "test_accuracy_raw": float((test_p.argmax(1) == test.labels).mean()),
            "test_accuracy_adjusted": float((adjusted.argmax(1) == test.labels).mean()),
            "val_split": str(val.splits[0]) if len(val) else "", "test_split": str(test.splits[0]) if len(test) else "",
            "n": int(len(test))}
