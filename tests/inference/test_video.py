"""Video files: annotated frames written as H.264 that browsers play, frame by frame."""

import av
import cv2
import numpy as np

from fer_core.inference.video import BrowserVideoWriter, iter_video_frames


def test_the_writer_makes_h264_with_every_frame_and_even_sides(tmp_path):
    path = tmp_path / "out.mp4"
    writer = BrowserVideoWriter(path, fps=25)
    for i in range(30):
        frame = np.zeros((121, 161, 3), np.uint8)
        cv2.putText(frame, str(i), (20, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
        writer.write(frame)
    writer.close()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and (stream.width, stream.height) == (160, 120)
        assert stream.codec_context.pix_fmt == "yuv420p"
    frames = list(iter_video_frames(path))
    assert len(frames) == 30 and frames[-1][2].shape == (120, 160, 3)
    assert abs(frames[29][1] - 29 / 25) < 1e-6


def test_a_writer_without_frames_writes_nothing(tmp_path):
    writer = BrowserVideoWriter(tmp_path / "none.mp4", fps=25)
    writer.close()
    assert not (tmp_path / "none.mp4").exists()
