"""Pure figure builders: arrays in, plotly figures out. Nothing here imports Dash or touches state."""
from __future__ import annotations

import copy
import functools
from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Colour-blind-safe pairing: blues for correct predictions (diagonal), oranges for mistakes.
# The diagonal scale starts at mid-blue so its white numbers stay readable; the error scale ends at a
# mid orange so black numbers do.
CORRECT_SCALE = [[0, "#6baed6"], [1, "#08519c"]]
WRONG_SCALE = [[0, "#ffffff"], [0.02, "#feedde"], [0.5, "#fdae6b"], [1, "#e6550d"]]
MARGIN_SCALE = [[0, "#eeeeee"], [1, "#eeeeee"]]
POSITIVE, NEGATIVE, MUTED = "#542788", "#e08214", "#bbbbbb"
FONT = dict(family="Inter, system-ui, -apple-system, Segoe UI, sans-serif", size=12, color="#222")


def empty_figure(message: str) -> dict:
    """A blank plot that says why there is nothing to draw yet (a figure dict: every layout has a few, and a
    plotly Figure takes about 10 ms to build)."""
    return copy.deepcopy(_empty(message))


@functools.lru_cache(maxsize=64)
def _empty(message: str) -> dict:
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14, color="#555"))
    fig.update_layout(font=FONT, height=360, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                      paper_bgcolor="white", xaxis=dict(visible=False), yaxis=dict(visible=False))
    return fig.to_dict()


def row_percentages(confusion: np.ndarray) -> np.ndarray:
    """Each row as percentages of that class's samples (0 for a class with no samples)."""
    counts = np.asarray(confusion, dtype=np.float64)
    totals = counts.sum(1, keepdims=True)
    return np.divide(counts * 100, totals, out=np.zeros_like(counts), where=totals > 0)


def confusion_figure(confusion: np.ndarray, classes: Sequence[str], normalize: bool = False,
                     precision: Optional[np.ndarray] = None, recall: Optional[np.ndarray] = None,
                     top_images: Optional[Sequence[Sequence[Optional[str]]]] = None,
                     hover_labels: bool = True) -> go.Figure:
    """The confusion matrix, rows actual and columns predicted, with recall and precision margins.

    A click reports a cell by its axis labels (class names; "recall"/"precision" for the margins).
    `top_images[i][j]` (an image URI or None) draws that cell's most confident sample in it.
    The selected cell's outline is the page's own (assets/cells.js), so the figure is built once per view.
    Without `hover_labels` the cells draw no hover label of their own but still report hovers (with
    customdata: row, column, count, row %), for the page's own tooltip with the cell's top images.
    """
    counts = np.asarray(confusion, dtype=np.int64)
    k = len(classes)
    margins = precision is not None and recall is not None
    n = k + 1 if margins else k  # one more row (precision) and column (recall) for the margins
    labels = [str(c) for c in classes]
    xs = labels + (["recall"] if margins else [])
    ys = labels + (["precision"] if margins else [])
    pct = row_percentages(counts)
    value = pct if normalize else counts.astype(np.float64)

    def grid(fill=np.nan, dtype=np.float64):
        return np.full((n, n), fill, dtype=dtype)

    custom = np.full((n, n, 4), None, dtype=object)
    rows, cols = np.indices((k, k))
    custom[:k, :k] = np.dstack([rows, cols, counts, np.round(pct, 1)])
    text = grid("", object)
    if top_images is None:
        text[:k, :k] = [[f"{pct[i, j]:.1f}%" if normalize else f"{counts[i, j]}" for j in range(k)]
                        for i in range(k)]
    hover = ("actual <b>%{y}</b>, predicted <b>%{x}</b><br>%{customdata[2]} images"
             "<br>%{customdata[3]}% of actual %{y}<extra></extra>")
    fig = go.Figure()
    diag = np.eye(k, dtype=bool)
    for mask, scale, name, color in ((diag, CORRECT_SCALE, "correct", "white"),
                                     (~diag, WRONG_SCALE, "wrong", "#222")):
        z = grid()
        z[:k, :k] = np.where(mask, value, np.nan)
        trace_text = grid("", object)
        trace_text[:k, :k] = np.where(mask, text[:k, :k], "")
        zmax = float(np.nanmax(z)) if np.any(mask & (value > 0)) else 1.0
        fig.add_trace(go.Heatmap(
            z=z, x=xs, y=ys, customdata=custom, text=trace_text, texttemplate="%{text}", textfont=dict(color=color),
            colorscale=scale, zmin=0, zmax=zmax, showscale=False, xgap=2, ygap=2, name=name, hoverongaps=False,
            **({"hovertemplate": hover} if hover_labels else {"hoverinfo": "none"})))
    if margins:
        fig.add_trace(_margin_trace(xs, ys, np.asarray(precision, dtype=float), np.asarray(recall, dtype=float),
                                    float(np.trace(counts) / max(1, counts.sum()))))
    if top_images is not None:
        fig.update_layout(images=[
            dict(source=uri, xref="x", yref="y", x=j, y=i, sizex=0.8, sizey=0.8, xanchor="center",
                 yanchor="middle", sizing="contain", layer="above")
            for i, row in enumerate(top_images) for j, uri in enumerate(row) if uri])
    # Margins wide enough for the axis titles and labels as drawn at this font, so that Plotly need not
    # measure them (automargin): a draw takes 29 ms instead of 46 here.
    rotated = max(map(len, labels)) > 3
    widest_y, widest_x = max(map(len, ys)), max(map(len, xs))
    fig.update_layout(
        font=FONT, margin=dict(l=round(32 + 7.5 * widest_y), r=10, t=10,
                               b=round(50 + 4.2 * widest_x) if rotated else 56),
        plot_bgcolor="white", paper_bgcolor="white",
        clickmode="event", dragmode=False, height=max(380, 38 * n + 110),
        xaxis=dict(title="predicted class", type="category", tickangle=-35 if rotated else 0, automargin=False,
                   fixedrange=True, showgrid=False, categoryorder="array", categoryarray=xs),
        yaxis=dict(title="actual class", type="category", autorange="reversed", fixedrange=True, automargin=False,
                   showgrid=False, categoryorder="array", categoryarray=ys))
    return fig


