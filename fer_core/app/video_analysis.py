"""The Video page's work: an uploaded clip analysed frame by frame into an annotated H.264 video, a
per-face CSV and per-face emotion timelines, in constant memory whatever the clip's length.

The upload is copied to disk in chunks, frames are read one at a time, the annotated video is
encoded as it goes (``inference.video.BrowserVideoWriter``), and the timelines are read back from
the CSV. Each analysis writes into a folder of its own under ``VIDEO_WORK_ROOT`` (``new_work_dir``),
which removes the session's previous one and any a session left behind (``STALE_SECONDS``), so
that temporary files do not pile up; the copy of the upload is deleted as soon as it is analysed.
"""

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fer_core.data.palette import UNLABELLED_COLOR, label_colors
from fer_core.inference.video import VideoOutputs, annotate_video, frame_count, open_video

# The Video page's uploads: what it accepts and how large (the server's upload limit is this).
VIDEO_TYPES = ("mp4", "mov", "avi", "mkv", "webm", "m4v", "mpg", "mpeg")
MAX_VIDEO_MB = 200  # also server.maxUploadSize in .streamlit/config.toml (tests/app/test_streamlit_config.py)
# Where the Video page's analyses are written, one folder each; a folder older than this is removed
# by the next analysis of any session (its session ended without cleaning up).
VIDEO_WORK_ROOT = Path(tempfile.gettempdir()) / "fer-studio-video"
STALE_SECONDS = 24 * 3600


@dataclass
class VideoAnalysis:
    """What analysing a clip produced.

    Attributes:
        video_path: the annotated H.264 MP4.
        csv_path: one row per face per processed frame (``inference.video.csv_header``).
        frames: processed frames; faces: faces found in them.
        seconds: the clip's length as processed.
        timeline: DataFrame time_s, face (its number), label, probability of that label.
    """

    video_path: Path
    csv_path: Path
    frames: int
    faces: int
    seconds: float
    timeline: pd.DataFrame


def save_upload(upload, path, chunk=1 << 20):
    """Copies an uploaded file (any readable binary file object) to ``path`` in chunks; returns the path."""
    upload.seek(0)
    with open(path, "wb") as out:
        shutil.copyfileobj(upload, out, chunk)
    return Path(path)


def new_work_dir(previous=None, root=None, stale_seconds=STALE_SECONDS, now=None):
    """A new empty folder for one analysis; the previous one of the session and stale ones are removed.

    Arguments:
        previous: the session's previous folder, or None (removed only when it lies in ``root``).
        root: where the folders are made (default ``VIDEO_WORK_ROOT``).
        stale_seconds: folders in ``root`` not modified for this long are removed too.
        now: the time to compare with (default ``time.time()``).

    Returns:
        ``Path`` of the new folder.
    """
    root = Path(root) if root is not None else VIDEO_WORK_ROOT
    root.mkdir(parents=True, exist_ok=True)
    remove_work_dir(previous, root)
    now = time.time() if now is None else now
    for folder in root.iterdir():
        try:
            if folder.is_dir() and not folder.is_symlink() and now - folder.stat().st_mtime > stale_seconds:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:  # another session removed it first
            pass
    return Path(tempfile.mkdtemp(prefix="video-", dir=root))


def remove_work_dir(folder, root=None):
    """Removes an analysis's folder (made by ``new_work_dir`` in ``root``; any other path is left alone)."""
    root = Path(root) if root is not None else VIDEO_WORK_ROOT
    if folder is not None and Path(folder).parent == root:
        shutil.rmtree(folder, ignore_errors=True)


