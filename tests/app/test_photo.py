"""fer_core.app.photo (decode, analyse, downloads, chart) and fer_core.app.resources (which models the pages run)."""

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fer_core.errors import ImageError
from fer_core.app import photo as photo_module
from fer_core.app.photo import (EncodedImages, PixelBudget, analyse_photo, decode_photo, download_name, encode_png,
                                face_title, probability_figure)
from fer_core.inference.pipeline import FacePipeline, FaceResult
from fer_core.inference.runtime import default_model_path
from fer_core.app.resources import configured_model_path, load_face_models
from tests.inference_models import astronaut_bgr, tiny_models


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    paths = tiny_models(tmp_path_factory)
    return load_face_models(paths["emotion_keras"], paths["keypoints_keras"])


@pytest.fixture(scope="module")
def astronaut_png():
    return encode_png(astronaut_bgr())


def test_decode_photo_accepts_images_and_refuses_the_rest_in_one_line(astronaut_png):
    assert decode_photo("a.png", astronaut_png).image.shape == (512, 512, 3)
    assert decode_photo("sample", astronaut_bgr()).image.shape == (512, 512, 3)
    jpeg = cv2.imencode(".jpg", astronaut_bgr())[1].tobytes()
    cases = {b"hello, not a picture": "notes.png: not an image file (unknown or corrupt format)",
             jpeg[: len(jpeg) // 3]: "cut.jpg: cannot decode image: the file is truncated or corrupt",
             b"": "empty.png: empty file (0 bytes)",
             encode_png(np.zeros((1, 1, 3), np.uint8)): "tiny.png: image is 1x1 pixels, too small: a face needs "
                                                        "at least 24 pixels on the short side"}
    for (data, message), name in zip(cases.items(), ("notes.png", "cut.jpg", "empty.png", "tiny.png")):
        with pytest.raises(ImageError) as error:
            decode_photo(name, data)
        assert str(error.value) == message
    with pytest.raises(ImageError, match=r"big.png: 1.0 MB, over the 0 MB limit"):
        decode_photo("big.png", b"x" * 1048576, max_bytes=1000)


def test_an_animated_gif_is_analysed_with_a_notice(models):
    face = Image.fromarray(cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2RGB))
    buffer = io.BytesIO()
    face.save(buffer, format="GIF", save_all=True, append_images=[face.rotate(90), face.rotate(180)])
    analysis = analyse_photo("moving.gif", buffer.getvalue(), FacePipeline("haar", models.emotion, None))
    assert analysis.notices == ["animated image (3 frames): only its first frame is used"]
    assert len(analysis.results) == 1  # the upright first frame
    assert analyse_photo("still.png", encode_png(astronaut_bgr()), FacePipeline("haar")).notices == []


def test_the_pixel_budget_refuses_photos_beyond_it_from_their_header(astronaut_png):
    budget = PixelBudget(total=3 * 512 * 512)
    for name in ("a.png", "b.png", "c.png"):
        decode_photo(name, astronaut_png, budget=budget)
    assert budget.used == budget.total
    with pytest.raises(ImageError) as error:
        decode_photo("d.png", astronaut_png, budget=budget)
    assert str(error.value) == ("d.png: not analysed: the photos before it take 0.8 of the 1 megapixels "
                                "analysed at once; remove some photos")
    header_only = struct.pack(">IIBBBBB", 7000, 7000, 8, 2, 0, 0, 0)  # a 7000x7000 RGB PNG header, no pixels
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header_only) + png_chunk(b"IEND", b"")
    with pytest.raises(ImageError, match="e.png: not analysed"):  # charged its working size, not decoded
        decode_photo("e.png", png, budget=PixelBudget(total=photo_module.WORKING_PIXELS - 1))
    with pytest.raises(ImageError, match="sample: not analysed"):
        decode_photo("sample", astronaut_bgr(), budget=PixelBudget(total=1000))


