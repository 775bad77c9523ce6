"""The confusion heatmap: where the network is right (blue) and wrong (orange); a click selects a cell."""
from __future__ import annotations

from typing import Optional

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update

from models.datasets import DATASETS

from .. import export, figures, ids
from ..moves import switched_heatmap, switched_note, units_off
from ..service import Service
from ..query import parse, search_of


def layout(switch_bar: list = (), wanted: Optional[dict] = None, service: Optional[Service] = None,
           shown: Optional[dict] = None) -> html.Section:
    """The heatmap card, its toggles as the address `wanted` sets them; `switch_bar` (app/panels/switch.py)
    says which units are switched off. With the service and the view store `shown`, the heatmap comes drawn:
    a first visit (or a view change) paints it without waiting for a callback's round trip."""
    wanted = wanted or {}
    figure, drawn = figures.empty_figure("Loading…"), None
    if service is not None and shown is not None and "off" not in wanted:
        mode, view_mode = wanted.get("mode", "counts"), wanted.get("view", "numbers")
        figure, drawn = heatmap_figure(service, shown, mode, view_mode), drawn_key(shown, mode, view_mode, None, None)
    return html.Section(className="card card-confusion", children=[
        html.Div(className="card-head", children=[
            html.H2("Where it fails"),
            html.Div(className="toggles", children=[
                dcc.RadioItems(id=ids.CONFUSION_MODE, value=wanted.get("mode", "counts"), inline=True,
                               className="toggle",
                               options=[{"label": "Counts", "value": "counts"},
                                        {"label": "Row %", "value": "percent"}]),
                dcc.RadioItems(id=ids.CONFUSION_VIEW, value=wanted.get("view", "numbers"), inline=True,
                               className="toggle",
                               options=[{"label": "Numbers", "value": "numbers"},
                                        {"label": "Top image", "value": "images"}]),
            ]),
        ]),
        html.P(className="explain", children=[
            "Each row is the true class of the test images, each column what the network said. ",
            html.Span("Blue", className="key-correct"), " cells on the diagonal are right, ",
            html.Span("orange", className="key-wrong"), " cells are its mistakes: the darker, the more. "
            "The margins give each class's recall (row) and precision (column). Click a cell to see its images "
            "(or Tab to the matrix, move with the arrow keys and press Enter)."]),
        *switch_bar,
        # Focusable, so the keyboard can drive it (assets/keyboard.js): arrows move, Enter opens a cell.
        html.Div(id=ids.CONFUSION_KEYS, className="confusion-keys", tabIndex="0", role="grid",
                 **{"aria-label": "confusion matrix: arrow keys move, Enter opens a cell"}, children=[dcc.Graph(
                     id=ids.CONFUSION, className="confusion-graph", config={"displayModeBar": False},
                     figure=figure, clear_on_unhover=True),
                     # Hovering a cell shows its top images, most confident first (assets/hover.js).
                     dcc.Tooltip(id=ids.CONFUSION_TIP, direction="right", className="cell-tip",
                                 loading_text="")]),
        html.Div(className="downloads", children=[
            html.Span("Download the matrix:", className="downloads-label"),
            html.Button("CSV", id=ids.CONFUSION_CSV, className="link-button", n_clicks=0),
            html.Button("PNG", id=ids.CONFUSION_PNG, className="link-button", n_clicks=0),
            html.Button("SVG", id=ids.CONFUSION_SVG, className="link-button", n_clicks=0),
            dcc.Download(id=ids.CONFUSION_DOWNLOAD), dcc.Store(id=ids.CONFUSION_IMAGE_SINK),
        ]),
        dcc.Store(id=ids.CONFUSION_DRAWN, data=drawn),
    ])


def drawn_key(store, mode, view_mode, off, done) -> list:
    """What a heatmap is drawn for: the callback's inputs, as the page sends them back."""
    return [store, mode, view_mode, off, done]


def heatmap_figure(service: Service, store, mode, view_mode, off=None) -> dict:
    """The heatmap of the network on screen; with units switched off, their difference from intact. The
    selected cell's outline is the page's (assets/cells.js): the figure is the same whatever is selected."""
    view, problem = service.look(store)
    if view is None:
        return figures.empty_figure("Nothing to show: see the message above" if problem
                                    else "Preparing the network…")
    ev = view.evaluation
    units = units_off(view, off)
    figure = switched_heatmap(service, view, units) if units else None
    if figure is not None:  # units switched off (and, for a convnet, its pass made)
        return figure
    normalize, images = mode == "percent", view_mode == "images"

    def build():
        top = top_image_uris(service, ev) if images else None
        return figures.confusion_figure(ev.confusion, ev.classes, normalize=normalize, precision=ev.precision,
                                        recall=ev.recall, top_images=top, hover_labels=False).to_dict()

    return service.cached(view, "heatmap", (normalize, images), build)


