"""Compare two networks (or two moments of one) on the same test images: the change in confusion, cell by cell."""
from __future__ import annotations

from dash import Dash, Input, Output, State, dcc, html, no_update

from models import calibration
from models.compare import difference
from models.datasets import DATASETS

from .. import figures, ids
from ..cells import parse_cell, parse_click
from ..moves import moves
from ..service import Service, parse_compare_value
from .calibration import report as calibration_report
from . import triggered_id

def layout() -> html.Section:
    return html.Section(className="card card-compare", children=[
        html.Div(className="card-head", children=[
            html.H2("Compare two networks"),
            html.Div(className="controls", children=[
                html.Label(className="control", children=[
                    html.Span("A", className="control-label"),
                    dcc.Dropdown(id=ids.COMPARE_A, clearable=False, searchable=False)]),
                html.Label(className="control", children=[
                    html.Span("B", className="control-label"),
                    dcc.Dropdown(id=ids.COMPARE_B, clearable=False, searchable=False)]),
            ]),
        ]),
        html.P(className="explain", children=[
            "B's confusion counts minus A's, on the same test images. ", html.Span("Purple", className="key-positive"),
            " cells gained images in B, ", html.Span("orange", className="key-negative"),
            " ones lost them: on the diagonal a gain is B getting more right. Pick two trained networks, or two "
            "moments of one network's training. Click a cell to see the images that moved."]),
        html.Div(id=ids.COMPARE_NOTE, className="status"),
        dcc.Graph(id=ids.COMPARE_GRAPH, config={"displayModeBar": False},
                  figure=figures.empty_figure("Choose two networks")),
        html.Div(id=ids.COMPARE_LIST, className="compare-list"),
        dcc.Store(id=ids.STATE_COMPARE_CELL),
        html.H3("How far to trust their confidence", className="sub"),
        html.P(f"Each network's reliability diagram as trained: its test images in {calibration.BINS} equal bins by "
               "the probability it gave its answer, each bar how often it was right there. On the diagonal, 90% sure "
               "is right 90% of the time; bars below it are overconfident, bars above it underconfident (a network "
               "trained with label smoothing, as the convnets are, is taught never to be quite sure). Hover a bar for "
               "its count. The calibration card in Every prediction adds temperature scaling.", className="explain"),
        html.Div(id=ids.COMPARE_CALIBRATION_NOTE, className="status"),
        dcc.Graph(id=ids.COMPARE_CALIBRATION, config={"displayModeBar": False},
                  figure=figures.empty_figure("Choose two networks")),
    ])


