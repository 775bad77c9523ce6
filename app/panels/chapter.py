"""The chapter, live: each figure of "Looking inside neural nets" as a link to the view that reproduces it.

A link is an address like any other (app/query.py): dataset, network, cell, image, view options,
and `show`, the card to bring into view once the page has loaded (assets/address.js).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional
from urllib.parse import urlencode

import numpy as np
from dash import ClientsideFunction, Dash, Input, Output, dcc, html

from models.errors import LookInsideError

from .. import ids
from ..service import Service

CHAPTER_URL = "https://ml4a.github.io/ml4a/looking_inside_neural_nets/"
# `show` value -> the card it scrolls to, as assets/address.js finds it
SHOW = {"heatmap": ".card-confusion", "weights": ".card-weights", "mistakes": "#mistakes-card", "data": "#data-card",
        "explain": "#explain-card", "samples": ".card-samples", "diagram": "#diagram-card"}
# The view (app/views.py) that holds each card; the others are in the first view, "/".
VIEW_OF = {"mistakes": "/predictions", "data": "/predictions"}


@dataclass(frozen=True)
class Figure:
    title: str
    point: str  # the chapter's point, in our words
    query: dict  # the address
    measure: Optional[Callable] = None  # (service) -> what we measure, beside the chapter's number
    chapter_says: str = ""  # the chapter's own number, where it gives one
    example: str = ""  # the link opens one real test image (pixel × weight): "clear" or "mistake"


class NotReady(LookInsideError):
    """The network has no evaluation on disk yet: the guide says so rather than compute one on page load."""


def _evaluation(service: Service, dataset: str, network: str):
    """The network's cached evaluation; never computed here (the guide is drawn on every page load)."""
    ev = service.zoo.cached_evaluation(service.zoo.load(dataset, network))
    if ev is None:
        raise NotReady(f"{dataset}/{network} is not evaluated yet")
    return ev


def _accuracy(dataset: str, network: str) -> Callable:
    def measure(service: Service) -> str:
        return f"{100 * _evaluation(service, dataset, network).accuracy:.1f}%"
    return measure


def _correlation(dataset: str, which: Optional[int] = None) -> Callable:
    def measure(service: Service) -> str:
        metrics = service.zoo.load(dataset, "linear").metrics  # recorded in training, against the training set
        value = metrics.get("template_correlation") if which is None else \
            (metrics.get("template_correlations") or [None] * (which + 1))[which]
        if value is None:
            return "an older network: retrain it to measure its templates"
        return f"template–class-mean correlation {value:.2f}"
    return measure


def _cell(dataset: str, actual: int, predicted: int) -> Callable:
    def measure(service: Service) -> str:
        ev = _evaluation(service, dataset, "linear")
        return f"{int(ev.confusion[actual, predicted])} test {ev.classes[actual]}s called {ev.classes[predicted]}"
    return measure


def _mistakes(service: Service) -> str:
    ev = _evaluation(service, "mnist", "linear")
    return f"{int((ev.preds != ev.labels).sum()):,} mistakes in {ev.n:,}"


FIGURES = [
    Figure("The 1-layer net, drawn", "784 inputs, one per pixel, each wired to all ten outputs: the grid of weights "
           "feeding one output is the same weights unrolled into a column. Hover a pixel to find its edge.",
           {"dataset": "mnist", "model": "linear", "show": "diagram"}),
    Figure("The 0-neuron", "Squint at the weights of the output neuron for 0, drawn as an image: they look like "
           "a blurry 0, bright where 0s have ink, dark in the hole.",
           {"dataset": "mnist", "model": "linear", "cell": "0-0", "colours": "grayscale", "show": "weights"},
           _correlation("mnist", 0)),
    Figure("All ten templates", "Every class's weights look almost as if its images had been averaged: the "
           "1-layer net is a template matcher.",
           {"dataset": "mnist", "model": "linear", "colours": "grayscale", "show": "weights"},
           _correlation("mnist")),
    Figure("The mistakes", "Some mistakes are understandable (a 7 that really looks like a 1), some glaring: the "
           "network's most confident wrong answers over the whole test set.",
           {"dataset": "mnist", "model": "linear", "show": "mistakes"}, _mistakes),
    Figure("The MNIST confusion matrix", "Where the mistakes fall: 3s taken for 5s is one of the busiest cells.",
           {"dataset": "mnist", "model": "linear", "cell": "3-5", "show": "heatmap"}, _cell("mnist", 3, 5)),
    Figure("The top samples of each cell", "The most confident image of every cell, drawn in the matrix: what "
           "each kind of mistake looks like.", {"dataset": "mnist", "model": "linear", "view": "images",
                                                "show": "heatmap"}),
    Figure("A random sample of CIFAR-10", "Ten classes of tiny 32×32 photos: far harder than digits.",
           {"dataset": "cifar10", "model": "linear", "show": "data"}),
    Figure("The CIFAR-10 templates", "In colour, the templates of airplanes and ships are mostly blue at the "
           "edges (sky and sea); a template can only say where colours are, not what shape they make.",
           {"dataset": "cifar10", "model": "linear", "colours": "rgb", "show": "weights"}, _correlation("cifar10")),
    Figure("The CIFAR-10 confusion matrix", "Animals are confused with animals, vehicles with vehicles.",
           {"dataset": "cifar10", "model": "linear", "show": "heatmap"}, _accuracy("cifar10", "linear")),
    Figure("The 2-layer net, drawn", "Ten hidden units between the pixels and the classes, each drawn as its "
           "filter, their edges to the outputs coloured by weight; an image passed through lights them up.",
           {"dataset": "mnist", "model": "mlp", "show": "diagram"}),
    Figure("The 2-layer net's filters and bars", "With 10 hidden units the first layer's weights are no longer "
           "templates of classes but strokes and blobs; each class is a weighted mix of them (the bars).",
           {"dataset": "mnist", "model": "mlp", "show": "weights"}, _accuracy("mnist", "mlp")),
    Figure("Pixel × weight", "One image against all ten templates: each class's score is the image times its "
           "template, summed pixel by pixel, plus a bias, and the largest sum wins. Here a clear digit, read right.",
           {"dataset": "mnist", "model": "linear", "show": "explain"}, example="clear"),
    Figure("Pixel × weight, a confident mistake", "The same sums for a digit the network gets wrong and is sure "
           "of: the wrong template's sum beats the right one's, and the contrast shows which pixels did it.",
           {"dataset": "mnist", "model": "linear", "show": "explain"}, example="mistake"),
    Figure("The accuracies", "About 90% on MNIST and 37% on CIFAR-10 for the chapter's 2-layer net: hidden "
           "layers help, but only so far.", {"dataset": "cifar10", "model": "mlp", "show": "heatmap"},
           lambda s: f"MNIST {_accuracy('mnist', 'mlp')(s)}, CIFAR-10 {_accuracy('cifar10', 'mlp')(s)}",
           chapter_says="chapter: about 90% and 37%"),
]


