import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from fer_core.errors import ImageError
from fer_core.inference.imageio import open_image, read_image


def encode(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def gradient_rgb(width=40, height=30):
    """An RGB image whose red grows along x and green along y (orientation is visible)."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    return np.dstack([x, y, np.full_like(x, 60)]).astype(np.uint8)


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_declaring(width, height):
    """A ~60-byte PNG whose header declares width x height gray pixels (the data is a stub)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))


def jpeg_declaring(width, height):
    """A small real JPEG whose SOF0 header is rewritten to declare width x height."""
    data = bytearray(encode(Image.new("L", (8, 8), 128), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.fixture
def no_pixel_decoding(monkeypatch):
    """Makes any attempt to decode pixels fail the test."""
    def refuse(self):
        raise AssertionError("pixels were decoded")
    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


# ---------------------------------------------------------------- refused inputs

def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.jpg: empty file \(0 bytes\)"):
        read_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "nope.png")


@pytest.mark.parametrize("data", [b"hello, this is text", b"%PDF-1.4\n" + bytes(200), bytes(range(256))])
def test_non_image_bytes(data):
    with pytest.raises(ImageError, match="not an image file"):
        read_image(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files(fmt):
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8))
    data = encode(noisy, fmt)
    with pytest.raises(ImageError, match="truncated|cannot decode"):
        read_image(data[: len(data) // 2])


@pytest.mark.parametrize("make", [png_declaring, jpeg_declaring], ids=["png", "jpeg"])
def test_decompression_bomb_refused_from_header(make, no_pixel_decoding):
    data = make(40000, 40000)
    assert len(data) < 1000
    with pytest.raises(ImageError, match="pixels"):
        read_image(data)


def test_own_pixel_limit_below_pillows(no_pixel_decoding):
    # 60 MP is under Pillow's own bomb warning (89 MP) but over our 50 MP limit.
    with pytest.raises(ImageError, match="10000x6000 = 60,000,000 pixels, over the limit"):
        read_image(png_declaring(10000, 6000))
    with pytest.raises(ImageError, match="over the limit of 100"):
        open_image(png_declaring(20, 20), max_pixels=100)


def test_unsupported_source_type():
    with pytest.raises(ImageError, match="cannot read an image from a int"):
        read_image(42)


# ---------------------------------------------------------------- accepted inputs

def test_rgb_png_round_trip_is_bgr(tmp_path):
    rgb = gradient_rgb()
    path = tmp_path / "g.png"
    path.write_bytes(encode(Image.fromarray(rgb), "PNG"))
    bgr = read_image(path)
    assert bgr.dtype == np.uint8 and bgr.shape == (30, 40, 3)
    np.testing.assert_array_equal(bgr, rgb[:, :, ::-1])
    with open(path, "rb") as handle:  # file objects work too
        np.testing.assert_array_equal(read_image(handle), bgr)


def test_one_pixel_image():
    image = read_image(encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"))
    assert image.shape == (1, 1, 3) and image[0, 0].tolist() == [30, 20, 10]


def test_sixteen_bit_gray_is_scaled_to_eight_bits():
    values = np.array([[0, 256, 65535, 32768]], np.uint16)
    ok, buffer = cv2.imencode(".png", values)
    image = read_image(buffer.tobytes())
    assert image.shape == (1, 4, 3)
    assert image[0, :, 0].tolist() == [0, 1, 255, 128]


def test_sixteen_bit_colour():
    values = np.zeros((2, 2, 3), np.uint16)
    values[..., 2] = 65535  # red in BGR order
    ok, buffer = cv2.imencode(".png", values)
    image = read_image(buffer.tobytes())
    assert image.dtype == np.uint8 and image[0, 0].tolist() == [0, 0, 255]


def test_rgba_is_flattened_on_white():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[0, 1] = (255, 0, 0, 0)  # transparent
    image = read_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert image[0, 0].tolist() == [0, 0, 255]
    assert image[0, 1].tolist() == [255, 255, 255]


def test_palette_and_gray_images():
    palette = Image.fromarray(gradient_rgb()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    image = read_image(encode(palette, "PNG"))
    assert image.shape == (30, 40, 3)
    transparent = encode(palette, "GIF", transparency=0)
    assert read_image(transparent).shape == (30, 40, 3)
    gray = read_image(encode(Image.new("L", (5, 4), 77), "PNG"))
    assert gray.shape == (4, 5, 3) and (gray == 77).all()


def test_cmyk_jpeg():
    image = read_image(encode(Image.new("CMYK", (6, 6), (0, 0, 0, 0)), "JPEG"))
    assert image.shape == (6, 6, 3) and image.min() > 240


def test_exif_rotation_is_applied():
    rgb = gradient_rgb(40, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    data = encode(Image.fromarray(rgb), "JPEG", exif=exif.tobytes(), quality=95)
    image = read_image(data)
    assert image.shape == (40, 30, 3)
    expected = np.rot90(rgb, k=-1)[:, :, ::-1]
    assert np.abs(image.astype(int) - expected.astype(int)).mean() < 6
