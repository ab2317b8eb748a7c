"""Model runtimes for inference: an emotion classifier and a keypoint regressor.

A trained model is run from its ``.tflite`` file through LiteRT
(``ai_edge_litert``), which does not load TensorFlow: that keeps start-up fast
and memory low. Where there is no ``.tflite`` beside a ``.keras`` model, the
Keras model is used instead (TensorFlow is imported then, and only then).

All faces of a frame go through the model in one call. Int8 models (full
integer quantization) are handled: inputs are quantized and outputs
dequantized with the tensors' own scale and zero point.

Layers, bottom to top:
    - ``read_model_info`` / ``ModelInfo``: what a model is (task, labels, input size).
    - ``LiteRTModel`` / ``KerasModel``: run a float32 batch (N, H, W, 1) in 0..255.
    - ``load_model_runner``: picks one of the two for a path.
    - ``EmotionClassifier`` / ``KeypointRegressor``: frame + boxes in, results out,
      cropping faces with ``fer_core.data.face_crops`` (the training preprocessing), each
      turned upright when its roll is given (``aligned_crop``: the eyes level).
"""

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_core import config
from fer_core.errors import ModelError, filtered_native_stderr
from fer_core.inference.confidence import adjust_probabilities
from fer_core.data.face_crops import (EMOTION_MARGIN, KEYPOINT_MARGIN, aligned_crop, invert_affine, to_gray,
                                     transform_points)

from fer_core.config import CLASSIFICATION, KEYPOINTS

# The shipped models' file names in the models folder (``config.models_dir()``).
DEFAULT_MODEL_FILES = {"emotion": "emotion.keras", "keypoints": "keypoints.keras"}

INFO_FILENAME = "model_info.json"
# Suffixes of exported variants that share their base model's info file.
VARIANT_SUFFIXES = ("_int8", "_float", "_float16")
# The line LiteRT's native code prints on stderr for every interpreter; kept from the user's stderr.
XNNPACK_INFO = re.compile(rb"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$")


@dataclass(frozen=True)
class ModelInfo:
    """What a model is, as ``model_info.json`` states it (or as inferred).

    Attributes:
        task: "classification" or "keypoints".
        label_names: class names, in output order (classification), else ().
        input_size: side of the square input in pixels.
        margin: fraction of the face box added on each side before cropping.
        dataset: name of the training dataset, or None.
    """

    task: str
    label_names: tuple = ()
    input_size: int = config.EMOTION_INPUT_SIZE
    margin: float = EMOTION_MARGIN
    dataset: str = None
    extra: dict = field(default_factory=dict, compare=False)


# ---------------------------------------------------------------- pure helpers

def model_info_candidates(path):
    """Lists where a model's info file may be, most specific first.

    ``emotion_int8.tflite`` looks for ``emotion_int8.model_info.json``,
    ``emotion.model_info.json`` and then ``model_info.json`` in its folder.
    """
    path = Path(path)
    stems = [path.stem]
    for suffix in VARIANT_SUFFIXES:
        if path.stem.endswith(suffix):
            stems.append(path.stem[: -len(suffix)])
    return [path.with_name(f"{stem}.{INFO_FILENAME}") for stem in stems] + [path.with_name(INFO_FILENAME)]


def read_info_file(path):
    """Reads the first info file found for a model, as a dict, or returns None.

    Raises:
        ModelError: the file exists but is not a JSON object.
    """
    for candidate in model_info_candidates(path):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text())
            except (OSError, ValueError) as error:
                raise ModelError(f"{candidate}: not valid JSON ({error})") from None
            if not isinstance(data, dict):
                raise ModelError(f"{candidate}: expected a JSON object")
            return data
    return None


