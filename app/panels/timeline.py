"""The training timeline: a slider over the snapshots kept while the network trained, a player, and a retrain."""
from __future__ import annotations

import re

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update

from .. import ids
from ..service import Service
from ..state import READY, current, valid_pair, whole

PLAY_MS = 900  # one snapshot per tick while playing
PLAY = "▶ Play"


def marks(labels) -> dict:
    """The slider's marks (assets/view.js `marks`, the same rule): every snapshot a dot; the start, about six
    epochs and the end get words."""
    heads = [str(label).split(" · ")[0] for label in labels]
    epochs = [i for i, head in enumerate(heads) if re.fullmatch(r"epoch [0-9]+", head)]
    step = max(1, len(epochs) // 6)
    named = {i for k, i in enumerate(epochs) if k % step == 0} | {0, len(labels) - 1}
    return {i: "" if i not in named else "start" if i == 0 else "end" if i == len(labels) - 1
            else head.replace("epoch ", "e", 1) for i, head in enumerate(heads)}


def slider(resolved, position=None) -> dict:
    """The slider and its box as the page draws them for a network's state (assets/view.js `control`): the
    finished network, or the position a link names."""
    ready = isinstance(resolved, dict) and resolved.get("status") == READY
    labels = resolved.get("timeline") if ready and isinstance(resolved.get("timeline"), list) else []
    last = max(0, len(labels) - 1)
    at = position if isinstance(position, int) and not isinstance(position, bool) and 0 <= position <= last else last
    return {"max": last, "marks": marks(labels), "value": at,
            "box": "timeline" + ("" if labels else " no-timeline") + ("" if ready else " hidden")}


def layout(resolved=None, position=None) -> html.Section:
    """The timeline, drawn for the network the page opens on (`resolved`, at a linked `position`), so that
    the page's first call of its control changes nothing."""
    drawn = slider(resolved, position)
    return html.Section(id=ids.TIMELINE_BOX, className=drawn["box"], children=[
        html.Span("Training timeline", className="control-label timeline-title"),
        html.Button(PLAY, id=ids.TIMELINE_PLAY, className="more-button play-button", n_clicks=0,
                    title="Replay training: step through the snapshots"),
        html.Div(className="timeline-slider", children=dcc.Slider(
            id=ids.TIMELINE, min=0, max=drawn["max"], step=1, value=drawn["value"], marks=drawn["marks"],
            included=True, updatemode="mouseup", allow_direct_input=False)),
        html.Span(id=ids.TIMELINE_NOTE, className="timeline-note"),
        html.Button("Watch it train", id=ids.WATCH, className="more-button", n_clicks=0,
                    title="Train this network from scratch and watch it learn: a new run beside the one everyone "
                          "sees, or (for the admin) in its place"),
        dcc.Interval(id=ids.TIMELINE_TICK, interval=PLAY_MS, disabled=True),
        dcc.Store(id=ids.STATE_SNAPSHOT), dcc.Store(id=ids.STATE_SNAPSHOT_ASK), dcc.Store(id=ids.SNAPSHOT_ANSWER),
    ])


def register(app: Dash, service: Service) -> dict:
    # The slider's snapshots for the chosen network, the player, and a position a link names, in the browser
    # (assets/view.js): the labels come with the network's state, so a switch or a tick asks the server nothing.
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_view", function_name="control"),
        Output(ids.TIMELINE, "max"), Output(ids.TIMELINE, "marks"), Output(ids.TIMELINE, "value"),
        Output(ids.TIMELINE_TICK, "disabled"), Output(ids.TIMELINE_PLAY, "children"),
        Output(ids.TIMELINE_BOX, "className"),
        Input(ids.STATE_RESOLVED, "data"), Input(ids.STATE_TRAINED, "data"), Input(ids.TIMELINE_PLAY, "n_clicks"),
        Input(ids.TIMELINE_TICK, "n_intervals"), Input(ids.URL_CHANGED, "data"), Input(ids.DATASET, "value"),
        Input(ids.ARCH, "value"), State(ids.TIMELINE, "value"), State(ids.TIMELINE_TICK, "disabled"),
        State(ids.URL, "search"), State(ids.STATE_KNOWN, "data"), State(ids.TIMELINE, "max"))

    # The slider's position: the end is the finished network, at once; a position before it goes to the server
    # first (below), which evaluates that snapshot once, so that every panel then shows the same moment.
    # Both write the snapshot store from the page (set_props), not as outputs: Dash holds a callback
    # downstream of any in flight, and the view store would otherwise wait for the slider on every switch.
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_view", function_name="askSnapshot"),
        Output(ids.STATE_SNAPSHOT_ASK, "data"),
        Input(ids.TIMELINE, "value"), State(ids.TIMELINE, "max"), State(ids.STATE_VIEW, "data"),
        prevent_initial_call=True)
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_view", function_name="snapshotAnswer"),
        Output(ids.SNAPSHOT_ANSWER, "modified_timestamp"), Input(ids.SNAPSHOT_ANSWER, "data"),
        prevent_initial_call=True)

    @app.callback(Output(ids.SNAPSHOT_ANSWER, "data"), Input(ids.STATE_SNAPSHOT_ASK, "data"),
                  State(ids.STATE_RESOLVED, "data"), State(ids.STATE_TRAINED, "data"), State(ids.DATASET, "value"),
                  State(ids.ARCH, "value"), prevent_initial_call=True)
    def snapshot(ask, resolved, trained, dataset, network):
        """The one step that evaluates a snapshot, however many panels then draw it (the view store follows
        this store)."""
        st = current(resolved, trained, dataset, network)
        position = ask.get("position") if isinstance(ask, dict) else None
        if st is None or st["status"] != READY or not valid_pair(dataset, network) \
                or whole(position, len(service.timeline(dataset, network))) is None:  # a position it has
            return no_update
        service.snapshot(dataset, network, position)  # raises a 429 past the visitor's limit
        return {"dataset": dataset, "network": network, "checkpoint": st["checkpoint"], "position": position}

    # The one writer of the view store, in the browser (assets/view.js): the chosen network as it stands
    # and the evaluated position. Being client-side, it adds no round trip between a change and the panels.
    # The layout comes with the store written (app/main.py): called on the first visit as well, it held every
    # panel's first call until it had run, and the heatmap's drawing with them.
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_view", function_name="onScreen"),
        Output(ids.STATE_VIEW, "data"),
        Input(ids.STATE_RESOLVED, "data"), Input(ids.STATE_TRAINED, "data"), Input(ids.STATE_SNAPSHOT, "data"),
        Input(ids.DATASET, "value"), Input(ids.ARCH, "value"), State(ids.STATE_VIEW, "data"),
        State(ids.STATE_KNOWN, "data"), prevent_initial_call=True)

    return {"timeline_snapshot": snapshot}
