"""Random augmentation for tf.data, shared by classifiers and keypoint regressors.

One random affine transform per image (horizontal flip, small rotation,
shift and zoom) moves the image with ``ImageProjectiveTransformV3`` (the op
behind Keras's RandomRotation/RandomZoom) and, for keypoint targets, the
points with the same matrix; a flip also swaps left and right keypoints.
Random erasing (Zhong et al. 2017) then hides one rectangle of some images
behind noise, as a hand or a scarf would. Camera imitation makes some images look
as if another camera had made them (contrast, gamma, blur, sensor noise), and ``stretch`` changes the aspect ratio as a
detector's box of another shape would. Mixup (Zhang et al. 2018) blends
pairs of images and their class targets (classifiers only).
"""

import math
from dataclasses import dataclass

import tensorflow as tf

from fer_core.config import ERASE_SIDE_RANGE, KEYPOINT_FLIP_ORDER


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random transform.

    Attributes:
        flip: flip horizontally with probability 0.5.
        rotation: maximum rotation in degrees (either way).
        shift: maximum shift as a fraction of the side (each axis).
        zoom: maximum relative zoom (in or out).
        erase: probability of random erasing per image (0 = off).
        stretch: maximum change of the aspect ratio, as a log-ratio (0.1: up to about 10% wider or taller).
        camera: probability per image of ``imitate_cameras`` (0 = off).
    """

    flip: bool = True
    rotation: float = 10.0
    shift: float = 0.1
    zoom: float = 0.1
    erase: float = 0.0
    stretch: float = 0.0
    camera: float = 0.0


def random_affine(batch, side, aug, seed=None):
    """Draws forward transforms (input pixel -> output pixel) as (batch, 3, 3) matrices."""
    uniform = lambda lo, hi: tf.random.uniform([batch], lo, hi, seed=seed)  # noqa: E731
    c = (side - 1) / 2.0
    angle = uniform(-aug.rotation, aug.rotation) * (math.pi / 180.0)
    scale = 1.0 + uniform(-aug.zoom, aug.zoom)
    tx = uniform(-aug.shift, aug.shift) * side
    ty = uniform(-aug.shift, aug.shift) * side
    flip = tf.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0) if aug.flip else tf.ones([batch])
    aspect = tf.exp(uniform(-aug.stretch, aug.stretch)) if aug.stretch else tf.ones([batch])
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    # Centre, flip x, stretch, rotate+scale, move back and shift.
    a = cos * flip * aspect
    b = -sin / aspect
    d = sin * flip * aspect
    e = cos / aspect
    tx_total = c - a * c - b * c + tx
    ty_total = c - d * c - e * c + ty
    zeros, ones = tf.zeros([batch]), tf.ones([batch])
    rows = [tf.stack([a, b, tx_total], 1), tf.stack([d, e, ty_total], 1), tf.stack([zeros, zeros, ones], 1)]
    return tf.stack(rows, axis=1), flip < 0


def transform_images(images, forward):
    """Warps images (N, H, W, C) float by forward matrices, filling with the nearest edge pixel."""
    inverse = tf.linalg.inv(forward)
    flat = tf.reshape(inverse, [-1, 9])[:, :8] / inverse[:, 2:3, 2]
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=flat, output_shape=tf.stack([height, width]),
        fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST")


def transform_keypoints(points, forward, flipped):
    """Moves keypoints (N, 30) [x0, y0, x1, ...] with the forward matrices; swaps left/right when flipped.

    NaN (missing) coordinates stay NaN.
    """
    xy = tf.reshape(points, [-1, len(KEYPOINT_FLIP_ORDER), 2])
    moved = tf.einsum("nij,nkj->nki", forward[:, :2, :2], xy) + forward[:, None, :2, 2]
    swapped = tf.gather(moved, KEYPOINT_FLIP_ORDER, axis=1)
    moved = tf.where(flipped[:, None, None], swapped, moved)
    return tf.reshape(moved, [-1, 2 * len(KEYPOINT_FLIP_ORDER)])


def erase_rectangles(images, probability, seed=None):
    """Fills one random rectangle of each image, with the given probability, with uniform noise.

    Arguments:
        images: float32 (N, H, W, C) in 0..255.
        probability: chance that an image is erased.

    Returns:
        images of the same shape; those not drawn are unchanged.
    """
    shape = tf.shape(images)
    batch, height, width = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    uniform = lambda lo, hi: tf.random.uniform([batch], lo, hi, seed=seed)  # noqa: E731
    half_h = uniform(*ERASE_SIDE_RANGE) * height / 2.0
    half_w = uniform(*ERASE_SIDE_RANGE) * width / 2.0
    centre_y, centre_x = uniform(0.0, 1.0) * height, uniform(0.0, 1.0) * width
    chosen = uniform(0.0, 1.0) < probability
    rows = tf.range(height)[None, :, None] + 0.5
    cols = tf.range(width)[None, None, :] + 0.5
    inside = ((tf.abs(rows - centre_y[:, None, None]) < half_h[:, None, None])
              & (tf.abs(cols - centre_x[:, None, None]) < half_w[:, None, None])
              & chosen[:, None, None])
    noise = tf.random.uniform(shape, 0.0, 255.0, seed=seed)
    return tf.where(inside[..., None], noise, images)


def imitate_cameras(images, probability, seed=None):
    """Makes some images look as if another camera had taken them.

    Each chosen image gets a random contrast (x0.7-1.3 about its mean), gamma (0.7-1.4), blur
    (a 3x3 Gaussian blended in by 0-70%) and sensor noise (sigma 0-5 grey levels), in that order:
    what a face from a webcam, a broadcast or a phone photo differs by from FER2013's images.
    (JPEG re-compression was left out: ``tf.image`` does it one image at a time, which doubled
    the cost of a CPU training epoch; FER2013's images are JPEG-derived already.)

    Arguments:
        images: float32 (N, H, W, 1) in 0..255.
        probability: chance that an image is changed.

    Returns:
        images of the same shape, in 0..255; those not drawn are unchanged.
    """
    batch = tf.shape(images)[0]
    uniform = lambda lo, hi: tf.random.uniform([batch, 1, 1, 1], lo, hi, seed=seed)  # noqa: E731
    chosen = uniform(0.0, 1.0) < probability
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    x = mean + (images - mean) * uniform(0.7, 1.3)
    x = 255.0 * tf.pow(tf.clip_by_value(x, 0.0, 255.0) / 255.0, tf.exp(uniform(math.log(0.7), math.log(1.4))))
    kernel = tf.constant([1.0, 2.0, 1.0]) / 4.0
    kernel = tf.reshape(kernel[:, None] * kernel[None, :], [3, 3, 1, 1])
    blurred = tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], "SYMMETRIC"), kernel, 1, "VALID")
    x = x + (blurred - x) * uniform(0.0, 0.7)
    x = x + tf.random.normal(tf.shape(x), seed=seed) * uniform(0.0, 5.0)
    return tf.where(chosen, tf.clip_by_value(x, 0.0, 255.0), images)


def augment_batch(images, targets, aug, keypoints=False, seed=None):
    """Applies one random transform per image of a batch.

    Arguments:
        images: float32 (N, S, S, 1) batch.
        targets: labels (passed through) or keypoints (N, 30) in pixels.
        aug: Augmentation ranges.
        keypoints: whether targets are keypoints to move along.

    Returns:
        (images, targets) transformed.
    """
    batch = tf.shape(images)[0]
    side = images.shape[1]
    forward, flipped = random_affine(batch, side, aug, seed)
    images = transform_images(images, forward)
    if aug.camera > 0:
        images = imitate_cameras(images, aug.camera, seed)
    if aug.erase > 0:
        images = erase_rectangles(images, aug.erase, seed)
    if keypoints:
        targets = transform_keypoints(targets, forward, flipped)
    return images, targets


def mix_batch(images, targets, alpha, seed=None):
    """Mixup (Zhang et al. 2018): blends each image and its target with another image of the batch.

    Each image keeps a weight ``w = max(l, 1 - l)`` with ``l ~ Beta(alpha, alpha)``, so it stays
    the larger part of its own blend; its partner is a random image of the same batch.

    Arguments:
        images: float32 (N, H, W, C) batch.
        targets: float32 (N, K) class targets (one-hot or soft), summing to 1 per row.
        alpha: Beta parameter (> 0); small values blend little (0.2 is usual).

    Returns:
        (images, targets): the blends ``w * x + (1 - w) * x[partner]`` and the same for targets.
    """
    batch = tf.shape(images)[0]
    first = tf.random.gamma([batch], alpha, seed=seed)
    second = tf.random.gamma([batch], alpha, seed=seed)
    weight = first / tf.maximum(first + second, 1e-12)
    weight = tf.maximum(weight, 1.0 - weight)
    partner = tf.random.shuffle(tf.range(batch), seed=seed)
    image_weight = tf.reshape(weight, [-1, 1, 1, 1])
    target_weight = weight[:, None]
    targets = tf.cast(targets, tf.float32)
    mixed_images = image_weight * images + (1.0 - image_weight) * tf.gather(images, partner)
    mixed_targets = target_weight * targets + (1.0 - target_weight) * tf.gather(targets, partner)
    return mixed_images, mixed_targets
