"""Real-browser tests: a fake camera streams a face into the live page; a photo and a video are uploaded;
the annotated videos FER Studio writes play in Chromium.

Headless Debian Chromium through Playwright, inside a network namespace with only
loopback (``unshare -n``, so root), following ``shared/notes/webrtc-e2e.md``.
Skipped, with the reason, where Chromium, Playwright or root is missing
(``make test`` installs Chromium when run as root). Screenshots go to
``test-artifacts/screenshots/`` (git-ignored).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_core.app.photo import encode_png
from tests.app.test_video_analysis import moving_face_clip
from tests.inference_models import astronaut_bgr, tiny_models

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "browser_driver.py"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("FER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def browser_skip_reason():
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (as root, `make test` installs it: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (requirements-dev.txt)"
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return "needs root and unshare for a loopback-only network namespace"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        return f"unshare -n is not allowed here ({probe.stderr.decode().strip()})"
    return None


pytestmark = pytest.mark.skipif(browser_skip_reason() is not None, reason=str(browser_skip_reason()))


@pytest.fixture(scope="module")
def server_env(tmp_path_factory):
    """The app's server runs the tiny test models, with the loopback ICE patch on."""
    paths = tiny_models(tmp_path_factory)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return dict(os.environ, FER_EMOTION_MODEL=str(paths["emotion_keras"]),
                FER_KEYPOINT_MODEL=str(paths["keypoints_keras"]), FER_TEST_LOOPBACK_ICE="1",
                FER_ICE_SERVERS="", FER_CHROMIUM=CHROMIUM, PYTHONPATH=str(ROOT))


def write_y4m(path, frames=30):
    """The fake camera: the astronaut in a 640x480 frame, drifting 1 px a frame (Chromium loops it)."""
    face = cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2RGB)[:480]
    with open(path, "wb") as file:
        file.write(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n")
        for index in range(frames):
            frame = np.full((480, 640, 3), 70, np.uint8)
            frame[:, 50 + index:562 + index] = face
            file.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())


def run_driver(arguments, env, tmp_path):
    """Runs the browser driver in a fresh network namespace with only loopback up."""
    command = " ".join([sys.executable, str(DRIVER)] + [f"'{a}'" for a in arguments])
    log = tmp_path / "server.log"
    done = subprocess.run(["unshare", "-n", "bash", "-c", f"ip link set lo up && exec {command} "
                                                            f"--server-log '{log}'"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=90)
    server_log = log.read_text()[-3000:] if log.is_file() else ""
    assert done.returncode == 0, f"{done.stderr[-3000:]}\n--- server log ---\n{server_log}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_live_page_annotates_a_fake_camera_stream(server_env, tmp_path):
    y4m, records = tmp_path / "camera.y4m", tmp_path / "records.jsonl"
    write_y4m(y4m)
    env = dict(server_env, FER_LIVE_RECORD_PATH=str(records))
    shot = SCREENSHOTS / "live_webcam.png"
    seen = run_driver(["live", "--y4m", str(y4m), "--records", str(records), "--shot", str(shot)], env, tmp_path)
    # On the server side: the video callback received the browser's frames and labelled the face.
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    labelled = [line for line in lines if line["faces"] and line["faces"][0]["label"]]
    assert len(labelled) >= 10, (seen, lines[-3:])
    assert seen["annotated_frames"] >= 10
    face = labelled[-1]["faces"][0]
    x, y, w, h = face["box"]
    assert 250 < x + w / 2 < 320 and 80 < y + h / 2 < 150  # the astronaut's face, in camera pixels
    assert face["label"] in face["probs"] and labelled[-1]["latency_ms"] > 0
    assert seen["timeline_charts"] >= 1 and shot.is_file()
    assert seen["metrics"] == ["1"] and not seen["speed_on_page"]  # one readout: the one drawn on the video
    assert seen["metrics_stopped"] == ["-"]  # after STOP: no stale face count
    assert not seen["ice_help_shown"]  # the STUN/TURN help is collapsed
    assert all(section in seen["navigation"] for section in ("Home", "Use a model", "Data", "Training"))


def test_photo_page_uploads_a_photo_in_the_browser(server_env, tmp_path):
    photo = tmp_path / "astronaut.png"
    photo.write_bytes(encode_png(astronaut_bgr()))
    shot = SCREENSHOTS / "photo.png"
    seen = run_driver(["photo", "--photo", str(photo), "--shot", str(shot)], server_env, tmp_path)
    assert "512x512, 1 face(s)" in seen["caption"] and "(decoding " in seen["caption"]
    assert "20MB per file" in seen["uploader"] and "200MB" not in seen["uploader"]
    assert all(section in seen["navigation"] for section in ("Home", "Use a model", "Data", "Training"))
    assert seen["charts"] >= 1 and seen["errors"] == [] and shot.is_file()
    assert seen["saliency_caption"].startswith("occlusion: where face 1 looks")


def played(video):
    """Whether a <video> played: data for the current frame (readyState 2+), its clock moving, no error."""
    return video["error"] is None and video["readyState"] >= 2 and video["currentTime"] > video["start"]


def test_video_page_shows_an_annotated_video_that_plays(server_env, tmp_path):
    clip = moving_face_clip(tmp_path / "clip.mp4", frames=30)  # 2.5 s at 12 fps
    shot = SCREENSHOTS / "video.png"
    seen = run_driver(["video", "--video", str(clip), "--shot", str(shot)], server_env, tmp_path)
    video = seen["video"]
    assert played(video) and video["played"] == "resolved", video
    assert (video["width"], video["height"]) == (480, 360) and video["duration"] == pytest.approx(2.5, abs=0.1)
    assert "200MB per file" in seen["uploader"]
    assert seen["metrics"][:2] == ["30", "1"] and seen["charts"] == 1 and seen["errors"] == []
    assert seen["downloads"] == ["Annotated video (MP4)", "Results per face and frame (CSV)"]
    assert "Video" in seen["navigation"] and shot.is_file()


def test_browser_video_writer_files_play_in_chromium_and_opencv_mp4v_files_do_not(server_env, tmp_path):
    """What `predict VIDEO --out` and the Video page write (BrowserVideoWriter's H.264) plays as a file; the
    control, OpenCV's mp4v (MPEG-4 part 2) from the same frames, does not: the check can tell them apart."""
    h264 = moving_face_clip(tmp_path / "h264.mp4")
    capture = cv2.VideoCapture(str(h264))
    writer = cv2.VideoWriter(str(tmp_path / "mp4v.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 12, (480, 360))
    ok, frame = capture.read()
    while ok:
        writer.write(frame)
        ok, frame = capture.read()
    writer.release()
    capture.release()
    seen = run_driver(["videofile", "--video", str(h264), "--video", str(tmp_path / "mp4v.mp4")], server_env, tmp_path)
    assert played(seen["h264.mp4"]) and seen["h264.mp4"]["played"] == "resolved", seen
    assert (seen["h264.mp4"]["width"], seen["h264.mp4"]["height"]) == (480, 360)
    assert not played(seen["mp4v.mp4"]), seen
