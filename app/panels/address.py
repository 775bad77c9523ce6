"""Shareable views: the address bar holds what is on screen, a copied link restores it, back and forward work.

Reading is a server callback on the location's query; writing is a small browser-side function
(assets/address.js) that pushes a history entry when the view settles, so nothing loops.
"""
from __future__ import annotations

import json

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, no_update, set_props

from models import datasets, kinds

from .. import ids
from ..query import parse, search_of
from ..state import network_options


def layout(built: str = "") -> list:
    """The location, and what the server's readers of the address listen to (see ids.URL_CHANGED)."""
    return [dcc.Location(id=ids.URL, refresh=False), dcc.Store(id=ids.URL_SINK), dcc.Store(id=ids.URL_CHANGED),
            dcc.Store(id=ids.URL_BUILT, data=built)]


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
        if "arch" in wanted and wanted["arch"] not in kinds.KINDS:
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
            ("writeSeed", (ids.DATA_SEED,), ()),
            ("writeData", (ids.DATA_SPLIT, ids.DATA_CLASS), ()),
            ("writeGallery", (ids.GALLERY_MODE,), ()),
            ("writeUnit", (ids.UNIT_LAYER, ids.UNIT_NUMBER), ())):
        app.clientside_callback(
            ClientsideFunction(namespace="lookinside", function_name=function),
            Output(ids.URL_SINK, "data", allow_duplicate=True),
            *[Input(i, "data" if i == ids.DATA_SEED else "value") for i in inputs],
            *[State(i, "value") for i in states], prevent_initial_call=True)

    # The weights' colour map, where it is not the dataset's own default (its descriptor's).
    app.clientside_callback(
        "function (colours, dataset) { return window.dash_clientside.lookinside.writeColours(colours, dataset, %s); }"
        % json.dumps(datasets.colour_datasets()),
        Output(ids.URL_SINK, "data", allow_duplicate=True), Input(ids.WEIGHTS_COLORMAP, "value"),
        State(ids.DATASET, "value"), prevent_initial_call=True)

    return {"from_address": from_address}
