"""Which part of a face drove the emotion model's top class: saliency maps.

Two methods, both on the exact crop the model sees (``EmotionClassifier.crop_faces``):

    - "occlusion" (default): a grey patch is slid over the crop and the drop in the
      class's probability is recorded wherever the patch was. Model-agnostic, so it
      runs on the ``.tflite`` model, without TensorFlow; all patches go through the
      model in one batch.
    - "grad-cam": Grad-CAM (Selvaraju et al., 2017) on the Keras model's last
      convolutional layer: the layer's feature maps weighted by the mean gradient of
      the class score. TensorFlow is imported only when this method is asked for.
      The class score is the log-probability contrast ``log p_c - mean_j log p_j``
      (equal to the logit contrast for a softmax output), which does not vanish
      when the softmax saturates.

Every map is returned normalised to 0..1 (all zeros when the model shows no
sensitivity at all), and can be placed back on the full image (``map_to_image``)
or blended over the crop for display (``overlay_heatmap``).
"""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_core.errors import ModelError
from fer_core.data.face_crops import square_box
from fer_core.inference.runtime import VARIANT_SUFFIXES, crops_to_batch

METHODS = ("occlusion", "grad-cam")
CONV_LAYER_TYPES = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose")


@dataclass
class Saliency:
    """A saliency map for one face.

    Attributes:
        crop_map: float32 (S, S) in 0..1 over the model's input crop.
        crop: uint8 (S, S) the grey crop the model saw.
        class_index: the explained class.
        label: its name.
        method: "occlusion" or "grad-cam".
        box: the face's (x, y, w, h) in the image.
        margin: the crop margin used (to place the map back on the image).
    """

    crop_map: np.ndarray
    crop: np.ndarray
    class_index: int
    label: str
    method: str
    box: tuple
    margin: float

    def image_map(self, image_shape):
        """The map placed on a full image of ``image_shape`` (zero outside the face crop)."""
        return map_to_image(self.crop_map, image_shape, self.box, self.margin)


# ---------------------------------------------------------------- pure helpers

def normalise_map(values):
    """Scales a map to 0..1 (negative values clipped); an all-zero or flat map gives zeros.

    Arguments:
        values: array (H, W).

    Returns:
        float32 array (H, W) with max 1 (or all 0).
    """
    values = np.nan_to_num(np.asarray(values, np.float32))
    values = np.maximum(values, 0.0)
    high = float(values.max()) if values.size else 0.0
    if high <= 1e-12:
        return np.zeros_like(values, np.float32)
    return (values / high).astype(np.float32)


def occlusion_batch(crop, patch, stride, fill):
    """All occluded copies of a crop and where each patch sits.

    Arguments:
        crop: uint8 (S, S).
        patch: patch side in pixels.
        stride: step between patches.
        fill: grey value painted into the patch.

    Returns:
        (uint8 array (N, S, S), list of N (y, x) patch corners).
    """
    size = crop.shape[0]
    last = max(0, size - patch)
    starts = sorted(set(list(range(0, last + 1, stride)) + [last]))
    corners = [(y, x) for y in starts for x in starts]
    batch = np.repeat(crop[None], len(corners), axis=0)
    for i, (y, x) in enumerate(corners):
        batch[i, y:y + patch, x:x + patch] = fill
    return batch, corners


def occlusion_map(base_probability, occluded_probabilities, corners, size, patch):
    """Averages each patch's probability drop over the pixels it covered.

    Returns:
        float32 (size, size), raw (not normalised); positive where hiding the pixels hurt the class.
    """
    total = np.zeros((size, size), np.float32)
    count = np.zeros((size, size), np.float32)
    for drop, (y, x) in zip(base_probability - np.asarray(occluded_probabilities, np.float32), corners):
        total[y:y + patch, x:x + patch] += drop
        count[y:y + patch, x:x + patch] += 1.0
    return total / np.maximum(count, 1.0)


