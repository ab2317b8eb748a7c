"""BlazeFace: Google MediaPipe's neural face detectors, run through LiteRT (no TensorFlow).

Two single-shot (SSD) models, vendored under ``assets/detectors/`` from the mediapipe 0.10.14
wheel (Apache-2.0; see ``assets/detectors/NOTICE`` and ``scripts/extract_detectors.py``):

    - short range (``face_detection_short_range.tflite``): a 128x128 input and 896 anchors;
      faces within about 2 m of a camera, close and tight faces (a face filling the frame).
    - full range, sparse (``face_detection_full_range_sparse.tflite``): a 192x192 input and
      2304 anchors; small and distant faces in large photos, poor on tight crops.

``BlazeFaceDetector`` runs one or both on a frame (``fer_core.inference.detection`` names them
"blazeface" for both, "blazeface-short" and "blazeface-full") and returns ``Detection``s with a
score and six keypoints per face (``BLAZEFACE_LANDMARKS``: the subject's right eye, left eye,
nose tip, mouth centre, right ear tragion, left ear tragion).

One model pass, step by step:
    1. ``letterbox``: the frame (with a border around it in the short-range model's retry for
       tight faces) is scaled into the model's square input, centred, the rest filled by
       repeating the frame's edges;
    2. the model gives, per anchor, 16 raw numbers (box and keypoints) and a score logit;
    3. ``decode_candidates``: the anchors over the score threshold are decoded into a box
       (centre, size) and six points, in the input's pixels;
    4. ``from_letterbox``: those are mapped back to frame pixels.
The candidates of every pass are put onto Haar's framing (``ModelSpec.box_correction``, measured
by ``scripts/calibrate_blazeface_box.py``: the emotion and keypoint models were trained on
Haar-like crops) and merged with ``weighted_nms``, MediaPipe's blending suppression.
"""

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from fer_core.config import ASSETS_DIR
from fer_core.errors import ModelError
from fer_core.inference.detection import Detection, check_frame, scale_box, to_bgr

BLAZEFACE_DIR = ASSETS_DIR / "detectors"

# The six keypoints, in the models' output order; "right" and "left" are the subject's, so for an
# upright frontal face the right eye is on the image's left (as MTCNN's first landmark).
BLAZEFACE_LANDMARKS = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear", "left_ear")

# LiteRT threads per model: both models are small, and on the 2-core test machine a second thread
# made a call slower, not faster (both models on a 640x480 frame: 10.6 ms with one thread, 11.9 ms
# with two; bench/bench_detection.py's speed section measures both).
BLAZEFACE_THREADS = 1

# Overlap (IoU) above which two candidates are the same face and are blended (MediaPipe's 0.3).
NMS_IOU = 0.3


# Border (fraction of the frame's longest side, on each side) of the short-range model's second
# pass, run when its first pass finds no face: a face that fills the frame, which the model misses
# as it is, is found with room around it (FER2013 faces scaled to 192 px: 93% -> 97% found).
TIGHT_FACE_BORDER = 0.2

# Rolls beyond this many degrees get the box size correction of this roll (``haar_framed_boxes``).
ROLL_SIZE_LIMIT = 45.0

# "blazeface-fast" runs the full-range model only on frames whose longest side is over this many
# pixels (larger than the Live page's 640x480), or when the short-range model found no face. On a
# 640x480 frame it then costs a third of "blazeface" and finds the same faces, except a far face
# under about 80 px beside a nearer one (bench/bench_detection.py's "mixed" section: "blazeface"
# finds far faces from 48 px there, short range alone from 80 px).
FAST_FULL_RANGE_ABOVE = 640


