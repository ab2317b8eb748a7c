"""The Training runs and Compare runs pages in a real headless Chromium (``streamlit run app.py``): a click on a
confusion-matrix cell shows that cell's faces, a keypoint run's worst faces, a refused start and a real smoke
run that the page follows and stops, and the Compare page with a keypoint run on its own axes. Screenshots go
to test-artifacts/screenshots/ (git-ignored)."""

import os
import subprocess
import sys
import time

import pytest

from fer_core.runs import jobs
from tests.pages.test_app_browser import (  # noqa: F401  (browser: a fixture)
    ARGS, CHROMIUM, ROOT, SCREENSHOTS, browser, choose, free_port, wait_for_script, wait_healthy,
)
from tests.pages.test_app_pages import committed_runs

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="/usr/bin/chromium is absent (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def runs_server(tmp_path_factory, trained_run_roots, browser):  # noqa: F811
    """The app over the trained runs, copies of two committed run records and an empty root for new runs."""
    committed = committed_runs(tmp_path_factory.mktemp("committed") / "committed", "lenet5-ckplus48",
                               "keypoint_cnn-keypoints")
    new_runs = tmp_path_factory.mktemp("new") / "new-runs"
    new_runs.mkdir()
    port = free_port()
    env = dict(os.environ, FER_RUN_ROOTS=os.pathsep.join([trained_run_roots, str(committed), str(new_runs)]),
               PYTHONUNBUFFERED="1")
    env.pop("FER_MAX_JOBS", None)
    log = open(tmp_path_factory.mktemp("streamlit") / "server.log", "w")
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(port, process)
        yield {"url": f"http://127.0.0.1:{port}", "page": page, "new_runs": new_runs}
    finally:
        page.close()
        for job in new_runs.glob("*/job.json"):
            jobs.stop_job(job.parent, timeout=2)
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def open_page(server, path, heading):
    page = server["page"]
    page.goto(f"{server['url']}/{path}")
    page.get_by_role("heading", name=heading).first.wait_for(timeout=90_000)
    wait_for_script(page)
    return page


def no_exception(page, shot):
    wait_for_script(page)
    page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception shown on {shot}"


def shot_of(page, key, shot):
    """A screenshot of the window scrolled to the element with this key (the app scrolls inside itself)."""
    page.locator(f".st-key-{key}").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"))


def click_cell(page, row, column, classes):
    """Clicks the centre of a cell of the confusion matrix (rows true from the top, columns predicted)."""
    area = page.locator(".st-key-confusion .nsewdrag").first
    area.scroll_into_view_if_needed()
    box = area.bounding_box()
    page.mouse.click(box["x"] + (column + 0.5) * box["width"] / classes,
                     box["y"] + (row + 0.5) * box["height"] / classes)
    wait_for_script(page)


def test_a_click_on_a_confusion_cell_shows_its_faces(runs_server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = open_page(runs_server, "Training_runs", "Training runs")
    choose(page, "Run", "committed/lenet5-ckplus48")
    page.get_by_text("True anger, predicted sadness: 9 faces").wait_for(timeout=90_000)  # the most confused pair
    wait_for_script(page)
    no_exception(page, "training_run_classification")
    assert page.get_by_text("n/a").count() >= 3  # contempt: absent from this fold's test split
    click_cell(page, 2, 3, 7)  # true disgust, predicted fear
    page.get_by_text("True disgust, predicted fear: 5 faces").wait_for(timeout=60_000)
    wait_for_script(page)
    no_exception(page, "training_run_cell_clicked")
    page.get_by_text("Expected calibration error (ECE, 15 bins)").wait_for(timeout=30_000)
    shot_of(page, "reliability", "training_run_calibration")


def test_a_keypoint_runs_worst_faces(runs_server):
    page = open_page(runs_server, "Training_runs", "Training runs")
    choose(page, "Run", "committed/keypoint_cnn-keypoints")
    page.get_by_text("green: true points").wait_for(timeout=120_000)
    wait_for_script(page)
    assert page.get_by_text("1.827 px").count() >= 1
    no_exception(page, "training_run_keypoints")


def test_an_impossible_run_is_refused_and_a_smoke_run_is_followed_and_stopped(runs_server):
    page = open_page(runs_server, "Training_runs", "Training runs")
    page.get_by_role("tab", name="Start a new run").click()
    wait_for_script(page)
    page.get_by_text("The defaults are a").wait_for(timeout=30_000)
    choose(page, "Model", "keypoint_cnn")
    choose(page, "Dataset", "fer2013-sample")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("keypoint_cnn is a keypoints model but fer2013-sample is a classification dataset").wait_for(
        timeout=60_000)
    no_exception(page, "training_run_refused")
    assert not any(runs_server["new_runs"].iterdir())

    choose(page, "Model", "mini_xception")
    page.get_by_label("Epochs (smoke test: 3)").fill("1")
    page.get_by_label("Samples per split (0 = all; smoke test: 256)").fill("64")
    page.get_by_label("Run name (folder under runs/)").fill("browser-smoke")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Started (process").wait_for(timeout=60_000)  # shown in the run's tab, which is open
    assert page.get_by_role("tab", name="Run record").get_attribute("aria-selected") == "true"
    page.get_by_text("new-runs/browser-smoke", exact=True).first.wait_for(timeout=10_000)  # the run's caption
    page.get_by_role("button", name="Stop").wait_for(timeout=30_000)
    no_exception(page, "training_run_followed")
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped. Resume goes on from the last finished epoch.").wait_for(timeout=60_000)
    deadline = time.time() + 30
    while jobs.running_jobs([runs_server["new_runs"]]) and time.time() < deadline:
        time.sleep(0.2)
    assert not jobs.running_jobs([runs_server["new_runs"]])


def test_compare_runs_keeps_tasks_on_their_own_axes(runs_server):
    page = open_page(runs_server, "Compare_runs", "Compare runs")
    no_exception(page, "compare_runs_default")
    picker = page.get_by_test_id("stMultiSelect").first
    picker.click()
    page.get_by_role("option", name="committed/keypoint_cnn-keypoints").click()
    page.keyboard.press("Escape")
    wait_for_script(page)
    page.locator(".st-key-overlaid_curves_keypoints .main-svg").first.wait_for(timeout=60_000)
    wait_for_script(page)
    assert page.locator(".st-key-overlaid_curves_classification .main-svg").count() >= 1
    assert page.locator(".st-key-per_class_deltas .main-svg").count() >= 1
    no_exception(page, "compare_runs_tasks")
    shot_of(page, "per_class_deltas", "compare_runs_two_runs")