def layout(service: Optional[Service] = None) -> html.Details:
    """The guide, drawn when its view is: the networks' numbers come from their caches (cheap, never stale).
    Its list is drawn in the browser from a store (assets/chapter.js): as 37 components it made every dispatch
    of the view's callbacks slower."""
    return html.Details(className="card card-chapter", children=[
        html.Summary(["The chapter, live: its figures, one click each ",
                      html.Span("(“Looking inside neural nets”, ml4a)", className="hint")]),
        html.Div(id=ids.CHAPTER, className="chapter", children=[
            html.P(["Each link opens the dashboard on the view that reproduces one of the chapter's figures, with "
                    "the real networks. ", html.A("Read the chapter", href=CHAPTER_URL, target="_blank",
                                                  rel="noopener")], className="explain"),
            html.Ol(id=ids.CHAPTER_LIST, className="chapter-list"),  # never given children by Dash
            dcc.Store(id=ids.CHAPTER_DATA, data=entries(service))]),
    ])


def register(app: Dash) -> dict:
    app.clientside_callback(ClientsideFunction(namespace="lookinside_chapter", function_name="draw"),
                            Output(ids.CHAPTER_LIST, "className"), Input(ids.CHAPTER_DATA, "data"))
    return {}


def link(figure: Figure, service: Optional[Service]) -> dict:
    query = dict(figure.query)
    if figure.example and service is not None:
        example = _pixel_example(service, figure.example)
        if example is not None:
            index, actual, predicted = example
            query.update(cell=f"{actual}-{predicted}", sample=str(index))
        else:  # no such image (a network that makes no mistake): the card that says so, not an empty one
            query["show"] = "mistakes" if figure.example == "mistake" else "heatmap"
    return query


def href(figure: Figure, service: Optional[Service]) -> str:
    """The figure's link: the view that holds its card, and the address that reproduces it."""
    query = link(figure, service)
    return VIEW_OF.get(query.get("show"), "/") + "?" + urlencode(query)


def _pixel_example(service: Service, which: str) -> Optional[tuple[int, int, int]]:
    """(test image, true class, predicted class) for the pixel × weight links: "clear", the 3 the 1-layer net
    is surest of and right about (a digit anyone reads as a 3), or "mistake", its most confident mistake."""
    try:
        ev = _evaluation(service, "mnist", "linear")
    except LookInsideError:
        return None
    chosen = np.flatnonzero((ev.labels == 3) & (ev.preds == 3)) if which == "clear" else \
        np.flatnonzero(ev.preds != ev.labels)
    if not len(chosen):
        return None
    index = int(chosen[np.argmax(ev.confidence[chosen])])
    return index, int(ev.labels[index]), int(ev.preds[index])


def entries(service: Optional[Service]) -> list[dict]:
    """The guide's figures, each {"title", "href", "point", "numbers"} (the chapter's and ours), in its order."""
    found = []
    for figure in FIGURES:
        measured = ""
        if service is not None and figure.measure is not None:
            try:
                measured = f"here: {figure.measure(service)}"
            except LookInsideError:
                measured = "not trained here yet"
        found.append({"title": figure.title, "href": href(figure, service), "point": figure.point,
                      "numbers": "; ".join(x for x in (figure.chapter_says, measured) if x)})
    return found