def test_encoded_images_are_reused_by_content(monkeypatch):
    calls = []
    real_imencode = cv2.imencode
    monkeypatch.setattr(photo_module.cv2, "imencode", lambda *a: calls.append(a[0]) or real_imencode(*a))
    encoded = EncodedImages(max_entries=2)
    image = astronaut_bgr()
    first = encoded.encode(image, ".png")
    assert encoded.encode(image.copy(), ".png") == first and calls == [".png"]  # same content: not encoded again
    assert (encoded.hits, encoded.misses) == (1, 1)
    jpeg = encoded.encode(image, ".jpg", max_width=256)
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (256, 256, 3)
    changed = image.copy()
    changed[0, 0] += 1
    encoded.encode(changed, ".png")
    assert calls == [".png", ".jpg", ".png"] and len(encoded.entries) == 2  # the oldest was dropped
    encoded.encode(image, ".png")
    assert calls[-1] == ".png" and len(calls) == 4


def test_the_time_shown_is_the_whole_wait_and_a_rerun_does_not_encode_again(models, astronaut_png):
    pipeline = FacePipeline("haar", models.emotion, models.keypoints)
    encoded = EncodedImages()
    analysis = analyse_photo("me.png", astronaut_png, pipeline, encoded=encoded)
    timings = analysis.timings
    parts = timings["decode"] + timings["total"] + timings["draw"] + timings["encode"]
    assert timings["waited"] == pytest.approx(parts, abs=0.002) and timings["waited"] > timings["total"]
    caption = analysis.caption()
    assert caption.startswith("512x512, 1 face(s), ") and "(decoding " in caption and "encoding " in caption
    again = analyse_photo("me.png", astronaut_png, pipeline, encoded=encoded)
    assert again.shown == analysis.shown and (encoded.hits, encoded.misses) == (1, 1)
    png = again.png_bytes()
    assert again.png_bytes() == png and (encoded.hits, encoded.misses) == (2, 2)
    assert photo_module.format_seconds(0.1234) == "123 ms" and photo_module.format_seconds(8.04) == "8.0 s"


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def write_big_png(path, side):
    """A side x side RGB PNG of the astronaut (scaled up, nearest), written row by row (little memory)."""
    face = cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2RGB)
    columns = np.arange(side) * 512 // side
    compressor = zlib.compressobj(6)
    parts = []
    for y in range(side):
        parts.append(compressor.compress(b"\x00" + face[y * 512 // side, columns].tobytes()))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", b"".join(parts))
                     + png_chunk(b"IEND", b""))


PEAK_MEMORY = """
import json, resource, sys
from fer_core.app.photo import EncodedImages, analyse_photo
from fer_core.inference.pipeline import FacePipeline
from tests.inference_models import astronaut_bgr
pipeline = FacePipeline("haar")
analyse_photo("warm.png", astronaut_bgr(), pipeline).png_bytes()
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
analysis = analyse_photo("big.png", data, pipeline, encoded=EncodedImages())
analysis.png_bytes()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"increase_mb": (after - before) / 1024, "caption": analysis.caption(),
                  "shape": analysis.image.shape, "json": analysis.to_json()}))
"""


def test_a_7000_pixel_png_is_analysed_at_the_working_size_in_bounded_memory(tmp_path):
    """Before the working size, this photo made the analysis (and PNG download) peak 653 MB higher."""
    path = tmp_path / "big.png"
    write_big_png(path, 7000)
    assert path.stat().st_size < photo_module.MAX_UPLOAD_BYTES
    done = subprocess.run([sys.executable, "-c", PEAK_MEMORY, str(path)], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[2],
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])))
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["shape"] == [1750, 1750, 3]
    assert seen["caption"].startswith("7000x7000 photo analysed at 1750x1750, 1 face(s), ")
    assert (seen["json"]["width"], seen["json"]["original_width"]) == (1750, 7000)
    assert seen["increase_mb"] < 300, seen  # one 49 MP decode buffer (Pillow: 4 bytes a pixel), not several


