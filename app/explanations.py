"""An explanation drawn: the image, its probabilities and what made them, for every kind of explanation.

Shared by the explanation card (test images) and the try-your-own card (drawings and uploads).
"""
from __future__ import annotations

import numpy as np
from typing import Optional

from dash import Input, Output, dcc, html

from models import adversarial, saliency
from models.explain import Contributions, Gradients, HiddenContributions, reference_class

from . import figures
from .images import colorize, diverging, png_data_uri, to_display


def compose(view, ex, probs: np.ndarray, actual, title: str, image_uri: str, graph_ids: dict,
            menus: bool = True) -> list:
    """Image, probabilities and the explanation body; `actual` is None for an image with no label. `menus`: the
    card has the map method's menu and the sanity check (the explanation card; not try-your-own)."""
    classes = view.evaluation.classes
    predicted = int(np.argmax(ex.logits))
    ref = reference_class(ex.logits, actual)
    facts = [html.H3(title)]
    if actual is not None:
        verdict = "right" if predicted == actual else "wrong"
        facts += [html.P(["true class ", html.B(classes[actual])]),
                  html.P(["predicted ", html.B(classes[predicted]), f" ({100 * probs[predicted]:.1f}%) ",
                          html.Span(verdict, className=f"verdict verdict-{verdict}")])]
    else:
        facts.append(html.P(["predicted ", html.B(classes[predicted]), f" ({100 * probs[predicted]:.1f}%)"]))
    facts.append(html.P(f"Compared below with {classes[ref]}, "
                        + ("the true class." if ref == actual else "the runner-up."), className="hint"))
    head = html.Div(className="explain-head", children=[
        html.Img(src=image_uri, className="explain-img", alt=title),
        html.Div(className="explain-facts", children=facts),
        dcc.Graph(id=graph_ids["probs"], className="explain-probs", config={"displayModeBar": False},
                  figure=figures.probability_figure(probs, classes, actual)),
    ])
    names = {predicted: f"{classes[predicted]} (predicted)",
             ref: f"{classes[ref]} ({'true' if ref == actual else 'runner-up'})"}
    ckpt = view.checkpoint
    if isinstance(ex, Contributions):
        body = _linear(ex, predicted, ref, names, "true" if ref == actual else "other",
                       view.kind.first_layer(ckpt.model, ckpt.classes).images, image_uri, classes)
    elif isinstance(ex, HiddenContributions):
        body = _mlp(ex, predicted, ref, names, view.kind.first_layer(ckpt.model, ckpt.classes).images, graph_ids,
                    len(getattr(ckpt.model, "widths", ())) or 1)
    else:
        body = _gradients(ex, predicted, ref, names, menus)
    return [head, *body]


def _maps(items: list[tuple[np.ndarray, str, list]], links: Optional[list] = None) -> html.Div:
    """Signed maps on one shared scale (99th percentile of their magnitudes): purple +, orange −; each with the
    link given for it (a unit's "inside"), if any."""
    values = np.concatenate([np.abs(m).ravel() for m, _, _ in items])
    scale = float(np.percentile(values[values > 0], 99)) if np.any(values > 0) else 1.0
    tiles = [html.Figure(className="map-tile", children=[
        html.Img(src=png_data_uri(diverging(m, scale)), className="map-img", alt=title),
        html.Figcaption([html.B(title), *[html.Div(line, className="map-sum") for line in lines]]),
        *([link] if link is not None else [])])
        for (m, title, lines), link in zip(items, links or [None] * len(items))]
    return html.Div(tiles, className="map-row")


# A click on a bar of an explanation's hidden activations or unit shares opens that unit's view (the bars name
# their units, figures.activations_figure): in the browser, with no request of its own.
OPEN_UNIT = """
function (click) {
    const point = click && click.points && click.points[0];
    if (point && window.lookinsideViews) { window.lookinsideViews.openUnit(point.customdata); }
    return window.dash_clientside.no_update;
}
"""


