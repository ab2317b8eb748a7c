"""The 468-point face mesh: MediaPipe's face landmark model, run per face through LiteRT (no TensorFlow).

``FaceMesh().predict(image_bgr, boxes, angles)`` gives each face's 468 points (x, y, z) in frame
pixels. The model (``assets/detectors/face_landmark.tflite``, from the mediapipe 0.10.14 wheel like
the BlazeFace detectors; see ``assets/detectors/NOTICE``) takes a 192x192 RGB crop in [0, 1] around
one face, turned upright when the detector gives its eye line, and returns 1404 numbers (468 x (x, y,
z) in crop pixels; z is depth at the scale of x) and a face-presence logit. A face is cut the way the
emotion and keypoint models cut theirs (``fer_core.data.face_crops.aligned_crop``), with a wider
margin: the mesh covers the forehead, cheeks and chin, and MediaPipe's own crop is 1.5 times its
detector's box.
"""

import threading

import cv2
import numpy as np

from fer_core.config import ASSETS_DIR
from fer_core.data.face_crops import aligned_crop, invert_affine, transform_points
from fer_core.errors import ModelError

FACE_MESH_PATH = ASSETS_DIR / "detectors" / "face_landmark.tflite"
MESH_POINTS = 468
MESH_INPUT_SIZE = 192
# Margin around a face box (Haar's framing, which every detector's boxes are put on), as a fraction of
# its side on each side: 1.33 times the box, about the 1.5 times BlazeFace's own, smaller box that
# MediaPipe crops.
MESH_MARGIN = 0.17
# A face whose presence score is below this gets no mesh (the crop holds no face the model sees).
MIN_PRESENCE = 0.5


class FaceMesh:
    """MediaPipe's 468-point face landmark model.

    Arguments:
        path: the ``.tflite`` file (default ``FACE_MESH_PATH``).
        margin: fraction of the face box added on each side of the crop.
        min_presence: faces scoring less get no mesh (None in ``predict``'s list).
        num_threads: LiteRT threads.

    Thread-safe: each thread gets its own interpreter.
    """

    def __init__(self, path=FACE_MESH_PATH, margin=MESH_MARGIN, min_presence=MIN_PRESENCE, num_threads=1):
        self.path = path
        self.margin = margin
        self.min_presence = min_presence
        self.num_threads = num_threads
        self._local = threading.local()
        self._interpreter()  # fail now, not on the first face, if the file is missing or wrong

    def _interpreter(self):
        loaded = getattr(self._local, "interpreter", None)
        if loaded is None:
            loaded = self._local.interpreter = load_mesh_interpreter(self.path, self.num_threads)
        return loaded

    def crop(self, image_bgr, box, angle=None):
        """One face's model input: (RGB uint8 crop (192, 192, 3), matrix frame -> crop pixels)."""
        image = np.asarray(image_bgr)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        crop, matrix = aligned_crop(image, box, MESH_INPUT_SIZE, self.margin, angle)
        return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB), matrix

    def predict_crop(self, rgb_crop):
        """The mesh of one 192x192 RGB crop: (float32 (468, 3) in crop pixels, presence score in [0, 1])."""
        interpreter, input_index, mesh_index, score_index = self._interpreter()
        interpreter.set_tensor(input_index, (rgb_crop.astype(np.float32) / 255.0)[None])
        interpreter.invoke()
        mesh = interpreter.get_tensor(mesh_index).reshape(MESH_POINTS, 3).astype(np.float32)
        logit = float(interpreter.get_tensor(score_index).reshape(-1)[0])
        return mesh, float(1.0 / (1.0 + np.exp(-np.clip(logit, -100.0, 100.0))))

    def predict(self, image_bgr, boxes, angles=None):
        """The meshes of a frame's faces, one model call per face.

        Arguments:
            image_bgr: uint8 frame, BGR (gray and BGRA accepted).
            boxes: sequence of (x, y, w, h) face boxes.
            angles: per face, degrees that level its eyes (``Detection.roll_degrees``) or None.

        Returns:
            list with, per face, float32 (468, 3): (x, y) in frame pixels and z at the same scale
            (smaller is nearer the camera); None for a face whose presence score is under ``min_presence``.
        """
        angles = [None] * len(boxes) if angles is None else list(angles)
        meshes = []
        for box, angle in zip(boxes, angles):
            crop, matrix = self.crop(image_bgr, box, angle)
            mesh, presence = self.predict_crop(crop)
            if presence < self.min_presence:
                meshes.append(None)
                continue
            scale = np.sqrt(abs(np.linalg.det(matrix[:, :2])))  # crop pixels per frame pixel
            mesh[:, :2] = transform_points(mesh[:, :2], invert_affine(matrix))
            mesh[:, 2] /= scale
            meshes.append(mesh)
        return meshes


def load_mesh_interpreter(path=FACE_MESH_PATH, num_threads=1):
    """Loads the face mesh model and checks its tensors.

    Returns:
        (interpreter, input index, mesh output index (1404 values), presence output index (1 value)).

    Raises:
        ModelError: the file is missing or is not the 468-point model.
    """
    from ai_edge_litert.interpreter import Interpreter

    if not path.is_file():
        raise ModelError(f"{path}: no such model file (scripts/extract_detectors.py restores it)")
    interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
    interpreter.allocate_tensors()
    (tensor,) = interpreter.get_input_details()
    if list(tensor["shape"]) != [1, MESH_INPUT_SIZE, MESH_INPUT_SIZE, 3]:
        raise ModelError(f"{path}: expected an input of 1x192x192x3, got {list(tensor['shape'])}")
    outputs = {int(np.prod(d["shape"])): d["index"] for d in interpreter.get_output_details()}
    if sorted(outputs) != [1, 3 * MESH_POINTS]:
        raise ModelError(f"{path}: expected outputs of {3 * MESH_POINTS} and 1 values, got {sorted(outputs)}")
    return interpreter, tensor["index"], outputs[3 * MESH_POINTS], outputs[1]
