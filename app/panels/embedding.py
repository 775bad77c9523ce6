"""The map of a layer: every test image placed in 2-D by what one layer turned it into (PCA, or UMAP as a
background job), how far apart the classes are in each layer, and the box or lasso that lists images."""
from __future__ import annotations

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update

from models import datasets, layers

from .. import background, figures, ids, progress
from ..access import Access, Limits, visitor
from ..service import Service
from ..state import chosen
from . import triggered_id

POLL_MS = 800
METHODS = {"pca": "PCA", "umap": "UMAP"}


def layout() -> html.Section:
    return html.Section(className="card card-map", children=[
        html.Div(className="card-head", children=[
            html.H2("What each layer sees"),
            html.Div(className="toggles", children=[
                html.Label(className="control map-layer", children=[
                    html.Span("Layer", className="control-label"),
                    dcc.Dropdown(id=ids.EMBEDDING_LAYER, clearable=False, searchable=False, options=[])]),
                dcc.RadioItems(id=ids.EMBEDDING_METHOD, value="pca", inline=True, className="toggle",
                               options=[{"label": "PCA", "value": "pca"},
                                        {"label": "UMAP", "value": "umap"}]),
            ]),
        ]),
        html.P(className="explain", children=[
            "Each test image is a point, placed by what the chosen layer turned it into: the "
            "input pixels, a hidden layer, or the class scores. Colour is the true class, ", html.B("×"),
            " a mistake. PCA shows the two directions along which the layer varies most, exactly; UMAP keeps "
            "neighbours together, and takes about a minute the first time. Hover a point to see its image; "
            "drag a box or a lasso to list the images inside; a selected cell lights up its images."]),
        html.Div(id=ids.EMBEDDING_NOTE, className="status"),
        html.Div(className="map-job", children=[
            html.Button("Compute this network's layers", id=ids.EMBEDDING_COMPUTE, n_clicks=0,
                        className="more-button hidden"),
            html.Progress(id=ids.EMBEDDING_PROGRESS, className="train-progress hidden", value="0", max="1"),
            dcc.Interval(id=ids.EMBEDDING_POLL, interval=POLL_MS, disabled=True)]),
        dcc.Graph(id=ids.EMBEDDING, className="map-graph", figure=figures.empty_figure("Loading…"),
                  clear_on_unhover=True,
                  # Nothing leaves the server: no "share" or "edit in Chart Studio" (Plotly's cloud) buttons.
                  config={"displaylogo": False, "scrollZoom": True, "showSendToCloud": False,
                          "showEditInChartStudio": False,
                          "modeBarButtonsToRemove": ["toImage", "autoScale2d", "hoverClosestCartesian",
                                                     "hoverCompareCartesian", "toggleSpikelines", "sendDataToCloud",
                                                     "editInChartStudio"]}),
        html.Div(id=ids.EMBEDDING_PICKED, className="map-picked", **{"aria-live": "polite"}),
        dcc.Tooltip(id=ids.EMBEDDING_TIP, direction="right", className="map-tip", loading_text=""),
        dcc.Store(id=ids.STATE_EMBEDDING_BASE),
        html.H3("How far apart the classes are, layer by layer", className="sub"),
        html.P("The share of test images whose nearest class mean (over 20,000 training images) is their own "
               "class, in each layer's representation: the chapter's claim that each layer makes the classes "
               "easier to tell apart, measured.", className="hint"),
        dcc.Graph(id=ids.EMBEDDING_SEPARATION, className="separation-graph", config={"displayModeBar": False},
                  figure=figures.empty_figure("")),
        dcc.Store(id=ids.STATE_EMBEDDING_JOB), dcc.Store(id=ids.STATE_EMBEDDING_DONE),
    ])


def stores() -> list:
    """The shell's: the images picked on the map (the cell list shows them) and the rows the table's filter
    keeps (the map lights them up), shared across views."""
    return [dcc.Store(id=ids.STATE_MAP_PICK), dcc.Store(id=ids.STATE_HIGHLIGHT)]