def open_units_on_click(app, graph_ids: dict, opened: str) -> None:
    """Bars of the charts `graph_ids` names ("hidden", "units") open their unit; `opened` is a store of the card."""
    for key in ("hidden", "units"):
        app.clientside_callback(OPEN_UNIT, Output(opened, "data", allow_duplicate=True),
                                Input(graph_ids[key], "clickData"), prevent_initial_call=True)


def unit_link(layer: int, unit: int, text: str = "inside", inline: bool = False) -> html.A:
    """"inside": opens the unit view on unit `unit` (from 0) of hidden layer `layer` (from 1, as the page numbers
    them); assets/views.js moves there without reloading, keeping the rest of the address."""
    key = f"{layer}.{unit + 1}"
    return html.A(text, className="unit-link-inline" if inline else "unit-link", href=f"/layers?unit={key}",
                  title="What makes it fire: its top images, its classes, the input that drives it hardest",
                  **{"data-path": "/layers", "data-unit": key})


def _key(method: Optional[str] = None) -> html.P:
    """What the maps' colours mean: a share of the score (exact maps, and the estimates that split it), or, for
    SmoothGrad and Grad-CAM, which are no split of it, what they are."""
    purple, orange = html.Span("purple", className="key-positive"), html.Span("orange", className="key-negative")
    if method == "smoothgrad":
        return html.P(["How the score moves with each pixel: ", purple, " where brightening it raises the score, ",
                       orange, " where it lowers it (a black pixel can be either). All maps share one colour scale."],
                      className="explain")
    if method == "occlusion":
        return html.P(["What covering each pixel's square costs the score: ", purple, " where blacking it out "
                       "lowers the score (it helped), ", orange, " where it raises it. All maps share one colour "
                       "scale."], className="explain")
    if method == "gradcam":
        return html.P(["Where the last block sees evidence for the class: the more ", purple, ", the more (Grad-CAM "
                       "is never negative, and as coarse as the block's maps). All maps share one colour scale."],
                      className="explain")
    return html.P(["Each pixel's share of a score: ", purple, " raises it, ", orange,
                   " lowers it; white pixels add nothing. All maps share one colour scale."], className="explain")


def _score_line(bias: float, parts: float, logit: float) -> str:
    return f"z = b + Σ = {bias:+.2f} {'+' if parts >= 0 else '−'} {abs(parts):.2f} = {bias + parts:.3f}" \
           f" (network: {logit:.3f})"


def _linear(ex: Contributions, pred: int, ref: int, names: dict, other: str, templates: np.ndarray,
            image_uri: str, classes) -> list:
    """The chapter's pixel × weight: the one image against every class's template, each product x·w_c drawn
    (all on one scale) with its sum z_c = b_c + Σ w·x, sorted by score; the largest sum wins."""
    order = [int(c) for c in np.argsort(-np.asarray(ex.logits), kind="stable")]
    template_imgs = colorize(templates, "diverging")  # one scale over all the templates
    values = np.abs(ex.maps).ravel()
    scale = float(np.percentile(values[values > 0], 99)) if np.any(values > 0) else 1.0

    def card(rank: int, c: int) -> html.Figure:
        verdict = "the largest sum: the prediction" if c == pred else f"{ex.logits[pred] - ex.logits[c]:.2f} below it"
        return html.Figure(className="map-tile product-tile" + (" winner" if c == pred else ""), children=[
            html.Div(className="product-pair", children=[
                html.Img(src=png_data_uri(template_imgs[c]), className="map-img product-template",
                         alt=f"template w of {classes[c]}", title=f"the template w of {classes[c]}"),
                html.Img(src=png_data_uri(diverging(ex.maps[c], scale)), className="map-img",
                         alt=f"x · w for {classes[c]}", title=f"x · w for {classes[c]}: pixel by pixel")]),
            html.Figcaption([html.B(classes[c]), html.Span(f"  #{rank} of {len(order)}", className="hint"),
                             html.Div(f"z = b + Σ w·x = {ex.bias[c]:+.2f} {'+' if ex.maps[c].sum() >= 0 else '−'} "
                                      f"{abs(ex.maps[c].sum()):.2f} = {ex.total(c):.3f}", className="map-sum"),
                             html.Div(verdict, className="map-sum")])])

    contrast = ex.maps[pred] - ex.maps[ref]
    gap = ex.logits[pred] - ex.logits[ref]
    items = [(contrast, f"contrast x · (w_pred − w_{other})",
              [f"Σ = {contrast.sum():+.2f}, bias gap {ex.bias[pred] - ex.bias[ref]:+.2f}: score gap {gap:.3f}",
               f"purple pixels pushed toward {names[pred]}, orange ones toward {names[ref]}"])]
    return [html.H3("The image against every template: the largest sum wins", className="sub"),
            html.P(["The 1-layer net multiplies the image x, pixel by pixel, by each class's template w (left in "
                    "each pair) and adds the products up (right), plus the class's bias b. Highest score first; "
                    "the sums are the network's own scores (", f"{ex.logits[pred]:.3f}", " for the winner)."],
                   className="explain"),
            _key(), html.Div([card(rank, c) for rank, c in enumerate(order, start=1)], className="map-row products"),
            html.H3(f"Why {names[pred]} and not {names[ref]}", className="sub"), _maps(items)]


