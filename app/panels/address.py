"""Shareable views: the address bar holds what is on screen, a copied link restores it, back and forward work.

Reading is a server callback on the location's query; writing is a small browser-side function
(assets/address.js) that pushes a history entry when the view settles, so nothing loops.
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import parse_qs

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, no_update, set_props

from models import datasets, kinds
from models.evaluate import SORTS
from models.zoo import is_network

from .. import ids
from ..state import network_options

MODES = {"counts": "counts", "percent": "percent"}
VIEWS = {"numbers": "numbers", "images": "images"}
COLOURS = ("diverging", "grayscale", "rgb")  # the weights' colour map
MAX_OFF = 100  # units switched off that an address may name


def layout(built: str = "") -> list:
    """The location, and what the server's readers of the address listen to (see ids.URL_CHANGED)."""
    return [dcc.Location(id=ids.URL, refresh=False), dcc.Store(id=ids.URL_SINK), dcc.Store(id=ids.URL_CHANGED),
            dcc.Store(id=ids.URL_BUILT, data=built)]


def search_of(changed) -> str:
    """The query string of an address change ({"path", "search"} as the page sends it), or of a query string."""
    return changed.get("search") if isinstance(changed, dict) else changed


def parse(search) -> dict:
    """The view a query string asks for; keys that are missing or malformed are left out."""
    if not isinstance(search, str) or len(search) > 500:
        return {}
    query = {k: v[-1] for k, v in parse_qs(search.lstrip("?"), max_num_fields=20).items()}
    found: dict = {}
    if query.get("dataset") in datasets.DATASETS:
        found["dataset"] = query["dataset"]
    if isinstance(query.get("model"), str) and len(query["model"]) <= 40 and is_network(query["model"]):
        found["arch"] = query["model"]
    if query.get("counts") in MODES:
        found["mode"] = query["counts"]
    if query.get("view") in VIEWS:
        found["view"] = query["view"]
    if query.get("sort") in SORTS:
        found["sort"] = query["sort"]
    if query.get("colours") in COLOURS:
        found["colours"] = query["colours"]
    off = query.get("off", "").split("-") if isinstance(query.get("off"), str) else []
    if off and len(off) <= MAX_OFF and all(p.isdecimal() and len(p) <= 4 for p in off):
        found["off"] = sorted({int(p) for p in off})
    for key, name in (("cell", "cell"), ("sample", "sample"), ("t", "position"), ("seed", "seed")):
        value = _ints(query.get(key), 2 if key == "cell" else 1)
        if value is not None:
            found[name] = {"actual": value[0], "predicted": value[1]} if key == "cell" else value[0]
    return found


def _ints(text, count: int) -> Optional[list[int]]:
    parts = text.split("-") if isinstance(text, str) else []
    if len(parts) != count or not all(p.isdecimal() and len(p) <= 7 for p in parts):
        return None
    return [int(p) for p in parts]


def register(app: Dash) -> dict:
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside", function_name="addressChanged"),
        Output(ids.URL_CHANGED, "data"), Input(ids.URL, "pathname"), Input(ids.URL, "search"),
        State(ids.URL_BUILT, "data"), prevent_initial_call=True)  # the location reports the address when it mounts

    @app.callback(Output(ids.DATASET, "value"), Output(ids.ARCH, "value"), Input(ids.URL_CHANGED, "data"),
                  State(ids.DATASET, "value"), State(ids.ARCH, "value"), prevent_initial_call=True)
    def from_address(changed, *current):
        """The dataset and network a link names (each view's cards read their own keys of the address)."""
        wanted = parse(search_of(changed))
        if wanted.get("arch", "linear") not in kinds.KINDS:
            # A visitor's run or a network built in the page is not among the dropdown's first options, and
            # a value the options lack is cleared: offer it with the value (the options callback then lists
            # the dataset's own).
            set_props(ids.ARCH, {"options": network_options((*kinds.KINDS, wanted["arch"]))})
        # Only what differs is set, so going back to a view changes no more than it must.
        return tuple(no_update if wanted.get(k, now) == now else wanted[k]
                     for k, now in zip(("dataset", "arch"), current))

    # The address's writers (assets/address.js): the shell's keys here, each card's beside its own controls,
    # so that a card that is not on screen neither writes nor loses its keys.
    app.clientside_callback(
        ClientsideFunction(namespace="lookinside", function_name="writeShell"),
        Output(ids.URL_SINK, "data"),
        Input(ids.DATASET, "value"), Input(ids.ARCH, "value"), Input(ids.STATE_CELL, "data"),
        Input(ids.STATE_SAMPLE, "data"), Input(ids.TIMELINE, "value"), Input(ids.STATE_OFF, "data"),
        State(ids.TIMELINE, "max"))
    for function, inputs, states in (
            ("writeHeatmap", (ids.CONFUSION_MODE, ids.CONFUSION_VIEW), ()),
            ("writeSort", (ids.SAMPLES_SORT,), ()),
            ("writeColours", (ids.WEIGHTS_COLORMAP,), (ids.DATASET,)),
            ("writeSeed", (ids.DATA_SEED,), ())):
        app.clientside_callback(
            ClientsideFunction(namespace="lookinside", function_name=function),
            Output(ids.URL_SINK, "data", allow_duplicate=True),
            *[Input(i, "data" if i == ids.DATA_SEED else "value") for i in inputs],
            *[State(i, "value") for i in states], prevent_initial_call=True)

    return {"from_address": from_address}
