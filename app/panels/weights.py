"""What the network learned: the weights its kind hands over (models.kinds), as image grids and bar charts."""
from __future__ import annotations

import json
from typing import Optional

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html

from models import layers
from models.datasets import DATASETS
from models.kinds import Bars, Matrix, Tiles

from .. import figures, ids
from ..images import colorize, png_data_uri
from ..moves import units_off
from ..service import Service
from ..state import chosen, whole_text

# How to read the colours of the weight images, for each colour map (the convnet's filters are each
# stretched to their own range, so that their pattern shows; the others share one scale).
COLOURS = {
    "diverging": "Purple weights raise the score where the image is bright, orange ones lower it, white ones "
                 "do nothing.",
    "grayscale": "As the chapter draws them: white is the largest weight, black the most negative. Light areas "
                 "raise the score where the image is bright, dark ones lower it.",
    "rgb": "In colour, each channel from its most negative weight (dark) to its largest (bright): where a "
           "template is blue, blue light there raises the class's score.",
}
SCALE = {False: " One scale for all tiles.", True: " Each filter is stretched to its own range, so that its "
                                                  "pattern shows."}


def layout() -> html.Section:
    """The weights card; its colour map is chosen in the browser when it mounts (assets/weights.js `colours`)."""
    return html.Section(className="card card-weights", children=[
        html.Div(className="card-head", children=[
            html.H2("What it learned"),
            html.Div(id=ids.WEIGHTS_PAGER, className="pager hidden", children=[
                dcc.Dropdown(id=ids.WEIGHTS_PAGE, value="0", clearable=False, searchable=False, options=[])]),
            dcc.RadioItems(id=ids.WEIGHTS_COLORMAP, value="diverging", inline=True, className="toggle",
                           options=colormap_options(None)),
        ]),
        html.Div(id=ids.WEIGHTS, className="weights", children=html.P("Loading…", className="hint")),
        dcc.Store(id=ids.WEIGHTS_MARKS),
    ])


PAGE = 100  # filters drawn at once; a wider first layer is paged


