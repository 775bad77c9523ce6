"""One unit, looked at from every side (the chapter's "different kinds of zeros", measured): its filter, the input
that drives it hardest, the test images that drive it highest and lowest, how it fires for each true class, and
the weights it sends on. Any unit of any layer, the class scores included; the address names it ("unit=2.4").

A fully connected net's activations and visualisations are made in the request (milliseconds, and about 0.1 s
for a visualisation, counted once per unit against the visitor's limit); a convnet's are a "unit" job (one pass
over the test split, then seconds of gradient ascent). Both are kept on disk for every visitor."""
from __future__ import annotations

from typing import Optional

import numpy as np
from dash import Dash, Input, Output, State, dcc, html, no_update

from models import units
from models.errors import ConfigError
from models.kinds import Pass

from .. import background, figures, ids, progress
from ..access import Access, Limits, visitor
from ..images import colorize, png_data_uri, to_display
from ..query import parse, search_of
from ..service import Service

HIDDEN = "train-progress hidden"
GRAPH = {"displayModeBar": False, "responsive": True}


def layout(wanted: Optional[dict] = None) -> html.Section:
    """The card, its layer and unit as the address names them (checked against the network once it is known)."""
    found = (wanted or {}).get("unit")
    layer, unit = (str(found[0]), str(found[1])) if found else (None, None)
    return html.Section(id=ids.UNIT_CARD, className="card card-unit", children=[
        html.Div(className="card-head", children=[
            html.H2("One unit: what makes it fire"),
            html.Div(className="toggles unit-pick", children=[
                dcc.Dropdown(id=ids.UNIT_LAYER, value=layer, clearable=False, searchable=False,
                             className="unit-layer", options=[{"label": f"Layer {layer}", "value": layer}] if layer else []),
                dcc.Dropdown(id=ids.UNIT_NUMBER, value=unit, clearable=False, className="unit-number",
                             options=[{"label": f"unit {unit}", "value": unit}] if unit else [])])]),
        html.Div(id=ids.UNIT_BODY, className="unit-body", children=html.P("Preparing the network…", className="hint")),
        html.Div(className="unit-job", children=[
            html.Progress(id=ids.UNIT_PROGRESS, className=HIDDEN, value="0", max="1"),
            html.Span(id=ids.UNIT_NOTE, className="hint"),
            dcc.Interval(id=ids.UNIT_POLL, interval=700, disabled=True),
            dcc.Store(id=ids.STATE_UNIT_JOB), dcc.Store(id=ids.STATE_UNIT_DONE)])])


def _number(text) -> Optional[int]:
    return int(text) if isinstance(text, str) and text.isdecimal() and len(text) <= 5 else None


def choices(model, classes, layer, unit) -> tuple[list, str, list, str]:
    """The layer and unit menus for a network, keeping the chosen ones where the network has them (a class
    score's unit is named by its class)."""
    found = units.unit_layers(model)
    number = _number(layer)
    number = number if number is not None and 1 <= number <= len(found) else 1
    chosen = found[number - 1]
    index = _number(unit)
    index = index if index is not None and 1 <= index <= chosen.count else 1
    layer_options = [{"label": f"Layer {f.number}: {f.title} ({f.count} {f.noun}{'es' if f.noun == 'class' else 's'})",
                      "value": str(f.number)} for f in found]
    unit_options = [{"label": f"class {classes[i - 1]}" if chosen.classes else f"{chosen.noun} {i}", "value": str(i)}
                    for i in range(1, chosen.count + 1)]
    return layer_options, str(number), unit_options, str(index)


