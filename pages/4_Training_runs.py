"""Training runs: one run record's curves, confusion matrix (a click on a cell shows its faces),
per-class scores, calibration, most confident mistakes, a keypoint run's worst faces, model card,
config and model summary; a form that starts a new run in the background and follows it, and Stop /
Resume for the runs started here (fer_core.runs.jobs).

UI only: the figures and their formatting come from fer_core.app.run_views."""

import time

import streamlit as st

from fer_core.app import run_views as views
from fer_core.app.page_helpers import no_runs_message, zoo_models
from fer_core.app.resources import cached_dataset, use_app_navigation
from fer_core.config import KEYPOINTS, run_roots
from fer_core.data import find_datasets
from fer_core.errors import DatasetError, FerStudioError
from fer_core.runs import jobs
from fer_core.runs.inspection import confusion_cell, prediction_calibration, worst_keypoint_faces
from fer_core.runs.records import (
    RunRecord, curve_names, find_runs, most_confident_mistakes, per_class_table, progress, run_label, with_true_labels,
)

use_app_navigation()  # a first visit by this page's URL: under app.py's navigation

REFRESH_SECONDS = 5
TABS = ("Run record", "Start a new run")
# The form's defaults: a smoke test of the whole pipeline (data, model, training, test figures) in a
# minute or two on a CPU, not a model worth keeping.
SMOKE_TEST = {"epochs": 3, "limit": 256, "batch_size": 64}
CELL_FACES = 60  # faces of a confusion-matrix cell shown at most


# ---------------------------------------------------------------- cached work

@st.cache_data(show_spinner="Calibrating: the model runs over the validation and test splits (TensorFlow)…",
               max_entries=8)
def cached_calibration(model_path, modified, data, fold, folds):
    """``calibrate_model`` once per model file version (``modified``: its modification time)."""
    from fer_core.runs.calibration import calibrate_model

    return calibrate_model(model_path, data, fold=fold, folds=folds)


def run_dataset(record, what):
    """The run's dataset (for its faces and labels), or None with a warning saying what is not shown."""
    try:
        return cached_dataset(record.dataset_name, record.config.get("fold", 0), record.config.get("folds", 10))
    except DatasetError as exc:
        st.warning(f"{what} not shown: run records keep no images or labels, and the dataset is needed for "
                   f"them ({exc})")
        return None


# ---------------------------------------------------------------- progress, curves, jobs

def show_progress(record):
    done, planned, fraction = progress(record)
    running = jobs.job_running(record)
    text = f"{record.status}: epoch {done:,} of {planned:,}" + (" (process running)" if running else "")
    st.progress(fraction, text=text)
    if record.status == "failed":
        st.error(f"The training process failed: {record.error}")
    elif record.status == "stopped":
        st.caption("The training process has ended before the run finished; Resume goes on from the last "
                   "finished epoch.")
    if record.job and not record.finished:
        log = jobs.log_tail(record.path, 15 if record.status == "failed" else 6)
        if log:
            st.code(log, language=None)


def show_curves(record):
    history = record.history
    if history.empty:
        if record.status not in ("failed", "stopped"):
            st.info("No epoch has finished yet; curves appear after the first one.")
        return
    log_scale = st.toggle("Log scale", value=record.task == KEYPOINTS, key=f"log_scale_{record.task}",
                          help="A logarithmic y axis: the late epochs' small changes show beside the first ones'.")
    metrics = curve_names(history)
    columns = st.columns(max(1, len(metrics)))
    for column, metric in zip(columns, metrics):
        column.plotly_chart(views.run_curves_figure(history, metric, record.task, log_scale), key=f"curve_{metric}")


def stop_clicked(path):
    try:
        jobs.stop_job(path)
    except FerStudioError as exc:
        st.session_state["job_message"] = ("error", str(exc))
    else:
        st.session_state["job_message"] = ("success", "Stopped. Resume goes on from the last finished epoch.")


def resume_clicked(path):
    try:
        argv, pid = jobs.resume_job(path)
    except FerStudioError as exc:
        st.session_state["job_message"] = ("error", str(exc))
    else:
        st.session_state["job_message"] = ("success", f"Resumed (process {pid}): `{jobs.command_text(argv)}`")