SHOWN_UNITS = 16  # bars per chart when a layer has more units than fit: those that move the gap most
FIRST_MAPS = 4  # input × filter maps shown for a deeper net's first layer: its most active units


def _mlp(ex: HiddenContributions, pred: int, ref: int, names: dict, filters: np.ndarray, graph_ids: dict,
         depth: int = 1) -> list:
    """`depth`: its hidden layers (the charts' units are the last one's: a click on a bar opens one)."""
    unit = ex.key_unit(pred, ref)
    n = len(ex.activations)
    gaps = ex.unit_contributions[pred] - ex.unit_contributions[ref]
    shown, of = None, ""
    if n > 2 * SHOWN_UNITS:
        shown = sorted(np.argsort(-np.abs(gaps), kind="stable")[:SHOWN_UNITS].tolist())
        of = f"The charts show {SHOWN_UNITS} of its {n} units: those that move the gap between the two scores most."
    layer = "the last hidden layer" if ex.deep else "the hidden layer"
    sums = [html.Li(f"{names[c]}: z = b + Σ units = {ex.out_bias[c]:+.2f} + {ex.unit_contributions[c].sum():.2f}"
                    f" = {ex.total(c):.3f} (network: {ex.logits[c]:.3f})") for c in (pred, ref)]
    charts = html.Div(className="explain-charts", children=[
        dcc.Graph(id=graph_ids["hidden"], config={"displayModeBar": False},
                  figure=figures.activations_figure(ex.activations, unit, shown, f"Activations of {layer}", depth)),
        dcc.Graph(id=graph_ids["units"], config={"displayModeBar": False},
                  figure=figures.unit_contributions_figure(
                      ex.unit_contributions[pred], ex.unit_contributions[ref], names[pred], names[ref], shown,
                      layer=depth)),
    ])
    head = [html.H3(f"The exact sums the {'deeper' if ex.deep else '2-layer'} net computes", className="sub"),
            *([html.P(of, className="hint")] if of else []), charts, html.Ul(sums, className="score-sums")]
    if not ex.deep:
        filter_img = colorize(filters[unit:unit + 1], "diverging")[0]
        map_caption = [f"pre-activation b + Σ = {ex.unit_bias[unit]:+.2f} + {ex.unit_maps[unit].sum():.2f}"
                       f" = {ex.pre_activations[unit]:.3f}, activation {ex.activations[unit]:.3f}",
                       f"adds {gaps[unit]:+.3f} to the gap between {names[pred]} and {names[ref]}"]
        return [*head,
                html.H3(f"Unit {unit + 1}: the hidden unit that favours {names[pred]} over {names[ref]} most",
                        className="sub"),
                _key(),
                html.Div(className="map-row", children=[
                    html.Figure(className="map-tile", children=[
                        html.Img(src=png_data_uri(filter_img), className="map-img", alt=f"filter of unit {unit + 1}"),
                        html.Figcaption([html.B(f"filter of unit {unit + 1}")]), unit_link(1, unit)]),
                    *_maps([(ex.unit_maps[unit], f"input × filter of unit {unit + 1}", map_caption)]).children])]
    # A deeper net: the last layer's units are sums of units, not of pixels; the pixels meet the first layer.
    top = np.argsort(-ex.first, kind="stable")[:FIRST_MAPS]
    items = [(ex.unit_maps[u], f"input × filter of unit {u + 1}",
              [f"pre-activation b + Σ = {ex.unit_bias[u]:+.2f} + {ex.unit_maps[u].sum():.2f} = "
               f"{ex.pre_activations[u]:.3f}, activation {ex.first[u]:.3f}"]) for u in top]
    return [*head,
            html.P([f"Unit {unit + 1} of the last hidden layer favours {names[pred]} over {names[ref]} most: it adds "
                    f"{gaps[unit]:+.3f} to the gap. Its input is the layer before, not the pixels. ",
                    html.A("What makes it fire", className="unit-link-inline", href=f"/layers?unit={depth}.{unit + 1}",
                           **{"data-path": "/layers", "data-unit": f"{depth}.{unit + 1}"}),
                    " (a click on a bar above opens any of them)."], className="explain"),
            html.H3(f"The first hidden layer: its {len(top)} most active units, input × filter", className="sub"),
            _key(), _maps(items, [unit_link(1, int(u)) for u in top])]


