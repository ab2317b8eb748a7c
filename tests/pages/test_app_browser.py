"""Real-browser smoke test of the dashboard: ``streamlit run app.py`` and headless Chromium.

Opens the home page and each data/runs page, waits for its content, saves a
screenshot per page to test-artifacts/screenshots/ (git-ignored) and checks
that no Streamlit exception box is shown. Also measures the time from
``streamlit run`` to the home page being served and rendered.
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
PAGES = (  # (url path, text that shows the page has rendered, screenshot name)
    ("", "FER Studio", "home"),
    ("Dataset_browser", "Dataset browser", "dataset_browser"),
    ("Training_runs", "Training runs", "training_runs"),
    ("Compare_runs", "Compare runs", "compare_runs"),
)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="/usr/bin/chromium is absent (apt-get install -y chromium)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port, process, timeout=60):
    """Polls /_stcore/health until it answers ok; returns the time it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as response:
                if response.read().strip() == b"ok":
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("streamlit did not become healthy")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, started before the server so that it does not count in the timing."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, trained_run_roots, browser):
    port = free_port()
    env = dict(os.environ, FER_RUN_ROOTS=trained_run_roots, PYTHONUNBUFFERED="1")
    log = open(tmp_path_factory.mktemp("streamlit") / "server.log", "w")
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        healthy = wait_healthy(port, process)
        url = f"http://127.0.0.1:{port}"
        page.goto(url)
        page.get_by_role("heading", name="FER Studio").first.wait_for(timeout=60_000)
        rendered = time.monotonic() - started
        yield {"url": url, "page": page, "healthy_s": healthy, "home_rendered_s": rendered}
    finally:
        page.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def wait_for_script(page):
    """Waits until Streamlit has finished the page's script run and its charts and tables have drawn."""
    page.wait_for_function(
        "() => { const app = document.querySelector('[data-testid=\"stApp\"]');"
        " return app && app.dataset.testScriptState === 'notRunning'; }", timeout=120_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
        ".filter(c => c.offsetParent !== null).every(c => c.querySelector('.main-svg'))"
        " && [...document.querySelectorAll('[data-testid=\"stDataFrame\"]')]"
        ".filter(d => d.offsetParent !== null).every(d => d.querySelector('canvas'))", timeout=60_000)
    page.wait_for_timeout(1000)


def test_home_page_opens_fast(server, capsys):
    with capsys.disabled():
        print(f"\nstreamlit run -> /_stcore/health ok: {server['healthy_s']:.2f} s; "
              f"-> home page rendered in Chromium: {server['home_rendered_s']:.2f} s")
    assert server["home_rendered_s"] < 15  # target < 3 s; loose here, the machine is shared


@pytest.mark.parametrize("path, heading, shot", PAGES)
def test_page_renders_without_exception(server, path, heading, shot):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = server["page"]
    page.goto(f"{server['url']}/{path}")
    page.get_by_role("heading", name=heading).first.wait_for(timeout=90_000)
    wait_for_script(page)
    page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception shown on {shot}"


def choose(page, label, option):
    """Picks an option (its text, or a pattern) of the Streamlit selectbox with this label."""
    page.get_by_test_id("stSelectbox").filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=isinstance(option, str)).first.click()
    wait_for_script(page)


def open_tab(page, name):
    page.get_by_role("tab", name=name).click()
    wait_for_script(page)


def click_face(page, cell, grid=0):
    """Clicks face ``cell`` (row by row, 10 a row) of the page's ``grid``-th grid of faces (an st.dataframe of
    78 px image cells under a 35 px header)."""
    frame = page.locator('[data-testid="stDataFrame"] >> visible=true').nth(grid)
    frame.scroll_into_view_if_needed()
    box = frame.bounding_box()
    row, column = divmod(cell, 10)
    page.mouse.move(box["x"] + 78 * column + 39, box["y"] + 35 + 78 * row + 39, steps=5)
    page.wait_for_timeout(300)  # the grid (a canvas) takes a click as a selection once it has seen the pointer
    page.mouse.down()
    page.wait_for_timeout(100)
    page.mouse.up()
    wait_for_script(page)


