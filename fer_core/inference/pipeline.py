"""The frame pipeline: detect faces, classify emotions, locate keypoints.

``FacePipeline(detector, emotion, keypoints)(frame_bgr)`` returns one
``FaceResult`` per face. Each face is turned upright before the models when the detector gives
its eyes (``align``: BlazeFace, MTCNN), and its keypoints turned back into the frame; a
``FaceMesh`` adds the 468-point mesh when given. For video, ``track=True`` numbers the faces so that each
keeps its number from frame to frame (``FaceTracker``), and ``smoothing`` > 1 also
averages each face's probabilities over its last ``smoothing`` frames, which
steadies the label shown.

Nothing here imports TensorFlow unless a Keras model or MTCNN is used.
"""

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from fer_core import config
from fer_core.data.face_crops import box_iou, to_gray
from fer_core.inference.confidence import is_uncertain
from fer_core.inference.detection import DEFAULT_DETECTOR, check_frame, get_detector


@dataclass
class FaceResult:
    """What the pipeline found about one face.

    Attributes:
        box: (x, y, w, h) ints in frame pixels.
        probabilities: {label: probability} in the model's class order, or None
            without an emotion model.
        label: the most probable label, or None.
        keypoints: float32 array (15, 2) of (x, y) frame pixels in
            ``config.KEYPOINT_NAMES`` order, or None.
        track_id: the face's number across video frames (from 1, with tracking), else None.
        landmarks: the detector's own landmarks (MTCNN: 5 points, BlazeFace: 6), or None.
        roll: the face's roll in degrees (``Detection.roll_degrees``) when it was turned upright
            before the models, else None.
        mesh: float32 (468, 3) face mesh in frame pixels (``face_mesh.FaceMesh``), or None.
    """

    box: tuple
    probabilities: dict = None
    label: str = None
    keypoints: np.ndarray = None
    track_id: int = None
    landmarks: np.ndarray = field(default=None, repr=False)
    roll: float = None
    mesh: np.ndarray = field(default=None, repr=False)

    @property
    def score(self):
        """Probability of ``label`` (None without an emotion model)."""
        return None if self.label is None else self.probabilities[self.label]

    @property
    def uncertain(self):
        """True when the two most probable classes are within ``confidence.UNCERTAIN_MARGIN`` of each other."""
        return bool(self.probabilities) and len(self.probabilities) > 1 and bool(
            is_uncertain(np.array(list(self.probabilities.values()))))

    def to_json(self, digits=4):
        """A JSON-ready dict: box, label, probs, keypoints (by name)."""
        result = {"box": [int(v) for v in self.box], "label": self.label,
                  "probs": None if self.probabilities is None else
                  {name: round(float(p), digits) for name, p in self.probabilities.items()},
                  "keypoints": None}
        if self.keypoints is not None:
            result["keypoints"] = {name: [round(float(x), 1), round(float(y), 1)]
                                   for name, (x, y) in zip(config.KEYPOINT_NAMES, self.keypoints)}
        if self.probabilities is not None:
            result["uncertain"] = self.uncertain
        if self.track_id is not None:
            result["track_id"] = self.track_id
        if self.roll is not None:
            result["roll"] = round(float(self.roll), 1)
        if self.mesh is not None:
            result["mesh"] = [[round(float(x), 1), round(float(y), 1)] for x, y in self.mesh[:, :2]]
        return result


# The emotion models learnt faces rolled by up to 10 degrees either way (the training augmentation's
# rotation): only a face rolled further is turned upright for them. Turning every face cost upright
# faces 1.2 points (FER2013) and 1.6 (CK+48) in bench/bench_alignment.py; keypoints are always turned.
EMOTION_ALIGN_FROM_DEGREES = 10.0


# ---------------------------------------------------------------- pure helpers

def emotion_angle(roll):
    """The angle the emotion model's crop of a face is turned by: its roll when it is at least
    ``EMOTION_ALIGN_FROM_DEGREES``, else None (cut as it is)."""
    return roll if roll is not None and abs(roll) >= EMOTION_ALIGN_FROM_DEGREES else None



def match_boxes(previous, current, min_iou=0.3):
    """Greedy one-to-one matching of boxes by IoU, best pairs first.

    Arguments:
        previous: list of boxes (e.g. tracks' last boxes).
        current: list of boxes in the new frame.
        min_iou: pairs below this overlap are not matched.

    Returns:
        dict {current index: previous index}.
    """
    pairs = sorted(((box_iou(p, c), i, j) for i, p in enumerate(previous)
                    for j, c in enumerate(current)), reverse=True)
    matched, used = {}, set()
    for iou, i, j in pairs:
        if iou < min_iou:
            break
        if i in used or j in matched:
            continue
        matched[j] = i
        used.add(i)
    return matched


