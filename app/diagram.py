"""The network drawn from its own weights, as the chapter draws it: nodes, and edges coloured by weight.

- The 1-layer net: the 28×28 grid of one output's weights, the same weights unrolled into a column of 784
  inputs, and their edges into that output; hovering a pixel lights its row and edge (assets/diagram.js).
- A fully connected net with hidden layers: its first hidden units drawn as their filters, and their output
  edges coloured by weight. A wide layer is summarised: the units that matter most, and "+N" for the rest.

Given an image, the inputs show its pixels, each unit its activation and each output its score. Pure
figure-building: arrays in, a Plotly figure out.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from models.config import Normalization
from models.nets import LinearNet, MLP

from .images import DIVERGING_ANCHORS, colorize, png_data_uri

SHOWN_UNITS = 16  # hidden units drawn; a wider layer shows the most active (or weightiest) and "+N"
EDGE_BINS = 9  # edges are drawn in this many colours (one trace each): 784 traces would be 784 SVG groups
DIVERGING = [[i / (len(DIVERGING_ANCHORS) - 1), f"rgb({r:.0f},{g:.0f},{b:.0f})"]
             for i, (r, g, b) in enumerate(DIVERGING_ANCHORS)]
GREY = [[0, "#000"], [1, "#fff"]]


def _colour(t: float) -> str:
    """The diverging map's colour for t in [-1, 1]."""
    pos = (np.clip(t, -1, 1) + 1) / 2 * (len(DIVERGING_ANCHORS) - 1)
    lo = int(min(np.floor(pos), len(DIVERGING_ANCHORS) - 2))
    r, g, b = DIVERGING_ANCHORS[lo] * (1 - (pos - lo)) + DIVERGING_ANCHORS[lo + 1] * (pos - lo)
    return f"rgb({r:.0f},{g:.0f},{b:.0f})"


def _edges(fig: go.Figure, starts, ends, weights: np.ndarray, scale: float, width: float = 1.0,
           name: str = "edges") -> None:
    """Lines from each start to each end, coloured by weight on the diverging map, in EDGE_BINS traces."""
    t = np.clip(np.asarray(weights, dtype=np.float64) / max(scale, 1e-12), -1, 1)
    bins = np.round((t + 1) / 2 * (EDGE_BINS - 1)).astype(int)
    for b in range(EDGE_BINS):
        members = np.flatnonzero(bins == b)
        if not len(members):
            continue
        xs, ys = [], []
        for m in members:
            xs += [starts[m][0], ends[m][0], None]
            ys += [starts[m][1], ends[m][1], None]
        level = b / (EDGE_BINS - 1) * 2 - 1
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False, name=name,
                                 line=dict(color=_colour(level), width=width * (0.6 + 1.4 * abs(level))),
                                 opacity=0.25 + 0.6 * abs(level)))


def _outputs(fig: go.Figure, x: float, ys, classes: Sequence[str], scores: Optional[np.ndarray],
             marked: Optional[int]) -> None:
    """The output nodes, with their scores when an image went through."""
    predicted = int(np.argmax(scores)) if scores is not None else None
    labels = [f"<b>{c}</b>" if i == predicted else str(c) for i, c in enumerate(classes)]
    if scores is not None:
        labels = [f"{lab}  z = {s:.2f}" for lab, s in zip(labels, scores)]
    sizes = [22 if i == marked else 16 for i in range(len(classes))]
    colours = ["#2b5d9b" if i == predicted else ("#fdb863" if i == marked else "#fff") for i in range(len(classes))]
    fig.add_trace(go.Scatter(
        x=[x] * len(classes), y=list(ys), mode="markers+text", text=labels, textposition="middle right",
        marker=dict(size=sizes, color=colours, line=dict(color="#333", width=1.5)), showlegend=False,
        hovertext=[f"output {c}" + (f": score {s:.3f}" if scores is not None else "")
                   for c, s in zip(classes, scores if scores is not None else [None] * len(classes))],
        hoverinfo="text", name="outputs", cliponaxis=False))


def _frame(fig: go.Figure, width: float, height: float, title: str, meta: dict) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=14)), meta={"diagram": meta},
        height=480, margin=dict(l=10, r=10, t=36, b=10), plot_bgcolor="#fff", paper_bgcolor="#fff",
        xaxis=dict(visible=False, range=[-1, width], fixedrange=True),
        yaxis=dict(visible=False, range=[-2, height + 1], scaleanchor="x", fixedrange=True), dragmode=False)
    return fig