def _gradients(ex: Gradients, pred: int, ref: int, names: dict, menus: bool = True) -> list:
    name = saliency.METHODS[ex.method]
    def lines(c: int) -> list:
        if ex.black is not None:  # completeness: up to the path's steps, the map is a split of the rise
            return [f"the map adds up to {ex.maps[c].sum():.2f}; the score rises from {ex.black[c]:.2f} on a black "
                    f"image to {ex.logits[c]:.2f} on this one, by {ex.logits[c] - ex.black[c]:.2f}"]
        if ex.method == "gradxinput":
            return [f"the map adds up to {ex.maps[c].sum():.2f}; the network's score is {ex.logits[c]:.2f} "
                    "(the map is an estimate, not a split of the score)"]
        return [f"the network's score is {ex.logits[c]:.2f}"]  # the others' sums mean nothing
    items = [(ex.maps[c], f"{name} for {names[c]}", lines(c)) for c in dict.fromkeys((pred, ref))]
    return [html.H3(f"An approximation: {name}", className="sub"),
            html.P(f"A convnet's score is no plain sum of pixels, so every map of it is an estimate, and methods "
                   f"disagree. {name} (computed by Captum): {saliency.ABOUT[ex.method]}."
                   + (" The menu above chooses another; below the maps, check whether this one depends on what the "
                      "network learned." if menus else ""), className="explain"),
            _key(ex.method), _maps(items)]


def sanity(check: saliency.Check, name: str, said: str, title: str = "") -> list:
    """Adebayo's cascade drawn: the trained network's map, then one per layer randomised, each on its own scale
    (a random network's scores are on another), with its rank correlation, and what it means in words. `title`
    names the image and method checked (a check still running when they change lands under the new ones)."""
    def tile(m, title, line):
        scale = float(np.percentile(np.abs(m)[m != 0], 99)) if np.any(m != 0) else 1.0
        return html.Figure(className="map-tile", children=[
            html.Img(src=png_data_uri(diverging(m, scale)), className="map-img", alt=title),
            html.Figcaption([html.B(title), html.Div(line, className="map-sum")])])
    first, last = check.steps[0], check.steps[-1]
    if np.ptp(check.trained) == 0:
        return [html.P(f"{name} gives the trained network a flat map for {said} (every pixel {check.trained.flat[0]:.2g}):"
                       " there is nothing to compare.", className="explain")]

    def said_of(step) -> str:
        return ("the " if step.title.startswith("class") else "") + step.title
    if check.survives:
        words = (f"{name} survives randomisation: with {said_of(first if first.correlation >= last.correlation else last)}"
                 f" its map keeps a rank correlation of {max(first.correlation, last.correlation):.2f} with the "
                 f"trained network's. It shows the image more than what the network learned for {said}: read it with care.")
    elif last.magnitude >= saliency.SURVIVES:  # the signs change, where it is strong does not
        words = (f"{name} passes, in part. Its colours depend on what the network learned for {said}: with "
                 f"{said_of(first)} the signed maps' rank correlation is {first.correlation:.2f}"
                 + ("" if len(check.steps) == 1 else f", with every layer randomised {last.correlation:.2f}")
                 + f". Where it is strong does not: the magnitudes stay {last.magnitude:.2f} alike, so the maps below "
                 "look alike. This method multiplies by the image, and a black pixel is zero in any network's map: "
                 "the outline is the image's, only which pixels raise and which lower the score is the network's.")
    else:
        words = (f"{name} passes: with {said_of(first)} its map changes (rank correlation {first.correlation:.2f} with "
                 f"the trained network's)" + ("." if len(check.steps) == 1 else
                                               f", and with every layer randomised it is {last.correlation:.2f}.")
                 + f" It depends on what the network learned for {said}.")
    tiles = [tile(check.trained, "the trained network", f"its map for {said}")] + [
        tile(s.map, s.title, f"rank correlation {s.correlation:+.2f}") for s in check.steps]
    notes = [html.P(words, className="explain"), html.Div(tiles, className="map-row")]
    if title:
        notes.insert(0, html.H4(title, className="sanity-title"))
    return notes



