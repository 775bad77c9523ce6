"""The selected cell's images, most confident first, and one image's full probability distribution."""
from __future__ import annotations

from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from .. import figures, ids
from ..service import Service
from .confusion import parse_cell

PAGE = 24  # images shown per click of "show more"
MAX_SHOWN = 480  # a cell can hold thousands of images: the page never asks for more than this


def layout() -> html.Section:
    return html.Section(className="card card-samples", children=[
        html.H2("What it saw"),
        html.P(className="explain", children=(
            "The images of the selected cell, the ones the network was most sure about first. "
            "Off the diagonal these are its most confident mistakes. Click an image for its probabilities.")),
        html.Div(id=ids.SAMPLES, className="samples",
                 children=html.P("Click a cell of the heatmap to see its images.", className="hint")),
        html.Button(f"Show {PAGE} more", id=ids.SAMPLES_MORE, className="more-button hidden", n_clicks=0),
        # dcc.Graph ignores className updates after it mounts, so a plain box does the hiding.
        html.Div(id=ids.SAMPLE_PROBS_BOX, className="sample-probs hidden", children=dcc.Graph(
            id=ids.SAMPLE_PROBS, config={"displayModeBar": False}, figure=figures.empty_figure(""))),
    ])


def stores() -> list:
    return [dcc.Store(id=ids.STATE_CELL), dcc.Store(id=ids.STATE_SHOWN, data=PAGE), dcc.Store(id=ids.STATE_SAMPLE)]


def register(app: Dash, service: Service) -> dict:
    @app.callback(Output(ids.STATE_SHOWN, "data"),
                  Input(ids.SAMPLES_MORE, "n_clicks"), Input(ids.STATE_CELL, "data"), State(ids.STATE_SHOWN, "data"))
    def shown(_, __, current):
        if ctx.triggered_id != ids.SAMPLES_MORE or not isinstance(current, int):
            return PAGE
        return min(MAX_SHOWN, current + PAGE)

    @app.callback(Output(ids.STATE_SAMPLE, "data"),
                  Input({"type": ids.SAMPLE_TILE, "index": ALL}, "n_clicks"), Input(ids.STATE_CELL, "data"))
    def select_sample(_, __):
        if ctx.triggered_id == ids.STATE_CELL:
            return None  # a new cell clears the selection
        trigger = ctx.triggered_id
        clicked = bool(ctx.triggered) and bool(ctx.triggered[0].get("value"))
        index = trigger.get("index") if isinstance(trigger, dict) else None
        if clicked and isinstance(index, int) and 0 <= index < 1_000_000:
            return index
        return no_update  # tiles that just appeared (no clicks yet) change nothing

    @app.callback(Output({"type": ids.SAMPLE_TILE, "index": ALL}, "className"),
                  Input(ids.STATE_SAMPLE, "data"), State({"type": ids.SAMPLE_TILE, "index": ALL}, "id"))
    def mark_selected(selected, tile_ids):
        return ["tile selected" if isinstance(t, dict) and t.get("index") == selected else "tile"
                for t in tile_ids or []]

    @app.callback(Output(ids.SAMPLES, "children"), Output(ids.SAMPLES_MORE, "className"),
                  Input(ids.STATE_CELL, "data"), Input(ids.STATE_SHOWN, "data"),
                  State(ids.STATE_SAMPLE, "data"), State(ids.STATE_RESOLVED, "data"),
                  State(ids.STATE_TRAINED, "data"), State(ids.DATASET, "value"), State(ids.ARCH, "value"))
    def samples(cell, count, selected, resolved, trained, dataset, arch):
        view, _ = service.ready_view(resolved, trained, dataset, arch)
        hidden = "more-button hidden"
        if view is None:
            return html.P("Click a cell of the heatmap to see its images.", className="hint"), hidden
        ev = view.evaluation
        cell = parse_cell(cell, len(ev.classes))
        if cell is None:
            return html.P("Click a cell of the heatmap to see its images.", className="hint"), hidden
        a, p = cell["actual"], cell["predicted"]
        indices = ev.cell(a, p)
        count = min(max(PAGE, count if isinstance(count, int) else PAGE), MAX_SHOWN)
        heading = html.H3(className="cell-heading", children=[
            f"actual {ev.classes[a]}, predicted {ev.classes[p]}: ",
            html.B(f"{len(indices):,} image{'s' if len(indices) != 1 else ''}"),
            " (correct)" if a == p else " (mistakes)"])
        if len(indices) == 0:
            note = (f"No test image of class {ev.classes[a]} was predicted as {ev.classes[p]}: "
                    "this cell is empty.")
            return [heading, html.P(note, className="hint empty-cell")], hidden
        tiles = service.cached(view, "tiles", (a, p, count, selected), lambda: html.Div(
            [_tile(service, ev, int(n), int(n) == selected) for n in indices[:count]], className="tiles"))
        more = "more-button" if len(indices) > count and count < MAX_SHOWN else hidden
        return [heading, tiles], more

    @app.callback(Output(ids.SAMPLE_PROBS, "figure"), Output(ids.SAMPLE_PROBS_BOX, "className"),
                  Input(ids.STATE_SAMPLE, "data"),
                  State(ids.STATE_RESOLVED, "data"), State(ids.STATE_TRAINED, "data"),
                  State(ids.DATASET, "value"), State(ids.ARCH, "value"))
    def probabilities(index, resolved, trained, dataset, arch):
        view, _ = service.ready_view(resolved, trained, dataset, arch)
        if view is None or not isinstance(index, int) or not 0 <= index < view.evaluation.n:
            return no_update, "sample-probs hidden"
        ev = view.evaluation
        title = f"Test image #{index}: actual {ev.classes[ev.labels[index]]}"
        return figures.probability_figure(ev.probs[index], ev.classes, int(ev.labels[index]), title), "sample-probs"

    return {"shown": shown, "select_sample": select_sample, "mark_selected": mark_selected, "samples": samples,
            "probabilities": probabilities}


def _tile(service: Service, ev, index: int, selected: bool) -> html.Button:
    prob = float(ev.confidence[index])
    return html.Button(
        id={"type": ids.SAMPLE_TILE, "index": index}, n_clicks=0,
        className="tile selected" if selected else "tile", title=f"test image #{index}: {100 * prob:.1f}%",
        children=[html.Img(src=service.sample_uri(ev.dataset, index), className="tile-img",
                           alt=f"test image {index}", **{"data-index": str(index)}),
                  html.Span(f"{100 * prob:.1f}%", className="tile-prob"),
                  html.Span(f"#{index}", className="tile-index")])
