"""The confusion heatmap: where the network is right (blue) and wrong (orange); a click selects a cell."""
from __future__ import annotations

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update

from models.datasets import DATASETS

from .. import export, figures, ids
from ..service import Service
from . import address, triggered_id, triggered_ids


def layout() -> html.Section:
    return html.Section(className="card card-confusion", children=[
        html.Div(className="card-head", children=[
            html.H2("Where it fails"),
            html.Div(className="toggles", children=[
                dcc.RadioItems(id=ids.CONFUSION_MODE, value="counts", inline=True, className="toggle",
                               options=[{"label": "Counts", "value": "counts"},
                                        {"label": "Row %", "value": "percent"}]),
                dcc.RadioItems(id=ids.CONFUSION_VIEW, value="numbers", inline=True, className="toggle",
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
        html.Div(id=ids.STATUS, className="status"),
        # Focusable, so the keyboard can drive it (assets/keyboard.js): arrows move, Enter opens a cell.
        html.Div(id=ids.CONFUSION_KEYS, className="confusion-keys", tabIndex="0", role="grid",
                 **{"aria-label": "confusion matrix: arrow keys move, Enter opens a cell"}, children=[dcc.Graph(
                     id=ids.CONFUSION, className="confusion-graph", config={"displayModeBar": False},
                     figure=figures.empty_figure("Loading…"), clear_on_unhover=True),
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
    ])


def parse_cell(cell, k: int):
    """A {"actual", "predicted"} pair inside a k x k matrix, or None for anything else."""
    try:
        actual, predicted = int(cell["actual"]), int(cell["predicted"])
    except (TypeError, KeyError, ValueError):
        return None
    if 0 <= actual < k and 0 <= predicted < k:
        return {"actual": actual, "predicted": predicted}
    return None


def parse_click(click, classes) -> dict | None:
    """The cell a heatmap click names, or None for the margins and anything malformed.

    dcc.Graph reports a heatmap point by its axis labels (x, y); it drops a heatmap's customdata.
    """
    try:
        point = click["points"][0]
        actual, predicted = classes.index(str(point["y"])), classes.index(str(point["x"]))
    except (TypeError, KeyError, IndexError, ValueError, AttributeError):
        return None
    return {"actual": actual, "predicted": predicted}


def register(app: Dash, service: Service) -> dict:
    @app.callback(Output(ids.CONFUSION, "figure"),
                  Input(ids.STATE_RESOLVED, "data"), Input(ids.STATE_TRAINED, "data"),
                  Input(ids.CONFUSION_MODE, "value"), Input(ids.CONFUSION_VIEW, "value"),
                  Input(ids.STATE_CELL, "data"), State(ids.DATASET, "value"), State(ids.ARCH, "value"),
                  Input(ids.TIMELINE, "value"))
    def heatmap(resolved, trained, mode, view_mode, cell, dataset, arch, position=None):
        view, st = service.ready_view(resolved, trained, dataset, arch, position)
        if view is None:
            failed = st is not None and st.get("status") == "error"
            return figures.empty_figure("Nothing to show: see the message above" if failed
                                        else "Preparing the network…")
        ev = view.evaluation
        selected = parse_cell(cell, len(ev.classes))
        selected = (selected["actual"], selected["predicted"]) if selected else None
        normalize, images = mode == "percent", view_mode == "images"

        def build():
            top = service.top_image_uris(ev) if images else None
            return figures.confusion_figure(ev.confusion, ev.classes, normalize=normalize, precision=ev.precision,
                                            recall=ev.recall, top_images=top, hover_labels=False).to_dict()

        return figures.with_selection(service.cached(view, "heatmap", (normalize, images), build), selected)

    @app.callback(Output(ids.STATE_CELL, "data"),
                  Input(ids.CONFUSION, "clickData"), Input(ids.DATASET, "value"), Input(ids.ARCH, "value"),
                  Input(ids.URL, "search"), State(ids.STATE_CELL, "data"))
    def select_cell(click, dataset, arch, search=None, current=None):
        spec = DATASETS.get(dataset) if isinstance(dataset, str) else None
        if ids.URL in triggered_ids():
            # A shared link or back/forward: the address names the cell (unchanged: nothing to do).
            cell = parse_cell(address.parse(search).get("cell"), len(spec.classes)) if spec else None
            return no_update if cell == current else cell
        if ids.DATASET in triggered_ids():
            return None  # a new dataset: the old cell means nothing there
        if triggered_id() != ids.CONFUSION:
            # Another network of the same dataset keeps the cell (and so the image): how does it do there?
            return no_update
        cell = parse_click(click, list(spec.classes)) if spec else None
        return cell if cell is not None else no_update

    @app.callback(Output(ids.CONFUSION_DOWNLOAD, "data"), Input(ids.CONFUSION_CSV, "n_clicks"),
                  State(ids.STATE_RESOLVED, "data"), State(ids.STATE_TRAINED, "data"), State(ids.DATASET, "value"),
                  State(ids.ARCH, "value"), State(ids.TIMELINE, "value"), prevent_initial_call=True)
    def confusion_csv(clicks, resolved, trained, dataset, arch, position):
        view, _ = service.ready_view(resolved, trained, dataset, arch, position)
        if not clicks or view is None:
            return no_update
        name = export.view_filename(dataset, arch, view.checkpoint.metrics.get("step"), "confusion") + ".csv"
        return {"content": export.confusion_csv(view.evaluation), "filename": name, "type": "text/csv"}

    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_hover", function_name="cellTip"),
        Output(ids.CONFUSION_TIP, "show"), Output(ids.CONFUSION_TIP, "bbox"), Output(ids.CONFUSION_TIP, "children"),
        Input(ids.CONFUSION, "hoverData"), State(ids.STATE_RESOLVED, "data"), State(ids.TIMELINE, "value"),
        State(ids.TIMELINE, "max"), State(ids.DATASET, "value"), State(ids.ARCH, "value"),
        State(ids.CONFUSION, "figure"))

    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_export", function_name="heatmapImage"),
        Output(ids.CONFUSION_IMAGE_SINK, "data"), Input(ids.CONFUSION_PNG, "n_clicks"),
        Input(ids.CONFUSION_SVG, "n_clicks"), State(ids.DATASET, "value"), State(ids.ARCH, "value"),
        prevent_initial_call=True)

    return {"confusion_csv": confusion_csv, "heatmap": heatmap, "select_cell": select_cell}
