"""Why this prediction: the selected image's probabilities and what, pixel by pixel or unit by unit, made them."""
from __future__ import annotations

from typing import Optional

from dash import Dash, Input, Output, State, dcc, html, no_update

import models.influence
from models import datasets, layers, saliency
from models.errors import LookInsideError
from models.kinds import Pass

from .. import background, figures, ids, progress, representations
from ..representations import NO_CHANGE
from ..access import visitor
from ..explanations import SEARCH, compose, fooled, open_units_on_click, sanity
from ..images import png_data_uri, to_display
from ..service import Service, View
from ..state import whole, whole_text
from . import triggered_id

HIDDEN = "card card-explain hidden"
SHOWN = "card card-explain"


def layout(nearest: bool = False) -> html.Section:
    """The explanation card; beside the map (`nearest`) it also lists the nearest training images."""
    return html.Section(id=ids.EXPLAIN_CARD, className=HIDDEN, children=[
        html.H2("Why this prediction"),
        html.Div(id=ids.SALIENCY_BOX, className="toggles saliency hidden", children=[
            html.Label("Pixel maps by", htmlFor=ids.SALIENCY_METHOD, className="toggle-label"),
            dcc.Dropdown(id=ids.SALIENCY_METHOD, value=saliency.DEFAULT, clearable=False, searchable=False,
                         className="saliency-method",
                         options=[{"label": label, "value": name} for name, label in saliency.METHODS.items()])]),
        html.Div(id=ids.EXPLAIN, className="explain-panel"),
        html.Div(className="sanity", children=[
            html.H3("Can I trust this map?", className="sub"),
            html.P("The same map for the network with its layers re-initialised one at a time, from the class scores "
                   "down (Adebayo et al., 2018). A map that explains the network must change; one that stays alike "
                   "shows the image, not what was learned.", className="hint"),
            html.Button("Check it", id=ids.SANITY, className="more-button", n_clicks=0),
            html.Div(id=ids.SANITY_RESULT, className="sanity-result")]),
        html.Div(className="fool", children=[
            html.H3("Fool it: the smallest change that makes it say something else", className="sub"),
            html.Div(className="toggles", children=[
                dcc.Dropdown(id=ids.FOOL_TARGET, value="nearest", clearable=False, searchable=False,
                             className="fool-target", options=[{"label": "the nearest other class", "value": "nearest"}]),
                html.Button("Find it", id=ids.FOOL, className="more-button", n_clicks=0)]),
            html.Div(className="unit-job", children=[
                html.Progress(id=ids.FOOL_PROGRESS, className="train-progress hidden", value="0", max="1"),
                html.Span(id=ids.FOOL_NOTE, className="hint"),
                dcc.Interval(id=ids.FOOL_POLL, interval=800, disabled=True),
                dcc.Store(id=ids.STATE_FOOL_JOB), dcc.Store(id=ids.STATE_FOOL_DONE)]),
            html.Div(id=ids.FOOL_RESULT, className="fool-result")]),
        html.Div(className="influence", children=[
            html.H3("The training images that taught it this", className="sub"),
            html.Div(id=ids.INFLUENCE, className="influence-panel"),
            html.Div(className="unit-job", children=[
                html.Button("Find them", id=ids.INFLUENCE_FIND, n_clicks=0, className="more-button hidden"),
                html.Progress(id=ids.INFLUENCE_PROGRESS, className="train-progress hidden", value="0", max="1"),
                html.Span(id=ids.INFLUENCE_NOTE, className="hint"),
                dcc.Interval(id=ids.INFLUENCE_POLL, interval=800, disabled=True),
                dcc.Store(id=ids.STATE_INFLUENCE_JOB), dcc.Store(id=ids.STATE_INFLUENCE_DONE)])]),
        *([html.Div(id=ids.EXPLAIN_NEAREST, className="nearest")] if nearest else []),
        dcc.Store(id=ids.EXPLAIN_SHOWN), dcc.Store(id=ids.EXPLAIN_OPENED), dcc.Store(id=ids.EXPLAIN_ASK),
    ])


