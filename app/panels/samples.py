"""The selected cell's images, most confident first, and one image's full probability distribution."""
from __future__ import annotations

import functools
from typing import Optional

import numpy as np
from dash import ALL, ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update

from models import datasets
from models.config import Settings
from models.evaluate import SORTS

from .. import export, ids
from ..cells import parse_cell
from ..images import colorize, png_data_uri, to_display
from ..moves import moves, units_off
from ..service import Service, View
from ..state import chosen, whole
from ..query import parse, search_of
from . import triggered_ids

PAGE = 24  # images shown per click of "show more"
MAX_SHOWN = 480  # a cell can hold thousands of images: the page never asks for more than this


SORT_OPTIONS = [{"label": "Most confident", "value": "predicted"},
                {"label": "Least like its label", "value": "true"},
                {"label": "Most ambiguous", "value": "margin"}]
SORT_EXPLAIN = {"predicted": "probability of the predicted class, highest first",
                "true": "probability of the true class, lowest first: the ones it was surest were not their label",
                "margin": "gap between the top two classes, smallest first: the closest calls"}


def layout(wanted: Optional[dict] = None, picking: bool = False) -> html.Section:
    """The list of a cell's images (or, beside the map, of the images picked on it), sorted as the address
    `wanted` says."""
    wanted = wanted or {}
    about = ("The images you select on the map with the box or lasso, or else those of the cell selected on the "
             "heatmap. Click an image to see why." if picking else
             "The images of the selected cell, sorted as chosen above; by default the ones the network was "
             "most sure about first, so off the diagonal its most confident mistakes. Click an image to see why.")
    return html.Section(className="card card-samples", children=[
        html.Div(className="card-head", children=[
            html.H2("Picked on the map" if picking else "What it saw"),
            dcc.RadioItems(id=ids.SAMPLES_SORT, value=wanted.get("sort", "predicted"), inline=True,
                           className="toggle", options=SORT_OPTIONS),
        ]),
        html.P(className="explain", children=about),
        html.Div(id=ids.CELL_SUMMARY, className="cell-summary"),
        # The server draws the heading; the browser draws the tiles from their data (assets/samples.js): as
        # Dash components, 24 tiles made every later update of the page cost more (see _tiles).
        html.Div(id=ids.SAMPLES, className="samples", children=[
            html.Div(id=ids.SAMPLES_HEAD, children=html.P(HINT, className="hint")),
            html.Div(id=ids.SAMPLE_TILES, className="tiles")]),
        dcc.Store(id=ids.TILES),
        html.Div(className="samples-actions", children=[
            html.Button(f"Show {PAGE} more", id=ids.SAMPLES_MORE, className="more-button hidden", n_clicks=0),
            html.Button("Download this cell's list (CSV)", id=ids.SAMPLES_CSV, className="link-button",
                        n_clicks=0),
            dcc.Download(id=ids.SAMPLES_DOWNLOAD),
        ]),
        dcc.Store(id=ids.STATE_SHOWN, data=PAGE),
    ])


HINT = "Click a cell of the heatmap to see its images."


def stores() -> list:
    """The shell's: the selected cell and image, which every view shares."""
    return [dcc.Store(id=ids.STATE_CELL), dcc.Store(id=ids.STATE_SAMPLE)]


def shown_count(current, more: bool, kept: bool) -> int:
    """How many of the list's images are shown: one more page on "show more" (up to the cap), the same count
    when only the network or its switches changed (a Play through the timeline keeps it), else one page."""
    current = current if isinstance(current, int) and not isinstance(current, bool) else PAGE
    current = min(max(PAGE, current), MAX_SHOWN)
    if more:
        return min(MAX_SHOWN, current + PAGE)
    return current if kept else PAGE