def default_layer(keys: list[str]) -> str:
    """The last layer before the class scores (the one the head reads), else the class scores."""
    return keys[-2] if len(keys) > 2 else keys[-1]


def register(app: Dash, service: Service, access: Access, limits: Limits) -> dict:
    reps = service.representations

    @app.callback(Output(ids.EMBEDDING_LAYER, "options"), Output(ids.EMBEDDING_LAYER, "value"),
                  Input(ids.STATE_VIEW, "data"), State(ids.EMBEDDING_LAYER, "value"))
    def layer_choices(store, current):
        view = service.shown(store)
        if view is None:
            return [], None
        found = reps.layers(view)
        options = [{"label": layer.title[:1].upper() + layer.title[1:], "value": layer.key} for layer in found]
        keys = [layer.key for layer in found]
        return options, current if current in keys else default_layer(keys)

    @app.callback(Output(ids.STATE_EMBEDDING_BASE, "data"), Output(ids.EMBEDDING_NOTE, "children"),
                  Output(ids.EMBEDDING_SEPARATION, "figure"), Output(ids.EMBEDDING_COMPUTE, "className"),
                  Input(ids.STATE_VIEW, "data"), Input(ids.EMBEDDING_LAYER, "value"),
                  Input(ids.EMBEDDING_METHOD, "value"), Input(ids.STATE_EMBEDDING_DONE, "data"))
    def draw(store, layer, method, _=None):
        view, problem = service.look(store)
        hidden = "more-button hidden"
        if view is None:
            empty = figures.empty_figure("Nothing to map: see the message above" if problem
                                         else "Preparing the network…")
            return empty, None, figures.empty_figure(""), hidden
        if not reps.has(view, layer):
            return no_update, None, no_update, hidden
        if not reps.ready(view) and layer != layers.INPUT:
            spec = datasets.get_spec(view.checkpoint.dataset)
            note = (f"This network's layers take one pass over the {sum(spec.sizes):,} training and test "
                    "images, a minute or two of the server's CPU. Start it with the button; the input pixels can be "
                    "mapped now.")
            return figures.empty_figure("Not computed yet"), note, figures.empty_figure(""), \
                "more-button"
        method = chosen(method, METHODS, "pca")
        note = None
        coords = axes = None
        if method == "umap":
            if view.checkpoint.is_snapshot:  # a timeline snapshot
                note = "UMAP is computed for finished networks only: along the timeline, the map is PCA."
            else:
                coords = reps.saved(view, "umap", layer)
                if coords is None:
                    note = "UMAP of this layer is being computed (about a minute); meanwhile, PCA."
                else:
                    axes = ("UMAP 1", "UMAP 2")
        if coords is None:
            coords, explained = reps.pca(view, layer)
            axes = tuple(f"PC {i + 1} ({100 * e:.0f}% of the variance)" for i, e in enumerate(explained[:2])) \
                if len(explained) > 1 else ("the layer's one unit, less its mean",)  # drawn as a line
        ev = view.evaluation
        revision = f"{view.checkpoint.id}:{layer}:{axes[0][:4]}"
        base = service.cached(view, "map", (layer, axes), lambda: figures.map_figure(
            coords, ev.labels, ev.preds, ev.probs, ev.classes, axes,
            {"revision": revision, "dataset": ev.dataset}).to_dict())
        separation = reps.separation(view)
        titles = {item.key: item.title for item in reps.layers(view)}
        if separation is None:  # a network whose layers a job computes, not yet: its pixels only
            return base, note, figures.empty_figure(""), "more-button"
        sep = service.cached(view, "separation-figure", (layer,), lambda: figures.separation_figure(
            [(titles[k], v) for k, v in separation.items()], titles[layer]).to_dict())
        return base, note, sep, hidden

    @app.callback(Output(ids.STATE_EMBEDDING_JOB, "data"), Output(ids.EMBEDDING_NOTE, "children", allow_duplicate=True),
                  Input(ids.EMBEDDING_METHOD, "value"), Input(ids.EMBEDDING_LAYER, "value"),
                  Input(ids.EMBEDDING_COMPUTE, "n_clicks"), State(ids.STATE_VIEW, "data"),
                  State(ids.ADMIN_TOKEN, "data"), prevent_initial_call=True)
    def ask(method, layer, _, store, token=None):
        """Queue the job the map needs: the layers of a network whose passes are jobs (on the button), or a layer's UMAP."""
        view = service.shown(store)
        if view is None or not reps.has(view, layer) or view.checkpoint.is_snapshot:
            return no_update, no_update
        if triggered_id() == ids.EMBEDDING_COMPUTE:
            if reps.ready(view):
                return no_update, no_update
            mode, detail = "features", ""
        elif method == "umap" and reps.saved(view, "umap", layer) is None and (
                layer == layers.INPUT or reps.ready(view)):
            mode, detail = "map", layer
        else:
            return no_update, no_update
        limits.check("map")
        handle = background.request(service, view, mode, detail, visitor(), access.is_admin(token))
        if "error" in handle:
            return no_update, handle["error"]
        return handle, no_update

    @app.callback(Output(ids.EMBEDDING_PROGRESS, "value"), Output(ids.EMBEDDING_PROGRESS, "max"),
                  Output(ids.EMBEDDING_PROGRESS, "className"),
                  Output(ids.EMBEDDING_NOTE, "children", allow_duplicate=True), Output(ids.EMBEDDING_POLL, "disabled"),
                  Output(ids.STATE_EMBEDDING_DONE, "data"),
                  Input(ids.STATE_EMBEDDING_JOB, "data"), Input(ids.EMBEDDING_POLL, "n_intervals"),
                  prevent_initial_call=True)
    def poll(handle, _=None):
        return progress.bar(progress.read(service, handle, ("features", "map")))

    # The figure on screen is the server's map (the store) with the highlights of the moment, applied in
    # the browser (assets/map.js): a cell click or a table filter sends no request for the map.
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_map", function_name="highlight"),
        Output(ids.EMBEDDING, "figure"),
        Input(ids.STATE_EMBEDDING_BASE, "data"), Input(ids.STATE_CELL, "data"), Input(ids.STATE_HIGHLIGHT, "data"),
        Input(ids.STATE_SAMPLE, "data"))
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_map", function_name="tip"),
        Output(ids.EMBEDDING_TIP, "show"), Output(ids.EMBEDDING_TIP, "bbox"), Output(ids.EMBEDDING_TIP, "children"),
        Input(ids.EMBEDDING, "hoverData"), State(ids.STATE_EMBEDDING_BASE, "data"))
    # Right under the map: how many images the box or lasso picked, and where they are listed.
    app.clientside_callback(
        """function (pick) {
            if (!Array.isArray(pick) || !pick.length) { return ""; }
            return pick.length.toLocaleString("en") + " image" + (pick.length === 1 ? "" : "s") +
                " picked: listed beside the map, in the chosen order. Double-click the map to clear.";
        }""", Output(ids.EMBEDDING_PICKED, "children"), Input(ids.STATE_MAP_PICK, "data"))

    # The box or lasso's images, from the map; a new cell or dataset clears them (assets/cells.js, with the
    # cell), and another network of the same dataset keeps them, as it keeps the cell.
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_map", function_name="pick"),
        Output(ids.STATE_MAP_PICK, "data"),
        Input(ids.EMBEDDING, "selectedData"), State(ids.STATE_EMBEDDING_BASE, "data"), prevent_initial_call=True)

    # A clicked point opens its explanation.
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_map", function_name="click"),
        Output(ids.STATE_SAMPLE, "data", allow_duplicate=True), Input(ids.EMBEDDING, "clickData"),
        State(ids.STATE_EMBEDDING_BASE, "data"), prevent_initial_call=True)

    return {"embedding_layers": layer_choices, "embedding": draw, "embedding_ask": ask, "embedding_poll": poll}

