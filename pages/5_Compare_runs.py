"""Compare runs: a metrics table with units (ms per face says which runtime and CPU), curves of each
task on their own axes with short run names in distinct colours, the confusion-matrix difference and
per-class recall and F1 changes of two runs, and the config keys that differ.

UI only: the selection, table and deltas come from fer_core.runs.comparison, the figures from
fer_core.app.run_views."""

import streamlit as st

from fer_core.app import run_views as views
from fer_core.app.page_helpers import no_runs_message
from fer_core.app.resources import use_app_navigation
from fer_core.config import run_roots
from fer_core.runs.comparison import (
    comparison_table, curves_by_task, default_selection, per_class_deltas, run_colors, short_names,
)
from fer_core.runs.records import confusion_difference, config_diff, curves_table, load_runs

use_app_navigation()  # a first visit by this page's URL: under app.py's navigation

st.title("Compare runs")
records = load_runs()
if len(records) < 2:
    st.info(("Comparing needs at least two run records; found "
             f"{len(records)}.\n\n") + no_runs_message(run_roots()))
    st.stop()

by_label = {r.label: r for r in records}
chosen = st.multiselect("Runs", list(by_label), default=[r.label for r in default_selection(records)], key="runs",
                        help="At first: the latest finished runs of one task and dataset (those of the run "
                             "that finished last).")
picked = [by_label[label] for label in chosen]
if not picked:
    st.info("Pick one or more runs.")
    st.stop()
names = short_names([r.label for r in picked])  # as the table, the legends and the pickers below name them
colors = run_colors([names[r.label] for r in picked])

st.subheader("Metrics")
table = comparison_table(picked)
st.dataframe(views.comparison_display(table), hide_index=True, key="metrics_table")
notes = views.latency_notes(table)
st.caption("Scores on each run's test split. ms per face: one face at a time (batch of 1, median), measured "
           + ("with " + "; ".join(notes) if notes else "for none of these runs")
           + ". Times measured on different CPUs do not compare.")

st.subheader("Curves")
curves = curves_table(picked)
if curves.empty:
    st.info("None of these runs has finished an epoch yet.")
else:
    a, b = st.columns(2)
    split = a.radio("Split", ["val", "train"], horizontal=True, key="curve_split")
    log_scale = b.toggle("Log scale", value=False, key="curve_log")
    for task, part in curves_by_task(curves, picked).items():
        metrics = list(dict.fromkeys(part["metric"]))
        metric = st.selectbox(f"Metric of the {task} runs (on axes of their own)", metrics,
                              key=f"curve_metric_{task}")
        st.plotly_chart(views.overlaid_runs_figure(part, metric, split, task, names, colors, log_scale),
                        key=f"overlaid_curves_{task}")

st.subheader("Two runs")
comparable = [r for r in picked if r.confusion_matrix is not None and (r.metrics or {}).get("per_class")]
if len(comparable) < 2:
    st.info("Needs two finished classification runs among those picked.")
else:
    options = [r.label for r in comparable]
    a, b = st.columns(2)
    first = a.selectbox("Run A", options, index=0, key="cm_a", format_func=names.get)
    second = b.selectbox("Run B", options, index=1, key="cm_b", format_func=names.get)
    run_a, run_b = by_label[first], by_label[second]
    try:
        deltas = per_class_deltas(run_a, run_b)
    except ValueError as exc:
        st.warning(f"Per-class changes not shown: {exc}")
    else:
        st.plotly_chart(views.per_class_delta_figure(deltas, names[first], names[second]), key="per_class_deltas")
    try:
        label_names, difference = confusion_difference(run_a, run_b)
    except ValueError as exc:
        st.caption(f"No confusion-matrix difference: {exc}")
    else:
        from fer_core.app.charts import confusion_figure

        st.plotly_chart(confusion_figure(difference, label_names, normalized=True, diverging=True,
                                         title=f"{names[second]} minus {names[first]}, rows normalised "
                                               "(blue on the diagonal: B better)"),
                        key="confusion_difference")

st.subheader("Config")
only_different = st.toggle("Differences only", value=True, key="config_differences_only")
rows = config_diff(picked, only_different=only_different)
if rows:
    st.dataframe(views.config_display(rows, names), hide_index=True, key="config_diff")
else:
    st.write("The configs are identical.")
