"""Choosing a dataset and a network, making that network ready through the training queue, and the admin token."""
from __future__ import annotations

import json

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update, set_props

from models import kinds

from .. import figures, ids, progress
from ..access import Access, Limits, visitor
from ..service import Service
from ..state import DATASET_LABELS, ERROR, READY, network_label, network_options
from . import triggered_id

POLL_MS = 500
TRAINING = ("train", "retrain", "run")  # the modes this card shows (app/tasks.py)
WAITING_FIGURE = "The confusion matrix appears at the first snapshot"


def controls(default_dataset: str, default_arch: str, networks=kinds.KINDS, datasets=None) -> html.Div:
    """The two dropdowns and the accuracy; `datasets` are the dataset dropdown's options as the server has
    them (app/service.py `dataset_options`)."""
    return html.Div(className="controls", children=[
        html.Label(className="control", children=[
            html.Span("Dataset", className="control-label"),
            dcc.Dropdown(id=ids.DATASET, value=default_dataset, clearable=False, searchable=False,
                         options=datasets or [{"label": v, "value": k} for k, v in DATASET_LABELS.items()]),
        ]),
        html.Label(className="control", children=[
            html.Span("Network", className="control-label"),
            # The served kinds from the start (a value the options lack would be cleared); the
            # visitors' runs of the dataset join them (the options callback).
            dcc.Dropdown(id=ids.ARCH, value=default_arch, clearable=False, searchable=False,
                         options=network_options(networks)),
        ]),
        html.Div(id=ids.ACCURACY, className="accuracy", children="…"),
    ])


def training_box() -> html.Div:
    return html.Div(id=ids.TRAIN_BOX, className="train-box", children=[
        html.Div(className="train-head", children=[
            html.Div(id=ids.TRAIN_LABEL, className="train-label", children="Preparing…"),
            html.Button("Stop", id=ids.TRAIN_STOP, className="more-button train-stop", n_clicks=0,
                        title="Stop this training run (only whoever started it, or the admin)")]),
        html.Progress(id=ids.TRAIN_PROGRESS, className="train-progress", value="0", max="1"),
        html.Div(className="live", children=[
            # The live heatmap's graph is made when a job is watched: a hidden Plotly graph on every page
            # cost each first visit a plot before the heatmap's.
            html.Div(id=ids.LIVE_HEATMAP_BOX, className="live-heatmap-box"),
            html.Div(id=ids.LIVE_WEIGHTS, className="live-weights"),
        ]),
        dcc.Interval(id=ids.TRAIN_POLL, interval=POLL_MS, disabled=True),
    ])


def live_heatmap(figure: dict) -> dcc.Graph:
    """The heatmap of the snapshot a watched job last made (the same graph each time: Plotly redraws it)."""
    return dcc.Graph(id=ids.LIVE_HEATMAP, className="live-heatmap", config={"displayModeBar": False}, figure=figure)


def admin_box() -> html.Details:
    return html.Details(className="admin", children=[
        html.Summary("Admin"),
        # In a form of its own, as browsers want a password field to be (assets/keyboard.js keeps Enter from
        # sending it anywhere): outside one, every page load logged a warning.
        html.Form(className="admin-form", children=[
            dcc.Input(id=ids.ADMIN_INPUT, type="password", debounce=True, placeholder="admin token, then Enter",
                      className="admin-input", autoComplete="off")]),
        html.Span(id=ids.ADMIN_NOTE, className="admin-note",
                  children="With the admin token, “Watch it train” replaces the network everyone sees; without "
                           "it, it trains a new run beside it."),
    ])


def stores(resolved=None, shown=None, known=None) -> list:
    """The shell's; `resolved` is how the network the page opens on stands (the layout resolves it), and
    `shown` the view store the page makes of it (assets/view.js), so that the panels draw at once; `known`,
    how it stands on the other datasets (a switch to one draws at once)."""
    return [dcc.Store(id=ids.STATE_RESOLVED, data=resolved), dcc.Store(id=ids.STATE_ANSWER),
            dcc.Store(id=ids.STATE_KNOWN, data=known or {}),
            dcc.Store(id=ids.STATE_TRAINED), dcc.Store(id=ids.STATE_VIEW, data=shown), dcc.Store(id=ids.STATE_JOB),
            dcc.Store(id=ids.RESOLVE_KICK),
            dcc.Store(id=ids.STATE_FRAME_SEEN), dcc.Store(id=ids.ADMIN_TOKEN, storage_type="session")]


