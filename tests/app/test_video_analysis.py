"""The Video page's analysis: an annotated H.264 video, the CSV and per-face timelines of a clip."""

import io

import av
import cv2
import numpy as np

from fer_core.app.video_analysis import analyse_video, face_timeline_figure, save_upload
from fer_core.inference.detection import Detection
from fer_core.inference.pipeline import FacePipeline
from fer_core.inference.runtime import EmotionClassifier
from fer_core.inference.video import BrowserVideoWriter
from tests.inference_models import astronaut_bgr, tiny_models


def moving_face_clip(path, frames=24):
    """The astronaut's face sliding right on a grey 480x360 canvas, one pixel in four per frame."""
    face = cv2.resize(astronaut_bgr()[0:256, 120:376], (160, 160))
    writer = BrowserVideoWriter(path, fps=12)
    for f in range(frames):
        canvas = np.full((360, 480, 3), 128, np.uint8)
        canvas[100:260, 40 + 4 * f:200 + 4 * f] = face
        writer.write(canvas)
    writer.close()
    return path


class SlidingFaceDetector:
    """Finds the clip's one face where ``moving_face_clip`` put it, frame after frame."""

    def __init__(self):
        self.frame = 0

    def detect(self, image):
        box = (40 + 4 * self.frame, 100, 160, 160)
        self.frame += 1
        return [Detection(box)]


def test_a_clip_gives_an_annotated_video_a_csv_and_one_timeline_per_face(tmp_path_factory, tmp_path):
    clip = moving_face_clip(tmp_path / "clip.mp4")
    emotion = EmotionClassifier.from_path(tiny_models(tmp_path_factory)["emotion_tflite"])
    pipeline = FacePipeline(SlidingFaceDetector(), emotion, track=True)
    seen = []
    result = analyse_video(clip, pipeline, tmp_path, progress=lambda fraction, frames: seen.append(fraction))
    assert result.frames == 24 and seen[-1] == 1.0 and seen == sorted(seen)
    assert result.faces == 24
    with av.open(str(result.video_path)) as container:
        assert container.streams.video[0].codec_context.name == "h264" and container.streams.video[0].frames == 24
    assert set(result.timeline["face"]) == {1} and result.timeline["probability"].between(0, 1).all()
    figure = face_timeline_figure(result.timeline)
    assert [trace.name for trace in figure.data] == list(dict.fromkeys(result.timeline["label"]))


def test_an_upload_is_copied_to_disk_whole(tmp_path):
    data = bytes(range(256)) * 5000
    path = save_upload(io.BytesIO(data), tmp_path / "up.bin", chunk=4096)
    assert path.read_bytes() == data
