"""What the network learned: class templates (linear), hidden filters and output weights (mlp), filters (cnn)."""
from __future__ import annotations

from dash import Dash, Input, Output, State, dcc, html

from models.datasets import DATASETS

from .. import figures, ids
from ..images import colorize, png_data_uri
from ..service import Service, weights_arrays
from . import address, triggered_ids
from .confusion import parse_cell

EXPLAIN = {
    "linear": ("Each class score is a weighted sum of the pixels: b + Σ w·x. These are the weights w of each "
               "class, drawn as images: a template of what the class looks like, and of what it must not look "
               "like."),
    "mlp": ("The 10 hidden units each take a weighted sum of the pixels (their filters, first row); each class "
            "then adds up the hidden units with its own output weights (the bars: purple pushes the class up, "
            "orange down). A class is recognised by the combination of units it relies on."),
    "cnn": ("The first convolution's filters: small patterns slid over the whole image. Later layers combine "
            "their responses, so these show only the first step of what the convnet looks for."),
}
# How to read the colours of the weight images, for each colour map (the convnet's filters are each
# stretched to their own range, so that their pattern shows; the others share one scale).
COLOURS = {
    "diverging": "Purple weights raise the score where the image is bright, orange ones lower it, white ones "
                 "do nothing.",
    "grayscale": "As the chapter draws them: white is the largest weight, black the most negative. Light areas "
                 "raise the score where the image is bright, dark ones lower it.",
    "rgb": "In colour, each channel from its most negative weight (dark) to its largest (bright): where a "
           "template is blue, blue light there raises the class's score.",
}
SCALE = {False: " One scale for all tiles.", True: " Each filter is stretched to its own range, so that its "
                                                  "pattern shows."}


def layout() -> html.Section:
    return html.Section(className="card card-weights", children=[
        html.Div(className="card-head", children=[
            html.H2("What it learned"),
            dcc.RadioItems(id=ids.WEIGHTS_COLORMAP, value="diverging", inline=True, className="toggle",
                           options=colormap_options(None)),
        ]),
        html.Div(id=ids.WEIGHTS, className="weights", children=html.P("Loading…", className="hint")),
    ])


def colormap_options(dataset) -> list[dict]:
    colour = isinstance(dataset, str) and dataset in DATASETS and DATASETS[dataset].shape[0] == 3
    return [{"label": "Signed (purple +, orange −)", "value": "diverging"},
            {"label": "Grayscale (the chapter's)", "value": "grayscale"},
            {"label": "Colour", "value": "rgb", "disabled": not colour}]


def register(app: Dash, service: Service) -> dict:
    @app.callback(Output(ids.WEIGHTS_COLORMAP, "options"), Output(ids.WEIGHTS_COLORMAP, "value"),
                  Input(ids.DATASET, "value"), State(ids.WEIGHTS_COLORMAP, "value"), Input(ids.URL, "search"))
    def colormap_choices(dataset, current, search=None):
        options = colormap_options(dataset)
        colour = not options[-1]["disabled"]
        wanted = address.parse(search).get("colours") if ids.URL in triggered_ids() else None
        if wanted is not None and not (wanted == "rgb" and not colour):  # a link names the colour map
            return options, wanted
        if colour:  # colour data: its templates are most readable in colour
            return options, "rgb"
        return options, "diverging" if current == "rgb" or current is None else current

    @app.callback(Output(ids.WEIGHTS, "children"),
                  Input(ids.STATE_RESOLVED, "data"), Input(ids.STATE_TRAINED, "data"),
                  Input(ids.WEIGHTS_COLORMAP, "value"), Input(ids.STATE_CELL, "data"),
                  State(ids.DATASET, "value"), State(ids.ARCH, "value"), Input(ids.TIMELINE, "value"))
    def weights(resolved, trained, colormap, cell, dataset, arch, position=None):
        view, st = service.ready_view(resolved, trained, dataset, arch, position)
        if view is None:
            failed = st is not None and st.get("status") == "error"
            return html.P("No weights to show for this dataset." if failed else "Preparing the network…",
                          className="hint")
        colormap = colormap if colormap in ("diverging", "grayscale", "rgb") else "diverging"
        cell = parse_cell(cell, len(view.checkpoint.classes))
        return _panel(service, view, colormap, cell)

    return {"colormap_choices": colormap_choices, "weights": weights}


def _panel(service: Service, view, colormap: str, cell) -> list:
    """The weights panel's children for one checkpoint, colour map and selected cell.

    The weight images and the output-weights chart are made once per checkpoint and colour map;
    a selected cell only changes which tiles are marked and which bar charts stand out.
    """
    ckpt = view.checkpoint
    marks = {} if cell is None else {cell["predicted"]: "predicted", cell["actual"]: "actual"}
    if cell is not None and cell["actual"] == cell["predicted"]:
        marks = {cell["actual"]: "actual = predicted"}
    arrays = service.cached(view, "weight-arrays", (), lambda: weights_arrays(ckpt))
    per_tile = ckpt.arch == "cnn"
    children = [html.P([EXPLAIN[ckpt.arch], " ", COLOURS[colormap], SCALE[per_tile]], className="explain")]

    def images(name: str) -> list[str]:
        return service.cached(view, "weight-images", (name, colormap), lambda: [
            png_data_uri(img) for img in colorize(arrays[name], colormap, per_tile=per_tile)])

    if ckpt.arch == "linear":
        children.append(_tiles(images("templates"), list(ckpt.classes), marks))
    elif ckpt.arch == "mlp":
        children.append(html.H3("Hidden units' filters", className="sub"))
        children.append(_tiles(images("hidden_filters"),
                               [f"unit {u + 1}" for u in range(len(arrays["hidden_filters"]))], {}))
        children.append(html.H3("Output weights of each class over the hidden units", className="sub"))
        bars = service.cached(view, "output-weights", (), lambda: figures.output_weights_figure(
            arrays["output_weights"], ckpt.classes).to_dict())
        if cell is not None:
            bars = figures.highlight_classes(bars, ckpt.classes, cell["actual"], cell["predicted"])
        children.append(dcc.Graph(id=ids.WEIGHTS_BARS, config={"displayModeBar": False}, figure=bars))
    else:
        filters = images("first_layer_filters")
        children.append(_tiles(filters, [f"{f + 1}" for f in range(len(filters))], {}, small=True))
    return children


def _tiles(uris: list[str], labels: list[str], marks: dict[int, str], small: bool = False) -> html.Div:
    """A grid of weight images (drawn on one shared scale); marked tiles get a role label and an outline."""
    tiles = []
    for i, (uri, label) in enumerate(zip(uris, labels)):
        role = marks.get(i)
        cls = "weight-tile" + (f" mark-{role.split(' ')[0]}" if role else "") + (" faded" if marks and not role else "")
        tiles.append(html.Figure(className=cls, children=[
            html.Img(src=uri, className="weight-img", alt=f"weights of {label}"),
            html.Figcaption([label, html.Span(f" ({role})", className="role") if role else None])]))
    return html.Div(tiles, className="weight-grid small" if small else "weight-grid")