def register(app: Dash, service: Service) -> dict:
    # Which image is explained: a suspect's or the gallery's tile, a new cell (none), or the address. In the
    # browser, so a cell click costs no request for it (assets/samples.js). A click on one of the cell's
    # tiles writes the store from the page's own listener; the map and the table write it on their own.
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_samples", function_name="selectSample"),
        Output(ids.STATE_SAMPLE, "data"),
        Input({"type": ids.SUSPECT_TILE, "index": ALL}, "n_clicks"), Input(ids.STATE_CELL, "data"),
        Input(ids.URL, "search"), Input({"type": ids.GALLERY_TILE, "index": ALL}, "n_clicks"),
        Input({"type": ids.DATA_TILE, "index": ALL}, "n_clicks"), State(ids.STATE_SAMPLE, "data"),
        prevent_initial_call=True)  # a first call names nothing: the address's image comes with the location
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_samples", function_name="markSelected"),
        Output({"type": ids.SUSPECT_TILE, "index": ALL}, "className"),
        Output({"type": ids.GALLERY_TILE, "index": ALL}, "className"),
        Input(ids.STATE_SAMPLE, "data"), State({"type": ids.SUSPECT_TILE, "index": ALL}, "id"),
        State({"type": ids.GALLERY_TILE, "index": ALL}, "id"))
    # The cell's tiles: drawn when their data comes, marked when the selected image changes. Nothing is
    # written back (the output is never updated).
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside_samples", function_name="tiles"),
        Output(ids.SAMPLE_TILES, "className"), Input(ids.TILES, "data"), Input(ids.STATE_SAMPLE, "data"))

    @app.callback(Output(ids.SAMPLES_SORT, "value"), Input(ids.URL_CHANGED, "data"), State(ids.SAMPLES_SORT, "value"),
                  prevent_initial_call=True)
    def sort_from_address(changed, current):
        """Back and forward within the view: the order the address names (the card is mounted with it)."""
        wanted = parse(search_of(changed)).get("sort", "predicted")
        return no_update if wanted == current else wanted

    # Every input is written in the same browser step as the action that changes it (a click writes the
    # cell and ends a map selection at once), so that the one request a click costs waits on nothing.
    @app.callback(Output(ids.SAMPLES_HEAD, "children"), Output(ids.TILES, "data"),
                  Output(ids.SAMPLES_MORE, "className"), Output(ids.CELL_SUMMARY, "children"),
                  Output(ids.STATE_SHOWN, "data"),
                  Input(ids.STATE_CELL, "data"), State(ids.STATE_SHOWN, "data"), Input(ids.SAMPLES_SORT, "value"),
                  Input(ids.STATE_VIEW, "data"), Input(ids.STATE_MAP_PICK, "data"),
                  Input(ids.STATE_OFF, "data"), Input(ids.STATE_OFF_DONE, "data"), Input(ids.SAMPLES_MORE, "n_clicks"))
    def samples(cell, count, sort, store, pick=None, off=None, _=None, __=None):
        """The list's heading, its tiles (as data), its "show more" button, the cell's summary, and how many
        images it shows: the one request a cell click costs."""
        fired = triggered_ids()
        shown = shown_count(count, ids.SAMPLES_MORE in fired,
                            kept=bool(fired) and fired <= {ids.STATE_VIEW, ids.STATE_OFF, ids.STATE_OFF_DONE})
        head, tiles, more = _listed(cell, shown, sort, store, pick, off)
        again = no_update if shown == count else shown
        if fired and fired <= {ids.SAMPLES_MORE, ids.SAMPLES_SORT}:
            return head, tiles, more, no_update, again  # another page or order of the same cell
        return head, tiles, more, summary(cell, store, pick), again

    def _listed(cell, count, sort, store, pick, off):
        view = service.shown(store)
        hidden = "more-button hidden"
        if view is None:
            return html.P(HINT, className="hint"), [], hidden
        ev = view.evaluation
        sort = chosen(sort, SORTS, "predicted")
        count = min(max(PAGE, count if isinstance(count, int) else PAGE), MAX_SHOWN)
        picked = _picked(pick, ev.n)
        if picked is not None:
            return _picked_tiles(service, view, picked, sort, count)
        cell = parse_cell(cell, len(ev.classes))
        if cell is None:
            return html.P(HINT, className="hint"), [], hidden
        units = units_off(view, off)
        switched = service.representations.switched(view, units) if units else None
        if switched is not None:  # units switched off: the images that moved into or out of the cell
            return service.cached(view, "off-moves", (units, cell["actual"], cell["predicted"]), lambda: moves(
                service, ev, switched, cell, ("intact", "off"))), [], hidden
        a, p = cell["actual"], cell["predicted"]
        indices, keys = ev.sorted_cell(a, p, sort)
        heading = html.H3(className="cell-heading", children=[
            f"actual {ev.classes[a]}, predicted {ev.classes[p]}: ",
            html.B(f"{len(indices):,} image{'s' if len(indices) != 1 else ''}"),
            " (correct)" if a == p else " (mistakes)"])
        if len(indices) == 0:
            note = (f"No test image of class {ev.classes[a]} was predicted as {ev.classes[p]}: "
                    "this cell is empty.")
            return [heading, html.P(note, className="hint empty-cell")], [], hidden
        order = html.P(f"Sorted by {SORT_EXPLAIN[sort]}. The number under each image is that value.",
                       className="sort-note")
        tiles = service.cached(view, "tiles", (a, p, count, sort), lambda: _tiles(
            service, ev, indices[:count], keys[:count], sort))
        more = "more-button" if len(indices) > count and count < MAX_SHOWN else hidden
        return [heading, order], tiles, more

    def summary(cell, store, pick=None):
        view = service.shown(store)
        cell = parse_cell(cell, len(view.evaluation.classes)) if view is not None else None
        if cell is None or _picked(pick, view.evaluation.n) is not None:
            return None
        return service.cached(view, "summary", (cell["actual"], cell["predicted"]),
                              lambda: _summary(service, view, cell["actual"], cell["predicted"]))

    @app.callback(Output(ids.SAMPLES_DOWNLOAD, "data"), Input(ids.SAMPLES_CSV, "n_clicks"),
                  State(ids.STATE_CELL, "data"), State(ids.SAMPLES_SORT, "value"), State(ids.STATE_VIEW, "data"),
                  prevent_initial_call=True)
    def samples_csv(clicks, cell, sort, store):
        view = service.shown(store)
        cell = parse_cell(cell, len(view.evaluation.classes)) if view is not None else None
        if not clicks or cell is None:
            return no_update
        sort = chosen(sort, SORTS, "predicted")
        a, p = cell["actual"], cell["predicted"]
        ckpt = view.checkpoint
        name = export.view_filename(ckpt.dataset, ckpt.name, ckpt.step, f"actual{a}", f"predicted{p}")
        return {"content": export.cell_csv(view.evaluation, a, p, sort), "filename": name + ".csv",
                "type": "text/csv"}

    return {"samples": samples, "summary": summary, "samples_csv": samples_csv, "sort_from_address": sort_from_address}