def job_controls(record):
    """Stop for a run whose dashboard job is running; Resume for one whose job has stopped or failed.
    (Callbacks: a click acts once, before the page runs, whatever reruns follow.)"""
    if jobs.job_running(record):
        st.button("Stop", key="stop_job", on_click=stop_clicked, args=(record.path,),
                  help="Stops the training process; Resume goes on from the last finished epoch")
    elif record.status in ("stopped", "failed") and record.config:
        st.button("Resume", key="resume_job", on_click=resume_clicked, args=(record.path,),
                  help="python -m fer_core train --resume for this run")
    kind, text = st.session_state.pop("job_message", (None, None))
    if kind:
        getattr(st, kind)(text)


def live_status(path):
    """Progress and curves, re-read from disk (refreshed every few seconds while the run is in progress)."""
    record = RunRecord.load(path)
    show_progress(record)
    show_curves(record)


# ---------------------------------------------------------------- classification runs

def chosen_cell(record, names):
    """The confusion-matrix cell to show: the last one clicked on the matrix, else the pickers' values,
    else the most confused pair (new for each run)."""
    state = st.session_state
    event = state.get("confusion") or {}
    clicked = views.clicked_cell((event.get("selection") or {}).get("points"), names)
    if state.get("cell_run") != record.label or state.get("cell_true") not in names \
            or state.get("cell_predicted") not in names:
        state["cell_true"], state["cell_predicted"] = views.most_confused_cell(record.confusion_matrix, names)
        state["cell_run"], state["cell_clicked"] = record.label, clicked  # a click on the last run's matrix is spent
    elif clicked and clicked != state.get("cell_clicked"):
        state["cell_clicked"] = clicked
        state["cell_true"], state["cell_predicted"] = clicked
    return state["cell_true"], state["cell_predicted"]


def show_confusion(record):
    matrix = record.confusion_matrix
    if matrix is None:
        if record.status not in ("failed", "stopped"):
            st.info("The confusion matrix is written when the run has been evaluated (metrics.json).")
        return
    names = [str(n) for n in record.label_names]
    normalized = st.radio("Confusion matrix", ["counts", "percent of the true class"], horizontal=True,
                          key="cm_mode") != "counts"
    cell = chosen_cell(record, names)
    left, right = st.columns(2)
    figure = views.confusion_cell_figure(matrix, names, normalized, chosen=cell,
                                         title=f"Confusion matrix ({record.metrics.get('split', 'test')})")
    left.plotly_chart(figure, key="confusion", on_select="rerun", selection_mode="points")
    left.caption("Click a cell to see its faces below.")
    rows = per_class_table(record.metrics)
    right.plotly_chart(views.per_class_percent_figure(rows), key="per_class_chart")
    right.dataframe(views.per_class_display(rows), hide_index=True, key="per_class_table")


def show_cell_faces(record, labelled, dataset):
    names = [str(n) for n in record.label_names]
    st.subheader("Faces of a confusion-matrix cell")
    a, b = st.columns(2)
    true = a.selectbox("True class", names, key="cell_true")
    predicted = b.selectbox("Predicted class", names, key="cell_predicted")
    cell = confusion_cell(labelled, true, predicted)
    if cell.empty:
        st.info(f"No {true} face of the test split was called {predicted}.")
        return
    shown = cell.head(CELL_FACES)
    more = f"; the {len(shown):,} most confident shown" if len(cell) > len(shown) else ""
    st.caption(f"True {true}, predicted {predicted}: {len(cell):,} faces, most confident first{more}. "
               "The number on a face is its row in the table; under it, the model's confidence.")
    sheet, table = views.cell_sheet(dataset, shown)
    if sheet is not None:
        st.image(sheet, output_format="PNG")
    st.dataframe(table, hide_index=True, key="cell_table")