# An image to explain goes to the server; no image hides the card here, without a request (a cell click
# clears the image, and its one request is for the cell's images).
ASK = """
function (index, store, shown) {
    const none = window.dash_clientside.no_update;
    if (Number.isInteger(index) && index >= 0 && store) { return [{index: index, view: store}, none]; }
    return [none, shown === "%s" ? none : "%s"];
}
""" % (HIDDEN, HIDDEN)


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


def register(app: Dash, service: Service, limits=None, access=None) -> dict:
    open_units_on_click(app, GRAPHS, ids.EXPLAIN_OPENED)
    app.clientside_callback(SCROLL_INTO_VIEW, Output(ids.EXPLAIN_SHOWN, "data"), Input(ids.EXPLAIN, "children"),
                            State(ids.STATE_SAMPLE, "data"), prevent_initial_call=True)

    app.clientside_callback(ASK, Output(ids.EXPLAIN_ASK, "data"),
                            Output(ids.EXPLAIN_CARD, "className", allow_duplicate=True),
                            Input(ids.STATE_SAMPLE, "data"), Input(ids.STATE_VIEW, "data"),
                            State(ids.EXPLAIN_CARD, "className"), prevent_initial_call="initial_duplicate")

    def explanation(index, store, method=None):
        view = service.shown(store)
        if view is None or whole(index, view.evaluation.n) is None:
            return no_update, HIDDEN
        method = _method(view, method)
        try:
            if method is not None:
                saliency.check_method(view.checkpoint.model, method)
        except LookInsideError as e:  # a forged method
            return html.P(str(e), className="hint"), SHOWN

        def build():
            if method is not None and limits is not None:
                limits.check("saliency")  # a convnet's two Captum maps: 0.1 s (IG) to 0.3 s (Occlusion, CIFAR-10)
            return panel(service, view, index, method)
        return service.cached(view, "explain-panel", (index, method), build), SHOWN

    def nearest(index, store, layer, _=None):
        view = service.shown(store)
        if view is None or whole(index, view.evaluation.n) is None:
            return None
        return nearest_panel(service, view, index, layer)

    @app.callback(Output(ids.EXPLAIN, "children"), Output(ids.EXPLAIN_CARD, "className"),
                  Output(ids.SALIENCY_BOX, "className"),
                  Input(ids.EXPLAIN_ASK, "data"), Input(ids.SALIENCY_METHOD, "value"),
                  prevent_initial_call=True)  # asked only for an image (ASK)
    def explain(ask, method=None):
        index, store = _asked(ask)
        view = service.shown(store)
        box = "toggles saliency" + ("" if view is not None and view.kind.map_methods else " hidden")
        return (*explanation(index, store, method), box)

    # A new image or method clears the last check, in the browser: a click asks for nothing more.
    app.clientside_callback("function () { return null; }", Output(ids.SANITY_RESULT, "children", allow_duplicate=True),
                            Input(ids.EXPLAIN_ASK, "data"), Input(ids.SALIENCY_METHOD, "value"),
                            prevent_initial_call=True)

    @app.callback(Output(ids.SANITY_RESULT, "children"), Input(ids.SANITY, "n_clicks"), State(ids.EXPLAIN_ASK, "data"),
                  State(ids.SALIENCY_METHOD, "value"), prevent_initial_call=True)
    def sanity_check(_, ask, method=None):
        """Adebayo's cascade for the explained image's map of its predicted class."""
        index, store = _asked(ask)
        view = service.shown(store)
        if view is None or whole(index, view.evaluation.n) is None:
            return None
        method = _method(view, method) or "gradxinput"
        try:
            saliency.check_method(view.checkpoint.model, method)
        except LookInsideError as e:
            return html.P(str(e), className="hint")
        if limits is not None:
            limits.check("sanity")
        return service.cached(view, "sanity", (index, method), lambda: sanity_panel(view, index, method))

    @app.callback(Output(ids.EXPLAIN_NEAREST, "children"),
                  Input(ids.EXPLAIN_ASK, "data"), Input(ids.EMBEDDING_LAYER, "value"),
                  Input(ids.STATE_EMBEDDING_DONE, "data"))
    def explain_nearest(ask, layer, done=None):
        return nearest(*_asked(ask), layer, done)

    @app.callback(Output(ids.FOOL_RESULT, "children"), Output(ids.FOOL_TARGET, "options"),
                  Output(ids.STATE_FOOL_JOB, "data"),
                  Input(ids.FOOL, "n_clicks"), Input(ids.EXPLAIN_ASK, "data"), State(ids.FOOL_TARGET, "value"),
                  Input(ids.STATE_FOOL_DONE, "data"), State(ids.ADMIN_TOKEN, "data"), prevent_initial_call=True)
    def fool_it(_, ask, target="nearest", done=None, token=None):
        """On a press, the smallest change to the explained image that makes the network say another class (or
        the one chosen); a new image clears it and lists its classes. A convnet's search (seconds) is a queued
        job, kept for every visitor; its end draws it here."""
        index, store = _asked(ask)
        view = service.shown(store)
        if view is None or whole(index, view.evaluation.n) is None:
            return None, no_update, no_update
        options = [{"label": "the nearest other class", "value": "nearest"}] + [
            {"label": f"say {name}", "value": str(i)} for i, name in enumerate(view.checkpoint.classes)]
        trigger = triggered_id()
        if trigger not in (ids.FOOL, ids.STATE_FOOL_DONE):
            return None, options, no_update
        queued = view.kind.switching is Pass.JOB

        def kept(wanted, saved):
            found = None if saved is NO_CHANGE else saved
            return service.cached(view, "fool", (index, wanted), lambda: fooled_panel(view, index, wanted, found))
        if trigger == ids.STATE_FOOL_DONE:  # a job ended: its own image and class, whatever the menu says now
            ended = background.finished_change(service, view, done)
            if not queued or ended is None or ended[0] != index:
                return no_update, no_update, no_update
            _, asked, saved = ended
            return (None if saved is None else kept(asked, saved)), no_update, no_update  # None: it failed
        wanted = whole_text(target, len(view.checkpoint.classes))
        if queued and view.checkpoint.is_snapshot:
            return html.P("A convnet's change is searched for in the finished network: move the timeline to its "
                          "end.", className="hint"), options, no_update
        if not queued or wanted == int(view.evaluation.preds[index]):
            if limits is not None:
                limits.check("fool")  # seconds of CPU for a 2-layer net (at most REQUEST_BUDGET)
            return service.cached(view, "fool", (index, wanted), lambda: fooled_panel(view, index, wanted)), \
                options, no_update
        detail = background.fool_detail(index, wanted)
        saved = service.representations.change(view, detail)
        if saved is not None:
            return kept(wanted, saved), options, no_update
        if limits is not None:
            limits.check("fool")
        handle = background.request(service, view, "fool", detail, visitor(),
                                    access is not None and access.is_admin(token))
        if "error" in handle:
            return html.P(handle["error"], className="hint"), options, no_update
        return html.P(background.QUEUED_FOOL, className="hint"), options, handle

    @app.callback(Output(ids.FOOL_PROGRESS, "value"), Output(ids.FOOL_PROGRESS, "max"),
                  Output(ids.FOOL_PROGRESS, "className"), Output(ids.FOOL_NOTE, "children"),
                  Output(ids.FOOL_POLL, "disabled"), Output(ids.STATE_FOOL_DONE, "data"),
                  Input(ids.STATE_FOOL_JOB, "data"), Input(ids.FOOL_POLL, "n_intervals"), prevent_initial_call=True)
    def fool_poll(handle, _=None):
        return progress.bar(progress.read(service, handle, ("fool",)))

    @app.callback(Output(ids.INFLUENCE, "children"), Output(ids.INFLUENCE_FIND, "className"),
                  Input(ids.EXPLAIN_ASK, "data"), Input(ids.STATE_INFLUENCE_DONE, "data"), prevent_initial_call=True)
    def influence(ask, _=None):
        """The explained image's proponents and opponents: at once for a 1-layer net; for another fully
        connected net once its job ran (a button queues it); a sentence for a convnet."""
        index, store = _asked(ask)
        view = service.shown(store)
        if view is None or whole(index, view.evaluation.n) is None:
            return None, "more-button hidden"
        if view.checkpoint.is_snapshot:
            return html.P("Computed for the finished network: move the timeline to its end.", className="hint"), \
                "more-button hidden"
        try:
            models.influence.check_fully_connected(view.checkpoint.model)
            found = service.representations.influence(view, index)
        except LookInsideError as e:
            return html.P(str(e), className="hint"), "more-button hidden"
        if found is None:
            n = len(datasets.load(view.checkpoint.dataset, True, service.local))
            return html.P(f"TracIn scores all {n:,} training images at every stored point of this network's "
                          "training: a few seconds of the server's CPU, in the queue.", className="hint"), "more-button"
        return influence_panel(service, view, index, found), "more-button hidden"

    @app.callback(Output(ids.STATE_INFLUENCE_JOB, "data"), Output(ids.INFLUENCE_NOTE, "children"),
                  Input(ids.INFLUENCE_FIND, "n_clicks"), State(ids.EXPLAIN_ASK, "data"), State(ids.ADMIN_TOKEN, "data"),
                  prevent_initial_call=True)
    def influence_request(_, ask, token=None):
        index, store = _asked(ask)
        view = service.shown(store)
        if view is None or whole(index, view.evaluation.n) is None or view.checkpoint.is_snapshot:
            return no_update, None
        if limits is not None:
            limits.check("influence")
        handle = background.request(service, view, "influence", str(index), visitor(),
                                    access is not None and access.is_admin(token))
        return (no_update, handle["error"]) if "error" in handle else (handle, None)

    @app.callback(Output(ids.INFLUENCE_PROGRESS, "value"), Output(ids.INFLUENCE_PROGRESS, "max"),
                  Output(ids.INFLUENCE_PROGRESS, "className"),
                  Output(ids.INFLUENCE_NOTE, "children", allow_duplicate=True), Output(ids.INFLUENCE_POLL, "disabled"),
                  Output(ids.STATE_INFLUENCE_DONE, "data"),
                  Input(ids.STATE_INFLUENCE_JOB, "data"), Input(ids.INFLUENCE_POLL, "n_intervals"),
                  prevent_initial_call=True)
    def influence_poll(handle, _=None):
        return progress.bar(progress.read(service, handle, ("influence",)))

    return {"explanation": explanation, "nearest": nearest, "explain": explain, "explain_nearest": explain_nearest,
            "fool": fool_it, "fool_poll": fool_poll, "sanity": sanity_check, "influence": influence, "influence_request": influence_request,
            "influence_poll": influence_poll}


