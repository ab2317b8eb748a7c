"""Evaluate a saved model on a dataset split.

A ``.keras`` model loads through ``runtime.load_keras_model`` (Keras ``safe_mode``, no pickles);
a ``.tflite`` file (float or int8, as ``ship`` writes them) runs through LiteRT, so the accuracy
of the file the app runs is measured the same way as the Keras model's.
"""

import cv2
import numpy as np

from .config import canonical_emotion
from .datasets import KEYPOINTS, load_dataset
from .errors import ModelError
from .metrics import classification_metrics, keypoint_metrics
from .runtime import KerasModel, load_model_runner, read_info_file


def model_info(model_path):
    """Returns what the info file beside a model says (task, label names, dataset, input size), or {}."""
    return read_info_file(model_path) or {}


def fit_images(images, side):
    """Resizes uint8 images (N, H, W) to side x side with cv2.resize; returns float32 (N, side, side, 1)."""
    if images.shape[1:3] != (side, side):
        images = np.stack([cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA
                                      if im.shape[0] > side else cv2.INTER_LINEAR) for im in images])
    return images.astype(np.float32)[..., None]


def as_runner(model):
    """A runtime runner (``LiteRTModel`` / ``KerasModel``, with ``run`` and ``input_size``) for a
    runner or a loaded ``keras.Model``."""
    return model if hasattr(model, "run") else KerasModel(model)


def predict_in_batches(model, images, batch_size=256):
    """Runs a model (``keras.Model`` or runner) over float images (N, S, S, 1), one batch per call
    (``predict_on_batch`` for Keras: no per-call overhead of predict); returns (N, outputs)."""
    runner = as_runner(model)
    outputs = [runner.run(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
    return np.concatenate(outputs) if outputs else np.zeros((0, runner.output_size), np.float32)


def predict_dataset(model, dataset, flip_tta=False):
    """Model outputs for every sample of a dataset, resized to the model's input.

    Arguments:
        model: a ``keras.Model``, or a runner from ``runtime.load_model_runner`` (e.g. a ``.tflite``).
        flip_tta: also run the mirrored images and average (classifiers only).

    Returns:
        array (N, C) of probabilities, or (N, 15, 2) keypoints in the dataset's pixels.
    """
    runner = as_runner(model)
    side = runner.input_size
    images = fit_images(dataset.images, side)
    outputs = predict_in_batches(runner, images)
    if dataset.task == KEYPOINTS:
        return outputs.reshape(-1, 15, 2) * (dataset.image_size[0] / side)
    if flip_tta:
        outputs = (outputs + predict_in_batches(runner, images[:, :, ::-1])) / 2.0
    return outputs


def evaluate_outputs(dataset, outputs):
    """Metrics of model outputs against the dataset's labels or keypoints."""
    if dataset.task == KEYPOINTS:
        return keypoint_metrics(dataset.keypoints, outputs)
    return classification_metrics(dataset.labels, outputs.argmax(axis=1), dataset.label_names)


def evaluate_model(model_path, data, split, flip_tta=False, fold=None, folds=None, runner=None):
    """Evaluates a saved model on one split of a dataset.

    Arguments:
        model_path: a ``.keras`` file, or a ``.tflite`` file (run through LiteRT; its info file is
            the one of the model it was exported from, e.g. ``emotion_int8.tflite`` -> ``emotion``'s).
        data: dataset name (see ``load_dataset``).
        split: split name or role (train/val/test).
        flip_tta: average with horizontally flipped inputs (classifiers).
        fold, folds: k-fold split for CK+48-style folders (default: from model_info.json, else 0/10).
        runner: the model at ``model_path`` already loaded (``runtime.load_model_runner``), e.g. to
            time it as well; default: loaded here.

    Returns:
        dict of metrics (see ``fer_core.metrics``).
    """
    info = model_info(model_path)
    fold = info.get("fold", 0) if fold is None else fold
    folds = info.get("folds", 10) if folds is None else folds
    runner = runner or load_model_runner(model_path, prefer_tflite=False)
    dataset = load_dataset(data, fold=fold, folds=folds).subset(split).labelled()
    if dataset.task == KEYPOINTS and runner.output_size != 30:
        raise ModelError(f"{model_path}: a classifier cannot be evaluated on keypoint data ({data})")
    if dataset.task != KEYPOINTS:
        names = info.get("label_names") or list(dataset.label_names)
        if runner.output_size != len(names):
            raise ModelError(f"{model_path}: model has {runner.output_size} outputs but "
                             f"{len(names)} label names")
        dataset = relabel(dataset, names)
    return evaluate_outputs(dataset, predict_dataset(runner, dataset, flip_tta))


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