def show_calibration(record, labelled):
    st.subheader("Calibration")
    own = prediction_calibration(labelled)
    if own is None:
        st.info("predictions.csv of this run has no probabilities (p_ columns), so its calibration cannot be shown.")
        return
    adjusted = None
    if record.model_path is not None:
        asked = st.session_state.setdefault("calibrated_runs", set())
        st.button("Calibrate with the model file", key="calibrate", on_click=asked.add, args=(str(record.path),),
                  help="Fits the prior correction and temperature on the validation split and measures them on the "
                       "test split: model.keras runs over both (TensorFlow; FER2013: a few minutes).")
        if str(record.path) in asked:
            try:
                adjusted = cached_calibration(str(record.model_path), record.model_path.stat().st_mtime,
                                              record.dataset_name, record.config.get("fold", 0),
                                              record.config.get("folds", 10))
            except (FerStudioError, ValueError) as exc:
                st.warning(f"Not calibrated: {exc}")
    else:
        st.caption("This run record keeps no model.keras (the weights policy), so the ECE after the prior and "
                   "temperature adjustment cannot be measured; its own probabilities (predictions.csv) are shown.")
    st.write(views.calibration_summary(own, adjusted))
    left, right = st.columns(2)
    after = adjusted["calibration"] if adjusted else {}
    left.plotly_chart(views.reliability_figure(own["reliability"], after.get("reliability_after"), own["ece"],
                                               after.get("ece_after")), key="reliability")
    right.plotly_chart(views.confidence_histogram_figure(labelled), key="confidence_histogram")


def show_mistakes(record, labelled, dataset):
    from fer_core.app.page_helpers import indices_of_ids
    from fer_core.data.palette import label_colors
    from fer_core.data.sprites import captioned_grid

    st.subheader("Most confident mistakes")
    count = st.slider("Most confident mistakes", 8, 60, 20, step=4, key="mistake_count", label_visibility="collapsed")
    mistakes = most_confident_mistakes(labelled, count)
    if mistakes.empty:
        st.success("No mistakes on the test split.")
        return
    where = indices_of_ids(dataset.ids, mistakes["id"])
    shown = mistakes[where >= 0]
    colors = label_colors(record.label_names)
    captions = [f"{t[:3]}>{p[:3]} {100 * c:.0f}%" for t, p, c in zip(shown["label"], shown["predicted"],
                                                                      shown["confidence"])]
    sheet, _ = captioned_grid(dataset.images[where[where >= 0]], captions,
                              [colors.get(p, "#7f7f7f") for p in shown["predicted"]], columns=10, cell=84)
    st.image(sheet, output_format="PNG",
             caption="true>predicted label and the model's confidence; bar in the predicted label's colour")
    table = mistakes[["id", "label", "predicted"]].assign(confidence=[views.score_text(c)
                                                                      for c in mistakes["confidence"]])
    st.dataframe(table, hide_index=True, key="mistakes_table")


def show_classification(record):
    show_confusion(record)
    predictions = record.predictions()
    if predictions is None or "predicted" not in predictions.columns:
        return
    dataset = run_dataset(record, "Faces and calibration")
    if dataset is None:
        return
    labelled = with_true_labels(predictions, dataset.ids, dataset.labels, dataset.label_names)
    if record.confusion_matrix is not None:
        show_cell_faces(record, labelled, dataset)
    show_calibration(record, labelled)
    show_mistakes(record, labelled, dataset)


# ---------------------------------------------------------------- keypoint runs

def show_keypoints(record):
    if not record.metrics:
        return
    st.subheader("Error per keypoint (test split)")
    st.dataframe(views.per_keypoint_display(record.metrics), hide_index=True, key="per_keypoint")
    predictions = record.predictions()
    if predictions is None or "rmse_px" not in predictions.columns:
        return
    st.subheader("Worst faces")
    count = st.slider("Worst faces", 8, 48, 16, step=8, key="worst_count", label_visibility="collapsed")
    dataset = run_dataset(record, "The worst faces")
    if dataset is None or dataset.keypoints is None:
        return
    sheet, table = views.keypoint_gallery(dataset, worst_keypoint_faces(predictions, count))
    if sheet is not None:
        st.image(sheet, output_format="PNG",
                 caption=f"{views.TRUE_POINTS}: true points (the dataset's annotation); {views.PREDICTED_POINTS}: "
                         "predicted; under each face its RMSE in pixels of the 96x96 crop; #: rank, worst first")
    st.dataframe(table, hide_index=True, key="worst_table")


