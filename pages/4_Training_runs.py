"""Training runs: one run record's curves, confusion matrix, per-class metrics, most confident
mistakes, config and model summary; a form that starts a new run in the background, and Stop /
Resume for the runs started here (fer_core.runs.jobs)."""

import time

import streamlit as st

from fer_core.runs import jobs
from fer_core.app.resources import cached_dataset
from fer_core.config import run_roots
from fer_core.data import find_datasets
from fer_core.errors import DatasetError, FerStudioError
from fer_core.runs.records import (
    RunRecord, curve_names, find_runs, most_confident_mistakes, normalize_rows, per_class_table, progress, run_label,
    with_true_labels,
)
from fer_core.app.page_helpers import format_bytes, no_runs_message, zoo_models

REFRESH_SECONDS = 5


def show_progress(record):
    done, planned, fraction = progress(record)
    running = jobs.job_running(record)
    text = f"{record.status}: epoch {done} of {planned}" + (" (process running)" if running else "")
    st.progress(fraction, text=text)
    if record.status == "stopped":
        st.caption("The training process has ended before the run finished; Resume goes on from the last "
                   "finished epoch.")
    if record.job and not record.finished:
        log = jobs.log_tail(record.path, 6)
        if log:
            st.code(log, language=None)


def show_curves(record):
    from fer_core.app.charts import curves_figure

    history = record.history
    if history.empty:
        st.info("No epoch has finished yet; curves appear after the first one.")
        return
    metrics = curve_names(history)
    columns = st.columns(max(1, len(metrics)))
    for column, metric in zip(columns, metrics):
        column.plotly_chart(curves_figure(history, metric), key=f"curve_{metric}")


def job_controls(record):
    """Stop for a run whose dashboard job is running; Resume for one whose job has stopped."""
    if jobs.job_running(record):
        if st.button("Stop", key="stop_job", help="Stops the training process; Resume goes on from the last "
                     "finished epoch"):
            try:
                jobs.stop_job(record.path)
            except FerStudioError as exc:
                st.error(str(exc))
            else:
                st.success("Stopped. Resume goes on from the last finished epoch.")
    elif record.status == "stopped":
        if st.button("Resume", key="resume_job", help="python -m fer_core train --resume for this run"):
            try:
                argv, pid = jobs.resume_job(record.path)
            except FerStudioError as exc:
                st.error(str(exc))
            else:
                st.success(f"Resumed (process {pid}): `{jobs.command_text(argv)}`")


def live_status(path):
    """Progress and curves, re-read from disk (refreshed every few seconds while the run is in progress)."""
    record = RunRecord.load(path)
    show_progress(record)
    show_curves(record)


def show_confusion(record):
    from fer_core.app.charts import confusion_figure, per_class_figure

    matrix = record.confusion_matrix
    if matrix is None:
        st.info("The confusion matrix is written when the run has been evaluated (metrics.json).")
        return
    normalized = st.radio("Confusion matrix", ["counts", "normalised by true class"], horizontal=True,
                          key="cm_mode") != "counts"
    values = normalize_rows(matrix) if normalized else matrix
    left, right = st.columns(2)
    left.plotly_chart(confusion_figure(values, record.label_names, normalized,
                                       title=f"Confusion matrix ({record.metrics.get('split', 'test')})"),
                      key="confusion")
    rows = per_class_table(record.metrics)
    right.plotly_chart(per_class_figure(rows), key="per_class_chart")
    right.dataframe(rows, hide_index=True, key="per_class_table")


