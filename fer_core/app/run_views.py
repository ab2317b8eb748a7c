"""The Training runs and Compare runs pages' work, without Streamlit.

Every figure is written one way: scores in percent (``format_percent``: 63.2%), counts and parameters
with thousands separators (``format_count``: 58,423), "n/a" where a score has nothing to be computed on
(a class absent from the test split), keypoint errors in pixels. Also the pages' plotly figures (curves
with units and an optional log scale, a confusion matrix whose cells can be clicked, reliability
diagrams, confidence histograms, per-class changes between two runs), the faces of a confusion-matrix
cell and a keypoint run's worst faces as sheets, and model cards with headings that fit inside a page.
plotly is imported inside the functions that draw.
"""

import math
import re

import numpy as np
import pandas as pd

from fer_core.app.dataset_views import NOT_AVAILABLE, format_count, format_percent
from fer_core.app.page_helpers import draw_keypoints, format_bytes, indices_of_ids
from fer_core.config import KEYPOINTS
from fer_core.data.palette import label_colors
from fer_core.data.sprites import captioned_grid
from fer_core.runs.inspection import answer_confidences, predicted_keypoints

SCORE_DIGITS = 2  # 63.17%: the README's and the model cards' figures
RIGHT_COLOR, WRONG_COLOR = "#2ca02c", "#d62728"
TRUE_POINTS, PREDICTED_POINTS = "green", "red"  # draw_keypoints' colours, as the gallery's caption names them


# ---------------------------------------------------------------- figures for people

def score_text(value):
    """0.63165 -> '63.17%'; None -> 'n/a'."""
    return format_percent(value, SCORE_DIGITS)


def pixels_text(value, digits=3):
    """1.82748 -> '1.827 px'; None -> 'n/a'."""
    return NOT_AVAILABLE if value is None or not math.isfinite(value) else f"{value:.{digits}f} px"


def headline_items(record):
    """The run's test figures as the page's metrics: [(label, text)], e.g. [("test accuracy", "63.17%"), ...]."""
    metrics = record.metrics or {}
    if record.task == KEYPOINTS:
        wanted = (("rmse", "test RMSE", pixels_text), ("nme_interocular", "test NME (inter-ocular)", score_text))
    else:
        wanted = (("accuracy", "test accuracy", score_text), ("macro_f1", "test macro-F1", score_text))
    return [(label, show(metrics[key])) for key, label, show in wanted if metrics.get(key) is not None]


def run_caption(record):
    """"`runs/x`: mini_xception on fer2013; 58,423 parameters; model file 1.2 MB"."""
    params = f"{format_count(record.params)} parameters" if record.params is not None else "parameters unknown"
    weights = (f"model file {format_bytes(record.model_size_bytes)}" if record.model_path is not None
               else "no model file (run records keep no weights)")
    return f"`{record.label}`: {record.model_name} on {record.dataset_name}; {params}; {weights}"


def per_class_display(rows):
    """Per-class rows (``records.per_class_table``) as shown: scores in percent ('n/a' for None), support
    with thousands separators."""
    return pd.DataFrame([{"class": row["class"], "precision": score_text(row.get("precision")),
                          "recall": score_text(row.get("recall")), "F1": score_text(row.get("f1")),
                          "support": format_count(row.get("support"))} for row in rows])


def per_keypoint_display(metrics):
    """A keypoint run's per-keypoint RMSE as shown, worst first."""
    per_keypoint = (metrics or {}).get("per_keypoint", {})
    ranked = sorted(per_keypoint.items(), key=lambda item: -item[1])
    return pd.DataFrame({"keypoint": [name for name, _ in ranked], "RMSE": [pixels_text(v) for _, v in ranked]})


def comparison_display(table):
    """``comparison.comparison_table`` as shown: figures with their digits and thousands separators (how
    ms per face was measured, a long text, goes under the table: ``latency_notes``)."""
    shown = table.drop(columns=["ms per face measured with"], errors="ignore")  # said under it: ``latency_notes``
    formats = {"accuracy (%)": "{:.2f}", "macro-F1 (%)": "{:.2f}", "RMSE (px)": "{:.3f}", "parameters": "{:,.0f}",
               "ms per face": "{:.2f}", "epochs": "{:,.0f}"}
    for column, pattern in formats.items():
        if column in shown:
            shown[column] = [NOT_AVAILABLE if v is None or pd.isna(v) else pattern.format(v) for v in shown[column]]
    return shown.fillna(NOT_AVAILABLE)


