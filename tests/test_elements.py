"""Plain element JSON (app/elements.py) against Dash's own serialisation of the same components."""
from __future__ import annotations

import json

import numpy as np
from dash import html
from dash._utils import to_json

from app.elements import element
from app.panels.samples import _tile
from models.evaluate import Evaluation


def wire(value):
    """What the page receives for a callback output."""
    return json.loads(to_json(value))


def test_element_is_what_dash_sends():
    assert wire(element("Span", "7%", className="tile-prob")) == \
        wire(html.Span("7%", className="tile-prob"))
    assert wire(element("Img", src="data:x", alt="a", **{"data-index": "3"})) == \
        wire(html.Img(src="data:x", alt="a", **{"data-index": "3"}))
    nested = element("Div", [element("B", "bold"), "text", None], id={"type": "t", "index": 1})
    assert wire(nested) == wire(html.Div([html.B("bold"), "text", None], id={"type": "t", "index": 1}))
    assert wire(element("Br")) == wire(html.Br())


class FakeService:
    def sample_uri(self, dataset: str, index: int) -> str:
        return f"data:image/png;base64,{dataset}{index}"


def test_sample_tile_is_the_data_the_page_draws():
    """A cell's tile as assets/samples.js draws it: index, image, the value sorted by, and the title."""
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=5).astype(np.float32)
    ev = Evaluation(dataset="mnist", arch="linear", checkpoint_id="c", classes=("a", "b", "c"),
                    labels=np.array([0, 1, 2, 0, 1]), probs=probs)
    for index, sort, shown in ((3, "predicted", "25.0%"), (1, "margin", "Δ 25.0")):
        pred, actual = int(ev.preds[index]), int(ev.labels[index])
        title = (f"test image #{index}: {100 * float(probs[index, pred]):.1f}% {ev.classes[pred]} (predicted), "
                 f"{100 * float(probs[index, actual]):.1f}% {ev.classes[actual]} (true class)")
        assert wire(_tile(FakeService(), ev, index, 0.25, sort)) == \
            [index, f"data:image/png;base64,mnist{index}", shown, title]
