"""A model run over many images at once: a dataset split, teachers' targets, embeddings.

Images are resized with ``cv2.resize`` (never ``numpy.resize``, which pads instead of scaling) and
fed one batch per call (``predict_on_batch`` for Keras: no per-call overhead of ``predict``).
"""

import cv2
import numpy as np

from fer_core.config import KEYPOINTS
from fer_core.inference.runtime import KerasModel


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
