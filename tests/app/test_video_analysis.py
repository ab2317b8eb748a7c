"""The Video page's analysis: an annotated H.264 video, the CSV and per-face timelines of a clip."""

import io
import os

import av
import cv2
import numpy as np

from fer_core.app.video_analysis import (analyse_upload, analyse_video, face_timeline_figure, new_work_dir,
                                         remove_work_dir, save_upload)
from fer_core.inference.detection import Detection
from fer_core.inference.pipeline import FacePipeline
from fer_core.inference.runtime import EmotionClassifier
from fer_core.inference.video import BrowserVideoWriter
from tests.inference_models import astronaut_bgr, tiny_models


def face_box(frame):
    """Where ``moving_face_clip`` puts the face in a frame: (x, y, w, h)."""
    return (20 + 8 * frame, 80, 200, 200)


def moving_face_clip(path, frames=24, fps=12):
    """The astronaut's face (200x200: Haar finds it) sliding right across a grey 480x360 canvas, 8 px a frame,
    as H.264 (``BrowserVideoWriter``)."""
    face = cv2.resize(astronaut_bgr()[0:300, 100:400], (200, 200))
    writer = BrowserVideoWriter(path, fps=fps)
    for f in range(frames):
        canvas = np.full((360, 480, 3), 128, np.uint8)
        x, y, w, h = face_box(f)
        canvas[y:y + h, x:x + w] = face
        writer.write(canvas)
    writer.close()
    return path


class SlidingFaceDetector:
    """Finds the clip's one face where ``moving_face_clip`` put it, frame after frame."""

    def __init__(self):
        self.frame = 0

    def detect(self, image):
        box = face_box(self.frame)
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


def test_an_analysis_folder_replaces_the_sessions_previous_one_and_stale_ones(tmp_path):
    root = tmp_path / "work"
    first = new_work_dir(root=root)
    (first / "annotated.mp4").write_bytes(b"x")
    other_session = new_work_dir(root=root)
    left_behind = new_work_dir(root=root)
    os.utime(left_behind, (0, 0))  # not touched since 1970: its session is long gone
    outside = tmp_path / "not-ours"
    outside.mkdir()
    second = new_work_dir(previous=first, root=root)
    assert sorted(root.iterdir()) == sorted([other_session, second]) and not any(second.iterdir())
    new_work_dir(previous=outside, root=root)  # only folders made here are removed
    assert outside.is_dir()
    remove_work_dir(second, root=root)
    remove_work_dir(None, root=root)
    assert not second.exists() and other_session.is_dir()


def test_an_upload_is_analysed_from_a_copy_that_is_deleted_afterwards(tmp_path_factory, tmp_path):
    upload = io.BytesIO(moving_face_clip(tmp_path / "clip.mp4", frames=8).read_bytes())
    upload.name = "holiday.MP4"
    emotion = EmotionClassifier.from_path(tiny_models(tmp_path_factory)["emotion_tflite"])
    work = tmp_path / "work"
    work.mkdir()
    result = analyse_upload(upload, FacePipeline(SlidingFaceDetector(), emotion, track=True), work, every=2)
    assert result.frames == 4 and sorted(p.name for p in work.iterdir()) == ["annotated.mp4", "faces.csv"]