def influence_panel(service: Service, view: View, index: int, found: dict) -> list:
    """The proponents and opponents of test image `index`, each a training image with its label and score."""
    ev = view.evaluation
    train = datasets.load(view.checkpoint.dataset, True, service.local)
    actual, predicted = int(ev.labels[index]), int(ev.preds[index])
    said = ev.classes[predicted]

    def tiles(rows):
        made = []
        for r, score in rows:
            label = int(train.labels[r])
            made.append(html.Figure(className="tile nearest-tile" + (" nearest-predicted" if label != actual else ""),
                                    title=f"training image #{r}: labelled {ev.classes[label]}, TracIn score {score:.3g}",
                                    children=[html.Img(src=png_data_uri(to_display(train.images[r].numpy())),
                                                       className="tile-img", alt=f"training image {r}"),
                                              html.Figcaption([html.B(ev.classes[label]),
                                                               html.Span(f" {score:+.0f}" if abs(score) >= 100 else f" {score:+.3g}", className="tile-prob")])]))
        return html.Div(made, className="tiles nearest-tiles")
    pro = [int(train.labels[r]) for r, _ in found["proponents"]]
    note = (f"It is a mistake: these are the training images that led it to say {said}, "
            f"{sum(label == predicted for label in pro)} of them labelled {said}." if predicted != actual else
            f"{sum(label == predicted for label in pro)} of {len(pro)} are labelled {said}.")
    return [html.P([html.B("Proponents: "), f"the training images whose steps most raised its score for {said} on this "
                    "image (TracIn: the learning rate times the dot product of the two images' loss gradients, "
                    "summed over the snapshots of its training). ", note], className="hint"),
            tiles(found["proponents"]),
            html.P([html.B("Opponents: "), "those whose steps most lowered it."], className="hint"),
            tiles(found["opponents"])]


