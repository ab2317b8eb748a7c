"""fer_core.app.live: the live page's frame callback, its accounting, the CSV, the timeline and ICE settings."""

import csv
import io
import json
import threading

import av
import numpy as np
import pytest

from fer_core.app import live
from fer_core.app.live import (FrameRecord, LiveAnnotator, Readout, face_timeline, frame_rate, ice_servers,
                               live_readout, parse_ice_servers, records_to_csv, rtc_configuration)
from fer_core.app.video_analysis import face_timeline_figure
from fer_core.inference.detection import Detection
from fer_core.inference.overlay import KEYPOINT_COLOR
from fer_core.inference.pipeline import FacePipeline
from fer_core.inference.runtime import EmotionClassifier, KeypointRegressor
from tests.inference_models import astronaut_bgr, tiny_models

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    paths = tiny_models(tmp_path_factory)
    return (EmotionClassifier.from_path(paths["emotion_tflite"]),
            KeypointRegressor.from_path(paths["keypoints_tflite"]))


@pytest.fixture(scope="module")
def face_frame():
    """The astronaut's photo placed in a 640x480 webcam-sized frame."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, 64:576] = astronaut_bgr()[32:512]
    return frame


def fake_clock(step=0.05):
    """A clock that advances ``step`` seconds at each call."""
    ticks = iter(np.arange(0.0, 1000.0, step))
    return lambda: float(next(ticks))


def make_annotator(models, smoothing=0, **options):
    emotion, keypoints = models
    return LiveAnnotator(FacePipeline("haar", emotion, keypoints, smoothing=smoothing), **options)


def test_callback_annotates_a_video_frame_and_queues_a_record(models, face_frame):
    annotator = make_annotator(models)
    frame = av.VideoFrame.from_ndarray(face_frame, format="bgr24")
    frame.pts = 1234
    out = annotator(frame)
    image = out.to_ndarray(format="bgr24")
    assert image.shape == face_frame.shape and out.pts == 1234
    assert np.abs(image.astype(int) - face_frame).sum() > 0  # something was drawn
    (record,) = annotator.drain()
    assert record.frame_index == 0 and len(record.results) == 1
    assert record.labels[0] in EMOTIONS and record.latency_ms > 0
    assert annotator.drain() == []  # drained once
    assert annotator.stats["frames"] == annotator.stats["frames_with_faces"] == 1


def test_fps_and_latency_come_from_the_clock(models, face_frame):
    annotator = make_annotator(models, smoothing=5, clock=fake_clock(0.05), show_readout=False)
    for _ in range(5):
        annotator.annotate(face_frame)
    records = annotator.drain()
    assert [r.frame_index for r in records] == [0, 1, 2, 3, 4]
    assert [r.time_s for r in records] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert records[-1].fps == pytest.approx(10.0)  # two clock reads per frame, 0.1 s apart
    assert records[-1].latency_ms == pytest.approx(50.0)
    assert records[-1].results[0].track_id == 1  # smoothing tracks the face (numbers start at 1)


def test_frame_rate():
    assert frame_rate([]) == frame_rate([1.0]) == 0.0
    assert frame_rate([0.0, 0.5, 1.0]) == pytest.approx(2.0)


def test_live_readout_is_over_the_last_second_of_records():
    def record(time_s, latency_ms, faces=0):
        return FrameRecord(0, time_s, latency_ms, 0.0, results=[object()] * faces)

    assert live_readout([]) is None
    records = [record(0.0, 500.0), record(0.9, 30.0), record(1.0, 10.0), record(1.1, 20.0), record(1.3, 40.0, 2)]
    readout = live_readout(records)  # the first record is out of the window [0.3, 1.3]
    assert readout == Readout(fps=pytest.approx(3 / 0.4), latency_ms=25.0, faces=2)
    assert readout.text() == "7.5 fps | 25 ms"
    assert live_readout(records[:1]) == Readout(0.0, 500.0, 0)


def test_the_video_and_the_page_show_one_readout(models, face_frame, monkeypatch):
    """What is drawn on a frame is live_readout of the records up to that frame: the page's number."""
    drawn = []
    monkeypatch.setattr(live, "draw_readout", lambda image, readout: drawn.append(readout) or image)
    annotator = make_annotator(models, clock=fake_clock(0.03))
    for _ in range(50):
        annotator.annotate(face_frame)
    records = annotator.drain()
    assert len(drawn) == 50 and drawn[-1] == live_readout(records)
    assert drawn[20] == live_readout(records[:21]) and records[-1].fps == drawn[-1].fps
    assert drawn[-1].fps == pytest.approx(1 / 0.06) and drawn[-1].latency_ms == pytest.approx(30.0)


def test_keypoints_are_drawn_only_when_asked(models, face_frame):
    with_points, _ = make_annotator(models, show_readout=False).annotate(face_frame)
    without, record = make_annotator(models, draw_keypoints=False, show_readout=False).annotate(face_frame)
    assert record.results[0].keypoints is not None  # still in the results (and the CSV)
    yellow = np.all(with_points == KEYPOINT_COLOR, axis=2).sum()
    assert yellow > 10 and np.all(without == KEYPOINT_COLOR, axis=2).sum() < yellow


def test_a_failing_frame_passes_through_and_is_reported(face_frame):
    def broken(frame):
        raise RuntimeError("model exploded")

    broken.reset, broken.timings = (lambda: None), {}
    annotator = LiveAnnotator(broken)
    frame = av.VideoFrame.from_ndarray(face_frame, format="bgr24")
    assert annotator(frame) is frame
    assert annotator.stats["last_error"] == "RuntimeError: model exploded"


