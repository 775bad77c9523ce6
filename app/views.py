"""The page's views, in the chapter's order: each one a path, a tab in the bar, and the cards it mounts.

Only the view on screen is in the page. Its cards' callbacks fire; every other card's callbacks have no
outputs on the page and stay silent. The shell (app/main.py) keeps what every view shares: the bar,
the training box and the stores. A callback that writes the shell reads only the shell, or only one
view's components (tests/test_views.py checks every callback against that rule).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from dash import Dash, Input, Output, State, html, no_update

from models.datasets import DATASETS

from . import ids, query
from .state import on_screen
from .panels import build, calibration, chapter, compare, confusion, diagram, embedding, explain, gallery, own, \
    samples, suspects, switch, table, unit, weights


@dataclass(frozen=True)
class View:
    name: str  # the tab's id suffix (view-link-NAME)
    path: str
    title: str  # the tab's label
    question: str  # the one question the view answers, under the bar
    cards: Callable  # (the parsed address, the service or None, the view store or None) -> the view's cards


def _core(wanted: dict, service=None, shown=None) -> list:
    return [chapter.layout(service), html.Main(className="grid", children=[
        # The heatmap beside the cell's images and the explanation: on a wide screen it stays in view
        # while they scroll, up to the end of this block.
        html.Div(className="focus", children=[
            confusion.layout(switch.layout(), wanted, service, shown),
            html.Div(className="focus-side", children=[samples.layout(wanted), explain.layout()])]),
        weights.layout(wanted), diagram.layout()])]


def _layers(wanted: dict, service=None, shown=None) -> list:
    maps = html.Div(className="focus focus-map", children=[
        embedding.layout(),
        html.Div(className="focus-side", children=[samples.layout(wanted, picking=True),
                                                   explain.layout(nearest=True)])])
    # A link to one unit (from a weight tile) shows that unit first; otherwise the maps lead.
    one = unit.layout(wanted)
    return [html.Main(className="grid", children=[one, maps] if "unit" in wanted else [maps, one])]


def _training(wanted: dict, service=None, shown=None) -> list:
    return [html.Main(className="grid", children=[compare.layout(), *build.layout()])]


def _predictions(wanted: dict, service=None, shown=None) -> list:
    return [html.Main(className="grid", children=[
        table.layout(), gallery.gallery_layout(wanted), explain.layout(), calibration.layout(), suspects.layout(),
        gallery.data_layout(wanted), own.layout()])]


VIEWS = (
    View("core", "/", "Where it fails", "Where does it fail, what did it see, and why?", _core),
    View("layers", "/layers", "Inside the layers",
         "What does each layer turn the images into, what makes one unit fire, and which training images does an "
         "image resemble?", _layers),
    View("training", "/training", "Training",
         "How did it learn, and how much do more units buy? Compare networks, or build your own.", _training),
    View("predictions", "/predictions", "Every prediction",
         "Every test image's answer: sort and filter them, its worst mistakes, the data, your own drawing.",
         _predictions),
)
BY_PATH = {v.path: v for v in VIEWS}


def find(path) -> View:
    """The view a path names; any other path is the first view."""
    return BY_PATH.get(path if isinstance(path, str) else "/", VIEWS[0])


def from_referrer(referrer) -> tuple[View, dict, str]:
    """The view, the parsed address and the path and query of the page that asks for its layout (its
    referrer), so that a first visit is drawn at once; the address's readers correct it if a browser sends
    no referrer (the page then finds the address differs from the one the layout was built from)."""
    if not isinstance(referrer, str) or len(referrer) > 2000:
        return VIEWS[0], {}, ""
    parts = urlsplit(referrer)
    return find(parts.path or "/"), query.parse(parts.query), \
        (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def nav(current: View) -> html.Nav:
    return html.Nav(className="views", **{"aria-label": "views"}, children=[
        html.A(v.title, id=f"view-link-{v.name}", href=v.path, title=v.question,
               className="view-link" + (" current" if v is current else "")) for v in VIEWS])


def body(view: View, wanted: dict, service=None, shown=None) -> list:
    """A view's cards, as the address `wanted` sets their controls; with the service, drawn with what needs
    no request (the chapter guide's numbers), and with the view store `shown`, the heatmap too."""
    return [html.P(view.question, className="view-question"), *view.cards(wanted, service, on_screen(shown))]


def register(app: Dash, service) -> dict:
    @app.callback(Output(ids.VIEW_BODY, "children"), Output(ids.VIEW_PATH, "data"),
                  Input(ids.URL_CHANGED, "data"), State(ids.VIEW_PATH, "data"), State(ids.STATE_VIEW, "data"),
                  State(ids.DATASET, "value"), prevent_initial_call=True)
    def route(changed, mounted=None, shown=None, dataset=None):
        """Mount the view the address names, with its controls as the address sets them; the same view
        stays as it is (back and forward within a view change only what the address changed). The first
        view comes with the page (app/main.py)."""
        view = find(changed.get("path") if isinstance(changed, dict) else None)
        if view.path == mounted:
            return no_update, no_update
        wanted = query.parse(query.search_of(changed))
        # the dataset on screen, which an address written a moment ago may not name yet
        if isinstance(dataset, str) and dataset in DATASETS:
            wanted["dataset"] = dataset
        return body(view, wanted, service, shown), view.path

    # The tabs mark the view on screen (assets/views.js moves between them without reloading the page).
    app.clientside_callback(
        "function (path) { return window.lookinsideViews.marks(path, %r); }" % [v.path for v in VIEWS],
        [Output(f"view-link-{v.name}", "className") for v in VIEWS], Input(ids.VIEW_PATH, "data"),
        prevent_initial_call=True)  # the page comes with its tab marked (`nav`)
    return {"route": route}
