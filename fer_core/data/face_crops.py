"""Face preprocessing shared by training and inference.

A face is cut from a frame the same way everywhere: a square box around the
detector's box (grown by a margin), taken from the grayscale image with the
border replicated where the box leaves the frame, and scaled with
``cv2.resize`` to the model's input size. Keypoints follow the same transform.

Pure functions on NumPy arrays; nothing here imports TensorFlow.
"""

import cv2
import numpy as np

# Margin added on each side of a detector box, as a fraction of its side.
EMOTION_MARGIN = 0.0
KEYPOINT_MARGIN = 0.15


def to_gray(image):
    """Converts an image to 2-D uint8 grayscale.

    Arguments:
        image: array, HxW (gray), HxWx1, HxWx3 (BGR) or HxWx4 (BGRA); uint8, or
            uint16 (scaled down to 8 bits), or float in [0, 1] or [0, 255].

    Returns:
        uint8 array of shape HxW.
    """
    image = np.asarray(image)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = image.astype(np.float32)
        if image.size and image.max() <= 1.0:
            image = image * 255.0
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"expected an image of shape HxW, HxWx1, HxWx3 or HxWx4, got {image.shape}")


def square_box(box, margin=0.0):
    """Returns the square box around ``box``, grown by ``margin`` of its side on each side.

    Arguments:
        box: (x, y, w, h) in pixels.
        margin: fraction of the side added on each side.

    Returns:
        (x, y, side, side) as floats; may extend beyond the image.
    """
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    return (cx - side / 2.0, cy - side / 2.0, side, side)


def box_iou(a, b):
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter) if inter > 0 else 0.0


def crop_face(image, box, size, margin=0.0):
    """Cuts a face out of an image, ready for a model.

    Arguments:
        image: the frame (any layout ``to_gray`` accepts).
        box: (x, y, w, h) of the face in the frame, e.g. from a detector.
        size: side of the output in pixels (48 for emotions, 96 for keypoints).
        margin: fraction of the box side added on each side before cropping.

    Returns:
        uint8 array of shape (size, size).
    """
    gray = to_gray(image)
    x, y, side, _ = square_box(box, margin)
    x0, y0 = int(round(x)), int(round(y))
    s = max(1, int(round(side)))
    height, width = gray.shape
    pad = max(0, -x0, -y0, x0 + s - width, y0 + s - height)
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    patch = gray[y0:y0 + s, x0:x0 + s]
    interpolation = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interpolation)


def points_to_crop(points, box, size, margin=0.0):
    """Maps points from frame pixels into the crop that ``crop_face`` makes.

    Arguments:
        points: array (..., 2) of (x, y) in the frame.
        box, size, margin: as given to ``crop_face``.

    Returns:
        float32 array (..., 2) in crop pixels.
    """
    x, y, side, _ = square_box(box, margin)
    x0, y0, s = round(x), round(y), max(1, round(side))
    points = np.asarray(points, dtype=np.float32)
    return ((points - np.array([x0, y0], np.float32)) * (size / s)).astype(np.float32)


def points_from_crop(points, box, size, margin=0.0):
    """Inverse of ``points_to_crop``: crop pixels back to frame pixels."""
    x, y, side, _ = square_box(box, margin)
    x0, y0, s = round(x), round(y), max(1, round(side))
    points = np.asarray(points, dtype=np.float32)
    return (points * (s / size) + np.array([x0, y0], np.float32)).astype(np.float32)