def test_a_full_queue_drops_the_oldest_records(models, face_frame):
    annotator = make_annotator(models, queue_size=3)
    for _ in range(5):
        annotator.annotate(face_frame)
    assert [r.frame_index for r in annotator.drain()] == [2, 3, 4]


def test_records_reach_a_draining_thread_and_the_test_record_file(models, face_frame, tmp_path):
    path = tmp_path / "records.jsonl"
    annotator = make_annotator(models, record_path=str(path))
    frames = [av.VideoFrame.from_ndarray(face_frame, format="bgr24") for _ in range(6)]
    worker = threading.Thread(target=lambda: [annotator(f) for f in frames])
    worker.start()
    taken = []
    while worker.is_alive() or not annotator.records.empty():
        taken += annotator.drain()
    worker.join()
    taken += annotator.drain()
    assert [r.frame_index for r in taken] == list(range(6))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(6))
    assert lines[0]["faces"][0]["label"] in EMOTIONS


def test_configure_and_reset(models, face_frame):
    annotator = make_annotator(models)
    annotator.annotate(face_frame)
    emotion, _ = models
    annotator.configure(pipeline=FacePipeline("haar", emotion, None), draw_keypoints=False)
    _, record = annotator.annotate(face_frame)
    assert record.frame_index == 1 and record.results[0].keypoints is None
    annotator.reset()
    assert annotator.stats["frames"] == 0 and annotator.drain() == []
    assert annotator.annotate(face_frame)[1].frame_index == 0


def test_session_csv_has_a_row_per_face_and_per_faceless_frame(models, face_frame):
    annotator = make_annotator(models)
    annotator.annotate(face_frame)
    annotator.annotate(np.zeros_like(face_frame))
    text = records_to_csv(annotator.drain(), EMOTIONS, with_keypoints=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 2
    assert rows[0]["label"] in EMOTIONS and float(rows[0]["p_happy"]) >= 0
    assert rows[0]["nose_tip_x"] != "" and float(rows[0]["latency_ms"]) > 0
    assert rows[1]["frame"] == "1" and rows[1]["label"] == "" and rows[1]["face"] == ""
    assert list(rows[0])[-2:] == ["latency_ms", "fps"]


class ScriptedDetector:
    """Finds the boxes it was given, one list per frame."""

    def __init__(self, frames):
        self.frames = iter(frames)

    def detect(self, image):
        return [Detection(box) for box in next(self.frames)]


def test_each_face_has_its_own_timeline_by_the_number_drawn_on_the_video(models, face_frame):
    emotion, _ = models
    big, small = (100, 40, 256, 256), (420, 200, 150, 150)
    detector = ScriptedDetector([[big, small], [big], [big, small]])  # the small face leaves and comes back
    annotator = LiveAnnotator(FacePipeline(detector, emotion, None, smoothing=5, track=True),
                              clock=fake_clock(0.5), show_readout=False)
    for _ in range(3):
        annotator.annotate(face_frame)
    records = annotator.drain()
    assert [[r.track_id for r in record.results] for record in records] == [[1, 2], [1], [1, 2]]
    timeline = face_timeline(records)
    assert timeline["time_s"].tolist() == [0.0, 0.0, 1.0, 2.0, 2.0]
    assert timeline["face"].tolist() == [1, 2, 1, 1, 2]
    assert timeline["label"].tolist() == [r.label for record in records for r in record.results]
    assert timeline["probability"].tolist() == pytest.approx([r.score for record in records for r in record.results])
    assert face_timeline(records, seconds=1.5)["time_s"].tolist() == [1.0, 2.0, 2.0]  # the last 1.5 s
    figure = face_timeline_figure(timeline)
    assert set(figure.layout.yaxis.categoryarray) == {"Face 1", "Face 2"}
    assert face_timeline_figure(timeline[timeline["label"] == timeline["label"][0]]).layout.showlegend  # one emotion
    assert face_timeline([]).empty


def test_faces_keep_their_numbers_when_the_settings_change_mid_stream(models, face_frame):
    left, right = (20, 20, 100, 100), (400, 300, 100, 100)
    detector = ScriptedDetector([[left], [right], [right], [right, left]])
    annotator = LiveAnnotator(FacePipeline(detector, track=True), show_readout=False)
    annotator.annotate(face_frame)
    annotator.annotate(face_frame)  # far from the first face: a new one, number 2
    emotion, keypoints = models
    annotator.configure(pipeline=FacePipeline(detector, emotion, keypoints, smoothing=5, flip_tta=True))
    annotator.annotate(face_frame)
    annotator.annotate(face_frame)
    numbers = [[r.track_id for r in record.results] for record in annotator.drain()]
    assert numbers == [[1], [2], [2], [2, 1]]  # a new pipeline, the same numbers (a fresh tracker: [1], [1, 2])
    assert annotator.pipeline.flip_tta and annotator.pipeline.tracker.window == 5


def test_ice_servers_default_to_none_and_come_from_env_or_secrets():
    assert ice_servers(environ={}) == []
    assert rtc_configuration([]) == {"iceServers": []}  # kept empty: no public STUN server
    stun = [{"urls": ["stun:stun.example.org:3478"]}]
    assert ice_servers(environ={"FER_ICE_SERVERS": json.dumps(stun)}) == stun
    assert ice_servers(environ={"FER_ICE_SERVERS": json.dumps({"iceServers": stun})}) == stun
    assert ice_servers(environ={}, secrets={"ice_servers": stun}) == stun
    with pytest.raises(ValueError, match="not valid JSON"):
        ice_servers(environ={"FER_ICE_SERVERS": "[{"})
    with pytest.raises(ValueError, match="urls"):
        parse_ice_servers('[{"url": "stun:x"}]')
