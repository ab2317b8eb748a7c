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
        "": ["Home"], "Use a model": ["Live webcam", "Photo", "Video"], "Data": ["Dataset browser"],
        "Training": ["Training runs", "Compare runs"]}
    assert [page.url_path for section in list(sections)[1:] for page in sections[section]] == [
        "Live_webcam", "Photo", "Video", "Dataset_browser", "Training_runs", "Compare_runs"]  # bookmarks work
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

@pytest.fixture
def shipped_env(env, monkeypatch):
    """As ``env``, with the shipped models (the FER2013 classifier, the keypoint model)."""
    monkeypatch.setenv("FER_MODELS_DIR", str(ROOT / "assets" / "models"))


def grid_faces(at, key="face_grid"):
    """The number of faces in a grid of thumbnails (its table's non-empty cells)."""
    frame = next(f for f in at.dataframe if f.key == key)
    return int(frame.value.notna().to_numpy().sum())


def click_face(at, cell, key="face_grid"):
    """Selects the face in cell ``cell`` (row by row) of a grid, as a click on it does."""
    row, column = divmod(cell, 10)
    at.session_state[key] = {"selection": {"rows": [], "columns": [], "cells": [[row, str(column + 1)]]}}
    return ok(at)


def details(at):
    """The Sample details' {field: value}, or {} when none is shown."""
    if not any(m.value.startswith("| field | value |") for m in at.markdown):
        return {}
    return dict(markdown_rows(at, "| field | value |"))


def open_tab(at, label):
    at.session_state["browser_tab"] = label
    return ok(at)


def choose_model(at, starts):
    box = at.selectbox(key="model_choice")
    box.set_value(next(option for option in box.options if option.startswith(starts)))
    return box


def model_labels_by_relabel(dataset, names):
    """The dataset's labels as a model's classes by runs.evaluation.relabel (-1: a class it does not know)."""
    from dataclasses import replace

    import numpy as np

    from fer_core.runs.evaluation import relabel

    tagged = relabel(replace(dataset, ids=np.arange(len(dataset))), names)
    labels = np.full(len(dataset), -1)
    labels[tagged.ids.astype(int)] = tagged.labels
    return labels


def test_browser_grid_filter_click_and_distribution(env):
    import numpy as np

    at = open_page(BROWSER)
    at.selectbox(key="dataset_choice").set_value("fer2013-sample")
    at.selectbox(key="split").set_value("Training")
    ok(at)
    training = load_dataset("fer2013-sample").subset("Training")
    assert grid_faces(at) == 60 and f"60 of {len(training):,} faces, page 1 of 14" in texts(at)
    assert not details(at) and "Click a face in the grid" in texts(at)
    (label_filter,) = at.tabs[0].multiselect  # the filter sits in the Samples tab: its scope
    assert label_filter.label == "Labels (this grid only)"
    label_filter.set_value(["disgust"])
    ok(at)
    disgust = np.flatnonzero(training.labels == training.label_names.index("disgust"))
    assert grid_faces(at) == len(disgust) == 7  # golden: disgust faces in the sample's Training split
    shown = click_face(at, 2)
    assert details(shown) == {"id": training.ids[disgust[2]], "split": "Training", "label": "disgust"}
    open_tab(at, "Label distribution")
    assert "label_distribution" in plotly_keys(at) and not at.dataframe
    assert markdown_rows(at, "| class | Training |")[-1] == ["total", f"{len(training)}", "100", "100", "1,000"]
    open_tab(at, "Samples")
    assert at.multiselect(key="label_filter").value == ["disgust"] and grid_faces(at) == 7  # kept over tabs
    click_face(at, 1)
    assert details(at)["id"] == training.ids[disgust[1]]
    at.multiselect(key="label_filter").set_value(["disgust", "angry"])
    ok(at)
    assert not details(at) and "Click a face in the grid" in texts(at)  # no stale details of another page
    assert grid_faces(at) == 60


