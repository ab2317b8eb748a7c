"""The home, dataset browser, training runs and compare pages, driven with Streamlit's AppTest."""

import json
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from streamlit.testing.v1 import AppTest

from fer_core.data import load_dataset

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
BROWSER, RUNS, COMPARE = "pages/3_Dataset_browser.py", "pages/4_Training_runs.py", "pages/5_Compare_runs.py"


@pytest.fixture
def env(monkeypatch, data_root, trained_run_roots, tmp_path):
    """Real data, the trained runs, no shipped models."""
    monkeypatch.setenv("FER_DATA_DIR", str(data_root))
    monkeypatch.setenv("FER_RUN_ROOTS", trained_run_roots)
    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path / "no-models"))


@pytest.fixture
def empty_env(monkeypatch, tmp_path):
    """An empty data folder, no runs, no models."""
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FER_RUN_ROOTS", str(tmp_path / "runs"))
    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path / "models"))


def open_page(page=None, **widgets):
    """Runs the app, switches to ``page`` and returns the AppTest after a clean run."""
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at):
    return " ".join(str(e.value) for kind in ("markdown", "info", "warning", "error", "success", "caption")
                    for e in getattr(at, kind))


def user_key(element_id):
    """The user key of an element id (``$$ID-<hash>-<key>``)."""
    return element_id.split("-", 2)[-1] if element_id.startswith("$$ID-") else element_id


def plotly_keys(at):
    return [user_key(chart.proto.id) for chart in at.get("plotly_chart")]


def chart_spec(at, key):
    chart = next(c for c in at.get("plotly_chart") if user_key(c.proto.id) == key)
    return json.loads(chart.proto.spec)


def markdown_rows(at, header):
    """The cells of the markdown table that starts with this header line."""
    text = next(m.value for m in at.markdown if m.value.startswith(header))
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in text.splitlines()[2:]]