def _margin_trace(xs, ys, precision: np.ndarray, recall: np.ndarray, accuracy: float) -> go.Heatmap:
    """Recall down the last column, precision along the last row, overall accuracy in the corner."""
    k = len(precision)
    z = np.full((k + 1, k + 1), np.nan)
    z[:k, k], z[k, :k], z[k, k] = recall, precision, accuracy
    text = np.full((k + 1, k + 1), "", dtype=object)
    tips = np.full((k + 1, k + 1), "", dtype=object)
    for i in range(k + 1):
        for j in range(k + 1):
            v = z[i, j]
            if i < k and j < k:
                continue
            text[i, j] = "–" if np.isnan(v) else f"{100 * v:.0f}%"
            if j == k and i < k:
                tips[i, j] = f"recall of {ys[i]}: {text[i, j]} of actual {ys[i]} predicted right"
            elif i == k and j < k:
                tips[i, j] = f"precision of {xs[j]}: {text[i, j]} of predicted {xs[j]} were right"
            else:
                tips[i, j] = f"accuracy: {100 * v:.2f}% of all test images right"
    shown = np.where(np.isnan(z), np.nan, 0.0)
    shown[:k, :k] = np.nan
    return go.Heatmap(z=shown, x=xs, y=ys, text=text, texttemplate="%{text}", hovertext=tips,
                      hovertemplate="%{hovertext}<extra></extra>", colorscale=MARGIN_SCALE, zmin=0, zmax=1,
                      showscale=False, xgap=2, ygap=2, name="margins", hoverongaps=False,
                      textfont=dict(color="#333"))


