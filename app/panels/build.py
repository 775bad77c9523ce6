"""Build a fully connected network of any shape in the page, and the ladder: how much do hidden layers buy?

Both train through the one training queue (app/jobs.py): a network that is already queued or training
is joined, not trained twice, and every request counts against the visitor's limits.
"""
from __future__ import annotations

from dash import Dash, Input, Output, State, dcc, html, no_update, set_props

from models import datasets, kinds, ladder
from models.errors import ConfigError

from .. import figures, ids, progress
from ..access import Access, Limits, visitor
from ..service import Service
from ..state import DATASET_LABELS, network_label, network_options

POLL_MS = 700


def layout() -> list:
    build = html.Section(className="card card-build", children=[
        html.H2("Build a network"),
        html.P(className="explain", children=[
            "A fully connected net of your own: up to three hidden layers of 1 to 1,024 units, e.g. ",
            html.Code("100"), " or ", html.Code("32,16"), " (", html.Code("0"), " is the 1-layer net). It trains on "
            "the dataset chosen above, in the shared queue, with its progress at the top of the page. Then it "
            "joins everyone's network list, and every card works on it. A network that exists opens at once."]),
        html.Div(className="controls build-controls", children=[
            html.Label(className="control", children=[
                html.Span("Hidden units", className="control-label"),
                # What was typed stays when the view is left and mounted again (kept in the browser's session).
                dcc.Input(id=ids.BUILD_HIDDEN, type="text", value="100", debounce=False, maxLength=40,
                          placeholder="e.g. 100 or 32,16", className="build-input", autoComplete="off",
                          persistence=True, persistence_type="session")]),
            html.Label(className="control", children=[
                html.Span("Activation", className="control-label"),
                dcc.Dropdown(id=ids.BUILD_ACTIVATION, value="relu", clearable=False, searchable=False,
                             options=[{"label": a, "value": a} for a in kinds.ACTIVATIONS], persistence=True,
                             persistence_type="session")]),
            html.Button("Build and train", id=ids.BUILD_TRAIN, className="more-button build-button", n_clicks=0),
        ]),
        html.Div(id=ids.BUILD_NOTE, className="status"),
    ])
    climb = html.Section(className="card card-ladder", children=[
        html.H2("How much do hidden layers buy?"),
        html.P(className="explain", children=[
            "The chapter ends: “hidden layers can improve accuracy, but only to a limited extent”. Here every "
            "point is a network trained on this server, labelled with its training time: one hidden layer of 1 "
            "to 200 units (left), and 1 to 3 layers of 100 (right). Stars mark what the chapter reports for its "
            "2-layer net. Click a point to open that network."]),
        dcc.Graph(id=ids.LADDER_GRAPH, config={"displayModeBar": False},
                  figure=figures.empty_figure("Loading the trained networks…")),
        html.Div(className="ladder-foot", children=[
            html.Button("Train the missing networks", id=ids.LADDER_TRAIN, className="more-button", n_clicks=0),
            html.Progress(id=ids.LADDER_PROGRESS, className="train-progress ladder-progress hidden", value="0",
                          max="1"),
            html.Div(id=ids.LADDER_NOTE, className="status")]),
        dcc.Interval(id=ids.LADDER_POLL, interval=POLL_MS, disabled=True),
        dcc.Store(id=ids.STATE_LADDER_JOB), dcc.Store(id=ids.STATE_LADDER_DONE),
    ])
    return [build, climb]


