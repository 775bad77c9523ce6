"""Dash's own floor on this machine: a bare page with the dashboard's element ids doing the same things.

One heatmap drawn by one callback from the dataset dropdown, one callback answering a cell click with the
cell's heading and 24 images, and two views switched by a router callback. The page benchmark runs the
same actions here and on the dashboard, in the same run, and reports each figure as a ratio to this one.

    python -m bench.bare PORT   (serves until stopped; LOOKINSIDE_DATA_DIR names the datasets)
"""
from __future__ import annotations

import sys

import numpy as np
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html

from app.images import Thumbnails
from models import datasets
from models.config import Settings

DATASETS = ("mnist", "fashion-mnist")
TILES = 24


def figure(classes, counts) -> dict:
    fig = go.Figure(go.Heatmap(z=counts, x=list(classes), y=list(classes), text=counts, texttemplate="%{text}",
                               colorscale="Blues", showscale=False))
    fig.update_layout(width=560, height=520, margin=dict(l=90, r=10, t=10, b=90),
                      yaxis=dict(autorange="reversed", type="category"), xaxis=dict(type="category"))
    return fig.to_dict()


def create(settings: Settings) -> Dash:
    loaded = {name: datasets.load(name, False, settings) for name in DATASETS}
    thumbs = {name: Thumbnails(found.images) for name, found in loaded.items()}
    rng = np.random.default_rng(0)
    counts = {name: rng.integers(0, 1000, (10, 10)).tolist() for name in DATASETS}
    app = Dash(__name__, title="bare", suppress_callback_exceptions=True, update_title=None, compress=True)

    def core():
        return html.Div([dcc.Graph(id="confusion-graph", config={"displayModeBar": False}),
                         html.Div(id="cell-samples")])

    app.layout = html.Div([
        dcc.Location(id="url", refresh=False),
        dcc.Dropdown(id="dataset-dropdown", value="mnist", clearable=False,
                     options=[{"label": n, "value": n} for n in DATASETS]),
        html.Nav([dcc.Link("core", href="/", id="view-link-core"),
                  dcc.Link("other", href="/other", id="view-link-other")]),
        html.Div(id="view-body")])

    @app.callback(Output("view-body", "children"), Input("url", "pathname"))
    def route(path):
        if path == "/other":
            return html.Section(className="card", children=[html.H2("Another view"), html.Div(
                [html.Img(src=thumbs["mnist"].uri(i)) for i in range(TILES)])])
        return core()

    @app.callback(Output("confusion-graph", "figure"), Input("dataset-dropdown", "value"))
    def heatmap(dataset):
        dataset = dataset if dataset in DATASETS else "mnist"
        return figure(loaded[dataset].classes, counts[dataset])

    @app.callback(Output("cell-samples", "children"), Input("confusion-graph", "clickData"),
                  State("dataset-dropdown", "value"))
    def samples(click, dataset):
        if not click:
            return html.P("Click a cell.")
        point = click["points"][0]
        dataset = dataset if dataset in DATASETS else "mnist"
        start = (hash((point["x"], point["y"])) % 400) * TILES
        return [html.H3(f"actual {point['y']}, predicted {point['x']}"),
                html.Div([html.Img(src=thumbs[dataset].uri(start + i), style={"width": "56px"})
                          for i in range(TILES)])]

    return app


def main() -> None:
    app = create(Settings.resolve(None, None, True))
    app.server.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)


if __name__ == "__main__":
    main()