def probability_figure(probs: np.ndarray, classes: Sequence[str], actual: Optional[int],
                       title: str = "") -> go.Figure:
    """Horizontal bars of one image's probability for every class; the top class coloured by right/wrong."""
    probs = np.asarray(probs, dtype=float)
    predicted = int(np.argmax(probs))
    colors = [MUTED] * len(classes)
    # Right in blue, wrong in orange; an image with no label (a drawing) in neutral purple.
    colors[predicted] = POSITIVE if actual is None else "#08519c" if predicted == actual else NEGATIVE
    labels = [f"{c} (actual)" if i == actual else str(c) for i, c in enumerate(classes)]
    fig = go.Figure(go.Bar(x=probs, y=labels, orientation="h", marker_color=colors,
                           text=[f"{100 * p:.1f}%" for p in probs], textposition="outside", cliponaxis=False,
                           hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_layout(font=FONT, title=dict(text=title, font=dict(size=13), x=0, xanchor="left"),
                      margin=dict(l=10, r=52, t=30 if title else 8, b=8), height=60 + 22 * len(classes),
                      plot_bgcolor="white", paper_bgcolor="white", dragmode=False,
                      xaxis=dict(range=[0, 1], tickformat=".0%", fixedrange=True, gridcolor="#eee"),
                      yaxis=dict(autorange="reversed", fixedrange=True))
    return fig


def output_weights_figure(weights: np.ndarray, classes: Sequence[str]) -> go.Figure:
    """One small bar chart per class: its output weight from each hidden unit (the ml4a weights demo).

    Bars above zero mean the unit's activity raises that class's score. `highlight_classes` marks
    a selected cell's classes in the built figure (building the ten subplots takes plotly ~50 ms).
    """
    w = np.asarray(weights, dtype=float)
    k, hidden = w.shape
    cols = 5
    rows = -(-k // cols)
    titles = [str(c) for c in classes]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, shared_yaxes=True,
                        horizontal_spacing=0.02, vertical_spacing=0.16)
    limit = float(np.abs(w).max()) * 1.05 if w.size else 1.0
    units = [str(u + 1) for u in range(hidden)]
    for c in range(k):
        fig.add_trace(go.Bar(
            x=units, y=w[c], marker_color=[POSITIVE if v >= 0 else NEGATIVE for v in w[c]],
            opacity=1.0, name=str(classes[c]), showlegend=False,
            hovertemplate=f"class {classes[c]}<br>hidden unit %{{x}}: weight %{{y:.3f}}<extra></extra>"),
            row=c // cols + 1, col=c % cols + 1)
    fig.update_yaxes(range=[-limit, limit], fixedrange=True, zeroline=True, zerolinecolor="#888",
                     gridcolor="#f0f0f0", showticklabels=False)
    fig.update_yaxes(showticklabels=True, col=1)
    fig.update_xaxes(fixedrange=True, tickfont=dict(size=9), title_text="", type="category")
    fig.update_annotations(font=dict(size=12))
    fig.update_layout(font=FONT, height=150 * rows + 40, margin=dict(l=10, r=10, t=30, b=10),
                      plot_bgcolor="white", paper_bgcolor="white", bargap=0.15, dragmode=False)
    return fig


def highlight_classes(figure: dict, classes: Sequence[str], actual: int, predicted: int) -> dict:
    """An output-weights figure (as `to_dict()` gives it) with a cell's two classes named and vivid.

    The titles of the actual and predicted class say so in bold; the other classes' bars fade.
    The figure passed in is not changed.
    """
    k = len(classes)
    titles = {}
    for pos, role in ((actual, "actual"), (predicted, "predicted")):
        if 0 <= pos < k:
            titles[pos] = f"<b>{classes[pos]}</b> ({role})" if pos not in titles \
                else f"<b>{classes[pos]}</b> (actual = predicted)"
    data = [dict(trace, opacity=1.0 if c in titles else 0.3) for c, trace in enumerate(figure["data"])]
    layout = dict(figure["layout"])
    layout["annotations"] = [dict(a, text=titles[c]) if c in titles else a
                             for c, a in enumerate(layout.get("annotations", ()))]
    return {**figure, "data": data, "layout": layout}


MATRIX_SCALE = [[0, NEGATIVE], [0.5, "#f7f7f7"], [1, POSITIVE]]


def matrix_figure(values: np.ndarray, rows: str, columns: str, row_labels: Sequence[str] = (),
                  marked: Optional[dict] = None) -> go.Figure:
    """A weight matrix as a heatmap on a diverging scale centred on zero (purple +, orange −).

    `row_labels` name the rows (the classes, for output weights); `marked` ({row: role}) outlines rows
    and names their role, as a selected cell marks its two classes."""
    w = np.asarray(values, dtype=np.float32)
    n_rows, n_cols = w.shape
    limit = float(np.abs(w).max()) or 1.0
    y = list(row_labels) if row_labels else [str(r + 1) for r in range(n_rows)]
    if marked:
        y = [f"<b>{label}</b> ({marked[r]})" if r in marked else label for r, label in enumerate(y)]
    fig = go.Figure(go.Heatmap(
        z=w, x=list(range(1, n_cols + 1)), y=y, colorscale=MATRIX_SCALE, zmin=-limit, zmax=limit, zmid=0,
        colorbar=dict(thickness=10, title=dict(text="weight")),
        hovertemplate=f"{rows} %{{y}}<br>{columns} %{{x}}<br>weight %{{z:.3f}}<extra></extra>"))
    for r in (marked or {}):
        fig.add_shape(type="rect", xref="paper", x0=0, x1=1, yref="y", y0=r - 0.5, y1=r + 0.5,
                      line=dict(color="#111", width=2), fillcolor="rgba(0,0,0,0)")
    fig.update_layout(font=FONT, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white", paper_bgcolor="white",
                      height=min(420, max(200, 14 * n_rows + 90)), dragmode="zoom",
                      xaxis=dict(title=columns, showgrid=False),
                      yaxis=dict(title=rows, autorange="reversed", showgrid=False, type="category",
                                 showticklabels=bool(row_labels) or n_rows <= 40))
    return fig


def activations_figure(activations: np.ndarray, highlight: Optional[int] = None,
                       units: Optional[Sequence[int]] = None, title: str = "Hidden activations",
                       layer: Optional[int] = None) -> go.Figure:
    """Hidden activations for one image, one bar per unit (only `units`, when given); `highlight` outlined.
    With the `layer` they are in (numbered as the page does), each bar names its unit ("L.U") for a click to
    open its unit view (explanations.OPEN_UNIT, assets/views.js)."""
    shown = list(range(len(activations))) if units is None else list(units)
    acts = np.asarray(activations, dtype=float)[shown]
    names = [f"unit {u + 1}" for u in shown]
    colors = [POSITIVE if u == highlight else "#9e9ac8" for u in shown]
    fig = go.Figure(go.Bar(x=names, y=acts, marker_color=colors, text=[f"{a:.2f}" for a in acts],
                           textposition="outside", cliponaxis=False,
                           customdata=None if layer is None else [f"{layer}.{u + 1}" for u in shown],
                           hovertemplate="%{x}: activation %{y:.3f}"
                           + ("<br>click: what makes it fire" if layer is not None else "") + "<extra></extra>"))
    fig.update_layout(font=FONT, title=dict(text=title, font=dict(size=13), x=0, xanchor="left"),
                      margin=dict(l=10, r=10, t=30, b=10), height=220, plot_bgcolor="white",
                      paper_bgcolor="white", dragmode=False, showlegend=False,
                      xaxis=dict(fixedrange=True, type="category"),
                      yaxis=dict(fixedrange=True, gridcolor="#eee", zeroline=True, zerolinecolor="#888"))
    return fig


def unit_contributions_figure(predicted: np.ndarray, reference: np.ndarray, predicted_name: str,
                              reference_name: str, units: Optional[Sequence[int]] = None,
                              title: str = "Each unit's share of the two scores (activation × output weight)",
                              layer: Optional[int] = None) -> go.Figure:
    """Each hidden unit's share (activation x output weight) of two classes' logits, side by side (only
    `units`, when given); with their `layer`, a click on a bar opens its unit (as `activations_figure`)."""
    shown = list(range(len(predicted))) if units is None else list(units)
    names = [f"unit {u + 1}" for u in shown]
    keys = None if layer is None else [f"{layer}.{u + 1}" for u in shown]
    more = "<br>click: what makes it fire" if layer is not None else ""
    fig = go.Figure([
        # Greys, not the purple and orange that mean "raises" and "lowers" in the maps below.
        go.Bar(x=names, y=np.asarray(predicted, float)[shown], name=predicted_name, marker_color="#252525",
               customdata=keys, hovertemplate=f"{predicted_name}<br>%{{x}}: %{{y:+.3f}}{more}<extra></extra>"),
        go.Bar(x=names, y=np.asarray(reference, float)[shown], name=reference_name, marker_color="#a3a3a3",
               customdata=keys, hovertemplate=f"{reference_name}<br>%{{x}}: %{{y:+.3f}}{more}<extra></extra>")])
    fig.update_layout(font=FONT, barmode="group", height=240, plot_bgcolor="white", paper_bgcolor="white",
                      title=dict(text=title,
                                 font=dict(size=13), x=0, xanchor="left"),
                      margin=dict(l=10, r=10, t=30, b=10), dragmode=False,
                      legend=dict(orientation="h", x=1, xanchor="right", y=1.12),
                      xaxis=dict(fixedrange=True, type="category"),
                      yaxis=dict(fixedrange=True, gridcolor="#eee", zeroline=True, zerolinecolor="#888"))
    return fig


DIFF_SCALE = [[0, "#b35806"], [0.25, "#f1a340"], [0.5, "#f7f7f7"], [0.75, "#998ec3"], [1, "#542788"]]


def difference_figure(diff: np.ndarray, classes: Sequence[str], name_a: str, name_b: str,
                      selected: Optional[tuple[int, int]] = None, scale_title: str = "B − A") -> go.Figure:
    """B's confusion minus A's on a diverging scale centred on zero: purple where B puts more images, orange
    where fewer. Diagonal gains are B getting more right; off-diagonal gains are B's new mistakes."""
    d = np.asarray(diff, dtype=np.int64)
    labels = [str(c) for c in classes]
    limit = max(1, int(np.abs(d).max()))
    text = [[f"{v:+d}" if v else "0" for v in row] for row in d]
    fig = go.Figure(go.Heatmap(
        z=d, x=labels, y=labels, text=text, texttemplate="%{text}", colorscale=DIFF_SCALE, zmin=-limit,
        zmax=limit, zmid=0, xgap=2, ygap=2, showscale=True, colorbar=dict(title=dict(text=scale_title), thickness=12),
        hovertemplate=f"actual <b>%{{y}}</b>, predicted <b>%{{x}}</b><br>{name_b} minus {name_a}: "
                      "%{z:+d} images<extra></extra>"))
    if selected is not None:
        i, j = selected
        fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, xref="x", yref="y",
                      line=dict(color="#111", width=3), fillcolor="rgba(0,0,0,0)")
    k = len(labels)
    fig.update_layout(
        font=FONT, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white", paper_bgcolor="white",
        clickmode="event", dragmode=False, height=max(360, 36 * k + 110),
        xaxis=dict(title="predicted class", type="category", fixedrange=True, showgrid=False,
                   tickangle=-35 if max(map(len, labels)) > 3 else 0),
        yaxis=dict(title="actual class", type="category", autorange="reversed", fixedrange=True, showgrid=False))
    return fig


# Okabe-Ito: one colour per dataset on the ladder, told apart with any colour vision.
DATASET_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


def ladder_figure(lines: dict, chapter: dict) -> go.Figure:
    """Test accuracy against hidden units (one layer) and against depth (layers of 100), one line per dataset.

    `lines` maps a dataset's title to (its id, width points, depth points); a point is (x, accuracy, seconds,
    network). `chapter` maps a dataset's title to what the chapter reports for its 2-layer net (10 units)."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.68, 0.32], horizontal_spacing=0.08, shared_yaxes=True,
                        subplot_titles=("One hidden layer: accuracy against its units",
                                        "Layers of 100 units: accuracy against depth"))
    for n, (title, (dataset, width, depth)) in enumerate(lines.items()):
        colour = DATASET_COLOURS[n % len(DATASET_COLOURS)]
        for col, points, what in ((1, width, "hidden units"), (2, depth, "hidden layers")):
            if not points:
                continue
            fig.add_trace(go.Scatter(
                x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers+text",
                text=[f"{p[2]:.0f} s" for p in points], textposition="bottom right", textfont=dict(size=9, color="#666"),
                marker=dict(size=9, color=colour), line=dict(color=colour, width=2), name=title, legendgroup=title,
                showlegend=col == 1 or not width, customdata=[[dataset, p[3]] for p in points],
                hovertemplate=f"<b>{title}</b><br>%{{x}} {what}: %{{y:.2%}}<br>trained in %{{text}}"
                              "<br>click to open<extra></extra>"), row=1, col=col)
    for col, x in ((1, [1, 200]), (2, [1, 3])):  # both panels keep their axes while they have no point yet
        fig.add_trace(go.Scatter(x=x, y=[None, None], mode="markers", showlegend=False, hoverinfo="skip"),
                      row=1, col=col)
    for title, accuracy in chapter.items():
        fig.add_trace(go.Scatter(
            x=[10], y=[accuracy], mode="markers", name=f"the chapter: {title}, 2-layer net",
            marker=dict(symbol="star-open", size=14, color="#111", line=dict(width=2)),
            hovertemplate=f"the chapter reports about {accuracy:.0%} for its 2-layer net (10 units) on {title}"
                          "<extra></extra>"), row=1, col=1)
    fig.update_xaxes(type="log", tickvals=[1, 2, 5, 10, 20, 50, 100, 200], title_text="hidden units", row=1, col=1)
    fig.update_xaxes(tickvals=[1, 2, 3], range=[0.7, 3.3], title_text="hidden layers", row=1, col=2)
    fig.update_yaxes(tickformat=".0%", gridcolor="#eee", title_text="test accuracy", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", gridcolor="#eee", row=1, col=2)
    fig.update_annotations(font=dict(size=12))
    fig.update_layout(font=FONT, height=380, margin=dict(l=10, r=10, t=30, b=10), plot_bgcolor="white",
                      paper_bgcolor="white", clickmode="event", dragmode=False, hovermode="closest",
                      legend=dict(orientation="h", y=-0.2, x=0))
    return fig


# Paul Tol's "muted" scheme (nine colours told apart with any colour vision) and a dark grey for a tenth class.
# Paul Tol's muted scheme, then two more for datasets of up to twelve classes (beyond, they repeat).
CLASS_COLOURS = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
                 "#AA4499", "#555555", "#E69F00", "#8C564B")
ONE_UNIT = "one unit: no second direction"  # the y axis of the map of a one-unit layer


def map_figure(coords: np.ndarray, labels: np.ndarray, preds: np.ndarray, probs: np.ndarray,
               classes: Sequence[str], axes: Sequence[str], meta: dict) -> go.Figure:
    """Every test image as a point of a 2-D map, coloured by its true class; mistakes are crosses.

    Two WebGL traces per class (right, wrong), so the legend toggles a class and the crosses stand out.
    Each point's customdata is its test-set index (int32); the predicted class and its probability (per
    mille) of every image travel once, in the layout's meta, for the browser's hover card. One axis title
    (a layer of one unit, which has no second direction) draws the points on a line: x is their only
    coordinate, y is 0.
    """
    coords = np.asarray(coords, dtype=np.float32).reshape(len(labels), -1)
    line = len(axes) < 2 or coords.shape[1] < 2
    coords = np.stack([coords[:, 0], np.zeros(len(coords), np.float32)], 1) if line else coords
    labels, preds = np.asarray(labels), np.asarray(preds)
    wrong = labels != preds
    fig = go.Figure()
    for c, name in enumerate(classes):
        colour = CLASS_COLOURS[c % len(CLASS_COLOURS)]
        for mistakes in (False, True):
            members = np.flatnonzero((labels == c) & (wrong == mistakes))
            fig.add_trace(go.Scattergl(
                x=coords[members, 0], y=coords[members, 1], customdata=members.astype(np.int32), mode="markers",
                name=str(name), legendgroup=str(c), showlegend=not mistakes, hoverinfo="none",
                meta={"class": c, "mistakes": mistakes},
                marker=dict(color=colour, size=7 if mistakes else 4, symbol="x" if mistakes else "circle",
                            opacity=0.95 if mistakes else 0.6),
                selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=0.08))))
    fig.add_trace(go.Scattergl(x=[None], y=[None], mode="markers", name="mistake (×)", hoverinfo="skip",
                               marker=dict(color="#222", symbol="x", size=8)))
    fig.update_layout(
        font=FONT, height=520, margin=dict(l=10, r=10, t=36, b=10), plot_bgcolor="white", paper_bgcolor="white",
        dragmode="select", hovermode="closest", uirevision=meta.get("revision"), clickmode="event",
        legend=dict(itemsizing="constant", title=dict(text="true class"), tracegroupgap=2),
        xaxis=dict(title=axes[0], zeroline=False, showgrid=False, showticklabels=False),
        yaxis=dict(title=ONE_UNIT if line else axes[1], zeroline=False, showgrid=False, showticklabels=False,
                   **({"range": [-1, 1], "fixedrange": True} if line else {})),
        meta={**meta, "classes": [str(c) for c in classes], "pred": [int(p) for p in preds],
              "prob": [int(round(1000 * float(probs[i, p]))) for i, p in enumerate(preds)]})
    return fig


def separation_figure(rows: Sequence[tuple[str, float]], chosen: Optional[str] = None) -> go.Figure:
    """Nearest-class-mean accuracy in each layer, input at the top: how much each layer separates the classes."""
    names = [name for name, _ in rows]
    values = [100 * v for _, v in rows]
    colours = [POSITIVE if name == chosen else "#998ec3" for name in names]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker_color=colours,
                           text=[f"{v:.1f}%" for v in values], textposition="outside", cliponaxis=False,
                           hovertemplate="%{y}: %{x:.1f}% of test images are nearest their own class's mean"
                                         "<extra></extra>"))
    fig.update_layout(font=FONT, height=44 + 30 * len(rows), margin=dict(l=10, r=40, t=4, b=30),
                      plot_bgcolor="white", paper_bgcolor="white", bargap=0.35,
                      xaxis=dict(range=[0, 100], title="nearest-class-mean accuracy (%)", fixedrange=True,
                                 ticksuffix="%"),
                      yaxis=dict(autorange="reversed", fixedrange=True))
    return fig


def reliability_figure(bins: Sequence[dict], ece: float, title: str) -> go.Figure:
    """The reliability diagram: each confidence bin's accuracy as a bar over its range, the diagonal where
    confidence and accuracy agree, and the bin's mean confidence as a tick; the counts in the hover."""
    filled = [b for b in bins if b["count"]]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        x=[(b["lo"] + b["hi"]) / 2 for b in filled], y=[b["accuracy"] for b in filled],
        width=[b["hi"] - b["lo"] for b in filled], marker=dict(color="#2b5d9b", line=dict(color="#fff", width=1)),
        name="accuracy", customdata=[[b["lo"], b["hi"], b["count"], b["confidence"]] for b in filled],
        hovertemplate="confidence %{customdata[0]:.0%}–%{customdata[1]:.0%}: %{customdata[2]:,} images<br>"
                      "right: %{y:.1%}, mean confidence %{customdata[3]:.1%}<br>click to list them<extra></extra>"))
    fig.add_trace(go.Scatter(x=[b["confidence"] for b in filled], y=[b["confidence"] for b in filled],
                             mode="markers", marker=dict(symbol="line-ew-open", size=16, color="#d95f02",
                                                         line=dict(width=3)),
                             name="mean confidence", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#999", dash="dot"),
                             name="perfectly calibrated", hoverinfo="skip"))
    fig.update_layout(font=FONT, height=340, margin=dict(l=10, r=10, t=34, b=10), plot_bgcolor="white",
                      paper_bgcolor="white", bargap=0, dragmode=False, clickmode="event",
                      title=dict(text=f"{title}: expected calibration error {100 * ece:.2f}%", x=0, xanchor="left",
                                 font=dict(size=13)),
                      legend=dict(orientation="h", y=-0.22, x=0),
                      xaxis=dict(range=[0, 1], tickformat=".0%", title="confidence (top probability)", fixedrange=True),
                      yaxis=dict(range=[0, 1], tickformat=".0%", title="accuracy", gridcolor="#eee", fixedrange=True))
    return fig


