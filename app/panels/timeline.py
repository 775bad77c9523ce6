"""The training timeline: a slider over the snapshots kept while the network trained, a player, and a retrain."""
from __future__ import annotations

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update

from .. import ids
from ..service import Service
from ..state import READY, current, valid_pair
from . import address, triggered_id, triggered_ids

PLAY_MS = 900  # one snapshot per tick while playing


def layout() -> html.Section:
    return html.Section(id=ids.TIMELINE_BOX, className="timeline", children=[
        html.Span("Training timeline", className="control-label timeline-title"),
        html.Button("▶ Play", id=ids.TIMELINE_PLAY, className="more-button play-button", n_clicks=0,
                    title="Replay training: step through the snapshots"),
        html.Div(className="timeline-slider", children=dcc.Slider(
            id=ids.TIMELINE, min=0, max=0, step=1, value=0, marks=None, included=True, updatemode="mouseup",
            allow_direct_input=False)),
        html.Span(id=ids.TIMELINE_NOTE, className="timeline-note"),
        html.Button("Watch it train", id=ids.WATCH, className="more-button", n_clicks=0,
                    title="Train this network from scratch and watch it learn: a new run beside the one everyone "
                          "sees, or (for the admin) in its place"),
        dcc.Interval(id=ids.TIMELINE_TICK, interval=PLAY_MS, disabled=True),
        dcc.Store(id=ids.STATE_SNAPSHOT), dcc.Store(id=ids.STATE_SNAPSHOT_ASK),
    ])


def marks(labels: list[str]) -> dict:
    """Slider marks: every snapshot gets a dot; the start, a few epochs and the end get words."""
    heads = [label.split(" · ")[0] for label in labels]
    epochs = [i for i, head in enumerate(heads) if head.startswith("epoch ") and head[6:].isdecimal()]
    named = set(epochs[:: max(1, len(epochs) // 6)]) | {0, len(labels) - 1}
    short = {i: ("start" if i == 0 else "end" if i == len(labels) - 1 else heads[i].replace("epoch ", "e"))
             for i in named}
    return {i: short.get(i, "") for i in range(len(labels))}


def register(app: Dash, service: Service) -> dict:
    @app.callback(Output(ids.TIMELINE, "max"), Output(ids.TIMELINE, "marks"), Output(ids.TIMELINE, "value"),
                  Output(ids.TIMELINE_TICK, "disabled"), Output(ids.TIMELINE_PLAY, "children"),
                  Output(ids.TIMELINE_BOX, "className"),
                  Input(ids.STATE_RESOLVED, "data"), Input(ids.STATE_TRAINED, "data"),
                  Input(ids.TIMELINE_PLAY, "n_clicks"), Input(ids.TIMELINE_TICK, "n_intervals"),
                  State(ids.TIMELINE, "value"), State(ids.TIMELINE_TICK, "disabled"),
                  State(ids.DATASET, "value"), State(ids.ARCH, "value"), Input(ids.URL_CHANGED, "data"),
                  State(ids.URL, "search"))
    def control(resolved, trained, _, __, value, stopped, dataset, network, changed=None, opened=None):
        """The slider's snapshots for the chosen network, the player, and a position a link names."""
        st = current(resolved, trained, dataset, network)
        ready = st is not None and st["status"] == READY and valid_pair(dataset, network)
        labels = service.timeline(dataset, network) if ready else []
        box = "timeline" + ("" if labels else " no-timeline") + ("" if ready else " hidden")
        last = max(0, len(labels) - 1)
        value = value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= last else last
        trigger = triggered_id()
        if trigger == ids.TIMELINE_PLAY and labels:
            if stopped is False:  # pause where it is
                return no_update, no_update, value, True, "▶ Play", box
            return last, marks(labels), 0 if value >= last else value, False, "❚❚ Pause", box
        if trigger == ids.TIMELINE_TICK and labels and stopped is False:
            nxt = min(last, value + 1)
            done = nxt >= last
            return no_update, no_update, nxt, done, "▶ Play" if done else "❚❚ Pause", box
        triggers = triggered_ids()
        # The position an address names: one changed from outside (back/forward), or the page's own on its
        # first draw (no trigger: the layout came with the network already resolved).
        search = address.search_of(changed) if ids.URL_CHANGED in triggers else opened if not triggers else None
        position = address.parse(search).get("position") if search is not None else None
        position = position if isinstance(position, int) and position <= last else None
        if ids.URL_CHANGED in triggers and not triggers & {ids.STATE_RESOLVED, ids.STATE_TRAINED}:
            # Back/forward within the same network: only the position can have changed.
            wanted = last if position is None else position
            return (no_update,) * 6 if wanted == value else (no_update, no_update, wanted, True, "▶ Play", box)
        if position is not None:  # a shared link that also names the network
            return last, marks(labels), position, True, "▶ Play", box
        # A new network, or a new checkpoint of this one: show the finished network.
        return last, marks(labels), last, True, "▶ Play", box

    # The slider's position: the end is the finished network, at once; a position before it goes to the server
    # first (below), which evaluates that snapshot once, so that every panel then shows the same moment.
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_view", function_name="askSnapshot"),
        Output(ids.STATE_SNAPSHOT_ASK, "data"), Output(ids.STATE_SNAPSHOT, "data", allow_duplicate=True),
        Input(ids.TIMELINE, "value"), State(ids.TIMELINE, "max"), State(ids.STATE_VIEW, "data"),
        prevent_initial_call=True)

    @app.callback(Output(ids.STATE_SNAPSHOT, "data"), Input(ids.STATE_SNAPSHOT_ASK, "data"),
                  State(ids.STATE_RESOLVED, "data"), State(ids.STATE_TRAINED, "data"), State(ids.DATASET, "value"),
                  State(ids.ARCH, "value"), prevent_initial_call=True)
    def snapshot(ask, resolved, trained, dataset, network):
        """The one step that evaluates a snapshot, however many panels then draw it (the view store follows
        this store)."""
        st = current(resolved, trained, dataset, network)
        position = ask.get("position") if isinstance(ask, dict) else None
        if st is None or st["status"] != READY or not valid_pair(dataset, network) \
                or not isinstance(position, int) or isinstance(position, bool) or position < 0:
            return no_update
        service.snapshot(dataset, network, position)  # raises a 429 past the visitor's limit
        return {"dataset": dataset, "network": network, "checkpoint": st["checkpoint"], "position": position}

    # The one writer of the view store, in the browser (assets/view.js): the chosen network as it stands
    # and the evaluated position. Being client-side, it adds no round trip between a change and the panels.
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_view", function_name="onScreen"),
        Output(ids.STATE_VIEW, "data"),
        Input(ids.STATE_RESOLVED, "data"), Input(ids.STATE_TRAINED, "data"), Input(ids.STATE_SNAPSHOT, "data"),
        State(ids.DATASET, "value"), State(ids.ARCH, "value"), State(ids.STATE_VIEW, "data"))

    return {"timeline_control": control, "timeline_snapshot": snapshot}