def _picked(pick, n: int) -> Optional[list[int]]:
    """The test-set indices selected on the map, as the browser sent them (at most the test split's `n`), or None."""
    if not isinstance(pick, list) or not pick or len(pick) > n:
        return None
    if not all(whole(i, n) is not None for i in pick):
        return None
    return sorted(set(pick))


def _picked_tiles(service: Service, view, picked: list[int], sort: str, count: int) -> tuple:
    """The images selected on the map with the box or lasso, in the chosen order."""
    ev = view.evaluation
    indices, keys = ev.sort(picked, sort)
    wrong = int((ev.preds[indices] != ev.labels[indices]).sum())
    heading = html.H3(className="cell-heading", children=[
        html.B(f"{len(indices):,} image{'s' if len(indices) != 1 else ''} selected on the map"),
        f" ({wrong:,} of them mistakes)"])
    order = html.P(f"Sorted by {SORT_EXPLAIN[sort]}. The number under each image is that value. Double-click "
                   "the map (or pick a cell) to clear the selection.", className="sort-note")
    more = "more-button" if len(indices) > count and count < MAX_SHOWN else "more-button hidden"
    return [heading, order], _tiles(service, ev, indices[:count], keys[:count], sort), more


def _tiles(service: Service, ev, indices, keys, sort: str) -> list[list]:
    """A list's tiles as the browser draws them (assets/samples.js): [test-set index, image, the value sorted
    by, the tile's title] each.

    Not Dash components: the renderer gives each mounted component a store subscription that runs on every
    update of the page, so 24 tiles of two components each made every later click, switch and callback
    cost more; drawn by the page they cost it nothing once painted."""
    return [_tile(service, ev, int(n), float(v), sort) for n, v in zip(indices, keys)]