def latency_notes(table):
    """What the ms per face of a ``comparison.comparison_table`` were measured with, one line per way:
    "Keras predict_on_batch on AMD EPYC, ... (mx-sample, mx-sample-lr)"; [] when no run has a time."""
    if "ms per face measured with" not in table:
        return []
    measured = table.dropna(subset=["ms per face measured with"])
    return [f"{note} ({', '.join(part['run'])})" for note, part in measured.groupby("ms per face measured with",
                                                                                  sort=False)]


def config_display(rows, names):
    """``records.config_diff`` rows as a table: one column per run under its short name, values as text."""
    return pd.DataFrame([{names.get(k, k) if k != "key" else "key": "—" if v is None else str(v)
                          for k, v in row.items()} for row in rows])


def demote_headings(markdown, levels=2):
    """Markdown with every ATX heading ``levels`` deeper (``# Model card`` -> ``### Model card``, at most
    ``######``), so that a document fits under the page's own headings; fenced code is left alone."""
    out, fence = [], None
    for line in markdown.splitlines(keepends=True):
        stripped = line.lstrip()
        marker = re.match(r"(`{3,}|~{3,})", stripped)
        if marker and (fence is None or marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence)):
            fence = marker.group(1) if fence is None else None
        elif fence is None and re.match(r" {0,3}#{1,6}(\s|$)", line):
            hashes = len(stripped) - len(stripped.lstrip("#"))
            line = line.replace("#" * hashes, "#" * min(6, hashes + levels), 1)
        out.append(line)
    return "".join(out)


# ---------------------------------------------------------------- curves

def metric_axis(metric, task):
    """(axis title, factor of the values shown) of a history metric: accuracy in percent, RMSE in pixels,
    a keypoint loss as the mean squared error in square pixels."""
    if metric == "accuracy":
        return "accuracy (%)", 100.0
    if metric == "rmse":
        return "RMSE (px)", 1.0
    if metric == "loss":
        return ("loss: MSE (px²)" if task == KEYPOINTS else "loss (cross-entropy)"), 1.0
    return metric, 1.0


def _curve_layout(figure, title, epochs, axis_title, log_scale, height):
    from fer_core.app.charts import epoch_axis

    figure.update_layout(title=title, xaxis=epoch_axis(epochs), height=height,
                         yaxis=dict(title=axis_title + (", log scale" if log_scale else ""),
                                    type="log" if log_scale else "linear"),
                         margin=dict(t=50, b=40, l=60, r=10), legend=dict(orientation="h", y=-0.25))
    return figure


def run_curves_figure(history, metric, task, log_scale=False):
    """Train and validation curves of one metric of one run, in the metric's unit (``metric_axis``)."""
    import plotly.graph_objects as go

    axis_title, factor = metric_axis(metric, task)
    figure = go.Figure()
    for column, name, dash in ((metric, "train", "solid"), (f"val_{metric}", "val", "dash")):
        if column in history.columns:
            figure.add_trace(go.Scatter(x=history["epoch"], y=history[column] * factor, mode="lines+markers",
                                        name=name, line=dict(dash=dash)))
    return _curve_layout(figure, axis_title, history["epoch"], axis_title, log_scale, 340)


def overlaid_runs_figure(curves, metric, split, task, names, colors, log_scale=False):
    """One line per run of one metric (``records.curves_table`` rows of one task), each run under its
    short name (``names``: {label: name}) in its colour (``colors``: {name: #rrggbb})."""
    import plotly.graph_objects as go

    axis_title, factor = metric_axis(metric, task)
    figure = go.Figure()
    chosen = curves[(curves["metric"] == metric) & (curves["split"] == split)]
    for run, part in chosen.groupby("run", sort=False):
        name = names.get(run, run)
        figure.add_trace(go.Scatter(x=part["epoch"], y=part["value"] * factor, mode="lines+markers", name=name,
                                    line=dict(color=colors.get(name)), marker=dict(color=colors.get(name))))
    figure.update_layout(showlegend=True)
    return _curve_layout(figure, f"{task} runs: {split} {axis_title}", chosen["epoch"], axis_title, log_scale, 380)


