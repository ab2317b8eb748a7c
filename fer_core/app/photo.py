"""The photo page's logic: decode an upload safely, run the pipeline, make the downloads and charts.

``analyse_photo(name, source, pipeline)`` is the whole page in one call, and
``python -m fer_core predict`` runs it on each photo too (with the same
``fer_core.inference.analysis.PHOTO_ANALYSIS`` settings, so that a photo gets the same
faces and labels from both): it decodes the photo in memory (``fer_core.inference.imageio.decode_image``: size limits,
EXIF rotation, a large photo decoded at a bounded working size; nothing is written
to disk), finds and classifies the faces, draws them, encodes the image shown, and
returns everything the page shows and offers for download, with the time the user
waited for it. ``PixelBudget`` bounds the pixels one run of the page analyses, and
``EncodedImages`` keeps a session's encoded images, so that a rerun does not encode
the same image again.

Nothing here imports TensorFlow (see ``fer_core.inference.saliency`` for the one part that may).
"""

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from fer_core.errors import ImageError
from fer_core.inference.analysis import analysis_record
from fer_core.inference.imageio import MAX_PIXELS, DecodedImage, decode_image, open_image
from fer_core.inference.overlay import draw_results, label_color
from fer_core.inference.pipeline import results_to_json

MAX_UPLOAD_MB = 20  # the Photo uploader's own limit (the server's, server.maxUploadSize, is the Video page's)
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
MAX_MEGAPIXELS = MAX_PIXELS // 1_000_000
MIN_PHOTO_SIDE = 24  # the face detectors' smallest window (detection.HAAR_WINDOW): no face fits in less
WORKING_PIXELS = 4_000_000  # a larger photo is analysed and shown at an integer fraction of its size
RUN_PIXEL_BUDGET = 8 * WORKING_PIXELS  # the most one run of the page analyses, all its photos together
UPLOAD_TYPES = ("jpg", "jpeg", "png", "bmp", "gif", "tif", "tiff", "webp")
SAMPLE_NAME = "astronaut.png"
DISPLAY_JPEG_QUALITY = 90
DISPLAY_MAX_WIDTH = 1460  # Streamlit's widest image: a wider one it decodes, shrinks and encodes again


@dataclass
class PhotoAnalysis:
    """One analysed photo.

    Attributes:
        name: the photo's name (upload file name, "camera.jpg", the sample's).
        image: uint8 BGR, as decoded: at most ``WORKING_PIXELS`` (boxes and keypoints are in its pixels).
        results: the faces' ``FaceResult`` list, largest first.
        annotated: uint8 BGR with boxes, labels (and keypoints when asked); None when not displayed.
        timings: seconds: the pipeline's stages ("detect", ..., "total": the whole pipeline), and
            "decode", "draw", "encode" (the image shown) and "waited" (all of it, as the user waited).
        original_size: (width, height) of the photo as uploaded, upright.
        notices: one-line remarks for the user (e.g. only an animation's first frame is used).
        shown: the annotated image as JPEG bytes, at most ``DISPLAY_MAX_WIDTH`` wide: what the page shows.
        encoded: the ``EncodedImages`` that made ``shown`` (``png_bytes`` uses it too).
        record: what produced the result: {"detector": settings, "models": files}
            (``fer_core.inference.analysis.analysis_record``).
    """

    name: str
    image: np.ndarray
    results: list
    annotated: np.ndarray
    timings: dict = field(default_factory=dict)
    original_size: tuple = None
    notices: list = field(default_factory=list)
    shown: bytes = None
    encoded: object = None
    record: dict = field(default_factory=dict)

    def to_json(self):
        """The photo's results: ``{"image", "width", "height", "original_width", "original_height", "detector",
        "models", "faces"}``; boxes and keypoints are in the pixels of ``width`` x ``height``, the size analysed."""
        height, width = self.image.shape[:2]
        original_width, original_height = self.original_size or (width, height)
        return {"image": self.name, "width": int(width), "height": int(height),
                "original_width": int(original_width), "original_height": int(original_height),
                **self.record, **results_to_json(self.results)}

    def png_bytes(self):
        """The annotated image as PNG bytes (encoded once per session when ``encoded`` is set)."""
        return self.encoded.encode(self.annotated, ".png") if self.encoded else encode_png(self.annotated)

    def caption(self):
        """The size, the faces and the time waited, e.g.
        "512x512, 1 face(s), 120 ms (decoding 3 ms, faces 100 ms, drawing 2 ms, encoding 15 ms)"."""
        height, width = self.image.shape[:2]
        size = f"{width}x{height}"
        if self.original_size and tuple(self.original_size) != (width, height):
            size = f"{self.original_size[0]}x{self.original_size[1]} photo analysed at {size}"
        parts = [(label, self.timings[key]) for key, label in
                 (("decode", "decoding"), ("total", "faces"), ("draw", "drawing"), ("encode", "encoding"))
                 if key in self.timings]
        waited = self.timings.get("waited", sum(seconds for _, seconds in parts))
        detail = ", ".join(f"{label} {format_seconds(seconds)}" for label, seconds in parts)
        return f"{size}, {len(self.results)} face(s), {format_seconds(waited)}" + (f" ({detail})" if detail else "")


