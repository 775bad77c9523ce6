"""Why this prediction: the selected image's probabilities and what, pixel by pixel or unit by unit, made them."""
from __future__ import annotations

from dash import Dash, Input, Output, State, dcc, html, no_update

from .. import ids
from ..explanations import compose
from ..service import Service, View

HIDDEN = "card card-explain hidden"
SHOWN = "card card-explain"


def layout() -> html.Section:
    return html.Section(id=ids.EXPLAIN_CARD, className=HIDDEN, children=[
        html.H2("Why this prediction"),
        html.Div(id=ids.EXPLAIN, className="explain-panel"),
        dcc.Store(id=ids.EXPLAIN_SHOWN),
    ])


# An image opened from far away (the label-error list, a shared link) is explained out of sight: bring
# the explanation into view, once per image. Redraws of the same image (the timeline) leave the page be.
SCROLL_INTO_VIEW = """
function (children, index) {
    if (!Number.isInteger(index)) { window.lookinsideExplained = null; return null; }
    if (window.lookinsideExplained === index) { return window.dash_clientside.no_update; }
    window.lookinsideExplained = index;
    setTimeout(function () {
        const card = document.getElementById("%s");
        if (!card || card.classList.contains("hidden")) { return; }
        const top = card.getBoundingClientRect().top;
        if (top < 0 || top > window.innerHeight * 0.6) { card.scrollIntoView({block: "start"}); }
    }, 60);
    return index;
}
""" % ids.EXPLAIN_CARD


def register(app: Dash, service: Service) -> dict:
    app.clientside_callback(SCROLL_INTO_VIEW, Output(ids.EXPLAIN_SHOWN, "data"), Input(ids.EXPLAIN, "children"),
                            State(ids.STATE_SAMPLE, "data"), prevent_initial_call=True)

    @app.callback(Output(ids.EXPLAIN, "children"), Output(ids.EXPLAIN_CARD, "className"),
                  Input(ids.STATE_SAMPLE, "data"), Input(ids.STATE_VIEW, "data"))
    def explanation(index, store):
        view = service.shown(store)
        if view is None or not isinstance(index, int) or isinstance(index, bool) \
                or not 0 <= index < view.evaluation.n:
            return no_update, HIDDEN
        return service.cached(view, "explain-panel", (index,), lambda: panel(service, view, index)), SHOWN

    return {"explanation": explanation}


GRAPHS = {"probs": ids.EXPLAIN_PROBS, "hidden": ids.EXPLAIN_HIDDEN, "units": ids.EXPLAIN_UNITS}


def panel(service: Service, view: View, index: int) -> list:
    """The explanation's children for test image `index` under the network on screen."""
    ev = view.evaluation
    return compose(view, service.explanation(view, index), ev.probs[index], int(ev.labels[index]),
                   f"Test image #{index}", service.sample_uri(ev.dataset, index), GRAPHS)