def test_browser_sorts_ckplus_by_a_fer2013_models_mistakenness_matched_by_name(shipped_env):
    import numpy as np

    from fer_core.inference.batch import predict_dataset
    from fer_core.inference.confidence import adjust_probabilities
    from fer_core.inference.embedding import sample_indices
    from fer_core.inference.runtime import load_keras_model, load_model_runner, read_info_file
    from fer_core.runs.inspection import mistakenness

    at = open_page(BROWSER)
    at.selectbox(key="dataset_choice").set_value("ckplus48")
    ok(at)
    at.selectbox(key="split").set_value("test")
    ok(at)
    box = choose_model(at, "emotion (default)")
    assert box.options[0] == "no model" and not any("keypoints" in option for option in box.options)
    at.selectbox(key="sort_key").set_value("mistakenness")
    ok(at)
    test = load_dataset("ckplus48").subset("test")
    path = ROOT / "assets" / "models" / "emotion.keras"
    info = read_info_file(path)
    probabilities = adjust_probabilities(predict_dataset(load_model_runner(path), test), info.get("output_adjustment"))
    labels = model_labels_by_relabel(test, info["label_names"])
    scores = mistakenness(probabilities, labels)
    click_face(at, 0)
    facts = details(at)
    assert facts["id"] == test.ids[np.argmax(scores)] and facts["mistakenness"] == f"{100 * scores.max():.1f}%"
    rows = {row[0]: row for row in markdown_rows(at, "| class | faces | model agrees |")}
    assert rows["contempt"] == ["contempt", "0", "n/a", "n/a", "n/a"]  # no contempt face in this fold's test split
    happy = test.labels == test.label_names.index("happy")
    agrees = (probabilities[happy].argmax(axis=1) == info["label_names"].index("happy")).mean()
    assert rows["happy"][2] == f"{100 * agrees:.1f}%" and agrees > 0.9

    open_tab(at, "Embedding")
    at.toggle(key="embed_on").set_value(True)
    ok(at)
    outputs = load_keras_model(path).predict_on_batch(test.images[sample_indices(len(test), 250)][..., None]
                                                      .astype("float32"))
    wrong = int(((labels >= 0) & (np.asarray(outputs).argmax(axis=1) != labels)).sum())
    assert f"disagrees with the label ({wrong}; compared by name)" in at.checkbox(key="embed_disagree").label
    assert wrong < len(test) / 2  # by position, CK+'s happy (4) is FER2013's sad: most faces "disagreed"


def test_browser_audit_tab(env):
    from fer_core.data.audit import audit_dataset

    at = open_page(BROWSER)
    at.selectbox(key="dataset_choice").set_value("fer2013-sample")
    ok(at)
    open_tab(at, "Audit")
    report = audit_dataset(load_dataset("fer2013-sample"))
    rows = dict(markdown_rows(at, "| figure | value |"))
    copies = report["test_rows_with_training_copy"]["PublicTest"]
    assert rows["samples"] == "1,000"
    assert rows["PublicTest images that are exact copies of training images"] == f"{copies} of 100 ({copies:.1f}%)"
    assert rows["duplicate groups whose labels disagree"] == str(report["conflicting_label_groups"])
    assert "every split of the dataset (the Split choice does not apply)" in texts(at)
    sheets = [caption for image in at.get("image") for caption in image.captions]
    expected = [report["conflicting_label_groups"], sum(report["test_rows_with_training_copy"].values()),
                sum(report["near_duplicate_pairs"].values())]
    assert [caption.split(",")[0] for caption in sheets] == [f"{min(n, 12)} of {n:,}" for n in expected if n]
    assert report["blank_images"] == 0 and "**Blank images** (0)" in texts(at) and "None." in texts(at)


def test_browser_label_noise_against_fer_plus_votes(env):
    from fer_core.data.audit import label_noise

    at = open_page(BROWSER)
    at.selectbox(key="dataset_choice").set_value("fer2013")
    at.selectbox(key="split").set_value("PrivateTest")
    ok(at)
    open_tab(at, "Label noise (FER+)")
    fer2013, ferplus = load_dataset("fer2013"), load_dataset("ferplus")
    private = fer2013.splits == "PrivateTest"
    noise = label_noise(fer2013.select(private), ferplus.soft_labels[private], ferplus.label_names)
    differs, voted = noise["label_differs_from_majority"], noise["rows_with_votes"]
    assert f"does not share {differs:,} of {voted:,} ({100 * differs / voted:.1f}%)" in texts(at)
    box = at.selectbox(key="noise_pair")
    sad_neutral = noise["pairs"]["sad -> neutral"]
    assert box.options[:2] == [f"every pair that disagrees ({differs:,})",
                               f"labelled sad, annotators say neutral ({sad_neutral:,})"]  # the largest pair
    box.set_value("sad -> neutral")
    ok(at)
    table = table_with(at, "votes for the label")
    assert len(table) == min(500, sad_neutral) and set(table["label"]) == {"sad"}
    assert set(table["annotators"]) == {"neutral"} and "model" not in table.columns
    assert grid_faces(at, "noise_grid") == min(40, sad_neutral)
    click_face(at, 0, "noise_grid")
    facts = details(at)
    assert facts["id"] == table["id"][0] and facts["label"] == "sad"
    assert facts["FER+ annotators' majority"].startswith("neutral (")
    assert "votes_noise" in plotly_keys(at)
    choose_model(at, "run: runs/mx-sample —")
    ok(at)
    table = table_with(at, "votes for the label")
    assert {"model", "model p(label)"} <= set(table.columns)
    assert "out-of-sample only on the test splits (PublicTest, PrivateTest); on this split they are" in texts(at)


