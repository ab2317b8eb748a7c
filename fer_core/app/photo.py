"""The photo page's logic: decode an upload safely, run the pipeline, make the downloads and charts.

``analyse_photo(name, source, pipeline)`` is the whole page in one call: it
decodes the photo in memory (``fer_core.inference.imageio.read_image``: size limits, EXIF
rotation; nothing is written to disk), finds and classifies the faces, draws
them, and returns everything the page shows and offers for download.

Nothing here imports TensorFlow (see ``fer_core.inference.saliency`` for the one part that may).
"""

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from fer_core.errors import ImageError
from fer_core.inference.imageio import read_image
from fer_core.inference.overlay import draw_results, label_color
from fer_core.inference.pipeline import results_to_json

MAX_UPLOAD_MB = 20
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
UPLOAD_TYPES = ("jpg", "jpeg", "png", "bmp", "gif", "tif", "tiff", "webp")
SAMPLE_NAME = "astronaut.png"


@dataclass
class PhotoAnalysis:
    """One analysed photo.

    Attributes:
        name: the photo's name (upload file name, "camera.jpg", the sample's).
        image: uint8 BGR, as decoded.
        results: the faces' ``FaceResult`` list, largest first.
        annotated: uint8 BGR with boxes, labels (and keypoints when asked).
        timings: the pipeline's per-stage seconds.
    """

    name: str
    image: np.ndarray
    results: list
    annotated: np.ndarray
    timings: dict = field(default_factory=dict)

    def to_json(self):
        """The photo's results: ``{"image", "width", "height", "faces": [...]}``."""
        height, width = self.image.shape[:2]
        return {"image": self.name, "width": int(width), "height": int(height),
                **results_to_json(self.results)}

    def png_bytes(self):
        """The annotated image as PNG bytes."""
        return encode_png(self.annotated)


# ---------------------------------------------------------------- pure helpers

def check_upload_size(name, size, max_bytes=MAX_UPLOAD_BYTES):
    """Refuses files over the upload limit (one line).

    Raises:
        ImageError: e.g. "big.png: 25.3 MB, over the 20 MB limit".
    """
    if size > max_bytes:
        raise ImageError(f"{name}: {size / 1048576:.1f} MB, over the {max_bytes / 1048576:.0f} MB limit")


def decode_photo(name, source, max_bytes=MAX_UPLOAD_BYTES):
    """Decodes an uploaded or captured photo in memory.

    Arguments:
        name: its file name (for messages).
        source: bytes, a binary file object (Streamlit's ``UploadedFile``), or an
            already decoded BGR uint8 array (the sample).
        max_bytes: largest file accepted.

    Returns:
        uint8 BGR (H, W, 3).

    Raises:
        ImageError: one line naming the file: not an image, truncated, too large...
    """
    if isinstance(source, np.ndarray):
        return source
    data = source if isinstance(source, (bytes, bytearray, memoryview)) else source.getvalue() \
        if hasattr(source, "getvalue") else source.read()
    check_upload_size(name, len(data), max_bytes)
    try:
        return read_image(bytes(data))
    except ImageError as error:
        raise ImageError(f"{name}: {error}") from None


def encode_png(image_bgr):
    """PNG bytes of a BGR uint8 image."""
    ok, buffer = cv2.imencode(".png", image_bgr)
    if not ok:  # pragma: no cover - OpenCV fails only on invalid arrays
        raise ImageError("cannot encode the image as PNG")
    return buffer.tobytes()


def download_name(name, suffix):
    """``photo.jpg`` -> ``photo_annotated.png`` style names for downloads."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem}{suffix}"


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

def analyse_photo(name, source, pipeline, draw_keypoints=True):
    """Decodes a photo, finds and classifies its faces, and draws them.

    Arguments:
        name: the photo's name.
        source: bytes, a file object, or a BGR array (see ``decode_photo``).
        pipeline: a ``FacePipeline`` (no smoothing: photos are independent).
        draw_keypoints: draw the keypoints on the annotated image.

    Returns:
        ``PhotoAnalysis``.

    Raises:
        ImageError: the photo cannot be used (one line).
    """
    image = decode_photo(name, source)
    results = pipeline(image)
    shown = results if draw_keypoints else [replace(r, keypoints=None) for r in results]
    return PhotoAnalysis(name=name, image=image, results=results,
                         annotated=draw_results(image, shown), timings=dict(pipeline.timings))