# ---------------------------------------------------------------- the confusion matrix and its cells

def confusion_cell_figure(counts, label_names, normalized=False, title="Confusion matrix", chosen=None):
    """A confusion matrix whose cells can be clicked (Streamlit's point selection), the chosen one framed.

    Heatmaps take no point selection in plotly, so an invisible marker sits on each cell: a click on
    it selects that point, whose x and y are the predicted and true class (``clicked_cell``).

    Arguments:
        counts: (C, C) counts, rows true, columns predicted.
        label_names: the C class names.
        normalized: colour and write each row's shares (recall per true class) instead of the counts.
        title: the figure's title.
        chosen: (true, predicted) names of the cell to frame, or None.
    """
    import plotly.graph_objects as go

    from fer_core.runs.records import normalize_rows

    counts = np.asarray(counts, np.int64)
    names = [str(n) for n in label_names]
    shares = normalize_rows(counts)
    values = shares * 100 if normalized else counts
    text = [[f"{100 * s:.1f}%" if normalized else f"{c:,}" for c, s in zip(row_c, row_s)]
            for row_c, row_s in zip(counts, shares)]
    figure = go.Figure(go.Heatmap(z=values, x=names, y=names, text=text, texttemplate="%{text}", hoverinfo="skip",
                                  colorscale="Blues", colorbar=dict(ticksuffix="%" if normalized else "")))
    cells = [(t, p) for t in range(len(names)) for p in range(len(names))]
    figure.add_trace(go.Scatter(
        x=[names[p] for _, p in cells], y=[names[t] for t, _ in cells], mode="markers", showlegend=False,
        marker=dict(symbol="square", size=36, color="rgba(0,0,0,0)"), selected=dict(marker=dict(opacity=1)),
        unselected=dict(marker=dict(opacity=1)),
        customdata=[[f"{counts[t, p]:,}", f"{100 * shares[t, p]:.1f}%"] for t, p in cells],
        hovertemplate="true %{y}, predicted %{x}<br>%{customdata[0]} faces (%{customdata[1]} of the true class)"
                      "<br>click to see them<extra></extra>"))
    if chosen is not None and chosen[0] in names and chosen[1] in names:
        t, p = names.index(chosen[0]), names.index(chosen[1])
        figure.add_shape(type="rect", x0=p - 0.5, x1=p + 0.5, y0=t - 0.5, y1=t + 0.5,
                         line=dict(color="#d62728", width=3))
    figure.update_layout(title=title, height=480, clickmode="event+select", dragmode=False,
                         xaxis=dict(title="predicted", type="category", categoryorder="array", categoryarray=names),
                         yaxis=dict(title="true", type="category", autorange="reversed", categoryorder="array",
                                    categoryarray=names),
                         margin=dict(t=50, b=40, l=80, r=10))
    return figure


def clicked_cell(points, label_names):
    """The (true, predicted) cell of the last point a click selected on ``confusion_cell_figure``, or None.

    Arguments:
        points: the chart's selection points (Streamlit's ``event.selection.points``: dicts with x and y).
        label_names: the matrix's class names.
    """
    names = [str(n) for n in label_names]
    for point in reversed(list(points or [])):
        true, predicted = str(point.get("y")), str(point.get("x"))
        if true in names and predicted in names:
            return true, predicted
    return None


def most_confused_cell(counts, label_names):
    """The (true, predicted) names of the largest off-diagonal count (the largest diagonal one when
    there is no mistake), the cell a page shows first."""
    counts = np.array(counts, np.int64)
    mistakes = counts.copy()
    np.fill_diagonal(mistakes, -1)
    pool = mistakes if mistakes.max() > 0 else counts
    t, p = np.unravel_index(int(np.argmax(pool)), pool.shape)
    return str(label_names[t]), str(label_names[p])


