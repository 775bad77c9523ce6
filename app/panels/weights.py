"""What the network learned: the weights its kind hands over (models.kinds), as image grids and bar charts."""
from __future__ import annotations

import json
from typing import Optional

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html

from models import datasets, layers, units
from models.kinds import Bars, Matrix, Tiles

from .. import figures, ids
from ..images import colorize, png_data_uri, weight_scale
from ..service import Service
from ..state import chosen, whole_text

# How to read the colours of the weight images, for each colour map (the convnet's filters are each
# stretched to their own range, so that their pattern shows; the others share one scale).
COLOURS = {
    "diverging": "Purple weights raise the score where the image is bright, orange ones lower it, white ones "
                 "do nothing.",
    "grayscale": "As the chapter draws them, in grey: mid-grey is a weight of zero, white a large positive one, "
                 "black a large negative one. Light areas raise the score where the image is bright, dark ones "
                 "lower it.",
    "rgb": "In colour, the template's own: mid-grey is zero in all three channels, and each channel is brighter "
           "where its weight is positive. Where a template is blue, blue light there raises the class's score "
           "and red and green light lower it.",
}
SCALE = {False: " One scale for all tiles, the same on both sides of zero, its ends at the 99th percentile of |w| "
                "(the few weights beyond it are drawn at the end).",
         True: " Each filter is stretched to its own range, so that its pattern shows."}


def layout(wanted: Optional[dict] = None) -> html.Section:
    """The weights card, its colour map as the address `wanted` names it for its dataset (later changes are the
    browser's: assets/weights.js `colours`). Its tiles and charts are drawn in the browser from the data the
    server sends (`state-weights`): a page of 10 to 100 tiles as Dash components made every dispatch of the
    page's callbacks slower for every later click."""
    wanted = wanted or {}
    dataset = wanted.get("dataset")
    return html.Section(className="card card-weights", children=[
        html.Div(className="card-head", children=[
            html.H2("What it learned"),
            html.Div(id=ids.WEIGHTS_PAGER, className="pager hidden", children=[
                # No value until it has options: a dropdown clears a value its options lack, and asked again.
                dcc.Dropdown(id=ids.WEIGHTS_PAGE, clearable=False, searchable=False, options=[])]),
            dcc.RadioItems(id=ids.WEIGHTS_COLORMAP, value=colormap_of(wanted, dataset), inline=True,
                           className="toggle", options=colormap_options(dataset)),
        ]),
        html.Div(id=ids.WEIGHTS, className="weights"),  # drawn in the browser; never given children by Dash
        dcc.Store(id=ids.WEIGHTS_DATA), dcc.Store(id=ids.WEIGHTS_MARKS),
    ])


PAGE = 100  # filters drawn at once; a wider first layer is paged


