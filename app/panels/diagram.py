"""The network, drawn from its weights (app/diagram.py): the chapter's diagrams of the 1-layer and 2-layer nets,
with the selected test image flowing through them. Drawn only once the card is opened, so a first visit costs
nothing more."""
from __future__ import annotations

from dash import Dash, Input, Output, dcc, html, no_update

from models.nets import LinearNet, MLP

from .. import diagram, figures, ids
from ..service import Service
from ..state import whole, whole_text

INTRO = ("The chapter draws its networks before anything else: every input wired to every output, each edge a "
         "weight. These are the real networks on screen. Click an image anywhere in this view to pass it through: "
         "its pixels feed the inputs, each unit shows its activation, each output its score.")


def layout() -> html.Details:
    """Closed: assets/diagram.js tells the server when it is opened (Dash does not follow a <details>'s toggle),
    and a link with show=diagram opens it (assets/address.js)."""
    return html.Details(id=ids.DIAGRAM_CARD, className="card card-diagram", open=False, children=[
        html.Summary([html.H2("The network, drawn", className="inline"),
                      html.Span(" its nodes and edges, with an image flowing through", className="hint")]),
        html.P(INTRO, className="explain"),
        html.Div(id=ids.DIAGRAM_OUTPUT_BOX, className="toggles", children=[
            html.Span("Edges into", className="control-label"),
            dcc.Dropdown(id=ids.DIAGRAM_OUTPUT, value="auto", clearable=False, searchable=False,
                         className="diagram-output", options=[{"label": "the prediction (or 0)", "value": "auto"}])]),
        # Empty until the card is opened: an empty Plotly graph in a closed card cost every first visit ~60 ms.
        html.Div(id=ids.DIAGRAM_BOX, className="diagram-box"),
        dcc.Store(id=ids.DIAGRAM_ASK),
    ])


# While the card is closed nothing goes to the server: a first visit and a switch cost no request more.
ASK = """
function (opened, store, sample, output) {
    if (!opened || !store) { return window.dash_clientside.no_update; }
    return {view: store, sample: Number.isInteger(sample) ? sample : null, output: output || "auto"};
}
"""


def register(app: Dash, service: Service) -> dict:
    app.clientside_callback(ASK, Output(ids.DIAGRAM_ASK, "data"), Input(ids.DIAGRAM_CARD, "open"),
                            Input(ids.STATE_VIEW, "data"), Input(ids.STATE_SAMPLE, "data"),
                            Input(ids.DIAGRAM_OUTPUT, "value"))

    @app.callback(Output(ids.DIAGRAM_BOX, "children"), Output(ids.DIAGRAM_OUTPUT, "options"),
                  Output(ids.DIAGRAM_OUTPUT_BOX, "className"), Input(ids.DIAGRAM_ASK, "data"),
                  prevent_initial_call=True)
    def asked(ask):
        if not isinstance(ask, dict):
            return no_update, no_update, no_update
        figure, options, shown = draw(True, ask.get("view"), ask.get("sample"), ask.get("output"))
        return dcc.Graph(id=ids.DIAGRAM_GRAPH, className="diagram-graph", config={"displayModeBar": False},
                         figure=figure), options, shown

    def draw(opened, store, sample=None, output="auto"):
        if not opened:
            return no_update, no_update, no_update
        view = service.shown(store)
        if view is None:
            return figures.empty_figure("Preparing the network…"), no_update, no_update
        ckpt, ev = view.checkpoint, view.evaluation
        index = whole(sample, ev.n)
        options = [{"label": "the prediction (or 0)", "value": "auto"}] + [
            {"label": name, "value": str(i)} for i, name in enumerate(ckpt.classes)]
        model = ckpt.model
        if not isinstance(model, (LinearNet, MLP)):
            return (figures.empty_figure("Drawn for the fully connected nets: a convnet's filters slide over the "
                                         "image instead (see “What it learned”)."), options, "toggles hidden")
        chosen = whole_text(output, len(ckpt.classes))
        if chosen is None:
            chosen = int(ev.preds[index]) if index is not None else 0
        image = view.images.images[index].numpy() if index is not None else None
        key = (index, chosen if isinstance(model, LinearNet) else None)

        def build():
            if isinstance(model, LinearNet):
                return diagram.linear_diagram(model, ckpt.normalization, ckpt.classes, chosen, image).to_dict()
            return diagram.mlp_diagram(model, ckpt.normalization, ckpt.classes, image).to_dict()
        shown = "toggles" if isinstance(model, LinearNet) else "toggles hidden"
        return service.cached(view, "diagram", key, build), options, shown

    return {"diagram": draw, "diagram_asked": asked}