def cell_sheet(dataset, cell, columns=10, side=84):
    """The faces of one confusion-matrix cell (``inspection.confusion_cell``'s rows, most confident first)
    as a numbered sheet, and a table of their ids.

    Arguments:
        dataset: the run's dataset (its images, found by id).
        cell: the cell's rows (id, label, predicted, confidence).

    Returns:
        (uint8 RGB sheet, or None when no face is found; DataFrame "#", id, confidence), the numbers
        written on the faces being the table's "#".
    """
    where = indices_of_ids(dataset.ids, cell["id"].astype(str))
    found = cell[where >= 0].reset_index(drop=True)
    table = pd.DataFrame({"#": np.arange(1, len(found) + 1), "id": found["id"].astype(str),
                          "confidence": [score_text(c) for c in found["confidence"]]})
    if found.empty:
        return None, table
    colors = label_colors(list(dict.fromkeys(found["predicted"])))
    sheet, _ = captioned_grid(dataset.images[where[where >= 0]], [format_percent(c, 0) for c in found["confidence"]],
                              [colors[p] for p in found["predicted"]], columns=columns, cell=side,
                              notes=[f"#{i}" for i in table["#"]])
    return sheet, table


# ---------------------------------------------------------------- per-class scores

def per_class_percent_figure(rows):
    """Grouped bars of per-class precision, recall and F1 in percent ('n/a' written where a score is None)."""
    import plotly.graph_objects as go

    classes = [r["class"] for r in rows]
    bars = []
    for key, name in (("precision", "precision"), ("recall", "recall"), ("f1", "F1")):
        values = [None if r.get(key) is None else 100 * r[key] for r in rows]
        bars.append(go.Bar(name=name, x=classes, y=[0 if v is None else v for v in values],
                           text=[NOT_AVAILABLE if v is None else "" for v in values], textposition="outside",
                           textangle=-90, textfont=dict(size=10),
                           hovertemplate=[f"{c}: {name} {NOT_AVAILABLE if v is None else f'{v:.1f}%'}<extra></extra>"
                                          for c, v in zip(classes, values)]))
    figure = go.Figure(bars)
    figure.update_layout(barmode="group", yaxis=dict(range=[0, 105], title="%", ticksuffix="%"), height=340,
                         title="Per-class scores (test split)",
                         margin=dict(t=50, b=40, l=50, r=10), legend=dict(orientation="h", y=-0.2))
    return figure