def infer_model_info(info_dict, input_size, output_size):
    """Combines a model's info file (if any) with its tensor shapes.

    Arguments:
        info_dict: the parsed info file, or None.
        input_size: side of the model's input.
        output_size: length of one output vector.

    Returns:
        ``ModelInfo``.

    Raises:
        ModelError: the info file contradicts the model.
    """
    info_dict = dict(info_dict or {})
    task = info_dict.get("task")
    if task is None:
        looks_like_keypoints = (output_size == len(config.KEYPOINT_COLUMNS)
                                and input_size == config.KEYPOINT_INPUT_SIZE)
        task = KEYPOINTS if looks_like_keypoints else CLASSIFICATION
    if task not in (CLASSIFICATION, KEYPOINTS):
        raise ModelError(f"unknown task {task!r} in model info")
    stated_size = info_dict.get("input_size")
    if stated_size is not None and int(stated_size) != input_size:
        raise ModelError(f"model info says input size {stated_size}, the model takes {input_size}")
    if task == CLASSIFICATION:
        labels = tuple(info_dict.get("label_names") or config.FER2013_EMOTIONS)
        if len(labels) != output_size:
            raise ModelError(
                f"the model outputs {output_size} classes but has {len(labels)} label names"
                + ("" if "label_names" in info_dict else " (no model_info.json; FER2013's 7 assumed)"))
        margin = EMOTION_MARGIN
    else:
        if output_size != len(config.KEYPOINT_COLUMNS):
            raise ModelError(
                f"a keypoint model must output {len(config.KEYPOINT_COLUMNS)} values, this one outputs {output_size}")
        labels = ()
        margin = KEYPOINT_MARGIN
    margin = float(info_dict.get("margin", margin))
    known = {"task", "label_names", "input_size", "margin", "dataset"}
    return ModelInfo(task=task, label_names=labels, input_size=int(input_size), margin=margin,
                     dataset=info_dict.get("dataset"),
                     extra={k: v for k, v in info_dict.items() if k not in known})


