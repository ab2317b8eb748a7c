"""plotly figures of the dashboard, built from plain arrays and tables (no Streamlit, no TensorFlow).

plotly is imported inside each function, so importing this module is free.
"""

import html

import numpy as np

from fer_core.data.palette import UNLABELLED_COLOR, label_colors


def epoch_axis(epochs):
    """An x axis with whole-epoch ticks, about ten of them at most."""
    last = int(max(list(epochs) or [1]))
    return dict(title="epoch", dtick=max(1, -(-last // 10)), tickformat="d")


def label_distribution_figure(counts, title="Samples per label"):
    """Bar chart of {label: count}, one colour per label, the counts written with thousands separators
    and each label's share of the total in the hover."""
    import plotly.graph_objects as go

    names = list(counts)
    colors = label_colors(names)
    values = [int(counts[n]) for n in names]
    total = sum(values) or 1
    figure = go.Figure(go.Bar(x=names, y=values, marker_color=[colors[n] for n in names],
                              text=[f"{v:,}" for v in values], textposition="outside",
                              customdata=[100 * v / total for v in values],
                              hovertemplate="%{x}: %{y:,} samples (%{customdata:.1f}%)<extra></extra>"))
    figure.update_layout(title=title, xaxis_title="label", yaxis=dict(title="samples", tickformat=",d"), height=360,
                         margin=dict(t=50, b=40, l=50, r=10))
    return figure


def vote_figure(votes, names, title="FER+ votes (% of the annotators)"):
    """Horizontal bar chart of one sample's shares (FER+ votes, or a model's probabilities), in percent."""
    import plotly.graph_objects as go

    colors = label_colors(names)
    percent = [100 * float(v) for v in np.asarray(votes, float)]
    figure = go.Figure(go.Bar(x=percent, y=list(names), orientation="h", marker_color=[colors[n] for n in names],
                              text=[f"{p:.1f}%" for p in percent], textposition="auto",
                              hovertemplate="%{y}: %{x:.1f}%<extra></extra>"))
    figure.update_layout(title=title, xaxis=dict(range=[0, 100], ticksuffix="%"), yaxis=dict(autorange="reversed"),
                         height=300,
                         margin=dict(t=40, b=30, l=80, r=10))
    return figure


def confusion_figure(matrix, label_names, normalized=False, title="Confusion matrix", diverging=False):
    """Heatmap of a confusion matrix (rows true, columns predicted) with the numbers written in."""
    import plotly.graph_objects as go

    matrix = np.asarray(matrix, float)
    text = [[f"{v:+.2f}" if diverging else (f"{v:.2f}" if normalized else f"{v:.0f}") for v in row]
            for row in matrix]
    limit = float(np.abs(matrix).max()) or 1.0
    heat = go.Heatmap(z=matrix, x=list(label_names), y=list(label_names), text=text, texttemplate="%{text}",
                      colorscale="RdBu" if diverging else "Blues", zmid=0 if diverging else None,
                      zmin=-limit if diverging else None, zmax=limit if diverging else None,
                      hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>")
    figure = go.Figure(heat)
    figure.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", height=460,
                         yaxis=dict(autorange="reversed"), margin=dict(t=50, b=40, l=70, r=10))
    return figure


def embedding_figure(coords, labels_text, label_names, thumbnails, hover_text, disagree=None, title=""):
    """Scatter of projected samples, one trace per label, the face in each point's hover.

    Arguments:
        coords: (N, 2).
        labels_text: (N,) label names ("(none)" allowed).
        label_names: label order (for colours and legend order).
        thumbnails: (N,) data URIs of the faces (shown in the hover).
        hover_text: (N,) text per point (id, label, prediction).
        disagree: optional bool (N,): drawn with an X outline.
        title: figure title.

    Returns:
        plotly Figure; each point's customdata is [thumbnail URI, position in the arrays].
    """
    import plotly.graph_objects as go

    coords = np.asarray(coords)
    labels_text = np.asarray(labels_text)
    colors = label_colors(label_names)
    figure = go.Figure()
    order = list(label_names) + sorted(set(labels_text) - set(label_names))
    for name in order:
        where = np.flatnonzero(labels_text == name)
        if not len(where):
            continue
        symbols = ["x" if disagree is not None and disagree[i] else "circle" for i in where]
        figure.add_trace(go.Scatter(
            x=coords[where, 0], y=coords[where, 1], mode="markers", name=html.escape(str(name)),  # a folder's name
            marker=dict(color=colors.get(name, UNLABELLED_COLOR), size=7, symbol=symbols, opacity=0.85),
            customdata=[[thumbnails[i], int(i)] for i in where],
            hovertext=[hover_text[i] for i in where],
            hovertemplate="%{hovertext}<extra></extra>"))
    figure.update_layout(title=title, height=560, plot_bgcolor="#1b1b1f", paper_bgcolor="#ffffff", dragmode="lasso",
                         xaxis=dict(showgrid=False, zeroline=False), yaxis=dict(showgrid=False, zeroline=False),
                         margin=dict(t=50, b=30, l=30, r=10), legend=dict(itemsizing="constant"))
    return figure
