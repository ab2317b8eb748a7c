"""Exporting a trained Keras model to TFLite (float32 or full int8), and checking it.

``export_model(model_path, out_path, int8=...)`` converts with
``tf.lite.TFLiteConverter.from_keras_model``. Full-integer export calibrates on
images from the model's training split (the dataset named in its
``model_info.json``) and makes input and output int8 too. Afterwards the TFLite
model is scored next to the Keras model on the test split (accuracy for a
classifier, RMSE in input pixels for a keypoint model), so a lossy conversion
shows at once.

Imports TensorFlow (converting needs it); the runtime side does not.
"""

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_core.errors import DatasetError, ModelError
from fer_core.config import CLASSIFICATION
from fer_core.inference.runtime import (KerasModel, LiteRTModel, infer_model_info,
                              read_info_file)


@dataclass
class ExportReport:
    """What an export produced and how the two models score.

    Attributes:
        out_path: the written ``.tflite`` file.
        int8: whether it is full-integer quantized.
        keras_bytes / tflite_bytes: file sizes.
        metric: "accuracy" or "rmse" (None when not evaluated).
        keras_score / tflite_score: the metric on the test split.
        test_count: test samples scored.
        agreement: share of samples where both models give the same class (classifiers).
        note: why evaluation was skipped, if it was.
    """

    out_path: Path
    int8: bool
    keras_bytes: int
    tflite_bytes: int
    metric: str = None
    keras_score: float = None
    tflite_score: float = None
    test_count: int = 0
    agreement: float = None
    note: str = None

    def lines(self):
        """Human-readable summary lines."""
        kind = "int8" if self.int8 else "float32"
        out = [f"wrote {self.out_path} ({kind})",
               f"size: keras {self.keras_bytes / 1024:.1f} KiB, tflite {self.tflite_bytes / 1024:.1f} KiB"]
        if self.metric is None:
            out.append(f"not evaluated: {self.note}")
        else:
            unit = "" if self.metric == "accuracy" else " px"
            out.append(f"test {self.metric} on {self.test_count} samples: keras {self.keras_score:.4f}{unit}, "
                       f"tflite {self.tflite_score:.4f}{unit}")
            if self.agreement is not None:
                out.append(f"same class from both models: {100 * self.agreement:.2f}%")
        return out


# ---------------------------------------------------------------- pure helpers

def resize_images(images, size):
    """Resizes uint8 images (N, H, W) to (N, size, size) with ``cv2.resize`` (no-op if already)."""
    images = np.asarray(images, np.uint8)
    if images.shape[1:3] == (size, size):
        return images
    interpolation = cv2.INTER_AREA if images.shape[1] > size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(image, (size, size), interpolation=interpolation) for image in images])


def scale_keypoints(keypoints, from_shape, size):
    """Scales (N, 15, 2) keypoints from images of ``from_shape`` (H, W) to ``size`` x ``size``."""
    height, width = from_shape
    return keypoints * np.array([size / width, size / height], np.float32)


def sample_indices(count, limit, seed=0):
    """Up to ``limit`` indices of ``range(count)``, a seeded random sample in sorted order."""
    if limit is None or count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))


def classification_scores(probabilities, labels):
    """Accuracy of probability rows against int labels (labels < 0 ignored)."""
    keep = labels >= 0
    return float(np.mean(np.argmax(probabilities[keep], axis=1) == labels[keep]))


def keypoint_rmse(predicted, keypoints):
    """Root mean squared error over the known coordinates (NaN targets ignored)."""
    error = predicted.reshape(len(keypoints), -1) - keypoints.reshape(len(keypoints), -1)
    return float(np.sqrt(np.nanmean(error ** 2)))


def run_in_batches(runner, images, batch_size=256):
    """Runs a model runner over uint8 images (N, S, S) in batches; returns (N, outputs)."""
    outputs = [runner.run(images[i:i + batch_size].astype(np.float32)[..., None])
               for i in range(0, len(images), batch_size)]
    return np.concatenate(outputs) if outputs else np.zeros((0, runner.output_size), np.float32)


# ---------------------------------------------------------------- data