SEARCH = object()  # fooled(): search for the change here
REQUEST_BUDGET = 2 * adversarial.SEARCH_SECONDS  # the seconds a search may take in a request (a drawing's)


def fooled(ckpt, image: np.ndarray, predicted: int, actual, target, graph_id: str, found=SEARCH) -> list:
    """Fool it: the smallest change to `image` (uint8, (C, H, W)) that makes the network say `target` (None:
    the nearest other class), shown as the original, the change on a signed scale, the changed image and its
    probabilities, and in words. `actual` is its true class where it has one (a drawing has none). `found`: the
    change a job found (None: it found none); else it is searched for here."""
    if target == predicted:
        return [html.P(f"It says {ckpt.classes[predicted]} already: choose another class.", className="hint")]
    if found is SEARCH:  # in the request: bounded to two classes' searches
        found = adversarial.fool(ckpt.model, image, ckpt.normalization, target, budget=REQUEST_BUDGET)
    if found is None:
        return [html.P("No image within the pixel range makes it say that." if target is not None else
                       "No change within the pixel range was found that fools it.", className="hint")]
    scale = float(np.abs(found.delta).max()) or 1.0
    shown = np.clip(np.round(found.changed * 255), 0, 255).astype(np.uint8)
    changed_probs = np.exp(found.logits - found.logits.max())
    changed_probs /= changed_probs.sum()
    how = ("exact: no smaller change does it" if found.exact else
           "found by search: a smaller change may exist")
    said = f"{ckpt.classes[found.target]} ({100 * changed_probs[found.target]:.1f}%)"
    if found.pixels:
        words = (f"Changing {found.pixels} pixel{'s' if found.pixels != 1 else ''} by a total of {found.size:.2f} "
                 f"(the length of the change, on 0..1 pixels) makes it say {said} instead of "
                 f"{ckpt.classes[predicted]} ({how}).")
    else:  # a near tie: no pixel moves by a grey level
        words = (f"Changes smaller than one grey level, {found.size:.2g} in all (the length of the change, on 0..1 "
                 f"pixels), make it say {said} instead of {ckpt.classes[predicted]}: it was nearly saying it already "
                 f"({how}).")
    if actual is not None and found.target == actual and actual != predicted:
        words += f" {ckpt.classes[actual]} is its true class: this change corrects the mistake."
    tiles = [(to_display(image), "the image"),
             (diverging(found.delta.mean(0), scale), f"the change (±{scale:.2g}; purple brighter, orange darker)"),
             (to_display(shown), f"the changed image: {ckpt.classes[found.target]}")]
    return [html.P(words, className="explain"),
            html.Div(className="map-row", children=[
                html.Figure(className="map-tile", children=[html.Img(src=png_data_uri(img), className="map-img", alt=t),
                                                            html.Figcaption(t)]) for img, t in tiles]),
            dcc.Graph(id=graph_id, className="explain-probs", config={"displayModeBar": False},
                      figure=figures.probability_figure(changed_probs, ckpt.classes, actual))]