def quantize(x, scale, zero_point, dtype):
    """Float -> integer tensor with a tensor's (scale, zero_point)."""
    info = np.iinfo(dtype)
    return np.clip(np.rint(x / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(q, scale, zero_point):
    """Integer tensor -> float32 with a tensor's (scale, zero_point)."""
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)


def crops_to_batch(crops):
    """Stacks uint8 crops (N, S, S) into the models' float32 input (N, S, S, 1) in 0..255."""
    crops = np.asarray(crops)
    if crops.ndim == 2:
        crops = crops[None]
    return crops.astype(np.float32)[..., None]


def tflite_path_for(path):
    """Returns the ``.tflite`` file that goes with a model path, or None.

    For ``NAME.keras`` that is the file its info file names as ``runtime_tflite`` (``ship
    --runtime int8`` writes ``NAME_int8.tflite`` there) when present, else ``NAME.tflite``.
    """
    path = Path(path)
    if path.suffix == ".tflite":
        return path
    chosen = (read_info_file(path) or {}).get("runtime_tflite")
    for candidate in ([path.with_name(Path(chosen).name)] if chosen else []) + [path.with_suffix(".tflite")]:
        if candidate.is_file():
            return candidate
    return None


# ---------------------------------------------------------------- model runners

class LiteRTModel:
    """Runs a ``.tflite`` model with LiteRT (no TensorFlow import).

    Arguments:
        path: the ``.tflite`` file.
        num_threads: interpreter threads (1 suits small models on a few cores).

    Thread-safe: one lock around each batch (set input, invoke, read output).
    """

    backend = "litert"

    def __init__(self, path, num_threads=1):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: no such model file")
        try:  # without LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on stderr
            with filtered_native_stderr(XNNPACK_INFO):
                self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ModelError(f"{self.path}: not a valid TFLite model ({error})") from None
        self._lock = threading.Lock()
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{self.path}: expected one input and one output tensor")
        self._input, self._output = inputs[0], outputs[0]
        shape = self._input["shape"]
        if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 1:
            raise ModelError(f"{self.path}: expected an input of shape (N, S, S, 1), got {list(shape)}")
        self.input_size = int(shape[1])
        self.output_size = int(np.prod(self._output["shape"][1:]))
        self.input_dtype = np.dtype(self._input["dtype"])
        self.output_dtype = np.dtype(self._output["dtype"])
        self._batch = int(shape[0])

    @property
    def quantized(self):
        """True for an int8/uint8 input model."""
        return self.input_dtype.kind in "iu"

    def run(self, batch):
        """Runs one batch.

        Arguments:
            batch: float32 array (N, S, S, 1), pixel values 0..255.

        Returns:
            float32 array (N, output_size).
        """
        batch = np.asarray(batch, np.float32)
        if len(batch) == 0:
            return np.zeros((0, self.output_size), np.float32)
        if self.quantized:
            scale, zero_point = self._input["quantization"]
            batch = quantize(batch, scale, zero_point, self.input_dtype)
        with self._lock:
            if len(batch) != self._batch:
                self._interpreter.resize_tensor_input(self._input["index"], list(batch.shape))
                self._interpreter.allocate_tensors()
                self._batch = len(batch)
            self._interpreter.set_tensor(self._input["index"], batch)
            self._interpreter.invoke()
            output = self._interpreter.get_tensor(self._output["index"]).copy()
        if self.output_dtype.kind in "iu":
            scale, zero_point = self._output["quantization"]
            output = dequantize(output, scale, zero_point)
        return output.reshape(len(batch), -1).astype(np.float32, copy=False)


class KerasModel:
    """Runs a Keras model (``.keras`` / ``.h5``) with ``predict_on_batch``; imports TensorFlow.

    Arguments:
        path_or_model: a model file, or a loaded ``keras.Model``.
    """

    backend = "keras"

    def __init__(self, path_or_model):
        if isinstance(path_or_model, (str, Path)):
            self.path = Path(path_or_model)
            self.model = load_keras_model(self.path)
        else:
            self.path = None
            self.model = path_or_model
        shape = self.model.input_shape
        if isinstance(shape, list) or len(shape) != 4 or shape[1] != shape[2] or shape[3] != 1:
            raise ModelError(f"{self.path or 'model'}: expected an input of shape (N, S, S, 1), got {shape}")
        self.input_size = int(shape[1])
        self.output_size = int(np.prod(self.model.output_shape[1:]))
        self._lock = threading.Lock()

    def run(self, batch):
        """Runs one batch; see ``LiteRTModel.run``."""
        batch = np.asarray(batch, np.float32)
        if len(batch) == 0:
            return np.zeros((0, self.output_size), np.float32)
        with self._lock:
            output = self.model.predict_on_batch(batch)
        return np.asarray(output, np.float32).reshape(len(batch), -1)


def load_keras_model(path):
    """Loads a Keras model file for inference (no compile), with a clear error.

    Raises:
        ModelError: missing or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    import keras

    try:  # compile=False: a saved run's keypoint loss (fer_core.training.losses) is not needed to infer
        return keras.saving.load_model(str(path), compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many kinds on a bad file
        raise ModelError(f"{path}: cannot load Keras model ({type(error).__name__}: {error})") from None


def load_model_runner(path, prefer_tflite=True, num_threads=1):
    """Loads a model for inference, preferring its ``.tflite`` file.

    Arguments:
        path: a ``.tflite`` file, or a ``.keras`` file (its sibling ``.tflite``
            with the same name is used when present and ``prefer_tflite``).
        prefer_tflite: False forces the Keras model for a ``.keras`` path.
        num_threads: LiteRT interpreter threads.

    Returns:
        ``LiteRTModel`` or ``KerasModel``.

    Raises:
        ModelError: no model there, or an unreadable one.
    """
    path = Path(path)
    tflite = tflite_path_for(path) if prefer_tflite or path.suffix == ".tflite" else None
    if tflite is not None:
        return LiteRTModel(tflite, num_threads=num_threads)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    return KerasModel(path)


# ---------------------------------------------------------------- face models

class _FaceModel:
    """Shared part of the two face models: a runner plus its ``ModelInfo``."""

    task = None

    def __init__(self, runner, info=None, source=None):
        self.runner = runner
        self.source = source
        self.info = info or infer_model_info(None, runner.input_size, runner.output_size)
        if self.info.task != self.task:
            raise ModelError(f"{source or 'model'} is a {self.info.task} model, not a {self.task} model")

    @classmethod
    def from_path(cls, path, prefer_tflite=True, num_threads=1):
        """Loads a model file (``.tflite`` or ``.keras``) with its info file.

        Arguments:
            path: the model file.
            prefer_tflite: use a sibling ``.tflite`` of a ``.keras`` file when present.
            num_threads: LiteRT interpreter threads.
        """
        runner = load_model_runner(path, prefer_tflite=prefer_tflite, num_threads=num_threads)
        info = infer_model_info(read_info_file(path), runner.input_size, runner.output_size)
        return cls(runner, info, source=str(path))

    @classmethod
    def from_keras(cls, model, info_dict=None):
        """Wraps an in-memory ``keras.Model`` (e.g. just trained)."""
        runner = KerasModel(model)
        return cls(runner, infer_model_info(info_dict, runner.input_size, runner.output_size))

    @property
    def input_size(self):
        return self.info.input_size

    @property
    def backend(self):
        """"litert" or "keras"."""
        return self.runner.backend

    def crop_faces(self, image, boxes, angles=None):
        """Cuts the faces out of a frame as this model expects them.

        Arguments:
            image: the frame (BGR, BGRA or gray; uint8).
            boxes: sequence of (x, y, w, h).
            angles: per face, the degrees to turn it by so that its eyes are level
                (``Detection.roll_degrees``) or None; None: no face turned.

        Returns:
            uint8 array (N, S, S).
        """
        return self.aligned_crops(image, boxes, angles)[0]

    def aligned_crops(self, image, boxes, angles=None):
        """``crop_faces`` and, per face, the affine matrix (frame -> crop pixels) of its crop.

        Returns:
            (uint8 array (N, S, S), float64 array (N, 2, 3)).
        """
        gray = to_gray(image)
        size, margin = self.info.input_size, self.info.margin
        angles = [None] * len(boxes) if angles is None else list(angles)
        cut = [aligned_crop(gray, box, size, margin, angle) for box, angle in zip(boxes, angles)]
        if not cut:
            return np.zeros((0, size, size), np.uint8), np.zeros((0, 2, 3))
        return np.stack([crop for crop, _ in cut]), np.stack([matrix for _, matrix in cut])


class EmotionClassifier(_FaceModel):
    """Classifies face crops into emotions.

    Build with ``EmotionClassifier.from_path("assets/models/emotion.keras")``
    (runs ``emotion.tflite`` beside it when present) or ``from_keras(model)``.
    """

    task = CLASSIFICATION

    @property
    def label_names(self):
        return self.info.label_names

    @property
    def adjustment(self):
        """The info file's ``output_adjustment`` ({"class_prior", "prior_power", "temperature"}) or None."""
        return self.info.extra.get("output_adjustment")

    def predict_crops(self, crops, flip_tta=False):
        """Class probabilities for face crops, in one model call.

        Arguments:
            crops: uint8 (N, S, S) crops, S = ``input_size``.
            flip_tta: also classify the mirrored crops and average the two (flip test-time
                augmentation, as ``evaluate --tta``: more accurate, at twice the model time).

        Returns:
            float32 array (N, C), rows summing to about 1, adjusted as the model's info file says
            (``output_adjustment``: prior correction and temperature, ``confidence.adjust_probabilities``).
        """
        batch = crops_to_batch(crops)
        if not flip_tta:
            return adjust_probabilities(self.runner.run(batch), self.adjustment)
        both = self.runner.run(np.concatenate([batch, batch[:, :, ::-1]]))
        return adjust_probabilities((both[:len(batch)] + both[len(batch):]) / 2, self.adjustment)

    def predict(self, image, boxes, flip_tta=False, angles=None):
        """Class probabilities for the faces of a frame, in one model call.

        Arguments:
            image: the frame (uint8; BGR, BGRA or gray).
            boxes: sequence of (x, y, w, h) face boxes.
            flip_tta: average with the mirrored faces (see ``predict_crops``).
            angles: per face, degrees that level its eyes, or None (see ``crop_faces``).

        Returns:
            float32 array (N, C).
        """
        return self.predict_crops(self.crop_faces(image, boxes, angles), flip_tta)


class KeypointRegressor(_FaceModel):
    """Predicts the 15 facial keypoints (``config.KEYPOINT_NAMES``) of faces."""

    task = KEYPOINTS

    def predict_crops(self, crops):
        """Keypoints in crop pixels.

        Arguments:
            crops: uint8 (N, S, S) crops.

        Returns:
            float32 array (N, 15, 2) of (x, y) in crop pixels.
        """
        return self.runner.run(crops_to_batch(crops)).reshape(-1, len(config.KEYPOINT_NAMES), 2)

    def predict(self, image, boxes, angles=None):
        """Keypoints of the faces of a frame, in frame pixels, in one model call.

        Arguments:
            image: the frame (uint8; BGR, BGRA or gray).
            boxes: sequence of (x, y, w, h).
            angles: per face, degrees that level its eyes, or None (see ``crop_faces``); the points
                found in a turned crop are turned back into the frame.

        Returns:
            float32 array (N, 15, 2) of (x, y) in frame pixels.
        """
        crops, matrices = self.aligned_crops(image, boxes, angles)
        points = self.predict_crops(crops)
        return np.stack([transform_points(p, invert_affine(m)) for p, m in zip(points, matrices)]) \
            if len(boxes) else np.zeros((0, len(config.KEYPOINT_NAMES), 2), np.float32)


def default_model_path(kind):
    """The shipped model for "emotion" or "keypoints" (the ``.keras`` path; its ``.tflite`` is preferred)."""
    return config.models_dir() / DEFAULT_MODEL_FILES[kind]


def shipped_model_exists(kind):
    """True when the shipped model of that kind is present (as ``.keras`` or ``.tflite``)."""
    path = default_model_path(kind)
    return path.is_file() or path.with_suffix(".tflite").is_file()


# Vector-instruction features of a CPU that LiteRT's XNNPACK kernels can use, in that order.
CPU_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def describe_cpu(cpuinfo, cores):
    """One line naming a CPU and its speed-relevant features, from ``/proc/cpuinfo`` text.

    Latency depends on the CPU far more than on anything else (the int8 resnet10 classifier took
    0.39 ms per face on an earlier session's CPU and 3.4 ms on an AMD EPYC with AVX2 but no
    AVX-512), so every latency figure comes with this line.

    Arguments:
        cpuinfo: the text of ``/proc/cpuinfo`` ("" when unknown).
        cores: number of logical CPUs.

    Returns:
        e.g. "AMD EPYC, 2 cores, avx2 fma" (features from ``CPU_FEATURES`` the CPU has).
    """
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    name = fields.get("model name") or "unknown CPU"
    return f"{name}, {cores} core{'s' if cores != 1 else ''}, " + (" ".join(f for f in CPU_FEATURES if f in flags) or "no AVX2")


def cpu_description():
    """``describe_cpu`` of this machine (``platform.processor()`` where there is no /proc/cpuinfo)."""
    import os
    import platform

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = f"model name: {platform.processor() or platform.machine()}"
    return describe_cpu(cpuinfo, os.cpu_count())


def median_latency_ms(runner, side, repeat=200):
    """Median milliseconds of one call on one face (after a warm-up).

    Arguments:
        runner: a ``LiteRTModel`` or ``KerasModel``.
        side: the model's input side.
        repeat: timed calls.
    """
    import time

    face = np.full((1, side, side, 1), 128, np.float32)
    for _ in range(10):
        runner.run(face)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        runner.run(face)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))