def load_split(dataset_name, role, info, limit=None, seed=0):
    """Loads one split of a dataset, resized to the model's input.

    Arguments:
        dataset_name: a name ``fer_core.data.load_dataset`` knows.
        role: "train", "val" or "test".
        info: the model's ``ModelInfo`` (input size, task).
        limit: at most this many samples (a seeded random sample).

    Returns:
        (images uint8 (N, S, S), targets): int labels (N,) for a classifier,
        keypoints (N, 15, 2) in input pixels for a keypoint model.
    """
    from fer_core.data import load_dataset

    try:
        dataset = load_dataset(dataset_name)
    except (KeyError, ValueError) as error:
        raise DatasetError(f"cannot load dataset {dataset_name!r}: {error}") from None
    split = dataset.subset(role)
    if info.task == CLASSIFICATION:
        split = split.select(split.labels >= 0)
    pick = sample_indices(len(split), limit, seed)
    images = split.images[pick]
    size = info.input_size
    if info.task == CLASSIFICATION:
        return resize_images(images, size), np.asarray(split.labels[pick])
    if split.keypoints is None:
        raise DatasetError(f"dataset {dataset_name!r} has no keypoints to test a keypoint model on")
    return resize_images(images, size), scale_keypoints(split.keypoints[pick], images.shape[1:3], size)


# ---------------------------------------------------------------- conversion

def convert_to_tflite(model, int8=False, representative_images=None):
    """Converts a Keras model to TFLite bytes.

    Arguments:
        model: a ``keras.Model`` taking float32 (N, S, S, 1) in 0..255.
        int8: full-integer quantization (int8 weights, activations, input and output).
        representative_images: uint8 (N, S, S) calibration images; required for int8.

    Returns:
        the ``.tflite`` flatbuffer as bytes.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        if representative_images is None or len(representative_images) == 0:
            raise ModelError("int8 export needs representative images")

        def representative_dataset():
            for image in representative_images:
                yield [image.astype(np.float32)[None, :, :, None]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its whole signature
            return converter.convert()
    except Exception as error:  # the converter raises many kinds
        raise ModelError(f"TFLite conversion failed ({type(error).__name__}: {error})") from None


def export_model(model_path, out_path, int8=False, dataset=None, calibration_count=300,
                 evaluate=True, eval_limit=None, seed=0, reuse=False):
    """Exports a ``.keras`` model to ``.tflite`` and scores both on the test split.

    Arguments:
        model_path: the trained ``.keras`` model (its ``model_info.json`` is read).
        out_path: the ``.tflite`` file to write.
        int8: full-integer quantization instead of float32.
        dataset: dataset name for calibration and testing; default: the one in
            ``model_info.json``.
        calibration_count: training images used to calibrate int8.
        evaluate: score Keras and TFLite models on the test split.
        eval_limit: at most this many test samples (None: all).
        seed: seed of the samples.
        reuse: keep ``out_path`` as it is (the caller knows it was exported from this model) and
            only score it: an int8 export calibrated on another CPU differs in a few bytes, and a
            re-ship from the same run should not add a new copy of the weights to git.

    Returns:
        ``ExportReport``.
    """
    model_path, out_path = Path(model_path), Path(out_path)
    if model_path.suffix == ".tflite":
        raise ModelError(f"{model_path}: already a TFLite model; export takes the .keras model")
    keras_runner = KerasModel(model_path)
    info = infer_model_info(read_info_file(model_path), keras_runner.input_size, keras_runner.output_size)
    dataset = dataset or info.dataset

    if not (reuse and out_path.is_file()):
        calibration = None
        if int8:
            if not dataset:
                raise ModelError("int8 export needs calibration images: pass --dataset NAME "
                                 "(or save model_info.json with a \"dataset\" beside the model)")
            calibration, _ = load_split(dataset, "train", info, limit=calibration_count, seed=seed)
        flatbuffer = convert_to_tflite(keras_runner.model, int8=int8, representative_images=calibration)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_bytes(flatbuffer)
    report = ExportReport(out_path=out_path, int8=int8, keras_bytes=model_path.stat().st_size,
                          tflite_bytes=out_path.stat().st_size)
    if not evaluate:
        report.note = "evaluation turned off"
        return report
    if not dataset:
        report.note = "no dataset known (pass --dataset NAME to score both models)"
        return report

    images, targets = load_split(dataset, "test", info, limit=eval_limit, seed=seed)
    tflite_runner = LiteRTModel(out_path)
    keras_out = run_in_batches(keras_runner, images)
    tflite_out = run_in_batches(tflite_runner, images)
    report.test_count = len(images)
    if info.task == CLASSIFICATION:
        report.metric = "accuracy"
        report.keras_score = classification_scores(keras_out, targets)
        report.tflite_score = classification_scores(tflite_out, targets)
        report.agreement = float(np.mean(np.argmax(keras_out, 1) == np.argmax(tflite_out, 1)))
    else:
        report.metric = "rmse"
        report.keras_score = keypoint_rmse(keras_out, targets)
        report.tflite_score = keypoint_rmse(tflite_out, targets)
    return report