def table_with(at, column):
    """The first dataframe shown that has this column (st.dataframe keys are not exposed to AppTest)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def ok(at):
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# --- home ---------------------------------------------------------------------------------------

def test_home_lists_datasets_runs_and_pages(env, data_root):
    from fer_core.data import find_datasets

    at = open_page()
    assert at.title[0].value == "FER Studio"
    table = markdown_rows(at, "| dataset | path |")
    assert [row[0] for row in table] == list(find_datasets(data_root)) and len(table) >= 4
    assert "No shipped model yet" in texts(at) and "3 run record(s)" in texts(at)
    links = [link.proto.label for link in at.get("page_link")]
    assert any(label.startswith("Dataset browser") for label in links)
    assert any(label.startswith("Compare runs") for label in links)


def test_pages_are_grouped_in_sections_and_keep_their_url_paths(empty_env):
    import streamlit as st

    from fer_core.app.page_helpers import PAGE_SECTIONS

    with mock.patch.object(st, "navigation", wraps=st.navigation) as navigation:
        at = open_page()
    (sections,), _ = navigation.call_args
    assert {section: [page.title for page in pages] for section, pages in sections.items()} == {
        "": ["Home"], "Use a model": ["Live webcam", "Photo"], "Data": ["Dataset browser"],
        "Training": ["Training runs", "Compare runs"]}
    assert [page.url_path for section in list(sections)[1:] for page in sections[section]] == [
        "Live_webcam", "Photo", "Dataset_browser", "Training_runs", "Compare_runs"]  # as before: bookmarks work
    files = [path for _, pages in PAGE_SECTIONS for path, *_ in pages]
    assert sorted(files) == sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py"))  # each page once
    assert [m.value for m in at.markdown if m.value.startswith("**")] == ["**Use a model**", "**Data**", "**Training**"]


def test_home_empty_states(empty_env):
    at = open_page()
    shown = texts(at)
    assert "No dataset found" in shown and "fer2013.csv" in shown and "FER_DATA_DIR" in shown
    assert "No shipped model yet" in shown and "0 run record(s)" in shown


def test_home_shows_shipped_models(empty_env, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "emotion.keras").write_bytes(b"k" * 2000)
    (models / "emotion.tflite").write_bytes(b"t" * 500)
    (models / "emotion.json").write_text(json.dumps({"dataset": "fer2013", "task": "classification",
                                                     "metrics": {"accuracy": 0.655}}))
    (models / "emotion.md").write_text("# Model card: emotion\n\nTrained on FER2013.")
    at = open_page()
    assert at.expander[0].label == "Model card: emotion" and "Trained on FER2013." in texts(at)
    assert markdown_rows(at, "| model | dataset | task | test accuracy | test RMSE (px) | size | TFLite |") == [
        ["emotion", "fer2013", "classification", "65.50%", "—", "2.0 KB", "500 B"]]


def test_home_does_not_import_tensorflow(data_root):
    code = ("import sys; from streamlit.testing.v1 import AppTest; at = AppTest.from_file(sys.argv[1]); at.run(); "
            "assert not at.exception, at.exception; print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, APP], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "FER_DATA_DIR": str(data_root)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["False", "False"]


# --- dataset browser ----------------------------------------------------------------------------

def test_browser_grid_filter_and_distribution(env):
    at = open_page(BROWSER)
    at.selectbox(key="dataset_choice").set_value("fer2013-sample")
    at.selectbox(key="split").set_value("Training")
    ok(at)
    assert len(at.get("image")) >= 2  # the grid and the selected sample
    assert "label_distribution" in " ".join(plotly_keys(at))
    captions = [c for image in at.get("image") for c in image.captions]
    assert "60 of 1000 faces" not in captions[0] and captions[0].startswith("60 of ")
    at.multiselect(key="label_filter").set_value(["disgust"])
    ok(at)
    cells = at.selectbox(key="picked_cell").options
    assert cells and all("(disgust)" in option for option in cells)
    assert len(cells) == 7  # disgust faces in the sample's Training split (golden)


def test_browser_ferplus_votes_and_keypoints(env):
    at = open_page(BROWSER)
    at.selectbox(key="dataset_choice").set_value("ferplus")
    ok(at)
    assert any(key.startswith("votes_") or "votes_" in key for key in plotly_keys(at))
    at.selectbox(key="dataset_choice").set_value("keypoints")
    ok(at)
    assert any("keypoints (green)" in c for image in at.get("image") for c in image.captions)
    assert "with 15 keypoints" in texts(at)


def test_browser_folder_must_be_under_data_dir(env, data_root):
    at = open_page(BROWSER)
    at.selectbox(key="dataset_choice").set_value("a folder under FER_DATA_DIR…")
    ok(at)
    at.text_input(key="dataset_folder").set_value("/etc")
    ok(at)
    assert "only folders under FER_DATA_DIR" in at.error[0].value
    at.text_input(key="dataset_folder").set_value("../")
    ok(at)
    assert "only folders under FER_DATA_DIR" in at.error[0].value
    at.text_input(key="dataset_folder").set_value("ckplus48/CK+48")
    ok(at)
    assert not at.error and "CK+48" in texts(at)
    assert len(at.selectbox(key="picked_cell").options) == 60


def test_browser_shows_dataset_errors_not_tracebacks(empty_env, tmp_path):
    import cv2
    import numpy as np

    data = tmp_path / "data"
    for folder in ("few/happy", "few/sad", "leaky/happy", "outside/sad"):
        (data.parent / folder if folder.startswith("outside") else data / folder).mkdir(parents=True)
        for i in range(4):
            target = (data.parent if folder.startswith("outside") else data) / folder / f"S{100 + i}_001_1.png"
            cv2.imwrite(str(target), np.full((32, 32), 40 * i, np.uint8))
    (data / "leaky" / "sad").symlink_to(tmp_path / "outside" / "sad", target_is_directory=True)
    at = open_page(BROWSER)
    at.text_input(key="dataset_folder").set_value("few")
    ok(at)
    (error,) = at.error
    assert "4 subject(s) for 10 folds" in error.value and "Traceback" not in error.value
    at.text_input(key="dataset_folder").set_value("leaky")
    ok(at)
    assert at.error[0].value.startswith(f"{data.resolve() / 'leaky' / 'sad'}: a link that leads out of")


def test_browser_empty_data_dir(empty_env):
    at = open_page(BROWSER)
    shown = texts(at)
    assert "No dataset found" in shown and "fer2013.csv" in shown


def test_browser_embedding_view_and_projector_download(env):
    at = open_page(BROWSER)
    at.selectbox(key="dataset_choice").set_value("fer2013-sample")
    at.selectbox(key="split").set_value("PrivateTest")
    ok(at)
    at.toggle(key="embed_on").set_value(True)
    ok(at)
    assert at.select_slider(key="embed_limit").value == 250
    assert "embedding" in plotly_keys(at)
    figure = chart_spec(at, "embedding")
    points = sum(len(trace["customdata"]) for trace in figure["data"])
    assert points == len(load_dataset("fer2013-sample").subset("PrivateTest")) == 100
    assert figure["data"][0]["customdata"][0][0].startswith("data:image/png;base64,")
    assert at.get("download_button")
    at.checkbox(key="embed_disagree").set_value(True)
    ok(at)
    wrong = sum(len(trace["customdata"]) for trace in chart_spec(at, "embedding")["data"])
    assert 0 < wrong < 100 and f"disagrees with the label ({wrong})" in at.checkbox(key="embed_disagree").label


# --- training runs ------------------------------------------------------------------------------

def pick_run(at, name):
    box = at.selectbox(key="run")
    index = next(i for i, option in enumerate(box.options) if option.endswith("/" + name))
    box.set_value(index)
    return ok(at)


def test_runs_page_finished_run(env):
    at = pick_run(open_page(RUNS), "mx-sample")
    keys = plotly_keys(at)
    assert {"curve_loss", "curve_accuracy", "confusion", "per_class_chart"} <= set(keys)
    per_class = table_with(at, "precision")
    assert len(per_class) == 7 and list(per_class.columns)[:2] == ["class", "precision"]
    mistakes = table_with(at, "confidence")
    assert 0 < len(mistakes) <= 20 and (mistakes["label"] != mistakes["predicted"]).all()
    assert [m.label for m in at.metric] == ["test accuracy", "test macro-f1"]
    at.radio(key="cm_mode").set_value("normalised by true class")
    ok(at)


def test_runs_page_shows_the_model_card_of_a_run_that_has_one(env, trained_run):
    card = trained_run / "model_card.md"
    assert all("Model card" not in e.label for e in pick_run(open_page(RUNS), "mx-sample").expander)
    card.write_text("# Model card: mx-sample\n\nAccuracy **12.34%**, macro-F1 0.1.\n")
    try:
        at = pick_run(open_page(RUNS), "mx-sample")
        assert [e.label for e in at.expander][0] == "Model card (model_card.md)"
        assert "Accuracy **12.34%**" in texts(at)
    finally:
        card.unlink()


def test_runs_page_in_progress_run(env):
    at = pick_run(open_page(RUNS), "mx-in-progress")
    assert "in progress: epoch 1 of 5" in str(at.get("progress")[0].proto)
    assert "confusion matrix is written when the run has been evaluated" in texts(at)


def test_runs_page_without_runs_shows_the_command(empty_env):
    at = open_page(RUNS)
    shown = texts(at)
    assert "No training run found" in shown and "python -m fer_core train --model mini_xception" in shown


def test_runs_page_starts_a_training_run(env, monkeypatch, tmp_path):
    from fer_core.runs import jobs

    started = []
    monkeypatch.setattr(jobs, "start_training", lambda argv, run_dir: started.append((argv, run_dir)) or 4242)
    monkeypatch.setenv("FER_RUN_ROOTS", f"{env_roots()}:{tmp_path / 'runs'}")
    at = open_page(RUNS)
    at.selectbox(key="new_data").set_value("fer2013-sample")
    at.number_input(key="new_epochs").set_value(2)
    at.number_input(key="new_limit").set_value(64)
    at.text_input(key="new_name").set_value("quick-run")
    next(b for b in at.button if "Start training" in b.label).click()
    ok(at)
    argv, run_dir = started[0]
    assert run_dir == tmp_path / "runs" / "quick-run"
    assert argv[1:] == ["-m", "fer_core", "train", "--model", "mini_xception", "--data", "fer2013-sample",
                        "--epochs", "2",
                        "--run-dir", str(run_dir), "--limit", "64", "--batch-size", "64"]
    assert "Started (process 4242)" in texts(at)


def env_roots():
    import os

    return os.environ["FER_RUN_ROOTS"]


# --- compare ------------------------------------------------------------------------------------

def test_compare_page(env):
    at = open_page(COMPARE)
    assert at.multiselect(key="runs").value == ["runs/mx-sample", "runs/mx-sample-lr"]
    metrics = table_with(at, "macro_f1")
    assert len(metrics) == 2 and {"accuracy", "macro_f1", "params", "model_size_mb"} <= set(metrics.columns)
    assert "rmse" not in metrics.columns
    config = table_with(at, "key")
    assert config["key"].tolist() == ["batch_size", "learning_rate"]  # config.json order
    assert {"overlaid_curves", "confusion_difference"} <= set(plotly_keys(at))
    at.multiselect(key="runs").set_value(["runs/mx-sample", "runs/mx-sample-lr", "runs/mx-in-progress"])
    ok(at)
    assert len(table_with(at, "macro_f1")) == 3


def test_compare_page_needs_two_runs(empty_env):
    at = open_page(COMPARE)
    assert "at least two run records" in texts(at)