def test_browser_ferplus_votes_and_keypoints(env):
    at = open_page(BROWSER)
    at.selectbox(key="dataset_choice").set_value("ferplus")
    ok(at)
    click_face(at, 0)
    assert "votes_grid" in plotly_keys(at)
    votes = chart_spec(at, "votes_grid")["data"][0]
    assert max(votes["x"]) <= 100 and votes["text"][0].endswith("%")  # percent, as every score on the page
    at.selectbox(key="dataset_choice").set_value("keypoints")
    ok(at)
    assert not [box for box in at.selectbox if box.key == "model_choice"]  # no model suits keypoint data
    click_face(at, 0)
    assert any("keypoints (green)" in c for image in at.get("image") for c in image.captions)
    open_tab(at, "Label distribution")
    assert "with 15 keypoints" in texts(at)
    open_tab(at, "Embedding")
    assert "no model here suits keypoint data" in texts(at)


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
    assert grid_faces(at) == 60


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
    open_tab(at, "Embedding")
    assert "Choose a model in the sidebar" in texts(at)
    choose_model(at, "run: runs/mx-sample —")
    ok(at)
    at.toggle(key="embed_on").set_value(True)
    ok(at)
    assert at.select_slider(key="embed_limit").value == 250
    (key,) = [key for key in plotly_keys(at) if key.startswith("embedding_")]
    figure = chart_spec(at, key)
    points = sum(len(trace["customdata"]) for trace in figure["data"])
    assert points == len(load_dataset("fer2013-sample").subset("PrivateTest")) == 100
    assert figure["data"][0]["customdata"][0][0].startswith("data:image/png;base64,")
    (download,) = at.get("download_button")
    assert "100 points, 48 px thumbnails" in download.proto.label
    at.checkbox(key="embed_disagree").set_value(True)
    ok(at)
    (filtered,) = [key for key in plotly_keys(at) if key.startswith("embedding_")]
    wrong = sum(len(trace["customdata"]) for trace in chart_spec(at, filtered)["data"])
    assert filtered != key  # a new chart: a selection made on the other one cannot point into this one
    assert 0 < wrong < 100 and f"disagrees with the label ({wrong};" in at.checkbox(key="embed_disagree").label


# --- training runs ------------------------------------------------------------------------------

def pick_run(at, name):
    box = at.selectbox(key="run")
    box.set_value(next(option for option in box.options if option.endswith("/" + name)))
    return ok(at)


def open_runs_tab(at, label):
    at.session_state["runs_tab"] = label
    return ok(at)


def test_runs_page_finished_run(env):
    at = pick_run(open_page(RUNS), "mx-sample")
    keys = plotly_keys(at)
    assert {"curve_loss", "curve_accuracy", "confusion", "per_class_chart", "reliability",
            "confidence_histogram"} <= set(keys)
    assert chart_spec(at, "curve_accuracy")["layout"]["yaxis"]["title"]["text"] == "accuracy (%)"
    per_class = table_with(at, "precision")
    assert len(per_class) == 7 and list(per_class.columns) == ["class", "precision", "recall", "F1", "support"]
    assert all(v == "n/a" or v.endswith("%") for v in per_class["recall"])  # scores one way: percent
    mistakes = table_with(at, "label")  # the cell table has no label column
    assert 0 < len(mistakes) <= 20 and (mistakes["label"] != mistakes["predicted"]).all()
    assert all(c.endswith("%") for c in mistakes["confidence"])
    assert [m.label for m in at.metric] == ["test accuracy", "test macro-F1"]
    assert all(m.value.endswith("%") for m in at.metric)
    at.radio(key="cm_mode").set_value("percent of the true class")
    ok(at)


def test_runs_page_calibrates_a_run_that_has_its_model_file(env):
    """Before: the ECE of the run's own probabilities (predictions.csv); after a click, the model runs over the
    validation and test splits and the adjusted reliability joins the diagram."""
    import re

    at = pick_run(open_page(RUNS), "mx-sample")
    assert "of the model's own probabilities" in texts(at) and "After the prior correction" not in texts(at)
    assert len(chart_spec(at, "reliability")["data"]) == 2  # the diagonal, the model's own
    next(b for b in at.button if b.label == "Calibrate with the model file").click()
    ok(at)
    found = re.search(r"After the prior correction \(power (\d\.\d\d)\) and temperature (\d+\.\d\d) fitted on the "
                      r"validation split: (\d+\.\d\d)%", texts(at))
    assert found and 0 <= float(found.group(1)) <= 1 and float(found.group(2)) > 0, texts(at)
    names = [t["name"] for t in chart_spec(at, "reliability")["data"]]
    assert names[2] == f"adjusted (prior and temperature), ECE {found.group(3)}%"


