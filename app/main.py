"""The app shell: builds the page from its panels, wires their callbacks, and exposes the WSGI server."""
from __future__ import annotations

import functools
import gc
import logging
from pathlib import Path

from dash import Dash, dcc, html
from flask import has_request_context, request

from models import datasets, kinds
from models.config import Settings

from . import ids, security, strips, views
from .access import Access, Limits
from .jobs import Queue, default_folder
from .replay import Replay
from .panels import (address, bar, build, calibration, chapter, compare, confusion, diagram, embedding, explain,
                     gallery, model, own, samples, suspects, switch, table, timeline, weights, unit)
from .service import Service
from .state import screen

log = logging.getLogger("lookinside")
ASSETS = Path(__file__).resolve().parent.parent / "assets"
# What a first visit opens: the first dataset and kind registered (MNIST and the 1-layer net, the chapter's start).
DEFAULT_DATASET, DEFAULT_ARCH = next(iter(datasets.DATASETS)), next(iter(kinds.KINDS))
# Callbacks whose answer depends only on the request and the chosen pair's network (see app/replay.py):
# the heatmap, the weights, a cell's images and summary, and the explanation of one image.
REPLAYED = frozenset({ids.CONFUSION, ids.OFF_NOTE, ids.OFF_RESET, ids.CONFUSION_DRAWN, ids.WEIGHTS_DATA, ids.WEIGHTS_PAGE,
                      ids.WEIGHTS_PAGER, ids.SAMPLES_HEAD, ids.TILES, ids.SAMPLES_MORE, ids.CELL_SUMMARY, ids.STATE_SHOWN,
                      ids.EXPLAIN, ids.EXPLAIN_CARD})


def layout(service: Service | None = None) -> html.Div:
    """The shell every view shares: a bar of fixed height (dataset, network, accuracy, timeline, the views'
    tabs), the training box, and the stores; the view the address names is mounted in it (app/views.py).

    Built from the address of the page that asks for it, with its network already resolved, so that a
    first visit draws its heatmap with the first round of requests."""
    view, wanted, built = views.from_referrer(request.referrer if has_request_context() else None)
    dataset, network = wanted.get("dataset", DEFAULT_DATASET), wanted.get("arch", DEFAULT_ARCH)
    resolved = service.resolve(dataset, network) if service is not None else None
    shown = screen(resolved, None, dataset, network)  # the view store the page would make of it
    known = service.ready_elsewhere(dataset, network) if service is not None else {}
    offered = [*(service.networks(dataset) if service is not None else kinds.KINDS)]
    off = {"network": network, "units": wanted["off"]} if "off" in wanted and "arch" in wanted else None
    return html.Div(className="page", children=[
        html.Header(className="bar", children=[
            html.Div(className="bar-row", children=[
                html.H1("Looking Inside", className="title"),
                model.controls(dataset, network, offered if network in offered else [*offered, network],
                               service.dataset_options() if service is not None else None),
                html.Div(id=ids.STATUS, className="status"),
                html.Button("Train it", id=ids.TRAIN_IT, className="more-button train-it", n_clicks=0, hidden=True)]),
            timeline.layout(resolved, wanted.get("position")),
            views.nav(view)]),
        model.training_box(),
        html.Div(id=ids.VIEW_BODY, className="view-body", children=views.body(view, {**wanted, "dataset": dataset},
                                                                                        service, shown)),
        html.Footer(className="footer", children=[
            html.Span("After the chapter “Looking inside neural nets” of Machine Learning for Artists (ml4a). "
                      "All numbers are on the test split, which the networks never trained on."),
            model.admin_box()]),
        dcc.Store(id=ids.VIEW_PATH, data=view.path),
        *model.stores(resolved, shown, known), *confusion.stores(), *samples.stores(), *switch.stores(off),
        *embedding.stores(),
        *address.layout(built),
    ])


# Scripts the first view never runs: with `eager_loading` (which brings Plotly with the page) they were all
# loaded and compiled on every visit, about 8 MB of them (MathJax, ag-grid's enterprise modules, dash_table),
# before the layout was even asked for. They load when a component first needs them, as without it.
LATER = {"dash": ("async-datepicker.js", "async-highlight.js", "async-markdown.js", "async-mathjax.js",
                  "async-upload.js", "async-export.js", "async-table.js"),
         "dash_ag_grid": ("async-community.js", "async-enterprise.js")}


def _load_later() -> None:
    import dash_ag_grid
    from dash import dash_table, dcc
    for module in (dcc, dash_table, dash_ag_grid):
        for resource in module._js_dist:  # the libraries' own lists of their scripts
            path = resource.get("relative_package_path") or ""
            if resource.get("async") is True and path.rsplit("/", 1)[-1] in LATER.get(resource.get("namespace"), ()):
                resource["async"] = "lazy"