def _sentence(text: str) -> str:
    text = str(text)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def register(app: Dash, service: Service, access: Access, limits: Limits) -> dict:
    @app.callback(Output(ids.BUILD_NOTE, "children"), Output(ids.BUILD_NOTE, "className"),
                  Input(ids.BUILD_TRAIN, "n_clicks"), Input(ids.BUILD_HIDDEN, "n_submit"),
                  State(ids.BUILD_HIDDEN, "value"), State(ids.BUILD_ACTIVATION, "value"), State(ids.DATASET, "value"),
                  prevent_initial_call=True)
    def build(_=None, __=None, hidden="", activation="relu", dataset=None):
        if not (isinstance(dataset, str) and dataset in datasets.DATASETS):
            return "Choose a dataset first.", "status status-error"
        try:
            network = kinds.fully_connected(kinds.parse_widths(hidden if isinstance(hidden, str) else ""),
                                            activation if isinstance(activation, str) else "")
        except ConfigError as e:
            return _sentence(e), "status status-error"
        label = network_label(network)
        # The dropdown's options gain the network before it is chosen: a value its options lack is cleared.
        set_props(ids.ARCH, {"options": network_options([*service.networks(dataset), network]), "value": network})
        if service.zoo.has_checkpoint(dataset, network):
            return f"Opened {label}: it was trained before.", "status"
        limits.check("train")  # the press is the visitor's choice to train it; choosing it alone trains nothing
        handle = service.request_training(dataset, network, visitor(), admin=False)
        if "error" in handle:
            return handle["error"], "status status-error"
        if handle:
            set_props(ids.STATE_JOB, {"data": handle})
        return (f"{label} on {DATASET_LABELS[dataset]}: it trains in the queue, with its progress at the top of the "
                "page, then opens.", "status status-busy")

    @app.callback(Output(ids.LADDER_GRAPH, "figure"), Output(ids.LADDER_TRAIN, "children"),
                  Output(ids.LADDER_TRAIN, "disabled"),
                  Input(ids.DATASET, "value"), Input(ids.STATE_TRAINED, "data"), Input(ids.STATE_LADDER_DONE, "data"))
    def ladder_figure(dataset, _=None, __=None):
        figure = service.ladder_figure()
        if not service.has_data(dataset):
            return figure, "Train the missing networks (this dataset's files are not here)", True
        todo = ladder.missing(service.zoo, dataset)
        if not todo:
            return figure, f"Every network of the ladder is trained on {DATASET_LABELS[dataset]}", True
        seconds = sum(service.train_estimate(dataset, n) or 0.0 for n in todo)
        about = f"about {seconds:.0f} s" if seconds < 90 else f"about {seconds / 60:.0f} min"
        # The curve's missing points, said on the figure itself: a fresh clone ships none of them.
        figure = {**figure, "layout": {**figure.get("layout", {}), "annotations": [
            *figure.get("layout", {}).get("annotations", []),
            {"text": f"{DATASET_LABELS[dataset]}: {len(todo)} of the ladder's {len(ladder.networks())} networks are "
                     f"not trained here yet; train them with the button below ({about} of the server's CPU).",
             "xref": "paper", "yref": "paper", "x": 0, "y": 1.16, "xanchor": "left", "showarrow": False,
             "font": {"size": 12, "color": "#8a4b08"}}]}}
        return figure, f"Train the {len(todo)} missing {DATASET_LABELS[dataset]} networks ({about})", False

    @app.callback(Output(ids.LADDER_NOTE, "children", allow_duplicate=True),
                  Input(ids.LADDER_GRAPH, "clickData"), prevent_initial_call=True)
    def open_point(click):
        try:
            dataset, network = click["points"][0]["customdata"]
        except (TypeError, KeyError, IndexError, ValueError):
            return no_update
        if not (isinstance(dataset, str) and dataset in datasets.DATASETS and network in ladder.networks()):
            return no_update
        set_props(ids.DATASET, {"value": dataset})
        set_props(ids.ARCH, {"options": network_options([*service.networks(dataset), network]), "value": network})
        return f"Opened {network_label(network)} on {DATASET_LABELS[dataset]}."

    @app.callback(Output(ids.STATE_LADDER_JOB, "data"), Output(ids.LADDER_NOTE, "children"),
                  Input(ids.LADDER_TRAIN, "n_clicks"), State(ids.DATASET, "value"), State(ids.ADMIN_TOKEN, "data"),
                  prevent_initial_call=True)
    def climb(_, dataset, token=None):
        if not service.has_data(dataset):
            return no_update, "This dataset's files are not here."
        if not ladder.missing(service.zoo, dataset):
            return no_update, "Every network of the ladder is trained."
        limits.check("train")
        handle = service.request_ladder(dataset, visitor(), access.is_admin(token))
        if "error" in handle:
            return no_update, handle["error"]
        return handle, "Queued…"

    @app.callback(Output(ids.LADDER_PROGRESS, "value"), Output(ids.LADDER_PROGRESS, "max"),
                  Output(ids.LADDER_PROGRESS, "className"), Output(ids.LADDER_NOTE, "children", allow_duplicate=True),
                  Output(ids.LADDER_POLL, "disabled"), Output(ids.STATE_LADDER_DONE, "data"),
                  Input(ids.STATE_LADDER_JOB, "data"), Input(ids.LADDER_POLL, "n_intervals"),
                  State(ids.STATE_LADDER_DONE, "data"), prevent_initial_call=True)
    def ladder_poll(handle, _=None, drawn=None):
        reading = progress.read(service, handle, ("ladder",), "Waiting for the trainer: {ahead} job(s) ahead.")
        value, top, shown, note, stopped, ended = progress.bar(reading, "train-progress ladder-progress hidden",
                                                               "train-progress ladder-progress")
        if reading.done:
            note = f"Trained {len((reading.job.result or {}).get('trained', []))} networks."
        if not reading.active:
            return value, top, shown, note, stopped, ended
        # Each network the job finishes joins the figure (the store changes once per network, not per poll).
        step = (reading.job.progress or {}).get("step")
        done = f"{reading.job.id}:{step // 1000 if isinstance(step, int) else 0}"
        return value, top, shown, note, stopped, done if done != drawn else no_update

    return {"build": build, "ladder_figure": ladder_figure, "open_point": open_point, "climb": climb,
            "ladder_poll": ladder_poll}