def per_class_delta_figure(deltas, name_a, name_b):
    """Recall and F1 change per class from run A to run B (``comparison.per_class_deltas``), in percentage points."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for column, name, color in (("recall change", "recall", "#1f77b4"), ("F1 change", "F1", "#ff7f0e")):
        points = 100 * deltas[column].to_numpy(np.float64)
        figure.add_trace(go.Bar(name=name, x=deltas["class"], y=points, marker_color=color,
                                text=[f"{p:+.1f}" for p in points], textposition="outside",
                                hovertemplate=f"%{{x}}: {name} %{{y:+.1f}} points<extra></extra>"))
    figure.add_hline(y=0, line=dict(color="#444", width=1))
    figure.update_layout(barmode="group", height=380, title=f"{name_b} minus {name_a}, per class (above 0: B better)",
                         yaxis=dict(title="change (percentage points)", ticksuffix=" pt", zeroline=True),
                         margin=dict(t=50, b=40, l=60, r=10), legend=dict(orientation="h", y=-0.2))
    return figure


# ---------------------------------------------------------------- calibration

def reliability_figure(before, after=None, ece_before=None, ece_after=None):
    """Reliability diagram: accuracy against confidence per bin (``calibration.reliability_bins``), before
    and, when given, after the output adjustment, beside the diagonal of a calibrated model."""
    import plotly.graph_objects as go

    figure = go.Figure(go.Scatter(x=[0, 100], y=[0, 100], mode="lines", name="calibrated (confidence = accuracy)",
                                  line=dict(color="#999", dash="dot"), hoverinfo="skip"))
    for rows, name, ece, color in ((before, "model's own", ece_before, "#d62728"),
                                   (after, "adjusted (prior and temperature)", ece_after, "#1f77b4")):
        if not rows:
            continue
        shown = [r for r in rows if r["count"]]
        label = name + (f", ECE {score_text(ece)}" if ece is not None else "")
        figure.add_trace(go.Scatter(
            x=[100 * r["confidence"] for r in shown], y=[100 * r["accuracy"] for r in shown], mode="lines+markers",
            name=label, line=dict(color=color), marker=dict(size=[6 + 10 * math.sqrt(r["count"] / max(
                1, max(s["count"] for s in shown))) for r in shown]),
            customdata=[[f"{100 * r['low']:.0f}-{100 * r['high']:.0f}%", f"{r['count']:,}"] for r in shown],
            hovertemplate="confidence %{customdata[0]}: %{customdata[1]} faces<br>mean confidence %{x:.1f}%, "
                          "accuracy %{y:.1f}%<extra></extra>"))
    figure.update_layout(title="Reliability (test split; marker size: faces in the bin)", height=400,
                         xaxis=dict(title="confidence (%)", range=[0, 100], ticksuffix="%"),
                         yaxis=dict(title="accuracy (%)", range=[0, 100], ticksuffix="%"),
                         margin=dict(t=50, b=40, l=60, r=10), legend=dict(orientation="h", y=-0.25))
    return figure


def confidence_histogram_figure(predictions, bins=20):
    """Histograms of the confidence of right and of wrong answers (predictions joined to their labels)."""
    import plotly.graph_objects as go

    answers = answer_confidences(predictions)
    figure = go.Figure()
    for key, color in (("right", RIGHT_COLOR), ("wrong", WRONG_COLOR)):
        values = 100 * answers[key]
        figure.add_trace(go.Histogram(x=values, name=f"{key} ({len(values):,})", marker_color=color, opacity=0.65,
                                      xbins=dict(start=0, end=100, size=100 / bins),
                                      hovertemplate=f"{key}: %{{y:,}} faces at %{{x}}%<extra></extra>"))
    figure.update_layout(barmode="overlay", title="Confidence of right and wrong answers (test split)", height=400,
                         xaxis=dict(title="confidence (%)", range=[0, 100], ticksuffix="%"),
                         yaxis=dict(title="faces", tickformat=",d"), margin=dict(t=50, b=40, l=60, r=10),
                         legend=dict(orientation="h", y=-0.25))
    return figure


def calibration_summary(own, adjusted=None):
    """One line on a run's calibration: its ECE, and after the adjustment when measured."""
    text = f"Expected calibration error (ECE, 15 bins) of the model's own probabilities: {score_text(own['ece'])}"
    text += f" on {format_count(own['n'])} test faces."
    if adjusted is not None:
        calibration = adjusted["calibration"]
        adjustment = adjusted["output_adjustment"]
        text += (f" After the prior correction (power {adjustment['prior_power']:.2f}) and temperature "
                 f"{adjustment['temperature']:.2f} fitted on the validation split: {score_text(calibration['ece_after'])}"
                 f" (measured again here: {score_text(calibration['ece_before'])} before); accuracy "
                 f"{score_text(adjusted['test_accuracy_raw'])} -> {score_text(adjusted['test_accuracy_adjusted'])}.")
    return text


# ---------------------------------------------------------------- keypoint runs

def keypoint_gallery(dataset, worst, columns=8, side=144):
    """A keypoint run's worst faces with their true (green) and predicted (red) points, numbered, and
    a table of their ids and errors.

    Arguments:
        dataset: the run's keypoint dataset (images and true keypoints, found by id).
        worst: predictions.csv rows (``inspection.worst_keypoint_faces``: id, rmse_px, pred_...).

    Returns:
        (uint8 RGB sheet, or None when no face is found; DataFrame "#", id, RMSE).
    """
    where = indices_of_ids(dataset.ids, worst["id"].astype(str))
    found = worst[where >= 0].reset_index(drop=True)
    table = pd.DataFrame({"#": np.arange(1, len(found) + 1), "id": found["id"].astype(str),
                          "RMSE": [pixels_text(v, 2) for v in found["rmse_px"]]})
    if found.empty:
        return None, table
    predicted = predicted_keypoints(found)
    faces = [draw_keypoints(dataset.images[i], dataset.keypoints[i], side=side, predicted=p)
             for i, p in zip(where[where >= 0], predicted)]
    sheet, _ = captioned_grid(np.stack(faces), [pixels_text(v, 1) for v in found["rmse_px"]],
                              ["#3a3a40"] * len(faces), columns=columns, cell=side,
                              notes=[f"#{i}" for i in table["#"]])
    return sheet, table
