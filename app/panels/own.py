"""Your own input: draw a digit or upload a picture, and see what the network on screen makes of it, and why."""
from __future__ import annotations

import numpy as np
import torch
from dash import Dash, Input, Output, State, dcc, html, no_update

from models import datasets
from models.kinds import Pass

from .. import background, ids, progress, upload
from ..access import visitor
from ..explanations import compose, fooled, open_units_on_click
from ..images import png_data_uri, to_display
from ..representations import NO_CHANGE, image_digest
from ..service import Service
from ..state import whole_text
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
        ]), html.Div(className="own-side", children=[
            html.Div(id=ids.OWN_RESULT, className="explain-panel own-result"),
            html.Div(id=ids.OWN_FOOL_BOX, className="fool hidden", children=[
                html.H3("Fool it: the smallest change that makes it say something else", className="sub"),
                html.Div(className="toggles", children=[
                    dcc.Dropdown(id=ids.OWN_FOOL_TARGET, value="nearest", clearable=False, searchable=False,
                                 className="fool-target",
                                 options=[{"label": "the nearest other class", "value": "nearest"}]),
                    html.Button("Find it", id=ids.OWN_FOOL, className="more-button", n_clicks=0)]),
                html.Div(className="unit-job", children=[
                    html.Progress(id=ids.OWN_FOOL_PROGRESS, className="train-progress hidden", value="0", max="1"),
                    html.Span(id=ids.OWN_FOOL_NOTE, className="hint"),
                    dcc.Interval(id=ids.OWN_FOOL_POLL, interval=800, disabled=True),
                    dcc.Store(id=ids.STATE_OWN_FOOL_JOB), dcc.Store(id=ids.STATE_OWN_FOOL_DONE)]),
                html.Div(id=ids.OWN_FOOL_RESULT, className="fool-result")])])]),
        dcc.Store(id=ids.OWN_PIXELS), dcc.Store(id=ids.OWN_OPENED), dcc.Store(id=ids.OWN_UPLOADED), dcc.Store(id=ids.OWN_SOURCE),
    ])


