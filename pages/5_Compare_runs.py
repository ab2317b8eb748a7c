"""Compare runs: overlaid curves, a metrics table, the confusion-matrix difference of two runs
with the same labels, and the config keys that differ."""

import streamlit as st

from fer_core.runs.records import (
    compare_runs, confusion_difference, config_diff, curves_table, drop_empty_columns, load_runs,
)
from fer_core.config import run_roots
from fer_core.app.page_helpers import no_runs_message

st.title("Compare runs")
records = load_runs()
if len(records) < 2:
    st.info(("Comparing needs at least two run records; found "
             f"{len(records)}.\n\n") + no_runs_message(run_roots()))
    st.stop()

by_label = {r.label: r for r in records}
default = [r.label for r in records if r.finished][:3] or list(by_label)[:2]
chosen = st.multiselect("Runs", list(by_label), default=default, key="runs")
picked = [by_label[label] for label in chosen]
if not picked:
    st.info("Pick one or more runs.")
    st.stop()

st.subheader("Metrics")
st.dataframe(drop_empty_columns(compare_runs(picked)), hide_index=True, key="metrics_table",
             column_config={"accuracy": st.column_config.NumberColumn(format="%.4f"),
                            "macro_f1": st.column_config.NumberColumn(format="%.4f"),
                            "rmse": st.column_config.NumberColumn(format="%.3f")})

st.subheader("Curves")
curves = curves_table(picked)
if curves.empty:
    st.info("None of these runs has finished an epoch yet.")
else:
    from fer_core.app.charts import overlaid_curves_figure

    metrics = list(dict.fromkeys(curves["metric"]))
    a, b = st.columns(2)
    metric = a.selectbox("Metric", metrics, key="curve_metric")
    split = b.radio("Split", ["val", "train"], horizontal=True, key="curve_split")
    st.plotly_chart(overlaid_curves_figure(curves, metric, split), key="overlaid_curves")

st.subheader("Confusion-matrix difference")
with_matrix = [r for r in picked if r.confusion_matrix is not None]
if len(with_matrix) < 2:
    st.info("Needs two finished classification runs among those picked.")
else:
    from fer_core.app.charts import confusion_figure

    labels = [r.label for r in with_matrix]
    a, b = st.columns(2)
    first = a.selectbox("Run A", labels, index=0, key="cm_a")
    second = b.selectbox("Run B", labels, index=1, key="cm_b")
    try:
        names, difference = confusion_difference(by_label[first], by_label[second])
    except ValueError as exc:
        st.warning(f"Cannot compare these two: {exc}")
    else:
        st.plotly_chart(confusion_figure(difference, names, normalized=True, diverging=True,
                                         title="B minus A, rows normalised (blue on the diagonal: B better)"),
                        key="confusion_difference")

st.subheader("Config differences")
rows = config_diff(picked)
if rows:
    st.dataframe([{k: str(v) for k, v in row.items()} for row in rows], hide_index=True, key="config_diff")
else:
    st.write("The configs are identical.")
