"""Safe image decoding for inference: bytes, paths or file objects in, BGR uint8 out.

Every image that reaches a model goes through ``read_image``. It refuses, with one
clear ``ImageError`` line, what cannot or should not be decoded: empty input,
bytes that are no image, truncated files, and decompression bombs (a small file
declaring a huge canvas), which are refused from the header alone, before any
pixel is decoded. Everything else is brought to one layout: EXIF rotation
applied, 16-bit scaled to 8 bits, palette/gray/alpha/CMYK converted to BGR.

``decode_image`` does the same and says more: it can refuse images too small to
hold a face (``min_side``), decode a large photo at a bounded working size
(``working_pixels``: a JPEG is decoded directly at 1/2, 1/4 or 1/8 of its size,
any other format is reduced right after decoding, one large decode at a time in
the process), and it returns notices for the user (an animated image: only its
first frame is used).

Nothing here imports TensorFlow.
"""

import io
import math
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fer_core.errors import ImageError

# Images larger than this (width x height) are refused before decoding (50 megapixels).
MAX_PIXELS = 50_000_000
# Decodes of images over this size hold LARGE_DECODE, so that concurrent sessions do not each hold one.
LARGE_IMAGE_PIXELS = 16_000_000
LARGE_DECODE = threading.Lock()
# Modes that ``Image.reduce`` averages correctly (palette indices and 1-bit pixels must not be averaged).
REDUCIBLE_MODES = {"L", "LA", "La", "RGB", "RGBA", "RGBa", "CMYK", "YCbCr", "I", "F"}
# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
EXIF_ORIENTATION = 0x0112
EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                  4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                  6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}

# Suffixes that ``read_image`` accepts when scanning a folder, and those treated as video.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


@dataclass
class DecodedImage:
    """An image decoded by ``decode_image``.

    Attributes:
        image: uint8 BGR (H, W, 3), upright; at most the working size asked for.
        original_size: (width, height) of the image as stored, upright (EXIF rotation applied).
        notices: one-line remarks for the user (e.g. only the first frame of an animation is used).
    """

    image: np.ndarray
    original_size: tuple
    notices: list = field(default_factory=list)

    @property
    def reduced(self):
        """True when the image was decoded smaller than it is stored."""
        return (self.image.shape[1], self.image.shape[0]) != tuple(self.original_size)


def read_bytes(source):
    """Reads the raw bytes of an image source.

    Arguments:
        source: bytes/bytearray/memoryview, a path (str or Path), or a binary
            file object (e.g. Streamlit's ``UploadedFile``).

    Returns:
        bytes.

    Raises:
        ImageError: the file is missing, unreadable or empty.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError("no such file")
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ImageError(f"cannot read file ({error.strerror or error})") from None
    elif hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, bytes):
            raise ImageError("file object did not return bytes")
    else:
        raise ImageError(f"cannot read an image from a {type(source).__name__}")
    if not data:
        raise ImageError("empty file (0 bytes)")
    return data


def open_image(data, max_pixels=MAX_PIXELS):
    """Opens image bytes with Pillow and checks the declared size, without decoding pixels.

    Arguments:
        data: bytes of an encoded image.
        max_pixels: largest width x height accepted.

    Returns:
        a lazy ``PIL.Image.Image`` (header read, pixels not yet decoded).

    Raises:
        ImageError: not an image, or too large.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"image declares too many pixels (limit {max_pixels:,})") from None
        except UnidentifiedImageError:
            raise ImageError("not an image file (unknown or corrupt format)") from None
        except (OSError, ValueError, SyntaxError) as error:
            raise ImageError(f"cannot read image header ({error})") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(
            f"image is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,}"
        )
    return image


def reduction_factor(size, working_pixels=None):
    """The integer factor by which to shrink an image so that it holds at most ``working_pixels``.

    Arguments:
        size: (width, height).
        working_pixels: largest width x height wanted; None for no limit.

    Returns:
        int >= 1 (1: keep the image as it is).
    """
    width, height = size
    if not working_pixels or width * height <= working_pixels:
        return 1
    factor = math.ceil(math.sqrt(width * height / working_pixels))
    while math.ceil(width / factor) * math.ceil(height / factor) > working_pixels:
        factor += 1
    return factor


def working_size(size, working_pixels=None):
    """(width, height) at which ``decode_image`` returns an image of this stored size."""
    factor = reduction_factor(size, working_pixels)
    return math.ceil(size[0] / factor), math.ceil(size[1] / factor)