@dataclass(frozen=True)
class ModelSpec:
    """One BlazeFace model and how it is run.

    Attributes:
        name: "short" or "full".
        filename: the ``.tflite`` file under ``BLAZEFACE_DIR``.
        input_size: side of the square RGB input.
        layers: ((stride, anchors per cell), ...) of its SSD anchor grids, in output order.
        min_score: candidates scoring below this are dropped (MediaPipe's own thresholds).
        box_correction: (dx, dy, scale) that puts a model's box onto Haar's framing: its centre
            moved by (dx, dy) box sides in the face's axes, its side times ``scale``
            (``haar_framed_boxes``).
    """

    name: str
    filename: str
    input_size: int
    layers: tuple
    min_score: float
    box_correction: tuple

    @property
    def path(self):
        return BLAZEFACE_DIR / self.filename

    @property
    def anchor_count(self):
        return sum((self.input_size // stride) ** 2 * per_cell for stride, per_cell in self.layers)


# Box corrections fitted by scripts/calibrate_blazeface_box.py (medians over faces that Haar finds
# too, on the keypoint set's training frames, scikit-image's LFW faces and the astronaut).
SHORT_RANGE = ModelSpec("short", "face_detection_short_range.tflite", 128, ((8, 2), (16, 6)),
                        min_score=0.5, box_correction=(-0.002, -0.127, 1.129))
FULL_RANGE = ModelSpec("full", "face_detection_full_range_sparse.tflite", 192, ((4, 1),),
                       min_score=0.6, box_correction=(0.006, -0.078, 1.061))
MODEL_SPECS = {"short": SHORT_RANGE, "full": FULL_RANGE}


# ---------------------------------------------------------------- the detector

class BlazeFaceDetector:
    """Finds faces with the BlazeFace short-range model, the full-range one, or both merged.

    Passes, in order, on the frame letterboxed into each model's input:
        1. short range as the frame is (close faces: from about 1/8 of the frame's longest side,
           80 px in a 640x480 frame, rolled up to 40 degrees either way);
        2. full range (small faces: from about 1/16 of the frame's longest side upright, 1/11 rolled
           40 degrees; poor on faces that fill the frame); with ``full_range_above`` set, only when
           pass 1 found no face or the frame's longest side is over that many pixels;
        3. only when the passes before found no face: short range again with a border of
           ``tight_face_border`` around the frame (a face that fills the frame).
    Every pass's candidates are put onto Haar's framing and blended by ``weighted_nms``, so one call
    finds close, tight and small faces.

    Arguments:
        models: names of the models to run, from ``MODEL_SPECS`` ("short", "full").
        min_score: overrides every model's ``min_score`` when given.
        nms_iou: IoU above which candidates are blended into one face.
        tight_face_border: border of the short-range retry (pass 3); None for no retry.
        full_range_above: None: the full-range model runs on every frame (when in ``models``); a
            number of pixels: only on a frame whose longest side is over it, or when the short-range
            model found no face (the "blazeface-fast" detector, ``FAST_FULL_RANGE_ABOVE``).
        num_threads: LiteRT threads per model.
        working_size: accepted for the other detectors' interface and ignored (the models have
            fixed input sizes).

    Thread-safe: each thread gets its own interpreters.
    """

    def __init__(self, models=("short", "full"), min_score=None, nms_iou=NMS_IOU,
                 tight_face_border=TIGHT_FACE_BORDER, num_threads=BLAZEFACE_THREADS, working_size=None,
                 full_range_above=None):
        unknown = [name for name in models if name not in MODEL_SPECS]
        if unknown or not models:
            raise ValueError(f"unknown BlazeFace model(s) {unknown}; choose from {', '.join(MODEL_SPECS)}")
        self.specs = tuple(MODEL_SPECS[name] for name in MODEL_SPECS if name in models)
        self.min_score = min_score
        self.nms_iou = nms_iou
        self.num_threads = num_threads
        self.working_size = None  # the models' fixed inputs decide (see detection.working_size_of)
        self.full_range_above = full_range_above
        self.passes = tuple((spec, 0.0) for spec in self.specs)
        if tight_face_border is not None and SHORT_RANGE in self.specs:
            self.passes += ((SHORT_RANGE, float(tight_face_border)),)
        self.name = ("blazeface" if full_range_above is None else "blazeface-fast") if len(self.specs) > 1 \
            else f"blazeface-{self.specs[0].name}"
        self._anchors = {spec.name: ssd_anchors(spec.input_size, spec.layers) for spec in self.specs}
        self._local = threading.local()
        self._interpreters()  # fail now, not on the first frame, if a model is missing

    def detect(self, image_bgr):
        """Finds faces.

        Arguments:
            image_bgr: uint8 frame, BGR (gray and BGRA accepted).

        Returns:
            list of ``Detection`` with score and six landmarks (frame pixels,
            ``BLAZEFACE_LANDMARKS`` order), largest first.
        """
        image = to_bgr(check_frame(image_bgr))
        # Halve the frame as far as every pass allows once, here, rather than once per pass.
        needed = max(spec.input_size / (1.0 + 2.0 * border) for spec, border in self.passes)
        working, shrink = halve_down(image, needed)
        always_full = self.full_range_above is None or max(image.shape[:2]) > self.full_range_above
        boxes, points, scores = self.candidates(cv2.cvtColor(working, cv2.COLOR_BGR2RGB), always_full)
        boxes, points, scores = weighted_nms(boxes / shrink, points / shrink, scores, self.nms_iou)
        detections = [Detection(scale_box(box, 1.0, image.shape), score=float(score),
                                landmarks=pts.astype(np.float32), landmark_names=BLAZEFACE_LANDMARKS)
                      for box, pts, score in zip(boxes, points, scores)]
        return sorted(detections, key=lambda d: -d.box[2] * d.box[3])

    def candidates(self, rgb, always_full=True):
        """Every pass's candidates on a frame, on Haar's framing, before suppression.

        Arguments:
            rgb: uint8 HxWx3 RGB frame.
            always_full: run the full-range model even when the short-range one found a face.

        Returns:
            (boxes (N, 4) as (x, y, w, h), points (N, 6, 2), scores (N,)), frame pixels.
        """
        found = []
        for spec, border in self.passes:
            found_any = any(len(scores) for _, _, scores in found)
            if border and found_any:
                continue  # a retry for tight faces, and a face was found
            if spec is FULL_RANGE and found_any and not always_full:
                continue  # blazeface-fast: short range found a face in a frame that is not large
            found.append(self.run_model(spec, rgb, border))
        return tuple(np.concatenate(parts) for parts in zip(*found))

    def run_model(self, spec, rgb, border=0.0):
        """One model pass: its candidates with boxes on Haar's framing (``haar_framed_boxes``).

        Arguments:
            spec: the ``ModelSpec`` to run.
            rgb: uint8 HxWx3 RGB frame.
            border: fraction of the frame's longest side added on each side first.

        Returns:
            (boxes (N, 4) as (x, y, w, h), points (N, 6, 2), scores (N,)), frame pixels.
        """
        centres, points, scores = self.raw_candidates(spec, rgb, border)
        return haar_framed_boxes(centres, points, spec.box_correction), points, scores

    def raw_candidates(self, spec, rgb, border=0.0):
        """One model pass as the model frames faces: letterbox, invoke, decode, map back.

        Arguments:
            spec: the ``ModelSpec`` to run.
            rgb: uint8 HxWx3 RGB frame.
            border: fraction of the frame's longest side added on each side first.

        Returns:
            (centre boxes (N, 4) as (cx, cy, w, h), points (N, 6, 2), scores (N,)), frame pixels.
        """
        canvas, geometry = letterbox(rgb, spec.input_size, border)
        raw, logits = self._invoke(spec, canvas)
        min_score = spec.min_score if self.min_score is None else self.min_score
        centres, points, scores = decode_candidates(raw, logits, self._anchors[spec.name],
                                                    spec.input_size, min_score)
        centres[:, :2] = from_letterbox(centres[:, :2], geometry)
        centres[:, 2:] = centres[:, 2:] / np.array(geometry[:2])
        return centres, from_letterbox(points, geometry), scores

    def _interpreters(self):
        interpreters = getattr(self._local, "interpreters", None)
        if interpreters is None:
            interpreters = {spec.name: load_interpreter(spec, self.num_threads) for spec in self.specs}
            self._local.interpreters = interpreters
        return interpreters

    def _invoke(self, spec, canvas):
        interpreter, input_index, raw_index, score_index = self._interpreters()[spec.name]
        interpreter.set_tensor(input_index, to_input_tensor(canvas))
        interpreter.invoke()
        raw = interpreter.get_tensor(raw_index)[0]
        logits = interpreter.get_tensor(score_index)[0, :, 0]
        return raw, logits


# ---------------------------------------------------------------- steps

def load_interpreter(spec, num_threads=BLAZEFACE_THREADS):
    """Loads one BlazeFace model into a LiteRT interpreter.

    Arguments:
        spec: its ``ModelSpec``.
        num_threads: LiteRT threads.

    Returns:
        (interpreter, input tensor index, raw output index (N, 16), score output index (N, 1)).

    Raises:
        ModelError: the file is missing or is not the expected model.
    """
    from ai_edge_litert.interpreter import Interpreter

    if not spec.path.is_file():
        raise ModelError(f"{spec.path}: no such model file (scripts/extract_detectors.py restores it)")
    interpreter = Interpreter(model_path=str(spec.path), num_threads=num_threads)
    interpreter.allocate_tensors()
    (tensor,) = interpreter.get_input_details()
    if list(tensor["shape"]) != [1, spec.input_size, spec.input_size, 3]:
        raise ModelError(f"{spec.path}: expected an input of 1x{spec.input_size}x{spec.input_size}x3, "
                         f"got {list(tensor['shape'])}")
    outputs = {int(d["shape"][-1]): d for d in interpreter.get_output_details()}
    if sorted(outputs) != [1, 16] or any(int(d["shape"][1]) != spec.anchor_count for d in outputs.values()):
        raise ModelError(f"{spec.path}: expected outputs of {spec.anchor_count}x16 and {spec.anchor_count}x1")
    return interpreter, tensor["index"], outputs[16]["index"], outputs[1]["index"]


def to_input_tensor(canvas):
    """The models' input: uint8 RGB (S, S, 3) -> float32 (1, S, S, 3) in [-1, 1]."""
    tensor = canvas.astype(np.float32)[None]
    tensor *= 1.0 / 127.5
    tensor -= 1.0
    return tensor


def decode_candidates(raw, logits, anchors, input_size, min_score):
    """The anchors whose score reaches ``min_score``, decoded.

    Arguments:
        raw: float array (A, 16), the model's box and keypoint output.
        logits: float array (A,), the model's score logits.
        anchors: float array (A, 2) of anchor centres (``ssd_anchors``).
        input_size: side of the model's input.
        min_score: smallest score kept, in (0, 1).

    Returns:
        (centres (N, 4) as (cx, cy, w, h), points (N, 6, 2), scores (N,)) in input pixels.
    """
    scores = sigmoid(logits)
    keep = np.flatnonzero(scores >= min_score)
    decoded = decode_boxes(raw[keep], anchors[keep], input_size) * input_size
    return decoded[:, :4], decoded[:, 4:].reshape(-1, 6, 2), scores[keep].astype(np.float64)


# ---------------------------------------------------------------- pure functions

def ssd_anchors(input_size, layers):
    """SSD anchor centres of a BlazeFace model (MediaPipe's SsdAnchorsCalculator, fixed anchor size 1).

    Arguments:
        input_size: side of the square input.
        layers: ((stride, anchors per cell), ...) in output order; each grid is
            ``input_size // stride`` cells a side, cells row by row, every anchor of a cell in turn.

    Returns:
        float64 array (A, 2) of (x, y) centres in [0, 1]: ((column + 0.5) / grid, (row + 0.5) / grid).
    """
    anchors = []
    for stride, per_cell in layers:
        grid = input_size // stride
        centres = (np.arange(grid) + 0.5) / grid
        x, y = np.meshgrid(centres, centres)  # row by row
        cells = np.stack([x.ravel(), y.ravel()], axis=1)
        anchors.append(np.repeat(cells, per_cell, axis=0))
    return np.concatenate(anchors)


def decode_boxes(raw, anchors, input_size):
    """Decodes raw outputs into boxes and keypoints relative to the input.

    Arguments:
        raw: array (N, 16): box centre offset (x, y) and size (w, h), then six (x, y) keypoint
            offsets, all in input pixels from the anchor's centre.
        anchors: array (N, 2) of anchor centres in [0, 1].
        input_size: side of the input, the scale of ``raw``.

    Returns:
        float64 array (N, 16): (cx, cy, w, h, x0, y0, ..., x5, y5) in units of the input side.
    """
    decoded = np.asarray(raw, np.float64).reshape(-1, 16) / float(input_size)
    anchors = np.asarray(anchors, np.float64).reshape(-1, 2)
    decoded[:, 0] += anchors[:, 0]  # box centre; its size (w, h) is not offset
    decoded[:, 1] += anchors[:, 1]
    decoded[:, 4::2] += anchors[:, :1]  # keypoints
    decoded[:, 5::2] += anchors[:, 1:]
    return decoded


def sigmoid(logits):
    """Scores from logits, clipped to [-100, 100] first as MediaPipe does."""
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(logits, np.float64), -100.0, 100.0)))