def _tile(service: Service, ev, index: int, key: float, sort: str) -> list:
    pred, actual = int(ev.preds[index]), int(ev.labels[index])
    title = (f"test image #{index}: {100 * float(ev.probs[index, pred]):.1f}% {ev.classes[pred]} (predicted), "
             f"{100 * float(ev.probs[index, actual]):.1f}% {ev.classes[actual]} (true class)")
    shown = f"Δ {100 * key:.1f}" if sort == "margin" else f"{100 * key:.1f}%"
    return [index, service.sample_uri(ev.dataset, index), shown, title]


def _summary(service: Service, view, actual: int, predicted: int) -> list:
    """The cell's mean image next to what the two classes look like to the network (or on average)."""
    ev, ckpt = view.evaluation, view.checkpoint
    mean = cell_mean(service, view, actual, predicted)
    if mean is None:
        return []
    same = actual == predicted
    tiles = [_figure(png_data_uri(to_display(mean)), f"mean of this cell ({len(ev.cell(actual, predicted)):,})")]
    kind = view.kind
    if kind.templates:  # the network compares the images with one template per class: show those
        tiles_of = kind.first_layer(ckpt.model, ckpt.classes)
        colour = tiles_of.colour and tiles_of.images.shape[1] == 3
        templates = colorize(tiles_of.images, "rgb" if colour else "diverging")
        what = "template"
        pictures = {c: png_data_uri(templates[c]) for c in (actual, predicted)}
    else:
        means = class_means(service.local, ckpt.dataset)
        what = "mean of all"
        pictures = {c: png_data_uri(to_display(means[c])) for c in (actual, predicted)}
    tiles.append(_figure(pictures[actual], f"{what} {ev.classes[actual]}" + ("" if same else " (actual)")))
    if not same:
        tiles.append(_figure(pictures[predicted], f"{what} {ev.classes[predicted]} (predicted)"))
    note = ("What the confused images share, beside the class templates the network compares them with."
            if kind.templates else "What the images of this cell share, beside the average image of each class.")
    return [html.Div(tiles, className="summary-row"), html.P(note, className="summary-note")]


def _figure(src: str, caption: str) -> html.Figure:
    return html.Figure(className="summary-tile", children=[
        html.Img(src=src, className="summary-img", alt=caption), html.Figcaption(caption)])


def cell_mean(service: Service, view: View, actual: int, predicted: int) -> Optional[np.ndarray]:
    """The mean (C, H, W) uint8 image of a cell, or None for an empty cell."""
    def build():
        indices = view.evaluation.cell(actual, predicted)
        return mean_image(view.images.images, indices) if len(indices) else None
    return service.cached(view, "cell-mean", (actual, predicted), build)


def mean_image(images, indices) -> np.ndarray:
    """The pixel-wise mean of some uint8 images, rounded back to uint8."""
    chosen = images[np.asarray(indices)].double()
    return chosen.mean(0).round().to(dtype=images.dtype).numpy()


@functools.lru_cache(maxsize=8)
def class_means(settings: Settings, dataset: str) -> np.ndarray:
    """The mean test image of every class, (classes, C, H, W) uint8."""
    test = datasets.load(dataset, False, settings)
    labels = test.labels.numpy()
    members = [np.flatnonzero(labels == c) for c in range(len(test.classes))]
    return np.stack([mean_image(test.images, m) if len(m) else np.zeros(test.images.shape[1:], np.uint8)
                     for m in members])
