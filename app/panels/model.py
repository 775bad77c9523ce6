"""Choosing a dataset and a network, and making that pair ready (training it in a background job)."""
from __future__ import annotations

from dash import Dash, Input, Output, dcc, html, no_update

from models import datasets
from models.evaluate import Evaluation
from models.train import predict_proba

from .. import figures, ids
from ..images import colorize, png_data_uri
from ..service import ARCH_LABELS, DATASET_LABELS, ERROR, UNTRAINED, Service, valid_pair
from . import triggered_id

LIVE_IMAGES = {"linear": None, "mlp": None, "cnn": 2000}  # test images scored per snapshot (None: all)
WEIGHT_NAMES = {"linear": "templates", "mlp": "hidden_filters", "cnn": "first_layer_filters"}


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
        html.Div(className="live", children=[
            dcc.Graph(id=ids.LIVE_HEATMAP, className="live-heatmap", config={"displayModeBar": False},
                      figure=figures.empty_figure("The confusion matrix appears at the first snapshot")),
            html.Div(id=ids.LIVE_WEIGHTS, className="live-weights"),
        ]),
    ])


def stores() -> list:
    return [dcc.Store(id=ids.STATE_RESOLVED), dcc.Store(id=ids.STATE_TRAINED),
            dcc.Store(id=ids.STATE_TRAIN_REQUEST)]


def register(app: Dash, service: Service, manager) -> dict:
    @app.callback(Output(ids.STATE_RESOLVED, "data"), Output(ids.STATE_TRAIN_REQUEST, "data"),
                  Input(ids.DATASET, "value"), Input(ids.ARCH, "value"), Input(ids.WATCH, "n_clicks"))
    def resolve(dataset, arch, watch=None):
        found = service.resolve(dataset, arch)
        if triggered_id() == ids.WATCH and found["status"] != ERROR and valid_pair(dataset, arch):
            # Train again from scratch, live; the page keeps showing the current network meanwhile.
            return found, dict(found, retrain=True)
        return found, (found if found["status"] == UNTRAINED else no_update)

    @app.callback(Output(ids.STATE_TRAINED, "data"), Input(ids.STATE_TRAIN_REQUEST, "data"),
                  background=True, manager=manager, interval=500,
                  progress=[Output(ids.TRAIN_PROGRESS, "value"), Output(ids.TRAIN_PROGRESS, "max"),
                            Output(ids.TRAIN_LABEL, "children"), Output(ids.LIVE_HEATMAP, "figure"),
                            Output(ids.LIVE_WEIGHTS, "children")],
                  running=[(Output(ids.TRAIN_BOX, "className"), "train-box active", "train-box"),
                           (Output(ids.WATCH, "disabled"), True, False)],
                  prevent_initial_call=True)
    def train(set_progress, request):
        if not isinstance(request, dict):
            return no_update
        dataset, arch = request.get("dataset"), request.get("arch")
        title = f"{DATASET_LABELS.get(dataset, dataset)} / {ARCH_LABELS.get(arch, arch)}"
        # Progress always carries every output, so the latest live frame is kept and sent again.
        frame = [figures.empty_figure("The confusion matrix appears at the first snapshot"), None]
        set_progress(("0", "1", f"Preparing {title}: {request.get('message') or 'loading data'}…", *frame))
        last = {"step": "0", "total": "1", "label": ""}

        def on_progress(p):
            last.update(step=str(p.step), total=str(p.total_steps),
                        label=f"Training {title}: epoch {p.epoch}/{p.epochs}, loss {p.loss:.3f}, "
                              f"training accuracy {100 * p.accuracy:.1f}%")
            set_progress((last["step"], last["total"], last["label"], *frame))

        def on_snapshot(snap, model, norm):
            frame[:] = live_frame(service, dataset, arch, snap, model, norm)
            set_progress((last["step"], last["total"], last["label"] or f"Training {title}…", *frame))

        # When the page asks for another pair, Dash ends this job's process; checkpoint saves are atomic.
        return service.prepare(dataset, arch, on_progress=on_progress, retrain=bool(request.get("retrain")),
                               on_snapshot=on_snapshot)

    @app.callback(Output(ids.ACCURACY, "children"), Output(ids.STATUS, "children"),
                  Output(ids.STATUS, "className"),
                  Input(ids.STATE_RESOLVED, "data"), Input(ids.STATE_TRAINED, "data"),
                  Input(ids.DATASET, "value"), Input(ids.ARCH, "value"), Input(ids.TIMELINE, "value"))
    def status(resolved, trained, dataset, arch, position=None):
        view, st = service.ready_view(resolved, trained, dataset, arch, position)
        if st is None:
            return "…", "", "status"
        if st["status"] == ERROR:
            return "", st["message"], "status status-error"
        if view is None:
            return "training…", "This network is not ready yet: it is being prepared below.", "status status-busy"
        ev = view.evaluation
        correct = int(ev.confusion.trace())
        when = view.checkpoint.metrics.get("label")
        return (html.Span([f"{when}: " if when else "", html.B(f"{100 * ev.accuracy:.2f}%"),
                           f" accuracy ({correct:,} of {ev.n:,} test images)"]), "", "status")

    return {"resolve": resolve, "train": train, "status": status}


def live_frame(service: Service, dataset: str, arch: str, snap, model, norm) -> list:
    """The confusion heatmap and weight images of a network mid-training, for the live view."""
    test = datasets.load(dataset, False, service.local)
    n = LIVE_IMAGES.get(arch) or len(test)
    probs = predict_proba(model, test.images[:n], norm, service.settings.device)
    ev = Evaluation(dataset, arch, test.classes, "live", test.labels[:n].numpy(), probs)
    fig = figures.confusion_figure(ev.confusion, test.classes)
    fig.update_layout(height=330, title=dict(text=f"{snap.label}: {100 * ev.accuracy:.1f}% of {n:,} test images",
                                             font=dict(size=13), x=0, xanchor="left"),
                      margin=dict(l=10, r=10, t=30, b=10))
    weights = model.visuals()[WEIGHT_NAMES[arch]].detach().cpu().numpy()
    colormap = "rgb" if weights.shape[1] == 3 and arch == "linear" else "diverging"
    caption = {"linear": "the class templates", "mlp": "the hidden units' filters",
               "cnn": "the first layer's filters"}[arch]
    tiles = [html.Img(src=png_data_uri(img), className="live-img", alt=f"weights {i + 1}")
             for i, img in enumerate(colorize(weights[:32], colormap))]
    return [fig.to_dict(), [html.P(f"{snap.label}: {caption}", className="live-caption"), *tiles]]