def register(app: Dash, service: Service, access: Access, limits: Limits) -> dict:
    @app.callback(Output(ids.ARCH, "options"), Output(ids.DATASET, "options"),
                  State(ids.DATASET, "value"), Input(ids.STATE_TRAINED, "data"), prevent_initial_call=True)
    def options(dataset, _=None):
        """The menus once a job has finished (the datasets too: one whose download just finished, or failed, is
        marked again). The layout draws them first, and resolve's answer brings them on every choice."""
        return network_options(service.networks(dataset)), service.dataset_options()

    # The page opens with its network resolved (app/main.py); only one that is not ready asks the server.
    app.clientside_callback(
        """function (built, resolved) {
            const ready = resolved && resolved.status === "ready";
            return ready ? window.dash_clientside.no_update : Date.now();
        }""", Output(ids.RESOLVE_KICK, "data"), Input(ids.URL_BUILT, "data"), State(ids.STATE_RESOLVED, "data"))

    @app.callback(Output(ids.STATE_ANSWER, "data"),
                  Input(ids.DATASET, "value"), Input(ids.ARCH, "value"), Input(ids.WATCH, "n_clicks"),
                  State(ids.ADMIN_TOKEN, "data"), Input(ids.RESOLVE_KICK, "data"), Input(ids.TRAIN_IT, "n_clicks"),
                  prevent_initial_call=True)
    def resolve(dataset, arch, watch=None, token=None, _=None, __=None):
        """How the chosen network stands, and the job a press queued (or None). Only a press starts work:
        "Watch it train", or "Train it" on a network not trained here; choosing one, or opening a link to one,
        queues nothing.

        The answer goes to a store of its own, which the page takes in (assets/view.js `answer`): Dash holds
        every callback downstream of one in flight, so had it written the network's state, every panel of a
        switch would wait for it, even when the page already knows how that network stands (`guess`)."""
        found = service.resolve(dataset, arch)
        # The menus come with it: the dataset's networks (visitors' runs and built ones join the served kinds),
        # and the datasets, marked when their files are missing.
        menus = {"options": network_options(service.networks(dataset)),
                 "datasets": service.dataset_options()}
        pressed = triggered_id()
        watching = pressed == ids.WATCH
        if found["status"] == ERROR or not (watching or (pressed == ids.TRAIN_IT and found["status"] != READY)):
            return {"resolved": found, "job": None, **menus}
        limits.check("train")  # each is seconds to minutes of CPU
        job = service.request_training(dataset, arch, visitor(), access.is_admin(token), watch=watching)
        return {"resolved": found, "job": job, **menus}

    # A network the page has seen ready is drawn at once when chosen again (assets/view.js onScreen); the
    # server's answer follows, and replaces it only if it differs (a new checkpoint, a longer timeline, a
    # network removed). It is written into the page's stores from here (set_props), not as this callback's
    # outputs, so that no panel waits on the request in Dash's graph. Its own output is never updated.
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_view", function_name="answer"),
        Output(ids.STATE_ANSWER, "modified_timestamp"), Input(ids.STATE_ANSWER, "data"),
        State(ids.DATASET, "value"), State(ids.ARCH, "value"), State(ids.STATE_RESOLVED, "data"),
        State(ids.ARCH, "options"), State(ids.DATASET, "options"), prevent_initial_call=True)

    @app.callback(Output(ids.TRAIN_PROGRESS, "value"), Output(ids.TRAIN_PROGRESS, "max"),
                  Output(ids.TRAIN_LABEL, "children"), Output(ids.LIVE_HEATMAP_BOX, "children"),
                  Output(ids.LIVE_WEIGHTS, "children"), Output(ids.TRAIN_BOX, "className"),
                  Output(ids.TRAIN_POLL, "disabled"), Output(ids.WATCH, "disabled"),
                  Output(ids.STATE_TRAINED, "data"), Output(ids.STATE_FRAME_SEEN, "data"),
                  Input(ids.STATE_JOB, "data"), Input(ids.TRAIN_POLL, "n_intervals"),
                  State(ids.STATE_FRAME_SEEN, "data"), State(ids.ARCH, "value"), State(ids.DATASET, "value"),
                  State(ids.ADMIN_TOKEN, "data"), prevent_initial_call=True)
    def poll(handle, _=None, seen=None, arch=None, dataset=None, token=None):
        keep = (no_update,) * 5
        if isinstance(handle, dict) and isinstance(handle.get("error"), str):
            return "0", "1", handle["error"], no_update, no_update, "train-box notice", True, False, no_update, no_update
        reading = progress.read(service, handle, TRAINING, lambda job, ahead: (
            f"Waiting for the trainer: {network_label(job.network)} starts after {ahead} job(s) ahead."))
        job = reading.job
        if job is None:
            return *keep, "train-box", True, False, no_update, no_update
        if reading.done and isinstance(job.result, dict):
            if job.mode == "run" and job.dataset == dataset and job.network != arch:
                set_props(ids.ARCH, {"value": job.network})  # the run this visitor asked to watch: show it
            return "1", "1", "", no_update, no_update, "train-box", True, False, job.result, no_update
        if not reading.active:
            return "0", "1", job.message, no_update, no_update, "train-box notice", True, False, no_update, no_update
        label = reading.label
        figure, tiles = no_update, no_update
        if job.frame and job.frame_no != seen:
            frame = json.loads(job.frame)
            figure = live_heatmap(frame["figure"])
            names = frame.get("labels") or [f"{i + 1}" for i in range(len(frame["images"]))]
            tiles = [html.P(frame["caption"], className="live-caption"),
                     *[html.Figure(className="live-tile", children=[
                         html.Img(src=src, className="live-img", alt=f"weights of {name}"),
                         html.Figcaption(name)]) for src, name in zip(frame["images"], names)]]
        elif seen is None and not job.frame:
            figure, tiles = live_heatmap(figures.empty_figure(WAITING_FIGURE)), []
        # Only whoever started the job, or the admin, is offered Stop; everyone else just watches it.
        box = "train-box active" + ("" if job.visitor == visitor() or access.is_admin(token) else " watching")
        return (reading.step, reading.total, label, figure, tiles, box, False, True, no_update, job.frame_no)

    @app.callback(Output(ids.TRAIN_LABEL, "children", allow_duplicate=True),
                  Input(ids.TRAIN_STOP, "n_clicks"), State(ids.STATE_JOB, "data"), State(ids.ADMIN_TOKEN, "data"),
                  prevent_initial_call=True)
    def stop(_, handle, token=None):
        job = service.queue.get(handle.get("id")) if isinstance(handle, dict) else None
        if job is None or not job.active:
            return no_update
        if job.visitor != visitor() and not access.is_admin(token):
            return "Only whoever started this run, or the admin, can stop it."
        service.queue.cancel(job.id)
        return "Stopping…"

    @app.callback(Output(ids.ADMIN_TOKEN, "data"), Output(ids.ADMIN_NOTE, "children"),
                  Input(ids.ADMIN_INPUT, "value"), prevent_initial_call=True)
    def unlock(offered):
        if access.open:
            return None, "This dashboard runs on this machine for one person: everything is allowed."
        if not isinstance(offered, str) or not offered:
            return None, "No token: “Watch it train” trains a new run beside the network everyone sees."
        limits.check("token")
        if not access.is_admin(offered):
            return None, "That token is not right."
        return offered, "Admin for this browser session: “Watch it train” replaces the network everyone sees."

    return {"options": options, "resolve": resolve, "poll": poll, "stop": stop, "unlock": unlock}
