"""Your own input: draw a digit or upload a picture, and see what the network on screen makes of it, and why."""
from __future__ import annotations

import numpy as np
from dash import Dash, Input, Output, State, dcc, html, no_update

from models import datasets

from .. import ids, upload
from ..explanations import compose
from ..images import png_data_uri, to_display
from ..service import Service
from . import triggered_id

GRAPHS = {"probs": ids.OWN_PROBS, "hidden": ids.OWN_HIDDEN, "units": ids.OWN_UNITS}
UPLOAD_LIMIT_JS = upload.MAX_BYTES * 4 // 3 + 1024  # a data URI's length for a file at the limit

# Refuses a file that is too big in the browser itself, so it is never sent; the server checks again.
CHECK_UPLOAD = """
function (contents, name) {
    if (!contents) { return window.dash_clientside.no_update; }
    if (contents.length > %d) {
        const mb = (contents.length * 0.75 / 1048576).toFixed(1);
        return {error: "\\"" + name + "\\" is " + mb + " MB; images of at most %d MB are accepted."};
    }
    return {contents: contents, name: name};
}
""" % (UPLOAD_LIMIT_JS, upload.MAX_BYTES // 2**20)


def _intro(dataset) -> str:
    """What the card says on a dataset: its descriptor's words (the first dataset's before one is chosen)."""
    spec = datasets.DATASETS.get(dataset) if isinstance(dataset, str) else None
    return (spec or next(iter(datasets.DATASETS.values()))).own.intro


def _draws(dataset) -> bool:
    spec = datasets.DATASETS.get(dataset) if isinstance(dataset, str) else None
    return spec is not None and spec.own.draw and spec.shape[0] == 1


def layout() -> html.Section:
    return html.Section(className="card card-own", children=[
        html.H2("Try your own"),
        html.P(_intro(None), id=ids.OWN_INTRO, className="explain"),
        html.Div(className="own-body", children=[html.Div(className="own-inputs", children=[
            html.Div(id=ids.OWN_BOX, className="own-draw", children=[
                html.Canvas(id=ids.OWN_CANVAS, width=280, height=280, className="draw-canvas",
                            title="Draw here with the mouse, a pen or a finger"),
                html.Button("Clear", id=ids.OWN_CLEAR, className="link-button", n_clicks=0),
            ]),
            dcc.Upload(id=ids.OWN_UPLOAD, className="own-upload", accept="image/*", multiple=False,
                       children=html.Div(["Drop a picture here or ", html.B("choose a file"),
                                          html.Br(), "PNG, JPEG, GIF, BMP or WebP, up to 2 MB"])),
            html.Div(id=ids.OWN_MESSAGE, className="status"),
        ]), html.Div(id=ids.OWN_RESULT, className="explain-panel own-result")]),
        dcc.Store(id=ids.OWN_PIXELS), dcc.Store(id=ids.OWN_UPLOADED), dcc.Store(id=ids.OWN_SOURCE),
    ])


def register(app: Dash, service: Service) -> dict:
    app.clientside_callback(CHECK_UPLOAD, Output(ids.OWN_UPLOADED, "data"), Input(ids.OWN_UPLOAD, "contents"),
                            State(ids.OWN_UPLOAD, "filename"), prevent_initial_call=True)

    @app.callback(Output(ids.OWN_BOX, "className"), Output(ids.OWN_INTRO, "children"), Input(ids.DATASET, "value"))
    def drawing_area(dataset):
        return ("own-draw" if _draws(dataset) else "own-draw hidden"), _intro(dataset)

    @app.callback(Output(ids.OWN_RESULT, "children"), Output(ids.OWN_MESSAGE, "children"),
                  Output(ids.OWN_MESSAGE, "className"), Output(ids.OWN_SOURCE, "data"),
                  Input(ids.OWN_PIXELS, "data"), Input(ids.OWN_UPLOADED, "data"),
                  Input(ids.STATE_VIEW, "data"), State(ids.OWN_SOURCE, "data"))
    def predict(pixels, uploaded, store, source):
        trigger = triggered_id()
        source = "draw" if trigger == ids.OWN_PIXELS else "upload" if trigger == ids.OWN_UPLOADED else source
        if source not in ("draw", "upload"):
            return None, "", "status", no_update
        view = service.shown(store)
        if view is None:
            return None, "No network is ready for this dataset yet: see the message at the top.", \
                "status status-busy", source
        shape, dataset = tuple(view.checkpoint.model.in_shape), view.checkpoint.dataset
        try:
            if source == "draw":
                if pixels is None:
                    return None, "", "status", source
                if not _draws(dataset):
                    raise upload.UploadError("Drawing works with the grey datasets; upload a picture here.")
                image = upload.from_pixels(pixels, shape, upload.recipe(dataset, shape))
                title, note = "Your drawing", ""
            else:
                image, title, note = _uploaded(uploaded, shape, upload.recipe(dataset, shape))
        except upload.UploadError as e:
            return None, str(e), "status status-error", source
        ex = view.kind.explain(view.checkpoint.model, image, view.checkpoint.normalization)
        logits = np.asarray(ex.logits, dtype=np.float64)
        probs = np.exp(logits - logits.max())
        children = compose(view, ex, probs / probs.sum(), None, title, png_data_uri(to_display(image)), GRAPHS)
        return children, note, "status status-note" if note else "status", source

    return {"own_predict": predict, "own_drawing_area": drawing_area}


def _uploaded(uploaded, shape, how: str) -> tuple[np.ndarray, str, str]:
    """The uploaded picture converted for the network, its title and a note saying what was done."""
    if not isinstance(uploaded, dict):
        raise upload.UploadError("Choose a picture to upload.")
    if isinstance(uploaded.get("error"), str):
        raise upload.UploadError(uploaded["error"][:300])
    name = str(uploaded.get("name") or "your picture")[:80]
    picture = upload.open_image(upload.decode(uploaded.get("contents")))
    image = upload.to_dataset_image(picture, shape, how)
    return image, name, (f"Read {name} ({picture.width}×{picture.height} {picture.format or ''}): converted "
                         f"{upload.HOW[how]}.")