def register(app: Dash, service: Service) -> dict:
    def heatmap(store, mode, view_mode, off=None, _=None):
        return heatmap_figure(service, store, mode, view_mode, off)

    def switched(store, off=None, _=None):
        """Above the heatmap: what is switched off and what it cost, and the way back."""
        view = service.shown(store)
        units = units_off(view, off)
        if not units:
            return None, "link-button hidden"
        return switched_note(service, view, units), "link-button"

    # Not called when the card mounts: the layout draws the heatmap (`layout`). Units switched off when it
    # mounts (a link's, or the page's on a return to this view) are drawn once the switch card has read them
    # (app/panels/switch.py writes `off-ask` on mounting only then).
    @app.callback(Output(ids.CONFUSION, "figure"), Output(ids.OFF_NOTE, "children"), Output(ids.OFF_RESET, "className"),
                  Output(ids.CONFUSION_DRAWN, "data"),
                  Input(ids.STATE_VIEW, "data"), Input(ids.CONFUSION_MODE, "value"), Input(ids.CONFUSION_VIEW, "value"),
                  Input(ids.STATE_OFF, "data"), Input(ids.STATE_OFF_DONE, "data"), Input(ids.OFF_ASK, "data"),
                  State(ids.CONFUSION_DRAWN, "data"), prevent_initial_call=True)
    def draw(store, mode, view_mode, off=None, done=None, _asked=None, drawn=None):
        """The heatmap and the note above it: one request when the network, a toggle or the units change;
        nothing when the page already shows it."""
        key = drawn_key(store, mode, view_mode, off, done)
        if key == drawn:
            return no_update, no_update, no_update, no_update
        return heatmap(store, mode, view_mode, off, done), *switched(store, off, done), key

    # A click selects its cell in the browser (assets/cells.js), so that it costs one server request: the
    # cell's images. The address can name a cell, a new dataset clears it, another network keeps it: that
    # writer belongs to the shell, the click's to this card (it is silent while the card is not on screen).
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_cells", function_name="clickCell"),
        Output(ids.STATE_CELL, "data", allow_duplicate=True), Output(ids.STATE_MAP_PICK, "data", allow_duplicate=True),
        Input(ids.CONFUSION, "clickData"), State(ids.STATE_CELL, "data"), State(ids.CLASSES, "data"),
        State(ids.DATASET, "value"), State(ids.STATE_MAP_PICK, "data"), prevent_initial_call=True)
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_cells", function_name="selectCell"),
        Output(ids.STATE_CELL, "data"), Output(ids.STATE_MAP_PICK, "data", allow_duplicate=True),
        Input(ids.DATASET, "value"), Input(ids.URL, "search"), State(ids.STATE_CELL, "data"),
        State(ids.CLASSES, "data"), State(ids.STATE_MAP_PICK, "data"),
        prevent_initial_call=True)  # the address's cell comes when the location first reports it

    @app.callback(Output(ids.CONFUSION_MODE, "value"), Output(ids.CONFUSION_VIEW, "value"),
                  Input(ids.URL_CHANGED, "data"), State(ids.CONFUSION_MODE, "value"),
                  State(ids.CONFUSION_VIEW, "value"), prevent_initial_call=True)
    def toggles_from_address(changed, mode, view_mode):
        """Back and forward within the view: the toggles as the address names them (the card is mounted
        with them set)."""
        wanted = parse(search_of(changed))
        return tuple(no_update if wanted.get(k, default) == now else wanted.get(k, default)
                     for k, default, now in (("mode", "counts", mode), ("view", "numbers", view_mode)))
    # The outline follows the selected cell without a request, and without redrawing the heatmap: it is
    # drawn over the plot from Plotly's axes, and again after every redraw of the figure. Nothing is written
    # back (the output is never updated).
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_cells", function_name="outline"),
        Output(ids.CONFUSION_KEYS, "title"), Input(ids.STATE_CELL, "data"))

    @app.callback(Output(ids.CONFUSION_DOWNLOAD, "data"), Input(ids.CONFUSION_CSV, "n_clicks"),
                  State(ids.STATE_VIEW, "data"), prevent_initial_call=True)
    def confusion_csv(clicks, store):
        view = service.shown(store)
        if not clicks or view is None:
            return no_update
        ckpt = view.checkpoint
        name = export.view_filename(ckpt.dataset, ckpt.name, ckpt.step, "confusion") + ".csv"
        return {"content": export.confusion_csv(view.evaluation), "filename": name, "type": "text/csv"}

    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_hover", function_name="cellTip"),
        Output(ids.CONFUSION_TIP, "show"), Output(ids.CONFUSION_TIP, "bbox"), Output(ids.CONFUSION_TIP, "children"),
        Input(ids.CONFUSION, "hoverData"), State(ids.STATE_VIEW, "data"), State(ids.CONFUSION, "figure"),
        prevent_initial_call=True)  # no hover yet: the tip starts hidden

    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_export", function_name="heatmapImage"),
        Output(ids.CONFUSION_IMAGE_SINK, "data"), Input(ids.CONFUSION_PNG, "n_clicks"),
        Input(ids.CONFUSION_SVG, "n_clicks"), State(ids.STATE_VIEW, "data"), prevent_initial_call=True)

    return {"confusion_csv": confusion_csv, "heatmap": heatmap, "switch_note": switched, "heatmap_and_note": draw,
            "toggles_from_address": toggles_from_address}


def top_image_uris(service: Service, ev) -> list[list]:
    """The most confident image of every cell (None for an empty cell), for the "top image" view."""
    return [[service.sample_uri(ev.dataset, n) if n >= 0 else None for n in row] for row in ev.top_per_cell()]


def stores() -> list:
    """The class names of every dataset, for selecting a cell in the browser."""
    return [dcc.Store(id=ids.CLASSES, data={name: list(spec.classes) for name, spec in DATASETS.items()})]