def register(app: Dash, service: Service, limits=None) -> dict:
    open_units_on_click(app, GRAPHS, ids.OWN_OPENED)
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
        if source == "draw" and pixels is None:
            return None, "", "status", source
        try:
            image, title, note = _image(view, source, pixels, uploaded)
        except upload.UploadError as e:
            return None, str(e), "status status-error", source
        # Every stroke asks again: a convnet's map is gradient × input here (milliseconds), not the explanation
        # card's Integrated Gradients.
        ex = view.kind.explain(view.checkpoint.model, image, view.checkpoint.normalization, method="gradxinput")
        logits = np.asarray(ex.logits, dtype=np.float64)
        probs = np.exp(logits - logits.max())
        children = compose(view, ex, probs / probs.sum(), None, title, png_data_uri(to_display(image)), GRAPHS,
                           menus=False)
        return children, note, "status status-note" if note else "status", source

    # Fool it shows once there is a result, and a new drawing or upload clears the last change: in the browser,
    # so a stroke sends no request more than its prediction.
    app.clientside_callback(
        "function (result) { return result ? 'fool' : 'fool hidden'; }",
        Output(ids.OWN_FOOL_BOX, "className"), Input(ids.OWN_RESULT, "children"))
    app.clientside_callback(
        "function () { return null; }", Output(ids.OWN_FOOL_RESULT, "children", allow_duplicate=True),
        Input(ids.OWN_PIXELS, "data"), Input(ids.OWN_UPLOADED, "data"), prevent_initial_call=True)

    @app.callback(Output(ids.OWN_FOOL_TARGET, "options"), Input(ids.STATE_VIEW, "data"))
    def fool_targets(store):
        view = service.shown(store)
        if view is None:
            return no_update
        return [{"label": "the nearest other class", "value": "nearest"}] + [
            {"label": f"say {name}", "value": str(i)} for i, name in enumerate(view.checkpoint.classes)]

    @app.callback(Output(ids.OWN_FOOL_RESULT, "children"), Output(ids.STATE_OWN_FOOL_JOB, "data"),
                  Input(ids.OWN_FOOL, "n_clicks"),
                  State(ids.OWN_FOOL_TARGET, "value"), State(ids.OWN_SOURCE, "data"), State(ids.OWN_PIXELS, "data"),
                  State(ids.OWN_UPLOADED, "data"), State(ids.STATE_VIEW, "data"), Input(ids.STATE_OWN_FOOL_DONE, "data"),
                  prevent_initial_call=True)
    def fool_it(_, target="nearest", source=None, pixels=None, uploaded=None, store=None, done=None):
        """Fool it for a drawing or an upload: the smallest change to the image on screen (rebuilt from what the
        page holds, and checked as when it was made) that makes the network say another class. A convnet's
        search is a queued job on the image kept under its digest; its end draws it if that image is still on
        screen."""
        view = service.shown(store)
        if view is None or source not in ("draw", "upload"):
            return None, no_update
        classes = view.checkpoint.classes
        try:
            image, _, _ = _image(view, source, pixels, uploaded)
        except upload.UploadError as e:
            return html.P(str(e), className="hint"), no_update
        ckpt = view.checkpoint
        with torch.no_grad():
            predicted = int(torch.argmax(ckpt.model.eval()(ckpt.normalization.apply(torch.as_tensor(image)[None]))))
        wanted = whole_text(target, len(classes))
        queued = view.kind.switching is Pass.JOB and not ckpt.is_snapshot and wanted != predicted
        if triggered_id() == ids.STATE_OWN_FOOL_DONE:  # a job ended: its own image and class
            ended = background.finished_change(service, view, done)
            if not queued or ended is None or ended[0] != image_digest(image):
                return no_update, no_update
            _, asked, saved = ended
            if saved is None:
                return None, no_update  # it failed: the note above says why
            return fooled(ckpt, image, predicted, None, asked, ids.OWN_FOOL_PROBS,
                          None if saved is NO_CHANGE else saved), no_update
        if not queued:
            if limits is not None:
                limits.check("fool")
            return fooled(ckpt, image, predicted, None, wanted, ids.OWN_FOOL_PROBS), no_update
        detail = background.fool_detail(service.representations.keep_image(view, image), wanted)
        saved = service.representations.change(view, detail)
        if saved is not None:
            return fooled(ckpt, image, predicted, None, wanted, ids.OWN_FOOL_PROBS,
                          None if saved is NO_CHANGE else saved), no_update
        if limits is not None:
            limits.check("fool")
        handle = background.request(service, view, "fool", detail, visitor(), False)
        if "error" in handle:
            return html.P(handle["error"], className="hint"), no_update
        return html.P(background.QUEUED_FOOL, className="hint"), handle

    @app.callback(Output(ids.OWN_FOOL_PROGRESS, "value"), Output(ids.OWN_FOOL_PROGRESS, "max"),
                  Output(ids.OWN_FOOL_PROGRESS, "className"), Output(ids.OWN_FOOL_NOTE, "children"),
                  Output(ids.OWN_FOOL_POLL, "disabled"), Output(ids.STATE_OWN_FOOL_DONE, "data"),
                  Input(ids.STATE_OWN_FOOL_JOB, "data"), Input(ids.OWN_FOOL_POLL, "n_intervals"),
                  prevent_initial_call=True)
    def fool_poll(handle, _=None):
        return progress.bar(progress.read(service, handle, ("fool",)))

    return {"own_predict": predict, "own_drawing_area": drawing_area, "own_fool": fool_it,
            "own_fool_poll": fool_poll, "own_fool_targets": fool_targets}


def _image(view, source: str, pixels, uploaded) -> tuple[np.ndarray, str, str]:
    """The drawing or the upload as the network's input, its title and a note on what was done to it
    (UploadError, in one sentence, for anything the page could not have sent)."""
    shape, dataset = tuple(view.checkpoint.model.in_shape), view.checkpoint.dataset
    if source == "draw":
        if not _draws(dataset):
            raise upload.UploadError("Drawing works with the grey datasets; upload a picture here.")
        if pixels is None:
            raise upload.UploadError("Draw something first.")
        return upload.from_pixels(pixels, shape, upload.recipe(dataset, shape)), "Your drawing", ""
    return _uploaded(uploaded, shape, upload.recipe(dataset, shape))


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
