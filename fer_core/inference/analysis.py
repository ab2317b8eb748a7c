"""One analysis path: the settings that decide which faces and labels an image gets, wherever it is analysed.

``AnalysisSettings`` gathers them: the face detector and its working size, flip test-time
augmentation, eye alignment, label smoothing (video) and the face mesh. ``python -m fer_core
predict`` and the Photo page build their ``FacePipeline`` from the same ``PHOTO_ANALYSIS``
defaults through ``AnalysisSettings.pipeline`` (and the Video page and ``predict`` on a video from
``VIDEO_ANALYSIS``), so that a photo gets the same faces and labels from both; ``describe`` is the
line the pages show under a result, and ``analysis_record`` the ``"detector"`` and ``"models"``
keys of ``predict --json`` and of the Photo page's JSON download.

Nothing here imports TensorFlow.

# Example
```python
from fer_core.inference.analysis import PHOTO_ANALYSIS
pipeline = PHOTO_ANALYSIS.pipeline(emotion, keypoints)   # blazeface, flip TTA, faces turned upright
results = pipeline(image_bgr)
```
"""

import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from fer_core.config import PROJECT_ROOT
from fer_core.inference.detection import (DEFAULT_DETECTOR, detector_options, get_detector, make_detector,
                                         working_size_of)
from fer_core.inference.pipeline import FacePipeline

# Longest side, in pixels, that Haar, LBP and MTCNN scale a photo down to before they search it (the
# BlazeFace models have fixed inputs of their own). The Photo page ran Haar at 320 px and predict at 640,
# and the same photo got 0 faces in one and 2 in the other: both now use this.
DETECT_SIZE = 640
# Frames over which a video's faces' probabilities are averaged (each face by its number).
VIDEO_SMOOTHING = 5


@dataclass(frozen=True)
class AnalysisSettings:
    """How an image is analysed.

    Attributes:
        detector: a detector name (``fer_core.inference.detection.DETECTORS``).
        detect_size: longest side a frame is scaled down to before detection (Haar, LBP, MTCNN;
            the BlazeFace models ignore it).
        flip_tta: classify each face and its mirror image and average the two.
        align: turn each face whose detection gives its eyes so that they are level before the
            models (``FacePipeline(align=...)``).
        smoothing: frames over which a face's probabilities are averaged (video); 0 for photos.
        face_mesh: add each face's 468-point mesh (``face_mesh.FaceMesh``).
    """

    detector: str = DEFAULT_DETECTOR
    detect_size: int = DETECT_SIZE
    flip_tta: bool = True
    align: bool = True
    smoothing: int = 0
    face_mesh: bool = False

    def with_changes(self, **changes):
        """A copy with some settings changed (``None`` values are ignored: "not given")."""
        return replace(self, **{key: value for key, value in changes.items() if value is not None})

    def detector_options(self):
        """``make_detector``'s options for these settings (``detection.detector_options``: the working
        size, for the detectors that search a scaled-down frame)."""
        return detector_options(self.detector, self.detect_size)

    def make_detector(self):
        """A new detector as these settings ask for it."""
        return make_detector(self.detector, **self.detector_options())

    def shared_detector(self):
        """The process's shared detector for these settings (``detection.get_detector``: the pages, predict
        and the pipelines built here share it; a tracking detector, which follows one stream, is always new)."""
        return get_detector(self.detector, **self.detector_options())

    def pipeline(self, emotion=None, keypoints=None, detector=None, mesh=None, track=None):
        """The ``FacePipeline`` of these settings.

        Arguments:
            emotion: an ``EmotionClassifier``, or None.
            keypoints: a ``KeypointRegressor``, or None.
            detector: the detector instance to use (e.g. a page's cached one), else ``shared_detector()``.
            mesh: the ``FaceMesh`` to run when ``face_mesh`` is on (default: the process's shared one).
            track: number faces across frames; default: when ``smoothing`` > 1.

        Returns:
            ``FacePipeline`` with ``settings`` set to these settings.
        """
        if self.face_mesh and mesh is None:
            mesh = shared_face_mesh()
        pipeline = FacePipeline(detector if detector is not None else self.shared_detector(), emotion, keypoints,
                                smoothing=self.smoothing, flip_tta=self.flip_tta, align=self.align,
                                mesh=mesh if self.face_mesh else None,
                                track=self.smoothing > 1 if track is None else track)
        pipeline.settings = self
        return pipeline

    def to_json(self):
        """{"name": the detector, "detect_size", "flip_tta", "align", "smoothing", "face_mesh"}."""
        settings = asdict(self)
        return {"name": settings.pop("detector"), **settings}

    def describe(self, detector=None, emotion=True):
        """The settings in words, for the line under a result, e.g. "detector: blazeface · faces turned
        upright (eyes level) · flip TTA on".

        Arguments:
            detector: the detector instance that ran (for a cascade's working size), else the shared one.
            emotion: whether an emotion model ran (flip TTA is said only then).
        """
        working_size = working_size_of(detector if detector is not None else self.shared_detector())
        parts = [f"detector: {self.detector}" + (f" at {working_size} px (frames scaled down to it on the long side)"
                                                 if working_size else "")]
        if self.align and detector_gives_eyes(self.detector):
            parts.append("faces turned upright (eyes level)")
        if self.face_mesh:
            parts.append("face mesh")
        if emotion:
            parts.append(f"flip TTA {'on' if self.flip_tta else 'off'}")
        return " · ".join(parts)