def test_runs_page_shows_the_model_card_of_a_run_that_has_one(env, trained_run):
    card = trained_run / "model_card.md"
    assert all("Model card" not in e.label for e in pick_run(open_page(RUNS), "mx-sample").expander)
    card.write_text("# Model card: mx-sample\n\nAccuracy **12.34%**, macro-F1 0.1.\n\n## Results\n")
    try:
        at = pick_run(open_page(RUNS), "mx-sample")
        assert [e.label for e in at.expander][0] == "Model card (model_card.md)"
        [shown] = [m.value for m in at.expander[0].markdown]
        assert shown == "### Model card: mx-sample\n\nAccuracy **12.34%**, macro-F1 0.1.\n\n#### Results"
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
    at = open_runs_tab(open_page(RUNS), "Start a new run")
    assert "The defaults are a **smoke test**" in texts(at)
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
    assert "Started (process 4242)" in texts(at) and at.session_state["runs_tab"] == "Run record"


def env_roots():
    import os

    return os.environ["FER_RUN_ROOTS"]


def committed_runs(folder, *names):
    """Copies of committed run records (assets/runs/NAME) without their weights, as a run root."""
    import shutil

    for name in names:
        shutil.copytree(ROOT / "assets" / "runs" / name, folder / name,
                        ignore=shutil.ignore_patterns("model.keras", "tensorboard", "checkpoints"))
    return folder


# --- compare ------------------------------------------------------------------------------------

def test_compare_page(env, monkeypatch, tmp_path):
    from fer_core.runs.comparison import default_selection
    from fer_core.runs.records import load_runs

    at = open_page(COMPARE)
    assert at.multiselect(key="runs").value == ["runs/mx-sample", "runs/mx-sample-lr"]
    assert [r.label for r in default_selection(load_runs())] == at.multiselect(key="runs").value
    metrics = table_with(at, "macro-F1 (%)")
    assert metrics["run"].tolist() == ["mx-sample", "mx-sample-lr"]  # short names
    assert {"accuracy (%)", "parameters", "ms per face"} <= set(metrics.columns)
    assert "RMSE (px)" not in metrics.columns
    assert ("measured with Keras predict_on_batch, CPU not recorded (mx-sample, mx-sample-lr). Times measured on "
            "different CPUs do not compare.") in texts(at)
    assert all("," in p for p in metrics["parameters"])  # thousands separators
    config = table_with(at, "key")
    assert config["key"].tolist() == ["batch_size", "learning_rate"]  # config.json order
    assert list(config.columns) == ["key", "mx-sample", "mx-sample-lr"]
    at.toggle(key="config_differences_only").set_value(False)
    ok(at)
    assert {"batch_size", "learning_rate", "model", "data"} <= set(table_with(at, "key")["key"])
    assert {"overlaid_curves_classification", "confusion_difference", "per_class_deltas"} <= set(plotly_keys(at))
    curves = chart_spec(at, "overlaid_curves_classification")
    assert [t["name"] for t in curves["data"]] == ["mx-sample", "mx-sample-lr"]
    assert curves["data"][0]["line"]["color"] != curves["data"][1]["line"]["color"]
    deltas = chart_spec(at, "per_class_deltas")
    assert [t["name"] for t in deltas["data"]] == ["recall", "F1"]
    assert set(deltas["data"][0]["text"]) == {"+0.0"}  # the same weights: no change

    # A keypoint run among them: its curves get their own axes, in pixels.
    monkeypatch.setenv("FER_RUN_ROOTS", f"{env_roots()}:{committed_runs(tmp_path / 'kp', 'keypoint_cnn-keypoints')}")
    at = open_page(COMPARE)
    at.multiselect(key="runs").set_value(["runs/mx-sample", "runs/mx-sample-lr", "kp/keypoint_cnn-keypoints"])
    ok(at)
    assert len(table_with(at, "macro-F1 (%)")) == 3
    assert {"overlaid_curves_classification", "overlaid_curves_keypoints"} <= set(plotly_keys(at))
    at.selectbox(key="curve_metric_keypoints").set_value("rmse")
    ok(at)
    keypoints = chart_spec(at, "overlaid_curves_keypoints")
    assert [t["name"] for t in keypoints["data"]] == ["keypoint_cnn-keypoints"]
    assert keypoints["layout"]["yaxis"]["title"]["text"] == "RMSE (px)"


def test_compare_page_needs_two_runs(empty_env):
    at = open_page(COMPARE)
    assert "at least two run records" in texts(at)
