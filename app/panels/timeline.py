"""The training timeline: a slider over the snapshots kept while the network trained, a player, and a retrain."""
from __future__ import annotations

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update

from models.errors import LookInsideError

from .. import ids
from ..service import Service
from ..state import READY, current, on_screen as on_screen_state, valid_pair
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
        dcc.Store(id=ids.STATE_SNAPSHOT),
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
                  State(ids.DATASET, "value"), State(ids.ARCH, "value"), Input(ids.URL, "search"))
    def control(resolved, trained, _, __, value, stopped, dataset, network, search=None):
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
        position = address.parse(search).get("position") if ids.URL in triggers else None
        position = position if isinstance(position, int) and position <= last else None
        if ids.URL in triggers and not triggers & {ids.STATE_RESOLVED, ids.STATE_TRAINED}:
            # Back/forward within the same network: only the position can have changed.
            wanted = last if position is None else position
            return (no_update,) * 6 if wanted == value else (no_update, no_update, wanted, True, "▶ Play", box)
        if position is not None:  # a shared link that also names the network
            return last, marks(labels), position, True, "▶ Play", box
        # A new network, or a new checkpoint of this one: show the finished network.
        return last, marks(labels), last, True, "▶ Play", box

    @app.callback(Output(ids.STATE_SNAPSHOT, "data"), Input(ids.TIMELINE, "value"), State(ids.TIMELINE, "max"),
                  State(ids.STATE_RESOLVED, "data"), State(ids.STATE_TRAINED, "data"), State(ids.DATASET, "value"),
                  State(ids.ARCH, "value"), prevent_initial_call=True)
    def snapshot(value, last, resolved, trained, dataset, network):
        """The slider's position, evaluated: the one step that evaluates a snapshot, however many panels
        then draw it, so that every panel shows the same moment (the view store follows this store)."""
        st = current(resolved, trained, dataset, network)
        if st is None or st["status"] != READY or not valid_pair(dataset, network):
            return no_update
        at = value if isinstance(value, int) and not isinstance(value, bool) and isinstance(last, int) \
            and 0 <= value < last else None
        if at is not None:
            service.snapshot(dataset, network, at)  # raises a 429 past the visitor's limit
        return {"dataset": dataset, "network": network, "checkpoint": st["checkpoint"], "position": at}

    # The one writer of the view store, in the browser (assets/view.js): the chosen network as it stands
    # and the evaluated position. Being client-side, it adds no round trip between a change and the panels.
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_view", function_name="onScreen"),
        Output(ids.STATE_VIEW, "data"),
        Input(ids.STATE_RESOLVED, "data"), Input(ids.STATE_TRAINED, "data"), Input(ids.STATE_SNAPSHOT, "data"),
        State(ids.DATASET, "value"), State(ids.ARCH, "value"), State(ids.STATE_VIEW, "data"))

    @app.callback(Output(ids.TIMELINE_NOTE, "children"), Input(ids.STATE_VIEW, "data"))
    def note(store):
        found = on_screen_state(store)
        if found is None or found["status"] != READY:
            return None
        dataset, network = found["dataset"], found["network"]
        labels = service.timeline(dataset, network)
        if not labels:
            problem = service.timeline_problem(dataset, network)
            if problem:  # the file is there but unreadable: say so (it was logged), never "none recorded"
                return f"{problem[0].upper()}{problem[1:]}. Watch it train to record a new one."
            return "No timeline was recorded for this network. Watch it train to record one."
        value = found["position"]
        if value is None or not 0 <= value < len(labels):
            value = len(labels) - 1
        return f"{labels[value]} ({value + 1} of {len(labels)} snapshots)"

    @app.callback(Output(ids.WATCH, "children"), Output(ids.WATCH, "title"), Input(ids.STATE_VIEW, "data"))
    def watch_label(store):
        """Say how long training takes before anyone starts it: the convnets take minutes, not seconds."""
        found, seconds = on_screen_state(store), None
        if found is not None and found["status"] == READY:
            try:  # the finished network's time, wherever the slider is
                seconds = service.zoo.load(found["dataset"], found["network"]).metrics.get("train_seconds")
            except LookInsideError:
                pass
        return watch_text(seconds)

    return {"timeline_control": control, "timeline_snapshot": snapshot, "timeline_note": note,
            "watch_label": watch_label}


def watch_text(seconds) -> tuple[str, str]:
    """The "Watch it train" button's label and tooltip, given how long this network last took to train."""
    title = ("Train this network from scratch and watch it learn: a new run beside the one everyone sees, or "
             "(for the admin) in its place.")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds <= 0:
        return "Watch it train", title
    took = f"{seconds:.0f} seconds" if seconds < 90 else f"{seconds / 60:.0f} minutes"
    title += f" It last took {took} of training here; others' jobs can make it wait longer."
    if seconds < 60:
        return "Watch it train", title
    return f"Watch it train (about {seconds / 60:.0f} min)", title