def linear_diagram(model: LinearNet, norm: Normalization, classes: Sequence[str], output: int,
                   image: Optional[np.ndarray] = None) -> go.Figure:
    """The 1-layer net: output `output`'s weights as the H×W grid and unrolled into the input column, with
    their edges into that output; with an image (C, H, W uint8), its pixels beside them and every score."""
    w = model.templates().numpy().astype(np.float64)  # (classes, C, H, W), on normalised pixels
    c, h, wd = w.shape[1:]
    n = c * h * wd
    scale = float(np.percentile(np.abs(w), 99)) or 1.0
    chosen = w[output]
    fig = go.Figure()
    # The grid: row 0 at the top. Colour images show the mean over channels.
    grid = chosen.mean(0)[::-1]
    fig.add_trace(go.Heatmap(z=grid, x0=0.5, dx=1, y0=0.5, dy=1, colorscale=DIVERGING, zmin=-scale, zmax=scale,
                             showscale=False, name="grid", customdata=np.arange(h * wd).reshape(h, wd)[::-1],
                             hovertemplate="pixel row %{y:.0f}, column %{x:.0f}<br>w = %{z:.4f}<extra></extra>"))
    # The same weights unrolled: one input per pixel (and channel), top to bottom, over the grid's height.
    left, strip_x = wd + 6, wd + 12
    unrolled = chosen.reshape(-1)
    dy = h / n
    fig.add_trace(go.Heatmap(z=unrolled[::-1, None], x0=strip_x + 0.75, dx=1.5, y0=dy / 2, dy=dy,
                             colorscale=DIVERGING, zmin=-scale, zmax=scale, showscale=False, name="column",
                             hovertemplate="input %{customdata}<br>w = %{z:.4f}<extra></extra>",
                             customdata=np.arange(n)[::-1, None]))
    scores = None
    if image is not None:
        x = np.asarray(image, dtype=np.float64).reshape(-1)
        fig.add_trace(go.Heatmap(z=x[::-1, None], x0=left + 0.75, dx=1.5, y0=dy / 2, dy=dy, colorscale=GREY,
                                 zmin=0, zmax=255, showscale=False, name="pixels",
                                 hovertemplate="input %{customdata}: pixel %{z:.0f}<extra></extra>",
                                 customdata=np.arange(n)[::-1, None]))
        with torch.no_grad():
            scores = model.eval()(norm.apply(torch.as_tensor(image)[None]))[0].double().numpy()
    out_x, k = strip_x + 30, len(classes)
    ys = [h - (i + 0.5) * h / k for i in range(k)]
    ends = [(out_x, ys[output])] * n
    starts = [(strip_x + 1.5, h - (i + 0.5) * dy) for i in range(n)]
    _edges(fig, starts, ends, unrolled, scale, width=0.6)
    _outputs(fig, out_x, ys, classes, scores, output)
    fig.add_annotation(x=wd / 2, y=-1, text=f"the {h}×{wd} grid of w for {classes[output]}", showarrow=False,
                       font=dict(size=11, color="#555"))
    fig.add_annotation(x=strip_x + 0.75, y=-1, text=f"{n:,} inputs, unrolled", showarrow=False,
                       font=dict(size=11, color="#555"))
    title = f"{n:,} inputs → {k} outputs: the edges into {classes[output]}, coloured by weight (purple +, orange −)"
    meta = {"kind": "linear", "h": h, "w": wd, "channels": c, "n": n, "strip": [strip_x, strip_x + 1.5],
            "out": [out_x, ys[output]]}
    return _frame(fig, out_x + 12, h, title, meta)