def letterbox_geometry(shape, input_size, border=0.0):
    """Where a frame goes in a square input: scaled to fit with a border around it, centred.

    Arguments:
        shape: the frame's shape (H, W, ...).
        input_size: side of the square input.
        border: fraction of the frame's longest side added on each side.

    Returns:
        (scale_x, scale_y, offset_x, offset_y): input = frame * scale + offset (pixel edges at 0).
    """
    height, width = shape[:2]
    scale = input_size / (max(height, width) * (1.0 + 2.0 * border))
    new_width, new_height = max(1, int(round(width * scale))), max(1, int(round(height * scale)))
    return (new_width / width, new_height / height,
            (input_size - new_width) // 2, (input_size - new_height) // 2)


def halve_down(image, longest):
    """Halves an image (2x2 means, OpenCV's fast ``INTER_AREA`` case) while its longest side stays at
    least ``longest``.

    Arguments:
        image: uint8 HxW or HxWxC image.
        longest: the longest side the result must keep.

    Returns:
        (image, factor): the halved image (an odd last row or column is dropped before each
        halving) and its scale, 2 ** -k (1.0 when the image is returned as it was).
    """
    factor = 1.0
    while max(image.shape[:2]) // 2 >= longest:
        height, width = image.shape[0] // 2, image.shape[1] // 2
        if min(height, width) < 1:
            break
        image = cv2.resize(image[:2 * height, :2 * width], (width, height), interpolation=cv2.INTER_AREA)
        factor /= 2.0
    return image, factor


def letterbox(image, input_size, border=0.0):
    """Scales an image into a square canvas, centred, keeping its aspect ratio.

    The image is halved (``halve_down``) while it stays at least twice the size it must have, then
    resized bilinearly: close to area averaging, several times faster on a large frame. The canvas
    outside the image repeats the image's edge pixels (``cv2.BORDER_REPLICATE``): a face that fills
    the frame is found more often so than on a plain grey or black border, and scikit-image's LFW
    non-faces give no false alarm (bench/bench_detection.py).

    Arguments:
        image: uint8 HxW or HxWxC image.
        input_size: side of the canvas.
        border: fraction of the longest side left around the image on each side.

    Returns:
        (canvas uint8 (input_size, input_size[, C]), geometry from ``letterbox_geometry``, for
        ``image``'s pixels).
    """
    halved, factor = halve_down(image, input_size / (1.0 + 2.0 * border))
    scale_x, scale_y, offset_x, offset_y = letterbox_geometry(halved.shape, input_size, border)
    height, width = halved.shape[:2]
    size = (int(round(width * scale_x)), int(round(height * scale_y)))
    resized = cv2.resize(halved, size, interpolation=cv2.INTER_LINEAR)
    canvas = cv2.copyMakeBorder(resized, offset_y, input_size - size[1] - offset_y,
                                offset_x, input_size - size[0] - offset_x, cv2.BORDER_REPLICATE)
    return canvas, (scale_x * factor, scale_y * factor, offset_x, offset_y)


def to_letterbox(points, geometry):
    """Maps (x, y) points (array (..., 2)) from frame pixels into the letterboxed input."""
    scale_x, scale_y, offset_x, offset_y = geometry
    return np.asarray(points, np.float64) * (scale_x, scale_y) + (offset_x, offset_y)


def from_letterbox(points, geometry):
    """Maps (x, y) points (array (..., 2)) from the letterboxed input back to frame pixels."""
    scale_x, scale_y, offset_x, offset_y = geometry
    return (np.asarray(points, np.float64) - (offset_x, offset_y)) / (scale_x, scale_y)


def eye_line_angle(points):
    """Angle (radians) of the line from the right eye to the left eye, y down: 0 when level.

    Arguments:
        points: array (..., 6, 2) in ``BLAZEFACE_LANDMARKS`` order.

    Returns:
        float64 array (...).
    """
    points = np.asarray(points, np.float64)
    delta = points[..., 1, :] - points[..., 0, :]
    return np.arctan2(delta[..., 1], delta[..., 0])


def haar_framed_boxes(centres, points, correction):
    """Square boxes on Haar's framing from BlazeFace's boxes.

    The model's box centre moves by (dx, dy) box sides along the face's own axes (x along the eye
    line, y down the face: the image's axes for a level face), and its side, sqrt(w * h), is
    multiplied by ``scale``: ``detection.correct_box`` for a face that may be rolled. BlazeFace's box
    shrinks as the cosine of the face's roll (the same face rolled 20 degrees gets a box 0.94 times
    as wide, rolled 30 degrees 0.88 times: FER2013 and CK+48 faces rotated on purpose,
    bench/bench_alignment.py), so the side is divided by that cosine first (``ROLL_SIZE_LIMIT``: by
    the cosine of 45 degrees at most, beyond what was measured): a face gets the same box, and its
    upright crop the same framing, whatever its roll.

    Arguments:
        centres: array (N, 4) of the model's boxes as (cx, cy, w, h).
        points: array (N, 6, 2) of their keypoints (the eye line gives the face's axes).
        correction: (dx, dy, scale), or None for the model's own box made square.

    Returns:
        float64 array (N, 4) of (x, y, side, side).
    """
    centres = np.asarray(centres, np.float64).reshape(-1, 4)
    side = np.sqrt(np.clip(centres[:, 2], 0, None) * np.clip(centres[:, 3], 0, None))
    middle = centres[:, :2]
    if correction is not None:
        dx, dy, scale = correction
        angle = eye_line_angle(points)
        cos, sin = np.cos(angle), np.sin(angle)
        side = side / np.clip(np.abs(cos), np.cos(np.radians(ROLL_SIZE_LIMIT)), 1.0)
        middle = middle + side[:, None] * np.stack([dx * cos - dy * sin, dx * sin + dy * cos], axis=1)
        side = side * scale
    return np.concatenate([middle - side[:, None] / 2.0, side[:, None], side[:, None]], axis=1)


def iou_with(box, boxes):
    """IoU of one (x, y, w, h) box with each row of an (N, 4) array of them."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y1 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(boxes, points, scores, iou_threshold=NMS_IOU):
    """MediaPipe's weighted non-maximum suppression: overlapping candidates are blended.

    The best remaining candidate and every other one overlapping it by more than
    ``iou_threshold`` become one face: their boxes and points averaged with the scores as
    weights, scored as the best one.

    Arguments:
        boxes: array (N, 4) of (x, y, w, h).
        points: array (N, K, 2) of keypoints.
        scores: array (N,).
        iou_threshold: overlap above which two candidates are the same face.

    Returns:
        (boxes (M, 4), points (M, K, 2), scores (M,)), best first.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    points = np.asarray(points, np.float64)
    scores = np.asarray(scores, np.float64)
    remaining = np.argsort(-scores, kind="stable")
    kept_boxes, kept_points, kept_scores = [], [], []
    while len(remaining):
        best = remaining[0]
        overlaps = iou_with(boxes[best], boxes[remaining]) > iou_threshold
        overlaps[0] = True
        group = remaining[overlaps]
        weights = scores[group] / scores[group].sum()
        kept_boxes.append(weights @ boxes[group])
        kept_points.append(np.tensordot(weights, points[group], axes=1))
        kept_scores.append(scores[best])
        remaining = remaining[~overlaps]
    count = len(kept_scores)
    return (np.array(kept_boxes).reshape(count, 4),
            np.array(kept_points).reshape((count,) + points.shape[1:]),
            np.array(kept_scores))