def map_to_image(crop_map, image_shape, box, margin=0.0):
    """Places a crop's map back on the full image (inverse of ``preprocess.crop_face``'s cut).

    Arguments:
        crop_map: float (S, S) over the model's crop.
        image_shape: the image's shape (H, W, ...).
        box: the face's (x, y, w, h).
        margin: the crop margin the model used.

    Returns:
        float32 (H, W): the map resized onto the crop's square, zero elsewhere.
    """
    height, width = image_shape[:2]
    x, y, side, _ = square_box(box, margin)
    x0, y0, s = int(round(x)), int(round(y)), max(1, int(round(side)))
    resized = cv2.resize(np.asarray(crop_map, np.float32), (s, s), interpolation=cv2.INTER_LINEAR)
    full = np.zeros((height, width), np.float32)
    top, left = max(0, y0), max(0, x0)
    bottom, right = min(height, y0 + s), min(width, x0 + s)
    if bottom > top and right > left:
        full[top:bottom, left:right] = resized[top - y0:bottom - y0, left - x0:right - x0]
    return full


def overlay_heatmap(gray_or_bgr, saliency_map, alpha=0.45, size=None):
    """Blends a 0..1 map, as a JET heatmap, over an image (e.g. the face crop).

    Arguments:
        gray_or_bgr: uint8 (H, W) or (H, W, 3).
        saliency_map: float (h, w) in 0..1 (resized to the image).
        alpha: weight of the heatmap.
        size: optional side to which a square result is scaled (for display).

    Returns:
        uint8 BGR (H, W, 3), or (size, size, 3).
    """
    image = np.asarray(gray_or_bgr, np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if size:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)
    heat = cv2.resize(np.asarray(saliency_map, np.float32), (image.shape[1], image.shape[0]),
                      interpolation=cv2.INTER_LINEAR)
    colored = cv2.applyColorMap(np.clip(heat * 255.0, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.addWeighted(image, 1.0 - alpha, colored, alpha, 0.0)


def last_conv_layer_name(model):
    """The name of a Keras model's last convolutional layer (its output is 4-D).

    Falls back to the last layer with a 4-D output when no layer is of a conv type.

    Raises:
        ModelError: the model has no 4-D feature map.
    """
    last_conv = last_4d = None
    for layer in model.layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) != 4 or layer.__class__.__name__ == "InputLayer":
            continue
        last_4d = layer.name
        if layer.__class__.__name__ in CONV_LAYER_TYPES:
            last_conv = layer.name
    if last_conv or last_4d:
        return last_conv or last_4d
    raise ModelError("the emotion model has no convolutional layer for Grad-CAM")


def keras_path_for(source):
    """The ``.keras`` file that goes with a model path (``emotion_int8.tflite`` -> ``emotion.keras``), or None."""
    if not source:
        return None
    path = Path(source)
    stems = [path.stem] + [path.stem[: -len(s)] for s in VARIANT_SUFFIXES if path.stem.endswith(s)]
    for stem in stems:
        candidate = path.with_name(stem + ".keras")
        if candidate.is_file():
            return candidate
    return None


# ---------------------------------------------------------------- the two methods

def occlusion_saliency(predict_crops, crop, class_index, patch=None, stride=None):
    """Occlusion saliency of one crop: how much hiding each region lowers the class's probability.

    Arguments:
        predict_crops: function uint8 (N, S, S) -> probabilities (N, C)
            (e.g. ``EmotionClassifier.predict_crops``).
        crop: uint8 (S, S), the model's input crop.
        class_index: the class explained.
        patch: patch side (default S/6, at least 3).
        stride: step (default patch/4: overlapping patches give a smooth map).

    Returns:
        float32 (S, S) in 0..1.
    """
    crop = np.asarray(crop, np.uint8)
    size = crop.shape[0]
    patch = patch or max(3, size // 6)
    stride = stride or max(1, patch // 4)
    batch, corners = occlusion_batch(crop, patch, stride, fill=int(round(float(crop.mean()))))
    probabilities = np.asarray(predict_crops(np.concatenate([crop[None], batch])), np.float32)
    raw = occlusion_map(probabilities[0, class_index], probabilities[1:, class_index], corners, size, patch)
    return normalise_map(raw)


def grad_cam(model, crop, class_index, layer_name=None):
    """Grad-CAM of one crop on a Keras model (imports TensorFlow).

    Arguments:
        model: a ``keras.Model`` taking (N, S, S, 1) float 0..255 and giving probabilities.
        crop: uint8 (S, S).
        class_index: the class explained.
        layer_name: the feature layer (default: the last convolutional one).

    Returns:
        float32 (S, S) in 0..1.
    """
    import keras
    import tensorflow as tf

    layer = model.get_layer(layer_name or last_conv_layer_name(model))
    grad_model = keras.Model(model.inputs, [layer.output, model.outputs[0]])
    batch = tf.convert_to_tensor(crops_to_batch(crop))
    with tf.GradientTape() as tape:
        features, probabilities = grad_model(batch, training=False)
        log_p = tf.math.log(tf.clip_by_value(probabilities, 1e-12, 1.0))
        score = log_p[:, class_index] - tf.reduce_mean(log_p, axis=-1)
    gradients = tape.gradient(score, features)
    weights = tf.reduce_mean(gradients, axis=(1, 2))
    cam = tf.nn.relu(tf.reduce_sum(features * weights[:, None, None, :], axis=-1))[0].numpy()
    size = crop.shape[0]
    return normalise_map(cv2.resize(cam.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR))


# ---------------------------------------------------------------- named entry point

def explain_face(classifier, image_bgr, box, method="occlusion", class_index=None, keras_model=None, angle=None):
    """Saliency of one face for the emotion model's top class (or ``class_index``).

    Arguments:
        classifier: an ``EmotionClassifier``.
        image_bgr: the image (uint8).
        box: the face's (x, y, w, h).
        method: "occlusion" (runs the classifier as is, no TensorFlow) or "grad-cam"
            (needs the Keras model: the classifier's own, ``keras_model``, or the
            ``.keras`` file beside its ``.tflite``).
        class_index: the class to explain; default the most probable one.
        keras_model: a loaded ``keras.Model`` for "grad-cam" (saves reloading it).
        angle: degrees the face was turned by to level its eyes (``FaceResult.roll``), or None: the
            map is then of the upright crop the model saw (``Saliency.crop``).

    Returns:
        ``Saliency``.

    Raises:
        ValueError: unknown method.
        ModelError: "grad-cam" without a Keras model to run.
    """
    if method not in METHODS:
        raise ValueError(f"unknown saliency method {method!r}; choose one of {', '.join(METHODS)}")
    crop = classifier.crop_faces(image_bgr, [box], [angle])[0]
    if class_index is None:
        class_index = int(np.argmax(classifier.predict_crops(crop[None])[0]))
    if method == "occlusion":
        crop_map = occlusion_saliency(classifier.predict_crops, crop, class_index)
    else:
        crop_map = grad_cam(keras_model or keras_model_of(classifier), crop, class_index)
    return Saliency(crop_map=crop_map, crop=crop, class_index=class_index,
                    label=classifier.label_names[class_index], method=method,
                    box=tuple(int(v) for v in box), margin=classifier.info.margin)


def keras_model_of(classifier):
    """The Keras model behind a classifier: its own, or the ``.keras`` file beside its ``.tflite``.

    Raises:
        ModelError: there is none (Grad-CAM needs gradients; use "occlusion").
    """
    model = getattr(classifier.runner, "model", None)
    if model is not None:
        return model
    path = keras_path_for(classifier.source)
    if path is None:
        raise ModelError("Grad-CAM needs the Keras (.keras) model beside the .tflite one; "
                         "use the occlusion method instead")
    from fer_core.inference.runtime import load_keras_model

    return load_keras_model(path)