# ---------------------------------------------------------------- one run

def show_run(record):
    st.caption(views.run_caption(record))
    items = views.headline_items(record)
    if items:
        for column, (label, text) in zip(st.columns(len(items)), items):
            column.metric(label, text)
    job_controls(record)
    in_progress = not record.finished and record.status not in ("stopped", "failed")
    st.fragment(run_every=REFRESH_SECONDS if in_progress else None)(live_status)(record.path)
    if record.task == KEYPOINTS:
        show_keypoints(record)
    else:
        show_classification(record)
    if record.card_text:
        with st.expander("Model card (model_card.md)"):
            st.markdown(views.demote_headings(record.card_text))
    with st.expander("Config (config.json)"):
        st.json(record.config)
    with st.expander("Model summary"):
        st.code(record.summary_text or "(summary.txt not written yet)", language=None)


# ---------------------------------------------------------------- a new run

def start_from_form():
    """The form's Start button, before the page runs: the job starts, and the page then shows and follows it."""
    state = st.session_state
    model, data = state["new_model"], state["new_data"]
    name = (state.get("new_name") or "").strip() or f"{model}-{data}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        run_dir, argv, pid = jobs.start_job(model, data, name, epochs=int(state["new_epochs"]),
                                            limit=int(state["new_limit"]), batch_size=int(state["new_batch_size"]))
    except FerStudioError as exc:
        state["start_error"] = str(exc)
        return
    state["run"], state["runs_tab"] = run_label(run_dir), TABS[0]
    state["started"] = f"Started (process {pid}): `{jobs.command_text(argv)}`. Its progress is shown below."


def new_run_form():
    found = find_datasets()
    if not found:
        st.warning("No dataset found under FER_DATA_DIR; see the Home page for where to put fer2013.csv.")
        return
    error = st.session_state.pop("start_error", None)
    if error:
        st.error(error)
    st.caption(f"The defaults are a **smoke test**: {SMOKE_TEST['epochs']} epochs on {SMOKE_TEST['limit']:,} "
               "samples per split check the whole pipeline in a minute or two, not a model worth keeping. For "
               "a real run, set samples per split to 0 (all) and 30-60 epochs. Keypoint models "
               "(keypoint_cnn, keypoint_xception) train on keypoint datasets, the others on expression datasets.")
    with st.form("new_run"):
        a, b = st.columns(2)
        a.selectbox("Model", zoo_models(), index=zoo_models().index("mini_xception"), key="new_model")
        b.selectbox("Dataset", list(found), key="new_data")
        c, d, e = st.columns(3)
        c.number_input("Epochs (smoke test: 3)", *jobs.LIMITS["epochs"], SMOKE_TEST["epochs"], key="new_epochs")
        d.number_input("Samples per split (0 = all; smoke test: 256)", *jobs.LIMITS["limit"], SMOKE_TEST["limit"],
                       step=64, key="new_limit")
        e.number_input("Batch size", *jobs.LIMITS["batch_size"], SMOKE_TEST["batch_size"], step=8,
                       key="new_batch_size")
        st.text_input("Run name (folder under runs/)", placeholder="MODEL-DATASET-DATE-TIME when left empty",
                      key="new_name")
        st.form_submit_button("Start training", on_click=start_from_form)


# ---------------------------------------------------------------- the page

st.title("Training runs")
paths = find_runs()
labels = [run_label(p) for p in paths]
if st.session_state.get("run") not in labels:
    st.session_state.pop("run", None)
else:
    st.session_state["run"] = st.session_state["run"]  # kept while the other tab is open
run_tab, new_tab = st.tabs(TABS, key="runs_tab", on_change="rerun")
if run_tab.open:
    with run_tab:
        started = st.session_state.pop("started", None)
        if started:
            st.success(started)
        if not paths:
            st.info(no_runs_message(run_roots()))
        else:
            picked = st.selectbox("Run", labels, key="run")
            show_run(RunRecord.load(paths[labels.index(picked)]))
if new_tab.open:
    with new_tab:
        new_run_form()