def reliability_pair(sides: Sequence[tuple[str, Sequence[dict], float]]) -> go.Figure:
    """Two reliability diagrams side by side, one per (name, bins, ece): Compare's calibration."""
    fig = make_subplots(rows=1, cols=len(sides), shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=[f"{name}: ECE {100 * ece:.2f}%" for name, _, ece in sides])
    for col, (name, bins, ece) in enumerate(sides, start=1):
        for trace in reliability_figure(bins, ece, name).data:
            trace.showlegend = col == 1
            if isinstance(trace, go.Bar):
                trace.hovertemplate = trace.hovertemplate.replace("<br>click to list them", "")
            fig.add_trace(trace, row=1, col=col)
        fig.update_xaxes(range=[0, 1], tickformat=".0%", title_text="confidence", fixedrange=True, row=1, col=col)
    fig.update_yaxes(range=[0, 1], tickformat=".0%", gridcolor="#eee", fixedrange=True)
    fig.update_yaxes(title_text="accuracy", row=1, col=1)
    fig.update_layout(font=FONT, height=320, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
                      paper_bgcolor="white", bargap=0, dragmode=False, legend=dict(orientation="h", y=-0.25, x=0))
    for annotation in fig.layout.annotations:
        annotation.font = dict(size=12)
    return fig