class PixelBudget:
    """The pixels one run of the photo page may still analyse, all its photos together.

    Each photo is charged its working size (at most ``WORKING_PIXELS``) before it is
    decoded, so that a session holds a bounded number of pixels however many photos it uploads.

    Arguments:
        total: the pixels of the whole run (default ``RUN_PIXEL_BUDGET``).
    """

    def __init__(self, total=RUN_PIXEL_BUDGET):
        self.total = total
        self.used = 0

    def take(self, name, pixels):
        """Charges one photo's pixels.

        Raises:
            ImageError: the budget would be exceeded (one line naming the photo).
        """
        if self.used + pixels > self.total:
            raise ImageError(f"{name}: not analysed: the photos before it take {self.used / 1e6:.1f} of the "
                             f"{self.total / 1e6:.0f} megapixels analysed at once; remove some photos")
        self.used += pixels


class EncodedImages:
    """A session's encoded images by content hash: a rerun that draws the same image does not encode it again.

    Arguments:
        max_entries: images kept (the least recently used are dropped).
    """

    def __init__(self, max_entries=16):
        self.max_entries = max_entries
        self.entries = OrderedDict()
        self.hits = self.misses = 0

    def encode(self, image_bgr, suffix=".png", max_width=None):
        """``image_bgr`` encoded as ``suffix`` (".png" or ".jpg"), from the cache when it is there.

        Arguments:
            image_bgr: uint8 BGR image.
            suffix: ".png" or ".jpg".
            max_width: a wider image is shrunk to this width first (None: as it is).

        Returns:
            bytes.
        """
        key = (content_hash(image_bgr), suffix, max_width)
        if key in self.entries:
            self.hits += 1
            self.entries.move_to_end(key)
            return self.entries[key]
        self.misses += 1
        if max_width and image_bgr.shape[1] > max_width:
            height = max(1, round(image_bgr.shape[0] * max_width / image_bgr.shape[1]))
            image_bgr = cv2.resize(image_bgr, (max_width, height), interpolation=cv2.INTER_AREA)
        data = encode_png(image_bgr) if suffix == ".png" else encode_jpeg(image_bgr)
        self.entries[key] = data
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
        return data


# ---------------------------------------------------------------- pure helpers

def check_upload_size(name, size, max_bytes=MAX_UPLOAD_BYTES):
    """Refuses files over the upload limit (one line); ``max_bytes`` None: no limit.

    Raises:
        ImageError: e.g. "big.png: 25.3 MB, over the 20 MB limit".
    """
    if max_bytes is not None and size > max_bytes:
        raise ImageError(f"{name}: {size / 1048576:.1f} MB, over the {max_bytes / 1048576:.0f} MB limit")


def decode_photo(name, source, max_bytes=MAX_UPLOAD_BYTES, budget=None, min_side=MIN_PHOTO_SIDE):
    """Decodes an uploaded or captured photo in memory, at most ``WORKING_PIXELS`` large.

    Arguments:
        name: its file name (for messages).
        source: bytes, a binary file object (Streamlit's ``UploadedFile``), or an
            already decoded BGR uint8 array (the sample).
        max_bytes: largest file accepted (None: any).
        budget: a ``PixelBudget`` to charge, or None.
        min_side: smallest short side accepted (``predict`` takes any: it says "no face").

    Returns:
        ``fer_core.inference.imageio.DecodedImage``: the BGR image, the photo's own size, notices.

    Raises:
        ImageError: one line naming the file: not an image, truncated, too large, too small...
    """
    if isinstance(source, np.ndarray):
        if budget is not None:
            budget.take(name, source.shape[0] * source.shape[1])
        return DecodedImage(source, (source.shape[1], source.shape[0]), [])
    data = source if isinstance(source, (bytes, bytearray, memoryview)) else source.getvalue() \
        if hasattr(source, "getvalue") else source.read()
    check_upload_size(name, len(data), max_bytes)
    try:
        data = bytes(data)
        if budget is not None:
            width, height = open_image(data).size  # from the header, before any pixel is decoded
            budget.take(name, min(width * height, WORKING_PIXELS))
        return decode_image(data, working_pixels=WORKING_PIXELS, min_side=min_side)
    except ImageError as error:
        message = str(error)
        raise ImageError(message if message.startswith(f"{name}: ") else f"{name}: {message}") from None


def content_hash(image):
    """A digest of an array's shape, type and bytes (the key of ``EncodedImages``)."""
    digest = hashlib.blake2b(repr((image.shape, image.dtype.str)).encode(), digest_size=16)
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


