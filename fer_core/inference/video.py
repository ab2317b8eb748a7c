"""Running the frame pipeline over video files: frames read with OpenCV ``VideoCapture`` one at a time,
annotated frames written as browser-playable H.264 (PyAV), and CSV rows per face."""

import csv
from pathlib import Path

import cv2
import numpy as np

from fer_core import config
from fer_core.errors import ImageError
from fer_core.inference.imageio import MAX_PIXELS


def open_video(path, max_pixels=MAX_PIXELS):
    """Opens a video file for reading.

    Arguments:
        path: the video file.
        max_pixels: largest frame (width x height) accepted.

    Returns:
        (cv2.VideoCapture, frames per second (float; 25 when unknown), (width, height)).

    Raises:
        ImageError: missing file, not a readable video, or frames too large.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ImageError(f"{path}: not a readable video")
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width * height > max_pixels:
        capture.release()
        raise ImageError(f"{path}: video frames are {width}x{height}, over the limit of {max_pixels:,} pixels")
    fps = capture.get(cv2.CAP_PROP_FPS)
    return capture, (fps if fps and fps > 0 else 25.0), (width, height)


def iter_video_frames(path, every=1, max_frames=None):
    """Yields (frame index, time in seconds, BGR frame) of a video.

    Arguments:
        path: the video file.
        every: yield one frame in ``every`` (the others are skipped, not decoded fully).
        max_frames: stop after this many yielded frames.

    Raises:
        ImageError: the video cannot be opened, or has no frame at all.
    """
    capture, fps, _ = open_video(path)
    try:
        index, yielded = 0, 0
        while max_frames is None or yielded < max_frames:
            if index % every:
                if not capture.grab():
                    break
                index += 1
                continue
            ok, frame = capture.read()
            if not ok:
                break
            yield index, index / fps, frame
            index += 1
            yielded += 1
        if index == 0:
            raise ImageError(f"{path}: no frame could be decoded")
    finally:
        capture.release()


def csv_header(label_names, with_keypoints):
    """Column names of the per-face CSV rows."""
    columns = ["frame", "time_s", "face", "track_id", "x", "y", "w", "h", "label"]
    columns += [f"p_{name}" for name in label_names]
    if with_keypoints:
        columns += list(config.KEYPOINT_COLUMNS)
    return columns


def csv_rows(frame_index, time_s, results, label_names, with_keypoints):
    """One CSV row (list) per face of a frame, matching ``csv_header``."""
    rows = []
    for number, result in enumerate(results):
        row = [frame_index, round(time_s, 3), number,
               "" if result.track_id is None else result.track_id, *result.box, result.label or ""]
        probs = result.probabilities or {}
        row += [round(probs[name], 4) if name in probs else "" for name in label_names]
        if with_keypoints:
            if result.keypoints is None:
                row += [""] * len(config.KEYPOINT_COLUMNS)
            else:
                row += [round(float(v), 1) for v in result.keypoints.reshape(-1)]
        rows.append(row)
    return rows


class BrowserVideoWriter:
    """Writes frames as an H.264 MP4 that browsers play (PyAV's libx264, yuv420p, moov atom first).

    OpenCV's ``mp4v`` (MPEG-4 part 2) files do not play in Chromium; H.264 does, and PyAV (installed
    with aiortc for the live page) carries an FFmpeg with libx264. Frames are encoded as they come,
    so memory stays constant whatever the length. Odd frame sides lose their last row or column
    (yuv420p needs even sides).

    Arguments:
        path: the .mp4 file to write.
        fps: frames per second.
        crf: x264 quality (lower is better and larger; 23 is x264's default).
    """

    def __init__(self, path, fps, crf=23):
        self.path, self.fps, self.crf = Path(path), fps, crf
        self._container = self._stream = None
        self.frames = 0

    def _open(self, width, height):
        from fractions import Fraction

        import av

        self._container = av.open(str(self.path), "w", options={"movflags": "+faststart"})
        self._stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
        self._stream.options = {"preset": "veryfast", "crf": str(self.crf)}

    def write(self, frame_bgr):
        """Encodes one BGR uint8 frame (the first one fixes the size)."""
        import av

        height, width = (frame_bgr.shape[0] // 2) * 2, (frame_bgr.shape[1] // 2) * 2
        if self._container is None:
            self._open(width, height)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_bgr[:height, :width]), format="bgr24")
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self):
        """Flushes the encoder and closes the file (nothing is written without a frame)."""
        if self._container is not None:
            self._container.mux(self._stream.encode(None))
            self._container.close()
            self._container = None


class VideoOutputs:
    """Writes an annotated video and a CSV for one input video (either may be None).

    Arguments:
        video_path: the ``.mp4`` to write, or None.
        csv_path: the ``.csv`` to write, or None.
        fps: frames per second of the written video.
        label_names: the classifier's labels (CSV probability columns).
        with_keypoints: whether the CSV has keypoint columns.
    """

    def __init__(self, video_path, csv_path, fps, label_names, with_keypoints):
        self.video_path, self.fps = video_path, fps
        self.label_names, self.with_keypoints = label_names, with_keypoints
        self._writer = None
        self._csv_file = None
        if csv_path is not None:
            self._csv_file = open(csv_path, "w", newline="")
            self._csv = csv.writer(self._csv_file)
            self._csv.writerow(csv_header(label_names, with_keypoints))

    def write(self, frame_index, time_s, results, annotated=None):
        """Adds one processed frame (its annotated image, when writing a video)."""
        if self._csv_file is not None:
            self._csv.writerows(csv_rows(frame_index, time_s, results, self.label_names, self.with_keypoints))
        if self.video_path is not None and annotated is not None:
            if self._writer is None:
                self._writer = BrowserVideoWriter(self.video_path, self.fps)
            self._writer.write(annotated)

    def close(self):
        if self._writer is not None:
            self._writer.close()
        if self._csv_file is not None:
            self._csv_file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def frame_count(path):
    """The number of frames a video says it has (0 when it does not say)."""
    capture, _, _ = open_video(path)
    try:
        return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        capture.release()


def annotate_video(path, pipeline, outputs, every=1, max_frames=None):
    """Runs a pipeline over a video one frame at a time, writing each frame's outputs as it goes.

    Arguments:
        path: the video file.
        pipeline: a ``FacePipeline`` (reset first: its face numbers start again at 1).
        outputs: a ``VideoOutputs`` (annotated video and/or CSV).
        every, max_frames: as for ``iter_video_frames``.

    Yields:
        (frame index, time in seconds, results) of each processed frame.
    """
    from fer_core.inference.overlay import draw_results

    pipeline.reset()
    for index, time_s, frame in iter_video_frames(path, every=every, max_frames=max_frames):
        results = pipeline(frame)
        outputs.write(index, time_s, results, draw_results(frame, results) if outputs.video_path else None)
        yield index, time_s, results
