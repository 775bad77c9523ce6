"""Switch first-layer units off (toggles on the weights panel's tiles) and see what breaks: the heatmap card
shows switched-off minus intact. Exact and instant for fully connected nets; a queued pass for a convnet."""
from __future__ import annotations

from dash import Dash, Input, Output, State, dcc, html, no_update

from models.kinds import Pass

from .. import background, ids, progress
from ..access import Access, Limits, visitor
from ..representations import units_name
from ..moves import units_off
from ..service import Service
from ..query import parse, search_of
from . import triggered_id

HIDDEN = "more-button hidden"


def layout() -> list:
    """Above the heatmap: what is switched off, the accuracy change and the way back; a convnet's progress."""
    return [html.Div(className="off-bar", children=[
        html.Div(id=ids.OFF_NOTE, className="off-note"),
        html.Button("Switch all back on", id=ids.OFF_RESET, n_clicks=0, className="link-button hidden"),
        html.Progress(id=ids.OFF_PROGRESS, className="train-progress hidden", value="0", max="1"),
        html.Span(id=ids.OFF_JOB_NOTE, className="hint"),
        html.Button("Compute it", id=ids.OFF_COMPUTE, n_clicks=0, className="more-button hidden",
                    title="One pass of the convnet over the test images with these filters off, in the queue"),
        dcc.Interval(id=ids.OFF_POLL, interval=800, disabled=True), dcc.Store(id=ids.STATE_OFF_JOB),
        dcc.Store(id=ids.OFF_ASK)])]


def stores(off=None) -> list:
    """The shell's: the units switched off (as the page's address names them), and the convnet pass that
    made them drawable."""
    return [dcc.Store(id=ids.STATE_OFF, **({"data": off} if off else {})), dcc.Store(id=ids.STATE_OFF_DONE)]


def register(app: Dash, service: Service, access: Access, limits: Limits) -> dict:
    @app.callback(Output(ids.STATE_OFF, "data"), Input(ids.URL_CHANGED, "data"), State(ids.STATE_OFF, "data"),
                  prevent_initial_call=True)
    def from_address(changed, current=None):
        """Back and forward name the units switched off in their network (a link's are in the layout)."""
        wanted = parse(search_of(changed))
        if "off" in wanted and "arch" in wanted:
            found = {"network": wanted["arch"], "units": wanted["off"]}
            return no_update if found == current else found
        return None if current else no_update

    # A unit's switch is flipped in the browser (assets/weights.js), which writes this store; so is the reset.
    app.clientside_callback("function (n) { return n ? null : window.dash_clientside.no_update; }",
                            Output(ids.STATE_OFF, "data", allow_duplicate=True), Input(ids.OFF_RESET, "n_clicks"),
                            prevent_initial_call=True)

    # Only units switched off can need a convnet's pass: with none, the server is not asked (nor waited for).
    # The units a link names (the page's first value) are marked as not asked for: they queue nothing.
    app.clientside_callback(
        """function (off) {
            if (!(off && Array.isArray(off.units) && off.units.length)) { return window.dash_clientside.no_update; }
            const fired = (window.dash_clientside.callback_context || {}).triggered || [];
            const changed = fired.some(function (t) { return t && t.prop_id && t.prop_id !== "."; });
            return Object.assign({}, off, {asked: changed});
        }""", Output(ids.OFF_ASK, "data"), Input(ids.STATE_OFF, "data"))

    @app.callback(Output(ids.STATE_OFF_JOB, "data"), Output(ids.OFF_JOB_NOTE, "children"),
                  Output(ids.OFF_COMPUTE, "className"),
                  Input(ids.OFF_ASK, "data"), State(ids.STATE_VIEW, "data"), State(ids.ADMIN_TOKEN, "data"),
                  Input(ids.OFF_COMPUTE, "n_clicks"), prevent_initial_call=True)
    def request(off, store, token=None, _=None):
        """A convnet's switched-off test pass, queued once per checkpoint and set of filters: on a click of a
        filter's switch, or of "Compute it" for the filters a link switched off (opening a link queues nothing)."""
        view = service.shown(store)
        units = units_off(view, off)
        if not units or view.kind.switching is not Pass.JOB or view.checkpoint.is_snapshot \
                or service.representations.switched(view, units) is not None:
            return no_update, None, HIDDEN  # nothing to queue: computed here, already made, or a timeline snapshot
        if isinstance(off, dict) and off.get("asked") is False and triggered_id() != ids.OFF_COMPUTE:
            return no_update, "This link switched these filters off; computing that is one pass over the test " \
                              "images.", "more-button"
        limits.check("map")
        handle = background.request(service, view, "off", units_name(units), visitor(), access.is_admin(token))
        if "error" in handle:
            return no_update, handle["error"], "more-button"
        return handle, None, HIDDEN

    @app.callback(Output(ids.OFF_PROGRESS, "value"), Output(ids.OFF_PROGRESS, "max"),
                  Output(ids.OFF_PROGRESS, "className"), Output(ids.OFF_JOB_NOTE, "children", allow_duplicate=True),
                  Output(ids.OFF_POLL, "disabled"), Output(ids.STATE_OFF_DONE, "data"),
                  Input(ids.STATE_OFF_JOB, "data"), Input(ids.OFF_POLL, "n_intervals"), prevent_initial_call=True)
    def poll(handle, _=None):
        return progress.bar(progress.read(service, handle, ("off",)))

    return {"switch_from_address": from_address, "switch_request": request,
            "switch_poll": poll}