def fooled_panel(view: View, index: int, target, found=SEARCH) -> list:
    """Fool it for test image `index`: the smallest change that makes the network say `target` (None: the
    nearest other class); `found`: what a job found, else searched for here."""
    ev = view.evaluation
    return fooled(view.checkpoint, view.images.images[index].numpy(), int(ev.preds[index]), int(ev.labels[index]),
                  target, ids.FOOL_PROBS, found)


def _method(view: View, method) -> Optional[str]:
    """The map method asked for, where the network's maps have a choice (None where they are exact)."""
    if not view.kind.map_methods:
        return None
    return method if method is not None else saliency.DEFAULT


def sanity_panel(view: View, index: int, method: str) -> list:
    """The randomisation cascade of test image `index`'s map for its predicted class (a fully connected net's
    exact map is gradient × input: for the 1-layer net x × w itself)."""
    ckpt = view.checkpoint
    predicted = int(view.evaluation.preds[index])
    check = saliency.cascade(ckpt.model, view.images.images[index].numpy(), ckpt.normalization, predicted, method)
    name = saliency.METHODS[method] if view.kind.map_methods else (
        "The exact map (x × w)" if len(check.steps) == 1 else "Gradient × input of the class score")
    return sanity(check, name, ckpt.classes[predicted], f"Test image #{index}: {name.lower() if name.startswith('The') else name}")