def encode_png(image_bgr):
    """PNG bytes of a BGR uint8 image."""
    ok, buffer = cv2.imencode(".png", image_bgr)
    if not ok:  # pragma: no cover - OpenCV fails only on invalid arrays
        raise ImageError("cannot encode the image as PNG")
    return buffer.tobytes()


def encode_jpeg(image_bgr, quality=DISPLAY_JPEG_QUALITY):
    """JPEG bytes of a BGR uint8 image (what the page shows: a fraction of the PNG's size)."""
    ok, buffer = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV fails only on invalid arrays
        raise ImageError("cannot encode the image as JPEG")
    return buffer.tobytes()


def format_seconds(seconds):
    """0.1234 -> "123 ms"; 8.04 -> "8.0 s"."""
    return f"{1000 * seconds:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def download_name(name, suffix):
    """``photo.jpg`` -> ``photo_annotated.png`` style names for downloads."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem}{suffix}"


def face_title(number, result):
    """A face's chart title: "Face 1: happy 87%", or with "uncertain" and the runner-up when the two most
    probable emotions are close (``FaceResult.uncertain``): "Face 2: happy 41%, uncertain (sad 33%)"."""
    title = f"Face {number}: {result.label} {100 * result.score:.0f}%"
    if result.uncertain:
        runner_up, probability = sorted(result.probabilities.items(), key=lambda item: -item[1])[1]
        title += f", uncertain ({runner_up} {100 * probability:.0f}%)"
    return title


def probability_figure(result, title=None):
    """A horizontal plotly bar chart of one face's emotion probabilities, top class first.

    Arguments:
        result: a ``FaceResult`` with probabilities.
        title: the chart's title (default "label 87%").

    Returns:
        ``plotly.graph_objects.Figure``.
    """
    import plotly.graph_objects as go

    items = sorted(result.probabilities.items(), key=lambda item: item[1])
    colors = ["rgb({2},{1},{0})".format(*label_color(name)) for name, _ in items]
    figure = go.Figure(go.Bar(x=[p for _, p in items], y=[name for name, _ in items], orientation="h",
                              marker={"color": colors}, text=[f"{100 * p:.0f}%" for _, p in items],
                              textposition="auto"))
    figure.update_layout(height=260, margin={"l": 10, "r": 10, "t": 36, "b": 10},
                         title={"text": title or f"{result.label} {100 * result.score:.0f}%", "font": {"size": 14}},
                         xaxis={"range": [0, 1], "tickformat": ".0%"})
    return figure


def sample_photo():
    """scikit-image's astronaut photo (NASA, public domain) as BGR uint8."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


# ---------------------------------------------------------------- named entry point

def analyse_photo(name, source, pipeline, draw_keypoints=True, budget=None, encoded=None, display=True,
                  max_bytes=MAX_UPLOAD_BYTES, min_side=MIN_PHOTO_SIDE):
    """Decodes a photo, finds and classifies its faces, draws them and encodes the image shown.

    Arguments:
        name: the photo's name.
        source: bytes, a file object, or a BGR array (see ``decode_photo``).
        pipeline: a ``FacePipeline`` (no smoothing: photos are independent), e.g.
            ``fer_core.inference.analysis.PHOTO_ANALYSIS.pipeline(emotion, keypoints)``.
        draw_keypoints: draw the keypoints on the annotated image.
        budget: a ``PixelBudget`` shared by the photos of one page run, or None.
        encoded: the session's ``EncodedImages`` (a rerun then reuses the encoded images), or None.
        display: draw and encode the image shown (``predict`` without ``--out`` needs neither).
        max_bytes, min_side: the file's and the image's limits (``decode_photo``).

    Returns:
        ``PhotoAnalysis``; ``timings["waited"]`` is the time the user waited: decoding, the
        pipeline, drawing and encoding.

    Raises:
        ImageError: the photo cannot be used (one line).
    """
    started = time.perf_counter()
    decoded = decode_photo(name, source, max_bytes=max_bytes, budget=budget, min_side=min_side)
    decoded_at = time.perf_counter()
    results = pipeline(decoded.image)
    analysed_at = time.perf_counter()
    annotated = jpeg = None
    if display:
        shown = results if draw_keypoints else [replace(r, keypoints=None) for r in results]
        annotated = draw_results(decoded.image, shown)
    drawn_at = time.perf_counter()
    if display:
        encoded = encoded if encoded is not None else EncodedImages(max_entries=2)
        jpeg = encoded.encode(annotated, ".jpg", max_width=DISPLAY_MAX_WIDTH)
    done = time.perf_counter()
    timings = {**pipeline.timings, "decode": decoded_at - started, "total": analysed_at - decoded_at,
               "draw": drawn_at - analysed_at, "encode": done - drawn_at, "waited": done - started}
    return PhotoAnalysis(name=name, image=decoded.image, results=results, annotated=annotated, timings=timings,
                         original_size=decoded.original_size, notices=list(decoded.notices), shown=jpeg,
                         encoded=encoded, record=analysis_record(pipeline))