def label_probabilities(probabilities, label_names):
    """Pairs a probability vector with its labels: ({label: p}, best label)."""
    probs = {name: float(p) for name, p in zip(label_names, probabilities)}
    return probs, label_names[int(np.argmax(probabilities))]


# ---------------------------------------------------------------- tracking

class FaceTracker:
    """Gives each face a number that stays with it from frame to frame, and averages its probabilities.

    Faces are matched to the tracks of earlier frames greedily by IoU; a face left over then takes
    the nearest left-over track whose last box centre lies within ``reid_distance`` box sides of
    its own (a face that moved while it went undetected for a few frames keeps its number). A track
    not seen for more than ``max_missed`` frames is dropped. Numbers start at 1 and are not reused.

    Arguments:
        window: frames averaged per face (1: no smoothing).
        min_iou: overlap that makes two boxes the same face.
        max_missed: frames a face may go undetected before its track is dropped.
        reid_distance: how far (in box sides) a left-over face may be from a left-over track.
    """

    def __init__(self, window=1, min_iou=0.3, max_missed=15, reid_distance=1.0):
        self.window = max(1, int(window))
        self.min_iou = min_iou
        self.max_missed = max_missed
        self.reid_distance = reid_distance
        self.reset()

    def reset(self):
        """Forgets all tracks (e.g. at a new video); numbering starts again at 1."""
        self._tracks, self._next_id = [], 1

    def adopt(self, other):
        """Takes over another tracker's faces and numbering (its boxes and numbers, not its averages:
        a new model may have other classes), e.g. when a stream's settings change mid-stream."""
        self._next_id = other._next_id
        self._tracks = [dict(track, history=deque(maxlen=self.window)) for track in other._tracks]

    def _match(self, boxes):
        matched = match_boxes([t["box"] for t in self._tracks], boxes, self.min_iou)
        free_tracks = [i for i in range(len(self._tracks)) if i not in matched.values()]
        pairs = sorted((_centre_distance(self._tracks[i]["box"], box), j, i)
                       for j, box in enumerate(boxes) if j not in matched for i in free_tracks)
        for distance, j, i in pairs:
            if distance > self.reid_distance:
                break
            if j not in matched and i not in matched.values():
                matched[j] = i
        return matched

    def update(self, boxes, probabilities):
        """Feeds one frame.

        Arguments:
            boxes: list of N boxes.
            probabilities: array (N, C), or None without classification.

        Returns:
            (track ids: list of N ints from 1, smoothed probabilities: (N, C) or None).
        """
        matched = self._match(boxes)
        seen, ids, smoothed = set(), [], []
        for j, box in enumerate(boxes):
            if j in matched:
                track = self._tracks[matched[j]]
            else:
                track = {"id": self._next_id, "history": deque(maxlen=self.window)}
                self._next_id += 1
                self._tracks.append(track)
            track["box"], track["missed"] = box, 0
            seen.add(track["id"])
            ids.append(track["id"])
            if probabilities is not None:
                track["history"].append(np.asarray(probabilities[j], np.float32))
                smoothed.append(np.mean(track["history"], axis=0))
        for track in self._tracks:
            if track["id"] not in seen:
                track["missed"] += 1
        self._tracks = [t for t in self._tracks if t["missed"] <= self.max_missed]
        if probabilities is None:
            return ids, None
        return ids, np.array(smoothed, np.float32).reshape(len(boxes), -1)


def _centre_distance(a, b):
    """Distance between two boxes' centres, in units of their mean side."""
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    side = max(1.0, (aw + ah + bw + bh) / 4.0)
    return float(np.hypot(ax + aw / 2 - bx - bw / 2, ay + ah / 2 - by - bh / 2) / side)


# ---------------------------------------------------------------- the pipeline