def show_mistakes(record):
    from fer_core.data.sprites import captioned_grid
    from fer_core.app.page_helpers import indices_of_ids
    from fer_core.data.palette import label_colors

    predictions = record.predictions()
    if predictions is None or "predicted" not in predictions.columns:
        return
    count = st.slider("Most confident mistakes", 8, 60, 20, step=4, key="mistake_count")
    try:
        dataset = cached_dataset(record.dataset_name, record.config.get("fold", 0), record.config.get("folds", 10))
    except DatasetError as exc:
        st.warning(f"Mistakes not shown: run records keep no labels, and the dataset is needed for them ({exc})")
        return
    labelled = with_true_labels(predictions, dataset.ids, dataset.labels, dataset.label_names)
    mistakes = most_confident_mistakes(labelled, count)
    if mistakes.empty:
        st.success("No mistakes on the test split.")
        return
    where = indices_of_ids(dataset.ids, mistakes["id"])
    shown = mistakes[where >= 0]
    colors = label_colors(record.label_names)
    captions = [f"{t[:3]}>{p[:3]} {c:.2f}" for t, p, c in zip(shown["label"], shown["predicted"], shown["confidence"])]
    sheet, _ = captioned_grid(dataset.images[where[where >= 0]], captions,
                              [colors.get(p, "#7f7f7f") for p in shown["predicted"]], columns=10, cell=84)
    st.image(sheet, output_format="PNG",
             caption="true>predicted label and the model's confidence; bar in the predicted label's colour")
    st.dataframe(mistakes[["id", "label", "predicted", "confidence"]], hide_index=True, key="mistakes_table")


def show_run(record):
    st.caption(f"`{record.path}`: {record.model_name} on {record.dataset_name}; "
               f"{record.params or '?'} parameters; model file {format_bytes(record.model_size_bytes)}")
    headline = record.headline()
    if headline:
        for column, (key, value) in zip(st.columns(len(headline)), headline.items()):
            column.metric(f"test {key.replace('_', '-')}", f"{value:.4f}")
    job_controls(record)
    in_progress = not record.finished and record.status != "stopped"
    st.fragment(run_every=REFRESH_SECONDS if in_progress else None)(live_status)(record.path)
    if record.task != "keypoints":
        show_confusion(record)
        show_mistakes(record)
    elif record.metrics:
        st.dataframe([{"keypoint": k, "rmse_px": v} for k, v in record.metrics.get("per_keypoint", {}).items()],
                     hide_index=True, key="per_keypoint")
    if record.card_text:
        with st.expander("Model card (model_card.md)"):
            st.markdown(record.card_text)
    with st.expander("Config (config.json)"):
        st.json(record.config)
    with st.expander("Model summary"):
        st.code(record.summary_text or "(summary.txt not written yet)", language=None)


def new_run_form():
    found = find_datasets()
    if not found:
        st.warning("No dataset found under FER_DATA_DIR; see the Home page for where to put fer2013.csv.")
        return
    with st.form("new_run"):
        a, b = st.columns(2)
        model = a.selectbox("Model", zoo_models(), index=zoo_models().index("mini_xception"), key="new_model")
        data = b.selectbox("Dataset", list(found), key="new_data")
        c, d, e = st.columns(3)
        epochs = c.number_input("Epochs", *jobs.LIMITS["epochs"], 3, key="new_epochs")
        limit = d.number_input("Samples per split (0 = all)", *jobs.LIMITS["limit"], 256, step=64, key="new_limit")
        batch_size = e.number_input("Batch size", *jobs.LIMITS["batch_size"], 64, step=8, key="new_batch_size")
        name = st.text_input("Run name (folder under runs/)", placeholder="MODEL-DATASET-DATE-TIME when left empty",
                             key="new_name")
        submitted = st.form_submit_button("Start training")
    if not submitted:
        return
    name = name.strip() or f"{model}-{data}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        run_dir, argv, pid = jobs.start_job(model, data, name, epochs=int(epochs), limit=int(limit),
                                            batch_size=int(batch_size))
    except FerStudioError as exc:
        st.error(str(exc))
        return
    st.success(f"Started (process {pid}): `{jobs.command_text(argv)}`. Pick `{run_label(run_dir)}` "
               "above to follow it.")


st.title("Training runs")
paths = find_runs()
run_tab, new_tab = st.tabs(["Run record", "Start a new run"])
with run_tab:
    if not paths:
        st.info(no_runs_message(run_roots()))
    else:
        labels = [run_label(p) for p in paths]
        picked = st.selectbox("Run", range(len(paths)), format_func=lambda i: labels[i], key="run")
        show_run(RunRecord.load(paths[picked]))
with new_tab:
    new_run_form()