def create_app(settings: Settings, access: Access | None = None, queue: Queue | None = None,
               replay: bool = True) -> Dash:
    """One Dash app for these settings; callbacks share nothing mutable, so any number of workers agree.

    `access` says who may replace the networks everyone sees (default: the admin token from the
    environment, if any, and nobody else). `replay` keeps repeated answers' bytes (app/replay.py); the
    benchmark turns it off to measure what it buys.
    """
    _load_later()
    # Callbacks name the components of every view, and only one view is on the page at a time.
    app = Dash(__name__, title="Looking Inside", assets_folder=str(ASSETS), update_title=None,
               on_error=security.log_callback_error, suppress_callback_exceptions=True,
               eager_loading=True,  # Plotly with the page, not after it: the first heatmap waited for it
               compress=True)  # gzip through flask-compress: the page's scripts shrink about 3x
    security.harden(app)
    # The page names every asset with its modification time (?m=…): a browser may keep each for a year
    # instead of asking again for all fourteen on every visit, which delayed the first heatmap.
    app.server.config["SEND_FILE_MAX_AGE_DEFAULT"] = 365 * 24 * 3600
    access = app.lookinside_access = access or Access.from_env()
    queue = queue or Queue(default_folder(settings.model_dir))
    # The limits' counts and the visitors' signing key live beside the queue: every process sees them.
    limits = app.lookinside_limits = Limits(app.server, queue.folder)
    service = app.lookinside_service = Service(settings, queue=queue, limits=limits)
    app.layout = functools.partial(layout, service)
    # The registered functions, kept so tests can call each callback directly.
    app.lookinside_callbacks = {**model.register(app, service, access, limits), **bar.register(app, service),
                                **confusion.register(app, service),
                                **samples.register(app, service), **weights.register(app, service),
                                **explain.register(app, service, limits, access), **suspects.register(app, service),
                                **timeline.register(app, service), **address.register(app),
                                **compare.register(app, service), **own.register(app, service, limits),
                                **gallery.register(app, service),
                                **build.register(app, service, access, limits),
                                **embedding.register(app, service, access, limits),
                                **switch.register(app, service, access, limits), **table.register(app, service),
                                **views.register(app, service), **chapter.register(app),
                                **diagram.register(app, service), **calibration.register(app, service),
                                **unit.register(app, service, access, limits)}
    strips.register(app.server, service)
    replayed = [key for key in app.callback_map if output_ids(key) <= REPLAYED]
    app.lookinside_replay = None
    if replay:
        app.server.wsgi_app = app.lookinside_replay = Replay(app.server.wsgi_app, replayed, service.revision)
    # Dash records which component libraries it may serve only while rendering the index page. Under
    # gunicorn a worker can be asked for a library's script before it ever rendered the index, and
    # would refuse it: render it once here, in every process that builds the app.
    app.server.test_client().get("/")
    return app


def output_ids(key: str) -> set[str]:
    """The component ids in a Dash callback's output key ("id.prop" or "..id.prop...id.prop..")."""
    return {part.rsplit(".", 1)[0] for part in key.strip(".").split("...")}


def warm(app: Dash, shared: bool = False) -> None:
    """Make a server process's first clicks cost what later ones do (run it in a background thread).

    Loads every ready network with its test images and thumbnails, then draws what a first visit
    to each asks for (both heatmaps and the weights), through the callbacks themselves. `shared` (a
    gunicorn master, before it forks) also loads the training splits the layer maps read, so that every
    worker shares one copy of them instead of reading its own (250 MB for the three datasets).
    """
    service, draw = app.lookinside_service, app.lookinside_callbacks
    pairs = service.warm(train=shared)
    for dataset in dict.fromkeys(d for d, _ in pairs):
        gallery.warm(service, dataset)
    for dataset, network in pairs:
        store = screen(service.resolve(dataset, network), None, dataset, network)
        for mode in ("counts", "percent"):
            draw["heatmap"](store, mode, "numbers", None)
        draw["weights"](store, "diverging", None)
    # What is loaded now stays for the life of the process: about 400,000 objects (torch, plotly,
    # the datasets' thumbnails). Each full garbage collection walked them all, about 200 ms with
    # every request thread of the worker stalled. Frozen, they are left out of every collection.
    gc.collect()
    gc.freeze()
    log.info("warm: %s ready (%d objects frozen)", ", ".join(f"{d}/{a}" for d, a in pairs) or "nothing",
             gc.get_freeze_count())
