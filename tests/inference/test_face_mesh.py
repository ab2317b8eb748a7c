"""The optional 468-point face mesh (fer_core.inference.face_mesh): where its points fall, that it is off by
default, and how the pipeline and the overlay carry it."""

import cv2
import numpy as np
import pytest

from fer_core.errors import ModelError
from fer_core.inference.analysis import LIVE_ANALYSIS, PHOTO_ANALYSIS, VIDEO_ANALYSIS
from fer_core.inference.blazeface import BLAZEFACE_DIR
from fer_core.inference.face_mesh import MESH_POINTS, FaceMesh
from fer_core.inference.overlay import draw_results
from fer_core.inference.pipeline import FacePipeline
from tests.inference_models import astronaut_bgr


@pytest.fixture(scope="module")
def mesh():
    return FaceMesh()


def inside(points, box, grow=0.0):
    x, y, w, h = box
    x, y, w, h = x - grow * w, y - grow * h, w * (1 + 2 * grow), h * (1 + 2 * grow)
    return (points[:, 0] >= x) & (points[:, 0] <= x + w) & (points[:, 1] >= y) & (points[:, 1] <= y + h)


def test_the_mesh_falls_inside_the_face_box_on_the_astronaut(mesh):
    astronaut = astronaut_bgr()
    face, = FacePipeline("blazeface", mesh=mesh)(astronaut)
    assert face.mesh.shape == (MESH_POINTS, 3) and face.mesh.dtype == np.float32
    assert inside(face.mesh, face.box).mean() > 0.95  # the box is Haar's framing: the chin may poke out
    assert inside(face.mesh, face.box, grow=0.1).all()
    # it covers the face: from the eyes' outer corners to the mouth, not a clump
    x, y, w, h = face.box
    assert np.ptp(face.mesh[:, 0]) > 0.7 * w and np.ptp(face.mesh[:, 1]) > 0.7 * h
    # MediaPipe's point 1 is the nose tip: near the keypoint BlazeFace gives for it
    assert np.hypot(*(face.mesh[1, :2] - face.landmarks[2])) < 0.08 * w


def test_the_mesh_follows_a_rolled_face(mesh):
    astronaut = astronaut_bgr()
    upright, = FacePipeline("blazeface", mesh=mesh)(astronaut)
    turn = cv2.getRotationMatrix2D((224.5, 113.5), 25, 1.0)
    rolled = cv2.warpAffine(astronaut, turn, (512, 512), borderMode=cv2.BORDER_REPLICATE)
    face, = FacePipeline("blazeface", mesh=mesh)(rolled)
    back = cv2.transform(face.mesh[None, :, :2].astype(np.float64), cv2.invertAffineTransform(turn))[0]
    assert np.linalg.norm(back - upright.mesh[:, :2], axis=1).mean() < 0.03 * upright.box[2]


def test_a_box_without_a_face_gets_no_mesh(mesh):
    blank = np.full((300, 300, 3), 128, np.uint8)
    assert mesh.predict(blank, [(100, 100, 100, 100)]) == [None]
    assert mesh.predict(blank, []) == []


def test_the_mesh_is_off_by_default_and_on_when_asked(mesh):
    assert not PHOTO_ANALYSIS.face_mesh and not VIDEO_ANALYSIS.face_mesh and not LIVE_ANALYSIS.face_mesh
    astronaut = astronaut_bgr()
    default = FacePipeline("blazeface")
    face, = default(astronaut)
    assert default.mesh is None and face.mesh is None and "mesh" not in face.to_json()
    assert PHOTO_ANALYSIS.pipeline().mesh is None
    on = PHOTO_ANALYSIS.with_changes(face_mesh=True).pipeline(mesh=mesh)
    face, = on(astronaut)
    assert face.mesh is not None and "mesh" in on.timings
    assert len(face.to_json()["mesh"]) == MESH_POINTS
    drawn, plain = draw_results(astronaut, [face]), draw_results(astronaut, [FacePipeline("blazeface")(astronaut)[0]])
    x, y, w, h = face.box
    assert (drawn[y:y + h, x:x + w] != plain[y:y + h, x:x + w]).any(axis=2).sum() > MESH_POINTS  # dots drawn


def test_a_model_that_is_not_the_mesh_is_refused():
    with pytest.raises(ModelError, match="expected an input of 1x192x192x3"):
        FaceMesh(BLAZEFACE_DIR / "face_detection_short_range.tflite")
    with pytest.raises(ModelError, match="no such model file"):
        FaceMesh(BLAZEFACE_DIR / "missing.tflite")
