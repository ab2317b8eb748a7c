"""The live webcam's frame callback, outside Streamlit: annotate frames, account, hand results on.

``LiveAnnotator`` is what the live page gives ``webrtc_streamer`` as its
``video_frame_callback``. For each frame it runs a ``FacePipeline``, draws the
faces (box, "1 happy 87%": the face's number, kept from frame to frame; optional keypoints)
and the speed readout, and
puts one ``FrameRecord`` into a thread-safe queue. The readout ("12.3 fps | 25 ms")
is defined once, by ``live_readout`` over the frame records: the video and the
page both show it. The page drains that queue
(``drain``) from its own thread to draw each face's emotion timeline (``face_timeline``) and to build the
session's CSV (``records_to_csv``); no Streamlit call is ever made from the
callback's thread.

Also here: the ICE servers for remote use (``ice_servers``), and, for the
real-browser tests only, a patch that lets aioice offer loopback candidates.

Nothing here imports TensorFlow (unless the pipeline's models or detector do).
"""

import csv
import io
import itertools
import json
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace

import cv2

from fer_core.inference.overlay import draw_results
from fer_core.inference.video import csv_header, csv_rows

ICE_SERVERS_ENV = "FER_ICE_SERVERS"
RECORD_PATH_ENV = "FER_LIVE_RECORD_PATH"  # test mode: append each frame's record here (JSON lines)
LOOPBACK_ICE_ENV = "FER_TEST_LOOPBACK_ICE"  # test mode: let aioice offer 127.0.0.1

TIMELINE_SECONDS = 60.0  # how much of the session the timeline shows
READOUT_SECONDS = 1.0  # the speed readout is over the frames of the last second


@dataclass
class FrameRecord:
    """What the callback found in one frame.

    Attributes:
        frame_index: 0-based index of the frame in the session.
        time_s: seconds since the session's first frame.
        latency_ms: processing time of the frame (pipeline + drawing), in ms.
        fps: frames per second processed, over the last second (``live_readout``).
        results: the frame's ``FaceResult`` list, largest face first.
        timings: the pipeline's per-stage seconds.
    """

    frame_index: int
    time_s: float
    latency_ms: float
    fps: float
    results: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    @property
    def labels(self):
        """The faces' labels (None for a face without one)."""
        return [result.label for result in self.results]

    def to_json(self):
        """A JSON-ready dict of the record (faces as ``FaceResult.to_json``)."""
        return {"frame": self.frame_index, "time_s": round(self.time_s, 3),
                "latency_ms": round(self.latency_ms, 2), "fps": round(self.fps, 2),
                "faces": [result.to_json() for result in self.results]}


@dataclass(frozen=True)
class Readout:
    """The live speed readout, as the video and the page show it.

    Attributes:
        fps: frames processed per second over the readout's window.
        latency_ms: the median processing time of those frames, in ms.
        faces: faces found in the last frame.
    """

    fps: float
    latency_ms: float
    faces: int

    def text(self):
        """E.g. "12.3 fps | 25 ms"."""
        return f"{self.fps:.1f} fps | {self.latency_ms:.0f} ms"


# ---------------------------------------------------------------- pure helpers

def parse_ice_servers(text):
    """Parses ICE servers from JSON: a list of ``RTCIceServer`` dicts, or ``{"iceServers": [...]}``.

    Arguments:
        text: JSON text, e.g. ``[{"urls": ["stun:stun.example.org:3478"]}]``.

    Returns:
        list of dicts, each with "urls" (and optional "username", "credential").

    Raises:
        ValueError: not JSON, or not in that shape (one line, safe to show).
    """
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{ICE_SERVERS_ENV} is not valid JSON ({error})") from None
    if isinstance(value, dict) and "iceServers" in value:
        value = value["iceServers"]
    if not isinstance(value, list) or not all(isinstance(s, dict) and s.get("urls") for s in value):
        raise ValueError(f'{ICE_SERVERS_ENV} must be a JSON list of {{"urls": ...}} objects')
    return value


def ice_servers(environ=None, secrets=None):
    """The ICE (STUN/TURN) servers to use: none unless configured.

    Arguments:
        environ: environment to read ``FER_ICE_SERVERS`` (JSON) from; default ``os.environ``.
        secrets: a mapping such as ``st.secrets``; its ``ice_servers`` list is used when the
            environment variable is not set.

    Returns:
        list of ICE server dicts; [] by default (local use: no public STUN server is contacted).

    Raises:
        ValueError: the configured value is malformed.
    """
    environ = os.environ if environ is None else environ
    text = (environ.get(ICE_SERVERS_ENV) or "").strip()
    if text:
        return parse_ice_servers(text)
    if secrets is not None:
        try:
            configured = secrets.get("ice_servers")
        except Exception:  # st.secrets raises when there is no secrets file
            configured = None
        if configured:
            return parse_ice_servers(json.dumps([dict(server) for server in configured]))
    return []