# The defaults of each kind of input: a photo (predict on images, the Photo page), a video (predict on
# videos, the Video page) and the live webcam (its frames must keep up: BlazeFace's full-range model
# only where it is needed, the cascades at 320 px).
PHOTO_ANALYSIS = AnalysisSettings()
VIDEO_ANALYSIS = AnalysisSettings(flip_tta=False, smoothing=VIDEO_SMOOTHING)
LIVE_ANALYSIS = AnalysisSettings(detector="blazeface-fast", detect_size=320, flip_tta=False, smoothing=VIDEO_SMOOTHING)


def detector_gives_eyes(name):
    """True for the detectors whose faces come with their eyes (so they can be turned upright)."""
    return name == "mtcnn" or name.startswith("blazeface")


def model_file(path):
    """A model file's path as reported: relative to the repository when inside it, else absolute."""
    if path is None:
        return None
    path = Path(path).resolve()
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def model_files(pipeline):
    """The files that ran in a pipeline: {"emotion": ..., "keypoints": ..., "face_mesh": ...} (the
    models it has; a Keras model built in memory is "(in memory)")."""
    files = {}
    for kind, model in (("emotion", pipeline.emotion), ("keypoints", pipeline.keypoints)):
        if model is not None:
            files[kind] = model_file(getattr(model.runner, "path", None)) or "(in memory)"
    if pipeline.mesh is not None:
        files["face_mesh"] = model_file(pipeline.mesh.path)
    return files


def analysis_record(pipeline):
    """``{"detector": settings, "models": files}``: what produced a result (``predict --json`` lines
    and the Photo page's JSON download). A pipeline built without settings reports its own."""
    settings = getattr(pipeline, "settings", None) or AnalysisSettings(
        detector=getattr(pipeline.detector, "name", type(pipeline.detector).__name__),
        detect_size=working_size_of(pipeline.detector), flip_tta=pipeline.flip_tta,
        align=pipeline.align, smoothing=pipeline.tracker.window if pipeline.tracker else 0,
        face_mesh=pipeline.mesh is not None)
    return {"detector": settings.to_json(), "models": model_files(pipeline)}


_SHARED_MESH = []
_MESH_LOCK = threading.Lock()


def shared_face_mesh():
    """The process's ``FaceMesh`` (loaded on first use; the model is thread-safe)."""
    from fer_core.inference.face_mesh import FaceMesh

    with _MESH_LOCK:
        if not _SHARED_MESH:
            _SHARED_MESH.append(FaceMesh())
        return _SHARED_MESH[0]
