"""Likely label errors: test images that every trained model of the dataset confidently calls something else."""
from __future__ import annotations

from dash import Dash, Input, Output, html

from models.suspects import Suspect, likely_label_errors

from .. import ids
from ..service import Service
from ..state import DATASET_LABELS, network_label
from . import triggered_id

SHOWN = 60  # the most suspicious images listed; a person reads the top of the list


def layout() -> html.Section:
    return html.Section(className="card card-suspects", children=[
        html.Div(className="card-head", children=[
            html.H2("Likely label errors"),
            html.Button("Find them", id=ids.SUSPECTS_BUTTON, className="more-button", n_clicks=0)]),
        html.P(className="explain", children=(
            "Test images whose given label every trained network of this dataset finds very unlikely (at most "
            "10%), while all of them confidently agree on another class: the chance that a person mislabelled "
            "the image is high. Most suspicious first. Click one to see why the network on screen disagrees.")),
        html.Div(id=ids.SUSPECTS, className="suspects"),
    ])


def register(app: Dash, service: Service) -> dict:
    @app.callback(Output(ids.SUSPECTS, "children"),
                  Output(ids.SUSPECTS_BUTTON, "children"),
                  Input(ids.SUSPECTS_BUTTON, "n_clicks"), Input(ids.STATE_VIEW, "data"))
    def suspects(clicks, store):
        if not isinstance(clicks, int) or clicks % 2 == 0:
            return None, "Find them"  # computed only when someone asks
        if triggered_id() == ids.SUSPECTS_BUTTON:
            service.limit("suspects")
        return _listing(service, store), "Hide them"

    return {"suspects": suspects}


def _listing(service: Service, store):
    """The suspects of the dataset on screen, found by every trained network of it."""
    view = service.shown(store)
    if view is None:
        return html.P("Waiting for the network on screen to be ready.", className="hint")
    dataset = view.checkpoint.dataset
    archs, found = suspects_of(service, dataset)
    models = ", ".join(network_label(a) for a in archs)
    basis = html.P(f"Based on {len(archs)} trained network{'s' if len(archs) != 1 else ''} of "
                   f"{DATASET_LABELS[dataset]}: {models}." + (
                       " Train the others (pick them above) for a stricter consensus." if len(archs) < 3 else "")
                   + " Under each image: its label, struck out, and the networks' class; the most any network "
                     "gives the label, and the least any gives their class.",
                   className="sort-note")
    if not found:
        return [basis, html.P("No test image meets the bar: the networks never agree against a label.",
                              className="hint")]
    ev = view.evaluation
    return [basis, html.Div([_tile(service, ev.dataset, ev.classes, archs, s) for s in found],
                            className="tiles suspect-tiles")]


def _tile(service: Service, dataset: str, classes, archs, s: Suspect) -> html.Button:
    detail = "; ".join(f"{a}: {100 * g:.1f}% {classes[s.given]}, {100 * c:.1f}% {classes[s.consensus]}"
                       for a, g, c in zip(archs, s.given_probs, s.consensus_probs))
    return html.Button(
        id={"type": ids.SUSPECT_TILE, "index": s.index}, n_clicks=0, className="tile",
        title=f"test image #{s.index}: labelled {classes[s.given]}, the networks say {classes[s.consensus]} ({detail})",
        children=[html.Img(src=service.sample_uri(dataset, s.index), className="tile-img",
                           alt=f"test image {s.index}", **{"data-index": str(s.index)}),
                  html.Span([html.S(classes[s.given], className="given"), " → ", html.B(classes[s.consensus])],
                            className="tile-label"),
                  html.Span(f"label ≤ {100 * max(s.given_probs):.1f}%, theirs ≥ {100 * min(s.consensus_probs):.0f}%",
                            className="tile-prob"),
                  html.Span(f"#{s.index}", className="tile-index")])


def suspects_of(service: Service, dataset: str) -> tuple[list[str], list[Suspect]]:
    """Likely label errors by every network of `dataset` that is trained and evaluated, and their names."""
    evaluations = [ev for _, ev in service.evaluated(dataset)]
    if not evaluations:
        return [], []
    key = (dataset, "suspects", tuple(ev.checkpoint_id for ev in evaluations))
    found = service.cache.get(key, lambda: likely_label_errors(
        evaluations[0].labels, [ev.probs for ev in evaluations], limit=SHOWN))
    return [ev.arch for ev in evaluations], found