def register(app: Dash, service: Service, access: Access, limits: Limits) -> dict:
    reps = service.representations

    @app.callback(Output(ids.UNIT_LAYER, "options"), Output(ids.UNIT_LAYER, "value"),
                  Output(ids.UNIT_NUMBER, "options"), Output(ids.UNIT_NUMBER, "value"),
                  Input(ids.STATE_VIEW, "data"), Input(ids.UNIT_LAYER, "value"), State(ids.UNIT_NUMBER, "value"))
    def menus(store, layer, unit):
        view = service.shown(store)
        if view is None:
            return no_update, no_update, no_update, no_update
        return choices(view.checkpoint.model, view.checkpoint.classes, layer, unit)

    @app.callback(Output(ids.UNIT_LAYER, "value", allow_duplicate=True),
                  Output(ids.UNIT_NUMBER, "value", allow_duplicate=True),
                  Input(ids.URL_CHANGED, "data"), State(ids.UNIT_LAYER, "value"), State(ids.UNIT_NUMBER, "value"),
                  prevent_initial_call=True)
    def from_address(changed, layer=None, unit=None):
        """Back and forward to another unit of this view (a link's is in the layout)."""
        found = parse(search_of(changed)).get("unit")
        if not found:
            return no_update, no_update
        wanted = (str(found[0]), str(found[1]))
        return tuple(no_update if w == now else w for w, now in zip(wanted, (layer, unit)))

    @app.callback(Output(ids.UNIT_BODY, "children"), Output(ids.STATE_UNIT_JOB, "data"),
                  Output(ids.UNIT_NOTE, "children"),
                  Input(ids.STATE_VIEW, "data"), Input(ids.UNIT_LAYER, "value"), Input(ids.UNIT_NUMBER, "value"),
                  Input(ids.STATE_UNIT_DONE, "data"), State(ids.ADMIN_TOKEN, "data"))
    def draw(store, layer, unit, _=None, token=None):
        view, problem = service.look(store)
        if view is None:
            return html.P(problem or "Preparing the network…", className="hint"), no_update, None
        model = view.checkpoint.model
        try:
            chosen, index = units.find(model, _number(layer), _number(unit))
        except ConfigError as e:
            return html.P(str(e), className="hint"), no_update, None
        values = reps.unit_activations(view, chosen.number)
        visual = None if values is None else reps.visualisation(view, chosen.number, index + 1, make=True)
        handle, note = no_update, None
        if visual is None and view.kind.maps is Pass.JOB:
            limits.check_once("unit", f"{view.checkpoint.id}/{chosen.number}.{index + 1}")
            handle = background.request(service, view, "unit", background.unit_detail(chosen.number, index + 1),
                                        visitor(), access.is_admin(token))
            if "error" in handle:
                handle, note = no_update, handle["error"]
        if values is None:
            return html.P(f"Which test images drive this {chosen.noun} takes one pass of the network over the "
                          f"{len(view.images):,} test images, in the server's queue (about ten seconds).",
                          className="hint"), handle, note
        return body(service, view, chosen, index, values[:, index], visual), handle, note

    @app.callback(Output(ids.UNIT_PROGRESS, "value"), Output(ids.UNIT_PROGRESS, "max"),
                  Output(ids.UNIT_PROGRESS, "className"), Output(ids.UNIT_NOTE, "children", allow_duplicate=True),
                  Output(ids.UNIT_POLL, "disabled"), Output(ids.STATE_UNIT_DONE, "data"),
                  Input(ids.STATE_UNIT_JOB, "data"), Input(ids.UNIT_POLL, "n_intervals"), prevent_initial_call=True)
    def poll(handle, _=None):
        return progress.bar(progress.read(service, handle, ("unit",)))

    return {"unit_menus": menus, "unit_from_address": from_address, "unit_draw": draw, "unit_poll": poll}


def body(service: Service, view, layer: units.UnitLayer, index: int, values: np.ndarray,
         visual: Optional[dict]) -> list:
    """The unit's card: what it is and where, its filter, its visualisation, its outgoing weights, its top and
    bottom test images, its activation within each class."""
    ckpt, ev = view.checkpoint, view.evaluation
    classes = ckpt.classes
    found = service.cached(view, "unit-profile", (layer.number, index),
                           lambda: units.profile(values, ev.labels, len(classes)))
    name = f"class {classes[index]}" if layer.classes else f"{layer.noun} {index + 1}"
    means = found.class_means
    order = np.argsort(-means)
    when = f" At {ckpt.metrics.get('label', 'this point')} of its training." if ckpt.is_snapshot else ""
    fires = float((values > 0).mean())
    head = html.P(className="explain", children=[
        html.B(f"Layer {layer.number} ({layer.title}), {name}. "),
        (f"Its score is highest, on average, for {classes[order[0]]} ({means[order[0]]:.2f}) and lowest for "
         f"{classes[order[-1]]} ({means[order[-1]]:.2f}).") if layer.classes else
        (f"It fires (above zero) on {100 * fires:.0f}% of the test images; on average most for "
         f"{classes[order[0]]} ({means[order[0]]:.2f}), then {classes[order[1]]} ({means[order[1]]:.2f}), and least for "
         f"{classes[order[-1]]} ({means[order[-1]]:.2f})."), when,
        " A filter's activation on an image is the largest value of its map." if layer.noun == "filter" else ""])
    pictures = []
    weights = units.filters(ckpt.model, layer)
    if weights is not None:
        tile = colorize(weights.cpu().numpy()[index:index + 1] if not layer.classes else weights.cpu().numpy(),
                        "diverging")[0 if not layer.classes else index]
        pictures.append(html.Figure(className="unit-picture", children=[
            html.Img(src=png_data_uri(tile), className="unit-big", alt=f"the weights of {name}"),
            html.Figcaption(["Its weights, the filter it applies to the input: purple raises it where the image "
                             "is bright, orange lowers it."])]))
    pictures.append(_visual(visual, name, layer.noun == "filter"))
    if visual is not None and "fooling" in visual:
        pictures.append(_fooling(visual, classes, index))
    outgoing = units.outgoing(ckpt.model, layer)
    if outgoing is not None:
        w = outgoing.cpu().numpy()[:, index]
        nxt = units.unit_layers(ckpt.model)[layer.number]
        names = [str(c) for c in classes] if nxt.classes else [str(i + 1) for i in range(len(w))]
        what = "class" if nxt.classes else f"{nxt.noun} of layer {nxt.number}"
        shown = np.arange(len(w)) if len(w) <= 32 else np.sort(np.argsort(-np.abs(w))[:24])
        figure = service.cached(view, "unit-outgoing", (layer.number, index), lambda: figures.unit_outgoing_figure(
            w[shown], [names[i] for i in shown], what).to_dict())
        pictures.append(html.Figure(className="unit-picture unit-chart", children=[
            dcc.Graph(figure=figure, config=GRAPH),
            html.Figcaption(f"What it sends on: its weight into each {what}" + (
                f" (the 24 largest of {len(w)})" if len(w) > 32 else "") + (
                "; a convolution's 3×3 kernel is summed." if layer.noun == "filter" else "."))]))
    parts = [head, html.Div(className="unit-row", children=pictures),
             html.H3(f"The {len(found.top)} test images that drive it highest", className="sub"),
             _images(service, view, found.top, values)]
    if len(found.bottom):
        parts += [html.H3(f"…and the {len(found.bottom)} that drive it lowest", className="sub"),
                  _images(service, view, found.bottom, values)]
    parts += [html.H3("Its activation within each true class", className="sub"),
              dcc.Graph(figure=service.cached(view, "unit-classes", (layer.number, index),
                                              lambda: figures.unit_classes_figure(found.class_boxes, classes,
                                                                                  layer.noun).to_dict()), config=GRAPH),
              html.P("Boxes span the middle half of each class's test images, whiskers the 5th to 95th percentile; "
                     "the line is the median, the dashed line the mean.", className="hint")]
    return parts