def page_options(units: int) -> list[dict]:
    return [{"label": f"filters of units {p + 1}–{min(p + PAGE, units)} of {units}", "value": str(p // PAGE)}
            for p in range(0, units, PAGE)]


def colormap_options(dataset) -> list[dict]:
    colour = dataset in datasets.colour_datasets()
    return [{"label": "Signed (purple +, orange −)", "value": "diverging"},
            {"label": "Grayscale (the chapter's)", "value": "grayscale"},
            {"label": "Colour", "value": "rgb", "disabled": not colour}]


def colormap_of(wanted: dict, dataset) -> str:
    """The colour map a card mounts with: the one the address names, unless it is colour on grey data; else
    colour for colour data, the signed map for grey (assets/weights.js `colours` is the same rule)."""
    colour, named = dataset in datasets.colour_datasets(), wanted.get("colours")
    if named in COLOURS and not (named == "rgb" and not colour):
        return named
    return "rgb" if colour else "diverging"


def register(app: Dash, service: Service) -> dict:
    # The colour map's choices on a new dataset, or back and forward, in the browser (assets/weights.js
    # `colours`): they depend only on the dataset and the address, and as a server callback they held the
    # weights panel a round on every switch. The card mounts with them set (`layout`): a callback on every
    # first visit, and a second request for the weights, were spent on saying so again.
    app.clientside_callback(
        "function (dataset, changed, current, shown) {"
        " const fired = (window.dash_clientside.callback_context.triggered || []).map(t => t.prop_id.split('.')[0]);"
        " const [options, value] = window.lookinsideWeights.colours(%s, %s, new Set(fired), dataset, changed,"
        " current); const none = window.dash_clientside.no_update;"
        " return [JSON.stringify(options) === JSON.stringify(shown) ? none : options, value === current ? none : value]; }"
        % (json.dumps(colormap_options(None)), json.dumps(datasets.colour_datasets())),
        Output(ids.WEIGHTS_COLORMAP, "options"), Output(ids.WEIGHTS_COLORMAP, "value"),
        Input(ids.DATASET, "value"), Input(ids.URL_CHANGED, "data"), State(ids.WEIGHTS_COLORMAP, "value"),
        State(ids.WEIGHTS_COLORMAP, "options"), prevent_initial_call=True)

    @app.callback(Output(ids.WEIGHTS_DATA, "data"), Output(ids.WEIGHTS_PAGE, "options"),
                  Output(ids.WEIGHTS_PAGER, "className"),
                  Input(ids.STATE_VIEW, "data"), Input(ids.WEIGHTS_COLORMAP, "value"),
                  Input(ids.WEIGHTS_PAGE, "value"))
    def weights(store, colormap, page="0"):
        """The weights of the network on screen, as data for the browser to draw: unmarked, with every unit
        switched on. A selected cell marks its classes and the units switched off are marked in the browser
        (assets/weights.js), so neither a click nor a switch asks anything of this card."""
        view, problem = service.look(store)
        if view is None:
            return {"message": "No weights to show for this network." if problem else "Preparing the network…"}, \
                [], "pager hidden"
        colormap = chosen(colormap, COLOURS, "diverging")
        tiles = max((len(p.images) for p in _parts(service, view) if isinstance(p, Tiles)), default=0)
        pages = page_options(tiles)
        page = whole_text(page, len(pages)) or 0
        return _panel(service, view, colormap, page), pages, "pager" + ("" if len(pages) > 1 else " hidden")

    # One browser-side step draws the card from its data, marks a selected cell's classes and the units
    # switched off; a click on a unit's switch writes the units store from the page (assets/weights.js).
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_weights", function_name="draw"),
        Output(ids.WEIGHTS_MARKS, "data"), Input(ids.WEIGHTS_DATA, "data"), Input(ids.STATE_CELL, "data"),
        Input(ids.STATE_OFF, "data"), State(ids.DATASET, "value"), State(ids.CLASSES, "data"))

    return {"weights": weights}


def _parts(service: Service, view) -> list:
    ckpt = view.checkpoint
    return service.cached(view, "weights", (), lambda: view.kind.weights(ckpt.model, ckpt.classes))


def _panel(service: Service, view, colormap: str, page: int = 0) -> dict:
    """The weights card's data for one checkpoint, colour map and page of filters, as assets/weights.js draws it:

        {"network": name, "switches": how many first-layer units can be switched off (0: none),
         "notes": [what the card shows, how to switch units off (if it can)],
         "parts": [{"title", "note", "small", "tiles": [{"src", "label", "class" (a class's template), "unit"
                    (a first-layer unit with a switch)}]}, or {"title", "graph": "matrix" | "bars", "figure"}]}

    The weight images and the charts are made once per checkpoint and colour map.
    """
    ckpt, kind = view.checkpoint, view.kind
    parts = _parts(service, view)
    per_tile = any(p.per_tile for p in parts if isinstance(p, Tiles))
    notes = [f"{kind.about} {COLOURS[colormap]}{SCALE[per_tile]}"]
    switchable = layers.switchable(ckpt.model)
    if switchable:
        notes.append(f"Each {kind.unit} of the first layer has a switch: turn it off to "
                     "see what the network gets wrong without it (the heatmap above shows the change).")
    drawn = []
    found = units.unit_layers(ckpt.model)

    def inspect(part, i, count):
        """The unit view's address of a tile: a class's template is its class score's unit, a first-layer
        filter its unit."""
        if part.per_class:
            return f"{len(found)}.{i + 1}"
        return f"1.{i + 1}" if count == found[0].count and not found[0].classes else None
    for part in parts:
        if isinstance(part, Tiles):
            # One scale for all of them (or each its own), whichever page is drawn.
            uris = service.cached(view, "weight-images", (part.name, colormap), lambda: [
                png_data_uri(img) for img in colorize(part.images, colormap, per_tile=part.per_tile)])
            first = page * PAGE if len(uris) > PAGE else 0
            shown = range(first, min(first + PAGE, len(uris)))
            switches = bool(switchable) and not part.per_class and len(uris) == switchable
            drawn.append({
                "title": part.title or None, "small": bool(part.small),
                "scale": None if part.per_tile else {"mode": colormap, "value": service.cached(
                    view, "weight-scale", (part.name, colormap), lambda: weight_scale(part.images, colormap))},
                "note": f"Units {first + 1}–{shown.stop} of {len(uris)}; the menu above shows the others."
                if len(uris) > PAGE else None,
                "tiles": [{"src": uris[i], "label": str(i + 1) if part.small else str(part.labels[i]),
                           "class": i if part.per_class else None, "unit": i if switches else None,
                           "inspect": inspect(part, i, len(uris))} for i in shown]})
        elif isinstance(part, Matrix):
            figure = service.cached(view, "matrix", (part.name,), lambda: figures.matrix_figure(
                part.values, part.rows, part.columns, part.row_labels).to_dict())
            drawn.append({"title": part.title or None, "graph": "matrix", "figure": figure})
        elif isinstance(part, Bars):
            bars = service.cached(view, "bars", (part.name,), lambda: figures.output_weights_figure(
                part.values, ckpt.classes).to_dict())
            drawn.append({"title": part.title or None, "graph": "bars", "figure": bars})
    return {"network": ckpt.name, "switches": switchable, "notes": notes, "parts": drawn}
