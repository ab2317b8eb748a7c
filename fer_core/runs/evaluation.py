"""Evaluate a saved model on a dataset split.

A ``.keras`` model loads through ``runtime.load_keras_model`` (Keras ``safe_mode``, no pickles);
a ``.tflite`` file (float or int8, as ``ship`` writes them) runs through LiteRT, so the accuracy
of the file the app runs is measured the same way as the Keras model's.
"""

import numpy as np

from fer_core.config import KEYPOINTS, canonical_emotion
from fer_core.data import load_dataset
from fer_core.data.audit import pixel_hashes
from fer_core.data.base import ALL_SPLITS
from fer_core.errors import DatasetError, ModelError
from fer_core.runs.metrics import classification_metrics, keypoint_metrics
from fer_core.inference.batch import predict_dataset
from fer_core.inference.confidence import adjust_probabilities
from fer_core.inference.runtime import load_model_runner, read_info_file


def model_info(model_path):
    """Returns what the info file beside a model says (task, label names, dataset, input size), or {}."""
    return read_info_file(model_path) or {}


def evaluate_outputs(dataset, outputs):
    """Metrics of model outputs against the dataset's labels or keypoints."""
    if dataset.task == KEYPOINTS:
        return keypoint_metrics(dataset.keypoints, outputs)
    return classification_metrics(dataset.labels, outputs.argmax(axis=1), dataset.label_names)


def evaluate_model(model_path, data, split, flip_tta=False, fold=None, folds=None, runner=None, raw=False):
    """Evaluates a saved model on one split of a dataset.

    Arguments:
        model_path: a ``.keras`` file, or a ``.tflite`` file (run through LiteRT; its info file is
            the one of the model it was exported from, e.g. ``emotion_int8.tflite`` -> ``emotion``'s).
        data: dataset name (see ``load_dataset``).
        split: split name or role (train/val/test), or "all" (every sample: a cross-dataset check).
        flip_tta: average with horizontally flipped inputs (classifiers).
        fold, folds: k-fold split for CK+48-style folders (default: from model_info.json, else 0/10).
        runner: the model at ``model_path`` already loaded (``runtime.load_model_runner``), e.g. to
            time it as well; default: loaded here.
        raw: score the model's own probabilities, without the ``output_adjustment`` (prior
            correction, temperature) of its info file that the app applies.

    Returns:
        dict of metrics (see ``fer_core.runs.metrics``). For a classifier, the dataset's labels are
        mapped to the model's by name (anger -> angry, sadness -> sad, ...): ``accuracy``,
        ``macro_f1`` and ``n`` cover the samples of classes the model knows, and ``excluded``
        gives {class: count} of the samples of classes it does not know. On a test split of a
        dataset with a training split, ``leak_free`` gives {accuracy, macro_f1, n, left_out}
        without the test images that are exact copies of training images.
    """
    info = model_info(model_path)
    fold = info.get("fold", 0) if fold is None else fold
    folds = info.get("folds", 10) if folds is None else folds
    runner = runner or load_model_runner(model_path, prefer_tflite=False)
    full = load_dataset(data, fold=fold, folds=folds)
    dataset = full.subset(split).labelled()
    if not len(dataset):
        raise DatasetError(f"dataset {data}: split {split!r} is empty (no labelled sample to evaluate on)")
    if dataset.task == KEYPOINTS and runner.output_size != 30:
        raise ModelError(f"{model_path}: a classifier cannot be evaluated on keypoint data ({data})")
    if dataset.task != KEYPOINTS:
        names = info.get("label_names") or list(dataset.label_names)
        if runner.output_size != len(names):
            raise ModelError(f"{model_path}: model has {runner.output_size} outputs but "
                             f"{len(names)} label names")
        excluded = unknown_class_counts(dataset, names)
        dataset = relabel(dataset, names)
        if not len(dataset):
            raise ModelError(f"{model_path}: none of the {sum(excluded.values())} samples of split {split!r} of "
                             f"{data} is of a class the model knows ({', '.join(excluded)})")
        outputs = predict_dataset(runner, dataset, flip_tta)
        if not raw:
            outputs = adjust_probabilities(outputs, info.get("output_adjustment"))
        metrics = {**evaluate_outputs(dataset, outputs), "excluded": excluded}
        if split not in (ALL_SPLITS, "train", full.role_splits.get("train")) and "train" in full.role_splits:
            leaked = copies_of_training(full, dataset.images)
            clean = evaluate_outputs(dataset.select(~leaked), outputs[~leaked])
            metrics["leak_free"] = {"accuracy": clean["accuracy"], "macro_f1": clean["macro_f1"], "n": clean["n"],
                                    "left_out": int(leaked.sum())}
        return metrics
    return evaluate_outputs(dataset, predict_dataset(runner, dataset, flip_tta))


def copies_of_training(dataset, images):
    """True for each image that is an exact pixel copy of one of the dataset's training images."""
    training = set(pixel_hashes(dataset.subset("train").images))
    return np.array([key in training for key in pixel_hashes(images)], bool)


def unknown_class_counts(dataset, model_label_names):
    """{class name: sample count} of the dataset's classes that a model does not know (by name)."""
    known = {canonical_emotion(n) for n in model_label_names}
    counts = np.bincount(dataset.labels[dataset.labels >= 0], minlength=len(dataset.label_names))
    return {name: int(count) for name, count in zip(dataset.label_names, counts)
            if canonical_emotion(name) not in known and count}


def relabel(dataset, model_label_names):
    """Expresses a dataset's labels in a model's label space, matching emotions by name.

    Samples whose label the model does not have (e.g. FER+'s contempt for a FER2013
    model) are dropped. A dataset with the model's own names comes back unchanged.

    Raises:
        ModelError: when no label name matches.
    """
    if tuple(dataset.label_names) == tuple(model_label_names):
        return dataset
    from dataclasses import replace

    position = {canonical_emotion(n): i for i, n in enumerate(model_label_names)}
    mapping = np.array([position.get(canonical_emotion(n), -1) for n in dataset.label_names])
    if (mapping < 0).all():
        raise ModelError(f"none of the dataset's labels ({', '.join(dataset.label_names)}) is one of the "
                         f"model's ({', '.join(model_label_names)})")
    mapped = replace(dataset, labels=mapping[dataset.labels], label_names=tuple(model_label_names),
                     soft_labels=None)
    return mapped.select(mapped.labels >= 0)