def mlp_diagram(model: MLP, norm: Normalization, classes: Sequence[str], image: Optional[np.ndarray] = None,
                shown_units: int = SHOWN_UNITS) -> go.Figure:
    """A fully connected net: its first hidden layer's units drawn as their filters, edges to the outputs
    (through the deeper layers, summarised) coloured by weight; with an image, the activations and scores."""
    filters = model.hidden_filters().numpy()
    units = len(filters)
    activations = scores = None
    if image is not None:
        with torch.no_grad():
            x = norm.apply(torch.as_tensor(image)[None])
            activations = model.eval().features(x)[0][0].double().numpy()
            scores = model(x)[0].double().numpy()
    deep = len(model.widths) > 1
    out_w = model.output_weights().numpy() if not deep else None
    # Which units to draw: all, or the most active (with an image) / the weightiest (without) of a wide layer.
    if units <= shown_units:
        picked = list(range(units))
    else:
        key = np.abs(activations) if activations is not None else np.abs(model.outgoing().detach().numpy()).sum(0)
        picked = sorted(np.argsort(-key, kind="stable")[:shown_units].tolist())
    fig = go.Figure()
    height, k = 30.0, len(classes)
    tile = min(height / len(picked) * 0.8, 3.2)
    unit_x, out_x = 22.0, 52.0 if deep else 40.0
    uys = [height - (i + 0.5) * height / len(picked) for i in range(len(picked))]
    oys = [height - (i + 0.5) * height / k for i in range(k)]
    # The input: the image, or a grey box saying what it is.
    if image is not None:
        shown = np.asarray(image)
        pic = shown[0] if shown.shape[0] == 1 else np.transpose(shown, (1, 2, 0))
        fig.add_layout_image(source=png_data_uri(pic.astype(np.uint8)), x=0, y=height / 2 + 5, sizex=10, sizey=10,
                             xref="x", yref="y", layer="above", sizing="stretch")
    else:
        fig.add_shape(type="rect", x0=0, x1=10, y0=height / 2 - 5, y1=height / 2 + 5, line=dict(color="#999"),
                      fillcolor="#f4f4f4")
    n_in = int(np.prod(model.in_shape))
    fig.add_annotation(x=5, y=height / 2 - 6.5, text=f"{n_in:,} input pixels", showarrow=False,
                       font=dict(size=11, color="#555"))
    for y in uys:  # every pixel feeds every unit: one grey line stands for its 784 edges
        fig.add_trace(go.Scatter(x=[10, unit_x - tile / 2], y=[height / 2, y], mode="lines", hoverinfo="skip",
                                 showlegend=False, line=dict(color="#bbb", width=0.8)))
    images = colorize(filters[picked], "diverging")
    for i, (u, y) in enumerate(zip(picked, uys)):
        fig.add_layout_image(source=png_data_uri(images[i]), x=unit_x - tile / 2, y=y + tile / 2, sizex=tile,
                             sizey=tile, xref="x", yref="y", layer="above", sizing="stretch")
        label = f"unit {u + 1}" + (f": {activations[u]:.2f}" if activations is not None else "")
        fig.add_annotation(x=unit_x + tile / 2 + 0.3, y=y, text=label, showarrow=False, xanchor="left",
                           font=dict(size=10, color="#333"))
    fig.add_trace(go.Scatter(x=[unit_x] * len(picked), y=uys, mode="markers", marker=dict(size=1, opacity=0),
                             hovertext=[f"unit {u + 1}" + (f": activation {activations[u]:.3f}" if activations is not
                                                           None else "") for u in picked],
                             hoverinfo="text", showlegend=False, name="units"))
    if units > len(picked):
        fig.add_annotation(x=unit_x, y=-1, text=f"{len(picked)} of {units} units shown, +{units - len(picked)} "
                                                 + ("less active" if activations is not None else "with smaller weights"),
                           showarrow=False, font=dict(size=11, color="#555"))
    start_x = unit_x + tile / 2 + 6
    if deep:  # the layers between are summarised: a box, and a grey edge from each unit to it
        box_x = (start_x + out_x) / 2
        fig.add_shape(type="rect", x0=box_x - 4, x1=box_x + 4, y0=height / 2 - 6, y1=height / 2 + 6,
                      line=dict(color="#999"), fillcolor="#f4f4f4")
        fig.add_annotation(x=box_x, y=height / 2, text="<br>".join(
            f"layer {i + 2}: {w} units" for i, w in enumerate(model.widths[1:])), showarrow=False,
            font=dict(size=11, color="#333"))
        for y in uys:
            fig.add_trace(go.Scatter(x=[start_x, box_x - 4], y=[y, height / 2], mode="lines", hoverinfo="skip",
                                     showlegend=False, line=dict(color="#ccc", width=0.8)))
        for y in oys:
            fig.add_trace(go.Scatter(x=[box_x + 4, out_x], y=[height / 2, y], mode="lines", hoverinfo="skip",
                                     showlegend=False, line=dict(color="#ccc", width=0.8)))
        title = f"A {len(model.widths) + 1}-layer net: its first {units} hidden units as their filters"
    else:
        weights = out_w[:, picked]  # (classes, shown units)
        scale = float(np.abs(out_w).max()) or 1.0
        starts = [(start_x, uys[j]) for c in range(k) for j in range(len(picked))]
        ends = [(out_x, oys[c]) for c in range(k) for j in range(len(picked))]
        _edges(fig, starts, ends, weights.reshape(-1), scale, width=1.2)
        title = f"{units} hidden units, drawn as their filters → {k} outputs: edges coloured by weight (purple +, orange −)"
    _outputs(fig, out_x, oys, classes, scores, None)
    return _frame(fig, out_x + 14, height, title, {"kind": "mlp", "units": units, "shown": len(picked)})
