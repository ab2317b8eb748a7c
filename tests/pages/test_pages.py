"""The live webcam, photo and video pages under Streamlit's AppTest (no browser), on tiny models."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import cv2
import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from fer_core.app.page_helpers import STREAM_DETECTORS, VIDEO_DETECTORS, detector_options
from fer_core.app.photo import MAX_UPLOAD_MB, encode_png
from fer_core.app.video_analysis import MAX_VIDEO_MB
from tests.app.test_video_analysis import moving_face_clip
from tests.inference_models import astronaut_bgr, tiny_models

ROOT = Path(__file__).resolve().parents[2]
LIVE_PAGE = str(ROOT / "pages" / "1_Live_webcam.py")
PHOTO_PAGE = str(ROOT / "pages" / "2_Photo.py")
VIDEO_PAGE = str(ROOT / "pages" / "6_Video.py")


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return tiny_models(tmp_path_factory)


@pytest.fixture
def with_models(paths, monkeypatch):
    """The pages run the tiny models (as they would run the shipped ones)."""
    monkeypatch.setenv("FER_EMOTION_MODEL", str(paths["emotion_keras"]))
    monkeypatch.setenv("FER_KEYPOINT_MODEL", str(paths["keypoints_keras"]))
    st.cache_resource.clear()
    yield paths
    st.cache_resource.clear()


@pytest.fixture
def without_models(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_EMOTION_MODEL", str(tmp_path / "emotion.keras"))
    monkeypatch.setenv("FER_KEYPOINT_MODEL", str(tmp_path / "keypoints.keras"))
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def run_page(path):
    return AppTest.from_file(path, default_timeout=60).run()


def image_captions(at):
    return [caption for image in at.get("image") for caption in image.captions]


def toggle(at, label):
    return next(t for t in at.toggle if t.label == label)


def selectbox(at, label):
    return next(s for s in at.selectbox if s.label == label)


def photo_names(at):
    """The photos the page analysed (one subheader each)."""
    return [h.value for h in at.main.subheader]


def test_photo_page_upload_shows_the_annotated_photo_chart_and_downloads(with_models):
    at = run_page(PHOTO_PAGE)
    assert not at.exception and "Upload a photo" in at.info[0].value
    assert at.file_uploader[0].proto.max_upload_size_mb == MAX_UPLOAD_MB  # "Limit 20MB per file", not 200MB
    assert f"{MAX_UPLOAD_MB} MB and 50 megapixels each at most" in at.caption[0].value
    at.file_uploader[0].upload("me.png", encode_png(astronaut_bgr()), "image/png").run()
    assert not at.exception and not at.error
    assert photo_names(at) == ["me.png"]
    (caption,) = image_captions(at)
    assert caption.startswith("512x512, 1 face(s), ") and "(decoding " in caption and ", encoding " in caption
    assert len(at.get("plotly_chart")) == 1
    assert [b.label for b in at.get("download_button")] == ["Annotated image (PNG)", "Results (JSON)"]
    encoded = at.session_state["photo_encoded"]
    assert (encoded.hits, encoded.misses) == (0, 1)  # the image shown; the PNG waits for its button
    toggle(at, "Keypoints").set_value(False).run()
    toggle(at, "Keypoints").set_value(True).run()
    assert (encoded.hits, encoded.misses) == (1, 2)  # the same drawing again: not encoded again


def test_photo_page_sample_is_one_choice_that_uploads_turn_off(with_models):
    at = run_page(PHOTO_PAGE)
    toggle(at, "Try a sample (astronaut)").set_value(True).run()
    assert not at.exception and photo_names(at) == ["astronaut.png"]
    at.file_uploader[0].upload("me.png", encode_png(astronaut_bgr()), "image/png").run()
    assert not at.exception and photo_names(at) == ["me.png"]  # the sample is not added to the upload
    assert toggle(at, "Try a sample (astronaut)").value is False
    at.file_uploader[0].upload("me.png", encode_png(astronaut_bgr()), "image/png") \
        .upload("you.png", encode_png(astronaut_bgr()[:, ::-1]), "image/png").run()  # one more photo
    assert photo_names(at) == ["me.png", "you.png"]
    toggle(at, "Try a sample (astronaut)").set_value(True).run()  # asked for again, explicitly
    assert photo_names(at) == ["me.png", "you.png", "astronaut.png"]


def test_photo_page_messages_for_a_tiny_image_and_an_animation(with_models):
    import io

    from PIL import Image

    frames = [Image.fromarray(astronaut_bgr()[:, :, ::-1]), Image.new("RGB", (512, 512))]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    at = run_page(PHOTO_PAGE)
    at.file_uploader[0].upload("dot.png", encode_png(np.zeros((1, 1, 3), np.uint8)), "image/png") \
        .upload("moving.gif", gif.getvalue(), "image/gif").run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Cannot use this photo: dot.png: image is 1x1 pixels, too small: a face "
                                           "needs at least 24 pixels on the short side"]
    assert [i.value for i in at.info] == ["Animated image (2 frames): only its first frame is used."]
    assert photo_names(at) == ["moving.gif"] and image_captions(at)[0].startswith("512x512, 1 face(s)")


def test_photo_page_bad_upload_is_one_line_and_the_good_one_still_shows(with_models):
    at = run_page(PHOTO_PAGE)
    at.file_uploader[0].upload("notes.png", b"this is not a picture", "image/png") \
        .upload("me.png", encode_png(astronaut_bgr()), "image/png").run()
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("Cannot use this photo: notes.png: not an image file")
    assert "\n" not in error.value and "Traceback" not in error.value
    assert any("1 face(s)" in caption for caption in image_captions(at))


def test_photo_page_camera_input(with_models):
    at = run_page(PHOTO_PAGE)
    assert not at.camera_input  # the camera is off until asked for
    camera_toggle = [t for t in at.toggle if t.label == "Use my camera"][0]
    camera_toggle.set_value(True).run()
    jpeg = cv2.imencode(".jpg", astronaut_bgr())[1].tobytes()
    at.camera_input[0].set_value(("camera.jpg", jpeg, "image/jpeg")).run()
    assert not at.exception and not at.error
    assert [h.value for h in at.subheader if h.value == "camera.jpg"]
    assert any("1 face(s)" in caption for caption in image_captions(at))


def test_photo_page_sample_keypoints_and_saliency(with_models):
    at = run_page(PHOTO_PAGE)
    toggle(at, "Try a sample (astronaut)").set_value(True).run()
    assert not at.exception and [h.value for h in at.subheader if h.value == "astronaut.png"]
    keypoints = [t for t in at.toggle if t.label == "Keypoints"][0]
    assert keypoints.value is True and not keypoints.disabled
    mirrored = [t for t in at.toggle if t.label == "Average with the mirrored face"][0]
    assert mirrored.value is True and not mirrored.disabled
    with_tta = [c.proto.spec for c in at.get("plotly_chart")]
    mirrored.set_value(False).run()
    assert not at.exception and [c.proto.spec for c in at.get("plotly_chart")] != with_tta  # other probabilities
    mirrored.set_value(True).run()
    keypoints.set_value(False).run()
    assert not at.exception and any("1 face(s)" in caption for caption in image_captions(at))
    [t for t in at.toggle if t.label == "Saliency map"][0].set_value(True).run()
    assert not at.exception and not at.error
    assert any(caption.startswith("occlusion: where face 1 looks") for caption in image_captions(at))
    explained = [c for c in image_captions(at) if c.startswith("occlusion:")][0].split("'")[1]
    assert f"Face 1: {explained} " in at.get("plotly_chart")[0].proto.spec  # the label the chart shows
    at.radio[0].set_value("grad-cam").run()
    assert not at.exception and not at.error
    assert any(caption.startswith("grad-cam: where face 1 looks") for caption in image_captions(at))


def test_photo_page_says_which_models_detector_and_settings_made_the_result(with_models):
    at = run_page(PHOTO_PAGE)
    emotion, keypoints = selectbox(at, "Emotion model"), selectbox(at, "Keypoint model")
    # $FER_EMOTION_MODEL (the tiny model) is the default, first
    assert emotion.value == emotion.options[0] == "emotion (default) — fer2013, LiteRT float32"
    assert "emotion — fer2013, LiteRT int8" in emotion.options  # the shipped one
    assert any(o.startswith("run: assets/runs/") and o.endswith(" — keypoints, Keras, loads TensorFlow")
               for o in keypoints.options)
    assert [c.value for c in at.sidebar.caption] == ["Runs `emotion.tflite (LiteRT float32)`",
                                                     "Runs `keypoints.tflite (LiteRT float32)`"]
    toggle(at, "Try a sample (astronaut)").set_value(True).run()
    assert not at.exception
    line = ("Emotion: emotion.tflite (LiteRT float32) · keypoints: keypoints.tflite (LiteRT float32) · "
            "detector: blazeface · faces turned upright (eyes level) · flip TTA on")
    assert line in [c.value for c in at.main.caption]
    assert toggle(at, "Face mesh").value is False  # off by default
    toggle(at, "Face mesh").set_value(True).run()
    assert not at.exception
    assert line.replace(" · flip TTA", " · face mesh · flip TTA") in [c.value for c in at.main.caption]
    toggle(at, "Face mesh").set_value(False).run()
    assert any(c.value.startswith("Percentages are the model's own outputs") for c in at.main.caption)
    tiny_chart = at.get("plotly_chart")[0].proto.spec
    emotion.set_value("emotion — fer2013, LiteRT int8").run()
    assert not at.exception
    # the shipped model carries an output adjustment (prior correction and temperature): "calibrated"
    assert any(c.value.startswith("Emotion: emotion_int8.tflite (LiteRT int8), calibrated · ") for c in at.main.caption)
    assert at.get("plotly_chart")[0].proto.spec != tiny_chart  # another model ran


def test_photo_page_says_when_the_percentages_are_calibrated(with_models, tmp_path, monkeypatch):
    import shutil

    for path in with_models["dir_emotion"].iterdir():
        shutil.copy(path, tmp_path / path.name)
    info = json.loads((tmp_path / "model_info.json").read_text())
    info["output_adjustment"] = {"temperature": 1.5}
    (tmp_path / "model_info.json").write_text(json.dumps(info))
    monkeypatch.setenv("FER_EMOTION_MODEL", str(tmp_path / "emotion.keras"))
    at = run_page(PHOTO_PAGE)
    toggle(at, "Try a sample (astronaut)").set_value(True).run()
    assert not at.exception
    captions = [c.value for c in at.main.caption]
    assert any(c.startswith("Percentages are calibrated") and c.endswith("(after calibration).") for c in captions)
    assert any(c.startswith("Emotion: emotion.tflite (LiteRT float32), calibrated · ") for c in captions)


def test_photo_page_without_shipped_models_explains_how_to_get_them(without_models):
    at = run_page(PHOTO_PAGE)
    assert not at.exception
    assert "No emotion model at" in at.warning[0].value and "python -m fer_core train" in at.warning[0].value
    toggle(at, "Try a sample (astronaut)").set_value(True).run()
    assert not at.exception and any("1 face(s)" in caption for caption in image_captions(at))


@pytest.fixture
def no_webrtc_session():
    """webrtc_streamer needs a live server session; under AppTest it renders with none."""
    with mock.patch("streamlit_webrtc.component.get_this_session_info", return_value=None):
        yield


def test_live_page_renders_with_its_settings(with_models, no_webrtc_session):
    at = run_page(LIVE_PAGE)
    assert not at.exception and not at.error and not at.warning
    assert at.title[0].value == "Live webcam"
    assert selectbox(at, "Face detector").options == detector_options(STREAM_DETECTORS)
    assert {t.label for t in at.toggle} >= {"Smooth labels over frames", "Keypoints", "FPS on the video",
                                            "Average with the mirrored face"}
    assert [t.value for t in at.toggle if t.label == "Average with the mirrored face"] == [False]  # speed first
    assert "Press START" in at.info[0].value
    assert [m.label for m in at.metric] == ["Faces in the last frame"]  # the speed is drawn on the video
    (help_box,) = at.expander
    assert help_box.label == "The video does not connect?" and not help_box.proto.expanded
    assert "FER_ICE_SERVERS" in help_box.markdown[0].value and "secrets.toml" in help_box.markdown[0].value
    shown_outside = [e.value for kind in ("caption", "markdown", "info") for e in getattr(at.main, kind)
                     if e not in help_box.markdown]
    assert not any("STUN" in text or "FER_ICE_SERVERS" in text for text in shown_outside)  # collapsed, not in view
    annotator = at.session_state["live_annotator"]
    assert annotator.pipeline.tracker.window == 5 and annotator.pipeline.keypoints is None  # faces numbered
    assert annotator.pipeline.flip_tta is False
    assert selectbox(at, "Face detector").value == annotator.pipeline.detector.name == "blazeface-fast"
    assert toggle(at, "Face mesh").value is False and annotator.pipeline.mesh is None
    assert any(c.value.startswith("A **?** after a label means uncertain: its two most probable emotions are "
                                  "within 15 percentage points") for c in at.main.caption)
    [t for t in at.toggle if t.label == "Average with the mirrored face"][0].set_value(True).run()
    assert at.session_state["live_annotator"].pipeline.flip_tta is True
    [t for t in at.toggle if t.label == "Keypoints"][0].set_value(True).run()
    [t for t in at.toggle if t.label == "Smooth labels over frames"][0].set_value(False).run()
    annotator = at.session_state["live_annotator"]
    assert annotator.pipeline.keypoints is not None and annotator.pipeline.tracker.window == 1  # numbered, unsmoothed


def test_live_page_shows_the_session_results_the_callback_queued(with_models, no_webrtc_session):
    import av

    from fer_core.app.live import live_readout

    stream = SimpleNamespace(state=SimpleNamespace(playing=True))
    with mock.patch("streamlit_webrtc.webrtc_streamer", return_value=stream):
        at = run_page(LIVE_PAGE)
        annotator = at.session_state["live_annotator"]
        frame = av.VideoFrame.from_ndarray(astronaut_bgr(), format="bgr24")
        for _ in range(3):
            annotator(frame)  # as streamlit-webrtc's worker thread would
        at.run()
        assert not at.exception
        assert [(m.label, m.value) for m in at.metric] == [("Faces in the last frame", "1")]
        [t for t in at.toggle if t.label == "FPS on the video"][0].set_value(False).run()  # not on the video:
        history = list(at.session_state["live_history"])
        assert len(history) == 3 and not annotator.show_readout
        faces, speed = at.metric  # ... then below it, the same readout
        assert speed.value == live_readout(history).text() and faces.value == "1"
        assert len(at.get("plotly_chart")) == 1
        assert [b.label for b in at.get("download_button")] == ["Download this session's results (CSV)"]
        stream.state.playing = False  # STOP
        at.run()
    assert [m.value for m in at.metric] == ["-", "-"]  # no stale speed or face count
    assert [b.label for b in at.get("download_button")] == ["Download this session's results (CSV)"]


def test_live_page_opens_the_connection_help_for_a_bad_ice_setting(with_models, no_webrtc_session, monkeypatch):
    monkeypatch.setenv("FER_ICE_SERVERS", '[{"url": "stun:x"}]')
    at = run_page(LIVE_PAGE)
    assert "FER_ICE_SERVERS must be a JSON list" in at.error[0].value
    assert at.expander[0].proto.expanded


def test_live_page_without_models_and_with_bad_ice_servers(without_models, no_webrtc_session, monkeypatch):
    monkeypatch.setenv("FER_ICE_SERVERS", "not json")
    at = run_page(LIVE_PAGE)
    assert not at.exception
    assert "No emotion model at" in at.warning[0].value
    assert "FER_ICE_SERVERS is not valid JSON" in at.error[0].value


def test_live_page_runs_the_model_picked_a_run_records_through_keras(with_models, no_webrtc_session):
    at = run_page(LIVE_PAGE)
    annotator = at.session_state["live_annotator"]
    assert annotator.pipeline.emotion.backend == "litert"
    emotion = selectbox(at, "Emotion model")
    emotion.select_index(next(i for i, o in enumerate(emotion.options) if "run: assets/runs/mini_xception-fer2013 " in o)).run()
    assert not at.exception
    pipeline = at.session_state["live_annotator"].pipeline
    assert pipeline.emotion.backend == "keras" and pipeline.emotion.source.endswith("mini_xception-fer2013/model.keras")
    assert at.sidebar.caption[0].value == "Runs `model.keras (Keras, loads TensorFlow)`"


@pytest.fixture
def video_work(monkeypatch, tmp_path):
    """The Video page's analyses go to a folder of the test's."""
    from fer_core.app import video_analysis

    monkeypatch.setattr(video_analysis, "VIDEO_WORK_ROOT", tmp_path / "work")
    return tmp_path / "work"


def work_files(root):
    return sorted(path.name for folder in root.iterdir() for path in folder.iterdir())


def test_video_page_analyses_an_upload_into_a_video_a_timeline_and_downloads(with_models, video_work, tmp_path):
    clip = moving_face_clip(tmp_path / "clip.mp4").read_bytes()
    at = run_page(VIDEO_PAGE)
    assert not at.exception and "Upload a video" in at.info[0].value
    assert at.file_uploader[0].proto.max_upload_size_mb == MAX_VIDEO_MB
    assert at.caption[0].value.startswith(f"Upload a video ({MAX_VIDEO_MB} MB at most; mp4, mov")
    assert selectbox(at, "Face detector").options == detector_options(VIDEO_DETECTORS)
    at.file_uploader[0].upload("clip.mp4", clip, "video/mp4").run()
    assert not at.exception and not at.error
    assert [(m.label, m.value) for m in at.metric] == [("Frames analysed", "24"), ("Faces numbered", "1"),
                                                       ("Length analysed", "1.9 s")]
    (video,) = at.get("video")
    assert video.proto.url.startswith("/media/") or video.proto.url  # served by Streamlit's media server
    assert len(at.get("plotly_chart")) == 1 and "Face 1" in at.get("plotly_chart")[0].proto.spec
    assert [b.label for b in at.get("download_button")] == ["Annotated video (MP4)", "Results per face and frame (CSV)"]
    assert any(c.value.startswith("Emotion: emotion.tflite (LiteRT float32) · detector: blazeface · faces turned "
                                  "upright (eyes level) · flip TTA off · one frame in 1 · analysed in ")
               for c in at.main.caption)
    assert toggle(at, "Face mesh").value is False
    assert work_files(video_work) == ["annotated.mp4", "faces.csv"]  # the upload's copy is gone
    (first,) = video_work.iterdir()

    at.number_input[0].set_value(2).run()  # a setting changes: the result stays until asked again
    assert [m.value for m in at.metric][0] == "24" and "settings changed" in at.info[0].value
    next(b for b in at.button if b.label == "Analyse again with these settings").click().run()
    assert not at.exception and [m.value for m in at.metric][0] == "12"
    assert not first.exists() and work_files(video_work) == ["annotated.mp4", "faces.csv"]  # one result a session

    at.file_uploader[0].clear().run()  # the video removed: its results too
    assert not at.exception and not at.get("video") and list(video_work.iterdir()) == []


def test_video_page_refuses_a_file_that_is_not_a_video_in_one_line(with_models, video_work):
    at = run_page(VIDEO_PAGE)
    at.file_uploader[0].upload("notes.mp4", b"this is not a video", "video/mp4").run()
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("Cannot use this video: ") and "not a readable video" in error.value
    assert "\n" not in error.value and not at.get("video")


NO_TENSORFLOW = """
import sys
from unittest import mock
from streamlit.testing.v1 import AppTest
with mock.patch("streamlit_webrtc.component.get_this_session_info", return_value=None):
    live = AppTest.from_file(sys.argv[1], default_timeout=60).run()
photo = AppTest.from_file(sys.argv[2], default_timeout=60).run()
[t for t in photo.toggle if t.label == "Try a sample (astronaut)"][0].set_value(True).run()
[t for t in photo.toggle if t.label == "Saliency map"][0].set_value(True).run()  # occlusion
video = AppTest.from_file(sys.argv[3], default_timeout=60).run()
video.file_uploader[0].upload("clip.mp4", open(sys.argv[4], "rb").read(), "video/mp4").run()
assert not live.exception and not photo.exception and not video.exception, (live.exception, photo.exception,
                                                                             video.exception)
assert len(photo.get("plotly_chart")) == 1 and len(video.get("plotly_chart")) == 1
print("tensorflow" in sys.modules)
"""


def test_the_pages_do_not_import_tensorflow_with_tflite_models(with_models, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))  # the Video page's work under tmp_path
    clip = moving_face_clip(tmp_path / "clip.mp4", frames=6)
    done = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, LIVE_PAGE, PHOTO_PAGE, VIDEO_PAGE, str(clip)],
                          env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