def analyse_upload(upload, pipeline, work_dir, every=1, max_frames=None, progress=None):
    """Copies an uploaded video into ``work_dir``, analyses it there (``analyse_video``) and deletes the copy.

    Arguments:
        upload: a binary file object with a ``name`` (Streamlit's ``UploadedFile``).
        pipeline, every, max_frames, progress: as for ``analyse_video``.
        work_dir: the analysis's folder (``new_work_dir``).

    Returns:
        ``VideoAnalysis`` (its files in ``work_dir``).
    """
    suffix = Path(getattr(upload, "name", "")).suffix.lower()
    source = save_upload(upload, Path(work_dir) / f"upload{suffix if suffix[1:] in VIDEO_TYPES else ''}")
    try:
        return analyse_video(source, pipeline, work_dir, every=every, max_frames=max_frames, progress=progress)
    finally:
        source.unlink(missing_ok=True)


def analyse_video(path, pipeline, out_dir, every=1, max_frames=None, progress=None):
    """Analyses a video file into an annotated video, a CSV and per-face timelines.

    Arguments:
        path: the video file.
        pipeline: a ``FacePipeline`` with tracking (its face numbers name the timelines).
        out_dir: where the outputs are written (``annotated.mp4``, ``faces.csv``).
        every: process one frame in ``every``; max_frames: stop after that many processed frames.
        progress: called as progress(fraction done, frames processed) after each frame, or None.

    Returns:
        ``VideoAnalysis``.

    Raises:
        ImageError: the file is not a readable video.
    """
    capture, fps, _ = open_video(path)
    capture.release()
    out_dir = Path(out_dir)
    video_path, csv_path = out_dir / "annotated.mp4", out_dir / "faces.csv"
    expected = frame_count(path) // max(1, every) or None
    if max_frames:
        expected = min(expected or max_frames, max_frames)
    frames = faces = 0
    last_time = 0.0
    with VideoOutputs(video_path, csv_path, fps / max(1, every), pipeline.label_names,
                      pipeline.keypoints is not None) as outputs:
        for _, last_time, results in annotate_video(path, pipeline, outputs, max(1, every), max_frames):
            frames += 1
            faces += len(results)
            if progress is not None:
                progress(min(1.0, frames / expected) if expected else 0.0, frames)
    return VideoAnalysis(video_path, csv_path, frames, faces, last_time, face_timeline(csv_path))


def face_timeline(csv_path):
    """Each face's label over time from a video's CSV: DataFrame time_s, face, label, probability."""
    rows = pd.read_csv(csv_path)
    if rows.empty or "track_id" not in rows:
        return pd.DataFrame(columns=["time_s", "face", "label", "probability"])
    probability = [row.get(f"p_{row['label']}") if isinstance(row["label"], str) else None
                   for row in rows.to_dict("records")]
    return pd.DataFrame({"time_s": rows["time_s"], "face": rows["track_id"].astype("Int64"),
                         "label": rows["label"], "probability": probability})


def face_timeline_figure(timeline):
    """Per-face emotion timelines: one row per face number, a mark per frame coloured by its label."""
    import plotly.graph_objects as go

    figure = go.Figure()
    labels = [label for label in dict.fromkeys(timeline["label"]) if isinstance(label, str)]
    colors = label_colors(labels)
    for label in labels:
        part = timeline[timeline["label"] == label]
        figure.add_trace(go.Scatter(
            x=part["time_s"], y=[f"Face {face}" for face in part["face"]], mode="markers", name=label,
            marker={"color": colors.get(label, UNLABELLED_COLOR), "size": 7, "symbol": "line-ns-open",
                    "line": {"width": 3, "color": colors.get(label, UNLABELLED_COLOR)}},
            customdata=part["probability"], hovertemplate="%{y} at %{x:.2f} s: " + label + " %{customdata:.0%}"))
    faces = sorted(timeline["face"].dropna().unique())
    figure.update_layout(height=130 + 36 * len(faces), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                         title={"text": "Emotion of each face over time", "font": {"size": 14}},
                         xaxis_title="seconds", showlegend=True,  # even for one emotion: its colour's name
                         legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
                         yaxis={"categoryorder": "array", "categoryarray": [f"Face {f}" for f in faces][::-1]})
    return figure
