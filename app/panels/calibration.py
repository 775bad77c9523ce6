"""How far to trust its confidence: the reliability diagram of the network on screen, its expected calibration
error, and the same after temperature scaling fitted on a slice of the training split (models/calibration.py)."""
from __future__ import annotations

import numpy as np
from dash import Dash, Input, Output, State, dcc, html, no_update

from models import calibration, datasets

from .. import figures, ids
from ..service import Service
from . import triggered_id

SHOWN = 24


def layout() -> html.Section:
    return html.Section(id="calibration-card", className="card card-calibration", children=[
        html.Div(className="card-head", children=[
            html.H2("How far to trust its confidence"),
            dcc.Checklist(id=ids.CALIBRATION_SCALED, value=[], inline=True, className="toggle",
                          options=[{"label": "temperature-scaled", "value": "scaled"}])]),
        html.P(f"Every test image goes in one of {calibration.BINS} bins by the probability the network gave its "
               "answer; each bar is how often it was right there. On the diagonal, 90% sure means right 90% of "
               "the time. The expected calibration error is the bins' average gap, weighted by their images. "
               "Temperature scaling divides every score by one number T, fitted on the training split's last "
               f"{calibration.HELD_OUT:,} images (never on the test images; the network did train on those, so T "
               "is, if anything, too small): it changes how sure the network is, never what it says. Click a bar "
               "to see its images.", className="explain"),
        html.Div(id=ids.CALIBRATION_NOTE, className="status"),
        dcc.Graph(id=ids.CALIBRATION_GRAPH, config={"displayModeBar": False},
                  figure=figures.empty_figure("Preparing the network…")),
        html.Div(id=ids.CALIBRATION_BIN, className="calibration-bin"),
    ])


def temperature(service: Service, view) -> float:
    """The network's fitted temperature, once per checkpoint for everyone (a pass over 5,000 training images)."""
    ckpt = view.checkpoint

    def fit():
        service.limit_once("calibration", ckpt.id)
        train = datasets.load(ckpt.dataset, True, service.local)
        images, labels = calibration.held_out(train.images, train.labels)
        return calibration.fit_temperature(
            calibration.logits_of(ckpt.model, images, ckpt.normalization, service.settings.device), labels)
    return service.cached(view, "temperature", (), fit)


def _logits(view) -> np.ndarray:
    """The test split's log-probabilities: the logits up to a constant per image, which no softmax sees."""
    return np.log(np.clip(view.evaluation.probs.astype(np.float64), 1e-45, None))


def report(service: Service, view, scaled: bool) -> dict:
    t = temperature(service, view) if scaled else 1.0
    return service.cached(view, "calibration", (round(t, 9),), lambda: calibration.report(
        _logits(view), view.evaluation.labels, t))


def register(app: Dash, service: Service) -> dict:
    @app.callback(Output(ids.CALIBRATION_GRAPH, "figure"), Output(ids.CALIBRATION_NOTE, "children"),
                  Output(ids.CALIBRATION_BIN, "children"),
                  Input(ids.STATE_VIEW, "data"), Input(ids.CALIBRATION_SCALED, "value"),
                  Input(ids.CALIBRATION_GRAPH, "clickData"))
    def diagram(store, scaled=None, click=None):
        view = service.shown(store)
        if view is None:
            return figures.empty_figure("Preparing the network…"), None, None
        on = isinstance(scaled, list) and "scaled" in scaled
        found = report(service, view, on)
        bins, ece = (found["bins_scaled"], found["ece_scaled"]) if on else (found["bins"], found["ece"])
        title = f"temperature-scaled, T = {found['temperature']:.2f}" if on else "as trained"
        note = (f"Expected calibration error over {calibration.BINS} equal bins: {100 * found['ece']:.2f}% as "
                f"trained" + (f", {100 * found['ece_scaled']:.2f}% with T = {found['temperature']:.2f}." if on
                              else "; switch on temperature scaling to compare."))
        listing = None
        if triggered_id() == ids.CALIBRATION_GRAPH:
            listing = _bin_images(service, view, click, on, found["temperature"])
        figure = service.cached(view, "calibration-figure", (on,), lambda: figures.reliability_figure(
            bins, ece, title).to_dict())
        return figure, note, listing

    return {"calibration": diagram}


def _bin_images(service: Service, view, click, scaled: bool, t: float):
    """The test images of the bin clicked, most confident first, with the probability each was given."""
    try:
        lo, hi = (float(v) for v in click["points"][0]["customdata"][:2])
    except (TypeError, KeyError, IndexError, ValueError):
        return no_update
    if not (0 <= lo < hi <= 1):
        return no_update
    probs = calibration.softmax(_logits(view), t if scaled else 1.0)
    confidence = probs.max(1)
    members = np.flatnonzero((confidence > lo) & (confidence <= hi))
    order = members[np.lexsort((members, -confidence[members]))][:SHOWN]
    ev = view.evaluation
    tiles = [html.Figure(className="tile" + (" wrong" if ev.preds[n] != ev.labels[n] else ""), children=[
        html.Img(src=service.sample_uri(ev.dataset, int(n)), className="tile-img", alt=f"test image {int(n)}"),
        html.Figcaption([html.B(ev.classes[int(probs[n].argmax())]), f" {100 * confidence[n]:.1f}%",
                         html.Span(f" #{int(n)}", className="tile-index")])]) for n in order]
    right = int((ev.preds[members] == ev.labels[members]).sum())
    return [html.P(f"{len(members):,} test images given {100 * lo:.0f}–{100 * hi:.0f}%: {right:,} right. The "
                   f"{len(order)} most confident, a mistake outlined:", className="sort-note"),
            html.Div(tiles, className="tiles")]
