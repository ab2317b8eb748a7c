"""The real-face image sets that the detector scripts and bench measure on.

    - ``lfw_framed``: scikit-image's LFW subset (100 faces, then 100 non-faces, 25x25), each scaled
      to 100x100 and framed with a 30-pixel replicated border (160x160), as
      tests/inference/test_detection.py frames them.
    - ``fer2013_upscaled``: FER2013 faces (48x48, the face filling the image) scaled up.
    - ``keypoint_frames``: the keypoint set's whole frames of one split (``fer_core.data.keypoints``
      re-splits them by identity) with their 68 annotated landmarks.
    - ``sweep_frame``: the astronaut's face at a given size and roll in a 640x480 frame.
    - ``two_face_frame``: a near face and a far one of a given size in one frame.

Used by scripts/calibrate_blazeface_box.py and bench/bench_detection.py (from the repository root).
"""

import cv2
import numpy as np

# Where the Haar cascade frames the astronaut's face in scikit-image's 512x512 photo (x, y, side),
# at full resolution (scale factor 1.1, 5 neighbours): the sweep's reference face.
ASTRONAUT_FACE = (177.0, 66.0, 95.0)
SWEEP_FRAME = (480, 640)
SWEEP_BACKGROUND = 90


def astronaut_bgr():
    """scikit-image's astronaut photo (512x512, public domain) as BGR uint8."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def lfw_framed():
    """scikit-image's LFW subset framed as the detection tests do.

    Returns:
        list of 200 uint8 gray images (160x160): 100 faces, then 100 non-faces.
    """
    from skimage import data

    images = (data.lfw_subset() * 255).astype(np.uint8)
    return [cv2.copyMakeBorder(cv2.resize(image, (100, 100)), 30, 30, 30, 30, cv2.BORDER_REPLICATE)
            for image in images]


def fer2013_upscaled(split="PrivateTest", size=192, limit=None):
    """FER2013 faces of one split, scaled up (bilinear) so the face fills a ``size`` frame.

    Arguments:
        split: a FER2013 split name.
        size: side of the output images.
        limit: first images only, or None for all.

    Returns:
        list of uint8 gray images (size, size).
    """
    from fer_core.data import load_dataset

    images = load_dataset("fer2013").subset(split).images
    images = images if limit is None else images[:limit]
    return [cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR) for image in images]


def fer2013_labels(split="PrivateTest", limit=None):
    """The labels of ``fer2013_upscaled``'s faces, in order, and FER2013's label names.

    Returns:
        (int array (N,), tuple of names).
    """
    from fer_core.data import load_dataset

    dataset = load_dataset("fer2013").subset(split)
    labels = dataset.labels if limit is None else dataset.labels[:limit]
    return labels, dataset.label_names


def keypoint_frames(split="test", limit=None):
    """The keypoint set's whole frames of one split, with their annotations.

    Arguments:
        split: "train", "val" or "test" (``fer_core.data.keypoints`` identity-disjoint split).
        limit: first frames only, or None for all.

    Returns:
        list of (path, float64 array (68, 2) of landmarks in frame pixels).
    """
    import pandas as pd

    from fer_core.config import data_dir
    from fer_core.data import load_dataset

    root = data_dir() / "keypoints"
    points = {}
    for folder, csv_name in (("training", "training_frames_keypoints.csv"), ("test", "test_frames_keypoints.csv")):
        frame = pd.read_csv(root / csv_name)
        for name, row in zip(frame.iloc[:, 0], frame.iloc[:, 1:].to_numpy(np.float64)):
            points[f"keypoints:{folder}/{name}"] = row.reshape(68, 2)
    ids = load_dataset("keypoints").subset(split).ids
    ids = ids if limit is None else ids[:limit]
    frames = []
    for sample_id in ids:
        folder, name = sample_id.split(":", 1)[1].split("/", 1)
        frames.append((root / folder / name, points[sample_id]))
    return frames


def sweep_frame(face_side, roll_degrees, astronaut=None):
    """The astronaut's face, ``face_side`` pixels wide (Haar's framing) and rolled, centred in a
    640x480 frame on a grey background.

    Arguments:
        face_side: side of the face box in the frame, pixels.
        roll_degrees: in-plane rotation, counter-clockwise as shown.
        astronaut: the photo (BGR), loaded when None.

    Returns:
        (frame uint8 480x640x3, (x, y) of the face centre in the frame).
    """
    astronaut = astronaut_bgr() if astronaut is None else astronaut
    x, y, side = ASTRONAUT_FACE
    scale = face_side / side
    if scale < 1.0:  # shrink with area averaging first (warpAffine has no INTER_AREA), then rotate
        astronaut = cv2.resize(astronaut, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        x, y, side, scale = x * scale, y * scale, side * scale, 1.0
    centre = (x + side / 2.0, y + side / 2.0)
    height, width = SWEEP_FRAME
    matrix = cv2.getRotationMatrix2D(centre, roll_degrees, scale)
    matrix[:, 2] += (width / 2.0 - centre[0], height / 2.0 - centre[1])
    frame = cv2.warpAffine(astronaut, matrix, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(SWEEP_BACKGROUND,) * 3)
    return frame, (width / 2.0, height / 2.0)


def _placed_face(frame, astronaut, face_side, centre):
    """Draws the astronaut's face (Haar's framing ``face_side`` wide) centred at ``centre``, in place."""
    x, y, side = ASTRONAUT_FACE
    scale = face_side / side
    small = cv2.resize(astronaut, None, fx=scale, fy=scale,
                       interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    half = int(round(face_side))  # the face with half a side of its photo around it
    cx, cy = (x + side / 2.0) * scale, (y + side / 2.0) * scale
    x0, y0 = int(round(cx - half)), int(round(cy - half))
    patch = cv2.copyMakeBorder(small, half * 2, half * 2, half * 2, half * 2, cv2.BORDER_CONSTANT,
                               value=(SWEEP_BACKGROUND,) * 3)[y0 + 2 * half:y0 + 4 * half, x0 + 2 * half:x0 + 4 * half]
    fx, fy = int(round(centre[0] - half)), int(round(centre[1] - half))
    h, w = frame.shape[:2]
    sx0, sy0 = max(0, -fx), max(0, -fy)
    sx1, sy1 = min(patch.shape[1], w - fx), min(patch.shape[0], h - fy)
    frame[fy + sy0:fy + sy1, fx + sx0:fx + sx1] = patch[sy0:sy1, sx0:sx1]


def two_face_frame(shape, far_side, astronaut=None):
    """A frame with two of the astronaut's faces: a near one, a third of the frame's height wide, on the
    left, and a far one ``far_side`` pixels wide on the right, on a grey background.

    Returns:
        (frame uint8 (H, W, 3), near (cx, cy, side), far (cx, cy, side)).
    """
    astronaut = astronaut_bgr() if astronaut is None else astronaut
    height, width = shape
    frame = np.full((height, width, 3), SWEEP_BACKGROUND, np.uint8)
    near_side = height / 3.0
    near = (width * 0.3, height * 0.5, near_side)
    far = (width * 0.75, height * 0.4, float(far_side))
    _placed_face(frame, astronaut, near_side, near[:2])
    _placed_face(frame, astronaut, far_side, far[:2])
    return frame, near, far
