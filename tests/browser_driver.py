"""Drives FER Studio in a real headless Chromium (Playwright): the live webcam and photo pages.

Run by ``tests/pages/test_browser.py`` inside a network namespace that has only loopback
(``unshare -n``), so nothing outside the machine is reached. It starts the app's
server, opens one page, does what a user would do, saves a screenshot and prints a
JSON line with what it saw. The assertions on the server side (frames annotated)
are made by the test from the server's record file.

    python tests/browser_driver.py live  --y4m cam.y4m --shot live.png --records records.jsonl
    python tests/browser_driver.py photo --photo me.png --shot photo.png
"""

import argparse
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
    timeline = page.locator(".js-plotly-plot").count()
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", choices=["live", "photo"])
    parser.add_argument("--y4m", help="fake camera video (live)")
    parser.add_argument("--photo", help="photo to upload (photo)")
    parser.add_argument("--records", help="the server's record file (live)")
    parser.add_argument("--frames", type=int, default=10, help="annotated frames to wait for (live)")
    parser.add_argument("--shot", required=True, help="screenshot path")
    parser.add_argument("--server-log", default=os.devnull)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    port = free_port()
    server = start_server(port, args.server_log)
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
            seen = drive_live(page, url, args) if args.page == "live" else drive_photo(page, url, args)
            context.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