def register(app: Dash, service: Service) -> dict:
    @app.callback(Output(ids.COMPARE_A, "options"), Output(ids.COMPARE_A, "value"),
                  Output(ids.COMPARE_B, "options"), Output(ids.COMPARE_B, "value"),
                  Input(ids.DATASET, "value"), Input(ids.STATE_TRAINED, "data"),
                  State(ids.COMPARE_A, "value"), State(ids.COMPARE_B, "value"))
    def choices(dataset, _, a, b):
        found = service.models_of(dataset) if isinstance(dataset, str) else []
        options = [{"label": label, "value": value} for value, label in found]
        values = [v for v, _ in found]
        finished = [v for v in values if parse_compare_value(v) == (v, None)]  # finished networks, not snapshots
        # Keep a choice that still exists; else A is the first trained network, B the next one (or A's start).
        a = a if a in values else (finished[0] if finished else None)
        fallback = finished[1] if len(finished) > 1 else next((v for v in values if v != a), None)
        b = b if b in values and b != a else fallback
        return options, a, options, b

    @app.callback(Output(ids.STATE_COMPARE_CELL, "data"), Input(ids.COMPARE_GRAPH, "clickData"),
                  Input(ids.DATASET, "value"), Input(ids.COMPARE_A, "value"), Input(ids.COMPARE_B, "value"))
    def select(click, dataset, _, __):
        if triggered_id() != ids.COMPARE_GRAPH:
            return None  # new data or networks: the old cell means nothing there
        spec = DATASETS.get(dataset) if isinstance(dataset, str) else None
        cell = parse_click(click, list(spec.classes)) if spec else None
        return cell if cell is not None else no_update

    @app.callback(Output(ids.COMPARE_GRAPH, "figure"), Output(ids.COMPARE_LIST, "children"),
                  Output(ids.COMPARE_NOTE, "children"),
                  Input(ids.COMPARE_A, "value"), Input(ids.COMPARE_B, "value"), Input(ids.STATE_COMPARE_CELL, "data"),
                  State(ids.DATASET, "value"), State(ids.COMPARE_A, "options"))
    def compare(a, b, cell, dataset, options):
        # The options come back from the browser: keep only string pairs, and name nothing else.
        names = {o["value"]: o["label"] for o in (options if isinstance(options, list) else [])
                 if isinstance(o, dict) and isinstance(o.get("value"), str) and isinstance(o.get("label"), str)}
        dataset = dataset if isinstance(dataset, str) and dataset in DATASETS else None
        va, vb = service.view_of(dataset, a), service.view_of(dataset, b)
        if va is None or vb is None:
            if not names:
                title = DATASETS[dataset].title if dataset else "this dataset"
                return figures.empty_figure("Nothing to compare"), None, \
                    f"No network of {title} is trained and evaluated yet, so there is nothing to compare."
            note = "Train a second network of this dataset (pick it above) to compare two." if va or vb else ""
            return figures.empty_figure("Choose two networks"), None, note
        ea, eb = va.evaluation, vb.evaluation
        name_a, name_b = names.get(a, a), names.get(b, b)  # a and b are strings: view_of checked them
        cell = parse_cell(cell, len(ea.classes))
        selected = (cell["actual"], cell["predicted"]) if cell else None
        key = (va.checkpoint.id, vb.checkpoint.id, selected)
        fig = service.cache.get(("compare-figure", *key), lambda: figures.difference_figure(
            difference(ea, eb), ea.classes, "A", "B", selected).to_dict())
        note = (f"A: {name_a}, {100 * ea.accuracy:.2f}% · B: {name_b}, {100 * eb.accuracy:.2f}% · "
                f"{int((ea.preds != eb.preds).sum()):,} of {ea.n:,} test images change their prediction.")
        if cell is None:
            return fig, html.P("Click a cell to see which images moved into or out of it.", className="hint"), note
        listing = service.cache.get(("compare-list", *key), lambda: moves(service, ea, eb, cell))
        return fig, listing, note

    @app.callback(Output(ids.COMPARE_CALIBRATION, "figure"), Output(ids.COMPARE_CALIBRATION_NOTE, "children"),
                  Input(ids.COMPARE_A, "value"), Input(ids.COMPARE_B, "value"), State(ids.DATASET, "value"))
    def compare_calibration(a, b, dataset):
        """A's and B's reliability diagrams side by side, and which one's confidence is worth more."""
        dataset = dataset if isinstance(dataset, str) and dataset in DATASETS else None
        va, vb = service.view_of(dataset, a), service.view_of(dataset, b)
        if va is None or vb is None:
            return figures.empty_figure("Choose two networks"), None
        ra, rb = (calibration_report(service, v, False) for v in (va, vb))
        fig = service.cache.get(("compare-calibration", va.checkpoint.id, vb.checkpoint.id), lambda: figures.reliability_pair(
            [("A", ra["bins"], ra["ece"]), ("B", rb["bins"], rb["ece"])]).to_dict())
        gap = abs(ra["ece"] - rb["ece"])
        if gap < 0.002:
            words = "They are about as well calibrated"
        else:
            better = "A" if ra["ece"] < rb["ece"] else "B"
            words = f"{better}'s confidence is nearer its accuracy, by {100 * gap:.2f} points of calibration error"
        return fig, (f"Expected calibration error: A {100 * ra['ece']:.2f}%, B {100 * rb['ece']:.2f}%. {words}; "
                     f"accuracy: A {100 * va.evaluation.accuracy:.2f}%, B {100 * vb.evaluation.accuracy:.2f}%.")

    return {"compare_choices": choices, "compare_select": select, "compare": compare,
            "compare_calibration": compare_calibration}