def rtc_configuration(servers):
    """The ``rtc_configuration`` for ``webrtc_streamer``; an empty list is kept as is."""
    return {"iceServers": list(servers)}


def frame_rate(times):
    """Frames per second over a window of frame times (seconds), 0.0 for fewer than two."""
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])


def live_readout(records, seconds=READOUT_SECONDS):
    """The speed readout over the frame records of the last ``seconds`` (up to the last record).

    The one definition of the live page's numbers: the video's overlay and the page's
    metric both come from here.

    Arguments:
        records: ``FrameRecord`` sequence, in frame order.
        seconds: the window, ending at the last record's time.

    Returns:
        ``Readout``, or None when there is no record.
    """
    if not records:
        return None
    last = records[-1]
    window = list(itertools.takewhile(lambda record: record.time_s >= last.time_s - seconds, reversed(records)))
    window.reverse()
    latencies = sorted(record.latency_ms for record in window)
    middle = len(latencies) // 2
    median = latencies[middle] if len(latencies) % 2 else (latencies[middle - 1] + latencies[middle]) / 2
    return Readout(fps=frame_rate([record.time_s for record in window]), latency_ms=median,
                   faces=len(last.results))


def draw_readout(image, readout):
    """Writes the readout ("12.3 fps | 25 ms") in the frame's bottom-left corner, in place; returns the image."""
    text = readout.text()
    scale = max(0.45, image.shape[1] / 1300.0)
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    bottom = image.shape[0] - 6
    cv2.rectangle(image, (4, bottom - height - baseline - 4), (12 + width, bottom), (0, 0, 0), cv2.FILLED)
    cv2.putText(image, text, (8, bottom - baseline - 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)
    return image


def records_to_csv(records, label_names, with_keypoints=False):
    """The session's per-frame results as CSV text, one row per face (one empty row per faceless frame).

    Arguments:
        records: ``FrameRecord`` list, in frame order.
        label_names: the classifier's labels (one probability column each).
        with_keypoints: add the 30 keypoint columns.

    Returns:
        str: header ``fer_core.inference.video.csv_header`` + ``latency_ms``, ``fps``; then the rows.
    """
    header = csv_header(label_names, with_keypoints) + ["latency_ms", "fps"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for record in records:
        tail = [round(record.latency_ms, 2), round(record.fps, 2)]
        rows = csv_rows(record.frame_index, record.time_s, record.results, label_names, with_keypoints)
        if not rows:
            rows = [[record.frame_index, round(record.time_s, 3)] + [""] * (len(header) - 4)]
        for row in rows:
            writer.writerow(row + tail)
    return out.getvalue()


def face_timeline(records, seconds=TIMELINE_SECONDS):
    """Each face's emotion over the last ``seconds`` of the session, by the number drawn on the video.

    Arguments:
        records: ``FrameRecord`` list, in frame order (faces numbered by the pipeline's tracker).
        seconds: how far back to go from the last record.

    Returns:
        DataFrame time_s, face (its number), label, probability (of that label): one row per labelled
        face per frame, as ``fer_core.app.video_analysis.face_timeline`` gives for a video.
    """
    import pandas as pd

    start = records[-1].time_s - seconds if records else 0.0
    window = reversed(list(itertools.takewhile(lambda record: record.time_s >= start, reversed(records))))
    rows = [(record.time_s, result.track_id, result.label, result.score) for record in window
            for result in record.results if result.label is not None and result.track_id is not None]
    timeline = pd.DataFrame(rows, columns=["time_s", "face", "label", "probability"])
    timeline["face"] = timeline["face"].astype("Int64")
    return timeline


def patch_aioice_for_loopback():
    """Test mode only: makes aioice offer 127.0.0.1 as its only host candidate.

    aioice leaves loopback out of its candidates, so a browser and server inside a
    network namespace that has only loopback could not connect. The real-browser tests
    set ``FER_TEST_LOOPBACK_ICE=1``; the live page calls this only then.
    """
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []


# ---------------------------------------------------------------- the callback

class LiveAnnotator:
    """The live page's video frame callback: frame in, annotated frame out, a record queued.

    Arguments:
        pipeline: a ``FacePipeline`` (give each stream its own: smoothing keeps state).
        draw_keypoints: draw the keypoints the pipeline returns.
        show_readout: draw the speed readout (``live_readout``) on the frame.
        queue_size: records kept for the page between two drains (the oldest are dropped).
        record_path: test mode: a file to which each record is appended as a JSON line.
        clock: a monotonic clock in seconds (tests pass a fake one).

    Thread-safe: the callback runs in streamlit-webrtc's worker thread while the page
    calls ``configure``, ``drain`` and reads ``stats`` from the script thread.
    """

    def __init__(self, pipeline, draw_keypoints=True, show_readout=True, queue_size=512,
                 record_path=None, clock=time.perf_counter):
        self.pipeline = pipeline
        self.draw_keypoints = draw_keypoints
        self.show_readout = show_readout
        self.record_path = record_path
        self.clock = clock
        self.records = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._recent = deque(maxlen=256)  # the records the readout is computed over
        self._start = None
        self.frames = 0
        self.frames_with_faces = 0
        self.last_error = None

    def configure(self, pipeline=None, draw_keypoints=None, show_readout=None):
        """Changes settings between two frames (from the page, while streaming); a new pipeline carries
        the faces followed over, so that they keep their numbers (``FacePipeline.continue_tracks``)."""
        with self._lock:
            if pipeline is not None:
                if self.pipeline is not None and pipeline is not self.pipeline:
                    pipeline.continue_tracks(self.pipeline)
                self.pipeline = pipeline
            if draw_keypoints is not None:
                self.draw_keypoints = draw_keypoints
            if show_readout is not None:
                self.show_readout = show_readout

    def reset(self):
        """Starts a new session: counters, clock and pending records cleared."""
        with self._lock:
            self._start = None
            self._recent.clear()
            self.frames = self.frames_with_faces = 0
            self.last_error = None
            self.pipeline.reset()
        self.drain()

    def annotate(self, image_bgr):
        """Processes one BGR frame.

        Arguments:
            image_bgr: uint8 HxWx3 frame.

        Returns:
            (annotated BGR copy, ``FrameRecord``).
        """
        with self._lock:
            pipeline, draw_keypoints, show_readout = self.pipeline, self.draw_keypoints, self.show_readout
            now = self.clock()
            if self._start is None:
                self._start = now
            index = self.frames
            self.frames += 1
        results = pipeline(image_bgr)
        shown = results if draw_keypoints else [_without_keypoints(r) for r in results]
        annotated = draw_results(image_bgr, shown)
        latency_ms = 1000.0 * (self.clock() - now)
        record = FrameRecord(index, now - self._start, latency_ms, 0.0, results, dict(pipeline.timings))
        with self._lock:
            self._recent.append(record)
            readout = live_readout(self._recent)
            if results:
                self.frames_with_faces += 1
        record.fps = readout.fps
        if show_readout:
            draw_readout(annotated, readout)
        self._put(record)
        return annotated, record

    def __call__(self, frame):
        """The ``video_frame_callback``: ``av.VideoFrame`` in, annotated ``av.VideoFrame`` out.

        A frame that fails is passed through unchanged and the error kept in
        ``last_error`` (the page shows it): the stream never stops on one bad frame.
        """
        import av

        image = frame.to_ndarray(format="bgr24")
        try:
            annotated, _ = self.annotate(image)
        except Exception as error:  # keep streaming; the page reports it
            self.last_error = f"{type(error).__name__}: {error}"
            return frame
        out = av.VideoFrame.from_ndarray(annotated, format="bgr24")
        out.pts = frame.pts
        if frame.time_base is not None:
            out.time_base = frame.time_base
        return out

    def drain(self, max_items=None):
        """Takes the records queued since the last call (from the page's thread).

        Returns:
            list of ``FrameRecord``, oldest first.
        """
        taken = []
        while max_items is None or len(taken) < max_items:
            try:
                taken.append(self.records.get_nowait())
            except queue.Empty:
                break
        return taken

    @property
    def stats(self):
        """{"frames", "frames_with_faces", "last_error"} so far."""
        with self._lock:
            return {"frames": self.frames, "frames_with_faces": self.frames_with_faces,
                    "last_error": self.last_error}

    def _put(self, record):
        while True:
            try:
                self.records.put_nowait(record)
                break
            except queue.Full:  # the page is not draining: drop the oldest
                try:
                    self.records.get_nowait()
                except queue.Empty:
                    pass
        if self.record_path:
            with self._lock, open(self.record_path, "a", encoding="utf-8") as file:
                file.write(json.dumps(record.to_json()) + "\n")


def _without_keypoints(result):
    return replace(result, keypoints=None)
