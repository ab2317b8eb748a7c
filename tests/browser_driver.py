"""Drives FER Studio in a real headless Chromium (Playwright): the live webcam, photo and video pages.

Run by ``tests/pages/test_browser.py`` inside a network namespace that has only loopback
(``unshare -n``), so nothing outside the machine is reached. It starts the app's
server, opens one page, does what a user would do, saves a screenshot and prints a
JSON line with what it saw. The assertions on the server side (frames annotated)
are made by the test from the server's record file.

    python tests/browser_driver.py live  --y4m cam.y4m --shot live.png --records records.jsonl
    python tests/browser_driver.py photo --photo me.png --shot photo.png
    python tests/browser_driver.py video --video clip.mp4 --shot video.png
    python tests/browser_driver.py videofile --video clip.mp4 --video other.mp4   # no server: plays files
"""

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("FER_CHROMIUM", "/usr/bin/chromium")
QUIET_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run", "--disable-quic"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port, log_path):
    """Starts ``streamlit run app.py`` on 127.0.0.1 and waits until it is healthy."""
    log = open(log_path, "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as reply:
                if reply.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError(f"the server did not become healthy; see {log_path}")


def count_annotated(records_path):
    """Frames the server's callback recorded with at least one emotion label."""
    if not Path(records_path).is_file():
        return 0
    lines = Path(records_path).read_text().splitlines()
    return sum(1 for line in lines if any(face.get("label") for face in json.loads(line)["faces"]))


def drive_live(page, url, args):
    page.goto(f"{url}/Live_webcam")
    page.get_by_text("Live webcam", exact=True).first.wait_for(timeout=30000)
    component = page.frame_locator('iframe[title*="webrtc_streamer"]')
    component.get_by_role("button", name="START").click(timeout=30000)
    deadline = time.time() + 30
    while time.time() < deadline and count_annotated(args.records) < args.frames:
        time.sleep(0.5)
    annotated = count_annotated(args.records)
    # The page's fragment drains the records and redraws the timeline once a second.
    page.locator(".js-plotly-plot").first.wait_for(timeout=20000)
    page.wait_for_timeout(1500)
    page.screenshot(path=args.shot, full_page=True)
    # Counted when the chart is on the page: the fragment redraws it each second, and on a loaded
    # machine a count taken mid-redraw can see none.
    timeline = page.wait_for_function(
        "() => document.querySelectorAll('.js-plotly-plot').length || null", timeout=20000).json_value()
    metrics = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    help_shown = page.get_by_text("FER_ICE_SERVERS").first.is_visible()
    speed_on_page = page.get_by_text(" fps | ").count()
    component.get_by_role("button", name="STOP").click(timeout=10000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stMetricValue\"]')].every(m => m.innerText === '-')",
        timeout=20000)
    page.screenshot(path=args.shot.replace(".png", "_stopped.png"), full_page=True)
    return {"annotated_frames": annotated, "timeline_charts": timeline, "metrics": metrics,
            "metrics_stopped": page.locator('[data-testid="stMetricValue"]').all_inner_texts(),
            "ice_help_shown": help_shown, "speed_on_page": speed_on_page, "navigation": page.locator('[data-testid="stSidebarNav"]').inner_text()}


def drive_photo(page, url, args):
    page.goto(f"{url}/Photo")
    page.get_by_text("Upload a photo, take one").wait_for(timeout=30000)
    uploader = page.locator('[data-testid="stFileUploader"]').first.inner_text()  # its limit, before a file
    page.locator('input[type="file"]').first.set_input_files(args.photo)
    caption = page.get_by_text("face(s)").first
    caption.wait_for(timeout=30000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=15000)
    page.wait_for_timeout(1000)
    page.screenshot(path=args.shot, full_page=True)
    seen = {"caption": caption.inner_text(), "charts": page.locator(".js-plotly-plot").count(),
            "errors": page.locator('[data-testid="stAlertContentError"]').all_inner_texts(),
            "uploader": uploader, "navigation": page.locator('[data-testid="stSidebarNav"]').inner_text()}
    page.get_by_text("Saliency map", exact=True).click()
    saliency = page.get_by_text("occlusion: where face 1 looks").first
    saliency.wait_for(timeout=30000)
    page.wait_for_timeout(1000)
    page.screenshot(path=args.shot.replace(".png", "_saliency.png"), full_page=True)
    seen["saliency_caption"] = saliency.inner_text()
    return seen


# Plays a <video> muted and reports whether it played: its readyState, whether currentTime moved, and
# its error code. Waits at most 10 s for data (a video Chromium cannot decode reports an error instead).
PLAY_VIDEO = """async (video) => {
    video.muted = true;
    const settle = (events, ms) => new Promise(resolve => {
        const timer = setTimeout(resolve, ms);
        for (const name of events) video.addEventListener(name, () => { clearTimeout(timer); resolve(); }, {once: true});
    });
    if (video.readyState < 2 && !video.error) await settle(["loadeddata", "error"], 10000);
    let played = null;
    try { await video.play(); played = "resolved"; } catch (error) { played = String(error); }
    const start = video.currentTime;
    await settle([], 1200);
    return {readyState: video.readyState, start: start, currentTime: video.currentTime, played: played,
            error: video.error ? video.error.code : null, width: video.videoWidth, height: video.videoHeight,
            duration: video.duration};
}"""


def drive_video(page, url, args):
    page.goto(f"{url}/Video")
    page.get_by_text("Upload a video to see").wait_for(timeout=30000)
    uploader = page.locator('[data-testid="stFileUploader"]').first.inner_text()  # its limit, before a file
    page.locator('input[type="file"]').first.set_input_files(args.video[0])
    video = page.locator("video").first
    video.wait_for(timeout=60000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30000)
    playing = video.evaluate(PLAY_VIDEO)
    video.evaluate("video => video.pause()")
    page.wait_for_timeout(500)
    page.screenshot(path=args.shot, full_page=True)
    return {"uploader": uploader, "video": playing, "charts": page.locator(".js-plotly-plot").count(),
            "metrics": page.locator('[data-testid="stMetricValue"]').all_inner_texts(),
            "downloads": page.locator('[data-testid="stDownloadButton"]').all_inner_texts(),
            "errors": page.locator('[data-testid="stAlertContentError"]').all_inner_texts(),
            "navigation": page.locator('[data-testid="stSidebarNav"]').inner_text()}


def drive_video_files(page, args):
    """Plays each file in a page of its own, from a data URL: what a browser does with a downloaded file."""
    seen = {}
    for path in args.video:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        page.set_content(f'<video src="data:video/mp4;base64,{data}"></video>')
        seen[Path(path).name] = page.locator("video").evaluate(PLAY_VIDEO)
    return seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", choices=["live", "photo", "video", "videofile"])
    parser.add_argument("--y4m", help="fake camera video (live)")
    parser.add_argument("--photo", help="photo to upload (photo)")
    parser.add_argument("--video", action="append", help="video to upload (video) or to play (videofile)")
    parser.add_argument("--records", help="the server's record file (live)")
    parser.add_argument("--frames", type=int, default=10, help="annotated frames to wait for (live)")
    parser.add_argument("--shot", help="screenshot path")
    parser.add_argument("--server-log", default=os.devnull)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    port = free_port()
    server = start_server(port, args.server_log) if args.page != "videofile" else None
    browser_args = list(QUIET_ARGS)
    if args.page == "live":
        browser_args += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                         f"--use-file-for-fake-video-capture={args.y4m}", "--allow-loopback-in-peer-connection"]
    try:
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=browser_args,
                viewport={"width": 1400, "height": 1700})
            page = context.new_page()
            url = f"http://127.0.0.1:{port}"
            if args.page == "videofile":
                seen = drive_video_files(page, args)
            else:
                seen = {"live": drive_live, "photo": drive_photo, "video": drive_video}[args.page](page, url, args)
            context.close()
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
