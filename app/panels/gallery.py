"""The data as it is (a random sample, the chapter's CIFAR-10 grid) and the network's mistakes over the
whole test set (the chapter's "two understandable, two glaring")."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from models import datasets
from models.config import Settings

from .. import ids
from ..elements import element
from ..images import Thumbnails
from ..service import Service
from ..state import whole, whole_text
from ..query import parse, search_of
from . import triggered_ids

SAMPLE_SIZE = 50  # images in the data grid: five rows of ten
GALLERY_SIZE = 24
MAX_SEED = 10**6
MODES = [{"label": "Most confident mistakes", "value": "mistakes"},
         {"label": "Least confident correct answers", "value": "unsure"}]


def _class_options(dataset) -> list[dict]:
    spec = datasets.DATASETS.get(dataset) if isinstance(dataset, str) else None
    return [{"label": "All classes", "value": "all"}] + ([] if spec is None else [
        {"label": name, "value": str(i)} for i, name in enumerate(spec.classes)])


def data_layout(wanted: Optional[dict] = None) -> html.Section:
    """The data card, showing the split, class and sample the address `wanted` names."""
    wanted = wanted or {}
    options = _class_options(wanted.get("dataset"))
    chosen = wanted.get("class") if any(o["value"] == wanted.get("class") for o in options) else "all"
    return html.Section(id="data-card", className="card card-data", children=[
        html.Div(className="card-head", children=[
            html.H2("The data"),
            html.Div(className="toggles", children=[
                dcc.RadioItems(id=ids.DATA_SPLIT, value=wanted.get("split", "test"), inline=True, className="toggle",
                               options=[{"label": "Test images", "value": "test"},
                                        {"label": "Training images", "value": "train"}]),
                dcc.Dropdown(id=ids.DATA_CLASS, value=chosen, clearable=False, searchable=False,
                             className="data-class", options=options),
                html.Button("New sample", id=ids.DATA_NEW, className="more-button", n_clicks=0),
            ]),
        ]),
        html.P("A random sample of the images the networks learn from (training) and are judged on (test), "
               "each with its label, as the chapter shows CIFAR-10. Click a test image to see what the "
               "network on screen makes of it.", className="explain"),
        html.Div(className="data-body", children=[
            html.Div(id=ids.DATA_GRID, className="data-grid"),
            html.Div(id=ids.DATA_COUNTS, className="data-counts"),
        ]),
        dcc.Store(id=ids.DATA_SEED, data=wanted.get("seed", 0)),
    ])


def gallery_layout(wanted: Optional[dict] = None) -> html.Section:
    """The mistakes card, in the mode the address `wanted` names."""
    wanted = wanted or {}
    return html.Section(id="mistakes-card", className="card card-gallery", children=[
        html.Div(className="card-head", children=[
            html.H2("Its mistakes, across the whole test set"),
            dcc.RadioItems(id=ids.GALLERY_MODE, value=wanted.get("gallery", "mistakes"), inline=True, className="toggle",
                           options=MODES),
        ]),
        html.P("Every cell at once: the test images the network got wrong with the most conviction (some "
               "understandable, some glaring), or those it got right while barely believing it. Click one to "
               "see why.", className="explain"),
        html.Div(id=ids.GALLERY, className="gallery"),
    ])


def register(app: Dash, service: Service) -> dict:
    @app.callback(Output(ids.DATA_SEED, "data"), Input(ids.DATA_NEW, "n_clicks"), Input(ids.URL_CHANGED, "data"),
                  State(ids.DATA_SEED, "data"), prevent_initial_call=True)
    def seed(clicks, changed, current):
        if ids.URL_CHANGED in triggered_ids():  # back or forward names the sample (a link's is mounted with it)
            wanted = parse(search_of(changed)).get("seed", 0)
            return no_update if wanted == current else wanted
        if ctx.triggered_id == ids.DATA_NEW and isinstance(clicks, int):
            return int(np.random.default_rng().integers(1, MAX_SEED))
        return no_update

    @app.callback(Output(ids.DATA_SPLIT, "value"), Output(ids.DATA_CLASS, "value", allow_duplicate=True),
                  Output(ids.GALLERY_MODE, "value"), Input(ids.URL_CHANGED, "data"), State(ids.DATA_SPLIT, "value"),
                  State(ids.DATA_CLASS, "value"), State(ids.GALLERY_MODE, "value"), prevent_initial_call=True)
    def from_address(changed, *current):
        """Back and forward name the split, the class and the mistakes' mode (a link's are in the layout)."""
        wanted = parse(search_of(changed))
        found = (wanted.get("split", "test"), wanted.get("class", "all"), wanted.get("gallery", "mistakes"))
        return tuple(no_update if w == c else w for w, c in zip(found, current))

    @app.callback(Output(ids.DATA_CLASS, "options"), Output(ids.DATA_CLASS, "value"),
                  Output(ids.DATA_COUNTS, "children"), Input(ids.DATASET, "value"), State(ids.DATA_CLASS, "value"))
    def classes(dataset, current):
        options = _class_options(dataset)
        if len(options) == 1:
            return options, "all", None
        value = current if any(o["value"] == current for o in options) else "all"
        return options, value, _counts(service, dataset)

    @app.callback(Output(ids.DATA_GRID, "children"),
                  Input(ids.DATASET, "value"), Input(ids.DATA_SPLIT, "value"), Input(ids.DATA_CLASS, "value"),
                  Input(ids.DATA_SEED, "data"))
    def grid(dataset, split, chosen, seed_value):
        spec = datasets.DATASETS.get(dataset) if isinstance(dataset, str) else None
        if spec is None:
            return None
        train = split == "train"
        try:
            labels = split_labels(service, dataset, train)
        except datasets.DataError as e:
            return html.P(e.brief, className="hint")
        cls = whole_text(chosen, len(spec.classes))
        seed_value = whole(seed_value, MAX_SEED) or 0
        picked = sample(labels, cls, seed_value, SAMPLE_SIZE)
        tiles = [_data_tile(service, dataset, spec.classes, int(labels[i]), int(i), train) for i in picked]
        pool = (f" They are drawn from a fixed random {len(labels):,} of the training split's images."
                if train else "")
        what = "training" if train else "test"
        among = f"of class {spec.classes[cls]}" if cls is not None else "of all classes"
        note = html.P(f"{len(picked)} random {what} images {among} (sample {seed_value}: the address keeps it)."
                      + pool + (" Training images are shown, not explained: the explanations are for test "
                                "images." if train else ""), className="sort-note")
        return [note, html.Div(tiles, className="tiles data-tiles")]

    @app.callback(Output(ids.GALLERY, "children"),
                  Input(ids.GALLERY_MODE, "value"), Input(ids.STATE_VIEW, "data"))
    def gallery(mode, store):
        view = service.shown(store)
        if view is None:
            return html.P("Waiting for the network on screen to be ready.", className="hint")
        mode = mode if mode in ("mistakes", "unsure") else "mistakes"
        return service.cached(view, "gallery", (mode,), lambda: _gallery(service, view.evaluation, mode))

    return {"data_seed": seed, "data_classes": classes, "data_grid": grid, "gallery": gallery, "data_from_address": from_address}


def sample(labels: np.ndarray, cls, seed: int, size: int) -> np.ndarray:
    """`size` indices drawn without replacement (of class `cls`, or of all), the same for the same seed."""
    pool = np.arange(len(labels)) if cls is None else np.flatnonzero(labels == cls)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=min(size, len(pool)), replace=False)) if len(pool) else pool


def ranked(ev, mode: str, size: int) -> np.ndarray:
    """Test indices: the most confident mistakes (probability of the wrong prediction, highest first), or
    the least confident correct answers (probability of the right one, lowest first); ties by index."""
    right = ev.preds == ev.labels
    chosen = np.flatnonzero(~right if mode == "mistakes" else right)
    key = ev.confidence[chosen]
    order = np.lexsort((chosen, -key if mode == "mistakes" else key))
    return chosen[order][:size]


def _gallery(service: Service, ev, mode: str) -> list:
    picked = ranked(ev, mode, GALLERY_SIZE)
    if len(picked) == 0:
        return [html.P("None: the network got every test image right." if mode == "mistakes"
                       else "None: the network got every test image wrong.", className="hint")]
    wrong = int((ev.preds != ev.labels).sum())
    note = (f"The {len(picked)} most confident of its {wrong:,} mistakes: true class, struck out, then what it "
            "said, with the probability it gave that." if mode == "mistakes" else
            f"The {len(picked)} right answers it was least sure of: the class, with the probability it gave it.")
    tiles = []
    for n in picked:
        n = int(n)
        actual, pred = int(ev.labels[n]), int(ev.preds[n])
        label = ([element("S", ev.classes[actual], className="given"), " → ", element("B", ev.classes[pred])]
                 if mode == "mistakes" else [element("B", ev.classes[pred])])
        tiles.append(element(
            "Button", id={"type": ids.GALLERY_TILE, "index": n}, n_clicks=0, className="tile",
            title=f"test image #{n}: labelled {ev.classes[actual]}, predicted {ev.classes[pred]} "
                  f"({100 * float(ev.confidence[n]):.1f}%)",
            children=[element("Img", src=service.sample_uri(ev.dataset, n), className="tile-img",
                              alt=f"test image {n}", **{"data-index": str(n)}),
                      element("Span", label, className="tile-label"),
                      element("Span", f"{100 * float(ev.confidence[n]):.1f}%", className="tile-prob"),
                      element("Span", f"#{n}", className="tile-index")]))
    return [html.P(note, className="sort-note"), html.Div(tiles, className="tiles gallery-tiles")]


def _data_tile(service: Service, dataset: str, classes, label: int, position: int, train: bool):
    index = split_index(service, dataset, train, position)
    img = element("Img", src=split_uri(service, dataset, train, position), className="tile-img data-img",
                  alt=f"{'training' if train else 'test'} image {index}", **{"data-index": str(index),
                                                                            "data-label": str(label)})
    children = [img, element("Span", classes[label], className="tile-label"),
                element("Span", f"#{index}", className="tile-index")]
    if train:
        return element("Figure", children, className="tile data-tile")
    return element("Button", id={"type": ids.DATA_TILE, "index": index}, n_clicks=0, className="tile data-tile",
                   title=f"test image #{index}, labelled {classes[label]}: click to see what the network makes of it",
                   children=children)


def _counts(service: Service, dataset: str):
    """Images per class in both splits, as a small table."""
    spec = datasets.DATASETS[dataset]
    columns = []
    for train in (True, False):
        try:
            columns.append(class_counts(service, dataset, train))
        except datasets.DataError:
            columns.append(None)
    rows = [html.Tr([html.Td(name), *[html.Td("–" if c is None else f"{int(c[i]):,}", className="num")
                                      for c in columns]]) for i, name in enumerate(spec.classes)]
    totals = html.Tr([html.Th("all"), *[html.Th("–" if c is None else f"{int(c.sum()):,}", className="num")
                                        for c in columns]])
    return html.Table(className="counts-table", children=[
        html.Caption("Images per class"),
        html.Thead(html.Tr([html.Th("class"), html.Th("training", className="num"), html.Th("test", className="num")])),
        html.Tbody([*rows, totals])])


# Training images the data view draws from: a fixed random subset, so that a web process never keeps a
# whole training split (150 MB for CIFAR-10) for a grid of fifty images; 5,000 of them is 3.9 MB of MNIST.
TRAIN_POOL = 5000


@dataclass(frozen=True)
class TrainPool:
    indices: np.ndarray  # the pool's images' indices in the training split, ascending
    labels: np.ndarray
    counts: np.ndarray  # images per class in the whole training split
    thumbnails: Thumbnails


@functools.lru_cache(maxsize=8)
def _train_pool(settings: Settings, dataset: str) -> TrainPool:
    full = datasets.read(dataset, True, settings)  # read once, then let go of all but the pool
    labels = full.labels.numpy()
    keep = np.sort(np.random.default_rng(0).choice(len(labels), size=min(TRAIN_POOL, len(labels)), replace=False))
    images = full.images[torch.as_tensor(keep)].clone()
    return TrainPool(keep, labels[keep].copy(), np.bincount(labels, minlength=len(full.classes)), Thumbnails(images))


def warm(service: Service, dataset: str) -> None:
    """Read the data view's training images at a server's warm-up (1.7 s and 23 MB for the three datasets,
    measured on a slower machine), not on a first visit."""
    try:
        _train_pool(service.local, dataset)
    except datasets.DataError:
        pass  # no training split here: the data view says so when asked


def split_labels(service: Service, dataset: str, train: bool) -> np.ndarray:
    """The labels the data view samples from: all test images, or the fixed pool of training images."""
    if not train:
        return datasets.load(dataset, False, service.local).labels.numpy()
    return _train_pool(service.local, dataset).labels


def split_index(service: Service, dataset: str, train: bool, position: int) -> int:
    """The dataset's own index of the image at `position` of `split_labels`."""
    return int(_train_pool(service.local, dataset).indices[position]) if train else int(position)


def split_uri(service: Service, dataset: str, train: bool, position: int) -> str:
    if not train:
        return service.sample_uri(dataset, position)
    return _train_pool(service.local, dataset).thumbnails.uri(int(position))


def class_counts(service: Service, dataset: str, train: bool) -> np.ndarray:
    """Images per class in the whole split."""
    if train:
        return _train_pool(service.local, dataset).counts
    labels = datasets.load(dataset, False, service.local).labels.numpy()
    return np.bincount(labels, minlength=len(datasets.DATASETS[dataset].classes))
