"""Face detection behind one small interface.

``detect_faces(image_bgr, detector)`` returns the faces of a frame as
``(x, y, w, h)`` boxes in frame pixels, whatever the detector. Detectors work on
a copy of the frame scaled down to a working resolution (``working_size``, the
longest side) and map their boxes back: that is what makes them fast enough for
live video.

Detectors:
    - ``HaarFaceDetector`` ("haar"): OpenCV's frontal-face Haar cascade (no TensorFlow).
    - ``LBPFaceDetector`` ("lbp"): OpenCV's LBP frontal-face cascade, about 3x
      faster than Haar with the same hit rate on LFW faces; its boxes are mapped
      onto Haar's framing, which the models were trained on.
    - ``TrackingFaceDetector`` ("haar-track"): Haar for video, searching between full
      detections only around the previous frame's faces (one instance per stream).
    - ``MTCNNFaceDetector`` ("mtcnn"): the ``mtcnn`` package (TensorFlow, imported
      on first use); slower, also gives five landmarks per face.
    - ``BlazeFaceDetector`` ("blazeface", the default; "blazeface-fast", "blazeface-short",
      "blazeface-full"; in ``fer_core.inference.blazeface``): MediaPipe's neural detectors
      through LiteRT, short range (tight and close faces) and full range (small faces) merged,
      the full-range model only where the short-range one finds nothing or the frame is large
      ("blazeface-fast", for live video), or one alone; a score and six keypoints per face
      (the eyes give its roll), boxes mapped onto Haar's framing.
    - ``WholeImageDetector`` ("none"): the whole image is one face, for images
      that are already face crops (FER2013, CK+48).
"""

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from fer_core.config import ASSETS_DIR
from fer_core.errors import ImageError

DETECTORS = ("haar", "lbp", "haar-track", "mtcnn", "blazeface", "blazeface-fast", "blazeface-short", "blazeface-full",
             "none")
# The detector used when none is named: FacePipeline, fer_core.inference.analysis (predict and the
# Photo and Video pages). The Live page starts on "blazeface-fast" (fer_core.app.page_helpers).
DEFAULT_DETECTOR = "blazeface"
# BlazeFace detector names -> the models they run (fer_core.inference.blazeface.MODEL_SPECS).
BLAZEFACE_MODELS = {"blazeface": ("short", "full"), "blazeface-fast": ("short", "full"),
                    "blazeface-short": ("short",), "blazeface-full": ("full",)}
# The detectors that search a copy of the frame scaled down to a working size (``working_size``); the
# BlazeFace models have fixed inputs of their own, and "none" searches nothing.
SCALED_DETECTORS = ("haar", "lbp", "haar-track", "mtcnn")

# Smallest face searched for, as a fraction of the frame's longest side
# (60 pixels in a 640-pixel-wide frame).
MIN_FACE_FRACTION = 60 / 640

HAAR_CASCADE = "haarcascade_frontalface_default.xml"
HAAR_WINDOW = 24  # the cascade's own window size; no smaller face can be found

# OpenCV's lbpcascade_frontalface.xml, as scikit-image ships it with one tag-name typo
# fixed (see assets/detectors/README.md). Its window is 24x24 too.
LBP_CASCADE_PATH = ASSETS_DIR / "detectors" / "lbpcascade_frontalface.xml"
# LBP box -> Haar box: centre offset (dx, dy) and scale, in LBP box sides, fitted by
# scripts/calibrate_lbp_box.py on the keypoint set's training images.
LBP_BOX_CORRECTION = (0.0, 0.0, 1.008)

