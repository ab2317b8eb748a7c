"""Safe image decoding for inference: bytes, paths or file objects in, BGR uint8 out.

Every image that reaches a model goes through ``read_image``. It refuses, with one
clear ``ImageError`` line, what cannot or should not be decoded: empty input,
bytes that are no image, truncated files, and decompression bombs (a small file
declaring a huge canvas), which are refused from the header alone, before any
pixel is decoded. Everything else is brought to one layout: EXIF rotation
applied, 16-bit scaled to 8 bits, palette/gray/alpha/CMYK converted to BGR.

Nothing here imports TensorFlow.
"""

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fer_core.errors import ImageError

# Images larger than this (width x height) are refused before decoding (50 megapixels).
MAX_PIXELS = 50_000_000

# Suffixes that ``read_image`` accepts when scanning a folder, and those treated as video.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


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
    try:
        return _decode(read_bytes(source), max_pixels)
    except ImageError as error:
        if isinstance(source, (str, os.PathLike)):
            raise ImageError(f"{source}: {error}") from None
        raise


def _decode(data, max_pixels):
    image = open_image(data, max_pixels)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        return pil_to_bgr(image)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        message = str(error) or type(error).__name__
        if "truncated" in message or isinstance(error, EOFError):
            message = f"image file is truncated or corrupt ({message})"
        raise ImageError(f"cannot decode image: {message}") from None
    except MemoryError:
        raise ImageError("not enough memory to decode image") from None
