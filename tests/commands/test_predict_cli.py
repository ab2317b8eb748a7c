import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_core import config
from fer_core.cli import main
from fer_core.inference.runtime import shipped_model_exists
from tests.inference_models import astronaut_bgr, tiny_models

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models(tmp_path_factory)


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    """A folder with one good photo and every kind of bad input."""
    folder = tmp_path_factory.mktemp("photos")
    astronaut = astronaut_bgr()
    cv2.imwrite(str(folder / "astronaut.jpg"), astronaut)
    png = cv2.imencode(".png", astronaut)[1].tobytes()
    (folder / "cut.png").write_bytes(png[: len(png) // 3])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.png").write_bytes(b"these are not pixels")
    cv2.imwrite(str(folder / "dot.png"), np.zeros((1, 1, 3), np.uint8))
    (folder / "readme.txt").write_text("ignored: not an image suffix")
    return folder


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A 6-frame 320x240 video of the astronaut's face moving right."""
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    face = cv2.resize(astronaut_bgr()[20:300, 90:370], (180, 180))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for i in range(6):
        frame = np.full((240, 320, 3), 80, np.uint8)
        frame[30:210, 40 + 4 * i:220 + 4 * i] = face
        writer.write(frame)
    writer.release()
    return path


def emotion_args(models):
    return ["--model", str(models["emotion_tflite"]), "--keypoint-model", str(models["keypoints_tflite"])]


@pytest.mark.parametrize("detector", ["haar", "lbp"])
def test_single_image_json(models, photo_dir, capsys, detector):
    assert main(["predict", str(photo_dir / "astronaut.jpg"), "--json", "--detector", detector,
                 *emotion_args(models)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["path"].endswith("astronaut.jpg")
    [face] = record["faces"]
    x, y, w, h = face["box"]
    assert abs(x + w / 2 - 225) < 15 and abs(y + h / 2 - 113) < 15
    assert set(face["probs"]) == set(config.FER2013_EMOTIONS) and face["label"] in face["probs"]
    assert list(face["keypoints"]) == list(config.KEYPOINT_NAMES)


def test_tta_averages_each_face_with_its_mirror(models, photo_dir, capsys):
    from fer_core.inference.runtime import EmotionClassifier

    path = photo_dir / "astronaut.jpg"
    assert main(["predict", str(path), "--json", "--no-keypoints", "--tta", "--no-align",
                 "--model", str(models["emotion_tflite"])]) == 0
    [face] = json.loads(capsys.readouterr().out)["faces"]
    expected = EmotionClassifier.from_path(models["emotion_tflite"]).predict(cv2.imread(str(path)), [face["box"]],
                                                                             flip_tta=True)[0]
    np.testing.assert_allclose([face["probs"][name] for name in config.FER2013_EMOTIONS], expected, atol=1e-3)


def test_folder_with_bad_files_processes_the_rest(models, photo_dir, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["predict", str(photo_dir), "--out", str(out), *emotion_args(models)])
    captured = capsys.readouterr()
    assert status == 1
    lines = captured.out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{photo_dir / 'astronaut.jpg'}: 1 face: ")
    assert lines[1] == f"{photo_dir / 'dot.png'}: no face"
    errors = captured.err.strip().splitlines()
    assert f"error: {photo_dir / 'cut.png'}: cannot decode image: the file is truncated or corrupt" in errors[0]
    assert errors[1] == f"error: {photo_dir / 'empty.jpg'}: empty file (0 bytes)"
    assert errors[2] == f"error: {photo_dir / 'notes.png'}: not an image file (unknown or corrupt format)"
    assert errors[3] == "3 of 5 inputs failed"
    annotated = cv2.imread(str(out / "astronaut.jpg"))
    assert annotated.shape == (512, 512, 3)
    saved = json.loads((out / "astronaut.json").read_text())
    assert len(saved["faces"]) == 1 and saved["faces"][0]["label"]
    assert json.loads((out / "dot.json").read_text())["faces"] == []


def test_face_crops_with_detector_none(models, photo_dir, capsys):
    assert main(["predict", str(photo_dir / "dot.png"), "--detector", "none", "--json", "--no-keypoints",
                 "--model", str(models["emotion_tflite"])]) == 0
    [face] = json.loads(capsys.readouterr().out)["faces"]
    assert face["box"] == [0, 0, 1, 1] and face["label"] in config.FER2013_EMOTIONS


def test_json_mode_reports_errors_as_records(models, photo_dir, capsys):
    status = main(["predict", str(photo_dir / "notes.png"), str(photo_dir / "dot.png"), "--json",
                   "--no-keypoints", "--model", str(models["emotion_tflite"])])
    assert status == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "not an image file" in records[0]["error"]
    assert records[1]["path"] == str(photo_dir / "dot.png") and records[1]["faces"] == []
    assert (records[1]["width"], records[1]["height"]) == (1, 1)


def test_video_gives_per_frame_json_csv_and_annotated_video(models, video, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", str(video), "--json", "--out", str(out), *emotion_args(models)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["frame"] for r in records] == list(range(6))
    assert all(len(r["faces"]) == 1 for r in records)
    assert {r["faces"][0]["track_id"] for r in records} == {1}
    rows = list(csv.DictReader((out / "clip.csv").open()))
    assert len(rows) == 6 and rows[0]["label"] in config.FER2013_EMOTIONS
    assert float(rows[5]["x"]) > float(rows[0]["x"])  # the face moves right
    assert "nose_tip_x" in rows[0] and "p_happy" in rows[0]
    capture = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    assert int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 320
    capture.release()


def test_video_every_and_max_frames(models, video, capsys):
    assert main(["predict", str(video), "--json", "--every", "2", "--max-frames", "2",
                 "--no-keypoints", "--model", str(models["emotion_tflite"])]) == 0
    frames = [json.loads(line)["frame"] for line in capsys.readouterr().out.splitlines()]
    assert frames == [0, 2]


def test_broken_video_is_reported(models, tmp_path, capsys):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    assert main(["predict", str(broken), "--model", str(models["emotion_tflite"])]) == 1
    assert "broken.mp4: not a readable video" in capsys.readouterr().err


def test_model_errors_exit_2(tmp_path, photo_dir, capsys):
    assert main(["predict", str(photo_dir / "dot.png"), "--model", str(tmp_path / "missing.keras")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing.keras'}: no such model file"
    assert main(["predict", str(tmp_path), "--no-emotion"]) == 2
    assert "no image or video found" in capsys.readouterr().err


def test_cli_with_tflite_models_runs_without_tensorflow(models, photo_dir):
    code = ("import sys\nfrom fer_core.cli import main\n"
            f"status = main(['predict', {str(photo_dir / 'astronaut.jpg')!r}, '--json', "
            f"'--model', {str(models['emotion_int8'])!r}, '--keypoint-model', {str(models['keypoints_tflite'])!r}])\n"
            "print(status, 'tensorflow' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    record, status = out.stdout.strip().splitlines()
    assert status == "0 False"
    assert len(json.loads(record)["faces"]) == 1


def test_an_out_folder_that_cannot_be_is_a_usage_error(models, photo_dir, tmp_path, capsys):
    existing = tmp_path / "taken.jpg"
    existing.write_bytes(b"a photo")
    photo = str(photo_dir / "astronaut.jpg")
    assert main(["predict", photo, "--out", str(existing), "--model", str(models["emotion_tflite"])]) == 2
    assert capsys.readouterr().err == f"error: --out {existing}: a file is there, not a folder\n"
    assert main(["predict", photo, "--out", "/proc/x", "--model", str(models["emotion_tflite"])]) == 2
    assert capsys.readouterr().err == "error: --out /proc/x: cannot make this folder (No such file or directory)\n"


def test_inputs_that_are_not_files_are_named(models, photo_dir, tmp_path, capsys):
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    status = main(["predict", str(tmp_path / "loop.jpg"), "/dev/zero", str(photo_dir / "dot.png"), "--no-keypoints",
                   "--model", str(models["emotion_tflite"])])
    assert status == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: {tmp_path / 'loop.jpg'}: a symlink loop", "error: /dev/zero: not a regular file (a character device)",
        "2 of 3 inputs failed"]


# ---------------------------------------------------------------- one analysis path

def one_path_photos(folder):
    """Photos that the CLI and the Photo page must read alike: the astronaut, LFW faces pasted into a larger
    frame, a two-face composite, the astronaut over 4 megapixels (decoded at a fraction of its size), and
    two of the keypoint set's frames when FER_DATA_DIR has them."""
    from skimage import data

    astronaut = astronaut_bgr()
    photos = {"astronaut.png": astronaut}
    lfw = (data.lfw_subset()[:3] * 255).astype(np.uint8)
    frame = np.full((480, 640, 3), 110, np.uint8)
    for i, face in enumerate(lfw):
        frame[60 + 120 * i:60 + 120 * i + 150, 40 + 200 * i:40 + 200 * i + 150] = cv2.cvtColor(
            cv2.resize(face, (150, 150)), cv2.COLOR_GRAY2BGR)
    photos["lfw_three.png"] = frame
    pair = np.full((480, 720, 3), 90, np.uint8)
    pair[40:440, 20:420] = cv2.resize(astronaut[20:340, 70:390], (400, 400), interpolation=cv2.INTER_AREA)
    pair[180:340, 500:660] = cv2.resize(astronaut[20:340, 70:390][:, ::-1], (160, 160), interpolation=cv2.INTER_AREA)
    photos["two_faces.jpg"] = pair
    photos["big.jpg"] = cv2.resize(astronaut, (2300, 2300), interpolation=cv2.INTER_CUBIC)  # 5.3 megapixels
    paths = []
    for name, image in photos.items():
        cv2.imwrite(str(folder / name), image)
        paths.append(folder / name)
    keypoint_test = Path(os.environ.get("FER_DATA_DIR") or "data") / "keypoints" / "test"
    if keypoint_test.is_dir():
        paths += sorted(keypoint_test.glob("*.jpg"))[:2]
    return paths


@pytest.mark.skipif(not (shipped_model_exists("emotion") and shipped_model_exists("keypoints")),
                    reason="no shipped models yet (assets/models)")
def test_predict_json_and_the_photo_page_give_the_same_faces_and_labels(tmp_path):
    from fer_core.app.photo import analyse_photo
    from fer_core.app.resources import load_face_models
    from fer_core.inference.analysis import PHOTO_ANALYSIS

    paths = one_path_photos(tmp_path)
    out = subprocess.run([sys.executable, "-m", "fer_core", "predict", *map(str, paths), "--json"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(path) for path in paths]
    # what the Photo page runs by default: its models (load_face_models), its detector (the settings' shared
    # one), the photo settings, analyse_photo
    models = load_face_models()
    detector = PHOTO_ANALYSIS.shared_detector()
    pipeline = PHOTO_ANALYSIS.pipeline(models.emotion, models.keypoints, detector=detector)
    faces_seen = 0
    for path, line in zip(paths, lines):
        page = analyse_photo(path.name, path.read_bytes(), pipeline).to_json()
        assert line["detector"] == page["detector"] == {"name": "blazeface", "detect_size": 640, "flip_tta": True,
                                                        "align": True, "smoothing": 0, "face_mesh": False}
        assert line["models"] == page["models"] == {"emotion": "assets/models/emotion_int8.tflite",
                                                    "keypoints": "assets/models/keypoints.tflite"}
        assert (line["width"], line["height"]) == (page["width"], page["height"])
        assert line["faces"] == page["faces"], path.name  # the same boxes, labels, probabilities and keypoints
        faces_seen += len(line["faces"])
        assert line["faces"], f"{path.name}: no face found"
    by_name = {Path(line["path"]).name: line for line in lines}
    assert len(by_name["lfw_three.png"]["faces"]) == 3 and len(by_name["two_faces.jpg"]["faces"]) == 2
    assert (by_name["big.jpg"]["width"], by_name["big.jpg"]["original_width"]) == (1150, 2300)
    assert faces_seen >= 8


def test_predict_options_change_the_photo_settings_it_reports(models, photo_dir, capsys):
    assert main(["predict", str(photo_dir / "astronaut.jpg"), "--json", "--detector", "haar", "--detect-size", "320",
                 "--no-tta", "--no-align", "--mesh", *emotion_args(models)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["detector"] == {"name": "haar", "detect_size": 320, "flip_tta": False, "align": False,
                                  "smoothing": 0, "face_mesh": True}
    assert record["models"] == {"emotion": str(models["emotion_tflite"]), "keypoints": str(models["keypoints_tflite"]),
                                "face_mesh": "assets/detectors/face_landmark.tflite"}
    [face] = record["faces"]
    assert len(face["mesh"]) == 468 and "roll" not in face  # Haar gives no eyes: nothing turned