MTCNN_LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class Detection:
    """One detected face.

    Attributes:
        box: (x, y, w, h) in frame pixels, ints.
        score: detector confidence in [0, 1], or None (Haar gives none).
        landmarks: float32 array (K, 2) of frame pixels, or None (Haar, LBP): MTCNN's five
            (``MTCNN_LANDMARKS``), BlazeFace's six (``blazeface.BLAZEFACE_LANDMARKS``). The
            first two are always the eyes, the subject's right eye (on the image's left in an
            upright face) first; see ``eyes`` and ``roll_degrees``.
        landmark_names: the names of ``landmarks``' rows, or None.
    """

    box: tuple
    score: float = None
    landmarks: np.ndarray = None
    landmark_names: tuple = None

    @property
    def eyes(self):
        """(subject's right eye, subject's left eye) as float32 (2, 2) frame pixels, or None."""
        return None if self.landmarks is None else np.asarray(self.landmarks[:2], np.float32)

    @property
    def roll_degrees(self):
        """Angle of the eye line (right eye -> left eye) in degrees, y pointing down: 0 for level
        eyes, positive when the face leans clockwise as shown. ``cv2.getRotationMatrix2D(centre,
        roll_degrees, 1.0)`` turns the frame so the eyes are level. None without landmarks."""
        if self.landmarks is None:
            return None
        (x0, y0), (x1, y1) = self.eyes
        return float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))

    def landmark(self, name):
        """The (x, y) frame pixels of a named landmark ("nose_tip", "left_eye", ...).

        Raises:
            KeyError: this detection has no landmark of that name.
        """
        if self.landmark_names is None or name not in self.landmark_names:
            raise KeyError(f"no landmark {name!r}; this detection has {self.landmark_names or 'none'}")
        return self.landmarks[self.landmark_names.index(name)]


# ---------------------------------------------------------------- pure helpers

def working_scale(shape, working_size):
    """Returns the factor (<= 1) that brings an image's longest side down to ``working_size``.

    Arguments:
        shape: the image's shape (H, W, ...).
        working_size: longest side of the working image, or None for full size.

    Returns:
        float in (0, 1].
    """
    longest = max(shape[0], shape[1])
    if not working_size or longest <= working_size:
        return 1.0
    return working_size / float(longest)


def resize_for_detection(image, scale):
    """Scales an image by ``scale`` (<= 1) with area interpolation; returns it unchanged at 1."""
    if scale == 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def scale_box(box, scale, frame_shape):
    """Maps a box found at working resolution back to the frame, clipped to it.

    Arguments:
        box: (x, y, w, h) at working resolution.
        scale: the working scale used (working = frame * scale).
        frame_shape: the frame's shape (H, W, ...).

    Returns:
        (x, y, w, h) ints in frame pixels.
    """
    height, width = frame_shape[:2]
    x0, y0, w, h = (float(v) / scale for v in box)
    x1, y1 = min(width, x0 + w), min(height, y0 + h)
    x0, y0 = max(0.0, x0), max(0.0, y0)
    return (int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0)))


def correct_box(box, correction):
    """Moves and scales a box: its centre by (dx, dy) box sides, its sides by ``scale``.

    Arguments:
        box: (x, y, w, h).
        correction: (dx, dy, scale), or None for no change.

    Returns:
        (x, y, w, h) floats (ints unchanged when ``correction`` is None).
    """
    if correction is None:
        return tuple(box)
    dx, dy, scale = correction
    x, y, w, h = (float(v) for v in box)
    cx, cy = x + w / 2 + dx * w, y + h / 2 + dy * w
    return (cx - w * scale / 2, cy - h * scale / 2, w * scale, h * scale)