class FacePipeline:
    """Detect -> crop -> classify emotions -> regress keypoints, for one frame.

    Arguments:
        detector: a detector name ("haar", "mtcnn") or instance (see
            ``fer_core.inference.detection``).
        emotion: an ``EmotionClassifier``, or None to skip emotions.
        keypoints: a ``KeypointRegressor``, or None to skip keypoints.
        smoothing: for video, frames over which each tracked face's
            probabilities are averaged; 0 or 1 for none (still images).
        track: give faces numbers that stay with them across frames (``FaceTracker``; on
            whenever ``smoothing`` > 1); off for still images.
        max_faces: at most this many faces (the largest) are processed.
        flip_tta: classify each face and its mirror image and average the two (flip test-time
            augmentation: more accurate, twice the classifier's time).
        align: turn each face whose detection has eyes (``Detection.roll_degrees``) so that they are
            level before the keypoint model and the mesh, and before the emotion model when it is
            rolled by ``EMOTION_ALIGN_FROM_DEGREES`` or more (``emotion_angle``).
        mesh: a ``face_mesh.FaceMesh`` to add each face's 468-point mesh, or None (off).

    Calling it is thread-safe only without smoothing (tracking keeps state):
    give each video stream its own pipeline (they may share models and detector).
    """

    def __init__(self, detector=DEFAULT_DETECTOR, emotion=None, keypoints=None, smoothing=0, max_faces=16,
                 flip_tta=False, track=False, align=True, mesh=None):
        self.detector = get_detector(detector)
        self.emotion = emotion
        self.keypoints = keypoints
        self.max_faces = max_faces
        self.flip_tta = flip_tta
        self.align = align
        self.mesh = mesh
        smoothing = smoothing if smoothing and smoothing > 1 else 1
        self.tracker = FaceTracker(window=smoothing) if track or smoothing > 1 else None
        self.timings = {}  # stage -> seconds of the last call
        self._lock = threading.Lock()

    @property
    def label_names(self):
        return self.emotion.label_names if self.emotion is not None else ()

    def __call__(self, frame_bgr):
        """Processes one frame.

        Arguments:
            frame_bgr: uint8 frame HxWx3 (BGR; gray and BGRA accepted).

        Returns:
            list of ``FaceResult``, largest face first.
        """
        timings = {}
        start = time.perf_counter()
        frame = check_frame(frame_bgr)
        detections = self.detector.detect(frame)[: self.max_faces]
        boxes = [d.box for d in detections]
        angles = [d.roll_degrees if self.align else None for d in detections]
        timings["detect"] = time.perf_counter() - start

        probabilities = points = meshes = None
        if boxes and (self.emotion is not None or self.keypoints is not None):
            tick = time.perf_counter()
            gray = to_gray(frame)  # once for both models
            if self.emotion is not None:
                crops = self.emotion.crop_faces(gray, boxes, [emotion_angle(a) for a in angles])
                timings["crop"] = time.perf_counter() - tick
                tick = time.perf_counter()
                probabilities = self.emotion.predict_crops(crops, self.flip_tta)
                timings["classify"] = time.perf_counter() - tick
            if self.keypoints is not None:
                tick = time.perf_counter()
                points = self.keypoints.predict(gray, boxes, angles)
                timings["keypoints"] = time.perf_counter() - tick
        if boxes and self.mesh is not None:
            tick = time.perf_counter()
            meshes = self.mesh.predict(frame, boxes, angles)
            timings["mesh"] = time.perf_counter() - tick

        track_ids = [None] * len(boxes)
        if self.tracker is not None:
            with self._lock:
                track_ids, smoothed = self.tracker.update(boxes, probabilities)
            if smoothed is not None:
                probabilities = smoothed

        results = []
        for i, detection in enumerate(detections):
            probs, label = (None, None)
            if probabilities is not None:
                probs, label = label_probabilities(probabilities[i], self.label_names)
            results.append(FaceResult(
                box=detection.box, probabilities=probs, label=label,
                keypoints=None if points is None else points[i],
                track_id=track_ids[i], landmarks=detection.landmarks, roll=angles[i],
                mesh=None if meshes is None else meshes[i]))
        timings["total"] = time.perf_counter() - start
        self.timings = timings
        return results

    def continue_tracks(self, other):
        """Carries another pipeline's tracked faces over, so that they keep their numbers (a live stream
        whose settings change gets a new pipeline); nothing happens unless both track faces."""
        if self.tracker is not None and getattr(other, "tracker", None) is not None:
            with other._lock:
                self.tracker.adopt(other.tracker)

    def reset(self):
        """Forgets tracked faces (call between videos)."""
        if self.tracker is not None:
            self.tracker.reset()


def results_to_json(results):
    """``{"faces": [...]}`` for a frame's results (see ``FaceResult.to_json``)."""
    return {"faces": [result.to_json() for result in results]}