def pil_to_bgr(image):
    """Converts a decoded Pillow image of any mode to a BGR uint8 array.

    Arguments:
        image: ``PIL.Image.Image``.

    Returns:
        uint8 array of shape HxWx3, BGR channel order.
    """
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image)
        if mode == "F" or array.dtype.kind == "f":
            array = np.nan_to_num(array.astype(np.float32))
            high = float(array.max()) if array.size else 0.0
            array = array * (255.0 / high) if high > 1.0 else array * 255.0
            gray = np.clip(np.rint(array), 0, 255).astype(np.uint8)
        else:
            gray = (np.clip(array.astype(np.int64), 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Flatten transparency onto white, as a viewer shows it.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = np.asarray(image.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def read_image(source, max_pixels=MAX_PIXELS):
    """Decodes an image safely into a BGR uint8 array, EXIF rotation applied.

    Arguments:
        source: bytes, a path, or a binary file object.
        max_pixels: largest width x height accepted; larger images are refused
            from their header, before decoding.

    Returns:
        uint8 array HxWx3 (BGR).

    Raises:
        ImageError: with a one-line reason (prefixed by the path for a path), for any
            input that is not a usable image.
    """
    return decode_image(source, max_pixels).image


def decode_image(source, max_pixels=MAX_PIXELS, working_pixels=None, min_side=1):
    """Decodes an image safely, at a bounded working size, with notices for the user.

    Arguments:
        source: bytes, a path, or a binary file object.
        max_pixels: largest width x height accepted (checked from the header, before decoding).
        working_pixels: largest width x height returned: a larger image is shrunk by an
            integer factor while it is decoded (JPEG) or right after (other formats).
            None: full size.
        min_side: smallest short side accepted, in pixels (checked from the header).

    Returns:
        ``DecodedImage``.

    Raises:
        ImageError: with a one-line reason (prefixed by the path for a path), for any
            input that is not a usable image.
    """
    try:
        return _decode(read_bytes(source), max_pixels, working_pixels, min_side)
    except ImageError as error:
        if isinstance(source, (str, os.PathLike)):
            raise ImageError(f"{source}: {error}") from None
        raise


def check_min_side(size, min_side):
    """Refuses an image whose short side is under ``min_side`` pixels (one line).

    Raises:
        ImageError: e.g. "image is 1x1 pixels, too small: a face needs at least 24 pixels on the short side".
    """
    width, height = size
    if min(width, height) < min_side:
        raise ImageError(f"image is {width}x{height} pixels, too small: a face needs at least "
                         f"{min_side} pixels on the short side")


def _decode(data, max_pixels, working_pixels, min_side):
    image = open_image(data, max_pixels)
    check_min_side(image.size, min_side)
    try:
        notices = _animation_notices(image)
        stored = image.size
        factor = reduction_factor(stored, working_pixels)
        if factor > 1 and image.format == "JPEG":
            image.draft(image.mode, working_size(stored, working_pixels))  # libjpeg decodes at 1/2, 1/4, 1/8
        if image.width * image.height > LARGE_IMAGE_PIXELS:  # the size decoded (after a JPEG's draft)
            with LARGE_DECODE:  # one such buffer at a time in this process
                image, orientation = _load_and_shrink(image, working_pixels)
        else:
            image, orientation = _load_and_shrink(image, working_pixels)
        if orientation in EXIF_TRANSPOSE:
            image = image.transpose(EXIF_TRANSPOSE[orientation])
            if orientation >= 5:
                stored = stored[::-1]
        return DecodedImage(pil_to_bgr(image), tuple(stored), notices)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        message = str(error) or type(error).__name__
        if "truncated" in message or isinstance(error, EOFError):
            raise ImageError("cannot decode image: the file is truncated or corrupt") from None
        raise ImageError(f"cannot decode image: {message}") from None
    except MemoryError:
        raise ImageError("not enough memory to decode image") from None


def _load_and_shrink(image, working_pixels):
    """Decodes the pixels, reads the EXIF orientation (a PNG's may come after its pixels, so
    Pillow decodes them to read it) and shrinks the image to the working size.

    Returns:
        (image at most ``working_pixels`` large, EXIF orientation or None).
    """
    image.load()
    orientation = image.getexif().get(EXIF_ORIENTATION)
    return _shrink(image, working_pixels), orientation


def _shrink(image, working_pixels):
    """The decoded image shrunk to at most ``working_pixels`` (box average; nearest for palette images)."""
    factor = reduction_factor(image.size, working_pixels)
    if factor == 1:
        return image
    if image.mode in REDUCIBLE_MODES:
        return image.reduce(factor)
    size = (math.ceil(image.width / factor), math.ceil(image.height / factor))
    return image.resize(size, Image.Resampling.NEAREST)


def _animation_notices(image):
    if not getattr(image, "is_animated", False):
        return []
    frames = getattr(image, "n_frames", None)
    image.seek(0)
    count = f" ({frames} frames)" if frames else ""
    return [f"animated image{count}: only its first frame is used"]
