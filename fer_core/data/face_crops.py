"""Face preprocessing shared by training and inference.

A face is cut from a frame the same way everywhere: a square box around the
detector's box (grown by a margin), taken from the grayscale image with the
border replicated where the box leaves the frame, and scaled with
``cv2.resize`` to the model's input size. Keypoints follow the same transform.

``aligned_crop`` does the same for a face whose eye line is known: the square is
turned about its centre by the face's roll so that the eyes come out level, and
it returns the affine matrix (frame -> crop pixels) that keypoints go through,
there and back (``transform_points``, ``invert_affine``).

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
    x, y, side, _ = square_box(box, margin)
    return _resized_patch(to_gray(image), int(round(x)), int(round(y)), max(1, int(round(side))), size)


def _padded_patch(image, x0, y0, side):
    """The ``side`` x ``side`` patch of ``image`` at (x0, y0), its border replicated where it leaves the image."""
    height, width = image.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - width, y0 + side - height)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    return image[y0:y0 + side, x0:x0 + side]


def _resized_patch(image, x0, y0, side, size):
    patch = _padded_patch(image, x0, y0, side)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interpolation)


def crop_matrix(box, size, margin=0.0, angle=None):
    """The affine matrix (frame -> crop pixels) of the crop ``aligned_crop`` cuts.

    Points map as ``points_to_crop`` maps them (for ``angle`` None or 0 exactly so): the square's corner
    goes to (0, 0) and its side to ``size``; with an angle, the frame turns about the square's centre
    by ``angle`` degrees, as ``cv2.getRotationMatrix2D(centre, angle, 1)`` turns it.

    Arguments:
        box, size, margin: as given to ``crop_face``.
        angle: degrees (a detection's ``roll_degrees`` levels its eyes), or None.

    Returns:
        float64 array (2, 3).
    """
    x, y, side, _ = square_box(box, margin)
    if not angle:
        x0, y0, s = round(x), round(y), max(1, round(side))
        k = size / s
        return np.array([[k, 0.0, -k * x0], [0.0, k, -k * y0]])
    centre = (x + side / 2.0, y + side / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, float(angle), size / max(side, 1e-6))
    matrix[:, 2] += (size / 2.0 - centre[0], size / 2.0 - centre[1])
    return matrix


def aligned_crop(image, box, size, margin=0.0, angle=None):
    """Cuts a face out of an image turned so that its eyes are level: the crop and its affine matrix.

    Without an angle the crop is ``crop_face``'s (any channel layout kept). With one, the square
    around the box (``square_box``) is turned by ``angle`` degrees about its centre: a face whose
    eye line is at ``roll_degrees`` comes out upright. The pixels are sampled as ``crop_face``'s
    ``cv2.resize`` samples them (a face larger than the crop is turned at its own size, then shrunk
    with area averaging), the frame's border replicated where the crop leaves it; keypoints go through
    the returned matrix
    (``transform_points``; back to the frame with ``invert_affine``).

    Arguments:
        image: the frame, uint8 HxW or HxWxC (not converted to gray).
        box: (x, y, w, h) of the face in the frame.
        size: side of the output in pixels.
        margin: fraction of the box side added on each side before cropping.
        angle: degrees to turn the face by (``Detection.roll_degrees``), or None (or 0) for none.

    Returns:
        (uint8 crop (size, size[, C]), float64 matrix (2, 3) frame -> crop pixels, ``crop_matrix``).
    """
    image = np.asarray(image)
    matrix = crop_matrix(box, size, margin, angle)
    x, y, side, _ = square_box(box, margin)
    if not angle:  # None, or a level face: cut as crop_face cuts it
        return _resized_patch(image, int(round(x)), int(round(y)), max(1, int(round(side))), size), matrix
    # Sampled as crop_face samples: crop pixel u holds frame x = (u + 0.5) / scale - 0.5 + x0, half a pixel
    # off the points' convention (u = scale * (x - x0)) that ``matrix`` follows.
    scale = size / max(side, 1e-6)
    sampling = np.vstack([matrix, [0.0, 0.0, 1.0]])
    sampling[:2, 2] += 0.5 * (scale - 1.0)
    if side <= size:  # a small face: turned and enlarged in one bilinear warp, as crop_face enlarges it
        return _warp(image, sampling[:2], size), matrix
    # A large face: turned at its own resolution first, then shrunk with area averaging as crop_face
    # shrinks it (a warp alone would not average the pixels it skips).
    full = max(size, int(round(side)))
    to_full = np.array([[size / full, 0.0, 0.5 * (size / full) - 0.5], [0.0, size / full, 0.5 * (size / full) - 0.5],
                        [0.0, 0.0, 1.0]])  # full-size patch -> crop pixels, cv2.resize's convention
    upright = _warp(image, (np.linalg.inv(to_full) @ sampling)[:2], full)
    return cv2.resize(upright, (size, size), interpolation=cv2.INTER_AREA), matrix


def _warp(image, matrix, size):
    """``image`` sampled at ``matrix``'s inverse (frame -> output pixels), bilinear, edges replicated."""
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def transform_points(points, matrix):
    """Maps (x, y) points (array (..., 2)) through a 2x3 affine matrix; float32."""
    points = np.asarray(points, np.float64)
    matrix = np.asarray(matrix, np.float64)
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def invert_affine(matrix):
    """The inverse of a 2x3 affine matrix (crop -> frame for ``aligned_crop``'s)."""
    return cv2.invertAffineTransform(np.asarray(matrix, np.float64))


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

