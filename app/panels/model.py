"""Choosing a dataset and a network, and making that pair ready (training it in a background job)."""
from __future__ import annotations

from dash import Dash, Input, Output, dcc, html, no_update

from .. import ids
from ..service import ARCH_LABELS, DATASET_LABELS, ERROR, UNTRAINED, Service


def controls(default_dataset: str, default_arch: str) -> html.Div:
    return html.Div(className="controls", children=[
        html.Label(className="control", children=[
            html.Span("Dataset", className="control-label"),
            dcc.Dropdown(id=ids.DATASET, value=default_dataset, clearable=False, searchable=False,
                         options=[{"label": v, "value": k} for k, v in DATASET_LABELS.items()]),
        ]),
        html.Label(className="control", children=[
            html.Span("Network", className="control-label"),
            dcc.Dropdown(id=ids.ARCH, value=default_arch, clearable=False, searchable=False,
                         options=[{"label": v, "value": k} for k, v in ARCH_LABELS.items()]),
        ]),
        html.Div(id=ids.ACCURACY, className="accuracy", children="…"),
    ])


def training_box() -> html.Div:
    return html.Div(id=ids.TRAIN_BOX, className="train-box", children=[
        html.Div(id=ids.TRAIN_LABEL, className="train-label", children="Preparing…"),
        html.Progress(id=ids.TRAIN_PROGRESS, className="train-progress", value="0", max="1"),
    ])


def stores() -> list:
    return [dcc.Store(id=ids.STATE_RESOLVED), dcc.Store(id=ids.STATE_TRAINED),
            dcc.Store(id=ids.STATE_TRAIN_REQUEST)]


def register(app: Dash, service: Service, manager) -> dict:
    @app.callback(Output(ids.STATE_RESOLVED, "data"), Output(ids.STATE_TRAIN_REQUEST, "data"),
                  Input(ids.DATASET, "value"), Input(ids.ARCH, "value"))
    def resolve(dataset, arch):
        found = service.resolve(dataset, arch)
        return found, (found if found["status"] == UNTRAINED else no_update)

    @app.callback(Output(ids.STATE_TRAINED, "data"), Input(ids.STATE_TRAIN_REQUEST, "data"),
                  background=True, manager=manager, interval=500,
                  progress=[Output(ids.TRAIN_PROGRESS, "value"), Output(ids.TRAIN_PROGRESS, "max"),
                            Output(ids.TRAIN_LABEL, "children")],
                  running=[(Output(ids.TRAIN_BOX, "className"), "train-box active", "train-box")],
                  prevent_initial_call=True)
    def train(set_progress, request):
        if not isinstance(request, dict):
            return no_update
        dataset, arch = request.get("dataset"), request.get("arch")
        title = f"{DATASET_LABELS.get(dataset, dataset)} / {ARCH_LABELS.get(arch, arch)}"
        set_progress(("0", "1", f"Preparing {title}: {request.get('message') or 'loading data'}…"))

        def on_progress(p):
            set_progress((str(p.step), str(p.total_steps),
                          f"Training {title}: epoch {p.epoch}/{p.epochs}, loss {p.loss:.3f}, "
                          f"training accuracy {100 * p.accuracy:.1f}%"))

        # When the page asks for another pair, Dash ends this job's process; checkpoint saves are atomic.
        return service.prepare(dataset, arch, on_progress=on_progress)

    @app.callback(Output(ids.ACCURACY, "children"), Output(ids.STATUS, "children"),
                  Output(ids.STATUS, "className"),
                  Input(ids.STATE_RESOLVED, "data"), Input(ids.STATE_TRAINED, "data"),
                  Input(ids.DATASET, "value"), Input(ids.ARCH, "value"))
    def status(resolved, trained, dataset, arch):
        view, st = service.ready_view(resolved, trained, dataset, arch)
        if st is None:
            return "…", "", "status"
        if st["status"] == ERROR:
            return "", st["message"], "status status-error"
        if view is None:
            return "training…", "This network is not ready yet: it is being prepared below.", "status status-busy"
        ev = view.evaluation
        correct = int(ev.confusion.trace())
        return (html.Span([html.B(f"{100 * ev.accuracy:.2f}%"), f" accuracy ({correct:,} of {ev.n:,} test images)"]),
                "", "status")

    return {"resolve": resolve, "train": train, "status": status}
