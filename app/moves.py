"""Two evaluations of the same test images: two networks (the compare card), or one network intact and with
first-layer units switched off (the heatmap card). The images that moved into or out of a cell, and the
switched-off heatmap."""
from __future__ import annotations

from typing import Optional

from dash import html

from models import layers
from models.compare import difference, moved

from . import figures
from .explanations import unit_link

LISTED = 24  # images listed per direction


def moves(service, a, b, cell, names: tuple[str, str] = ("A", "B")) -> list:
    i, j = cell["actual"], cell["predicted"]
    into, out = moved(a, b, i, j)
    classes = a.classes
    na, nb = names
    return [html.H3(f"actual {classes[i]}, predicted {classes[j]}: {len(into):,} moved in with {nb}, "
                    f"{len(out):,} moved out", className="cell-heading"),
            _group(service, a, b, into, f"Into the cell ({nb} says {classes[j]}, {na} said otherwise)", names),
            _group(service, a, b, out, f"Out of the cell ({na} said {classes[j]}, {nb} says otherwise)", names)]


def _group(service, a, b, indices, title: str, names) -> html.Div:
    if len(indices) == 0:
        return html.Div([html.H4(title, className="sub"), html.P("None.", className="hint")])
    tiles = [_tile(service, a, b, int(n), names) for n in indices[:LISTED]]
    more = f" (the first {LISTED} of {len(indices):,})" if len(indices) > LISTED else ""
    return html.Div([html.H4(title + more, className="sub"), html.Div(tiles, className="tiles compare-tiles")])


def _tile(service, a, b, index: int, names) -> html.Div:
    pa, pb = int(a.preds[index]), int(b.preds[index])
    return html.Div(className="tile", title=f"test image #{index}", children=[
        html.Img(src=service.sample_uri(a.dataset, index), className="tile-img", alt=f"test image {index}",
                 **{"data-index": str(index)}),
        html.Span(f"{names[0]} {a.classes[pa]} {100 * a.probs[index, pa]:.0f}%", className="tile-prob"),
        html.Span(f"{names[1]} {b.classes[pb]} {100 * b.probs[index, pb]:.0f}%", className="tile-prob"),
        html.Span(f"#{index}", className="tile-index")])


def units_off(view, off) -> tuple[int, ...]:
    """The units the store switches off in the network on screen (none for another network's store)."""
    if view is None or not isinstance(off, dict) or off.get("network") != view.checkpoint.name:
        return ()
    return layers.check_units(off.get("units"), layers.switchable(view.checkpoint.model)) or ()


def switched_heatmap(service, view, units: tuple[int, ...]) -> Optional[dict]:
    """Switched off minus intact, as the compare card draws a difference (None while a job's pass is to come)."""
    ev = view.evaluation
    switched = service.representations.switched(view, units)
    if switched is None:
        return None
    return service.cached(view, "off-figure", units, lambda: figures.difference_figure(
        difference(ev, switched), ev.classes, "intact", "switched off", scale_title="off − intact").to_dict())


def switched_note(service, view, units: tuple[int, ...]) -> list | str:
    """What is switched off and what it cost: the accuracy change and how many predictions moved."""
    ev = view.evaluation
    names = ", ".join(str(u + 1) for u in units)
    what = view.kind.units(len(units))
    switched = service.representations.switched(view, units)
    if switched is None and view.checkpoint.is_snapshot:  # a snapshot of a network whose switching is a job
        return f"This network's {what} can be switched off in the finished network only: move the timeline " \
               "to its end."
    if switched is None:
        return f"Switching off first-layer {what} {names}: one pass over the test images, in the queue…"
    change = 100 * (switched.accuracy - ev.accuracy)
    moved = int((switched.preds != ev.preds).sum())
    links = [part for u in units for part in (", " if u != units[0] else "", unit_link(1, u, str(u + 1), inline=True))]
    return [html.B(f"First-layer {what} {names} switched off. "),
            f"Accuracy {100 * ev.accuracy:.2f}% → {100 * switched.accuracy:.2f}% ({change:+.2f} points); "
            f"{moved:,} of {ev.n:,} test images change their prediction. The heatmap shows switched off minus "
            "intact: purple cells gained images, orange ones lost them. Click a cell to see the images that moved. "
            f"What makes each fire: {view.kind.unit} ", *links, "."]