def test_analyse_photo_finds_classifies_and_draws_the_face(models, astronaut_png):
    pipeline = FacePipeline("haar", models.emotion, models.keypoints)
    analysis = analyse_photo("astronaut.png", astronaut_png, pipeline)
    (face,) = analysis.results
    assert face.label in models.label_names and face.keypoints.shape == (15, 2)
    data = json.loads(json.dumps(analysis.to_json()))
    assert data["image"] == "astronaut.png" and (data["width"], data["height"]) == (512, 512)
    assert (data["original_width"], data["original_height"]) == (512, 512)
    assert data["faces"][0]["label"] == face.label and "nose_tip" in data["faces"][0]["keypoints"]
    png = cv2.imdecode(np.frombuffer(analysis.png_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(png, analysis.annotated) and not np.array_equal(png, analysis.image)
    plain = analyse_photo("astronaut.png", astronaut_png, pipeline, draw_keypoints=False)
    assert plain.results[0].keypoints is not None  # kept in the JSON, not drawn
    assert not np.array_equal(plain.annotated, analysis.annotated)


def test_probability_figure_puts_the_top_class_on_top(models):
    pipeline = FacePipeline("haar", models.emotion, None)
    (face,) = pipeline(astronaut_bgr())
    figure = probability_figure(face)
    bars = figure.data[0]
    assert list(bars.y)[-1] == face.label and list(bars.x) == sorted(bars.x)
    assert figure.layout.title.text.startswith(face.label)


def test_a_face_chart_title_says_uncertain_and_names_the_runner_up_when_the_top_two_are_close():
    sure = FaceResult((0, 0, 10, 10), {"happy": 0.87, "sad": 0.08, "neutral": 0.05}, "happy")
    close = FaceResult((0, 0, 10, 10), {"happy": 0.41, "sad": 0.33, "neutral": 0.26}, "happy")
    just_apart = FaceResult((0, 0, 10, 10), {"happy": 0.50, "sad": 0.34, "neutral": 0.16}, "happy")  # 16 points
    assert face_title(1, sure) == "Face 1: happy 87%"
    assert face_title(2, close) == "Face 2: happy 41%, uncertain (sad 33%)"
    assert face_title(3, just_apart) == "Face 3: happy 50%"


def test_download_name():
    assert download_name("me.jpg", "_annotated.png") == "me_annotated.png"
    assert download_name("noext", "_faces.json") == "noext_faces.json"


def test_model_paths_come_from_the_environment_or_the_shipped_defaults(tmp_path):
    assert configured_model_path("emotion", environ={}) == default_model_path("emotion")
    assert configured_model_path("keypoints", environ={"FER_KEYPOINT_MODEL": str(tmp_path / "k.tflite")}) \
        == tmp_path / "k.tflite"


def test_missing_or_broken_models_give_a_note_not_an_error(tmp_path, models):
    broken = tmp_path / "emotion.tflite"
    broken.write_bytes(b"not a model")
    loaded = load_face_models(tmp_path / "nothing.keras", broken)
    assert loaded.emotion is None and loaded.keypoints is None and loaded.label_names == ()
    assert "No emotion model at" in loaded.notes["emotion"] and "python -m fer_core train" in loaded.notes["emotion"]
    assert "could not be loaded" in loaded.notes["keypoints"]
    assert models.notes == {} and models.emotion.backend == "litert"  # the .tflite beside the .keras


def test_a_page_opened_first_by_its_url_switches_to_the_app_navigation(monkeypatch):
    from streamlit.runtime.pages_manager import PagesManager

    from fer_core.app import resources

    reruns = []
    monkeypatch.setattr(resources.st, "rerun", lambda: reruns.append(True))
    monkeypatch.setattr(PagesManager, "uses_pages_directory", True)  # a new server, pages/ beside app.py
    resources.use_app_navigation()
    assert PagesManager.uses_pages_directory is False and reruns == [True]
    resources.use_app_navigation()  # under app.py's navigation already: nothing to do
    assert reruns == [True]