def unit_classes_figure(boxes: Sequence[Optional[dict]], classes: Sequence[str], noun: str) -> go.Figure:
    """One unit's activation within each true class: a box from the 25th to the 75th percentile with its
    median, whiskers at the 5th and 95th, and the mean as a dot (the statistics are computed on the server)."""
    shown = [(str(c), b) for c, b in zip(classes, boxes) if b is not None]
    fig = go.Figure(go.Box(
        x=[c for c, _ in shown], q1=[b["q1"] for _, b in shown], median=[b["median"] for _, b in shown],
        q3=[b["q3"] for _, b in shown], lowerfence=[b["lowerfence"] for _, b in shown],
        upperfence=[b["upperfence"] for _, b in shown], mean=[b["mean"] for _, b in shown],
        marker_color=POSITIVE, fillcolor="rgba(84,39,136,0.25)", line_width=1.5, boxpoints=False,
        hoverinfo="x+y", showlegend=False))
    fig.update_xaxes(type="category", title_text="true class", fixedrange=True)
    fig.update_yaxes(title_text=f"the {noun}'s activation", fixedrange=True, zeroline=True, zerolinecolor="#888",
                     gridcolor="#f0f0f0")
    fig.update_layout(font=FONT, height=260, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                      paper_bgcolor="white", dragmode=False)
    return fig


def unit_outgoing_figure(weights: np.ndarray, names: Sequence[str], what: str) -> go.Figure:
    """The weights from one unit to each unit (or class) of the next layer: a bar each, purple raises it."""
    w = np.asarray(weights, dtype=float)
    fig = go.Figure(go.Bar(x=[str(n) for n in names], y=w, marker_color=[POSITIVE if v >= 0 else NEGATIVE for v in w],
                           hovertemplate=f"{what} %{{x}}: weight %{{y:.3f}}<extra></extra>", showlegend=False))
    fig.update_xaxes(type="category", title_text=what, fixedrange=True)
    fig.update_yaxes(title_text="weight", fixedrange=True, zeroline=True, zerolinecolor="#888", gridcolor="#f0f0f0")
    fig.update_layout(font=FONT, height=240, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                      paper_bgcolor="white", bargap=0.15, dragmode=False)
    return fig