def check_frame(image):
    """Checks that ``image`` is a uint8 frame (HxW, HxWx3 or HxWx4) and returns it as an array.

    Raises:
        ImageError: anything else.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ImageError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ImageError(f"expected an image of shape HxW or HxWx3, got {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageError(f"image has no pixels ({image.shape})")
    return image


def to_bgr(image):
    """Returns a 3-channel BGR view of a gray, BGR or BGRA uint8 image."""
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


# ---------------------------------------------------------------- detectors

class HaarFaceDetector:
    """OpenCV Haar cascade face detector, run at a reduced working resolution.

    Subclasses change ``cascade_path`` and ``box_correction`` (see ``LBPFaceDetector``).

    Arguments:
        working_size: longest side (pixels) the frame is scaled down to before
            detection; None detects at full resolution. The default, 320, halves
            a 640x480 frame (a 60-pixel face is then 30 pixels, above the
            cascade's 24-pixel window) and keeps detection near 10-20 ms on one core.
        scale_factor: ``detectMultiScale`` pyramid step.
        min_neighbors: ``detectMultiScale`` overlap votes a face needs.
        min_face_fraction: smallest face searched for, as a fraction of the
            frame's longest side (never below the cascade's 24-pixel window).

    Thread-safe: each thread gets its own ``cv2.CascadeClassifier``.
    """

    name = "haar"
    cascade_path = cv2.data.haarcascades + HAAR_CASCADE
    box_correction = None  # (dx, dy, scale) that maps this cascade's boxes onto Haar's

    def __init__(self, working_size=320, scale_factor=1.2, min_neighbors=6,
                 min_face_fraction=MIN_FACE_FRACTION):
        self.working_size = working_size
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face_fraction = min_face_fraction
        self._local = threading.local()
        self._cascade()  # fail now, not on the first frame, if the cascade is missing

    def _cascade(self):
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = cv2.CascadeClassifier(str(self.cascade_path))
            if cascade.empty():
                raise RuntimeError(f"cannot load the cascade {self.cascade_path}")
            self._local.cascade = cascade
        return cascade

    def detect(self, image_bgr):
        """Finds faces.

        Arguments:
            image_bgr: uint8 frame, BGR (gray and BGRA accepted).

        Returns:
            list of ``Detection`` (no score, no landmarks), largest first.
        """
        image = check_frame(image_bgr)
        scale = working_scale(image.shape, self.working_size)
        gray = image if image.ndim == 2 else cv2.cvtColor(to_bgr(image), cv2.COLOR_BGR2GRAY)
        small = resize_for_detection(gray, scale)
        longest = max(small.shape[:2])
        if longest < HAAR_WINDOW:
            return []
        min_size = max(HAAR_WINDOW, int(round(self.min_face_fraction * longest)))
        boxes = self._cascade().detectMultiScale(
            small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(min_size, min_size))
        detections = [Detection(scale_box(correct_box(box, self.box_correction), scale, image.shape))
                      for box in boxes]
        return sorted(detections, key=lambda d: -d.box[2] * d.box[3])


class LBPFaceDetector(HaarFaceDetector):
    """OpenCV's LBP frontal-face cascade: about 3x faster than Haar on the same frame.

    Same arguments as ``HaarFaceDetector``; ``min_neighbors`` defaults to 3, where it
    finds as many LFW faces as Haar at 6 with no false alarm on LFW non-faces (see
    tests/inference/test_detection.py). Boxes are mapped onto Haar's framing
    (``LBP_BOX_CORRECTION``), so crops match what the models were trained on.
    """

    name = "lbp"
    cascade_path = LBP_CASCADE_PATH
    box_correction = LBP_BOX_CORRECTION

    def __init__(self, working_size=320, scale_factor=1.2, min_neighbors=3,
                 min_face_fraction=MIN_FACE_FRACTION):
        super().__init__(working_size, scale_factor, min_neighbors, min_face_fraction)


class TrackingFaceDetector:
    """Detect-then-track for video: full detection every few frames, and in between a
    search only around the faces of the previous frame.

    Between full detections each known face is looked for with the same Haar
    cascade inside its previous box grown by ``roi_margin`` on each side, scaled
    so the face is about ``roi_face_size`` pixels and searched only at sizes
    near its previous one: a few hundred pixels instead of a whole frame.
    A face not found again triggers a full detection on the same frame, so a
    face is never lost for more than that frame; new faces appear at the next
    full detection (every ``redetect_every`` frames).

    Arguments:
        redetect_every: frames between full detections.
        roi_margin: fraction of the box side added around it for the search.
        roi_face_size: side, in pixels, the previous face is scaled to.
        **haar_options: options of the HaarFaceDetector used for full detections.

    One instance follows one video stream (it keeps state); not for sharing.
    """

    name = "haar-track"

    def __init__(self, redetect_every=10, roi_margin=0.5, roi_face_size=48, **haar_options):
        self.full = HaarFaceDetector(**haar_options)
        self.redetect_every = redetect_every
        self.roi_margin = roi_margin
        self.roi_face_size = roi_face_size
        self.full_detections = 0
        self.reset()

    @property
    def working_size(self):
        """The longest side its full detections search at (its Haar detector's)."""
        return self.full.working_size

    def reset(self):
        """Forgets the faces followed (e.g. at a new video)."""
        self._boxes, self._since_full = [], 0

    def _find_near(self, gray, box):
        height, width = gray.shape
        x, y, w, h = box
        side = max(w, h)
        pad = self.roi_margin * side
        x0, y0 = int(max(0, x - pad)), int(max(0, y - pad))
        x1, y1 = int(min(width, x + w + pad)), int(min(height, y + h + pad))
        scale = min(1.0, self.roi_face_size / float(side))
        roi = resize_for_detection(gray[y0:y1, x0:x1], scale)
        low, high = int(0.7 * side * scale), int(1.4 * side * scale) + 1
        if min(roi.shape) < max(HAAR_WINDOW, low):
            return None
        found = self.full._cascade().detectMultiScale(
            roi, scaleFactor=1.1, minNeighbors=self.full.min_neighbors,
            minSize=(max(HAAR_WINDOW, low),) * 2, maxSize=(high, high))
        if len(found) == 0:
            return None
        bx, by, bw, bh = max(found, key=lambda b: b[2] * b[3])
        return (int(round(x0 + bx / scale)), int(round(y0 + by / scale)),
                int(round(bw / scale)), int(round(bh / scale)))

    def detect(self, image_bgr):
        """Finds faces in the next frame of the stream; see ``HaarFaceDetector.detect``."""
        image = check_frame(image_bgr)
        self._since_full += 1
        if self._boxes and self._since_full < self.redetect_every:
            gray = image if image.ndim == 2 else cv2.cvtColor(to_bgr(image), cv2.COLOR_BGR2GRAY)
            boxes = [self._find_near(gray, box) for box in self._boxes]
            if all(box is not None for box in boxes):
                self._boxes = boxes
                return [Detection(box) for box in boxes]
        detections = self.full.detect(image)
        self.full_detections += 1
        self._boxes, self._since_full = [d.box for d in detections], 0
        return detections


class MTCNNFaceDetector:
    """The ``mtcnn`` package's detector (TensorFlow; imported on first use).

    Arguments:
        working_size: longest side the frame is scaled down to before detection.
        min_score: detections below this confidence are dropped.

    ``min_face_size`` is left at the package's default on purpose (other values
    crash or find nothing with mtcnn 1.0.0). Thread-safe (one lock).
    """

    name = "mtcnn"

    def __init__(self, working_size=480, min_score=0.9):
        try:
            from mtcnn import MTCNN
        except ImportError as error:  # pragma: no cover - depends on the install
            raise ImportError(
                "the MTCNN detector needs the mtcnn package: pip install mtcnn==1.0.0 joblib lz4"
            ) from error
        self.working_size = working_size
        self.min_score = min_score
        self._mtcnn = MTCNN()
        self._lock = threading.Lock()

    def detect(self, image_bgr):
        """Finds faces and their five landmarks.

        Arguments:
            image_bgr: uint8 frame, BGR (gray and BGRA accepted).

        Returns:
            list of ``Detection`` with score and landmarks, largest first.
        """
        image = to_bgr(check_frame(image_bgr))
        scale = working_scale(image.shape, self.working_size)
        small = cv2.cvtColor(resize_for_detection(image, scale), cv2.COLOR_BGR2RGB)
        if min(small.shape[:2]) < 12:
            return []
        with self._lock:
            faces = self._mtcnn.detect_faces(small)
        detections = []
        for face in faces:
            if face.get("confidence", 0.0) < self.min_score:
                continue
            points = np.array([face["keypoints"][name] for name in MTCNN_LANDMARKS], np.float32)
            detections.append(Detection(
                scale_box(face["box"], scale, image.shape),
                score=float(face["confidence"]),
                landmarks=points / scale, landmark_names=MTCNN_LANDMARKS))
        return sorted(detections, key=lambda d: -d.box[2] * d.box[3])


class WholeImageDetector:
    """Takes the whole image as one face (for inputs that are already face crops)."""

    name = "none"

    def detect(self, image_bgr):
        """Returns one ``Detection`` covering the image."""
        image = check_frame(image_bgr)
        return [Detection((0, 0, int(image.shape[1]), int(image.shape[0])))]


# ---------------------------------------------------------------- named entry points

_SHARED_DETECTORS = {}
_SHARED_LOCK = threading.Lock()


def detector_options(name, working_size=None):
    """``make_detector``'s options for a detector name and a working size.

    Arguments:
        name: one of ``DETECTORS``.
        working_size: longest side the frame is scaled down to before detection, or None for the
            detector's own default; used only by ``SCALED_DETECTORS``.

    Returns:
        {"working_size": working_size} or {}.
    """
    return {"working_size": int(working_size)} if working_size and name in SCALED_DETECTORS else {}


def make_detector(name=DEFAULT_DETECTOR, **options):
    """Builds a detector by name.

    Arguments:
        name: one of ``DETECTORS`` ("none" takes the whole image as the face).
        **options: passed to the detector's constructor (e.g. ``working_size``;
            ignored by "none" and, having fixed input sizes, by the BlazeFace ones).

    Returns:
        a detector with ``detect(image_bgr) -> list[Detection]``.
    """
    if name in BLAZEFACE_MODELS:
        from fer_core.inference.blazeface import FAST_FULL_RANGE_ABOVE, BlazeFaceDetector

        if name == "blazeface-fast":
            options.setdefault("full_range_above", FAST_FULL_RANGE_ABOVE)
        return BlazeFaceDetector(models=BLAZEFACE_MODELS[name], **options)
    if name == "haar":
        return HaarFaceDetector(**options)
    if name == "lbp":
        return LBPFaceDetector(**options)
    if name == "haar-track":
        return TrackingFaceDetector(**options)
    if name == "mtcnn":
        return MTCNNFaceDetector(**options)
    if name == "none":
        return WholeImageDetector()
    raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")


def get_detector(detector=DEFAULT_DETECTOR, **options):
    """Returns ``detector`` itself, or the process's shared instance of a detector name built with
    ``options`` (detectors are thread-safe; a new one for "haar-track", which follows a single stream).

    Arguments:
        detector: a detector instance, or one of ``DETECTORS``.
        **options: ``make_detector``'s options (e.g. from ``detector_options``).
    """
    if not isinstance(detector, str):
        return detector
    if detector == "haar-track":
        return make_detector(detector, **options)
    key = (detector, tuple(sorted(options.items())))
    with _SHARED_LOCK:
        if key not in _SHARED_DETECTORS:
            _SHARED_DETECTORS[key] = make_detector(detector, **options)
        return _SHARED_DETECTORS[key]


def working_size_of(detector):
    """The longest side (pixels) a detector scales frames down to before it searches them, or None
    (BlazeFace, "none", or a detector of one's own without ``working_size``)."""
    return getattr(detector, "working_size", None)


def detect_faces(image_bgr, detector=DEFAULT_DETECTOR):
    """Finds the faces in a frame.

    Arguments:
        image_bgr: uint8 frame, BGR (gray and BGRA accepted).
        detector: a detector name (one of ``DETECTORS``) or instance.

    Returns:
        list of (x, y, w, h) int boxes in frame pixels, largest first.
    """
    return [detection.box for detection in get_detector(detector).detect(image_bgr)]