def _asked(ask) -> tuple:
    """The image and view store an ask names (forged asks name nothing)."""
    return (ask.get("index"), ask.get("view")) if isinstance(ask, dict) else (None, None)


GRAPHS = {"probs": ids.EXPLAIN_PROBS, "hidden": ids.EXPLAIN_HIDDEN, "units": ids.EXPLAIN_UNITS}


def nearest_panel(service: Service, view: View, index: int, layer) -> list:
    """The training images nearest test image `index` in the map's layer, by cosine distance."""
    reps = service.representations
    titles = {item.key: item.title for item in reps.layers(view)}
    if not isinstance(layer, str) or layer not in titles:
        layer = layers.keys(view.checkpoint.model)[-1]
    found = reps.nearest(view, layer, index)
    head = html.H3(f"Its {representations.NEAREST} nearest training images in the {titles[layer]}", className="sub")
    if found is None:
        return [head, html.P("This network's layers are computed once, on request: press the button in the map "
                             "card (the input pixels work now).", className="hint")]
    rows, distances = found
    ev = view.evaluation
    actual, predicted = int(ev.labels[index]), int(ev.preds[index])
    train = datasets.load(view.checkpoint.dataset, True, service.local)
    labels = [int(train.labels[r]) for r in rows]
    tiles = []
    for r, d, label in zip(rows, distances, labels):
        cls = "tile nearest-tile" + (" nearest-predicted" if label == predicted != actual else "")
        tiles.append(html.Figure(className=cls, title=f"training image #{int(r)}: {ev.classes[label]}, cosine "
                                                       f"distance {float(d):.4f}", children=[
            html.Img(src=png_data_uri(to_display(train.images[int(r)].numpy())), className="tile-img",
                     alt=f"training image {int(r)}"),
            html.Figcaption([html.B(ev.classes[label]), html.Span(f" distance {float(d):.3f}", className="tile-prob")])]))
    same = sum(label == predicted for label in labels)
    if predicted != actual:
        note = (f"A mistake: to the network, in this layer, it resembled training images of {ev.classes[predicted]} "
                f"({same} of {len(labels)}) more than its own class {ev.classes[actual]} "
                f"({sum(label == actual for label in labels)}). The map's layer dropdown changes the layer.")
    else:
        note = (f"{same} of {len(labels)} are {ev.classes[predicted]}, as predicted. The layer dropdown of the map "
                "changes the layer.")
    return [head, html.Div(tiles, className="tiles nearest-tiles"), html.P(note, className="hint")]


def panel(service: Service, view: View, index: int, method: Optional[str] = None) -> list:
    """The explanation's children for test image `index` under the network on screen (`method`: a convnet's
    pixel maps)."""
    ev = view.evaluation
    return compose(view, service.explanation(view, index, method), ev.probs[index], int(ev.labels[index]),
                   f"Test image #{index}", service.sample_uri(ev.dataset, index), GRAPHS)
