"""What the bar says about the network on screen: its accuracy, why it cannot be drawn, the timeline position,
and how long "Watch it train" takes. One callback, so a switch costs the bar one request."""
from __future__ import annotations

from dash import Dash, Input, Output, html

from models.errors import LookInsideError

from .. import ids
from ..moves import units_off
from ..service import Service
from ..state import READY, UNTRAINED, network_label, on_screen, valid_pair


def register(app: Dash, service: Service) -> dict:
    def status(store, off=None):
        """The accuracy badge, and the status line's sentence and class: with units switched off, the accuracy
        the heatmap shows, beside the intact network's."""
        st = on_screen(store)
        if st is None:
            return "…", "", "status"
        view, problem = service.look(st)
        if problem is not None:
            return "not available", problem, "status status-error"
        if view is None:
            note = f" ({st['message']})" if st.get("message") else ""
            name = network_label(st["network"]) if valid_pair(st["dataset"], st["network"]) else "This network"
            return ("not trained", f"{name} is not trained here yet{note}.",
                    "status status-busy")
        ev = view.evaluation
        units = units_off(view, off)
        switched = service.representations.switched(view, units) if units else None
        if switched is not None:
            return (html.Span([html.B(f"{100 * switched.accuracy:.2f}%"),
                               f" accuracy with {view.kind.units(len(units))} {', '.join(str(u + 1) for u in units)} "
                               f"off (intact: {100 * ev.accuracy:.2f}%)"],
                              title="test images right with those units switched off"), "", "status")
        correct = int(ev.confusion.trace())
        # The same width at every timeline position (the timeline's note says which one), so nothing moves.
        return (html.Span([html.B(f"{100 * ev.accuracy:.2f}%"), f" accuracy ({correct:,} of {ev.n:,})"],
                          title="test images right, at the timeline position shown"), "", "status")

    def note(store):
        """Where on the timeline the network on screen is."""
        found = on_screen(store)
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
        return f"{labels[value]} ({value + 1} of {len(labels)})"

    def watch_label(store):
        """Say how long training takes before anyone starts it: the convnets take minutes, not seconds."""
        found, seconds = on_screen(store), None
        if found is not None and found["status"] == READY:
            try:  # the finished network's time, wherever the slider is
                seconds = service.zoo.load(found["dataset"], found["network"]).metrics.get("train_seconds")
            except LookInsideError:
                pass
        return watch_text(seconds)

    def train_it(store):
        """The "Train it" button's label, and whether it is hidden: shown only for a network not trained here."""
        st = on_screen(store)
        if st is None or st["status"] != UNTRAINED or not valid_pair(st["dataset"], st["network"]):
            return "Train it", True
        try:
            seconds = service.train_estimate(st["dataset"], st["network"])
        except LookInsideError:
            seconds = None
        if seconds is None:
            return "Train it", False
        return f"Train it (about {seconds:.0f} s)" if seconds < 90 else f"Train it (about {seconds / 60:.0f} min)", False

    @app.callback(Output(ids.ACCURACY, "children"), Output(ids.STATUS, "children"), Output(ids.STATUS, "className"),
                  Output(ids.TIMELINE_NOTE, "children"), Output(ids.WATCH, "children"), Output(ids.WATCH, "title"),
                  Output(ids.TRAIN_IT, "children"), Output(ids.TRAIN_IT, "hidden"),
                  Input(ids.STATE_VIEW, "data"), Input(ids.STATE_OFF, "data"), Input(ids.STATE_OFF_DONE, "data"))
    def bar(store, off=None, _=None):
        return (*status(store, off), note(store), *watch_label(store), *train_it(store))

    return {"bar": bar, "status": status, "timeline_note": note, "watch_label": watch_label, "train_it": train_it}


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
