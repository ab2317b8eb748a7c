import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from fer_core.errors import ImageError
from fer_core.inference.imageio import decode_image, open_image, read_image, reduction_factor, working_size


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


# ---------------------------------------------------------------- decode_image: minimum, notices, working size

def test_too_small_images_are_refused_from_the_header_when_a_minimum_is_asked(no_pixel_decoding):
    with pytest.raises(ImageError) as error:
        decode_image(png_declaring(1, 1), min_side=24)
    assert str(error.value) == ("image is 1x1 pixels, too small: a face needs at least 24 pixels "
                                "on the short side")
    with pytest.raises(ImageError, match="image is 300x23 pixels, too small"):
        decode_image(png_declaring(300, 23), min_side=24)


def test_the_minimum_side_is_inclusive():
    decoded = decode_image(encode(Image.new("RGB", (24, 30), (1, 2, 3)), "PNG"), min_side=24)
    assert decoded.image.shape == (30, 24, 3) and decoded.notices == [] and not decoded.reduced


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_message_is_one_clean_sentence(fmt):
    rng = np.random.default_rng(0)
    data = encode(Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)), fmt)
    with pytest.raises(ImageError) as error:
        read_image(data[: len(data) // 2])
    assert str(error.value) == "cannot decode image: the file is truncated or corrupt"


def test_an_animated_gif_says_that_only_its_first_frame_is_used():
    frames = [Image.new("RGB", (32, 32), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    decoded = decode_image(buffer.getvalue())
    assert decoded.notices == ["animated image (3 frames): only its first frame is used"]
    assert decoded.image[0, 0].tolist() == [0, 0, 255]  # the first frame (red), in BGR
    assert decode_image(encode(frames[1], "GIF")).notices == []  # a still GIF says nothing


def test_reduction_factor_and_working_size():
    assert reduction_factor((7000, 7000), None) == reduction_factor((2000, 2000), 4_000_000) == 1
    assert reduction_factor((7000, 7000), 4_000_000) == 4 and working_size((7000, 7000), 4_000_000) == (1750, 1750)
    for size in ((6001, 3999), (7071, 7071), (10000, 5000), (2001, 2000)):
        width, height = working_size(size, 4_000_000)
        assert width * height <= 4_000_000 and width * height > 4_000_000 / 4  # bounded, not needlessly small


def test_a_large_jpeg_is_decoded_at_the_working_size_in_the_decoder(monkeypatch):
    rgb = gradient_rgb(4000, 3000)
    data = encode(Image.fromarray(rgb), "JPEG", quality=95)

    def refuse(self, *args, **kwargs):
        raise AssertionError("the full-size JPEG was decoded, then shrunk")
    monkeypatch.setattr(Image.Image, "reduce", refuse)
    monkeypatch.setattr(Image.Image, "resize", refuse)
    decoded = decode_image(data, working_pixels=1_000_000)
    assert decoded.image.shape == (750, 1000, 3) and decoded.original_size == (4000, 3000) and decoded.reduced
    expected = cv2.resize(rgb, (1000, 750), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    assert np.abs(decoded.image.astype(int) - expected).mean() < 4


def test_a_large_png_is_reduced_right_after_decoding_with_exif_rotation_kept():
    rgb = gradient_rgb(3000, 2000)
    decoded = decode_image(encode(Image.fromarray(rgb), "PNG"), working_pixels=1_000_000)
    assert decoded.image.shape == (667, 1000, 3) and decoded.original_size == (3000, 2000)
    expected = cv2.resize(rgb, (1000, 667), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    assert np.abs(decoded.image.astype(int) - expected).mean() < 2
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    rotated = decode_image(encode(Image.fromarray(gradient_rgb(400, 300)), "JPEG", exif=exif.tobytes(),
                                  quality=95), working_pixels=40_000)
    assert rotated.original_size == (300, 400) and rotated.image.shape == (200, 150, 3)
    expected = cv2.resize(np.rot90(gradient_rgb(400, 300), k=-1), (150, 200), interpolation=cv2.INTER_AREA)
    assert np.abs(rotated.image.astype(int) - expected[:, :, ::-1]).mean() < 6


def test_a_large_palette_image_keeps_its_colours_when_reduced():
    palette = Image.fromarray(gradient_rgb(1200, 900)).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    colours = {tuple(c) for c in np.asarray(palette.convert("RGB")).reshape(-1, 3).tolist()}
    decoded = decode_image(encode(palette, "PNG"), working_pixels=100_000)
    assert decoded.image.shape == (225, 300, 3)
    assert {tuple(c[::-1]) for c in decoded.image.reshape(-1, 3).tolist()} <= colours  # no averaged indices


def test_large_images_are_decoded_one_at_a_time(monkeypatch):
    """The full-size pixels of a large image (a PNG's EXIF read included) exist only while LARGE_DECODE is held."""
    from fer_core.inference import imageio

    events = []

    class Spy:
        def __enter__(self):
            events.append("enter")

        def __exit__(self, *exc):
            events.append("exit")

    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: events.append("load") or real_load(self))
    monkeypatch.setattr(imageio, "LARGE_DECODE", Spy())
    monkeypatch.setattr(imageio, "LARGE_IMAGE_PIXELS", 100 * 100)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.fromarray(gradient_rgb(200, 150)), "PNG", exif=exif.tobytes())
    decoded = decode_image(data, working_pixels=5000)
    assert events[0] == "enter" and events.index("load") < events.index("exit")  # nothing decoded before
    assert decoded.original_size == (150, 200) and decoded.image.shape[:2] == (67, 50)  # rotated, reduced
    events.clear()
    decode_image(encode(Image.fromarray(gradient_rgb(80, 60)), "PNG"))
    assert "load" in events and "enter" not in events  # a small image does not wait
