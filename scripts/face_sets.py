"""The real-face image sets that the detector scripts and bench measure on.

    - ``lfw_framed``: scikit-image's LFW subset (100 faces, then 100 non-faces, 25x25), each scaled
      to 100x100 and framed with a 30-pixel replicated border (160x160), as
      tests/inference/test_detection.py frames them.
    - ``fer2013_upscaled``: FER2013 faces (48x48, the face filling the image) scaled up.
    - ``keypoint_frames``: the keypoint set's whole frames of one split (``fer_core.data.keypoints``
      re-splits them by identity) with their 68 annotated landmarks.
    - ``sweep_frame``: the astronaut's face at a given size and roll in a 640x480 frame.

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