def page_options(units: int) -> list[dict]:
    return [{"label": f"filters of units {p + 1}–{min(p + PAGE, units)} of {units}", "value": str(p // PAGE)}
            for p in range(0, units, PAGE)]


COLOUR_DATASETS = tuple(name for name, spec in DATASETS.items() if spec.shape[0] == 3)


def colormap_options(dataset) -> list[dict]:
    colour = dataset in COLOUR_DATASETS
    return [{"label": "Signed (purple +, orange −)", "value": "diverging"},
            {"label": "Grayscale (the chapter's)", "value": "grayscale"},
            {"label": "Colour", "value": "rgb", "disabled": not colour}]


def register(app: Dash, service: Service) -> dict:
    # The colour map's choices, in the browser (assets/weights.js `colours`): they depend only on the dataset
    # and the address, and as a server callback they held the weights panel a round on every switch.
    app.clientside_callback(
        "function (dataset, changed, current, search, shown) {"
        " const fired = (window.dash_clientside.callback_context.triggered || []).map(t => t.prop_id.split('.')[0]);"
        " const [options, value] = window.lookinsideWeights.colours(%s, %s, new Set(fired), dataset, changed,"
        " current, search); const none = window.dash_clientside.no_update;"
        " return [JSON.stringify(options) === JSON.stringify(shown) ? none : options, value === current ? none : value]; }"
        % (json.dumps(colormap_options(None)), json.dumps(COLOUR_DATASETS)),
        Output(ids.WEIGHTS_COLORMAP, "options"), Output(ids.WEIGHTS_COLORMAP, "value"),
        Input(ids.DATASET, "value"), Input(ids.URL_CHANGED, "data"), State(ids.WEIGHTS_COLORMAP, "value"),
        State(ids.URL, "search"), State(ids.WEIGHTS_COLORMAP, "options"))

    @app.callback(Output(ids.WEIGHTS, "children"), Output(ids.WEIGHTS_PAGE, "options"),
                  Output(ids.WEIGHTS_PAGER, "className"),
                  Input(ids.STATE_VIEW, "data"), Input(ids.WEIGHTS_COLORMAP, "value"),
                  Input(ids.WEIGHTS_PAGE, "value"), State(ids.STATE_OFF, "data"))
    def weights(store, colormap, page="0", off=None):
        """The weights of the network on screen, unmarked: a selected cell marks its classes in the browser
        (assets/weights.js), so a click asks nothing of this card."""
        view, problem = service.look(store)
        if view is None:
            return html.P("No weights to show for this network." if problem else "Preparing the network…",
                          className="hint"), [], "pager hidden"
        colormap = chosen(colormap, COLOURS, "diverging")
        tiles = max((len(p.images) for p in _parts(service, view) if isinstance(p, Tiles)), default=0)
        pages = page_options(tiles)
        page = whole_text(page, len(pages)) or 0
        return _panel(service, view, colormap, page, units_off(view, off)), pages, \
            "pager" + ("" if len(pages) > 1 else " hidden")

    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_weights", function_name="mark"),
        Output(ids.WEIGHTS_MARKS, "data"), Input(ids.STATE_CELL, "data"), Input(ids.WEIGHTS, "children"),
        State(ids.DATASET, "value"), State(ids.CLASSES, "data"))

    return {"weights": weights}


def _parts(service: Service, view) -> list:
    ckpt = view.checkpoint
    return service.cached(view, "weights", (), lambda: view.kind.weights(ckpt.model, ckpt.classes))


def _panel(service: Service, view, colormap: str, page: int = 0, off: tuple = ()) -> list:
    """The weights panel's children for one checkpoint, colour map and page of filters.

    The weight images and the output-weights chart are made once per checkpoint and colour map; the
    per-class tiles, bars and matrix rows carry their class, for the browser to mark a selected cell's.
    """
    ckpt, kind = view.checkpoint, view.kind
    parts = _parts(service, view)
    per_tile = any(p.per_tile for p in parts if isinstance(p, Tiles))
    children = [html.P([kind.about, " ", COLOURS[colormap], SCALE[per_tile]], className="explain")]
    switchable = layers.switchable(ckpt.model)
    if switchable:
        children.append(html.P(
            f"Each {'filter' if kind.slow_pass else 'unit'} of the first layer has a switch: turn it off to see what "
            "the network gets wrong without it (the heatmap above shows the change).", className="hint"))
    for part in parts:
        if part.title:
            children.append(html.H3(part.title, className="sub"))
        if isinstance(part, Tiles):
            # One scale for all of them (or each its own), whichever page is drawn.
            uris = service.cached(view, "weight-images", (part.name, colormap), lambda: [
                png_data_uri(img) for img in colorize(part.images, colormap, per_tile=part.per_tile)])
            first = page * PAGE if len(uris) > PAGE else 0
            if len(uris) > PAGE:
                children.append(html.P(f"Units {first + 1}–{min(first + PAGE, len(uris))} of {len(uris)}; the "
                                       "menu above shows the others.", className="hint"))
            toggles = off if switchable and not part.per_class and len(uris) == switchable else None
            children.append(_tiles(uris[first:first + PAGE], list(part.labels[first:first + PAGE]),
                                   part.per_class, small=part.small, start=first, toggles=toggles))
        elif isinstance(part, Matrix):
            figure = service.cached(view, "matrix", (part.name,), lambda: figures.matrix_figure(
                part.values, part.rows, part.columns, part.row_labels).to_dict())
            children.append(dcc.Graph(className="weights-matrix", config={"displayModeBar": False}, figure=figure))
        elif isinstance(part, Bars):
            bars = service.cached(view, "bars", (part.name,), lambda: figures.output_weights_figure(
                part.values, ckpt.classes).to_dict())
            children.append(dcc.Graph(id=ids.WEIGHTS_BARS, config={"displayModeBar": False}, figure=bars))
    return children


def _tiles(uris: list[str], labels: list[str], per_class: bool = False, small: bool = False, start: int = 0,
           toggles: Optional[tuple] = None) -> html.Div:
    """A grid of weight images (the first one is number `start` + 1); small ones are captioned by their number.
    A class's tile carries its class, for the browser to mark (assets/weights.js). With `toggles` (the units
    now off), each tile has a switch."""
    tiles = []
    for i, (uri, label) in enumerate(zip(uris, labels), start=start):
        tiles.append(html.Figure(className="weight-tile", **({"data-class": str(i)} if per_class else {}), children=[
            html.Img(src=uri, className="weight-img", alt=f"weights of {label}"),
            html.Figcaption([str(i + 1) if small else label, html.Span(className="role") if per_class else None]),
            None if toggles is None else html.Button(
                "off" if i in toggles else "on", id={"type": ids.UNIT_TOGGLE, "index": i}, n_clicks=0,
                className="unit-toggle off" if i in toggles else "unit-toggle",
                title=f"Switch unit {i + 1} {'back on' if i in toggles else 'off'}")]))
    return html.Div(tiles, className="weight-grid small" if small else "weight-grid")