def goto(server, path, heading):
    """Opens a page of the app and waits until it has drawn; returns the Playwright page."""
    page = server["page"]
    page.goto(f"{server['url']}/{path}")
    page.get_by_role("heading", name=heading).first.wait_for(timeout=90_000)
    wait_for_script(page)
    return page


def test_dataset_browser_tabs_and_a_click_on_a_face(server):
    """Each tab of the Dataset browser, shot; a click on a face of the grid shows that face's details."""
    from fer_core.data import load_dataset

    page = goto(server, "Dataset_browser", "Dataset browser")
    choose(page, "Dataset", "fer2013-sample")
    third = str(load_dataset("fer2013-sample").ids[2])
    assert page.get_by_text(third, exact=True).count() == 0
    click_face(page, 2)
    page.get_by_text(third, exact=True).first.wait_for(timeout=60_000)  # the details' caption and table
    page.screenshot(path=str(SCREENSHOTS / "dataset_samples_clicked.png"), full_page=True)
    choose(page, "Split", "PublicTest")  # other faces on the page: the details go
    page.get_by_text("Click a face in the grid").wait_for(timeout=60_000)
    assert page.get_by_text(third, exact=True).count() == 0
    for tab, shot, last in (("Label distribution", "dataset_distribution", "Samples per class and split"),
                            ("Audit", "dataset_audit", "Near-duplicate pairs (across splits first)")):
        open_tab(page, tab)
        page.get_by_text(last, exact=True).wait_for(timeout=60_000)
        page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0, shot

    choose(page, "Dataset", "ckplus48")
    choose(page, "Model", re.compile(r"^emotion \(default\)"))
    open_tab(page, "Samples")
    choose(page, "Sort by", "mistakenness")
    click_face(page, 0)
    page.get_by_text("model's answer").first.wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "dataset_samples_mistakenness.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0

    choose(page, "Dataset", "fer2013")
    choose(page, "Split", "PrivateTest")
    open_tab(page, "Label noise (FER+)")
    choose(page, "Class pair", re.compile(r"^labelled sad, annotators say neutral"))
    click_face(page, 0)
    page.get_by_text("FER+ annotators' majority").first.wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "dataset_label_noise.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_finished_run_and_embedding_views(server):
    page = server["page"]
    page.goto(f"{server['url']}/Training_runs")
    page.get_by_role("heading", name="Training runs").first.wait_for(timeout=90_000)
    wait_for_script(page)
    choose(page, "Run", "runs/mx-sample")
    page.get_by_text("Most confident mistakes").first.wait_for(timeout=90_000)
    page.get_by_text("test accuracy").first.wait_for(timeout=90_000)
    wait_for_script(page)
    page.screenshot(path=str(SCREENSHOTS / "training_run_finished.png"), full_page=True)
    assert page.locator(".js-plotly-plot").count() >= 4
    assert page.locator('[data-testid="stException"]').count() == 0

    goto(server, "Dataset_browser", "Dataset browser")
    choose(page, "Dataset", "fer2013-sample")
    choose(page, "Model", re.compile(r"^run: runs.mx-sample —"))
    page.get_by_role("tab", name="Embedding").click()
    wait_for_script(page)
    page.get_by_text("Compute an embedding").click()
    page.get_by_text("Download the TensorBoard Projector bundle").wait_for(timeout=120_000)
    wait_for_script(page)
    page.screenshot(path=str(SCREENSHOTS / "dataset_embedding.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0
    # Lasso most of the plot: the selected faces and the first one's details appear.
    box = page.locator(".js-plotly-plot .nsewdrag >> visible=true").first.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x0 + 0.05 * w, y0 + 0.05 * h)
    page.mouse.down()
    for fx, fy in ((0.95, 0.05), (0.95, 0.95), (0.05, 0.95), (0.05, 0.06)):
        page.mouse.move(x0 + fx * w, y0 + fy * h, steps=8)
    page.mouse.up()
    page.get_by_text("selected faces").wait_for(timeout=60_000)
    wait_for_script(page)
    page.screenshot(path=str(SCREENSHOTS / "dataset_embedding_selection.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0
