"""Drawing pipeline results on frames with OpenCV: boxes, "label 87%", keypoints and the face mesh."""

import cv2
import numpy as np

from fer_core.data.palette import emotion_color, hex_to_rgb

DEFAULT_COLOR = (60, 220, 60)
KEYPOINT_COLOR = (0, 255, 255)
MESH_COLOR = (235, 206, 135)  # light blue (BGR), under the keypoints
LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX
# A caption's font scale: its box's width over this many pixels, shrunk until the caption fits the box's
# width (so side by side faces' captions do not run into each other), but never under the smallest.
LABEL_SCALE_WIDTH = 220.0
SMALLEST_LABEL_SCALE = 0.35


def label_color(label):
    """The BGR colour of a label: an emotion's colour of ``data.palette`` (the one charts use), else
    a colour made from the label's name (stable)."""
    if label is None:
        return DEFAULT_COLOR
    color = emotion_color(label)
    if color:
        r, g, b = hex_to_rgb(color)
        return (b, g, r)
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(label))
    return tuple(int(60 + (seed * k) % 196) for k in (7, 13, 29))


def text_color(background):
    """Black or white, whichever reads better on a BGR background (by its luminance)."""
    b, g, r = background
    return (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 140 else (255, 255, 255)


def caption(result, number=None):
    """The text shown above a face: its number, label and probability, e.g. "2 happy 87%", with a
    "?" after the label when the answer is uncertain ("2 happy? 41%"); just the number (or "")
    without a label."""
    prefix = "" if number is None else f"{number} "
    if result.label is None:
        return prefix.strip()
    return f"{prefix}{result.label}{'?' if result.uncertain else ''} {100.0 * result.score:.0f}%"


def draw_face(image, result, thickness=None, number=None):
    """Draws one ``FaceResult`` on ``image`` in place.

    Arguments:
        image: BGR uint8 frame (modified).
        result: a ``FaceResult``.
        thickness: line thickness; default scales with the frame.
        number: the face's number shown before its label (the charts' "Face N"), or None.

    Returns:
        the same image.
    """
    height, width = image.shape[:2]
    thickness = thickness or max(1, round(max(height, width) / 400))
    x, y, w, h = (int(v) for v in result.box)
    color = label_color(result.label)
    if getattr(result, "mesh", None) is not None:
        draw_mesh(image, result.mesh, radius=1 if w < 300 else 2)
    cv2.rectangle(image, (x, y), (x + w, y + h), color, thickness)
    text = caption(result, number)
    if text:
        scale = label_scale(text, w, thickness)
        (tw, th), baseline = cv2.getTextSize(text, LABEL_FONT, scale, thickness)
        left, top = label_position((x, y, w, h), (tw + 4, th + baseline + 2), (height, width))
        cv2.rectangle(image, (left, top), (left + tw + 4, top + th + baseline + 2), color, cv2.FILLED)
        cv2.putText(image, text, (left + 2, top + th + 1), LABEL_FONT, scale, text_color(color), thickness,
                    cv2.LINE_AA)
    if result.keypoints is not None:
        radius = max(1, round(w / 60))
        for px, py in np.asarray(result.keypoints):
            if np.isfinite(px) and np.isfinite(py):
                cv2.circle(image, (int(round(px)), int(round(py))), radius, KEYPOINT_COLOR, cv2.FILLED,
                           cv2.LINE_AA)
    return image


def label_scale(text, box_width, thickness=1):
    """The font scale of a face's caption: ``box_width / LABEL_SCALE_WIDTH`` (at least 0.4), made smaller
    until the caption is no wider than the box, down to ``SMALLEST_LABEL_SCALE``.

    Arguments:
        text: the caption.
        box_width: the face box's width, pixels.
        thickness: the text's line thickness.

    Returns:
        float scale for ``cv2.putText``.
    """
    scale = max(0.4, box_width / LABEL_SCALE_WIDTH)
    (text_width, _), _ = cv2.getTextSize(text, LABEL_FONT, scale, thickness)
    if text_width + 4 > box_width:
        scale *= (box_width - 4) / float(text_width + 4)
    return max(SMALLEST_LABEL_SCALE, scale)


def label_position(box, label_size, frame_shape):
    """Where a caption goes: above its box when there is room, else inside the box along its top (a face
    that fills the frame); moved left and up as needed to stay inside the frame.

    Arguments:
        box: the face's (x, y, w, h).
        label_size: the caption's (width, height) with its background, pixels.
        frame_shape: the frame's (height, width, ...).

    Returns:
        (left, top) of the caption's background, ints.
    """
    x, y, _, _ = (int(v) for v in box)
    label_width, label_height = label_size
    height, width = frame_shape[:2]
    top = y - label_height if y - label_height >= 0 else max(y, 0)
    top = max(0, min(top, height - label_height))
    left = max(0, min(x, width - label_width))
    return left, top


def draw_mesh(image, mesh, radius=1, color=MESH_COLOR):
    """Draws a face mesh's points (array (N, 2+) of frame pixels) on ``image`` in place; returns it."""
    for px, py in np.asarray(mesh, np.float64)[:, :2]:
        if np.isfinite(px) and np.isfinite(py):
            cv2.circle(image, (int(round(px)), int(round(py))), radius, color, cv2.FILLED)
    return image


def draw_results(image_bgr, results):
    """Draws all faces' results on a copy of a frame, each face numbered (``face_number``).

    Arguments:
        image_bgr: BGR uint8 frame (not modified).
        results: list of ``FaceResult``.

    Returns:
        annotated BGR uint8 copy.
    """
    canvas = np.array(image_bgr, dtype=np.uint8, copy=True)
    if canvas.ndim == 2:
        canvas = cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)
    for index, result in enumerate(results):
        draw_face(canvas, result, number=face_number(result, index))
    return canvas


def face_number(result, index):
    """The number a face is shown with: its track number in video, else its place in the list (from 1)."""
    return result.track_id if result.track_id is not None else index + 1