def _visual(visual: Optional[dict], name: str, maps: bool = False) -> html.Figure:
    """The input that drives it hardest; `maps`: a convnet filter's, whose last steps raise its map's centre."""
    if visual is None:
        return html.Figure(className="unit-picture", children=[
            html.Div(className="unit-big unit-waiting", children="…"),
            html.Figcaption("Searching for the input that drives it hardest…")])
    image = np.clip(np.round(np.asarray(visual["image"]) * 255), 0, 255).astype(np.uint8)
    reached, best = visual["activation"], visual["best"]
    return html.Figure(className="unit-picture", children=[
        html.Img(src=png_data_uri(to_display(image)), className="unit-big", alt=f"the input that drives {name} hardest"),
        html.Figcaption([html.B("What drives it hardest: "),
                         f"found by gradient ascent from grey, shifted a pixel or two and blurred a little at every "
                         f"step so it reads as an image"
                         + (", then raised at the centre of its map (the pattern there is the one it answers most)"
                            if maps and visual["steps"] > units.STEPS else "")
                         + f". It reaches {reached:.2f}; the best test image reaches {best:.2f}."])])


def _fooling(visual: dict, classes, index: int) -> html.Figure:
    """Noise the network calls this class, almost surely (Nguyen et al., "Deep neural networks are easily
    fooled"): what its confidence is worth."""
    image = np.clip(np.round(np.asarray(visual["fooling"]) * 255), 0, 255).astype(np.uint8)
    sure = float(np.asarray(visual["fooling_probs"])[index])
    return html.Figure(className="unit-picture", children=[
        html.Img(src=png_data_uri(to_display(image)), className="unit-big", alt=f"noise it calls {classes[index]}"),
        html.Figcaption([html.B("A fooling image: "),
                         f"it calls this {classes[index]} with {100 * sure:.1f}% confidence. It began as random "
                         "noise, changed only as much as it took (after Nguyen et al., \"Deep neural networks are "
                         "easily fooled\"): a high probability says how sure it is, not how right."])])


def _images(service: Service, view, indices, values) -> html.Div:
    dataset = view.checkpoint.dataset
    labels, preds, classes = view.evaluation.labels, view.evaluation.preds, view.checkpoint.classes
    return html.Div(className="unit-images", children=[
        html.Button(className="unit-image", type="button", **{"data-index": str(int(i))},
                    title=f"Test image {int(i)}: a {classes[labels[i]]}, called {classes[preds[i]]}. Explain it.",
                    children=[html.Img(src=service.sample_uri(dataset, int(i)), alt=f"test image {int(i)}"),
                              html.Span(f"{float(values[i]):.2f}")]) for i in indices])
